import { scan } from '@libpg-query/parser';
import {
  defineCheck,
  displayName,
  qualifiedName,
  quoteIdent,
  relationOidLiteral,
  z,
  type CheckContext,
  type Finding,
  type FindingObject,
  type Queryable,
  type Repair,
  type RepairStep,
  type Table,
} from '../src/index.js';
import { judgeTrees, typeCodeProblems, type Verdict } from './support/expression-judge.js';

const options = z.strictObject({});
type Ctx = CheckContext<z.infer<typeof options>>;

/** One key column of an invalid index, as the catalog query describes it. */
interface KeyColumn {
  /** The table column, or null for an expression key. */
  column: string | null;
  /** The key's type can be read and printed by pg_catalog's own functions (built-in, an enum, a domain over one). */
  typeOk: boolean;
  typeName: string;
  /** The opclass's input type, to cast to (null when it is a pseudo-type such as anyarray or anyenum). */
  castTo: [string, string] | null;
  /** The opclass's equality operator, `schema.name`; null when the access method has no btree equality. */
  equality: string | null;
  /**
   * That operator (and its function) is pg_catalog's and is the default equality GROUP BY uses for the
   * grouped type (the cast-to type, or the column's, through domains): of the default operator class for
   * that exact type where there is one (PostgreSQL prefers it, an enum's own over enum_ops), else of the
   * one for the key's operator class's input type.
   */
  equalityOk: boolean;
  /** The key's type and the operator class's input type (when not a pseudo-type): the types GROUP BY compares. */
  typeOids: string[];
  collation: [string, string] | null;
}

interface Twin {
  name: string;
  valid: boolean;
  oid: string;
}

interface IndexRow {
  oid: string;
  table_oid: string;
  schema: string;
  table: string;
  table_kind: string;
  name: string;
  index_kind: string;
  method: string;
  unique: boolean;
  ready: boolean;
  live: boolean;
  exclusion: boolean;
  nulls_not_distinct: boolean;
  exprs: string | null;
  pred: string | null;
  constraint: string | null;
  contype: string | null;
  keys: string[];
  twins: string[];
  missing: string[];
  attached: string[];
  foreign_partitions: string[];
}

interface InvalidIndex {
  oid: string;
  tableOid: string;
  schema: string;
  table: string;
  tableKind: 'table' | 'partitioned table' | 'materialized view';
  name: string;
  partitioned: boolean;
  method: string;
  unique: boolean;
  ready: boolean;
  live: boolean;
  exclusion: boolean;
  nullsNotDistinct: boolean;
  exprs: string | null;
  pred: string | null;
  constraint: { name: string; type: string } | null;
  keys: KeyColumn[];
  twins: Twin[];
  /** Partitions (schema, name, relkind) with no index attached to this partitioned index. */
  missing: { schema: string; name: string; kind: string }[];
  /** Attached partition indexes that are themselves invalid. */
  invalidChildren: string[];
  /** Those of them that are partitioned indexes themselves: made valid by attaching, not by a rebuild. */
  invalidPartitionedChildren: string[];
  /** Every attached partition index (schema, name), valid ones first. */
  attached: { schema: string; name: string; valid: boolean }[];
  /** Partitions that are foreign tables: they can have no index, and an index created ON ONLY then never becomes valid. */
  foreignPartitions: string[];
}

interface Progress {
  pid: number;
  relid: string | null;
  indexRelid: string | null;
  command: string | null;
  phase: string | null;
  locked: string[];
}

/** Duplicate keys a unique index would reject: counted, or why they were not. */
type Duplicates = { counted: true; rows: number; keys: number; top: { sample: string; count: number }[] } | { counted: false; reason: string };

/** `<name>_ccnew`, `_ccnew1`, `_ccold`...: what REINDEX CONCURRENTLY names its copies (truncated to 63 bytes). */
const LEFTOVER = /^(.*)_cc(new|old)[0-9]*$/s;

