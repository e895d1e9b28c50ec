import {
  createQuarantineTable,
  defineCheck,
  displayName,
  equalsExpr,
  findColumn,
  findTable,
  moveToQuarantine,
  ownRows,
  quarantineFor,
  quoteIdent,
  restoreStatement,
  sampleKeyExpr,
  scaleCount,
  tableSample,
  z,
  type Column,
  type Finding,
  type Queryable,
  type Repair,
  type Table,
} from 'pg-integrity';

const ID = 'acme/invoice-has-lines';

/** Options under `checks["acme/invoice-has-lines"]` in integrity.config.json; the defaults are Acme's schema. */
const options = z.strictObject({
  schema: z.string().min(1).default('Billing Dept'),
  invoices: z
    .strictObject({
      table: z.string().min(1).default('invoices'),
      /** The invoice's key; default its primary key. */
      key: z.string().min(1).optional(),
    })
    .default({ table: 'invoices' }),
  lines: z
    .strictObject({
      table: z.string().min(1).default('Invoice Line'),
      /** The line's column holding the invoice's key. */
      column: z.string().min(1).default('Invoice ID'),
    })
    .default({ table: 'Invoice Line', column: 'Invoice ID' }),
});

export const invoiceHasLines = defineCheck({
  id: ID,
  title: 'Invoices without lines',
  severity: 'error',
  description: 'Every invoice has at least one line: an invoice without lines bills nothing and breaks the ledger export.',
  docs: {
    finds: 'Invoices (default `"Billing Dept".invoices`) that no row of the line table (default `"Billing Dept"."Invoice Line"`, joined on `"Invoice ID"`) refers to.',
    why: 'The invoicing job inserted the invoice and its lines in two transactions; when the second failed, an empty invoice stayed behind and was sent to the customer.',
    fix: 'Write the invoice in the same transaction as its lines. `integrity fix` moves the empty invoices to the quarantine schema, from where they can be restored.',
    bad: `INSERT INTO "Billing Dept".invoices (id, "Number", customer, issued_on, total_cents) VALUES (3, 'A-0003', 'Umbrella', CURRENT_DATE, 900);
-- the job fails before it inserts the lines`,
    good: `BEGIN;
INSERT INTO "Billing Dept".invoices (id, "Number", customer, issued_on, total_cents) VALUES (3, 'A-0003', 'Umbrella', CURRENT_DATE, 900);
INSERT INTO "Billing Dept"."Invoice Line" ("Invoice ID", line_no, description, quantity, amount_cents) VALUES (3, 1, 'licence', 1, 900);
COMMIT;`,
  },
  options,
  samplesTables: true,
  async run(ctx) {
    const { schema } = ctx.options;
    const invoices = findTable(ctx.catalog, schema, ctx.options.invoices.table);
    const lines = findTable(ctx.catalog, schema, ctx.options.lines.table);
    if (!invoices || !lines) {
      return ctx.skip(`no table ${displayName(schema, invoices ? ctx.options.lines.table : ctx.options.invoices.table)}; set checks["${ID}"] to Acme's billing tables`);
    }
    const keyName = ctx.options.invoices.key ?? invoices.primaryKey?.[0];
    const key = keyName === undefined ? undefined : findColumn(invoices, keyName);
    if (!key) throw new Error(`${displayName(invoices.schema, invoices.name)} has no primary key; set checks["${ID}"].invoices.key`);
    const column = findColumn(lines, ctx.options.lines.column);
    if (!column) throw new Error(`column ${ctx.options.lines.column} not found in ${displayName(lines.schema, lines.name)}; set checks["${ID}"].lines.column`);

    ctx.progress(displayName(invoices.schema, invoices.name));
    // An anti-join, counted and sampled in one statement: the count is over every row, the samples the first few keys.
    const res = await ctx.db.query<{ n: string; id: string }>(
      `SELECT pg_catalog.count(*) OVER () AS n, ${sampleKeyExpr('i', [key.name])} AS id
         FROM ${ownRows(invoices)}${tableSample(ctx.samplePercent)} AS i
        WHERE NOT EXISTS (SELECT 1 FROM ${ownRows(lines)} AS l WHERE ${noLinesJoin('l', column, 'i', key)})
        ORDER BY i.${quoteIdent(key.name)}
        LIMIT $1`,
      [ctx.sampleSize],
    );
    ctx.note(`checked ${displayName(invoices.schema, invoices.name)} against ${displayName(lines.schema, lines.name)}.${displayName(column.name)}`);
    const first = res.rows[0];
    if (!first) return [];
    const count = scaleCount(Number(first.n), ctx.samplePercent);
    const estimated = ctx.samplePercent !== null;
    return [
      ctx.finding({
        kind: 'invoice-without-lines',
        message: `${estimated ? 'about ' : ''}${count} ${count === 1 ? 'invoice has' : 'invoices have'} no line in ${displayName(lines.schema, lines.name)}`,
        object: {
          schema: invoices.schema,
          table: invoices.name,
          column: key.name,
          references: { schema: lines.schema, table: lines.name, columns: [column.name] },
        },
        count,
        estimated,
        samples: res.rows.map((r) => r.id),
        repair: (finding, db) => quarantineEmptyInvoices(finding, db, invoices, key, lines, column),
      }),
    ];
  },
});

/** `l.column = i.key`, with pg_catalog's own `=` whatever the two types are. */
function noLinesJoin(lineAlias: string, column: Column, invoiceAlias: string, key: Column): string {
  return equalsExpr(`${lineAlias}.${quoteIdent(column.name)}`, column.baseType, `${invoiceAlias}.${quoteIdent(key.name)}`, key.baseType);
}

/** Moves the empty invoices, selected by the same condition when the script runs, to the quarantine. */
async function quarantineEmptyInvoices(finding: Finding, db: Queryable, invoices: Table, key: Column, lines: Table, column: Column): Promise<Repair> {
  const quarantine = await quarantineFor(db, invoices, finding.fingerprint);
  const where = `NOT EXISTS (SELECT 1 FROM ${ownRows(lines)} AS l WHERE ${noLinesJoin('l', column, 't', key)})`;
  return {
    order: 40,
    summary: `move the invoices without lines out of ${displayName(invoices.schema, invoices.name)}`,
    // Two steps: integrity recognises the quarantine table's SQL (and its DO guard) as its own only when
    // it is a step of its own; anything else a plugin writes is parsed and held to the script's rules.
    steps: [
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${displayName(invoices.schema, invoices.name)}`, sql: createQuarantineTable(quarantine, invoices) },
      {
        safety: 'destructive',
        phase: 'transaction',
        description: `move the invoices without lines to the quarantine`,
        sql: moveToQuarantine(quarantine, ownRows(invoices), where, ID, finding.fingerprint),
      },
    ],
    restore: [restoreStatement(quarantine, invoices, finding.fingerprint)],
  };
}
