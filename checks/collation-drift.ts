import {
  defineCheck,
  displayName,
  quoteIdent,
  quoteLiteral,
  qualifiedName,
  relationOidLiteral,
  z,
  type CheckContext,
  type Finding,
  type FindingObject,
  type Queryable,
  type Repair,
  type RepairStep,
} from '../src/index.js';
import { TYPE_STEPS } from './support/expression-judge.js';

const DEFAULT_BUDGET_MS = 10 * 60 * 1000;

const options = z.strictObject({
  amcheckBudgetMs: z
    .number()
    .int()
    .min(0)
    .default(DEFAULT_BUDGET_MS)
    .describe(
      'with --amcheck: no further bt_index_check is started once this many milliseconds have gone since the first (the ones running finish); the indexes left are named as not checked. Default 600000 (10 minutes)',
    ),
});
type Options = z.infer<typeof options>;

/** pg_collation's OID of the `default` collation: the database's own (datcollate, or its ICU locale). */
const DEFAULT_COLLATION = '100';
/** Objects PostgreSQL creates at initdb have OIDs below this (FirstNormalObjectId); a user's or an extension's are above. */
const FIRST_NORMAL_OID = 16384;

/**
 * A collation (or the database's default) whose recorded version does not vouch for the order its indexes
 * were built in: it differs from what the server's library gives now (drift), or none is recorded while
 * the library gives one (`unrecorded`).
 */
interface Drift {
  oid: string;
  schema: string;
  name: string;
  /** Null exactly when `unrecorded`. */
  recorded: string | null;
  /** Null when the library gives no version any more (PostgreSQL then refuses to use the collation). */
  actual: string | null;
  /**
   * No version recorded (collversion / datcollversion NULL) although the provider versions this locale:
   * PostgreSQL then compares nothing and never warns, so a library change since the indexes were built
   * can be neither seen nor ruled out. C, POSIX, C.UTF-8 of libc give no version (their order is the
   * bytes'), and the builtin provider's order is fixed by PostgreSQL itself: none of them is unrecorded.
   */
  unrecorded: boolean;
}

interface DatabaseDrift {
  name: string;
  provider: string;
  recorded: string | null;
  actual: string | null;
  unrecorded: boolean;
}

interface KeyOnDrift {
  position: number;
  /** Null for an expression key. */
  column: string | null;
  collation: string;
}

interface IndexRow {
  oid: string;
  schema: string;
  table: string;
  index: string;
  unique: boolean;
  valid: boolean;
  unlogged: boolean;
  pages: number;
  parent_schema: string | null;
  parent_name: string | null;
  constraint: string | null;
  contype: string | null;
  extension_member: boolean;
  user_code: boolean;
  /** What bt_index_check would compare keys with that is not pg_catalog's own (see FOREIGN_COMPARISON); empty when all is. */
  foreign: ForeignPart[];
  keys: KeyOnDrift[];
}

interface ForeignPart {
  kind: 'type' | 'operator class';
  schema: string;
  name: string;
}

interface PartitionKeyRow {
  schema: string;
  table: string;
  keys: KeyOnDrift[];
}

/** What bt_index_check said of one index. */
type AmcheckResult = { status: 'passed' } | { status: 'corrupt'; message: string } | { status: 'not checked'; reason: string };

const SYSTEM_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
        AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;

/** The key columns of an index (pg_index.indcollation has one entry per key column, not INCLUDE ones) under these collations. */
const KEYS_ON = (vector: string, attrs: string, rel: string) => `(SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'position', k.pos, 'column', a.attname, 'collation', k.coll::pg_catalog.text) ORDER BY k.pos)
          FROM pg_catalog.unnest(${vector}::pg_catalog.oid[]) WITH ORDINALITY AS k(coll, pos)
          LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = ${rel} AND a.attnum > 0
               AND a.attnum = ${attrs}[(k.pos - 1)::pg_catalog.int4]
         WHERE k.coll = ANY ($1::pg_catalog.oid[]))`;

/**
 * The parts of index `i` (pg_index `x`) whose comparison is not PostgreSQL's own, as a jsonb array (null
 * when there is none). bt_index_check compares keys with their operator class's support functions, and
 * a container's comparison (array_cmp, record_cmp, range_cmp) calls its elements' own: an index on a
 * mytext[] column uses pg_catalog's array_ops, yet bt_index_check would call mytext's comparison, and
 * pg_depend does not say so (an index depends on its operator classes and expressions, not on its
 * columns' types). So the types are followed from each key (and, when there are expressions or a
 * predicate, which heapallindexed evaluates, from every column they read) through domains (to the base
 * type: comparisons never run a domain's CHECK), true arrays (to the element: an array type is its
 * element's typarray), composites (to each attribute's type) and ranges (to the subtype, compared by
 * its rngsubopc); a base type that is not pg_catalog's (OID from FirstNormalObjectId on: a user's or an
 * extension's, citext's included) has comparison and I/O of its own. Each operator class reached (the
 * keys', the ranges', the reached base types' default btree ones) must be pg_catalog's, in a
 * pg_catalog family whose same-type support functions are all pg_catalog's (a superuser can ALTER
 * OPERATOR FAMILY ... ADD FUNCTION to one).
 */
