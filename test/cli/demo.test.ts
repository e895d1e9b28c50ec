import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { reportSchema } from '../helpers/report-schema.js';

describe('integrity demo', () => {
  it('starts an embedded PostgreSQL, loads the five incidents, and shows findings from every check', async () => {
    const run = await runCli(['demo', '--format', 'json']);
    expect(run.code).toBe(0);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['jsonb-int-cast-index', 'failed'],
      ['models-without-pricing', 'failed'],
      ['orphan-rows', 'failed'],
      ['placeholder-uuid', 'failed'],
      ['users-without-profiles', 'failed'],
    ]);
    expect(report.summary.findings).toEqual({ error: 18, warning: 2, info: 0 });
    expect(run.stderr).toContain('Loading the incidents: 000_models_without_pricing.sql');
  }, 120_000);
});
