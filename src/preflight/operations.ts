import { findColumn, findTable, type Table } from '../db/catalog.js';
import { displayName, qualifiedName, quoteIdent } from '../db/quote.js';
import { PREFLIGHT_DEFAULTS, type PreflightSettings } from '../config/schema.js';
import { safeStatement } from './instead.js';
import { judgement, type JudgeContext, type JudgeRun, type Outcome, type PreflightFindingInput, type RangeVar, type StatementVerdict } from './judge.js';
import { isNode, type MigrationFile, type MigrationStatement, type Node } from './statements.js';
import type { PreflightRuleId } from './rules.js';

/**
 * Operational hazards: what a statement does to the application while it runs, rather than whether it
 * fails. Judged from the statement and the catalog's size estimates only (pg_class, the statistics
 * collector): nothing here reads a user table or takes a lock on one.
 */

/** Lock modes by strength, as LOCK TABLE numbers them (lockdefs.h). */
const LOCK_NAMES = ['', 'ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'] as const;
const SHARE_UPDATE_EXCLUSIVE = 4;
const SHARE = 5;
const SHARE_ROW_EXCLUSIVE = 6;
const EXCLUSIVE = 7;
const ACCESS_EXCLUSIVE = 8;
/** Modes from SHARE up conflict with ROW EXCLUSIVE, the lock every INSERT, UPDATE and DELETE takes. */
const blocksWrites = (mode: number) => mode >= SHARE;

/** A relation of today as a statement names it: `schema.name` now, `today` the one whose size applies (a rename keeps its rows). */
interface TableRef {
  schema: string;
  name: string;
  today: string;
  kind: 'r' | 'p' | 'm';
  /** Whether the statement reaches its partitions or inheritance children (not ONLY). */
  recurse: boolean;
}

/** One lock a statement takes, on a relation of today. */
interface Lock {
  table: TableRef;
  mode: number;
}

/** One hazard of a statement, as a finding to make if its table is large. */
interface Hazard {
  rule: Extract<PreflightRuleId, 'preflight/table-rewrites' | 'preflight/blocking-scans' | 'preflight/blocking-index-builds'>;
  kind: string;
  table: TableRef;
  column?: string;
  /** What it does, e.g. "ALTER COLUMN amount TYPE bigint rewrites". */
  what: string;
  mode: number;
  /** The SQL to run instead, when there is a form that does not block; statements only, ready to run. */
  instead: string | null;
  /** What to do, in words: how to run `instead`, or what there is when no SQL says it. */
  note: string;
}

interface Size {
  rows: number;
  bytes: number | null;
}

const keyOf = (t: { schema: string; name: string }) => JSON.stringify([t.schema, t.name]);
const label = (t: TableRef) => qualifiedName(t.schema, t.name);

/** A table, partitioned table or materialized view of today, with its size: its own, and with its partitions or children. */
interface Relation {
  kind: 'r' | 'p' | 'm';
  own: Size;
  tree: Size;
}

/**
 * Every table, partitioned table and materialized view of the audited schemas, with row and heap-size
 * estimates, in one query. reltuples is -1 before the first VACUUM or ANALYZE (PostgreSQL 14+): the
 * statistics collector's live count covers a table loaded since (after an ANALYZE it can count rows
 * twice, so reltuples wins when there is one). A partitioned table's own reltuples already sums its
 * partitions, so only leaves are added up. Nothing here reads a table or locks it.
 */
async function loadRelations(ctx: JudgeContext): Promise<Map<string, Relation>> {
  const res = await ctx.db.query<{ schema: string; name: string; kind: 'r' | 'p' | 'm'; own_rows: string; own_pages: string; tree_rows: string; tree_pages: string; measured: boolean }>(
    `WITH RECURSIVE rel AS (
       SELECT c.oid, n.nspname::pg_catalog.text AS schema, c.relname::pg_catalog.text AS name, c.relkind::pg_catalog.text AS kind,
              CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'p' THEN 0::pg_catalog.float8
                   WHEN c.reltuples OPERATOR(pg_catalog.>=) 0::pg_catalog.float4 THEN c.reltuples::pg_catalog.float8
                   ELSE pg_catalog.pg_stat_get_live_tuples(c.oid)::pg_catalog.float8 END AS rows,
              CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'p' THEN 0::pg_catalog.int8 ELSE GREATEST(c.relpages, 0)::pg_catalog.int8 END AS pages,
              (c.reltuples OPERATOR(pg_catalog.>=) 0::pg_catalog.float4 OR c.relpages OPERATOR(pg_catalog.>) 0) AS measured
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
        WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm']::pg_catalog."char"[]) AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
     ), tree AS (
       SELECT oid AS root, oid AS member FROM rel
       UNION
       SELECT t.root, i.inhrelid FROM tree t JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) t.member
     )
     SELECT r.schema, r.name, r.kind, r.rows::pg_catalog.text AS own_rows, r.pages::pg_catalog.text AS own_pages,
            (SELECT pg_catalog.sum(m.rows) FROM tree t JOIN rel m ON m.oid OPERATOR(pg_catalog.=) t.member WHERE t.root OPERATOR(pg_catalog.=) r.oid)::pg_catalog.text AS tree_rows,
            (SELECT pg_catalog.sum(m.pages) FROM tree t JOIN rel m ON m.oid OPERATOR(pg_catalog.=) t.member WHERE t.root OPERATOR(pg_catalog.=) r.oid)::pg_catalog.text AS tree_pages,
            (SELECT pg_catalog.bool_or(m.measured) FROM tree t JOIN rel m ON m.oid OPERATOR(pg_catalog.=) t.member WHERE t.root OPERATOR(pg_catalog.=) r.oid) AS measured
       FROM rel r`,
    [ctx.catalog.schemas],
  );
  const block = Number((await ctx.db.query<{ b: string }>(`SELECT pg_catalog.current_setting('block_size') AS b`)).rows[0]?.b ?? 8192);
  const out = new Map<string, Relation>();
  for (const r of res.rows) {
    const size = (rows: string, pages: string): Size => ({ rows: Math.round(Number(rows ?? 0)), bytes: r.measured ? Number(pages ?? 0) * block : null });
    out.set(keyOf(r), { kind: r.kind, own: size(r.own_rows, r.own_pages), tree: size(r.tree_rows, r.tree_pages) });
  }
  return out;
}

/**
 * The lock_timeout a migration's session starts with: the server's or this database's. A value set for
 * the role preflight connects as is not counted (nor one from this connection's options): the migration
 * may well run as another role.
 */
async function startingLockTimeout(ctx: JudgeContext): Promise<number> {
  const res = await ctx.db.query<{ v: string; source: string; db: string | null }>(
    `SELECT s.reset_val AS v, s.source,
            (SELECT pg_catalog.array_to_string(d.setconfig, ',') FROM pg_catalog.pg_db_role_setting d
              WHERE d.setrole OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                AND d.setdatabase OPERATOR(pg_catalog.=) (SELECT x.oid FROM pg_catalog.pg_database x WHERE x.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())) AS db
       FROM pg_catalog.pg_settings s WHERE s.name OPERATOR(pg_catalog.=) 'lock_timeout'`,
  );
  const r = res.rows[0];
  if (!r) return 0;
  if (['default', 'configuration file', 'database', 'command line', 'environment variable', 'override'].includes(r.source)) return Number(r.v) || 0;
  // Set for this role (or by this connection): fall back to what the database says, else none.
  const m = /(?:^|,)lock_timeout=([^,]*)/.exec(r.db ?? '');
  if (!m) return 0;
  return timeoutOf({ kind: 'VariableSetStmt', node: { name: 'lock_timeout', kind: 'VAR_SET_VALUE', args: [{ A_Const: { sval: { sval: m[1] } } }] } } as unknown as MigrationStatement, 0) ?? 0;
}

function formatSize(size: Size): string {
  const rows = size.rows >= 1_000_000 ? `${(size.rows / 1_000_000).toFixed(1)}M` : size.rows >= 10_000 ? `${Math.round(size.rows / 1000)}k` : String(size.rows);
  const mb = size.bytes === null ? null : size.bytes / (1024 * 1024);
  const bytes = mb === null ? '' : mb >= 1024 ? `, ${(mb / 1024).toFixed(1)} GB` : `, ${Math.max(1, Math.round(mb))} MB`;
  return `about ${rows} rows${bytes}`;
}

