import { afterAll, describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/db/connection.js';
import { AuditSession, smallerLimit } from '../../src/db/session.js';
import { adminUrl, query, useDatabase } from '../helpers/db.js';

const role = `integrity_guarded_${process.pid}`;

function as(url: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = 'pw';
  return u.toString();
}

function target(url: string) {
  return resolveConnection({ databaseUrl: url, env: {}, connectTimeoutSec: 10, applicationName: 'integrity-test' });
}

describe('the guards a DBA set on the role still apply', () => {
  const db = useDatabase('server_guards', { sql: ['CREATE TABLE t (id int); INSERT INTO t VALUES (1);'] });
  afterAll(async () => {
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  });

  it('smallerLimit: 0 means none; a smaller limit in force wins', () => {
    expect(smallerLimit(60_000, 0)).toBe(60_000);
    expect(smallerLimit(60_000, 2_000)).toBe(2_000);
    expect(smallerLimit(1_000, 2_000)).toBe(1_000);
  });

  it('a smaller statement_timeout and lock_timeout, and any idle_in_transaction_session_timeout, are kept', async () => {
    await query(
      adminUrl(),
      `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'pw';
       ALTER ROLE ${role} SET statement_timeout = '2s'; ALTER ROLE ${role} SET lock_timeout = '500ms';
       ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '40s';`,
    );
    const session = await AuditSession.open(target(as(db.url)), { jobs: 1, statementTimeoutMs: 60_000, lockTimeoutMs: 3_000 });
    try {
      const [settings] = await session.runAll([
        async (q) =>
          (
            await q.query<{ st: string; lt: string; idle: string }>(
              `SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,
                      current_setting('idle_in_transaction_session_timeout') AS idle`,
            )
          ).rows[0],
      ]);
      expect(settings).toEqual({ status: 'fulfilled', value: { st: '2s', lt: '500ms', idle: '40s' } });
    } finally {
      await session.close();
    }
  });

  it('with fewer free slots than --jobs, runs on fewer connections and says so', async () => {
    await query(adminUrl(), `ALTER ROLE ${role} CONNECTION LIMIT 2`);
    const session = await AuditSession.open(target(as(db.url)), { jobs: 4, statementTimeoutMs: 60_000, lockTimeoutMs: 3_000 });
    try {
      expect(session.clients.length).toBe(2);
      expect(session.warnings).toHaveLength(1);
      expect(session.warnings[0]).toMatch(/^ran on 2 connections instead of --jobs 4/);
    } finally {
      await session.close();
    }
  });

  it('cancels a running query with no connection slot left (the protocol cancel request needs none)', async () => {
    await query(adminUrl(), `ALTER ROLE ${role} CONNECTION LIMIT 1`);
    const session = await AuditSession.open(target(as(db.url)), { jobs: 1, statementTimeoutMs: 60_000, lockTimeoutMs: 3_000 });
    try {
      const started = Date.now();
      const running = session.runAll([(q) => q.query('SELECT pg_catalog.pg_sleep(30)')]);
      await new Promise((r) => setTimeout(r, 500));
      await session.interrupt();
      const [result] = await running;
      expect(result?.status).toBe('rejected');
      expect(String((result as PromiseRejectedResult).reason)).toMatch(/canceling statement due to user request/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await session.close();
    }
  });
});
