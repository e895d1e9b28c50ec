import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/demo/embedded.js';
import { createDatabase, runSql } from '../../src/demo/fixtures.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { query } from '../helpers/db.js';

/**
 * The TLS and authentication keywords against a real PostgreSQL with SSL on, its own CA and a
 * pg_hba.conf with cert, scram-sha-256, password and trust lines: hostaddr with verify-full, client
 * certificates (sslcert, sslkey, sslpassword), sslrootcert, passfile, channel_binding, require_auth.
 */

const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-tls-pg-'));
const file = (name: string) => path.join(dir, name);
const SERVER_NAME = 'db.integrity.test';

/** The certificates are made with the openssl command; without it these tests skip, saying so. */
const HAS_OPENSSL = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

function makeCa(name: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`), '-days', '2', '-subj', `/CN=${name}`]);
}

function makeCert(name: string, cn: string, ca: string, ext?: string): void {
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`]);
  const extArgs = ext ? ['-extfile', file(`${name}.ext`)] : [];
  if (ext) writeFileSync(file(`${name}.ext`), ext);
  openssl(['x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.crt`), '-CAkey', file(`${ca}.key`), '-CAcreateserial', '-out', file(`${name}.crt`), '-days', '2', ...extArgs]);
}

/** The uid and gid the embedded server runs as when the tests run as root (it reads the server key). */
function serverOwner(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) };
  } catch {
    return null;
  }
}

let server: EmbeddedServer;
let dbName = '';
let port = 0;