function isLarge(size: Size | undefined, settings: PreflightSettings): boolean {
  if (!size) return false;
  return size.rows >= settings.largeTableRows || (size.bytes !== null && size.bytes >= settings.largeTableMegabytes * 1024 * 1024);
}

const names = (list: unknown): string[] => (Array.isArray(list) ? (list as Node[]).map((x) => String((x.String as Node | undefined)?.sval ?? '')) : []);

/** Statements PostgreSQL refuses inside a transaction block (25001), with the name to give them. */
function notInTransactionBlock(s: MigrationStatement, resolve: (rv: RangeVar | undefined) => TableRef | null): string | null {
  const n = s.node;
  if (s.kind === 'IndexStmt' && n.concurrent === true) return 'CREATE INDEX CONCURRENTLY';
  if (s.kind === 'DropStmt' && n.concurrent === true) return 'DROP INDEX CONCURRENTLY';
  if (s.kind === 'ReindexStmt') {
    const params = ((n.params as Node[] | undefined) ?? []).map((p) => String((p.DefElem as Node | undefined)?.defname ?? ''));
    if (params.includes('concurrently')) return 'REINDEX CONCURRENTLY';
    if (['REINDEX_OBJECT_SYSTEM', 'REINDEX_OBJECT_DATABASE', 'REINDEX_OBJECT_SCHEMA'].includes(String(n.kind))) return `REINDEX ${String(n.kind).replace('REINDEX_OBJECT_', '')}`;
    if (n.kind === 'REINDEX_OBJECT_TABLE' && resolve(n.relation as RangeVar)?.kind === 'p') return 'REINDEX TABLE of a partitioned table';
  }
  if (s.kind === 'VacuumStmt' && n.is_vacuumcmd === true) return 'VACUUM';
  if (s.kind === 'ClusterStmt' && !isNode(n.relation)) return 'CLUSTER of every table';
  if (s.kind === 'DiscardStmt' && n.target === 'DISCARD_ALL') return 'DISCARD ALL';
  if (s.kind === 'AlterDatabaseStmt' && ((n.options as Node[] | undefined) ?? []).some((o) => (o.DefElem as Node | undefined)?.defname === 'tablespace')) return 'ALTER DATABASE ... SET TABLESPACE';
  if (s.kind === 'AlterTableStmt') {
    for (const c of (n.cmds as Node[] | undefined) ?? []) {
      const cmd = (c.AlterTableCmd ?? {}) as Node;
      if (cmd.subtype === 'AT_DetachPartition' && isNode(cmd.def) && ((cmd.def as Node).PartitionCmd as Node | undefined)?.concurrent === true) return 'DETACH PARTITION CONCURRENTLY';
    }
  }
  const always: Record<string, string> = {
    CreatedbStmt: 'CREATE DATABASE',
    DropdbStmt: 'DROP DATABASE',
    CreateTableSpaceStmt: 'CREATE TABLESPACE',
    DropTableSpaceStmt: 'DROP TABLESPACE',
    AlterSystemStmt: 'ALTER SYSTEM',
  };
  return always[s.kind] ?? null;
}

/** Function names in an expression (bare or qualified), for their volatility. */
function functionNames(expr: unknown): string[][] {
  const found: string[][] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (isNode(n)) {
      if (isNode(n.FuncCall)) found.push(names((n.FuncCall as Node).funcname));
      // CURRENT_TIMESTAMP and friends are stable; nextval() shows up as a FuncCall.
      Object.values(n).forEach(walk);
    }
  };
  walk(expr);
  return found;
}

/** Volatility of functions by name: 'v' when any function of that name (in pg_catalog, or of any schema for a qualified or unknown one) is volatile. */
async function volatileFunctions(ctx: JudgeContext, called: string[][]): Promise<Set<string>> {
  const wanted = [...new Set(called.map((n) => n[n.length - 1] as string))];
  if (wanted.length === 0) return new Set();
  const res = await ctx.db.query<{ name: string }>(
    `SELECT DISTINCT p.proname::pg_catalog.text AS name FROM pg_catalog.pg_proc p
      WHERE p.proname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]) AND p.provolatile OPERATOR(pg_catalog.=) 'v'::pg_catalog."char"`,
    [wanted],
  );
  return new Set(res.rows.map((r) => r.name));
}

/**
 * Whether a DEFAULT (or a domain's) may give each row its own value, which makes ADD COLUMN rewrite the
 * table: a volatile function by any name it could resolve to, or anything whose volatility cannot be read
 * from the statement (an operator or a type that is not pg_catalog's).
 */
