import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { runCli } from '../helpers/cli.js';
import { adminUrl, query, useDatabase } from '../helpers/db.js';
import { GENERIC_CHECKS, NO_RULES } from '../helpers/incident-rules.js';
import { reportSchema } from '../helpers/report-schema.js';
import { incidentConfigFile } from '../../src/demo/fixtures.js';

// eslint-disable-next-line no-control-regex -- matching the escape character is the point
const ANSI = /\u001b\[\d+m/;

describe('integrity check against the five incidents', () => {
  const db = useDatabase('cli_incidents', { incidents: 'all' });

  it('exits 1 and reports every incident, with exact counts and nothing on the look-alikes', async () => {
    const run = await runCli(['check', '-d', db.url, '--deep', '--config', incidentConfigFile(), '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    // The five incident checks fail; the seven family checks pass (the incident fixtures plant none of
    // their defects: no serial is given explicit ids, no CHECK is NOT VALID, no user trigger is disabled, no
    // index is invalid); the fixtures' config gives the generic-rule checks no rules, so they skip, saying so.
    expect(report.checks.filter((c) => !GENERIC_CHECKS.includes(c.id)).map((c) => [c.id, c.status, c.findings])).toEqual([
      ['collation-drift', 'passed', 0],
      ['disabled-triggers', 'passed', 0],
      ['invalid-indexes', 'passed', 0],
      ['jsonb-int-cast-index', 'failed', 6],
      ['models-without-pricing', 'failed', 1],
      ['orphan-rows', 'failed', 7],
      ['placeholder-uuid', 'failed', 4],
      ['sequence-behind-data', 'passed', 0],
      ['sequence-headroom', 'passed', 0],
      ['undeclared-references', 'passed', 0],
      ['unvalidated-checks', 'passed', 0],
      ['users-without-profiles', 'failed', 2],
    ]);
    const generic = report.checks.filter((c) => GENERIC_CHECKS.includes(c.id));
    expect(generic.map((c) => [c.id, c.status, c.findings])).toEqual(GENERIC_CHECKS.map((id) => [id, 'skipped', 0]));
    for (const c of generic) expect(c.reason).toMatch(NO_RULES);
    const counted = report.findings.map((f) => `${f.checkId} ${f.object.schema}.${f.object.table} ${f.object.index ?? f.object.constraint ?? f.object.column ?? f.object.columns?.join('+')} ${f.count}`);
    expect(counted).toEqual([
      'jsonb-int-cast-index Billing Dept.Invoice Line Invoice Line credits null',
      'jsonb-int-cast-index public.model_versions credits_int null',
      'jsonb-int-cast-index public.model_versions idx_model_versions_prioritised null',
      'jsonb-int-cast-index public.model_versions idx_model_versions_rank null',
      'jsonb-int-cast-index public.model_versions model_versions_max_tokens_positive null',
      'jsonb-int-cast-index public.models idx_models_meta_credits_per_1k null',
      'models-without-pricing public.models id 3',
      'orphan-rows Billing Dept.Invoice Line Invoice Line → Invoice 2',
      'orphan-rows public.AssistantChatMessage AssistantChatMessage_sessionId_fkey 2',
      'orphan-rows public.AssistantChatSession AssistantChatSession_userId_fkey 2',
      'orphan-rows public.chat_conversations chat_conversations_user_id_fkey 1',
      'orphan-rows public.llm_call prompt_file_id 1',
      'orphan-rows public.stored_file fk_stored_file_llm_call_id 2',
      'orphan-rows public.token_usage_ledger token_usage_ledger_provider_id_fkey 1',
      'placeholder-uuid Billing Dept.Invoice Line Product Id 1',
      'placeholder-uuid public.providers id 1',
      'placeholder-uuid public.token_usage_ledger token_usage_ledger_provider_id_fkey 2',
      'placeholder-uuid public.token_usage_ledger provider_id null',
      'users-without-profiles auth.users id 2',
      'users-without-profiles auth.users undefined null',
    ]);
    expect(new Set(report.findings.map((f) => f.fingerprint)).size).toBe(report.findings.length);
    expect(report.summary).toEqual({ checks: { passed: 7, sampled: 0, failed: 5, skipped: 4, error: 0 }, findings: { error: 18, warning: 2, info: 0 } });
    expect(report.database.name).toBe(db.name);
  });

  it('gives the same fingerprints on a second run', async () => {
    const a = await runCli(['check', '-d', db.url, '--format', 'json']);
    const b = await runCli(['check', '-d', db.url, '--format', 'json', '--jobs', '1']);
    const prints = (s: string) => reportSchema.parse(JSON.parse(s)).findings.map((f) => f.fingerprint);
    expect(prints(a.stdout)).toEqual(prints(b.stdout));
  });

  it('--fail-on sets the threshold: never exits 0, warning still exits 1', async () => {
    expect((await runCli(['check', '-d', db.url, '--fail-on', 'never'])).code).toBe(0);
    expect((await runCli(['check', '-d', db.url, '--fail-on', 'warning', '--check', 'users-without-profiles'])).code).toBe(1);
  });

  it('--check and --skip choose checks; the others are listed as skipped with the reason', async () => {
    const run = await runCli(['check', '-d', db.url, '--check', 'jsonb-int-cast-index', '--check', 'orphan-rows', '--skip', 'orphan-rows', '--format', 'json']);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.checks.map((c) => [c.id, c.status, c.reason])).toEqual([
      ['accepted-values', 'skipped', 'not selected by --check'],
      ['collation-drift', 'skipped', 'not selected by --check'],
      ['disabled-triggers', 'skipped', 'not selected by --check'],
      ['invalid-indexes', 'skipped', 'not selected by --check'],
      ['jsonb-int-cast-index', 'failed', null],
      ['models-without-pricing', 'skipped', 'not selected by --check'],
      ['orphan-rows', 'skipped', 'skipped by --skip'],
      ['placeholder-uuid', 'skipped', 'not selected by --check'],
      ['required-child', 'skipped', 'not selected by --check'],
      ['row-condition', 'skipped', 'not selected by --check'],
      ['sequence-behind-data', 'skipped', 'not selected by --check'],
      ['sequence-headroom', 'skipped', 'not selected by --check'],
      ['undeclared-references', 'skipped', 'not selected by --check'],
      ['unique', 'skipped', 'not selected by --check'],
      ['unvalidated-checks', 'skipped', 'not selected by --check'],
      ['users-without-profiles', 'skipped', 'not selected by --check'],
    ]);
  });

  it('prints a pretty report grouped by check, without colour when not a TTY, and a summary line', async () => {
    const run = await runCli(['check', '-d', db.url]);
    expect(run.code).toBe(1);
    expect(run.stdout).not.toMatch(ANSI);
    for (const check of CHECKS) expect(run.stdout).toContain(check.id);
    for (const id of GENERIC_CHECKS) {
      expect(run.stdout).toMatch(new RegExp(`○ ${id} .* · skipped · \\d+ ms\\n {2}reason: no rules configured: add checks\\.${id}\\.rules to the config file`));
    }
    expect(run.stdout).toMatch(/16 checks: 7 passed, 5 failed, 4 skipped, 0 errored · findings: 16 error, 2 warning, 0 info · \d+ ms\n$/);
    expect(run.stdout).toContain('"Billing Dept"."Invoice Line"');
  });

  it('colours with FORCE_COLOR, and NO_COLOR does not override it', async () => {
    const forced = await runCli(['check', '-d', db.url, '--check', 'users-without-profiles'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(forced.stdout).toMatch(ANSI);
    const plain = await runCli(['check', '-d', db.url, '--check', 'users-without-profiles'], { env: { NO_COLOR: '1' } });
    expect(plain.stdout).not.toMatch(ANSI);
  });

  it('--output writes the report to a file and nothing to stdout', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-out-'));
    const file = path.join(dir, 'report.json');
    const run = await runCli(['check', '-d', db.url, '--format', 'json', '--output', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(reportSchema.parse(JSON.parse(readFileSync(file, 'utf8'))).findings.length).toBeGreaterThan(0);
  });

  it('writes several formats at once with --report, and appends a step summary on GitHub', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-reports-'));
    const summary = path.join(dir, 'summary.md');
    writeFileSync(summary, '# earlier step\n');
    const run = await runCli(
      ['check', '-d', db.url, '--format', 'github', '--report', `junit=${path.join(dir, 'r.xml')}`, '--report', `markdown=${path.join(dir, 'r.md')}`],
      { env: { GITHUB_STEP_SUMMARY: summary } },
    );
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n').filter(Boolean).at(-1)).toMatch(/^::notice title=integrity::16 checks: 7 passed, 5 failed, 4 skipped, 0 errored;/);
    expect(readFileSync(path.join(dir, 'r.xml'), 'utf8')).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="integrity" tests="29" failures="18" errors="0" skipped="4" /);
    expect(readFileSync(path.join(dir, 'r.md'), 'utf8')).toMatch(/^### integrity: 16 error, 2 warning, 0 info/);
    expect(readFileSync(summary, 'utf8')).toMatch(/^# earlier step\n### integrity: 16 error/);
    expect((await runCli(['check', '-d', db.url, '--report', 'xml=out.xml'])).stderr).toMatch(/--report xml=out\.xml: expected FORMAT=PATH with FORMAT one of pretty, json, junit, sarif, github, markdown/);
  });

  it('--samples 0 and samples.exclude keep key values in the database', async () => {
    const none = reportSchema.parse(JSON.parse((await runCli(['check', '-d', db.url, '--samples', '0', '--format', 'json'])).stdout));
    expect(none.findings.every((f) => f.samples.length === 0)).toBe(true);
    expect(none.findings.find((f) => f.checkId === 'orphan-rows')?.count).toBe(2);
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-pii-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), JSON.stringify({ samples: { exclude: ['auth.users', 'public.*.user_id'] } }));
    const some = reportSchema.parse(JSON.parse((await runCli(['check', '-d', db.url, '--format', 'json'], { cwd })).stdout));
    expect(some.findings.filter((f) => f.object.schema === 'auth' || f.object.column === 'user_id').map((f) => f.samples)).toEqual([[], [], []]);
    expect(some.findings.find((f) => f.object.table === 'AssistantChatSession')?.samples).toEqual(['api-user-7f3a', 'api-user-9c21']);
  });

  it('reads DATABASE_URL, then the PG* variables', async () => {
    const viaEnv = await runCli(['check', '--check', 'models-without-pricing', '--format', 'json'], { env: { DATABASE_URL: db.url } });
    expect(JSON.parse(viaEnv.stdout).database.name).toBe(db.name);
    const u = new URL(db.url);
    const viaPg = await runCli(['check', '--check', 'models-without-pricing', '--format', 'json'], {
      env: { PGHOST: u.hostname, PGPORT: u.port || '5432', PGUSER: decodeURIComponent(u.username), PGPASSWORD: decodeURIComponent(u.password), PGDATABASE: db.name, PGSSLMODE: 'disable' },
    });
    expect(viaPg.code).toBe(1);
    expect(JSON.parse(viaPg.stdout).database.name).toBe(db.name);
  });

  it('takes the config file from the working directory by default', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-cwd-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), JSON.stringify({ checks: { 'orphan-rows': { enabled: false } } }));
    const run = await runCli(['check', '-d', db.url, '--format', 'json'], { cwd });
    const orphan = JSON.parse(run.stdout).checks.find((c: { id: string }) => c.id === 'orphan-rows');
    expect(orphan).toMatchObject({ status: 'skipped', reason: 'disabled in the config file (checks.orphan-rows.enabled)' });
  });
});

