import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConnectionRequirementError,
  LIBPQ_KEYWORDS,
  NO_DATABASE_MESSAGE,
  authenticationGuard,
  clientConfig,
  describeTarget,
  nearestKeyword,
  parseConnectionString,
  resolveConnection,
  sessionAttributesMismatch,
  triesOtherWay,
  type ConnectionTarget,
} from '../../src/db/connection.js';
import { UsageError } from '../../src/errors.js';

/** An empty home: nothing of the machine's user (~/.pgpass, ~/.pg_service.conf, ~/.postgresql) is read. */
const HOME = mkdtempSync(path.join(os.tmpdir(), 'integrity-kw-home-'));

function resolve(databaseUrl: string | undefined, env: NodeJS.ProcessEnv = {}): ConnectionTarget {
  return resolveConnection({ databaseUrl, env: { HOME, ...env }, connectTimeoutSec: undefined, applicationName: 'integrity' });
}

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('no database given: never the local defaults', () => {
  it.each([
    { name: 'nothing at all', url: undefined, env: {} },
    { name: 'only variables that name no database', url: undefined, env: { PGPASSWORD: 'x', PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '3' } },
    { name: 'PG* variables set but empty', url: undefined, env: { PGHOST: '', PGDATABASE: '', PGUSER: '' } },
  ])('$name', ({ url, env }) => {
    expect(usageError(() => resolve(url, env))).toBe(NO_DATABASE_MESSAGE);
  });

  it.each(['', '   ', '\n'])('an empty --database-url (%j) is an error, even when DATABASE_URL and PG* are set', (url) => {
    expect(usageError(() => resolve(url, { DATABASE_URL: 'postgres://other/db', PGHOST: 'h' }))).toMatch(/^--database-url is empty, so no database was given/);
  });

  it('an empty DATABASE_URL is an error, even when PG* are set', () => {
    expect(usageError(() => resolve(undefined, { DATABASE_URL: '', PGHOST: 'h', PGDATABASE: 'd' }))).toMatch(/^DATABASE_URL is set but empty, so no database was given/);
    expect(usageError(() => resolve(undefined, { DATABASE_URL: '  ' }))).toMatch(/^DATABASE_URL is set but empty/);
  });

  it('a given --database-url wins over an empty DATABASE_URL', () => {
    expect(resolve('postgres://h/db', { DATABASE_URL: '' }).database).toBe('db');
  });

  it.each(['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER'])('%s alone names a database', (name) => {
    const value = name === 'PGHOSTADDR' ? '10.1.2.3' : name === 'PGPORT' ? '6543' : 'x';
    expect(() => resolve(undefined, { [name]: value })).not.toThrow();
  });
});

describe('typos are rejected, naming the nearest keyword', () => {
  it.each([
    ['host=h dbnmae=app', 'dbnmae', 'dbname'],
    ['postgres://h/app?dbnmae=x', 'dbnmae', 'dbname'],
    ['postgres://h/app?sslmdoe=require', 'sslmdoe', 'sslmode'],
    ['host=h aplication_name=x', 'aplication_name', 'application_name'],
    ['host=h target_session_attr=primary', 'target_session_attr', 'target_session_attrs'],
    ['postgres://h/app?ssl=false', 'ssl', 'sslmode'],
    ['postgres://h/app?sslrootcrt=/ca', 'sslrootcrt', 'sslrootcert'],
    ['host=h passwrd=hunter2', 'passwrd', 'password'],
  ])('%s', (text, key, nearest) => {
    const message = usageError(() => resolve(text));
    expect(message).toBe(`unknown connection option "${key}" in --database-url; did you mean ${nearest}?`);
    expect(message).not.toContain('hunter2');
  });

  it('nearestKeyword finds swaps, drops and additions', () => {
    expect([nearestKeyword('dbnmae'), nearestKeyword('usr'), nearestKeyword('hostadr'), nearestKeyword('sslcerts')]).toEqual(['dbname', 'user', 'hostaddr', 'sslcert']);
  });

  it("libpq's one JDBC spelling: ?ssl=true is sslmode=require", () => {
    expect(Object.fromEntries(parseConnectionString('postgres://h/db?ssl=true', 'X'))).toEqual({ host: 'h', dbname: 'db', sslmode: 'require' });
  });
});