async function mayBeVolatile(ctx: JudgeContext, expr: unknown): Promise<string | null> {
  const called = functionNames(expr);
  const volatile = await volatileFunctions(ctx, called);
  const hit = [...new Set(called.map((f) => f[f.length - 1] as string).filter((f) => volatile.has(f)))];
  if (hit.length > 0) return `its DEFAULT calls ${hit.map((f) => `${f}()`).join(', ')}, which is volatile, so each row gets its own value`;
  let foreign: string | null = null;
  const walk = (n: unknown): void => {
    if (foreign) return;
    if (Array.isArray(n)) n.forEach(walk);
    else if (isNode(n)) {
      const op = isNode(n.A_Expr) ? names((n.A_Expr as Node).name) : [];
      if (op.length > 1 && op[0] !== 'pg_catalog') foreign = `OPERATOR(${op.join('.')})`;
      else if (op.length === 1 && !/^[=<>!+\-*/%^|&~#@?]+$/.test(op[0] as string)) foreign = `operator ${op[0]}`;
      else if (op.length === 1 && !BUILTIN_OPERATORS.has(op[0] as string)) foreign = `operator ${op[0]}`;
      const ty = isNode(n.TypeCast) ? names(((n.TypeCast as Node).typeName as Node | undefined)?.names) : [];
      if (ty.length > 1 && ty[0] !== 'pg_catalog') foreign = `a cast to ${ty.join('.')}`;
      Object.values(n).forEach(walk);
    }
  };
  walk(expr);
  return foreign ? `its DEFAULT uses ${foreign}, whose volatility preflight does not read: taken as volatile` : null;
}

/** Operators pg_catalog has that a DEFAULT commonly uses; another one is taken as possibly volatile. */
const BUILTIN_OPERATORS = new Set(['+', '-', '*', '/', '%', '^', '||', '=', '<>', '<', '>', '<=', '>=', '->', '->>', '#>', '#>>', '@>', '<@', '&&', '!=', '~', '~~', '!~~']);

/** A domain (or another type not pg_catalog's) named by a column definition: what ADD COLUMN of it does to each row. */
async function domainRewrite(ctx: JudgeContext, typeName: Node, path: string[]): Promise<string | null> {
  const tn = names(typeName.names);
  if (tn.length === 0 || (tn.length > 1 && tn[0] === 'pg_catalog')) return null;
  const schemas = tn.length > 1 ? [tn[0] as string] : path;
  const res = await ctx.db.query<{ schema: string; checks: boolean; volatile_default: boolean; domain: boolean }>(
    `SELECT n.nspname::pg_catalog.text AS schema, t.typtype OPERATOR(pg_catalog.=) 'd' AS domain,
            EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.contypid OPERATOR(pg_catalog.=) t.oid) OR t.typnotnull AS checks,
            (t.typdefaultbin IS NOT NULL AND t.typdefaultbin::pg_catalog.text !~~ '{CONST %') AS volatile_default
       FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace
      WHERE t.typname::pg_catalog.text OPERATOR(pg_catalog.=) $1 AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])`,
    [tn[tn.length - 1], schemas],
  );
  const found = schemas.map((sch) => res.rows.find((r) => r.schema === sch)).find((r) => r !== undefined);
  if (!found || !found.domain) return null;
  if (found.checks) return `its type is a domain with constraints, which PostgreSQL checks on every row`;
  if (found.volatile_default) return `its type is a domain whose DEFAULT is not a constant, evaluated for every row`;
  return null;
}

const SERIAL_TYPES = new Set(['serial', 'bigserial', 'smallserial', 'serial2', 'serial4', 'serial8']);

/** Whether ALTER COLUMN ... TYPE rewrites the table: PostgreSQL skips it only for a binary-coercible change, domains followed to their base type. */
async function typeChangeRewrites(ctx: JudgeContext, table: TableRef, column: string, typeName: Node, using: boolean, path: string[]): Promise<boolean> {
  if (using) return true;
  const typeNames = names(typeName.names);
  const typname = typeNames[typeNames.length - 1] ?? '';
  const schemas = typeNames.length > 1 ? [typeNames[0] as string] : ['pg_catalog', ...path];
  const mods = ((typeName.typmods as Node[] | undefined) ?? []).map((m) => {
    const c = isNode(m.A_Const) ? (m.A_Const as Node) : {};
    return isNode(c.ival) ? Number((c.ival as Node).ival ?? 0) : NaN;
  });
  if (Array.isArray(typeName.arrayBounds) && typeName.arrayBounds.length > 0) return true;
  const res = await ctx.db.query<{ old_type: string; old_mod: number; new_type: string | null; new_checked: boolean; binary: boolean }>(
    `WITH old AS (
       SELECT CASE WHEN ot.typtype OPERATOR(pg_catalog.=) 'd' THEN ot.typbasetype ELSE ot.oid END AS base,
              CASE WHEN ot.typtype OPERATOR(pg_catalog.=) 'd' THEN ot.typtypmod ELSE a.atttypmod END AS mod
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         JOIN pg_catalog.pg_type ot ON ot.oid OPERATOR(pg_catalog.=) a.atttypid
        WHERE n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) $1 AND c.relname::pg_catalog.text OPERATOR(pg_catalog.=) $2 AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) $3
     ), new AS (
       SELECT CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype ELSE t.oid END AS base,
              (t.typtype OPERATOR(pg_catalog.=) 'd' AND (t.typnotnull OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.contypid OPERATOR(pg_catalog.=) t.oid))) AS checked
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.typnamespace
        WHERE t.typname::pg_catalog.text OPERATOR(pg_catalog.=) $4 AND tn.nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($5::pg_catalog.text[])
        ORDER BY pg_catalog.array_position($5::pg_catalog.text[], tn.nspname::pg_catalog.text) LIMIT 1
     )
     SELECT (SELECT typname::pg_catalog.text FROM pg_catalog.pg_type WHERE oid OPERATOR(pg_catalog.=) old.base) AS old_type, old.mod AS old_mod,
            (SELECT typname::pg_catalog.text FROM pg_catalog.pg_type WHERE oid OPERATOR(pg_catalog.=) new.base) AS new_type, new.checked AS new_checked,
            (old.base OPERATOR(pg_catalog.=) new.base OR EXISTS (SELECT FROM pg_catalog.pg_cast k WHERE k.castsource OPERATOR(pg_catalog.=) old.base AND k.casttarget OPERATOR(pg_catalog.=) new.base AND k.castmethod OPERATOR(pg_catalog.=) 'b'::pg_catalog."char")) AS binary
       FROM old LEFT JOIN new ON true`,
    [table.schema, table.today === keyOf(table) ? table.name : (JSON.parse(table.today) as string[])[1], column, typname, schemas],
  );
  const r = res.rows[0];
  // A type it cannot find (a user type named bare, say) is taken to rewrite: the warning is the safe side.
  if (!r || r.new_type === null || !r.binary || r.new_checked) return true;
  if (r.old_type !== r.new_type) return mods.length > 0;
  // Dropping a length or precision limit keeps every value as it is.
  if (mods.length === 0) return false;
  if (mods.some((m) => Number.isNaN(m))) return true;
  // Widening a length or a precision keeps every stored value as it is (varchar_support, numeric_support, timestamp_support).
  if (r.old_type === 'varchar' || r.old_type === 'varbit') return r.old_mod === -1 || (mods[0] as number) + 4 < r.old_mod;
  if (r.old_type === 'numeric' && r.old_mod !== -1) {
    const oldPrecision = ((r.old_mod - 4) >> 16) & 0xffff;
    const oldScale = (r.old_mod - 4) & 0xffff;
    return !((mods[0] as number) >= oldPrecision && (mods[1] ?? 0) === oldScale);
  }
  if (['timestamp', 'timestamptz', 'time', 'timetz'].includes(r.old_type)) return r.old_mod === -1 || (mods[0] as number) < r.old_mod;
  return true;
}

/** The USING of ALTER COLUMN ... TYPE, unless it is the column itself (which PostgreSQL treats as no USING). */
function usingOf(def: Node, column: string): boolean {
  const using = isNode(def.ColumnDef) ? (def.ColumnDef as Node).raw_default : undefined;
  if (using === undefined) return false;
  const ref = isNode(using) && isNode((using as Node).ColumnRef) ? names(((using as Node).ColumnRef as Node).fields) : null;
  return !(ref && ref.length === 1 && ref[0] === column);
}

interface Resolver {
  /** The relation of today a name points at here, or null (new in the run, gone, or not known). */
  (rv: RangeVar | undefined): TableRef | null;
}

/** ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (tablecmds.c AlterTableGetLockLevel). */
const SUBCOMMAND_LOCKS: Record<string, number> = {
  AT_SetStatistics: SHARE_UPDATE_EXCLUSIVE,
  AT_SetOptions: SHARE_UPDATE_EXCLUSIVE,
  AT_ResetOptions: SHARE_UPDATE_EXCLUSIVE,
  AT_ClusterOn: SHARE_UPDATE_EXCLUSIVE,
  AT_DropCluster: SHARE_UPDATE_EXCLUSIVE,
  AT_ValidateConstraint: SHARE_UPDATE_EXCLUSIVE,
  AT_AttachPartition: SHARE_UPDATE_EXCLUSIVE,
  AT_EnableTrig: SHARE_ROW_EXCLUSIVE,
  AT_EnableAlwaysTrig: SHARE_ROW_EXCLUSIVE,
  AT_EnableReplicaTrig: SHARE_ROW_EXCLUSIVE,
  AT_EnableTrigAll: SHARE_ROW_EXCLUSIVE,
  AT_EnableTrigUser: SHARE_ROW_EXCLUSIVE,
  AT_DisableTrig: SHARE_ROW_EXCLUSIVE,
  AT_DisableTrigAll: SHARE_ROW_EXCLUSIVE,
  AT_DisableTrigUser: SHARE_ROW_EXCLUSIVE,
};

/** Storage parameters that take ACCESS EXCLUSIVE; the others (fillfactor, autovacuum_*, ...) SHARE UPDATE EXCLUSIVE. */
const EXCLUSIVE_RELOPTIONS = new Set(['user_catalog_table', 'toast_tuple_target']);

/** The SQL of a statement with one change, escaped so no name can end it; null when it cannot be written safely. */
function rewritten(kind: string, node: Node): string | null {
  try {
    return safeStatement(kind, node);
  } catch {
    return null;
  }
}

interface Analysis {
  locks: Lock[];
  hazards: Hazard[];
}

/** The locks a statement takes on relations of today, and its hazards on them. */
async function analyse(s: MigrationStatement, resolve: Resolver, ctx: JudgeContext, path: string[]): Promise<Analysis> {
  const n = s.node;
  const out: Analysis = { locks: [], hazards: [] };
  const lock = (t: TableRef | null, mode: number) => {
    if (t) out.locks.push({ table: t, mode });
  };
  const parentOf = (constraint: Node) => resolve(isNode(constraint.pktable) ? (constraint.pktable as RangeVar) : undefined);
  const walkForeignKeys = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walkForeignKeys);
    else if (isNode(node)) {
      if (isNode(node.Constraint) && (node.Constraint as Node).contype === 'CONSTR_FOREIGN') lock(parentOf(node.Constraint as Node), SHARE_ROW_EXCLUSIVE);
      Object.values(node).forEach(walkForeignKeys);
    }
  };
  switch (s.kind) {
    case 'CreateStmt': {
      // A new table's REFERENCES lock the parent (SHARE ROW EXCLUSIVE) to add its triggers; a new
      // partition locks its partitioned table (and scans a default partition for rows it would own).
      walkForeignKeys(n.tableElts);
      if (n.partbound) for (const p of (n.inhRelations as Node[] | undefined) ?? []) lock(resolve((p.RangeVar ?? {}) as RangeVar), ACCESS_EXCLUSIVE);
      break;
    }
    case 'IndexStmt': {
      const found = resolve(n.relation as RangeVar);
      if (!found) break;
      // An index is built on the table itself: an inheritance child's rows are not read (a partitioned table's are).
      const own = { ...found, recurse: found.kind === 'p' };
      const concurrent = n.concurrent === true;
      lock(own, concurrent ? SHARE_UPDATE_EXCLUSIVE : SHARE);
      // IF NOT EXISTS of an index that exists: the lock is taken, nothing is built.
      if (n.if_not_exists === true && typeof n.idxname === 'string' && ctx.catalog.indexes.some((i) => i.schema === own.schema && i.name === n.idxname)) break;
      // ON ONLY a partitioned table makes an empty, invalid index on the parent alone: nothing is built.
      if (concurrent || (own.kind === 'p' && (n.relation as RangeVar & { inh?: boolean }).inh !== true)) break;
      const what = `CREATE ${n.unique === true ? 'UNIQUE ' : ''}INDEX without CONCURRENTLY holds a SHARE lock on ${label(own)} for the whole build: every write to it waits`;
      if (own.kind === 'p') {
        hazards(out).push({ rule: 'preflight/blocking-index-builds', kind: 'index-build', table: own, what, mode: SHARE, instead: null, note: `a partitioned table takes no CONCURRENTLY: CREATE INDEX ... ON ONLY ${label(own)} (instant, invalid), then CREATE INDEX CONCURRENTLY on each partition and ALTER INDEX ... ATTACH PARTITION each one; the parent's index is valid once all are attached` });
        break;
      }
      const instead = rewritten('IndexStmt', { ...n, concurrent: true });
      hazards(out).push({ rule: 'preflight/blocking-index-builds', kind: 'index-build', table: own, what, mode: SHARE, instead, note: instead ? 'run it outside a transaction block; if it fails, DROP INDEX CONCURRENTLY the invalid index it leaves and run it again' : 'build it with CREATE INDEX CONCURRENTLY, outside a transaction block' });
      break;
    }
    case 'ReindexStmt': {
      const params = ((n.params as Node[] | undefined) ?? []).map((p) => String((p.DefElem as Node | undefined)?.defname ?? ''));
      if (params.includes('concurrently')) break;
      if (n.kind === 'REINDEX_OBJECT_TABLE') {
        const found = resolve(n.relation as RangeVar);
        if (!found) break;
        const t = { ...found, recurse: found.kind === 'p' };
        lock(t, SHARE);
        hazards(out).push({ rule: 'preflight/blocking-index-builds', kind: 'reindex', table: t, what: `REINDEX TABLE without CONCURRENTLY blocks writes to ${label(t)}, and reads that use its indexes, until every index is rebuilt`, mode: ACCESS_EXCLUSIVE, instead: t.kind === 'p' ? null : `REINDEX TABLE CONCURRENTLY ${label(t)};`, note: 'outside a transaction block' });
      }
      if (n.kind === 'REINDEX_OBJECT_INDEX') {
        const rv = n.relation as RangeVar;
        const index = ctx.catalog.indexes.find((i) => i.name === rv.relname && (rv.schemaname ? i.schema === rv.schemaname : path.includes(i.schema)));
        const t = index ? resolve({ schemaname: index.schema, relname: index.table }) : null;
        if (!t || !index) break;
        lock(t, SHARE);
        hazards(out).push({ rule: 'preflight/blocking-index-builds', kind: 'reindex', table: t, what: `REINDEX INDEX without CONCURRENTLY blocks writes to ${label(t)}, and reads that use the index, until it is rebuilt`, mode: ACCESS_EXCLUSIVE, instead: `REINDEX INDEX CONCURRENTLY ${qualifiedName(index.schema, index.name)};`, note: 'outside a transaction block' });
      }
      break;
    }
    case 'VacuumStmt':
    case 'ClusterStmt': {
      const full = s.kind === 'ClusterStmt' || ((n.options as Node[] | undefined) ?? []).some((o) => (o.DefElem as Node | undefined)?.defname === 'full');
      if (!full) break;
      const rels: RangeVar[] = s.kind === 'ClusterStmt' ? (isNode(n.relation) ? [n.relation as RangeVar] : []) : ((n.rels as Node[] | undefined) ?? []).map((r) => ((r.VacuumRelation as Node | undefined)?.relation ?? {}) as RangeVar);
      for (const rv of rels) {
        const found = resolve(rv);
        if (!found) continue;
        const t = { ...found, recurse: found.kind === 'p' };
        lock(t, ACCESS_EXCLUSIVE);
        hazards(out).push({ rule: 'preflight/table-rewrites', kind: s.kind === 'ClusterStmt' ? 'cluster' : 'vacuum-full', table: t, what: `${s.kind === 'ClusterStmt' ? 'CLUSTER' : 'VACUUM FULL'} rewrites ${label(t)} under ACCESS EXCLUSIVE: no read or write of it runs until it finishes`, mode: ACCESS_EXCLUSIVE, instead: null, note: 'leave it out of the migration: plain VACUUM (which does not block writes) makes the space reusable; to shrink the table online, pg_repack or pg_squeeze' });
      }
      break;
    }
    case 'RefreshMatViewStmt': {
      const t = resolve(n.relation as RangeVar);
      if (!t) break;
      if (n.concurrent === true) {
        lock(t, EXCLUSIVE);
        break;
      }
      lock(t, ACCESS_EXCLUSIVE);
      hazards(out).push({ rule: 'preflight/table-rewrites', kind: 'refresh', table: t, what: `REFRESH MATERIALIZED VIEW without CONCURRENTLY rebuilds ${label(t)} under ACCESS EXCLUSIVE: reads of it wait`, mode: ACCESS_EXCLUSIVE, instead: `REFRESH MATERIALIZED VIEW CONCURRENTLY ${label(t)};`, note: 'it needs a unique index on the view' });
      break;
    }
    case 'LockStmt':
      if (n.nowait === true) break;
      for (const r of (n.relations as Node[] | undefined) ?? []) lock(resolve((r.RangeVar ?? {}) as RangeVar), Number(n.mode ?? ACCESS_EXCLUSIVE));
      break;
    case 'TruncateStmt':
      for (const r of (n.relations as Node[] | undefined) ?? []) lock(resolve((r.RangeVar ?? {}) as RangeVar), ACCESS_EXCLUSIVE);
      break;
    case 'CreateTrigStmt':
      lock(resolve(n.relation as RangeVar), SHARE_ROW_EXCLUSIVE);
      break;
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt':
      lock(resolve(n.table as RangeVar), ACCESS_EXCLUSIVE);
      break;
    case 'RuleStmt':
      lock(resolve(n.relation as RangeVar), ACCESS_EXCLUSIVE);
      break;
    case 'RenameStmt':
    case 'AlterObjectSchemaStmt':
      if (isNode(n.relation)) lock(resolve(n.relation as RangeVar), ACCESS_EXCLUSIVE);
      break;
    case 'DropStmt':
      for (const o of (n.objects as Node[] | undefined) ?? []) {
        const parts = names((o.List as Node | undefined)?.items);
        const rvOf = (p: string[]): RangeVar => (p.length > 1 ? { schemaname: p[p.length - 2] as string, relname: p[p.length - 1] as string } : { relname: p[0] as string });
        if (n.removeType === 'OBJECT_TABLE' || n.removeType === 'OBJECT_MATVIEW') {
          const t = resolve(rvOf(parts));
          lock(t, ACCESS_EXCLUSIVE);
          // Its foreign keys' triggers on the referenced tables go too.
          if (t) for (const fk of ctx.catalog.foreignKeys) if (fk.schema === t.schema && fk.table === t.name) lock(resolve({ schemaname: fk.refSchema, relname: fk.refTable }), ACCESS_EXCLUSIVE);
        }
        if (n.removeType === 'OBJECT_INDEX' && n.concurrent !== true) {
          const rv = rvOf(parts);
          const index = ctx.catalog.indexes.find((i) => i.name === rv.relname && (rv.schemaname ? i.schema === rv.schemaname : path.includes(i.schema)));
          if (index) lock(resolve({ schemaname: index.schema, relname: index.table }), ACCESS_EXCLUSIVE);
        }
        if (['OBJECT_TRIGGER', 'OBJECT_POLICY', 'OBJECT_RULE'].includes(String(n.removeType)) && parts.length >= 2) lock(resolve(rvOf(parts.slice(0, -1))), ACCESS_EXCLUSIVE);
      }
      break;
    case 'AlterTableStmt': {
      const own = n.objtype === 'OBJECT_TABLE' || n.objtype === 'OBJECT_MATVIEW' ? resolve(n.relation as RangeVar) : null;
      if (own) await analyseAlterTable(n, own, resolve, ctx, path, out);
      break;
    }
    default:
      break;
  }
  return out;
}

