import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { passwordFromFile, resolveConnection, type ConnectionTarget } from '../../src/db/connection.js';
import { UsageError } from '../../src/errors.js';

/** passfile / PGPASSFILE / ~/.pgpass and service / PGSERVICEFILE / ~/.pg_service.conf / PGSYSCONFDIR, as libpq reads them. */

function freshHome(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'integrity-files-home-'));
}

function resolve(databaseUrl: string | undefined, env: NodeJS.ProcessEnv): ConnectionTarget {
  return resolveConnection({ databaseUrl, env, connectTimeoutSec: undefined, applicationName: 'integrity' });
}

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

function writePrivate(file: string, text: string, mode = 0o600): string {
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

describe('passfile', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-pgpass-'));
  const file = writePrivate(
    path.join(dir, 'pgpass'),
    [
      '# comment line',
      'db.example.com:5432:shop:alice:first-match',
      'db.example.com:5432:shop:alice:second-match-never-used',
      'db.example.com:*:*:bob:bob-any-db',
      'localhost:5432:*:carol:carol-local',
      'we\\:ird:5432:*:dave:pa\\:ss\\\\word:with:colons',
      '10.1.2.3:5432:*:erin:erin-by-address',
      '*:*:*:*:catch-all',
    ].join('\n'),
  );
  const want = (over: Partial<{ host: string; port: string; database: string; user: string }>) => ({ host: 'db.example.com', port: '5432', database: 'shop', user: 'alice', ...over });

  it.each([
    [want({}), 'first-match'],
    [want({ user: 'bob', database: 'other', port: '6543' }), 'bob-any-db'],
    [want({ host: 'localhost', user: 'carol' }), 'carol-local'],
    [want({ host: 'we:ird', user: 'dave' }), 'pa:ss\\word:with:colons'],
    [want({ host: 'elsewhere', user: 'zed' }), 'catch-all'],
  ])('%j -> %s', (w, expected) => {
    expect(passwordFromFile(file, w, [])).toBe(expected);
  });

  it('a missing file is skipped silently; one others can read is skipped with a warning, as in libpq', () => {
    const warnings: string[] = [];
    expect(passwordFromFile(path.join(dir, 'missing'), want({}), warnings)).toBeUndefined();
    expect(warnings).toEqual([]);
    const loose = writePrivate(path.join(dir, 'loose'), '*:*:*:*:pw', 0o644);
    expect(passwordFromFile(loose, want({}), warnings)).toBeUndefined();
    expect(warnings).toEqual([`password file ${loose} has group or world access; permissions should be u=rw (0600) or less; it is ignored`]);
    expect(passwordFromFile(dir, want({}), warnings)).toBeUndefined();
    expect(warnings[1]).toMatch(/is not a plain file/);
  });

  it('~/.pgpass is read when no password is given; the target says the password came from it', () => {
    const home = freshHome();
    writePrivate(path.join(home, '.pgpass'), 'db.example.com:5432:shop:alice:from-home\n');
    const t = resolve('postgres://alice@db.example.com/shop', { HOME: home });
    expect([t.password, t.passwordFile]).toEqual(['from-home', path.join(home, '.pgpass')]);
  });

  it('a password in the string or PGPASSWORD wins over the passfile', () => {
    const home = freshHome();
    writePrivate(path.join(home, '.pgpass'), '*:*:*:*:from-file\n');
    expect(resolve('postgres://alice:given@db.example.com/shop', { HOME: home }).password).toBe('given');
    expect(resolve('postgres://alice@db.example.com/shop', { HOME: home, PGPASSWORD: 'env' }).password).toBe('env');
  });

  it('passfile= and PGPASSFILE replace ~/.pgpass; the string wins over the variable', () => {
    const home = freshHome();
    writePrivate(path.join(home, '.pgpass'), '*:*:*:*:from-home\n');
    const viaEnv = writePrivate(path.join(home, 'env.pgpass'), '*:*:*:*:from-env-file\n');
    const viaKeyword = writePrivate(path.join(home, 'kw.pgpass'), '*:*:*:*:from-keyword-file\n');
    expect(resolve('host=db.example.com user=a', { HOME: home, PGPASSFILE: viaEnv }).password).toBe('from-env-file');
    expect(resolve(`host=db.example.com user=a passfile=${viaKeyword}`, { HOME: home, PGPASSFILE: viaEnv }).password).toBe('from-keyword-file');
    expect(resolve(`host=db.example.com user=a passfile=${path.join(home, 'none')}`, { HOME: home }).password).toBeUndefined();
  });

  it('the host field is matched against host, else hostaddr, else localhost (also for the default socket directory)', () => {
    const home = freshHome();
    writePrivate(path.join(home, '.pgpass'), 'localhost:5432:*:*:local\n10.1.2.3:5432:*:*:by-address\nnamed.example:5432:*:*:by-name\n');
    expect(resolve('host=/var/run/postgresql user=u', { HOME: home }).password).toBe('local');
    expect(resolve('hostaddr=10.1.2.3 user=u', { HOME: home }).password).toBe('by-address');
    expect(resolve('host=named.example hostaddr=10.1.2.3 user=u', { HOME: home }).password).toBe('by-name');
    expect(resolve(undefined, { HOME: home, PGUSER: 'u' }).password).toBe('local');
  });

  it('warns (through the target) about a passfile others can read', () => {
    const home = freshHome();
    writePrivate(path.join(home, '.pgpass'), '*:*:*:*:pw\n', 0o640);
    const t = resolve('host=h user=u', { HOME: home });
    expect(t.password).toBeUndefined();
    expect(t.warnings).toEqual([expect.stringMatching(/has group or world access/)]);
  });
});

