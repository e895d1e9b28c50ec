import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { compareWithPlanted, UNCONFIGURED_CHECKS, type AuditReportShape } from '../../bench/compare.js';
import { every, generate, plantedAt, sizesAt } from '../../bench/generate.js';
import { yardsticks } from '../../bench/peers.js';
import { audit, query, useDatabase } from '../helpers/db.js';

describe('the benchmark\'s own arithmetic', () => {
  it('counts 1..n congruent to r modulo m exactly', () => {
    for (const n of [0, 1, 7, 99, 100, 101, 250, 1234]) {
      for (const m of [1, 40, 50, 80, 100, 120, 200, 250]) {
        for (const r of [0, 1, 2, 3, 5, 7, 9].filter((x) => x < m)) {
          const brute = Array.from({ length: n }, (_, i) => i + 1).filter((i) => i % m === r).length;
          expect(every(n, m, r), `n=${n} m=${m} r=${r}`).toBe(brute);
        }
      }
    }
  });

  it('tells a wrong count, a missing finding, an extra one and a check that did not run apart from an exact answer', () => {
    const planted = plantedAt(sizesAt(0.001));
    const exact: AuditReportShape = {
      checks: [{ id: 'orphan-rows', status: 'failed', reason: null, durationMs: 1 }],
      findings: planted.map((p) => ({
        checkId: p.check,
        object: { schema: p.table.split('.')[0] as string, table: p.table.split('.')[1] as string, ...(p.column ? { column: p.column } : {}) },
        count: p.count,
      })),
    };
    expect(compareWithPlanted(exact, planted)).toEqual([]);
    const wrong = structuredClone(exact);
    (wrong.findings[0] as { count: number | null }).count = 1;
    wrong.findings.push({ checkId: 'orphan-rows', object: { schema: 'public', table: 'x' }, count: 3 });
    wrong.checks.push({ id: 'placeholder-uuid', status: 'error', reason: 'boom', durationMs: 0 });
    expect(compareWithPlanted(wrong, planted)).toEqual([
      'placeholder-uuid error: boom',
      `missing: users-without-profiles auth.users.id = ${planted[0]?.count}`,
      'unexpected: users-without-profiles auth.users.id = 1',
      'unexpected: orphan-rows public.x = 3',
    ]);
  });

  it('expects the generic-rule checks, given no rules, to be skipped for that reason, and nothing else of them', () => {
    const planted = plantedAt(sizesAt(0.001));
    const findings = planted.map((p) => ({
      checkId: p.check,
      object: { schema: p.table.split('.')[0] as string, table: p.table.split('.')[1] as string, ...(p.column ? { column: p.column } : {}) },
      count: p.count,
    }));
    const unconfigured = (id: string) => ({ id, status: 'skipped', reason: `no rules configured: add checks.${id}.rules to the config file (see integrity explain ${id})`, durationMs: 0 });
    expect(UNCONFIGURED_CHECKS).toEqual(['accepted-values', 'required-child', 'row-condition', 'unique']);
    expect(compareWithPlanted({ checks: UNCONFIGURED_CHECKS.map(unconfigured), findings }, planted)).toEqual([]);
    const off: AuditReportShape = {
      checks: [
        { id: 'accepted-values', status: 'passed', reason: null, durationMs: 3 },
        { id: 'unique', status: 'skipped', reason: 'not selected by --check', durationMs: 0 },
        { id: 'row-condition', status: 'error', reason: 'boom', durationMs: 0 },
        unconfigured('required-child'),
      ],
      findings: [...findings, { checkId: 'unique', object: { schema: 'public', table: 'x', column: 'k' }, count: 2 }],
    };
    expect(compareWithPlanted(off, planted)).toEqual([
      'accepted-values passed: ran, expected skipped (no rules configured)',
      'unique skipped: not selected by --check, expected skipped (no rules configured)',
      'row-condition error: boom, expected skipped (no rules configured)',
      'unexpected: unique public.x.k = 2',
    ]);
  });
});

describe('the benchmark\'s generator', () => {
  const db = useDatabase('bench_generate');

  it('plants exactly the defects it says it plants, and the audit finds exactly those', async () => {
    const sizes = sizesAt(0.0002);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await generate(client, sizes);
    } finally {
      await client.end();
    }
    const report = await audit(db.url, { deep: true });
    expect(compareWithPlanted(report, plantedAt(sizes))).toEqual([]);
    // The generic-rule checks are accounted for as skipped (the benchmark gives them no rules); every other check ran.
    expect(report.checks.filter((c) => c.status === 'skipped').map((c) => c.id)).toEqual(UNCONFIGURED_CHECKS);
    // The foreign keys broken by the load are valid in the catalog: without --deep they are trusted.
    const shallow = await audit(db.url, { checks: ['orphan-rows'] });
    expect(shallow.findings.map((f) => `${f.object.table}.${f.object.column}`)).toEqual(['stored_files.message_id']);
  });

  it('the peers\' SQL (dbt\'s relationships tests, Soda\'s reference checks) finds the planted orphans too: they are timed answering the same question', async () => {
    const planted = plantedAt(sizesAt(0.0002)).filter((p) => p.check === 'orphan-rows' && p.column !== null);
    expect(planted.length).toBeGreaterThan(0);
    const { peers, floor } = await yardsticks(db.url);
    expect(floor.length).toBeGreaterThan(0);
    for (const p of planted) {
      const dbt = peers.dbt.find((q) => q.label === `relationships ${p.table}(${p.column})`);
      const soda = peers.soda.find((q) => q.label === `reference ${p.table}(${p.column})`);
      expect(dbt, p.table).toBeDefined();
      expect(soda, p.table).toBeDefined();
      const [failures] = await query<{ failures: string }>(db.url, dbt?.sql as string);
      expect(Number(failures?.failures), `dbt ${p.table}.${p.column}`).toBe(p.count);
      expect((await query(db.url, soda?.sql as string)).length, `soda ${p.table}.${p.column}`).toBe(p.count);
    }
    // Every peer query runs.
    for (const q of [...peers.dbt, ...peers.soda]) await query(db.url, q.sql);
  });
});
