import type { Queryable } from './session.js';
import { constText, parseNodeTree, walkNodes } from './node-tree.js';
import { quoteIdent } from './quote.js';

// Catalog queries must not call pg_get_expr() or pg_get_indexdef(): they lock the relation they
// describe, so a migration holding ACCESS EXCLUSIVE on one table would stall the whole audit.
// Expressions are read from their stored trees instead.

function treeConstants(tree: string): string[] {
  try {
    return [...walkNodes(parseNodeTree(tree))].filter((n) => n.type === 'CONST').flatMap((n) => constText(n) ?? []);
  } catch {
    return [];
  }
}

export interface Column {
  name: string;
  attnum: number;
  /** format_type(): e.g. `character varying(36)`, `uuid`. */
  type: string;
  /** The type name after following domains to their base, e.g. `uuid`, `text`, `varchar`. */
  baseType: string;
  notNull: boolean;
  /** The DEFAULT expression's stored tree; null when the column has none or is generated. */
  defaultTree: string | null;
  /** The constants in the DEFAULT expression, as text (e.g. a uuid literal). */
  defaultConstants: string[];
  /** 's' for a stored generated column, 'v' for virtual (PostgreSQL 18), '' otherwise. */
  generated: '' | 's' | 'v';
  /** pg_attribute.attidentity: 'a' GENERATED ALWAYS AS IDENTITY, 'd' BY DEFAULT, '' none. */
  identity: '' | 'a' | 'd';
  generationTree: string | null;
  /** False for a nondeterministic (e.g. case-insensitive ICU) collation: equal strings may differ in bytes. */
  deterministicCollation: boolean;
  /** The column's collation (schema and name, unquoted); null for a type without one. */
  collation: { schema: string; name: string } | null;
}

export interface Table {
  schema: string;
  name: string;
  kind: 'table' | 'partitioned table';
  estimatedRows: number;
  /**
   * pg_class.relpages and relallvisible as of the last VACUUM or ANALYZE (0 for a partitioned table): how
   * much a scan reads, and how much of it an index-only scan can skip. Statistics, never a guarantee.
   */
  pages: number;
  allVisiblePages: number;
  columns: Column[];
  primaryKey: string[] | null;
  /** Row-level security: whether policies apply, and whether this audit's role sees every row anyway. */
  rowSecurity: RowSecurity;
  /** Why this audit cannot read the table at all (an unlogged table on a hot standby); null when it can. */
  unreadable: string | null;
  /** For a partition: the partitioned table it belongs to. */
  partitionOf: { schema: string; name: string } | null;
  /** Whether other tables inherit from it (INHERITS): its own rows are then `ONLY` it. */
  hasInheritanceChildren: boolean;
}

export interface RowSecurity {
  /** ENABLE ROW LEVEL SECURITY */
  enabled: boolean;
  /** FORCE ROW LEVEL SECURITY: its owner is subject to the policies too. */
  forced: boolean;
  /**
   * Whether the auditing role reads every row: RLS off, or the role is a superuser or has BYPASSRLS, or
   * it owns the table (has the owner's privileges) and the table does not FORCE it. When false, every
   * read of the table fails under the audit's `row_security = off`, rather than returning part of it.
   */
  readableWhole: boolean;
}

export type MatchType = 'simple' | 'full' | 'partial';
export type ReferentialAction = 'no action' | 'restrict' | 'cascade' | 'set null' | 'set default';

export interface ForeignKey {
  name: string;
  schema: string;
  table: string;
  columns: string[];
  refSchema: string;
  refTable: string;
  refColumns: string[];
  /** The referenced table's kind: a partitioned one is read whole, any other `ONLY`, as RI does. */
  refKind: 'table' | 'partitioned table';
  /**
   * Per column pair, how PostgreSQL's RI query compares them (pg_constraint.conpfeqop): the operator,
   * schema-qualified, and the casts it needs where a column's type is not the operator's input type.
   */
  equality: KeyEquality[];
  validated: boolean;
  enforced: boolean;
  matchType: MatchType;
  onDelete: ReferentialAction;
  onUpdate: ReferentialAction;
  /** Tables on which internal RI triggers of this constraint are disabled (child: inserts unchecked; parent: deletes). */
  disabledTriggers: { schema: string; table: string }[];
}

export interface KeyEquality {
  /** e.g. `OPERATOR(pg_catalog.=)` */
  operator: string;
  /** Type to cast the referenced (parent) column to, or null when it already is the operator's input type. */
  parentCast: string | null;
  /** Likewise for the referencing (child) column. */
  childCast: string | null;
}

