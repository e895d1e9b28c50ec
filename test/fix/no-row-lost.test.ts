import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { runnableSteps } from '../../src/fix/execute.js';
import { renderFixScript, sessionPins } from '../../src/fix/script.js';
import { CREATE_QUARANTINE_SCHEMA } from '../../src/fix/quarantine.js';
import { adminUrl, auditOptions, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL } from '../helpers/psql.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';

// A row leaves its table only with its copy in the quarantine: under a concurrent writer, with the
// parent's RI triggers disabled, with row-level security on a dependent, and whatever the names.

const SCHEMA = `CREATE TABLE account (id int PRIMARY KEY);
INSERT INTO account VALUES (1);
CREATE TABLE session (id int PRIMARY KEY, account_id int);
INSERT INTO session VALUES (1, 1), (2, 404), (3, 405);
ALTER TABLE session ADD CONSTRAINT session_account_fk FOREIGN KEY (account_id) REFERENCES account (id) NOT VALID;
CREATE TABLE message (id int PRIMARY KEY, session_id int REFERENCES session (id) ON DELETE CASCADE, body text);
INSERT INTO message VALUES (1, 1, 'kept'), (2, 2, 'cascades'), (3, 3, 'cascades too');`;

async function quarantined(url: string, table: string): Promise<number[]> {
  const tables = await query<{ name: string }>(
    url,
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'integrity_quarantine' AND c.relname LIKE $1 || '\\_\\_%'`,
    [table],
  );
  const ids: number[] = [];
  for (const t of tables) ids.push(...(await query<{ id: number }>(url, `SELECT id FROM integrity_quarantine."${t.name}"`)).map((r) => r.id));
  return ids.sort((a, b) => a - b);
}

describe('a writer adding a dependent row while the repair runs', () => {
  const db = useDatabase('concurrent_writer', { sql: [SCHEMA] });

  it('waits for the repair and fails; every removed row has its copy', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const entry = outcome.repairs.find((r) => r.finding.object.table === 'session');
    expect(entry?.finding.count).toBe(2);
    const steps = runnableSteps(entry as NonNullable<typeof entry>);
    const repairer = new pg.Client({ connectionString: db.url });
    const writer = new pg.Client({ connectionString: db.url });
    await repairer.connect();
    await writer.connect();
    try {
      await repairer.query('BEGIN');
      for (const pin of sessionPins()) await repairer.query(pin);
      await repairer.query(CREATE_QUARANTINE_SCHEMA);
      // The first step locks the rows about to go; then a writer adds a message to one of them.
      await repairer.query((steps[0] as { sql: string }).sql);
      const inserted = writer.query(`SET lock_timeout = '20s'; INSERT INTO message VALUES (99, 2, 'written during the repair')`).then(
        () => 'inserted',
        (err: { code?: string }) => err.code ?? 'error',
      );
      await new Promise((r) => setTimeout(r, 300));
      for (const step of steps.slice(1)) await repairer.query(step.sql);
      await repairer.query('COMMIT');
      // Its foreign key check waited for the lock, then found the session gone.
      expect(await inserted).toBe('23503');
    } finally {
      await repairer.end();
      await writer.end();
    }
    expect(await query(db.url, 'SELECT id FROM message ORDER BY id')).toEqual([{ id: 1 }]);
    expect(await quarantined(db.url, 'message')).toEqual([2, 3]);
    expect(await quarantined(db.url, 'session')).toEqual([2, 3]);
  });
});

describe('repairs that PostgreSQL would not carry out as planned', () => {
  const fixer = `integrity_fixer_${process.pid}`;
  const db = useDatabase('no_row_lost', { sql: [SCHEMA] });
  afterAll(async () => {
    await query(db.url, `DROP OWNED BY ${fixer}`).catch(() => undefined);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${fixer}`).catch(() => undefined);
  });

  it('a constraint named like an Object property (constructor) still gets its cascade quarantined', async () => {
    await query(db.url, 'ALTER TABLE message RENAME CONSTRAINT message_session_id_fkey TO "constructor"');
    try {
      const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'], config: { checks: { 'orphan-rows': { strategies: { toString: 'review' } } } } }));
      const entry = outcome.repairs.find((r) => r.finding.object.table === 'session');
      expect(entry?.repair.steps.map((s) => s.safety)).toEqual(['safe', 'destructive', 'safe', 'destructive', 'safe']);
      expect(entry?.repair.steps[1]?.sql).toMatch(/INSERT INTO "integrity_quarantine"\."message__/);
    } finally {
      await query(db.url, 'ALTER TABLE message RENAME CONSTRAINT "constructor" TO message_session_id_fkey');
    }
  });

  it('with the parent\'s RI triggers disabled the delete would not cascade: left for review, nothing runnable', async () => {
    await query(db.url, 'ALTER TABLE session DISABLE TRIGGER ALL');
    try {
      const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
      const entry = outcome.repairs.find((r) => r.finding.object.table === 'session');
      expect(entry?.finding.count).toBe(2);
      expect(runnableSteps(entry as NonNullable<typeof entry>).filter((s) => s.safety === 'destructive')).toEqual([]);
      expect(entry?.repair.steps.find((s) => s.decision?.includes('RI triggers'))?.decision).toMatch(/message_session_id_fkey are disabled on public.session/);
    } finally {
      await query(db.url, 'ALTER TABLE session ENABLE TRIGGER ALL');
    }
  });

  it.skipIf(!HAS_PSQL)('row-level security on a dependent: the script fails rather than copy part of it', async () => {
    await query(
      adminUrl(),
      `DROP ROLE IF EXISTS ${fixer}; CREATE ROLE ${fixer} LOGIN PASSWORD 'pw'; GRANT CREATE ON DATABASE ${db.name} TO ${fixer};`,
    );
    await query(
      db.url,
      `ALTER TABLE account OWNER TO ${fixer}; ALTER TABLE session OWNER TO ${fixer}; ALTER TABLE message OWNER TO ${fixer};
       ALTER TABLE message ENABLE ROW LEVEL SECURITY; ALTER TABLE message FORCE ROW LEVEL SECURITY;
       CREATE POLICY none_visible ON message USING (false);`,
    );
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const script = renderFixScript(outcome);
    await expectScriptRunsOnlyPlanned(script, outcome);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-rls-fix-')), 'fix.sql');
    writeFileSync(file, script);
    const u = new URL(db.url);
    u.username = fixer;
    u.password = 'pw';
    const run = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, u.toString()], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/row-level security/);
    expect(await query(db.url, 'SELECT id FROM message ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(await query(db.url, 'SELECT id FROM session ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });
});