const FOREIGN_COMPARISON = `(WITH RECURSIVE reach(typ) AS (
            SELECT ia.atttypid FROM pg_catalog.pg_attribute ia
             WHERE ia.attrelid = i.oid AND ia.attnum > 0 AND ia.attnum <= x.indnkeyatts
            UNION
            SELECT ta.atttypid FROM pg_catalog.pg_depend cd
              JOIN pg_catalog.pg_attribute ta ON ta.attrelid = cd.refobjid AND ta.attnum = cd.refobjsubid
             WHERE (x.indexprs IS NOT NULL OR x.indpred IS NOT NULL)
               AND cd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND cd.objid = i.oid
               AND cd.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND cd.refobjsubid > 0
            UNION
            SELECT nx.typ FROM reach r
              JOIN pg_catalog.pg_type rt ON rt.oid = r.typ
             ${TYPE_STEPS}
          ),
          classes(opc) AS (
            SELECT kc.opc FROM pg_catalog.unnest(x.indclass::pg_catalog.oid[]) AS kc(opc)
            UNION
            SELECT rg.rngsubopc FROM reach r JOIN pg_catalog.pg_range rg ON rg.rngtypid = r.typ
            UNION
            SELECT dc.oid FROM reach r JOIN pg_catalog.pg_opclass dc
                ON dc.opcintype = r.typ AND dc.opcdefault AND dc.opcmethod = (SELECT oid FROM pg_catalog.pg_am WHERE amname = 'btree')
          ),
          foreign_parts(kind, schema, name) AS (
            SELECT 'type', tn.nspname, ft.typname
              FROM reach r
              JOIN pg_catalog.pg_type ft ON ft.oid = r.typ
              JOIN pg_catalog.pg_namespace tn ON tn.oid = ft.typnamespace
             WHERE ft.typtype = 'b' AND ft.oid >= ${FIRST_NORMAL_OID}::pg_catalog.oid
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = ft.typelem AND el.typarray = ft.oid)
            UNION
            SELECT 'operator class', cn.nspname, oc.opcname
              FROM classes c
              JOIN pg_catalog.pg_opclass oc ON oc.oid = c.opc
              JOIN pg_catalog.pg_namespace cn ON cn.oid = oc.opcnamespace
             WHERE oc.oid >= ${FIRST_NORMAL_OID}::pg_catalog.oid OR oc.opcfamily >= ${FIRST_NORMAL_OID}::pg_catalog.oid
                OR EXISTS (SELECT 1 FROM pg_catalog.pg_amproc ap
                            WHERE ap.amprocfamily = oc.opcfamily AND ap.amproclefttype = oc.opcintype AND ap.amprocrighttype = oc.opcintype
                              AND (ap.oid >= ${FIRST_NORMAL_OID}::pg_catalog.oid OR ap.amproc::pg_catalog.oid >= ${FIRST_NORMAL_OID}::pg_catalog.oid))
          )
          SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', f.kind, 'schema', f.schema, 'name', f.name) ORDER BY f.kind DESC, f.schema, f.name)
            FROM foreign_parts f)`;

/**
 * The collations btree indexes and range partition keys use (anywhere in the database) with a recorded
 * version that moved, or with none recorded where the library gives one (collprovider 'b', builtin, is
 * PostgreSQL 17's; its order never changes).
 */
async function driftedCollations(db: Queryable): Promise<{ drifted: Drift[]; compared: number }> {
  const res = await db.query<Drift & { drifted: boolean }>(
    `WITH used AS (
       SELECT k.coll FROM pg_catalog.pg_index x
         JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
         JOIN pg_catalog.pg_am am ON am.oid = i.relam AND am.amname = 'btree'
        CROSS JOIN LATERAL pg_catalog.unnest(x.indcollation::pg_catalog.oid[]) AS k(coll)
       UNION
       SELECT k.coll FROM pg_catalog.pg_partitioned_table p
        CROSS JOIN LATERAL pg_catalog.unnest(p.partcollation::pg_catalog.oid[]) AS k(coll)
        WHERE p.partstrat = 'r'
     )
     SELECT c.oid::pg_catalog.text AS oid, n.nspname AS schema, c.collname AS name, c.collversion AS recorded,
            v.actual, c.collversion IS NULL AS unrecorded, v.actual IS DISTINCT FROM c.collversion AS drifted
       FROM pg_catalog.pg_collation c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
      CROSS JOIN LATERAL (SELECT pg_catalog.pg_collation_actual_version(c.oid) AS actual) v
      WHERE c.oid IN (SELECT coll FROM used) AND c.oid <> 100
        AND (c.collversion IS NOT NULL OR (v.actual IS NOT NULL AND c.collprovider <> 'b'))
      ORDER BY n.nspname, c.collname`,
  );
  return { drifted: res.rows.filter((r) => r.drifted).map(({ drifted: _d, ...d }) => d), compared: res.rows.filter((r) => !r.unrecorded).length };
}

async function databaseDrift(db: Queryable): Promise<DatabaseDrift | null> {
  // datlocprovider: 'c' libc, 'i' ICU (datcollversion is then ICU's), 'b' builtin (PostgreSQL 17 on).
  // A database created since PostgreSQL 15 records its version (from its template, or the library's);
  // a NULL one where the library gives a version was cleared (an UPDATE that silences PostgreSQL's
  // mismatch warning does this) or never recorded.
  const res = await db.query<DatabaseDrift & { drifted: boolean }>(
    `SELECT d.datname AS name, d.datlocprovider::pg_catalog.text AS provider, d.datcollversion AS recorded, v.actual,
            d.datcollversion IS NULL AS unrecorded,
            CASE WHEN d.datcollversion IS NOT NULL THEN v.actual IS DISTINCT FROM d.datcollversion
                 ELSE v.actual IS NOT NULL AND d.datlocprovider <> 'b' END AS drifted
       FROM pg_catalog.pg_database d
      CROSS JOIN LATERAL (SELECT pg_catalog.pg_database_collation_actual_version(d.oid) AS actual) v
      WHERE d.datname = pg_catalog.current_database()`,
  );
  const row = res.rows[0];
  return row?.drifted ? { name: row.name, provider: row.provider, recorded: row.recorded, actual: row.actual, unrecorded: row.unrecorded } : null;
}

/**
 * Every btree index with storage (partitions' own included; a partitioned table's index has none) whose
 * key columns use one of `collations`, in every user schema: those outside the audited ones are counted
 * for the refresh's decision. `user_code`: the index depends on a function, operator, type, operator
 * class or text search configuration that is not PostgreSQL's own, which bt_index_check would run
 * (expressions, comparisons); `foreign`: what its comparisons reach that pg_depend does not show.
 */
