/**
 * What the generic-rule checks (required-child, accepted-values, unique, row-condition) share: the zod
 * pieces of a rule, resolving its table and columns with a reason that says what exists, and validating
 * the SQL expressions a rule carries (`where`, `condition`) before they are spliced into a query.
 */
import { parse, scan } from '@libpg-query/parser';
import { z } from 'zod';
import { displayName, findColumn, locateTable, type CheckContext, type Column, type Finding, type Queryable, type Table } from '../../src/index.js';

/** A rule's own name: the finding's stable identity (and, for row-condition, the constraint's name). */
export const ruleName = z.string().min(1).describe('names the rule: its findings keep this identity (fingerprint) across runs and edits');

/** An SQL boolean expression, checked at run time to be exactly one expression (see checkedExpression). */
export const sqlExpression = (what: string) =>
  z
    .string()
    .min(1)
    .refine((s) => s.trim().length > 0, 'an empty expression')
    .describe(`${what}: one SQL boolean expression, run as written with search_path = pg_catalog, pg_temp`);

export const schemaName = z.string().min(1).describe('the schema; by default the only audited table of that name');
export const tableName = z.string().min(1);
export const columnName = z.string().min(1);

export function skipWithoutRules(ctx: CheckContext<{ rules: unknown[] }>, id: string): void {
  if (ctx.options.rules.length === 0) ctx.skip(`no rules configured: add checks.${id}.rules to the config file (see integrity explain ${id})`);
}

/** How a rule is called in objectErrors and notes: its name, else its place in the config. */
export function ruleLabel(id: string, index: number, name: string | undefined): string {
  return name !== undefined ? `rule ${JSON.stringify(name)}` : `checks.${id}.rules[${index}]`;
}

/** The object string under which a rule's failure is recorded: the table it reads, and which rule. */
export function ruleObject(table: { schema?: string | undefined; table: string }, label: string): string {
  return `${table.schema === undefined ? displayName(table.table) : displayName(table.schema, table.table)} (${label})`;
}

/**
 * The finding's kind (part of its fingerprint): the rule's name, else what distinguishes the rule from
 * another on the same object, never its position in the list (inserting a rule must not renumber others).
 */
export function ruleKind(name: string | undefined, identity: Record<string, unknown>): string {
  return name ?? `rule:${JSON.stringify(identity)}`;
}

/**
 * The rules whose kind and object coincide with an earlier rule's would share its fingerprint: each such
 * rule is recorded as an error of its own, asking for a name, and is not run.
 */
export function distinctRules<R>(ctx: CheckContext<unknown>, rules: { rule: R; key: string; object: string; label: string }[]): R[] {
  const seen = new Map<string, string>();
  const out: R[] = [];
  for (const r of rules) {
    const first = seen.get(r.key);
    if (first !== undefined) {
      ctx.objectError(r.object, new Error(`${r.label} checks the same thing as ${first}, so their findings could not be told apart; give each a distinct name`));
      continue;
    }
    seen.set(r.key, r.label);
    out.push(r.rule);
  }
  return out;
}

/** How one generic-rule check prepares, identifies and audits its rules; runRules does the rest. */
export interface RuleSpec<R, P extends { label: string; object: string }> {
  /** Where a rule that cannot be prepared (a missing table, a refused expression) is recorded. */
  objectOf(rule: R, label: string): string;
  /** Resolves the rule against the catalog and checks its expressions; throws with the reason. */
  prepare(rule: R, label: string): Promise<P>;
  /** The fingerprint the rule's finding would have, so that two rules that coincide are told apart. */
  identity(prepared: P): string;
  /** The table whose rows the rule reads (its size orders the work). */
  table(prepared: P): Table;
  audit(prepared: P, db: Queryable, index: number): Promise<Finding | null>;
  /** Said after "checked N of M rules", once every rule has run. */
  note?(prepared: P[]): string;
}

/**
 * The run of every generic-rule check: skip without rules; prepare each rule (one that cannot be is that
 * rule's objectError); refuse rules that coincide; audit the rest in parallel, one failure costing one rule.
 */
export async function runRules<R extends { name?: string | undefined }, P extends { label: string; object: string }>(
  ctx: CheckContext<{ rules: R[] }>,
  id: string,
  spec: RuleSpec<R, P>,
): Promise<Finding[]> {
  skipWithoutRules(ctx, id);
  const prepared: { rule: P; key: string; object: string; label: string }[] = [];
  for (const [i, r] of ctx.options.rules.entries()) {
    const label = ruleLabel(id, i, r.name);
    try {
      const p = await spec.prepare(r, label);
      prepared.push({ rule: p, key: spec.identity(p), object: p.object, label });
    } catch (err) {
      ctx.objectError(spec.objectOf(r, label), err);
    }
  }
  const rules = distinctRules(ctx as CheckContext<unknown>, prepared);
  const results = await ctx.each(
    rules.map((p, i) => ({ item: { p, i }, weight: Math.max(0, spec.table(p).estimatedRows), object: p.object })),
    async ({ p, i }, db) => {
      const t = spec.table(p);
      ctx.progress(displayName(t.schema, t.name));
      return spec.audit(p, db, i);
    },
  );
  const total = ctx.options.rules.length;
  ctx.note(`checked ${rules.length} of ${total} rule${total === 1 ? '' : 's'}${spec.note?.(rules) ?? ''}`);
  return results.filter((f): f is Finding => f !== null && f !== undefined);
}