async function loadInvalidIndexes(ctx: Ctx): Promise<InvalidIndex[]> {
  // indnullsnotdistinct is PostgreSQL 15's; before, every unique index treats NULLs as distinct.
  const nnd = (alias: string) => (ctx.catalog.serverVersionNum >= 150000 ? `${alias}.indnullsnotdistinct` : 'false');
  const notExtension = (alias: string) => `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
      WHERE dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.objid = ${alias}.oid AND dep.deptype = 'e')`;
  const sameTrees = (a: string, b: string) =>
    ['indexprs', 'indpred']
      .map(
        (f) => `pg_catalog.regexp_replace(coalesce(${a}.${f}::pg_catalog.text, ''), ':location -?[0-9]+', '', 'g')
              = pg_catalog.regexp_replace(coalesce(${b}.${f}::pg_catalog.text, ''), ':location -?[0-9]+', '', 'g')`,
      )
      .join(' AND ');
  // No pg_get_indexdef()/pg_get_expr() here: they lock the table. Everything is a plain catalog column.
  const res = await ctx.db.query<IndexRow>(
    `SELECT x.indexrelid::pg_catalog.int8::pg_catalog.text AS oid, x.indrelid::pg_catalog.int8::pg_catalog.text AS table_oid,
            n.nspname AS schema, c.relname AS table, c.relkind::pg_catalog.text AS table_kind,
            i.relname AS name, i.relkind::pg_catalog.text AS index_kind, am.amname AS method,
            x.indisunique AS unique, x.indisready AS ready, x.indislive AS live, x.indisexclusion AS exclusion,
            ${nnd('x')} AS nulls_not_distinct, x.indexprs::pg_catalog.text AS exprs, x.indpred::pg_catalog.text AS pred,
            con.conname AS constraint, con.contype::pg_catalog.text AS contype,
            ARRAY(SELECT pg_catalog.json_build_object(
                           'column', a.attname,
                           'typeOk', it.typnamespace = 'pg_catalog'::pg_catalog.regnamespace OR it.typtype = 'e'
                                     OR (it.typtype = 'd' AND EXISTS (SELECT 1 FROM pg_catalog.pg_type bt WHERE bt.oid = it.typbasetype
                                           AND (bt.typnamespace = 'pg_catalog'::pg_catalog.regnamespace OR bt.typtype = 'e'))),
                           'typeName', pg_catalog.format_type(ia.atttypid, ia.atttypmod),
                           'castTo', CASE WHEN ot.typtype <> 'p' AND ot.oid <> ia.atttypid THEN pg_catalog.json_build_array(otn.nspname, ot.typname) END,
                           'equality', CASE WHEN eq.oid IS NOT NULL THEN eqn.nspname || '.' || eq.oprname END,
                           'equalityOk', coalesce(eqn.nspname = 'pg_catalog' AND eqf.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
                                                  AND eq.oid = (SELECT o.amopopr FROM pg_catalog.pg_opclass d
                                                                  JOIN pg_catalog.pg_amop o ON o.amopfamily = d.opcfamily AND o.amoplefttype = d.opcintype
                                                                   AND o.amoprighttype = d.opcintype AND o.amopstrategy = 3
                                                                 WHERE d.opcmethod = i.relam AND d.opcdefault AND d.opcintype IN (gt.oid, oc.opcintype)
                                                                 ORDER BY d.opcintype = gt.oid DESC LIMIT 1), false),
                           'typeOids', pg_catalog.array_remove(ARRAY[ia.atttypid::pg_catalog.text, CASE WHEN ot.typtype <> 'p' THEN ot.oid::pg_catalog.text END], NULL),
                           'collation', CASE WHEN coll.oid IS NOT NULL THEN pg_catalog.json_build_array(colln.nspname, coll.collname) END)::pg_catalog.text
                    FROM pg_catalog.generate_series(0, x.indnkeyatts - 1) AS k
                    JOIN pg_catalog.pg_attribute ia ON ia.attrelid = x.indexrelid AND ia.attnum = k + 1
                    JOIN pg_catalog.pg_type it ON it.oid = ia.atttypid
                    LEFT JOIN pg_catalog.pg_attribute a ON x.indkey[k] <> 0 AND a.attrelid = x.indrelid AND a.attnum = x.indkey[k]
                    LEFT JOIN pg_catalog.pg_opclass oc ON oc.oid = x.indclass[k]
                    LEFT JOIN pg_catalog.pg_type ot ON ot.oid = oc.opcintype
                    LEFT JOIN pg_catalog.pg_namespace otn ON otn.oid = ot.typnamespace
                    -- The type GROUP BY groups: the one cast to, else the key's own through its domains.
                    CROSS JOIN LATERAL (
                      WITH RECURSIVE b(t, depth) AS (
                        SELECT ia.atttypid, 0
                        UNION ALL
                        SELECT bt.typbasetype, b.depth + 1 FROM b JOIN pg_catalog.pg_type bt ON bt.oid = b.t AND bt.typtype = 'd'
                      )
                      SELECT CASE WHEN ot.typtype <> 'p' THEN ot.oid ELSE (SELECT b.t FROM b ORDER BY b.depth DESC LIMIT 1) END AS oid
                    ) AS gt
                    LEFT JOIN pg_catalog.pg_amop eqa ON am.amname = 'btree' AND eqa.amopfamily = oc.opcfamily AND eqa.amoplefttype = oc.opcintype
                         AND eqa.amoprighttype = oc.opcintype AND eqa.amopstrategy = 3
                    LEFT JOIN pg_catalog.pg_operator eq ON eq.oid = eqa.amopopr
                    LEFT JOIN pg_catalog.pg_namespace eqn ON eqn.oid = eq.oprnamespace
                    LEFT JOIN pg_catalog.pg_proc eqf ON eqf.oid = eq.oprcode
                    LEFT JOIN pg_catalog.pg_collation coll ON coll.oid = x.indcollation[k] AND x.indcollation[k] <> 0
                    LEFT JOIN pg_catalog.pg_namespace colln ON colln.oid = coll.collnamespace
                   ORDER BY k) AS keys,
            ARRAY(SELECT pg_catalog.json_build_array(ti.relname, tx.indisvalid, tx.indexrelid::pg_catalog.int8::pg_catalog.text)::pg_catalog.text
                    FROM pg_catalog.pg_index tx JOIN pg_catalog.pg_class ti ON ti.oid = tx.indexrelid
                   WHERE i.relname::pg_catalog.text ~ '_cc(new|old)[0-9]*$'
                     AND tx.indrelid = x.indrelid AND tx.indexrelid <> x.indexrelid AND ti.relam = i.relam
                     AND tx.indisunique = x.indisunique AND tx.indnatts = x.indnatts AND tx.indnkeyatts = x.indnkeyatts
                     -- NULLS NOT DISTINCT and an exclusion constraint's index are other definitions: REINDEX CONCURRENTLY keeps both.
                     AND ${nnd('tx')} = ${nnd('x')} AND tx.indisexclusion = x.indisexclusion
                     AND tx.indkey::pg_catalog.text = x.indkey::pg_catalog.text AND tx.indclass::pg_catalog.text = x.indclass::pg_catalog.text
                     AND tx.indcollation::pg_catalog.text = x.indcollation::pg_catalog.text AND tx.indoption::pg_catalog.text = x.indoption::pg_catalog.text
                     AND ${sameTrees('tx', 'x')}
                   ORDER BY ti.relname) AS twins,
            ARRAY(SELECT pg_catalog.json_build_array(pn.nspname, pc.relname, pc.relkind::pg_catalog.text)::pg_catalog.text
                    FROM pg_catalog.pg_inherits ih
                    JOIN pg_catalog.pg_class pc ON pc.oid = ih.inhrelid
                    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                   WHERE i.relkind = 'I' AND ih.inhparent = x.indrelid AND pc.relkind <> 'f'
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits ii JOIN pg_catalog.pg_index cx ON cx.indexrelid = ii.inhrelid
                                      WHERE ii.inhparent = x.indexrelid AND cx.indrelid = pc.oid)
                   ORDER BY pn.nspname, pc.relname) AS missing,
            ARRAY(SELECT pg_catalog.json_build_array(cn.nspname, ci.relname, cx.indisvalid, ci.relkind = 'I')::pg_catalog.text
                    FROM pg_catalog.pg_inherits ii
                    JOIN pg_catalog.pg_index cx ON cx.indexrelid = ii.inhrelid
                    JOIN pg_catalog.pg_class ci ON ci.oid = cx.indexrelid
                    JOIN pg_catalog.pg_namespace cn ON cn.oid = ci.relnamespace
                   WHERE i.relkind = 'I' AND ii.inhparent = x.indexrelid
                   ORDER BY NOT cx.indisvalid, cn.nspname, ci.relname) AS attached,
            ARRAY(SELECT pg_catalog.json_build_array(pn.nspname, pc.relname)::pg_catalog.text
                    FROM pg_catalog.pg_inherits ih
                    JOIN pg_catalog.pg_class pc ON pc.oid = ih.inhrelid
                    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                   WHERE i.relkind = 'I' AND ih.inhparent = x.indrelid AND pc.relkind = 'f'
                   ORDER BY pn.nspname, pc.relname) AS foreign_partitions
       FROM pg_catalog.pg_index x
       JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
       JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_am am ON am.oid = i.relam
       LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')
      WHERE NOT x.indisvalid
        AND c.relkind IN ('r', 'p', 'm')
        AND n.nspname = ANY ($1::pg_catalog.text[])
        AND ${notExtension('c')} AND ${notExtension('i')}
      ORDER BY n.nspname, c.relname, i.relname`,
    [ctx.catalog.schemas],
  );
  return res.rows.map(toInvalidIndex);
}

