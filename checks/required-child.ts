import { z } from 'zod';
import {
  allNotNull,
  defineCheck,
  displayName,
  equalsExpr,
  fingerprintOf,
  ownRows,
  quoteIdent,
  sampleKeyExpr,
  scaleCount,
  tableSample,
  type CheckContext,
  type Column,
  type Finding,
  type Queryable,
  type Table,
} from '../src/index.js';
import {
  checkedExpression,
  columnName,
  resolveColumn,
  resolveTable,
  ruleKind,
  ruleName,
  ruleObject,
  runRules,
  schemaName,
  sqlExpression,
  STRING_TYPES,
  tableName,
} from './support/generic-rules.js';

const ID = 'required-child';

const rule = z
  .strictObject({
    name: ruleName.optional(),
    parent: z.strictObject({
      schema: schemaName.optional(),
      table: tableName,
      key: z.array(columnName).min(1).describe('the parent columns the child refers to, in order'),
      where: sqlExpression('only the parent rows where this holds must have a child (the table is called `parent`)').optional(),
    }),
    child: z.strictObject({
      schema: schemaName.optional(),
      table: tableName,
      columns: z.array(columnName).min(1).describe('the child columns holding the parent key: columns[i] refers to parent.key[i]'),
      where: sqlExpression('only child rows where this holds count (the table is called `child`, the parent row `parent`)').optional(),
    }),
  })
  .refine((r) => r.parent.key.length === r.child.columns.length, {
    message: 'child.columns must name one column for each column of parent.key',
    path: ['child', 'columns'],
  });

const options = z.strictObject({
  rules: z.array(rule).default([]).describe('one rule per parent table that must have a child row'),
});

type Options = z.infer<typeof options>;
type Rule = z.infer<typeof rule>;

interface Prepared {
  rule: Rule;
  label: string;
  object: string;
  kind: string;
  parent: Table;
  child: Table;
  key: Column[];
  columns: Column[];
  parentWhere: string | null;
  childWhere: string | null;
}

export default defineCheck({
  id: ID,
  title: 'Parent rows without a required child row',
  severity: 'error',
  description: 'Rows of a parent table (optionally filtered) that have no matching row in a child table (optionally filtered), per configured rule.',
  docs: {
    finds: `For each rule in checks.required-child.rules, the rows of the parent table (those where parent.where holds, if given) that have no row in the child table whose child.columns equal the parent's key (only child rows where child.where holds count). One finding per failing rule: count = parents without a child, samples = their primary key (else the rule's key). Parents with a NULL in the key are not checked (they can never have a child). Both tables are read as PostgreSQL's foreign keys read them: a partitioned table whole, any other table's own rows (FROM ONLY, not its inheritance children's). The keys are compared with pg_catalog's operators (a uuid against text as canonical text, citext case-insensitively), never a user's. In the expressions the tables are called \`parent\` and \`child\`; unqualified names in child.where are the child's columns. Expressions run as written under the audit's search_path (pg_catalog, pg_temp): a function or operator a user created resolves only schema-qualified, which is intended; each is parsed first and refused unless it is exactly one expression.

The two incident checks, written as rules (they stay as checks: they also tell the reasons apart and write repairs):
  models-without-pricing: { "name": "models-have-active-pricing", "parent": { "table": "models", "key": ["id"] }, "child": { "table": "model_provider_pricing", "columns": ["model_name"], "where": "is_active AND effective_from <= now() AND (effective_until IS NULL OR effective_until > now())" } }
  users-without-profiles: { "name": "users-have-profiles", "parent": { "schema": "auth", "table": "users", "key": ["id"] }, "child": { "schema": "public", "table": "user_profiles", "columns": ["id"] } }
Mind the parentheses around the OR: \`is_active AND effective_until IS NULL OR effective_until > now()\` also accepts inactive rows that have not expired.`,
    why: "The reverse of dbt's `relationships` test (every child has its parent): every parent has its child. It generalises two incidents this tool was built from: a model created without its pricing row, so every cost lookup for it failed, and sign-ups whose users got no user_profiles row, which every later write for them needed: an invariant the schema cannot declare, since no foreign key points from a parent to its children.",
    fix: 'Create the missing child rows (or remove the parents that should not exist), in the same transaction that creates a parent from now on; a deferred constraint trigger can make the database keep the invariant itself.',
    bad: `INSERT INTO orders (id, customer_id) VALUES (1042, 7);
-- no order_lines row for order 1042: an empty order
INSERT INTO tenants (id, name) VALUES (9, 'Acme');
-- no tenant_members row with role 'owner' for tenant 9`,
    good: `// integrity.config.json
"checks": { "required-child": { "rules": [
  { "name": "every-order-has-a-line",
    "parent": { "table": "orders", "key": ["id"], "where": "status <> 'draft'" },
    "child": { "table": "order_lines", "columns": ["order_id"] } },
  { "name": "every-tenant-has-an-owner",
    "parent": { "table": "tenants", "key": ["id"], "where": "deleted_at IS NULL" },
    "child": { "table": "tenant_members", "columns": ["tenant_id"], "where": "role = 'owner' AND revoked_at IS NULL" } }
] } }`,
  },
  options,
  samplesTables: true,
  async run(ctx) {
    return runRules(ctx, ID, {
      objectOf: (r, label) => ruleObject(r.parent, label),
      prepare: (r, label) => prepare(ctx, r, label),
      identity: (p) => fingerprintOf(ID, p.kind, findingObject(p)),
      table: (p) => p.parent,
      audit: (p, db) => auditRule(ctx, p, db),
    });
  },
});