export interface CheckConstraint {
  name: string;
  schema: string;
  table: string;
  tree: string;
  /** convalidated: false for a constraint added NOT VALID and not validated since. */
  validated?: boolean;
}

export interface UniqueConstraint {
  name: string;
  schema: string;
  table: string;
  columns: string[];
}

export interface Index {
  name: string;
  schema: string;
  table: string;
  method: string;
  unique: boolean;
  /** indisvalid: an index left invalid by a failed CREATE INDEX CONCURRENTLY is never used by the planner. */
  valid: boolean;
  /** The key columns in order (INCLUDE columns left out), null where a key is an expression. */
  keyColumns: (string | null)[];
  /**
   * Per key: whether it orders and compares as the column's type does by default: the type's default
   * operator class, the column's own collation, ascending with NULLs last. Only such a key answers `=`
   * and supplies the order a merge join of the plain column needs.
   */
  keyPlain: boolean[];
  /** pg_class.relpages of the index: what a full index scan reads. */
  pages: number;
  expressionTree: string | null;
  predicateTree: string | null;
}

export type TriggerEvent = 'insert' | 'update' | 'delete' | 'truncate';

export interface Trigger {
  name: string;
  schema: string;
  table: string;
  /** pg_trigger.tgenabled: O fires in origin mode, D disabled, R replica only, A always. */
  enabled: 'O' | 'D' | 'R' | 'A';
  events: TriggerEvent[];
  timing: 'before' | 'after' | 'instead of';
  forEachRow: boolean;
  functionSchema: string;
  functionName: string;
  functionLanguage: string;
  functionSource: string;
  /** The trigger function's OID (as text), to look up what it calls. */
  functionOid: string;
  /** The WHEN condition's stored tree (pg_trigger.tgqual); null when the trigger has none. */
  whenTree: string | null;
}

export interface Catalog {
  serverVersion: string;
  serverVersionNum: number;
  /** The audited schemas. */
  schemas: string[];
  /** Every user schema in the database, audited or not. */
  existingSchemas: string[];
  tables: Table[];
  /**
   * Partitions: not scanned (their parent is), but their own indexes, CHECK constraints and the foreign
   * keys declared on them alone are examined. findTable finds them.
   */
  partitions: Table[];
  /** The server is a hot standby (pg_is_in_recovery()). */
  inRecovery: boolean;
  /**
   * Where `session_replication_role = replica` is set for sessions of this database (on the database, on a
   * role, or server-wide): those sessions fire no RI trigger, so no foreign key is guaranteed. Empty when
   * nowhere.
   */
  replicationRole: string[];
  foreignKeys: ForeignKey[];
  uniqueConstraints: UniqueConstraint[];
  checkConstraints: CheckConstraint[];
  indexes: Index[];
  triggers: Trigger[];
  /** OIDs of the operators and functions that extract JSON as text (`->>`, `#>>`, `json(b)_extract_path_text`, ...). */
  jsonTextExtractors: JsonTextExtractors;
}

/** OID -> how to print it, for the operators and functions that extract JSON as text. */
export interface JsonTextExtractors {
  operators: Map<string, string>;
  functions: Map<string, string>;
  /** `->` and `#>`: steps into a JSON value that a text extraction may follow. */
  pathOperators: Map<string, string>;
}

const SYSTEM_SCHEMA_FILTER = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;

/** Schemas that are not the system's own and not owned by an extension. */
export async function listUserSchemas(db: Queryable): Promise<string[]> {
  const res = await db.query<{ nspname: string }>(
    `SELECT n.nspname FROM pg_catalog.pg_namespace n
      WHERE ${SYSTEM_SCHEMA_FILTER}
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                         WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
      ORDER BY n.nspname`,
  );
  return res.rows.map((r) => r.nspname);
}

const NOT_EXTENSION_MEMBER = (alias: string) => `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
    WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = ${alias}.oid AND dep.deptype = 'e')`;

const ACTIONS: Record<string, ReferentialAction> = {
  a: 'no action',
  r: 'restrict',
  c: 'cascade',
  n: 'set null',
  d: 'set default',
};
const MATCH_TYPES: Record<string, MatchType> = { s: 'simple', f: 'full', p: 'partial' };

