import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';
import { webhookReceiver } from '../helpers/webhook.js';

/**
 * "No silent pass": an audit that covered no table, or ran no check, proves nothing. It says so in one
 * line and exits 2, unless --allow-empty says that is expected. Against the real PostgreSQL.
 */

const HOME = mkdtempSync(path.join(os.tmpdir(), 'integrity-empty-home-'));
const run = (args: string[], cwd?: string) => runCli(args, { env: { HOME }, ...(cwd ? { cwd } : {}) });
const EMPTY_LINE = /^integrity: nothing was audited: /;

function emptyLines(r: CliRun): string[] {
  return r.stderr.split('\n').filter((l) => EMPTY_LINE.test(l));
}

describe('an empty database', () => {
  const empty = useDatabase('nsp_empty');
  const full = useDatabase('nsp_full', { sql: ['CREATE SCHEMA other; CREATE TABLE t (id int PRIMARY KEY);'] });

  it('check: exit 2 with one line, in every format; the report still says what ran', async () => {
    for (const format of ['pretty', 'json', 'junit', 'sarif', 'github', 'markdown']) {
      const r = await run(['check', '-d', empty.url, '--format', format]);
      expect([format, r.code]).toEqual([format, 2]);
      expect(r.stderr.split('\n').filter(Boolean)).toEqual([
        'integrity: nothing was audited: schema public holds no table (wrong database or --schema?); pass --allow-empty if that is expected',
      ]);
      if (format === 'json') expect(reportSchema.parse(JSON.parse(r.stdout)).scope).toEqual({ tables: 0, partitions: 0 });
    }
  });

  it('check --allow-empty: exit 0, nothing on stderr', async () => {
    const r = await run(['check', '-d', empty.url, '--allow-empty']);
    expect([r.code, r.stderr]).toEqual([0, '']);
  });

  it('a database with a table exits 0 (so the empty case above can tell)', async () => {
    const r = await run(['check', '-d', full.url]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  });

  it('--schema naming a schema without tables is nothing audited', async () => {
    const r = await run(['check', '-d', full.url, '--schema', 'other']);
    expect(r.code).toBe(2);
    expect(emptyLines(r)).toEqual(['integrity: nothing was audited: schema other holds no table (wrong database or --schema?); pass --allow-empty if that is expected']);
  });

  it('fix, fix --verify and fix --apply: exit 2 unless --allow-empty', async () => {
    for (const extra of [[], ['--verify'], ['--apply', '--yes']]) {
      const r = await run(['fix', '-d', empty.url, ...extra]);
      expect([extra.join(' '), r.code, emptyLines(r).length]).toEqual([extra.join(' '), 2, 1]);
      const allowed = await run(['fix', '-d', empty.url, ...extra, '--allow-empty']);
      expect([extra.join(' '), allowed.code, emptyLines(allowed).length]).toEqual([extra.join(' '), 0, 0]);
    }
  });

  it('baseline: exit 2 and no file, unless --allow-empty', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-empty-baseline-'));
    const r = await run(['baseline', '-d', empty.url, '--output', 'b.json'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      'integrity: nothing was audited: schema public holds no table (wrong database or --schema?); pass --allow-empty if that is expected; no baseline was written',
    ]);
    expect(existsSync(path.join(cwd, 'b.json'))).toBe(false);
    const allowed = await run(['baseline', '-d', empty.url, '--output', 'b.json', '--allow-empty'], cwd);
    expect(allowed.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(cwd, 'b.json'), 'utf8')).findings).toEqual([]);
  });
});

describe('every check skipped or deselected', () => {
  const db = useDatabase('nsp_skipped', { sql: ['CREATE TABLE t (id int PRIMARY KEY);'] });

  it('a selected check that skips itself (no models table): exit 2, and 0 with --allow-empty', async () => {
    const r = await run(['check', '-d', db.url, '--check', 'models-without-pricing', '--format', 'json']);
    expect(r.code).toBe(2);
    expect(reportSchema.parse(JSON.parse(r.stdout)).checks.every((c) => c.status === 'skipped')).toBe(true);
    expect(emptyLines(r)).toEqual([
      `integrity: nothing was audited: no check ran (all ${CHECKS.length} were skipped or deselected, see their reasons); pass --allow-empty if that is expected`,
    ]);
    expect((await run(['check', '-d', db.url, '--check', 'models-without-pricing', '--allow-empty'])).code).toBe(0);
  });

  it('every check disabled in the config, or skipped with --skip', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-all-disabled-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), JSON.stringify({ checks: Object.fromEntries(CHECKS.map((c) => [c.id, { enabled: false }])) }));
    expect((await run(['check', '-d', db.url], cwd)).code).toBe(2);
    expect((await run(['check', '-d', db.url, ...CHECKS.flatMap((c) => ['--skip', c.id])])).code).toBe(2);
    expect((await run(['check', '-d', db.url, ...CHECKS.flatMap((c) => ['--skip', c.id]), '--allow-empty'])).code).toBe(0);
  });

  it('one check that ran is enough', async () => {
    expect((await run(['check', '-d', db.url, '--check', 'orphan-rows'])).code).toBe(0);
  });
});

describe('the nightly alert hears about an empty audit', () => {
  const empty = useDatabase('nsp_empty_notify');
  const servers: (() => void)[] = [];
  afterAll(() => servers.forEach((close) => close()));

  it('posts status error with the reason', async () => {
    const { url, received, close } = await webhookReceiver();
    servers.push(close);
    const r = await run(['check', '-d', empty.url, '--notify-webhook', url]);
    expect(r.code).toBe(2);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ status: 'error', exitCode: 2 });
    expect(String(received[0]?.text).split('\n')[1]).toMatch(/^• nothing was audited: schema public holds no table/);
  });
});
