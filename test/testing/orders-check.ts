import { z } from 'zod';
import { defineCheck, findTable, qualifiedName } from '../../src/index.js';

/** A plugin-style check for the tester's own tests: orders with fewer than `minLines` order lines. */
export const ordersHaveLines = defineCheck({
  id: 'test/orders-have-lines',
  title: 'Orders without their lines',
  severity: 'error',
  description: 'Rows of public.orders with fewer than minLines rows in public.order_lines.',
  options: z.strictObject({ minLines: z.number().int().min(1).default(1) }),
  async run(ctx) {
    const orders = findTable(ctx.catalog, 'public', 'orders');
    const lines = findTable(ctx.catalog, 'public', 'order_lines');
    if (!orders || !lines) return ctx.skip('no table public.orders or public.order_lines');
    const { rows } = await ctx.db.query<{ count: string; samples: string[] | null }>(
      `SELECT pg_catalog.count(*) AS count, (pg_catalog.array_agg(o.id::text ORDER BY o.id))[1:$2] AS samples
         FROM ${qualifiedName(orders.schema, orders.name)} AS o
        WHERE (SELECT pg_catalog.count(*) FROM ${qualifiedName(lines.schema, lines.name)} AS l WHERE l.order_id OPERATOR(pg_catalog.=) o.id) OPERATOR(pg_catalog.<) $1`,
      [ctx.options.minLines, ctx.sampleSize],
    );
    const count = Number(rows[0]?.count ?? 0);
    if (count === 0) return [];
    return [
      ctx.finding({
        kind: 'missing-lines',
        message: `${count} order(s) with fewer than ${ctx.options.minLines} line(s)`,
        object: { schema: orders.schema, table: orders.name, references: { schema: lines.schema, table: lines.name, columns: ['order_id'] } },
        count,
        samples: rows[0]?.samples ?? [],
      }),
    ];
  },
});

/** A check that always fails to run, for the "an errored check is not a pass" cases. */
export const alwaysErrors = defineCheck({
  id: 'test/always-errors',
  title: 'Always errors',
  severity: 'error',
  description: 'Runs a query that fails.',
  options: z.strictObject({}),
  async run(ctx) {
    await ctx.db.query('SELECT 1 / 0');
    return [];
  },
});

export const ORDERS_SCHEMA = `
CREATE TABLE public.orders (id integer PRIMARY KEY);
CREATE TABLE public.order_lines (id integer PRIMARY KEY, order_id integer NOT NULL REFERENCES public.orders (id));
`;
