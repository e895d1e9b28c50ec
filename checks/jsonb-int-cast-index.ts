import { z } from 'zod';
import {
  constText,
  defineCheck,
  displayName,
  isNode,
  literal,
  parseNodeTree,
  qualifiedName,
  quoteIdent,
  relationOid,
  relationOidLiteral,
  walkNodes,
  type Finding,
  type FindingObject,
  type JsonTextExtractors,
  type Queryable,
  type Repair,
  type Table,
  type TreeNode,
  type TreeValue,
} from '../src/index.js';
import { isBareJsonIntCast, rewriteJsonIntCasts } from './support/rewrite-cast.js';
import { parse } from '@libpg-query/parser';

const options = z.strictObject({});

/** pg_type OIDs of the integer types; fixed since PostgreSQL's first catalogs. */
const INTEGER_TYPES: Record<string, string> = { '21': 'smallint', '23': 'integer', '20': 'bigint' };
const TEXT_TYPES = new Set(['25', '1043', '1042']);
/** The most decimal digits every value of the type holds (9999, 999999999, 999999999999999999). */
const SAFE_DIGITS: Record<string, number> = { smallint: 4, integer: 9, bigint: 18 };
/** How a query spells the cast. */
const CAST_SPELLING: Record<string, string> = { smallint: 'smallint', integer: 'int', bigint: 'bigint' };

/** A condition under which the cast is evaluated only for text that matched an integer-only pattern. */
export interface CastGuard {
  /** `predicate`: the partial-index predicate (for key expressions); `case`: a CASE branch around the cast. */
  by: 'predicate' | 'case';
  /** The regular expression the text matched (`~`), or failed to match (`!~`, on a branch not taken). */
  pattern: string;
  /** The most digits that pattern admits; null when it does not bound them. */
  maxDigits: number | null;
}

export interface JsonIntCast {
  castType: string;
  /** How the JSON text is extracted: `->>`, `#>>`, `jsonb_extract_path_text`, ... */
  extractor: string;
  column: string | null;
  keys: string[] | null;
  /** The extraction as a person would write it, e.g. `meta->>'creditsPer1kTokens'`. */
  expression: string;
  /** Present when only integer text reaches the cast (see GuardCatalog). */
  guard?: CastGuard;
}

/** What guards are read by: operator OIDs and the collations whose digit class is ASCII-only. */
export interface GuardCatalog {
  /** OIDs of pg_catalog.~(text, text). */
  match: Set<string>;
  /** OIDs of pg_catalog.!~(text, text). */
  noMatch: Set<string>;
  /** Collations under which `\d` and `[[:digit:]]` match only 0-9 (libc ones; not ICU's). */
  asciiDigitCollations: Set<string>;
}

export interface GuardOptions {
  catalog: GuardCatalog;
  /** The partial-index predicate's tree, when the tree searched is the index's key expressions. */
  predicate?: string | null;
}

/** Extractions known to hold integer text, by their tree (see nodeKey). */
type Facts = Map<string, CastGuard>;

interface Walk {
  extractors: JsonTextExtractors;
  columnNames: Map<number, string>;
  guards: GuardCatalog | null;
  out: JsonIntCast[];
}

/**
 * Every cast of an extracted JSON text value to an integer type in a stored expression tree. With
 * `guards`, a cast that only integer text reaches carries the guard: one under a CASE branch whose
 * condition is `x ~ '<integer-only pattern>'` on the same extraction (or after a branch `x !~ ...` not
 * taken), or, for key expressions, one whose partial-index predicate requires that match (PostgreSQL
 * evaluates an index's key expressions only for rows that satisfy its predicate). A conjunct of the
 * same expression does not guard: PostgreSQL does not promise the order in which AND's operands run.
 */
export function findJsonIntCasts(
  treeText: string,
  extractors: JsonTextExtractors,
  columnNames: Map<number, string>,
  guards?: GuardOptions,
): JsonIntCast[] {
  const walk: Walk = { extractors, columnNames, guards: guards?.catalog ?? null, out: [] };
  const known: Facts = guards?.predicate ? holds(parseNodeTree(guards.predicate), walk, 'predicate') : new Map();
  collect(parseNodeTree(treeText), known, walk);
  return walk.out;
}

/** Depth first, parents before children (the order walkNodes gives), carrying what is known to hold. */
function collect(value: TreeValue | undefined, known: Facts, walk: Walk): void {
  if (value === null || value === undefined || typeof value === 'string') return;
  if (Array.isArray(value)) {
    for (const v of value) collect(v, known, walk);
    return;
  }
  if (!isNode(value)) return;
  const cast = castOf(value, walk);
  if (cast) {
    const guard = cast.exactSource ? known.get(nodeKey(cast.source)) : undefined;
    walk.out.push({ ...cast.cast, ...(guard ? { guard } : {}) });
  }
  if (value.type === 'CASEEXPR' && walk.guards && !isNode(value.fields.arg) && Array.isArray(value.fields.args)) {
    // A searched CASE evaluates a branch's result only when its condition is true and every earlier one was not.
    let before = known;
    for (const when of value.fields.args) {
      if (!isNode(when) || when.type !== 'CASEWHEN') {
        collect(when, before, walk);
        continue;
      }
      collect(when.fields.expr, before, walk);
      collect(when.fields.result, union(before, holds(when.fields.expr, walk, 'case')), walk);
      before = union(before, fails(when.fields.expr, walk, 'case'));
    }
    collect(value.fields.defresult, before, walk);
    return;
  }
  for (const v of Object.values(value.fields)) collect(v, known, walk);
}

/** The cast a node is, if it is an integer cast of extracted JSON text. */
function castOf(node: TreeNode, walk: Walk): { cast: JsonIntCast; source: TreeNode; exactSource: boolean } | null {
  if (node.type !== 'COERCEVIAIO') return null;
  const castType = INTEGER_TYPES[String(node.fields.resulttype)];
  if (!castType) return null;
  const source = unwrapText(node.fields.arg);
  if (!source) return null;
  const extraction = describeExtraction(source.node, walk.extractors, walk.columnNames);
  return extraction ? { cast: { castType, ...extraction }, source: source.node, exactSource: source.exact } : null;
}

