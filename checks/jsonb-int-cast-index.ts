import { z } from 'zod';
import { defineCheck } from '../src/check.js';
import type { JsonTextExtractors, Table } from '../src/db/catalog.js';
import { constText, isNode, parseNodeTree, walkNodes, type TreeNode, type TreeValue } from '../src/db/node-tree.js';
import { displayName } from '../src/db/quote.js';
import type { Finding, FindingObject } from '../src/findings.js';

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