async function indexesOn(db: Queryable, collations: string[]): Promise<IndexRow[]> {
  const res = await db.query<IndexRow>(
    `SELECT i.oid::pg_catalog.text AS oid, n.nspname AS schema, t.relname AS "table", i.relname AS index,
            x.indisunique AS unique, x.indisvalid AS valid, t.relpersistence = 'u' AS unlogged, i.relpages::pg_catalog.float8 AS pages,
            pn.nspname AS parent_schema, pt.relname AS parent_name,
            con.conname AS constraint, con.contype::pg_catalog.text AS contype,
            EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                     WHERE dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.objid = t.oid AND dep.deptype = 'e') AS extension_member,
            EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                     WHERE dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.objid = i.oid
                       AND dep.refobjid >= ${FIRST_NORMAL_OID}::pg_catalog.oid
                       AND dep.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass,
                                              'pg_catalog.pg_type'::pg_catalog.regclass, 'pg_catalog.pg_opclass'::pg_catalog.regclass,
                                              'pg_catalog.pg_opfamily'::pg_catalog.regclass, 'pg_catalog.pg_ts_config'::pg_catalog.regclass,
                                              'pg_catalog.pg_ts_dict'::pg_catalog.regclass)) AS user_code,
            COALESCE(${FOREIGN_COMPARISON}, '[]'::pg_catalog.jsonb) AS foreign,
            ${KEYS_ON('x.indcollation', 'x.indkey', 'x.indrelid')} AS keys
       FROM pg_catalog.pg_index x
       JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid AND i.relkind = 'i'
       JOIN pg_catalog.pg_am am ON am.oid = i.relam AND am.amname = 'btree'
       JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
       LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.oid AND con.conrelid = t.oid AND con.contype IN ('p', 'u', 'x')
       LEFT JOIN pg_catalog.pg_inherits ih ON t.relispartition AND ih.inhrelid = t.oid
       LEFT JOIN pg_catalog.pg_class pt ON pt.oid = ih.inhparent
       LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pt.relnamespace
      WHERE x.indcollation::pg_catalog.oid[] && $1::pg_catalog.oid[]
        AND ${SYSTEM_SCHEMAS}
      ORDER BY n.nspname, t.relname, i.relname`,
    [collations],
  );
  return res.rows;
}

/** Range-partitioned tables of the audited schemas whose partition key sorts under one of `collations`. */
async function rangeKeysOn(db: Queryable, collations: string[], schemas: string[]): Promise<PartitionKeyRow[]> {
  const res = await db.query<PartitionKeyRow>(
    `SELECT n.nspname AS schema, c.relname AS "table", ${KEYS_ON('p.partcollation', 'p.partattrs', 'p.partrelid')} AS keys
       FROM pg_catalog.pg_partitioned_table p
       JOIN pg_catalog.pg_class c ON c.oid = p.partrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE p.partstrat = 'r' AND p.partcollation::pg_catalog.oid[] && $1::pg_catalog.oid[]
        AND n.nspname = ANY ($2::pg_catalog.text[])
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                         WHERE dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.objid = c.oid AND dep.deptype = 'e')
      ORDER BY n.nspname, c.relname`,
    [collations, schemas],
  );
  return res.rows;
}

interface AmcheckFunction {
  schema: string;
  /** bt_index_check(regclass, boolean) may be called by this role. */
  callable: boolean;
  /** bt_index_check(regclass, boolean, boolean), amcheck 1.4 (PostgreSQL 17) on: also looks for duplicates in a unique index. */
  checkunique: boolean;
}

/** bt_index_check (argument type OIDs 2205 regclass, 16 boolean), found as a member of the amcheck extension, and whether this role may call it. */
async function amcheckFunction(db: Queryable): Promise<AmcheckFunction | null> {
  const res = await db.query<AmcheckFunction>(
    `SELECT fn.nspname AS schema,
            pg_catalog.bool_or(p.pronargs = 2 AND v.callable) AS callable, pg_catalog.bool_or(p.pronargs = 3 AND v.callable) AS checkunique
       FROM pg_catalog.pg_extension e
       JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.refobjid = e.oid
            AND d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.deptype = 'e'
       JOIN pg_catalog.pg_proc p ON p.oid = d.objid AND p.proname = 'bt_index_check'
            AND p.proargtypes::pg_catalog.text IN ('2205 16', '2205 16 16')
       JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
      CROSS JOIN LATERAL (SELECT pg_catalog.has_function_privilege(p.oid, 'EXECUTE') AND pg_catalog.has_schema_privilege(fn.oid, 'USAGE') AS callable) v
      WHERE e.extname = 'amcheck'
      GROUP BY fn.nspname`,
  );
  return res.rows[0] ?? null;
}

function versionText(v: string | null): string {
  return v === null ? 'none (the library gives no version)' : JSON.stringify(v);
}

function collationLabel(c: Drift): string {
  return displayName(c.schema, c.name);
}

/** A SQL condition, for a script's guard: the collation's recorded version still differs from the library's. */
function stillDrifted(c: Drift): string {
  return `EXISTS (SELECT 1 FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.collnamespace
           WHERE n.nspname OPERATOR(pg_catalog.=) ${quoteLiteral(c.schema)} AND c.collname OPERATOR(pg_catalog.=) ${quoteLiteral(c.name)}
             AND c.collversion IS DISTINCT FROM pg_catalog.pg_collation_actual_version(c.oid))`;
}

const DATABASE_STILL_DRIFTED = `EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
           AND d.datcollversion IS NOT NULL AND d.datcollversion IS DISTINCT FROM pg_catalog.pg_database_collation_actual_version(d.oid))`;

/** A SQL condition, for a script's guard: the collation still has no recorded version, and the library gives one. */
function stillUnrecorded(c: Drift): string {
  return `EXISTS (SELECT 1 FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.collnamespace
           WHERE n.nspname OPERATOR(pg_catalog.=) ${quoteLiteral(c.schema)} AND c.collname OPERATOR(pg_catalog.=) ${quoteLiteral(c.name)}
             AND c.collversion IS NULL AND pg_catalog.pg_collation_actual_version(c.oid) IS NOT NULL)`;
}

const DATABASE_STILL_UNRECORDED = `EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
           AND d.datcollversion IS NULL AND pg_catalog.pg_database_collation_actual_version(d.oid) IS NOT NULL)`;

/** The guard's condition for `c`: what made it a finding still holds. */
function stillAtRisk(c: Drift): string {
  if (c.oid === DEFAULT_COLLATION) return c.unrecorded ? DATABASE_STILL_UNRECORDED : DATABASE_STILL_DRIFTED;
  return c.unrecorded ? stillUnrecorded(c) : stillDrifted(c);
}

interface Affected {
  row: IndexRow;
  /** The drifted collations its keys use (the database's counts as `pg_catalog.default`). */
  collations: Drift[];
}

function keyLabel(k: KeyOnDrift): string {
  return k.column === null ? `the expression at key position ${k.position}` : displayName(k.column);
}

