import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientConfig,
  describeTarget,
  isSocketHost,
  parseConnectionString,
  redactSecrets,
  resolveConnection,
  sslAttempts,
  type ConnectionTarget,
  type ResolveInput,
  type SslMode,
} from '../../src/db/connection.js';
import { UsageError } from '../../src/errors.js';

/** PGHOST is always given unless a test is about the default host, which looks for a socket on disk. */
const HOST_ENV = { PGHOST: 'pg.internal' };

/** An empty home directory: no ~/.pgpass, ~/.pg_service.conf or ~/.postgresql/ of the machine's user is read. */
const HOME = mkdtempSync(path.join(os.tmpdir(), 'integrity-home-'));
const ROOT_CRT = path.join(HOME, '.postgresql', 'root.crt');

function resolve(input: Partial<ResolveInput>): ConnectionTarget {
  const env = { HOME, ...(input.env ?? HOST_ENV) };
  return resolveConnection({ databaseUrl: undefined, connectTimeoutSec: undefined, applicationName: 'integrity-test', ...input, env });
}

function parsed(text: string, origin = '--database-url'): Record<string, string> {
  return Object.fromEntries(parseConnectionString(text, origin));
}

/** The UsageError a call throws; fails the test when it throws something else or nothing. */
function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).name).toBe('UsageError');
    return err as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

function target(over: Partial<ConnectionTarget> = {}): ConnectionTarget {
  return {
    host: 'db.example.com',
    port: 5432,
    database: 'appdb',
    user: 'alice',
    password: 's3cret-pw',
    sslMode: 'prefer',
    sslRootCert: undefined,
    connectTimeoutSec: 10,
    applicationName: 'integrity-test',
    source: 'url',
    ...over,
  };
}

describe('parseConnectionString: URLs', () => {
  const cases: { url: string; expected: Record<string, string> }[] = [
    {
      url: 'postgres://alice:s3cret@db.example.com:6543/appdb',
      expected: { host: 'db.example.com', port: '6543', user: 'alice', password: 's3cret', dbname: 'appdb' },
    },
    { url: 'postgresql://alice@db.example.com/appdb', expected: { host: 'db.example.com', user: 'alice', dbname: 'appdb' } },
    { url: 'POSTGRESQL://alice@h/appdb', expected: { host: 'h', user: 'alice', dbname: 'appdb' } },
    { url: 'postgres://h', expected: { host: 'h' } },
    { url: 'postgres://h/', expected: { host: 'h' } },
    { url: 'postgres://h:5432', expected: { host: 'h', port: '5432' } },
    {
      url: 'postgres://alice:p%40ss%3Aw%2Fd%20%25@h/my%20db',
      expected: { host: 'h', user: 'alice', password: 'p@ss:w/d %', dbname: 'my db' },
    },
    { url: 'postgres://a%40b:x@h/db', expected: { host: 'h', user: 'a@b', password: 'x', dbname: 'db' } },
    { url: 'postgres://h/my db', expected: { host: 'h', dbname: 'my db' } },
    { url: 'postgres://h/caf%C3%A9', expected: { host: 'h', dbname: 'café' } },
    { url: 'postgres://u@[::1]:5433/db', expected: { host: '::1', port: '5433', user: 'u', dbname: 'db' } },
    { url: 'postgres://u@[2001:db8::10]/db', expected: { host: '2001:db8::10', user: 'u', dbname: 'db' } },
    { url: 'postgres://h/db?sslmode=require', expected: { host: 'h', dbname: 'db', sslmode: 'require' } },
    {
      url: 'postgres://h/db?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem&application_name=a%20b',
      expected: { host: 'h', dbname: 'db', sslmode: 'verify-full', sslrootcert: '/etc/ssl/ca.pem', application_name: 'a b' },
    },
    { url: 'postgres://h/db?connect_timeout=3', expected: { host: 'h', dbname: 'db', connect_timeout: '3' } },
    { url: 'postgres://h/db?port=6000', expected: { host: 'h', dbname: 'db', port: '6000' } },
    { url: 'postgres://h/db?database=other', expected: { host: 'h', dbname: 'other' } },
    {
      url: 'postgres://u@localhost/db?host=/var/run/postgresql',
      expected: { host: '/var/run/postgresql', user: 'u', dbname: 'db' },
    },
    { url: 'postgres://h/db?password=s%2Bcret%26x', expected: { host: 'h', dbname: 'db', password: 's+cret&x' } },
  ];
  it.each(cases)('$url', ({ url, expected }) => {
    expect(parsed(url)).toEqual(expected);
  });
});

