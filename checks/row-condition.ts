import { z } from 'zod';
import {
  defineCheck,
  displayName,
  fingerprintOf,
  ownRows,
  qualifiedName,
  quoteIdent,
  sampleKeyExpr,
  scaleCount,
  tableSample,
  type CheckContext,
  type Finding,
  type Queryable,
  type Repair,
  type Table,
} from '../src/index.js';
import {
  checkedExpression,
  resolveTable,
  ruleName,
  ruleObject,
  runRules,
  schemaName,
  sqlExpression,
  tableName,
} from './support/generic-rules.js';

const ID = 'row-condition';

const rule = z.strictObject({
  name: ruleName
    .refine((n) => Buffer.byteLength(n, 'utf8') <= 63, 'at most 63 bytes: it is also the name of the CHECK constraint the repair adds')
    .describe('names the rule, its findings, and the CHECK constraint the repair adds (at most 63 bytes)'),
  schema: schemaName.optional(),
  table: tableName,
  condition: sqlExpression('must hold on every row, as a CHECK constraint would (NULL passes)'),
  where: sqlExpression('only rows where this holds are checked').optional(),
});

const options = z.strictObject({
  rules: z
    .array(rule)
    .default([])
    .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, 'two rules have the same name')
    .describe('one rule per boolean condition that every row must satisfy'),
});

type Options = z.infer<typeof options>;
type Rule = z.infer<typeof rule>;

interface Prepared {
  rule: Rule;
  label: string;
  object: string;
  table: Table;
  condition: string;
  where: string | null;
  hasSubquery: boolean;
}

export default defineCheck({
  id: ID,
  title: 'Rows that break a configured condition',
  severity: 'error',
  description: 'Rows on which a configured boolean condition is false, as a CHECK constraint the schema never got would find them, per rule.',
  docs: {
    finds: `For each rule in checks.row-condition.rules, the rows of the table (those where \`where\` holds, if given) on which \`condition\` is false: \`WHERE NOT COALESCE((condition), true)\`, the semantics of a CHECK constraint, so a row on which the condition is NULL passes (write \`amount_cents IS NOT NULL AND amount_cents >= 0\` to forbid NULL). One finding per failing rule, named by the rule: count = failing rows, samples = their primary key (else their ctid). The table's own rows are read (FROM ONLY, not its inheritance children's; a partitioned table whole). The expressions run as written under the audit's search_path (pg_catalog, pg_temp): a function or operator a user created resolves only schema-qualified, which is intended; each is parsed first and refused unless it is exactly one expression. The repair (review) adds the condition as a CHECK constraint named after the rule, NOT VALID, so new and updated rows must satisfy it at once, and validates it once the failing rows are fixed; a condition with a subquery cannot be a CHECK constraint and gets no repair.`,
    why: "dbt's `expression_is_true` test (from the dbt_utils package), done in PostgreSQL: an invariant the team relies on but never declared (a non-negative amount, an end after its start, a total equal to its lines) drifts as soon as one code path forgets it. It generalises the pricing rows of an incident this tool was built from (a model without pricing): their effective_until could fall before their effective_from with nothing to stop it.",
    fix: 'Fix or remove the failing rows, then declare the invariant: ALTER TABLE ... ADD CONSTRAINT ... CHECK (...) NOT VALID (brief lock, no scan; new rows are checked from then on), then ALTER TABLE ... VALIDATE CONSTRAINT ... (scans without blocking writes). The repair script writes both, for review.',
    bad: `CREATE TABLE payments (id bigint PRIMARY KEY, amount_cents bigint NOT NULL, refunded_cents bigint);
INSERT INTO payments VALUES (1, -500, NULL), (2, 1000, 1500);  -- nothing forbids either`,
    good: `// integrity.config.json
"checks": { "row-condition": { "rules": [
  { "name": "payments_amount_nonnegative", "table": "payments", "condition": "amount_cents >= 0" },
  { "name": "payments_refund_within_amount", "table": "payments",
    "condition": "refunded_cents <= amount_cents", "where": "refunded_cents IS NOT NULL" },
  { "name": "pricing_period_ordered", "table": "model_provider_pricing",
    "condition": "effective_until IS NULL OR effective_until > effective_from" }
] } }
-- the repair, once the rows are fixed:
ALTER TABLE payments ADD CONSTRAINT payments_amount_nonnegative CHECK (amount_cents >= 0) NOT VALID;
ALTER TABLE payments VALIDATE CONSTRAINT payments_amount_nonnegative;`,
  },
  options,
  samplesTables: true,
  async run(ctx) {
    return runRules(ctx, ID, {
      objectOf: (r, label) => ruleObject(r, label),
      prepare: (r, label) => prepare(ctx, r, label),
      identity: (p) => fingerprintOf(ID, p.rule.name, { schema: p.table.schema, table: p.table.name }),
      table: (p) => p.table,
      audit: (p, db) => auditRule(ctx, p, db),
    });
  },
});

