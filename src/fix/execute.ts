import type pg from 'pg';
import { parse } from '@libpg-query/parser';
import { connect, sequentialFanOut, sequentialSettledFanOut, type FanOut, type Queryable, type SettledFanOut } from '../db/session.js';
import { auditWith, type AuditLanes, type AuditOptions, type AuditOutcome, type RepairEntry } from '../engine/runner.js';
import { UsageError, errorMessage } from '../errors.js';
import { CREATE_QUARANTINE_SCHEMA, QUARANTINE_SCHEMA } from './quarantine.js';
import type { RepairStep } from './types.js';
import type { AuditReport, Finding } from '../findings.js';

/** One connection, one transaction; checks run one after another, each in a savepoint (fix --verify, preflight's repairs). */
export class TransactionLanes implements AuditLanes {
  constructor(
    private readonly client: Queryable,
    readonly serverVersion: string,
    readonly systemIdentifier: string | null = null,
  ) {}

  get primary(): Queryable {
    return this.client;
  }

  async runAll<T>(tasks: ((db: Queryable, fanOut: FanOut, settledFanOut: SettledFanOut) => Promise<T>)[]): Promise<PromiseSettledResult<T>[]> {
    const out: PromiseSettledResult<T>[] = [];
    for (const task of tasks) {
      await this.client.query('SAVEPOINT integrity_verify_check');
      try {
        const value = await task(this.client, sequentialFanOut(this.client), sequentialSettledFanOut(this.client));
        await this.client.query('RELEASE SAVEPOINT integrity_verify_check');
        out.push({ status: 'fulfilled', value });
      } catch (reason) {
        await this.client.query('ROLLBACK TO SAVEPOINT integrity_verify_check').catch(() => undefined);
        out.push({ status: 'rejected', reason });
      }
    }
    return out;
  }
}

/**
 * The settings the repairs rely on, as the script pins them at its top: literals and names mean what
 * they say, no user object is found by an unqualified name, and a copy sees every row its delete removes
 * (row_security = off errors instead of hiding rows). `local`: for this transaction only.
 */
export async function pinSession(client: pg.Client, local: boolean): Promise<void> {
  const role = (await client.query<{ r: string }>(`SELECT pg_catalog.current_setting('session_replication_role') AS r`)).rows[0]?.r;
  if (role !== 'origin') {
    throw new UsageError(`session_replication_role is ${role} for this role or database, so foreign keys would neither cascade nor be checked: repair as a role without that setting`);
  }
  await client.query(
    `SELECT pg_catalog.set_config('standard_conforming_strings', 'on', $1), pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', $1),
            pg_catalog.set_config('row_security', 'off', $1), pg_catalog.set_config('client_encoding', 'UTF8', $1),
            pg_catalog.set_config('check_function_bodies', 'off', $1), pg_catalog.set_config('DateStyle', 'ISO, MDY', $1),
            pg_catalog.set_config('IntervalStyle', 'postgres', $1), pg_catalog.set_config('extra_float_digits', '3', $1)`,
    [local],
  );
}

async function setTimeouts(client: pg.Client, options: AuditOptions): Promise<void> {
  await client.query(`SELECT pg_catalog.set_config('statement_timeout', $1, true), pg_catalog.set_config('lock_timeout', $2, true)`, [
    `${options.statementTimeoutMs}ms`,
    `${options.lockTimeoutMs}ms`,
  ]);
}

/** Statements a repair runs (review steps never run). */
export function runnableSteps(entry: RepairEntry): RepairStep[] {
  return entry.repair.steps.filter((s) => s.safety !== 'review');
}

function usesQuarantine(entries: RepairEntry[]): boolean {
  return entries.some((e) => runnableSteps(e).some((s) => s.sql.includes(QUARANTINE_SCHEMA)));
}

export type VerifyStatus = 'cleared' | 'partly cleared' | 'not cleared' | 'failed' | 'review only';

