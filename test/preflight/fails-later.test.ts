import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { findingsOf, preflightJson, repository } from './helpers.js';
import type { PreflightReport } from '../../src/preflight/report.js';

function outcomesAt(report: PreflightReport, file: string, line: number) {
  return report.preflight.statementsJudged.find((v) => v.location.file === file && v.location.line === line)?.outcomes;
}

const SETUP = [
  'CREATE TABLE customers (id int PRIMARY KEY)',
  'INSERT INTO customers VALUES (1)',
  'CREATE TABLE orders (id int PRIMARY KEY, customer_id int, ref uuid)',
  'INSERT INTO orders VALUES (1, 1, NULL)',
  `CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
  'CREATE TRIGGER audit_t BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION public.touch()',
  'CREATE TRIGGER other_t BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION public.touch()',
];

describe('preflight: data that will make it fail later', () => {
  const db = useDatabase('preflight_fails_later', { sql: SETUP });

  it('a placeholder UUID as an id column’s DEFAULT, in CREATE TABLE, ADD COLUMN and SET DEFAULT', async () => {
    const root = repository({
      'p.sql': [
        `CREATE TABLE ledger (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), provider_id uuid DEFAULT '00000000-0000-0000-0000-000000000000', note text DEFAULT '00000000-0000-0000-0000-000000000000', "providerId" text DEFAULT '{FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF}');`,
        `ALTER TABLE orders ADD COLUMN provider_id uuid DEFAULT '00000000-0000-0000-0000-000000000000'::uuid;`,
        `ALTER TABLE orders ALTER COLUMN ref SET DEFAULT '00000000000000000000000000000000';`,
        `ALTER TABLE orders ADD COLUMN tenant_id uuid DEFAULT '7b0d3c2e-9a55-4e57-8f4c-3c1d2b8a9e10';`,
        '',
      ].join('\n'),
    });
    const { run, report } = await preflightJson(db.url, root, ['p.sql']);
    // Warnings: the default --fail-on error passes.
    expect(run.code).toBe(0);
    expect(findingsOf(report, 'preflight/placeholder-defaults')).toEqual([
      { rule: 'preflight/placeholder-defaults', severity: 'warning', at: 'p.sql:1', count: null, samples: [], object: { schema: 'public', table: 'ledger', column: 'provider_id' } },
      { rule: 'preflight/placeholder-defaults', severity: 'warning', at: 'p.sql:1', count: null, samples: [], object: { schema: 'public', table: 'ledger', column: 'providerId' } },
      { rule: 'preflight/placeholder-defaults', severity: 'warning', at: 'p.sql:2', count: null, samples: [], object: { schema: 'public', table: 'orders', column: 'provider_id' } },
      { rule: 'preflight/placeholder-defaults', severity: 'warning', at: 'p.sql:3', count: null, samples: [], object: { schema: 'public', table: 'orders', column: 'ref' } },
    ]);
    expect(report.findings.find((f) => f.location.line === 2)?.message).toBe(
      "provider_id gets DEFAULT '00000000-0000-0000-0000-000000000000', the placeholder 00000000-0000-0000-0000-000000000000: every insert that omits provider_id will write a fake id (a ledger once filled with rows attributed to nobody this way). Leave it without a DEFAULT (an insert that does not know the id then fails), or NULL",
    );
    // A real id as the default is not a placeholder; note is not an id column.
    expect(outcomesAt(report, 'p.sql', 4)).toEqual([{ rule: 'preflight/nulls', status: 'passed' }, { rule: 'preflight/placeholder-defaults', status: 'passed' }]);
    expect((await preflightJson(db.url, root, ['p.sql'], ['--fail-on', 'warning'])).run.code).toBe(1);
  });

  it("placeholder-uuid's configured values are the ones looked for", async () => {
    const root = repository({
      'integrity.config.json': JSON.stringify({ checks: { 'placeholder-uuid': { values: ['11111111-1111-1111-1111-111111111111'] } } }),
      'p.sql': `ALTER TABLE orders ADD COLUMN a_id uuid DEFAULT '11111111-1111-1111-1111-111111111111';\nALTER TABLE orders ADD COLUMN b_id uuid DEFAULT '00000000-0000-0000-0000-000000000000';\n`,
    });
    const { report } = await preflightJson(db.url, root, ['p.sql']);
    expect(findingsOf(report, 'preflight/placeholder-defaults').map((f) => [f.at, f.object.column])).toEqual([['p.sql:1', 'a_id']]);
  });

  it('a foreign key added NOT VALID that no later migration validates', async () => {
    const root = repository({
      'db/1.sql': 'ALTER TABLE orders ADD CONSTRAINT orders_a FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\nALTER TABLE orders ADD CONSTRAINT orders_b FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n',
      'db/2.sql': '-- the next deploy validates one of them\nALTER TABLE orders VALIDATE CONSTRAINT orders_a;\n',
    });
    const { report } = await preflightJson(db.url, root, ['db/1.sql', 'db/2.sql']);
    expect(findingsOf(report, 'preflight/unvalidated-foreign-keys')).toEqual([
      {
        rule: 'preflight/unvalidated-foreign-keys', severity: 'warning', at: 'db/1.sql:2', count: null, samples: [],
        object: { schema: 'public', table: 'orders', columns: ['customer_id'], constraint: 'orders_b' },
      },
    ]);
    expect(outcomesAt(report, 'db/1.sql', 1)).toEqual([
      { rule: 'preflight/orphans', status: 'passed', note: 'NOT VALID: the rows of today are not checked until VALIDATE CONSTRAINT' },
      { rule: 'preflight/unvalidated-foreign-keys', status: 'passed' },
    ]);
    // Only the first file: neither is validated.
    const alone = (await preflightJson(db.url, root, ['db/1.sql'])).report;
    expect(findingsOf(alone, 'preflight/unvalidated-foreign-keys').map((f) => f.at)).toEqual(['db/1.sql:1', 'db/1.sql:2']);
  });

  it('a trigger disabled and not enabled again in the run', async () => {
    const root = repository({
      't.sql': [
        'ALTER TABLE orders DISABLE TRIGGER audit_t;',
        'UPDATE orders SET ref = NULL;',
        'ALTER TABLE orders ENABLE TRIGGER audit_t;',
        'ALTER TABLE orders DISABLE TRIGGER ALL;',
        'ALTER TABLE orders ENABLE TRIGGER USER;',
        'ALTER TABLE orders DISABLE TRIGGER other_t;',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['t.sql']);
    expect(findingsOf(report, 'preflight/disabled-triggers')).toEqual([
      // ENABLE TRIGGER USER leaves the foreign keys' own triggers disabled.
      { rule: 'preflight/disabled-triggers', severity: 'warning', at: 't.sql:4', count: null, samples: [], object: { schema: 'public', table: 'orders' } },
      { rule: 'preflight/disabled-triggers', severity: 'warning', at: 't.sql:6', count: null, samples: [], object: { schema: 'public', table: 'orders', trigger: 'other_t' } },
    ]);
    // Disabled, then enabled again: no finding, and these statements are not "not judged".
    expect(outcomesAt(report, 't.sql', 1)).toEqual([]);
    expect(report.preflight.notJudged.map((n) => [n.line, n.statement])).toEqual([[2, 'UPDATE']]);
  });
});
