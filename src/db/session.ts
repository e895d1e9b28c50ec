import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import {
  ConnectionRequirementError,
  authenticationGuard,
  clientConfig,
  describeTarget,
  isSocketHost,
  redactSecrets,
  sessionAttributesMismatch,
  sslAttempts,
  triesOtherWay,
  type ConnectionTarget,
} from './connection.js';
import { UsageError, errorMessage } from '../errors.js';

export interface QueryResultLike<R> {
  rows: R[];
}

/** The only thing a check may do with the database: run a read-only query with bound values. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResultLike<R>>;
}

/**
 * Plan methods a query may ask the planner not to use, for that query only. `parallel`: no parallel
 * workers (max_parallel_workers_per_gather = 0); the rest are the planner's enable_* settings.
 */
export type PlanMethod = 'hashjoin' | 'mergejoin' | 'nestloop' | 'hashagg' | 'sort' | 'seqscan' | 'bitmapscan' | 'parallel';

export interface QueryOptions {
  /**
   * Methods the planner should avoid for this one query: a check that knows its data better than the
   * statistics do (a merge of two index-only scans over a hash that would spill, say) says so here. It
   * changes how PostgreSQL reads, never what the query returns; the planner still uses a method it has
   * no alternative to. Honoured by the handles an audit gives its checks; another Queryable may ignore it.
   */
  avoid?: readonly PlanMethod[];
}

export interface SessionOptions {
  jobs: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /**
   * `--work-mem`: the memory the audit's joins and sorts may use, in kB, across all its connections. Each
   * connection gets its share, divided by hash_mem_multiplier (a hash may use that many times work_mem);
   * never less than the server's own work_mem.
   */
  workMemKb?: number;
}

/** The default --work-mem: 256 MB across the audit's connections. */
export const DEFAULT_WORK_MEM_KB = 512 * 1024;

/**
 * Runs `work` on each item, spread over the audit's idle connections (in the same snapshot), the
 * heaviest first; resolves with the results in the items' order, or rejects with the first failure.
 */
export type FanOut = <I, R>(items: { item: I; weight: number }[], work: (item: I, db: Queryable) => Promise<R>) => Promise<R[]>;

/**
 * Like FanOut, but one piece's failure costs that piece only: each piece runs in its own savepoint and
 * settles on its own, so one locked or unreadable table does not lose the others' results.
 */
export type SettledFanOut = <I, R>(
  items: { item: I; weight: number }[],
  work: (item: I, db: Queryable) => Promise<R>,
) => Promise<PromiseSettledResult<R>[]>;

/** Runs the pieces one after the other on the caller's own connection (one transaction: order is moot). */
export function sequentialFanOut(db: Queryable): FanOut {
  return async (items, work) => {
    const out = [];
    for (const { item } of items) out.push(await work(item, db));
    return out;
  };
}

/** The settled form on one connection: each piece in a savepoint, so a failed one leaves the transaction usable. */
export function sequentialSettledFanOut(db: Queryable): SettledFanOut {
  return async (items, work) => {
    const out = [];
    for (const { item } of items) {
      await db.query('SAVEPOINT integrity_piece');
      try {
        const value = await work(item, db);
        await db.query('RELEASE SAVEPOINT integrity_piece');
        out.push({ status: 'fulfilled' as const, value });
      } catch (reason) {
        await db.query('ROLLBACK TO SAVEPOINT integrity_piece').catch(() => undefined);
        out.push({ status: 'rejected' as const, reason: reason as unknown });
      }
    }
    return out;
  };
}

interface Piece {
  weight: number;
  /** Connections it was tried on and lost: it goes back to the pool once, then fails. */
  attempts: number;
  run: (db: Queryable) => Promise<unknown>;
  succeed: (value: unknown) => void;
  fail: (err: unknown) => void;
}

/** One fan-out's pieces, heaviest first. */
class Share {
  constructor(readonly pieces: Piece[]) {}
  get head(): Piece | undefined {
    return this.pieces[0];
  }
}

/** The pieces the running tasks have shared, and a way for idle lanes to wait for more. */
class PiecePool {
  private readonly shares = new Set<Share>();
  private waiters: (() => void)[] = [];

  /** The heaviest piece waiting in any share, with its share. */
  take(): { piece: Piece; share: Share } | undefined {
    let best: Share | undefined;
    for (const share of this.shares) if (share.head && (!best || share.head.weight > (best.head as Piece).weight)) best = share;
    const piece = best?.pieces.shift();
    return best && piece ? { piece, share: best } : undefined;
  }

