import { z } from 'zod';
import {
  defineCheck,
  displayName,
  fingerprintOf,
  ownRows,
  qualifiedName,
  quoteIdent,
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
  tableName,
} from './support/generic-rules.js';

const ID = 'accepted-values';
/** How many distinct unexpected values a finding lists in details.unexpected (the most frequent first). */
const UNEXPECTED_LISTED = 20;

const rule = z.strictObject({
  name: ruleName.optional(),
  schema: schemaName.optional(),
  table: tableName,
  column: columnName,
  values: z.array(z.string()).min(1).describe("the accepted values, compared with the column's value as text"),
  where: sqlExpression('only rows where this holds are checked').optional(),
  caseSensitive: z.boolean().default(true).describe('false: compare lower(value) with lower(accepted)'),
});

const options = z.strictObject({
  rules: z.array(rule).default([]).describe('one rule per column whose values must lie in a set'),
});

type Options = z.infer<typeof options>;
type Rule = z.infer<typeof rule>;

interface Prepared {
  rule: Rule;
  label: string;
  object: string;
  kind: string;
  table: Table;
  column: Column;
  where: string | null;
}

export default defineCheck({
  id: ID,
  title: 'Column values outside an accepted set',
  severity: 'error',
  description: 'Rows whose column holds a value outside the accepted set configured for it, per rule (NULL passes).',
  docs: {
    finds: `For each rule in checks.accepted-values.rules, the rows of the table (those where \`where\` holds, if given) whose column, read as text (\`col::pg_catalog.text\`), is not one of \`values\`; with "caseSensitive": false both sides are compared lower-cased. NULL is not a violation, as under a CHECK constraint (add a NOT NULL constraint, or a row-condition rule, to forbid it). One finding per failing rule: count = rows with an unexpected value, details.unexpected = the ${UNEXPECTED_LISTED} most frequent unexpected values with their row counts, details.distinctValues = how many distinct unexpected values there are, samples = the most frequent unexpected values. Under --samples 0 or samples.exclude no value is reported, only the counts. Values are compared byte for byte (COLLATE "C"), whatever the column's collation, and bound as parameters. The table's own rows are read (FROM ONLY, not its inheritance children's; a partitioned table whole). The \`where\` expression runs as written under the audit's search_path (pg_catalog, pg_temp): a user's function or operator resolves only schema-qualified, which is intended; it is parsed first and refused unless it is exactly one expression.`,
    why: "dbt's `accepted_values` test, done in PostgreSQL: a status column that application code treats as an enum picks up a misspelt or retired value ('canceled' next to 'cancelled', a state the UI cannot render), and every switch over it falls through. It generalises what the incidents this tool was built from show of text columns trusted to hold known values (a pricing table's provider names, a chat schema's message roles: TEXT NOT NULL, no CHECK).",
    fix: 'Map the unexpected values to accepted ones (UPDATE ... SET status = ... WHERE status = ...), then make the database hold the set: a CHECK (status IN (...)) constraint added NOT VALID and validated, an enum type, or a foreign key to a lookup table.',
    bad: `CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL);
INSERT INTO orders VALUES (1, 'paid'), (2, 'canceled'), (3, 'Paid');  -- nothing holds the set`,
    good: `// integrity.config.json
"checks": { "accepted-values": { "rules": [
  { "name": "order-status", "table": "orders", "column": "status",
    "values": ["pending", "paid", "shipped", "cancelled"] },
  { "table": "users", "column": "locale", "values": ["en", "de", "fr"],
    "where": "deleted_at IS NULL", "caseSensitive": false }
] } }
-- and in the schema:
ALTER TABLE orders ADD CONSTRAINT orders_status_check
  CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_status_check;`,
  },
  options,
  samplesTables: true,
  async run(ctx) {
    return runRules(ctx, ID, {
      objectOf: (r, label) => ruleObject(r, label),
      prepare: (r, label) => prepare(ctx, r, label),
      identity: (p) => fingerprintOf(ID, p.kind, findingObject(p)),
      table: (p) => p.table,
      audit: (p, db) => auditRule(ctx, p, db),
    });
  },
});