/** Loads every catalog fact the checks need, in a fixed handful of queries whatever the number of tables. */
export async function loadCatalog(db: Queryable, schemas: string[], existingSchemas: string[] = schemas): Promise<Catalog> {
  const version = await db.query<{ v: string; n: string }>(
    `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`,
  );
  const serverVersion = version.rows[0]?.v ?? 'unknown';
  const serverVersionNum = Number(version.rows[0]?.n ?? 0);

  const [{ tables, partitions, inRecovery }, replicationRole, constraints, indexes, triggers, extractors] = [
    await loadTables(db, schemas),
    await loadReplicationRole(db),
    await loadConstraints(db, schemas, serverVersionNum),
    await loadIndexes(db, schemas),
    await loadTriggers(db, schemas),
    await loadJsonTextExtractors(db),
  ];

  const primaryKeys = new Map<string, string[]>();
  for (const c of constraints.primaryKeys) primaryKeys.set(tableKey(c.schema, c.table), c.columns);
  for (const t of [...tables, ...partitions]) t.primaryKey = primaryKeys.get(tableKey(t.schema, t.name)) ?? null;

  return {
    serverVersion,
    serverVersionNum,
    schemas,
    existingSchemas,
    tables,
    partitions,
    inRecovery,
    replicationRole,
    foreignKeys: constraints.foreignKeys,
    uniqueConstraints: constraints.unique,
    checkConstraints: constraints.checks,
    indexes,
    triggers,
    jsonTextExtractors: extractors,
  };
}

export function tableKey(schema: string, table: string): string {
  return JSON.stringify([schema, table]);
}

interface ColumnRow {
  schema: string;
  table: string;
  relkind: string;
  est_rows: number;
  pages: number;
  all_visible: number;
  attnum: number;
  attname: string;
  type: string;
  base_type: string;
  attnotnull: boolean;
  default_tree: string | null;
  attgenerated: string;
  attidentity: string;
  is_partition: boolean;
  deterministic: boolean;
  coll_schema: string | null;
  coll_name: string | null;
  rls: boolean;
  rls_forced: boolean;
  readable_whole: boolean;
  unlogged: boolean;
  in_recovery: boolean;
  parent_schema: string | null;
  parent_name: string | null;
  has_children: boolean;
}

/** Tables and partitioned tables; partitions come apart, since their rows are read through their parent. */
async function loadTables(db: Queryable, schemas: string[]): Promise<{ tables: Table[]; partitions: Table[]; inRecovery: boolean }> {
  // Whether the role reads every row follows check_enable_rls(): superuser or BYPASSRLS, else the owner's
  // privileges (inherited ones count) unless FORCE ROW LEVEL SECURITY.
  const res = await db.query<ColumnRow>(
    `WITH me AS (SELECT r.rolsuper OR r.rolbypassrls AS bypass FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
     SELECT n.nspname AS schema, c.relname AS table, c.relkind::text AS relkind,
            c.relrowsecurity AS rls, c.relforcerowsecurity AS rls_forced,
            (NOT c.relrowsecurity OR coalesce((SELECT bypass FROM me), false)
              OR (NOT c.relforcerowsecurity AND pg_catalog.pg_has_role(c.relowner, 'USAGE'))) AS readable_whole,
            c.relpersistence = 'u' AS unlogged, pg_catalog.pg_is_in_recovery() AS in_recovery,
            pn.nspname AS parent_schema, pc.relname AS parent_name,
            EXISTS (SELECT 1 FROM pg_catalog.pg_inherits ch WHERE ch.inhparent = c.oid) AND c.relkind = 'r' AS has_children,
            greatest(c.reltuples, 0)::float8 AS est_rows, c.relpages::float8 AS pages, c.relallvisible::float8 AS all_visible,
            a.attnum::int AS attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
            coalesce(bt.typname, t.typname)::text AS base_type, a.attnotnull,
            d.adbin::text AS default_tree,
            a.attgenerated::text AS attgenerated, a.attidentity::text AS attidentity, c.relispartition AS is_partition,
            coalesce(coll.collisdeterministic, true) AS deterministic, cns.nspname AS coll_schema, coll.collname AS coll_name
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
       LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
       LEFT JOIN pg_catalog.pg_collation coll ON coll.oid = a.attcollation
       LEFT JOIN pg_catalog.pg_namespace cns ON cns.oid = coll.collnamespace
       LEFT JOIN pg_catalog.pg_inherits ih ON c.relispartition AND ih.inhrelid = c.oid
       LEFT JOIN pg_catalog.pg_class pc ON pc.oid = ih.inhparent
       LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname = ANY($1::text[])
        AND ${NOT_EXTENSION_MEMBER('c')}
      ORDER BY n.nspname, c.relname, a.attnum`,
    [schemas],
  );
  const tables: Table[] = [];
  const partitions: Table[] = [];
  let current: Table | undefined;
  let inRecovery = false;
  for (const r of res.rows) {
    if (!current || current.schema !== r.schema || current.name !== r.table) {
      inRecovery = r.in_recovery;
      current = {
        schema: r.schema,
        name: r.table,
        kind: r.relkind === 'p' ? 'partitioned table' : 'table',
        estimatedRows: Number(r.est_rows),
        pages: Number(r.pages),
        allVisiblePages: Number(r.all_visible),
        columns: [],
        primaryKey: null,
        rowSecurity: { enabled: r.rls, forced: r.rls_forced, readableWhole: r.readable_whole },
        unreadable: r.unlogged && r.in_recovery ? 'an unlogged table cannot be read on a hot standby (its rows are only on the primary)' : null,
        partitionOf: r.parent_schema !== null && r.parent_name !== null ? { schema: r.parent_schema, name: r.parent_name } : null,
        hasInheritanceChildren: r.has_children,
      };
      (r.is_partition ? partitions : tables).push(current);
    }
    const generated = r.attgenerated === 's' || r.attgenerated === 'v' ? r.attgenerated : '';
    current.columns.push({
      name: r.attname,
      attnum: r.attnum,
      type: r.type,
      baseType: r.base_type,
      notNull: r.attnotnull,
      defaultTree: generated ? null : r.default_tree,
      defaultConstants: !generated && r.default_tree ? treeConstants(r.default_tree) : [],
      generated,
      identity: r.attidentity === 'a' || r.attidentity === 'd' ? r.attidentity : '',
      generationTree: generated ? r.default_tree : null,
      deterministicCollation: r.deterministic,
      collation: r.coll_schema !== null && r.coll_name !== null ? { schema: r.coll_schema, name: r.coll_name } : null,
    });
  }
  if (res.rows.length === 0) {
    inRecovery = (await db.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0]?.r ?? false;
  }
  return { tables, partitions, inRecovery };
}