describe('integrity check on a database without the incidents', () => {
  const db = useDatabase('cli_clean', { sql: ['CREATE TABLE things (id uuid PRIMARY KEY, owner_id uuid);'] });

  it('exits 0 and shows the skipped checks with their reasons in both formats', async () => {
    const pretty = await runCli(['check', '-d', db.url]);
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).toMatch(/○ models-without-pricing.*\n\s+reason: no table named models/);
    expect(pretty.stdout).toMatch(/○ users-without-profiles.*\n\s+reason: no table auth\.users; set checks\.users-without-profiles\.users/);
    const json = await runCli(['check', '-d', db.url, '--format', 'json']);
    expect(json.code).toBe(0);
    const report = reportSchema.parse(JSON.parse(json.stdout));
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['accepted-values', 'skipped'],
      ['collation-drift', 'passed'],
      ['disabled-triggers', 'passed'],
      ['invalid-indexes', 'passed'],
      ['jsonb-int-cast-index', 'passed'],
      ['models-without-pricing', 'skipped'],
      ['orphan-rows', 'passed'],
      ['placeholder-uuid', 'passed'],
      ['required-child', 'skipped'],
      ['row-condition', 'skipped'],
      ['sequence-behind-data', 'passed'],
      ['sequence-headroom', 'passed'],
      ['undeclared-references', 'passed'],
      ['unique', 'skipped'],
      ['unvalidated-checks', 'passed'],
      ['users-without-profiles', 'skipped'],
    ]);
    expect(report.checks.filter((c) => c.status === 'skipped').every((c) => (c.reason ?? '').length > 10)).toBe(true);
    for (const id of GENERIC_CHECKS) {
      expect(report.checks.find((c) => c.id === id)?.reason).toMatch(NO_RULES);
      expect(pretty.stdout).toMatch(new RegExp(`○ ${id}.*\\n\\s+reason: no rules configured`));
    }
  });
});

