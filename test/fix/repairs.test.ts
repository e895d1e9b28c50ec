import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveConnection } from '../../src/db/connection.js';
import { runAuditWithRepairs, type AuditOptions } from '../../src/engine/runner.js';
import { applyRepairs, runnableSteps, verifyRepairs } from '../../src/fix/execute.js';
import { query, useDatabase } from '../helpers/db.js';

function options(url: string, checks: string[], config: unknown = {}): AuditOptions {
  return {
    target: resolveConnection({ databaseUrl: url, env: {}, connectTimeoutSec: 10, applicationName: 'integrity-test' }),
    checks: CHECKS,
    selected: new Set(checks),
    deselected: new Map(),
    config: parseConfig(CHECKS, config, 'test'),
    schemas: undefined,
    deep: false,
    jobs: 1,
    statementTimeoutMs: 30_000,
    lockTimeoutMs: 3_000,
    failOn: 'error',
  };
}

describe('orphan-rows repairs when the referencing tables are smaller than the orphans\' table', () => {
  // Analyzed, so the repair knows the sizes and probes the small referencing tables row by row.
  const db = useDatabase('repair_probe', {
    sql: [
      `CREATE TABLE account (id int PRIMARY KEY);
       INSERT INTO account SELECT generate_series(1, 10);
       CREATE TABLE event (id int PRIMARY KEY, account_id int);
       INSERT INTO event SELECT i, CASE WHEN i % 100 = 0 THEN 1000 + i ELSE 1 + i % 10 END FROM generate_series(1, 2000) i;
       ALTER TABLE event ADD CONSTRAINT event_account_fkey FOREIGN KEY (account_id) REFERENCES account NOT VALID;
       CREATE TABLE event_tag (id int PRIMARY KEY, event_id int REFERENCES event ON DELETE CASCADE);
       INSERT INTO event_tag VALUES (1, 100), (2, 101), (3, 200);
       CREATE TABLE audit_note (id int PRIMARY KEY, event_id int REFERENCES event);
       INSERT INTO audit_note VALUES (1, 5);
       ANALYZE;`,
    ],
  });

  it('quarantines the cascade through a row-by-row probe, and clears the orphans in --verify', async () => {
    const o = options(db.url, ['orphan-rows']);
    const { repairs } = await runAuditWithRepairs(o);
    const event = repairs.find((r) => r.finding.object.table === 'event');
    expect(event?.finding.count).toBe(20);
    // audit_note references only a healthy event, so nothing blocks the delete.
    // Lock, copy what cascades, quarantine table, move the orphans, validate.
    expect(event?.repair.steps.map((s) => s.safety)).toEqual(['safe', 'destructive', 'safe', 'destructive', 'safe']);
    expect(event?.repair.steps[0]?.sql).toMatch(/^CREATE TEMP TABLE pg_temp."integrity_rows_[0-9a-f]{16}" ON COMMIT DROP AS .* FOR UPDATE OF t;\n.*"public"."event_tag" AS t .*FOR UPDATE OF t/s);
    const cascadeCopy = event?.repair.steps[1]?.sql ?? '';
    expect(cascadeCopy).toMatch(/FROM ONLY "public"."event_tag" AS t\s+WHERE EXISTS \(SELECT 1 FROM ONLY "public"."event" AS d1 WHERE d1."id" OPERATOR\("pg_catalog".=\) t."event_id" AND .* OFFSET 0\)/s);
    const verified = await verifyRepairs(o);
    expect(verified.lines.map((l) => [l.object.table, l.status])).toEqual([['event', 'cleared']]);
  });

  it('says which table blocks the delete when a small one references an orphan', async () => {
    await query(db.url, 'INSERT INTO audit_note VALUES (2, 300)');
    const { repairs } = await runAuditWithRepairs(options(db.url, ['orphan-rows']));
    const event = repairs.find((r) => r.finding.object.table === 'event');
    expect(event?.repair.steps[0]).toMatchObject({ safety: 'review', decision: expect.stringMatching(/^rows of public\.audit_note reference these orphans without ON DELETE CASCADE/) });
  });
});

