import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminUrl, audit, checkResult, query, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';

const SCHEMA = `CREATE TABLE secret_note (id int PRIMARY KEY, owner_id uuid, body text);
  INSERT INTO secret_note VALUES (1, '${NIL}', 'x'), (2, '10000000-0000-4000-8000-000000000002', 'y');
  ALTER TABLE secret_note ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own_notes ON secret_note USING (owner_id = '10000000-0000-4000-8000-000000000002');
  CREATE TABLE open_note (id int PRIMARY KEY, author_id uuid);
  INSERT INTO open_note VALUES (1, '${NIL}'), (2, '${NIL}'), (3, '20000000-0000-4000-8000-000000000003');`;

/** [table, column, count] of the placeholder findings, and what the check says it could not read. */
function summary(report: Awaited<ReturnType<typeof audit>>) {
  const result = checkResult(report, 'placeholder-uuid');
  return {
    status: result.status,
    unread: (result.objectErrors ?? []).map((e) => [e.object, e.reason.match(/\[(\w{5})\]$/)?.[1]]),
    findings: report.findings.map((f) => [f.object.table, f.object.column, f.count]),
  };
}

describe('placeholder-uuid when a table cannot be read', () => {
  const db = useDatabase('placeholder_faults', { sql: [SCHEMA] });
  const role = `integrity_norls_${process.pid}`;
  afterAll(async () => {
    await query(db.url, `DROP OWNED BY ${role}`).catch(() => undefined);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
  });

  it('row-level security the role does not bypass costs that table only', async () => {
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN NOBYPASSRLS PASSWORD 'norls-pw'`);
    await query(db.url, `GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'norls-pw';
    const report = await audit(url.toString(), { checks: ['placeholder-uuid'] });
    expect(summary(report)).toEqual({
      status: 'error',
      // row_security = off: a read that policies would filter fails with 42501 instead of returning part of it.
      unread: [['public.secret_note', '42501']],
      findings: [['open_note', 'author_id', 2]],
    });
    // As the owner (a superuser here), the same table is read and its placeholder reported.
    expect(summary(await audit(db.url, { checks: ['placeholder-uuid'] })).findings).toEqual([
      ['open_note', 'author_id', 2],
      ['secret_note', 'owner_id', 1],
    ]);
  });

  it('a table locked by a migration costs that table only', async () => {
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE secret_note IN ACCESS EXCLUSIVE MODE');
      const report = await audit(db.url, { checks: ['placeholder-uuid'] });
      expect(summary(report)).toEqual({ status: 'error', unread: [['public.secret_note', '55P03']], findings: [['open_note', 'author_id', 2]] });
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });
});
