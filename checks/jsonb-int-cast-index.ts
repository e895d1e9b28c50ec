import { z } from 'zod';
import { defineCheck } from '../src/check.js';
import type { JsonTextExtractors, Table } from '../src/db/catalog.js';
import { constText, isNode, parseNodeTree, walkNodes, type TreeNode, type TreeValue } from '../src/db/node-tree.js';
import { displayName, qualifiedName, quoteIdent } from '../src/db/quote.js';
import type { Finding, FindingObject } from '../src/findings.js';
import { parse } from '@libpg-query/parser';
import type { Queryable } from '../src/db/session.js';
import { literal } from '../src/fix/quarantine.js';
import { rewriteJsonIntCasts } from '../src/fix/rewrite-cast.js';
import type { Repair } from '../src/fix/types.js';

const options = z.strictObject({});

/** pg_type OIDs of the integer types; fixed since PostgreSQL's first catalogs. */
const INTEGER_TYPES: Record<string, string> = { '21': 'smallint', '23': 'integer', '20': 'bigint' };
const TEXT_TYPES = new Set(['25', '1043', '1042']);

export interface JsonIntCast {
  castType: string;
  /** How the JSON text is extracted: `->>`, `#>>`, `jsonb_extract_path_text`, ... */
  extractor: string;
  column: string | null;
  keys: string[] | null;
  /** The extraction as a person would write it, e.g. `meta->>'creditsPer1kTokens'`. */
  expression: string;
}

/** Every cast of an extracted JSON text value to an integer type in a stored expression tree. */
export function findJsonIntCasts(treeText: string, extractors: JsonTextExtractors, columnNames: Map<number, string>): JsonIntCast[] {
  const casts: JsonIntCast[] = [];
  for (const node of walkNodes(parseNodeTree(treeText))) {
    if (node.type !== 'COERCEVIAIO') continue;
    const castType = INTEGER_TYPES[String(node.fields.resulttype)];
    if (!castType) continue;
    const source = unwrapText(node.fields.arg);
    if (!source) continue;
    const extraction = describeExtraction(source, extractors, columnNames);
    if (extraction) casts.push({ castType, ...extraction });
  }
  return casts;
}

/** Looks through relabelling, COLLATE and casts between text types to the expression that produced the text. */
function unwrapText(value: TreeValue | undefined): TreeNode | null {
  let v = value;
  for (;;) {
    if (!isNode(v)) return null;
    if (v.type === 'RELABELTYPE' || v.type === 'COLLATEEXPR') v = v.fields.arg;
    else if (v.type === 'COERCEVIAIO' && TEXT_TYPES.has(String(v.fields.resulttype))) v = v.fields.arg;
    else if (isLengthCoercion(v)) v = (v.fields.args as TreeValue[])[0];
    else return v;
  }
}

/** `::varchar(5)` and `::char(3)`: a cast-formatted call of the type's length function over text. */
function isLengthCoercion(node: TreeNode): boolean {
  // funcformat 1 and 2 are COERCE_EXPLICIT_CAST and COERCE_IMPLICIT_CAST.
  return (
    node.type === 'FUNCEXPR' &&
    TEXT_TYPES.has(String(node.fields.funcresulttype)) &&
    (node.fields.funcformat === '1' || node.fields.funcformat === '2') &&
    Array.isArray(node.fields.args)
  );
}

function describeExtraction(
  node: TreeNode,
  extractors: JsonTextExtractors,
  columnNames: Map<number, string>,
): Omit<JsonIntCast, 'castType'> | null {
  const args = Array.isArray(node.fields.args) ? node.fields.args : [];
  let extractor: string | undefined;
  if (node.type === 'OPEXPR') extractor = extractors.operators.get(String(node.fields.opno));
  else if (node.type === 'FUNCEXPR') extractor = extractors.functions.get(String(node.fields.funcid));
  if (!extractor) return null;
  const target = describeJsonValue(args[0], extractors, columnNames);
  const own = args.slice(1).flatMap((a) => keyTexts(a));
  const ownKnown = own.every((k) => k !== null) ? (own as string[]) : null;
  // The whole path when the JSON value is a column (or steps from one); else the keys that are known.
  const path = ownKnown ? [...(target.keys ?? []), ...ownKnown] : null;
  const known = path && path.length > 0 ? path : null;
  const column = target.column;
  const subject = target.subject;
  let expression: string;
  if (extractor === '->>') expression = `${subject}->>${stepText(args[1], ownKnown?.[0])}`;
  else if (extractor === '#>>') expression = `${subject}#>>${ownKnown ? quoteKey(`{${ownKnown.map(arrayElement).join(',')}}`) : '?'}`;
  else expression = `${extractor}(${[subject, ...(ownKnown && ownKnown.length > 0 ? ownKnown.map(quoteKey) : ['?'])].join(', ')})`;
  return { extractor, column, keys: known, expression };
}