/**
 * session_replication_role = replica wherever it reaches this database's sessions: ALTER DATABASE/ROLE ...
 * SET (pg_db_role_setting, for this database or all), or the server's own setting.
 */
async function loadReplicationRole(db: Queryable): Promise<string[]> {
  const res = await db.query<{ role: string | null; database: boolean; source: string }>(
    `SELECT r.rolname AS role, s.setdatabase <> 0 AS database, 'setting' AS source
       FROM pg_catalog.pg_db_role_setting s
       LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
      CROSS JOIN LATERAL unnest(s.setconfig) AS cfg(item)
      WHERE s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()))
        AND pg_catalog.lower(pg_catalog.replace(cfg.item, ' ', '')) = 'session_replication_role=replica'
     UNION ALL
     SELECT NULL, false, st.source FROM pg_catalog.pg_settings st
      WHERE st.name = 'session_replication_role' AND st.setting = 'replica' AND st.source IN ('configuration file', 'command line', 'environment variable')
      ORDER BY 1 NULLS FIRST, 2`,
  );
  return res.rows.map((r) =>
    r.source !== 'setting'
      ? `session_replication_role = replica is set server-wide (${r.source})`
      : r.role === null
        ? `session_replication_role = replica is set on ${r.database ? 'this database' : 'every database'} (ALTER DATABASE ... SET)`
        : `session_replication_role = replica is set for role ${quoteIdent(r.role)}${r.database ? ' in this database' : ''} (ALTER ROLE ... SET)`,
  );
}

interface ConstraintRow {
  name: string;
  contype: string;
  schema: string;
  table: string;
  validated: boolean;
  enforced: boolean;
  matchtype: string;
  deltype: string;
  updtype: string;
  columns: string[];
  ref_schema: string | null;
  ref_table: string | null;
  ref_columns: string[] | null;
  ref_kind: string | null;
  equality: string[] | null;
  tree: string | null;
  disabled_triggers: string[];
  is_partition: boolean;
}

