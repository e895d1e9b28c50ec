import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { parseConfig, stripJsonComments } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { packageRoot } from '../../src/paths.js';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';
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

describe('the shipped JSON Schema', () => {
  it('is generated from the zod schema (npm run docs) and accepts the fixtures config', async () => {
    const file = path.join(packageRoot(), 'schema', 'integrity.config.schema.json');
    const shipped = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(shipped).toEqual(JSON.parse(JSON.stringify(configJsonSchema(CHECKS))));
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const validate = new Ajv2020({ strict: false }).compile(shipped);
    expect(validate(JSON.parse(readFileSync(path.join(packageRoot(), 'test', 'fixtures', 'integrity.config.json'), 'utf8')))).toBe(true);
    expect(validate({ checks: { 'orphan-rows': { enabled: 'yes' } } })).toBe(false);
  });
});
