import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { DEFAULT_PLACEHOLDERS } from '../../checks/placeholder-uuid.js';
import { DEFAULT_CONFIG_FILE, loadConfig, parseConfig } from '../../src/config/load.js';
import { UsageError } from '../../src/errors.js';

const MODELS_DEFAULTS = {
  models: { table: 'models', key: 'id' },
  pricing: {
    table: 'model_provider_pricing',
    column: 'model_name',
    activeColumn: 'is_active',
    effectiveFromColumn: 'effective_from',
    effectiveUntilColumn: 'effective_until',
  },
};
const USERS_DEFAULTS = { users: { schema: 'auth', table: 'users', key: 'id' }, profiles: {} };
const PLACEHOLDER_DEFAULTS = { values: ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'] };

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('parseConfig: defaults', () => {
  it('has a setting for every check, in CHECKS order', () => {
    expect(Object.keys(parseConfig(CHECKS, {}, 'f.json').checks)).toEqual([
      'accepted-values',
      'collation-drift',
      'disabled-triggers',
      'invalid-indexes',
      'jsonb-int-cast-index',
      'models-without-pricing',
      'orphan-rows',
      'placeholder-uuid',
      'required-child',
      'row-condition',
      'sequence-behind-data',
      'sequence-headroom',
      'undeclared-references',
      'unique',
      'unvalidated-checks',
      'users-without-profiles',
    ]);
  });

  it('fills every default from an empty file', () => {
    const config = parseConfig(CHECKS, {}, 'f.json');
    expect(config.sampleSize).toBe(5);
    expect(config.relations).toEqual([]);
    expect(config.checks['jsonb-int-cast-index']).toEqual({ enabled: true, severity: undefined, options: {} });
    expect(config.checks['models-without-pricing']).toEqual({ enabled: true, severity: undefined, options: MODELS_DEFAULTS });
    expect(config.checks['placeholder-uuid']).toEqual({ enabled: true, severity: undefined, options: PLACEHOLDER_DEFAULTS });
    expect(config.checks['users-without-profiles']).toEqual({ enabled: true, severity: undefined, options: USERS_DEFAULTS });
    expect(config.checks['orphan-rows']).toMatchObject({ enabled: true, severity: undefined });
    // The generic-rule checks default to no rules (and so report themselves skipped).
    for (const id of ['accepted-values', 'required-child', 'row-condition', 'unique']) {
      expect(config.checks[id]).toEqual({ enabled: true, severity: undefined, options: { rules: [] } });
    }
  });

  it('the default placeholders are the nil and max UUIDs', () => {
    expect(DEFAULT_PLACEHOLDERS).toEqual(PLACEHOLDER_DEFAULTS.values);
  });

  it('fills defaults for the checks a file leaves out', () => {
    const config = parseConfig(CHECKS, { checks: { 'placeholder-uuid': { values: ['n/a'] } } }, 'f.json');
    expect(config.checks['placeholder-uuid']).toEqual({ enabled: true, severity: undefined, options: { values: ['n/a'] } });
    expect(config.checks['models-without-pricing']).toEqual({ enabled: true, severity: undefined, options: MODELS_DEFAULTS });
    expect(config.checks['users-without-profiles']).toEqual({ enabled: true, severity: undefined, options: USERS_DEFAULTS });
  });

  it('fills nested defaults beside the options a file gives', () => {
    const config = parseConfig(
      CHECKS,
      { checks: { 'models-without-pricing': { models: { table: 'llm_models' } }, 'users-without-profiles': { profiles: { table: 'people' } } } },
      'f.json',
    );
    expect(config.checks['models-without-pricing']?.options).toEqual({ ...MODELS_DEFAULTS, models: { table: 'llm_models', key: 'id' } });
    expect(config.checks['users-without-profiles']?.options).toEqual({ ...USERS_DEFAULTS, profiles: { table: 'people' } });
  });

  it('an empty entry for a check means enabled with default options', () => {
    const config = parseConfig(CHECKS, { checks: { 'placeholder-uuid': {}, 'models-without-pricing': {} } }, 'f.json');
    expect(config.checks['placeholder-uuid']).toEqual({ enabled: true, severity: undefined, options: PLACEHOLDER_DEFAULTS });
    expect(config.checks['models-without-pricing']).toEqual({ enabled: true, severity: undefined, options: MODELS_DEFAULTS });
  });

  it('accepts $schema and sampleSize within 1..100', () => {
    expect(parseConfig(CHECKS, { $schema: './schema.json', sampleSize: 1 }, 'f.json').sampleSize).toBe(1);
    expect(parseConfig(CHECKS, { sampleSize: 100 }, 'f.json').sampleSize).toBe(100);
  });
});

describe('parseConfig: enabled and severity', () => {
  it.each([
    { entry: { enabled: false }, expected: { enabled: false, severity: undefined } },
    { entry: { enabled: true }, expected: { enabled: true, severity: undefined } },
    { entry: { severity: 'warning' }, expected: { enabled: true, severity: 'warning' } },
    { entry: { severity: 'info', enabled: false }, expected: { enabled: false, severity: 'info' } },
    { entry: { severity: 'error' }, expected: { enabled: true, severity: 'error' } },
  ])('$entry', ({ entry, expected }) => {
    const config = parseConfig(CHECKS, { checks: { 'users-without-profiles': entry } }, 'f.json');
    expect(config.checks['users-without-profiles']).toEqual({ ...expected, options: USERS_DEFAULTS });
    expect(config.checks['jsonb-int-cast-index']).toEqual({ enabled: true, severity: undefined, options: {} });
  });

  it('enabled and severity are not passed to the check as options', () => {
    const config = parseConfig(CHECKS, { checks: { 'jsonb-int-cast-index': { enabled: false, severity: 'warning' } } }, 'f.json');
    expect(config.checks['jsonb-int-cast-index']).toEqual({ enabled: false, severity: 'warning', options: {} });
  });
});

describe('parseConfig: placeholder-uuid values', () => {
  it.each([
    {
      values: ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'N/A', 'n/a'],
      expected: ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'n/a'],
    },
    { values: ['ABC', 'abc', 'Def'], expected: ['abc', 'def'] },
    { values: ['UNKNOWN'], expected: ['unknown'] },
    {
      values: ['11111111-1111-1111-1111-111111111111', '11111111-1111-1111-1111-111111111111'],
      expected: ['11111111-1111-1111-1111-111111111111'],
    },
  ])('$values', ({ values, expected }) => {
    expect(parseConfig(CHECKS, { checks: { 'placeholder-uuid': { values } } }, 'f.json').checks['placeholder-uuid']?.options).toEqual({
      values: expected,
    });
  });
});

