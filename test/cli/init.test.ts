import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { parseConfig, stripJsonComments } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { packageRoot } from '../../src/paths.js';
import { runCli } from '../helpers/cli.js';
import { audit, useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';

describe('integrity init', () => {
  const db = useDatabase('init', { incidents: 'all' });

  it('writes a config that validates, points at the shipped JSON Schema, and finds the same tables', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-init-'));
    const run = await runCli(['init', '-d', db.url], { cwd });
    expect(run).toMatchObject({ code: 0, stdout: 'wrote integrity.config.json\nrow-level security: no audited table has it enabled\n' });
    const text = readFileSync(path.join(cwd, 'integrity.config.json'), 'utf8');
    expect(text).toMatch(/^\/\/ integrity\.config\.json, written by integrity init/);
    const json = JSON.parse(stripJsonComments(text)) as Record<string, unknown>;
    expect(() => parseConfig(CHECKS, json, 'init')).not.toThrow();
    expect(path.resolve(cwd, String(json.$schema))).toBe(path.join(packageRoot(), 'schema', 'integrity.config.schema.json'));
    expect(json.checks).toMatchObject({
      'models-without-pricing': { models: { schema: 'public', table: 'models' }, pricing: { schema: 'public', table: 'model_provider_pricing' } },
      'users-without-profiles': { users: { schema: 'auth', table: 'users' }, profiles: { schema: 'public', table: 'user_profiles' } },
    });
    const withConfig = reportSchema.parse(JSON.parse((await runCli(['check', '-d', db.url, '--format', 'json'], { cwd })).stdout));
    const without = reportSchema.parse(JSON.parse((await runCli(['check', '-d', db.url, '--format', 'json'])).stdout));
    expect(withConfig.findings.map((f) => [f.fingerprint, f.count])).toEqual(without.findings.map((f) => [f.fingerprint, f.count]));
  });

  it('refuses to overwrite without --force', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-init-force-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), '{}');
    const refused = await runCli(['init', '-d', db.url], { cwd });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('integrity: integrity.config.json exists; pass --force to overwrite it\n');
    expect(readFileSync(path.join(cwd, 'integrity.config.json'), 'utf8')).toBe('{}');
    expect((await runCli(['init', '-d', db.url, '--force'], { cwd })).code).toBe(0);
  });
});

describe('integrity init proposes the undeclared references', () => {
  const db = useDatabase('init_undeclared', {
    sql: [
      `CREATE TABLE public.customers (customer_id int PRIMARY KEY);
       CREATE TABLE public.orders (order_id int PRIMARY KEY, customer_id int, account_id text);
       CREATE TABLE public.accounts (account_id int PRIMARY KEY);
       CREATE TABLE public.shipments (id int PRIMARY KEY, order_id int REFERENCES public.orders);
       CREATE TABLE public."User" ("id" text PRIMARY KEY);
       CREATE TABLE public."Post" ("id" text PRIMARY KEY, "userId" text);
       CREATE SCHEMA "Billing Dept";
       CREATE TABLE "Billing Dept"."Customer" ("customer_id" uuid PRIMARY KEY);
       CREATE TABLE "Billing Dept"."Invoice Line" ("id" int PRIMARY KEY, "customer_id" uuid);
       CREATE TABLE "Billing Dept".U&"Ware\\000aHouse" ("id" int PRIMARY KEY);
       CREATE TABLE "Billing Dept"."Bin" ("id" int PRIMARY KEY, "ware_house_id" int);`,
    ],
  });

  it('as commented relations entries, one a line, the same the check reports; uncommented they validate and declare them', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-init-undeclared-'));
    expect((await runCli(['init', '-d', db.url], { cwd })).code).toBe(0);
    const text = readFileSync(path.join(cwd, 'integrity.config.json'), 'utf8');
    expect(text).toContain('  // References without a FOREIGN KEY that orphan-rows should verify: 4 inferred from column names and types (see undeclared-references); uncomment the real ones:\n');
    const proposed = text
      .split('\n')
      .filter((l) => l.startsWith('  //   {"name":'))
      .map((l) => l.replace(/^ {2}\/\/ {3}/, '').replace(/,$/, ''));
    const entries = proposed.map((l) => JSON.parse(l) as Record<string, unknown>);
    const reported = (await audit(db.url, { checks: ['undeclared-references'] })).findings.map((f) => f.details?.relation);
    const key = (e: unknown) => JSON.stringify(e);
    expect(entries.map(key).sort()).toEqual(reported.map(key).sort());
    expect(entries.map((e) => `${String(e.table)}.${String((e.columns as string[])[0])}`).sort()).toEqual(['Bin.ware_house_id', 'Invoice Line.customer_id', 'Post.userId', 'orders.customer_id']);
    expect(entries.find((e) => e.table === 'Bin')?.references).toEqual({ schema: 'Billing Dept', table: 'Ware\nHouse', columns: ['id'] });
    // Commented out, they declare nothing: the written config audits as no config does.
    expect(JSON.parse(stripJsonComments(text))).toMatchObject({ relations: [] });
    const uncommented = text.replace('  "relations": [],', `  "relations": [${proposed.join(', ')}],`);
    const config = parseConfig(CHECKS, JSON.parse(stripJsonComments(uncommented)), 'init');
    expect(config.relations).toHaveLength(4);
    const declared = await audit(db.url, { checks: ['undeclared-references', 'orphan-rows'], config: JSON.parse(stripJsonComments(uncommented)) as unknown });
    expect(declared.findings.filter((f) => f.checkId === 'undeclared-references')).toEqual([]);
  });
});

