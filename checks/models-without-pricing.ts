import { z } from 'zod';
import {
  defineCheck,
  displayName,
  equalsExpr,
  findColumn,
  literal,
  locateTable,
  qualifiedName,
  quoteIdent,
  type CheckContext,
  type Column,
  type Finding,
  type Queryable,
  type Repair,
  type Table,
} from '../src/index.js';

const options = z.strictObject({
  models: z
    .strictObject({
      schema: z.string().min(1).optional(),
      table: z.string().min(1).default('models'),
      key: z.string().min(1).default('id'),
    })
    .default({ table: 'models', key: 'id' }),
  pricing: z
    .strictObject({
      schema: z.string().min(1).optional(),
      table: z.string().min(1).default('model_provider_pricing'),
      column: z.string().min(1).default('model_name'),
      activeColumn: z.string().min(1).default('is_active'),
      effectiveFromColumn: z.string().min(1).default('effective_from'),
      effectiveUntilColumn: z.string().min(1).default('effective_until'),
    })
    .default({
      table: 'model_provider_pricing',
      column: 'model_name',
      activeColumn: 'is_active',
      effectiveFromColumn: 'effective_from',
      effectiveUntilColumn: 'effective_until',
    }),
});

type Options = z.infer<typeof options>;

const REASONS = {
  no_row: 'no pricing row',
  only_inactive: 'only inactive rows',
  only_expired: 'only expired rows',
  only_future: 'only rows not yet effective',
  mixed: 'only inactive, expired or not-yet-effective rows',
} as const;
type Reason = keyof typeof REASONS;

export default defineCheck({
  id: 'models-without-pricing',
  title: 'Models without an active pricing row',
  severity: 'error',
  description: 'Every model must have a pricing row that is active now, or cost calculation for it fails.',
  docs: {
    finds:
      'Rows of the models table (default `models`, key `id`) with no row in the pricing table (default `model_provider_pricing`, column `model_name`) that is active now: where the columns exist, `is_active` is true, `effective_from <= now()` and `effective_until` is null or in the future. The message separates models with no pricing row, with only inactive rows and with only expired rows.',
    why: 'In the incident behind this check, a model created through the admin UI got no pricing row; cost lookups for it returned nothing, the code fell back to a placeholder provider UUID, and every completion for that model failed on a foreign key.',
    fix: 'Insert the missing pricing row (provider resolved by name, prices from the model metadata), and create pricing in the same transaction as the model from now on.',
    bad: `INSERT INTO models (id, provider) VALUES ('gpt-5-chat', 'openai');
-- no model_provider_pricing row for 'gpt-5-chat'`,
    good: `BEGIN;
INSERT INTO models (id, provider) VALUES ('gpt-5-chat', 'openai');
INSERT INTO model_provider_pricing (provider_id, model_name, input_price_per_1k, output_price_per_1k, effective_from, is_active)
SELECT id, 'gpt-5-chat', 0.005, 0.015, now(), true FROM providers WHERE name = 'openai';
COMMIT;`,
  },
  options,
  async run(ctx) {
    const pairs = resolvePairs(ctx);
    const findings: Finding[] = [];
    for (const [models, pricing] of pairs) findings.push(...(await auditPair(ctx, models, pricing)));
    ctx.note(`checked ${pairs.map(([m, p]) => `${displayName(m.schema, m.name)} against ${displayName(p.schema, p.name)}`).join('; ')}`);
    return findings;
  },
});