/**
 * Every libpq keyword, with a value, and what becomes of it: `target` checks what the connection uses,
 * `rejected` the error (which must name the keyword). The list must cover LIBPQ_KEYWORDS exactly.
 */
const HOSTADDR = '10.9.8.7';
const KEYWORDS: Record<string, { value: string; target?: (t: ConnectionTarget) => void; rejected?: RegExp }[]> = {
  host: [{ value: 'db.example.com', target: (t) => expect([t.host, clientConfig(t, false).host]).toEqual(['db.example.com', 'db.example.com']) }, { value: 'a,b', rejected: /several hosts/ }],
  hostaddr: [
    { value: HOSTADDR, target: (t) => expect([t.hostaddr, clientConfig(t, false).host]).toEqual([HOSTADDR, HOSTADDR]) },
    { value: 'db.example.com', rejected: /hostaddr must be a numeric IP address/ },
  ],
  port: [{ value: '6543', target: (t) => expect(t.port).toBe(6543) }, { value: '5432,5433', rejected: /several hosts/ }],
  dbname: [{ value: 'shop', target: (t) => expect(t.database).toBe('shop') }],
  user: [{ value: 'auditor', target: (t) => expect(t.user).toBe('auditor') }],
  password: [{ value: 'pw', target: (t) => expect(t.password).toBe('pw') }],
  passfile: [{ value: '/nonexistent/pgpass', target: (t) => expect(t.password).toBeUndefined() }],
  require_auth: [
    { value: 'scram-sha-256,md5', target: (t) => expect(t.requireAuth).toEqual({ text: 'scram-sha-256,md5', negated: false, methods: ['scram-sha-256', 'md5'] }) },
    { value: '!password', target: (t) => expect(t.requireAuth).toMatchObject({ negated: true, methods: ['password'] }) },
    { value: 'scram-sha-256,!md5', rejected: /cannot be mixed/ },
    { value: 'kerberos', rejected: /invalid require_auth method "kerberos"/ },
  ],
  channel_binding: [
    { value: 'require', target: (t) => expect(t.channelBinding).toBe('require') },
    { value: 'disable', target: (t) => expect(clientConfig(t, true).enableChannelBinding).toBe(false) },
    { value: 'prefer', target: (t) => expect(clientConfig(t, true).enableChannelBinding).toBe(true) },
    { value: 'always', rejected: /invalid value for channel_binding/ },
  ],
  connect_timeout: [{ value: '4', target: (t) => expect(clientConfig(t, false).connectionTimeoutMillis).toBe(4000) }, { value: '0', rejected: /invalid connect_timeout/ }],
  client_encoding: [{ value: 'UTF8', target: (t) => expect(clientConfig(t, false).options).toContain('client_encoding=UTF8') }, { value: 'auto' }, { value: 'LATIN1', rejected: /UTF-8 only/ }],
  options: [{ value: '-c search_path=x', target: (t) => expect(clientConfig(t, false).options).toBe('-c client_encoding=UTF8 -c search_path=x') }],
  application_name: [{ value: 'nightly', target: (t) => expect([clientConfig(t, false).application_name, clientConfig(t, false).fallback_application_name]).toEqual(['nightly', 'integrity']) }],
  fallback_application_name: [{ value: 'mine', target: (t) => expect([clientConfig(t, false).application_name, clientConfig(t, false).fallback_application_name]).toEqual([undefined, 'mine']) }],
  keepalives: [{ value: '0', target: (t) => expect(clientConfig(t, false).keepAlive).toBe(false) }, { value: '1', target: (t) => expect(clientConfig(t, false).keepAlive).toBe(true) }, { value: 'on', rejected: /keepalives must be 0 or 1/ }],
  keepalives_idle: [{ value: '30', target: (t) => expect(clientConfig(t, false).keepAliveInitialDelayMillis).toBe(30_000) }, { value: 'soon', rejected: /keepalives_idle must be a whole number/ }],
  keepalives_interval: [{ value: '5', rejected: /Node\.js cannot set the interval/ }],
  keepalives_count: [{ value: '3', rejected: /Node\.js cannot set the number/ }],
  tcp_user_timeout: [{ value: '0' }, { value: '1000', rejected: /TCP_USER_TIMEOUT/ }],
  replication: [{ value: 'false' }, { value: 'database', rejected: /not on a replication connection/ }, { value: 'true', rejected: /not on a replication connection/ }],
  gssencmode: [{ value: 'disable' }, { value: 'prefer' }, { value: 'require', rejected: /no GSSAPI encryption/ }, { value: 'maybe', rejected: /invalid value for gssencmode/ }],
  sslmode: [{ value: 'require', target: (t) => expect(t.sslMode).toBe('require') }, { value: 'on', rejected: /invalid sslmode "on"/ }],
  requiressl: [{ value: '1', rejected: /use sslmode=require/ }],
  sslnegotiation: [
    { value: 'postgres', target: (t) => expect(clientConfig(t, true).sslnegotiation).toBe('postgres') },
    { value: 'direct', rejected: /sslnegotiation=direct needs sslmode=require/ },
  ],
  sslcompression: [{ value: '0' }, { value: '1' }, { value: 'yes', rejected: /sslcompression must be 0 or 1/ }],
  sslcert: [{ value: '/nonexistent/client.crt', target: (t) => expect(t.sslCert).toBe('/nonexistent/client.crt') }],
  sslkey: [{ value: '/nonexistent/client.key' }],
  sslpassword: [{ value: 'key-secret', target: (t) => expect(t.sslPassword).toBe('key-secret') }],
  sslcertmode: [{ value: 'allow' }, { value: 'disable', target: (t) => expect(t.sslCertMode).toBe('disable') }, { value: 'require', rejected: /cannot tell whether the server asked/ }],
  sslrootcert: [{ value: 'system', target: (t) => expect([t.sslRootCert, t.sslMode]).toEqual(['system', 'verify-full']) }, { value: '/ca.pem', target: (t) => expect(t.sslRootCert).toBe('/ca.pem') }],
  sslcrl: [{ value: '/crl.pem', target: (t) => expect(t.sslCrl).toBe('/crl.pem') }],
  sslcrldir: [{ value: '/crls', target: (t) => expect(t.sslCrlDir).toBe('/crls') }],
  sslsni: [{ value: '1' }, { value: '0', rejected: /node-pg always sends the host name as SNI; .*hostaddr/ }],
  sslkeylogfile: [{ value: '/tmp/keys', rejected: /does not write TLS key logs/ }],
  requirepeer: [{ value: 'postgres', rejected: /cannot read the peer credentials/ }],
  ssl_min_protocol_version: [{ value: 'TLSv1.3', target: (t) => expect(t.sslMinProtocol).toBe('TLSv1.3') }, { value: 'SSLv3', rejected: /invalid TLS version/ }],
  ssl_max_protocol_version: [{ value: 'tlsv1.2', target: (t) => expect(t.sslMaxProtocol).toBe('TLSv1.2') }],
  min_protocol_version: [{ value: '3.0' }, { value: '3.2', rejected: /protocol version 3\.0 only/ }],
  max_protocol_version: [{ value: 'latest' }, { value: '4.0', rejected: /invalid value for max_protocol_version/ }],
  krbsrvname: [{ value: 'postgres', rejected: /Kerberos/ }],
  gsslib: [{ value: 'gssapi', rejected: /GSSAPI/ }],
  gssdelegation: [{ value: '0' }, { value: '1', rejected: /no GSSAPI/ }],
  service: [{ value: 'no-such-service', rejected: /no service "no-such-service" in / }],
  servicefile: [{ value: '/nonexistent/pg_service.conf' }],
  target_session_attrs: [
    ...['read-write', 'read-only', 'primary', 'standby', 'prefer-standby'].map((value) => ({ value, target: (t: ConnectionTarget) => expect(t.targetSessionAttrs).toBe(value) })),
    { value: 'any', target: (t) => expect(t.targetSessionAttrs).toBeUndefined() },
    { value: 'writable', rejected: /invalid value for target_session_attrs: use one of any, read-write, read-only, primary, standby, prefer-standby/ },
  ],
  load_balance_hosts: [{ value: 'random' }, { value: 'disable' }, { value: 'sometimes', rejected: /invalid value for load_balance_hosts/ }],
  oauth_issuer: [{ value: 'https://issuer', rejected: /OAuth/ }],
  oauth_client_id: [{ value: 'id', rejected: /OAuth/ }],
  oauth_client_secret: [{ value: 'top-secret', rejected: /OAuth/ }],
  oauth_scope: [{ value: 'openid', rejected: /OAuth/ }],
  scram_client_key: [{ value: 'k3y', rejected: /SCRAM keys/ }],
  scram_server_key: [{ value: 'k3y', rejected: /SCRAM keys/ }],
};

