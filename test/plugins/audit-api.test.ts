import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { audit, defineCheck, qualifiedName, z, type AuditReport } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const FIXTURE = `
CREATE SCHEMA "Billing Dept";
CREATE TABLE "Billing Dept"."Invoice Line" (id int PRIMARY KEY, amount_cents int NOT NULL);
INSERT INTO "Billing Dept"."Invoice Line" VALUES (1, 100), (2, -5), (3, -7);
`;

const negative = defineCheck({
  id: 'acme/negative-lines',
  title: 'Invoice lines are never negative',
  severity: 'error',
  description: 'Finds invoice lines whose amount is below zero.',
  options: z.strictObject({ below: z.number().default(0) }),
  async run(ctx) {
    const res = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualifiedName('Billing Dept', 'Invoice Line')} WHERE amount_cents < $1`, [ctx.options.below]);
    const n = res.rows[0]?.n ?? 0;
    return n === 0 ? [] : [ctx.finding({ kind: 'negative', message: `${n} negative lines`, object: { schema: 'Billing Dept', table: 'Invoice Line', column: 'amount_cents' }, count: n })];
  },
});

/** The parts of a report that do not change from one run to the next. */
function stable(report: AuditReport) {
  return {
    checks: report.checks.map((c) => ({ id: c.id, status: c.status, findings: c.findings })),
    findings: report.findings.map((f) => ({ checkId: f.checkId, object: f.object, count: f.count, fingerprint: f.fingerprint, ignored: f.ignored ?? null })),
    summary: report.summary,
    scope: report.scope,
  };
}

describe('audit(): the library entry', () => {
  const db = useDatabase('audit_api', { sql: [FIXTURE] });

  it('returns the report `check --format json` prints, with checks given as objects and options from the config', async () => {
    const report = await audit({ databaseUrl: db.url, env: {}, extraChecks: [negative], config: { checks: { 'acme/negative-lines': { below: -6 } } } });
    expect(report.findings.filter((f) => f.checkId === 'acme/negative-lines').map((f) => f.count)).toEqual([1]);
    expect(report.checks.find((c) => c.id === 'acme/negative-lines')?.status).toBe('failed');
    expect(report.checks.map((c) => c.id)).toContain('orphan-rows');
  });

  it('is the same report as the command line gives for the same config, ignores applied', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-audit-api-'));
    const config = { ignore: [{ check: 'orphan-rows', object: 'nothing.here', reason: 'never matches' }] };
    writeFileSync(path.join(dir, 'integrity.config.json'), JSON.stringify(config));
    const viaCli = await runCli(['check', '-d', db.url, '--format', 'json'], { cwd: dir });
    const viaApi = await audit({ databaseUrl: db.url, env: {}, cwd: dir });
    expect(stable(viaApi)).toEqual(stable(JSON.parse(viaCli.stdout) as AuditReport));
  });

  it('throws a usage error for an unknown check, as the command line exits 2', async () => {
    await expect(audit({ databaseUrl: db.url, env: {}, checks: ['acme/nope'] })).rejects.toThrow(/unknown check "acme\/nope"/);
  });
});
