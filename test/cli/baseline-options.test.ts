import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import type { AuditReport, CheckResult, Finding } from '../../src/findings.js';
import { withAcceptedFailures } from '../../src/report/suppress.js';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const ALL_CHECKS = CHECKS.map((c) => c.id).sort();

describe('a baseline records what its audit could see, and check --baseline warns when it sees more', () => {
  // The foreign key is valid, so only --deep reads it; the orphan was written with the triggers off.
  const db = useDatabase('baseline_options', {
    sql: [
      `CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
       CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p); INSERT INTO c VALUES (1, 1);
       SET session_replication_role = replica; INSERT INTO c VALUES (2, 9); SET session_replication_role = origin;
       CREATE SCHEMA other; CREATE TABLE other.t (id int PRIMARY KEY);`,
    ],
  });
  const scratch = () => mkdtempSync(path.join(os.tmpdir(), 'integrity-baseline-options-'));
  const recorded = (cwd: string, file = 'base.json') => JSON.parse(readFileSync(path.join(cwd, file), 'utf8'));

  it('records deep, amcheck, the sample share, the schemas covered and the checks run', async () => {
    const cwd = scratch();
    expect(await runCli(['baseline', '-d', db.url, '--output', 'base.json'], { cwd })).toMatchObject({ code: 0, stdout: 'wrote 0 finding(s) to base.json\n' });
    expect(recorded(cwd).auditedWith).toEqual({ deep: false, amcheck: false, samplePercent: null, schemas: ['other', 'public'], checks: ALL_CHECKS });
    await runCli(['baseline', '-d', db.url, '--deep', '--schema', 'public', '--check', 'orphan-rows', '--sample-percent', '50', '--output', 'narrow.json'], { cwd });
    expect(recorded(cwd, 'narrow.json').auditedWith).toEqual({ deep: true, amcheck: false, samplePercent: 50, schemas: ['public'], checks: ['orphan-rows'] });
  });

  it('--deep against a baseline recorded without it: one warning line saying what to run; the --deep finding fails the run', async () => {
    const cwd = scratch();
    await runCli(['baseline', '-d', db.url, '--output', 'base.json'], { cwd });
    const run = await runCli(['check', '-d', db.url, '--deep', '--baseline', 'base.json', '--format', 'json'], { cwd });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).findings.map((f: Finding) => [f.checkId, f.object.table, f.baselined ?? false])).toEqual([['orphan-rows', 'c', false]]);
    expect(run.stderr).toBe(
      'integrity: warning: baseline base.json was recorded without --deep, so this run can fail on findings it never saw; to record one that matches, run integrity baseline --deep --output base.json (with this run\'s connection)\n',
    );
    // Recorded as the warning says, the same gate passes.
    await runCli(['baseline', '-d', db.url, '--deep', '--output', 'base.json'], { cwd });
    const again = await runCli(['check', '-d', db.url, '--deep', '--baseline', 'base.json', '--format', 'json'], { cwd });
    expect([again.code, again.stderr]).toEqual([0, '']);
  });

  it('a run that sees no more than the baseline saw (no --deep, fewer checks or schemas) is not warned about', async () => {
    const cwd = scratch();
    await runCli(['baseline', '-d', db.url, '--deep', '--output', 'base.json'], { cwd });
    for (const args of [[], ['--check', 'orphan-rows'], ['--schema', 'public'], ['--deep', '--skip', 'unique']]) {
      const run = await runCli(['check', '-d', db.url, '--baseline', 'base.json', '--format', 'json', ...args], { cwd });
      expect([args, run.stderr]).toEqual([args, '']);
    }
  });

  it('a run without --deep against a --deep baseline calls no entry stale, and --prune-baseline keeps them; so does a sampled run', async () => {
    const cwd = scratch();
    await runCli(['baseline', '-d', db.url, '--deep', '--output', 'base.json'], { cwd });
    expect(recorded(cwd).findings.map((e: { object: { table: string } }) => e.object.table)).toEqual(['c']);
    for (const args of [[], ['--deep', '--sample-percent', '50']]) {
      const run = await runCli(['check', '-d', db.url, '--baseline', 'base.json', '--prune-baseline', '--format', 'json', ...args], { cwd });
      expect(JSON.parse(run.stdout).baseline.stale).toEqual([]);
      expect(recorded(cwd).findings).toHaveLength(1);
    }
  });

  it('another sample share, another schema, another check: each named, with the command of this run', async () => {
    const cwd = scratch();
    await runCli(['baseline', '-d', db.url, '--schema', 'public', '--check', 'orphan-rows', '--output', 'base.json'], { cwd });
    const run = await runCli(['check', '-d', db.url, '--baseline', 'base.json', '--check', 'orphan-rows', '--check', 'unique', '--sample-percent', '50', '--format', 'json'], { cwd });
    expect(run.stderr.split('\n').filter(Boolean)).toEqual([
      "integrity: warning: baseline base.json was recorded reading whole tables, without schema other, without check unique, so this run can fail on findings it never saw; to record one that matches, run integrity baseline --check orphan-rows --check unique --sample-percent 50 --output base.json (with this run's connection)",
    ]);
  });

  it('a baseline written before the options were recorded is read as before, without a warning', async () => {
    const cwd = scratch();
    writeFileSync(path.join(cwd, 'old.json'), JSON.stringify({ tool: 'integrity', formatVersion: 1, createdAt: '2026-01-01T00:00:00.000Z', findings: [] }));
    const run = await runCli(['check', '-d', db.url, '--deep', '--baseline', 'old.json', '--format', 'json'], { cwd });
    expect([run.code, run.stderr]).toEqual([1, '']);
  });

  it('with every finding baselined the summary says "1 failed, all accepted" (pretty, markdown, github) and the run exits 0', async () => {
    const cwd = scratch();
    await runCli(['baseline', '-d', db.url, '--deep', '--output', 'base.json'], { cwd });
    const pretty = await runCli(['check', '-d', db.url, '--deep', '--baseline', 'base.json'], { cwd });
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).toMatch(/\d+ checks: \d+ passed, 1 failed, all accepted, \d+ skipped, 0 errored/);
    const markdown = await runCli(['check', '-d', db.url, '--deep', '--baseline', 'base.json', '--format', 'markdown'], { cwd });
    expect(markdown.stdout).toContain('1 failed, all accepted,');
    const github = await runCli(['check', '-d', db.url, '--deep', '--baseline', 'base.json', '--format', 'github'], { cwd });
    expect(github.stdout.trimEnd().split('\n').at(-1)).toMatch(/^::notice title=integrity::\d+ checks: .*1 failed, all accepted, .*; 0 new, 1 accepted \(baseline or ignore\)$/);
  });
});

