import { parse } from '@libpg-query/parser';
import type { Queryable, QueryResultLike } from '../db/session.js';

/**
 * Functions that act outside the audit's transaction, where READ ONLY cannot reach: settings that would
 * outlive the check (a statement timeout turned off), other connections (dblink), other sessions,
 * the server's files and configuration, session-level locks.
 */
const OUTSIDE_THE_TRANSACTION = new Set([
  'set_config',
  'dblink',
  'dblink_exec',
  'dblink_connect',
  'dblink_connect_u',
  'dblink_send_query',
  'dblink_open',
  'dblink_fetch',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_promote',
  'pg_advisory_lock',
  'pg_advisory_lock_shared',
  'pg_try_advisory_lock',
  'pg_try_advisory_lock_shared',
  'pg_notify',
  'lo_import',
  'lo_export',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_file_sync',
]);

/** A statement a check may not run: it never reaches the server. */
export class RefusedStatement extends Error {
  override name = 'RefusedStatement';
}

const verdicts = new Map<string, string | null>();

/**
 * Why `sql` is not a single read (SELECT, WITH ... SELECT, VALUES, or EXPLAIN of one), or null when it
 * is. Transaction control, SET, and writes are refused here, so that no check can end the READ ONLY
 * transaction and go on outside it; a data-modifying CTE parses as a SELECT and is left to READ ONLY,
 * which refuses it on the server.
 */
export async function refusalOf(sql: string): Promise<string | null> {
  const known = verdicts.get(sql);
  if (known !== undefined) return known;
  let verdict: string | null;
  try {
    const tree = (await parse(sql)) as { stmts?: { stmt: Record<string, unknown> }[] };
    const stmts = tree.stmts ?? [];
    if (stmts.length !== 1) verdict = `a check runs one statement per query, not ${stmts.length}`;
    else {
      const stmt = (stmts[0] as { stmt: Record<string, unknown> }).stmt;
      const kind = Object.keys(stmt)[0] ?? '';
      const inner = kind === 'ExplainStmt' ? (stmt.ExplainStmt as { query?: Record<string, unknown> }).query : stmt;
      const innerKind = inner ? (Object.keys(inner)[0] ?? '') : '';
      if (innerKind !== 'SelectStmt') verdict = `a check only reads: ${kind.replace(/Stmt$/, '') || 'this statement'} is not allowed (SELECT, WITH … SELECT, VALUES or EXPLAIN)`;
      else {
        const fn = calledFunctions(stmt).find((name) => OUTSIDE_THE_TRANSACTION.has(name));
        verdict = fn ? `a check may not call ${fn}(): it acts outside the audit's read-only transaction` : null;
      }
    }
  } catch {
    // Not ours to judge: the server gives the syntax error, with its position, in the check's own words.
    verdict = null;
  }
  if (verdicts.size > 10_000) verdicts.clear();
  verdicts.set(sql, verdict);
  return verdict;
}

function calledFunctions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const n of node) calledFunctions(n, out);
  } else if (node && typeof node === 'object') {
    const call = (node as { FuncCall?: { funcname?: { String?: { sval?: string } }[] } }).FuncCall;
    const last = call?.funcname?.[call.funcname.length - 1]?.String?.sval;
    if (last) out.push(last.toLowerCase());
    for (const v of Object.values(node)) calledFunctions(v, out);
  }
  return out;
}

/**
 * The handles one check is given: every query is read-checked first, and once the check is over (done,
 * or cut off by --check-timeout) the handles refuse everything, so that code still running in the
 * background cannot touch the connection another check now uses.
 */
export class CheckHandles {
  private closedReason: string | null = null;
  private readonly running = new Map<Queryable, number>();

  wrap(db: Queryable): Queryable {
    return {
      query: async <R>(sql: string, params?: unknown[]): Promise<QueryResultLike<R>> => {
        if (this.closedReason) throw new RefusedStatement(this.closedReason);
        const refusal = await refusalOf(sql);
        if (refusal) throw new RefusedStatement(refusal);
        if (this.closedReason) throw new RefusedStatement(this.closedReason);
        this.running.set(db, (this.running.get(db) ?? 0) + 1);
        try {
          return await db.query<R>(sql, params);
        } finally {
          const n = (this.running.get(db) ?? 1) - 1;
          if (n === 0) this.running.delete(db);
          else this.running.set(db, n);
        }
      },
    };
  }

  /** Refuses every later query; returns the connections with a query of this check running now. */
  close(reason: string): Queryable[] {
    this.closedReason = reason;
    return [...this.running.keys()];
  }
}