function reindexRepair(a: Affected): Repair {
  const { row } = a;
  const index = qualifiedName(row.schema, row.index);
  const guard = `SELECT ${relationOidLiteral(row.schema, row.index)} IS NOT NULL AND (${a.collations.map(stillAtRisk).join(' OR ')})`;
  // Without a recorded version nothing says the index is out of order: bt_index_check can tell, and a
  // rebuild is the way to be sure without it.
  const unknown = a.collations.every((c) => c.unrecorded)
    ? "nothing says it is out of order (no version was recorded, see the collation's finding): --amcheck verifies it, and one bt_index_check finds in order needs no rebuild; without that, rebuilding is the way to be sure. "
    : '';
  const uniqueness = row.unique
    ? `it is unique${row.constraint ? ` (it backs constraint ${displayName(row.constraint)})` : ''}: rows that are duplicates under the current order may have slipped in while it was out of order, and then the rebuild fails with 23505 naming the key; resolve those rows first and run it again. `
    : '';
  const lock =
    'REINDEX reads the whole table and writes a new copy of the index (free disk for it), and waits for the transactions that use the table; ';
  if (row.contype === 'x') {
    // PostgreSQL cannot rebuild an exclusion constraint's index concurrently. A plain REINDEX still goes
    // after COMMIT with the others, where a guard can skip it once the version is refreshed.
    const plain = `REINDEX INDEX ${index}`;
    return {
      order: 50,
      summary: `rebuild ${displayName(row.schema, row.index)} in the collation's current order (needs review)`,
      steps: [
        {
          safety: 'review',
          phase: 'concurrent',
          description: `rebuild ${displayName(row.schema, row.index)} (an exclusion constraint's index, which cannot be rebuilt CONCURRENTLY)`,
          decision: `${unknown}${uniqueness}${lock}this one holds an ACCESS EXCLUSIVE lock on the index and blocks writes to the table while it runs: schedule it; it fails with 23P01 if rows that conflict under the current order slipped in`,
          guard,
          sql: `${plain};`,
          statements: [plain],
          verifyStatements: [plain],
        },
      ],
    };
  }
  const step: RepairStep = {
    safety: 'review',
    phase: 'concurrent',
    description: `rebuild ${displayName(row.schema, row.index)} in the collation's current order, without blocking writes`,
    decision: `${unknown}${uniqueness}${lock}a rebuild that fails leaves an invalid index named ${displayName(`${row.index}_ccnew`)} (or _ccnew1, ...) to drop with DROP INDEX CONCURRENTLY before trying again`,
    guard,
    sql: `REINDEX INDEX CONCURRENTLY ${index};`,
    statements: [`REINDEX INDEX CONCURRENTLY ${index}`],
    verifyStatements: [`REINDEX INDEX ${index}`],
  };
  return { order: 50, summary: `rebuild ${displayName(row.schema, row.index)} in the collation's current order (needs review)`, steps: [step] };
}

/** What a refresh (or a first recorded version) declares settled that the script does not settle itself. */
function unsettled(outside: IndexRow[], partitionKeys: PartitionKeyRow[], verb: string): string {
  const elsewhere =
    outside.length > 0
      ? ` ${outside.length} index(es) outside the audited schemas (or on tables an extension owns) use it too and are not rebuilt by this script (${outside
          .slice(0, 5)
          .map((r) => displayName(r.schema, r.index))
          .join(', ')}${outside.length > 5 ? ', ...' : ''}): rebuild them first.`
      : '';
  const ranges =
    partitionKeys.length > 0
      ? ` Range-partitioned ${partitionKeys.map((p) => displayName(p.schema, p.table)).join(', ')} route rows by this order: check that each partition's rows still satisfy its bounds (DETACH and re-ATTACH PARTITION validates them) before ${verb}, since afterwards nothing points at it.`
      : '';
  return `${elsewhere}${ranges}`;
}

function refreshRepair(what: 'collation' | 'database', statement: string, guard: string, label: string, outside: IndexRow[], partitionKeys: PartitionKeyRow[]): Repair {
  return {
    order: 60,
    summary: `record the library's current version for ${label} (after the rebuilds; needs review)`,
    steps: [
      {
        safety: 'review',
        phase: 'concurrent',
        description: `record the current version of ${label}, so PostgreSQL stops warning about it`,
        decision: `only after every rebuild above has succeeded: this records that everything stored in the ${what === 'database' ? "database's default collation" : 'collation'}'s order matches the library now, and no audit or warning will point at it again; it needs ${what === 'database' ? "the database's owner" : "the collation's owner (a superuser for pg_catalog's)"}.${unsettled(outside, partitionKeys, 'refreshing')}`,
        guard: `SELECT ${guard}`,
        sql: `${statement};`,
        statements: [statement],
        verifyStatements: [statement],
      },
    ],
  };
}

/** Records the library's version where none is: PostgreSQL compares (and warns) from then on. */
function recordStatement(d: Drift): string {
  if (d.oid === DEFAULT_COLLATION) {
    return `UPDATE pg_catalog.pg_database SET datcollversion = pg_catalog.pg_database_collation_actual_version(oid)
 WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database() AND datcollversion IS NULL`;
  }
  return `UPDATE pg_catalog.pg_collation SET collversion = pg_catalog.pg_collation_actual_version(oid)
 WHERE collnamespace OPERATOR(pg_catalog.=) (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) ${quoteLiteral(d.schema)})
   AND collname OPERATOR(pg_catalog.=) ${quoteLiteral(d.name)} AND collversion IS NULL`;
}

/**
 * A first recorded version. ALTER DATABASE ... REFRESH COLLATION VERSION and ALTER COLLATION ... REFRESH
 * VERSION refuse to go from no version to one ("invalid collation version change"), so it is the catalog
 * UPDATE initdb itself runs for template1's.
 */
