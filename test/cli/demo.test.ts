import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { GENERIC_CHECKS, NO_RULES } from '../helpers/incident-rules.js';
import { reportSchema } from '../helpers/report-schema.js';

describe('integrity demo', () => {
  // The demo audits the five incidents with their own config (test/fixtures/integrity.config.json), which
  // configures no generic rules: the four generic-rule checks are listed as skipped, saying how to add rules.
  it('starts an embedded PostgreSQL, loads the five incidents and the family fixtures, shows findings from every incident check and three family checks, and the generic-rule checks as skipped', async () => {
    const run = await runCli(['demo', '--format', 'json']);
    expect(run.code).toBe(0);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['accepted-values', 'skipped'],
      ['collation-drift', 'passed'],
      ['disabled-triggers', 'passed'],
      ['invalid-indexes', 'failed'],
      ['jsonb-int-cast-index', 'failed'],
      ['models-without-pricing', 'failed'],
      ['orphan-rows', 'failed'],
      ['placeholder-uuid', 'failed'],
      ['required-child', 'skipped'],
      ['row-condition', 'skipped'],
      ['sequence-behind-data', 'failed'],
      ['sequence-headroom', 'passed'],
      ['undeclared-references', 'passed'],
      ['unique', 'skipped'],
      ['unvalidated-checks', 'failed'],
      ['users-without-profiles', 'failed'],
    ]);
    for (const id of GENERIC_CHECKS) expect(report.checks.find((c) => c.id === id)?.reason).toMatch(NO_RULES);
    // The family fixtures (test/fixtures/family): one table, three of the quiet failures around the incidents.
    const family = ['invalid-indexes', 'sequence-behind-data', 'unvalidated-checks'];
    expect(report.findings.filter((f) => family.includes(f.checkId)).map((f) => [f.checkId, f.severity, f.object, f.count, f.samples])).toEqual([
      ['invalid-indexes', 'error', { schema: 'billing', table: 'invoice', index: 'invoice_external_ref_key', column: 'external_ref' }, 2, ['INV-1002']],
      ['sequence-behind-data', 'error', { schema: 'billing', table: 'invoice', column: 'id', sequence: 'invoice_id_seq' }, 5, []],
      ['unvalidated-checks', 'error', { schema: 'billing', table: 'invoice', constraint: 'invoice_total_cents_nonnegative' }, 1, ['4']],
    ]);
    expect(report.summary.findings).toEqual({ error: 21, warning: 2, info: 0 });
    expect(run.stderr).toContain(
      'Loading the 5 incidents: 000_models_without_pricing.sql, 001_llm_call_stored_file.sql, 002_assistant_chat.sql, 003_credits_index.sql, 004_supabase_profiles.sql\n' +
        'Loading the fixture of quoted names and look-alikes beside them: 005_quoting_and_lookalikes.sql\n',
    );
    expect(run.stderr).toContain('Loading the family around them: 010_billing_import.sql');
  }, 120_000);

  it('says "five incidents" where five of the fixtures it loads are incidents, and names the sixth for what it is', async () => {
    const { incidentFiles, splitIncidentFiles } = await import('../../src/demo/fixtures.js');
    const { incidents, others } = splitIncidentFiles();
    expect([incidents.length, others]).toEqual([5, ['005_quoting_and_lookalikes.sql']]);
    expect(incidentFiles()).toEqual([...incidents, ...others]);
    const help = await runCli(['demo', '--help']);
    // Commander wraps the description: compared with its line breaks as spaces.
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('load the five incidents (with a fixture of quoted names and look-alikes, and the family of quieter failures around them)');
    expect((await runCli(['--help'])).stdout).toContain('# five incidents and their family, on an embedded PostgreSQL');
  });
});