describe('withAcceptedFailures', () => {
  const check = (id: string, status: CheckResult['status']): CheckResult => ({ id, title: id, severity: 'error', status, reason: null, note: null, durationMs: 1, findings: 1 });
  const finding = (checkId: string, accepted: Partial<Finding>): Finding => ({
    checkId,
    severity: 'error',
    message: 'm',
    object: { schema: 'public', table: checkId },
    count: 1,
    samples: [],
    fingerprint: '0123456789abcdef',
    fix: null,
    ...accepted,
  });
  const counts = '3 checks: 0 passed, 3 failed, 0 skipped, 0 errored';
  const report = (findings: Finding[]): Pick<AuditReport, 'checks' | 'findings'> => ({ checks: ['a', 'b', 'c'].map((id) => check(id, 'failed')), findings });

  it('says all accepted only when every failed check has only accepted findings; else how many', () => {
    const ignored = { ignored: { reason: 'legacy', until: null } };
    expect(withAcceptedFailures(counts, report([finding('a', { baselined: true }), finding('b', ignored), finding('c', { baselined: true })]))).toBe(
      '3 checks: 0 passed, 3 failed, all accepted, 0 skipped, 0 errored',
    );
    expect(withAcceptedFailures(counts, report([finding('a', { baselined: true }), finding('b', {}), finding('c', { baselined: true }), finding('c', {})]))).toBe(
      '3 checks: 0 passed, 3 failed (1 with only accepted findings), 0 skipped, 0 errored',
    );
    expect(withAcceptedFailures(counts, report([finding('a', {}), finding('b', {}), finding('c', {})]))).toBe(counts);
  });
});
