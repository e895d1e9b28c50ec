import { describe, expect, it } from 'vitest';
import { audit, checkResult, summarize, useDatabase } from '../helpers/db.js';

describe('models-without-pricing on seed 000', () => {
  const db = useDatabase('pricing', { incidents: ['000_models_without_pricing.sql'] });

  it('reports one finding with the count, samples and the reasons apart', async () => {
    const report = await audit(db.url, { checks: ['models-without-pricing'] });
    expect(summarize(report)).toEqual([
      {
        checkId: 'models-without-pricing',
        severity: 'error',
        object: {
          schema: 'public',
          table: 'models',
          column: 'id',
          references: { schema: 'public', table: 'model_provider_pricing', columns: ['model_name'] },
        },
        count: 3,
        samples: ['gpt-5-chat', 'gpt-4-turbo-preview', 'text-davinci-003'],
      },
    ]);
    expect(report.findings[0]?.details).toEqual({
      byReason: { no_row: 1, only_inactive: 1, only_expired: 1 },
      samplesByReason: { no_row: ['gpt-5-chat'], only_inactive: ['gpt-4-turbo-preview'], only_expired: ['text-davinci-003'] },
    });
    expect(report.findings[0]?.message).toContain('1 with no pricing row, 1 with only inactive rows, 1 with only expired rows');
  });

  it('takes its severity from the config file', async () => {
    const report = await audit(db.url, { checks: ['models-without-pricing'], config: { checks: { 'models-without-pricing': { severity: 'warning' } } } });
    expect(report.findings.map((f) => f.severity)).toEqual(['warning']);
  });
});

describe('models-without-pricing with configured tables and partial columns', () => {
  const db = useDatabase('pricing_custom', {
    sql: [
      `CREATE SCHEMA "Catalog";
       CREATE TABLE "Catalog"."LLM Model" ("Model Key" uuid PRIMARY KEY);
       CREATE TABLE "Catalog"."Price" ("For Model" uuid, "Active?" boolean, "From" timestamptz);
       INSERT INTO "Catalog"."LLM Model" VALUES
         ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002'),
         ('00000000-0000-4000-8000-000000000003'), ('00000000-0000-4000-8000-000000000004');
       INSERT INTO "Catalog"."Price" VALUES
         ('00000000-0000-4000-8000-000000000001', true, now() - interval '1 day'),
         ('00000000-0000-4000-8000-000000000002', true, now() + interval '1 day'),
         ('00000000-0000-4000-8000-000000000003', false, now() - interval '1 day'),
         ('00000000-0000-4000-8000-000000000004', true, NULL);`,
    ],
  });

  it('skips, saying how to configure it, when the default tables do not exist', async () => {
    const report = await audit(db.url, { checks: ['models-without-pricing'] });
    const result = checkResult(report, 'models-without-pricing');
    expect(result.status).toBe('skipped');
    expect(result.reason).toMatch(/no table named models .*checks\.models-without-pricing\.models\.table/);
  });

  it('uses the mapped tables and columns, and the columns that exist', async () => {
    const report = await audit(db.url, {
      checks: ['models-without-pricing'],
      config: {
        checks: {
          'models-without-pricing': {
            models: { schema: 'Catalog', table: 'LLM Model', key: 'Model Key' },
            pricing: { schema: 'Catalog', table: 'Price', column: 'For Model', activeColumn: 'Active?', effectiveFromColumn: 'From' },
          },
        },
      },
    });
    expect(summarize(report).map((f) => [f.object.table, f.count, f.samples])).toEqual([
      ['LLM Model', 3, ['00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000004']],
    ]);
    // A NULL effective_from is not "effective_from <= now()": model 4's only row is not in effect.
    expect(report.findings[0]?.details?.byReason).toEqual({ only_inactive: 1, only_future: 2 });
  });

  it('errors when a configured column does not exist', async () => {
    const report = await audit(db.url, {
      checks: ['models-without-pricing'],
      config: { checks: { 'models-without-pricing': { models: { schema: 'Catalog', table: 'LLM Model', key: 'nope' } , pricing: { schema: 'Catalog', table: 'Price' } } } },
    });
    const result = checkResult(report, 'models-without-pricing');
    expect(result.status).toBe('error');
    expect(result.reason).toContain('column nope not found');
  });
});

describe('models-without-pricing on a partitioned models table', () => {
  // The same model id in two partitions is two rows; both sit at ctid (0,1) of their own partition.
  const db = useDatabase('pricing_partitioned', {
    sql: [
      `CREATE TABLE models (id text NOT NULL, region text NOT NULL) PARTITION BY LIST (region);
       CREATE TABLE models_eu PARTITION OF models FOR VALUES IN ('eu');
       CREATE TABLE models_us PARTITION OF models FOR VALUES IN ('us');
       INSERT INTO models VALUES ('gpt-x', 'eu'), ('gpt-x', 'us'), ('priced', 'eu');
       CREATE TABLE model_provider_pricing (model_name text NOT NULL, is_active boolean NOT NULL);
       INSERT INTO model_provider_pricing VALUES ('priced', true), ('gpt-x', false);`,
    ],
  });

  it('counts every model row, in whichever partition it is', async () => {
    const report = await audit(db.url, { checks: ['models-without-pricing'] });
    expect(report.findings.map((f) => [f.count, f.samples, f.details?.byReason])).toEqual([[2, ['gpt-x', 'gpt-x'], { only_inactive: 2 }]]);
  });
});