const hazards = (a: Analysis) => a.hazards;

/** The statement with just one subcommand, changed: the form of it that does not block. */
function withCommand(n: Node, cmd: Node, def: Node): Node {
  return { ...n, cmds: [{ AlterTableCmd: { ...cmd, def } }] };
}

async function analyseAlterTable(n: Node, own: TableRef, resolve: Resolver, ctx: JudgeContext, path: string[], out: Analysis): Promise<void> {
  const table = label(own);
  const today = findToday(ctx, own);
  const single = ((n.cmds as Node[] | undefined) ?? []).length === 1;
  const partitionedBefore18 = own.kind === 'p' && ctx.catalog.serverVersionNum < 180000;
  let mode = 0;
  for (const item of (n.cmds as Node[] | undefined) ?? []) {
    const cmd = (item.AlterTableCmd ?? {}) as Node;
    const subtype = String(cmd.subtype);
    const def = isNode(cmd.def) ? (cmd.def as Node) : {};
    const constraint = isNode(def.Constraint) ? (def.Constraint as Node) : null;
    let cmdMode = SUBCOMMAND_LOCKS[subtype] ?? ACCESS_EXCLUSIVE;
    if (subtype === 'AT_SetRelOptions' || subtype === 'AT_ResetRelOptions') {
      const options = ((isNode(def.List) ? ((def.List as Node).items as Node[] | undefined) : (cmd.def as Node[] | undefined)) ?? []).map((o) => String((o.DefElem as Node | undefined)?.defname ?? ''));
      cmdMode = options.some((o) => EXCLUSIVE_RELOPTIONS.has(o)) ? ACCESS_EXCLUSIVE : SHARE_UPDATE_EXCLUSIVE;
    }
    if (subtype === 'AT_DropConstraint' && today) {
      // Dropping a foreign key drops its triggers on the referenced table too.
      const fk = ctx.catalog.foreignKeys.find((f) => f.schema === today.schema && f.table === today.name && f.name === cmd.name);
      if (fk) out.locks.push(...lockOf(resolve({ schemaname: fk.refSchema, relname: fk.refTable }), ACCESS_EXCLUSIVE));
    }
    if (subtype === 'AT_AttachPartition' && isNode(def.PartitionCmd)) {
      const part = resolve(((def.PartitionCmd as Node).name ?? {}) as RangeVar);
      if (part) {
        out.locks.push({ table: part, mode: ACCESS_EXCLUSIVE });
        out.hazards.push({ rule: 'preflight/blocking-scans', kind: 'attach-partition', table: part, what: `ATTACH PARTITION reads all of ${label(part)} under ACCESS EXCLUSIVE to prove its rows fit the partition bound`, mode: ACCESS_EXCLUSIVE, instead: null, note: `first add to ${label(part)} a CHECK constraint that says the bound, NOT VALID, then VALIDATE CONSTRAINT it (writes go on): ATTACH PARTITION then skips the scan; drop the CHECK after` });
      }
    }
    if (subtype === 'AT_AddConstraint' && constraint?.contype === 'CONSTR_FOREIGN') {
      cmdMode = SHARE_ROW_EXCLUSIVE;
      const parent = resolve(isNode(constraint.pktable) ? (constraint.pktable as RangeVar) : undefined);
      if (parent) out.locks.push({ table: parent, mode: SHARE_ROW_EXCLUSIVE });
      if (constraint.skip_validation !== true) {
        const name = typeof constraint.conname === 'string' ? quoteIdent(constraint.conname) : null;
        const notValid = single && name && !partitionedBefore18 ? rewritten('AlterTableStmt', withCommand(n, cmd, { Constraint: { ...constraint, skip_validation: true, initially_valid: false } })) : null;
        out.hazards.push({
          rule: 'preflight/blocking-scans',
          kind: 'foreign-key',
          table: own,
          what: `ADD FOREIGN KEY reads all of ${table} under SHARE ROW EXCLUSIVE on it${parent ? ` and on ${label(parent)}` : ''}: writes to both wait for the whole scan`,
          mode: SHARE_ROW_EXCLUSIVE,
          instead: notValid && name ? `${notValid}\nALTER TABLE ${table} VALIDATE CONSTRAINT ${name};` : null,
          note: notValid
            ? 'run the VALIDATE as a statement of its own (in a later migration, or after a COMMIT): it takes SHARE UPDATE EXCLUSIVE, so writes go on while it scans'
            : partitionedBefore18
              ? `PostgreSQL ${ctx.catalog.serverVersion} cannot add a foreign key NOT VALID to a partitioned table: add it to each partition NOT VALID and VALIDATE it there, then to the parent (which then finds them)`
              : 'give the constraint a name and put it in an ALTER TABLE of its own, added NOT VALID, then VALIDATE CONSTRAINT it in a later statement',
        });
      }
    }
    if (subtype === 'AT_AddConstraint' && constraint?.contype === 'CONSTR_CHECK' && constraint.skip_validation !== true) {
      const name = typeof constraint.conname === 'string' ? quoteIdent(constraint.conname) : null;
      const notValid = single && name ? rewritten('AlterTableStmt', withCommand(n, cmd, { Constraint: { ...constraint, skip_validation: true, initially_valid: false } })) : null;
      out.hazards.push({ rule: 'preflight/blocking-scans', kind: 'check', table: own, what: `ADD CHECK reads all of ${table} under ACCESS EXCLUSIVE: no read or write of it runs until the scan ends`, mode: ACCESS_EXCLUSIVE, instead: notValid && name ? `${notValid}\nALTER TABLE ${table} VALIDATE CONSTRAINT ${name};` : null, note: notValid ? 'the VALIDATE takes SHARE UPDATE EXCLUSIVE: writes go on while it scans' : 'name the constraint and put it in an ALTER TABLE of its own, added NOT VALID, then VALIDATE CONSTRAINT it' });
    }
    if (subtype === 'AT_AddConstraint' && (constraint?.contype === 'CONSTR_PRIMARY' || constraint?.contype === 'CONSTR_UNIQUE' || constraint?.contype === 'CONSTR_EXCLUSION') && !constraint.indexname) {
      out.hazards.push(keyIndexHazard(own, constraint));
    }
    if (subtype === 'AT_SetNotNull') {
      const column = String(cmd.name ?? '');
      const col = today ? findColumn(today, column) : undefined;
      if (col && !col.notNull && !hasNotNullCheck(ctx, today as Table, col.attnum)) {
        const check = quoteIdent(`${own.name}_${column}_not_null`.slice(0, 63));
        const q = quoteIdent(column);
        out.hazards.push({
          rule: 'preflight/blocking-scans',
          kind: 'set-not-null',
          table: own,
          column,
          what: `SET NOT NULL reads all of ${table} under ACCESS EXCLUSIVE to prove ${q} holds no NULL: no read or write of it runs until the scan ends`,
          mode: ACCESS_EXCLUSIVE,
          instead: [`ALTER TABLE ${table} ADD CONSTRAINT ${check} CHECK (${q} IS NOT NULL) NOT VALID;`, `ALTER TABLE ${table} VALIDATE CONSTRAINT ${check};`, `ALTER TABLE ${table} ALTER COLUMN ${q} SET NOT NULL;`, `ALTER TABLE ${table} DROP CONSTRAINT ${check};`].join('\n'),
          note: 'PostgreSQL 12+ takes the validated CHECK as proof and skips the scan; the VALIDATE lets writes go on',
        });
      }
    }
    if (subtype === 'AT_AlterColumnType') {
      const column = String(cmd.name ?? '');
      const typeName = isNode(def.ColumnDef) ? (((def.ColumnDef as Node).typeName ?? {}) as Node) : {};
      if (today && findColumn(today, column) && (await typeChangeRewrites(ctx, own, column, typeName, usingOf(def, column), path))) {
        const q = quoteIdent(column);
        out.hazards.push({
          rule: 'preflight/table-rewrites',
          kind: 'alter-type',
          table: own,
          column,
          what: `ALTER COLUMN ${q} TYPE is not binary-coercible${usingOf(def, column) ? ' (it has USING)' : ''}: it rewrites ${table} and rebuilds its indexes under ACCESS EXCLUSIVE`,
          mode: ACCESS_EXCLUSIVE,
          instead: null,
          note: `add a new column of the new type, fill it in batches (UPDATE ... WHERE id BETWEEN ...), keep it in step with a trigger, then swap the names in one short transaction (ALTER TABLE ${table} RENAME COLUMN ...)`,
        });
      }
    }
    if (subtype === 'AT_AddColumn' && isNode(def.ColumnDef)) {
      const col = def.ColumnDef as Node;
      const colname = String(col.colname ?? '');
      // IF NOT EXISTS of a column that exists: PostgreSQL skips it, after taking the lock.
      if (cmd.missing_ok === true && today && findColumn(today, colname)) {
        mode = Math.max(mode, cmdMode);
        continue;
      }
      const typeNames = names((col.typeName as Node | undefined)?.names);
      const constraints = ((col.constraints as Node[] | undefined) ?? []).map((x) => (x.Constraint ?? {}) as Node);
      const defaultExpr = constraints.find((x) => x.contype === 'CONSTR_DEFAULT')?.raw_expr;
      const q = quoteIdent(colname);
      const why: string[] = [];
      if (typeNames.length === 1 && SERIAL_TYPES.has((typeNames[0] as string).toLowerCase())) why.push(`a ${typeNames[0]} column fills every row from its sequence`);
      if (constraints.some((x) => x.contype === 'CONSTR_IDENTITY')) why.push('an identity column fills every row from its sequence');
      const generated = constraints.some((x) => x.contype === 'CONSTR_GENERATED' && String((x as { generated_kind?: unknown }).generated_kind ?? 's') !== 'v');
      if (generated) why.push('a stored generated column is computed for every row');
      if (defaultExpr !== undefined) {
        const volatile = await mayBeVolatile(ctx, defaultExpr);
        if (volatile) why.push(volatile);
      }
      const domain = await domainRewrite(ctx, (col.typeName ?? {}) as Node, path);
      if (domain) why.push(domain);
      if (why.length > 0) {
        out.hazards.push({
          rule: 'preflight/table-rewrites',
          kind: 'add-column',
          table: own,
          column: colname,
          what: `ADD COLUMN ${q} rewrites ${table} under ACCESS EXCLUSIVE: ${why.join('; ')}`,
          mode: ACCESS_EXCLUSIVE,
          instead: null,
          note: generated
            ? `a stored generated column cannot be added without computing every row: add a plain column, fill it in batches, keep it in step with a trigger (or compute it in a view)`
            : `add the column without the DEFAULT (ALTER TABLE ${table} ADD COLUMN ${q} ...; no rewrite), then ALTER COLUMN ${q} SET DEFAULT ... (new rows only), then fill the existing rows in batches`,
        });
      }
      for (const x of constraints) {
        if (x.contype === 'CONSTR_FOREIGN') out.locks.push(...lockOf(resolve(isNode(x.pktable) ? (x.pktable as RangeVar) : undefined), SHARE_ROW_EXCLUSIVE));
        if (x.contype === 'CONSTR_CHECK' && x.skip_validation !== true) {
          out.hazards.push({ rule: 'preflight/blocking-scans', kind: 'check', table: own, column: colname, what: `ADD COLUMN ${q} with a CHECK reads all of ${table} under ACCESS EXCLUSIVE to check it`, mode: ACCESS_EXCLUSIVE, instead: null, note: 'add the column, then the CHECK in an ALTER TABLE of its own, NOT VALID, then VALIDATE CONSTRAINT it' });
        }
        if (x.contype === 'CONSTR_UNIQUE' || x.contype === 'CONSTR_PRIMARY') out.hazards.push(keyIndexHazard(own, { ...x, keys: [{ String: { sval: colname } }] }));
      }
    }
    if (subtype === 'AT_SetLogged' || subtype === 'AT_SetUnLogged' || subtype === 'AT_SetAccessMethod' || subtype === 'AT_SetTableSpace') {
      const what = { AT_SetLogged: 'SET LOGGED', AT_SetUnLogged: 'SET UNLOGGED', AT_SetAccessMethod: 'SET ACCESS METHOD', AT_SetTableSpace: 'SET TABLESPACE' }[subtype];
      out.hazards.push({ rule: 'preflight/table-rewrites', kind: 'rewrite', table: own, what: `${what} rewrites ${table} under ACCESS EXCLUSIVE: no read or write of it runs until it finishes`, mode: ACCESS_EXCLUSIVE, instead: null, note: 'run it in a maintenance window, or copy the data to a new table online and swap' });
    }
    mode = Math.max(mode, cmdMode);
  }
  if (mode > 0) out.locks.push({ table: own, mode });
}