/** An element of a text[] literal, quoted as array_out would quote it. */
function arrayElement(value: string): string {
  if (value !== '' && !/[{},"\\\s]/.test(value) && value.toUpperCase() !== 'NULL') return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const quoteKey = (k: string) => `'${k.replace(/'/g, "''")}'`;

/** One `->`/`->>` step as written: an array index bare, a key quoted. */
function stepText(arg: TreeValue | undefined, key: string | undefined): string {
  if (key === undefined) return '?';
  return isIntConst(arg) ? key : quoteKey(key);
}

/** The JSON value a text extraction starts from: a column, maybe followed by `->` and `#>` steps. */
function describeJsonValue(
  value: TreeValue | undefined,
  extractors: JsonTextExtractors,
  columnNames: Map<number, string>,
): { subject: string; column: string | null; keys: string[] | null } {
  if (isNode(value) && value.type === 'VAR') {
    const column = columnNames.get(Number(value.fields.varattno)) ?? null;
    return { subject: column ? displayName(column) : '(expression)', column, keys: column ? [] : null };
  }
  if (isNode(value) && value.type === 'RELABELTYPE') return describeJsonValue(value.fields.arg, extractors, columnNames);
  if (isNode(value) && value.type === 'OPEXPR') {
    const op = extractors.pathOperators.get(String(value.fields.opno));
    const args = Array.isArray(value.fields.args) ? value.fields.args : [];
    if (op) {
      const inner = describeJsonValue(args[0], extractors, columnNames);
      const own = keyTexts(args[1]);
      const ownKnown = own.every((k) => k !== null) ? (own as string[]) : null;
      const step = op === '->' ? `->${stepText(args[1], ownKnown?.[0])}` : `#>${ownKnown ? quoteKey(`{${ownKnown.map(arrayElement).join(',')}}`) : '?'}`;
      return { subject: `${inner.subject}${step}`, column: inner.column, keys: ownKnown ? [...(inner.keys ?? []), ...ownKnown] : null };
    }
  }
  return { subject: '(expression)', column: null, keys: null };
}

function isIntConst(v: TreeValue | undefined): boolean {
  return isNode(v) && v.type === 'CONST' && String(v.fields.consttype) === '23';
}

function keyTexts(value: TreeValue | undefined): (string | null)[] {
  if (!isNode(value)) return [null];
  if (value.type === 'CONST') return constText(value) ?? [null];
  if (value.type === 'ARRAYEXPR' && Array.isArray(value.fields.elements)) return value.fields.elements.flatMap((e) => keyTexts(e));
  if (value.type === 'RELABELTYPE') return keyTexts(value.fields.arg);
  return [null];
}

function consequence(casts: JsonIntCast[]): string {
  const types = [...new Set(casts.map((c) => c.castType))];
  return `a value such as 1.38 makes INSERT and UPDATE fail with 22P02 (invalid input syntax for type ${types.join('/')})`;
}

function describeCasts(casts: JsonIntCast[]): string {
  return casts.map((c) => `${c.expression} to ${c.castType}`).join(', ');
}

export default defineCheck({
  id: 'jsonb-int-cast-index',
  title: 'JSON text cast to an integer in an index, CHECK or generated column',
  severity: 'error',
  description: 'An index, CHECK constraint or stored generated column casts a JSON text value to an integer type, so a fractional value makes writes fail.',
  docs: {
    finds:
      'Every index whose key expressions or partial-index predicate cast a JSON text extraction (`->>`, `#>>`, `json(b)_extract_path_text`) to smallint, integer or bigint, in any spelling (`::int`, `::int4`, `CAST(... AS bigint)`), read from the stored expression trees in pg_index, not from migration text. Also CHECK constraints and stored generated columns with the same cast. Casts to numeric, plain text expressions and integer casts of non-JSON columns are not reported.',
    why: 'Seed 003: `CREATE INDEX ... ((meta->>\'creditsPer1kTokens\')::int)` was harmless until fractional credits arrived; then every INSERT of a model with `creditsPer1kTokens: 1.38` failed with 22P02, because index maintenance evaluates the cast on every write.',
    fix: 'Recreate the index (CONCURRENTLY) with a numeric cast, or rewrite the CHECK constraint or generated column to cast to numeric.',
    bad: `CREATE INDEX idx_models_meta_credits_per_1k
  ON models USING btree (((meta->>'creditsPer1kTokens')::int));`,
    good: `CREATE INDEX CONCURRENTLY idx_models_meta_credits_per_1k
  ON models USING btree (((meta->>'creditsPer1kTokens')::numeric));`,
  },
  options,
  async run(ctx) {
    const findings: Finding[] = [];
    const tables = new Map([...ctx.catalog.tables, ...ctx.catalog.partitions].map((t) => [JSON.stringify([t.schema, t.name]), t]));
    const columnsOf = (schema: string, table: string) => attnumMap(tables.get(JSON.stringify([schema, table])));
    const extractors = ctx.catalog.jsonTextExtractors;
    const report = (kind: string, object: FindingObject, what: string, casts: JsonIntCast[]) => {
      findings.push(
        ctx.finding({
          kind,
          message: `${what} casts ${describeCasts(casts)}: ${consequence(casts)}`,
          object,
          count: null,
          details: { casts: casts.map((c) => ({ expression: c.expression, castType: c.castType, keys: c.keys, column: c.column })) },
          repair: async (_finding, db) =>
            kind === 'index' ? rebuildIndex(db, object) : kind === 'check-constraint' ? rewriteCheck(db, object) : rewriteGenerated(db, object),
        }),
      );
    };

    let examined = 0;
    for (const index of ctx.catalog.indexes) {
      const columns = columnsOf(index.schema, index.table);
      const inKeys = index.expressionTree ? findJsonIntCasts(index.expressionTree, extractors, columns) : [];
      const inPredicate = index.predicateTree ? findJsonIntCasts(index.predicateTree, extractors, columns) : [];
      examined++;
      if (inKeys.length + inPredicate.length === 0) continue;
      const where = [inKeys.length ? 'key expression' : '', inPredicate.length ? 'partial-index predicate' : ''].filter(Boolean).join(' and ');
      const firstColumn = [...inKeys, ...inPredicate].find((c) => c.column)?.column;
      report(
        'index',
        { schema: index.schema, table: index.table, index: index.name, ...(firstColumn ? { column: firstColumn } : {}) },
        `index ${displayName(index.schema, index.name)} on ${displayName(index.schema, index.table)} (${where})`,
        [...inKeys, ...inPredicate],
      );
    }
    for (const check of ctx.catalog.checkConstraints) {
      examined++;
      const casts = findJsonIntCasts(check.tree, extractors, columnsOf(check.schema, check.table));
      if (casts.length === 0) continue;
      const firstColumn = casts.find((c) => c.column)?.column;
      report(
        'check-constraint',
        { schema: check.schema, table: check.table, constraint: check.name, ...(firstColumn ? { column: firstColumn } : {}) },
        `CHECK constraint ${displayName(check.name)} on ${displayName(check.schema, check.table)}`,
        casts,
      );
    }
    for (const table of ctx.catalog.tables) {
      for (const column of table.columns) {
        if (column.generated !== 's' || !column.generationTree) continue;
        examined++;
        const casts = findJsonIntCasts(column.generationTree, extractors, attnumMap(table));
        if (casts.length === 0) continue;
        report(
          'generated-column',
          { schema: table.schema, table: table.name, column: column.name },
          `stored generated column ${displayName(table.schema, table.name, column.name)}`,
          casts,
        );
      }
    }
    ctx.note(`examined ${examined} indexes, CHECK constraints and generated columns`);
    return findings;
  },
});

function attnumMap(table: Table | undefined): Map<number, string> {
  return new Map((table?.columns ?? []).map((c) => [c.attnum, c.name]));
}

function indexTempName(name: string): string {
  let base = name;
  while (Buffer.byteLength(`${base}_integrity_new`) > 63) base = base.slice(0, -1);
  return `${base}_integrity_new`;
}

/** The smallest `location` in a parse subtree: where the node's text starts. */
function firstLocation(node: unknown): number {
  let min = Number.POSITIVE_INFINITY;
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'location' && typeof x === 'number' && x >= 0) min = Math.min(min, x);
        else walk(x);
      }
    }
  };
  walk(node);
  return min;
}