const SECRET = new Set(['password', 'sslpassword', 'oauth_client_secret', 'scram_client_key', 'scram_server_key']);

describe('every libpq keyword works or is rejected by name', () => {
  it('the table covers every keyword libpq knows, and nothing else', () => {
    expect(Object.keys(KEYWORDS).sort()).toEqual(Object.keys(LIBPQ_KEYWORDS).sort());
  });

  const rows = Object.entries(KEYWORDS).flatMap(([key, cases]) => cases.map((c) => ({ key, ...c })));
  const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

  it.each(rows)('$key=$value in a keyword string', ({ key, value, target, rejected }) => {
    const text = `${key === 'host' || key === 'hostaddr' ? '' : 'host=db.example.com '}${key}=${quote(value)}`;
    if (rejected) {
      const message = usageError(() => resolve(text));
      expect(message).toMatch(rejected);
      expect(message).toContain(key);
      if (SECRET.has(key)) expect(message).not.toContain(value);
    } else {
      const t = resolve(text);
      target?.(t);
    }
  });

  it('a rejection names the setting as the user wrote it, and never a secret value', () => {
    expect(usageError(() => resolve('host=h gssencmode=require'))).toMatch(/^gssencmode=require in --database-url: /);
    expect(usageError(() => resolve(undefined, { PGHOST: 'h', PGGSSENCMODE: 'require' }))).toMatch(/^PGGSSENCMODE=require: /);
    expect(usageError(() => resolve('host=h oauth_client_secret=hunter2'))).toMatch(/^oauth_client_secret in --database-url: /);
  });

  it.each(rows)('$key=$value as a URL query parameter', ({ key, value, target, rejected }) => {
    const url = `postgres://db.example.com/app?${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
    if (rejected) expect(usageError(() => resolve(url))).toMatch(rejected);
    else target?.(resolve(url));
  });

  const withEnv = rows.filter(({ key }) => LIBPQ_KEYWORDS[key]);
  it.each(withEnv)('$key=$value from its environment variable', ({ key, value, target, rejected }) => {
    const name = LIBPQ_KEYWORDS[key] as string;
    const env = { PGHOST: 'db.example.com', [name]: value };
    if (rejected) {
      const message = usageError(() => resolve(undefined, env));
      expect(message).toMatch(rejected);
      // Named by its variable, as the user set it (or by its keyword, for the plain value errors).
      expect(message.includes(name) || message.includes(key)).toBe(true);
    } else {
      target?.(resolve(undefined, env));
    }
  });

  it('PGHOSTADDR, PGOPTIONS, PGAPPNAME, PGTARGETSESSIONATTRS, PGSSLCERT/PGSSLKEY, PGSERVICE* are read', () => {
    const t = resolve(undefined, {
      PGHOST: 'db.example.com',
      PGHOSTADDR: HOSTADDR,
      PGOPTIONS: '-c work_mem=64MB',
      PGAPPNAME: 'from-env',
      PGTARGETSESSIONATTRS: 'standby',
      PGSSLCERT: '/c.crt',
      PGSSLKEY: '/c.key',
    });
    expect(t).toMatchObject({ host: 'db.example.com', hostaddr: HOSTADDR, options: '-c work_mem=64MB', applicationName: 'from-env', targetSessionAttrs: 'standby', sslCert: '/c.crt', sslKey: '/c.key' });
  });

  it('PGDATESTYLE, PGTZ and PGGEQO become startup settings, before the user options', () => {
    const t = resolve('host=h options=-cwork_mem=1MB', { PGDATESTYLE: 'ISO, DMY', PGTZ: 'Europe/Paris', PGGEQO: 'off' });
    expect(clientConfig(t, false).options).toBe('-c client_encoding=UTF8 -c datestyle=ISO,\\ DMY -c timezone=Europe/Paris -c geqo=off -cwork_mem=1MB');
  });

  it('the connection string wins over the variables, keyword by keyword', () => {
    expect(resolve('host=h application_name=mine', { PGAPPNAME: 'env', PGOPTIONS: '-c x=1' })).toMatchObject({ applicationName: 'mine', options: '-c x=1' });
  });
});

describe('hostaddr: connect to the address, keep the host name for TLS and messages', () => {
  it('the TCP connection goes to hostaddr; TLS checks and sends (SNI) the host name', () => {
    const t = resolve(`host=db.example.com hostaddr=${HOSTADDR} sslmode=require`);
    const config = clientConfig(t, true);
    expect(config.host).toBe(HOSTADDR);
    expect(config.ssl).toMatchObject({ host: 'db.example.com', servername: 'db.example.com' });
    expect(describeTarget(t)).toBe(`${os.userInfo().username}@db.example.com (hostaddr ${HOSTADDR}):5432/${os.userInfo().username}`);
  });

  it('sslsni=0 with a hostaddr sends no SNI but still checks the name', () => {
    const ssl = clientConfig(resolve(`host=db.example.com hostaddr=${HOSTADDR} sslsni=0 sslmode=require`), true).ssl as Record<string, unknown>;
    expect(ssl.host).toBe('db.example.com');
    expect('servername' in ssl).toBe(false);
  });

  it('hostaddr alone is also the name', () => {
    const t = resolve(`hostaddr=${HOSTADDR} user=u dbname=d`);
    expect([t.host, describeTarget(t)]).toEqual([HOSTADDR, `u@${HOSTADDR}:5432/d`]);
  });

  it('a hostaddr with a socket directory as host still connects over TCP', () => {
    const t = resolve(`host=/var/run/postgresql hostaddr=${HOSTADDR} sslmode=require`);
    expect(clientConfig(t, true).host).toBe(HOSTADDR);
  });
});

describe('TLS files', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-tls-'));
  const cert = path.join(dir, 'client.crt');
  const key = path.join(dir, 'client.key');
  const looseKey = path.join(dir, 'loose.key');
  const crlDir = path.join(dir, 'crls');
  writeFileSync(cert, 'CERT');
  writeFileSync(key, 'KEY');
  chmodSync(key, 0o600);
  writeFileSync(looseKey, 'KEY');
  chmodSync(looseKey, 0o644);
  mkdirSync(crlDir);
  writeFileSync(path.join(crlDir, 'a.r0'), 'CRL-A');
  writeFileSync(path.join(crlDir, 'b.r0'), 'CRL-B');
  writeFileSync(path.join(dir, 'root.crt'), 'ROOT');

  it('sslcert, sslkey and sslpassword become the client certificate, its key and passphrase', () => {
    const ssl = clientConfig(resolve(`host=h sslmode=require sslcert=${cert} sslkey=${key} sslpassword=pp`), true).ssl as Record<string, unknown>;
    expect([ssl.cert, ssl.key, ssl.passphrase]).toEqual(['CERT', 'KEY', 'pp']);
  });

  it('sslcertmode=disable sends no certificate', () => {
    const ssl = clientConfig(resolve(`host=h sslmode=require sslcert=${cert} sslkey=${key} sslcertmode=disable`), true).ssl as Record<string, unknown>;
    expect('cert' in ssl).toBe(false);
  });

  it.each([
    [`sslcert=${path.join(dir, 'missing.crt')} sslkey=${key}`, /^cannot read sslcert .*missing\.crt \(ENOENT\); give the path of the client certificate$/],
    [`sslcert=${cert} sslkey=${path.join(dir, 'missing.key')}`, /^cannot read sslkey .*missing\.key \(ENOENT\)/],
    [`sslcert=${cert} sslkey=${dir}`, /^sslkey .* is not a plain file/],
    [`sslcert=${cert} sslkey=${looseKey}`, /^private key file .*loose\.key has group or world access/],
    [`sslrootcert=${path.join(dir, 'root.crt')} sslcrl=${path.join(dir, 'missing.crl')}`, /^cannot read sslcrl .*missing\.crl/],
  ])('an unreadable file is a clear error: %s', (extra, message) => {
    expect(usageError(() => clientConfig(resolve(`host=h sslmode=require ${extra}`), true))).toMatch(message);
  });

  it('sslcrl and every file of sslcrldir are revocation lists, used when the chain is verified', () => {
    const ssl = clientConfig(resolve(`host=h sslmode=verify-ca sslrootcert=${path.join(dir, 'root.crt')} sslcrl=${cert} sslcrldir=${crlDir}`), true).ssl as Record<string, unknown>;
    expect(ssl.crl).toEqual(['CERT', 'CRL-A', 'CRL-B']);
  });

  it('ssl_min/max_protocol_version are the TLS version range; min above max is an error', () => {
    expect(clientConfig(resolve('host=h sslmode=require ssl_min_protocol_version=TLSv1.3'), true).ssl).toMatchObject({ minVersion: 'TLSv1.3' });
    expect(usageError(() => resolve('host=h ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2'))).toMatch(/ssl_min_protocol_version is above/);
  });

  it('sslrootcert=system wants verify-full; a weaker explicit sslmode is an error', () => {
    expect(usageError(() => resolve('host=h sslrootcert=system sslmode=require'))).toMatch(/^sslmode=require in --database-url: sslrootcert=system .*verify-full/);
  });

  it('~/.postgresql/postgresql.crt and root.crt are used when they exist, as libpq does', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'integrity-tls-home-'));
    mkdirSync(path.join(home, '.postgresql'));
    writeFileSync(path.join(home, '.postgresql', 'postgresql.crt'), 'HOME-CERT');
    writeFileSync(path.join(home, '.postgresql', 'postgresql.key'), 'HOME-KEY', { mode: 0o600 });
    writeFileSync(path.join(home, '.postgresql', 'root.crt'), 'HOME-ROOT');
    const ssl = clientConfig(resolveConnection({ databaseUrl: 'host=h sslmode=require', env: { HOME: home }, connectTimeoutSec: undefined, applicationName: 'i' }), true).ssl as Record<string, unknown>;
    expect([ssl.cert, ssl.key, ssl.ca, ssl.rejectUnauthorized]).toEqual(['HOME-CERT', 'HOME-KEY', 'HOME-ROOT', true]);
  });

  it('sslnegotiation=direct with sslmode=require', () => {
    expect(clientConfig(resolve('host=h sslmode=require sslnegotiation=direct'), true).sslnegotiation).toBe('direct');
  });
});

describe('authenticationGuard: require_auth and channel_binding, before any password is sent', () => {
  function run(target: Partial<ConnectionTarget>, withSsl: boolean, request: string | null, mechanisms: string[] = []) {
    const full = { ...resolve('host=h user=u password=pw'), ...target } as ConnectionTarget;
    const guard = authenticationGuard(full, withSsl);
    const connection = new EventEmitter();
    const client = { connection, saslSession: null as { mechanism: string } | null };
    guard.watch(client);
    if (request) connection.emit(request, { mechanisms });
    if (request === 'authenticationSASL') {
      client.saslSession = { mechanism: mechanisms.includes('SCRAM-SHA-256-PLUS') && withSsl && full.channelBinding !== 'disable' ? 'SCRAM-SHA-256-PLUS' : 'SCRAM-SHA-256' };
      connection.emit('authenticationSASLContinue', {});
    }
    return request ? guard.password() : Promise.resolve().then(() => guard.authenticated());
  }
  const scram = { methods: ['scram-sha-256' as const], negated: false, text: 'scram-sha-256' };

  it('gives the password when allowed', async () => {
    await expect(run({}, false, 'authenticationMD5Password')).resolves.toBe('pw');
    await expect(run({ requireAuth: scram }, false, 'authenticationSASL', ['SCRAM-SHA-256'])).resolves.toBe('pw');
    await expect(run({ channelBinding: 'require' }, true, 'authenticationSASL', ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])).resolves.toBe('pw');
  });

  it.each([
    [{ requireAuth: scram }, false, 'authenticationCleartextPassword', [], /^require_auth=scram-sha-256, but the server asked for a cleartext password$/],
    [{ requireAuth: scram }, false, null, [], /^require_auth=scram-sha-256, but the server did not ask the client to authenticate$/],
    [{ requireAuth: { methods: ['none' as const], negated: true, text: '!none' } }, false, null, [], /^require_auth=!none/],
    [{ requireAuth: { methods: ['md5' as const], negated: true, text: '!md5' } }, false, 'authenticationMD5Password', [], /^require_auth=!md5, but the server asked for an MD5 password/],
    [{ channelBinding: 'require' as const }, true, 'authenticationMD5Password', [], /^channel_binding=require, but the server asked for an MD5 password/],
    [{ channelBinding: 'require' as const }, true, 'authenticationSASL', ['SCRAM-SHA-256'], /does not offer SCRAM-SHA-256-PLUS/],
    [{ channelBinding: 'require' as const }, false, 'authenticationSASL', ['SCRAM-SHA-256-PLUS'], /does not offer SCRAM-SHA-256-PLUS/],
    [{ channelBinding: 'require' as const }, true, null, [], /^channel_binding=require, but the server authenticated the client without channel binding/],
    [{ password: undefined }, false, 'authenticationMD5Password', [], /^the server asks for a password for user u and none was given/],
  ] as [Partial<ConnectionTarget>, boolean, string | null, string[], RegExp][])('%j over SSL=%s, %s: refused', async (target, withSsl, request, mechanisms, message) => {
    const outcome = run(target, withSsl, request, mechanisms);
    await expect(outcome).rejects.toBeInstanceOf(ConnectionRequirementError);
    await expect(outcome).rejects.toThrow(message);
  });
});

describe('channel_binding=require checks the mechanism the client used, once authenticated', () => {
  it('SCRAM-SHA-256 without binding, though PLUS was offered, is refused', async () => {
    const guard = authenticationGuard({ ...resolve('host=h user=u password=pw'), channelBinding: 'require' }, true);
    const connection = new EventEmitter();
    const client = { connection, saslSession: null as { mechanism: string } | null };
    guard.watch(client);
    connection.emit('authenticationSASL', { mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] });
    await expect(guard.password()).resolves.toBe('pw');
    client.saslSession = { mechanism: 'SCRAM-SHA-256' };
    connection.emit('authenticationSASLContinue', {});
    expect(() => guard.authenticated()).toThrow(/^channel_binding=require, but the client authenticated with SCRAM-SHA-256 instead of SCRAM-SHA-256-PLUS$/);
    client.saslSession = { mechanism: 'SCRAM-SHA-256-PLUS' };
    connection.emit('authenticationSASLContinue', {});
    expect(() => guard.authenticated()).not.toThrow();
  });
});

describe('target_session_attrs as libpq checks it', () => {
  const primary = { inRecovery: false, readOnly: false };
  const standby = { inRecovery: true, readOnly: true };
  it.each([
    ['any', primary, null],
    ['any', standby, null],
    ['prefer-standby', primary, null],
    ['read-write', primary, null],
    ['read-write', standby, /read-only/],
    ['read-write', { inRecovery: false, readOnly: true }, /read-only/],
    ['read-only', primary, /read-write/],
    ['read-only', standby, null],
    ['primary', primary, null],
    ['primary', standby, /^target_session_attrs=primary, but the server is a standby/],
    ['standby', standby, null],
    ['standby', primary, /^target_session_attrs=standby, but the server is a primary/],
  ] as const)('%s on %j', (want, server, expected) => {
    const mismatch = sessionAttributesMismatch(want, server);
    if (expected === null) expect(mismatch).toBeNull();
    else expect(mismatch).toMatch(expected);
  });
});

describe('which failures libpq retries the other way', () => {
  const err = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  it.each([
    ['prefer, SSL refused', new Error('The server does not support SSL connections'), true, 'prefer', true],
    ['prefer, TLS verification failed', err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), true, 'prefer', true],
    ['prefer, server error over SSL', err('28000'), true, 'prefer', true],
    ['prefer, refused port', err('ECONNREFUSED'), true, 'prefer', false],
    ['prefer, broken pipe', err('EPIPE'), true, 'prefer', false],
    ['prefer, timeout', new Error('timeout expired'), true, 'prefer', false],
    ['prefer, second attempt', err('28000'), false, 'prefer', false],
    ['allow, server error without SSL', err('28000'), false, 'allow', true],
    ['allow, refused port', err('ECONNREFUSED'), false, 'allow', false],
    ['require, TLS failure', err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), true, 'require', false],
    ['prefer, requirement not met', new ConnectionRequirementError('x'), true, 'prefer', false],
  ] as const)('%s', (_name, error, withSsl, mode, expected) => {
    expect(triesOtherWay(error, withSsl, mode)).toBe(expected);
  });
});
