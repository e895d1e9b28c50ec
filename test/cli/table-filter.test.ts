import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { cli, repository } from '../preflight/helpers.js';
import type { AuditReport } from '../../src/findings.js';

const SETUP = [
  'CREATE SCHEMA billing',
  'CREATE TABLE customers (id int PRIMARY KEY)',
  'CREATE TABLE orders (id int PRIMARY KEY, customer_id int)',
  'INSERT INTO orders VALUES (1, 99)',
  'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID',
  'CREATE TABLE billing.invoices (id int PRIMARY KEY, customer_id int)',
  'INSERT INTO billing.invoices VALUES (1, 98)',
  'ALTER TABLE billing.invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID',
  'CREATE TABLE providers (id uuid PRIMARY KEY)',
  'CREATE TABLE events (id int, at int, provider_id uuid REFERENCES providers (id)) PARTITION BY RANGE (at)',
  'CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100)',
  "INSERT INTO providers VALUES ('00000000-0000-0000-0000-000000000000')",
  "INSERT INTO events VALUES (1, 5, '00000000-0000-0000-0000-000000000000')",
];

describe('check --table PATTERN: only the matching tables are audited', () => {
  const db = useDatabase('cli_table_filter', { sql: SETUP });
  const root = () => repository({});
  async function tablesFound(args: string[]): Promise<{ code: number; tables: string[]; scope: AuditReport['scope'] }> {
    const run = await cli(['check', '-d', db.url, '--format', 'json', ...args], root());
    const report = JSON.parse(run.stdout) as AuditReport;
    return { code: run.code, tables: [...new Set(report.findings.map((f) => `${f.checkId}:${f.object.schema}.${f.object.table}`))].sort(), scope: report.scope };
  }

  it('a qualified glob, a bare table name, several patterns; a partitioned table brings its partitions', async () => {
    expect((await tablesFound(['--check', 'orphan-rows'])).tables).toEqual(['orphan-rows:billing.invoices', 'orphan-rows:public.orders']);
    expect((await tablesFound(['--check', 'orphan-rows', '--table', 'public.orders'])).tables).toEqual(['orphan-rows:public.orders']);
    expect((await tablesFound(['--check', 'orphan-rows', '--table', 'billing.*'])).tables).toEqual(['orphan-rows:billing.invoices']);
    expect((await tablesFound(['--check', 'orphan-rows', '--table', 'invoices', '--table', 'orders'])).tables).toEqual(['orphan-rows:billing.invoices', 'orphan-rows:public.orders']);
    const events = await tablesFound(['--check', 'placeholder-uuid', '--table', 'public.events']);
    expect(events.scope).toEqual({ tables: 1, partitions: 1 });
    expect(events.tables.length).toBeGreaterThan(0);
    expect(events.tables.every((t) => t.startsWith('placeholder-uuid:public.events'))).toBe(true);
  });

  it('a pattern that matches no table audits nothing, which is exit 2, as an empty audit is', async () => {
    const run = await cli(['check', '-d', db.url, '--table', 'nosuch*'], root());
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no table/);
  });
});