/**
 * Where a TABLESPACE clause goes in pg_get_indexdef's text: before the WHERE of a partial index (found
 * from the predicate's position in the parse tree), else at the end.
 */
export function tablespaceOffset(bytes: Buffer, whereClause: unknown): number {
  if (!whereClause) return bytes.length;
  let at = firstLocation(whereClause);
  // Step back over the predicate's opening parentheses and spaces to the WHERE keyword.
  while (at > 0 && (bytes[at - 1] === 0x28 || bytes[at - 1] === 0x20)) at--;
  if (bytes.subarray(at - 5, at).toString('latin1').toUpperCase() !== 'WHERE') throw new Error('cannot place TABLESPACE in the index definition');
  return at - 6; // the space before WHERE
}

/**
 * The replacement index: pg_get_indexdef's text with the cast's type name (found in the parse tree)
 * turned into numeric, built CONCURRENTLY under a temporary name, swapped in for the old one, its
 * comment carried over. A run that stopped half way resumes: the second block only renames.
 */
async function rebuildIndex(db: Queryable, object: FindingObject): Promise<Repair> {
  const index = qualifiedName(object.schema, object.index as string);
  const facts = await db.query<{ def: string; spc: string | null; constraint: string | null; partitioned: boolean; comment: string | null }>(
    `SELECT pg_catalog.pg_get_indexdef(i.oid) AS def, ts.spcname AS spc,
            (SELECT con.conname FROM pg_catalog.pg_constraint con WHERE con.conindid = i.oid LIMIT 1) AS constraint,
            t.relkind = 'p' AS partitioned, pg_catalog.obj_description(i.oid, 'pg_class') AS comment
       FROM pg_catalog.pg_class i
       JOIN pg_catalog.pg_index x ON x.indexrelid = i.oid
       JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
       LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = i.reltablespace
      WHERE i.oid = to_regclass($1)`,
    [index],
  );
  const row = facts.rows[0];
  if (!row) throw new Error(`index ${index} no longer exists`);
  const rewritten = (await rewriteJsonIntCasts(row.def)).sql;
  const tree = (await parse(rewritten)) as { stmts: { stmt: { IndexStmt?: { relation: { location: number }; whereClause?: unknown } } }[] };
  const stmt = tree.stmts[0]?.stmt.IndexStmt;
  if (!stmt) throw new Error(`cannot read the definition of ${index}`);
  let bytes = Buffer.from(rewritten, 'utf8');
  if (row.spc) {
    const at = tablespaceOffset(bytes, stmt.whereClause);
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(` TABLESPACE ${quoteIdent(row.spc)}`), bytes.subarray(at)]);
  }
  const prefix = bytes.subarray(0, stmt.relation.location).toString('utf8');
  const rest = bytes.subarray(stmt.relation.location).toString('utf8');
  const unique = /^CREATE UNIQUE /.test(prefix) ? 'UNIQUE ' : '';
  const name = object.index as string;
  const temp = indexTempName(name);
  const tempQualified = qualifiedName(object.schema, temp);
  const comment = row.comment === null ? [] : [`COMMENT ON INDEX ${index} IS ${literal(row.comment)}`];
  const create = (concurrently: boolean, indexName: string) =>
    `CREATE ${unique}INDEX ${concurrently ? 'CONCURRENTLY IF NOT EXISTS ' : ''}${quoteIdent(indexName)} ON ${rest}`;
  const oldUnchanged = `pg_catalog.pg_get_indexdef(to_regclass(${literal(index)})) IS NOT DISTINCT FROM ${literal(row.def)}`;

  if (row.partitioned || row.constraint) {
    // Neither can be swapped concurrently: a recipe that runs in one transaction, for a person to schedule.
    const decision = row.partitioned
      ? 'an index on a partitioned table cannot be built CONCURRENTLY; this takes a SHARE lock on every partition while it builds'
      : `the index backs constraint ${row.constraint}: dropping it needs the constraint dropped and re-added (ALTER TABLE ... ADD CONSTRAINT ... USING INDEX)`;
    return {
      order: 50,
      summary: 'rebuild the index with ::numeric instead of the integer cast (needs review)',
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `rebuild ${displayName(object.schema, name)} with a numeric cast`,
          decision,
          sql: [`DROP INDEX ${index};`, `${create(false, name)};`, ...comment.map((c) => `${c};`)].join('\n'),
        },
      ],
    };
  }
  const swap = [
    `DROP INDEX CONCURRENTLY IF EXISTS ${tempQualified}`,
    create(true, temp),
    `DROP INDEX CONCURRENTLY IF EXISTS ${index}`,
    `ALTER INDEX IF EXISTS ${tempQualified} RENAME TO ${quoteIdent(name)}`,
    ...comment,
  ];
  const resume = [`ALTER INDEX IF EXISTS ${tempQualified} RENAME TO ${quoteIdent(name)}`, ...comment];
  // A unique index on numeric treats 1 and 1.0 as the same value: a person confirms that is wanted.
  const safety = unique ? ('review' as const) : ('safe' as const);
  return {
    order: 50,
    summary: `rebuild the index with ::numeric instead of the integer cast (every other property kept)`,
    steps: [
      {
        safety,
        ...(unique ? { decision: 'as numeric, values such as 1 and 1.0 count as duplicates; confirm the uniqueness rule still holds' } : {}),
        phase: 'concurrent',
        description: `rebuild ${displayName(object.schema, name)} with a numeric cast: build the new index concurrently, drop the old one, rename`,
        guard: `SELECT ${oldUnchanged}`,
        sql: swap.map((x) => `${x};`).join('\n'),
        statements: swap,
        verifyStatements: [create(false, temp), `DROP INDEX ${index}`, `ALTER INDEX ${tempQualified} RENAME TO ${quoteIdent(name)}`, ...comment],
      },
      {
        safety,
        phase: 'concurrent',
        description: `finish a rebuild of ${displayName(object.schema, name)} that stopped after dropping the old index`,
        guard: `SELECT to_regclass(${literal(index)}) IS NULL AND to_regclass(${literal(tempQualified)}) IS NOT NULL`,
        sql: resume.map((x) => `${x};`).join('\n'),
        statements: resume,
        verifyStatements: [],
      },
    ],
  };
}

