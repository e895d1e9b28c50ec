import os from 'node:os';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { AuditReport } from '../../src/findings.js';
import { useDatabase } from '../helpers/db.js';

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 200, write: (c: string) => chunks.push(c) }, text: () => chunks.join('') };
}

/** The last `done/total checks` the progress line drew. */
function lastProgress(stderr: string): string | undefined {
  return [...stderr.matchAll(/(\d+\/\d+) checks/g)].at(-1)?.[1];
}

describe('the progress line and the summary count the same checks', () => {
  const db = useDatabase('progress_summary', { incidents: ['000_models_without_pricing.sql', '004_supabase_profiles.sql'] });
  const cwd = () => mkdtempSync(path.join(os.tmpdir(), 'integrity-progress-summary-'));

  it('with --check: 3/3 on the progress line, "3 checks: ..." in the summary, the 13 others "not selected"', async () => {
    const out = capture(false);
    const err = capture(true);
    const args = ['check', '-d', db.url, '--jobs', '1', '--check', 'models-without-pricing', '--check', 'users-without-profiles', '--check', 'unique'];
    const code = await main(args, { stdout: out.stream, stderr: err.stream, env: {}, cwd: cwd() });
    expect(code).toBe(1);
    expect(lastProgress(err.text())).toBe('3/3');
    // `unique` has no rules in an empty config: it ran and skipped itself, which is not "not selected".
    expect(out.text()).toMatch(/\n3 checks: 0 passed, 2 failed, 1 skipped, 0 errored \(13 not selected\) · findings: /);
  });

  it('--skip and enabled: false are not selected either; the JSON marks them, keeping summary.checks as it was', async () => {
    const out = capture(false);
    const err = capture(true);
    const dir = cwd();
    writeFileSync(path.join(dir, 'integrity.config.json'), JSON.stringify({ checks: { unique: { enabled: false } } }));
    const args = ['check', '-d', db.url, '--jobs', '1', '--format', 'json', '--skip', 'row-condition'];
    const code = await main(args, { stdout: out.stream, stderr: err.stream, env: {}, cwd: dir });
    expect(code).toBe(1);
    const report = JSON.parse(out.text()) as AuditReport;
    expect(report.checks.filter((c) => c.selected === false).map((c) => [c.id, c.status, c.reason])).toEqual([
      ['row-condition', 'skipped', 'skipped by --skip'],
      ['unique', 'skipped', 'disabled in the config file (checks.unique.enabled)'],
    ]);
    // Only the left-out checks carry the field.
    expect(report.checks.filter((c) => 'selected' in c)).toHaveLength(2);
    expect(lastProgress(err.text())).toBe(`${report.checks.length - 2}/${report.checks.length - 2}`);
    expect(report.summary.checks.skipped).toBeGreaterThanOrEqual(2);
  });

  it('with every check selected the summary reads as before, with no "not selected"', async () => {
    const out = capture(false);
    const err = capture(true);
    await main(['check', '-d', db.url, '--jobs', '1'], { stdout: out.stream, stderr: err.stream, env: {}, cwd: cwd() });
    const summary = out.text().trim().split('\n').at(-1) ?? '';
    const total = Number(/^(\d+) checks: /.exec(summary)?.[1]);
    expect(lastProgress(err.text())).toBe(`${total}/${total}`);
    expect(total).toBe(16);
    expect(summary).not.toContain('not selected');
  });
});