function recordRepair(d: Drift, label: string, outside: IndexRow[], partitionKeys: PartitionKeyRow[]): Repair {
  const statement = recordStatement(d);
  const database = d.oid === DEFAULT_COLLATION;
  const order = database ? "database's default collation" : 'collation';
  return {
    order: 60,
    summary: `record the library's current version for ${label}, which has none (after the listed indexes are verified or rebuilt; needs review)`,
    steps: [
      {
        safety: 'review',
        phase: 'concurrent',
        description: `record the current version of ${label}, so that PostgreSQL (and this audit) sees when the library changes from now on`,
        decision: `only once every index listed under it was found in order by bt_index_check (--amcheck) or rebuilt above: this records that everything stored in the ${order}'s order matches the library now. ${
          database ? 'ALTER DATABASE ... REFRESH COLLATION VERSION' : 'ALTER COLLATION ... REFRESH VERSION'
        } cannot (PostgreSQL refuses to go from no version to one: "invalid collation version change"), so this updates ${database ? 'pg_catalog.pg_database' : 'pg_catalog.pg_collation'} directly, as initdb records template1's version; it needs a superuser.${unsettled(outside, partitionKeys, 'recording it')}`,
        guard: `SELECT ${stillAtRisk(d)}`,
        sql: `${statement};`,
        statements: [statement],
        verifyStatements: [statement],
      },
    ],
  };
}

/** The key's plain columns as the findings' convention has them: `column` for one, `columns` for several, neither for expressions only. */
function keyColumns(keys: KeyOnDrift[]): Pick<FindingObject, 'column' | 'columns'> {
  const columns = keys.flatMap((k) => (k.column === null ? [] : [k.column]));
  return columns.length === 1 ? { column: columns[0] as string } : columns.length > 1 ? { columns } : {};
}

function indexObject(a: Affected): FindingObject {
  return {
    schema: a.row.schema,
    table: a.row.table,
    index: a.row.index,
    ...keyColumns(a.row.keys),
    ...(a.row.constraint ? { constraint: a.row.constraint } : {}),
  };
}

function collationPhrase(cs: Drift[]): string {
  return cs.map((c) => (c.oid === DEFAULT_COLLATION ? "the database's default collation" : `collation ${collationLabel(c)}`)).join(' and ');
}

function indexFinding(ctx: CheckContext<Options>, a: Affected, amcheck: AmcheckResult | null): Finding {
  const { row } = a;
  const name = `btree index ${displayName(row.schema, row.index)} on ${displayName(row.schema, row.table)}`;
  const keys = `its key${row.keys.length > 1 ? 's' : ''} ${row.keys.map(keyLabel).join(', ')}`;
  const moved = a.collations.filter((c) => !c.unrecorded);
  const unrecorded = a.collations.filter((c) => c.unrecorded);
  const under = moved.length > 0
    ? `${collationPhrase(moved)}, whose version changed since the index was built${unrecorded.length > 0 ? ` (and ${collationPhrase(unrecorded)}, which has no recorded version)` : ''}`
    : `${collationPhrase(unrecorded)}, which has no recorded version`;
  const risk = row.unique
    ? `it may be out of order, so lookups can miss rows and it can let duplicates in${row.constraint ? ` (it backs ${row.contype === 'p' ? 'primary key' : row.contype === 'x' ? 'exclusion constraint' : 'unique constraint'} ${displayName(row.constraint)})` : ''}`
    : row.contype === 'x'
      ? `it may be out of order, so lookups can miss rows and exclusion constraint ${displayName(row.constraint ?? '')} can let conflicting rows in`
      : 'it may be out of order, so lookups and range scans can miss rows';
  const corrupt = amcheck?.status === 'corrupt';
  // Only a version that moved says the order changed; with none recorded, a bt_index_check that finds
  // the index in order under the library's current order leaves nothing to rebuild.
  const settled = moved.length === 0 && amcheck?.status === 'passed';
  const verdict =
    amcheck === null
      ? moved.length === 0
        ? '; --amcheck verifies it'
        : ''
      : amcheck.status === 'passed'
        ? settled
          ? ''
          : '; bt_index_check found it in order for now (rows written from here on may still land out of order: rebuild it)'
        : amcheck.status === 'corrupt'
          ? `; bt_index_check reports it corrupt: ${amcheck.message}`
          : `; not verified with bt_index_check: ${amcheck.reason}`;
  const message = corrupt
    ? `${name} is corrupt (${keys} under ${under}): ${(amcheck as { message: string }).message}`
    : settled
      ? `${name} sorts ${keys} under ${under}; bt_index_check found it in order under the library's current order: nothing to rebuild (record the version: see the ${unrecorded.some((c) => c.oid === DEFAULT_COLLATION) ? "database's" : "collation's"} finding)`
      : moved.length > 0
        ? `${name} sorts ${keys} under ${under}: ${risk}${verdict}`
        : `${name} sorts ${keys} under ${under}: whether the library changed since the index was built cannot be told (PostgreSQL does not warn either); if it did, ${risk}${verdict}`;
  return ctx.finding({
    kind: corrupt ? 'corrupt-index' : moved.length > 0 ? 'index' : 'index-unrecorded-version',
    ...(corrupt ? { severity: 'error' as const } : settled ? { severity: 'info' as const } : {}),
    message,
    object: indexObject(a),
    count: null,
    details: {
      keys: row.keys.map((k) => ({ position: k.position, column: k.column, collation: describeCollation(a.collations, k.collation) })),
      collations: a.collations.map((c) => ({ schema: c.schema, name: c.name, recorded: c.recorded, actual: c.actual, ...(c.unrecorded ? { unrecorded: true } : {}) })),
      unique: row.unique,
      ...(row.constraint ? { constraint: row.constraint, constraintType: row.contype === 'p' ? 'primary key' : row.contype === 'x' ? 'exclusion' : 'unique' } : {}),
      ...(row.parent_schema !== null && row.parent_name !== null ? { partitionOf: { schema: row.parent_schema, table: row.parent_name } } : {}),
      ...(row.valid ? {} : { valid: false }),
      amcheck: amcheck === null ? 'not run' : amcheck.status === 'not checked' ? `not checked: ${amcheck.reason}` : amcheck.status,
      ...(amcheck?.status === 'corrupt' ? { amcheckMessage: amcheck.message } : {}),
    },
    ...(settled ? {} : { repair: async () => reindexRepair(a) }),
  });
}

function describeCollation(collations: Drift[], oid: string): string {
  const c = collations.find((x) => x.oid === oid);
  return c ? displayName(c.schema, c.name) : oid;
}

/** The error of a failed bt_index_check that means the index is corrupt (XX002 index_corrupted), as opposed to one that could not run. */
function corruption(err: unknown): string | null {
  const e = err as { code?: unknown; message?: unknown };
  return e && e.code === 'XX002' && typeof e.message === 'string' ? e.message.split('\n')[0] ?? e.message : null;
}