describe('service', () => {
  const SERVICE_TEXT = [
    '# services',
    '[nightly]',
    'host=replica.example.com',
    'port=6543',
    'dbname=shop',
    'user=auditor',
    'application_name=from-service',
    'sslmode=require',
    '',
    '[other]',
    'host=other.example.com',
  ].join('\n');

  it('PGSERVICEFILE: the service fills in what the string does not set; the string wins; the service wins over PG*', () => {
    const home = freshHome();
    const file = path.join(home, 'services.conf');
    writeFileSync(file, SERVICE_TEXT);
    const t = resolve('service=nightly dbname=override', { HOME: home, PGSERVICEFILE: file, PGPORT: '7000', PGPASSWORD: 'env-pw' });
    expect(t).toMatchObject({ host: 'replica.example.com', port: 6543, database: 'override', user: 'auditor', applicationName: 'from-service', sslMode: 'require', password: 'env-pw' });
  });

  it('PGSERVICE with ~/.pg_service.conf, no connection string', () => {
    const home = freshHome();
    writeFileSync(path.join(home, '.pg_service.conf'), SERVICE_TEXT);
    expect(resolve(undefined, { HOME: home, PGSERVICE: 'other' })).toMatchObject({ host: 'other.example.com', port: 5432 });
  });

  it('a URL can name the service too', () => {
    const home = freshHome();
    writeFileSync(path.join(home, '.pg_service.conf'), SERVICE_TEXT);
    expect(resolve('postgres:///?service=nightly', { HOME: home })).toMatchObject({ host: 'replica.example.com', database: 'shop' });
  });

  it('PGSYSCONFDIR/pg_service.conf when the user file does not define it', () => {
    const home = freshHome();
    writeFileSync(path.join(home, '.pg_service.conf'), '[unrelated]\nhost=x\n');
    const sys = mkdtempSync(path.join(os.tmpdir(), 'integrity-sysconf-'));
    writeFileSync(path.join(sys, 'pg_service.conf'), SERVICE_TEXT);
    expect(resolve('service=nightly', { HOME: home, PGSYSCONFDIR: sys }).host).toBe('replica.example.com');
  });

  it('servicefile= names the file in the string', () => {
    const home = freshHome();
    const file = path.join(home, 'svc.conf');
    writeFileSync(file, SERVICE_TEXT);
    expect(resolve(`service=other servicefile=${file}`, { HOME: home }).host).toBe('other.example.com');
  });

  it('an unknown service is an error naming it and the files read: never the defaults', () => {
    const home = freshHome();
    const sys = mkdtempSync(path.join(os.tmpdir(), 'integrity-sysconf-'));
    writeFileSync(path.join(home, '.pg_service.conf'), SERVICE_TEXT);
    expect(usageError(() => resolve(undefined, { HOME: home, PGSYSCONFDIR: sys, PGSERVICE: 'nigthly' }))).toBe(
      `PGSERVICE=nigthly: no service "nigthly" in ${path.join(home, '.pg_service.conf')} or ${path.join(sys, 'pg_service.conf')}; add a [nigthly] section, or set PGSERVICEFILE to the file that has it`,
    );
  });

  it.each([
    ['[s]\nhost=h\ndbnmae=x\n', /^unknown connection option "dbnmae" in service file .* line 3; did you mean dbname\?$/],
    ['[s]\nhost=h\nservice=other\n', /line 3: a service cannot name another service$/],
    ['[s]\njust words\n', /line 2: expected key=value$/],
    ['[s]\nhost=h\ngssencmode=require\n', /^gssencmode=require in service "s" .*: .*no GSSAPI encryption/],
  ])('a bad service file is an error: %j', (text, message) => {
    const home = freshHome();
    writeFileSync(path.join(home, '.pg_service.conf'), text);
    expect(usageError(() => resolve('service=s', { HOME: home }))).toMatch(message);
  });

  it('lines of other services are not read', () => {
    const home = freshHome();
    writeFileSync(path.join(home, '.pg_service.conf'), '[broken]\nnot a setting\n[good]\nhost=fine.example\n');
    expect(resolve('service=good', { HOME: home }).host).toBe('fine.example');
  });

  it('a directory where the service file should be is skipped like a missing file', () => {
    const home = freshHome();
    mkdirSync(path.join(home, '.pg_service.conf'));
    expect(usageError(() => resolve('service=x', { HOME: home, PGSYSCONFDIR: home }))).toMatch(/no service "x"/);
  });
});