describe('parseConnectionString: libpq keyword strings', () => {
  const cases: { text: string; expected: Record<string, string> }[] = [
    {
      text: "host=db.example.com port=5433 dbname='my db' user=alice password='a\\'b'",
      expected: { host: 'db.example.com', port: '5433', dbname: 'my db', user: 'alice', password: "a'b" },
    },
    { text: 'host=/var/run/postgresql dbname=app', expected: { host: '/var/run/postgresql', dbname: 'app' } },
    { text: 'host = h   dbname = x', expected: { host: 'h', dbname: 'x' } },
    { text: '  host=h  ', expected: { host: 'h' } },
    { text: "password='with space' sslmode=require", expected: { password: 'with space', sslmode: 'require' } },
    { text: "password='back\\\\slash'", expected: { password: 'back\\slash' } },
    { text: "dbname='' user=u", expected: { dbname: '', user: 'u' } },
    { text: 'dbname=x dbname=y', expected: { dbname: 'y' } },
    { text: 'connect_timeout=4 sslrootcert=/ca.pem', expected: { connect_timeout: '4', sslrootcert: '/ca.pem' } },
  ];
  it.each(cases)('$text', ({ text, expected }) => {
    expect(parsed(text)).toEqual(expected);
  });
});

describe('parseConnectionString: errors', () => {
  const cases: { text: string; message: string }[] = [
    {
      text: 'mysql://h/db',
      message: 'DATABASE_URL is not a connection string: expected postgres://user@host:5432/dbname or "host=... dbname=..."',
    },
    {
      text: 'db.example.com',
      message: 'DATABASE_URL is not a connection string: expected postgres://user@host:5432/dbname or "host=... dbname=..."',
    },
    { text: '', message: 'DATABASE_URL is not a connection string: expected postgres://user@host:5432/dbname or "host=... dbname=..."' },
    { text: 'postgres://h:99999/db', message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host' },
    { text: 'postgres://u:pw@h:port/db', message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host' },
    { text: 'postgres://u:p%ZZ@h/db', message: 'DATABASE_URL has a malformed %-escape; percent-encode special characters in it' },
    { text: 'postgres://h/db%E0%A4%A', message: 'DATABASE_URL has a malformed %-escape; percent-encode special characters in it' },
    {
      text: 'host=h garbage',
      message: 'DATABASE_URL could not be read at character 7: use key=value pairs, quoting values with spaces in single quotes',
    },
  ];
  it.each(cases)('$text', ({ text, message }) => {
    const err = usageError(() => parseConnectionString(text, 'DATABASE_URL'));
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('\n');
  });

  it('does not echo a URL password in the error', () => {
    const err = usageError(() => parseConnectionString('postgres://u:hunter2@h:notaport/db', '--database-url'));
    expect(err.message).not.toContain('hunter2');
  });
});

/**
 * libpq accepts these (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING);
 * parsing postgres:// as http:// loses or rejects them.
 */
describe('parseConnectionString: libpq compatibility', () => {
  it('postgres:///mydb?host=/var/run/postgresql: empty host, socket directory in the query', () => {
    expect(parsed('postgres:///mydb?host=/var/run/postgresql')).toEqual({ host: '/var/run/postgresql', dbname: 'mydb' });
  });

  it('postgresql:///mydb?host=localhost&port=5433 (the libpq documentation example)', () => {
    expect(parsed('postgresql:///mydb?host=localhost&port=5433')).toEqual({ host: 'localhost', port: '5433', dbname: 'mydb' });
  });

  it('postgres:///mydb: no host means the default host, and mydb is the database', () => {
    expect(parsed('postgres:///mydb')).toEqual({ dbname: 'mydb' });
  });

  it('postgresql://user@/mydb?host=/tmp: a user with an empty host', () => {
    expect(parsed('postgresql://user@/mydb?host=/tmp')).toEqual({ user: 'user', host: '/tmp', dbname: 'mydb' });
  });

  it('postgresql://%2Fvar%2Frun%2Fpostgresql/dbname: a percent-encoded socket directory as the host', () => {
    expect(parsed('postgresql://%2Fvar%2Frun%2Fpostgresql/dbname')).toEqual({ host: '/var/run/postgresql', dbname: 'dbname' });
  });

  it('postgres://db.example.com:80/db keeps port 80', () => {
    expect(parsed('postgres://db.example.com:80/db')).toEqual({ host: 'db.example.com', port: '80', dbname: 'db' });
    expect(resolve({ databaseUrl: 'postgres://db.example.com:80/db' }).port).toBe(80);
  });

  it("?password=p+q: '+' is not a space in a libpq URI", () => {
    expect(parsed('postgres://h/db?password=p+q').password).toBe('p+q');
  });

  it("host=h dbname='abc: an unterminated quote is an error", () => {
    usageError(() => parseConnectionString("host=h dbname='abc", 'DATABASE_URL'));
  });

  it('a keyword string that cannot be read does not echo the password', () => {
    const err = usageError(() => parseConnectionString('password=hunter2 oops', 'DATABASE_URL'));
    expect(err.message).not.toContain('hunter2');
  });
});

describe('resolveConnection: where the settings come from', () => {
  const env = {
    DATABASE_URL: 'postgres://env-user:env-pw@env-host:5001/env-db',
    PGHOST: 'pg-host',
    PGPORT: '5002',
    PGUSER: 'pg-user',
    PGPASSWORD: 'pg-pw',
    PGDATABASE: 'pg-db',
  };
  const cases: { name: string; input: Partial<ResolveInput>; expected: Pick<ConnectionTarget, 'host' | 'port' | 'user' | 'password' | 'database' | 'source'> }[] = [
    {
      name: '--database-url wins over DATABASE_URL and PG*',
      input: { databaseUrl: 'postgres://flag-user:flag-pw@flag-host:5000/flag-db', env },
      expected: { host: 'flag-host', port: 5000, user: 'flag-user', password: 'flag-pw', database: 'flag-db', source: 'url' },
    },
    {
      name: 'DATABASE_URL wins over PG*',
      input: { env },
      expected: { host: 'env-host', port: 5001, user: 'env-user', password: 'env-pw', database: 'env-db', source: 'DATABASE_URL' },
    },
    {
      name: 'PG* alone',
      input: { env: { ...env, DATABASE_URL: undefined } },
      expected: { host: 'pg-host', port: 5002, user: 'pg-user', password: 'pg-pw', database: 'pg-db', source: 'environment' },
    },
    {
      name: 'surrounding whitespace is trimmed from DATABASE_URL',
      input: { env: { ...env, DATABASE_URL: '  postgres://w@wh/wdb \n' } },
      expected: { host: 'wh', port: 5002, user: 'w', password: 'pg-pw', database: 'wdb', source: 'DATABASE_URL' },
    },
    {
      name: 'a URL without some parts takes them from PG*, as libpq does',
      input: { databaseUrl: 'postgres://only-host', env },
      expected: { host: 'only-host', port: 5002, user: 'pg-user', password: 'pg-pw', database: 'pg-db', source: 'url' },
    },
    {
      name: 'a keyword string in --database-url',
      input: { databaseUrl: "host=kw-host dbname='kw db' password='a\\'b'", env },
      expected: { host: 'kw-host', port: 5002, user: 'pg-user', password: "a'b", database: 'kw db', source: 'url' },
    },
    {
      name: 'empty PG* values count as unset',
      input: { env: { PGHOST: 'h', PGPORT: '', PGUSER: 'u', PGPASSWORD: '', PGDATABASE: '' } },
      expected: { host: 'h', port: 5432, user: 'u', password: undefined, database: 'u', source: 'environment' },
    },
  ];
  it.each(cases)('$name', ({ input, expected }) => {
    expect(resolve(input)).toMatchObject(expected);
  });

  it('reads every PG* variable', () => {
    expect(
      resolve({
        env: {
          PGHOST: 'pg.example.com',
          PGPORT: '6432',
          PGUSER: 'bob',
          PGPASSWORD: 'pw-from-env',
          PGDATABASE: 'shop',
          PGSSLMODE: 'verify-full',
          PGSSLROOTCERT: '/etc/ssl/root.crt',
          PGCONNECT_TIMEOUT: '7',
        },
        applicationName: 'integrity',
      }),
    ).toEqual({
      host: 'pg.example.com',
      port: 6432,
      database: 'shop',
      user: 'bob',
      password: 'pw-from-env',
      sslMode: 'verify-full',
      sslRootCert: '/etc/ssl/root.crt',
      connectTimeoutSec: 7,
      applicationName: undefined,
      fallbackApplicationName: 'integrity',
      source: 'environment',
    });
  });

  it('reads everything from a full URL', () => {
    expect(
      resolve({
        databaseUrl: 'postgresql://carol:p%40ss@[::1]:6543/my%20db?sslmode=require&connect_timeout=4&sslrootcert=/ca.pem',
        env: {},
      }),
    ).toEqual({
      host: '::1',
      port: 6543,
      database: 'my db',
      user: 'carol',
      password: 'p@ss',
      sslMode: 'require',
      sslRootCert: '/ca.pem',
      connectTimeoutSec: 4,
      applicationName: undefined,
      fallbackApplicationName: 'integrity-test',
      source: 'url',
    });
  });

  it('reads a socket directory from ?host=', () => {
    const t = resolve({ databaseUrl: 'postgres://u@localhost/db?host=/var/run/postgresql&sslmode=require' });
    expect(t.host).toBe('/var/run/postgresql');
    expect(isSocketHost(t.host)).toBe(true);
    expect(sslAttempts(t)).toEqual([false]);
  });

  it('ignores process.env: only the env it is given counts', () => {
    expect(resolve({ env: { PGHOST: 'h', PGUSER: 'u' } })).toMatchObject({ host: 'h', user: 'u', database: 'u', password: undefined });
  });
});

describe('resolveConnection: defaults', () => {
  it('port 5432, sslmode prefer, timeout 10, no password, the root certificate libpq looks for in ~/.postgresql', () => {
    expect(resolve({ env: { PGHOST: 'h', PGUSER: 'alice' } })).toEqual({
      host: 'h',
      port: 5432,
      database: 'alice',
      user: 'alice',
      password: undefined,
      sslMode: 'prefer',
      sslRootCert: ROOT_CRT,
      connectTimeoutSec: 10,
      applicationName: undefined,
      fallbackApplicationName: 'integrity-test',
      source: 'environment',
    });
  });

  it.each([
    { name: 'PGUSER', input: { env: { PGHOST: 'h', PGUSER: 'dave' } }, database: 'dave' },
    { name: 'URL user', input: { databaseUrl: 'postgres://erin@h' }, database: 'erin' },
    { name: 'URL user, empty path', input: { databaseUrl: 'postgres://erin@h/' }, database: 'erin' },
    { name: 'keyword user', input: { databaseUrl: 'host=h user=frank' }, database: 'frank' },
    { name: 'URL user over PGUSER', input: { databaseUrl: 'postgres://gina@h', env: { PGHOST: 'h', PGUSER: 'dave' } }, database: 'gina' },
  ] as { name: string; input: Partial<ResolveInput>; database: string }[])('dbname defaults to the user ($name)', ({ input, database }) => {
    expect(resolve(input).database).toBe(database);
  });

  it('the user defaults to the operating-system user', () => {
    const t = resolve({ env: { PGHOST: 'h' } });
    expect(t.user).toBe(os.userInfo().username);
    expect(t.database).toBe(os.userInfo().username);
  });

  it('the host defaults to a socket directory or localhost', () => {
    const host = resolve({ env: { PGUSER: 'u' } }).host;
    expect(['/var/run/postgresql', '/tmp', 'localhost']).toContain(host);
  });

  it("the tool's name is only the fallback: the user's application_name wins", () => {
    expect(resolve({ applicationName: 'my-app' })).toMatchObject({ applicationName: undefined, fallbackApplicationName: 'my-app' });
    expect(resolve({ applicationName: 'my-app', databaseUrl: 'postgres://h/db?application_name=nightly' })).toMatchObject({ applicationName: 'nightly', fallbackApplicationName: 'my-app' });
  });
});

describe('resolveConnection: connect timeout', () => {
  const cases: { name: string; explicit: number | undefined; url: string | undefined; env: string | undefined; expected: number }[] = [
    { name: 'explicit wins over URL and env', explicit: 5, url: 'postgres://h/db?connect_timeout=3', env: '7', expected: 5 },
    { name: 'explicit wins over env', explicit: 2.5, url: undefined, env: '7', expected: 2.5 },
    { name: 'URL wins over env', explicit: undefined, url: 'postgres://h/db?connect_timeout=3', env: '7', expected: 3 },
    { name: 'keyword string wins over env', explicit: undefined, url: 'host=h connect_timeout=4', env: '7', expected: 4 },
    { name: 'env when the URL has none', explicit: undefined, url: 'postgres://h/db', env: '7', expected: 7 },
    { name: 'env alone', explicit: undefined, url: undefined, env: '12', expected: 12 },
    { name: 'fractional env', explicit: undefined, url: undefined, env: '0.5', expected: 0.5 },
    { name: '10 by default', explicit: undefined, url: undefined, env: undefined, expected: 10 },
    { name: '10 when env is empty', explicit: undefined, url: undefined, env: '', expected: 10 },
  ];
  it.each(cases)('$name', ({ explicit, url, env, expected }) => {
    const t = resolve({ databaseUrl: url, connectTimeoutSec: explicit, env: { ...HOST_ENV, PGCONNECT_TIMEOUT: env } });
    expect(t.connectTimeoutSec).toBe(expected);
  });

  it('DATABASE_URL connect_timeout wins over PGCONNECT_TIMEOUT', () => {
    const t = resolve({ env: { DATABASE_URL: 'postgres://h/db?connect_timeout=9', PGCONNECT_TIMEOUT: '7' } });
    expect(t.connectTimeoutSec).toBe(9);
  });
});

describe('resolveConnection: invalid settings', () => {
  const cases: { name: string; input: Partial<ResolveInput>; message: string }[] = [
    { name: 'PGPORT not a number', input: { env: { ...HOST_ENV, PGPORT: 'abc' } }, message: 'invalid port "abc": give a number between 1 and 65535' },
    { name: 'PGPORT 0', input: { env: { ...HOST_ENV, PGPORT: '0' } }, message: 'invalid port "0": give a number between 1 and 65535' },
    { name: 'PGPORT 65536', input: { env: { ...HOST_ENV, PGPORT: '65536' } }, message: 'invalid port "65536": give a number between 1 and 65535' },
    { name: 'PGPORT negative', input: { env: { ...HOST_ENV, PGPORT: '-1' } }, message: 'invalid port "-1": give a number between 1 and 65535' },
    { name: 'PGPORT fractional', input: { env: { ...HOST_ENV, PGPORT: '54.32' } }, message: 'invalid port "54.32": give a number between 1 and 65535' },
    { name: 'URL ?port=', input: { databaseUrl: 'postgres://h/db?port=x1' }, message: 'invalid port "x1": give a number between 1 and 65535' },
    { name: 'keyword port', input: { databaseUrl: 'host=h port=70000' }, message: 'invalid port "70000": give a number between 1 and 65535' },
    {
      name: 'PGSSLMODE unknown',
      input: { env: { ...HOST_ENV, PGSSLMODE: 'bogus' } },
      message: 'invalid sslmode "bogus": use one of disable, allow, prefer, require, verify-ca, verify-full',
    },
    {
      name: 'URL ?sslmode= unknown',
      input: { databaseUrl: 'postgres://h/db?sslmode=on' },
      message: 'invalid sslmode "on": use one of disable, allow, prefer, require, verify-ca, verify-full',
    },
    {
      name: 'PGCONNECT_TIMEOUT not a number',
      input: { env: { ...HOST_ENV, PGCONNECT_TIMEOUT: 'soon' } },
      message: 'invalid connect_timeout "soon": give a number of seconds above 0',
    },
    {
      name: 'URL connect_timeout=0',
      input: { databaseUrl: 'postgres://h/db?connect_timeout=0' },
      message: 'invalid connect_timeout "0": give a number of seconds above 0',
    },
    {
      name: 'negative PGCONNECT_TIMEOUT',
      input: { env: { ...HOST_ENV, PGCONNECT_TIMEOUT: '-3' } },
      message: 'invalid connect_timeout "-3": give a number of seconds above 0',
    },
    {
      name: 'invalid --database-url',
      input: { databaseUrl: 'mysql://h/db' },
      message: '--database-url is not a connection string: expected postgres://user@host:5432/dbname or "host=... dbname=..."',
    },
    {
      name: 'invalid DATABASE_URL',
      input: { env: { DATABASE_URL: 'postgres://h:99999/db' } },
      message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host',
    },
  ];
  it.each(cases)('$name', ({ input, message }) => {
    const err = usageError(() => resolve(input));
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('\n');
  });

  it('an invalid --database-url is reported even when DATABASE_URL is valid', () => {
    const err = usageError(() => resolve({ databaseUrl: 'nonsense', env: { DATABASE_URL: 'postgres://h/db' } }));
    expect(err.message).toMatch(/^--database-url is not a connection string/);
  });

  it('errors about other settings do not contain the password', () => {
    const err = usageError(() => resolve({ databaseUrl: 'postgres://u:hunter2@h/db?sslmode=maybe' }));
    expect(err.message).not.toContain('hunter2');
  });
});

describe('sslAttempts', () => {
  const modes: { sslMode: SslMode; expected: boolean[] }[] = [
    { sslMode: 'disable', expected: [false] },
    { sslMode: 'allow', expected: [false, true] },
    { sslMode: 'prefer', expected: [true, false] },
    { sslMode: 'require', expected: [true] },
    { sslMode: 'verify-ca', expected: [true] },
    { sslMode: 'verify-full', expected: [true] },
  ];
  it.each(modes)('$sslMode over TCP: $expected', ({ sslMode, expected }) => {
    expect(sslAttempts(target({ sslMode }))).toEqual(expected);
    expect(sslAttempts(target({ sslMode, host: '::1' }))).toEqual(expected);
  });
  it.each(modes)('$sslMode over a socket: [false]', ({ sslMode }) => {
    expect(sslAttempts(target({ sslMode, host: '/var/run/postgresql' }))).toEqual([false]);
    expect(sslAttempts(target({ sslMode, host: '/tmp' }))).toEqual([false]);
  });

  it.each([
    { url: 'postgres://h/db', expected: [true, false] },
    { url: 'postgres://h/db?sslmode=disable', expected: [false] },
    { url: 'postgres://h/db?sslmode=allow', expected: [false, true] },
    { url: 'postgres://h/db?sslmode=require', expected: [true] },
    { url: 'postgres://h/db?sslmode=verify-full', expected: [true] },
    { url: 'host=/tmp sslmode=verify-full', expected: [false] },
  ])('from $url', ({ url, expected }) => {
    expect(sslAttempts(resolve({ databaseUrl: url }))).toEqual(expected);
  });
});

describe('isSocketHost', () => {
  it.each([
    { host: '/var/run/postgresql', expected: true },
    { host: '/tmp', expected: true },
    { host: 'localhost', expected: false },
    { host: '127.0.0.1', expected: false },
    { host: '::1', expected: false },
    { host: 'db.example.com', expected: false },
  ])('$host -> $expected', ({ host, expected }) => {
    expect(isSocketHost(host)).toBe(expected);
  });
});

describe('clientConfig', () => {
  let dir: string;
  let caFile: string;
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-conn-'));
    caFile = path.join(dir, 'root.crt');
    writeFileSync(caFile, PEM);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('maps the target onto pg settings, without SSL', () => {
    expect(clientConfig(target({ port: 6543, connectTimeoutSec: 2.5 }), false)).toEqual({
      host: 'db.example.com',
      port: 6543,
      user: 'alice',
      password: 's3cret-pw',
      database: 'appdb',
      application_name: 'integrity-test',
      fallback_application_name: 'integrity',
      options: '-c client_encoding=UTF8',
      keepAlive: true,
      connectionTimeoutMillis: 2500,
      enableChannelBinding: true,
      sslnegotiation: 'postgres',
      ssl: false,
    });
  });

  it('rounds the timeout to whole milliseconds', () => {
    expect(clientConfig(target({ connectTimeoutSec: 0.0015 }), false).connectionTimeoutMillis).toBe(2);
    expect(clientConfig(target({ connectTimeoutSec: 10 }), false).connectionTimeoutMillis).toBe(10_000);
  });

  it('passes an undefined password through', () => {
    expect(clientConfig(target({ password: undefined }), false).password).toBeUndefined();
  });

  it.each([
    { sslMode: 'allow' as const, ssl: { rejectUnauthorized: false } },
    { sslMode: 'prefer' as const, ssl: { rejectUnauthorized: false } },
    { sslMode: 'require' as const, ssl: { rejectUnauthorized: false } },
  ])('$sslMode with SSL and no root certificate: $ssl', ({ sslMode, ssl }) => {
    expect(clientConfig(target({ sslMode }), true).ssl).toEqual(ssl);
  });

  it.each(['verify-ca', 'verify-full'] as SslMode[])('%s without a root certificate is an error naming sslrootcert, as in libpq', (sslMode) => {
    expect(usageError(() => clientConfig(target({ sslMode }), true)).message).toMatch(/^cannot read sslrootcert \(none given\); .*sslrootcert=system/);
  });

  it('sslrootcert=system verifies against the trusted roots, with the host name', () => {
    expect(clientConfig(target({ sslMode: 'verify-full', sslRootCert: 'system' }), true).ssl).toEqual({ rejectUnauthorized: true });
  });

  it.each(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as SslMode[])('%s without SSL: ssl false', (sslMode) => {
    expect(clientConfig(target({ sslMode, sslRootCert: caFile }), false).ssl).toBe(false);
  });

  it('verify-ca checks the chain but not the host name', () => {
    const ssl = clientConfig(target({ sslMode: 'verify-ca', sslRootCert: caFile }), true).ssl as { rejectUnauthorized: boolean; checkServerIdentity: () => unknown; ca?: string };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(typeof ssl.checkServerIdentity).toBe('function');
    expect(ssl.checkServerIdentity()).toBeUndefined();
    expect(ssl.ca).toBe(PEM);
  });

  it('verify-full and verify-ca read sslrootcert as the CA', () => {
    expect(clientConfig(target({ sslMode: 'verify-full', sslRootCert: caFile }), true).ssl).toEqual({ rejectUnauthorized: true, ca: PEM });
    const ssl = clientConfig(target({ sslMode: 'verify-ca', sslRootCert: caFile }), true).ssl as { rejectUnauthorized: boolean; ca?: string };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.ca).toBe(PEM);
  });

  // libpq-ssl: "if a root CA file exists, the behavior of sslmode=require will be the same as that of verify-ca".
  it.each(['require', 'prefer', 'allow'] as SslMode[])('%s with a root certificate that exists verifies the chain (not the name), as libpq does', (sslMode) => {
    const ssl = clientConfig(target({ sslMode, sslRootCert: caFile }), true).ssl as { rejectUnauthorized: boolean; checkServerIdentity?: () => unknown; ca?: string };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.ca).toBe(PEM);
    expect(ssl.checkServerIdentity?.()).toBeUndefined();
  });

  // libpq raises "root certificate file does not exist" only for verify-ca/verify-full; with prefer
  // (the default) or require it connects without verifying.
  it.each(['prefer', 'require'] as SslMode[])('%s with a sslrootcert that does not exist still gives a config', (sslMode) => {
    const missing = path.join(os.tmpdir(), 'integrity-no-such-dir', 'root.crt');
    expect(clientConfig(target({ sslMode, sslRootCert: missing }), true).ssl).toEqual({ rejectUnauthorized: false });
  });
});

