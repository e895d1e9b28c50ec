import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { adminUrl, query, useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';
import { webhookReceiver } from '../helpers/webhook.js';

/** The checks every run here selects: what differs between runs is the data, and which of them could run. */
const CHECKS = ['--check', 'orphan-rows', '--check', 'users-without-profiles', '--schema', 'public', '--schema', 'auth'];
/** Wide enough that the lead line is one line, to compare it whole. */
const WIDE = { COLUMNS: '400' };

describe('check --compare: what changed since an earlier run', () => {
  // Orphans per table: c 3 (grows to 5), d 2 (shrinks to 1), e 1 (fixed), g 1 (unchanged), h 0 (one new);
  // k breaks a NOT VALID CHECK (unvalidated-checks); auth.users has a user without a profile.
  const db = useDatabase('compare', {
    sql: [
      `CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
       CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, 9), (3, 9), (4, 9);
       CREATE TABLE d (id int PRIMARY KEY, p_id int); INSERT INTO d VALUES (1, 1), (2, 8), (3, 8);
       CREATE TABLE e (id int PRIMARY KEY, p_id int); INSERT INTO e VALUES (1, 7);
       CREATE TABLE g (id int PRIMARY KEY, p_id int); INSERT INTO g VALUES (1, 6);
       CREATE TABLE h (id int PRIMARY KEY, p_id int); INSERT INTO h VALUES (1, 1);
       ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;
       ALTER TABLE d ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;
       ALTER TABLE e ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;
       ALTER TABLE g ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;
       ALTER TABLE h ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;
       CREATE TABLE k (id int PRIMARY KEY, n int); INSERT INTO k VALUES (1, -1);
       ALTER TABLE k ADD CONSTRAINT k_n_positive CHECK (n > 0) NOT VALID;
       CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY);
       CREATE TABLE public.user_profiles (id uuid PRIMARY KEY);
       INSERT INTO auth.users VALUES ('11111111-1111-1111-1111-111111111111');`,
    ],
  });
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-compare-'));
  const closers: (() => void)[] = [];
  afterAll(() => closers.forEach((c) => c()));
  let since = '';

  const changes = (stdout: string) =>
    reportSchema.parse(JSON.parse(stdout)).findings.map((f) => [f.checkId, f.object.table, f.count, f.change?.status, f.change?.previousCount ?? null]);

  it('marks each finding new, unchanged, grown or shrunk, lists what was fixed, and does not call fixed what it could not recheck', async () => {
    const first = await runCli(['check', '-d', db.url, ...CHECKS, '--check', 'unvalidated-checks', '--format', 'json', '--output', 'prev.json'], { cwd });
    expect(first.code).toBe(1);
    const previous = reportSchema.parse(JSON.parse(readFileSync(path.join(cwd, 'prev.json'), 'utf8')));
    expect(previous.findings.map((f) => [f.checkId, f.object.table, f.count])).toEqual([
      ['orphan-rows', 'c', 3],
      ['orphan-rows', 'd', 2],
      ['orphan-rows', 'e', 1],
      ['orphan-rows', 'g', 1],
      ['unvalidated-checks', 'k', 1],
      ['users-without-profiles', 'users', 1],
      ['users-without-profiles', 'users', null],
    ]);
    since = previous.startedAt.slice(0, 10);

    await query(db.url, `SET session_replication_role = replica; INSERT INTO c VALUES (5, 9), (6, 9); DELETE FROM d WHERE id = 3; DELETE FROM e; INSERT INTO h VALUES (2, 5)`);
    // Without its profile table users-without-profiles is skipped; unvalidated-checks is not selected.
    await query(db.url, 'ALTER TABLE public.user_profiles RENAME TO profiles_elsewhere');

    const json = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'prev.json', '--format', 'json'], { cwd });
    expect([json.code, json.stderr]).toEqual([1, '']);
    expect(changes(json.stdout)).toEqual([
      ['orphan-rows', 'c', 5, 'grown', 3],
      ['orphan-rows', 'd', 1, 'shrunk', 2],
      ['orphan-rows', 'g', 1, 'unchanged', 1],
      ['orphan-rows', 'h', 1, 'new', null],
    ]);
    const comparison = reportSchema.parse(JSON.parse(json.stdout)).comparison;
    expect(comparison).toMatchObject({
      file: 'prev.json',
      previous: { startedAt: previous.startedAt, database: { name: db.name } },
      otherDatabase: false,
      counts: { new: 1, unchanged: 1, grown: 1, shrunk: 1, fixed: 1, notRechecked: 3 },
    });
    expect(comparison?.fixed.map((f) => [f.checkId, f.object.table, f.count])).toEqual([['orphan-rows', 'e', 1]]);
    expect(comparison?.notRechecked.map((f) => [f.checkId, f.object.table, f.count, f.reason])).toEqual([
      ['unvalidated-checks', 'k', 1, 'check unvalidated-checks was not selected'],
      ['users-without-profiles', 'users', 1, 'check users-without-profiles was skipped'],
      ['users-without-profiles', 'users', null, 'check users-without-profiles was skipped'],
    ]);

    const lead = `1 new finding, orphan-rows in public.c.p_id grew from 3 to 5, 1 fixed, orphan-rows in public.d.p_id shrank from 2 to 1 since ${since}; 3 earlier findings not rechecked`;
    const fixedLine = 'fixed: orphan-rows in public.e.p_id (was 1)';
    const notRechecked = 'not counted as fixed, since this run could not have seen them: 3 earlier findings (check unvalidated-checks was not selected; check users-without-profiles was skipped)';

    const pretty = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'prev.json'], { cwd, env: WIDE });
    expect(pretty.code).toBe(1);
    // The header, a blank line, then what changed, before any check.
    expect(pretty.stdout.split('\n').slice(1, 6)).toEqual(['', lead, `  ${fixedLine}`, `  ${notRechecked}`, '']);
    expect(pretty.stdout).toMatch(/│ 5 \(was 3\) │ 5 rows of public\.c /);
    expect(pretty.stdout).toMatch(/│ 1 \(was 2\) │ 1 row of public\.d /);
    expect(pretty.stdout).toMatch(/│ 1 \(new\) {3}│ 1 row of public\.h /);

    const markdown = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'prev.json', '--format', 'markdown'], { cwd });
    const md = (text: string) => text.replace(/_/g, '\\_');
    expect(markdown.stdout.split('\n').slice(1, 7)).toEqual(['', `**${md(lead)}** (compared with prev.json)`, '', `- ${md(fixedLine)}`, `- ${md(notRechecked)}`, '']);
    expect(markdown.stdout).toContain('| 5 (was 3) |');

    const github = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'prev.json', '--format', 'github'], { cwd });
    expect(github.stdout.split('\n')[0]).toBe(`::notice title=integrity%3A what changed::${lead}%0A${fixedLine}%0A${notRechecked}`);
    // The closing notice's count is of findings no baseline accepts: not "new", which the lead counts.
    expect(github.stdout.trimEnd().split('\n').at(-1)).toMatch(/; findings: 4 error, 0 warning, 0 info; 4 unaccepted, 0 accepted \(baseline or ignore\)$/);
  });

  it('--fail-on-new: exit 1 on a new or grown finding, 0 when findings are only unchanged or shrunk, by --fail-on', async () => {
    expect((await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'prev.json', '--fail-on-new', '--quiet'], { cwd })).code).toBe(1);

    await runCli(['check', '-d', db.url, ...CHECKS, '--format', 'json', '--output', 'now.json'], { cwd });
    await query(db.url, `DELETE FROM c WHERE id = 6`);
    const shrunk = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'now.json', '--fail-on-new', '--format', 'json'], { cwd });
    expect(shrunk.code).toBe(0);
    expect(changes(shrunk.stdout)).toEqual([
      ['orphan-rows', 'c', 4, 'shrunk', 5],
      ['orphan-rows', 'd', 1, 'unchanged', 1],
      ['orphan-rows', 'g', 1, 'unchanged', 1],
      ['orphan-rows', 'h', 1, 'unchanged', 1],
    ]);
    // The same findings fail a run without --fail-on-new: they are errors.
    expect((await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'now.json', '--quiet'], { cwd })).code).toBe(1);

    // Back come the profiles (the user has one now): the check runs again, and its warning is new, though
    // now.json could not have had it, its check being skipped then.
    await query(db.url, `ALTER TABLE public.profiles_elsewhere RENAME TO user_profiles; INSERT INTO public.user_profiles VALUES ('11111111-1111-1111-1111-111111111111')`);
    const warning = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'now.json', '--fail-on-new', '--format', 'json'], { cwd });
    expect(warning.code).toBe(0);
    const report = reportSchema.parse(JSON.parse(warning.stdout));
    expect(report.findings.filter((f) => f.change?.status === 'new').map((f) => [f.checkId, f.severity, f.change])).toEqual([
      ['users-without-profiles', 'warning', { status: 'new', uncheckedBefore: true }],
    ]);
    expect((await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'now.json', '--fail-on-new', '--fail-on', 'warning', '--quiet'], { cwd })).code).toBe(1);
    const pretty = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'now.json', '--fail-on-new', '--fail-on', 'warning'], { cwd, env: WIDE });
    expect(pretty.stdout.split('\n')[2]).toBe(`1 new finding (1 not looked for then), orphan-rows in public.c.p_id shrank from 5 to 4 since ${since}`);
  });

  it('works with --baseline: a baselined finding is still marked, and does not fail --fail-on-new', async () => {
    await runCli(['baseline', '-d', db.url, ...CHECKS, '--output', 'base.json'], { cwd });
    await query(db.url, `SET session_replication_role = replica; INSERT INTO g VALUES (2, 6)`);
    const run = await runCli(['check', '-d', db.url, ...CHECKS, '--baseline', 'base.json', '--compare', 'now.json', '--fail-on-new', '--format', 'json'], { cwd });
    const report = reportSchema.parse(JSON.parse(run.stdout));
    // g grew past the baseline: not accepted, and grown since now.json, so the run fails.
    expect(report.findings.map((f) => [f.object.table, f.baselined ?? false, f.change?.status])).toEqual([
      ['c', true, 'shrunk'],
      ['d', true, 'unchanged'],
      ['g', false, 'grown'],
      ['h', true, 'unchanged'],
      ['users', true, 'new'],
    ]);
    expect(run.code).toBe(1);
    await query(db.url, `DELETE FROM g WHERE id = 2`);
    const accepted = await runCli(['check', '-d', db.url, ...CHECKS, '--baseline', 'base.json', '--compare', 'now.json', '--fail-on-new', '--fail-on', 'info', '--quiet'], { cwd });
    expect(accepted.code).toBe(0);
  });

  it('says in one line that the earlier report is of another database, and still compares', async () => {
    const other = JSON.parse(readFileSync(path.join(cwd, 'now.json'), 'utf8')) as { database: { name: string; systemIdentifier: string | null } };
    const ownId = other.database.systemIdentifier;
    other.database = { name: 'elsewhere', systemIdentifier: '42' };
    writeFileSync(path.join(cwd, 'other.json'), JSON.stringify(other));
    const run = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'other.json', '--format', 'json'], { cwd });
    expect(run.stderr).toBe(
      `integrity: warning: --compare other.json is a report of database elsewhere (system 42), not of ${db.name}${ownId ? ` (system ${ownId})` : ''}: what it calls new or fixed may mean nothing\n`,
    );
    expect(reportSchema.parse(JSON.parse(run.stdout)).comparison?.otherDatabase).toBe(true);
  });

  it('a file that is not a JSON report, a missing one, and --fail-on-new alone are one-line usage errors (exit 2)', async () => {
    writeFileSync(path.join(cwd, 'bad.json'), '{"findings": 3}');
    writeFileSync(path.join(cwd, 'broken.json'), '{"tool": "integrity",');
    const cases: [string[], string][] = [
      [['--compare', 'bad.json'], 'integrity: --compare bad.json is not an integrity JSON report (tool: Invalid input: expected "integrity"); write one with integrity check --format json --output bad.json\n'],
      [['--compare', 'broken.json'], 'integrity: --compare broken.json is not valid JSON, so not an integrity JSON report; write one with integrity check --format json --output broken.json\n'],
      [['--compare', 'base.json'], 'integrity: --compare base.json is a baseline, not a JSON report (pass it to --baseline); write one with integrity check --format json --output base.json\n'],
      [['--compare', 'missing.json'], 'integrity: --compare missing.json does not exist; write one with integrity check --format json --output missing.json\n'],
      [['--fail-on-new'], 'integrity: --fail-on-new needs --compare PREVIOUS.json (a report of an earlier run, from --format json)\n'],
    ];
    for (const [args, stderr] of cases) {
      const run = await runCli(['check', '-d', db.url, ...CHECKS, ...args], { cwd });
      expect([args, run.code, run.stderr, run.stdout]).toEqual([args, 2, stderr, '']);
    }
  });

  it('a check that errors now has fixed nothing: its earlier findings are not rechecked', async () => {
    const role = `integrity_cmp_${process.pid}`;
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'cmp-pw'`);
    try {
      await query(db.url, `GRANT USAGE ON SCHEMA public, auth TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public, auth TO ${role}; REVOKE SELECT ON public.k FROM ${role}`);
      const url = new URL(db.url);
      url.username = role;
      url.password = 'cmp-pw';
      const run = await runCli(['check', '-d', url.toString(), ...CHECKS, '--check', 'unvalidated-checks', '--compare', 'prev.json', '--format', 'json'], { cwd });
      expect(run.code).toBe(2);
      const report = reportSchema.parse(JSON.parse(run.stdout));
      expect(report.checks.find((c) => c.id === 'unvalidated-checks')?.status).toBe('error');
      expect(report.comparison?.notRechecked.map((f) => [f.checkId, f.reason])).toEqual([['unvalidated-checks', 'check unvalidated-checks errored']]);
      expect(report.comparison?.fixed.map((f) => [f.checkId, f.object.table])).toEqual([
        ['orphan-rows', 'e'],
        ['users-without-profiles', 'users'],
      ]);
    } finally {
      await query(db.url, `DROP OWNED BY ${role}`);
      await query(adminUrl(), `DROP ROLE ${role}`);
    }
  });

  it('the webhook leads with what changed and carries the comparison', async () => {
    const { url, received, close } = await webhookReceiver();
    closers.push(close);
    const run = await runCli(['check', '-d', db.url, ...CHECKS, '--compare', 'now.json', '--fail-on-new', '--notify-webhook', url, '--notify-on', 'always'], { cwd });
    expect(run.code).toBe(0);
    expect(received).toHaveLength(1);
    expect(String(received[0]?.text).split('\n').slice(0, 2)).toEqual([
      `1 new finding (1 not looked for then), orphan-rows in public.c.p_id shrank from 5 to 4 since ${since}`,
      `integrity passed on ${db.name}: 5 unaccepted finding(s) (4 error, 1 warning, 0 info in all); checks 2 failed, 0 errored`,
    ]);
    expect(received[0]?.comparison).toMatchObject({ file: 'now.json', counts: { new: 1, unchanged: 3, grown: 0, shrunk: 1, fixed: 0, notRechecked: 0 } });
  });
});
