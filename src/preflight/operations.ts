import { deparseSync } from '@libpg-query/parser';
import { findColumn, findTable } from '../db/catalog.js';
import { displayName, qualifiedName, quoteIdent } from '../db/quote.js';
import { PREFLIGHT_DEFAULTS, type PreflightSettings } from '../config/schema.js';
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
const SHARE = 5;
const SHARE_ROW_EXCLUSIVE = 6;
const ACCESS_EXCLUSIVE = 8;
/** Modes from SHARE up conflict with ROW EXCLUSIVE, the lock every INSERT, UPDATE and DELETE takes. */
const blocksWrites = (mode: number) => mode >= SHARE;

interface TableRef {
  schema: string;
  name: string;
}

/** One lock a statement takes, on a table that exists today. */
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
  /** What to run instead. */
  instead: string;
}

interface Size {
  rows: number;
  bytes: number | null;
}

const keyOf = (t: TableRef) => JSON.stringify([t.schema, t.name]);

/** Cumulative row and heap-size estimates of every relation named, partitions and inheritance children included. */
async function tableSizes(ctx: JudgeContext, tables: TableRef[]): Promise<Map<string, Size>> {
  const sizes = new Map<string, Size>();
  if (tables.length === 0) return sizes;
  // reltuples is -1 before the first VACUUM or ANALYZE (PostgreSQL 14+): the statistics collector's live
  // count covers a table loaded since (after an ANALYZE it can count rows twice, so reltuples wins when
  // there is one). Neither reads the table or locks it.
  const res = await ctx.db.query<{ schema: string; name: string; rows: string; pages: string; measured: boolean }>(
    `WITH RECURSIVE named AS (
       SELECT c.oid, n.nspname::pg_catalog.text AS schema, c.relname::pg_catalog.text AS name
         FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS u(s, t)
         JOIN pg_catalog.pg_namespace n ON n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) u.s
         JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname::pg_catalog.text OPERATOR(pg_catalog.=) u.t
        WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm']::pg_catalog."char"[])
     ), tree AS (
       SELECT oid AS root, oid AS rel FROM named
       UNION
       SELECT t.root, i.inhrelid FROM tree t JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) t.rel
     )
     SELECT n.schema, n.name,
            pg_catalog.sum(CASE WHEN c.reltuples OPERATOR(pg_catalog.>=) 0::pg_catalog.float4 THEN c.reltuples::pg_catalog.float8 ELSE pg_catalog.pg_stat_get_live_tuples(c.oid)::pg_catalog.float8 END)::pg_catalog.text AS rows,
            pg_catalog.sum(c.relpages::pg_catalog.int8)::pg_catalog.text AS pages,
            pg_catalog.bool_or(c.reltuples OPERATOR(pg_catalog.>=) 0::pg_catalog.float4 OR c.relpages OPERATOR(pg_catalog.>) 0) AS measured
       FROM named n JOIN tree t ON t.root OPERATOR(pg_catalog.=) n.oid JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.rel
      GROUP BY n.schema, n.name`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  const block = Number((await ctx.db.query<{ b: string }>(`SELECT pg_catalog.current_setting('block_size') AS b`)).rows[0]?.b ?? 8192);
  for (const r of res.rows) sizes.set(keyOf(r), { rows: Math.round(Number(r.rows)), bytes: r.measured ? Number(r.pages) * block : null });
  return sizes;
}

/** The lock_timeout a migration's session starts with (the server's, the database's or the role's), in ms. */
async function startingLockTimeout(ctx: JudgeContext): Promise<number> {
  // reset_val is what the session began with: our own limit is set per transaction, so it does not show.
  const res = await ctx.db.query<{ v: string }>(`SELECT reset_val AS v FROM pg_catalog.pg_settings WHERE name OPERATOR(pg_catalog.=) 'lock_timeout'`);
  return Number(res.rows[0]?.v ?? 0) || 0;
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
function notInTransactionBlock(s: MigrationStatement): string | null {
  const n = s.node;
  if (s.kind === 'IndexStmt' && n.concurrent === true) return 'CREATE INDEX CONCURRENTLY';
  if (s.kind === 'DropStmt' && n.concurrent === true) return 'DROP INDEX CONCURRENTLY';
  if (s.kind === 'ReindexStmt') {
    const params = ((n.params as Node[] | undefined) ?? []).map((p) => String((p.DefElem as Node | undefined)?.defname ?? ''));
    if (params.includes('concurrently')) return 'REINDEX CONCURRENTLY';
    if (n.kind === 'REINDEX_OBJECT_SYSTEM' || n.kind === 'REINDEX_OBJECT_DATABASE') return 'REINDEX SYSTEM / DATABASE';
  }
  if (s.kind === 'VacuumStmt' && n.is_vacuumcmd === true) return 'VACUUM';
  if (s.kind === 'ClusterStmt' && !isNode(n.relation)) return 'CLUSTER of every table';
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

const SERIAL_TYPES = new Set(['serial', 'bigserial', 'smallserial', 'serial2', 'serial4', 'serial8']);

/** The column's type as PostgreSQL names it, and whether the change to `to` needs no rewrite. */
async function typeChangeRewrites(ctx: JudgeContext, table: TableRef, column: string, typeName: Node, using: boolean): Promise<boolean> {
  if (using) return true;
  const typeNames = names(typeName.names);
  const typname = typeNames[typeNames.length - 1] ?? '';
  const schema = typeNames.length > 1 ? (typeNames[0] as string) : null;
  const mods = ((typeName.typmods as Node[] | undefined) ?? []).map((m) => {
    const c = isNode(m.A_Const) ? (m.A_Const as Node) : {};
    return isNode(c.ival) ? Number((c.ival as Node).ival ?? 0) : NaN;
  });
  if (Array.isArray(typeName.arrayBounds) && typeName.arrayBounds.length > 0) return true;
  const res = await ctx.db.query<{ old_type: string; old_mod: number; new_type: string | null; binary: boolean }>(
    `SELECT ot.typname::pg_catalog.text AS old_type, a.atttypmod AS old_mod, nt.typname::pg_catalog.text AS new_type,
            (a.atttypid OPERATOR(pg_catalog.=) nt.oid OR EXISTS (SELECT FROM pg_catalog.pg_cast k WHERE k.castsource OPERATOR(pg_catalog.=) a.atttypid AND k.casttarget OPERATOR(pg_catalog.=) nt.oid AND k.castmethod OPERATOR(pg_catalog.=) 'b'::pg_catalog."char")) AS binary
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
       JOIN pg_catalog.pg_type ot ON ot.oid OPERATOR(pg_catalog.=) a.atttypid
       LEFT JOIN pg_catalog.pg_type nt ON nt.typname::pg_catalog.text OPERATOR(pg_catalog.=) $4
            AND nt.typnamespace OPERATOR(pg_catalog.=) (SELECT x.oid FROM pg_catalog.pg_namespace x WHERE x.nspname::pg_catalog.text OPERATOR(pg_catalog.=) COALESCE($5::pg_catalog.text, 'pg_catalog'))
      WHERE n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) $1 AND c.relname::pg_catalog.text OPERATOR(pg_catalog.=) $2 AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) $3`,
    [table.schema, table.name, column, typname, schema],
  );
  const r = res.rows[0];
  // A type it cannot find (a user type named bare, say) is taken to rewrite: the warning is the safe side.
  if (!r || r.new_type === null || !r.binary) return true;
  if (r.old_type !== r.new_type) return mods.length > 0;
  // Dropping a length or precision limit keeps every value as it is; a blank-padded char is padded anew.
  if (mods.length === 0) return r.old_type === 'bpchar' && r.old_mod !== -1;
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

interface Context {
  ctx: JudgeContext;
  createdInRun: Set<string>;
  /** Whether a relation exists today and was not made by an earlier statement of the run. */
  existing: (rv: RangeVar | undefined) => TableRef | null;
}

/** The locks a statement takes on tables of today, and its hazards on them. */
async function analyse(s: MigrationStatement, verdict: StatementVerdict, c: Context): Promise<{ locks: Lock[]; hazards: Hazard[] }> {
  const n = s.node;
  const locks: Lock[] = [];
  const hazards: Hazard[] = [];
  const own = verdict.relation && !c.createdInRun.has(keyOf({ schema: verdict.relation.schema, name: verdict.relation.table })) && findTable(c.ctx.catalog, verdict.relation.schema, verdict.relation.table)
    ? { schema: verdict.relation.schema, name: verdict.relation.table }
    : null;
  const label = own ? qualifiedName(own.schema, own.name) : '';
  const parentLock = (constraint: Node) => {
    const parent = c.existing(isNode(constraint.pktable) ? (constraint.pktable as RangeVar) : undefined);
    if (parent) locks.push({ table: parent, mode: SHARE_ROW_EXCLUSIVE });
  };
  const walkForeignKeys = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walkForeignKeys);
    else if (isNode(node)) {
      if (isNode(node.Constraint) && (node.Constraint as Node).contype === 'CONSTR_FOREIGN') parentLock(node.Constraint as Node);
      Object.values(node).forEach(walkForeignKeys);
    }
  };
  switch (s.kind) {
    case 'CreateStmt':
      // A new table's REFERENCES lock the parent (SHARE ROW EXCLUSIVE) to add its triggers.
      walkForeignKeys(n.tableElts);
      break;
    case 'IndexStmt': {
      if (!own) break;
      const concurrent = n.concurrent === true;
      locks.push({ table: own, mode: concurrent ? 4 : SHARE });
      if (!concurrent) {
        const instead = deparseSync({ version: 170004, stmts: [{ stmt: { IndexStmt: { ...n, concurrent: true } } }] } as unknown as Parameters<typeof deparseSync>[0]);
        hazards.push({ rule: 'preflight/blocking-index-builds', kind: 'index-build', table: own, what: `CREATE ${n.unique === true ? 'UNIQUE ' : ''}INDEX without CONCURRENTLY holds a SHARE lock on ${label} for the whole build: every write to it waits`, mode: SHARE, instead: `${instead}; (outside a transaction block; if it fails, DROP INDEX CONCURRENTLY the invalid index and run it again)` });
      }
      break;
    }
    case 'ReindexStmt': {
      const params = ((n.params as Node[] | undefined) ?? []).map((p) => String((p.DefElem as Node | undefined)?.defname ?? ''));
      if (n.kind !== 'REINDEX_OBJECT_TABLE' || params.includes('concurrently')) break;
      const t = c.existing(n.relation as RangeVar);
      if (!t) break;
      locks.push({ table: t, mode: SHARE });
      hazards.push({ rule: 'preflight/blocking-index-builds', kind: 'reindex', table: t, what: `REINDEX TABLE without CONCURRENTLY blocks writes to ${qualifiedName(t.schema, t.name)}, and reads that use its indexes, until every index is rebuilt`, mode: ACCESS_EXCLUSIVE, instead: `REINDEX TABLE CONCURRENTLY ${qualifiedName(t.schema, t.name)}; (outside a transaction block)` });
      break;
    }
    case 'VacuumStmt':
    case 'ClusterStmt': {
      const full = s.kind === 'ClusterStmt' || ((n.options as Node[] | undefined) ?? []).some((o) => (o.DefElem as Node | undefined)?.defname === 'full');
      if (!full) break;
      const rels: RangeVar[] = s.kind === 'ClusterStmt' ? (isNode(n.relation) ? [n.relation as RangeVar] : []) : ((n.rels as Node[] | undefined) ?? []).map((r) => ((r.VacuumRelation as Node | undefined)?.relation ?? {}) as RangeVar);
      for (const rv of rels) {
        const t = c.existing(rv);
        if (!t) continue;
        locks.push({ table: t, mode: ACCESS_EXCLUSIVE });
        hazards.push({ rule: 'preflight/table-rewrites', kind: s.kind === 'ClusterStmt' ? 'cluster' : 'vacuum-full', table: t, what: `${s.kind === 'ClusterStmt' ? 'CLUSTER' : 'VACUUM FULL'} rewrites ${qualifiedName(t.schema, t.name)} under ACCESS EXCLUSIVE: no read or write of it runs until it finishes`, mode: ACCESS_EXCLUSIVE, instead: 'leave it out of the migration: plain VACUUM (no lock on writes) reclaims space for reuse; to shrink the table online, pg_repack or pg_squeeze' });
      }
      break;
    }
    case 'RefreshMatViewStmt': {
      const t = c.existing(n.relation as RangeVar);
      if (!t) break;
      if (n.concurrent === true) {
        locks.push({ table: t, mode: 7 });
        break;
      }
      locks.push({ table: t, mode: ACCESS_EXCLUSIVE });
      hazards.push({ rule: 'preflight/table-rewrites', kind: 'refresh', table: t, what: `REFRESH MATERIALIZED VIEW without CONCURRENTLY rebuilds ${qualifiedName(t.schema, t.name)} under ACCESS EXCLUSIVE: reads of it wait`, mode: ACCESS_EXCLUSIVE, instead: `REFRESH MATERIALIZED VIEW CONCURRENTLY ${qualifiedName(t.schema, t.name)}; (needs a unique index on the view)` });
      break;
    }
    case 'LockStmt': {
      if (n.nowait === true) break;
      for (const r of (n.relations as Node[] | undefined) ?? []) {
        const t = c.existing((r.RangeVar ?? {}) as RangeVar);
        if (t) locks.push({ table: t, mode: Number(n.mode ?? ACCESS_EXCLUSIVE) });
      }
      break;
    }
    case 'TruncateStmt':
      for (const r of (n.relations as Node[] | undefined) ?? []) {
        const t = c.existing((r.RangeVar ?? {}) as RangeVar);
        if (t) locks.push({ table: t, mode: ACCESS_EXCLUSIVE });
      }
      break;
    case 'CreateTrigStmt':
      if (own) locks.push({ table: own, mode: SHARE_ROW_EXCLUSIVE });
      break;
    case 'RenameStmt':
      if (own) locks.push({ table: own, mode: ACCESS_EXCLUSIVE });
      break;
    case 'DropStmt':
      if (n.removeType === 'OBJECT_TABLE') {
        for (const o of (n.objects as Node[] | undefined) ?? []) {
          const parts = names((o.List as Node | undefined)?.items);
          const t = c.existing(parts.length > 1 ? { schemaname: parts[0] as string, relname: parts[1] as string } : { relname: parts[0] as string });
          if (t) locks.push({ table: t, mode: ACCESS_EXCLUSIVE });
        }
      }
      break;
    case 'AlterTableStmt':
      if (own && n.objtype === 'OBJECT_TABLE') await analyseAlterTable(n, own, c, locks, hazards);
      break;
    default:
      break;
  }
  return { locks, hazards };
}

/** ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (tablecmds.c AlterTableGetLockLevel). */
const SUBCOMMAND_LOCKS: Record<string, number> = {
  AT_SetStatistics: 4,
  AT_ClusterOn: 4,
  AT_DropCluster: 4,
  AT_SetRelOptions: 4,
  AT_ResetRelOptions: 4,
  AT_ValidateConstraint: 4,
  AT_AttachPartition: 4,
  AT_EnableTrig: SHARE_ROW_EXCLUSIVE,
  AT_EnableAlwaysTrig: SHARE_ROW_EXCLUSIVE,
  AT_EnableReplicaTrig: SHARE_ROW_EXCLUSIVE,
  AT_EnableTrigAll: SHARE_ROW_EXCLUSIVE,
  AT_EnableTrigUser: SHARE_ROW_EXCLUSIVE,
  AT_DisableTrig: SHARE_ROW_EXCLUSIVE,
  AT_DisableTrigAll: SHARE_ROW_EXCLUSIVE,
  AT_DisableTrigUser: SHARE_ROW_EXCLUSIVE,
};

async function analyseAlterTable(n: Node, own: TableRef, c: Context, locks: Lock[], hazards: Hazard[]): Promise<void> {
  const table = qualifiedName(own.schema, own.name);
  let mode = 0;
  for (const item of (n.cmds as Node[] | undefined) ?? []) {
    const cmd = (item.AlterTableCmd ?? {}) as Node;
    const subtype = String(cmd.subtype);
    const def = isNode(cmd.def) ? (cmd.def as Node) : {};
    const constraint = isNode(def.Constraint) ? (def.Constraint as Node) : null;
    let cmdMode = SUBCOMMAND_LOCKS[subtype] ?? ACCESS_EXCLUSIVE;
    if (subtype === 'AT_AddConstraint' && constraint?.contype === 'CONSTR_FOREIGN') {
      cmdMode = SHARE_ROW_EXCLUSIVE;
      const parent = c.existing(isNode(constraint.pktable) ? (constraint.pktable as RangeVar) : undefined);
      if (parent) locks.push({ table: parent, mode: SHARE_ROW_EXCLUSIVE });
      if (constraint.skip_validation !== true) {
        const name = typeof constraint.conname === 'string' ? quoteIdent(constraint.conname) : null;
        const notValid = deparseSync({ version: 170004, stmts: [{ stmt: { AlterTableStmt: { ...n, cmds: [{ AlterTableCmd: { ...cmd, def: { Constraint: { ...constraint, skip_validation: true, initially_valid: false } } } }] } } }] } as unknown as Parameters<typeof deparseSync>[0]);
        hazards.push({
          rule: 'preflight/blocking-scans',
          kind: 'foreign-key',
          table: own,
          what: `ADD FOREIGN KEY reads all of ${table} under SHARE ROW EXCLUSIVE on it${parent ? ` and on ${qualifiedName(parent.schema, parent.name)}` : ''}: writes to both wait for the whole scan`,
          mode: SHARE_ROW_EXCLUSIVE,
          instead: name ? `${notValid}; then, in a later statement: ALTER TABLE ${table} VALIDATE CONSTRAINT ${name}; (VALIDATE takes SHARE UPDATE EXCLUSIVE: writes go on)` : `give the constraint a name, add it NOT VALID (${notValid}), then VALIDATE CONSTRAINT it in a later statement`,
        });
      }
    }
    if (subtype === 'AT_AddConstraint' && constraint?.contype === 'CONSTR_CHECK' && constraint.skip_validation !== true) {
      const name = typeof constraint.conname === 'string' ? quoteIdent(constraint.conname) : null;
      const notValid = deparseSync({ version: 170004, stmts: [{ stmt: { AlterTableStmt: { ...n, cmds: [{ AlterTableCmd: { ...cmd, def: { Constraint: { ...constraint, skip_validation: true, initially_valid: false } } } }] } } }] } as unknown as Parameters<typeof deparseSync>[0]);
      hazards.push({ rule: 'preflight/blocking-scans', kind: 'check', table: own, what: `ADD CHECK reads all of ${table} under ACCESS EXCLUSIVE: no read or write of it runs until the scan ends`, mode: ACCESS_EXCLUSIVE, instead: name ? `${notValid}; then: ALTER TABLE ${table} VALIDATE CONSTRAINT ${name};` : `name the constraint, add it NOT VALID (${notValid}), then VALIDATE CONSTRAINT it` });
    }
    if (subtype === 'AT_AddConstraint' && (constraint?.contype === 'CONSTR_PRIMARY' || constraint?.contype === 'CONSTR_UNIQUE' || constraint?.contype === 'CONSTR_EXCLUSION') && !constraint.indexname) {
      const kind = constraint.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : constraint.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'EXCLUDE';
      const columns = ((constraint.keys as Node[] | undefined) ?? []).map((k) => quoteIdent(String((k.String as Node | undefined)?.sval ?? '')));
      const indexName = quoteIdent(`${typeof constraint.conname === 'string' ? constraint.conname : `${own.name}_${kind === 'PRIMARY KEY' ? 'pkey' : 'key'}`}`.slice(0, 63));
      hazards.push({
        rule: 'preflight/blocking-scans',
        kind: 'key-index',
        table: own,
        what: `ADD ${kind} builds its index under ACCESS EXCLUSIVE on ${table}: no read or write of it runs until the build ends`,
        mode: ACCESS_EXCLUSIVE,
        instead: kind === 'EXCLUDE' || columns.length === 0
          ? 'build the index first with CREATE INDEX CONCURRENTLY, then add the constraint'
          : `CREATE UNIQUE INDEX CONCURRENTLY ${indexName} ON ${table} (${columns.join(', ')}); then ALTER TABLE ${table} ADD CONSTRAINT ${indexName} ${kind} USING INDEX ${indexName};${kind === 'PRIMARY KEY' ? ' (the columns must be NOT NULL first, or SET NOT NULL scans again)' : ''}`,
      });
    }
    if (subtype === 'AT_SetNotNull') {
      const column = String(cmd.name ?? '');
      if (!hasNotNullCheck(c.ctx, own, column)) {
        const check = quoteIdent(`${own.name}_${column}_not_null`.slice(0, 63));
        const col = quoteIdent(column);
        hazards.push({
          rule: 'preflight/blocking-scans',
          kind: 'set-not-null',
          table: own,
          column,
          what: `SET NOT NULL reads all of ${table} under ACCESS EXCLUSIVE to prove ${col} holds no NULL: no read or write of it runs until the scan ends`,
          mode: ACCESS_EXCLUSIVE,
          instead: `ALTER TABLE ${table} ADD CONSTRAINT ${check} CHECK (${col} IS NOT NULL) NOT VALID; ALTER TABLE ${table} VALIDATE CONSTRAINT ${check}; ALTER TABLE ${table} ALTER COLUMN ${col} SET NOT NULL; ALTER TABLE ${table} DROP CONSTRAINT ${check}; (PostgreSQL 12+ takes the validated CHECK as proof and skips the scan)`,
        });
      }
    }
    if (subtype === 'AT_AlterColumnType') {
      const column = String(cmd.name ?? '');
      const typeName = isNode(def.ColumnDef) ? (((def.ColumnDef as Node).typeName ?? {}) as Node) : {};
      const using = isNode(def.ColumnDef) && (def.ColumnDef as Node).raw_default !== undefined;
      if (columnOf(c.ctx, own, column) && (await typeChangeRewrites(c.ctx, own, column, typeName, using))) {
        const col = quoteIdent(column);
        hazards.push({
          rule: 'preflight/table-rewrites',
          kind: 'alter-type',
          table: own,
          column,
          what: `ALTER COLUMN ${col} TYPE is not binary-coercible${using ? ' (it has USING)' : ''}: it rewrites ${table} and rebuilds its indexes under ACCESS EXCLUSIVE`,
          mode: ACCESS_EXCLUSIVE,
          instead: `add a new column of the new type, fill it in batches (UPDATE ... WHERE id BETWEEN ...), keep it in step with a trigger, then swap the names in one short transaction (ALTER TABLE ${table} RENAME COLUMN ...)`,
        });
      }
    }
    if (subtype === 'AT_AddColumn' && isNode(def.ColumnDef)) {
      const col = def.ColumnDef as Node;
      const colname = String(col.colname ?? '');
      const typeNames = names((col.typeName as Node | undefined)?.names);
      const constraints = ((col.constraints as Node[] | undefined) ?? []).map((x) => (x.Constraint ?? {}) as Node);
      const defaultExpr = constraints.find((x) => x.contype === 'CONSTR_DEFAULT')?.raw_expr;
      const why: string[] = [];
      if (typeNames.length === 1 && SERIAL_TYPES.has((typeNames[0] as string).toLowerCase())) why.push(`a ${typeNames[0]} column fills every row from its sequence`);
      if (constraints.some((x) => x.contype === 'CONSTR_IDENTITY')) why.push('an identity column fills every row from its sequence');
      if (constraints.some((x) => x.contype === 'CONSTR_GENERATED' && x.generated_when === 'a' && String((x as { storage?: unknown }).storage ?? 's') !== 'v')) why.push('a stored generated column is computed for every row');
      if (defaultExpr !== undefined) {
        const volatile = await volatileFunctions(c.ctx, functionNames(defaultExpr));
        const called = functionNames(defaultExpr).map((f) => f[f.length - 1] as string).filter((f) => volatile.has(f));
        if (called.length > 0) why.push(`its DEFAULT calls ${[...new Set(called)].map((f) => `${f}()`).join(', ')}, which is volatile, so each row gets its own value`);
      }
      if (why.length > 0) {
        const q = quoteIdent(colname);
        hazards.push({
          rule: 'preflight/table-rewrites',
          kind: 'add-column',
          table: own,
          column: colname,
          what: `ADD COLUMN ${q} rewrites ${table} under ACCESS EXCLUSIVE: ${why.join('; ')}`,
          mode: ACCESS_EXCLUSIVE,
          instead: `ALTER TABLE ${table} ADD COLUMN ${q} <type> (no default: no rewrite); ALTER TABLE ${table} ALTER COLUMN ${q} SET DEFAULT ... (applies to new rows only); then fill the existing rows in batches`,
        });
      }
      for (const x of constraints) if (x.contype === 'CONSTR_FOREIGN') parentLockOf(x, c, locks);
    }
    if (subtype === 'AT_SetLogged' || subtype === 'AT_SetUnLogged' || subtype === 'AT_SetAccessMethod' || subtype === 'AT_SetTableSpace') {
      const what = { AT_SetLogged: 'SET LOGGED', AT_SetUnLogged: 'SET UNLOGGED', AT_SetAccessMethod: 'SET ACCESS METHOD', AT_SetTableSpace: 'SET TABLESPACE' }[subtype];
      hazards.push({ rule: 'preflight/table-rewrites', kind: 'rewrite', table: own, what: `${what} rewrites ${table} under ACCESS EXCLUSIVE: no read or write of it runs until it finishes`, mode: ACCESS_EXCLUSIVE, instead: 'run it in a maintenance window, or copy the data to a new table online and swap' });
    }
    mode = Math.max(mode, cmdMode);
  }
  if (mode > 0) locks.push({ table: own, mode });
}

function columnOf(ctx: JudgeContext, t: TableRef, column: string) {
  const table = findTable(ctx.catalog, t.schema, t.name);
  return table ? findColumn(table, column) : undefined;
}

function parentLockOf(constraint: Node, c: Context, locks: Lock[]): void {
  const parent = c.existing(isNode(constraint.pktable) ? (constraint.pktable as RangeVar) : undefined);
  if (parent) locks.push({ table: parent, mode: SHARE_ROW_EXCLUSIVE });
}

/** A validated CHECK (column IS NOT NULL) lets SET NOT NULL skip its scan (PostgreSQL 12+). */
function hasNotNullCheck(ctx: JudgeContext, t: TableRef, column: string): boolean {
  return ctx.catalog.checkConstraints.some((k) => {
    if (k.schema !== t.schema || k.table !== t.name || k.validated !== true) return false;
    // The stored tree of `col IS NOT NULL`: a NullTest of IS_NOT_NULL over the column's Var, nothing else.
    const attnum = columnOf(ctx, t, column)?.attnum;
    return attnum !== undefined && new RegExp(`^\\{NULLTEST :arg \\{VAR :varno 1 :varattno ${attnum} .*:nulltesttype 1 `).test(k.tree);
  });
}

/** Where the migration runs each statement: which lock_timeout is in force, and whether in a transaction block. */
interface SessionState {
  sessionTimeout: number;
  localTimeout: number | null;
  inBlock: boolean;
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
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$/i.exec(String((c.sval as Node).sval ?? ''));
    if (!m) return 0;
    const unit = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms').toLowerCase() as 'ms'] ?? 1;
    return Number(m[1]) * unit;
  }
  return 0;
}

function applyToSession(s: MigrationStatement, state: SessionState, start: number): void {
  if (s.kind === 'TransactionStmt') {
    const kind = String(s.node.kind);
    if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') state.inBlock = true;
    if (['TRANS_STMT_COMMIT', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_PREPARE'].includes(kind) && s.node.chain !== true) {
      state.inBlock = false;
      state.localTimeout = null;
    }
    return;
  }
  const ms = timeoutOf(s, start);
  if (ms === null) return;
  // SET LOCAL outside a transaction block warns and does nothing; in one it lasts until its end.
  if (s.node.is_local === true) {
    if (state.inBlock) state.localTimeout = ms;
  } else {
    state.sessionTimeout = ms;
    state.localTimeout = null;
  }
}

/**
 * Judges every statement of the run for what it does to the application while it runs: the locks it
 * takes and for how long. Adds outcomes to `run.verdicts` and findings to `run.findings`.
 */
export async function judgeOperations(files: MigrationFile[], run: JudgeRun, ctx: JudgeContext, settings: PreflightSettings = PREFLIGHT_DEFAULTS): Promise<void> {
  const createdInRun = new Set<string>();
  const c: Context = { ctx, createdInRun, existing: () => null };
  // Unreadable, it is taken as none: the finding then asks for a SET that is harmless if one was in force.
  let startTimeout = 0;
  await judgement(ctx, 'preflight/lock-timeouts', async () => {
    startTimeout = await startingLockTimeout(ctx);
    return { rule: 'preflight/lock-timeouts', status: 'passed' };
  });
  const analysed: { s: MigrationStatement; verdict: StatementVerdict; file: MigrationFile; locks: Lock[]; hazards: Hazard[] }[] = [];
  let v = 0;
  for (const file of files) {
    for (const s of file.statements) {
      const verdict = run.verdicts[v++] as StatementVerdict;
      // Resolve names as the data judges did: the verdict's relation already follows the run's search_path.
      c.existing = existingWith(verdict, ctx, createdInRun);
      let found: { locks: Lock[]; hazards: Hazard[] } = { locks: [], hazards: [] };
      const outcome = await judgement(ctx, 'preflight/table-rewrites', async () => {
        found = await analyse(s, verdict, c);
        return { rule: 'preflight/table-rewrites', status: 'passed' };
      });
      if (outcome.status === 'error') verdict.outcomes.push(outcome);
      analysed.push({ s, verdict, file, ...found });
      // A table made by the run (or dropped by it, and perhaps made again) holds none of today's rows.
      if (s.kind === 'CreateStmt' && verdict.relation) {
        const key = keyOf({ schema: verdict.relation.schema, name: verdict.relation.table });
        if (!findTable(ctx.catalog, verdict.relation.schema, verdict.relation.table)) createdInRun.add(key);
      }
      if (s.kind === 'DropStmt') for (const l of analysed[analysed.length - 1]?.locks ?? []) createdInRun.add(keyOf(l.table));
    }
  }
  let sizes = new Map<string, Size>();
  const sized = await judgement(ctx, 'preflight/table-rewrites', async () => {
    sizes = await tableSizes(ctx, dedupe(analysed.flatMap((a) => [...a.locks.map((l) => l.table), ...a.hazards.map((h) => h.table)])));
    return { rule: 'preflight/table-rewrites', status: 'passed' };
  });
  const report = (f: PreflightFindingInput) => run.findings.push(f);

  for (const file of files) {
    const session: SessionState = { sessionTimeout: startTimeout, localTimeout: null, inBlock: false };
    const mine = analysed.filter((a) => a.file === file);
    const unguarded: { a: (typeof mine)[number]; lock: Lock }[] = [];
    for (const a of mine) {
      const outcomes: Outcome[] = [];
      const inTransaction = session.inBlock || settings.transactionPerFile;
      const refused = notInTransactionBlock(a.s);
      if (refused && inTransaction) {
        report({
          rule: 'preflight/transaction-block',
          kind: 'transaction-block',
          message: `${refused} fails now (25001): it cannot run inside a transaction block, and ${session.inBlock ? 'this one runs between BEGIN and COMMIT' : 'the config says the migration tool runs each file as one transaction (preflight.transactionPerFile)'}. Move it to a migration of its own that runs outside a transaction (Rails: disable_ddl_transaction!; Flyway: executeInTransaction=false; golang-migrate: a file holding only it)`,
          object: a.verdict.relation ? { schema: a.verdict.relation.schema, table: a.verdict.relation.table } : { schema: '', table: '' },
          count: null,
          samples: [],
          location: a.s.location,
        });
        outcomes.push({ rule: 'preflight/transaction-block', status: 'failed' });
      }
      for (const h of a.hazards) {
        const size = sizes.get(keyOf(h.table));
        if (sized.status === 'error') {
          outcomes.push({ rule: h.rule, status: 'error', reason: `the table's size could not be read: ${sized.reason ?? ''}` });
          continue;
        }
        if (!isLarge(size, settings)) continue;
        report({
          rule: h.rule,
          kind: h.kind,
          message: `${h.what}; ${displayName(h.table.schema, h.table.name)} is large (${formatSize(size as Size)}, from the catalog's estimates). Instead: ${h.instead}`,
          object: { schema: h.table.schema, table: h.table.name, ...(h.column ? { column: h.column } : {}) },
          count: null,
          samples: [],
          details: { lock: LOCK_NAMES[h.mode], estimatedRows: (size as Size).rows, estimatedBytes: (size as Size).bytes, instead: h.instead },
          location: a.s.location,
        });
        outcomes.push({ rule: h.rule, status: 'failed' });
      }
      const effective = session.localTimeout ?? session.sessionTimeout;
      // A brief ACCESS EXCLUSIVE (ADD COLUMN, DROP COLUMN, RENAME) on a large table: the statement is quick,
      // but it queues behind every query running on the table, and every query after it queues behind it.
      if (sized.status !== 'error') {
        const reported = new Set(a.hazards.filter((h) => isLarge(sizes.get(keyOf(h.table)), settings)).map((h) => keyOf(h.table)));
        for (const lock of dedupeLocks(a.locks)) {
          const size = sizes.get(keyOf(lock.table));
          if (lock.mode !== ACCESS_EXCLUSIVE || reported.has(keyOf(lock.table)) || !isLarge(size, settings)) continue;
          const guard = effective > 0 ? `lock_timeout is ${effective} ms here, so it gives up rather than stall the application; retry it when it does` : 'with no lock_timeout it waits as long as they run, and stalls the application meanwhile';
          report({
            rule: 'preflight/access-exclusive-locks',
            kind: 'access-exclusive',
            message: `${statementName(a.s)} takes ACCESS EXCLUSIVE on ${displayName(lock.table.schema, lock.table.name)}, which is large (${formatSize(size as Size)}): even when the change itself is instant, it waits for every query running on the table, and every query after it waits behind it; ${guard}. Instead: run it at a quiet time${effective > 0 ? '' : ", with SET lock_timeout = '2s' before it and a retry"}`,
            object: { schema: lock.table.schema, table: lock.table.name },
            count: null,
            samples: [],
            details: { lock: LOCK_NAMES[ACCESS_EXCLUSIVE], estimatedRows: (size as Size).rows, estimatedBytes: (size as Size).bytes, lockTimeoutMs: effective, instead: "SET lock_timeout = '2s';" },
            location: a.s.location,
          });
          outcomes.push({ rule: 'preflight/access-exclusive-locks', status: 'failed' });
        }
      }
      if (effective === 0) for (const lock of a.locks) if (blocksWrites(lock.mode)) unguarded.push({ a, lock });
      if (outcomes.length > 0) a.verdict.outcomes.push(...outcomes);
      applyToSession(a.s, session, startTimeout);
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
        details: { statements: [...statements].map((s) => s.location.line), tables: tables.map((t) => `${t.schema}.${t.name}`), instead: "SET lock_timeout = '5s';" },
        location: first.a.s.location,
      });
      first.a.verdict.outcomes.push({ rule: 'preflight/lock-timeouts', status: 'failed' });
    }
  }
}