function toInvalidIndex(r: IndexRow): InvalidIndex {
  return {
    oid: r.oid,
    tableOid: r.table_oid,
    schema: r.schema,
    table: r.table,
    tableKind: r.table_kind === 'p' ? 'partitioned table' : r.table_kind === 'm' ? 'materialized view' : 'table',
    name: r.name,
    partitioned: r.index_kind === 'I',
    method: r.method,
    unique: r.unique,
    ready: r.ready,
    live: r.live,
    exclusion: r.exclusion,
    nullsNotDistinct: r.nulls_not_distinct,
    exprs: r.exprs,
    pred: r.pred,
    constraint: r.constraint && r.contype ? { name: r.constraint, type: r.contype } : null,
    keys: r.keys.map((k) => JSON.parse(k) as KeyColumn),
    twins: r.twins.map((t) => {
      const [name, valid, oid] = JSON.parse(t) as [string, boolean, string];
      return { name, valid, oid };
    }),
    missing: r.missing.map((m) => {
      const [schema, name, kind] = JSON.parse(m) as [string, string, string];
      return { schema, name, kind };
    }),
    ...children(r.attached),
    foreignPartitions: r.foreign_partitions.map((f) => {
      const [schema, name] = JSON.parse(f) as [string, string];
      return displayName(schema, name);
    }),
  };
}

function children(rows: string[]): Pick<InvalidIndex, 'attached' | 'invalidChildren' | 'invalidPartitionedChildren'> {
  const parsed = rows.map((c) => {
    const [schema, name, valid, partitioned] = JSON.parse(c) as [string, string, boolean, boolean];
    return { schema, name, valid, partitioned };
  });
  const invalid = parsed.filter((c) => !c.valid);
  return {
    attached: parsed.map(({ schema, name, valid }) => ({ schema, name, valid })),
    invalidChildren: invalid.map((c) => displayName(c.schema, c.name)),
    invalidPartitionedChildren: invalid.filter((c) => c.partitioned).map((c) => displayName(c.schema, c.name)),
  };
}

/**
 * What makes the invalid attached indexes valid, by their own findings: a rebuild for a plain one, for a
 * partitioned one what makes a partitioned index valid (its missing partition indexes built and attached,
 * or one attached again); PostgreSQL then marks its parent valid too, when every partition has a valid one.
 */
function childrenRepair(index: InvalidIndex): string {
  const partitioned = index.invalidPartitionedChildren;
  const plain = index.invalidChildren.filter((c) => !partitioned.includes(c));
  const parts = [
    ...(plain.length ? [`${plain.join(', ')} rebuilt`] : []),
    ...(partitioned.length ? [`${partitioned.join(', ')} (partitioned) made valid by attaching partition indexes to ${partitioned.length === 1 ? 'it' : 'them'} (built where missing, or one attached again), not by a rebuild`] : []),
  ];
  return parts.join(', and ');
}

/**
 * Index builds running now in this database (CREATE INDEX [CONCURRENTLY], REINDEX [CONCURRENTLY]), with
 * the relations each backend holds locks on: a role that may not see another role's progress row gets it
 * with its details NULL, and pg_locks, which every role reads, still says which table it is on.
 */
async function loadProgress(db: Queryable): Promise<Progress[]> {
  const res = await db.query<{ pid: number; relid: string | null; index_relid: string | null; command: string | null; phase: string | null; locked: string[] }>(
    `SELECT p.pid, p.relid::pg_catalog.int8::pg_catalog.text AS relid, p.index_relid::pg_catalog.int8::pg_catalog.text AS index_relid,
            p.command, p.phase,
            ARRAY(SELECT l.relation::pg_catalog.int8::pg_catalog.text FROM pg_catalog.pg_locks l
                   WHERE l.pid = p.pid AND l.locktype = 'relation' AND l.relation IS NOT NULL) AS locked
       FROM pg_catalog.pg_stat_progress_create_index p
      WHERE p.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
        AND p.pid <> pg_catalog.pg_backend_pid()`,
  );
  return res.rows.map((r) => ({ pid: r.pid, relid: r.relid, indexRelid: r.index_relid, command: r.command, phase: r.phase, locked: r.locked }));
}

/**
 * The build that is working on this index now, if any: its progress row names the index (or, for
 * REINDEX CONCURRENTLY, the index it copies); a row that names no index, or whose details this role may
 * not see, counts for every invalid index of the table it is on (two builds cannot run on one table).
 */
function buildInProgress(index: InvalidIndex, progress: Progress[]): Progress | undefined {
  const mine = new Set([index.oid, ...index.twins.map((t) => t.oid)]);
  return progress.find((p) => {
    if (p.indexRelid !== null && p.indexRelid !== '0') return mine.has(p.indexRelid);
    if (p.relid !== null) return p.relid === index.tableOid;
    return p.locked.includes(index.tableOid) || p.locked.includes(index.oid);
  });
}

/** The valid index a `_ccnew`/`_ccold` copy was made of: same table and definition, named by its prefix. */
function leftoverOf(index: InvalidIndex): Twin | null {
  const m = LEFTOVER.exec(index.name);
  if (!m || index.twins.length === 0) return null;
  const base = m[1] as string;
  // ChooseRelationName truncates the base so that the whole name fits in 63 bytes.
  const truncated = Buffer.byteLength(index.name) >= 60;
  const named = index.twins.filter((t) => t.name === base || (truncated && t.name.startsWith(base)));
  return named.find((t) => t.valid) ?? named[0] ?? null;
}

/** The key expressions' and the predicate's trees, to judge (keyed by index OID and which). */
function treesOf(index: InvalidIndex): { key: string; tree: string }[] {
  return [
    ...(index.exprs === null ? [] : [{ key: `${index.oid}:exprs`, tree: index.exprs }]),
    ...(index.pred === null ? [] : [{ key: `${index.oid}:pred`, tree: index.pred }]),
  ];
}

/** Why evaluating the index's key expressions or predicate would run code that is not PostgreSQL's own; null when it would not. */
function codeProblem(index: InvalidIndex, verdicts: Map<string, Verdict>): string | null {
  for (const [which, what] of [
    ['exprs', 'a key expression'],
    ['pred', 'the partial-index predicate'],
  ] as const) {
    const refused = verdicts.get(`${index.oid}:${which}`)?.refused ?? [];
    if (refused.length > 0) return `${what} would run code that is not PostgreSQL's own, which the audit does not run: ${refused.join('; ')}`;
  }
  return null;
}

/** Why the duplicates of a unique index cannot be counted without running code that is not PostgreSQL's own; null when they can. */
function whyNotCounted(index: InvalidIndex, verdicts: Map<string, Verdict>, typeCode: Map<string, string[]>, table: Table | undefined): string | null {
  if (index.method !== 'btree') return `it is a ${index.method} index: only btree's equality is read`;
  for (const k of index.keys) {
    const what = k.column === null ? 'an expression key' : `key ${displayName(k.column)}`;
    if (!k.typeOk) return `${what} is of type ${k.typeName}, whose functions are not pg_catalog's`;
    // GROUP BY compares with the default operator classes of the type and of its elements, attributes and subtypes.
    const code = [...new Set(k.typeOids.flatMap((t) => typeCode.get(t) ?? []))];
    if (code.length > 0) return `${what} (of type ${k.typeName}) is grouped with code that is not PostgreSQL's own, which the audit does not run: ${code.join('; ')}`;
    if (!k.equality) return `${what} has no btree equality in its operator class`;
    if (!k.equalityOk) return `${what} is compared with OPERATOR(${k.equality}), not pg_catalog's default equality for its type, which is not evaluated during the audit`;
  }
  const code = codeProblem(index, verdicts);
  if (code) return code;
  if (table?.unreadable) return table.unreadable;
  if (table && !table.rowSecurity.readableWhole) return 'row-level security hides rows of the table from this role (audit as a role with BYPASSRLS, or as its owner)';
  return null;
}