async function prepare(ctx: CheckContext<Options>, r: Rule, label: string): Promise<Prepared> {
  const table = resolveTable(ctx as CheckContext<unknown>, r, `${label}: table`);
  const condition = await checkedExpression(r.condition, `${label}: condition`);
  const where = r.where === undefined ? null : await checkedExpression(r.where, `${label}: where`);
  return {
    rule: r,
    label,
    object: ruleObject({ schema: table.schema, table: table.name }, label),
    table,
    condition: condition.sql,
    where: where?.sql ?? null,
    hasSubquery: condition.hasSubquery || (where?.hasSubquery ?? false),
  };
}

async function auditRule(ctx: CheckContext<Options>, p: Prepared, db: Queryable): Promise<Finding | null> {
  const table = qualifiedName(p.table.schema, p.table.name);
  const key = p.table.primaryKey;
  const sample = key ? sampleKeyExpr(table, key) : `${table}.ctid::pg_catalog.text`;
  const order = key ? key.map((c) => `${table}.${quoteIdent(c)}`).join(', ') : `${table}.ctid`;
  const res = await db.query<{ n: string; sample: string }>(
    `SELECT count(*) OVER () AS n, ${sample} AS sample
       FROM ${ownRows(p.table)}${tableSample(ctx.samplePercent)}
      WHERE ${p.where === null ? '' : `${p.where}\n        AND `}NOT COALESCE(${p.condition}, true)
      ORDER BY ${order}
      LIMIT $1`,
    [ctx.sampleSize],
  );
  if (res.rows.length === 0) return null;
  const count = scaleCount(Number(res.rows[0]?.n), ctx.samplePercent);
  const about = ctx.samplePercent === null ? '' : 'about ';
  const tableName = displayName(p.table.schema, p.table.name);
  return ctx.finding({
    kind: p.rule.name,
    message: `${about}${count} ${count === 1 ? 'row' : 'rows'} of ${tableName}${p.rule.where === undefined ? '' : ` (where ${p.rule.where})`} ${count === 1 ? 'breaks' : 'break'} ${p.label}: ${p.rule.condition}`,
    object: { schema: p.table.schema, table: p.table.name },
    count,
    ...(ctx.samplePercent === null ? {} : { estimated: true }),
    samples: res.rows.map((r) => r.sample),
    details: { rule: p.rule.name, condition: p.rule.condition, ...(p.rule.where === undefined ? {} : { where: p.rule.where }), sampleKey: key ?? 'ctid' },
    repair: async () => checkConstraint(ctx, p, count),
  });
}

/**
 * The condition as a CHECK constraint, for review: added NOT VALID (new and updated rows are checked at
 * once; the rows already there are not), then validated once the failing rows are fixed. Nothing is
 * changed or deleted: which value a failing row should have is a person's decision.
 */
function checkConstraint(ctx: CheckContext<Options>, p: Prepared, count: number): Repair | null {
  if (p.hasSubquery) return null;
  const table = qualifiedName(p.table.schema, p.table.name);
  const name = quoteIdent(p.rule.name);
  const label = displayName(p.table.schema, p.table.name);
  const exists = ctx.catalog.checkConstraints.some((c) => c.schema === p.table.schema && c.table === p.table.name && c.name === p.rule.name);
  // A filtered rule is the condition on the filtered rows only: the constraint says the same.
  const check = p.where === null ? p.condition : `NOT (${p.where}) OR ${p.condition}`;
  const inherits = p.table.hasInheritanceChildren
    ? `; ${label} has inheritance children, whose rows this audit did not read: the constraint applies to them too`
    : p.table.kind === 'partitioned table'
      ? '; the constraint is added to every partition'
      : '';
  const validate: Repair['steps'][number] = {
    safety: 'review',
    phase: 'transaction',
    description: `validate CHECK constraint ${displayName(p.rule.name)} on ${label}`,
    decision: `fix or remove the ${count} failing row${count === 1 ? '' : 's'} first (VALIDATE fails while any remain); it scans the table under SHARE UPDATE EXCLUSIVE, which does not block writes${inherits}`,
    sql: `ALTER TABLE ${table} VALIDATE CONSTRAINT ${name};`,
  };
  if (exists) {
    return { order: 70, summary: `validate the existing CHECK constraint ${displayName(p.rule.name)} once the failing rows are fixed (review)`, steps: [validate] };
  }
  return {
    order: 70,
    summary: `declare ${p.label} as a CHECK constraint: added NOT VALID, validated once the failing rows are fixed (review)`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: `add CHECK constraint ${displayName(p.rule.name)} to ${label}, NOT VALID: new and updated rows must satisfy it, the rows already there are not checked`,
        decision: `it takes an ACCESS EXCLUSIVE lock briefly (no scan); from then on every INSERT and UPDATE of a failing row is refused, so make sure the application writes none${inherits}`,
        sql: `ALTER TABLE ${table} ADD CONSTRAINT ${name} CHECK (${check}) NOT VALID;`,
      },
      validate,
    ],
  };
}
