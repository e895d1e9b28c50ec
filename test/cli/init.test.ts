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