/** The key and predicate SQL of an expression or partial index: pg_get_indexdef/pg_get_expr lock the table, so only here, per index. */
async function keySql(db: Queryable, index: InvalidIndex): Promise<{ keys: string[]; pred: string | null }> {
  const columns = index.keys.map((k) => (k.column === null ? null : quoteIdent(k.column)));
  if (index.exprs === null && index.pred === null) return { keys: columns as string[], pred: null };
  const res = await db.query<{ keys: string[]; pred: string | null }>(
    `SELECT ARRAY(SELECT pg_catalog.pg_get_indexdef(x.indexrelid, k, false)
                    FROM pg_catalog.generate_series(1, x.indnkeyatts::pg_catalog.int4) AS k ORDER BY k) AS keys,
            pg_catalog.pg_get_expr(x.indpred, x.indrelid) AS pred
       FROM pg_catalog.pg_index x WHERE x.indexrelid = $1::pg_catalog.oid`,
    [index.oid],
  );
  const row = res.rows[0];
  if (!row) throw new Error(`index ${displayName(index.schema, index.name)} no longer exists`);
  return { keys: columns.map((c, i) => c ?? `(${row.keys[i] as string})`), pred: row.pred };
}

/**
 * The keys the unique index would reject today, judged as PostgreSQL judges them: the index's own key
 * expressions and predicate, its collations, NULLs distinct unless NULLS NOT DISTINCT, and GROUP BY
 * with the type's default equality (only when that is the opclass's own, see whyNotCounted). An
 * inheritance parent's own rows only (the index covers no child); a partitioned table whole.
 */
async function countDuplicates(db: Queryable, index: InvalidIndex, sampleSize: number): Promise<Duplicates & { counted: true }> {
  const sql = await keySql(db, index);
  const keyExprs = sql.keys.map((expr, i) => {
    const k = index.keys[i] as KeyColumn;
    const cast = k.castTo ? `::${quoteIdent(k.castTo[0])}.${quoteIdent(k.castTo[1])}` : '';
    const collate = k.collation ? ` COLLATE ${quoteIdent(k.collation[0])}.${quoteIdent(k.collation[1])}` : '';
    return `(${expr})${cast}${collate}`;
  });
  const names = keyExprs.map((_, i) => `k${i + 1}`);
  const sample =
    names.length === 1 ? `${names[0] as string}::pg_catalog.text` : `pg_catalog.json_build_array(${names.join(', ')})::pg_catalog.text`;
  const from = `${index.tableKind === 'partitioned table' ? '' : 'ONLY '}${qualifiedName(index.schema, index.table)}`;
  const conditions = [...(sql.pred === null ? [] : [`(${sql.pred})`])];
  const nullFilter = index.nullsNotDistinct ? [] : names.map((n) => `${n} IS NOT NULL`);
  const res = await db.query<{ sample: string; n: string; keys: string; total: string }>(
    `WITH keyed AS (
       SELECT ${keyExprs.map((e, i) => `${e} AS ${names[i] as string}`).join(', ')}
         FROM ${from}${conditions.length ? `\n        WHERE ${conditions.join(' AND ')}` : ''}
     ), duplicates AS (
       SELECT COALESCE(pg_catalog.min(${sample} COLLATE pg_catalog."C"), 'NULL') AS sample, pg_catalog.count(*) AS n
         FROM keyed${nullFilter.length ? `\n        WHERE ${nullFilter.join(' AND ')}` : ''}
        GROUP BY ${names.join(', ')}
       HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1
     )
     SELECT sample, n, pg_catalog.count(*) OVER () AS keys, pg_catalog.sum(n) OVER () AS total
       FROM duplicates
      ORDER BY n DESC, sample
      LIMIT $1`,
    [Math.max(sampleSize, 1)],
  );
  const first = res.rows[0];
  if (!first) return { counted: true, rows: 0, keys: 0, top: [] };
  return {
    counted: true,
    rows: Number(first.total),
    keys: Number(first.keys),
    top: res.rows.slice(0, sampleSize).map((r) => ({ sample: r.sample, count: Number(r.n) })),
  };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const INVALID_GUARD = (index: FindingObject) =>
  `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index x WHERE x.indexrelid OPERATOR(pg_catalog.=) ${relationOidLiteral(index.schema, index.index as string)} AND NOT x.indisvalid)`;

function reindexRepair(object: FindingObject, safety: 'safe' | 'review', decision: string | undefined, exclusion: boolean): Repair {
  const name = qualifiedName(object.schema, object.index as string);
  const label = displayName(object.schema, object.index as string);
  if (exclusion) {
    // PostgreSQL cannot build an exclusion constraint's index concurrently.
    return {
      order: 60,
      summary: 'rebuild the index (REINDEX, not concurrently: it backs an exclusion constraint)',
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `rebuild ${label} with REINDEX INDEX`,
          decision: `${decision ? `${decision}; ` : ''}an exclusion constraint's index cannot be rebuilt CONCURRENTLY: REINDEX INDEX blocks writes to the table (and reads that would use the index) while it runs`,
          sql: `REINDEX INDEX ${name};`,
        },
      ],
    };
  }
  const step: RepairStep = {
    safety,
    phase: 'concurrent',
    description: `rebuild ${label} with REINDEX INDEX CONCURRENTLY (writes go on meanwhile)`,
    ...(decision ? { decision } : {}),
    guard: INVALID_GUARD(object),
    sql: `REINDEX INDEX CONCURRENTLY ${name};`,
    statements: [`REINDEX INDEX CONCURRENTLY ${name}`],
    verifyStatements: [`REINDEX INDEX ${name}`],
  };
  return { order: 60, summary: 'rebuild the invalid index concurrently', steps: [step] };
}

function dropRepair(object: FindingObject, why: string, twin: string | null): Repair {
  const name = qualifiedName(object.schema, object.index as string);
  const stillThere = `${relationOidLiteral(object.schema, object.index as string)} IS NOT NULL`;
  const twinThere = twin === null ? '' : ` AND ${relationOidLiteral(object.schema, twin)} IS NOT NULL`;
  return {
    order: 60,
    summary: `drop the ${why}`,
    steps: [
      {
        safety: 'safe',
        phase: 'concurrent',
        description: `drop ${displayName(object.schema, object.index as string)}, the ${why} (an index holds no row of its own)`,
        guard: `SELECT ${stillThere}${twinThere} AND ${INVALID_GUARD(object).replace(/^SELECT /, '')}`,
        sql: `DROP INDEX CONCURRENTLY IF EXISTS ${name};`,
        statements: [`DROP INDEX CONCURRENTLY IF EXISTS ${name}`],
        verifyStatements: [`DROP INDEX IF EXISTS ${name}`],
      },
    ],
  };
}