async function loadConstraints(db: Queryable, schemas: string[], versionNum: number) {
  // conenforced exists from PostgreSQL 18; before that every constraint is enforced.
  const enforced = versionNum >= 180000 ? 'con.conenforced' : 'true';
  const res = await db.query<ConstraintRow>(
    // Disabled RI triggers are found for all foreign keys at once (a foreign key on a partitioned table
    // owns the triggers of its partitions' constraints): per-constraint subqueries grow with the square
    // of the number of foreign keys.
    `WITH RECURSIVE family(root, oid) AS (
       SELECT k.oid, k.oid FROM pg_catalog.pg_constraint k WHERE k.contype = 'f' AND k.conparentid = 0
       UNION ALL
       SELECT f.root, cc.oid FROM pg_catalog.pg_constraint cc JOIN family f ON cc.conparentid = f.oid
     ), disabled AS (
       SELECT f.root, array_agg(DISTINCT pg_catalog.json_build_object('schema', tn.nspname, 'table', tc.relname)::text) AS tables
         FROM family f
         JOIN pg_catalog.pg_trigger tg ON tg.tgconstraint = f.oid
         JOIN pg_catalog.pg_class tc ON tc.oid = tg.tgrelid
         JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
        WHERE tg.tgenabled IN ('D', 'R')
        GROUP BY f.root
     )
     SELECT con.conname AS name, con.contype::text AS contype, n.nspname AS schema, c.relname AS table,
            con.convalidated AS validated, ${enforced} AS enforced,
            con.confmatchtype::text AS matchtype, con.confdeltype::text AS deltype, con.confupdtype::text AS updtype,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS columns,
            rn.nspname AS ref_schema, rc.relname AS ref_table,
            CASE WHEN con.contype = 'f' THEN
              ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                     ORDER BY k.ord) END AS ref_columns,
            rc.relkind::text AS ref_kind,
            -- Casts are written as ri_GenerateQual writes them: only where the column's type is not the operator's.
            CASE WHEN con.contype = 'f' THEN
              ARRAY(SELECT pg_catalog.json_build_array(
                             opn.nspname, o.oprname,
                             CASE WHEN pa.atttypid <> o.oprleft THEN pg_catalog.json_build_array(ltn.nspname, lt.typname) END,
                             CASE WHEN fa.atttypid <> o.oprright THEN pg_catalog.json_build_array(rtn.nspname, rt.typname) END)::text
                      FROM unnest(con.conpfeqop, con.confkey, con.conkey) WITH ORDINALITY k(op, pkatt, fkatt, ord)
                      JOIN pg_catalog.pg_operator o ON o.oid = k.op
                      JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace
                      JOIN pg_catalog.pg_type lt ON lt.oid = o.oprleft JOIN pg_catalog.pg_namespace ltn ON ltn.oid = lt.typnamespace
                      JOIN pg_catalog.pg_type rt ON rt.oid = o.oprright JOIN pg_catalog.pg_namespace rtn ON rtn.oid = rt.typnamespace
                      JOIN pg_catalog.pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.pkatt
                      JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.conrelid AND fa.attnum = k.fkatt
                     ORDER BY k.ord) END AS equality,
            con.conbin::text AS tree,
            coalesce(d.tables, '{}'::text[]) AS disabled_triggers, c.relispartition AS is_partition
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
       LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
       LEFT JOIN disabled d ON d.root = con.oid
      WHERE con.contype IN ('p', 'u', 'f', 'c')
        AND c.relkind IN ('r', 'p')
        -- A partition's own CHECK constraints and the foreign keys declared on it alone (conparentid = 0;
        -- the ones its parent's constraint made have a parent), and its primary key, for its rows' keys.
        AND (NOT c.relispartition OR (con.contype = 'c' AND con.conislocal) OR (con.contype = 'f' AND con.conparentid = 0) OR con.contype = 'p')
        AND (con.conparentid = 0 OR (c.relispartition AND con.contype = 'p'))
        -- foreign keys that point into the audited schemas from anywhere: a repair must see every cascade
        AND (n.nspname = ANY($1::text[]) OR (con.contype = 'f' AND rn.nspname = ANY($1::text[])))
        AND ${NOT_EXTENSION_MEMBER('c')}
      ORDER BY n.nspname, c.relname, con.conname`,
    [schemas],
  );
  const primaryKeys: UniqueConstraint[] = [];
  /** Partitions' primary keys: their rows' keys, but not constraints of their own. */
  const partitionKeys: UniqueConstraint[] = [];
  const unique: UniqueConstraint[] = [];
  const foreignKeys: ForeignKey[] = [];
  const checks: CheckConstraint[] = [];
  for (const r of res.rows) {
    if (r.contype === 'p' && r.is_partition) {
      partitionKeys.push({ name: r.name, schema: r.schema, table: r.table, columns: r.columns });
    } else if (r.contype === 'p' || r.contype === 'u') {
      (r.contype === 'p' ? primaryKeys : unique).push({ name: r.name, schema: r.schema, table: r.table, columns: r.columns });
    } else if (r.contype === 'f' && r.ref_schema && r.ref_table && r.ref_columns) {
      foreignKeys.push({
        name: r.name,
        schema: r.schema,
        table: r.table,
        columns: r.columns,
        refSchema: r.ref_schema,
        refTable: r.ref_table,
        refColumns: r.ref_columns,
        refKind: r.ref_kind === 'p' ? 'partitioned table' : 'table',
        // Names are quoted here, never by the server (quote_ident leaves line ends in a name raw).
        equality: (r.equality ?? []).map((e) => {
          const [schema, op, parentType, childType] = JSON.parse(e) as [string, string, [string, string] | null, [string, string] | null];
          const type = (t: [string, string] | null) => (t ? `${quoteIdent(t[0])}.${quoteIdent(t[1])}` : null);
          return { operator: `OPERATOR(${quoteIdent(schema)}.${op})`, parentCast: type(parentType), childCast: type(childType) };
        }),
        validated: r.validated,
        enforced: r.enforced,
        matchType: MATCH_TYPES[r.matchtype] ?? 'simple',
        onDelete: ACTIONS[r.deltype] ?? 'no action',
        onUpdate: ACTIONS[r.updtype] ?? 'no action',
        disabledTriggers: r.disabled_triggers
          .map((t) => JSON.parse(t) as { schema: string; table: string })
          .sort((a, b) => a.schema.localeCompare(b.schema) || a.table.localeCompare(b.table)),
      });
    } else if (r.contype === 'c' && r.tree) {
      checks.push({ name: r.name, schema: r.schema, table: r.table, tree: r.tree, validated: r.validated });
    }
  }
  return { primaryKeys: [...primaryKeys, ...partitionKeys], unique: [...primaryKeys, ...unique], foreignKeys, checks };
}