  /** A piece whose connection was lost goes back to its share, for another lane. */
  putBack(share: Share, piece: Piece): void {
    share.pieces.unshift(piece);
    this.wake();
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  waitForWork(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * The caller's lane works through its own pieces too, so the call finishes even when no lane is idle;
   * it returns once every piece has succeeded or failed, wherever it ran.
   */
  async share<I, R>(
    items: { item: I; weight: number }[],
    work: (item: I, db: Queryable) => Promise<R>,
    runHere: (piece: Piece, share: Share) => Promise<void>,
    /** Whether the caller's connection, and any connection, is still there. */
    lanes: () => 'alive' | 'lost' | 'all-lost',
    /** Settle each piece on its own instead of failing the whole call at the first failure. */
    settle = false,
  ): Promise<PromiseSettledResult<R>[]> {
    let firstFailure: { error: unknown } | null = null;
    const results: PromiseSettledResult<R>[] = new Array(items.length);
    let pending = items.length;
    const settled = () => {
      pending--;
      this.wake();
    };
    const pieces = items.map(
      ({ item, weight }, index): Piece => ({
        weight,
        attempts: 0,
        // Once a piece has failed the check has failed: the rest are not worth reading.
        run: (db) => (firstFailure ? Promise.resolve(undefined) : work(item, db)),
        succeed: (v) => {
          results[index] = { status: 'fulfilled', value: v as R };
          settled();
        },
        fail: (e) => {
          results[index] = { status: 'rejected', reason: e };
          if (!settle) firstFailure ??= { error: e };
          settled();
        },
      }),
    );
    const share = new Share(pieces.sort((a, b) => b.weight - a.weight));
    this.shares.add(share);
    this.wake();
    try {
      while (pending > 0) {
        const state = lanes();
        if (state === 'all-lost') {
          for (const piece of share.pieces.splice(0)) piece.fail(new Error('not run: every audit connection was lost'));
          if (pending > 0) await this.waitForWork();
          continue;
        }
        // A caller whose connection is gone leaves its pieces to the other lanes.
        const piece = state === 'alive' ? share.pieces.shift() : undefined;
        if (piece) await runHere(piece, share);
        else await this.waitForWork();
      }
    } finally {
      this.shares.delete(share);
    }
    if (firstFailure) throw (firstFailure as { error: unknown }).error;
    return results;
  }

}

/** A connection whose failure to open is the user's to fix (exit 2), not a bug. */
export class ConnectionError extends UsageError {
  override name = 'ConnectionError';
}

export async function connect(target: ConnectionTarget): Promise<pg.Client> {
  const attempts = sslAttempts(target);
  let lastError: unknown;
  for (const withSsl of attempts) {
    const guard = authenticationGuard(target, withSsl);
    // The password goes through the guard: require_auth and channel_binding are checked before it is sent.
    const client = new pg.Client({ ...clientConfig(target, withSsl), password: guard.password });
    // An idle connection that drops must not crash the process; the next query reports it.
    client.on('error', () => undefined);
    guard.watch(client as pg.Client & { saslSession?: { mechanism?: string } | null });
    try {
      await client.connect();
      guard.authenticated();
      await assertSessionAttributes(client, target);
      return client;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => undefined);
      // libpq tries the other way only when the server refused the first (prefer: no SSL, a failed
      // handshake or an error over SSL; allow: an error without SSL). A timeout or refused port is final.
      if (!triesOtherWay(err, withSsl, target.sslMode)) break;
    }
  }
  if (lastError instanceof ConnectionRequirementError) throw new ConnectionError(`cannot connect to ${describeTarget(target)}: ${lastError.message}`);
  const code = typeof lastError === 'object' && lastError !== null && 'code' in lastError ? String(lastError.code) : '';
  const fromFile = target.passwordFile && code === '28P01' ? ` (the password was read from ${target.passwordFile})` : '';
  throw new ConnectionError(`cannot connect to ${describeTarget(target)}: ${explainConnectError(lastError, target)}${fromFile}`);
}

/** target_session_attrs, checked as libpq does once connected: with one host, a server that does not match is an error. */
async function assertSessionAttributes(client: pg.Client, target: ConnectionTarget): Promise<void> {
  if (!target.targetSessionAttrs || target.targetSessionAttrs === 'any' || target.targetSessionAttrs === 'prefer-standby') return;
  const row = (
    await client.query<{ standby: boolean; ro: string }>(
      `SELECT pg_catalog.pg_is_in_recovery() AS standby, pg_catalog.current_setting('transaction_read_only') AS ro`,
    )
  ).rows[0];
  const mismatch = sessionAttributesMismatch(target.targetSessionAttrs, { inRecovery: row?.standby === true, readOnly: row?.ro === 'on' });
  if (mismatch) throw new ConnectionRequirementError(mismatch);
}

/** What went wrong while connecting, in words that say what to check. */
export function explainConnectError(err: unknown, target: ConnectionTarget): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const raw = redactSecrets(errorMessage(err), [target.password]).split('\n')[0] ?? '';
  const where = isSocketHost(target.host) ? `socket ${target.host}` : `${target.host}:${target.port}`;
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused at ${where} (ECONNREFUSED): is PostgreSQL running and listening there? Check the host and port`;
    case 'ENOENT':
      return `no server socket in ${target.host} (ENOENT): is PostgreSQL running? Check PGHOST and the port`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host ${target.host} not found (${code}): check the host name`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host ${target.host} is unreachable (${code}): check the network and the host`;
    case '28P01':
      return `password authentication failed for user ${target.user} [28P01]: check the password (in the URL or PGPASSWORD)`;
    case '28000':
      return `${raw} [28000]: check the user name and the server's pg_hba.conf`;
    case '3D000':
      return `database ${JSON.stringify(target.database)} does not exist [3D000]: check the database name`;
    default:
      break;
  }
  if (/does not support SSL/i.test(raw)) {
    return `the server does not support SSL, but sslmode=${target.sslMode} requires it: use sslmode=prefer or disable, or enable SSL on the server`;
  }
  if (/timeout/i.test(raw)) {
    return `no answer within ${target.connectTimeoutSec} s (--connect-timeout): check the host, the port and any firewall between`;
  }
  return `${raw || 'connection failed'}${/^[0-9A-Z]{5}$/.test(code) ? ` [${code}]` : ''} (check --database-url, DATABASE_URL or the PG* variables)`;
}

