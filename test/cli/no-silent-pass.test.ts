import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

/**
 * "No silent pass", against the real PostgreSQL: a run that was given no database, or a connection
 * string it cannot honour exactly, exits 2 in one line, and never audits another database instead.
 */

/** A home directory with nothing in it: no ~/.pgpass or ~/.pg_service.conf of the machine's user. */
const HOME = mkdtempSync(path.join(os.tmpdir(), 'integrity-nsp-home-'));

function oneLine(run: CliRun): string {
  const lines = run.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return lines[0] as string;
}

const COMMANDS: { name: string; args: string[] }[] = [
  { name: 'check', args: ['check'] },
  { name: 'check --plan', args: ['check', '--plan'] },
  { name: 'fix', args: ['fix'] },
  { name: 'fix --verify', args: ['fix', '--verify'] },
  { name: 'baseline', args: ['baseline'] },
  { name: 'init', args: ['init'] },
];

describe('no database given: exit 2, never the local defaults', () => {
  const db = useDatabase('nsp_target', { sql: ['CREATE TABLE t (id int PRIMARY KEY);'] });
  const pgEnv = () => {
    const u = new URL(db.url);
    return { PGHOST: u.hostname, PGPORT: u.port || '5432', PGUSER: decodeURIComponent(u.username), PGDATABASE: db.name, ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}) };
  };

  it.each(COMMANDS)('$name with no -d, no DATABASE_URL and no PG* variables', async ({ args }) => {
    const run = await runCli(args, { env: { HOME } });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(oneLine(run)).toBe(
      'integrity: no database was given: pass --database-url postgres://user@host:5432/dbname, or set DATABASE_URL, or PGHOST and PGDATABASE (or PGSERVICE)',
    );
  });

  // Before: an empty -d fell through to DATABASE_URL, and audited that database instead.
  it.each(COMMANDS)('$name --database-url "" (an unset CI secret) with DATABASE_URL and PG* pointing at a real database', async ({ args }) => {
    const run = await runCli([...args, '--database-url', ''], { env: { HOME, DATABASE_URL: db.url, ...pgEnv() } });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(oneLine(run)).toMatch(/^integrity: --database-url is empty, so no database was given/);
  });

  // Before: an empty DATABASE_URL fell through to the PG* variables.
  it.each(COMMANDS)('$name with DATABASE_URL= (empty) and PG* pointing at a real database', async ({ args }) => {
    const run = await runCli(args, { env: { HOME, DATABASE_URL: '', ...pgEnv() } });
    expect(run.code).toBe(2);
    expect(oneLine(run)).toMatch(/^integrity: DATABASE_URL is set but empty, so no database was given/);
  });

  it('the same PG* variables alone do reach the database (so the tests above can tell)', async () => {
    const run = await runCli(['check', '--format', 'json', '--check', 'orphan-rows'], { env: { HOME, ...pgEnv() } });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).database.name).toBe(db.name);
  });

  it('commands that do not connect still run without a database', async () => {
    expect((await runCli(['list', '--format', 'json'], { env: { HOME } })).code).toBe(0);
    expect((await runCli(['explain', 'orphan-rows'], { env: { HOME } })).code).toBe(0);
    expect((await runCli(['demo', '--help'], { env: { HOME } })).code).toBe(0);
  });
});