interface IndexRow {
  schema: string;
  table: string;
  name: string;
  method: string;
  unique: boolean;
  valid: boolean;
  key_columns: (string | null)[];
  key_plain: boolean[];
  pages: number;
  exprs: string | null;
  pred: string | null;
}

async function loadIndexes(db: Queryable, schemas: string[]): Promise<Index[]> {
  const res = await db.query<IndexRow>(
    `SELECT n.nspname AS schema, c.relname AS table, i.relname AS name,
            am.amname AS method,
            x.indisunique AS unique, x.indisvalid AS valid, i.relpages::float8 AS pages,
            ARRAY(SELECT ka.attname::text FROM pg_catalog.generate_series(0, x.indnkeyatts - 1) AS k
                    LEFT JOIN pg_catalog.pg_attribute ka ON ka.attrelid = x.indrelid AND ka.attnum = x.indkey[k] AND x.indkey[k] <> 0
                   ORDER BY k) AS key_columns,
            ARRAY(SELECT coalesce(opc.opcdefault AND x.indcollation[k] = ka.attcollation AND x.indoption[k] = 0, false)
                    FROM pg_catalog.generate_series(0, x.indnkeyatts - 1) AS k
                    LEFT JOIN pg_catalog.pg_attribute ka ON ka.attrelid = x.indrelid AND ka.attnum = x.indkey[k] AND x.indkey[k] <> 0
                    LEFT JOIN pg_catalog.pg_opclass opc ON opc.oid = x.indclass[k]
                   ORDER BY k) AS key_plain,
            x.indexprs::text AS exprs, x.indpred::text AS pred
       FROM pg_catalog.pg_index x
       JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
       JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_am am ON am.oid = i.relam
      WHERE c.relkind IN ('r', 'p', 'm')
        AND (NOT c.relispartition
             OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits ih WHERE ih.inhrelid = x.indexrelid))
        AND n.nspname = ANY($1::text[])
        AND ${NOT_EXTENSION_MEMBER('c')}
      ORDER BY n.nspname, c.relname, i.relname`,
    [schemas],
  );
  return res.rows.map((r) => ({
    name: r.name,
    schema: r.schema,
    table: r.table,
    method: r.method,
    unique: r.unique,
    valid: r.valid,
    keyColumns: r.key_columns,
    keyPlain: r.key_plain,
    pages: Number(r.pages),
    expressionTree: r.exprs,
    predicateTree: r.pred,
  }));
}

interface TriggerRow {
  schema: string;
  table: string;
  name: string;
  enabled: string;
  tgtype: number;
  fn_schema: string;
  fn_name: string;
  fn_language: string;
  fn_source: string;
  fn_oid: string;
  when_tree: string | null;
}

// pg_trigger.tgtype bits, from src/include/catalog/pg_trigger.h
const TRIGGER_TYPE = { ROW: 1, BEFORE: 2, INSERT: 4, DELETE: 8, UPDATE: 16, TRUNCATE: 32, INSTEAD: 64 } as const;

