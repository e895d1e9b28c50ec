import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { adminUrl, query, useDatabase } from '../helpers/db.js';

const PASSWORD = 'p@ss:w/rd%42-Sécret';

describe('a password never reaches any output', () => {
  const db = useDatabase('secrets', { incidents: ['000_models_without_pricing.sql'] });
  const role = `integrity_secret_${process.pid}`;
  let url = '';
  let pgEnv: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD.replace(/'/g, "''")}'`);
    // No SELECT on token_usage_ledger: two checks error, and their messages are printed too.
    await query(db.url, `GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON models, model_provider_pricing, providers TO ${role};`);
    const u = new URL(db.url);
    u.username = role;
    u.password = encodeURIComponent(PASSWORD);
    url = u.toString();
    pgEnv = { PGHOST: u.hostname, PGPORT: u.port || '5432', PGUSER: role, PGPASSWORD: PASSWORD, PGDATABASE: db.name, PGSSLMODE: 'disable' };
  });
  afterAll(async () => {
    await query(db.url, `DROP OWNED BY ${role}`).catch(() => undefined);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
  });

  function assertClean(...texts: string[]) {
    for (const text of texts) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
      expect(text).not.toContain('w/rd%42');
    }
  }

  it('in the pretty and JSON reports, on stdout and in --output files, and on stderr', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-secret-'));
    const runs = [
      await runCli(['check', '-d', url]),
      await runCli(['check', '-d', url, '--format', 'json']),
      await runCli(['check', '--format', 'json', '--output', path.join(dir, 'r.json')], { env: { DATABASE_URL: url } }),
      await runCli(['check', '--output', path.join(dir, 'r.txt')], { env: pgEnv }),
      await runCli(['check', '--format', 'json', '--fix-sql', path.join(dir, 'fix.sql')], { env: { DATABASE_URL: url } }),
    ];
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    const script = readFileSync(path.join(dir, 'fix.sql'), 'utf8');
    expect(script).toContain(`-- database: ${role}@`);
    expect(runs[1]?.stdout).toContain('permission denied for table');
    for (const r of runs) assertClean(r.stdout, r.stderr);
    assertClean(readFileSync(path.join(dir, 'r.json'), 'utf8'), readFileSync(path.join(dir, 'r.txt'), 'utf8'), script);
  });

  it('in the fix script and in what fix --verify and fix --apply print', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-secret-fix-'));
    const runs = [
      await runCli(['fix', '-d', url, '--output', path.join(dir, 'fix.sql')]),
      await runCli(['fix', '--verify'], { env: pgEnv }),
      await runCli(['fix', '--apply', '--yes', '--format', 'json'], { env: { DATABASE_URL: url } }),
      await runCli(['fix', '-d', url, '--verify', '--statement-timeout', '1']),
    ];
    for (const r of runs) assertClean(r.stdout, r.stderr);
    assertClean(readFileSync(path.join(dir, 'fix.sql'), 'utf8'));
    expect(runs[3]?.stderr).toContain('the database is unchanged');
  });

  it('in every connection error', async () => {
    const u = new URL(url);
    const broken = [
      `postgres://${role}:${encodeURIComponent(PASSWORD)}@127.0.0.1:1/${db.name}`,
      `postgres://${role}:${encodeURIComponent(PASSWORD)}@${u.host}/no_such_db_integrity`,
      `postgres://${role}:${encodeURIComponent(PASSWORD)}@${u.host}/${db.name}?sslmode=require`,
      `postgres://${role}:${encodeURIComponent(PASSWORD)}@${u.host}:notaport/${db.name}`,
      `host=127.0.0.1 port=1 user=${role} password='${PASSWORD}' dbname=x`,
      `host=127.0.0.1 password='${PASSWORD}' oops`,
    ];
    for (const text of broken) {
      const run = await runCli(['check', '-d', text, '--connect-timeout', '2']);
      expect(run.code).toBe(2);
      assertClean(run.stdout, run.stderr);
    }
    const viaEnv = await runCli(['check', '--schema', 'nope'], { env: pgEnv });
    expect(viaEnv.code).toBe(2);
    assertClean(viaEnv.stdout, viaEnv.stderr);
  });
});

describe('a hostile or malformed config is rejected, never executed', () => {
  const db = useDatabase('hostile_config', { incidents: ['000_models_without_pricing.sql'] });

  async function withConfig(config: unknown, extra: string[] = []) {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-hostile-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), JSON.stringify(config));
    return runCli(['check', '-d', db.url, '--format', 'json', ...extra], { cwd });
  }

  it.each([
    [{ checks: { 'orphan-rows': { enabled: 1 } } }, /checks\.orphan-rows\.enabled: Invalid input: expected boolean, received number/],
    [{ relations: [{ table: 't', columns: [] , references: { table: 'p', columns: [] } }] }, /relations\.0\.columns: expected at least one column/],
    [{ relations: [{ table: 't', columns: ['a'], references: { table: 'p', columns: ['a', 'b'] } }] }, /relations\.0\.references\.columns: columns and references\.columns must have the same length/],
    [{ checks: { 'placeholder-uuid': { values: 'x' } } }, /checks\.placeholder-uuid\.values: Invalid input: expected array, received string/],
    [{ checks: { 'models-without-pricing': { models: { table: 'models', sql: 'DROP TABLE models' } } } }, /checks\.models-without-pricing\.models: Unrecognized key: "sql"/],
    [{ sampleSize: 1000 }, /sampleSize: Too big: expected number to be <=100/],
  ])('%j', async (config, message) => {
    const run = await withConfig(config);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('SQL in identifier fields is only ever a (quoted) name: the check errors naming it, nothing runs', async () => {
    const evil = 'models"; DROP TABLE models; --';
    const run = await withConfig({
      checks: { 'models-without-pricing': { models: { schema: 'public', table: evil } } },
      relations: [{ table: evil, columns: ['id'], references: { table: 'providers', columns: ['id); DROP TABLE providers; --'] } }],
    });
    expect(run.code).toBe(2);
    const report = JSON.parse(run.stdout) as { checks: { id: string; status: string; reason: string | null }[] };
    const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]));
    expect(byId['models-without-pricing']).toMatchObject({ status: 'error', reason: expect.stringContaining(`no table public.${evil}`) });
    expect(byId['orphan-rows']).toMatchObject({ status: 'error', reason: expect.stringContaining(`no table named ${evil}`) });
    expect(await query(db.url, `SELECT count(*)::int AS n FROM models`)).toEqual([{ n: 6 }]);
    expect(await query(db.url, `SELECT count(*)::int AS n FROM providers`)).toEqual([{ n: 3 }]);
  });
});