/**
 * Every audit connection sits in one REPEATABLE READ, READ ONLY transaction. The first exports its
 * snapshot and the others import it, so that all parallel workers see the same instant.
 */
export class AuditSession {
  private readonly lost = new Set<pg.Client>();
  private interrupted = false;
  private readonly pool = new PiecePool();
  private readonly lossCause = new Map<pg.Client, unknown>();
  private releaseLocks = false;
  /** What the session had to do differently from what was asked (fewer connections), for the report. */
  readonly warnings: string[] = [];
  /** pg_control_system().system_identifier, or null when the server could not read it. */
  systemIdentifier: string | null = null;

  private constructor(
    readonly clients: pg.Client[],
    /** False when the server refused to export a snapshot (e.g. some poolers); the audit then runs on one connection. */
    readonly sharedSnapshot: boolean,
    readonly serverVersion: string,
    private readonly target: ConnectionTarget,
    /** Server process ids of the connections, to cancel their queries. */
    readonly backendPids: number[],
  ) {
    for (const client of clients) {
      const markLost = () => this.lost.add(client);
      client.on('end', markLost);
      client.on('error', markLost);
    }
  }

  static async open(target: ConnectionTarget, options: SessionOptions): Promise<AuditSession> {
    const first = await connect(target);
    const clients: pg.Client[] = [first];
    try {
      // Before the transaction: pg_control_system() reads a file, which can fail (permissions), and that
      // must cost nothing but the script's cluster check.
      const systemIdentifier = await first
        .query<{ id: string }>('SELECT s.system_identifier::text AS id FROM pg_catalog.pg_control_system() AS s')
        .then((r) => r.rows[0]?.id ?? null, () => null);
      await beginReadOnly(first, options);
      const version = (await first.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '';
      let snapshot: string | undefined;
      if (options.jobs > 1) {
        // Exporting cannot happen inside a savepoint; on refusal, start the transaction again without it.
        try {
          snapshot = (await first.query<{ id: string }>('SELECT pg_catalog.pg_export_snapshot() AS id')).rows[0]?.id;
        } catch {
          await first.query('ROLLBACK');
          await beginReadOnly(first, options);
        }
      }
      const pids = [await backendPid(first)];
      const warnings: string[] = [];
      if (snapshot) {
        for (let i = 1; i < options.jobs; i++) {
          let worker: pg.Client;
          try {
            worker = await connect(target);
          } catch (err) {
            // No free connection slot (53300, or only reserved ones left): audit on the connections there are.
            if (!isOutOfSlots(err)) throw err;
            warnings.push(`ran on ${clients.length} connection${clients.length === 1 ? '' : 's'} instead of --jobs ${options.jobs}: the server has no free connection slot for more (${errorMessage(err).split('\n')[0]})`);
            break;
          }
          clients.push(worker);
          await beginReadOnly(worker, options, snapshot);
          pids.push(await backendPid(worker));
        }
      }
      const session = new AuditSession(clients, snapshot !== undefined || options.jobs <= 1, version, target, pids);
      session.warnings.push(...warnings);
      session.systemIdentifier = systemIdentifier;
      return session;
    } catch (err) {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      throw err;
    }
  }

  get primary(): Queryable {
    return this.clients[0] as pg.Client;
  }

  /**
   * Whether each task's savepoint is rolled back when it is done, which lets go of the locks its reads
   * took. Off by default: the locks keep TRUNCATE and table rewrites (which are not MVCC-safe) out until
   * the audit ends, so every check sees the snapshot's rows. On for catalogs too large for the lock table.
   */
  releaseLocksAfterEachTask(on: boolean): void {
    this.releaseLocks = on;
  }

  /**
   * Runs tasks on the session's connections, at most one at a time per connection. Each task runs
   * inside a savepoint so that a failed or timed-out query does not abort the shared transaction.
   * A task may fan out (see FanOut): a connection with no task left helps with the pieces of the
   * tasks still running, so that one long check does not leave the other connections idle.
   */
  async runAll<T>(tasks: ((db: Queryable, fanOut: FanOut, settledFanOut: SettledFanOut) => Promise<T>)[]): Promise<PromiseSettledResult<T>[]> {
    const results: PromiseSettledResult<T>[] = new Array(tasks.length);
    let next = 0;
    let running = 0;
    const pool = this.pool;
    const lanes = this.clients.map(async (client, lane) => {
      // A lane whose connection was lost stops taking work; the other lanes finish the queue.
      while (!this.interrupted && !this.lost.has(client)) {
        const index = next++;
        if (index >= tasks.length) break;
        const task = tasks[index] as (db: Queryable, fanOut: FanOut, settledFanOut: SettledFanOut) => Promise<T>;
        running++;
        try {
          const share = <I, R>(items: { item: I; weight: number }[], work: (item: I, db: Queryable) => Promise<R>, settle: boolean) =>
            pool.share(
              items,
              work,
              (piece, s) => this.runPiece(client, piece, s),
              () => (this.clients.every((c) => this.lost.has(c)) ? 'all-lost' : this.lost.has(client) ? 'lost' : 'alive'),
              settle,
            );
          const fanOut: FanOut = async (items, work) =>
            (await share(items, work, false)).map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof work>>>).value);
          const settledFanOut: SettledFanOut = (items, work) => share(items, work, true);
          results[index] = {
            status: 'fulfilled',
            value: await inSavepoint(client, `lane_${lane}`, (db) => task(db, fanOut, settledFanOut), this.releaseLocks),
          };
        } catch (reason) {
          if (isConnectionLoss(reason)) this.lost.add(client);
          // The first error that said why the connection went beats the client's later "not queryable".
          results[index] = { status: 'rejected', reason: (isConnectionLoss(reason) && this.lossCause.get(client)) || reason };
        } finally {
          running--;
          pool.wake();
        }
      }
      // No task left: help the running ones with their pieces until they are all done.
      while (!this.interrupted && !this.lost.has(client) && running > 0) {
        const taken = pool.take();
        if (taken) await this.runPiece(client, taken.piece, taken.share);
        else await pool.waitForWork();
      }
    });
    await Promise.all(lanes);
    for (let i = 0; i < tasks.length; i++) {
      results[i] ??= {
        status: 'rejected',
        reason: new Error(this.interrupted ? 'not run: the audit was interrupted' : 'not run: every audit connection was lost'),
      };
    }
    return results;
  }

  private async runPiece(client: pg.Client, piece: Piece, share: Share): Promise<void> {
    if (this.interrupted) return piece.fail(new Error('not run: the audit was interrupted'));
    try {
      piece.succeed(await inSavepoint(client, 'piece', piece.run, this.releaseLocks));
    } catch (err) {
      if (isConnectionLoss(err)) {
        this.lost.add(client);
        if (!this.lossCause.has(client)) this.lossCause.set(client, err);
        // Another lane may still have its connection: one more try there before the check fails.
        if (piece.attempts++ === 0 && this.clients.some((c) => !this.lost.has(c))) return this.pool.putBack(share, piece);
      }
      piece.fail(err);
    }
  }

  /**
   * Stops the audit: no further task starts, and the queries running now are cancelled on the server
   * from a separate connection, so nothing is left running after the process exits.
   */
  async interrupt(): Promise<void> {
    this.interrupted = true;
    this.pool.wake();
    const live = this.clients.filter((c) => !this.lost.has(c));
    // The protocol's CancelRequest needs no connection slot (the postmaster answers it before any
    // authentication), so it works on a server with every slot taken, as psql's Ctrl-C does.
    await Promise.all(live.map((c) => sendCancelRequest(this.target, backendKey(c))));
  }

  /** Cancels what runs on `db` now, when it is one of this session's connections (a check cut off). */
  async cancelRunning(db: Queryable): Promise<void> {
    const client = this.clients.find((c) => c === db);
    if (client && !this.lost.has(client)) await sendCancelRequest(this.target, backendKey(client));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.clients.map(async (c) => {
        await c.query('ROLLBACK').catch(() => undefined);
        await c.end().catch(() => undefined);
      }),
    );
  }
}