async function loadTriggers(db: Queryable, schemas: string[]): Promise<Trigger[]> {
  const res = await db.query<TriggerRow>(
    `SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name, t.tgenabled::text AS enabled,
            t.tgtype::int AS tgtype, pn.nspname AS fn_schema, p.proname AS fn_name, l.lanname AS fn_language,
            coalesce(p.prosrc, '') AS fn_source, p.oid::text AS fn_oid, t.tgqual::text AS when_tree
       FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
       JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
       JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      WHERE NOT t.tgisinternal AND n.nspname = ANY($1::text[])
      ORDER BY n.nspname, c.relname, t.tgname`,
    [schemas],
  );
  return res.rows.map((r) => {
    const events: TriggerEvent[] = [];
    if (r.tgtype & TRIGGER_TYPE.INSERT) events.push('insert');
    if (r.tgtype & TRIGGER_TYPE.UPDATE) events.push('update');
    if (r.tgtype & TRIGGER_TYPE.DELETE) events.push('delete');
    if (r.tgtype & TRIGGER_TYPE.TRUNCATE) events.push('truncate');
    const timing = r.tgtype & TRIGGER_TYPE.INSTEAD ? 'instead of' : r.tgtype & TRIGGER_TYPE.BEFORE ? 'before' : 'after';
    return {
      name: r.name,
      schema: r.schema,
      table: r.table,
      enabled: (['O', 'D', 'R', 'A'].includes(r.enabled) ? r.enabled : 'O') as Trigger['enabled'],
      events,
      timing,
      forEachRow: (r.tgtype & TRIGGER_TYPE.ROW) !== 0,
      functionSchema: r.fn_schema,
      functionName: r.fn_name,
      functionLanguage: r.fn_language,
      functionSource: r.fn_source,
      functionOid: r.fn_oid,
      whenTree: r.when_tree,
    };
  });
}

async function loadJsonTextExtractors(db: Queryable): Promise<JsonTextExtractors> {
  const res = await db.query<{ kind: 'op' | 'fn' | 'path'; oid: string; name: string }>(
    `SELECT 'path' AS kind, o.oid::text AS oid, o.oprname::text AS name FROM pg_catalog.pg_operator o
      WHERE o.oprname IN ('->', '#>')
        AND o.oprleft IN ('pg_catalog.json'::regtype, 'pg_catalog.jsonb'::regtype)
     UNION ALL
     SELECT 'op' AS kind, o.oid::text AS oid, o.oprname::text AS name FROM pg_catalog.pg_operator o
      WHERE o.oprname IN ('->>', '#>>')
        AND o.oprleft IN ('pg_catalog.json'::regtype, 'pg_catalog.jsonb'::regtype)
     UNION ALL
     SELECT 'fn', p.oid::text, p.proname::text FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace
        AND (p.proname IN ('json_extract_path_text', 'jsonb_extract_path_text')
             OR p.oid IN (SELECT o.oprcode FROM pg_catalog.pg_operator o
                           WHERE o.oprname IN ('->>', '#>>')
                             AND o.oprleft IN ('pg_catalog.json'::regtype, 'pg_catalog.jsonb'::regtype)))`,
  );
  const operators = new Map<string, string>();
  const functions = new Map<string, string>();
  const pathOperators = new Map<string, string>();
  for (const r of res.rows) (r.kind === 'op' ? operators : r.kind === 'fn' ? functions : pathOperators).set(r.oid, r.name);
  return { operators, functions, pathOperators };
}

const tableIndexes = new WeakMap<Catalog, Map<string, Table>>();

/**
 * A table or partition by schema and name, through an index built once per catalog (checks look up every
 * foreign key's ends, and a foreign key may be declared on a partition alone).
 */
export function findTable(catalog: Catalog, schema: string, name: string): Table | undefined {
  let index = tableIndexes.get(catalog);
  if (!index) {
    index = new Map([...catalog.tables, ...catalog.partitions].map((t) => [tableKey(t.schema, t.name), t]));
    tableIndexes.set(catalog, index);
  }
  return index.get(tableKey(schema, name));
}

export function tablesNamed(catalog: Catalog, name: string): Table[] {
  return catalog.tables.filter((t) => t.name === name);
}

export function findColumn(table: Table, name: string): Column | undefined {
  return table.columns.find((c) => c.name === name);
}

export type TableLookup =
  | { status: 'found'; table: Table }
  | { status: 'missing'; reason: string }
  | { status: 'ambiguous'; reason: string; candidates: Table[] };

/**
 * Finds a table by name, in the given schema or else in any audited schema. `preferSchemas` breaks
 * ties (e.g. the schema of a related table).
 */