describe('describeTarget', () => {
  it.each([
    { t: target(), expected: 'alice@db.example.com:5432/appdb' },
    { t: target({ port: 6543, user: 'bob', database: 'my db' }), expected: 'bob@db.example.com:6543/my db' },
    { t: target({ host: '/var/run/postgresql' }), expected: 'alice@socket /var/run/postgresql/appdb' },
    { t: target({ host: '127.0.0.1', password: undefined }), expected: 'alice@127.0.0.1:5432/appdb' },
  ])('$expected', ({ t, expected }) => {
    expect(describeTarget(t)).toBe(expected);
  });

  it.each([
    'postgres://alice:Sup3r-S3cret@db.example.com:5433/app',
    'postgresql://alice:p%40ss%20w0rd%21@[::1]/app?sslmode=require',
    "host=db.example.com user=alice dbname=app password='Sup3r S3cret'",
    'postgres://alice@db.example.com/app?password=Qu3ryPw',
  ])('never contains the password: %s', (url) => {
    const t = resolve({ databaseUrl: url });
    expect(t.password).toBeTruthy();
    expect(describeTarget(t)).not.toContain(t.password);
  });

  it('never contains a PGPASSWORD', () => {
    const t = resolve({ env: { PGHOST: 'h', PGUSER: 'u', PGPASSWORD: 'env-Secret-42' } });
    expect(describeTarget(t)).toBe('u@h:5432/u');
  });
});

