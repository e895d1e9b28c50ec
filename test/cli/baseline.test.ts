import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { query, useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';

describe('baselines: a gate that fails only on what is new', () => {
  const db = useDatabase('baseline', {
    sql: [
      `CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
       CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, 9);
       ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;
       CREATE TABLE d (id int PRIMARY KEY, p_id int); INSERT INTO d VALUES (1, 1);
       ALTER TABLE d ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;`,
    ],
  });

  it('round trip: baselined passes, a grown count fails, a new finding fails, a fixed one is stale and can be pruned', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-baseline-'));
    const written = await runCli(['baseline', '-d', db.url, '--output', 'base.json'], { cwd });
    expect(written).toMatchObject({ code: 0, stdout: 'wrote 1 finding(s) to base.json\n' });

    const same = await runCli(['check', '-d', db.url, '--baseline', 'base.json', '--format', 'json'], { cwd });
    expect(same.code).toBe(0);
    const report = reportSchema.parse(JSON.parse(same.stdout));
    expect(report.findings.map((f) => [f.object.table, f.baselined])).toEqual([['c', true]]);
    expect(report.baseline).toMatchObject({ file: 'base.json', accepted: 1, stale: [] });

    await query(db.url, 'SET session_replication_role = replica; INSERT INTO c VALUES (3, 8)');
    const grown = await runCli(['check', '-d', db.url, '--baseline', 'base.json', '--format', 'json'], { cwd });
    expect(grown.code).toBe(1);
    expect(JSON.parse(grown.stdout).findings[0].baselined).toBeUndefined();

    await query(db.url, 'DELETE FROM c WHERE id IN (2, 3); SET session_replication_role = replica; INSERT INTO d VALUES (2, 7)');
    const moved = await runCli(['check', '-d', db.url, '--baseline', 'base.json', '--format', 'json'], { cwd });
    expect(moved.code).toBe(1);
    const movedReport = reportSchema.parse(JSON.parse(moved.stdout));
    expect(movedReport.baseline?.stale.map((e) => e.object.table)).toEqual(['c']);
    const pretty = await runCli(['check', '-d', db.url, '--baseline', 'base.json'], { cwd });
    expect(pretty.stdout).toContain('baseline base.json: 1 entry no longer occurs; shrink it with --prune-baseline');

    await runCli(['check', '-d', db.url, '--baseline', 'base.json', '--prune-baseline'], { cwd });
    expect(JSON.parse(readFileSync(path.join(cwd, 'base.json'), 'utf8')).findings).toEqual([]);
  });

  it('keeps the entries of checks and schemas the run did not cover when pruning', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-baseline-scope-'));
    await query(db.url, 'SET session_replication_role = replica; INSERT INTO c VALUES (5, 55)');
    await runCli(['baseline', '-d', db.url, '--output', 'base.json'], { cwd });
    const entries = () => JSON.parse(readFileSync(path.join(cwd, 'base.json'), 'utf8')).findings.length as number;
    const before = entries();
    expect(before).toBeGreaterThan(0);
    const run = await runCli(['check', '-d', db.url, '--check', 'placeholder-uuid', '--baseline', 'base.json', '--prune-baseline', '--format', 'json'], { cwd });
    expect(JSON.parse(run.stdout).baseline.stale).toEqual([]);
    expect(entries()).toBe(before);
  });

  it('rejects a file that is not a baseline, and --prune-baseline without --baseline', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-baseline-bad-'));
    writeFileSync(path.join(cwd, 'bad.json'), '{"findings": 3}');
    const bad = await runCli(['check', '-d', db.url, '--baseline', 'bad.json'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^integrity: baseline bad\.json is not an integrity baseline/);
    expect((await runCli(['check', '-d', db.url, '--prune-baseline'], { cwd })).stderr).toMatch(/--prune-baseline needs --baseline FILE/);
  });
});

describe('ignores in the config', () => {
  const db = useDatabase('ignores', {
    sql: [
      `CREATE TABLE p (id int PRIMARY KEY);
       CREATE TABLE legacy_c (id int PRIMARY KEY, p_id int); INSERT INTO legacy_c VALUES (1, 9);
       ALTER TABLE legacy_c ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;`,
    ],
  });

  async function withConfig(config: unknown) {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-ignore-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), JSON.stringify(config));
    return runCli(['check', '-d', db.url, '--check', 'orphan-rows', '--format', 'json'], { cwd });
  }

  it('an ignore with a reason accepts the finding, by glob on schema.table[.column]', async () => {
    const run = await withConfig({ ignore: [{ check: 'orphan-rows', object: 'public.legacy_*.p_id', reason: 'legacy import, cleaned up in Q1' }] });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).findings[0].ignored).toEqual({ reason: 'legacy import, cleaned up in Q1', until: null });
  });

  it('an ignore without a reason is a config error', async () => {
    const run = await withConfig({ ignore: [{ check: 'orphan-rows', object: 'public.*', reason: ' ' }] });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ignore\.0\.reason: an ignore needs a reason/);
  });

  it('an ignore naming an unknown check is a config error', async () => {
    const run = await withConfig({ ignore: [{ check: 'orphan-row', object: 'public.*', reason: 'typo' }] });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ignore\.0\.check: unknown check; known checks: accepted-values, collation-drift, disabled-triggers, invalid-indexes, jsonb-int-cast-index, models-without-pricing, orphan-rows, placeholder-uuid, required-child, row-condition, sequence-behind-data, sequence-headroom, undeclared-references, unique, unvalidated-checks, users-without-profiles$/m);
  });

  it('an expired ignore stops applying and is reported as expired', async () => {
    const run = await withConfig({ ignore: [{ check: 'orphan-rows', object: 'public.legacy_c', reason: 'until the migration', until: '2020-01-01' }] });
    expect(run.code).toBe(1);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.findings[0]?.ignored).toBeUndefined();
    expect(report.expiredIgnores).toEqual([{ check: 'orphan-rows', object: 'public.legacy_c', reason: 'until the migration', until: '2020-01-01' }]);
    expect(run.stderr).toContain('ignore for orphan-rows on public.legacy_c expired on 2020-01-01 and no longer applies');
  });
});