describe.skipIf(!HAS_PSQL)('a table with a deferred constraint trigger', () => {
  // A deferred foreign key into the orphans' table: its RI trigger events wait for COMMIT, which would
  // make the VALIDATE after the delete fail with "pending trigger events".
  const db = useDatabase('deferred_trigger', {
    sql: [
      `${SCHEMA}
       CREATE TABLE session_audit (id int PRIMARY KEY, session_id int REFERENCES session (id) DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO session_audit VALUES (1, 1);`,
    ],
  });

  it('the script deletes, then validates the constraint in the same transaction, under psql', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const script = renderFixScript(outcome);
    await expectScriptRunsOnlyPlanned(script, outcome);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-deferred-')), 'fix.sql');
    writeFileSync(file, script);
    const run = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, db.url], { encoding: 'utf8' });
    expect(run.stderr).not.toMatch(/pending trigger events/);
    expect(run.status).toBe(0);
    expect(await query(db.url, `SELECT convalidated FROM pg_constraint WHERE conname = 'session_account_fk'`)).toEqual([{ convalidated: true }]);
  });
});

describe('what the review found: each way a repair could lose a row is held', () => {
  const db = useDatabase('no_row_lost_more', {
    sql: [
      `CREATE EXTENSION IF NOT EXISTS citext;
       -- cascades through partitions: a key on a partition, a dependent referencing the partitioned parent
       CREATE TABLE owner_t (id int PRIMARY KEY);
       CREATE TABLE ev (id int PRIMARY KEY, owner_id int) PARTITION BY RANGE (id);
       CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM (0) TO (100);
       ALTER TABLE ev_1 ADD CONSTRAINT ev_1_owner_fk FOREIGN KEY (owner_id) REFERENCES owner_t;
       CREATE TABLE ev_note (id int PRIMARY KEY, ev_id int REFERENCES ev (id) ON DELETE CASCADE, note text);
       INSERT INTO owner_t VALUES (1);
       SET session_replication_role = replica; INSERT INTO ev VALUES (1, 1), (2, 999); RESET session_replication_role;
       INSERT INTO ev_note VALUES (10, 2, 'precious'), (11, 1, 'ok');
       -- a cascade compared with citext's own equality
       CREATE TABLE team (id int PRIMARY KEY);
       CREATE TABLE account (code citext PRIMARY KEY, team_id int REFERENCES team);
       CREATE TABLE login (id int PRIMARY KEY, account_code citext REFERENCES account (code) ON DELETE CASCADE);
       INSERT INTO team VALUES (1);
       SET session_replication_role = replica; INSERT INTO account VALUES ('ALICE', 999), ('bob', 1); RESET session_replication_role;
       INSERT INTO login VALUES (1, 'alice'), (2, 'ALICE'), (3, 'bob');
       -- a delete trigger that changes another table
       CREATE TABLE member (id int PRIMARY KEY, team_id int REFERENCES team);
       CREATE TABLE member_stats (member_id int, n int);
       CREATE FUNCTION public.forget_stats() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM public.member_stats WHERE member_id = OLD.id; RETURN OLD; END $$;
       CREATE TRIGGER forget AFTER DELETE ON member FOR EACH ROW EXECUTE FUNCTION public.forget_stats();
       SET session_replication_role = replica; INSERT INTO member VALUES (1, 1), (2, 998); RESET session_replication_role;
       INSERT INTO member_stats VALUES (2, 5);`,
    ],
  });

  it('follows a cascade from a partition to a key on its partitioned parent', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'], deep: true }));
    const entry = outcome.repairs.find((r) => r.finding.object.table === 'ev_1');
    expect(entry?.repair.steps.some((s) => /INSERT INTO "integrity_quarantine"\."ev_note__/.test(s.sql))).toBe(true);
  });

  it('copies exactly the rows citext\'s equality cascades to', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'], deep: true }));
    const entry = outcome.repairs.find((r) => r.finding.object.table === 'account');
    const copy = entry?.repair.steps.find((s) => /INSERT INTO "integrity_quarantine"\."login__/.test(s.sql));
    expect(copy?.sql).toMatch(/OPERATOR\("public"\.=\)/);
    expect(copy?.sql).not.toMatch(/"account_code"\) IN \(SELECT/);
  });

  it('leaves for review a delete that fires a user trigger', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'], deep: true }));
    const entry = outcome.repairs.find((r) => r.finding.object.table === 'member');
    expect(entry?.repair.steps.filter((s) => s.safety === 'destructive')).toEqual([]);
    expect(entry?.repair.steps.find((s) => s.decision)?.decision).toMatch(/trigger forget on public\.member/);
  });

  it.skipIf(!HAS_PSQL)('under psql, nothing is deleted without its copy', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'], deep: true }));
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-more-')), 'fix.sql');
    writeFileSync(file, renderFixScript(outcome));
    const run = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, db.url], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(await query(db.url, 'SELECT id FROM ev_note ORDER BY id')).toEqual([{ id: 11 }]);
    expect(await quarantined(db.url, 'ev_note')).toEqual([10]);
    expect(await query(db.url, 'SELECT id FROM login ORDER BY id')).toEqual([{ id: 3 }]);
    expect(await quarantined(db.url, 'login')).toEqual([1, 2]);
    expect(await query(db.url, 'SELECT count(*) AS n FROM member_stats')).toEqual([{ n: '1' }]);
  });
});