/** `CREATE [UNIQUE] INDEX ... ON ONLY <table> USING ...` from pg_get_indexdef: the text from USING on. */
async function definitionTail(def: string): Promise<string> {
  const bytes = Buffer.from(def, 'utf8');
  const tokens = ((await scan(def)) as { tokens?: { start: number; text: string; keywordName: string }[] }).tokens ?? [];
  const on = tokens.findIndex((t) => t.text.toUpperCase() === 'ON' && t.keywordName !== 'NO_KEYWORD');
  const using = tokens.find((t, i) => i > on && t.text.toUpperCase() === 'USING' && t.keywordName !== 'NO_KEYWORD');
  if (on < 0 || !using) throw new Error('cannot read the index definition');
  return bytes.subarray(using.start).toString('utf8');
}

function partitionIndexName(partition: string, index: string): string {
  let base = `${partition}_${index}`;
  while (Buffer.byteLength(base) > 63) base = base.slice(0, -1);
  return base;
}

/** What keeps a partitioned index invalid, and what to do, for its message. */
function partitionedState(index: InvalidIndex): string {
  const missing = index.missing.map((p) => displayName(p.schema, p.name));
  const invalid = index.invalidChildren;
  const foreign = index.foreignPartitions;
  const are = (n: number) => (n === 1 ? 'is' : 'are');
  const parts: string[] = [];
  if (missing.length) parts.push(`${plural(missing.length, 'partition has', 'partitions have')} no index attached to it (${missing.join(', ')})`);
  if (invalid.length) parts.push(`the attached ${invalid.join(', ')} ${are(invalid.length)} invalid`);
  if (foreign.length) parts.push(`${plural(foreign.length, 'partition', 'partitions')} (${foreign.join(', ')}) ${foreign.length === 1 ? 'is a foreign table' : 'are foreign tables'}, which can have no index`);
  const state = parts.length ? parts.join(', and ') : 'every partition has a valid index attached to it, yet it was never marked valid';
  // PostgreSQL marks it valid only in ALTER INDEX ... ATTACH PARTITION, once it counts a valid attached index for every partition.
  const what = foreign.length
    ? 'PostgreSQL marks an index created ON ONLY valid only once every partition has a valid index attached, so it cannot become valid while a foreign table is a partition (CREATE INDEX on the partitioned table without ONLY skips foreign partitions and is valid at once: build one so, then drop this one)'
    : missing.length
      ? 'a partition without one is not covered by it'
      : invalid.length
        ? index.invalidPartitionedChildren.length === 0
          ? 'rebuild those first (their own findings); rebuilding them does not mark this index valid, attaching one of them again does, which the repair does after their rebuilds'
          : `make those valid first (their own findings: ${childrenRepair(index)}); a partitioned one that becomes valid marks this index valid with it once every partition has a valid index${
              index.invalidPartitionedChildren.length < invalid.length ? ', and after the rebuilds attaching one of them again does, which the repair does' : ''
            }`
        : 'PostgreSQL marks it valid only when a partition index is attached and every partition has a valid one, so an index attached while it was invalid and rebuilt since (or a restore that attached them in that state) leaves it invalid; attaching one of them again makes PostgreSQL check them all and mark it valid';
  return `${state}; ${what}`;
}

/**
 * Every partition has an index attached, but the parent was not marked valid when the last one was:
 * ALTER INDEX ... ATTACH PARTITION of an index that is attached already changes no attachment, and
 * PostgreSQL then counts the valid attached indexes again and marks the parent valid when there is one for
 * every partition. Safe: no row and no index changes; it runs after COMMIT (and after the rebuilds of any
 * invalid attached index, their own findings' steps), so its ACCESS EXCLUSIVE lock on the one partition
 * index, a catalog update long, is not held to the end of the script's transaction, and lock_timeout
 * bounds the wait for it. Not written when a foreign table is a partition: it could never validate.
 */
function reattachRepair(object: FindingObject, index: InvalidIndex): Repair | null {
  const child = index.attached[0];
  if (!child || index.foreignPartitions.length > 0) return null;
  const statement = `ALTER INDEX ${qualifiedName(index.schema, index.name)} ATTACH PARTITION ${qualifiedName(child.schema, child.name)}`;
  const pending = index.invalidChildren.length
    ? index.invalidPartitionedChildren.length === 0
      ? ` once ${index.invalidChildren.join(', ')} ${index.invalidChildren.length === 1 ? 'is' : 'are'} rebuilt (while one is still invalid, this changes nothing and the index stays invalid)`
      : ` once ${index.invalidChildren.join(', ')} ${index.invalidChildren.length === 1 ? 'is' : 'are'} valid: ${childrenRepair(index)} (while one is still invalid, this changes nothing and the index stays invalid)`
    : '';
  return {
    // After the rebuilds of the attached invalid indexes (order 60), which it depends on.
    order: 65,
    summary: `attach ${displayName(child.schema, child.name)} again, so that PostgreSQL checks every partition's index and marks ${displayName(index.schema, index.name)} valid`,
    steps: [
      {
        safety: 'safe',
        phase: 'concurrent',
        description: `attach ${displayName(child.schema, child.name)}, already attached, to ${displayName(index.schema, index.name)} again: PostgreSQL then marks it valid${pending} (a catalog update, no row changes: it takes ACCESS EXCLUSIVE on ${displayName(child.schema, child.name)} and SHARE UPDATE EXCLUSIVE on ${displayName(index.schema, index.name)}, waiting for them up to the script's lock_timeout, and while it waits or holds them, queries planned on that partition wait behind it)`,
        guard: INVALID_GUARD(object),
        sql: `${statement};`,
        statements: [statement],
        verifyStatements: [statement],
      },
    ],
  };
}

/**
 * A partitioned index is valid once every partition has an index attached to it; REINDEX does not do
 * that. The recipe builds the missing ones on each partition (concurrently where PostgreSQL can) and
 * attaches them, which also validates the parent: review, since a person names and schedules them.
 */