async function beginReadOnly(client: pg.Client, options: SessionOptions, snapshot?: string): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  if (snapshot) await client.query(`SET TRANSACTION SNAPSHOT ${pg.escapeLiteral(snapshot)}`);
  // set_config with is_local = true is SET LOCAL with bound values.
  const limits = await serverLimits(client);
  // Every process of a parallel query gets work_mem of its own (a parallel hash shares the sum): the
  // user's total is divided among the connections and the workers each may start.
  const participants = Math.max(1, options.jobs) * (1 + limits.max_parallel_workers_per_gather);
  const share = Math.floor((options.workMemKb ?? DEFAULT_WORK_MEM_KB) / participants / Math.max(1, limits.hash_mem_multiplier));
  const values = [
    `${smallerLimit(options.statementTimeoutMs, limits.statement_timeout)}ms`,
    `${smallerLimit(options.lockTimeoutMs, limits.lock_timeout)}ms`,
    `${limits.idle_in_transaction_session_timeout}ms`,
    `${Math.max(share, limits.work_mem, 64)}kB`,
  ];
  await client.query(AUDIT_SETTINGS_SQL, values);
  PINNED.set(client, pinnedSettings(values));
}

interface ServerLimits {
  statement_timeout: number;
  lock_timeout: number;
  idle_in_transaction_session_timeout: number;
  /** kB */
  work_mem: number;
  hash_mem_multiplier: number;
  max_parallel_workers_per_gather: number;
}