/**
 * Looks through relabelling, COLLATE and casts between text types to the expression that produced the
 * text; `exact` when only relabelling and COLLATE were passed (the text cast is the text extracted: a
 * `::varchar(1)` would turn '-5' into '-').
 */
function unwrapText(value: TreeValue | undefined): { node: TreeNode; exact: boolean } | null {
  let v = value;
  let exact = true;
  for (;;) {
    if (!isNode(v)) return null;
    if (v.type === 'RELABELTYPE' || v.type === 'COLLATEEXPR') v = v.fields.arg;
    else if (v.type === 'COERCEVIAIO' && TEXT_TYPES.has(String(v.fields.resulttype))) [v, exact] = [v.fields.arg, false];
    else if (isLengthCoercion(v)) [v, exact] = [(v.fields.args as TreeValue[])[0], false];
    else return { node: v, exact };
  }
}

/** Looks through relabelling and COLLATE only. */
function unwrapRelabel(value: TreeValue | undefined): TreeValue | undefined {
  let v = value;
  while (isNode(v) && (v.type === 'RELABELTYPE' || v.type === 'COLLATEEXPR')) v = v.fields.arg;
  return v;
}

/** A node's identity for comparing two extractions: its tree without the source positions. */
function nodeKey(value: TreeValue | undefined): string {
  return JSON.stringify(value ?? null, (k, v: unknown) => (k === 'location' ? undefined : v));
}

function union(a: Facts, b: Facts): Facts {
  if (b.size === 0) return a;
  const out = new Map(a);
  for (const [k, g] of b) {
    const mine = out.get(k);
    if (!mine || fewerDigits(g, mine)) out.set(k, g);
  }
  return out;
}

function intersection(all: Facts[]): Facts {
  const [first, ...rest] = all;
  const out: Facts = new Map();
  if (!first) return out;
  for (const [k, g] of first) {
    let weakest = g;
    let everywhere = true;
    for (const other of rest) {
      const o = other.get(k);
      if (!o) everywhere = false;
      else if (fewerDigits(weakest, o)) weakest = o;
    }
    if (everywhere) out.set(k, weakest);
  }
  return out;
}

function fewerDigits(a: CastGuard, b: CastGuard): boolean {
  return a.maxDigits !== null && (b.maxDigits === null || a.maxDigits < b.maxDigits);
}

/**
 * What holds whenever a condition is not false (true or null: a row in a partial index, a CASE branch
 * taken). `x ~ p` not false means x matched p or is null, and a null casts to null without failing.
 */
function holds(value: TreeValue | undefined, walk: Walk, by: CastGuard['by']): Facts {
  if (Array.isArray(value)) return value.reduce<Facts>((acc, v) => union(acc, holds(v, walk, by)), new Map());
  if (!isNode(value)) return new Map();
  const args = Array.isArray(value.fields.args) ? value.fields.args : [];
  if (value.type === 'BOOLEXPR') {
    if (value.fields.boolop === 'and') return args.reduce<Facts>((acc, v) => union(acc, holds(v, walk, by)), new Map());
    if (value.fields.boolop === 'or') return intersection(args.map((v) => holds(v, walk, by)));
    if (value.fields.boolop === 'not') return fails(args[0], walk, by);
    return new Map();
  }
  return regexFact(value, walk.guards?.match, walk, by);
}

/** What holds whenever a condition is not true (a CASE branch not taken): `x !~ p` not true means x matched. */
function fails(value: TreeValue | undefined, walk: Walk, by: CastGuard['by']): Facts {
  if (!isNode(value)) return new Map();
  const args = Array.isArray(value.fields.args) ? value.fields.args : [];
  if (value.type === 'BOOLEXPR') {
    if (value.fields.boolop === 'or') return args.reduce<Facts>((acc, v) => union(acc, fails(v, walk, by)), new Map());
    if (value.fields.boolop === 'and') return intersection(args.map((v) => fails(v, walk, by)));
    if (value.fields.boolop === 'not') return holds(args[0], walk, by);
    return new Map();
  }
  return regexFact(value, walk.guards?.noMatch, walk, by);
}