describe('connection strings: every keyword works as in psql, or exit 2 naming it', () => {
  const db = useDatabase('nsp_keywords', { sql: ['CREATE TABLE t (id int PRIMARY KEY);'] });
  const kv = (extra: string) => {
    const u = new URL(db.url);
    // (the embedded server checks passwords; the machine's trusts local connections)
    const password = u.password ? ` password='${decodeURIComponent(u.password).replace(/['\\]/g, '\\$&')}'` : '';
    return `host=${u.hostname} port=${u.port || '5432'} user=${decodeURIComponent(u.username)}${password} dbname=${db.name} ${extra}`;
  };
  const check = (dsn: string, env: NodeJS.ProcessEnv = {}) => runCli(['check', '-d', dsn, '--check', 'orphan-rows', '--format', 'json'], { env: { HOME, ...env } });

  it.each([
    [`dbnmae=x`, 'unknown connection option "dbnmae" in --database-url; did you mean dbname?'],
    [`sslmdoe=disable`, 'unknown connection option "sslmdoe" in --database-url; did you mean sslmode?'],
  ])('a typo in a keyword string (%s) is exit 2 naming the nearest keyword', async (extra, message) => {
    const run = await check(kv(extra));
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(oneLine(run)).toBe(`integrity: ${message}`);
  });

  it('a typo as a URL query parameter is exit 2 naming the nearest keyword', async () => {
    const run = await check(`${db.url}?target_sesion_attrs=primary`);
    expect(run.code).toBe(2);
    expect(oneLine(run)).toBe('integrity: unknown connection option "target_sesion_attrs" in --database-url; did you mean target_session_attrs?');
  });

  it('a typo in DATABASE_URL names DATABASE_URL', async () => {
    const run = await runCli(['check'], { env: { HOME, DATABASE_URL: `${db.url}?aplication_name=x` } });
    expect(run.code).toBe(2);
    expect(oneLine(run)).toBe('integrity: unknown connection option "aplication_name" in DATABASE_URL; did you mean application_name?');
  });

  it.each([
    ['target_session_attrs=any', 0],
    ['target_session_attrs=primary', 0],
    ['target_session_attrs=read-write', 0],
    ['target_session_attrs=prefer-standby', 0],
    ['target_session_attrs=standby', 2],
    ['target_session_attrs=read-only', 2],
    // options reach the server: a session read-only by default now is what read-only asks for, and not read-write.
    ["options='-c default_transaction_read_only=on' target_session_attrs=read-only", 0],
    ["options='-c default_transaction_read_only=on' target_session_attrs=read-write", 2],
  ])('%s on a primary: exit %d', async (extra, code) => {
    const run = await check(kv(extra));
    expect(run.code).toBe(code);
    if (code === 2) expect(oneLine(run)).toMatch(/^integrity: cannot connect to .*: target_session_attrs=(standby|read-only|read-write), but the (server|session) is/);
    else expect(JSON.parse(run.stdout).database.name).toBe(db.name);
  });

  it('PGTARGETSESSIONATTRS and PGOPTIONS work like the keywords', async () => {
    expect((await check(db.url, { PGTARGETSESSIONATTRS: 'standby' })).code).toBe(2);
    expect((await check(db.url, { PGTARGETSESSIONATTRS: 'read-only', PGOPTIONS: '-c default_transaction_read_only=on' })).code).toBe(0);
  });

  it('hostaddr: connects to the address, and reports the host name it was given', async () => {
    const u = new URL(db.url);
    const run = await check(kv(`host=db.integrity.invalid hostaddr=${u.hostname === 'localhost' ? '127.0.0.1' : u.hostname} sslmode=disable`));
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect([report.database.host, report.database.name]).toEqual(['db.integrity.invalid', db.name]);
    // Without hostaddr the same host name cannot be reached: the address above is what was used.
    expect((await check(kv('host=db.integrity.invalid sslmode=disable connect_timeout=3'))).code).toBe(2);
  });

  it('a host name as hostaddr is exit 2 naming hostaddr', async () => {
    const run = await check(kv('hostaddr=localhost'));
    expect(run.code).toBe(2);
    expect(oneLine(run)).toMatch(/^integrity: hostaddr=localhost in --database-url: hostaddr must be a numeric IP address/);
  });

  it('a service from PGSERVICEFILE names the database; an unknown service is exit 2, even with DATABASE_URL set', async () => {
    const u = new URL(db.url);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-svc-')), 'pg_service.conf');
    const password = u.password ? `password=${decodeURIComponent(u.password)}\n` : '';
    writeFileSync(file, `[nightly]\nhost=${u.hostname}\nport=${u.port || '5432'}\nuser=${decodeURIComponent(u.username)}\ndbname=${db.name}\n${password}`);
    const viaEnv = await runCli(['check', '--check', 'orphan-rows', '--format', 'json'], { env: { HOME, PGSERVICEFILE: file, PGSERVICE: 'nightly' } });
    expect(viaEnv.code).toBe(0);
    expect(JSON.parse(viaEnv.stdout).database.name).toBe(db.name);
    const viaString = await check('service=nightly', { PGSERVICEFILE: file });
    expect(JSON.parse(viaString.stdout).database.name).toBe(db.name);
    const unknown = await runCli(['check', '-d', 'service=nigthly'], { env: { HOME, PGSERVICEFILE: file, DATABASE_URL: db.url, PGSYSCONFDIR: HOME } });
    expect(unknown.code).toBe(2);
    expect(oneLine(unknown)).toMatch(/^integrity: service=nigthly in --database-url: no service "nigthly" in /);
  });

  it.each([
    ['gssencmode=require', /gssencmode=require in --database-url: .*no GSSAPI encryption/],
    ['krbsrvname=postgres', /krbsrvname=postgres in --database-url: .*Kerberos/],
    ['requirepeer=postgres', /requirepeer=postgres in --database-url: .*peer credentials/],
    ['keepalives_count=3', /keepalives_count=3 in --database-url: /],
    ['replication=database', /replication=database in --database-url: /],
    ['sslcertmode=require', /sslcertmode=require in --database-url: /],
    ['client_encoding=LATIN1', /client_encoding=LATIN1 in --database-url: .*UTF-8 only/],
  ])('%s: exit 2 naming it, before connecting', async (extra, message) => {
    const run = await check(kv(`${extra} password=hunter2-secret`));
    expect(run.code).toBe(2);
    expect(oneLine(run)).toMatch(message);
    expect(run.stdout + run.stderr).not.toContain('hunter2-secret');
  });

  it('PGGSSENCMODE=require is exit 2 naming the variable', async () => {
    const run = await check(db.url, { PGGSSENCMODE: 'require' });
    expect(run.code).toBe(2);
    expect(oneLine(run)).toMatch(/^integrity: PGGSSENCMODE=require: /);
  });

  it('gssencmode=prefer and disable, keepalives, load_balance_hosts and sslcompression connect as psql does', async () => {
    for (const extra of ['gssencmode=prefer', 'gssencmode=disable', 'keepalives=0', 'keepalives=1 keepalives_idle=30', 'load_balance_hosts=random', 'sslcompression=0', 'channel_binding=prefer', 'min_protocol_version=3.0']) {
      const run = await check(kv(extra));
      expect([extra, run.code]).toEqual([extra, 0]);
    }
  });
});