async function rewriteCheck(db: Queryable, object: FindingObject): Promise<Repair> {
  const table = qualifiedName(object.schema, object.table);
  const res = await db.query<{ def: string }>(
    `SELECT pg_catalog.pg_get_constraintdef(oid) AS def FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2`,
    [table, object.constraint],
  );
  const def = res.rows[0]?.def;
  if (!def) throw new Error(`constraint ${object.constraint} no longer exists`);
  const statement = `ALTER TABLE ${table} DROP CONSTRAINT ${quoteIdent(object.constraint as string)}, ADD CONSTRAINT ${quoteIdent(object.constraint as string)} ${def} NOT VALID;`;
  const rewritten = (await rewriteJsonIntCasts(statement)).sql;
  return {
    order: 50,
    summary: `recreate the CHECK constraint with a numeric cast`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: `recreate ${displayName(object.constraint as string)} casting to numeric`,
        decision: 'with numeric, 1.38 passes the check where the integer cast failed; confirm the rule still means what it should (add a scale check if whole numbers are required)',
        sql: `${rewritten}\nALTER TABLE ${table} VALIDATE CONSTRAINT ${quoteIdent(object.constraint as string)};`,
      },
    ],
  };
}

async function rewriteGenerated(db: Queryable, object: FindingObject): Promise<Repair> {
  const table = qualifiedName(object.schema, object.table);
  const res = await db.query<{ expr: string }>(
    `SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expr
       FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
      WHERE d.adrelid = to_regclass($1) AND a.attname = $2`,
    [table, object.column],
  );
  const expr = res.rows[0]?.expr;
  if (!expr) throw new Error(`generated column ${object.column} no longer exists`);
  const select = (await rewriteJsonIntCasts(`SELECT ${expr}`)).sql.replace(/^SELECT /, '');
  const column = quoteIdent(object.column as string);
  return {
    order: 50,
    summary: `recreate the generated column as numeric`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: `recreate ${displayName(object.table, object.column as string)} as numeric, generated from the numeric cast`,
        decision: 'dropping the column drops the views and indexes that use it, and rewrites the table: recreate them, and schedule it',
        sql: `ALTER TABLE ${table} DROP COLUMN ${column}, ADD COLUMN ${column} numeric GENERATED ALWAYS AS (${select}) STORED;`,
      },
    ],
  };
}