const lockOf = (t: TableRef | null, mode: number): Lock[] => (t ? [{ table: t, mode }] : []);

/** ADD PRIMARY KEY / UNIQUE / EXCLUDE without USING INDEX: the index built first, CONCURRENTLY, with every option the constraint has. */
function keyIndexHazard(own: TableRef, constraint: Node): Hazard {
  const table = label(own);
  const kind = constraint.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : constraint.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'EXCLUDE';
  const columns = ((constraint.keys as Node[] | undefined) ?? []).map((k) => quoteIdent(String((k.String as Node | undefined)?.sval ?? '')));
  const include = ((constraint.including as Node[] | undefined) ?? []).map((k) => quoteIdent(String((k.String as Node | undefined)?.sval ?? '')));
  const indexName = quoteIdent(`${typeof constraint.conname === 'string' ? constraint.conname : `${own.name}_${columns.length === 1 ? `${String((((constraint.keys as Node[])[0] as Node).String as Node).sval)}_` : ''}${kind === 'PRIMARY KEY' ? 'pkey' : 'key'}`}`.slice(0, 63));
  const what = `ADD ${kind} builds its index under ACCESS EXCLUSIVE on ${table}: no read or write of it runs until the build ends`;
  if (kind === 'EXCLUDE' || columns.length === 0 || own.kind === 'p' || constraint.where_clause || constraint.options || constraint.indexspace) {
    return { rule: 'preflight/blocking-scans', kind: 'key-index', table: own, what, mode: ACCESS_EXCLUSIVE, instead: null, note: own.kind === 'p' ? 'a partitioned table takes no CONCURRENTLY: build the unique index on each partition CONCURRENTLY, then on ONLY the parent, attach them, then add the constraint' : 'build the index first with CREATE UNIQUE INDEX CONCURRENTLY, then add the constraint USING INDEX' };
  }
  const deferral = `${constraint.deferrable === true ? ' DEFERRABLE' : ''}${constraint.initdeferred === true ? ' INITIALLY DEFERRED' : ''}`;
  const build = `CREATE UNIQUE INDEX CONCURRENTLY ${indexName} ON ${table} (${columns.join(', ')})${include.length ? ` INCLUDE (${include.join(', ')})` : ''}${constraint.nulls_not_distinct === true ? ' NULLS NOT DISTINCT' : ''};`;
  return {
    rule: 'preflight/blocking-scans',
    kind: 'key-index',
    table: own,
    what,
    mode: ACCESS_EXCLUSIVE,
    instead: `${build}\nALTER TABLE ${table} ADD CONSTRAINT ${indexName} ${kind} USING INDEX ${indexName}${deferral};`,
    note: `the index is built outside a transaction block, without blocking writes; adding the constraint on it is instant${kind === 'PRIMARY KEY' ? ' once the columns are NOT NULL (SET NOT NULL would scan again: see its own finding)' : ''}`,
  };
}