describe('redactSecrets', () => {
  const cases: { text: string; expected: string }[] = [
    { text: 'postgres://alice:s3cret@h:5432/db', expected: 'postgres://alice:***@h:5432/db' },
    { text: 'postgresql://alice:s3cret@h/db', expected: 'postgresql://alice:***@h/db' },
    { text: 'POSTGRES://alice:s3cret@h/db', expected: 'POSTGRES://alice:***@h/db' },
    { text: 'postgres://:s3cret@h/db', expected: 'postgres://:***@h/db' },
    { text: 'postgres://alice:p%40ss%2Fw@h/db', expected: 'postgres://alice:***@h/db' },
    { text: 'postgres://alice:s3cret@[::1]:5432/db', expected: 'postgres://alice:***@[::1]:5432/db' },
    { text: 'connect to postgres://alice:s3cret@h/db failed', expected: 'connect to postgres://alice:***@h/db failed' },
    { text: 'a postgres://u:one@h/a and postgresql://v:two@k/b', expected: 'a postgres://u:***@h/a and postgresql://v:***@k/b' },
    { text: 'postgres://alice@h/db', expected: 'postgres://alice@h/db' },
    { text: 'postgres://h:5432/db', expected: 'postgres://h:5432/db' },
    { text: 'host=h password=s3cret user=alice', expected: 'host=h password=*** user=alice' },
    { text: "host=h password='with space' user=alice", expected: 'host=h password=*** user=alice' },
    { text: "password='a\\'b c' dbname=x", expected: 'password=*** dbname=x' },
    { text: 'PASSWORD = s3cret', expected: 'PASSWORD = ***' },
    { text: 'PGPASSWORD=s3cret psql', expected: 'PGPASSWORD=*** psql' },
    { text: 'postgres://h/db?password=s3cret&sslmode=require', expected: 'postgres://h/db?password=***' },
    { text: 'no secrets here', expected: 'no secrets here' },
    { text: '', expected: '' },
  ];
  it.each(cases)('$text', ({ text, expected }) => {
    expect(redactSecrets(text)).toBe(expected);
  });

  it.each([
    { text: 'password authentication failed: hunter2', secrets: ['hunter2'], expected: 'password authentication failed: ***' },
    { text: 'x hunter2 y hunter2', secrets: ['hunter2'], expected: 'x *** y ***' },
    { text: 'a.b*c (regex chars)', secrets: ['a.b*c'], expected: '*** (regex chars)' },
    { text: 'abc', secrets: [undefined, ''], expected: 'abc' },
    { text: 'one two', secrets: ['one', 'two'], expected: '*** ***' },
  ] as { text: string; secrets: (string | undefined)[]; expected: string }[])('with secrets $secrets: $text', ({ text, secrets, expected }) => {
    expect(redactSecrets(text, secrets)).toBe(expected);
  });

  const passwords = ['s3cret', 'Sup3r-S3cret!', 'p@ss', 'a:b', 'x/y', "it's", 'with space', 'ünïcødé', '100%'];
  const forms = (pw: string) => [
    `postgres://alice:${encodeURIComponent(pw)}@db.example.com:5432/app`,
    `error: could not connect to postgresql://alice:${encodeURIComponent(pw)}@db.example.com/app (timeout)`,
    `host=db.example.com password='${pw.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}' dbname=app`,
    `postgres://db.example.com/app?password=${encodeURIComponent(pw)}`,
  ];
  it.each(passwords)('never leaves %s in a URL or a password= string', (pw) => {
    for (const text of forms(pw)) {
      const out = redactSecrets(text);
      expect(out).not.toContain(pw);
      expect(out).not.toContain(encodeURIComponent(pw));
    }
  });

  // The tool itself accepts this URL (WHATWG takes the last '@' as the end of the userinfo, password "p@ss"),
  // and src/cli/main.ts calls redactSecrets without the password on unexpected errors.
  it("does not leave part of an unencoded 'p@ss' password in a URL", () => {
    expect(parsed('postgres://u:p@ss@host/db').password).toBe('p@ss');
    expect(redactSecrets('postgres://u:p@ss@host/db')).toBe('postgres://u:***@host/db');
  });
});