/** The timeouts the session started with (the server's, the database's or the role's settings), in ms; 0 is none. */
async function serverLimits(client: pg.Client): Promise<ServerLimits> {
  const res = await client.query<{ name: keyof ServerLimits; ms: string }>(
    `SELECT name, setting AS ms FROM pg_catalog.pg_settings
      WHERE name IN ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'work_mem', 'hash_mem_multiplier', 'max_parallel_workers_per_gather')`,
  );
  const limits: ServerLimits = { statement_timeout: 0, lock_timeout: 0, idle_in_transaction_session_timeout: 0, work_mem: 4096, hash_mem_multiplier: 1, max_parallel_workers_per_gather: 0 };
  for (const r of res.rows) limits[r.name] = Number(r.ms) || 0;
  // hash_mem_multiplier is PostgreSQL 13+: 1 before it (a hash then stays within work_mem).
  if (!(limits.hash_mem_multiplier >= 1)) limits.hash_mem_multiplier = 1;
  return limits;
}

/**
 * A guard a DBA set on the role or database is never loosened: the audit uses the smaller of its own
 * limit and the one already in force (0 means none).
 */
export function smallerLimit(ours: number, theirs: number): number {
  return theirs > 0 && theirs < ours ? theirs : ours;
}

interface BackendKey {
  processID: number;
  secretKey: number;
}