/** The catalog's table behind a reference (by its name of today), for its columns and constraints. */
function findToday(ctx: JudgeContext, t: TableRef): Table | undefined {
  const [schema, name] = JSON.parse(t.today) as [string, string];
  return findTable(ctx.catalog, schema, name) ?? ctx.catalog.partitions.find((p) => p.schema === schema && p.name === name);
}

/** A validated CHECK (column IS NOT NULL) lets SET NOT NULL skip its scan (PostgreSQL 12+). */
function hasNotNullCheck(ctx: JudgeContext, t: Table, attnum: number): boolean {
  return ctx.catalog.checkConstraints.some(
    (k) => k.schema === t.schema && k.table === t.name && k.validated === true && new RegExp(`^\\{NULLTEST :arg \\{VAR :varno 1 :varattno ${attnum} .*:nulltesttype 1 `).test(k.tree),
  );
}

/**
 * Where the migration runs each statement: which lock_timeout is in force, and whether in a transaction
 * block. A SET inside a block takes effect at once but is undone by ROLLBACK (and ROLLBACK TO a savepoint
 * made before it), so the value in force is kept as a stack of what each level would restore.
 */
class SessionState {
  sessionTimeout: number;
  localTimeout: number | null = null;
  inBlock = false;
  /** The session value when the block (index 0) and each open savepoint began, and the local value then. */
  private saved: { name: string | null; session: number; local: number | null }[] = [];

