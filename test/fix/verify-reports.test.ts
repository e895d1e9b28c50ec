import { describe, expect, it } from 'vitest';
import { verifyRepairs } from '../../src/fix/execute.js';
import { runCli } from '../helpers/cli.js';
import { auditOptions, query, useDatabase } from '../helpers/db.js';

describe('fix --verify says what it cannot prove by rolling back', () => {
  const db = useDatabase('verify_reports', {
    incidents: ['000_models_without_pricing.sql'],
    sql: [
      // A model whose provider resolves to the placeholder parent: its derived pricing row would carry
      // the nil UUID, a finding the repair creates.
      `INSERT INTO models VALUES ('mystery-1', 'unknown', '{"inputCostPerMillionTokens": 1, "outputCostPerMillionTokens": 2}');
       CREATE FUNCTION public.audit_pricing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
       CREATE TRIGGER pricing_audit AFTER INSERT ON model_provider_pricing FOR EACH ROW EXECUTE FUNCTION public.audit_pricing();`,
    ],
  });

  it('reports the findings the repairs create, the sequences they advance and the triggers they fire', async () => {
    const result = await verifyRepairs(auditOptions(db.url, { checks: ['models-without-pricing', 'placeholder-uuid'] }));
    expect(result.created.map((f) => [f.checkId, f.object.table, f.object.column])).toEqual([['placeholder-uuid', 'model_provider_pricing', 'provider_id']]);
    expect(result.notUndone).toEqual([
      expect.stringMatching(/^sequence public.model_provider_pricing_id_seq: /),
      expect.stringMatching(/^trigger pricing_audit on public.model_provider_pricing fired/),
    ]);
    // The command says so, and a repair that creates a finding is not a proof: exit 1.
    const cli = await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--check', 'placeholder-uuid', '--verify', '--format', 'json']);
    expect(cli.code).toBe(1);
    const out = JSON.parse(cli.stdout) as { verified: boolean; created: { checkId: string; object: { table: string } }[]; notUndone: string[] };
    expect(out.verified).toBe(false);
    expect(out.created.map((f) => [f.checkId, f.object.table])).toEqual([['placeholder-uuid', 'model_provider_pricing']]);
    expect(out.notUndone).toHaveLength(2);
    const pretty = await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--check', 'placeholder-uuid', '--verify']);
    expect(pretty.stdout).toMatch(/the repairs would create 1 finding:\n {2}\+ new {8} {2}placeholder-uuid/);
    expect(pretty.stdout).toMatch(/except for what a rollback cannot undo:\n {2}- sequence /);
    // And the database is as it was.
    expect(await query(db.url, `SELECT count(*) AS n FROM model_provider_pricing WHERE model_name = 'mystery-1'`)).toEqual([{ n: '0' }]);
  });
});

describe('fix --verify under a small idle_in_transaction_session_timeout', () => {
  const role = `integrity_idle_${process.pid}`;
  const db = useDatabase('verify_idle', { incidents: ['000_models_without_pricing.sql', '003_credits_index.sql'] });

  it('keeps the transaction busy: it finishes, and the database is unchanged', async () => {
    await query(db.url, `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD 'pw'; ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '100ms';`);
    try {
      const u = new URL(db.url);
      u.username = role;
      u.password = 'pw';
      const run = await runCli(['fix', '-d', u.toString(), '--check', 'jsonb-int-cast-index', '--check', 'models-without-pricing', '--verify', '--format', 'json']);
      expect(run.stderr).not.toMatch(/idle/);
      expect([0, 1]).toContain(run.code);
      expect((JSON.parse(run.stdout) as { databaseUnchanged: boolean }).databaseUnchanged).toBe(true);
    } finally {
      await query(db.url, `DROP ROLE IF EXISTS ${role}`);
    }
  });
});
