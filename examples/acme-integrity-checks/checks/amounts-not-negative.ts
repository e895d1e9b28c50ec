import {
  defineCheck,
  displayName,
  findColumn,
  findTable,
  ownRows,
  qualifiedName,
  quoteIdent,
  sampleKeyExpr,
  tableKey,
  z,
  type Column,
  type Finding,
  type Repair,
  type Table,
} from 'pg-integrity';

const ID = 'acme/amounts-not-negative';
const NUMBERS = new Set(['int2', 'int4', 'int8', 'numeric']);
const LT = 'OPERATOR(pg_catalog.<)';

const amountColumn = z.strictObject({
  schema: z.string().min(1).default('Billing Dept'),
  table: z.string().min(1),
  column: z.string().min(1),
});

/** Options under `checks["acme/amounts-not-negative"]`: the amount columns, in cents. */
const options = z.strictObject({
  columns: z.array(amountColumn).min(1).default([
    { schema: 'Billing Dept', table: 'Invoice Line', column: 'amount_cents' },
    { schema: 'Billing Dept', table: 'invoices', column: 'total_cents' },
  ]),
});

export const amountsNotNegative = defineCheck({
  id: ID,
  title: 'Negative amounts',
  severity: 'warning',
  description: 'Amounts in cents are never negative: a discount or a refund is its own line type, not a negative amount.',
  docs: {
    finds: 'Rows whose amount column (by default `"Billing Dept"."Invoice Line".amount_cents` and `"Billing Dept".invoices.total_cents`) is below zero. Each table is read once for all of its amount columns.',
    why: 'Payment providers reject negative charges; a negative line silently lowered the totals of the invoices it belonged to.',
    fix: 'Decide row by row: a refund becomes a credit note, a sign error is flipped. Accepted exceptions (credit notes) go in the config\'s `ignore` list.',
    bad: `INSERT INTO "Billing Dept"."Invoice Line" ("Invoice ID", line_no, description, quantity, amount_cents) VALUES (1, 2, 'discount', 1, -500);`,
    good: `ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT amount_not_negative CHECK (amount_cents >= 0);`,
  },
  options,
  async run(ctx) {
    // The configured columns, grouped by table: one scan per table counts all of its columns.
    const byTable = new Map<string, { table: Table; columns: Column[] }>();
    const missing: string[] = [];
    for (const ref of ctx.options.columns) {
      const table = findTable(ctx.catalog, ref.schema, ref.table);
      const column = table && findColumn(table, ref.column);
      if (!table || !column) {
        missing.push(displayName(ref.schema, ref.table, ref.column));
        continue;
      }
      if (!NUMBERS.has(column.baseType)) throw new Error(`${displayName(ref.schema, ref.table, ref.column)} is ${column.type}, not an integer or numeric amount`);
      const key = tableKey(table.schema, table.name);
      const entry = byTable.get(key) ?? { table, columns: [] };
      entry.columns.push(column);
      byTable.set(key, entry);
    }
    if (byTable.size === 0) return ctx.skip(`none of the amount columns exists (${missing.join(', ')}); set checks["${ID}"].columns`);

    const perTable = await ctx.each(
      [...byTable.values()].map((entry) => ({ item: entry, weight: entry.table.estimatedRows, object: displayName(entry.table.schema, entry.table.name) })),
      async ({ table, columns }, db) => {
        ctx.progress(displayName(table.schema, table.name));
        const counts = await db.query<Record<string, string>>(
          `SELECT ${columns.map((c, i) => `pg_catalog.count(*) FILTER (WHERE t.${quoteIdent(c.name)} ${LT} 0) AS n${i}`).join(', ')}
             FROM ${ownRows(table)} AS t`,
        );
        const findings: Finding[] = [];
        for (const [i, column] of columns.entries()) {
          const count = Number(counts.rows[0]?.[`n${i}`] ?? 0);
          if (count === 0) continue;
          const key = table.primaryKey ?? [];
          // Samples only for a column that has some: the first few keys, in key order (the primary key's index).
          const samples =
            key.length === 0
              ? []
              : (
                  await db.query<{ id: string }>(
                    `SELECT ${sampleKeyExpr('t', key)} AS id FROM ${ownRows(table)} AS t
                      WHERE t.${quoteIdent(column.name)} ${LT} 0
                      ORDER BY ${key.map((k) => `t.${quoteIdent(k)}`).join(', ')} LIMIT $1`,
                    [ctx.sampleSize],
                  )
                ).rows.map((r) => r.id);
          findings.push(
            ctx.finding({
              kind: 'negative-amount',
              message: `${count} ${count === 1 ? 'row has' : 'rows have'} a negative ${displayName(column.name)}`,
              object: { schema: table.schema, table: table.name, column: column.name },
              count,
              samples,
              repair: async () => reviewSigns(table, column),
            }),
          );
        }
        return findings;
      },
    );
    if (missing.length > 0) ctx.note(`not found, not checked: ${missing.join(', ')}`);
    return perTable.flatMap((f) => f ?? []);
  },
});

/** No automatic repair: a person decides whether each amount is a refund or a sign error. */
function reviewSigns(table: Table, column: Column): Repair {
  const name = qualifiedName(table.schema, table.name);
  const col = quoteIdent(column.name);
  return {
    order: 50,
    summary: `flip the sign of the negative ${displayName(column.name)} values that are sign errors`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: `flip the negative ${displayName(table.schema, table.name, column.name)} values`,
        decision: 'only for rows that are sign errors: refunds and discounts must become their own lines or a credit note instead; narrow the WHERE to those rows',
        sql: `UPDATE ${name} SET ${col} = OPERATOR(pg_catalog.-) ${col} WHERE ${col} ${LT} 0;`,
      },
    ],
  };
}