  constructor(private readonly start: number, private readonly perFile: boolean) {
    this.sessionTimeout = start;
    // A tool that wraps the file in a transaction makes SET LOCAL last to the end of the file.
    if (perFile) this.begin();
  }

  get effective(): number {
    return this.localTimeout ?? this.sessionTimeout;
  }

  private begin(): void {
    this.inBlock = true;
    this.saved = [{ name: null, session: this.sessionTimeout, local: null }];
  }

  private end(commit: boolean): void {
    const base = this.saved[0];
    if (!commit && base) this.sessionTimeout = base.session;
    this.localTimeout = null;
    this.inBlock = this.perFile;
    this.saved = this.perFile ? [{ name: null, session: this.sessionTimeout, local: null }] : [];
  }

  apply(s: MigrationStatement): void {
    const n = s.node;
    if (s.kind === 'TransactionStmt') {
      const kind = String(n.kind);
      if ((kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') && !this.saved.length) this.begin();
      else if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') this.inBlock = true;
      else if (kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_PREPARE') this.end(true);
      else if (kind === 'TRANS_STMT_ROLLBACK') this.end(false);
      else if (kind === 'TRANS_STMT_SAVEPOINT') this.saved.push({ name: String(n.savepoint_name ?? ''), session: this.sessionTimeout, local: this.localTimeout });
      else if (kind === 'TRANS_STMT_ROLLBACK_TO' || kind === 'TRANS_STMT_RELEASE') {
        const at = this.saved.map((x) => x.name).lastIndexOf(String(n.savepoint_name ?? ''));
        if (at > 0) {
          const point = this.saved[at] as { session: number; local: number | null };
          if (kind === 'TRANS_STMT_ROLLBACK_TO') {
            this.sessionTimeout = point.session;
            this.localTimeout = point.local;
            this.saved = this.saved.slice(0, at + 1);
          } else this.saved = this.saved.slice(0, at);
        }
      }
      if (n.chain === true && (kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK')) this.begin();
      return;
    }
    if ((s.kind === 'VariableSetStmt' && n.kind === 'VAR_RESET_ALL') || (s.kind === 'DiscardStmt' && n.target === 'DISCARD_ALL')) {
      this.sessionTimeout = this.start;
      this.localTimeout = null;
      return;
    }
    const ms = timeoutOf(s, this.start);
    if (ms === null) return;
    // SET LOCAL outside a transaction block warns and does nothing; in one it lasts until its end.
    if (n.is_local === true) {
      if (this.inBlock) this.localTimeout = ms;
    } else {
      this.sessionTimeout = ms;
      this.localTimeout = null;
    }
  }
}

/** The ms a SET lock_timeout gives (0 for off or an unreadable value: the safe reading for this judge). */
function timeoutOf(s: MigrationStatement, start: number): number | null {
  const n = s.node;
  if (s.kind !== 'VariableSetStmt' || n.name !== 'lock_timeout') return null;
  if (n.kind === 'VAR_RESET' || n.kind === 'VAR_SET_DEFAULT') return start;
  const arg = ((n.args as Node[] | undefined) ?? [])[0];
  const c = isNode(arg?.A_Const) ? (arg.A_Const as Node) : {};
  if (isNode(c.ival)) return Number((c.ival as Node).ival ?? 0);
  if (isNode(c.sval)) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/i.exec(String((c.sval as Node).sval ?? ''));
    if (!m) return 0;
    const unit = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms').toLowerCase() as 'ms'] ?? 1;
    return Number(m[1]) * unit;
  }
  return 0;
}

/**
 * Judges every statement of the run for what it does to the application while it runs: the locks it
 * takes and for how long. Adds outcomes to `run.verdicts` and findings to `run.findings`.
 */
export async function judgeOperations(files: MigrationFile[], run: JudgeRun, ctx: JudgeContext, settings: PreflightSettings = PREFLIGHT_DEFAULTS): Promise<void> {
  let relations = new Map<string, Relation>();
  const loaded = await judgement(ctx, 'preflight/table-rewrites', async () => {
    relations = await loadRelations(ctx);
    return { rule: 'preflight/table-rewrites', status: 'passed' };
  });
  // Unreadable, it is taken as none: the finding then asks for a SET that is harmless if one was in force.
  let startTimeout = 0;
  await judgement(ctx, 'preflight/lock-timeouts', async () => {
    startTimeout = await startingLockTimeout(ctx);
    return { rule: 'preflight/lock-timeouts', status: 'passed' };
  });
  /** Names the run has made, dropped or renamed (key: schema and name), and what each now is. */
  const madeInRun = new Set<string>();
  const gone = new Set<string>();
  const renamed = new Map<string, TableRef>();
  const resolverAt = (path: string[] | null): Resolver => (rv) => {
    if (!rv?.relname) return null;
    const schemas = rv.schemaname ? [rv.schemaname] : (path ?? []);
    for (const schema of schemas) {
      const key = keyOf({ schema, name: rv.relname });
      // libpg_query leaves `inh` out for ONLY.
      const recurse = (rv as RangeVar & { inh?: boolean }).inh === true;
      const moved = renamed.get(key);
      if (moved) return { ...moved, recurse };
      if (madeInRun.has(key)) return null;
      if (gone.has(key)) continue;
      const r = relations.get(key);
      if (r) return { schema, name: rv.relname, today: key, kind: r.kind, recurse };
    }
    return null;
  };
  const analysed: { s: MigrationStatement; verdict: StatementVerdict; file: MigrationFile; locks: Lock[]; hazards: Hazard[]; resolve: Resolver }[] = [];
  let v = 0;
  for (const file of files) {
    for (const s of file.statements) {
      const path = run.searchPaths ? (run.searchPaths[v] ?? null) : ['public'];
      const verdict = run.verdicts[v++] as StatementVerdict;
      const resolve = resolverAt(path);
      let found: Analysis = { locks: [], hazards: [] };
      const outcome = await judgement(ctx, 'preflight/table-rewrites', async () => {
        found = await analyse(s, resolve, ctx, path ?? []);
        return { rule: 'preflight/table-rewrites', status: 'passed' };
      });
      if (outcome.status === 'error') verdict.outcomes.push(outcome);
      analysed.push({ s, verdict, file, ...found, resolve });
      followNames(s, resolve, path ?? [], relations, madeInRun, gone, renamed);
    }
  }
  const sizeOf = (t: TableRef): Size | undefined => {
    const r = relations.get(t.today);
    if (!r) return undefined;
    return r.kind === 'p' || t.recurse ? r.tree : r.own;
  };
  const report = (f: PreflightFindingInput) => run.findings.push(f);

  for (const file of files) {
    const session = new SessionState(startTimeout, settings.transactionPerFile);
    const mine = analysed.filter((a) => a.file === file);
    const unguarded: { a: (typeof mine)[number]; lock: Lock }[] = [];
    for (const a of mine) {
      const outcomes: Outcome[] = [];
      const refused = notInTransactionBlock(a.s, a.resolve);
      if (refused && session.inBlock) {
        report({
          rule: 'preflight/transaction-block',
          kind: 'transaction-block',
          message: `${refused} fails now (25001): it cannot run inside a transaction block, and ${settings.transactionPerFile ? 'the config says the migration tool runs each file as one transaction (preflight.transactionPerFile)' : 'this one runs between BEGIN and COMMIT'}. Move it to a migration of its own that runs outside a transaction (Rails: disable_ddl_transaction!; Flyway: executeInTransaction=false; golang-migrate: a file holding only it)`,
          object: a.verdict.relation ? { schema: a.verdict.relation.schema, table: a.verdict.relation.table } : { schema: '', table: '' },
          count: null,
          samples: [],
          location: a.s.location,
        });
        outcomes.push({ rule: 'preflight/transaction-block', status: 'failed' });
      }
      const reported = new Set<string>();
      for (const h of a.hazards) {
        if (loaded.status === 'error') {
          outcomes.push({ rule: h.rule, status: 'error', reason: `the table's size could not be read: ${loaded.reason ?? ''}` });
          continue;
        }
        const size = sizeOf(h.table);
        if (!isLarge(size, settings)) continue;
        reported.add(h.table.today);
        report({
          rule: h.rule,
          kind: h.kind,
          message: `${h.what}; ${displayName(h.table.schema, h.table.name)} is large (${formatSize(size as Size)}, from the catalog's estimates). Instead: ${h.instead ? `${h.instead.replace(/\n/g, ' ')} (${h.note})` : h.note}`,
          object: { schema: h.table.schema, table: h.table.name, ...(h.column ? { column: h.column } : {}) },
          count: null,
          samples: [],
          details: { lock: LOCK_NAMES[h.mode], estimatedRows: (size as Size).rows, estimatedBytes: (size as Size).bytes, ...(h.instead ? { instead: h.instead } : {}), insteadNote: h.note },
          location: a.s.location,
        });
        outcomes.push({ rule: h.rule, status: 'failed' });
      }
      const effective = session.effective;
      // A brief ACCESS EXCLUSIVE (ADD COLUMN, DROP COLUMN, RENAME) on a large table: the statement is quick,
      // but it queues behind every query running on the table, and every query after it queues behind it.
      if (loaded.status !== 'error') {
        for (const lock of dedupeLocks(a.locks)) {
          const size = sizeOf(lock.table);
          if (lock.mode !== ACCESS_EXCLUSIVE || reported.has(lock.table.today) || !isLarge(size, settings)) continue;
          const guard = effective > 0 ? `lock_timeout is ${effective} ms here, so it gives up rather than stall the application; retry it when it does` : 'with no lock_timeout it waits as long as they run, and stalls the application meanwhile';
          report({
            rule: 'preflight/access-exclusive-locks',
            kind: 'access-exclusive',
            message: `${statementName(a.s)} takes ACCESS EXCLUSIVE on ${displayName(lock.table.schema, lock.table.name)}, which is large (${formatSize(size as Size)}): even when the change itself is instant, it waits for every query running on the table, and every query after it waits behind it; ${guard}. Instead: run it at a quiet time${effective > 0 ? '' : ", with SET lock_timeout = '2s' before it and a retry"}`,
            object: { schema: lock.table.schema, table: lock.table.name },
            count: null,
            samples: [],
            details: { lock: LOCK_NAMES[ACCESS_EXCLUSIVE], estimatedRows: (size as Size).rows, estimatedBytes: (size as Size).bytes, lockTimeoutMs: effective, ...(effective > 0 ? {} : { instead: "SET lock_timeout = '2s';" }), insteadNote: 'run it at a quiet time, with a short lock_timeout and a retry' },
            location: a.s.location,
          });
          outcomes.push({ rule: 'preflight/access-exclusive-locks', status: 'failed' });
        }
      }
      if (effective === 0) for (const lock of a.locks) if (blocksWrites(lock.mode)) unguarded.push({ a, lock });
      if (outcomes.length > 0) a.verdict.outcomes.push(...outcomes);
      session.apply(a.s);
    }
    if (settings.requireLockTimeout && unguarded.length > 0) {
      const first = unguarded[0] as (typeof unguarded)[number];
      const statements = new Set(unguarded.map((u) => u.a.s));
      const tables = dedupe(unguarded.map((u) => u.lock.table));
      report({
        rule: 'preflight/lock-timeouts',
        kind: 'no-lock-timeout',
        message: `${statements.size} statement${statements.size === 1 ? '' : 's'} of ${file.file} take${statements.size === 1 ? 's' : ''} a lock that blocks writes (${LOCK_NAMES[first.lock.mode]} on ${displayName(first.lock.table.schema, first.lock.table.name)} here${tables.length > 1 ? `, and on ${tables.length - 1} more table${tables.length === 2 ? '' : 's'}` : ''}) with no lock_timeout: waiting behind a long query, it makes every query on the table wait behind it. Instead: begin the file with SET lock_timeout = '5s'; and retry the migration when it gives up`,
        object: { schema: first.lock.table.schema, table: first.lock.table.name },
        count: statements.size,
        samples: [],
        details: { statements: [...statements].map((s) => s.location.line), tables: tables.map((t) => `${t.schema}.${t.name}`), instead: "SET lock_timeout = '5s';", insteadNote: 'at the top of the file (SET LOCAL inside its transaction), with a retry when it gives up' },
        location: first.a.s.location,
      });
      first.a.verdict.outcomes.push({ rule: 'preflight/lock-timeouts', status: 'failed' });
    }
  }
}

/** What a statement does to names the statements after it resolve: tables made, dropped, renamed or moved. */
function followNames(s: MigrationStatement, resolve: Resolver, path: string[], relations: Map<string, Relation>, madeInRun: Set<string>, gone: Set<string>, renamed: Map<string, TableRef>): void {
  const n = s.node;
  const where = (rv: RangeVar | undefined) => (rv?.schemaname ? rv.schemaname : path.find((x) => relations.has(keyOf({ schema: x, name: rv?.relname ?? '' }))) ?? path[0] ?? 'public');
  if (s.kind === 'CreateStmt' || s.kind === 'CreateTableAsStmt') {
    const rv = (s.kind === 'CreateStmt' ? n.relation : (n.into as Node | undefined)?.rel) as RangeVar | undefined;
    if (!rv?.relname) return;
    const key = keyOf({ schema: rv.schemaname ?? path[0] ?? 'public', name: rv.relname });
    // CREATE TABLE IF NOT EXISTS of a table there today changes nothing.
    if (n.if_not_exists === true && resolve(rv)) return;
    madeInRun.add(key);
    renamed.delete(key);
    return;
  }
  if (s.kind === 'DropStmt' && (n.removeType === 'OBJECT_TABLE' || n.removeType === 'OBJECT_MATVIEW')) {
    for (const o of (n.objects as Node[] | undefined) ?? []) {
      const parts = names((o.List as Node | undefined)?.items);
      const rv: RangeVar = parts.length > 1 ? { schemaname: parts[0] as string, relname: parts[1] as string } : { relname: parts[0] as string };
      const key = keyOf({ schema: where(rv), name: rv.relname ?? '' });
      gone.add(key);
      madeInRun.delete(key);
      renamed.delete(key);
    }
    return;
  }
  const moveTo = (schema: string, name: string) => {
    const rv = n.relation as RangeVar;
    const t = resolve(rv);
    const from = keyOf({ schema: where(rv), name: rv.relname ?? '' });
    const to = keyOf({ schema, name });
    gone.add(from);
    renamed.delete(from);
    gone.delete(to);
    if (t) renamed.set(to, { ...t, schema, name });
    else madeInRun.add(to);
  };
  if (s.kind === 'RenameStmt' && (n.renameType === 'OBJECT_TABLE' || n.renameType === 'OBJECT_MATVIEW') && isNode(n.relation)) moveTo(where(n.relation as RangeVar), String(n.newname ?? ''));
  if (s.kind === 'AlterObjectSchemaStmt' && (n.objectType === 'OBJECT_TABLE' || n.objectType === 'OBJECT_MATVIEW') && isNode(n.relation)) moveTo(String(n.newschema ?? ''), String((n.relation as RangeVar).relname ?? ''));
}

/** One lock per table, the strongest. */
function dedupeLocks(locks: Lock[]): Lock[] {
  const strongest = new Map<string, Lock>();
  for (const l of locks) if ((strongest.get(keyOf(l.table))?.mode ?? 0) < l.mode) strongest.set(keyOf(l.table), l);
  return [...strongest.values()];
}

const STATEMENT_NAMES: Record<string, string> = { AlterTableStmt: 'ALTER TABLE', DropStmt: 'DROP', TruncateStmt: 'TRUNCATE', RenameStmt: 'RENAME', LockStmt: 'LOCK TABLE', RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW', CreateStmt: 'CREATE TABLE', CreatePolicyStmt: 'CREATE POLICY', RuleStmt: 'CREATE RULE', AlterObjectSchemaStmt: 'ALTER ... SET SCHEMA' };
const statementName = (s: MigrationStatement) => STATEMENT_NAMES[s.kind] ?? s.kind.replace(/Stmt$/, '').toUpperCase();

function dedupe(tables: TableRef[]): TableRef[] {
  const seen = new Map<string, TableRef>();
  for (const t of tables) seen.set(keyOf(t), t);
  return [...seen.values()];
}
