import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';
import { webhookReceiver } from '../helpers/webhook.js';

/**
 * "No silent pass" under --sample-percent: a check that found nothing in the share it read is
 * `sampled`, and every format says "nothing found in the N% read" for it, never "passed".
 */

const HOME = mkdtempSync(path.join(os.tmpdir(), 'integrity-sampled-home-'));
const REASON = 'nothing found in the 50% read';
const CHECKED = ['--check', 'placeholder-uuid', '--check', 'orphan-rows', '--deep'];

describe('--sample-percent on a clean database', () => {
  const db = useDatabase('nsp_sampled', {
    sql: [
      `CREATE TABLE p (id uuid PRIMARY KEY);
       CREATE TABLE c (id uuid PRIMARY KEY, p_id uuid REFERENCES p);
       INSERT INTO p SELECT gen_random_uuid() FROM generate_series(1, 2000);
       INSERT INTO c SELECT gen_random_uuid(), id FROM p;`,
    ],
  });
  const servers: (() => void)[] = [];
  afterAll(() => servers.forEach((close) => close()));
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['check', '-d', db.url, ...CHECKED, ...args], { env: { HOME, ...env } });

  it('without it, both checks pass (so the sampled runs below can tell)', async () => {
    const r = await run(['--format', 'json']);
    expect(r.code).toBe(0);
    expect(reportSchema.parse(JSON.parse(r.stdout)).checks.filter((c) => c.status !== 'skipped').map((c) => [c.id, c.status])).toEqual([
      ['orphan-rows', 'passed'],
      ['placeholder-uuid', 'passed'],
    ]);
  });

  it('json: status sampled with the reason; not counted as passed; exit 0', async () => {
    const r = await run(['--sample-percent', '50', '--format', 'json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const report = reportSchema.parse(JSON.parse(r.stdout));
    expect(report.checks.filter((c) => c.status !== 'skipped').map((c) => [c.id, c.status, c.reason])).toEqual([
      ['orphan-rows', 'sampled', REASON],
      ['placeholder-uuid', 'sampled', REASON],
    ]);
    expect(report.summary.checks).toMatchObject({ passed: 0, sampled: 2 });
    expect(report.options.samplePercent).toBe(50);
  });

  it('a check that reads no sample (the catalog only) still passes under --sample-percent', async () => {
    const r = await runCli(['check', '-d', db.url, '--check', 'jsonb-int-cast-index', '--check', 'orphan-rows', '--sample-percent', '50', '--format', 'json'], { env: { HOME } });
    const report = reportSchema.parse(JSON.parse(r.stdout));
    expect(report.checks.filter((c) => c.status !== 'skipped').map((c) => [c.id, c.status])).toEqual([
      ['jsonb-int-cast-index', 'passed'],
      ['orphan-rows', 'sampled'],
    ]);
  });

  it('pretty, junit, sarif, markdown, github annotations and the step summary all say it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-sampled-reports-'));
    const summary = path.join(dir, 'summary.md');
    writeFileSync(summary, '');
    const reports = ['junit', 'sarif', 'markdown', 'pretty'].flatMap((f) => ['--report', `${f}=${path.join(dir, `r.${f}`)}`]);
    const r = await run(['--sample-percent', '50', '--format', 'github', ...reports], { GITHUB_STEP_SUMMARY: summary });
    expect(r.code).toBe(0);

    const annotations = r.stdout.split('\n').filter(Boolean);
    expect(annotations).toContain('::notice title=integrity orphan-rows sampled%2C not passed::nothing found in the 50%25 read');
    expect(annotations).toContain('::notice title=integrity placeholder-uuid sampled%2C not passed::nothing found in the 50%25 read');
    expect(annotations.at(-1)).toMatch(/^::notice title=integrity::2 checks: 0 passed, 2 sampled \(nothing found in the share read\), 0 failed, 0 skipped, 0 errored \(14 not selected\);/);

    const pretty = readFileSync(path.join(dir, 'r.pretty'), 'utf8');
    expect(pretty).toMatch(/◐ orphan-rows .*· sampled · \d+ ms\n {2}not a pass: nothing found in the 50% read/);
    expect(pretty).toMatch(/2 checks: 0 passed, 2 sampled \(nothing found in the share read\), 0 failed, 0 skipped, 0 errored \(14 not selected\) ·/);

    const junit = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => n === 'testsuite' || n === 'testcase' }).parse(readFileSync(path.join(dir, 'r.junit'), 'utf8'));
    for (const id of ['orphan-rows', 'placeholder-uuid']) {
      const suite = junit.testsuites.testsuite.find((s: { name: string }) => s.name === id);
      expect([id, suite.tests, suite.skipped, suite.testcase[0].skipped.message]).toEqual([id, '1', '1', REASON]);
    }

    const sarif = JSON.parse(readFileSync(path.join(dir, 'r.sarif'), 'utf8')) as { runs: { invocations: { toolExecutionNotifications: { message: { text: string } }[] }[] }[] };
    expect(sarif.runs[0]?.invocations[0]?.toolExecutionNotifications.map((n) => n.message.text)).toEqual([
      `orphan-rows: ${REASON} (sampled, not passed)`,
      `placeholder-uuid: ${REASON} (sampled, not passed)`,
    ]);

    for (const md of [readFileSync(path.join(dir, 'r.markdown'), 'utf8'), readFileSync(summary, 'utf8')]) {
      expect(md).toContain(`| \`orphan-rows\` | ◐ sampled, not a pass | 0 | ${REASON} |`);
      expect(md).toContain('0 passed, 2 sampled');
    }
  });

  it('the webhook says sampled, not passed, with a line per check', async () => {
    const { url, received, close } = await webhookReceiver();
    servers.push(close);
    expect((await run(['--sample-percent', '50', '--notify-webhook', url, '--notify-on', 'always'])).code).toBe(0);
    expect(received[0]?.status).toBe('sampled');
    const text = String(received[0]?.text).split('\n');
    expect(text).toContain(`• [sampled] orphan-rows: ${REASON}`);
    expect(text).toContain(`• [sampled] placeholder-uuid: ${REASON}`);
  });

  it('--sample still works, with one deprecation line on stderr', async () => {
    const r = await run(['--sample', '50', '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('integrity: warning: --sample is deprecated and will be removed; use --sample-percent\n');
    expect(reportSchema.parse(JSON.parse(r.stdout)).checks.find((c) => c.id === 'placeholder-uuid')).toMatchObject({ status: 'sampled', reason: REASON });
  });

  it('--sample and --sample-percent together, or an out-of-range percentage, are exit 2', async () => {
    expect((await run(['--sample', '50', '--sample-percent', '50'])).stderr).toMatch(/--sample is the old name of --sample-percent: give --sample-percent only/);
    for (const args of [['--sample', '50', '--sample-percent', '50'], ['--sample-percent', '100'], ['--sample-percent', '0']]) {
      expect((await run(args)).code).toBe(2);
    }
  });
});