beforeAll(async () => {
  if (!HAS_OPENSSL) return;
  chmodSync(dir, 0o755);
  makeCa('ca');
  makeCa('other-ca');
  makeCert('server', SERVER_NAME, 'ca', `subjectAltName=DNS:${SERVER_NAME}\n`);
  makeCert('client', 'certuser', 'ca');
  openssl(['pkey', '-in', file('client.key'), '-aes256', '-passout', 'pass:key-pass', '-out', file('client-enc.key')]);
  for (const name of ['client.key', 'client-enc.key']) chmodSync(file(name), 0o600);
  copyFileSync(file('client.key'), file('loose.key'));
  chmodSync(file('loose.key'), 0o644);
  for (const name of ['ca.crt', 'server.crt']) chmodSync(file(name), 0o644);
  const owner = serverOwner();
  if (owner) chownSync(file('server.key'), owner.uid, owner.gid);
  chmodSync(file('server.key'), 0o600);
  writeFileSync(
    file('pg_hba.conf'),
    [
      'local all all trust',
      'hostssl all certuser 127.0.0.1/32 cert',
      'host all scramuser 127.0.0.1/32 scram-sha-256',
      'host all plainuser 127.0.0.1/32 password',
      'host all trustuser 127.0.0.1/32 trust',
      'host all postgres 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  chmodSync(file('pg_hba.conf'), 0o644);
  server = await startEmbeddedPostgres([
    'ssl=on',
    `ssl_cert_file=${file('server.crt')}`,
    `ssl_key_file=${file('server.key')}`,
    `ssl_ca_file=${file('ca.crt')}`,
    `hba_file=${file('pg_hba.conf')}`,
    'password_encryption=scram-sha-256',
  ]);
  port = server.port;
  await query(
    server.url,
    `CREATE ROLE certuser LOGIN; CREATE ROLE scramuser LOGIN PASSWORD 'scram-pw'; CREATE ROLE plainuser LOGIN PASSWORD 'plain-pw'; CREATE ROLE trustuser LOGIN;`,
  );
  dbName = 'integrity_tls';
  const url = await createDatabase(server.url, dbName);
  await runSql(url, ['CREATE TABLE t (id int PRIMARY KEY);']);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A home directory of its own for each run: no ~/.pgpass or ~/.postgresql/ unless the test puts one there. */
function home(files: Record<string, string> = {}, mode = 0o600): string {
  const h = mkdtempSync(path.join(os.tmpdir(), 'integrity-tls-home-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(h, name)), { recursive: true });
    writeFileSync(path.join(h, name), text);
    chmodSync(path.join(h, name), mode);
  }
  return h;
}

function audit(dsn: string, env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(['check', '-d', dsn, '--check', 'orphan-rows', '--format', 'json', '--connect-timeout', '5'], { env: { HOME: home(), ...env } });
}

const kv = (extra: string) => `host=127.0.0.1 port=${port} dbname=${dbName} ${extra}`;

function audited(run: CliRun): { host: string; name: string; user: string } {
  expect([run.code, run.stderr]).toEqual([0, '']);
  return JSON.parse(run.stdout).database;
}

function refused(run: CliRun, message: RegExp): void {
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(message);
}

describe.skipIf(!HAS_OPENSSL)('hostaddr and server certificates', () => {
  it('verify-full through hostaddr checks the certificate against host, and reports host', async () => {
    const db = audited(await audit(`host=${SERVER_NAME} hostaddr=127.0.0.1 port=${port} dbname=${dbName} user=scramuser password=scram-pw sslmode=verify-full sslrootcert=${file('ca.crt')}`));
    expect(db).toMatchObject({ host: SERVER_NAME, name: dbName, user: 'scramuser' });
  });

  it('verify-full with a host name the certificate does not carry is exit 2', async () => {
    refused(
      await audit(`host=other.integrity.test hostaddr=127.0.0.1 port=${port} dbname=${dbName} user=scramuser password=scram-pw sslmode=verify-full sslrootcert=${file('ca.crt')}`),
      /^integrity: cannot connect to scramuser@other\.integrity\.test \(hostaddr 127\.0\.0\.1\):\d+\/integrity_tls: .*(altnames|does not match)/,
    );
  });

  it('verify-ca checks the chain only', async () => {
    audited(await audit(`host=other.integrity.test hostaddr=127.0.0.1 port=${port} dbname=${dbName} user=scramuser password=scram-pw sslmode=verify-ca sslrootcert=${file('ca.crt')}`));
  });

  it('verify-full without any root certificate is exit 2 naming sslrootcert (~/.postgresql/root.crt)', async () => {
    refused(await audit(kv('user=scramuser password=scram-pw sslmode=verify-full')), /^integrity: cannot read sslrootcert .*\.postgresql\/root\.crt; .*sslrootcert=system/);
  });

  it('a CA that did not sign the server: exit 2 for verify-ca and for require (a root certificate exists), as libpq does', async () => {
    refused(await audit(kv(`user=scramuser password=scram-pw sslmode=verify-ca sslrootcert=${file('other-ca.crt')}`)), /^integrity: cannot connect to/);
    const withRoot = home({ '.postgresql/root.crt': execFileSync('cat', [file('other-ca.crt')]).toString() }, 0o644);
    refused(await audit(kv('user=scramuser password=scram-pw sslmode=require'), { HOME: withRoot }), /^integrity: cannot connect to/);
    // Without a root certificate, require encrypts without verifying.
    audited(await audit(kv('user=scramuser password=scram-pw sslmode=require')));
    // prefer tries again without SSL after the failed handshake, as libpq does.
    audited(await audit(kv('user=scramuser password=scram-pw sslmode=prefer'), { HOME: withRoot }));
  });
});

describe.skipIf(!HAS_OPENSSL)('client certificates', () => {
  it('sslcert and sslkey log in a cert user; without them the server refuses', async () => {
    expect(audited(await audit(kv(`user=certuser sslmode=require sslcert=${file('client.crt')} sslkey=${file('client.key')}`))).user).toBe('certuser');
    refused(await audit(kv('user=certuser sslmode=require')), /^integrity: cannot connect to certuser@/);
  });

  it('PGSSLCERT and PGSSLKEY, and ~/.postgresql/postgresql.crt and .key, as in libpq', async () => {
    audited(await audit(kv('user=certuser sslmode=require'), { PGSSLCERT: file('client.crt'), PGSSLKEY: file('client.key') }));
    const h = home({ '.postgresql/postgresql.crt': execFileSync('cat', [file('client.crt')]).toString(), '.postgresql/postgresql.key': execFileSync('cat', [file('client.key')]).toString() });
    audited(await audit(kv('user=certuser sslmode=require'), { HOME: h }));
  });

  it('an encrypted key needs sslpassword', async () => {
    audited(await audit(kv(`user=certuser sslmode=require sslcert=${file('client.crt')} sslkey=${file('client-enc.key')} sslpassword=key-pass`)));
    refused(await audit(kv(`user=certuser sslmode=require sslcert=${file('client.crt')} sslkey=${file('client-enc.key')}`)), /^integrity: cannot connect to certuser@/);
  });

  it('an unreadable certificate, or a key others can read, is exit 2 naming it', async () => {
    refused(await audit(kv(`user=certuser sslmode=require sslcert=${file('missing.crt')} sslkey=${file('client.key')}`)), /^integrity: cannot read sslcert .*missing\.crt \(ENOENT\)/);
    refused(await audit(kv(`user=certuser sslmode=require sslcert=${file('client.crt')} sslkey=${file('loose.key')}`)), /^integrity: private key file .*loose\.key has group or world access/);
  });
});

describe.skipIf(!HAS_OPENSSL)('passwords: passfile, and never printed', () => {
  const line = (pw: string) => `127.0.0.1:*:${'*'}:scramuser:${pw}\n`;

  it('PGPASSFILE, passfile= and ~/.pgpass supply the password', async () => {
    const h = home({ pgpass: line('scram-pw'), '.pgpass': line('scram-pw') });
    audited(await audit(kv('user=scramuser'), { PGPASSFILE: path.join(h, 'pgpass') }));
    audited(await audit(kv(`user=scramuser passfile=${path.join(h, 'pgpass')}`)));
    audited(await audit(kv('user=scramuser'), { HOME: h }));
  });

  it('a passfile others can read is ignored with a warning, and then no password is given', async () => {
    const h = home({ '.pgpass': line('scram-pw') }, 0o644);
    const run = await audit(kv('user=scramuser'), { HOME: h });
    expect(run.code).toBe(2);
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^integrity: warning: password file .*\.pgpass has group or world access/);
    expect(lines[1]).toMatch(/^integrity: cannot connect to .*: the server asks for a password for user scramuser and none was given/);
  });

  it('a wrong password from a passfile says where it came from, and is never printed', async () => {
    const h = home({ '.pgpass': line('Wr0ng-S3cret') });
    const run = await audit(kv('user=scramuser'), { HOME: h });
    refused(run, /\[28P01\].*\(the password was read from .*\.pgpass\)/);
    expect(run.stderr).not.toContain('Wr0ng-S3cret');
    const inUrl = await audit(`postgres://scramuser:Wr0ng-S3cret@127.0.0.1:${port}/${dbName}`);
    expect(inUrl.code).toBe(2);
    expect(inUrl.stdout + inUrl.stderr).not.toContain('Wr0ng-S3cret');
  });
});

describe.skipIf(!HAS_OPENSSL)('channel_binding and require_auth', () => {
  it('channel_binding=require: SCRAM-SHA-256-PLUS over SSL connects', async () => {
    audited(await audit(kv('user=scramuser password=scram-pw sslmode=require channel_binding=require')));
  });

  it.each([
    ['user=scramuser password=scram-pw sslmode=disable channel_binding=require', /channel_binding=require, but the server does not offer SCRAM-SHA-256-PLUS/],
    ['user=plainuser password=plain-pw sslmode=require channel_binding=require', /channel_binding=require, but the server asked for a cleartext password/],
    ['user=trustuser sslmode=require channel_binding=require', /channel_binding=require, but the server authenticated the client without channel binding/],
    ['user=plainuser password=plain-pw require_auth=scram-sha-256', /require_auth=scram-sha-256, but the server asked for a cleartext password/],
    ['user=plainuser password=plain-pw require_auth=!password', /require_auth=!password, but the server asked for a cleartext password/],
    ['user=trustuser require_auth=scram-sha-256', /require_auth=scram-sha-256, but the server did not ask the client to authenticate/],
    ['user=scramuser password=scram-pw require_auth=md5', /require_auth=md5, but the server asked for SCRAM-SHA-256 authentication/],
  ])('%s: exit 2 naming it', async (extra, message) => {
    refused(await audit(kv(extra)), new RegExp(`^integrity: cannot connect to .*: ${message.source}`));
  });

  it.each([
    'user=plainuser password=plain-pw require_auth=password',
    'user=scramuser password=scram-pw require_auth=scram-sha-256,md5',
    'user=trustuser require_auth=none',
    'user=trustuser require_auth=!password,!md5',
    'user=scramuser password=scram-pw channel_binding=disable',
  ])('%s: allowed, connects', async (extra) => {
    audited(await audit(kv(extra)));
  });

  it('PGCHANNELBINDING and PGREQUIREAUTH work like the keywords', async () => {
    refused(await audit(kv('user=plainuser password=plain-pw'), { PGREQUIREAUTH: 'scram-sha-256' }), /require_auth=scram-sha-256, but the server asked for a cleartext password/);
    refused(await audit(kv('user=trustuser'), { PGCHANNELBINDING: 'require' }), /channel_binding=require/);
  });
});