describe('parseConfig: relations', () => {
  it('keeps declared relations', () => {
    const relations = [
      { name: 'r', schema: 's', table: 'a', columns: ['x', 'y'], references: { schema: 't', table: 'b', columns: ['i', 'j'] } },
      { table: 'llm_call', columns: ['prompt_file_id'], references: { table: 'stored_file', columns: ['id'] } },
    ];
    expect(parseConfig(CHECKS, { relations }, 'f.json').relations).toEqual(relations);
  });
});

describe('parseConfig: errors', () => {
  const cases: { name: string; json: unknown; message: string }[] = [
    { name: 'unknown top-level key', json: { bogus: 1 }, message: 'invalid config f.json: (top level): Unrecognized key: "bogus"' },
    { name: 'not an object', json: null, message: 'invalid config f.json: (top level): Invalid input: expected object, received null' },
    { name: 'an array', json: [], message: 'invalid config f.json: (top level): Invalid input: expected object, received array' },
    {
      name: 'unknown check id',
      json: { checks: { 'orphan-row': {} } },
      message:
        'invalid config f.json: checks: Unrecognized key: "orphan-row" (known checks: accepted-values, collation-drift, disabled-triggers, invalid-indexes, jsonb-int-cast-index, models-without-pricing, orphan-rows, placeholder-uuid, required-child, row-condition, sequence-behind-data, sequence-headroom, undeclared-references, unique, unvalidated-checks, users-without-profiles)',
    },
    { name: 'checks not an object', json: { checks: 'all' }, message: 'invalid config f.json: checks: Invalid input: expected object, received string' },
    {
      name: 'unknown option key',
      json: { checks: { 'jsonb-int-cast-index': { threshold: 3 } } },
      message: 'invalid config f.json: checks.jsonb-int-cast-index: Unrecognized key: "threshold"',
    },
    {
      name: 'unknown nested option key',
      json: { checks: { 'models-without-pricing': { models: { tabel: 'm' } } } },
      message: 'invalid config f.json: checks.models-without-pricing.models: Unrecognized key: "tabel"',
    },
    {
      name: 'enabled not a boolean',
      json: { checks: { 'orphan-rows': { enabled: 'yes' } } },
      message: 'invalid config f.json: checks.orphan-rows.enabled: Invalid input: expected boolean, received string',
    },
    {
      name: 'unknown severity',
      json: { checks: { 'orphan-rows': { severity: 'fatal' } } },
      message: 'invalid config f.json: checks.orphan-rows.severity: Invalid option: expected one of "error"|"warning"|"info"',
    },
    {
      name: 'a check entry that is null',
      json: { checks: { 'orphan-rows': null } },
      message: 'invalid config f.json: checks.orphan-rows: Invalid input: expected object, received null',
    },
    {
      name: 'an option of the wrong type',
      json: { checks: { 'users-without-profiles': { users: 'auth.users' } } },
      message: 'invalid config f.json: checks.users-without-profiles.users: Invalid input: expected object, received string',
    },
    {
      name: 'an empty name',
      json: { checks: { 'models-without-pricing': { pricing: { column: '' } } } },
      message: 'invalid config f.json: checks.models-without-pricing.pricing.column: Too small: expected string to have >=1 characters',
    },
    {
      name: 'placeholder values not an array',
      json: { checks: { 'placeholder-uuid': { values: 'x' } } },
      message: 'invalid config f.json: checks.placeholder-uuid.values: Invalid input: expected array, received string',
    },
    {
      name: 'no placeholder values',
      json: { checks: { 'placeholder-uuid': { values: [] } } },
      message: 'invalid config f.json: checks.placeholder-uuid.values: expected at least one placeholder value',
    },
    {
      name: 'a placeholder value of the wrong type',
      json: { checks: { 'placeholder-uuid': { values: ['ok', 5] } } },
      message: 'invalid config f.json: checks.placeholder-uuid.values.1: Invalid input: expected string, received number',
    },
    {
      name: 'relations columns length mismatch',
      json: { relations: [{ table: 'a', columns: ['x', 'y'], references: { table: 'b', columns: ['id'] } }] },
      message: 'invalid config f.json: relations.0.references.columns: columns and references.columns must have the same length',
    },
    {
      name: 'a relation with an empty table name',
      json: { relations: [{ table: '', columns: ['x'], references: { table: 'b', columns: ['id'] } }] },
      message: 'invalid config f.json: relations.0.table: expected a non-empty name',
    },
    {
      name: 'a relation without columns',
      json: { relations: [{ table: 'a', columns: [], references: { table: 'b', columns: [] } }] },
      message: 'invalid config f.json: relations.0.columns: expected at least one column; relations.0.references.columns: expected at least one column',
    },
    {
      name: 'a relation without references',
      json: { relations: [{ table: 'a', columns: ['x'] }] },
      message: 'invalid config f.json: relations.0.references: Invalid input: expected object, received undefined',
    },
    {
      name: 'an unknown key in a relation',
      json: { relations: [{ table: 'a', columns: ['x'], references: { table: 'b', columns: ['id'] }, extra: 1 }] },
      message: 'invalid config f.json: relations.0: Unrecognized key: "extra"',
    },
    { name: 'relations not an array', json: { relations: {} }, message: 'invalid config f.json: relations: Invalid input: expected array, received object' },
    { name: 'sampleSize -1', json: { sampleSize: -1 }, message: 'invalid config f.json: sampleSize: Too small: expected number to be >=0' },
    { name: 'sampleSize 101', json: { sampleSize: 101 }, message: 'invalid config f.json: sampleSize: Too big: expected number to be <=100' },
    { name: 'sampleSize fractional', json: { sampleSize: 2.5 }, message: 'invalid config f.json: sampleSize: Invalid input: expected int, received number' },
    { name: 'sampleSize a string', json: { sampleSize: '5' }, message: 'invalid config f.json: sampleSize: Invalid input: expected number, received string' },
    {
      name: 'two problems on one line',
      json: { bogus: 1, sampleSize: -1 },
      message: 'invalid config f.json: sampleSize: Too small: expected number to be >=0; (top level): Unrecognized key: "bogus"',
    },
  ];
  it.each(cases)('$name', ({ json, message }) => {
    const err = usageError(() => parseConfig(CHECKS, json, 'f.json'));
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('\n');
  });

  // formatIssues promises "where in the file, and what was expected"; for a mistyped check id the
  // expectation is the list of check ids (as `--check` does: "known checks: ...").
  it('an unknown check id names the known checks', () => {
    const err = usageError(() => parseConfig(CHECKS, { checks: { 'orphan-row': {} } }, 'f.json'));
    expect(err.message).toContain('checks');
    expect(err.message).toContain('orphan-row');
    for (const check of CHECKS) expect(err.message).toContain(check.id);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-config-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses the defaults when there is no file and none was asked for', () => {
    const loaded = loadConfig(CHECKS, undefined, dir);
    expect(loaded.file).toBeNull();
    expect(loaded.config).toEqual(parseConfig(CHECKS, {}, '(defaults)'));
  });

  it('reads ./integrity.config.json when present', () => {
    const sub = mkdtempSync(path.join(dir, 'cwd-'));
    writeFileSync(path.join(sub, DEFAULT_CONFIG_FILE), JSON.stringify({ sampleSize: 7 }));
    const loaded = loadConfig(CHECKS, undefined, sub);
    expect(loaded.file).toBe(path.join(sub, DEFAULT_CONFIG_FILE));
    expect(loaded.config.sampleSize).toBe(7);
  });

  it('resolves --config against the working directory', () => {
    writeFileSync(path.join(dir, 'custom.json'), JSON.stringify({ checks: { 'orphan-rows': { enabled: false } } }));
    const loaded = loadConfig(CHECKS, 'custom.json', dir);
    expect(loaded.file).toBe(path.join(dir, 'custom.json'));
    expect(loaded.config.checks['orphan-rows']?.enabled).toBe(false);
  });

  it('reads the fixture config shipped with the tests', () => {
    const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
    const loaded = loadConfig(CHECKS, 'integrity.config.json', fixtures);
    expect(loaded.config.relations.map((r) => r.name)).toEqual([
      'llm_call.prompt_file_id -> stored_file.id',
      'llm_call.response_file_id -> stored_file.id',
    ]);
  });

  it('a missing --config file is a usage error', () => {
    const err = usageError(() => loadConfig(CHECKS, 'nope.json', dir));
    expect(err.message).toBe('config file nope.json does not exist; pass an existing file to --config');
  });

  it('invalid JSON is a usage error naming the file', () => {
    writeFileSync(path.join(dir, 'broken.json'), '{ "sampleSize": 5, }');
    const err = usageError(() => loadConfig(CHECKS, 'broken.json', dir));
    expect(err.message.startsWith(`config file ${path.join(dir, 'broken.json')} is not valid JSON: `)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('a schema problem names the file', () => {
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ checks: { 'orphan-rows': { enabled: 1 } } }));
    const err = usageError(() => loadConfig(CHECKS, 'bad.json', dir));
    expect(err.message).toBe(
      `invalid config ${path.join(dir, 'bad.json')}: checks.orphan-rows.enabled: Invalid input: expected boolean, received number`,
    );
  });
});