async function prepare(ctx: CheckContext<Options>, r: Rule, label: string): Promise<Prepared> {
  const table = resolveTable(ctx as CheckContext<unknown>, r, `${label}: table`);
  const column = resolveColumn(table, r.column, `${label}: column`);
  const where = r.where === undefined ? null : (await checkedExpression(r.where, `${label}: where`)).sql;
  return {
    rule: r,
    label,
    object: ruleObject({ schema: table.schema, table: table.name }, label),
    // Not the values: adding one to the set keeps the finding's identity (and its baseline entry).
    kind: ruleKind(r.name, { where: r.where ?? null }),
    table,
    column,
    where,
  };
}

function findingObject(p: Prepared) {
  return { schema: p.table.schema, table: p.table.name, column: p.column.name };
}

async function auditRule(ctx: CheckContext<Options>, p: Prepared, db: Queryable): Promise<Finding | null> {
  const table = qualifiedName(p.table.schema, p.table.name);
  const col = `${table}.${quoteIdent(p.column.name)}`;
  // Text compared byte for byte, whatever the column's collation: a case-insensitive collation must not
  // accept 'Paid' for 'paid' unless the rule says so.
  const asText = (expr: string) =>
    p.rule.caseSensitive ? `(${expr})::pg_catalog.text COLLATE pg_catalog."C"` : `pg_catalog.lower((${expr})::pg_catalog.text COLLATE pg_catalog."default") COLLATE pg_catalog."C"`;
  const accepted = `ARRAY(SELECT ${asText('a.v')} FROM pg_catalog.unnest($1::pg_catalog.text[]) AS a(v))`;
  const res = await db.query<{ value: string; n: string; total: string; distinct: string }>(
    `WITH unexpected AS (
       SELECT ${col}::pg_catalog.text AS value, count(*) AS n
         FROM ${ownRows(p.table)}${tableSample(ctx.samplePercent)}
        WHERE ${col} IS NOT NULL${p.where === null ? '' : `\n          AND ${p.where}`}
          AND NOT (${asText(col)} OPERATOR(pg_catalog.=) ANY (${accepted}))
        GROUP BY 1
     )
     SELECT value, n, sum(n) OVER () AS total, count(*) OVER () AS distinct
       FROM unexpected
      ORDER BY n DESC, value COLLATE pg_catalog."C"
      LIMIT $2`,
    [p.rule.values, Math.max(UNEXPECTED_LISTED, ctx.sampleSize)],
  );
  if (res.rows.length === 0) return null;
  const first = res.rows[0] as { total: string; distinct: string };
  const count = scaleCount(Number(first.total), ctx.samplePercent);
  const distinct = Number(first.distinct);
  const about = ctx.samplePercent === null ? '' : 'about ';
  const name = displayName(p.table.schema, p.table.name, p.column.name);
  const listed = res.rows.slice(0, UNEXPECTED_LISTED);
  const finding = ctx.finding({
    kind: p.kind,
    message: `${about}${count} ${count === 1 ? 'row' : 'rows'} of ${displayName(p.table.schema, p.table.name)}${p.rule.where === undefined ? '' : ` (where ${p.rule.where})`} ${count === 1 ? 'has' : 'have'} a value of ${name} outside the ${p.rule.values.length} accepted (${distinct} distinct unexpected value${distinct === 1 ? '' : 's'}) [${p.label}]`,
    object: findingObject(p),
    count,
    ...(ctx.samplePercent === null ? {} : { estimated: true }),
    samples: res.rows.slice(0, ctx.sampleSize).map((r) => r.value),
    details: {
      ...(p.rule.name === undefined ? {} : { rule: p.rule.name }),
      sampleKey: [p.column.name],
      distinctValues: distinct,
      unexpected: listed.map((r) => ({ value: r.value, count: scaleCount(Number(r.n), ctx.samplePercent) })),
    },
  });
  if (!ctx.valuesAllowed(finding)) {
    // --samples 0 or samples.exclude: the values stay in the database; the counts still say how bad it is.
    finding.samples = [];
    finding.details = { ...finding.details, unexpected: listed.map((r) => ({ count: scaleCount(Number(r.n), ctx.samplePercent) })) };
  }
  return finding;
}
