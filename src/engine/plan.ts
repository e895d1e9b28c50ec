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
  /** The planner's estimate of the rows this node returns, over all the times it runs (per parallel process). */
  rows: number;
  /** The index is probed for given values (an Index Cond other than IS NOT NULL) rather than read whole. */
  lookup: boolean;
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
  /**
   * How the query reads, in words: "merge anti-join of two index-only scans", "hash anti-join (4 batches)",
   * "index lookup", "one scan of the table", with ", N parallel workers" where the planner uses them.
   */
  strategy: string;
  /** Estimated pages read: the whole relation for a scan, about one page per row found for a lookup. */
  pages: number;
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

export interface ExplainNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  'Index Name'?: string;
  'Plan Rows': number;
  'Plan Width'?: number;
  'Join Type'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  'Workers Planned'?: number;
  'Parallel Aware'?: boolean;
  'Total Cost': number;
  'Actual Loops'?: number;
  Plans?: ExplainNode[];
}

function bitmapIndexNames(node: ExplainNode): string[] {
  return (node.Plans ?? []).flatMap((child) => [...(child['Node Type'] === 'Bitmap Index Scan' && child['Index Name'] ? [child['Index Name']] : []), ...bitmapIndexNames(child)]);
}

/** `loops`: how many times the node runs (EXPLAIN's Plan Rows are per run): a nested loop runs its inner side once per outer row. */
function scansOf(node: ExplainNode, out: PlannedScan[] = [], loops = 1): PlannedScan[] {
  if (node['Relation Name'] && node.Schema) {
    const index = node['Index Name'] ?? null;
    const reads = node['Node Type'] === 'Index Only Scan' && index ? index : node['Relation Name'];
    // An index read only for its non-null entries is read whole. A bitmap heap scan reads the pages its
    // bitmap index scans found: a lookup, named by their indexes.
    const bitmap = node['Node Type'] === 'Bitmap Heap Scan';
    const cond = (bitmap ? node['Recheck Cond'] : node['Index Cond']) ?? '';
    const lookup = cond !== '' && !/^\(?[^()]*IS NOT NULL\)?$/.test(cond);
    const bitmapIndexes = bitmap ? [...new Set(bitmapIndexNames(node))].join(', ') || null : null;
    out.push({ schema: node.Schema, relation: node['Relation Name'], method: node['Node Type'], index: index ?? bitmapIndexes, reads, rows: Math.round(node['Plan Rows'] * loops), lookup });
  }
  const children = node.Plans ?? [];
  children.forEach((child, i) => scansOf(child, out, node['Node Type'] === 'Nested Loop' && i === 1 ? loops * Math.max(1, children[0]?.['Plan Rows'] ?? 1) : loops));
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
function spillsOf(node: ExplainNode, limits: MemoryLimits, out: PlannedSpill[] = [], participants = 1): PlannedSpill[] {
  const type = node['Node Type'];
  if (type === 'Hash' || type === 'Sort') {
    const width = Math.ceil((node['Plan Width'] ?? 0) / 8) * 8;
    // Plan Rows of a parallel node is per process; a parallel hash is one table the processes share, and
    // each contributes its work_mem x hash_mem_multiplier to it.
    const shared = type === 'Hash' && node['Parallel Aware'] === true ? participants : 1;
    const bytes = Math.round(node['Plan Rows'] * shared * (width + (type === 'Hash' ? 40 : 24)));
    const limitBytes = type === 'Hash' ? Math.round(limits.workMem * limits.hashMemMultiplier * shared) : limits.workMem;
    if (bytes > limitBytes) out.push({ node: type, bytes, limitBytes, batches: type === 'Hash' ? 2 ** Math.ceil(Math.log2(bytes / limitBytes)) : Math.ceil(bytes / limitBytes) });
  }
  const below = node['Node Type'] === 'Gather' || node['Node Type'] === 'Gather Merge' ? 1 + (node['Workers Planned'] ?? 0) : participants;
  for (const child of node.Plans ?? []) spillsOf(child, limits, out, below);
  return out;
}

function findNode(node: ExplainNode, test: (n: ExplainNode) => boolean): ExplainNode | undefined {
  if (test(node)) return node;
  for (const child of node.Plans ?? []) {
    const found = findNode(child, test);
    if (found) return found;
  }
  return undefined;
}

const JOIN_NAMES: Record<string, string> = { 'Merge Join': 'merge', 'Hash Join': 'hash', 'Nested Loop': 'nested-loop' };

/** The plan in words, for --plan: the join that decides the cost, else how the table is read. */
export function strategyOf(plan: ExplainNode, spills: PlannedSpill[]): string {
  const workers = findNode(plan, (n) => (n['Workers Planned'] ?? 0) > 0)?.['Workers Planned'];
  const parallel = workers ? `, ${workers} parallel worker${workers === 1 ? '' : 's'}` : '';
  // A join of two relations: a nested loop over a VALUES list or a function's rows reads one table.
  const joinsRelations = (n: ExplainNode) => JOIN_NAMES[n['Node Type']] !== undefined && (n.Plans ?? []).filter((side) => scansOf(side).length > 0).length >= 2;
  const join = findNode(plan, (n) => joinsRelations(n) && /Anti|Semi/.test(n['Join Type'] ?? '')) ?? findNode(plan, joinsRelations);
  if (join) {
    const kind = (join['Join Type'] ?? '').toLowerCase().replace(/\s+/g, '-');
    const sides = (join.Plans ?? []).map((side) => scansOf(side)[0]?.method);
    const inputs = sides.length === 2 && sides.every((m) => m === 'Index Only Scan') ? ' of two index-only scans' : join['Node Type'] === 'Nested Loop' && sides[1]?.startsWith('Index') ? ', probing an index per row' : '';
    const hashSpill = join['Node Type'] === 'Hash Join' ? spills.find((sp) => sp.node === 'Hash') : undefined;
    const batches = hashSpill ? ` (${hashSpill.batches} batches on disk)` : join['Node Type'] === 'Hash Join' ? ' (in memory)' : '';
    return `${JOIN_NAMES[join['Node Type']] as string} ${kind ? `${kind}-` : ''}join${inputs}${batches}${parallel}`;
  }
  const scans = scansOf(plan);
  if (scans.length > 0 && scans.every((sc) => sc.lookup || sc.schema === 'pg_catalog')) return `index lookup${parallel}`;
  const first = scans[0];
  if (!first) return 'no table read';
  if (first.method === 'Index Only Scan') return `one index-only scan of ${first.reads}${parallel}`;
  return `one scan of the table${parallel}`;
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
      this.queries.push({
        object: first ? `${first.schema}.${first.relation}` : '(no table)',
        scans,
        ...(spills.length ? { spills } : {}),
        strategy: strategyOf(plan, spills),
        pages: 0,
        cost: Math.round(plan['Total Cost']),
        sql,
      });
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
    // pg_relation_size() takes ACCESS SHARE on the relation, which EXPLAIN already holds for every one of them
    // until the end of this transaction: the current size, rather than the last VACUUM's relpages.
    const sizes = await session.primary.query<{ schema: string; relation: string; pages: number; bytes: string; rows: number }>(
      `SELECT n.nspname AS schema, c.relname AS relation,
              (pg_catalog.pg_relation_size(c.oid) OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::pg_catalog.int8)::pg_catalog.int4 AS pages,
              pg_catalog.pg_relation_size(c.oid)::pg_catalog.text AS bytes,
              GREATEST(c.reltuples, 0::pg_catalog.float4)::pg_catalog.float8 AS rows
         FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS r(schema, relation)
         JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.schema
         JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname OPERATOR(pg_catalog.=) r.relation
        ORDER BY pg_catalog.pg_relation_size(c.oid) DESC, 1, 2`,
      [[...seen.values()].map((s) => s.schema), [...seen.values()].map((s) => s.relation)],
    );
    const relations = sizes.rows.map((r) => ({ schema: r.schema, relation: r.relation, pages: r.pages, bytes: Number(r.bytes), estimatedRows: Math.round(r.rows) }));
    const queries = checks.flatMap((c) => c.queries);
    // Estimated reads: a relation read whole once per query; a lookup about a page per row it finds.
    const byName = new Map(relations.map((r) => [`${r.schema}.${r.relation}`, r]));
    let pages = 0;
    let bytes = 0;
    const blockSize = relations.find((r) => r.pages > 0);
    const pageBytes = blockSize ? blockSize.bytes / blockSize.pages : 8192;
    for (const q of queries) {
      const read = new Map<string, number>();
      for (const s of q.scans) {
        const size = byName.get(`${s.schema}.${s.reads}`)?.pages ?? 0;
        const n = s.lookup ? Math.min(size, Math.max(1, s.rows)) : size;
        read.set(`${s.schema}.${s.reads}`, Math.max(read.get(`${s.schema}.${s.reads}`) ?? 0, n));
      }
      q.pages = [...read.values()].reduce((a, b) => a + b, 0);
      pages += q.pages;
      bytes += q.pages * pageBytes;
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
