import { sequentialFanOut, sequentialSettledFanOut, type FanOut, type Queryable, type QueryResultLike, type SettledFanOut } from '../db/session.js';
import { auditWith, runWithSession, type AuditLanes, type AuditOptions } from './runner.js';
import type { CheckStatus } from '../findings.js';
import { rowSecurityTables, type RowSecurityEntry } from '../db/catalog.js';

/** One relation a query reads, as the planner means to read it. */
export interface PlannedScan {
  schema: string;
  relation: string;
  /** `Seq Scan`, `Index Only Scan`, ... */
  method: string;
  index: string | null;
  /** What the node reads page by page: the index for an index-only scan, else the table. */
  reads: string;
  /** The planner's estimate of the rows this node returns (all loops, all workers). */
  rows: number;
}

/** A hash or sort the planner expects not to fit in memory: it would spill to disk in batches. */
export interface PlannedSpill {
  node: 'Hash' | 'Sort';
  /** The planner's estimate of what it holds: rows times their width, plus PostgreSQL's per-tuple overhead. */
  bytes: number;
  /** What it may use: work_mem, times hash_mem_multiplier for a hash. */
  limitBytes: number;
  /** Batches a hash would be cut into (a power of two), or sort runs merged from disk. */
  batches: number;
}

export interface PlannedQuery {
  /** The table the query is about: the first relation it reads. */
  object: string;
  scans: PlannedScan[];
  /** Hashes and sorts that would spill at this session's work_mem (raise --work-mem). */
  spills?: PlannedSpill[];
  /** The planner's total cost, in its own units (sequential page reads). */
  cost: number;
  sql: string;
}

export interface RelationSize {
  schema: string;
  relation: string;
  pages: number;
  bytes: number;
  estimatedRows: number;
}

export interface CheckPlan {
  id: string;
  title: string;
  status: CheckStatus | 'planned';
  reason: string | null;
  queries: PlannedQuery[];
}

export interface AuditPlan {
  checks: CheckPlan[];
  /** Every table or index some query reads, with its size from the catalog statistics. */
  relations: RelationSize[];
  totals: { queries: number; pages: number; bytes: number; cost: number };
  /** Audited tables with row-level security, and whether the auditing role reads each whole. */
  rowSecurity: RowSecurityEntry[];
  /** The role the audit runs as. */
  role: string;
}

interface ExplainNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  'Index Name'?: string;
  'Plan Rows': number;
  'Plan Width'?: number;
  'Total Cost': number;
  'Actual Loops'?: number;
  Plans?: ExplainNode[];
}

function scansOf(node: ExplainNode, out: PlannedScan[] = []): PlannedScan[] {
  if (node['Relation Name'] && node.Schema) {
    const index = node['Index Name'] ?? null;
    const reads = node['Node Type'] === 'Index Only Scan' && index ? index : node['Relation Name'];
    out.push({ schema: node.Schema, relation: node['Relation Name'], method: node['Node Type'], index, reads, rows: Math.round(node['Plan Rows']) });
  }
  for (const child of node.Plans ?? []) scansOf(child, out);
  return out;
}

/** Memory the session's hashes and sorts may use, in bytes. */
interface MemoryLimits {
  workMem: number;
  hashMemMultiplier: number;
}

/**
 * The hashes and sorts of a plan that would not fit: a tuple in a hash table costs its width (aligned to
 * 8) plus about 40 bytes of header and bucket (nodeHash.c ExecChooseHashTableSize), a sorted one about 24.
 */
function spillsOf(node: ExplainNode, limits: MemoryLimits, out: PlannedSpill[] = []): PlannedSpill[] {
  const type = node['Node Type'];
  if (type === 'Hash' || type === 'Sort') {
    const width = Math.ceil((node['Plan Width'] ?? 0) / 8) * 8;
    const bytes = Math.round(node['Plan Rows'] * (width + (type === 'Hash' ? 40 : 24)));
    const limitBytes = type === 'Hash' ? Math.round(limits.workMem * limits.hashMemMultiplier) : limits.workMem;
    if (bytes > limitBytes) out.push({ node: type, bytes, limitBytes, batches: type === 'Hash' ? 2 ** Math.ceil(Math.log2(bytes / limitBytes)) : Math.ceil(bytes / limitBytes) });
  }
  for (const child of node.Plans ?? []) spillsOf(child, limits, out);
  return out;
}