/** One lock per table, the strongest. */
function dedupeLocks(locks: Lock[]): Lock[] {
  const strongest = new Map<string, Lock>();
  for (const l of locks) if ((strongest.get(keyOf(l.table))?.mode ?? 0) < l.mode) strongest.set(keyOf(l.table), l);
  return [...strongest.values()];
}

const STATEMENT_NAMES: Record<string, string> = { AlterTableStmt: 'ALTER TABLE', DropStmt: 'DROP', TruncateStmt: 'TRUNCATE', RenameStmt: 'RENAME', LockStmt: 'LOCK TABLE', RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW' };
const statementName = (s: MigrationStatement) => STATEMENT_NAMES[s.kind] ?? s.kind.replace(/Stmt$/, '').toUpperCase();

function dedupe(tables: TableRef[]): TableRef[] {
  const seen = new Map<string, TableRef>();
  for (const t of tables) seen.set(keyOf(t), t);
  return [...seen.values()];
}

/** Resolves a relation the statement names as the data judges resolved the statement's own (same schema for a bare name). */
function existingWith(verdict: StatementVerdict, ctx: JudgeContext, createdInRun: Set<string>): Context['existing'] {
  return (rv) => {
    if (!rv?.relname) return null;
    const schema = rv.schemaname ?? verdict.relation?.schema ?? 'public';
    if (createdInRun.has(keyOf({ schema, name: rv.relname }))) return null;
    if (findTable(ctx.catalog, schema, rv.relname) || ctx.catalog.partitions.some((p) => p.schema === schema && p.name === rv.relname)) return { schema, name: rv.relname };
    return null;
  };
}