/** `x ~ 'pattern'` (or `!~`), matched by operator OID, with a constant integer-only pattern. */
function regexFact(node: TreeNode, operators: Set<string> | undefined, walk: Walk, by: CastGuard['by']): Facts {
  const out: Facts = new Map();
  if (node.type !== 'OPEXPR' || !operators?.has(String(node.fields.opno)) || !walk.guards) return out;
  const args = Array.isArray(node.fields.args) ? node.fields.args : [];
  const subject = unwrapRelabel(args[0]);
  const pattern = unwrapRelabel(args[1]);
  if (!isNode(subject) || !isNode(pattern) || pattern.type !== 'CONST' || String(pattern.fields.consttype) !== '25') return out;
  const text = constText(pattern);
  if (!text || text.length !== 1) return out;
  const proven = integerOnlyPattern(text[0] as string, walk.guards.asciiDigitCollations.has(String(node.fields.inputcollid)));
  if (proven) out.set(nodeKey(subject), { by, pattern: text[0] as string, maxDigits: proven.maxDigits });
  return out;
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

/** What a cast can still do wrong: fail on any non-integer text, fail only out of range, or nothing. */
function outcome(cast: JsonIntCast): 'fails' | 'out of range' | 'cannot fail' {
  if (!cast.guard) return 'fails';
  const safe = SAFE_DIGITS[cast.castType];
  return cast.guard.maxDigits !== null && safe !== undefined && cast.guard.maxDigits <= safe ? 'cannot fail' : 'out of range';
}

function guardText(guard: CastGuard): string {
  return `${guard.by === 'predicate' ? 'the partial-index predicate' : 'a CASE branch'} admits only text matching ${literal(guard.pattern)}`;
}

/**
 * pg_operator OIDs of pg_catalog.~(text, text) (textregexeq) and pg_catalog.!~(text, text) (textregexne):
 * built-in OIDs, assigned in pg_operator.dat and unchanged since PostgreSQL's first catalogs; an operator
 * a user creates (in any schema, with any name) gets an OID above 16383. The `~` of bpchar and name are
 * other operators and are not read.
 */
const TEXT_REGEX = { match: new Set(['641']), noMatch: new Set(['642']) };
/** The C and POSIX collations (built-in OIDs): libc, so `\d` is 0-9 there on every server. */
const C_COLLATIONS = ['950', '951'];

/**
 * The collations a guard's verdict depends on: `x ~ '^\d+$'` under a collation other than C or POSIX is
 * an integer guard only if that collation is libc's (under ICU `\d` matches '١'). Usually none, and then
 * the check reads nothing beyond the audit's catalog.
 */
function collationsToResolve(trees: (string | null)[]): Set<string> {
  const out = new Set<string>();
  for (const tree of trees) {
    if (!tree) continue;
    for (const node of walkNodes(parseNodeTree(tree))) {
      if (node.type !== 'OPEXPR') continue;
      const opno = String(node.fields.opno);
      if (!TEXT_REGEX.match.has(opno) && !TEXT_REGEX.noMatch.has(opno)) continue;
      const collation = String(node.fields.inputcollid);
      const pattern = unwrapRelabel((Array.isArray(node.fields.args) ? node.fields.args : [])[1]);
      if (C_COLLATIONS.includes(collation) || !isNode(pattern) || pattern.type !== 'CONST') continue;
      const text = constText(pattern)?.[0];
      if (text !== undefined && integerOnlyPattern(text, false) === null && integerOnlyPattern(text, true) !== null) out.add(collation);
    }
  }
  return out;
}

/** Which of these collations are libc's: one query on pg_collation (and pg_database for the default, 100). */
async function libcCollations(db: Queryable, serverVersionNum: number, collations: Set<string>): Promise<string[]> {
  if (collations.size === 0) return [];
  // The database's default collation is ICU when datlocprovider says so (PostgreSQL 15 on); libc before.
  const defaultIsLibc =
    serverVersionNum >= 150000
      ? `(SELECT d.datlocprovider = 'c' FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())`
      : 'true';
  const res = await db.query<{ oid: string }>(
    `SELECT c.oid::pg_catalog.text AS oid FROM pg_catalog.pg_collation c
      WHERE c.oid = ANY ($1::pg_catalog.oid[]) AND (c.collprovider = 'c' OR (c.collprovider = 'd' AND ${defaultIsLibc}))`,
    [[...collations]],
  );
  return res.rows.map((r) => r.oid);
}

/** For the repair's decision: how each key-expression cast is written in a query, and where else casts are. */
interface QueryShape {
  /** Casts that are a whole key expression: `(meta->>'k')::int`. */
  bare: JsonIntCast[];
  /** Some key expression has a cast inside a larger expression (a CASE, arithmetic). */
  nested: boolean;
  /** The partial-index predicate has a cast. */
  predicate: boolean;
}

export default defineCheck({
  id: 'jsonb-int-cast-index',
  title: 'JSON text cast to an integer in an index, CHECK or generated column',
  severity: 'error',
  description: 'An index, CHECK constraint or stored generated column casts a JSON text value to an integer type, so a fractional value makes writes fail.',
  docs: {
    finds:
      'Every index whose key expressions or partial-index predicate cast a JSON text extraction (`->>`, `#>>`, `json(b)_extract_path_text`) to smallint, integer or bigint, in any spelling (`::int`, `::int4`, `CAST(... AS bigint)`), read from the stored expression trees in pg_index, not from migration text. Also CHECK constraints and stored generated columns with the same cast. Casts to numeric, plain text expressions and integer casts of non-JSON columns are not reported. ' +
      "A cast that only integer text can reach is `info`, not `error`: one under `CASE WHEN (meta->>'k') ~ '^-?[0-9]+$' THEN (meta->>'k')::int END`, after a branch `WHEN (meta->>'k') !~ ... THEN` not taken, or a key expression of a partial index whose predicate requires the match (`WHERE (meta->>'k') ~ '^[0-9]+$'`; an OR counts only when every side requires it). " +
      "The pattern (a constant, matched with pg_catalog's `~` on text, found by operator OID in the stored tree) must provably admit only what the integer input functions accept: anchored at both ends (`^`/`$` or `\\A`/`\\Z`), and between them only an optional leading sign (`-?`, `[+-]?`) and at least one digit (`[0-9]`, `\\d`, `[[:digit:]]`), in any grouping, alternation or repetition (`^(0|[1-9][0-9]*)$`, `^[0-9]{1,9}$`); `\\d` and `[[:digit:]]` count only under a libc collation (under ICU they match digits such as '١', which the cast rejects), `[0-9]` under any. " +
      "The match must be on the same extraction that is cast, spelled the same way (`meta->>'k'` is not matched to `meta#>>'{k}'`), with only relabelling or COLLATE between (not `::varchar(1)`, which turns '-5' into '-'). Still `error`: an unanchored pattern, one that admits `.`, `\\s`, an empty string or anything the check cannot read, a guard on another key or column, a guard OR-ed with another condition, `jsonb_typeof(...) = 'number'` (1.38 is a number), and a guard that is only another conjunct of the same expression (`WHERE x ~ ... AND x::int > 0`: PostgreSQL does not promise AND's evaluation order; write the cast under CASE). " +
      'A guard does not bound the value: `99999999999` matches `^[0-9]+$` and still fails the cast with 22003 (out of range), which is why a guarded cast is reported as `info` rather than dropped; only a pattern that also bounds the digits to what the type holds (`{1,9}` for integer, `{1,4}` smallint, `{1,18}` bigint) is not reported at all.',
    why: 'In the incident behind this check, `CREATE INDEX ... ((meta->>\'creditsPer1kTokens\')::int)` was harmless until fractional credits arrived; then every INSERT of a model with `creditsPer1kTokens: 1.38` failed with 22P02, because index maintenance evaluates the cast on every write.',
    fix: "Recreate the index (CONCURRENTLY) with a numeric cast, or rewrite the CHECK constraint or generated column to cast to numeric. The index rebuild is `review`, never `safe`: the new index's expression is `(meta->>'k')::numeric`, so a query written `WHERE (meta->>'k')::int = $1` no longer matches it and stops using the index; the repair's decision names each predicate the application must change to `::numeric` (and the new key or partial-index predicate when the cast sits inside a larger expression). A unique index on numeric also treats 1 and 1.0 as duplicates.",
    bad: `CREATE INDEX idx_models_meta_credits_per_1k
  ON models USING btree (((meta->>'creditsPer1kTokens')::int));`,
    good: `CREATE INDEX CONCURRENTLY idx_models_meta_credits_per_1k
  ON models USING btree (((meta->>'creditsPer1kTokens')::numeric));
-- and in the application: WHERE (meta->>'creditsPer1kTokens')::numeric = $1`,
  },
  options,
  async run(ctx) {
    const findings: Finding[] = [];
    const tables = new Map([...ctx.catalog.tables, ...ctx.catalog.partitions].map((t) => [JSON.stringify([t.schema, t.name]), t]));
    const columnsOf = (schema: string, table: string) => attnumMap(tables.get(JSON.stringify([schema, table])));
    const extractors = ctx.catalog.jsonTextExtractors;
    const trees = [
      ...ctx.catalog.indexes.flatMap((i) => [i.expressionTree, i.predicateTree]),
      ...ctx.catalog.checkConstraints.map((c) => c.tree),
      ...ctx.catalog.tables.flatMap((t) => t.columns.map((c) => (c.generated === 's' ? c.generationTree : null))),
    ];
    const libc = await libcCollations(ctx.db, ctx.catalog.serverVersionNum, collationsToResolve(trees));
    const guards: GuardCatalog = { ...TEXT_REGEX, asciiDigitCollations: new Set([...C_COLLATIONS, ...libc]) };
    let provenSafe = 0;
    const report = (kind: string, object: FindingObject, what: string, all: JsonIntCast[], shape?: QueryShape) => {
      const casts = all.filter((c) => outcome(c) !== 'cannot fail');
      provenSafe += all.length - casts.length;
      if (casts.length === 0) return;
      const failing = casts.filter((c) => outcome(c) === 'fails');
      const types = [...new Set(casts.map((c) => c.castType))].join('/');
      const reason =
        failing.length === 0
          ? `only integer text reaches the cast (${[...new Set(casts.map((c) => guardText(c.guard as CastGuard)))].join('; ')}), so a fraction cannot fail it; a value beyond its range still fails with 22003 (out of range for type ${types})`
          : null;
      findings.push(
        ctx.finding({
          kind,
          ...(failing.length === 0 ? { severity: 'info' as const } : {}),
          message:
            failing.length === 0
              ? `${what} casts ${describeCasts(casts)}, but ${reason}`
              : `${what} casts ${describeCasts(casts)}: ${consequence(failing)}`,
          object,
          count: null,
          details: {
            casts: casts.map((c) => ({ expression: c.expression, castType: c.castType, keys: c.keys, column: c.column, ...(c.guard ? { guard: c.guard } : {}) })),
            ...(reason ? { reason } : {}),
          },
          repair: async (_finding, db) =>
            kind === 'index' ? rebuildIndex(db, object, shape as QueryShape) : kind === 'check-constraint' ? rewriteCheck(db, object) : rewriteGenerated(db, object),
        }),
      );
    };

    let examined = 0;
    for (const index of ctx.catalog.indexes) {
      const columns = columnsOf(index.schema, index.table);
      const inKeys = index.expressionTree
        ? findJsonIntCasts(index.expressionTree, extractors, columns, { catalog: guards, predicate: index.predicateTree })
        : [];
      const inPredicate = index.predicateTree ? findJsonIntCasts(index.predicateTree, extractors, columns, { catalog: guards }) : [];
      examined++;
      if (inKeys.length + inPredicate.length === 0) continue;
      const reported = (cs: JsonIntCast[]) => cs.filter((c) => outcome(c) !== 'cannot fail');
      const where = [reported(inKeys).length ? 'key expression' : '', reported(inPredicate).length ? 'partial-index predicate' : '']
        .filter(Boolean)
        .join(' and ');
      const firstColumn = reported([...inKeys, ...inPredicate]).find((c) => c.column)?.column;
      const bare = index.expressionTree ? bareCasts(index.expressionTree, extractors, columns) : [];
      report(
        'index',
        { schema: index.schema, table: index.table, index: index.name, ...(firstColumn ? { column: firstColumn } : {}) },
        `index ${displayName(index.schema, index.name)} on ${displayName(index.schema, index.table)} (${where})`,
        [...inKeys, ...inPredicate],
        { bare, nested: inKeys.length > bare.length, predicate: inPredicate.length > 0 },
      );
    }
    for (const check of ctx.catalog.checkConstraints) {
      examined++;
      const casts = findJsonIntCasts(check.tree, extractors, columnsOf(check.schema, check.table), { catalog: guards });
      if (casts.length === 0) continue;
      const firstColumn = casts.find((c) => outcome(c) !== 'cannot fail' && c.column)?.column;
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
        const casts = findJsonIntCasts(column.generationTree, extractors, attnumMap(table), { catalog: guards });
        if (casts.length === 0) continue;
        report(
          'generated-column',
          { schema: table.schema, table: table.name, column: column.name },
          `stored generated column ${displayName(table.schema, table.name, column.name)}`,
          casts,
        );
      }
    }
    ctx.note(
      `examined ${examined} indexes, CHECK constraints and generated columns${provenSafe ? `; ${provenSafe} integer cast(s) guarded by a pattern that bounds the value to the type's range, not reported` : ''}`,
    );
    return findings;
  },
});