function backendKey(client: pg.Client): BackendKey {
  // pg keeps the BackendKeyData it received on the client; its type definitions do not declare it.
  const { processID, secretKey } = client as unknown as BackendKey;
  return { processID, secretKey };
}

/** Sends the protocol's CancelRequest for one backend over a connection of its own; never throws. */
export async function sendCancelRequest(target: ConnectionTarget, key: BackendKey, timeoutMs = 3000): Promise<void> {
  if (!key.processID) return;
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(key.processID, 8);
  packet.writeInt32BE(key.secretKey, 12);
  await new Promise<void>((resolve) => {
    // hostaddr is where the session's connection went: the cancel request must reach the same server.
    const socket = target.hostaddr
      ? net.connect({ host: target.hostaddr, port: target.port })
      : isSocketHost(target.host)
        ? net.connect({ path: path.join(target.host, `.s.PGSQL.${target.port}`) })
        : net.connect({ host: target.host, port: target.port });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    socket.once('connect', () => socket.end(packet));
    socket.once('close', done);
    socket.once('error', done);
  });
}

/** Too many connections (53300), or only superuser-reserved slots left. */
function isOutOfSlots(err: unknown): boolean {
  const message = errorMessage(err);
  return /\[53300\]|too many (clients|connections)|remaining connection slots are reserved/i.test(message);
}

/**
 * The settings of every audit transaction ($1 statement_timeout, $2 lock_timeout, $3
 * idle_in_transaction_session_timeout: each never looser than the one in force; $4 work_mem, the
 * connection's share of --work-mem, so an anti-join's hash fits in one batch), as pg_dump pins its
 * session: `row_security = off` makes a table whose policies would hide rows an error instead of a
 * silent partial read, and a `search_path` of `pg_catalog, pg_temp` keeps every unqualified operator,
 * function and type on the system's own, so no object a user created runs inside the audit.
 */
export const AUDIT_SETTINGS_SQL = `SELECT pg_catalog.set_config('statement_timeout', $1, true), pg_catalog.set_config('lock_timeout', $2, true),
            pg_catalog.set_config('idle_in_transaction_session_timeout', $3, true),
            pg_catalog.set_config('row_security', 'off', true),
            pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true),
            pg_catalog.set_config('standard_conforming_strings', 'on', true),
            pg_catalog.set_config('DateStyle', 'ISO, MDY', true), pg_catalog.set_config('IntervalStyle', 'postgres', true),
            pg_catalog.set_config('extra_float_digits', '3', true), pg_catalog.set_config('work_mem', $4, true)`;

/**
 * Each connection's settings as one statement with the values written in (ours: numbers and units), run
 * again after every task and piece, in the same round trip as its RELEASE: a check that changed a
 * setting (through a function of its own, say) changes it for itself only, never for the next check.
 */
const PINNED = new WeakMap<pg.Client, string>();

function pinnedSettings(values: string[]): string {
  return values.reduce((sql, v, i) => sql.replace(`$${i + 1}`, pg.escapeLiteral(v)), AUDIT_SETTINGS_SQL);
}

async function backendPid(client: pg.Client): Promise<number> {
  return (await client.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;
}

/** Errors after which the connection is gone: admin shutdown or termination, or the socket closing. */
export function isConnectionLoss(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (['57P01', '57P02', '57P03', '08000', '08003', '08006', 'ECONNRESET', 'EPIPE'].includes(code)) return true;
  const message = err instanceof Error ? err.message : String(err);
  return /Connection terminated|Client was closed|not queryable|connection.*(lost|closed)/i.test(message);
}

/**
 * Runs `task` in a savepoint. With `releaseLocks` the savepoint is rolled back even when the task
 * succeeds: the transaction is read-only, so nothing is lost, and the rollback lets go of the locks the
 * task's reads took. A transaction keeping one lock per table and index read runs out of lock space
 * ("out of shared memory") on a database of thousands of tables.
 */
async function inSavepoint<T>(client: pg.Client, name: string, task: (db: Queryable) => Promise<T>, releaseLocks = false): Promise<T> {
  await client.query(`SAVEPOINT ${name}`);
  try {
    const value = await task(client);
    const pins = PINNED.get(client);
    await client.query(`${releaseLocks ? `ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}` : `RELEASE SAVEPOINT ${name}`}${pins ? `; ${pins}` : ''}`);
    return value;
  } catch (err) {
    await client.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
    throw err;
  }
}
