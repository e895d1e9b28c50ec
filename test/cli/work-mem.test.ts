import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
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

  it('the default, 256 MB, shared by 4 connections with hash_mem_multiplier 2 (PostgreSQL 15+): 32 MB each; --work-mem and --jobs change it', async () => {
    expect(await workMem([])).toBe('32MB');
    expect(await workMem(['--work-mem', '1GB', '--jobs', '2'])).toBe('256MB');
    expect(await workMem(['--work-mem', '64MB', '--jobs', '1'])).toBe('32MB');
  });

  it('never below the server\'s own work_mem; a size that is not one is exit 2', async () => {
    expect(await workMem(['--work-mem', '1MB', '--jobs', '4'])).toBe('4MB');
    const bad = await cli(['check', '-d', db.url, '--work-mem', 'lots'], repository({}));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--work-mem must be a size from 1MB to 64GB, e.g. 256MB or 1GB/);
  });
});