async function prepare(ctx: CheckContext<Options>, r: Rule, label: string): Promise<Prepared> {
  const parent = resolveTable(ctx as CheckContext<unknown>, r.parent, `${label}: parent table`);
  const child = resolveTable(ctx as CheckContext<unknown>, r.child, `${label}: child table`);
  const key = r.parent.key.map((c) => resolveColumn(parent, c, `${label}: parent.key`));
  const columns = r.child.columns.map((c) => resolveColumn(child, c, `${label}: child.columns`));
  const parentWhere = r.parent.where === undefined ? null : (await checkedExpression(r.parent.where, `${label}: parent.where`)).sql;
  const childWhere = r.child.where === undefined ? null : (await checkedExpression(r.child.where, `${label}: child.where`)).sql;
  return {
    rule: r,
    label,
    object: ruleObject({ schema: parent.schema, table: parent.name }, label),
    // The filters tell apart two unnamed rules between the same columns; the rule's place in the list never.
    kind: ruleKind(r.name, { parentWhere: r.parent.where ?? null, childWhere: r.child.where ?? null }),
    parent,
    child,
    key,
    columns,
    parentWhere,
    childWhere,
  };
}

function findingObject(p: Prepared) {
  const keyNames = p.key.map((c) => c.name);
  return {
    schema: p.parent.schema,
    table: p.parent.name,
    ...(keyNames.length === 1 ? { column: keyNames[0] as string } : { columns: keyNames }),
    references: { schema: p.child.schema, table: p.child.name, columns: p.columns.map((c) => c.name) },
  };
}

/** child.columns[i] = parent.key[i], with pg_catalog's operators; strings under the parent's collation where they differ. */
function keyEquals(childCol: Column, parentCol: Column): string {
  const c = `child.${quoteIdent(childCol.name)}`;
  const p = `parent.${quoteIdent(parentCol.name)}`;
  const eq = equalsExpr(c, childCol.baseType, p, parentCol.baseType);
  const pc = parentCol.collation;
  const differs = pc && (childCol.collation?.schema !== pc.schema || childCol.collation?.name !== pc.name);
  return differs && STRING_TYPES.has(childCol.baseType) && STRING_TYPES.has(parentCol.baseType) ? `${eq} COLLATE ${quoteIdent(pc.schema)}.${quoteIdent(pc.name)}` : eq;
}

async function auditRule(ctx: CheckContext<Options>, p: Prepared, db: Queryable): Promise<Finding | null> {
  const keyNames = p.key.map((c) => c.name);
  const sampleCols = p.parent.primaryKey ?? keyNames;
  const joins = p.columns.map((c, i) => keyEquals(c, p.key[i] as Column)).join(' AND ');
  const res = await db.query<{ n: string; sample: string }>(
    `SELECT count(*) OVER () AS n, ${sampleKeyExpr('parent', sampleCols)} AS sample
       FROM ${ownRows(p.parent)} AS parent${tableSample(ctx.samplePercent)}
      WHERE ${allNotNull('parent', keyNames)}${p.parentWhere === null ? '' : `\n        AND ${p.parentWhere}`}
        AND NOT EXISTS (SELECT 1 FROM ${ownRows(p.child)} AS child
                         WHERE ${joins}${p.childWhere === null ? '' : `\n                           AND ${p.childWhere}`})
      ORDER BY ${sampleCols.map((c) => `parent.${quoteIdent(c)}`).join(', ')}
      LIMIT $1`,
    [ctx.sampleSize],
  );
  if (res.rows.length === 0) return null;
  const count = scaleCount(Number(res.rows[0]?.n), ctx.samplePercent);
  const about = ctx.samplePercent === null ? '' : 'about ';
  const parentName = displayName(p.parent.schema, p.parent.name);
  const childName = displayName(p.child.schema, p.child.name);
  const cols = (cs: Column[]) => cs.map((c) => displayName(c.name)).join(', ');
  return ctx.finding({
    kind: p.kind,
    message: `${about}${count} ${count === 1 ? 'row' : 'rows'} of ${parentName}${p.rule.parent.where === undefined ? '' : ` (where ${p.rule.parent.where})`} ${count === 1 ? 'has' : 'have'} no row in ${childName}${p.rule.child.where === undefined ? '' : ` (where ${p.rule.child.where})`}: (${cols(p.columns)}) -> (${cols(p.key)}) [${p.label}]`,
    object: findingObject(p),
    count,
    ...(ctx.samplePercent === null ? {} : { estimated: true }),
    samples: res.rows.map((r) => r.sample),
    details: {
      ...(p.rule.name === undefined ? {} : { rule: p.rule.name }),
      sampleKey: sampleCols,
      ...(p.rule.parent.where === undefined ? {} : { parentWhere: p.rule.parent.where }),
      ...(p.rule.child.where === undefined ? {} : { childWhere: p.rule.child.where }),
    },
  });
}