export function locateTable(catalog: Catalog, ref: { schema?: string | undefined; table: string }, preferSchemas: string[] = []): TableLookup {
  if (ref.schema !== undefined) {
    const t = findTable(catalog, ref.schema, ref.table);
    if (t) return { status: 'found', table: t };
    return {
      status: 'missing',
      reason: catalog.schemas.includes(ref.schema)
        ? `no table ${ref.schema}.${ref.table}`
        : `schema ${ref.schema} is not audited (see --schema)`,
    };
  }
  const named = tablesNamed(catalog, ref.table);
  if (named.length === 1) return { status: 'found', table: named[0] as Table };
  if (named.length === 0) return { status: 'missing', reason: `no table named ${ref.table} in the audited schemas` };
  for (const schema of preferSchemas) {
    const t = named.find((n) => n.schema === schema);
    if (t) return { status: 'found', table: t };
  }
  return {
    status: 'ambiguous',
    reason: `${named.length} tables are named ${ref.table} (${named.map((t) => t.schema).join(', ')}); name the schema`,
    candidates: named,
  };
}

export interface RowSecurityEntry {
  schema: string;
  table: string;
  forced: boolean;
  readableWhole: boolean;
}

/** The audited tables (and partitions) with row-level security enabled, and whether this role reads each whole. */
export function rowSecurityTables(catalog: Catalog): RowSecurityEntry[] {
  return [...catalog.tables, ...catalog.partitions]
    .filter((t) => t.rowSecurity.enabled)
    .map((t) => ({ schema: t.schema, table: t.name, forced: t.rowSecurity.forced, readableWhole: t.rowSecurity.readableWhole }))
    .sort((a, b) => a.schema.localeCompare(b.schema) || a.table.localeCompare(b.table));
}

/** One line for people: which tables have RLS, and which of them the role cannot read whole (with the remedy). */
export function describeRowSecurity(entries: RowSecurityEntry[], role: string): string {
  if (entries.length === 0) return 'row-level security: no audited table has it enabled';
  const name = (e: RowSecurityEntry) => `${JSON.stringify(`${e.schema}.${e.table}`)}${e.forced ? ' (FORCE)' : ''}`;
  const blocked = entries.filter((e) => !e.readableWhole);
  const head = `row-level security: enabled on ${entries.length} table${entries.length === 1 ? '' : 's'} (${entries.map(name).join(', ')})`;
  return blocked.length === 0
    ? `${head}; role ${role} reads all of them whole`
    : `${head}; role ${role} cannot read ${blocked.length} of them whole (${blocked.map(name).join(', ')}): checks that need them will be errors. Audit as a role with BYPASSRLS, or as the owner of tables without FORCE`;
}

const INDEXES_BY_TABLE = new WeakMap<Catalog, Map<string, Index[]>>();

/** The indexes of one table, from a map built once per catalog (a schema may hold tens of thousands). */
export function indexesOf(catalog: Catalog, table: { schema: string; name: string }): Index[] {
  let byTable = INDEXES_BY_TABLE.get(catalog);
  if (!byTable) {
    byTable = new Map();
    for (const ix of catalog.indexes) {
      const key = tableKey(ix.schema, ix.table);
      const list = byTable.get(key);
      if (list) list.push(ix);
      else byTable.set(key, [ix]);
    }
    INDEXES_BY_TABLE.set(catalog, byTable);
  }
  return byTable.get(tableKey(table.schema, table.name)) ?? [];
}

/**
 * A valid, non-partial btree index of the table whose first key columns are `columns`, in that order,
 * each with its type's default operator class and order and the column's collation (see Index.keyPlain):
 * one the planner can read in key order, or probe for a value, to answer a question about them. The
 * smallest such index, since a scan of it reads every page. Undefined when there is none.
 */
export function btreeIndexLeading(catalog: Catalog, table: { schema: string; name: string }, columns: readonly string[]): Index | undefined {
  return indexesOf(catalog, table)
    .filter(
      (ix) =>
        ix.method === 'btree' &&
        ix.valid &&
        ix.predicateTree === null &&
        columns.length > 0 &&
        columns.every((c, i) => ix.keyColumns[i] === c && ix.keyPlain[i] === true),
    )
    .sort((a, b) => a.pages - b.pages)[0];
}

/**
 * Whether an index-only scan of the table would rarely visit its heap: at least `share` of its pages were
 * all-visible at the last VACUUM. A partitioned table has no pages of its own and never is.
 */
export function mostlyAllVisible(table: Table, share = 0.9): boolean {
  return table.kind === 'table' && table.pages > 0 && table.allVisiblePages >= share * table.pages;
}
