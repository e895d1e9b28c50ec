import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientConfig, parseConnectionString, redactSecrets, resolveConnection, type ConnectionTarget, type SslMode } from '../../src/db/connection.js';
import { UsageError } from '../../src/errors.js';

/** Edge cases of the hand-written libpq URI and keyword parsers, beyond connection.test.ts. */

function parsed(text: string): Record<string, string> {
  return Object.fromEntries(parseConnectionString(text, 'DATABASE_URL'));
}

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('libpq URIs', () => {
  const cases: { url: string; expected: Record<string, string> }[] = [
    { url: 'postgresql://', expected: {} },
    { url: 'postgres:///', expected: {} },
    { url: 'postgres://h/db?&sslmode=require&', expected: { host: 'h', dbname: 'db', sslmode: 'require' } },
    { url: 'postgres://a%3Ab:pw@h/db', expected: { user: 'a:b', password: 'pw', host: 'h', dbname: 'db' } },
    { url: 'postgres://u:p:w@h/db', expected: { user: 'u', password: 'p:w', host: 'h', dbname: 'db' } },
    { url: 'postgres://u:p@ss@h/db', expected: { user: 'u', password: 'p@ss', host: 'h', dbname: 'db' } },
    { url: 'postgres://:pw@h/db', expected: { password: 'pw', host: 'h', dbname: 'db' } },
    { url: 'postgres://h/db#x?y=z', expected: { host: 'h', dbname: 'db' } },
    { url: 'postgres://h/db?options=-c%20search_path%3Dfoo', expected: { host: 'h', dbname: 'db', options: '-c search_path=foo' } },
    { url: 'postgres://h/db?host=%2Ftmp', expected: { host: '/tmp', dbname: 'db' } },
    { url: 'postgres://u@[fe80::1%25eth0]:5432/db', expected: { user: 'u', host: 'fe80::1%eth0', port: '5432', dbname: 'db' } },
    { url: 'postgres://h:65535/db', expected: { host: 'h', port: '65535', dbname: 'db' } },
    { url: 'postgres://h:1/db', expected: { host: 'h', port: '1', dbname: 'db' } },
    { url: 'postgres://HOST.Example.COM/DB', expected: { host: 'HOST.Example.COM', dbname: 'DB' } },
  ];
  it.each(cases)('$url', ({ url, expected }) => {
    expect(parsed(url)).toEqual(expected);
  });

  const errors: { url: string; message: string }[] = [
    {
      url: 'postgres://h1,h2/db',
      message: 'DATABASE_URL names several hosts; integrity connects to one: give a single host (a replica, for the nightly audit)',
    },
    {
      url: 'postgres://u:pw@h1:5432,h2:5433/db',
      message: 'DATABASE_URL names several hosts; integrity connects to one: give a single host (a replica, for the nightly audit)',
    },
    { url: 'postgres://h/db?sslmode', message: 'DATABASE_URL has a query parameter without a value; use key=value' },
    { url: 'postgres://h/db?a%3Db=c', message: 'unknown connection option "a=b" in DATABASE_URL; did you mean host?' },
    { url: 'postgres://h:0/db', message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host' },
    { url: 'postgres://h:65536/db', message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host' },
    { url: 'postgres://h:123456/db', message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host' },
    { url: 'postgres://h:-1/db', message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host' },
    { url: 'postgres://::1/db', message: 'DATABASE_URL has an invalid port: give a number from 1 to 65535 after the host' },
    { url: 'postgres://h/%ZZ', message: 'DATABASE_URL has a malformed %-escape; percent-encode special characters in it' },
    { url: 'postgres://h/db?x=%E0%A4%A', message: 'DATABASE_URL has a malformed %-escape; percent-encode special characters in it' },
  ];
  it.each(errors)('$url', ({ url, message }) => {
    expect(usageError(() => parseConnectionString(url, 'DATABASE_URL')).message).toBe(message);
  });

  it('errors never echo the password', () => {
    for (const url of ['postgres://u:hunter2@h1,h2/db', 'postgres://u:hunter2@h:99999/db', 'postgres://u:hunter2@h/db?sslmode', 'postgres://u:hunter2@h/%ZZ']) {
      expect(usageError(() => parseConnectionString(url, 'DATABASE_URL')).message).not.toContain('hunter2');
    }
  });

  it('a port with leading zeros is the number', () => {
    expect(resolveConnection({ databaseUrl: 'postgres://h:00080/db', env: {}, connectTimeoutSec: undefined, applicationName: 'a' }).port).toBe(80);
  });
});

describe('libpq keyword strings', () => {
  it.each([
    { text: "host=h password=a'b", expected: { host: 'h', password: "a'b" } },
    { text: "host=h password='it''s'", expected: null },
    { text: 'host=h\tdbname=x\nuser=y', expected: { host: 'h', dbname: 'x', user: 'y' } },
  ] as { text: string; expected: Record<string, string> | null }[])('$text', ({ text, expected }) => {
    if (expected === null) usageError(() => parseConnectionString(text, 'DATABASE_URL'));
    else expect(parsed(text)).toEqual(expected);
  });

  it.each([
    { text: "host=h password='hunter2", message: 'DATABASE_URL could not be read at character 17: use key=value pairs, quoting values with spaces in single quotes' },
    { text: 'password=hunter2 port=5432 x', message: 'DATABASE_URL could not be read at character 27: use key=value pairs, quoting values with spaces in single quotes' },
  ])('an unreadable string names the position, not the text: $text', ({ text, message }) => {
    const err = usageError(() => parseConnectionString(text, 'DATABASE_URL'));
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('hunter2');
  });
});

describe('sslrootcert', () => {
  const missing = path.join(os.tmpdir(), 'integrity-no-such-dir', 'root.crt');
  const target = (sslMode: SslMode): ConnectionTarget => ({
    host: 'h',
    port: 5432,
    database: 'd',
    user: 'u',
    password: 'p',
    sslMode,
    sslRootCert: missing,
    connectTimeoutSec: 10,
    applicationName: 'a',
    source: 'url',
  });

  it.each(['verify-ca', 'verify-full'] as SslMode[])('%s with an unreadable file is a usage error', (sslMode) => {
    const err = usageError(() => clientConfig(target(sslMode), true));
    expect(err.message).toBe(
      `cannot read sslrootcert ${missing}; give the path of the server's CA certificate, or sslrootcert=system for the trusted roots, or use an sslmode that does not verify`,
    );
  });

  it.each(['disable', 'allow', 'prefer', 'require'] as SslMode[])('%s ignores an unreadable file', (sslMode) => {
    expect(() => clientConfig(target(sslMode), true)).not.toThrow();
    expect(clientConfig(target(sslMode), false).ssl).toBe(false);
  });

  it('is not read for an attempt without SSL', () => {
    expect(clientConfig(target('verify-full'), false).ssl).toBe(false);
  });
});

describe('redactSecrets: URL edges', () => {
  it.each([
    { text: 'postgres://u:p@ss@h/db', expected: 'postgres://u:***@h/db' },
    { text: 'postgres://u:a@b@c@h:5432/db', expected: 'postgres://u:***@h:5432/db' },
    { text: 'postgres://u:pw@h/db,mail@x.com', expected: 'postgres://u:***@h/db,mail@x.com' },
    { text: 'postgres://u:pw@h/db?sslmode=require#frag', expected: 'postgres://u:***@h/db?sslmode=require#frag' },
    { text: 'postgres://h/db?sslmode=require&password=pw&application_name=x', expected: 'postgres://h/db?sslmode=require&password=***' },
    { text: 'ok: postgres://u@h/db?application_name=a@b', expected: 'ok: postgres://u@h/db?application_name=a@b' },
  ])('$text', ({ text, expected }) => {
    expect(redactSecrets(text)).toBe(expected);
  });
});
