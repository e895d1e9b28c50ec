import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { GENERIC_CHECKS, NO_RULES } from '../helpers/incident-rules.js';
import { reportSchema } from '../helpers/report-schema.js';

describe('integrity demo', () => {
  // The demo audits the five incidents with their own config (test/fixtures/integrity.config.json), which
  // configures no generic rules: the four generic-rule checks are listed as skipped, saying how to add rules.
  it('starts an embedded PostgreSQL, loads the five incidents, shows findings from every incident check and the generic-rule checks as skipped', async () => {
    const run = await runCli(['demo', '--format', 'json']);
    expect(run.code).toBe(0);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['accepted-values', 'skipped'],
      ['jsonb-int-cast-index', 'failed'],
      ['models-without-pricing', 'failed'],
      ['orphan-rows', 'failed'],
      ['placeholder-uuid', 'failed'],
      ['required-child', 'skipped'],
      ['row-condition', 'skipped'],
      ['unique', 'skipped'],
      ['users-without-profiles', 'failed'],
    ]);
    for (const id of GENERIC_CHECKS) expect(report.checks.find((c) => c.id === id)?.reason).toMatch(NO_RULES);
    expect(report.summary.findings).toEqual({ error: 18, warning: 2, info: 0 });
    expect(run.stderr).toContain('Loading the incidents: 000_models_without_pricing.sql');
  }, 120_000);
});