/**
 * bt_index_check on each index, one ctx.each item per index (each in its own savepoint): a corrupt
 * index's error (XX002) is the answer for that item and becomes a finding; any other error is that
 * index's object error. Indexes whose turn comes after the budget is spent are not started.
 */
async function runAmcheck(ctx: CheckContext<Options>, fn: AmcheckFunction, affected: Affected[]): Promise<Map<string, AmcheckResult>> {
  const standby = ctx.catalog.inRecovery;
  const out = new Map<string, AmcheckResult>();
  const budget = ctx.options.amcheckBudgetMs;
  const call = (unique: boolean) =>
    `SELECT ${quoteIdent(fn.schema)}.bt_index_check($1::pg_catalog.oid::pg_catalog.regclass, true${unique && fn.checkunique ? ', true' : ''}) IS NULL AS done`;
  const runnable: Affected[] = [];
  for (const a of affected) {
    if (!a.row.valid) out.set(a.row.oid, { status: 'not checked', reason: 'the index is not valid (a failed CREATE INDEX CONCURRENTLY or REINDEX)' });
    else if (standby && a.row.unlogged) out.set(a.row.oid, { status: 'not checked', reason: 'an unlogged table cannot be read on a hot standby (its rows are only on the primary)' });
    else if (a.row.user_code) {
      out.set(a.row.oid, {
        status: 'not checked',
        reason: "it would run code that is not PostgreSQL's own (a function, operator, type, operator class or text search configuration of its keys), which the audit never does",
      });
    } else if (a.row.foreign.length > 0) {
      out.set(a.row.oid, {
        status: 'not checked',
        reason: `its comparison is not PostgreSQL's own: bt_index_check would call that of ${a.row.foreign.map((f) => `${f.kind} ${displayName(f.schema, f.name)}`).join(', ')}, code the audit never runs`,
      });
    } else runnable.push(a);
  }
  const started = performance.now();
  const results = await ctx.each<Affected, AmcheckResult>(
    runnable.map((a) => ({ item: a, weight: a.row.pages, object: displayName(a.row.schema, a.row.index) })),
    async (a, db): Promise<AmcheckResult> => {
      // Looked at when an index's turn comes: one already running is not cut off (--statement-timeout is).
      if (performance.now() - started >= budget) return { status: 'not checked', reason: `the amcheck budget (amcheckBudgetMs ${budget}) was spent before its turn` };
      ctx.progress(displayName(a.row.schema, a.row.index));
      await db.query(call(a.row.unique), [a.row.oid]);
      return { status: 'passed' };
    },
    (err): AmcheckResult | undefined => {
      const message = corruption(err);
      return message === null ? undefined : { status: 'corrupt', message };
    },
  );
  runnable.forEach((a, i) => out.set(a.row.oid, results[i] ?? { status: 'not checked', reason: "bt_index_check failed (see the check's errors)" }));
  return out;
}

/**
 * The finding on a collation (or the database default) with no recorded version: a warning, never an
 * error (nothing says the order changed), carrying the first recorded version as its repair.
 */
function unrecordedFinding(
  ctx: CheckContext<Options>,
  d: Drift,
  database: DatabaseDrift | null,
  mine: Affected[],
  results: Map<string, AmcheckResult> | null,
  theirs: IndexRow[],
  partitionKeys: PartitionKeyRow[],
  depends: string,
): Finding {
  const isDatabase = d.oid === DEFAULT_COLLATION && database !== null;
  const what = isDatabase
    ? `database ${displayName(database.name)}'s default collation (${database.provider === 'i' ? 'ICU' : 'libc'})`
    : `collation ${collationLabel(d)}`;
  const column = isDatabase ? 'pg_database.datcollversion' : 'pg_collation.collversion';
  const passed = results ? mine.filter((a) => results.get(a.row.oid)?.status === 'passed').length : 0;
  const verified = results
    ? `bt_index_check found ${passed} of the ${mine.length} in order under the library's current order${passed < mine.length ? ' (the others are listed with what it said or why it did not run)' : ''}`
    : `--amcheck verifies the indexes with bt_index_check`;
  const label = isDatabase ? `database ${displayName(database.name)}` : `collation ${collationLabel(d)}`;
  return ctx.finding({
    kind: isDatabase ? 'database-unrecorded-version' : 'collation-unrecorded-version',
    message: `${what} has no recorded version (${column} is NULL) while the library gives ${versionText(d.actual)}: PostgreSQL compares nothing and never warns, so whether the library changed since the indexes were built cannot be told; ${depends}; ${verified}; then record the version, so that the next change is seen`,
    object: isDatabase ? { schema: 'pg_catalog', table: 'default' } : { schema: d.schema, table: d.name },
    count: mine.length,
    details: {
      ...(isDatabase ? { database: database.name, provider: database.provider } : { collation: { schema: d.schema, name: d.name } }),
      recorded: null,
      actual: d.actual,
      indexes: mine.map((a) => displayName(a.row.schema, a.row.index)),
      ...(results ? { verifiedInOrder: passed } : {}),
      indexesOutsideAudit: theirs.length,
    },
    repair: async () => recordRepair(d, label, theirs, partitionKeys),
  });
}

