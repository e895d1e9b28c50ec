import { describe, expect, it } from 'vitest';
import { audit, summarize, useDatabase } from '../helpers/db.js';

describe('placeholder-uuid on the incident fixtures', () => {
  const db = useDatabase('placeholder', { incidents: ['000_models_without_pricing.sql', '005_quoting_and_lookalikes.sql'] });

  it('reports placeholder parents, placeholder references and placeholder defaults, nothing on look-alikes', async () => {
    const report = await audit(db.url, { checks: ['placeholder-uuid'] });
    expect(summarize(report)).toEqual([
      {
        checkId: 'placeholder-uuid',
        severity: 'error',
        object: { schema: 'Billing Dept', table: 'Invoice Line', column: 'Product Id' },
        count: 1,
        samples: ['11111111-1111-4111-8111-000000000002'],
      },
      {
        checkId: 'placeholder-uuid',
        severity: 'error',
        object: { schema: 'public', table: 'providers', column: 'id' },
        count: 1,
        samples: ['00000000-0000-0000-0000-000000000000'],
      },
      {
        checkId: 'placeholder-uuid',
        severity: 'error',
        object: {
          schema: 'public',
          table: 'token_usage_ledger',
          column: 'provider_id',
          constraint: 'token_usage_ledger_provider_id_fkey',
          references: { schema: 'public', table: 'providers', columns: ['id'] },
        },
        count: 2,
        samples: ['4', '5'],
      },
      {
        checkId: 'placeholder-uuid',
        severity: 'warning',
        object: { schema: 'public', table: 'token_usage_ledger', column: 'provider_id' },
        count: null,
        samples: [],
      },
    ]);
    expect(report.findings[1]?.details?.primaryKey).toBe(true);
    expect(report.findings[2]?.details?.byValue).toEqual({ '00000000-0000-0000-0000-000000000000': 2 });
  });

  it('uses the configured placeholder list, for text id columns too', async () => {
    const report = await audit(db.url, {
      checks: ['placeholder-uuid'],
      config: { checks: { 'placeholder-uuid': { values: ['9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D', 'gpt-5-chat'] } } },
    });
    expect(summarize(report).map((f) => [f.object.table, f.object.column, f.count])).toEqual([
      ['Invoice Line', 'Product Id', 1],
      ['models', 'id', 1],
    ]);
  });
});

describe('placeholder-uuid counts every placeholder value of a column in one scan', () => {
  const db = useDatabase('placeholder_many', {
    sql: [
      `CREATE TABLE events (id int PRIMARY KEY, "actorId" text, owner uuid);
       INSERT INTO events SELECT g, CASE WHEN g % 3 = 0 THEN '00000000-0000-0000-0000-000000000000'
                                         WHEN g % 3 = 1 THEN 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF' END,
                                    CASE WHEN g <= 7 THEN '00000000-0000-0000-0000-000000000000'::uuid END
         FROM generate_series(1, 30) g;
       CREATE TABLE no_pk (ref_id varchar(36));
       INSERT INTO no_pk VALUES ('00000000-0000-0000-0000-000000000000'), ('x');`,
    ],
  });

  it('sums the values, samples at most five keys per column, and samples ctid without a primary key', async () => {
    const report = await audit(db.url, { checks: ['placeholder-uuid'] });
    expect(summarize(report).map((f) => [f.object.table, f.object.column, f.count, f.samples])).toEqual([
      ['events', 'actorId', 20, ['1', '3', '4', '6', '7']],
      ['events', 'owner', 7, ['1', '2', '3', '4', '5']],
      ['no_pk', 'ref_id', 1, ['(0,1)']],
    ]);
    expect(report.findings[0]?.details?.byValue).toEqual({
      '00000000-0000-0000-0000-000000000000': 10,
      'ffffffff-ffff-ffff-ffff-ffffffffffff': 10,
    });
  });
});

describe('placeholder-uuid and orphan-rows with --sample', () => {
  const db = useDatabase('sampled', {
    sql: [
      `CREATE TABLE parent (id int PRIMARY KEY);
       CREATE TABLE big (id int PRIMARY KEY, owner uuid, parent_id int, pad text);
       INSERT INTO big SELECT g, CASE WHEN g % 10 = 0 THEN '00000000-0000-0000-0000-000000000000'::uuid END,
                              CASE WHEN g % 4 = 0 THEN g END, repeat('x', 200)
         FROM generate_series(1, 20000) g;
       ALTER TABLE big ADD FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;
       ANALYZE big;`,
    ],
  });

  it('reads a share of the pages and reports counts as estimates, near the exact ones', async () => {
    const exact = await audit(db.url, { checks: ['placeholder-uuid', 'orphan-rows'] });
    expect(exact.findings.map((f) => [f.checkId, f.count, f.estimated])).toEqual([
      ['orphan-rows', 5000, undefined],
      ['placeholder-uuid', 2000, undefined],
    ]);
    const { auditOptions } = await import('../helpers/db.js');
    const { runAudit } = await import('../../src/engine/runner.js');
    const sampled = await runAudit({ ...auditOptions(db.url, { checks: ['placeholder-uuid', 'orphan-rows'] }), samplePercent: 30 });
    expect(sampled.options.samplePercent).toBe(30);
    expect(sampled.findings.map((f) => [f.checkId, f.estimated])).toEqual([
      ['orphan-rows', true],
      ['placeholder-uuid', true],
    ]);
    const [orphans, placeholders] = sampled.findings.map((f) => f.count as number);
    expect(orphans).toBeGreaterThan(3500);
    expect(orphans).toBeLessThan(6500);
    expect(placeholders).toBeGreaterThan(1400);
    expect(placeholders).toBeLessThan(2600);
    expect(sampled.findings[0]?.message).toMatch(/^about \d+ rows/);
  });
});

describe('placeholder-uuid on a column with a nondeterministic collation', () => {
  // Under a case-insensitive ICU collation a soft hyphen is ignorable: the value equals the nil UUID
  // although its bytes are longer, so no byte-length shortcut may skip it.
  const db = useDatabase('placeholder_icu', {
    sql: [
      `CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
       CREATE TABLE ledger (id int PRIMARY KEY, provider_id text COLLATE ci);
       INSERT INTO ledger VALUES (1, '00000000-0000-0000-0000-000000000000' || chr(173)), (2, 'real'), (3, '00000000-0000-0000-0000-000000000000');`,
    ],
  });

  it('counts the values the collation makes equal to a placeholder', async () => {
    const report = await audit(db.url, { checks: ['placeholder-uuid'] });
    expect(report.findings.map((f) => [f.object.column, f.count, f.samples])).toEqual([['provider_id', 2, ['1', '3']]]);
  });
});
