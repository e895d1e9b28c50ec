import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/real');
const read = (file: string) => readFileSync(path.join(REAL, file), 'utf8');

// Pagila, a public sample schema: its payments are partitioned by month, and every partition declares
// its own foreign keys (to customer, rental and staff) rather than inheriting them from the parent.
describe('pagila (a real public schema with foreign keys declared on partitions)', () => {
  const db = useDatabase('pagila', { sql: [read('pagila-schema.sql'), read('pagila-sample-data.sql')] });

  it('audits it with no false report: every foreign key verified with --deep, the partitions\' own included', async () => {
    const report = await audit(db.url, { deep: true });
    expect(report.findings).toEqual([]);
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    const fks = await query<{ n: string; on_partitions: string }>(
      db.url,
      `SELECT count(*) AS n, count(*) FILTER (WHERE c.relispartition) AS on_partitions
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE k.contype = 'f' AND k.conparentid = 0`,
    );
    expect(fks).toEqual([{ n: '36', on_partitions: '18' }]);
    expect(checkResult(report, 'orphan-rows').note).toMatch(/^verified 36 references/);
  });

  it('finds a payment that slipped past its partition\'s key, and only with --deep (the key is valid and enforced)', async () => {
    await query(
      db.url,
      `SET session_replication_role = replica;
       INSERT INTO public.payment VALUES (3, 99, 1, 1, 1.00, '2022-02-20 10:00+00');
       RESET session_replication_role;`,
    );
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] }))).toEqual([]);
    const deep = await audit(db.url, { checks: ['orphan-rows'], deep: true });
    expect(summarize(deep).map((f) => [f.object.table, f.object.constraint, f.count, f.samples])).toEqual([
      ['payment_p2022_02', 'payment_p2022_02_customer_id_fkey', 1, ['99']],
    ]);
    const verify = await runCli(['fix', '-d', db.url, '--deep', '--check', 'orphan-rows', '--verify', '--format', 'json']);
    expect(verify.code).toBe(0);
  });
});
