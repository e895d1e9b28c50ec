import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { query, useDatabase } from '../helpers/db.js';
import { GENERIC_CHECKS, NO_RULES } from '../helpers/incident-rules.js';
import { incidentConfigFile } from '../../src/demo/fixtures.js';
import type { AuditPlan } from '../../src/engine/plan.js';

/** Scans of the database's own tables so far, once every integrity backend has gone (and flushed its counters). */
async function scansSoFar(url: string, database: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const live = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'integrity%'`, [database]);
    if (live[0]?.n === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const rows = await query<{ n: string }>(url, `SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)::text AS n FROM pg_stat_user_tables`);
  return Number(rows[0]?.n);
}

describe('integrity check --plan', () => {
  const db = useDatabase('plan', { incidents: 'all', family: true });

  it('lists what each check would read, with estimates, and reads no table', async () => {
    const before = await scansSoFar(db.url, db.name);
    const run = await runCli(['check', '-d', db.url, '--deep', '--config', incidentConfigFile(), '--plan', '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout) as AuditPlan;
    // The fixtures' config gives the generic-rule checks no rules: they are skipped, saying so, and plan no query.
    expect(plan.checks.map((c) => [c.id, c.status])).toEqual([
      ['accepted-values', 'skipped'],
      ['collation-drift', 'planned'],
      ['disabled-triggers', 'planned'],
      ['invalid-indexes', 'planned'],
      ['jsonb-int-cast-index', 'planned'],
      ['models-without-pricing', 'planned'],
      ['orphan-rows', 'planned'],
      ['placeholder-uuid', 'planned'],
      ['required-child', 'skipped'],
      ['row-condition', 'skipped'],
      ['sequence-behind-data', 'planned'],
      ['sequence-headroom', 'planned'],
      ['undeclared-references', 'planned'],
      ['unique', 'skipped'],
      ['unvalidated-checks', 'planned'],
      ['users-without-profiles', 'planned'],
    ]);
    for (const id of GENERIC_CHECKS) expect(plan.checks.find((c) => c.id === id)).toMatchObject({ reason: expect.stringMatching(NO_RULES), queries: [] });
    // A check that reads only the catalog lists no query (its repairs are not written when planning).
    expect(plan.checks.find((c) => c.id === 'jsonb-int-cast-index')?.queries).toEqual([]);
    expect(plan.relations.filter((r) => r.schema === 'pg_catalog')).toEqual([]);
    const orphanReads = plan.checks.find((c) => c.id === 'orphan-rows')?.queries.map((q) => q.object) ?? [];
    expect(orphanReads).toContain('Billing Dept.Invoice Line');
    expect(orphanReads).toContain('public.AssistantChatMessage');
    expect(orphanReads).toContain('public.llm_call'); // the relation declared in the config
    const users = plan.checks.find((c) => c.id === 'users-without-profiles')?.queries[0];
    expect(users?.scans.map((s) => `${s.schema}.${s.relation}`).sort()).toEqual(['auth.users', 'public.user_profiles']);
    expect(plan.relations.find((r) => r.schema === 'Billing Dept' && r.relation === 'Invoice Line')?.pages).toBeGreaterThan(0);
    expect(plan.totals.queries).toBe(plan.checks.reduce((n, c) => n + c.queries.length, 0));
    expect(await scansSoFar(db.url, db.name)).toBe(before);

    // The same counters do move when the audit runs, so the comparison above can fail.
    await runCli(['check', '-d', db.url, '--deep', '--config', incidentConfigFile(), '--format', 'json']);
    expect(await scansSoFar(db.url, db.name)).toBeGreaterThan(before);
  });

  it('the family checks plan the table reads they would do, found from the catalog, and no catalog query', async () => {
    const run = await runCli(['check', '-d', db.url, '--deep', '--config', incidentConfigFile(), '--plan', '--format', 'json']);
    const plan = JSON.parse(run.stdout) as AuditPlan;
    expect(plan.relations.filter((r) => r.schema === 'pg_catalog')).toEqual([]);
    const objects = (id: string) => plan.checks.find((c) => c.id === id)?.queries.flatMap((q) => q.scans.map((s) => `${s.schema}.${s.relation}`)) ?? [];
    // The demo's family fixtures: billing.invoice has a failed unique index, a sequence behind its data and a NOT VALID CHECK.
    expect(objects('invalid-indexes')).toContain('billing.invoice');
    expect(objects('sequence-behind-data')).toContain('billing.invoice');
    expect(objects('unvalidated-checks')).toContain('billing.invoice');
  });

  it('prints a table per check for a person, and refuses options that need an audit', async () => {
    const run = await runCli(['check', '-d', db.url, '--plan', '--check', 'orphan-rows', '--check', 'users-without-profiles']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/orphan-rows .* queries/);
    expect(run.stdout).toContain('auth.users');
    expect(run.stdout).toMatch(/queries would read about [\d,]+ pages/);
    expect(run.stdout).toMatch(/ query 1: (hash|merge|nested-loop) anti-join.*; about [\d,]+ pages/);
    expect(run.stdout).toMatch(/models-without-pricing .*\n {2}skipped: not selected by --check/);
    const sarif = await runCli(['check', '-d', db.url, '--plan', '--format', 'sarif']);
    expect(sarif.code).toBe(2);
    expect(sarif.stderr).toMatch(/--plan prints pretty or json/);
    const fix = await runCli(['check', '-d', db.url, '--plan', '--fix-sql', '-']);
    expect(fix.code).toBe(2);
    expect(fix.stderr).toMatch(/--plan reads nothing, so --fix-sql/);
  });
});

describe('integrity check --plan with a check from the config', () => {
  const db = useDatabase('plan_plugin', {
    sql: [
      `CREATE TABLE t (id int PRIMARY KEY);
       CREATE FUNCTION public.boom() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN IN PLAN'; END $$;`,
    ],
  });

  it('only EXPLAINs its catalog query (which may call the user\'s own functions), never runs it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'integrity-plan-'));
    const config = path.join(dir, 'integrity.config.json');
    writeFileSync(config, JSON.stringify({ sqlChecks: [{ id: 'team/catalog', title: 'catalog only', object: 'public.t', query: 'SELECT c.oid AS id FROM pg_catalog.pg_class c WHERE public.boom()' }] }));
    const run = await runCli(['check', '-d', db.url, '--config', config, '--check', 'team/catalog', '--plan', '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout) as AuditPlan;
    const check = plan.checks.find((c) => c.id === 'team/catalog');
    expect(check?.status).toBe('planned');
    expect(check?.queries.flatMap((q) => q.scans.map((s) => `${s.schema}.${s.relation}`))).toEqual(['pg_catalog.pg_class']);
    // The audit itself does run it: the plan is what was held back.
    const audit = await runCli(['check', '-d', db.url, '--config', config, '--check', 'team/catalog']);
    expect(audit.stdout + audit.stderr).toContain('USER CODE RAN IN PLAN');
  });
});
