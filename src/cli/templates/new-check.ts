/**
 * What `integrity new-check` writes: a check, its fixture and its test, around one worked example
 * (orders without any order line) that the three agree on, so the test passes before the first edit.
 * Ids are validated (NAMESPACED_ID) before they reach these strings: they hold no quote or newline.
 */

export interface TemplateNames {
  /** `acme/invoice-has-lines` */
  id: string;
  /** `invoice-has-lines`: the file names' stem. */
  name: string;
  /** The fixture, relative to the test file, as the test's import.meta.url resolves it. */
  fixtureFromTest: string;
}

const ORDER_OBJECT = `{ schema: 'public', table: 'orders', column: 'id', references: { schema: 'public', table: 'order_lines', columns: ['order_id'] } }`;

export function typescriptCheck({ id }: TemplateNames): string {
  return `import { defineCheck, displayName, findTable, qualifiedName, z } from 'pg-integrity';

const ID = '${id}';

/**
 * TODO: say what must hold. The example finds orders (public.orders) without any line
 * (public.order_lines): replace the tables, the query and the message with yours, and then the
 * fixture and the test's cases with a row that breaks the rule and one that keeps it.
 */
export default defineCheck({
  id: ID,
  title: 'Orders without lines',
  severity: 'error',
  description: 'Every order has at least one line.',
  // Options under checks["${id}"] in integrity.config.json, validated with these defaults.
  options: z.strictObject({
    schema: z.string().min(1).default('public'),
  }),
  async run(ctx) {
    const { schema } = ctx.options;
    const orders = findTable(ctx.catalog, schema, 'orders');
    const lines = findTable(ctx.catalog, schema, 'order_lines');
    if (!orders || !lines) return ctx.skip(\`no table \${displayName(schema, orders ? 'order_lines' : 'orders')}; set checks["\${ID}"].schema\`);

    // One statement counts the failing rows and keeps the first few keys as samples. The audit's
    // search_path is pg_catalog: qualify every table, and use pg_catalog's operators.
    const { rows } = await ctx.db.query<{ n: string; id: string }>(
      \`SELECT pg_catalog.count(*) OVER () AS n, o.id::pg_catalog.text AS id
         FROM \${qualifiedName(orders.schema, orders.name)} AS o
        WHERE NOT EXISTS (SELECT 1 FROM \${qualifiedName(lines.schema, lines.name)} AS l WHERE l.order_id OPERATOR(pg_catalog.=) o.id)
        ORDER BY o.id
        LIMIT $1\`,
      [ctx.sampleSize],
    );
    if (rows.length === 0) return [];
    const count = Number(rows[0]?.n);
    return [
      ctx.finding({
        kind: 'order-without-lines',
        message: \`\${count} \${count === 1 ? 'order has' : 'orders have'} no line in \${displayName(lines.schema, lines.name)}\`,
        object: { schema: orders.schema, table: orders.name, column: 'id', references: { schema: lines.schema, table: lines.name, columns: ['order_id'] } },
        count,
        samples: rows.map((r) => r.id),
      }),
    ];
  },
});
`;
}

export function sqlCheck({ id }: TemplateNames): string {
  return `-- id: ${id}
-- title: Orders without lines
-- severity: error
-- description: Every order has at least one line. TODO: say what must hold; the example finds orders
--   (public.orders) without any line (public.order_lines).
-- object: public.orders
-- key: id
-- message: {count} orders have no line

-- The query returns the failing rows; qualify every table (the audit's search_path is pg_catalog).
-- More header fields: warnIf / errorIf ("> 0", "> 5%"), repair ("quarantine"), repairSql and
-- repairDescription (a repair of your own, shown for review).
SELECT o.id
  FROM public.orders AS o
 WHERE NOT EXISTS (SELECT 1 FROM public.order_lines AS l WHERE l.order_id = o.id)
`;
}

export function fixture({ id }: TemplateNames): string {
  return `-- Fixture for ${id}: the tables the check reads, and one row that breaks the rule.
-- The test loads it into an empty database of its own; its cases add to it.
CREATE TABLE public.orders (id integer PRIMARY KEY);
CREATE TABLE public.order_lines (id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES public.orders (id));
INSERT INTO public.orders (id) VALUES (1), (2);
INSERT INTO public.order_lines (order_id) VALUES (1);
-- order 2 has no line: the finding the test expects
`;
}

const TEST_HEADER = `// Runs against INTEGRITY_TEST_DATABASE_URL (a superuser URL; each case gets a database of its own),
// else an embedded PostgreSQL started for the run. Under jest, drop the vitest import: the tester
// uses jest's describe and it.`;

export function typescriptTest(names: TemplateNames): string {
  return `import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { CheckTester } from 'pg-integrity/testing';
import check from './${names.name}.check.js';

${TEST_HEADER}
const fixture = readFileSync(new URL('${names.fixtureFromTest}', import.meta.url), 'utf8');

new CheckTester({ describe, it }).run(check, [
  {
    name: 'an order without lines',
    fixture,
    findings: [{ kind: 'order-without-lines', object: ${ORDER_OBJECT}, count: 1, samples: ['2'] }],
  },
  {
    name: 'every order has a line',
    fixture: \`\${fixture}\\nINSERT INTO public.order_lines (order_id) VALUES (2);\`,
    findings: [],
  },
]);
`;
}

export function sqlTest(names: TemplateNames): string {
  return `import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { sqlCheckFromFile } from 'pg-integrity';
import { CheckTester } from 'pg-integrity/testing';

${TEST_HEADER}
const check = sqlCheckFromFile(new URL('./${names.name}.sql', import.meta.url));
const fixture = readFileSync(new URL('${names.fixtureFromTest}', import.meta.url), 'utf8');

new CheckTester({ describe, it }).run(check, [
  {
    name: 'an order without lines',
    fixture,
    findings: [{ object: { schema: 'public', table: 'orders' }, count: 1 }],
  },
  {
    name: 'every order has a line',
    fixture: \`\${fixture}\\nINSERT INTO public.order_lines (order_id) VALUES (2);\`,
    findings: [],
  },
]);
`;
}