/** The casts that are a whole key expression (an element of pg_index.indexprs), not part of one. */
function bareCasts(expressionTree: string, extractors: JsonTextExtractors, columnNames: Map<number, string>): JsonIntCast[] {
  const keys = parseNodeTree(expressionTree);
  const walk: Walk = { extractors, columnNames, guards: null, out: [] };
  return (Array.isArray(keys) ? keys : [keys]).flatMap((k) => {
    const cast = isNode(k) ? castOf(k, walk) : null;
    return cast ? [cast.cast] : [];
  });
}

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
 * What the application must change once the index casts to numeric: a query is matched to an expression
 * index by its expression, so `WHERE (meta->>'k')::int = $1` stops using an index on `(meta->>'k')::numeric`.
 */
async function queryChanges(shape: QueryShape, keys: string[], predicateText: string | null): Promise<string> {
  const predicate = predicateText === null ? null : oneLine(predicateText);
  const changes = [...new Map(shape.bare.map((c) => [`${c.expression}\u0000${c.castType}`, c])).values()].map(
    (c) => `WHERE (${c.expression})::${CAST_SPELLING[c.castType] ?? c.castType} = $1 becomes WHERE (${c.expression})::numeric = $1`,
  );
  if (shape.nested) {
    for (const key of keys.map(oneLine)) {
      const rewritten = await rewriteJsonIntCasts(`SELECT ${key}`);
      if (rewritten.rewritten > 0 && !(await isBareJsonIntCast(key))) {
        changes.push(`the key expression ${key} becomes ${rewritten.sql.replace(/^SELECT /, '')}, and a query must use the new one`);
      }
    }
  }
  if (shape.predicate && predicate) {
    const rewritten = (await rewriteJsonIntCasts(`SELECT ${predicate}`)).sql.replace(/^SELECT /, '');
    changes.push(`the partial-index predicate ${predicate} becomes ${rewritten}, so the index serves only queries whose WHERE implies the new predicate`);
  }
  return `queries that use this index through the integer cast stop using it (the planner matches the expression): change them before or with the rebuild: ${changes.join('; ')}`;
}

