import { deparseSync, parseSync } from '@libpg-query/parser';
import { ACTING_FUNCTIONS, codeBeyondReading } from '../db/acting-functions.js';
import { findColumn, findTable, type ForeignKey, type Table } from '../db/catalog.js';
import { displayName, qualifiedName, quoteIdent, relationOid } from '../db/quote.js';
import { ownRows, sampleKeyExpr } from '../db/sql.js';
import type { FindingObject } from '../findings.js';
import {
  judgement,
  resolveRelation,
  statementLabel,
  tableKey,
  unknownData,
  JUDGES,
  type Judge,
  type JudgeContext,
  type Judges,
  type Outcome,
  type PreflightFindingInput,
  type RangeVar,
  type RunState,
  type TransactionFrame,
} from './judge.js';
import type { PreflightRuleId } from './rules.js';
import { judgeAlterType, judgeExpressionIndex, raisingRows } from './expression-judges.js';
import { judgeJsonIntCasts, judgePlaceholderDefaults } from './later-judges.js';
import { isNode, type MigrationStatement, type Node, type StatementLocation } from './statements.js';

const at = (l: StatementLocation) => `${l.file}:${l.line}`;
export const notJudged = (rule: PreflightRuleId, reason: string): Outcome => ({ rule, status: 'not-judged', reason });
const strings = (list: unknown): string[] => (Array.isArray(list) ? (list as Node[]).map((n) => String((n.String as Node | undefined)?.sval ?? '')) : []);

/** What a statement's table is when it runs: today's, one created earlier in the run (empty), or unknown. */
export type Target =
  | { kind: 'today'; schema: string; name: string; table: Table; inh: boolean }
  | { kind: 'created'; schema: string; name: string; createdAt: StatementLocation }
  | { kind: 'unknown'; schema: string; name: string; reason: string };

/** `inh` is true unless the statement says ONLY (libpg_query leaves a false field out). */
export function targetOf(rv: RangeVar & { inh?: boolean }, state: RunState, ctx: JudgeContext): Target {
  const rel = resolveRelation(rv, state, ctx.catalog);
  const created = state.created.get(tableKey(rel.schema, rel.name));
  const unknown = unknownData(state, rel.schema, rel.name);
  if (unknown) return { kind: 'unknown', schema: rel.schema, name: rel.name, reason: unknown };
  if (created) return { kind: 'created', schema: rel.schema, name: rel.name, createdAt: created };
  if (!rel.table) {
    const where = rv.schemaname ? `${rel.schema}.${rel.name}` : `${rel.name} (looked for in ${state.searchPath.join(', ')})`;
    return { kind: 'unknown', schema: rel.schema, name: rel.name, reason: `no table ${where} exists today, and no earlier statement of the run creates it` };
  }
  return { kind: 'today', schema: rel.schema, name: rel.name, table: rel.table, inh: rv.inh === true };
}

/** Why a column cannot be read today: added earlier in the run, or not there. Null when it can. */
export function missingColumn(state: RunState, t: { schema: string; name: string; table: Table }, column: string): string | null {
  const added = state.addedColumns.get(JSON.stringify([t.schema, t.name, column]));
  if (added) return `column ${column} is added at ${at(added)} in this run: its values are not today's`;
  if (!findColumn(t.table, column)) return `${displayName(t.schema, t.name)} has no column ${column} today`;
  return null;
}

interface ColumnType {
  type: string;
  /** The type (after one domain) is PostgreSQL's own: its operators and casts are pg_catalog's. */
  builtin: boolean;
}

async function columnTypes(ctx: JudgeContext, schema: string, name: string): Promise<Map<string, ColumnType>> {
  const rows = (
    await ctx.db.query<{ name: string; type: string; builtin: boolean }>(
      `SELECT a.attname::pg_catalog.text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
              (COALESCE(b.typnamespace, t.typnamespace) OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
               AND COALESCE(b.typtype, t.typtype) OPERATOR(pg_catalog.<>) 'd') AS builtin
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
         LEFT JOIN pg_catalog.pg_type b ON t.typtype OPERATOR(pg_catalog.=) 'd' AND b.oid OPERATOR(pg_catalog.=) t.typbasetype
        WHERE a.attrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')} AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped`,
      [schema, name],
    )
  ).rows;
  return new Map(rows.map((r) => [r.name, { type: r.type, builtin: r.builtin }]));
}

/** Why comparing or grouping these columns could run code that is not PostgreSQL's own, or null. */
export async function userTypes(ctx: JudgeContext, schema: string, name: string, columns: string[]): Promise<string | null> {
  const types = await columnTypes(ctx, schema, name);
  const foreign = columns.filter((c) => types.get(c)?.builtin !== true);
  if (foreign.length === 0) return null;
  return `${foreign.map((c) => `column ${c} is of type ${types.get(c)?.type ?? 'unknown'}`).join(', ')}, not one of PostgreSQL's own: its comparison may be user code`;
}

/** Stands for a server message under --samples 0 or samples.exclude: it may quote a row's value. */
export const WITHHELD = "the server's message is withheld, since it may quote a row's value (--samples 0 or samples.exclude)";

/**
 * Runs an evaluation of the migration's own expression in a savepoint: an error it raises is the answer
 * (the statement would raise it too), not a failure of the run.
 */
