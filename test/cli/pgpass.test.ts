import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureClientConfig } from '../../src/db/connection.js';
import { adminUrl, query } from '../helpers/db.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/src/demo/fixtures.js');

function homeWithPassfile(lines: string[], mode = 0o600): string {
  const home = mkdtempSync(path.join(os.tmpdir(), 'integrity-pgpass-'));
  writeFileSync(path.join(home, '.pgpass'), `${lines.join('\n')}\n`);
  chmodSync(path.join(home, '.pgpass'), mode);
  return home;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs the built fixtures' runSql in a child with this HOME (and nothing else of ours), as the demo and the tests do. */
function runSqlIn(home: string, url: string, script = `import { runSql } from ${JSON.stringify(FIXTURES)}; await runSql(process.argv[1], ['SELECT 1']);`): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, url], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: home } }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr });
    });
  });
}

describe('a ~/.pgpass is read without node-pg\'s deprecation warning', () => {
  it('the fixtures\' client gets the password from the passfile, as libpq matches it, and only when the URL has none', () => {
    const home = homeWithPassfile(['# comment', 'db.example:5432:app:auditor:from\\:file', '*:*:*:other:any']);
    const env = { HOME: home };
    expect(fixtureClientConfig('postgres://auditor@db.example:5432/app', env).connectionString).toBe('postgres://auditor:from%3Afile@db.example:5432/app');
    expect(new pg.Client(fixtureClientConfig('postgres://auditor@db.example:5432/app', env)).password).toBe('from:file');
    expect(fixtureClientConfig('postgres://auditor:given@db.example:5432/app', env).connectionString).toBe('postgres://auditor:given@db.example:5432/app');
    expect(fixtureClientConfig('postgres://nobody@db.example:5432/app', env).connectionString).toBe('postgres://nobody@db.example:5432/app');
    expect(fixtureClientConfig('postgres://other@elsewhere/x', env).connectionString).toBe('postgres://other:any@elsewhere/x');
    // PGPASSWORD comes first, as in libpq; a passfile others can read is ignored, as in libpq.
    expect(fixtureClientConfig('postgres://auditor@db.example:5432/app', { ...env, PGPASSWORD: 'p w' }).connectionString).toBe('postgres://auditor:p%20w@db.example:5432/app');
    const open = homeWithPassfile(['*:*:*:*:leaked'], 0o644);
    expect(fixtureClientConfig('postgres://auditor@db.example:5432/app', { HOME: open }).connectionString).toBe('postgres://auditor@db.example:5432/app');
  });

  describe('against the test server', () => {
    const role = `integrity_pgpass_${process.pid}`;
    const secret = `pgpass-${process.pid}-secret`;
    let roleUrl = '';
    /** Whether the server asks for passwords at all (the embedded one does; a trust-auth one does not). */
    let asksForPasswords = false;

    beforeAll(async () => {
      await query(adminUrl(), `CREATE ROLE ${role} LOGIN PASSWORD '${secret}'`);
      const url = new URL(adminUrl());
      url.username = role;
      url.password = '';
      url.pathname = '/postgres';
      roleUrl = url.toString();
      const probe = new URL(roleUrl);
      probe.password = 'certainly-wrong';
      asksForPasswords = await query(probe.toString(), 'SELECT 1').then(
        () => false,
        () => true,
      );
    });
    afterAll(async () => {
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    });

    it('connects with the passfile\'s password and prints no DeprecationWarning', async () => {
      const home = homeWithPassfile([`*:*:*:${role}:${secret}`]);
      const run = await runSqlIn(home, roleUrl);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      // The embedded server (no INTEGRITY_TEST_DATABASE_URL) authenticates by password, so there the whole path is proved.
      if (!process.env.INTEGRITY_TEST_DATABASE_URL) expect(asksForPasswords).toBe(true);
      if (asksForPasswords) {
        // node-pg left to read the file itself warns, so the check above can fail.
        const plain = await runSqlIn(home, roleUrl, `import pg from 'pg'; const c = new pg.Client({ connectionString: process.argv[1] }); await c.connect(); await c.end();`);
        expect(plain.code).toBe(0);
        expect(plain.stderr).toMatch(/DeprecationWarning: pgpass support is deprecated/);
        // The password came from the file: without it the same connection is refused.
        const without = await runSqlIn(mkdtempSync(path.join(os.tmpdir(), 'integrity-nopgpass-')), roleUrl);
        expect(without.code).not.toBe(0);
        expect(without.stderr).toMatch(/password/i);
      }
    });
  });
});