async function attachRepair(db: Queryable, object: FindingObject, index: InvalidIndex): Promise<Repair | null> {
  // With every partition attached, what is left is an invalid attached index, which has its own finding.
  if (index.missing.length === 0) return null;
  const res = await db.query<{ def: string }>(`SELECT pg_catalog.pg_get_indexdef($1::pg_catalog.oid) AS def`, [index.oid]);
  const def = res.rows[0]?.def;
  if (!def) throw new Error(`index ${displayName(index.schema, index.name)} no longer exists`);
  const tail = await definitionTail(def);
  const unique = index.unique ? 'UNIQUE ' : '';
  const parent = qualifiedName(index.schema, index.name);
  const statements: string[] = [];
  const verify: string[] = [];
  // A constraint's partitioned index takes only a partition index that backs the same kind of constraint.
  const conDef =
    index.constraint?.type === 'x'
      ? (await db.query<{ def: string }>(
          `SELECT pg_catalog.pg_get_constraintdef(con.oid) AS def FROM pg_catalog.pg_constraint con
            WHERE con.conindid = $1::pg_catalog.oid AND con.conname = $2`,
          [index.oid, index.constraint.name],
        )).rows[0]?.def
      : undefined;
  for (const p of index.missing) {
    const name = partitionIndexName(p.name, index.name);
    const child = qualifiedName(p.schema, name);
    const table = qualifiedName(p.schema, p.name);
    const attach = `ALTER INDEX ${parent} ATTACH PARTITION ${child}`;
    if (conDef) {
      // No exclusion constraint takes an existing index (USING INDEX): the constraint builds its own, named after it.
      const add = `ALTER TABLE ONLY ${table} ADD CONSTRAINT ${quoteIdent(name)} ${conDef}`;
      statements.push(add, attach);
      verify.push(add, attach);
      continue;
    }
    // A partition that is itself partitioned cannot be indexed CONCURRENTLY: CREATE INDEX recurses into it.
    const concurrently = p.kind === 'p' ? '' : 'CONCURRENTLY ';
    const using = index.constraint
      ? [`ALTER TABLE ONLY ${table} ADD CONSTRAINT ${quoteIdent(name)} ${index.constraint.type === 'p' ? 'PRIMARY KEY' : 'UNIQUE'} USING INDEX ${quoteIdent(name)}`]
      : [];
    statements.push(`CREATE ${unique}INDEX ${concurrently}IF NOT EXISTS ${quoteIdent(name)} ON ${table} ${tail}`, ...using, attach);
    verify.push(`CREATE ${unique}INDEX IF NOT EXISTS ${quoteIdent(name)} ON ${table} ${tail}`, ...using, attach);
  }
  const children = index.invalidChildren.length
    ? `; the attached partition indexes ${index.invalidChildren.join(', ')} are invalid themselves and are reported on their own, whose repairs come first (${childrenRepair(index)})`
    : '';
  const valid = index.foreignPartitions.length
    ? `; it does not make the parent valid: ${index.foreignPartitions.join(', ')} ${index.foreignPartitions.length === 1 ? 'is a foreign table' : 'are foreign tables'}, which can have no index, and PostgreSQL validates an index created ON ONLY only once every partition has one`
    : ', and the parent becomes valid when the last one is attached';
  return {
    order: 60,
    summary: 'build the missing partition indexes and attach them (REINDEX does not validate a partitioned index)',
    steps: [
      {
        safety: 'review',
        phase: 'concurrent',
        description: `build and attach an index on each partition of ${displayName(index.schema, index.table)} that has none for ${displayName(index.schema, index.name)}`,
        decision: `name and schedule the partition indexes (each build reads its whole partition; a sub-partitioned partition is indexed without CONCURRENTLY, locking out writes); ATTACH PARTITION checks that each matches the parent's definition${valid}${children}${index.unique ? '; a unique build fails while its partition holds duplicate keys (the unique rule can list them)' : ''}`,
        guard: INVALID_GUARD(object),
        sql: statements.map((s) => `${s};`).join('\n'),
        statements,
        verifyStatements: verify,
      },
    ],
  };
}

function duplicateDetails(d: Duplicates, allowed: boolean): Record<string, unknown> {
  if (!d.counted) return { duplicatesCounted: false, reason: d.reason };
  return {
    duplicatesCounted: true,
    rows: d.rows,
    duplicateKeys: d.keys,
    duplicates: d.top.map((t) => (allowed ? { key: t.sample, count: t.count } : { count: t.count })),
  };
}

function duplicateText(d: Duplicates): string {
  if (!d.counted) return `its duplicate keys were not counted (${d.reason})`;
  if (d.rows === 0) return 'no two rows share a key today';
  return `${plural(d.rows, 'row')} share ${plural(d.keys, 'key')} it would reject`;
}

