import { describe, expect, it } from 'vitest';
import { query, useDatabase } from '../helpers/db.js';
import { cli, repository } from '../preflight/helpers.js';
import type { AuditReport } from '../../src/findings.js';

// A SQL check that reports the work_mem its connection runs with, as a row.
const CONFIG = JSON.stringify({
  sqlChecks: [
    {
      id: 'test/work-mem',
      title: 'shows work_mem',
      object: 'public.t',
      key: 'v',
      query: "SELECT pg_catalog.current_setting('work_mem') AS v, pg_catalog.current_setting('hash_mem_multiplier') AS m",
    },
  ],
});

describe('--work-mem: each audit connection gets its share as work_mem', () => {
  const db = useDatabase('cli_work_mem', { sql: ['CREATE TABLE t (v text PRIMARY KEY)'] });

  async function workMem(args: string[]): Promise<string | undefined> {
    const run = await cli(['check', '-d', db.url, '--check', 'test/work-mem', '--format', 'json', '--fail-on', 'never', ...args], repository({ 'integrity.config.json': CONFIG }));
    expect(run.code, run.stderr).toBe(0);
    return (JSON.parse(run.stdout) as AuditReport).findings[0]?.samples[0];
  }

  /** work_mem as the server shows it: the largest unit that divides it. */
  const shown = (kb: number) => (kb % (1024 * 1024) === 0 ? `${kb / 1024 / 1024}GB` : kb % 1024 === 0 ? `${kb / 1024}MB` : `${kb}kB`);

  it('the default, 512 MB, shared by 4 connections, each with its parallel workers, and divided by hash_mem_multiplier; --work-mem and --jobs change it', async () => {
    const [server] = await query<{ w: string; m: string }>(db.url, "SELECT current_setting('max_parallel_workers_per_gather') AS w, current_setting('hash_mem_multiplier') AS m");
    const processes = 1 + Number(server?.w);
    const multiplier = Number(server?.m);
    const share = (totalKb: number, jobs: number) => shown(Math.max(4096, Math.floor(totalKb / (jobs * processes) / multiplier)));
    expect(await workMem([])).toBe(share(512 * 1024, 4));
    expect(await workMem(['--work-mem', '4GB', '--jobs', '2'])).toBe(share(4 * 1024 * 1024, 2));
    expect(await workMem(['--work-mem', '192MB', '--jobs', '1'])).toBe(share(192 * 1024, 1));
    // With the server's defaults (2 workers per gather, hash_mem_multiplier 2): 512 MB / (4 x 3) / 2.
    if (processes === 3 && multiplier === 2) expect(await workMem([])).toBe('21845kB');
  });

  it('never below the server\'s own work_mem; a size that is not one is exit 2', async () => {
    expect(await workMem(['--work-mem', '1MB', '--jobs', '4'])).toBe('4MB');
    const bad = await cli(['check', '-d', db.url, '--work-mem', 'lots'], repository({}));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--work-mem must be a size from 1MB to 64GB, e.g. 256MB or 1GB/);
  });
});