describe('orphan-rows repairs', () => {
  const db = useDatabase('repair_orphans', {
    sql: [
      `CREATE TABLE team (id int PRIMARY KEY);
       INSERT INTO team VALUES (1);
       CREATE TABLE member (id int PRIMARY KEY, team_id int, name text);
       INSERT INTO member VALUES (1, 1, 'a'), (2, 9, 'b'), (3, 8, 'c');
       ALTER TABLE member ADD CONSTRAINT member_team_fkey FOREIGN KEY (team_id) REFERENCES team ON DELETE SET NULL NOT VALID;
       CREATE TABLE task (id int PRIMARY KEY, owner int);
       INSERT INTO task VALUES (1, 1), (2, 5);
       ALTER TABLE task ADD CONSTRAINT task_owner_fkey FOREIGN KEY (owner) REFERENCES member NOT VALID;
       CREATE TABLE note (id int PRIMARY KEY, task_id int REFERENCES task);
       INSERT INTO note VALUES (1, 2);`,
    ],
  });

  it('sets the key to NULL when the column is nullable and the constraint says ON DELETE SET NULL, keeping a copy', async () => {
    const o = options(db.url, ['orphan-rows']);
    const { repairs } = await runAuditWithRepairs(o);
    const member = repairs.find((r) => r.finding.object.table === 'member');
    expect(member?.repair.summary).toMatch(/set the dangling reference of 2 row\(s\) to NULL/);
    // task 2's owner is an orphan, but note 1 references task 2 without ON DELETE CASCADE: a person decides.
    const task = repairs.find((r) => r.finding.object.table === 'task');
    expect(task?.repair.steps[0]).toMatchObject({ safety: 'review', decision: expect.stringMatching(/^rows of public\.note reference these orphans without ON DELETE CASCADE/) });

    const verified = await verifyRepairs(o);
    expect(verified.lines.map((l) => [l.object.table, l.status])).toEqual([
      ['member', 'cleared'],
      ['task', 'review only'],
    ]);
    await applyRepairs(o, repairs.filter((r) => runnableSteps(r).length > 0));
    expect(await query(db.url, 'SELECT id, team_id FROM member ORDER BY id')).toEqual([
      { id: 1, team_id: 1 },
      { id: 2, team_id: null },
      { id: 3, team_id: null },
    ]);
    const [q] = await query<{ t: string }>(db.url, `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'integrity_quarantine'`);
    expect(await query(db.url, `SELECT id, team_id, integrity_check FROM integrity_quarantine."${q?.t}" ORDER BY id`)).toEqual([
      { id: 2, team_id: 9, integrity_check: 'orphan-rows' },
      { id: 3, team_id: 8, integrity_check: 'orphan-rows' },
    ]);
    expect(await query(db.url, `SELECT convalidated AS v FROM pg_constraint WHERE conname = 'member_team_fkey'`)).toEqual([{ v: true }]);
  });

  it('follows the strategy configured for a constraint', async () => {
    const { repairs } = await runAuditWithRepairs(options(db.url, ['orphan-rows'], { checks: { 'orphan-rows': { strategies: { task_owner_fkey: 'review' } } } }));
    expect(repairs.find((r) => r.finding.object.table === 'task')?.repair.steps[0]?.decision).toMatch(/strategy for this reference is "review"/);
  });
});

describe('placeholder-uuid repairs', () => {
  const db = useDatabase('repair_placeholders', {
    sql: [
      `CREATE TABLE account (id uuid PRIMARY KEY, name text);
       INSERT INTO account VALUES ('00000000-0000-0000-0000-000000000000', 'unknown'), ('10000000-0000-4000-8000-000000000001', 'real');
       CREATE TABLE vendor (id uuid PRIMARY KEY);
       INSERT INTO vendor VALUES ('ffffffff-ffff-ffff-ffff-ffffffffffff');
       CREATE TABLE invoice (id int PRIMARY KEY, vendor_id uuid NOT NULL REFERENCES vendor);
       INSERT INTO invoice VALUES (1, 'ffffffff-ffff-ffff-ffff-ffffffffffff');`,
    ],
  });

  it('deletes an unreferenced placeholder parent (quarantined); leaves a referenced one and a NOT NULL column for review', async () => {
    const o = options(db.url, ['placeholder-uuid']);
    const { repairs } = await runAuditWithRepairs(o);
    expect(repairs.map((r) => [r.finding.object.table, r.repair.steps.map((s) => s.safety)])).toEqual([
      ['invoice', ['review']],
      ['account', ['safe', 'destructive']],
      ['vendor', ['review']],
    ]);
    expect(repairs[2]?.repair.summary).toMatch(/still referenced by 1 row\(s\) of public\.invoice/);
    const verified = await verifyRepairs(o);
    expect(verified.lines.find((l) => l.object.table === 'account')?.status).toBe('cleared');
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM account')).toEqual([{ n: 2 }]);
  });
});

describe('users-without-profiles repairs', () => {
  const db = useDatabase('repair_profiles', {
    sql: [
      `CREATE SCHEMA auth;
       CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
       CREATE TABLE public.user_profiles (id uuid PRIMARY KEY, email text, plan text NOT NULL);
       INSERT INTO auth.users VALUES ('10000000-0000-4000-8000-000000000001', 'a@x');`,
    ],
  });

  it('leaves the insert for review when the profile needs a value the users table does not have', async () => {
    const { repairs } = await runAuditWithRepairs(options(db.url, ['users-without-profiles']));
    expect(repairs[0]?.repair.steps[0]).toMatchObject({ safety: 'review', decision: expect.stringContaining('also requires plan') });
  });
});