export default defineCheck({
  id: 'invalid-indexes',
  title: 'Invalid indexes (a failed CREATE INDEX CONCURRENTLY)',
  severity: 'warning',
  description: 'Indexes PostgreSQL marks invalid (a failed CREATE INDEX or REINDEX CONCURRENTLY, an incomplete partitioned index): never used by queries; a unique one enforces nothing, with its duplicate keys counted.',
  docs: {
    finds:
      'Every index in the audited schemas with pg_index.indisvalid = false, on a table, partitioned table or materialized view (extension members left out), read from the catalog. Kinds: `invalid` (a non-unique index: count null); `invalid-unique` (a unique one: count = the rows that share a key with another row, judged as the index would judge them, details.duplicateKeys = how many keys repeat, samples = the most repeated keys, a JSON array for several columns; severity error when there are any; count null when there are none today, with details.rows = 0); `reindex-leftover` (a `<name>_ccnew` or `<name>_ccold` copy that an interrupted REINDEX CONCURRENTLY left beside an index of the same table with the very same definition (columns, expressions, predicate, operator classes, collations, options, NULLS NOT DISTINCT), named by its prefix); `dead` (indislive = false: an interrupted DROP INDEX CONCURRENTLY; info); `partitioned` (an index on a partitioned table created ON ONLY, or by pg_dump\'s ALTER TABLE ONLY ... ADD CONSTRAINT, that stays invalid until every partition has a valid index attached: count null, since partitions are not rows; the partitions without one are in the message and details.partitionsWithoutIndex, attached invalid ones in details.invalidAttachedIndexes, foreign-table partitions in details.foreignPartitions; a unique one also has its duplicates counted, in details). The message says when the index is not even maintained on writes (indisready = false: the build failed before it was ready). ' +
      'An index that a CREATE INDEX CONCURRENTLY or REINDEX (CONCURRENTLY) is building right now is invalid too, and is not reported: pg_stat_progress_create_index names it (for REINDEX CONCURRENTLY, the index it copies), or, when this role may not see the details of another role\'s build, pg_locks shows that backend holding a lock on the table; the note says what was seen. On a hot standby the primary\'s builds cannot be seen, and the note says so. An index whose build finished after the audit\'s snapshot was taken may still be reported; its repair\'s guard then finds it valid and does nothing. ' +
      'Duplicates are counted with the index\'s own key columns or expressions and partial-index predicate, its collations (a nondeterministic collation groups what it calls equal), NULLs distinct unless NULLS NOT DISTINCT (PostgreSQL 15), FROM ONLY an inheritance parent (the index covers only its own rows) and a partitioned table whole. They are grouped with the key type\'s default equality, and only when that is the operator class\'s own and pg_catalog\'s (text_pattern_ops compares with the same `=`); otherwise, and when a key\'s type or a key expression\'s or predicate\'s function, operator or type is not pg_catalog\'s (an enum or a domain over a built-in type is read), or when they produce a value of a domain (a cast to it, or a SQL/JSON function RETURNING it, which runs the domain\'s CHECK: any function), or when a key\'s type, or a type reached from it through domains, array elements, composite attributes and range subtypes, is compared by a default btree or hash operator class that is not initdb\'s or holds functions or operators that are not (GROUP BY takes its comparison from there: a user may add one for point, or for an enum, preferred over enum_ops), the count is null with the reason in details: no user code runs during the audit (the expressions are judged as unvalidated-checks judges a CHECK). The whole table is read even under --sample-percent. Indexes of TOAST tables (pg_toast) are not read.',
    why:
      "In one incident an index on `((meta->>'creditsPer1kTokens')::int)` rejected every write of a model with `creditsPer1kTokens: 1.38`. Built CONCURRENTLY (as a migration on a live table should be) after the first `1.38` had arrived, it would instead have failed on that row with 22P02 and left itself behind: CREATE INDEX CONCURRENTLY that fails (a duplicate key, a cancelled or timed-out statement, a key expression that fails on one row, a deadlock) does not roll back, it leaves the index behind, invalid. " +
      'Queries never use it, but every write still maintains it, and migrations that check only "the index exists" move on. A unique one is the worst case: the application believes the key is unique, and nothing guarantees it.',
    fix:
      'REINDEX INDEX CONCURRENTLY rebuilds an invalid index and makes it valid; the repair runs it after COMMIT, only while the index is still invalid. It is `safe` for a non-unique index and for a unique one with no duplicate today (a rebuild that still fails, on a duplicate written meanwhile, a lock or an oversized key, changes no row and leaves a `_ccnew` copy that this check then reports). For a non-unique expression or partial index the repair writer first evaluates the key expressions and predicate on every row (only when they run PostgreSQL\'s own code alone; otherwise no repair is written, and the script says NOT REPAIRED and why): when that fails (the division by zero that made the build fail), no repair is written and the script says NOT REPAIRED with the error, since the rebuild would fail the same way. It is `review` for a unique index with duplicates, or whose duplicates could not be counted: the rebuild fails until they are resolved (the `unique` check\'s rule on the same columns lists them). An exclusion constraint\'s index cannot be rebuilt concurrently: review, plain REINDEX. A REINDEX CONCURRENTLY leftover and a dead index are dropped (DROP INDEX CONCURRENTLY, safe: the original index stays). A partitioned index is made valid by attaching an index on every partition that lacks one (review: the recipe builds them and runs ALTER INDEX ... ATTACH PARTITION). One whose every partition has an index attached, but that PostgreSQL left invalid (an index attached while invalid and rebuilt since: PostgreSQL marks the parent valid only in ATTACH PARTITION), is made valid by attaching one of them again, after COMMIT and after the rebuilds of any attached invalid index (safe: no row or index changes; a brief lock on that partition index). One with a foreign-table partition cannot become valid (PostgreSQL counts every partition, and a foreign table can have no index): no repair; the message says how to replace it.',
    bad: `CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com');
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
-- ERROR: could not create unique index "users_email_key"; the invalid index stays`,
    good: `-- resolve the duplicates first, then rebuild (or DROP INDEX CONCURRENTLY and create it again)
UPDATE users SET email = 'a+2@example.com' WHERE id = 2;
REINDEX INDEX CONCURRENTLY users_email_key;
-- and in migrations: check pg_index.indisvalid after CREATE INDEX CONCURRENTLY`,
  },
  options,
  async run(ctx) {
    const indexes = await loadInvalidIndexes(ctx);
    if (indexes.length === 0) {
      ctx.note('no invalid index in the audited schemas');
      return [];
    }
    // pg_stat_progress_create_index is PostgreSQL 12's.
    const progress = ctx.catalog.serverVersionNum >= 120000 ? await loadProgress(ctx.db) : [];
    const building: string[] = [];
    const reported: InvalidIndex[] = [];
    for (const index of indexes) {
      const build = buildInProgress(index, progress);
      if (!build) {
        reported.push(index);
        continue;
      }
      const what = build.command ? `${build.command}${build.phase ? ` (${build.phase})` : ''}` : 'an index build whose details this role may not see, holding a lock on the table';
      building.push(`${displayName(index.schema, index.name)} is being built now by backend ${build.pid}: ${what}`);
    }

    const tables = new Map([...ctx.catalog.tables, ...ctx.catalog.partitions].map((t) => [JSON.stringify([t.schema, t.name]), t]));
    const toCount = reported.filter((i) => i.unique && i.live && !leftoverOf(i));
    const verdicts = await judgeTrees(ctx.db, toCount.flatMap(treesOf));
    const typeCode = await typeCodeProblems(ctx.db, [...new Set(toCount.flatMap((i) => i.keys.flatMap((k) => k.typeOids)))]);
    const duplicates = new Map<InvalidIndex, Duplicates>();
    const runnable: InvalidIndex[] = [];
    for (const i of toCount) {
      const reason = whyNotCounted(i, verdicts, typeCode, tables.get(JSON.stringify([i.schema, i.table])));
      if (reason) duplicates.set(i, { counted: false, reason });
      else runnable.push(i);
    }
    const failures = new Map<InvalidIndex, string>();
    const counted = await ctx.each(
      runnable.map((i) => ({ item: i, weight: tables.get(JSON.stringify([i.schema, i.table]))?.estimatedRows ?? 1, object: displayName(i.schema, i.name) })),
      async (i, db) => {
        ctx.progress(displayName(i.schema, i.name));
        try {
          return await countDuplicates(db, i, ctx.sampleSize);
        } catch (err) {
          failures.set(i, err instanceof Error ? err.message : String(err));
          throw err;
        }
      },
    );
    runnable.forEach((i, n) =>
      duplicates.set(i, counted[n] ?? { counted: false, reason: `reading the table failed (${failures.get(i) ?? 'see the error'}), the check's error for this index says more` }),
    );

    const findings = reported.map((i) => describe(ctx, i, duplicates.get(i)));
    ctx.note(
      [
        `${plural(indexes.length, 'invalid index', 'invalid indexes')} in the audited schemas, ${reported.length} reported`,
        ...building,
        ...(progress.length > 0 && building.length === 0 ? [`${plural(progress.length, 'index build')} running now, on none of them`] : []),
        // A standby's progress view shows its own backends only, never the primary's builds.
        ...(ctx.catalog.inRecovery
          ? ['on a hot standby, builds running on the primary cannot be seen: an index reported here may be one the primary is building now (see pg_stat_progress_create_index there)']
          : []),
        ...(ctx.catalog.serverVersionNum < 120000 ? ['before PostgreSQL 12 there is no pg_stat_progress_create_index: an index being built now is reported too'] : []),
      ].join('; '),
    );
    return findings;
  },
});