function resolvePairs(ctx: CheckContext<Options>): [Table, Table][] {
  const { models: m, pricing: p } = ctx.options;
  const configured = m.schema !== undefined || p.schema !== undefined;
  if (!configured) {
    // Pair tables that live in the same schema; fall back to the only pair there is.
    const modelTables = ctx.catalog.tables.filter((t) => t.name === m.table);
    const pricingTables = ctx.catalog.tables.filter((t) => t.name === p.table);
    if (modelTables.length === 0) {
      ctx.skip(`no table named ${m.table} in the audited schemas; set checks.models-without-pricing.models.table (and schema) in the config`);
    }
    if (pricingTables.length === 0) {
      ctx.skip(`no table named ${p.table} in the audited schemas; set checks.models-without-pricing.pricing.table (and schema) in the config`);
    }
    const sameSchema = modelTables.flatMap((mt) =>
      pricingTables.filter((pt) => pt.schema === mt.schema).map((pt): [Table, Table] => [mt, pt]),
    );
    if (sameSchema.length > 0) return sameSchema;
    if (modelTables.length === 1 && pricingTables.length === 1) return [[modelTables[0] as Table, pricingTables[0] as Table]];
    throw new Error(`cannot pair ${m.table} and ${p.table} tables across schemas; set models.schema and pricing.schema in the config`);
  }
  const models = locateTable(ctx.catalog, { schema: m.schema, table: m.table });
  if (models.status !== 'found') throw new Error(`models table: ${models.reason}`);
  const pricing = locateTable(ctx.catalog, { schema: p.schema, table: p.table }, [models.table.schema]);
  if (pricing.status !== 'found') throw new Error(`pricing table: ${pricing.reason}`);
  return [[models.table, pricing.table]];
}

