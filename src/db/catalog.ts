import type { Queryable } from './session.js';
import { constText, parseNodeTree, walkNodes } from './node-tree.js';

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
}

export interface Table {
  schema: string;
  name: string;
  kind: 'table' | 'partitioned table';
  estimatedRows: number;
  columns: Column[];
  primaryKey: string[] | null;
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
  validated: boolean;
  enforced: boolean;
  matchType: MatchType;
  onDelete: ReferentialAction;
  /** Tables on which internal RI triggers of this constraint are disabled (child: inserts unchecked; parent: deletes). */
  disabledTriggers: { schema: string; table: string }[];
}

export interface CheckConstraint {
  name: string;
  schema: string;
  table: string;
  definition: string;
  tree: string;
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
}

export interface Catalog {
  serverVersion: string;
  serverVersionNum: number;
  /** The audited schemas. */
  schemas: string[];
  /** Every user schema in the database, audited or not. */
  existingSchemas: string[];
  tables: Table[];
  /** Partitions: not scanned (their parent is), but their own indexes and CHECK constraints are examined. */
  partitions: Table[];
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

  const [{ tables, partitions }, constraints, indexes, triggers, extractors] = [
    await loadTables(db, schemas),
    await loadConstraints(db, schemas, serverVersionNum),
    await loadIndexes(db, schemas),
    await loadTriggers(db, schemas),
    await loadJsonTextExtractors(db),
  ];

  const primaryKeys = new Map<string, string[]>();
  for (const c of constraints.primaryKeys) primaryKeys.set(tableKey(c.schema, c.table), c.columns);
  for (const t of tables) t.primaryKey = primaryKeys.get(tableKey(t.schema, t.name)) ?? null;

  return {
    serverVersion,
    serverVersionNum,
    schemas,
    existingSchemas,
    tables,
    partitions,
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
}

/** Tables and partitioned tables; partitions come apart, since their rows are read through their parent. */
async function loadTables(db: Queryable, schemas: string[]): Promise<{ tables: Table[]; partitions: Table[] }> {
  const res = await db.query<ColumnRow>(
    `SELECT n.nspname AS schema, c.relname AS table, c.relkind::text AS relkind,
            greatest(c.reltuples, 0)::float8 AS est_rows,
            a.attnum::int AS attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
            coalesce(bt.typname, t.typname)::text AS base_type, a.attnotnull,
            d.adbin::text AS default_tree,
            a.attgenerated::text AS attgenerated, a.attidentity::text AS attidentity, c.relispartition AS is_partition,
            coalesce(coll.collisdeterministic, true) AS deterministic
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
       LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
       LEFT JOIN pg_catalog.pg_collation coll ON coll.oid = a.attcollation
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname = ANY($1::text[])
        AND ${NOT_EXTENSION_MEMBER('c')}
      ORDER BY n.nspname, c.relname, a.attnum`,
    [schemas],
  );
  const tables: Table[] = [];
  const partitions: Table[] = [];
  let current: Table | undefined;
  for (const r of res.rows) {
    if (!current || current.schema !== r.schema || current.name !== r.table) {
      current = {
        schema: r.schema,
        name: r.table,
        kind: r.relkind === 'p' ? 'partitioned table' : 'table',
        estimatedRows: Number(r.est_rows),
        columns: [],
        primaryKey: null,
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
    });
  }
  return { tables, partitions };
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
  columns: string[];
  ref_schema: string | null;
  ref_table: string | null;
  ref_columns: string[] | null;
  definition: string;
  tree: string | null;
  disabled_triggers: string[];
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
            con.confmatchtype::text AS matchtype, con.confdeltype::text AS deltype,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS columns,
            rn.nspname AS ref_schema, rc.relname AS ref_table,
            CASE WHEN con.contype = 'f' THEN
              ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                     ORDER BY k.ord) END AS ref_columns,
            -- Deparsing is the costly part of this query; only CHECK constraints need their text.
            CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_constraintdef(con.oid, true) END AS definition,
            con.conbin::text AS tree,
            coalesce(d.tables, '{}'::text[]) AS disabled_triggers
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
       LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
       LEFT JOIN disabled d ON d.root = con.oid
      WHERE con.contype IN ('p', 'u', 'f', 'c')
        AND c.relkind IN ('r', 'p')
        AND (NOT c.relispartition OR (con.contype = 'c' AND con.conislocal))
        AND con.conparentid = 0
        -- foreign keys that point into the audited schemas from anywhere: a repair must see every cascade
        AND (n.nspname = ANY($1::text[]) OR (con.contype = 'f' AND rn.nspname = ANY($1::text[])))
        AND ${NOT_EXTENSION_MEMBER('c')}
      ORDER BY n.nspname, c.relname, con.conname`,
    [schemas],
  );
  const primaryKeys: UniqueConstraint[] = [];
  const unique: UniqueConstraint[] = [];
  const foreignKeys: ForeignKey[] = [];
  const checks: CheckConstraint[] = [];
  for (const r of res.rows) {
    if (r.contype === 'p' || r.contype === 'u') {
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
        validated: r.validated,
        enforced: r.enforced,
        matchType: MATCH_TYPES[r.matchtype] ?? 'simple',
        onDelete: ACTIONS[r.deltype] ?? 'no action',
        disabledTriggers: r.disabled_triggers
          .map((t) => JSON.parse(t) as { schema: string; table: string })
          .sort((a, b) => a.schema.localeCompare(b.schema) || a.table.localeCompare(b.table)),
      });
    } else if (r.contype === 'c' && r.tree) {
      checks.push({ name: r.name, schema: r.schema, table: r.table, definition: r.definition, tree: r.tree });
    }
  }
  return { primaryKeys, unique: [...primaryKeys, ...unique], foreignKeys, checks };
}

interface IndexRow {
  schema: string;
  table: string;
  name: string;
  method: string;
  unique: boolean;
  exprs: string | null;
  pred: string | null;
}

async function loadIndexes(db: Queryable, schemas: string[]): Promise<Index[]> {
  const res = await db.query<IndexRow>(
    `SELECT n.nspname AS schema, c.relname AS table, i.relname AS name,
            am.amname AS method,
            x.indisunique AS unique, x.indexprs::text AS exprs, x.indpred::text AS pred
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
}

// pg_trigger.tgtype bits, from src/include/catalog/pg_trigger.h
const TRIGGER_TYPE = { ROW: 1, BEFORE: 2, INSERT: 4, DELETE: 8, UPDATE: 16, TRUNCATE: 32, INSTEAD: 64 } as const;

async function loadTriggers(db: Queryable, schemas: string[]): Promise<Trigger[]> {
  const res = await db.query<TriggerRow>(
    `SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name, t.tgenabled::text AS enabled,
            t.tgtype::int AS tgtype, pn.nspname AS fn_schema, p.proname AS fn_name, l.lanname AS fn_language,
            coalesce(p.prosrc, '') AS fn_source
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

/** A table by schema and name, through an index built once per catalog (checks look up every foreign key's ends). */
export function findTable(catalog: Catalog, schema: string, name: string): Table | undefined {
  let index = tableIndexes.get(catalog);
  if (!index) {
    index = new Map(catalog.tables.map((t) => [tableKey(t.schema, t.name), t]));
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