/** The table a rule names, or an error that says what exists instead. */
export function resolveTable(ctx: CheckContext<unknown>, ref: { schema?: string | undefined; table: string }, what: string): Table {
  const found = locateTable(ctx.catalog, ref);
  if (found.status === 'found') {
    if (found.table.unreadable) throw new Error(`${what}: ${displayName(found.table.schema, found.table.name)} cannot be read: ${found.table.unreadable}`);
    return found.table;
  }
  if (found.status === 'ambiguous') throw new Error(`${what}: ${found.reason}`);
  const all = [...ctx.catalog.tables, ...ctx.catalog.partitions];
  const lower = ref.table.toLowerCase();
  const alike = all.filter((t) => t.name.toLowerCase() === lower || t.name.toLowerCase().replace(/[\s_"]+/g, '') === lower.replace(/[\s_"]+/g, ''));
  const inSchema = ref.schema === undefined ? [] : ctx.catalog.tables.filter((t) => t.schema === ref.schema);
  const hint =
    alike.length > 0
      ? `; did you mean ${alike.slice(0, 3).map((t) => displayName(t.schema, t.name)).join(' or ')}? (names are case-sensitive and written unquoted in the config)`
      : inSchema.length > 0
        ? `; the tables of schema ${displayName(ref.schema ?? '')} are ${listOf(inSchema.map((t) => displayName(t.name)))}`
        : ref.schema !== undefined && !ctx.catalog.schemas.includes(ref.schema)
          ? `; the audited schemas are ${ctx.catalog.schemas.join(', ') || 'none'}`
          : '';
  throw new Error(`${what}: ${found.reason}${hint}`);
}

/** A column of a rule's table, or an error listing the table's columns. */
export function resolveColumn(table: Table, name: string, what: string): Column {
  const col = findColumn(table, name);
  if (col) return col;
  throw new Error(`${what}: ${displayName(table.schema, table.name)} has no column ${displayName(name)}; its columns are ${listOf(table.columns.map((c) => displayName(c.name)))}`);
}

function listOf(names: string[]): string {
  return names.length <= 12 ? names.join(', ') : `${names.slice(0, 12).join(', ')} and ${names.length - 12} more`;
}

// Raw control characters (CR ends a `--` line for psql and the server) and the Unicode line separators:
// an expression never needs them outside a literal, and a literal can spell them as E'\r'.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

const SELECT_SHAPE = new Set(['targetList', 'whereClause', 'limitOption', 'op']);

export interface CheckedExpression {
  /** The expression as written, in parentheses: what is spliced into the audit's SQL. */
  sql: string;
  /** Whether it holds a subquery (which a CHECK constraint cannot). */
  hasSubquery: boolean;
}

/**
 * Proves that `text` is one SQL expression and nothing else before it reaches a query: it is parsed by
 * PostgreSQL's own parser as `SELECT 1 WHERE (<text>)`, which must give exactly one SELECT of that shape,
 * and its tokens must never close a parenthesis they did not open (so `a) OR (b` cannot change what the
 * surrounding SQL means) nor hold a `;`. `x); DROP TABLE y; --` is refused. Names in it are resolved with
 * the audit's search_path (pg_catalog, pg_temp): pg_catalog's functions and operators, no user's.
 */
export async function checkedExpression(text: string, what: string): Promise<CheckedExpression> {
  if (CONTROL.test(text)) throw new Error(`${what} holds a control character or line separator; write it in a literal as E'\\r' and the like`);
  const wrapped = `SELECT 1 WHERE (${text})`;
  let tokens;
  try {
    tokens = (await scan(text)).tokens;
  } catch (err) {
    // The scanner's own error is not always readable (an unterminated literal); the parser says it better.
    const reason = await parse(wrapped).then(
      () => (err instanceof Error ? err.message : String(err)),
      (parseErr: unknown) => (parseErr instanceof Error ? parseErr.message : String(parseErr)),
    );
    throw new Error(`${what} is not valid SQL: ${reason}`, { cause: err });
  }
  if (tokens.some((t) => t.tokenName === 'ASCII_59')) throw new Error(`${what} must be one expression, not statements: it holds a ";"`);
  let depth = 0;
  for (const t of tokens) {
    if (t.tokenName === 'ASCII_40') depth++;
    if (t.tokenName === 'ASCII_41' && --depth < 0) throw new Error(`${what} must be one expression: it closes a parenthesis it did not open`);
  }
  let tree: { stmts?: { stmt?: Record<string, unknown> }[] };
  try {
    tree = (await parse(wrapped)) as typeof tree;
  } catch (err) {
    throw new Error(`${what} is not a valid SQL expression: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const stmts = tree.stmts ?? [];
  const select = stmts.length === 1 ? (stmts[0]?.stmt?.SelectStmt as Record<string, unknown> | undefined) : undefined;
  if (!select || !select.whereClause || Object.keys(select).some((k) => !SELECT_SHAPE.has(k)) || (select.targetList as unknown[]).length !== 1) {
    throw new Error(`${what} must be exactly one SQL expression`);
  }
  return { sql: `(${text})`, hasSubquery: JSON.stringify(select.whereClause).includes('"SubLink"') };
}

/**
 * Types whose equality and grouping are pg_catalog's own; any other type (an extension's, a user's, a
 * domain's base aside) is grouped by its text, so that no operator class a user wrote is called.
 */
const BUILTIN = new Set([
  'int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'text', 'varchar', 'bpchar', 'name', 'uuid', 'bool', 'date', 'timestamp',
  'timestamptz', 'time', 'timetz', 'interval', 'bytea', 'oid', 'inet', 'cidr', 'macaddr', 'char',
]);

/** An expression to GROUP BY for a column, comparing as its unique index would without user operators. */
export function groupingExpr(ref: string, col: Column): string {
  if (BUILTIN.has(col.baseType)) return ref;
  if (col.baseType === 'citext') return `pg_catalog.lower(${ref}::pg_catalog.text)`;
  return `${ref}::pg_catalog.text`;
}

export const STRING_TYPES = new Set(['text', 'varchar', 'bpchar', 'name']);
