import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { cli, repository } from '../preflight/helpers.js';
import type { AuditPlan } from '../../src/engine/plan.js';

// A foreign key NOT VALID between two tables of 300,000 rows: orphan-rows' anti-join hashes (or sorts)
// one side, about 14 MB by the planner's estimate.
const SETUP = [
  'CREATE TABLE parent (id int PRIMARY KEY, pad text)',
  "INSERT INTO parent SELECT g, 'x' FROM pg_catalog.generate_series(1, 300000) g",
  'CREATE TABLE child (id int, parent_id int)',
  'INSERT INTO child SELECT g, g FROM pg_catalog.generate_series(1, 300000) g',
  'ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID',
  'ANALYZE parent',
  'ANALYZE child',
];

describe('check --plan says when a join would spill at the session\'s work_mem', () => {
  const db = useDatabase('cli_plan_spill', { sql: SETUP });

  async function spills(workMem: string): Promise<{ json: NonNullable<AuditPlan['checks'][number]['queries'][number]['spills']>; pretty: string }> {
    const args = ['check', '-d', db.url, '--check', 'orphan-rows', '--plan', '--jobs', '1', '--work-mem', workMem];
    const json = await cli([...args, '--format', 'json'], repository({}));
    expect(json.code, json.stderr).toBe(0);
    const plan = JSON.parse(json.stdout) as AuditPlan;
    const pretty = await cli(args, repository({}));
    return { json: plan.checks.flatMap((c) => c.queries).flatMap((q) => q.spills ?? []), pretty: pretty.stdout };
  }

  it('at the server\'s 4 MB a hash or sort of the 300,000 keys spills; with --work-mem 1GB it does not', async () => {
    const small = await spills('1MB');
    expect(small.json.length).toBeGreaterThan(0);
    expect(small.json.every((s) => s.bytes > s.limitBytes && s.batches >= 2)).toBe(true);
    expect(small.pretty).toMatch(/query 1: its (hash|sort) of about [\d.]+ MB exceeds the [\d.]+ MB it may use.*a larger --work-mem keeps it in memory/);
    const large = await spills('1GB');
    expect(large.json).toEqual([]);
    expect(large.pretty).not.toContain('exceeds the');
  });
});