function describe(ctx: Ctx, index: InvalidIndex, dups: Duplicates | undefined): Finding {
  const label = `index ${displayName(index.schema, index.name)} on ${displayName(index.schema, index.table)}`;
  const object: FindingObject = { schema: index.schema, table: index.table, index: index.name };
  const one = index.keys.length === 1 ? index.keys[0]?.column : undefined;
  if (one) object.column = one;
  else if (index.keys.length > 1 && index.keys.every((k) => k.column !== null)) object.columns = index.keys.map((k) => k.column as string);
  if (index.constraint) object.constraint = index.constraint.name;
  const maintained = index.ready
    ? 'queries never use it, yet every INSERT and UPDATE still maintains it'
    : 'queries never use it, and it is not even maintained on writes (indisready = false: the build failed before it was ready)';
  const base = {
    method: index.method,
    unique: index.unique,
    ready: index.ready,
    live: index.live,
    ...(index.constraint ? { constraint: index.constraint.name, constraintType: index.constraint.type } : {}),
  };

  const twin = leftoverOf(index);
  if (twin) {
    const m = LEFTOVER.exec(index.name) as RegExpExecArray;
    const copy = m[2] === 'new' ? 'the new copy' : 'the old copy';
    return ctx.finding({
      kind: 'reindex-leftover',
      message: `${label} is ${copy} that an interrupted REINDEX CONCURRENTLY of ${displayName(index.schema, twin.name)} left behind (${twin.valid ? `${displayName(twin.name)} itself is valid` : `${displayName(twin.name)} is invalid too, and reported on its own`}); ${maintained}. Drop it; do not rebuild it`,
      object,
      count: null,
      details: { ...base, copyOf: twin.name, copyOfValid: twin.valid },
      repair: async () => dropRepair(object, 'copy an interrupted REINDEX CONCURRENTLY left behind', twin.name),
    });
  }
  if (!index.live) {
    return ctx.finding({
      kind: 'dead',
      severity: 'info',
      message: `${label} is dead (indislive = false): a DROP INDEX CONCURRENTLY or REINDEX CONCURRENTLY stopped before removing it; it is neither used nor maintained. Finish the drop`,
      object,
      count: null,
      details: base,
      repair: async () => dropRepair(object, 'dead index', null),
    });
  }
  if (index.partitioned) {
    const finding = ctx.finding({
      kind: 'partitioned',
      ...(dups?.counted && dups.rows > 0 ? { severity: 'error' as const } : {}),
      message: `partitioned ${label} is invalid: ${partitionedState(index)}. REINDEX does not fix this${index.unique && dups ? `; as a unique index, ${duplicateText(dups)}` : ''}`,
      object,
      // The partitions without an index are not rows: they are in the message and details.partitionsWithoutIndex.
      count: null,
      samples: dups?.counted ? dups.top.map((t) => t.sample) : [],
      details: {
        ...base,
        partitionsWithoutIndex: index.missing.map((p) => ({ schema: p.schema, table: p.name })),
        invalidAttachedIndexes: index.invalidChildren,
        ...(index.foreignPartitions.length ? { foreignPartitions: index.foreignPartitions } : {}),
        ...(index.unique && dups ? duplicateDetails(dups, true) : {}),
      },
      repair: async (_f, db) => (index.missing.length > 0 ? attachRepair(db, object, index) : reattachRepair(object, index)),
    });
    return withholdValues(ctx, finding, dups);
  }
  if (!index.unique) {
    return ctx.finding({
      kind: 'invalid',
      message: `${label} is invalid (a CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY failed): ${maintained}`,
      object,
      count: null,
      details: base,
      repair: async (f, db) => {
        await keysEvaluate(db, index, ctx.valuesAllowed(f));
        return reindexRepair(object, 'safe', undefined, index.exclusion);
      },
    });
  }
  const d = dups ?? { counted: false as const, reason: 'not counted' };
  const hasDuplicates = d.counted && d.rows > 0;
  const finding = ctx.finding({
    kind: 'invalid-unique',
    ...(hasDuplicates ? { severity: 'error' as const } : {}),
    message: `unique ${label} is invalid, so PostgreSQL does not guarantee that its keys are unique: ${duplicateText(d)}; ${maintained}`,
    object,
    // Rows in duplicate groups; null when none (or not counted): a count is rows affected, never 0.
    count: d.counted && d.rows > 0 ? d.rows : null,
    samples: d.counted ? d.top.map((t) => t.sample) : [],
    details: { ...base, nullsDistinct: !index.nullsNotDistinct, ...(index.pred ? { partial: true } : {}), ...duplicateDetails(d, true) },
    repair: async (_f, db) => {
      if (d.counted && d.rows === 0) return reindexRepair(object, 'safe', undefined, index.exclusion);
      const rule = await uniqueRule(db, index);
      const lists = rule ? `this rule of the \`unique\` check lists them: ${rule}` : 'a `unique` rule on the same key lists them';
      const decision = d.counted
        ? `the rebuild fails while ${plural(d.rows, 'row')} share ${plural(d.keys, 'key')}: resolve the duplicates first (keep one row per key; ${lists}), then run it`
        : `the duplicates were not counted (${d.reason}): the rebuild fails if any key repeats; check first (${lists})`;
      return reindexRepair(object, 'review', decision, index.exclusion);
    },
  });
  return withholdValues(ctx, finding, d);
}

/**
 * The `unique` check's rule that lists this index's duplicates (checks.unique.rules), for a key of plain
 * columns; the predicate's text is pg_get_expr's (the repair writer may lock the table, the audit may not).
 */
async function uniqueRule(db: Queryable, index: InvalidIndex): Promise<string | null> {
  if (index.keys.some((k) => k.column === null)) return null;
  let where: string | null = null;
  if (index.pred !== null) {
    const res = await db.query<{ pred: string | null }>(`SELECT pg_catalog.pg_get_expr(x.indpred, x.indrelid) AS pred FROM pg_catalog.pg_index x WHERE x.indexrelid = $1::pg_catalog.oid`, [index.oid]);
    where = res.rows[0]?.pred ?? null;
    if (where === null) return null;
  }
  return JSON.stringify({
    schema: index.schema,
    table: index.table,
    columns: index.keys.map((k) => k.column),
    ...(where === null ? {} : { where }),
    ...(index.nullsNotDistinct ? { nullsDistinct: false } : {}),
  });
}

/** Under --samples 0 or samples.exclude, no key value leaves the database: not in samples, not in details. */
function withholdValues(ctx: Ctx, finding: Finding, dups: Duplicates | undefined): Finding {
  if (ctx.valuesAllowed(finding) || !dups?.counted) return finding;
  finding.samples = [];
  finding.details = { ...finding.details, ...duplicateDetails(dups, false) };
  return finding;
}

/**
 * A rebuild of an expression or partial index fails on the first row whose key expression or predicate
 * raises an error (a failed CREATE INDEX CONCURRENTLY is often exactly that): evaluate them on every row
 * first, in the repair writer's own savepoint, so that such a repair is not written as safe.
 */
async function keysEvaluate(db: Queryable, index: InvalidIndex, valuesAllowed: boolean): Promise<void> {
  if (index.exprs === null && index.pred === null) return;
  // Evaluating them runs what the rebuild would run: only PostgreSQL's own code is run here.
  const problem = codeProblem(index, await judgeTrees(db, treesOf(index)));
  if (problem) throw new Error(`${problem}: not evaluated, so not known to rebuild; rebuild it by hand (REINDEX INDEX CONCURRENTLY)`);
  const sql = await keySql(db, index);
  const from = `${index.tableKind === 'partitioned table' ? '' : 'ONLY '}${qualifiedName(index.schema, index.table)}`;
  const exprKeys = sql.keys.filter((_, i) => index.keys[i]?.column === null);
  try {
    // count(ROW(...)) evaluates every key expression of every row the predicate admits, as a build does.
    await db.query(
      `SELECT pg_catalog.count(ROW(${[...exprKeys, 'true'].join(', ')})) FROM ${from}${sql.pred === null ? '' : ` WHERE (${sql.pred})`}`,
    );
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message = valuesAllowed ? (err instanceof Error ? err.message : String(err)) : `SQLSTATE ${typeof code === 'string' ? code : 'unknown'}`;
    throw new Error(`REINDEX would fail the way the build did: evaluating the index's key expressions or predicate on the rows of ${displayName(index.schema, index.table)} fails with "${message}"; change those rows or the index definition first`, { cause: err });
  }
}
