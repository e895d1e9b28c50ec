import { createHash } from 'node:crypto';
import { parse } from '@libpg-query/parser';
import { type PlanMethod, type Queryable, type QueryOptions, type QueryResultLike } from '../db/session.js';
import { ACTING_FUNCTIONS, calledFunctions } from '../db/acting-functions.js';
import { quoteLiteral } from '../db/quote.js';
import { errorMessage } from '../errors.js';

/** A statement a check may not run: it never reaches the server. */
export class RefusedStatement extends Error {
  override name = 'RefusedStatement';
  /** As on a server error: 42601 for a syntax error, with its 1-based character position. */
  readonly code?: string;
  readonly position?: string;
  constructor(refusal: Refusal | string) {
    super(typeof refusal === 'string' ? refusal : refusal.reason);
    if (typeof refusal === 'object' && refusal.syntaxErrorAt !== undefined) {
      this.code = '42601';
      this.position = String(refusal.syntaxErrorAt);
    }
  }
}

export interface Refusal {
  reason: string;
  /** Set for a syntax error: where it is (1-based, in characters, as PostgreSQL reports it). */
  syntaxErrorAt?: number;
}

const verdicts = new Map<string, Refusal | null>();

/**
 * Why `sql` is not a single read (SELECT, WITH ... SELECT, VALUES, or EXPLAIN of one), or null when it
 * is. Transaction control, SET, and writes are refused here, so that no check can end the READ ONLY
 * transaction and go on outside it; a data-modifying CTE parses as a SELECT and is left to READ ONLY,
 * which refuses it on the server.
 */
export async function refusalOf(sql: string): Promise<Refusal | null> {
  // Keyed by digest: the texts themselves (one per table, on a schema of thousands) would be most of the
  // cache's memory.
  const key = createHash('sha256').update(sql).digest('base64');
  const known = verdicts.get(key);
  if (known !== undefined) return known;
  let verdict: Refusal | null;
  try {
    const tree = (await parse(sql)) as { stmts?: { stmt: Record<string, unknown> }[] };
    const stmts = tree.stmts ?? [];
    if (stmts.length !== 1) verdict = { reason: `a check runs one statement per query, not ${stmts.length}` };
    else {
      const stmt = (stmts[0] as { stmt: Record<string, unknown> }).stmt;
      const kind = Object.keys(stmt)[0] ?? '';
      const inner = kind === 'ExplainStmt' ? (stmt.ExplainStmt as { query?: Record<string, unknown> }).query : stmt;
      const innerKind = inner ? (Object.keys(inner)[0] ?? '') : '';
      if (innerKind !== 'SelectStmt') verdict = { reason: `a check only reads: ${kind.replace(/Stmt$/, '') || 'this statement'} is not allowed (SELECT, WITH … SELECT, VALUES or EXPLAIN)` };
      else {
        const fn = calledFunctions(stmt).find((name) => ACTING_FUNCTIONS.has(name));
        verdict = fn ? { reason: `a check may not call ${fn}(): it acts outside the audit's read-only transaction` } : null;
      }
    }
  } catch (err) {
    // The parser is PostgreSQL's own, so its syntax error is the server's. Anything else (a tree too deep
    // to walk, say) is refused too: a text we could not read is never sent, where several statements
    // could run.
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    verdict = details?.message
      ? { reason: details.message, syntaxErrorAt: (details.cursorPosition ?? 0) + 1 }
      : { reason: `the query could not be checked, so it was not sent (${errorMessage(err).split('\n')[0]})` };
  }
  if (verdicts.size > 10_000) verdicts.clear();
  verdicts.set(key, verdict);
  return verdict;
}

const SETTINGS: Record<PlanMethod, [string, string]> = {
  hashjoin: ['enable_hashjoin', 'off'],
  mergejoin: ['enable_mergejoin', 'off'],
  nestloop: ['enable_nestloop', 'off'],
  hashagg: ['enable_hashagg', 'off'],
  sort: ['enable_sort', 'off'],
  seqscan: ['enable_seqscan', 'off'],
  bitmapscan: ['enable_bitmapscan', 'off'],
  parallel: ['max_parallel_workers_per_gather', '0'],
};

/**
 * The planner settings for QueryOptions.avoid: only names from this table ever reach the SET. The
 * settings are the connection's, so a check that runs queries concurrently on one handle may see one
 * query's hints on another: plans change, results never do.
 */
function planSettings(avoid: readonly PlanMethod[] | undefined): [string, string][] {
  if (avoid === undefined) return [];
  if (!Array.isArray(avoid)) throw new RefusedStatement('options.avoid must be an array of plan methods');
  return [...new Set<unknown>(avoid)].map((method) => {
    if (typeof method !== 'string' || !Object.hasOwn(SETTINGS, method)) throw new RefusedStatement(`options.avoid: unknown plan method ${JSON.stringify(String(method)).slice(0, 40)} (one of ${Object.keys(SETTINGS).join(', ')})`);
    return SETTINGS[method as PlanMethod];
  });
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
      query: async <R>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResultLike<R>> => {
        if (this.closedReason) throw new RefusedStatement(this.closedReason);
        const refusal = await refusalOf(sql);
        if (refusal) throw new RefusedStatement(refusal);
        const settings = planSettings(options?.avoid);
        if (this.closedReason) throw new RefusedStatement(this.closedReason);
        this.running.set(db, (this.running.get(db) ?? 0) + 1);
        try {
          if (settings.length === 0) return await db.query<R>(sql, params);
          // SHOW, not a SELECT: --plan EXPLAINs every SELECT, and passes other statements through.
          const before: string[] = [];
          for (const [name] of settings) before.push(String(Object.values((await db.query<Record<string, unknown>>(`SHOW ${name}`)).rows[0] ?? {})[0] ?? ''));
          await db.query(settings.map(([name, off]) => `SET LOCAL ${name} = ${off}`).join('; '));
          // A check cut off meanwhile (--check-timeout) found nothing running to cancel: its query is not sent.
          if (this.closedReason) throw new RefusedStatement(this.closedReason);
          const res = await db.query<R>(sql, params);
          // On an error the transaction is aborted and the savepoint around the check or item is rolled
          // back, which undoes the SET LOCAL too.
          await db.query(settings.map(([name], i) => `SET LOCAL ${name} = ${quoteLiteral(before[i] ?? '')}`).join('; '));
          return res;
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