export interface VerifyLine {
  checkId: string;
  fingerprint: string;
  object: RepairEntry['finding']['object'];
  countBefore: number | null;
  countAfter: number | null;
  status: VerifyStatus;
  error?: string;
}

export interface VerifyResult {
  before: AuditOutcome;
  after: AuditOutcome;
  lines: VerifyLine[];
  /** Findings the repairs would create (not there before, or grown): a repair that makes a new orphan. */
  created: Finding[];
  /** What the rollback cannot undo: sequence values the repairs' inserts took, triggers' side effects outside the database. */
  notUndone: string[];
}

/** Findings of `after` that `before` did not have, or whose count grew. */
export function createdFindings(before: Finding[], after: Finding[]): Finding[] {
  const counts = new Map(before.map((f) => [f.fingerprint, f.count]));
  return after.filter((f) => {
    if (!counts.has(f.fingerprint)) return true;
    const was = counts.get(f.fingerprint);
    return f.count !== null && was !== null && was !== undefined && f.count > was;
  });
}

/**
 * What a rolled-back --verify leaves behind: nextval() is never rolled back, and a trigger that fired on a
 * repaired table may have acted outside the database (dblink, COPY ... TO PROGRAM, an HTTP call).
 */
async function notUndoneBy(client: pg.Client): Promise<string[]> {
  // The tables this transaction wrote to, cascades included, as the statistics of the transaction count them.
  const res = await client.query<{ kind: string; name: string }>(
    `WITH t AS (SELECT x.relid AS oid, x.n_tup_ins > 0 AS inserted FROM pg_catalog.pg_stat_xact_user_tables x
                 WHERE x.n_tup_ins + x.n_tup_upd + x.n_tup_del > 0 AND x.schemaname <> 'integrity_quarantine')
     SELECT DISTINCT 'sequence' AS kind, sq.oid::pg_catalog.regclass::text AS name
       FROM t JOIN pg_catalog.pg_depend d ON t.inserted AND d.refobjid = t.oid AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
       JOIN pg_catalog.pg_class sq ON sq.oid = d.objid AND sq.relkind = 'S'
     UNION
     SELECT DISTINCT 'trigger', tg.tgname::text || ' on ' || tg.tgrelid::pg_catalog.regclass::text
       FROM t JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = t.oid AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'
     ORDER BY 1, 2`,
  );
  return res.rows.map((r) =>
    r.kind === 'sequence'
      ? `sequence ${r.name}: values taken by the repairs' inserts are not given back by the rollback (gaps in ids)`
      : `trigger ${r.name} fired during the repairs: anything it did outside this database (dblink, COPY TO PROGRAM, an HTTP call, a message) is not undone`,
  );
}

/**
 * Runs every repair and then every check again inside one transaction (non-concurrent index builds
 * standing in for the concurrent ones), compares, and rolls back: the database is left as it was.
 */