export async function evaluating<T>(ctx: JudgeContext, work: () => Promise<T>, valuesAllowed = true, answers = /^(22|42)/): Promise<{ value: T } | { error: { code: string; message: string } }> {
  await ctx.raw.query('SAVEPOINT integrity_evaluation');
  try {
    const value = await work();
    await ctx.raw.query('RELEASE SAVEPOINT integrity_evaluation');
    return { value };
  } catch (err) {
    await ctx.raw.query('ROLLBACK TO SAVEPOINT integrity_evaluation');
    const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
    // Statement timeouts, cancellations, locks and the guard's refusals are the run's failure, not the expression's.
    if (!answers.test(code)) throw err;
    // The server's message quotes the value that raised ('invalid input syntax for type integer: "1.38"').
    const message = valuesAllowed ? ((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '') : WITHHELD;
    return { error: { code, message } };
  }
}

/** Key values for a finding's samples, or none when samples are off or excluded for the object. */
export function sampleLimit(ctx: JudgeContext, object: FindingObject): number {
  return ctx.valuesAllowed(object) ? Math.max(0, ctx.sampleSize) : 0;
}

/** The table's primary key values of a row, or its ctid when it has none: which rows, never what they hold. */
export function rowKey(table: Table, ctx: JudgeContext): { expr: string; what: string } {
  // A key's ::text (or json) could run a user cast from its type: ctids then.
  if (ctx.userCasts.length === 0 && table.primaryKey && table.primaryKey.length > 0) return { expr: sampleKeyExpr('r', table.primaryKey), what: `primary key (${table.primaryKey.join(', ')})` };
  return { expr: 'r.ctid::pg_catalog.text', what: 'ctid (the table has no primary key)' };
}

/** Counts the rows `where` selects (alias r) and takes up to `limit` samples of `sample`. */
export async function countRows(ctx: JudgeContext, from: string, where: string, sample: string, limit: number, params: unknown[] = []): Promise<{ count: number; samples: string[] }> {
  const count = Number((await ctx.db.query<{ n: string }>(`SELECT pg_catalog.count(*) AS n FROM ${from} r WHERE ${where}`, params)).rows[0]?.n ?? 0);
  if (count === 0 || limit === 0) return { count, samples: [] };
  const samples = (await ctx.db.query<{ s: string }>(`SELECT DISTINCT ${sample} AS s FROM ${from} r WHERE ${where} ORDER BY 1 LIMIT ${Number(limit)}`, params)).rows.map((r) => r.s ?? 'NULL');
  return { count, samples };
}

const BUILTIN_FK_TYPES = new Set(['smallint', 'integer', 'bigint', 'text', 'character varying', 'uuid', 'date', 'timestamp without time zone', 'timestamp with time zone', 'boolean', 'numeric', 'bytea', 'oid']);
const INTEGERS = new Set(['smallint', 'integer', 'bigint']);
const STRINGS = new Set(['text', 'character varying']);
const bareType = (t: string) => t.replace(/\(.*\)$/, '').replace(/\[\]$/, '[]');

/**
 * `a = b` as PostgreSQL's RI check compares a new foreign key's columns: with the equality of the
 * referenced key's operator class, which for these built-in types is pg_catalog's `=` (integers across
 * widths, and text against varchar, within one operator family). Null when the pair is not one of those:
 * the operator the server would pick is not known here.
 */
function riEquality(child: string, parent: string): boolean {
  const c = bareType(child);
  const p = bareType(parent);
  if (!BUILTIN_FK_TYPES.has(c) || !BUILTIN_FK_TYPES.has(p)) return false;
  return c === p || (INTEGERS.has(c) && INTEGERS.has(p)) || (STRINGS.has(c) && STRINGS.has(p));
}

/**
 * Whether a foreign key may reference these columns: a unique index on exactly them (any order), not
 * partial, on no expression, valid and not deferrable ('usable'); 'none' when there is no unique index on
 * them at all (the statement fails, 42830); else why it is not known.
 */
async function referencedKey(ctx: JudgeContext, state: RunState, schema: string, name: string, columns: string[]): Promise<'usable' | 'none' | string> {
  const wanted = JSON.stringify([...columns].sort());
  if ((state.uniqueAdded.get(tableKey(schema, name)) ?? []).some((k) => JSON.stringify([...k].sort()) === wanted)) return 'usable';
  const rows = (
    await ctx.db.query<{ valid: boolean; immediate: boolean; columns: string[] }>(
      `SELECT i.indisvalid AS valid, i.indimmediate AS immediate,
              (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text) FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(n, o)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) k.n
                WHERE k.o OPERATOR(pg_catalog.<=) i.indnkeyatts) AS columns
         FROM pg_catalog.pg_index i
        WHERE i.indrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')} AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
      [schema, name],
    )
  ).rows;
  const same = rows.filter((r) => JSON.stringify([...(r.columns ?? [])].sort()) === wanted);
  if (same.some((r) => r.valid && r.immediate)) return 'usable';
  if (same.length > 0) return `the unique index on ${displayName(schema, name)}(${columns.join(', ')}) is ${same.every((r) => !r.valid) ? 'invalid' : 'deferrable'}: whether PostgreSQL accepts it for a foreign key is not judged`;
  return 'none';
}

interface ForeignKeySpec {
  name: string | null;
  child: Extract<Target, { kind: 'today' | 'created' }>;
  columns: string[];
  parentRv: RangeVar;
  refColumns: string[];
  matchFull: boolean;
  location: StatementLocation;
  statement: string;
}

/** Orphans as PostgreSQL's check sees them: FROM ONLY the child, MATCH SIMPLE skipping a key with a NULL. */
async function judgeForeignKey(fk: ForeignKeySpec, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome> {
  const rule = 'preflight/orphans';
  const child = fk.child;
  const parent = targetOf(fk.parentRv, state, ctx);
  if (parent.kind === 'unknown') return notJudged(rule, `the referenced table: ${parent.reason}`);
  if (child.kind === 'created') {
    return { rule, status: 'passed', note: `${displayName(child.schema, child.name)} is created at ${at(child.createdAt)} in this run: empty when this runs, no row to check` };
  }
  const refColumns = fk.refColumns.length > 0 ? fk.refColumns : parent.kind === 'today' ? (parent.table.primaryKey ?? []) : [];
  if (refColumns.length !== fk.columns.length) return notJudged(rule, 'the referenced columns are not known (no column list, and no primary key today)');
  for (const c of fk.columns) {
    const missing = missingColumn(state, child, c);
    if (missing) return notJudged(rule, missing);
  }
  const object: FindingObject = {
    schema: child.schema,
    table: child.name,
    columns: fk.columns,
    ...(fk.name ? { constraint: fk.name } : {}),
    references: { schema: parent.schema, table: parent.name, columns: refColumns },
  };
  const childTypes = await columnTypes(ctx, child.schema, child.name);
  const keyNotNull = fk.columns.map((c) => `r.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
  const anyNull = fk.columns.map((c) => `r.${quoteIdent(c)} IS NULL`).join(' OR ');
  // MATCH FULL: a key partly NULL fails too; wholly NULL passes, as in MATCH SIMPLE.
  const partlyNull = fk.matchFull && fk.columns.length > 1 ? ` OR ((${anyNull}) AND NOT (${fk.columns.map((c) => `r.${quoteIdent(c)} IS NULL`).join(' AND ')}))` : '';
  let where: string;
  let parentNote = '';
  if (parent.kind === 'created') {
    // The referenced table is new, so empty: every key without a NULL references nothing.
    where = `(${keyNotNull})${partlyNull}`;
    parentNote = `; ${displayName(parent.schema, parent.name)} is created at ${at(parent.createdAt)} in this run, so it is empty when this runs and every such row is an orphan`;
  } else {
    for (const c of refColumns) {
      const missing = missingColumn(state, parent, c);
      if (missing) return notJudged(rule, `the referenced key: ${missing}`);
    }
    const parentTypes = await columnTypes(ctx, parent.schema, parent.name);
    for (let i = 0; i < fk.columns.length; i++) {
      const ct = childTypes.get(fk.columns[i] as string);
      const pt = parentTypes.get(refColumns[i] as string);
      if (!ct?.builtin || !pt?.builtin || !riEquality(ct.type, pt.type)) {
        return notJudged(rule, `${fk.columns[i]} (${ct?.type ?? '?'}) against ${refColumns[i]} (${pt?.type ?? '?'}): the equality PostgreSQL's check would use is not known here`);
      }
    }
    const collations = await keyCollations(ctx, child, fk.columns, parent, refColumns);
    const incompatible = collations.find((c) => c?.incompatible === true);
    if (incompatible) {
      report({
        rule: 'preflight/key-collations',
        kind: 'incompatible-collations',
        message:
          `${fk.statement} fails now (42P21, PostgreSQL ${Math.floor(ctx.catalog.serverVersionNum / 10000)}): ${incompatible.column} has collation ${incompatible.childName} and ${incompatible.refColumn} has ${incompatible.parentName}; with a nondeterministic one on either side PostgreSQL 18 and later take only the same collation on both ("foreign key constraint cannot be implemented"), whatever the rows. ` +
          `Give both columns the same collation first (ALTER TABLE ${qualifiedName(child.schema, child.name)} ALTER COLUMN ${quoteIdent(incompatible.column)} TYPE ${incompatible.type} COLLATE ${incompatible.parentSql}), then add the foreign key`,
        object,
        count: null,
        samples: [],
        details: { sqlstate: '42P21', kind: 'incompatible-collations', collations: [incompatible.childName, incompatible.parentName] },
        location: fk.location,
      });
      return { rule: 'preflight/key-collations', status: 'failed' };
    }
    const key = await referencedKey(ctx, state, parent.schema, parent.name, refColumns);
    if (key === 'none') {
      report({
        rule,
        kind: 'no-unique-key',
        message: `${fk.statement} fails now (42830): ${displayName(parent.schema, parent.name)} has no primary key, unique constraint or unique index on (${refColumns.join(', ')}), which a foreign key must reference. Add one first`,
        object,
        count: null,
        samples: [],
        location: fk.location,
      });
      return { rule, status: 'failed' };
    }
    if (key !== 'usable') return notJudged(rule, key);
    // Columns of different collations compare as PostgreSQL's check does: under the referenced column's.
    const match = fk.columns.map((c, i) => `p.${quoteIdent(refColumns[i] as string)} OPERATOR(pg_catalog.=) r.${quoteIdent(c)}${collations[i]?.compareWith ? ` COLLATE ${collations[i]?.compareWith}` : ''}`).join(' AND ');
    where = `((${keyNotNull}) AND NOT EXISTS (SELECT 1 FROM ${ownRows(parent.table)} p WHERE ${match}))${partlyNull}`;
  }
  const { count, samples } = await countRows(ctx, ownRows(child.table), where, sampleKeyExpr('r', fk.columns), sampleLimit(ctx, object));
  if (count === 0) return { rule, status: 'passed', ...(parentNote ? { note: `no row of ${displayName(child.schema, child.name)} has a key without a NULL` } : {}) };
  report({
    rule,
    kind: 'orphans',
    message:
      `${fk.statement} fails now (23503): ${count} row${count === 1 ? '' : 's'} of ${displayName(child.schema, child.name)} reference${count === 1 ? 's' : ''} no row of ${displayName(parent.schema, parent.name)}(${refColumns.join(', ')})${parentNote}. ` +
      `Add the constraint NOT VALID (new rows are checked at once), repair or remove these rows, then VALIDATE CONSTRAINT`,
    object,
    count,
    samples,
    details: { sampleKey: fk.columns, matchType: fk.matchFull ? 'full' : 'simple' },
    location: fk.location,
  });
  return { rule, status: 'failed' };
}

interface KeyCollation {
  column: string;
  refColumn: string;
  type: string;
  childName: string;
  parentName: string;
  parentSql: string;
  /** The collation (SQL) the comparison is made under when the two differ: the referenced column's. */
  compareWith: string | null;
  /** PostgreSQL 18 refuses the pair: different collations, one of them nondeterministic. */
  incompatible: boolean;
}

/**
 * The collations of each key column pair. Up to PostgreSQL 17 the check compares two columns of
 * different collations under the referenced column's (ri_GenerateQualCollation); 18 refuses the
 * foreign key (42P21) when they differ and either is nondeterministic, and otherwise compares as 17 did.
 */
async function keyCollations(ctx: JudgeContext, child: { schema: string; name: string }, columns: string[], parent: { schema: string; name: string }, refColumns: string[]): Promise<(KeyCollation | null)[]> {
  const rows = (
    await ctx.db.query<{ side: string; column: string; oid: string; schema: string | null; name: string | null; deterministic: boolean | null; type: string }>(
      `SELECT s.side, a.attname::pg_catalog.text AS column, a.attcollation::pg_catalog.text AS oid, n.nspname::pg_catalog.text AS schema, co.collname::pg_catalog.text AS name,
              co.collisdeterministic AS deterministic, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
         FROM (VALUES ('child', ${relationOid('$1', '$2')}, $3::pg_catalog.text[]), ('parent', ${relationOid('$4', '$5')}, $6::pg_catalog.text[])) AS s(side, rel, cols)
         JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) s.rel AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (s.cols)
         LEFT JOIN pg_catalog.pg_collation co ON co.oid OPERATOR(pg_catalog.=) a.attcollation
         LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) co.collnamespace`,
      [child.schema, child.name, columns, parent.schema, parent.name, refColumns],
    )
  ).rows;
  const find = (side: string, column: string) => rows.find((r) => r.side === side && r.column === column);
  return columns.map((column, i) => {
    const refColumn = refColumns[i] as string;
    const c = find('child', column);
    const p = find('parent', refColumn);
    if (!c || !p || c.oid === '0' || p.oid === '0' || c.oid === p.oid || p.schema === null || p.name === null) return null;
    const parentSql = qualifiedName(p.schema, p.name);
    const nondeterministic = c.deterministic === false || p.deterministic === false;
    return {
      column,
      refColumn,
      type: c.type,
      childName: c.schema && c.name ? displayName(c.schema, c.name) : c.oid,
      parentName: displayName(p.schema, p.name),
      parentSql,
      compareWith: parentSql,
      incompatible: nondeterministic && ctx.catalog.serverVersionNum >= 180000,
    };
  });
}

interface UniqueSpec {
  name: string | null;
  target: Extract<Target, { kind: 'today' | 'created' }>;
  columns: string[];
  primaryKey: boolean;
  nullsNotDistinct: boolean;
  /** A partial unique index's predicate, as SQL already vetted; null when none. */
  predicate: string | null;
  location: StatementLocation;
  statement: string;
  index?: string;
}

/** Duplicate keys, as the unique index being built would find them; for a primary key also its NULLs. */
async function judgeUnique(u: UniqueSpec, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome> {
  const rule = 'preflight/duplicates';
  const t = u.target;
  if (t.kind === 'created') return { rule, status: 'passed', note: `${displayName(t.schema, t.name)} is created at ${at(t.createdAt)} in this run: empty when this runs, no key to compare` };
  for (const c of u.columns) {
    const missing = missingColumn(state, t, c);
    if (missing) return notJudged(rule, missing);
  }
  const foreign = await userTypes(ctx, t.schema, t.name, u.columns);
  if (foreign) return notJudged(rule, foreign);
  const object: FindingObject = { schema: t.schema, table: t.name, columns: u.columns, ...(u.name ? { constraint: u.name } : {}), ...(u.index ? { index: u.index } : {}) };
  // A later foreign key of the run may reference it (whether or not it fails here: the run is judged as if it succeeded).
  if (!u.predicate) state.uniqueAdded.set(tableKey(t.schema, t.name), [...(state.uniqueAdded.get(tableKey(t.schema, t.name)) ?? []), u.columns]);
  const from = ownRows(t.table);
  const cols = u.columns.map((c) => `r.${quoteIdent(c)}`).join(', ');
  const filters = [...(u.predicate ? [`(${u.predicate})`] : []), ...(u.nullsNotDistinct || u.primaryKey ? [] : u.columns.map((c) => `r.${quoteIdent(c)} IS NOT NULL`))];
  const where = filters.length > 0 ? filters.join(' AND ') : 'true';
  const groups = (
    await ctx.db.query<{ groups: string; rows: string | null }>(
      `SELECT pg_catalog.count(*) AS groups, pg_catalog.sum(d.n) AS rows FROM (SELECT pg_catalog.count(*) AS n FROM ${from} r WHERE ${where} GROUP BY ${cols} HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1) d`,
    )
  ).rows[0];
  const keys = Number(groups?.groups ?? 0);
  const rows = Number(groups?.rows ?? 0);
  let failed = false;
  if (keys > 0) {
    const limit = sampleLimit(ctx, object);
    const samples =
      limit === 0
        ? []
        : (
            await ctx.db.query<{ s: string }>(
              `SELECT ${sampleKeyExpr('r', u.columns)} AS s FROM ${from} r WHERE ${where} GROUP BY ${cols} HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 ORDER BY pg_catalog.count(*) DESC, 1 LIMIT ${Number(limit)}`,
            )
          ).rows.map((r) => r.s ?? 'NULL');
    report({
      rule,
      kind: 'duplicates',
      message:
        `${u.statement} fails now (23505): ${keys} key${keys === 1 ? '' : 's'} of ${displayName(t.schema, t.name)}(${u.columns.join(', ')}) ${keys === 1 ? 'is' : 'are'} held by more than one row, ${rows} rows in all` +
        `${u.nullsNotDistinct ? ' (NULLS NOT DISTINCT: NULLs count as equal)' : ''}. Resolve the duplicates first (keep one row per key), or build the index CONCURRENTLY only once they are gone`,
      object,
      count: rows,
      samples,
      details: { duplicateKeys: keys, sampleKey: u.columns, nullsDistinct: !(u.nullsNotDistinct || u.primaryKey), ...(u.predicate ? { predicate: u.predicate } : {}) },
      location: u.location,
    });
    failed = true;
  }
  if (u.primaryKey) {
    const key = rowKey(t.table, ctx);
    const { count, samples } = await countRows(ctx, from, u.columns.map((c) => `r.${quoteIdent(c)} IS NULL`).join(' OR '), key.expr, sampleLimit(ctx, object));
    if (count > 0) {
      report({
        rule,
        kind: 'primary-key-nulls',
        message: `${u.statement} fails now (23502): ${count} row${count === 1 ? '' : 's'} of ${displayName(t.schema, t.name)} ${count === 1 ? 'has' : 'have'} a NULL in (${u.columns.join(', ')}), which a primary key makes NOT NULL (samples: ${key.what})`,
        object,
        count,
        samples,
        location: u.location,
      });
      failed = true;
    }
  }
  return { rule, status: failed ? 'failed' : 'passed' };
}

/** A column made NOT NULL (SET NOT NULL): the rows holding NULL in it. */
async function judgeSetNotNull(t: Extract<Target, { kind: 'today' }>, column: string, s: MigrationStatement, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome> {
  const rule = 'preflight/nulls';
  const missing = missingColumn(state, t, column);
  if (missing) return notJudged(rule, missing);
  const object: FindingObject = { schema: t.schema, table: t.name, column };
  const key = rowKey(t.table, ctx);
  // Without ONLY, SET NOT NULL applies to the inheriting tables too, as a plain FROM reads them.
  const from = t.inh || t.table.kind === 'partitioned table' ? qualifiedName(t.schema, t.name) : `ONLY ${qualifiedName(t.schema, t.name)}`;
  const { count, samples } = await countRows(ctx, from, `r.${quoteIdent(column)} IS NULL`, key.expr, sampleLimit(ctx, object));
  if (count === 0) return { rule, status: 'passed' };
  report({
    rule,
    kind: 'set-not-null',
    message: `ALTER COLUMN ${column} SET NOT NULL fails now (23502): ${count} row${count === 1 ? '' : 's'} of ${displayName(t.schema, t.name)} hold NULL in ${column} (samples: ${key.what}). Fill them first (an UPDATE before this statement, in the same migration)`,
    object,
    count,
    samples,
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/** Whether an expression is a constant that is not NULL (a DEFAULT that fills every row). */
function nonNullConstant(expr: unknown): boolean | null {
  let e = expr;
  while (isNode(e) && isNode(e.TypeCast)) e = (e.TypeCast as Node).arg;
  if (isNode(e) && isNode(e.A_Const)) return (e.A_Const as Node).isnull !== true;
  return null;
}

const SERIALS = new Set(['serial', 'bigserial', 'smallserial', 'serial2', 'serial4', 'serial8']);

/** ADD COLUMN ... NOT NULL: without a default (or with a NULL one) every row of a table with rows fails. */
async function judgeAddColumn(t: Extract<Target, { kind: 'today' | 'created' }>, def: Node, s: MigrationStatement, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome[]> {
  const rule = 'preflight/nulls';
  const column = String(def.colname ?? '');
  state.addedColumns.set(JSON.stringify([t.schema, t.name, column]), s.location);
  const constraints = ((def.constraints as Node[] | undefined) ?? []).map((c) => (c.Constraint ?? {}) as Node);
  const kinds = constraints.map((c) => String(c.contype));
  const others = kinds.filter((k) => !['CONSTR_NOTNULL', 'CONSTR_NULL', 'CONSTR_DEFAULT'].includes(k));
  const outcomes: Outcome[] = [];
  if (others.length > 0) outcomes.push(notJudged('preflight/not-judged', `ADD COLUMN ${column} with ${others.map((k) => k.replace('CONSTR_', '')).join(', ')}: not judged`));
  const typeNames = strings((def.typeName as Node | undefined)?.names);
  // serial fills every row from its sequence (and is NOT NULL by itself); an identity or generated column is filled too.
  if (SERIALS.has((typeNames[typeNames.length - 1] ?? '').toLowerCase())) return [...outcomes, { rule, status: 'passed', note: `${column} is ${typeNames.join('.')}: every row gets a value from its sequence` }];
  if (kinds.includes('CONSTR_IDENTITY') || kinds.includes('CONSTR_GENERATED')) return outcomes;
  if (!kinds.includes('CONSTR_NOTNULL')) return outcomes.length > 0 ? outcomes : [{ rule, status: 'passed' }];
  if (t.kind === 'created') return [...outcomes, { rule, status: 'passed', note: `${displayName(t.schema, t.name)} is created at ${at(t.createdAt)} in this run: empty when this runs` }];
  const dflt = constraints.find((c) => c.contype === 'CONSTR_DEFAULT');
  const filled = dflt ? nonNullConstant(dflt.raw_expr) : false;
  if (filled === null) return [...outcomes, notJudged(rule, `ADD COLUMN ${column} NOT NULL: its DEFAULT is an expression, whose value for each row is not known here`)];
  if (filled) return [...outcomes, { rule, status: 'passed' }];
  const object: FindingObject = { schema: t.schema, table: t.name, column };
  const key = rowKey(t.table, ctx);
  const from = t.inh || t.table.kind === 'partitioned table' ? qualifiedName(t.schema, t.name) : `ONLY ${qualifiedName(t.schema, t.name)}`;
  const { count, samples } = await countRows(ctx, from, 'true', key.expr, sampleLimit(ctx, object));
  if (count === 0) return [...outcomes, { rule, status: 'passed', note: `${displayName(t.schema, t.name)} has no row today` }];
  report({
    rule,
    kind: 'add-column-not-null',
    message: `ADD COLUMN ${column} ... NOT NULL ${dflt ? 'with DEFAULT NULL' : 'without a DEFAULT'} fails now (23502): ${displayName(t.schema, t.name)} has ${count} row${count === 1 ? '' : 's'}, each of which would hold NULL. Give it a DEFAULT, or add it nullable, fill it, then SET NOT NULL`,
    object,
    count,
    samples,
    location: s.location,
  });
  return [...outcomes, { rule, status: 'failed' }];
}

/** Functions an expression may not call even though they are pg_catalog's: the guard's, and those that write. */
const REFUSED_IN_EXPRESSIONS = new Set([
  ...ACTING_FUNCTIONS,
  'nextval',
  'setval',
  'currval',
  'lastval',
  // They read the server's files, settings and other sessions' activity: their text would reach the report.
  'pg_read_file',
  'pg_read_binary_file',
  'pg_stat_file',
  'pg_ls_dir',
  'pg_ls_logdir',
  'pg_ls_waldir',
  'pg_ls_tmpdir',
  'pg_ls_archive_statusdir',
  'pg_ls_logicalsnapdir',
  'pg_ls_logicalmapdir',
  'pg_ls_replslotdir',
  'lo_get',
  'lo_export',
  'loread',
  'current_setting',
  'pg_stat_get_backend_activity',
  'pg_stat_get_activity',
  'pg_current_logfile',
  'inet_server_addr',
]);

/** Why an expression of the migration may not be evaluated (it could run code not PostgreSQL's own), or null. */
export async function expressionRefusal(ctx: JudgeContext, expr: unknown, t: { schema: string; name: string }, state: RunState, table: Table): Promise<string | null> {
  if (ctx.userCasts.length > 0) {
    const shown = ctx.userCasts.slice(0, 3).join(', ');
    return `the database has casts whose function is not pg_catalog's (${shown}${ctx.userCasts.length > 3 ? ', ...' : ''}), which PostgreSQL may pick for a cast in it`;
  }
  const beyond = codeBeyondReading(expr, REFUSED_IN_EXPRESSIONS);
  if (beyond.length > 0) return `calls ${beyond.join(', ')}`;
  if (JSON.stringify(expr).includes('"SubLink"')) return 'holds a subquery';
  const calls = new Set<string>();
  const columns = new Set<string>();
  const operators = new Set<string>();
  const types = new Set<string>();
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (isNode(n)) {
      if (isNode(n.FuncCall)) {
        const names = strings((n.FuncCall as Node).funcname);
        calls.add(names[names.length - 1] ?? '');
      }
      if (isNode(n.A_Expr)) {
        const names = strings((n.A_Expr as Node).name);
        if (names.length > 0) operators.add(names[names.length - 1] as string);
      }
      for (const t of [n.TypeName, n.typeName]) {
        if (!isNode(t)) continue;
        const names = strings((t as Node).names);
        if (names.length === 1) types.add(names[0] as string);
      }
      if (isNode(n.ColumnRef)) {
        const fields = (n.ColumnRef as Node).fields as Node[] | undefined;
        const last = fields?.[fields.length - 1];
        if (!last || !isNode(last.String)) columns.add('*');
        else columns.add(String((last.String as Node).sval));
      }
      Object.values(n).forEach(walk);
    }
  };
  walk(expr);
  if (columns.has('*')) return 'refers to the whole row';
  if (calls.size > 0) {
    const known = new Set(
      (
        await ctx.db.query<{ name: string }>(
          `SELECT DISTINCT p.proname::pg_catalog.text AS name FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND p.proname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])`,
          [[...calls]],
        )
      ).rows.map((r) => r.name),
    );
    const outside = [...calls].filter((c) => !known.has(c));
    if (outside.length > 0) return `calls ${outside.map((c) => `${c}()`).join(', ')}, not a pg_catalog function`;
  }
  // A function or operator of another schema taking PostgreSQL's own types may be the one the migration's
  // search_path picks (a better match of argument types wins wherever it is): what is evaluated here might
  // not be what the migration runs. (One on an extension's own types, citext's say, cannot be picked for
  // these columns, which are all of PostgreSQL's types.) One that is not an extension's counts whatever
  // its argument types: lower(public.d) is picked for a column of domain d, an exact match.
  const shadowed = (
    await ctx.db.query<{ what: string }>(
      `SELECT DISTINCT pg_catalog.concat(n.nspname, '.', p.proname, '()') AS what FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
        WHERE n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog' AND p.proname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
          AND (NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) AS a(t) JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) a.t
                           WHERE ty.typnamespace OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace)
               OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                                AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) 'e'))
       UNION
       SELECT DISTINCT pg_catalog.concat('operator ', n.nspname, '.', o.oprname) FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
         LEFT JOIN pg_catalog.pg_type lt ON lt.oid OPERATOR(pg_catalog.=) o.oprleft JOIN pg_catalog.pg_type rt ON rt.oid OPERATOR(pg_catalog.=) o.oprright
        WHERE n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog' AND o.oprname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])
          AND ((lt.oid IS NULL OR lt.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace) AND rt.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
               OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
                                AND d.objid OPERATOR(pg_catalog.=) o.oid AND d.deptype OPERATOR(pg_catalog.=) 'e'))
       ORDER BY 1`,
      [[...calls], [...operators]],
    )
  ).rows.map((r) => r.what);
  if (shadowed.length > 0) return `uses a name that ${shadowed.join(', ')} also has, outside pg_catalog: the one the migration resolves to may be user code`;
  if (types.size > 0) {
    const known = new Set(
      (
        await ctx.db.query<{ name: string }>(
          `SELECT t.typname::pg_catalog.text AS name FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND t.typname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])`,
          [[...types]],
        )
      ).rows.map((r) => r.name),
    );
    const outside = [...types].filter((t) => !known.has(t));
    if (outside.length > 0) return `casts to ${outside.join(', ')}, not a pg_catalog type`;
  }
  for (const c of columns) {
    const missing = missingColumn(state, { ...t, table }, c);
    if (missing) return missing;
  }
  const foreign = await userTypes(ctx, t.schema, t.name, [...columns]);
  if (foreign) return foreign;
  return null;
}

/** SQL text of a parse-tree expression, deparsed by libpg_query (quoting and literals as PostgreSQL writes them). */
export function deparseExpression(expr: unknown): string {
  const sql = deparseSync({ version: 170004, stmts: [{ stmt: { SelectStmt: { targetList: [{ ResTarget: { val: expr } }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } } }] } as unknown as Parameters<typeof deparseSync>[0]);
  return sql.replace(/^SELECT\s+/i, '').replace(/;\s*$/, '');
}

/** ADD CHECK (without NOT VALID): the rows for which the expression is false (NULL passes, as in PostgreSQL). */
async function judgeCheck(t: Extract<Target, { kind: 'today' | 'created' }>, c: Node, s: MigrationStatement, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome> {
  const rule = 'preflight/check-violations';
  if (t.kind === 'created') return { rule, status: 'passed', note: `${displayName(t.schema, t.name)} is created at ${at(t.createdAt)} in this run: empty when this runs, no row to check` };
  const name = typeof c.conname === 'string' ? c.conname : null;
  const object: FindingObject = { schema: t.schema, table: t.name, ...(name ? { constraint: name } : {}) };
  const own = ownColumns(c.raw_expr, t);
  if (own.error) return reportForeignQualifier(own.error, 'CHECK expression', 'ADD CHECK', object, s.location, report);
  c = { ...c, raw_expr: own.expr };
  const refusal = await expressionRefusal(ctx, c.raw_expr, t, state, t.table);
  if (refusal) return notJudged(rule, `not judged: the CHECK expression ${refusal}`);
  const expression = deparseExpression(c.raw_expr);
  const key = rowKey(t.table, ctx);
  // Without ONLY (and unless NO INHERIT), ADD CHECK applies to the inheriting tables too. The expression's columns are the table's, unqualified.
  const from = (t.inh && c.is_no_inherit !== true) || t.table.kind === 'partitioned table' ? qualifiedName(t.schema, t.name) : `ONLY ${qualifiedName(t.schema, t.name)}`;
  const evaluated = await evaluating(ctx, () => countRows(ctx, from, `(${expression}) IS FALSE`, key.expr, sampleLimit(ctx, object)), ctx.valuesAllowed(object));
  if ('error' in evaluated) {
    const { code, message } = evaluated.error;
    // A data exception (22xxx) on some row of today fails the ALTER TABLE too: PostgreSQL evaluates the
    // expression on every row. Anything else (an operator this session does not find) is ours not to know.
    if (!code.startsWith('22')) return notJudged(rule, `not judged: the CHECK expression could not be evaluated here: ${message} [${code}]`);
    // Which rows raise, when the cause is an integer cast every row reaches.
    const raised = await raisingRows(ctx, from, 'true', [c.raw_expr], key.expr, object).catch(() => null);
    const counted = raised?.count ?? null;
    const rows = counted === null ? 'the rows of today' : `${counted} row${counted === 1 ? '' : 's'} of ${displayName(t.schema, t.name)} (samples: ${key.what})`;
    report({
      rule,
      kind: 'check-raises',
      message: `ADD CHECK (${expression}) fails now: evaluating it over ${rows} raises "${message}" [${code}]. Write the expression so that it cannot raise (e.g. a ::numeric cast instead of ::int), or repair the rows first`,
      object,
      count: counted,
      samples: raised?.samples ?? [],
      details: { sqlstate: code, error: message },
      location: s.location,
    });
    return { rule, status: 'failed' };
  }
  const { count, samples } = evaluated.value;
  if (count === 0) return { rule, status: 'passed' };
  report({
    rule,
    kind: 'check',
    message: `ADD CHECK (${expression}) fails now (23514): ${count} row${count === 1 ? '' : 's'} of ${displayName(t.schema, t.name)} violate it (samples: ${key.what}). Add it NOT VALID (new rows are checked at once), repair these rows, then VALIDATE CONSTRAINT`,
    object,
    count,
    samples,
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/** A constraint added NOT VALID earlier in the run, for its VALIDATE CONSTRAINT. */
export interface PendingConstraint {
  table: string;
  constraint: Node;
  location: StatementLocation;
}

const SUBCOMMANDS: Record<string, string> = {
  AT_AlterColumnType: 'ALTER COLUMN ... TYPE',
  AT_DropColumn: 'DROP COLUMN',
  AT_DropConstraint: 'DROP CONSTRAINT',
  AT_ColumnDefault: 'ALTER COLUMN ... SET/DROP DEFAULT',
  AT_DropNotNull: 'DROP NOT NULL',
  AT_EnableTrig: 'ENABLE TRIGGER',
  AT_DisableTrig: 'DISABLE TRIGGER',
  AT_AttachPartition: 'ATTACH PARTITION',
  AT_DetachPartition: 'DETACH PARTITION',
};

export const judgeAlterTable: Judge = async (s, state, ctx, report) => {
  if (s.node.objtype !== 'OBJECT_TABLE') return [notJudged('preflight/not-judged', `preflight does not judge ALTER ${String(s.node.objtype).replace('OBJECT_', '')} statements`)];
  const rv = (s.node.relation ?? {}) as RangeVar & { inh?: boolean };
  const t = targetOf(rv, state, ctx);
  const outcomes: Outcome[] = [];
  if (t.kind !== 'unknown') freeDroppedNames(s, t, state);
  // A subcommand after an ALTER COLUMN ... TYPE of the same statement sees the converted values, not today's.
  let rewrittenBy: string | null = null;
  for (const item of (s.node.cmds as Node[] | undefined) ?? []) {
    const cmd = (item.AlterTableCmd ?? {}) as Node;
    const subtype = String(cmd.subtype);
    const def = isNode(cmd.def) ? (cmd.def as Node) : {};
    const c = isNode(def.Constraint) ? (def.Constraint as Node) : null;
    const rule: PreflightRuleId =
      subtype === 'AT_AlterColumnType'
        ? 'preflight/type-changes'
        : subtype === 'AT_SetNotNull' || subtype === 'AT_AddColumn'
        ? 'preflight/nulls'
        : c?.contype === 'CONSTR_FOREIGN'
          ? 'preflight/orphans'
          : c?.contype === 'CONSTR_UNIQUE' || c?.contype === 'CONSTR_PRIMARY'
            ? 'preflight/duplicates'
            : c?.contype === 'CONSTR_CHECK'
              ? 'preflight/check-violations'
              : subtype === 'AT_ValidateConstraint'
                ? 'preflight/orphans'
                : 'preflight/not-judged';
    if (subtype === 'AT_ColumnDefault') {
      defaultActions(state).set(JSON.stringify([t.schema, t.name, String(cmd.name ?? '')]), { action: cmd.def ? 'set' : 'dropped', made: { location: s.location, frame: state.transaction, savepoints: state.transaction?.savepoints.length ?? 0 } });
    }
    // Data cannot make these fail, and they change no row: judged by what the rest of the run does
    // (a trigger left disabled) or by the DEFAULT they set (a placeholder), not here.
    if (['AT_ColumnDefault', 'AT_EnableTrig', 'AT_EnableAlwaysTrig', 'AT_EnableReplicaTrig', 'AT_DisableTrig', 'AT_EnableTrigAll', 'AT_DisableTrigAll', 'AT_EnableTrigUser', 'AT_DisableTrigUser'].includes(subtype)) continue;
    const judged = [
      'AT_AlterColumnType',
      'AT_SetNotNull',
      'AT_AddColumn',
      'AT_ValidateConstraint',
    ].includes(subtype) || (subtype === 'AT_AddConstraint' && ['CONSTR_FOREIGN', 'CONSTR_UNIQUE', 'CONSTR_PRIMARY', 'CONSTR_CHECK'].includes(String(c?.contype)));
    if (!judged) {
      outcomes.push(notJudged('preflight/not-judged', `preflight does not judge ALTER TABLE ... ${SUBCOMMANDS[subtype] ?? subtype.replace(/^AT_/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase()}${c ? ` (${String(c.contype).replace('CONSTR_', '')})` : ''}`));
      continue;
    }
    if (t.kind === 'unknown') {
      outcomes.push(notJudged(rule, t.reason));
      continue;
    }
    // A name taken fails the statement whatever the rows (and whatever an earlier subcommand converts).
    const nameTaken = subtype === 'AT_AddConstraint' && c ? await judgeConstraintName(t, c, s, state, ctx, report) : null;
    if (nameTaken) {
      outcomes.push(nameTaken);
      continue;
    }
    if (rewrittenBy !== null && subtype !== 'AT_AddColumn') {
      outcomes.push(notJudged(rule, `an earlier part of this statement (${rewrittenBy}) converts the table's values first: today's values would not answer`));
      continue;
    }
    if (subtype === 'AT_AddColumn') {
      const cd = isNode(def.ColumnDef) ? (def.ColumnDef as Node) : {};
      // ADD COLUMN IF NOT EXISTS of a column the table has today: PostgreSQL skips it (a NOTICE).
      if (cmd.missing_ok === true && t.kind === 'today' && t.table.columns.some((col) => col.name === cd.colname) && !state.addedColumns.has(JSON.stringify([t.schema, t.name, String(cd.colname ?? '')]))) {
        outcomes.push({ rule, status: 'passed', note: `${displayName(t.schema, t.name, String(cd.colname))} exists: IF NOT EXISTS skips it` });
        continue;
      }
      const generated = await judgeGeneratedImmutable(s, t, [cd], ctx, report, t.kind === 'today');
      if (generated.some((o) => o.status === 'failed')) {
        outcomes.push(...generated);
        continue;
      }
      const domain = await judgement(ctx, 'preflight/domain-constraints', async () => (await judgeDomainColumn(t, cd, s, state, ctx, report)) ?? NOT_A_DOMAIN);
      if (domain !== NOT_A_DOMAIN) outcomes.push(domain);
      if (domain.status === 'failed') {
        state.addedColumns.set(JSON.stringify([t.schema, t.name, String(cd.colname ?? '')]), s.location);
        continue;
      }
      outcomes.push(...(await judgeAddColumn(t, cd, s, state, ctx, report)));
      continue;
    }
    if (subtype === 'AT_AlterColumnType') {
      outcomes.push(await judgement(ctx, rule, () => judgeAlterType(s, t, cmd, state, ctx, report)));
      rewrittenBy = `ALTER COLUMN ${displayName(String(cmd.name ?? ''))} TYPE`;
      continue;
    }
    if (subtype === 'AT_SetNotNull') {
      if (t.kind === 'created') outcomes.push({ rule, status: 'passed', note: `${displayName(t.schema, t.name)} is created at ${at(t.createdAt)} in this run: empty when this runs` });
      else outcomes.push(await judgement(ctx, rule, () => judgeSetNotNull(t, String(cmd.name), s, state, ctx, report)));
      continue;
    }
    if (subtype === 'AT_ValidateConstraint') {
      const name = String(cmd.name);
      const pending = state.notValid.get(JSON.stringify([t.schema, t.name, name]));
      if (pending && pending.constraint.contype === 'CONSTR_FOREIGN') {
        outcomes.push(await judgement(ctx, 'preflight/orphans', () => judgeForeignKey(fkSpec(pending.constraint, t, s, 'VALIDATE CONSTRAINT ' + name), state, ctx, report)));
      } else if (pending && pending.constraint.contype === 'CONSTR_CHECK') {
        outcomes.push(await judgement(ctx, 'preflight/check-violations', () => judgeCheck(t, pending.constraint, s, state, ctx, report)));
      } else if (t.kind === 'today') {
        const fk = ctx.catalog.foreignKeys.find((f) => f.schema === t.schema && f.table === t.name && f.name === name);
        if (fk) outcomes.push(await judgement(ctx, 'preflight/orphans', () => judgeCatalogForeignKey(fk, t, s, ctx, report)));
        else outcomes.push(notJudged('preflight/not-judged', `VALIDATE CONSTRAINT ${name}: only foreign keys (and constraints added NOT VALID earlier in the run) are judged`));
      } else outcomes.push(notJudged('preflight/not-judged', `VALIDATE CONSTRAINT ${name}: no such constraint added NOT VALID earlier in the run`));
      continue;
    }
    const constraint = c as Node;
    if (constraint.skip_validation === true) {
      // NOT VALID: the rows of today are not checked (new ones are), so nothing of today's data fails it now.
      const name = typeof constraint.conname === 'string' ? constraint.conname : null;
      if (name) state.notValid.set(JSON.stringify([t.schema, t.name, name]), { table: t.name, constraint, location: s.location });
      outcomes.push({ rule, status: 'passed', note: 'NOT VALID: the rows of today are not checked until VALIDATE CONSTRAINT' });
      continue;
    }
    if (constraint.contype === 'CONSTR_FOREIGN') {
      outcomes.push(await judgement(ctx, rule, () => judgeForeignKey(fkSpec(constraint, t, s, 'ADD FOREIGN KEY'), state, ctx, report)));
    } else if (constraint.contype === 'CONSTR_CHECK') {
      outcomes.push(await judgement(ctx, rule, () => judgeCheck(t, constraint, s, state, ctx, report)));
    } else {
      if (constraint.indexname) {
        outcomes.push(notJudged('preflight/not-judged', `ADD ${constraint.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE'} USING INDEX: the index exists, so its keys are unique already; not judged`));
        continue;
      }
      const primaryKey = constraint.contype === 'CONSTR_PRIMARY';
      const keyColumns = strings(constraint.keys);
      const conname = typeof constraint.conname === 'string' ? constraint.conname : null;
      const partitioning = await judgePartitionKeys(t, keyColumns, false, primaryKey ? 'ADD PRIMARY KEY' : 'ADD UNIQUE', { schema: t.schema, table: t.name, columns: keyColumns, ...(conname ? { constraint: conname } : {}) }, s.location, ctx, report, state);
      if (partitioning) {
        outcomes.push(partitioning);
        continue;
      }
      outcomes.push(
        await judgement(ctx, rule, () =>
          judgeUnique(
            {
              name: typeof constraint.conname === 'string' ? constraint.conname : null,
              target: t,
              columns: strings(constraint.keys),
              primaryKey,
              nullsNotDistinct: constraint.nulls_not_distinct === true,
              predicate: null,
              location: s.location,
              statement: primaryKey ? 'ADD PRIMARY KEY' : 'ADD UNIQUE',
            },
            state,
            ctx,
            report,
          ),
        ),
      );
    }
  }
  return outcomes;
};

function fkSpec(c: Node, child: Extract<Target, { kind: 'today' | 'created' }>, s: MigrationStatement, statement: string): ForeignKeySpec {
  return {
    name: typeof c.conname === 'string' ? c.conname : null,
    child,
    columns: strings(c.fk_attrs),
    parentRv: (c.pktable ?? {}) as RangeVar,
    refColumns: strings(c.pk_attrs),
    matchFull: c.fk_matchtype === 'f',
    location: s.location,
    statement,
  };
}

/** VALIDATE CONSTRAINT of a foreign key the database has: the orphans by the equality the constraint itself records. */
async function judgeCatalogForeignKey(
  fk: ForeignKey,
  t: Extract<Target, { kind: 'today' }>,
  s: MigrationStatement,
  ctx: JudgeContext,
  report: (f: PreflightFindingInput) => void,
): Promise<Outcome> {
  const rule = 'preflight/orphans';
  if (fk.validated) return { rule, status: 'passed', note: `${fk.name} is validated already: VALIDATE does nothing` };
  const parent = findTable(ctx.catalog, fk.refSchema, fk.refTable);
  if (!parent) return notJudged(rule, `the referenced table ${displayName(fk.refSchema, fk.refTable)} is not in the audited schemas`);
  const userOperator = fk.equality.find((e) => !e.operator.startsWith('OPERATOR("pg_catalog".'));
  if (userOperator) return notJudged(rule, `the constraint compares with ${userOperator.operator}, not one of pg_catalog's: user code`);
  const cast = (col: string, type: string | null) => (type ? `${col}::${type}` : col);
  // Columns of different collations compare under the referenced column's, as the server's check does.
  const collations = await keyCollations(ctx, { schema: fk.schema, name: fk.table }, fk.columns, { schema: fk.refSchema, name: fk.refTable }, fk.refColumns);
  const match = fk.columns
    .map((c, i) => {
      const e = fk.equality[i] as { operator: string; parentCast: string | null; childCast: string | null };
      const collate = collations[i]?.compareWith ? ` COLLATE ${collations[i]?.compareWith}` : '';
      return `${cast(`p.${quoteIdent(fk.refColumns[i] as string)}`, e.parentCast)} ${e.operator} ${cast(`r.${quoteIdent(c)}`, e.childCast)}${collate}`;
    })
    .join(' AND ');
  const keyNotNull = fk.columns.map((c) => `r.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
  const partlyNull =
    fk.matchType === 'full' && fk.columns.length > 1
      ? ` OR ((${fk.columns.map((c) => `r.${quoteIdent(c)} IS NULL`).join(' OR ')}) AND NOT (${fk.columns.map((c) => `r.${quoteIdent(c)} IS NULL`).join(' AND ')}))`
      : '';
  const object: FindingObject = { schema: fk.schema, table: fk.table, columns: fk.columns, constraint: fk.name, references: { schema: fk.refSchema, table: fk.refTable, columns: fk.refColumns } };
  const where = `((${keyNotNull}) AND NOT EXISTS (SELECT 1 FROM ${ownRows(parent)} p WHERE ${match}))${partlyNull}`;
  const { count, samples } = await countRows(ctx, ownRows(t.table), where, sampleKeyExpr('r', fk.columns), sampleLimit(ctx, object));
  if (count === 0) return { rule, status: 'passed' };
  report({
    rule,
    kind: 'orphans',
    message: `VALIDATE CONSTRAINT ${fk.name} fails now (23503): ${count} row${count === 1 ? '' : 's'} of ${displayName(fk.schema, fk.table)} reference${count === 1 ? 's' : ''} no row of ${displayName(fk.refSchema, fk.refTable)}(${fk.refColumns.join(', ')}). Repair or remove these rows before validating (integrity fix writes the repair for orphan-rows)`,
    object,
    count,
    samples,
    details: { sampleKey: fk.columns, matchType: fk.matchType },
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/** The relation (index or table) named `name` in the target's schema today, for a person; null when none. */
function existingRelation(ctx: JudgeContext, t: Target, name: string): string | null {
  if (t.kind === 'unknown') return null;
  const index = ctx.catalog.indexes.find((i) => i.schema === t.schema && i.name === name);
  if (index) return `index ${displayName(t.schema, name)}`;
  const table = [...ctx.catalog.tables, ...ctx.catalog.partitions].find((x) => x.schema === t.schema && x.name === name);
  return table ? `relation ${displayName(t.schema, name)}` : null;
}

/** CREATE UNIQUE INDEX on columns (expressions: not judged yet): the keys it would find twice. */
export const judgeIndex: Judge = async (s, state, ctx, report) => {
  const rv = (s.node.relation ?? {}) as RangeVar & { inh?: boolean };
  const elems = ((s.node.indexParams as Node[] | undefined) ?? []).map((p) => (p.IndexElem ?? {}) as Node);
  // IF NOT EXISTS with a relation of that name in the table's schema: PostgreSQL skips the statement (a NOTICE).
  const existing = s.node.if_not_exists === true && typeof s.node.idxname === 'string' ? existingRelation(ctx, targetOf(rv, state, ctx), s.node.idxname) : null;
  if (existing) return [{ rule: s.node.unique === true ? 'preflight/duplicates' : 'preflight/index-expressions', status: 'passed', note: `${existing} exists: IF NOT EXISTS skips the statement` }];
  const target = targetOf(rv, state, ctx);
  if (target.kind !== 'unknown' && typeof s.node.idxname === 'string') {
    const made = stillMade(ledgerOf(state).made.get(relationName(target.schema, s.node.idxname)), state);
    if (s.node.if_not_exists === true && made) return [{ rule: 'preflight/names-taken', status: 'passed', note: `the run makes ${displayName(target.schema, s.node.idxname)} at ${at(made)}: IF NOT EXISTS skips the statement` }];
    const taken = s.node.if_not_exists === true ? null : await judgeIndexName(target, s.node.idxname, s, state, ctx, report);
    if (taken) return [taken];
  }
  if (target.kind !== 'unknown') {
    const mutable = await judgeIndexImmutable(s, target, elems, ctx, report);
    if (mutable) return [mutable];
  }
  if (s.node.unique !== true) {
    if (!elems.some((e) => e.expr)) return [notJudged('preflight/not-judged', 'a CREATE INDEX on columns that is not UNIQUE: only unique indexes and indexes on expressions are judged')];
    const t = targetOf(rv, state, ctx);
    if (t.kind === 'unknown') return [notJudged('preflight/index-expressions', t.reason)];
    return [await judgeExpressionIndex(s, t, elems, state, ctx, report)];
  }
  const rule = 'preflight/duplicates';
  const t = targetOf(rv, state, ctx);
  if (t.kind === 'unknown') return [notJudged(rule, t.reason)];
  if (!elems.some((e) => e.expr)) {
    const columns = elems.map((e) => String(e.name));
    const name = typeof s.node.idxname === 'string' ? s.node.idxname : null;
    const partitioning = await judgePartitionKeys(t, columns, t.kind === 'today' && !t.inh, `CREATE UNIQUE INDEX${name ? ` ${name}` : ''}`, { schema: t.schema, table: t.name, columns, ...(name ? { index: name } : {}) }, s.location, ctx, report, state);
    if (partitioning) return [partitioning];
  }
  if (t.kind === 'today' && !t.inh && t.table.kind === 'partitioned table') {
    // ON ONLY a partitioned table: an invalid index on the parent alone, over no row (its partitions' indexes are attached later).
    return [{ rule, status: 'passed', note: 'ON ONLY a partitioned table: the index is built over no row until its partitions\' indexes are attached' }];
  }
  if (elems.some((e) => e.expr)) return [notJudged(rule, 'a unique index on an expression: not judged')];
  if (elems.some((e) => (Array.isArray(e.opclass) && e.opclass.length > 0) || (Array.isArray(e.collation) && e.collation.length > 0))) {
    return [notJudged(rule, 'an operator class or collation of its own: its equality is not known here')];
  }
  const columns = elems.map((e) => String(e.name));
  const name = typeof s.node.idxname === 'string' ? s.node.idxname : undefined;
  let predicate: string | null = null;
  if (s.node.whereClause) {
    const own = ownColumns(s.node.whereClause, t);
    if (own.error) return [reportForeignQualifier(own.error, 'WHERE', `CREATE UNIQUE INDEX${name ? ` ${name}` : ''}`, { schema: t.schema, table: t.name, ...(name ? { index: name } : {}) }, s.location, report)];
    if (t.kind === 'today') {
      const refusal = await expressionRefusal(ctx, own.expr, t, state, t.table);
      if (refusal) return [notJudged(rule, `not judged: the index's WHERE ${refusal}`)];
    }
    predicate = deparseExpression(own.expr);
  }
  return [
    await judgement(ctx, rule, () =>
      judgeUnique(
        {
          name: null,
          target: t,
          columns,
          primaryKey: false,
          nullsNotDistinct: s.node.nulls_not_distinct === true,
          predicate,
          location: s.location,
          statement: `CREATE UNIQUE INDEX${name ? ` ${name}` : ''}`,
          ...(name ? { index: name } : {}),
        },
        state,
        ctx,
        report,
      ),
    ),
  ];
};

/** Columns of each partitioned table in the tree (the table itself, then its partitioned partitions), as a unique key there must include. */
async function partitionKeys(ctx: JudgeContext, schema: string, name: string, treeToo: boolean): Promise<{ schema: string; table: string; columns: string[]; expression: boolean }[]> {
  return (
    await ctx.db.query<{ schema: string; table: string; columns: string[] | null; expression: boolean }>(
      `SELECT n.nspname::pg_catalog.text AS schema, c.relname::pg_catalog.text AS table,
              (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY k.o) FROM pg_catalog.unnest(pt.partattrs::pg_catalog.int2[]) WITH ORDINALITY AS k(n, o)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) pt.partrelid AND a.attnum OPERATOR(pg_catalog.=) k.n) AS columns,
              (0::pg_catalog.int2 OPERATOR(pg_catalog.=) ANY (pt.partattrs::pg_catalog.int2[])) AS expression
         FROM pg_catalog.pg_partition_tree(${relationOid('$1', '$2')}::pg_catalog.regclass) tr
         JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid OPERATOR(pg_catalog.=) tr.relid
         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) tr.relid
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
        WHERE $3 OR tr.level OPERATOR(pg_catalog.=) 0
        ORDER BY tr.level, 1, 2`,
      [schema, name, treeToo],
    )
  ).rows.map((r) => ({ ...r, columns: r.columns ?? [] }));
}

/**
 * A unique key on a partitioned table fails whatever the rows (0A000) unless it includes every column
 * of the partition key, on the table and (unless ON ONLY) on each partitioned partition it recurses to;
 * with a key on an expression, no unique key is supported at all. Null when the key is acceptable.
 */
async function judgePartitionKeys(t: Extract<Target, { kind: 'today' | 'created' }>, columns: string[], onlyParent: boolean, statement: string, object: FindingObject, location: StatementLocation, ctx: JudgeContext, report: (f: PreflightFindingInput) => void, state: RunState): Promise<Outcome | null> {
  // A table created in the run: its own partition key, as its CREATE TABLE gave it (its partitions' are not followed).
  const created = t.kind === 'created' ? createdPartitionKeys(state).get(tableKey(t.schema, t.name)) : undefined;
  if (t.kind === 'created' && !created) return null;
  if (t.kind === 'today' && t.table.kind !== 'partitioned table') return null;
  const rule = 'preflight/partition-keys';
  const keys = created ? [{ schema: t.schema, table: t.name, ...created }] : await partitionKeys(ctx, t.schema, t.name, !onlyParent);
  for (const key of keys) {
    const table = displayName(key.schema, key.table);
    if (key.expression) {
      report({
        rule,
        kind: 'partition-key-expression',
        message: `${statement} fails now (0A000): ${table} is partitioned by an expression, and PostgreSQL supports no unique key on such a table ("unsupported UNIQUE constraint with partition key definition"). Enforce uniqueness on each partition instead (a unique index per partition)`,
        object,
        count: null,
        samples: [],
        details: { sqlstate: '0A000', partitionedTable: { schema: key.schema, table: key.table } },
        location,
      });
      return { rule, status: 'failed' };
    }
    const missing = key.columns.filter((c) => !columns.includes(c));
    if (missing.length === 0) continue;
    report({
      rule,
      kind: 'partition-key-missing',
      message:
        `${statement} fails now (0A000): ${table} is partitioned by (${key.columns.join(', ')}), and a unique key on a partitioned table must include every partition key column; (${columns.join(', ')}) lacks ${missing.join(', ')}. ` +
        `Include ${missing.length === 1 ? 'it' : 'them'} in the key, e.g. (${[...columns, ...missing].join(', ')}), or enforce uniqueness on each partition instead`,
      object,
      count: null,
      samples: [],
      details: { sqlstate: '0A000', partitionedTable: { schema: key.schema, table: key.table }, missingColumns: missing },
      location,
    });
    return { rule, status: 'failed' };
  }
  return null;
}

/**
 * The names the run makes and frees before a statement, as far as they change whether a constraint or
 * relation name is free: made (ADD CONSTRAINT, CREATE INDEX, CREATE TABLE), freed (DROP CONSTRAINT,
 * DROP INDEX, RENAME), and tables whose names may have gone in ways not followed (DROP COLUMN drops the
 * indexes on the column, a DROP TABLE its indexes and constraints); after a DROP ... CASCADE any may have.
 */
interface NameLedger {
  made: Map<string, Made>;
  freed: Set<string>;
  unsureTables: Set<string>;
  unsureAll: boolean;
}

const ledgers = new WeakMap<RunState, NameLedger>();
function ledgerOf(state: RunState): NameLedger {
  let ledger = ledgers.get(state);
  if (!ledger) {
    ledger = { made: new Map(), freed: new Set(), unsureTables: new Set(), unsureAll: false };
    ledgers.set(state, ledger);
  }
  return ledger;
}
/**
 * Where a name was made, and in which transaction block: a ROLLBACK (or ROLLBACK TO SAVEPOINT) undoes
 * it, and RunState goes back to its snapshot in place, so a name counts as made only outside any block
 * or inside the same block, with no savepoint set, that the statement judged now is in.
 */
export interface Made {
  location: StatementLocation;
  frame: TransactionFrame | null;
  savepoints: number;
}

export function stillMade(made: Made | undefined, state: RunState): StatementLocation | null {
  if (!made) return null;
  if (made.frame !== state.transaction) return null;
  if (made.frame !== null && (made.savepoints > 0 || made.frame.savepoints.length > 0)) return null;
  return made.location;
}

const constraintName = (schema: string, table: string, name: string) => JSON.stringify(['constraint', schema, table, name]);
const relationName = (schema: string, name: string) => JSON.stringify(['relation', schema, name]);

function make(ledger: NameLedger, key: string, location: StatementLocation, state: RunState): void {
  ledger.made.set(key, { location, frame: state.transaction, savepoints: state.transaction?.savepoints.length ?? 0 });
  ledger.freed.delete(key);
}
function free(ledger: NameLedger, key: string): void {
  ledger.made.delete(key);
  ledger.freed.add(key);
}

/** What holds `name` today as a relation of the schema (its kind, and for an index its table), or null. */
async function relationToday(ctx: JudgeContext, schema: string, name: string): Promise<{ kind: string; table: string | null } | null> {
  const row = (
    await ctx.db.query<{ kind: string; table: string | null }>(
      `SELECT c.relkind::pg_catalog.text AS kind,
              (SELECT t.relname::pg_catalog.text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) i.indrelid WHERE i.indexrelid OPERATOR(pg_catalog.=) c.oid) AS table
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
        WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2`,
      [schema, name],
    )
  ).rows[0];
  return row ?? null;
}

const RELKINDS: Record<string, string> = { r: 'table', i: 'index', I: 'index', p: 'table', S: 'sequence', v: 'view', m: 'materialized view', c: 'type', f: 'foreign table', t: 'TOAST table' };

/** Why `name` is taken as a relation of the schema when the statement runs (42P07), or null. */
async function relationTaken(ctx: JudgeContext, state: RunState, schema: string, name: string): Promise<string | null> {
  const ledger = ledgerOf(state);
  const key = relationName(schema, name);
  const made = stillMade(ledger.made.get(key), state);
  if (made) return `the run makes a relation ${displayName(schema, name)} at ${at(made)}`;
  if (ledger.made.has(key)) return null;
  if (ledger.freed.has(key) || ledger.unsureAll) return null;
  const today = await relationToday(ctx, schema, name);
  if (!today) return null;
  if (today.table !== null && ledger.unsureTables.has(tableKey(schema, today.table))) return null;
  if (today.table === null && ledger.unsureTables.has(tableKey(schema, name))) return null;
  const kind = RELKINDS[today.kind] ?? 'relation';
  return `${displayName(schema, name)} is ${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} today${today.table ? ` (on ${displayName(schema, today.table)})` : ''}`;
}

/** Why the table has a constraint `name` when the statement runs (42710), or null. */
async function constraintTaken(ctx: JudgeContext, state: RunState, t: Extract<Target, { kind: 'today' | 'created' }>, name: string): Promise<string | null> {
  const ledger = ledgerOf(state);
  const key = constraintName(t.schema, t.name, name);
  const made = stillMade(ledger.made.get(key), state);
  if (made) return `the run adds a constraint ${name} to ${displayName(t.schema, t.name)} at ${at(made)}`;
  if (ledger.made.has(key)) return null;
  if (t.kind === 'created' || ledger.freed.has(key) || ledger.unsureAll || ledger.unsureTables.has(tableKey(t.schema, t.name))) return null;
  const row = (
    await ctx.db.query<{ contype: string }>(
      `SELECT c.contype::pg_catalog.text AS contype FROM pg_catalog.pg_constraint c WHERE c.conrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')} AND c.conname OPERATOR(pg_catalog.=) $3`,
      [t.schema, t.name, name],
    )
  ).rows[0];
  if (!row) return null;
  const kinds: Record<string, string> = { c: 'CHECK', f: 'FOREIGN KEY', p: 'PRIMARY KEY', u: 'UNIQUE', x: 'EXCLUDE', n: 'NOT NULL', t: 'constraint trigger' };
  return `${displayName(t.schema, t.name)} has a constraint ${name} (${kinds[row.contype] ?? row.contype}) today`;
}

/**
 * ADD CONSTRAINT name: taken by a constraint of the table (42710) or, for a key, its index's name by a
 * relation of the schema (42P07, which PostgreSQL reports first). The name counts as made afterwards.
 */
async function judgeConstraintName(t: Extract<Target, { kind: 'today' | 'created' }>, c: Node, s: MigrationStatement, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome | null> {
  if (typeof c.conname !== 'string') return null;
  const name = c.conname;
  const ledger = ledgerOf(state);
  const key = (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_EXCLUSION') && !c.indexname;
  const asRelation = key ? await relationTaken(ctx, state, t.schema, name) : null;
  const asConstraint = asRelation ? null : await constraintTaken(ctx, state, t, name);
  // A name taken stays the earlier holder's: this statement fails and makes nothing.
  if (!asRelation && !asConstraint) {
    make(ledger, constraintName(t.schema, t.name, name), s.location, state);
    if (key) make(ledger, relationName(t.schema, name), s.location, state);
    return null;
  }
  const code = asRelation ? '42P07' : '42710';
  const rule = 'preflight/names-taken';
  report({
    rule,
    kind: asRelation ? 'relation-name-taken' : 'constraint-name-taken',
    message: `ADD CONSTRAINT ${name} fails now (${code}): ${asRelation ?? asConstraint}. Give the constraint another name, or drop the old one first (ALTER TABLE ${displayName(t.schema, t.name)} DROP CONSTRAINT ${name}, in the same migration)`,
    object: { schema: t.schema, table: t.name, constraint: name },
    count: null,
    samples: [],
    details: { sqlstate: code },
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/** CREATE INDEX name (without IF NOT EXISTS): a relation of the table's schema with that name makes it fail (42P07). */
async function judgeIndexName(t: Extract<Target, { kind: 'today' | 'created' }>, name: string, s: MigrationStatement, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome | null> {
  const taken = await relationTaken(ctx, state, t.schema, name);
  if (!taken) {
    make(ledgerOf(state), relationName(t.schema, name), s.location, state);
    return null;
  }
  const rule = 'preflight/names-taken';
  report({
    rule,
    kind: 'relation-name-taken',
    message: `CREATE INDEX ${name} fails now (42P07): ${taken}. Give the index another name, or write CREATE INDEX IF NOT EXISTS ${name} if the one there is the same index`,
    object: { schema: t.schema, table: t.name, index: name },
    count: null,
    samples: [],
    details: { sqlstate: '42P07' },
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/** The names an ALTER TABLE frees before its other subcommands run (PostgreSQL drops first). */
function freeDroppedNames(s: MigrationStatement, t: { schema: string; name: string }, state: RunState): void {
  const ledger = ledgerOf(state);
  for (const item of (s.node.cmds as Node[] | undefined) ?? []) {
    const cmd = (item.AlterTableCmd ?? {}) as Node;
    if (cmd.subtype === 'AT_DropConstraint' && typeof cmd.name === 'string') {
      free(ledger, constraintName(t.schema, t.name, cmd.name));
      // A key's index goes with it.
      free(ledger, relationName(t.schema, cmd.name));
    }
    if (cmd.subtype === 'AT_DropColumn' || cmd.behavior === 'DROP_CASCADE') ledger.unsureTables.add(tableKey(t.schema, t.name));
  }
}

/** Names a CREATE TABLE makes: the table's, and its named constraints' (a key's index takes the name too). */
function recordCreatedNames(s: MigrationStatement, state: RunState, ctx: JudgeContext): void {
  const rel = resolveRelation((s.node.relation ?? {}) as RangeVar, state, ctx.catalog);
  const ledger = ledgerOf(state);
  make(ledger, relationName(rel.schema, rel.name), s.location, state);
  const constraints: Node[] = [];
  for (const e of (s.node.tableElts as Node[] | undefined) ?? []) {
    if (isNode(e.Constraint)) constraints.push(e.Constraint as Node);
    if (isNode(e.ColumnDef)) constraints.push(...(((e.ColumnDef as Node).constraints as Node[] | undefined) ?? []).map((c) => (c.Constraint ?? {}) as Node));
  }
  for (const c of constraints) {
    if (typeof c.conname !== 'string') continue;
    make(ledger, constraintName(rel.schema, rel.name, c.conname), s.location, state);
    if (['CONSTR_PRIMARY', 'CONSTR_UNIQUE', 'CONSTR_EXCLUSION'].includes(String(c.contype))) make(ledger, relationName(rel.schema, c.conname), s.location, state);
  }
}

/** The schemas an unqualified name of a relation that exists may be in: every one of the search_path (freeing too many names only judges fewer). */
function candidateSchemas(schemaname: string | undefined, state: RunState): string[] {
  return schemaname ? [schemaname] : state.searchPath;
}

/**
 * DROP and RENAME are not judged, but free and make names a later ADD CONSTRAINT or CREATE INDEX may
 * take: this follows them and answers as an unjudged statement does.
 */
const followNames: Judge = async (s, state) => {
  const ledger = ledgerOf(state);
  if (s.kind === 'DropStmt') {
    if (s.node.behavior === 'DROP_CASCADE' || s.node.removeType === 'OBJECT_SCHEMA') ledger.unsureAll = true;
    for (const o of (s.node.objects as Node[] | undefined) ?? []) {
      const names = strings((o.List as Node | undefined)?.items);
      const name = names[names.length - 1] ?? '';
      for (const schema of candidateSchemas(names.length > 1 ? names[names.length - 2] : undefined, state)) {
        free(ledger, relationName(schema, name));
        if (s.node.removeType === 'OBJECT_TABLE' || s.node.removeType === 'OBJECT_FOREIGN_TABLE') ledger.unsureTables.add(tableKey(schema, name));
      }
    }
  } else if (s.kind === 'RenameStmt' && isNode(s.node.relation)) {
    const rv = s.node.relation as RangeVar;
    for (const schema of candidateSchemas(rv.schemaname, state)) {
      if (s.node.renameType === 'OBJECT_TABCONSTRAINT' && typeof s.node.subname === 'string') {
        free(ledger, constraintName(schema, rv.relname ?? '', s.node.subname));
        free(ledger, relationName(schema, s.node.subname));
        make(ledger, constraintName(schema, rv.relname ?? '', String(s.node.newname)), s.location, state);
      } else if (s.node.renameType !== 'OBJECT_COLUMN') {
        free(ledger, relationName(schema, rv.relname ?? ''));
        make(ledger, relationName(schema, String(s.node.newname)), s.location, state);
        // A table renamed takes its constraints along: its old and new names are not followed further.
        ledger.unsureTables.add(tableKey(schema, rv.relname ?? ''));
        ledger.unsureTables.add(tableKey(schema, String(s.node.newname)));
      }
    }
  }
  return [notJudged('preflight/not-judged', `preflight does not judge ${statementLabel(s)} statements`)];
};

const defaults = new WeakMap<RunState, Map<string, { action: 'set' | 'dropped'; made: Made }>>();
/** The last SET or DROP DEFAULT of the run on each column (key: JSON [schema, table, column]), for a later ALTER COLUMN ... TYPE. */
export function defaultActions(state: RunState): Map<string, { action: 'set' | 'dropped'; made: Made }> {
  let map = defaults.get(state);
  if (!map) {
    map = new Map();
    defaults.set(state, map);
  }
  return map;
}

const SQL_VALUE_FUNCTIONS: Record<string, string> = {
  SVFOP_CURRENT_DATE: 'CURRENT_DATE',
  SVFOP_CURRENT_TIME: 'CURRENT_TIME',
  SVFOP_CURRENT_TIME_N: 'CURRENT_TIME',
  SVFOP_CURRENT_TIMESTAMP: 'CURRENT_TIMESTAMP',
  SVFOP_CURRENT_TIMESTAMP_N: 'CURRENT_TIMESTAMP',
  SVFOP_LOCALTIME: 'LOCALTIME',
  SVFOP_LOCALTIME_N: 'LOCALTIME',
  SVFOP_LOCALTIMESTAMP: 'LOCALTIMESTAMP',
  SVFOP_LOCALTIMESTAMP_N: 'LOCALTIMESTAMP',
  SVFOP_CURRENT_ROLE: 'CURRENT_ROLE',
  SVFOP_CURRENT_USER: 'CURRENT_USER',
  SVFOP_USER: 'USER',
  SVFOP_SESSION_USER: 'SESSION_USER',
  SVFOP_CURRENT_CATALOG: 'CURRENT_CATALOG',
  SVFOP_CURRENT_SCHEMA: 'CURRENT_SCHEMA',
};

/**
 * The calls in the expressions that are certainly not IMMUTABLE, each with its volatility: an SQL value
 * function (CURRENT_TIMESTAMP, CURRENT_USER: all STABLE), or a function named bare or as pg_catalog's
 * whose every pg_catalog overload taking that many arguments is STABLE or VOLATILE (now(), random(),
 * to_char). A name with an IMMUTABLE overload among them (extract of a date, of a timestamptz) is not
 * claimed, nor one another schema also has (that one may be the function called): only what PostgreSQL
 * would certainly reject is.
 */
async function certainlyMutable(ctx: JudgeContext, exprs: unknown[], table: { schema: string; name: string } | null = null): Promise<string[]> {
  const found: string[] = [];
  const calls: { name: string; args: number }[] = [];
  const casts: { column: string; type: string }[] = [];
  /** Calls whose every argument is a column (its name) or a string literal (null): resolvable by the columns' types. */
  const typedCalls: { name: string; args: (string | null)[] }[] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (isNode(n)) {
      if (isNode(n.SQLValueFunction)) {
        const op = String((n.SQLValueFunction as Node).op);
        found.push(`${SQL_VALUE_FUNCTIONS[op] ?? op.replace(/^SVFOP_/, '')} (stable)`);
      }
      if (isNode(n.FuncCall)) {
        const call = n.FuncCall as Node;
        const names = strings(call.funcname);
        const bare = names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog');
        if (bare) calls.push({ name: names[names.length - 1] as string, args: Array.isArray(call.args) ? call.args.length : 0 });
        const args = Array.isArray(call.args) ? (call.args as Node[]) : [];
        const simple = args.map((a) => (isNode(a.ColumnRef) ? (strings((a.ColumnRef as Node).fields).pop() ?? '') : isNode(a.A_Const) && isNode((a.A_Const as Node).sval) ? null : undefined));
        if (bare && args.length > 0 && simple.some((a) => typeof a === 'string') && simple.every((a) => a !== undefined) && !call.func_variadic && !call.agg_star) {
          typedCalls.push({ name: names[names.length - 1] as string, args: simple as (string | null)[] });
        }
      }
      if (isNode(n.TypeCast)) {
        const cast = n.TypeCast as Node;
        const type = strings((cast.typeName as Node | undefined)?.names);
        const arg = isNode(cast.arg) && isNode((cast.arg as Node).ColumnRef) ? strings(((cast.arg as Node).ColumnRef as Node).fields) : [];
        const arrayed = Array.isArray((cast.typeName as Node | undefined)?.arrayBounds) && ((cast.typeName as Node).arrayBounds as unknown[]).length > 0;
        if (arg.length > 0 && !arrayed && (type.length === 1 || (type.length === 2 && type[0] === 'pg_catalog'))) casts.push({ column: arg[arg.length - 1] as string, type: type[type.length - 1] as string });
      }
      Object.values(n).forEach(walk);
    }
  };
  walk(exprs);
  if (calls.length > 0) {
    const rows = (
      await ctx.db.query<{ name: string; args: number; volatility: string }>(
        `SELECT c.name, c.args, pg_catalog.string_agg(DISTINCT p.provolatile::pg_catalog.text, '') AS volatility
           FROM pg_catalog.jsonb_to_recordset($1::pg_catalog.jsonb) AS c(name pg_catalog.text, args pg_catalog.int4)
           JOIN pg_catalog.pg_proc p ON p.proname::pg_catalog.text OPERATOR(pg_catalog.=) c.name
            AND p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND p.prokind OPERATOR(pg_catalog.=) 'f'
            AND (p.pronargs OPERATOR(pg_catalog.=) c.args
                 OR (p.provariadic OPERATOR(pg_catalog.<>) 0 AND p.pronargs OPERATOR(pg_catalog.-) 1 OPERATOR(pg_catalog.<=) c.args)
                 OR (p.pronargs OPERATOR(pg_catalog.>) c.args AND p.pronargs OPERATOR(pg_catalog.-) p.pronargdefaults OPERATOR(pg_catalog.<=) c.args))
          WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc o WHERE o.proname::pg_catalog.text OPERATOR(pg_catalog.=) c.name AND o.pronamespace OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace)
          GROUP BY c.name, c.args
         HAVING NOT pg_catalog.bool_or(p.provolatile OPERATOR(pg_catalog.=) 'i')
          ORDER BY 1, 2`,
        [JSON.stringify(calls)],
      )
    ).rows;
    for (const r of rows) found.push(`${r.name}() (${r.volatility.includes('v') ? 'volatile' : 'stable'})`);
  }
  if (casts.length > 0 && table) found.push(...(await mutableCasts(ctx, table, casts)));
  if (typedCalls.length > 0 && table) found.push(...(await mutableByArgumentTypes(ctx, table, typedCalls.filter((c) => !found.some((f) => f.startsWith(`${c.name}() `))))));
  return [...new Set(found)];
}

/**
 * Calls whose name has IMMUTABLE and other overloads, told apart by the arguments' types: when the
 * columns passed are of pg_catalog base types and exactly one pg_catalog overload takes those types
 * exactly where the columns are (a string literal taking any), PostgreSQL picks that one (the most exact
 * matches): date_trunc('day', a timestamptz column) is date_trunc(text, timestamptz), STABLE. A name
 * another schema also has is not claimed.
 */
async function mutableByArgumentTypes(ctx: JudgeContext, table: { schema: string; name: string }, calls: { name: string; args: (string | null)[] }[]): Promise<string[]> {
  if (calls.length === 0) return [];
  const columns = [...new Set(calls.flatMap((c) => c.args.filter((a): a is string => a !== null)))];
  const types = new Map(
    (
      await ctx.db.query<{ column: string; oid: string }>(
        `SELECT a.attname::pg_catalog.text AS column, a.atttypid::pg_catalog.text AS oid FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
          WHERE a.attrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')} AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[]) AND NOT a.attisdropped
            AND t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND t.typtype OPERATOR(pg_catalog.=) 'b'`,
        [table.schema, table.name, columns],
      )
    ).rows.map((r) => [r.column, r.oid]),
  );
  const found: string[] = [];
  for (const call of calls) {
    if (call.args.some((a) => a !== null && !types.has(a))) continue;
    const rows = (
      await ctx.db.query<{ signature: string; volatility: string }>(
        `SELECT pg_catalog.format('%s(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS signature, p.provolatile::pg_catalog.text AS volatility
           FROM pg_catalog.pg_proc p
          WHERE p.proname::pg_catalog.text OPERATOR(pg_catalog.=) $1 AND p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND p.prokind OPERATOR(pg_catalog.=) 'f'
            AND p.pronargs OPERATOR(pg_catalog.=) $2 AND p.provariadic OPERATOR(pg_catalog.=) 0
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc o WHERE o.proname OPERATOR(pg_catalog.=) p.proname AND o.pronamespace OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace)
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest($3::pg_catalog.text[]) WITH ORDINALITY AS w(oid, i)
                             WHERE w.oid IS NOT NULL AND (p.proargtypes::pg_catalog.oid[])[w.i OPERATOR(pg_catalog.-) 1] OPERATOR(pg_catalog.<>) w.oid::pg_catalog.oid)`,
        [call.name, call.args.length, call.args.map((a) => (a === null ? null : (types.get(a) ?? null)))],
      )
    ).rows;
    const only = rows.length === 1 ? rows[0] : undefined;
    if (only && only.volatility !== 'i') found.push(`${only.signature} (${only.volatility === 'v' ? 'volatile' : 'stable'})`);
  }
  return found;
}

/**
 * Casts of a column of a pg_catalog base type to a pg_catalog type that are not IMMUTABLE: by a cast
 * function (timestamptz to date is STABLE: it reads TimeZone), or through text (a date's output reads
 * DateStyle). A cast that does not exist, or of a type not PostgreSQL's, is not claimed.
 */
async function mutableCasts(ctx: JudgeContext, table: { schema: string; name: string }, casts: { column: string; type: string }[]): Promise<string[]> {
  const rows = (
    await ctx.db.query<{ column: string; from: string; to: string; volatility: string | null }>(
      `SELECT x.column, pg_catalog.format_type(st.oid, NULL) AS from, pg_catalog.format_type(tt.oid, NULL) AS to,
              COALESCE(CASE c.castmethod WHEN 'f' THEN fp.provolatile::pg_catalog.text WHEN 'b' THEN 'i' WHEN 'i' THEN m.max_volatility END,
                       CASE WHEN c.oid IS NULL AND tt.typcategory OPERATOR(pg_catalog.=) 'S' THEN outp.provolatile::pg_catalog.text END) AS volatility
         FROM pg_catalog.jsonb_to_recordset($3::pg_catalog.jsonb) AS x("column" pg_catalog.text, type pg_catalog.text)
         JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')} AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) x.column AND NOT a.attisdropped
         JOIN pg_catalog.pg_type st ON st.oid OPERATOR(pg_catalog.=) a.atttypid AND st.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND st.typtype OPERATOR(pg_catalog.=) 'b'
         JOIN pg_catalog.pg_type tt ON tt.typname::pg_catalog.text OPERATOR(pg_catalog.=) x.type AND tt.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
         JOIN pg_catalog.pg_proc outp ON outp.oid OPERATOR(pg_catalog.=) st.typoutput
         JOIN pg_catalog.pg_proc inp ON inp.oid OPERATOR(pg_catalog.=) tt.typinput
         LEFT JOIN pg_catalog.pg_cast c ON c.castsource OPERATOR(pg_catalog.=) st.oid AND c.casttarget OPERATOR(pg_catalog.=) tt.oid
         LEFT JOIN pg_catalog.pg_proc fp ON fp.oid OPERATOR(pg_catalog.=) c.castfunc
         CROSS JOIN LATERAL (SELECT pg_catalog.max(v) AS max_volatility FROM (VALUES (outp.provolatile::pg_catalog.text), (inp.provolatile::pg_catalog.text)) AS vs(v)) AS m
        WHERE st.oid OPERATOR(pg_catalog.<>) tt.oid`,
      [table.schema, table.name, JSON.stringify(casts)],
    )
  ).rows;
  return rows.filter((r) => r.volatility === 's' || r.volatility === 'v').map((r) => `the cast of ${r.column} (${r.from}) to ${r.to} (${r.volatility === 'v' ? 'volatile' : 'stable'})`);
}

/** A CREATE INDEX whose expressions or WHERE call what is not IMMUTABLE fails whatever the rows (42P17). */
async function judgeIndexImmutable(s: MigrationStatement, t: Extract<Target, { kind: 'today' | 'created' }>, elems: Node[], ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome | null> {
  const table = t.kind === 'today' ? t : null;
  const inExpression = await certainlyMutable(ctx, elems.filter((e) => e.expr).map((e) => e.expr), table);
  const inPredicate = s.node.whereClause ? await certainlyMutable(ctx, [s.node.whereClause], table) : [];
  if (inExpression.length + inPredicate.length === 0) return null;
  const rule = 'preflight/not-immutable';
  const name = typeof s.node.idxname === 'string' ? s.node.idxname : null;
  const where = inExpression.length > 0 ? 'expression' : 'predicate';
  const calls = inExpression.length > 0 ? inExpression : inPredicate;
  report({
    rule,
    kind: 'index-not-immutable',
    message:
      `${s.node.unique === true ? 'CREATE UNIQUE INDEX' : 'CREATE INDEX'}${name ? ` ${name}` : ''} fails now (42P17): its ${where === 'expression' ? 'expression' : 'WHERE'} calls ${calls.join(', ')}, and PostgreSQL takes only IMMUTABLE functions there ("functions in index ${where} must be marked IMMUTABLE"), whatever the rows. ` +
      `Index the columns themselves, or an expression of IMMUTABLE functions only: a constant for the time in a WHERE (WHERE created_at > '2026-01-01'), a timestamp without time zone for to_char or ::date (((ts AT TIME ZONE 'UTC')::date))`,
    object: { schema: t.schema, table: t.name, ...(name ? { index: name } : {}) },
    count: null,
    samples: [],
    details: { sqlstate: '42P17', kind: 'index-not-immutable', calls },
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/** Generated columns (ADD COLUMN, CREATE TABLE) whose expression is not IMMUTABLE fail whatever the rows (42P17). */
async function judgeGeneratedImmutable(s: MigrationStatement, table: { schema: string; name: string }, columnDefs: Node[], ctx: JudgeContext, report: (f: PreflightFindingInput) => void, columnsToday = false): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const rule = 'preflight/not-immutable';
  for (const cd of columnDefs) {
    const generated = (((cd.constraints as Node[] | undefined) ?? []).map((c) => (c.Constraint ?? {}) as Node)).find((c) => c.contype === 'CONSTR_GENERATED');
    if (!generated) continue;
    const column = String(cd.colname ?? '');
    const calls = await certainlyMutable(ctx, [generated.raw_expr], columnsToday ? table : null);
    if (calls.length === 0) {
      outcomes.push({ rule, status: 'passed', note: `${column}: no function of its generation expression is certainly not IMMUTABLE (whether PostgreSQL accepts the whole expression is not judged)` });
      continue;
    }
    report({
      rule,
      kind: 'generated-not-immutable',
      message:
        `${s.kind === 'CreateStmt' ? 'CREATE TABLE' : `ADD COLUMN ${column}`} fails now (42P17): the generation expression of ${column} calls ${calls.join(', ')}, and PostgreSQL takes only IMMUTABLE functions there ("generation expression is not immutable"), whatever the rows. ` +
        'Compute the value with IMMUTABLE functions only (a timestamp without time zone for to_char: to_char(ts AT TIME ZONE \'UTC\', \'YYYY\')), or fill a plain column from the application or a trigger',
      object: { schema: table.schema, table: table.name, column },
      count: null,
      samples: [],
      details: { sqlstate: '42P17', kind: 'generated-not-immutable', calls },
      location: s.location,
    });
    outcomes.push({ rule, status: 'failed' });
  }
  return outcomes;
}

/** What the domain judgement answers for a column whose type is no domain: nothing to report. */
const NOT_A_DOMAIN: Outcome = { rule: 'preflight/domain-constraints', status: 'passed' };

interface DomainFacts {
  /** The domain, schema-qualified and quoted, for a cast. */
  sql: string;
  name: string;
  notNull: boolean;
  /** The nearest default along the domain chain, as PostgreSQL deparses it; null when none. */
  defaultExpr: string | null;
  /** Why its constraints or base type could run code not pg_catalog's, or null. */
  userCode: string | null;
}

/**
 * Whether every type of the name outside pg_catalog (or in the schema given) is a domain that runs no
 * user code when a value is made of it: a pg_catalog base type, CHECKs and a DEFAULT that call only
 * pg_catalog's functions and operators, none of them one that runs a query or acts beyond the statement.
 * For the barrier: a statement making values of such a domain writes nowhere else.
 */
export async function harmlessDomain(ctx: JudgeContext, schema: string | null, name: string): Promise<boolean> {
  if (ctx.userCasts.length > 0) return false;
  const schemas = schema
    ? [schema]
    : (
        await ctx.db.query<{ schema: string }>(
          `SELECT DISTINCT n.nspname::pg_catalog.text AS schema FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace
            WHERE t.typname::pg_catalog.text OPERATOR(pg_catalog.=) $1 AND n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog'`,
          [name],
        )
      ).rows.map((r) => r.schema);
  if (schemas.length === 0) return false;
  for (const one of schemas) {
    const facts = await domainFacts(ctx, name, [one]);
    if (!facts || facts.userCode) return false;
    if (facts.defaultExpr !== null && defaultCodeBeyondReading(facts.defaultExpr)) return false;
  }
  return true;
}

/** Whether a domain's DEFAULT (as pg_get_expr writes it) calls beyond reading; one that does not parse is taken as calling anything. */
function defaultCodeBeyondReading(expr: string): boolean {
  try {
    return codeBeyondReading(parseSync(`SELECT ${expr}`) as unknown, REFUSED_IN_EXPRESSIONS).length > 0;
  } catch {
    return true;
  }
}

/** What a domain's CHECK (as pg_get_constraintdef writes it) calls beyond reading; one that does not parse is taken as calling anything. */
function checkCodeBeyondReading(definition: string): string[] {
  try {
    const tree = parseSync(`ALTER DOMAIN pg_catalog.x ADD ${definition}`) as unknown;
    return codeBeyondReading(tree, REFUSED_IN_EXPRESSIONS);
  } catch {
    return [`a CHECK not read here (${definition})`];
  }
}

/** The domain a column type names (bare: the first schema of pg_catalog and the search_path that has the name), or null when it names no domain. */
async function domainOf(ctx: JudgeContext, state: RunState, typeName: Node): Promise<DomainFacts | null> {
  if (Array.isArray(typeName.arrayBounds) && typeName.arrayBounds.length > 0) return null;
  const names = strings(typeName.names);
  const name = names[names.length - 1] ?? '';
  // A bare name under a search_path the run made unknown could be any schema's type: not judged as a domain.
  if (names.length === 1 && state.searchPathUnknown) return null;
  const schemas = names.length > 1 ? [names[names.length - 2] as string] : ['pg_catalog', ...state.searchPath];
  return domainFacts(ctx, name, schemas);
}

/** The first type named `name` in the schemas (in their order), as DomainFacts when it is a domain. */
async function domainFacts(ctx: JudgeContext, name: string, schemas: string[]): Promise<DomainFacts | null> {
  const row = (
    await ctx.db.query<{ schema: string; name: string; domain: boolean; notNull: boolean; defaultExpr: string | null; userCode: string | null; checks: string[] | null }>(
      `WITH RECURSIVE found AS (
         SELECT t.oid, n.nspname::pg_catalog.text AS schema, t.typname::pg_catalog.text AS name, t.typtype OPERATOR(pg_catalog.=) 'd' AS domain
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace
          WHERE t.typname::pg_catalog.text OPERATOR(pg_catalog.=) $1 AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])
          ORDER BY pg_catalog.array_position($2::pg_catalog.text[], n.nspname::pg_catalog.text) LIMIT 1),
       chain AS (
         SELECT t.oid, t.typbasetype, t.typtype, t.typnotnull, t.typdefaultbin, 0 AS depth FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) (SELECT oid FROM found)
         UNION ALL
         SELECT b.oid, b.typbasetype, b.typtype, b.typnotnull, b.typdefaultbin, c.depth OPERATOR(pg_catalog.+) 1 FROM chain c JOIN pg_catalog.pg_type b ON b.oid OPERATOR(pg_catalog.=) c.typbasetype WHERE c.typtype OPERATOR(pg_catalog.=) 'd')
       SELECT f.schema, f.name, f.domain,
              COALESCE((SELECT pg_catalog.bool_or(c.typnotnull) FROM chain c WHERE c.typtype OPERATOR(pg_catalog.=) 'd'), false) AS "notNull",
              (SELECT pg_catalog.pg_get_expr(c.typdefaultbin, 0) FROM chain c WHERE c.typdefaultbin IS NOT NULL ORDER BY c.depth LIMIT 1) AS "defaultExpr",
              (SELECT pg_catalog.string_agg(DISTINCT what, ', ') FROM (
                 SELECT pg_catalog.concat('the base type ', pg_catalog.format_type(b.oid, NULL)) AS what FROM chain c JOIN pg_catalog.pg_type b ON b.oid OPERATOR(pg_catalog.=) c.oid
                  WHERE c.typtype OPERATOR(pg_catalog.<>) 'd' AND b.typnamespace OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace
                 UNION ALL
                 SELECT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
                   FROM chain c JOIN pg_catalog.pg_constraint k ON k.contypid OPERATOR(pg_catalog.=) c.oid
                   JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid OPERATOR(pg_catalog.=) k.oid
                  WHERE d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass)
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid OPERATOR(pg_catalog.=) d.refobjid AND p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace)
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass AND o.oid OPERATOR(pg_catalog.=) d.refobjid AND o.oprnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace)
              ) u) AS "userCode",
              (SELECT pg_catalog.array_agg(pg_catalog.pg_get_constraintdef(k.oid))
                 FROM chain c JOIN pg_catalog.pg_constraint k ON k.contypid OPERATOR(pg_catalog.=) c.oid WHERE k.contype OPERATOR(pg_catalog.=) 'c') AS checks
         FROM found f`,
      [name, schemas],
    )
  ).rows[0];
  if (!row || !row.domain) return null;
  // pg_depend records no dependency on pg_catalog's (pinned) functions: the CHECKs are read for those
  // that run a query or SQL they are handed (query_to_xml) or act beyond the statement, user code too.
  const acting = (row.checks ?? []).flatMap(checkCodeBeyondReading);
  const userCode = row.userCode ?? (acting.length > 0 ? [...new Set(acting)].join(', ') : null);
  return { sql: qualifiedName(row.schema, row.name), name: displayName(row.schema, row.name), notNull: row.notNull, defaultExpr: row.defaultExpr, userCode };
}

/** The SQL of a constant (a literal, possibly cast, or NULL) in `sql`, or null when it is anything else. */
function constantSql(expr: unknown): string | null {
  return nonNullConstant(expr) === null ? null : deparseExpression(expr);
}

/**
 * ADD COLUMN of a domain type on a table with rows: every row gets the DEFAULT (the column's, else the
 * domain's, else NULL), which PostgreSQL checks against the domain: a NULL under NOT NULL fails (23502),
 * a value its CHECK rejects fails (23514), even with no DEFAULT at all (CHECK (VALUE IS NOT NULL)).
 * The one value is cast to the domain here, once its constraints are known to call only pg_catalog.
 * Null when the type is not a domain.
 */
async function judgeDomainColumn(t: Extract<Target, { kind: 'today' | 'created' }>, cd: Node, s: MigrationStatement, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome | null> {
  if (!isNode(cd.typeName)) return null;
  const domain = await domainOf(ctx, state, cd.typeName as Node);
  if (!domain) return null;
  const rule = 'preflight/domain-constraints';
  const column = String(cd.colname ?? '');
  if (t.kind === 'created') return { rule, status: 'passed', note: `${displayName(t.schema, t.name)} is created at ${at(t.createdAt)} in this run: empty when this runs` };
  if (domain.userCode) return notJudged(rule, `the domain ${domain.name} runs ${domain.userCode}, not pg_catalog's: its constraints are not evaluated`);
  if (ctx.userCasts.length > 0) return notJudged(rule, `the database has casts whose function is not pg_catalog's (${ctx.userCasts.slice(0, 3).join(', ')}): the domain's constraints are not evaluated`);
  const constraints = ((cd.constraints as Node[] | undefined) ?? []).map((c) => (c.Constraint ?? {}) as Node);
  if (constraints.some((c) => ['CONSTR_GENERATED', 'CONSTR_IDENTITY'].includes(String(c.contype)))) return null;
  const columnDefault = constraints.find((c) => c.contype === 'CONSTR_DEFAULT');
  let value: string | null;
  let source: string;
  if (columnDefault) {
    value = constantSql(columnDefault.raw_expr);
    source = 'its DEFAULT';
  } else if (domain.defaultExpr !== null) {
    const parsed = (parseSync(`SELECT ${domain.defaultExpr}`) as unknown as { stmts: { stmt: Node }[] }).stmts[0]?.stmt;
    const target = ((((parsed?.SelectStmt as Node | undefined)?.targetList as Node[] | undefined)?.[0]?.ResTarget as Node | undefined) ?? {}).val;
    value = constantSql(target);
    source = `the domain's DEFAULT (${domain.defaultExpr})`;
  } else {
    value = 'NULL';
    source = 'NULL (no DEFAULT)';
  }
  if (value === null) return notJudged(rule, `ADD COLUMN ${column} ${domain.name}: ${source} is an expression, whose value for each row is not known here`);
  const rows = await countRows(ctx, t.inh || t.table.kind === 'partitioned table' ? qualifiedName(t.schema, t.name) : `ONLY ${qualifiedName(t.schema, t.name)}`, 'true', 'NULL', 0);
  if (rows.count === 0) return { rule, status: 'passed', note: `${displayName(t.schema, t.name)} has no row today: the domain is checked on no value` };
  const object: FindingObject = { schema: t.schema, table: t.name, column };
  const checked = await evaluating(ctx, () => ctx.db.query(`SELECT CAST((${value}) AS ${domain.sql}) AS v`), true, /^(22|23)/);
  if (!('error' in checked)) return { rule, status: 'passed' };
  const { code, message } = checked.error;
  const instead =
    code === '23502'
      ? `give it a DEFAULT the domain takes (ALTER TABLE ${qualifiedName(t.schema, t.name)} ADD COLUMN ${quoteIdent(column)} ${domain.sql} DEFAULT <value>), or add it of the base type, fill it, then ALTER COLUMN ${quoteIdent(column)} TYPE ${domain.sql}`
      : `give it a DEFAULT the domain's CHECK takes (ALTER TABLE ${qualifiedName(t.schema, t.name)} ADD COLUMN ${quoteIdent(column)} ${domain.sql} DEFAULT <value>)`;
  report({
    rule,
    kind: code === '23502' ? 'domain-not-null' : 'domain-check',
    message: `ADD COLUMN ${column} ${domain.name} fails now (${code}): each of the ${rows.count} row${rows.count === 1 ? '' : 's'} of ${displayName(t.schema, t.name)} would hold ${source}, which the domain rejects ("${message}"). Instead: ${instead}`,
    object,
    count: rows.count,
    samples: [],
    details: { sqlstate: code, kind: code === '23502' ? 'domain-not-null' : 'domain-check', error: message },
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/**
 * The expression with its columns' table qualifiers taken off (`t.col`, `schema.t.col` name the
 * statement's own table, which PostgreSQL accepts, and the judging query reads it as `r`), or the
 * server's 42P01 for a qualifier naming another table.
 */
export function ownColumns(expr: unknown, t: { schema: string; name: string }): { expr: unknown; error: string | null } {
  let error: string | null = null;
  const strip = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(strip);
    if (!isNode(n)) return n;
    if (isNode(n.ColumnRef)) {
      const ref = n.ColumnRef as Node;
      const fields = (ref.fields as Node[] | undefined) ?? [];
      const names = fields.map((f) => (isNode(f.String) ? String((f.String as Node).sval) : null));
      if (names.length === 2 || names.length === 3) {
        const table = names[names.length - 2];
        const schema = names.length === 3 ? names[0] : t.schema;
        if (table !== t.name) error ??= `missing FROM-clause entry for table "${table ?? ''}"`;
        else if (schema !== t.schema) error ??= `invalid reference to FROM-clause entry for table "${table}"`;
        else return { ...n, ColumnRef: { ...ref, fields: fields.slice(-1) } };
      }
      return n;
    }
    return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, strip(v)]));
  };
  const stripped = strip(expr);
  return { expr: stripped, error };
}

/** A CHECK or index expression with a column qualified by another table: the statement fails whatever the rows (42P01). */
export function reportForeignQualifier(error: string, what: string, statement: string, object: FindingObject, location: StatementLocation, report: (f: PreflightFindingInput) => void): Outcome {
  const rule = 'preflight/invalid-references';
  report({
    rule,
    kind: 'missing-from-entry',
    message: `${statement} fails now (42P01): its ${what} names a column of a table the statement does not (${error}), whatever the rows. Refer to the table's own columns only, unqualified or by its own name`,
    object,
    count: null,
    samples: [],
    details: { sqlstate: '42P01', kind: 'missing-from-entry', error },
    location,
  });
  return { rule, status: 'failed' };
}

/** Every judge: the statement kinds preflight looks at. */
/** A statement's data judge, then whether what it adds will fail later writes (a JSON integer cast). */
const andLater =
  (judge: Judge): Judge =>
  async (s, state, ctx, report) => [
    ...(await judge(s, state, ctx, report)),
    ...(await judgeJsonIntCasts(s, state, ctx, report)),
    ...(await judgePlaceholderDefaults(s, state, ctx, report)),
  ];

const createdKeys = new WeakMap<RunState, Map<string, { columns: string[]; expression: boolean }>>();
/** The partition keys of the tables the run creates PARTITION BY (key: tableKey). */
function createdPartitionKeys(state: RunState): Map<string, { columns: string[]; expression: boolean }> {
  let map = createdKeys.get(state);
  if (!map) {
    map = new Map();
    createdKeys.set(state, map);
  }
  return map;
}

/** A CREATE TABLE's PARTITION BY: its columns, and whether an expression is among them; null when it has none. */
function partitionKeyOf(s: MigrationStatement): { columns: string[]; expression: boolean } | null {
  if (!isNode(s.node.partspec)) return null;
  const elems = (((s.node.partspec as Node).partParams as Node[] | undefined) ?? []).map((p) => (p.PartitionElem ?? {}) as Node);
  return { columns: elems.filter((e) => typeof e.name === 'string').map((e) => String(e.name)), expression: elems.some((e) => e.expr !== undefined) };
}

/** A CREATE TABLE ... PARTITION BY whose own PRIMARY KEY or UNIQUE lacks a partition key column fails (0A000). */
function judgeCreatedPartitionKeys(s: MigrationStatement, rel: { schema: string; name: string }, report: (f: PreflightFindingInput) => void): Outcome[] {
  const key = partitionKeyOf(s);
  if (!key) return [];
  const keys: { columns: string[]; name: string | null; primary: boolean }[] = [];
  for (const e of (s.node.tableElts as Node[] | undefined) ?? []) {
    const table = isNode(e.Constraint) ? [e.Constraint as Node] : [];
    for (const c of table) if (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE') keys.push({ columns: strings(c.keys), name: typeof c.conname === 'string' ? c.conname : null, primary: c.contype === 'CONSTR_PRIMARY' });
    if (!isNode(e.ColumnDef)) continue;
    const cd = e.ColumnDef as Node;
    for (const c of ((cd.constraints as Node[] | undefined) ?? []).map((x) => (x.Constraint ?? {}) as Node)) {
      if (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE') keys.push({ columns: [String(cd.colname ?? '')], name: typeof c.conname === 'string' ? c.conname : null, primary: c.contype === 'CONSTR_PRIMARY' });
    }
  }
  const rule = 'preflight/partition-keys';
  for (const k of keys) {
    const missing = key.columns.filter((c) => !k.columns.includes(c));
    if (!key.expression && missing.length === 0) continue;
    const what = k.primary ? 'PRIMARY KEY' : 'UNIQUE';
    report({
      rule,
      kind: key.expression ? 'partition-key-expression' : 'partition-key-missing',
      message: key.expression
        ? `CREATE TABLE fails now (0A000): ${displayName(rel.schema, rel.name)} is partitioned by an expression, and PostgreSQL supports no unique key (its ${what} (${k.columns.join(', ')})) on such a table. Enforce uniqueness on each partition instead`
        : `CREATE TABLE fails now (0A000): ${displayName(rel.schema, rel.name)} is partitioned by (${key.columns.join(', ')}), and its ${what} (${k.columns.join(', ')}) lacks ${missing.join(', ')}: a unique key on a partitioned table must include every partition key column. Include ${missing.length === 1 ? 'it' : 'them'}, e.g. ${what} (${[...k.columns, ...missing].join(', ')})`,
      object: { schema: rel.schema, table: rel.name, columns: k.columns, ...(k.name ? { constraint: k.name } : {}) },
      count: null,
      samples: [],
      details: { sqlstate: '0A000', kind: key.expression ? 'partition-key-expression' : 'partition-key-missing' },
      location: s.location,
    });
    return [{ rule, status: 'failed' }];
  }
  return [];
}

/** CREATE TABLE: its generated columns' expressions, and the names it makes, for a later ADD CONSTRAINT or CREATE INDEX of the run. */
const makingNames =
  (judge: Judge): Judge =>
  async (s, state, ctx, report) => {
    const rel = resolveRelation((s.node.relation ?? {}) as RangeVar, state, ctx.catalog);
    const columnDefs = ((s.node.tableElts as Node[] | undefined) ?? []).filter((e) => isNode(e.ColumnDef)).map((e) => e.ColumnDef as Node);
    const generated = (await judgeGeneratedImmutable(s, rel, columnDefs, ctx, report)).filter((o) => o.status === 'failed');
    const partitioned = judgeCreatedPartitionKeys(s, rel, report);
    const outcomes = [...(await judge(s, state, ctx, report)), ...generated, ...partitioned];
    const existsToday = rel.table !== undefined && !state.created.has(tableKey(rel.schema, rel.name));
    // IF NOT EXISTS over a table that exists does nothing; a CREATE that fails makes nothing.
    if (!(existsToday && s.node.if_not_exists === true) && !outcomes.some((o) => o.status === 'failed')) {
      recordCreatedNames(s, state, ctx);
      const key = partitionKeyOf(s);
      if (key) createdPartitionKeys(state).set(tableKey(rel.schema, rel.name), key);
    }
    return outcomes;
  };

export const ALL_JUDGES: Judges = {
  ...JUDGES,
  CreateStmt: andLater(makingNames(JUDGES.CreateStmt as Judge)),
  DropStmt: followNames,
  RenameStmt: followNames,
  AlterTableStmt: andLater(judgeAlterTable),
  IndexStmt: andLater(judgeIndex),
};