describe('integrity init on a database of its own: its tables, not the demo\'s', () => {
  // A users table without profiles, a column that looks like a reference to a table that is not there
  // (nothing to infer), and a Supabase-style auth.users with its profiles for --schema public.
  const db = useDatabase('init_own', {
    sql: [
      `CREATE TABLE public.users (user_key int PRIMARY KEY, email text);
       CREATE TABLE public.invoices (id int PRIMARY KEY, vendor_id int, total int);`,
    ],
  });
  const bare = useDatabase('init_bare', { sql: ['CREATE TABLE public.notes (id int PRIMARY KEY, body text);'] });
  const supabase = useDatabase('init_supabase', {
    sql: [
      `CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY);
       CREATE TABLE public.user_profiles (id uuid PRIMARY KEY REFERENCES auth.users);`,
    ],
  });
  const initIn = async (url: string, args: string[] = []) => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-init-own-'));
    const run = await runCli(['init', '-d', url, ...args], { cwd });
    expect([run.code, run.stderr]).toEqual([0, '']);
    return readFileSync(path.join(cwd, 'integrity.config.json'), 'utf8');
  };

  it('says the users table it found and the profile table it did not, and maps the users table it found', async () => {
    const text = await initIn(db.url);
    expect(text).toContain('    // found public.users but no profile table (looked for user_profiles and profiles); map yours:\n');
    expect(text).toContain(
      '    // "users-without-profiles": { "users": { "schema": "public", "table": "users", "key": "user_key" }, "profiles": { "schema": "public", "table": "<your profile table>" } },\n    "users-without-profiles": { "enabled": false }',
    );
    expect(text).not.toContain('no users');
    expect(text).toContain('    // no models table found (looked for a table named models); map yours:\n');
  });

  it('shows an example relation on one of the user\'s own tables, commented out, and never the demo\'s', async () => {
    const text = await initIn(db.url);
    expect(text).not.toMatch(/llm_call|stored_file/);
    expect(text).toContain(
      '  // References without a FOREIGN KEY that orphan-rows should verify; none was inferred. If public.invoices.vendor_id holds another table\'s keys, say which and uncomment:\n' +
        '  //   {"schema":"public","table":"invoices","columns":["vendor_id"],"references":{"schema":"<schema>","table":"<the table it points at>","columns":["<its key column>"]}},\n' +
        '  "relations": [],\n',
    );
    expect(parseConfig(CHECKS, JSON.parse(stripJsonComments(text)), 'init').relations).toEqual([]);
  });

  it('with no column that looks like a reference, the example is placeholders only, and inactive', async () => {
    const text = await initIn(bare.url);
    expect(text).toContain(
      '  // References without a FOREIGN KEY that orphan-rows should verify; none was inferred. Declare one as (placeholders in <>):\n' +
        '  //   { "schema": "<schema>", "table": "<table>", "columns": ["<column>"], "references": { "schema": "<schema>", "table": "<referenced table>", "columns": ["<referenced column>"] } },\n' +
        '  "relations": [],\n',
    );
    expect(text).not.toMatch(/llm_call|stored_file/);
    expect(text).toContain('    // no users table found (looked for a table named users); map yours:\n');
  });

  it('--schema public still finds auth.users and its profiles, and says the runs need --schema auth', async () => {
    const text = await initIn(supabase.url, ['--schema', 'public']);
    expect(text).toContain(
      '    // schema auth is not among the audited schemas (--schema): add --schema auth to the runs that should check this\n' +
        '    "users-without-profiles": {\n      "users": { "schema": "auth", "table": "users", "key": "id" },\n      "profiles": { "schema": "public", "table": "user_profiles" }\n    }',
    );
    const all = await initIn(supabase.url);
    expect(all).not.toContain('not among the audited schemas');
    expect(all).toContain('"users": { "schema": "auth", "table": "users", "key": "id" }');
  });

  it('refuses a schema that does not exist, naming the ones that do', async () => {
    const run = await runCli(['init', '-d', bare.url, '--schema', 'nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('integrity: schema nope does not exist (or belongs to the system or an extension); existing schemas: public\n');
  });

  it('overwrites a broken config with --force: it reads none', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-init-broken-'));
    writeFileSync(path.join(cwd, 'integrity.config.json'), '{ "checks": { "no-such-check": {} } ');
    const run = await runCli(['init', '-d', bare.url, '--force'], { cwd });
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(readFileSync(path.join(cwd, 'integrity.config.json'), 'utf8')).toMatch(/^\/\/ integrity\.config\.json, written by integrity init/);
  });
});