export async function verifyRepairs(options: AuditOptions, keep: (entry: RepairEntry) => boolean = () => true): Promise<VerifyResult> {
  // The parser's WebAssembly loads on first use: load it before the transaction starts, so a small
  // idle_in_transaction_session_timeout never ends the transaction while Node is busy.
  await parse('SELECT 1');
  const client = await connect(options.target);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await setTimeouts(client, options);
    await pinSession(client, true);
    const version = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '';
    const lanes = new TransactionLanes(client, version);
    const audited = await auditWith(lanes, options);
    // Repairs --safety leaves out are neither run nor judged.
    const before = { ...audited, repairs: audited.repairs.filter(keep) };
    if (usesQuarantine(before.repairs)) await client.query(CREATE_QUARANTINE_SCHEMA);
    const failures = new Map<string, string>();
    for (const entry of before.repairs) {
      const steps = runnableSteps(entry);
      if (steps.length === 0) continue;
      await client.query('SAVEPOINT integrity_verify_repair');
      try {
        for (const step of steps) {
          if (step.phase === 'transaction') {
            await client.query(step.sql);
            continue;
          }
          const todo = step.guard ? Object.values((await client.query(step.guard)).rows[0] ?? {})[0] === true : true;
          if (todo) for (const sql of step.verifyStatements ?? []) await client.query(sql);
        }
        await client.query('RELEASE SAVEPOINT integrity_verify_repair');
      } catch (err) {
        await client.query('ROLLBACK TO SAVEPOINT integrity_verify_repair');
        failures.set(entry.finding.fingerprint, errorMessage(err));
      }
    }
    const notUndone = await notUndoneBy(client);
    const after = await auditWith(lanes, options);
    const remaining = new Map(after.report.findings.map((f) => [f.fingerprint, f]));
    const lines: VerifyLine[] = before.repairs.map((entry) => {
      const f = entry.finding;
      const left = remaining.get(f.fingerprint);
      const base = { checkId: f.checkId, fingerprint: f.fingerprint, object: f.object, countBefore: f.count, countAfter: left ? left.count : 0 };
      if (entry.repair.error) return { ...base, status: 'failed', error: `the repair could not be written: ${entry.repair.error}` };
      if (failures.has(f.fingerprint)) return { ...base, status: 'failed', error: failures.get(f.fingerprint) as string };
      const status = outcomeOf(entry, remaining, after.report);
      const recheck = after.report.checks.find((c) => c.id === f.checkId);
      if (status === 'failed') return { ...base, status, error: `the audit after the repairs could not check it: ${recheck?.reason ?? 'unknown'}` };
      return { ...base, status };
    });
    return { before, after, lines, created: createdFindings(before.report.findings, after.report.findings), notUndone };
  } catch (err) {
    if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '25P03') {
      throw new Error(
        'the server ended the verify transaction: idle_in_transaction_session_timeout is shorter than a pause between the repairs (raise it for this role, or run --verify against a copy)',
        { cause: err },
      );
    }
    throw err;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

export interface ApplyResult {
  applied: number;
  concurrentRun: number;
}

/** Runs the transactional part in one transaction, then the concurrent statements whose guards say so. */
/** The same judgement for --verify and --apply: what became of each repaired finding. */
export function outcomeOf(entry: RepairEntry, remaining: Map<string, Finding>, after?: AuditReport): VerifyStatus {
  if (entry.repair.error) return 'failed';
  if (runnableSteps(entry).length === 0) return 'review only';
  // A finding the second audit could not look for is not cleared: it is unknown.
  const check = after?.checks.find((c) => c.id === entry.finding.checkId);
  if (check && (check.status === 'error' || check.status === 'skipped')) return 'failed';
  const left = remaining.get(entry.finding.fingerprint);
  if (!left) return 'cleared';
  const reviewLeft = entry.repair.steps.some((st) => st.safety === 'review');
  const reduced = left.count !== null && entry.finding.count !== null && left.count < entry.finding.count;
  return reviewLeft && reduced ? 'partly cleared' : 'not cleared';
}

export async function applyRepairs(options: AuditOptions, repairs: RepairEntry[]): Promise<ApplyResult> {
  const client = await connect(options.target);
  let applied = 0;
  let concurrentRun = 0;
  try {
    await client.query(`SELECT pg_catalog.set_config('lock_timeout', $1, false)`, [`${Math.max(options.lockTimeoutMs, 10_000)}ms`]);
    await pinSession(client, false);
    await client.query('BEGIN');
    if (usesQuarantine(repairs)) await client.query(CREATE_QUARANTINE_SCHEMA);
    for (const entry of repairs) {
      const steps = runnableSteps(entry).filter((s) => s.phase === 'transaction');
      for (const step of steps) await client.query(step.sql);
      if (steps.length > 0) applied++;
    }
    await client.query('COMMIT');
    for (const entry of repairs) {
      for (const step of runnableSteps(entry).filter((s) => s.phase === 'concurrent')) {
        const todo = step.guard ? Object.values((await client.query(step.guard)).rows[0] ?? {})[0] === true : true;
        if (!todo) continue;
        for (const sql of step.statements ?? []) await client.query(sql);
        concurrentRun++;
      }
    }
    return { applied, concurrentRun };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
