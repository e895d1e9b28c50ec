import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';
import type { AuditPlan } from '../../src/engine/plan.js';
import { PLUGIN_DIR, SCHEMA_SQL, writeProject } from './sql-check-helpers.js';

// The CLI runs dist/: `npm run build` first.

describe('SQL checks through the command line', () => {
  const db = useDatabase('sql_checks_cli', { sql: [SCHEMA_SQL] });

  it('--plan explains the custom query (with the table count a % threshold needs), reading no table', async () => {
    const { dir } = writeProject({
      plugins: [PLUGIN_DIR],
      sqlChecks: [{ id: 'acme/inline', title: 'Inline', object: 'public.invoice', query: 'SELECT id FROM public.invoice WHERE amount_cents < -50' }],
    });
    const run = await runCli(['check', '-d', db.url, '--plan', '--format', 'json', '--check', 'acme/no-negative-amounts', '--check', 'acme/inline', '--check', 'acme/negative-lines'], { cwd: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout) as AuditPlan;
    const amounts = plan.checks.find((c) => c.id === 'acme/no-negative-amounts');
    expect(amounts?.status).toBe('planned');
    expect(amounts?.queries).toHaveLength(1);
    expect(amounts?.queries[0]?.sql).toMatch(/^WITH integrity_failing AS MATERIALIZED \(\n/);
    expect(amounts?.queries[0]?.sql).toContain('SELECT id, amount_cents\n  FROM public.invoice\n WHERE amount_cents < 0');
    // errorIf > 5%: the table's own rows are counted too.
    expect(amounts?.queries[0]?.sql).toContain('(SELECT pg_catalog.count(*) FROM ONLY "public"."invoice") AS total');
    expect(amounts?.queries[0]?.scans.map((s) => `${s.schema}.${s.relation}`)).toEqual(['public.invoice', 'public.invoice']);
    const inline = plan.checks.find((c) => c.id === 'acme/inline');
    expect(inline?.queries[0]?.sql).not.toContain('AS total');
    expect(plan.checks.find((c) => c.id === 'acme/negative-lines')?.queries[0]?.object).toBe('Billing Dept.Invoice Line');
    const pretty = await runCli(['check', '-d', db.url, '--plan', '--check', 'acme/inline'], { cwd: dir });
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).toMatch(/acme\/inline/);
    expect(pretty.stdout).toContain('public.invoice');
  });

  it('a query that cannot be planned makes --plan exit 2 with the reason', async () => {
    const { dir } = writeProject({ sqlChecks: [{ id: 'acme/typo', title: 'Typo', object: 'public.invoice', query: 'SELECT id FROM public.invoices' }] });
    const run = await runCli(['check', '-d', db.url, '--plan', '--format', 'json', '--check', 'acme/typo'], { cwd: dir });
    expect(run.code).toBe(2);
    const plan = JSON.parse(run.stdout) as AuditPlan;
    expect(plan.checks.find((c) => c.id === 'acme/typo')).toMatchObject({ status: 'error' });
    expect(plan.checks.find((c) => c.id === 'acme/typo')?.reason).toMatch(/relation "public\.invoices" does not exist at line 1, column 16 of the query of .*sqlChecks\[0\] \[42P01\]/);
  });

  it('a check that does not load is exit 2 naming the file and the field', async () => {
    const { dir } = writeProject({ plugins: ['./checks'] }, { 'checks/bad.sql': '-- id: acme/bad\n-- title: Bad\n-- object: public.invoice\nDELETE FROM public.invoice\n' });
    const run = await runCli(['check', '-d', db.url], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(path.join(dir, 'checks', 'bad.sql'));
    expect(run.stderr).toMatch(/query: is a DELETE, not a SELECT: a check only reads/);
  });

  it('check, list and explain show it like a built-in; the exit code follows its severity', async () => {
    const { dir } = writeProject({ plugins: [PLUGIN_DIR] });
    const check = await runCli(['check', '-d', db.url, '--check', 'acme/no-negative-amounts', '--format', 'json'], { cwd: dir });
    expect(check.code).toBe(1);
    const report = JSON.parse(check.stdout) as { findings: { checkId: string; count: number; samples: string[] }[] };
    expect(report.findings.map((f) => [f.checkId, f.count, f.samples])).toEqual([['acme/no-negative-amounts', 10, ['10', '20', '30', '40', '50']]]);
    const list = await runCli(['list', '--format', 'json'], { cwd: dir });
    expect(JSON.parse(list.stdout)).toContainEqual(expect.objectContaining({ id: 'acme/no-negative-amounts', origin: path.join(PLUGIN_DIR, 'no-negative-amounts.sql') }));
    const explain = await runCli(['explain', 'acme/no-negative-amounts'], { cwd: dir });
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('WHERE amount_cents < 0');
    const samplesOff = await runCli(['check', '-d', db.url, '--check', 'acme/no-negative-amounts', '--format', 'json', '--samples', '0'], { cwd: dir });
    expect((JSON.parse(samplesOff.stdout) as { findings: { samples: string[] }[] }).findings[0]?.samples).toEqual([]);
  });
});
