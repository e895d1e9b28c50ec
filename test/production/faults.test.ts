import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/db/connection.js';
import { AuditSession, type Queryable } from '../../src/db/session.js';
import { runCli } from '../helpers/cli.js';
import { adminUrl, holdLock, query, useDatabase } from '../helpers/db.js';
import { GENERIC_CHECKS, INCIDENT_RULE_FINDINGS, incidentConfigWithRules, NO_RULES, ruleFindingLine } from '../helpers/incident-rules.js';
import { reportSchema } from '../helpers/report-schema.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/integrity.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function target(url: string) {
  return resolveConnection({ databaseUrl: url, env: {}, connectTimeoutSec: 10, applicationName: 'integrity' });
}

function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

async function integrityQueries(url: string, database: string): Promise<{ state: string; query: string; wait: string | null }[]> {
  return query<{ state: string; query: string; wait: string | null }>(
    url,
    `SELECT state, query, wait_event_type AS wait FROM pg_stat_activity
      WHERE application_name = 'integrity' AND datname = $1 AND pid <> pg_backend_pid()`,
    [database],
  );
}

describe('a role that can only read', () => {
  const db = useDatabase('readonly_role', { incidents: 'all' });
  const role = `integrity_reader_${process.pid}`;
  afterAll(async () => {
    await query(db.url, `DROP OWNED BY ${role}`).catch(() => undefined);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
  });

  it('runs a full --deep audit of every check, with default_transaction_read_only on', async () => {
    await query(
      adminUrl(),
      `DROP ROLE IF EXISTS ${role};
       CREATE ROLE ${role} LOGIN PASSWORD 'reader-pw';
       GRANT pg_read_all_data TO ${role};
       ALTER ROLE ${role} SET default_transaction_read_only = on;`,
    );
    // The incident config plus one rule for each generic-rule check, so that every check reads the database.
    const run = await runCli(['check', '-d', withCredentials(db.url, role, 'reader-pw'), '--deep', '--config', incidentConfigWithRules(), '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.checks.map((c) => [c.id, c.status, c.objectErrors])).toEqual(
      ['accepted-values', 'jsonb-int-cast-index', 'models-without-pricing', 'orphan-rows', 'placeholder-uuid', 'required-child', 'row-condition', 'unique', 'users-without-profiles'].map((id) => [id, 'failed', undefined]),
    );
    // The five incidents' 18 errors and 2 warnings, and one error for each rule.
    expect(report.summary.findings).toEqual({ error: 22, warning: 2, info: 0 });
    expect(report.findings.filter((f) => GENERIC_CHECKS.includes(f.checkId)).map(ruleFindingLine)).toEqual(INCIDENT_RULE_FINDINGS);
  });
});

describe('a connection killed mid-audit', () => {
  const db = useDatabase('killed', { sql: ['CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);'] });

  it('fails the task that was running on it; the other connections finish the queue; no hang', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 2, statementTimeoutMs: 20_000, lockTimeoutMs: 1_000 });
    try {
      const victim = session.backendPids[1] as number;
      const slow = async (q: Queryable) => (await q.query<{ n: string }>('SELECT count(*) AS n FROM public.t, pg_sleep(1.5)')).rows[0]?.n;
      const quick = async (q: Queryable) => (await q.query<{ n: string }>('SELECT count(*) AS n FROM public.t')).rows[0]?.n;
      const running = session.runAll([slow, slow, quick, quick, quick]);
      await sleep(300);
      await query(adminUrl(), 'SELECT pg_terminate_backend($1)', [victim]);
      const started = Date.now();
      const results = await running;
      expect(Date.now() - started).toBeLessThan(5_000);
      const rejected = results.filter((r) => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect(String((rejected[0] as PromiseRejectedResult).reason?.message)).toMatch(/terminat/i);
      expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual(['100', '100', '100', '100']);
    } finally {
      await session.close();
    }
  });
});

/**
 * The statuses when token_usage_ledger cannot be read: the two checks that scan it error, the others finish
 * (the generic-rule checks, given no rules here, are skipped and read nothing).
 */
const LEDGER_LOCKED = [
  ['accepted-values', 'skipped'],
  ['jsonb-int-cast-index', 'passed'],
  ['models-without-pricing', 'failed'],
  ['orphan-rows', 'error'],
  ['placeholder-uuid', 'error'],
  ['required-child', 'skipped'],
  ['row-condition', 'skipped'],
  ['unique', 'skipped'],
  ['users-without-profiles', 'skipped'],
];