describe('integrity init --help', () => {
  it('lists only the options init uses: connecting, where to look, where to write', async () => {
    const help = (await runCli(['init', '--help'])).stdout;
    const options = [...help.matchAll(/^ {2}(?:(-\w), )?(--[\w-]+)/gm)].map((m) => m[2]);
    expect(options).toEqual(['--database-url', '--connect-timeout', '--schema', '--statement-timeout', '--lock-timeout', '--output', '--force', '--help']);
    for (const unused of ['--check', '--skip', '--deep', '--amcheck', '--jobs', '--check-timeout', '--config', '--samples', '--sample-percent']) {
      const run = await runCli(['init', unused]);
      expect([unused, run.code, run.stderr]).toEqual([unused, 2, expect.stringContaining(`unknown option '${unused}'`)]);
    }
  });
});

describe('the shipped JSON Schema', () => {
  it('is generated from the zod schema (npm run docs) and accepts the fixtures config', async () => {
    const file = path.join(packageRoot(), 'schema', 'integrity.config.schema.json');
    const shipped = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(shipped).toEqual(JSON.parse(JSON.stringify(configJsonSchema(CHECKS))));
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    // zod writes `format: "date"` beside a pattern that checks the calendar date; Ajv knows no formats of its
    // own (they live in ajv-formats) and warns about each unknown one, so this one is declared, checked by the pattern.
    const validate = new Ajv2020({ strict: true, formats: { date: true } }).compile(shipped);
    expect(validate(JSON.parse(readFileSync(path.join(packageRoot(), 'test', 'fixtures', 'integrity.config.json'), 'utf8')))).toBe(true);
    expect(validate({ checks: { 'orphan-rows': { enabled: 'yes' } } })).toBe(false);
    const ignore = (until: string) => ({ ignore: [{ check: 'orphan-rows', object: 'public.t', reason: 'known', until }] });
    expect(validate(ignore('2028-02-29'))).toBe(true);
    expect(validate(ignore('2027-02-29'))).toBe(false);
  });
});