const READS = /^\s*(\(?\s*SELECT|WITH)\b/i;

/**
 * Whether a plan reads system catalogs and sequences and nothing else: such a read is how a check learns
 * what to read (its indexes, constraints, a sequence's next value), so planning runs it for real. A plan
 * with no relation at all is not one: a bare function call may do anything (bt_index_check reads a
 * whole index).
 */
async function readsOnlyMetadata(db: Queryable, scans: PlannedScan[]): Promise<boolean> {
  if (scans.length === 0) return false;
  const others = scans.filter((s) => s.schema !== 'pg_catalog');
  if (others.length === 0) return true;
  const res = await db.query<{ sequences: number }>(
    `SELECT pg_catalog.count(*)::pg_catalog.int4 AS sequences
       FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS r(schema, relation)
       JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.schema
       JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname OPERATOR(pg_catalog.=) r.relation
      WHERE c.relkind OPERATOR(pg_catalog.=) 'S'`,
    [others.map((s) => s.schema), others.map((s) => s.relation)],
  );
  return res.rows[0]?.sequences === others.length;
}

/**
 * Stands in for a check's connection: every read of a user table is EXPLAINed (never run) and recorded,
 * and answers with no rows, so the check walks all of its reads and finds nothing. A built-in check's
 * reads of the system catalogs and sequences alone are run, so that a check which finds its work in the catalog plans that work rather
 * than the catalog query. Savepoints and settings pass through.
 */
class ExplainingQueryable implements Queryable {
  readonly queries: PlannedQuery[] = [];
  private limits: MemoryLimits | null = null;
  /** `runsMetadataReads`: a built-in check's, whose catalog queries call only pg_catalog's code; a plugin's query is only EXPLAINed. */
  constructor(
    private readonly db: Queryable,
    private readonly runsMetadataReads: boolean,
  ) {}

  private async memoryLimits(): Promise<MemoryLimits> {
    if (!this.limits) {
      const res = await this.db.query<{ w: string; m: string }>(
        `SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting('work_mem'))::pg_catalog.text AS w, pg_catalog.current_setting('hash_mem_multiplier', true) AS m`,
      );
      this.limits = { workMem: Number(res.rows[0]?.w ?? 4 * 1024 * 1024), hashMemMultiplier: Number(res.rows[0]?.m ?? 1) || 1 };
    }
    return this.limits;
  }

  async query<R>(sql: string, params?: unknown[]): Promise<QueryResultLike<R>> {
    if (!READS.test(sql)) return this.db.query<R>(sql, params);
    const res = await this.db.query<{ 'QUERY PLAN': { Plan: ExplainNode }[] }>(`EXPLAIN (FORMAT JSON, VERBOSE true) ${sql}`, params);
    const plan = res.rows[0]?.['QUERY PLAN'][0]?.Plan;
    if (plan) {
      const scans = scansOf(plan);
      if (this.runsMetadataReads && (await readsOnlyMetadata(this.db, scans))) return this.db.query<R>(sql, params);
      const first = scans[0];
      const spills = spillsOf(plan, await this.memoryLimits());
      this.queries.push({ object: first ? `${first.schema}.${first.relation}` : '(no table)', scans, ...(spills.length ? { spills } : {}), cost: Math.round(plan['Total Cost']), sql });
    }
    return { rows: [] };
  }
}

/** Runs the checks' reads through EXPLAIN on one connection, in order, so each plan is told apart. */
class PlanningLanes implements AuditLanes {
  readonly perTask: PlannedQuery[][] = [];
  /** `builtIn[i]`: whether the i-th task is a built-in check's (see ExplainingQueryable). */
  constructor(
    private readonly inner: AuditLanes,
    private readonly builtIn: boolean[],
  ) {}
  get primary(): Queryable {
    return this.inner.primary;
  }
  get serverVersion(): string {
    return this.inner.serverVersion;
  }
  get systemIdentifier(): string | null {
    return this.inner.systemIdentifier ?? null;
  }
  async runAll<T>(tasks: ((db: Queryable, fanOut: FanOut, settledFanOut: SettledFanOut) => Promise<T>)[]): Promise<PromiseSettledResult<T>[]> {
    const results: PromiseSettledResult<T>[] = [];
    for (const task of tasks) {
      const db = new ExplainingQueryable(this.inner.primary, this.builtIn[this.perTask.length] ?? false);
      this.perTask.push(db.queries);
      const [settled] = await this.inner.runAll([async () => task(db, sequentialFanOut(db), sequentialSettledFanOut(db))]);
      results.push(settled as PromiseSettledResult<T>);
    }
    return results;
  }
}

/** `integrity check --plan`: what each check would read and the planner's estimates, without reading any table. */
export async function planAudit(options: AuditOptions): Promise<AuditPlan> {
  return runWithSession({ ...options, jobs: 1 }, async (session) => {
    const toRun = options.checks.filter((c) => options.selected.has(c.id));
    // A check from a config or plugin may call the user's own functions in any query: only a built-in
    // check's catalog reads are run while planning.
    const lanes = new PlanningLanes(session, toRun.map((c) => c.origin === undefined));
    const { report, catalog } = await auditWith(lanes, { ...options, repairs: false });
    const checks: CheckPlan[] = report.checks.map((c) => {
      const index = toRun.findIndex((t) => t.id === c.id);
      const ran = index >= 0 && c.status !== 'skipped' && c.status !== 'error';
      return { id: c.id, title: c.title, status: ran ? 'planned' : c.status, reason: c.reason, queries: index >= 0 ? (lanes.perTask[index] ?? []) : [] };
    });
    const seen = new Map<string, { schema: string; relation: string }>();
    for (const q of checks.flatMap((c) => c.queries)) for (const s of q.scans) seen.set(`${s.schema}.${s.reads}`, { schema: s.schema, relation: s.reads });
    const sizes = await session.primary.query<{ schema: string; relation: string; pages: number; bytes: string; rows: number }>(
      `SELECT n.nspname AS schema, c.relname AS relation,
              (pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int)::int AS pages,
              pg_catalog.pg_relation_size(c.oid)::text AS bytes,
              greatest(c.reltuples, 0)::float8 AS rows
         FROM unnest($1::text[], $2::text[]) AS r(schema, relation)
         JOIN pg_catalog.pg_namespace n ON n.nspname = r.schema
         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = r.relation
        ORDER BY pg_catalog.pg_relation_size(c.oid) DESC, 1, 2`,
      [[...seen.values()].map((s) => s.schema), [...seen.values()].map((s) => s.relation)],
    );
    const relations = sizes.rows.map((r) => ({ schema: r.schema, relation: r.relation, pages: r.pages, bytes: Number(r.bytes), estimatedRows: Math.round(r.rows) }));
    const queries = checks.flatMap((c) => c.queries);
    // An upper bound: each query reads each of its relations at most once (an index probe reads far less).
    const byName = new Map(relations.map((r) => [`${r.schema}.${r.relation}`, r]));
    let pages = 0;
    let bytes = 0;
    for (const q of queries) {
      for (const name of new Set(q.scans.map((s) => `${s.schema}.${s.reads}`))) {
        pages += byName.get(name)?.pages ?? 0;
        bytes += byName.get(name)?.bytes ?? 0;
      }
    }
    return {
      checks,
      relations,
      totals: { queries: queries.length, pages, bytes, cost: queries.reduce((a, q) => a + q.cost, 0) },
      rowSecurity: catalog ? rowSecurityTables(catalog) : [],
      role: options.target.user,
    };
  });
}