async function auditPair(ctx: CheckContext<Options>, models: Table, pricing: Table): Promise<Finding[]> {
  const { key } = ctx.options.models;
  const opts = ctx.options.pricing;
  const keyColumn = findColumn(models, key);
  if (!keyColumn) throw new Error(`column ${key} not found in ${displayName(models.schema, models.name)}; set checks.models-without-pricing.models.key`);
  const refColumn = findColumn(pricing, opts.column);
  if (!refColumn) throw new Error(`column ${opts.column} not found in ${displayName(pricing.schema, pricing.name)}; set checks.models-without-pricing.pricing.column`);

  const has = (name: string) => findColumn(pricing, name) !== undefined;
  const p = (name: string) => `p.${quoteIdent(name)}`;
  const inactive = has(opts.activeColumn) ? `${p(opts.activeColumn)} IS NOT TRUE` : 'false';
  const expired = has(opts.effectiveUntilColumn) ? `coalesce(${p(opts.effectiveUntilColumn)} <= now(), false)` : 'false';
  // effective_from <= now() must hold: a NULL start is not (yet) in effect.
  const future = has(opts.effectiveFromColumn) ? `coalesce(${p(opts.effectiveFromColumn)} > now(), true)` : 'false';
  const match = equalsExpr(`p.${quoteIdent(refColumn.name)}`, refColumn.baseType, `m.${quoteIdent(keyColumn.name)}`, keyColumn.baseType);
  // The row the LEFT JOIN adds for a model without pricing has every pricing column NULL.
  const matched = `p.${quoteIdent(refColumn.name)} IS NOT NULL`;

  const res = await ctx.db.query<{ reason: Reason; n: string; id: string }>(
    // One join and one aggregation, not a lookup per model: the pricing column is rarely indexed.
    `WITH unpriced AS (
       SELECT min(m.${quoteIdent(keyColumn.name)}::text) AS id,
              CASE WHEN count(p.${quoteIdent(refColumn.name)}) = 0 THEN 'no_row'
                   WHEN bool_and(${inactive}) FILTER (WHERE ${matched}) THEN 'only_inactive'
                   WHEN bool_and(${expired}) FILTER (WHERE ${matched}) THEN 'only_expired'
                   WHEN bool_and(${future}) FILTER (WHERE ${matched}) THEN 'only_future'
                   ELSE 'mixed' END AS reason
         FROM ${qualifiedName(models.schema, models.name)} m
         LEFT JOIN ${qualifiedName(pricing.schema, pricing.name)} p ON ${match}
        -- One group per model row: ctid is unique only within one partition of a partitioned table.
        GROUP BY m.tableoid, m.ctid
       HAVING NOT coalesce(bool_or(NOT (${inactive}) AND NOT (${expired}) AND NOT (${future})) FILTER (WHERE ${matched}), false)
     ), ranked AS (
       SELECT reason, id, count(*) OVER (PARTITION BY reason) AS n,
              row_number() OVER (PARTITION BY reason ORDER BY id) AS rn
         FROM unpriced
     )
     SELECT reason, n, id FROM ranked WHERE rn <= $1 ORDER BY reason, id`,
    [ctx.sampleSize],
  );
  if (res.rows.length === 0) return [];

  const counts = new Map<Reason, number>();
  const samplesByReason = new Map<Reason, string[]>();
  for (const r of res.rows) {
    counts.set(r.reason, Number(r.n));
    samplesByReason.set(r.reason, [...(samplesByReason.get(r.reason) ?? []), r.id]);
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const order = Object.keys(REASONS) as Reason[];
  const parts = order.filter((r) => counts.has(r)).map((r) => `${counts.get(r)} with ${REASONS[r]}`);
  const samples = order.flatMap((r) => samplesByReason.get(r) ?? []).slice(0, ctx.sampleSize);
  const pricingName = displayName(pricing.schema, pricing.name);
  return [
    ctx.finding({
      kind: 'unpriced',
      message: `${total} ${total === 1 ? 'model has' : 'models have'} no active pricing in ${pricingName}: ${parts.join(', ')}`,
      object: {
        schema: models.schema,
        table: models.name,
        column: keyColumn.name,
        references: { schema: pricing.schema, table: pricing.name, columns: [refColumn.name] },
      },
      count: total,
      samples,
      details: {
        byReason: Object.fromEntries(order.filter((r) => counts.has(r)).map((r) => [r, counts.get(r)])),
        samplesByReason: Object.fromEntries(order.filter((r) => counts.has(r)).map((r) => [r, samplesByReason.get(r)])),
      },
      repair: async (finding, db) => {
        const active = `NOT (${inactive}) AND NOT (${expired}) AND NOT (${future})`;
        const unpriced = `NOT EXISTS (SELECT 1 FROM ${qualifiedName(pricing.schema, pricing.name)} p WHERE ${match} AND ${active})`;
        return backfillPricing(ctx, db, models, keyColumn, pricing, refColumn, unpriced, ctx.valuesAllowed(finding));
      },
    }),
  ];
}

/** The provider of a model: `models.provider` when the column exists, else `meta->>'provider'`. */
function providerExpr(models: Table): string | null {
  if (findColumn(models, 'provider')) return findColumn(models, 'meta') ? `coalesce(m."provider"::text, m."meta"->>'provider')` : `m."provider"::text`;
  return findColumn(models, 'meta') ? `m."meta"->>'provider'` : null;
}

/**
 * Seed 000's backfill: the provider resolved by name, prices from the model's per-million costs divided
 * by 1000. Models whose prices cannot be derived get a commented template, never an invented price.
 */
async function backfillPricing(
  ctx: CheckContext<Options>,
  db: Queryable,
  models: Table,
  key: Column,
  pricing: Table,
  ref: Column,
  unpriced: string,
  /** False under --samples 0 or samples.exclude: no model id is written into the script. */
  showIds: boolean,
): Promise<Repair> {
  const opts = ctx.options.pricing;
  const providers = ctx.catalog.tables.find((t) => t.name === 'providers' && t.schema === pricing.schema) ?? ctx.catalog.tables.find((t) => t.name === 'providers');
  const provider = providerExpr(models);
  const needed = ['provider_id', 'input_price_per_1k', 'output_price_per_1k'];
  const modelsName = qualifiedName(models.schema, models.name);
  const pricingName = qualifiedName(pricing.schema, pricing.name);
  const derivable =
    providers && findColumn(providers, 'id') && findColumn(providers, 'name') && provider && findColumn(models, 'meta') && needed.every((c) => findColumn(pricing, c));
  const costs = `pg_catalog.jsonb_typeof(m."meta"::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'inputCostPerMillionTokens') OPERATOR(pg_catalog.=) 'number' AND pg_catalog.jsonb_typeof(m."meta"::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'outputCostPerMillionTokens') OPERATOR(pg_catalog.=) 'number'`;
  const extraCols = [
    ...(findColumn(pricing, opts.effectiveFromColumn) ? [[opts.effectiveFromColumn, 'pg_catalog.now()']] : []),
    ...(findColumn(pricing, opts.activeColumn) ? [[opts.activeColumn, 'true']] : []),
  ];
  const steps: Repair['steps'] = [];
  let derived: string[] = [];
  if (derivable) {
    const from = `FROM ${modelsName} AS m JOIN ${qualifiedName(providers.schema, providers.name)} AS pr ON pr."name"::text = ${provider}
 WHERE ${unpriced} AND ${costs}`;
    derived = (await db.query<{ id: string }>(`SELECT m.${quoteIdent(key.name)}::text AS id ${from} ORDER BY 1`)).rows.map((r) => r.id);
    if (derived.length > 0) {
      steps.push({
        safety: 'safe',
        phase: 'transaction',
        description: `insert an active pricing row for ${derived.length} model${derived.length === 1 ? '' : 's'}${showIds ? ` (${derived.slice(0, 5).join(', ')}${derived.length > 5 ? ', ...' : ''})` : ''}: provider by name, prices = meta per-million costs / 1000`,
        sql: `INSERT INTO ${pricingName} ("provider_id", ${quoteIdent(ref.name)}, "input_price_per_1k", "output_price_per_1k"${extraCols.map(([c]) => `, ${quoteIdent(c as string)}`).join('')})
SELECT pr."id", m.${quoteIdent(key.name)}, (m."meta"->>'inputCostPerMillionTokens')::numeric / 1000, (m."meta"->>'outputCostPerMillionTokens')::numeric / 1000${extraCols.map(([, v]) => `, ${v}`).join('')}
  ${from};`,
      });
    }
  }
  const rest = (
    await db.query<{ id: string }>(
      `SELECT m.${quoteIdent(key.name)}::text AS id FROM ${modelsName} AS m WHERE ${unpriced} ORDER BY 1`,
    )
  ).rows
    .map((r) => r.id)
    .filter((id) => !derived.includes(id));
  if (!showIds && rest.length > 0) {
    // One template for them all, selecting the models by the audit's own condition: no id is spelled out.
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `pricing for ${rest.length} model${rest.length === 1 ? '' : 's'} whose prices cannot be derived (no provider match or no per-million costs in meta)`,
      decision: 'fill in the provider and the prices per 1k tokens for each; integrity never invents a price',
      sql: `INSERT INTO ${pricingName} ("provider_id", ${quoteIdent(ref.name)}, "input_price_per_1k", "output_price_per_1k"${extraCols.map(([c]) => `, ${quoteIdent(c as string)}`).join('')})
SELECT /* provider id */ NULL, m.${quoteIdent(key.name)}, /* input per 1k */ NULL, /* output per 1k */ NULL${extraCols.map(([, v]) => `, ${v}`).join('')}
  FROM ${modelsName} AS m WHERE ${unpriced};`,
    });
  }
  for (const id of showIds ? rest.slice(0, 50) : []) {
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `pricing for model ${id}: its prices cannot be derived (no provider match or no per-million costs in meta)`,
      decision: 'fill in the provider and the prices per 1k tokens; integrity never invents a price',
      sql: `INSERT INTO ${pricingName} ("provider_id", ${quoteIdent(ref.name)}, "input_price_per_1k", "output_price_per_1k"${extraCols.map(([c]) => `, ${quoteIdent(c as string)}`).join('')})
VALUES (/* provider id */ NULL, ${literal(id)}, /* input per 1k */ NULL, /* output per 1k */ NULL${extraCols.map(([, v]) => `, ${v}`).join('')});`,
    });
  }
  return {
    order: 20,
    summary: `backfill pricing: ${derived.length} derived from model metadata, ${rest.length} left for review`,
    steps,
  };
}