describe('integrity check when the audit itself fails', () => {
  const db = useDatabase('cli_failures', { incidents: ['000_models_without_pricing.sql'] });
  const role = `integrity_limited_${process.pid}`;
  afterAll(async () => {
    await query(adminUrl(), `DROP OWNED BY ${role}`).catch(() => undefined);
    await query(db.url, `DROP OWNED BY ${role}`).catch(() => undefined);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
  });

  it.each([
    [['check', '--jobs', '0'], /--jobs must be a whole number from 1 to 64/],
    [['check', '--sample', '100'], /--sample must be a percentage above 0 and below 100/],
    [['check', '--sample-percent', '0'], /--sample-percent must be a percentage above 0 and below 100/],
    [['check', '--format', 'xml'], /argument 'xml' is invalid/],
    [['check', '--bogus'], /unknown option '--bogus'/],
    [['check', '--check', 'nope', '-d', 'postgres://x@127.0.0.1:1/x'], /unknown check "nope"; known checks: accepted-values, collation-drift, disabled-triggers, invalid-indexes, jsonb-int-cast-index, models-without-pricing, orphan-rows, placeholder-uuid, required-child, row-condition, sequence-behind-data, sequence-headroom, undeclared-references, unique, unvalidated-checks, users-without-profiles$/],
    [['check', '--config', 'missing.json'], /config file missing.json does not exist/],
    [['check', '-d', 'mysql://x'], /is not a connection string/],
    [['check', '--output', '/nonexistent-dir/x.json', '-d', 'postgres://x@127.0.0.1:1/x'], /directory \/nonexistent-dir does not exist/],
    [['explain', 'nope'], /unknown check "nope"/],
  ])('exits 2 with a one-line error for %j', async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')[0]).toMatch(message);
  });

  it('exits 2 naming the path of a bad config value', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-cfg-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), JSON.stringify({ checks: { 'orphan-rows': { enabled: 'yes' }, nope: {} } }));
    const run = await runCli(['check', '-d', db.url], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/checks\.orphan-rows\.enabled: Invalid input: expected boolean, received string/);
    expect(run.stderr).toMatch(/checks: Unrecognized key: "nope"/);
  });

  it('exits 2 when it cannot connect, and never prints the password', async () => {
    const run = await runCli(['check', '-d', 'postgres://auditor:S3cret-pw@127.0.0.1:1/app', '--connect-timeout', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^integrity: cannot connect to auditor@127\.0\.0\.1:1\/app: .*ECONNREFUSED/);
    expect(run.stderr + run.stdout).not.toContain('S3cret-pw');
  });

  it('exits 2 for an unknown --schema', async () => {
    const run = await runCli(['check', '-d', db.url, '--schema', 'nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/schema nope does not exist/);
  });

  it('exits 2 when a check errors (permission denied), while the other checks still run', async () => {
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'limited-pw'`);
    await query(db.url, `GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON models, model_provider_pricing, providers TO ${role};`);
    const u = new URL(db.url);
    u.username = role;
    u.password = 'limited-pw';
    const run = await runCli(['check', '-d', u.toString(), '--format', 'json']);
    expect(run.code).toBe(2);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['accepted-values', 'skipped'],
      ['collation-drift', 'passed'],
      ['disabled-triggers', 'passed'],
      ['invalid-indexes', 'passed'],
      ['jsonb-int-cast-index', 'passed'],
      ['models-without-pricing', 'failed'],
      ['orphan-rows', 'error'],
      ['placeholder-uuid', 'error'],
      ['required-child', 'skipped'],
      ['row-condition', 'skipped'],
      // the role reads model_provider_pricing but not its bigserial's sequence, nor token_usage_ledger's:
      // where a sequence stands is unknown to it, and both sequence checks say so rather than pass
      ['sequence-behind-data', 'error'],
      ['sequence-headroom', 'error'],
      ['undeclared-references', 'passed'],
      ['unique', 'skipped'],
      ['unvalidated-checks', 'passed'],
      ['users-without-profiles', 'skipped'],
    ]);
    for (const id of GENERIC_CHECKS) expect(report.checks.find((c) => c.id === id)?.reason).toMatch(NO_RULES);
    expect(report.checks.find((c) => c.id === 'placeholder-uuid')?.reason).toMatch(/permission denied for table api_requests .*\[42501\]/);
    expect(run.stderr).toMatch(/check orphan-rows errored: .*permission denied for table token_usage_ledger/);
    for (const id of ['sequence-behind-data', 'sequence-headroom']) {
      const reason = report.checks.find((c) => c.id === id)?.reason ?? '';
      for (const seq of ['model_provider_pricing_id_seq', 'token_usage_ledger_id_seq']) expect(reason).toContain(`GRANT SELECT ON SEQUENCE "public"."${seq}"`);
    }
    expect(run.stdout + run.stderr).not.toContain('limited-pw');
  });

  it('reports a statement timeout as an error with what to do', async () => {
    const run = await runCli(['check', '-d', db.url, '--check', 'placeholder-uuid', '--statement-timeout', '1', '--format', 'json']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/statement timeout.*(--statement-timeout)/);
  });
});

describe('integrity list, explain and --help', () => {
  it('lists every check with its default severity and title', async () => {
    const run = await runCli(['list', '--format', 'json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).map((c: { id: string; severity: string }) => [c.id, c.severity])).toEqual(CHECKS.map((c) => [c.id, c.severity]));
    const pretty = await runCli(['list']);
    for (const c of CHECKS) expect(pretty.stdout).toContain(c.title);
  });

  it('explains a check with every section', async () => {
    const run = await runCli(['explain', 'jsonb-int-cast-index']);
    expect(run.code).toBe(0);
    for (const heading of ['What it finds', 'Why it matters', 'How to fix', 'Instead of', 'Use']) expect(run.stdout).toContain(heading);
    expect(run.stdout).toContain(`((meta->>'creditsPer1kTokens')::numeric)`);
  });

  it.each([['check'], ['list'], ['explain'], ['demo']])('%s --help shows examples', async (command) => {
    const run = await runCli([command, '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Examples:');
  });

  it('check --help covers the local, cron and CI uses and the exit codes', async () => {
    const run = await runCli(['check', '--help']);
    expect(run.stdout).toMatch(/Local/);
    expect(run.stdout).toMatch(/cron/);
    expect(run.stdout).toMatch(/CI/);
    expect(run.stdout).toMatch(/Exit codes: 0/);
    expect(existsSync(incidentConfigFile())).toBe(true);
  });
});