export default defineCheck({
  id: 'collation-drift',
  title: 'Collation versions that changed under text indexes',
  severity: 'warning',
  description: 'A collation (or the database default) whose version changed since its btree indexes were built: they may be out of order; --amcheck verifies them.',
  docs: {
    finds:
      "The database's default collation when `pg_database.datcollversion` differs from `pg_database_collation_actual_version()` (the ICU version when the database's locale provider is ICU), and each collation used by a btree index key or a range partition key whose `pg_collation.collversion` differs from `pg_collation_actual_version()` (PostgreSQL 15 or later; older servers are skipped). A collation whose library gives no version (C, POSIX, C.utf8 of libc) never drifts, nor does the builtin provider (PostgreSQL 17 on; its order is PostgreSQL's own); a recorded version the library no longer gives counts as drift. " +
      'A NULL recorded version where the library does give one (ICU; libc with any other locale) is reported too, as unrecorded: PostgreSQL compares nothing then and never warns, so whether the library changed since the indexes were built cannot be told (the usual cause is an UPDATE that cleared it to silence the mismatch warning). Its indexes and range keys are listed like drifted ones, as warnings saying so (kinds index-unrecorded-version, range-partition-key-unrecorded-version); with --amcheck an index bt_index_check finds in order is `info` with nothing to rebuild, one it reports corrupt an `error`; the collation\'s or database\'s own finding (kinds collation-unrecorded-version, database-unrecorded-version) carries the first recorded version. ' +
      'Then one finding per btree index of the audited schemas (partitions\' own indexes included; a partitioned table\'s index has no storage of its own, its partitions\' are listed) with at least one key column or key expression under a drifted collation (`pg_index.indcollation`; the `default` collation when the database\'s version moved): severity warning, naming the key columns, the collation, the recorded and current versions, and, for a unique index or one backing a primary key or unique constraint, that it can let duplicates in. INCLUDE columns are not keys and do not count; an index on the same columns under "C" is not listed. ' +
      'A listed index\'s finding has no count; the collation\'s (object: its schema and name) and the database\'s (object: pg_catalog.default) count the listed indexes that sort by it. ' +
      'One finding per range-partitioned table whose partition key sorts under a drifted collation (rows may sit in a partition whose bounds no longer hold them; list and hash partitioning match keys by equality, which a deterministic collation\'s version does not change, and are not listed), and one per drifted collation (and the database) that something audited depends on, carrying the refresh. ' +
      'With `--amcheck` and the amcheck extension installed, `bt_index_check(index, heapallindexed => true)` runs on exactly the listed indexes (on a hot standby, not those of unlogged tables), spread over the audit\'s connections (read-only, ACCESS SHARE locks, works on a hot standby; each call is held to --statement-timeout): with `checkunique` too for a unique index where amcheck has it (1.4, PostgreSQL 17 on: duplicates that slipped in; older versions check the order only, and the note says so); an index it reports corrupt (XX002) is an `error` of kind corrupt-index with its message, one it passes stays a warning saying so. No new check starts once `amcheckBudgetMs` (default 10 minutes) has gone by; those, invalid indexes, and indexes whose comparison or expressions are not PostgreSQL\'s own (bt_index_check would run that code) are marked not checked in the finding and the note: an expression, operator, operator class or text search configuration that is not pg_catalog\'s, and any type reached from a key (or from a column an expression or predicate reads) through domains, array elements, composite attributes and range subtypes that is a base type not pg_catalog\'s (its comparison is its own: an index on mytext[] or on a composite holding one compares with mytext\'s operator class through array_cmp or record_cmp, though it depends only on pg_catalog\'s array_ops or record_ops) or an operator class not pg_catalog\'s, or a pg_catalog one whose family holds a support function that is not. Without the extension the note says `CREATE EXTENSION amcheck`; without `--amcheck` it says that --amcheck would verify them. ' +
      'Not reported: hash, GiST, GIN and BRIN indexes (a BRIN minmax index on text and a hash index under a nondeterministic collation do depend on the collation: rebuild them by hand), partial-index predicates and CHECK constraints that compare text, and drift in schemas not audited (counted in the refresh\'s decision).',
    why: 'The same class of failure as the incident of an index on `((meta->>\'creditsPer1kTokens\')::int)` that began rejecting writes when the first `1.38` arrived: an index that was correct when written breaks because something outside the migrations changed (there the data, here the libraries). After an operating-system upgrade changes glibc (2.28 reordered most locales) or ICU, PostgreSQL keeps the btree indexes built under the old order. A lookup descends the tree by the new order and misses rows that sit where the old order put them, and a unique index checks only where the new order says a duplicate would be, so duplicates get in; PostgreSQL only logs a WARNING at connection time.',
    fix: 'Rebuild each listed index (`REINDEX INDEX CONCURRENTLY`; an exclusion constraint\'s index only without CONCURRENTLY), then record the new version with `ALTER COLLATION ... REFRESH VERSION` or `ALTER DATABASE ... REFRESH COLLATION VERSION`. Both are review: a rebuild reads the whole table, and a unique one fails with 23505 when duplicates slipped in (resolve them, then rebuild); the refresh declares that nothing stored in the old order remains, so it comes after every rebuild (indexes outside the audited schemas are named in its decision). With no version recorded, the rebuilds are needed only where --amcheck does not find the index in order, and the first version is recorded with a review `UPDATE pg_catalog.pg_database SET datcollversion = pg_catalog.pg_database_collation_actual_version(oid)` (or of `pg_catalog.pg_collation.collversion`), as superuser, since REFRESH refuses to go from no version to one ("invalid collation version change"). The script\'s blocks run only while the version still differs, so running it again changes nothing.',
    bad: `-- built while ICU 72 was installed; the server now links ICU 74
CREATE TABLE customers (email text COLLATE "en-x-icu" UNIQUE);
-- WARNING:  collation "en-x-icu" has version mismatch`,
    good: `REINDEX INDEX CONCURRENTLY customers_email_key;
ALTER COLLATION "en-x-icu" REFRESH VERSION;`,
  },
  options,
  async run(ctx) {
    if (ctx.catalog.serverVersionNum < 150000) {
      return ctx.skip(
        `needs PostgreSQL 15 or later, which records the database's collation version (pg_database.datcollversion); this server is ${ctx.catalog.serverVersion}: run the audit against PostgreSQL 15 or later`,
      );
    }
    const findings: Finding[] = [];
    const { drifted: collations, compared } = await driftedCollations(ctx.db);
    const database = await databaseDrift(ctx.db);
    const drifts: Drift[] = [...collations];
    if (database) drifts.push({ oid: DEFAULT_COLLATION, schema: 'pg_catalog', name: 'default', recorded: database.recorded, actual: database.actual, unrecorded: database.unrecorded });
    if (drifts.length === 0) {
      ctx.note(`the database's default collation and ${compared} versioned collation(s) used by btree indexes or range partition keys: versions unchanged`);
      return findings;
    }
    const label = (d: Drift) => (d.oid === DEFAULT_COLLATION ? 'the database default' : collationLabel(d));
    const oids = drifts.map((d) => d.oid);
    const audited = new Set(ctx.catalog.schemas);
    const rows = await indexesOn(ctx.db, oids);
    const inScope = rows.filter((r) => audited.has(r.schema) && !r.extension_member);
    const outside = rows.filter((r) => !inScope.includes(r));
    const ranges = await rangeKeysOn(ctx.db, oids, ctx.catalog.schemas);
    const byOid = new Map(drifts.map((d) => [d.oid, d]));
    const affected: Affected[] = inScope.map((row) => ({
      row,
      collations: [...new Set(row.keys.map((k) => k.collation))].flatMap((o) => byOid.get(o) ?? []),
    }));

    const amcheck = ctx.amcheck ? await amcheckFunction(ctx.db) : null;
    let results: Map<string, AmcheckResult> | null = null;
    let amcheckNote: string;
    if (affected.length === 0) amcheckNote = 'no index of the audited schemas is affected';
    else if (!ctx.amcheck) amcheckNote = `--amcheck would verify the ${affected.length} listed index(es) with bt_index_check`;
    else if (!amcheck) amcheckNote = `--amcheck: the amcheck extension is not installed, so the listed indexes were not verified (CREATE EXTENSION amcheck, then audit again)`;
    else if (!amcheck.callable) amcheckNote = `--amcheck: this role may not call ${quoteIdent(amcheck.schema)}.bt_index_check (GRANT EXECUTE on it, and USAGE on its schema), so the listed indexes were not verified`;
    else {
      results = await runAmcheck(ctx, amcheck, affected);
      const counts = { passed: 0, corrupt: 0, notChecked: [] as string[] };
      for (const a of affected) {
        const r = results.get(a.row.oid);
        if (r?.status === 'passed') counts.passed++;
        else if (r?.status === 'corrupt') counts.corrupt++;
        else counts.notChecked.push(displayName(a.row.schema, a.row.index));
      }
      const uniques = affected.some((a) => a.row.unique) && !amcheck.checkunique ? ' (this amcheck has no checkunique: duplicates in unique indexes are not looked for)' : '';
      amcheckNote = `bt_index_check: ${counts.passed} in order, ${counts.corrupt} corrupt${counts.notChecked.length ? `, ${counts.notChecked.length} not checked (${counts.notChecked.join(', ')})` : ''}${uniques}`;
    }
    for (const a of affected) findings.push(indexFinding(ctx, a, results?.get(a.row.oid) ?? (results ? { status: 'not checked', reason: 'not run' } : null)));

    for (const p of ranges) {
      const on = [...new Set(p.keys.map((k) => k.collation))].flatMap((o) => byOid.get(o) ?? []);
      const moved = on.filter((c) => !c.unrecorded);
      const harm = 'rows written before may sit in a partition whose bounds no longer hold them, and queries that prune partitions can miss them';
      findings.push(
        ctx.finding({
          kind: moved.length > 0 ? 'range-partition-key' : 'range-partition-key-unrecorded-version',
          message: `range-partitioned table ${displayName(p.schema, p.table)} routes rows by its partition key ${p.keys.map(keyLabel).join(', ')} under ${
            moved.length > 0
              ? `${collationPhrase(moved)}, whose version changed: ${harm}`
              : `${collationPhrase(on)}, which has no recorded version: whether the library changed since its rows were routed cannot be told; if it did, ${harm}`
          }`,
          object: { schema: p.schema, table: p.table, ...keyColumns(p.keys) },
          count: null,
          details: { keys: p.keys.map((k) => ({ position: k.position, column: k.column, collation: describeCollation(drifts, k.collation) })) },
        }),
      );
    }

    for (const d of drifts) {
      const mine = affected.filter((a) => a.collations.includes(d));
      const partitionKeys = ranges.filter((p) => p.keys.some((k) => k.collation === d.oid));
      const theirs = outside.filter((r) => r.keys.some((k) => k.collation === d.oid));
      if (mine.length === 0 && partitionKeys.length === 0) continue;
      const depends = `${mine.length} btree index(es)${partitionKeys.length ? ` and ${partitionKeys.length} range partition key(s)` : ''} of the audited schemas sort by it`;
      if (d.unrecorded) {
        findings.push(unrecordedFinding(ctx, d, database, mine, results, theirs, partitionKeys, depends));
        continue;
      }
      const change = `version ${versionText(d.recorded)} was recorded, the library now gives ${versionText(d.actual)}`;
      if (d.oid === DEFAULT_COLLATION && database) {
        findings.push(
          ctx.finding({
            kind: 'database',
            message: `database ${displayName(database.name)}'s default collation (${database.provider === 'i' ? 'ICU' : database.provider === 'b' ? 'builtin' : 'libc'}) changed: ${change}; ${depends}`,
            object: { schema: 'pg_catalog', table: 'default' },
            count: mine.length,
            details: { database: database.name, provider: database.provider, recorded: d.recorded, actual: d.actual, indexes: mine.map((a) => displayName(a.row.schema, a.row.index)), indexesOutsideAudit: theirs.length },
            repair: async () =>
              refreshRepair('database', `ALTER DATABASE ${quoteIdent(database.name)} REFRESH COLLATION VERSION`, DATABASE_STILL_DRIFTED, `database ${displayName(database.name)}`, theirs, partitionKeys),
          }),
        );
        continue;
      }
      findings.push(
        ctx.finding({
          kind: 'collation',
          message: `collation ${collationLabel(d)} changed: ${change}; ${depends}`,
          object: { schema: d.schema, table: d.name },
          count: mine.length,
          details: { collation: { schema: d.schema, name: d.name }, recorded: d.recorded, actual: d.actual, indexes: mine.map((a) => displayName(a.row.schema, a.row.index)), indexesOutsideAudit: theirs.length },
          repair: async () => refreshRepair('collation', `ALTER COLLATION ${qualifiedName(d.schema, d.name)} REFRESH VERSION`, stillDrifted(d), `collation ${collationLabel(d)}`, theirs, partitionKeys),
        }),
      );
    }
    const unused = drifts.filter((d) => !affected.some((a) => a.collations.includes(d)) && !ranges.some((p) => p.keys.some((k) => k.collation === d.oid)));
    const moved = drifts.filter((d) => !d.unrecorded);
    const unrecorded = drifts.filter((d) => d.unrecorded);
    ctx.note(
      [
        [
          ...(moved.length ? [`${moved.length} drifted: ${moved.map(label).join(', ')}`] : []),
          ...(unrecorded.length ? [`${unrecorded.length} with no recorded version (the library gives one): ${unrecorded.map(label).join(', ')}`] : []),
        ].join('; ') + `; ${affected.length} btree index(es) of the audited schemas on them`,
        ...(unused.length ? [`${unused.map(label).join(', ')}: nothing audited sorts by it`] : []),
        amcheckNote,
      ].join('; '),
    );
    return findings;
  },
});
