import pg from 'pg';
import { clientConfig, sslAttempts, describeTarget, redactSecrets, type ConnectionTarget } from './connection.js';
import { UsageError, errorMessage } from '../errors.js';

export interface QueryResultLike<R> {
  rows: R[];
}

/** The only thing a check may do with the database: run a read-only query with bound values. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResultLike<R>>;
}

export interface SessionOptions {
  jobs: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/** A connection whose failure to open is the user's to fix (exit 2), not a bug. */
export class ConnectionError extends UsageError {
  override name = 'ConnectionError';
}

export async function connect(target: ConnectionTarget): Promise<pg.Client> {
  const attempts = sslAttempts(target);
  let lastError: unknown;
  for (const withSsl of attempts) {
    const client = new pg.Client(clientConfig(target, withSsl));
    // An idle connection that drops must not crash the process; the next query reports it.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => undefined);
    }
  }
  const detail = redactSecrets(errorMessage(lastError), [target.password]);
  throw new ConnectionError(
    `cannot connect to ${describeTarget(target)}: ${detail || 'connection failed'} (check --database-url, DATABASE_URL or the PG* variables)`,
  );
}

/**
 * Every audit connection sits in one REPEATABLE READ, READ ONLY transaction. The first exports its
 * snapshot and the others import it, so that all parallel workers see the same instant.
 */
export class AuditSession {
  private constructor(
    readonly clients: pg.Client[],
    /** False when the server refused to export a snapshot (e.g. some poolers); the audit then runs on one connection. */
    readonly sharedSnapshot: boolean,
    readonly serverVersion: string,
  ) {}

  static async open(target: ConnectionTarget, options: SessionOptions): Promise<AuditSession> {
    const first = await connect(target);
    const clients: pg.Client[] = [first];
    try {
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
      if (snapshot) {
        for (let i = 1; i < options.jobs; i++) {
          const worker = await connect(target);
          clients.push(worker);
          await beginReadOnly(worker, options, snapshot);
        }
      }
      return new AuditSession(clients, snapshot !== undefined || options.jobs <= 1, version);
    } catch (err) {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      throw err;
    }
  }

  get primary(): Queryable {
    return this.clients[0] as pg.Client;
  }

  /**
   * Runs tasks on the session's connections, at most one at a time per connection. Each task runs
   * inside a savepoint so that a failed or timed-out query does not abort the shared transaction.
   */
  async runAll<T>(tasks: ((db: Queryable) => Promise<T>)[]): Promise<PromiseSettledResult<T>[]> {
    const results: PromiseSettledResult<T>[] = new Array(tasks.length);
    let next = 0;
    const lanes = this.clients.map(async (client, lane) => {
      for (;;) {
        const index = next++;
        if (index >= tasks.length) return;
        const task = tasks[index] as (db: Queryable) => Promise<T>;
        try {
          results[index] = { status: 'fulfilled', value: await inSavepoint(client, `lane_${lane}`, task) };
        } catch (reason) {
          results[index] = { status: 'rejected', reason };
        }
      }
    });
    await Promise.all(lanes);
    return results;
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
  await client.query(
    `SELECT pg_catalog.set_config('statement_timeout', $1, true), pg_catalog.set_config('lock_timeout', $2, true),
            pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true)`,
    [`${options.statementTimeoutMs}ms`, `${options.lockTimeoutMs}ms`],
  );
}

async function inSavepoint<T>(client: pg.Client, name: string, task: (db: Queryable) => Promise<T>): Promise<T> {
  await client.query(`SAVEPOINT ${name}`);
  try {
    const value = await task(client);
    await client.query(`RELEASE SAVEPOINT ${name}`);
    return value;
  } catch (err) {
    await client.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
    throw err;
  }
}