/**
 * pg_get_indexdef and pg_get_expr lay a CASE out over several lines: the same SQL on one line, for a
 * decision (line breaks and their indentation outside quoted literals and identifiers become one space).
 */
export function oneLine(sql: string): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i] as string;
    if (quote) {
      out += ch;
      if (ch === quote) quote = null; // a doubled quote closes and reopens: the same text
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '\n') {
      while (sql[i + 1] === ' ' || sql[i + 1] === '\t') i++;
      if (!out.endsWith(' ') && !out.endsWith('(')) out += ' ';
    } else out += ch;
  }
  return out;
}

/**
 * The replacement index: pg_get_indexdef's text with the cast's type name (found in the parse tree)
 * turned into numeric, built CONCURRENTLY under a temporary name, swapped in for the old one, its
 * comment carried over. A run that stopped half way resumes: the second block only renames. Always
 * `review`: queries written with the integer cast no longer match the index (see queryChanges).
 */
async function rebuildIndex(db: Queryable, object: FindingObject, shape: QueryShape): Promise<Repair> {
  const index = qualifiedName(object.schema, object.index as string);
  const facts = await db.query<{
    def: string;
    spc: string | null;
    constraint: string | null;
    partitioned: boolean;
    comment: string | null;
    keys: string[];
    predicate: string | null;
  }>(
    `SELECT pg_catalog.pg_get_indexdef(i.oid) AS def, ts.spcname AS spc,
            (SELECT con.conname FROM pg_catalog.pg_constraint con WHERE con.conindid = i.oid LIMIT 1) AS constraint,
            t.relkind = 'p' AS partitioned, pg_catalog.obj_description(i.oid, 'pg_class') AS comment,
            ARRAY(SELECT pg_catalog.pg_get_indexdef(i.oid, k, false)
                    FROM pg_catalog.generate_series(1, x.indnkeyatts::pg_catalog.int4) AS k ORDER BY k) AS keys,
            pg_catalog.pg_get_expr(x.indpred, x.indrelid) AS predicate
       FROM pg_catalog.pg_class i
       JOIN pg_catalog.pg_index x ON x.indexrelid = i.oid
       JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
       LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = i.reltablespace
      WHERE i.oid = ${relationOid('$1::pg_catalog.text', '$2::pg_catalog.text')}`,
    [object.schema, object.index],
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
  const oldUnchanged = `pg_catalog.pg_get_indexdef(${relationOidLiteral(object.schema, name)}) IS NOT DISTINCT FROM ${literal(row.def)}`;
  const queries = await queryChanges(shape, row.keys, row.predicate);

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
          decision: `${decision}; ${queries}`,
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
  // A unique index on numeric treats 1 and 1.0 as the same value: a person confirms that is wanted too.
  const decision = unique ? `as numeric, values such as 1 and 1.0 count as duplicates; confirm the uniqueness rule still holds; ${queries}` : queries;
  return {
    order: 50,
    summary: `rebuild the index with ::numeric instead of the integer cast (every other property kept; queries must cast to numeric)`,
    steps: [
      {
        safety: 'review',
        decision,
        phase: 'concurrent',
        description: `rebuild ${displayName(object.schema, name)} with a numeric cast: build the new index concurrently, drop the old one, rename`,
        guard: `SELECT ${oldUnchanged}`,
        sql: swap.map((x) => `${x};`).join('\n'),
        statements: swap,
        verifyStatements: [create(false, temp), `DROP INDEX ${index}`, `ALTER INDEX ${tempQualified} RENAME TO ${quoteIdent(name)}`, ...comment],
      },
      {
        safety: 'review',
        decision: 'only to finish the rebuild above, once the queries it names have changed',
        phase: 'concurrent',
        description: `finish a rebuild of ${displayName(object.schema, name)} that stopped after dropping the old index`,
        guard: `SELECT ${relationOidLiteral(object.schema, name)} IS NULL AND ${relationOidLiteral(object.schema, temp)} IS NOT NULL`,
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
    `SELECT pg_catalog.pg_get_constraintdef(oid) AS def FROM pg_catalog.pg_constraint WHERE conrelid = ${relationOid('$1::pg_catalog.text', '$2::pg_catalog.text')} AND conname = $3`,
    [object.schema, object.table, object.constraint],
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
      WHERE d.adrelid = ${relationOid('$1::pg_catalog.text', '$2::pg_catalog.text')} AND a.attname = $3`,
    [object.schema, object.table, object.column],
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

// ---------------------------------------------------------------------------------------------------
// Guards: a regular expression that only integer literals match.
//
// `(meta->>'k')::int` cannot fail on a fraction when the only rows that reach it are those whose text
// matched, say, '^-?[0-9]+$'. Whether a pattern admits only what int2in/int4in/int8in accept is decided
// here on the pattern itself, for a subset of PostgreSQL's ARE syntax: anything outside the subset (or
// any doubt) is "not proven", and the cast stays an error.

/** What a character of the matched text is, as far as the integer input functions care. */
const DIGIT = 1; // ASCII 0-9
const PLUS = 2;
const MINUS = 4;
const OTHER = 8; // anything else, including non-ASCII digits (which int4in rejects)
const ANY = DIGIT | PLUS | MINUS | OTHER;

type Regex =
  | { t: 'chars'; set: number }
  | { t: 'seq'; items: Regex[] }
  | { t: 'alt'; items: Regex[] }
  | { t: 'rep'; item: Regex; min: number; max: number | null }
  | { t: 'bol' }
  | { t: 'eol' };

class Unprovable extends Error {}

/** PostgreSQL's RE_DUP_MAX: the largest bound `{m,n}` accepts. */
const DUP_MAX = 255;

function classify(ch: string): number {
  if (ch >= '0' && ch <= '9') return DIGIT;
  if (ch === '+') return PLUS;
  if (ch === '-') return MINUS;
  return OTHER;
}

function rangeSet(lo: number, hi: number): number {
  let set = 0;
  const special = [43, 45, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57].filter((c) => c >= lo && c <= hi);
  if (special.includes(43)) set |= PLUS;
  if (special.includes(45)) set |= MINUS;
  if (special.some((c) => c >= 48)) set |= DIGIT;
  if (hi - lo + 1 > special.length) set |= OTHER;
  return set;
}

const isAlnum = (ch: string) => /^[A-Za-z0-9]$/.test(ch);
const isDigitChar = (ch: string | undefined) => ch !== undefined && ch >= '0' && ch <= '9';

/** Reads the subset of ARE syntax the check can reason about; throws Unprovable on anything else. */
class RegexReader {
  private i = 0;
  private readonly c: string[];
  constructor(
    pattern: string,
    /** What `\d` and `[[:digit:]]` match under the operator's collation. */
    private readonly digitClass: number,
  ) {
    this.c = Array.from(pattern);
    // `***=` (literal), `***:` and embedded options `(?n)` (which make ^ and $ match at newlines): not read.
    if (pattern.startsWith('***') || (pattern.startsWith('(?') && !pattern.startsWith('(?:'))) throw new Unprovable();
  }

  read(): Regex {
    const re = this.alternation();
    if (this.i < this.c.length) throw new Unprovable();
    return re;
  }

  private peek(offset = 0): string | undefined {
    return this.c[this.i + offset];
  }

  private alternation(): Regex {
    const items = [this.sequence()];
    while (this.peek() === '|') {
      this.i++;
      items.push(this.sequence());
    }
    return items.length === 1 ? (items[0] as Regex) : { t: 'alt', items };
  }

  private sequence(): Regex {
    const items: Regex[] = [];
    while (this.i < this.c.length && this.peek() !== '|' && this.peek() !== ')') items.push(this.quantified(this.atom()));
    return { t: 'seq', items };
  }

  private atom(): Regex {
    const ch = this.c[this.i++] as string;
    switch (ch) {
      case '(': {
        if (this.peek() === '?') {
          // Only the non-capturing group; lookahead and lookbehind constraints are not read.
          if (this.peek(1) !== ':') throw new Unprovable();
          this.i += 2;
        }
        const inner = this.alternation();
        if (this.c[this.i++] !== ')') throw new Unprovable();
        return inner;
      }
      case '[':
        return { t: 'chars', set: this.bracket() };
      case '.':
        return { t: 'chars', set: ANY };
      case '^':
        return { t: 'bol' };
      case '$':
        return { t: 'eol' };
      case '\\':
        return this.escape();
      case '*':
      case '+':
      case '?':
        throw new Unprovable();
      case '{':
        // `{` not followed by a digit is an ordinary character in an ARE.
        if (isDigitChar(this.peek())) throw new Unprovable();
        return { t: 'chars', set: OTHER };
      default:
        return { t: 'chars', set: classify(ch) };
    }
  }

  private escape(): Regex {
    const e = this.c[this.i++];
    if (e === undefined) throw new Unprovable();
    if (e === 'd') return { t: 'chars', set: this.digitClass };
    if (e === 'A') return { t: 'bol' };
    if (e === 'Z') return { t: 'eol' };
    // Any other letter or digit is a class, a constraint, a back reference or a character entry.
    if (isAlnum(e)) throw new Unprovable();
    return { t: 'chars', set: classify(e) };
  }

  private quantified(atom: Regex): Regex {
    let min: number;
    let max: number | null;
    const ch = this.peek();
    if (ch === '*') [min, max] = [0, null];
    else if (ch === '+') [min, max] = [1, null];
    else if (ch === '?') [min, max] = [0, 1];
    else if (ch === '{' && isDigitChar(this.peek(1))) {
      this.i++;
      min = this.number();
      max = min;
      if (this.peek() === ',') {
        this.i++;
        max = isDigitChar(this.peek()) ? this.number() : null;
      }
      // this.i is now on the closing `}`, consumed below like a one-character quantifier.
      if (this.peek() !== '}' || (max !== null && max < min)) throw new Unprovable();
    } else return atom;
    this.i++;
    if (this.peek() === '?') this.i++; // non-greedy: the same strings match
    if (atom.t === 'bol' || atom.t === 'eol') throw new Unprovable();
    const next = this.peek();
    if (next === '*' || next === '+' || next === '?' || (next === '{' && isDigitChar(this.peek(1)))) throw new Unprovable();
    return { t: 'rep', item: atom, min, max };
  }

  private number(): number {
    let digits = '';
    while (isDigitChar(this.peek())) digits += this.c[this.i++];
    const n = Number(digits);
    if (n > DUP_MAX) throw new Unprovable();
    return n;
  }

  /** A bracket expression, after its `[`: the set of symbols it admits. */
  private bracket(): number {
    let set = 0;
    let negate = false;
    if (this.peek() === '^') {
      negate = true;
      this.i++;
    }
    let first = true;
    for (;;) {
      const ch = this.c[this.i];
      if (ch === undefined) throw new Unprovable();
      if (ch === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      if (ch === '[' && (this.peek(1) === ':' || this.peek(1) === '.' || this.peek(1) === '=')) {
        if (this.peek(1) !== ':') throw new Unprovable(); // collating elements and equivalence classes
        const end = this.c.indexOf(':', this.i + 2);
        if (end < 0 || this.c[end + 1] !== ']') throw new Unprovable();
        const name = this.c.slice(this.i + 2, end).join('');
        if (name !== 'digit') throw new Unprovable();
        set |= this.digitClass;
        this.i = end + 2;
        continue;
      }
      const lo = this.bracketChar();
      if (lo === 'class') {
        set |= this.digitClass;
        continue;
      }
      if (this.peek() === '-' && this.peek(1) !== undefined && this.peek(1) !== ']') {
        this.i++;
        if (this.peek() === '[') throw new Unprovable();
        const hi = this.bracketChar();
        if (hi === 'class') throw new Unprovable();
        const [a, b] = [lo.codePointAt(0) as number, hi.codePointAt(0) as number];
        if (a > b) throw new Unprovable();
        set |= rangeSet(a, b);
      } else set |= classify(lo);
    }
    // A negated set admits nearly everything: take it as everything.
    return negate ? ANY : set;
  }

  /** One character of a bracket expression (an escaped one too), or `class` for `\d`. */
  private bracketChar(): string | 'class' {
    const ch = this.c[this.i++] as string;
    if (ch !== '\\') return ch;
    const e = this.c[this.i++];
    if (e === undefined) throw new Unprovable();
    if (e === 'd') return 'class';
    if (isAlnum(e)) throw new Unprovable();
    return e;
  }
}

/** A Thompson automaton over the four symbols, with zero-width `^` and `$` edges. */
class Automaton {
  readonly edges: { to: number; kind: 'eps' | 'bol' | 'eol' | 'sym'; set: number }[][] = [];
  static readonly LIMIT = 20_000;

  state(): number {
    if (this.edges.length >= Automaton.LIMIT) throw new Unprovable();
    this.edges.push([]);
    return this.edges.length - 1;
  }

  edge(from: number, to: number, kind: 'eps' | 'bol' | 'eol' | 'sym', set = 0): void {
    (this.edges[from] as { to: number; kind: 'eps' | 'bol' | 'eol' | 'sym'; set: number }[]).push({ to, kind, set });
  }

  compile(re: Regex, from: number, to: number): void {
    switch (re.t) {
      case 'chars':
        this.edge(from, to, 'sym', re.set);
        return;
      case 'bol':
      case 'eol':
        this.edge(from, to, re.t);
        return;
      case 'seq': {
        if (re.items.length === 0) return this.edge(from, to, 'eps');
        let at = from;
        re.items.forEach((item, k) => {
          const next = k === re.items.length - 1 ? to : this.state();
          this.compile(item, at, next);
          at = next;
        });
        return;
      }
      case 'alt':
        for (const item of re.items) {
          // Each branch between fresh states, so that no branch's loop can reach into another.
          const [a, b] = [this.state(), this.state()];
          this.edge(from, a, 'eps');
          this.compile(item, a, b);
          this.edge(b, to, 'eps');
        }
        return;
      case 'rep': {
        let at = from;
        for (let k = 0; k < re.min; k++) {
          const next = this.state();
          this.compile(re.item, at, next);
          at = next;
        }
        if (re.max === null) {
          const loop = this.state();
          const back = this.state();
          this.edge(at, loop, 'eps');
          this.compile(re.item, loop, back);
          this.edge(back, loop, 'eps');
          this.edge(loop, to, 'eps');
          return;
        }
        for (let k = re.min; k < re.max; k++) {
          const next = this.state();
          this.edge(at, to, 'eps');
          this.compile(re.item, at, next);
          at = next;
        }
        this.edge(at, to, 'eps');
        return;
      }
    }
  }
}

/**
 * The text seen so far, against `[+-]?[0-9]+` (what int2in/int4in/int8in accept, leaving out the
 * surrounding spaces they also allow): 0 nothing yet, 1 a sign, 2 digits (accepting), 3 anything else.
 */
function integerStep(state: number, symbol: number): number {
  if (state === 0 && (symbol === PLUS || symbol === MINUS)) return 1;
  if (state <= 2 && symbol === DIGIT) return 2;
  return 3;
}

export interface IntegerPattern {
  /** The most digits a matching text can have; null when the pattern does not bound them. */
  maxDigits: number | null;
}

/**
 * Whether every text that `text ~ pattern` holds for is an integer literal the integer input functions
 * accept: the pattern is a search, so it must be anchored at both ends, and every character it admits must
 * be a sign (first) or an ASCII digit (at least one). `asciiDigits` says whether the operator's collation
 * makes `\d` and `[[:digit:]]` ASCII-only (under an ICU collation they match '١٢', which int4in rejects).
 * Null when that cannot be proven.
 */
export function integerOnlyPattern(pattern: string, asciiDigits: boolean): IntegerPattern | null {
  const key = `${asciiDigits ? 'a' : 'u'}${pattern}`;
  if (!verdicts.has(key)) {
    if (verdicts.size >= 1000) verdicts.clear();
    verdicts.set(key, analysePattern(pattern, asciiDigits));
  }
  const verdict = verdicts.get(key) as IntegerPattern | null;
  return verdict ? { ...verdict } : null;
}

/** Patterns already decided: the same one is read for every index and CASE branch that uses it. */
const verdicts = new Map<string, IntegerPattern | null>();

function analysePattern(pattern: string, asciiDigits: boolean): IntegerPattern | null {
  let re: Regex;
  const nfa = new Automaton();
  let start: number;
  let final: number;
  try {
    re = new RegexReader(pattern, asciiDigits ? DIGIT : DIGIT | OTHER).read();
    // The search: anything before and after the match.
    start = nfa.state();
    const [s, a] = [nfa.state(), nfa.state()];
    final = nfa.state();
    nfa.edge(start, start, 'sym', ANY);
    nfa.edge(start, s, 'eps');
    nfa.compile(re, s, a);
    nfa.edge(a, final, 'eps');
    nfa.edge(final, final, 'sym', ANY);
  } catch (e) {
    if (e instanceof Unprovable) return null;
    throw e;
  }

  // The product with integerStep: (automaton state, integer state, whether `$` has been passed).
  const key = (q: number, t: number, ended: number) => (q * 4 + t) * 2 + ended;
  const startKey = key(start, 0, 0);
  const succ = new Map<number, { to: number; digit: boolean }[]>();
  const seen = new Set<number>([startKey]);
  const queue = [startKey];
  const accepting: number[] = [];
  while (queue.length > 0) {
    const k = queue.pop() as number;
    const ended = k % 2;
    const t = Math.floor(k / 2) % 4;
    const q = Math.floor(k / 8);
    if (q === final) {
      if (t !== 2) return null; // some text that matches is not an integer literal
      accepting.push(k);
    }
    const out: { to: number; digit: boolean }[] = [];
    for (const e of nfa.edges[q] ?? []) {
      if (e.kind === 'eps') out.push({ to: key(e.to, t, ended), digit: false });
      else if (e.kind === 'bol') {
        if (t === 0) out.push({ to: key(e.to, t, ended), digit: false });
      } else if (e.kind === 'eol') out.push({ to: key(e.to, t, 1), digit: false });
      else if (!ended) {
        for (const symbol of [DIGIT, PLUS, MINUS, OTHER]) {
          if (e.set & symbol) out.push({ to: key(e.to, integerStep(t, symbol), 0), digit: symbol === DIGIT });
        }
      }
    }
    succ.set(k, out);
    for (const o of out) {
      if (!seen.has(o.to)) {
        seen.add(o.to);
        queue.push(o.to);
      }
    }
  }
  return { maxDigits: longestDigitRun(startKey, succ, accepting) };
}

/** The most digit edges on a path from start to an accepting state; null when a cycle can repeat one. */
function longestDigitRun(start: number, succ: Map<number, { to: number; digit: boolean }[]>, accepting: number[]): number | null {
  if (accepting.length === 0) return 0; // the pattern matches nothing
  // Only states on some path to acceptance count.
  const pred = new Map<number, number[]>();
  for (const [from, out] of succ) {
    for (const o of out) {
      const list = pred.get(o.to);
      if (list) list.push(from);
      else pred.set(o.to, [from]);
    }
  }
  const useful = new Set<number>(accepting);
  const stack = [...accepting];
  while (stack.length > 0) {
    for (const p of pred.get(stack.pop() as number) ?? []) {
      if (!useful.has(p)) {
        useful.add(p);
        stack.push(p);
      }
    }
  }
  const edgesOf = (k: number) => (succ.get(k) ?? []).filter((o) => useful.has(o.to));

  // Tarjan's strongly connected components, iteratively; components come out in reverse topological order.
  const index = new Map<number, number>();
  const low = new Map<number, number>();
  const onStack = new Set<number>();
  const sccStack: number[] = [];
  const component = new Map<number, number>();
  const components: number[][] = [];
  let counter = 0;
  for (const root of useful) {
    if (index.has(root)) continue;
    const work: { node: number; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    sccStack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { node: number; next: number };
      const edges = edgesOf(frame.node);
      if (frame.next < edges.length) {
        const to = (edges[frame.next++] as { to: number }).to;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          sccStack.push(to);
          onStack.add(to);
          work.push({ node: to, next: 0 });
        } else if (onStack.has(to)) low.set(frame.node, Math.min(low.get(frame.node) as number, index.get(to) as number));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(frame.node) as number));
      if (low.get(frame.node) === index.get(frame.node)) {
        const members: number[] = [];
        for (;;) {
          const m = sccStack.pop() as number;
          onStack.delete(m);
          component.set(m, components.length);
          members.push(m);
          if (m === frame.node) break;
        }
        components.push(members);
      }
    }
  }
  // A digit edge inside a component can be taken again and again.
  for (const [k, c] of component) {
    if (edgesOf(k).some((o) => o.digit && component.get(o.to) === c)) return null;
  }
  const best = new Array<number>(components.length).fill(Number.NEGATIVE_INFINITY);
  best[component.get(start) as number] = 0;
  for (let c = components.length - 1; c >= 0; c--) {
    const here = best[c] as number;
    if (here === Number.NEGATIVE_INFINITY) continue;
    for (const k of components[c] as number[]) {
      for (const o of edgesOf(k)) {
        const to = component.get(o.to) as number;
        if (to !== c) best[to] = Math.max(best[to] as number, here + (o.digit ? 1 : 0));
      }
    }
  }
  return Math.max(...accepting.map((k) => best[component.get(k) as number] as number));
}