describe('a table locked by a migration', () => {
  const db = useDatabase('locked', { incidents: ['000_models_without_pricing.sql'] });

  it('waits at most --lock-timeout, reports the check as error, and finishes the others', async () => {
    const release = await holdLock(db.url, 'token_usage_ledger');
    try {
      const started = Date.now();
      const run = await runCli(['check', '-d', db.url, '--lock-timeout', '300', '--format', 'json']);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(run.code).toBe(2);
      const report = reportSchema.parse(JSON.parse(run.stdout));
      expect(report.checks.map((c) => [c.id, c.status])).toEqual(LEDGER_LOCKED);
      for (const id of ['orphan-rows', 'placeholder-uuid']) {
        expect(report.checks.find((c) => c.id === id)?.reason).toMatch(/lock timeout .*--lock-timeout.*\[55P03\]/);
      }
      for (const id of GENERIC_CHECKS) expect(report.checks.find((c) => c.id === id)?.reason).toMatch(NO_RULES);
    } finally {
      await release();
    }
  });

  it('a statement that runs past --statement-timeout: that check reports the timeout and what to do; the others finish', async () => {
    // A query waiting on a lock is still running: with lock_timeout above statement_timeout, the statement timeout fires.
    const release = await holdLock(db.url, 'token_usage_ledger');
    try {
      const run = await runCli(['check', '-d', db.url, '--statement-timeout', '400', '--lock-timeout', '20000', '--format', 'json']);
      expect(run.code).toBe(2);
      const report = reportSchema.parse(JSON.parse(run.stdout));
      expect(report.checks.map((c) => [c.id, c.status])).toEqual(LEDGER_LOCKED);
      expect(report.checks.find((c) => c.id === 'placeholder-uuid')?.reason).toMatch(
        /canceling statement due to statement timeout \(raise --statement-timeout, use --sample-percent PERCENT, or run against a replica\) \[57014\]/,
      );
      for (const id of GENERIC_CHECKS) expect(report.checks.find((c) => c.id === id)?.reason).toMatch(NO_RULES);
    } finally {
      await release();
    }
  });

  it('a connection killed mid-audit: its check is an error with the reason, the others finish, exit 2', async () => {
    const release = await holdLock(db.url, 'token_usage_ledger');
    let released = false;
    try {
      const child = spawn(process.execPath, [BIN, 'check', '-d', db.url, '--lock-timeout', '60000', '--jobs', '2', '--format', 'json'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += String(d)));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      let victim: number | undefined;
      for (let i = 0; i < 100 && victim === undefined; i++) {
        const [row] = await query<{ pid: number }>(
          db.url,
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'integrity' AND datname = $1 AND wait_event_type = 'Lock' LIMIT 1`,
          [db.name],
        );
        victim = row?.pid;
        if (victim === undefined) await sleep(100);
      }
      expect(victim).toBeDefined();
      await query(adminUrl(), 'SELECT pg_terminate_backend($1)', [victim]);
      await release();
      released = true;
      expect(await exited).toBe(2);
      const report = reportSchema.parse(JSON.parse(stdout));
      const errored = report.checks.filter((c) => c.status === 'error');
      expect(errored).toHaveLength(1);
      expect(errored[0]?.reason).toMatch(/terminating connection due to administrator command \[57P01\]/);
      expect(report.checks.filter((c) => c.status !== 'error').map((c) => c.status)).not.toContain('error');
      expect(report.checks.find((c) => c.id === 'models-without-pricing')?.status).toBe('failed');
    } finally {
      if (!released) await release();
    }
  });

  it('a repair that cannot be written (its index is locked) is reported, and --verify does not pass', async () => {
    await query(db.url, `CREATE TABLE IF NOT EXISTS cast_t (meta jsonb); CREATE INDEX IF NOT EXISTS cast_t_i ON cast_t (((meta->>'n')::int))`);
    const release = await holdLock(db.url, 'cast_t');
    try {
      const run = await runCli(['fix', '-d', db.url, '--check', 'jsonb-int-cast-index', '--lock-timeout', '300', '--verify', '--format', 'json']);
      expect(run.code).toBe(1);
      const out = JSON.parse(run.stdout) as { lines: { object: { index?: string }; status: string; error?: string }[] };
      expect(out.lines.find((l) => l.object.index === 'cast_t_i')).toMatchObject({ status: 'failed', error: expect.stringMatching(/could not be written: canceling statement due to lock timeout/) });
      const script = await runCli(['fix', '-d', db.url, '--check', 'jsonb-int-cast-index', '--lock-timeout', '300']);
      expect(script.stdout).toMatch(/-- NOT REPAIRED: canceling statement due to lock timeout/);
    } finally {
      await release();
      await query(db.url, 'DROP TABLE cast_t');
    }
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('on %s cancels every running query on the server and exits %i without a report', async (signal, code) => {
    const release = await holdLock(db.url, 'token_usage_ledger');
    try {
      const child = spawn(process.execPath, [BIN, 'check', '-d', db.url, '--lock-timeout', '60000', '--format', 'json'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += String(d)));
      child.stderr.on('data', (d) => (stderr += String(d)));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      // Wait until the audit is blocked on the migration's lock: a query is running on the server.
      const blocked = async () => (await integrityQueries(db.url, db.name)).some((q) => q.state === 'active' && q.wait === 'Lock');
      for (let i = 0; i < 100 && !(await blocked()); i++) await sleep(100);
      expect(await blocked()).toBe(true);
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(stdout).toBe('');
      expect(stderr).toContain(`interrupted by ${signal}`);
      expect(await integrityQueries(db.url, db.name)).toEqual([]);
    } finally {
      await release();
    }
  });
});

describe('connection failures', () => {
  const db = useDatabase('connfail');
  const servers: net.Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  async function fakeServer(onConnection: (socket: net.Socket) => void): Promise<number> {
    const server = net.createServer(onConnection);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  it('a server that never answers: one line, exit 2, within --connect-timeout', async () => {
    const port = await fakeServer(() => undefined);
    const started = Date.now();
    const run = await runCli(['check', '-d', `postgres://u@127.0.0.1:${port}/app`, '--connect-timeout', '1']);
    // One attempt only: sslmode=prefer falls back to plain text when SSL is refused, not on a timeout.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`integrity: cannot connect to u@127.0.0.1:${port}/app: no answer within 1 s (--connect-timeout): check the host, the port and any firewall between\n`);
  });

  it('sslmode=require against a server without TLS: one line, exit 2', async () => {
    // Answers the SSLRequest with 'N', as a server with ssl = off does.
    const port = await fakeServer((socket) => socket.once('data', () => socket.end('N')));
    const run = await runCli(['check', '-d', `postgres://u@127.0.0.1:${port}/app?sslmode=require`, '--connect-timeout', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^integrity: cannot connect to u@127\.0\.0\.1:\d+\/app: the server does not support SSL, but sslmode=require requires it: use sslmode=prefer or disable/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([
    ['a refused port', 'postgres://u@127.0.0.1:1/app', /connection refused at 127\.0\.0\.1:1 \(ECONNREFUSED\)/],
    ['a URL that does not parse', 'postgres://u@h:port/app', /--database-url has an invalid port/],
  ])('%s: one line, exit 2', async (_name, url, message) => {
    const run = await runCli(['check', '-d', url, '--connect-timeout', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
  });

  it('an unknown database: one line, exit 2', async () => {
    const u = new URL(db.url);
    u.pathname = '/no_such_database_integrity';
    const run = await runCli(['check', '-d', u.toString()]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/database "no_such_database_integrity" does not exist \[3D000\]: check the database name/);
  });

  it('a wrong password: one line that says to check the password, exit 2', async () => {
    // Plays a server that asks for a cleartext password and rejects it, as one with password auth does.
    const port = await fakeServer((socket) => {
      let stage = 0;
      socket.on('data', (chunk) => {
        if (stage === 0 && chunk.length === 8 && chunk.readInt32BE(4) === 80877103) {
          socket.write('N'); // SSLRequest: no SSL here
          return;
        }
        if (stage === 0) {
          stage = 1;
          const auth = Buffer.alloc(9);
          auth.write('R', 0);
          auth.writeInt32BE(8, 1);
          auth.writeInt32BE(3, 5); // AuthenticationCleartextPassword
          socket.write(auth);
          return;
        }
        // The password may arrive in more than one chunk; answer once.
        if (socket.writableEnded) return;
        const fields = ['SFATAL', 'VFATAL', 'C28P01', 'Mpassword authentication failed for user "u"'].map((f) => Buffer.from(`${f}\0`));
        const body = Buffer.concat([...fields, Buffer.from([0])]);
        const head = Buffer.alloc(5);
        head.write('E', 0);
        head.writeInt32BE(body.length + 4, 1);
        socket.end(Buffer.concat([head, body]));
      });
    });
    const run = await runCli(['check', '-d', `postgres://u:wrong-Pw-1@127.0.0.1:${port}/app`, '--connect-timeout', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `integrity: cannot connect to u@127.0.0.1:${port}/app: password authentication failed for user u [28P01]: check the password (in the URL or PGPASSWORD)\n`,
    );
  });

  it('a wrong password against the real server (where it checks passwords)', async (ctx) => {
    const role = `integrity_pw_${process.pid}`;
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'right-pw'`);
    try {
      const probe = new pg.Client({ connectionString: withCredentials(db.url, role, 'wrong-pw') });
      const trusted = await probe.connect().then(
        () => true,
        () => false,
      );
      await probe.end().catch(() => undefined);
      if (trusted) ctx.skip(); // trust authentication: this server accepts any password
      const run = await runCli(['check', '-d', withCredentials(db.url, role, 'wrong-pw')]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`password authentication failed for user ${role} \\[28P01\\]: check the password`));
      expect(run.stderr).not.toContain('wrong-pw');
    } finally {
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    }
  });
});
