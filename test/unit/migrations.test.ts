import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../src/findings.js';
import { blankCommentsAndStrings, indexMigrations, locateFinding } from '../../src/report/migrations.js';
import { renderGithub } from '../../src/report/github.js';
import { renderSarif } from '../../src/report/sarif.js';
import { UsageError } from '../../src/errors.js';

function finding(object: Finding['object'], extra: Partial<Finding> = {}): Finding {
  return { checkId: 'orphan-rows', severity: 'error', message: 'm', object, count: 1, samples: [], fingerprint: '0123456789abcdef', fix: null, ...extra };
}

describe('migrations folder', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'integrity-migrations-'));
  mkdirSync(path.join(root, 'db', 'migrations', '2024'), { recursive: true });
  writeFileSync(
    path.join(root, 'db', 'migrations', '001_init.sql'),
    [
      '-- CREATE TABLE not_this_one (id int);',
      "INSERT INTO notes VALUES ('CREATE TABLE nor_this (x int)');",
      'CREATE TABLE IF NOT EXISTS public.models (',
      '  id text PRIMARY KEY,',
      '  CONSTRAINT models_provider_fk FOREIGN KEY (provider_id) REFERENCES providers (id)',
      ');',
      'create unlogged table "Billing Dept"."Invoice Line" (id int);',
      '/* CREATE INDEX nope ON models (id); */',
      "CREATE INDEX CONCURRENTLY idx_models_meta_credits_per_1k ON public.models (((meta->>'creditsPer1kTokens')::int));",
      'CREATE TABLE chat_sessions (id uuid);',
    ].join('\n'),
  );
  writeFileSync(
    path.join(root, 'db', 'migrations', '2024', '002_later.sql'),
    ['CREATE TABLE public.models (id text); -- a later re-creation does not move the location', 'ALTER TABLE x ADD CONSTRAINT dup CHECK (true);', 'ALTER TABLE y ADD CONSTRAINT dup CHECK (true);', 'DO $$ BEGIN CREATE TABLE auth.users (id uuid); END $$;'].join('\n'),
  );
  const index = indexMigrations('db/migrations', root);

  it('finds where each table, index and constraint was first created, ignoring comments and strings', () => {
    expect(index.tables.get('public.models')).toEqual({ file: 'db/migrations/001_init.sql', line: 3 });
    expect(index.tables.get('Billing Dept.Invoice Line')).toEqual({ file: 'db/migrations/001_init.sql', line: 7 });
    expect(index.tables.get('auth.users')).toEqual({ file: 'db/migrations/2024/002_later.sql', line: 4 });
    expect(index.unqualifiedTables.get('chat_sessions')).toEqual({ file: 'db/migrations/001_init.sql', line: 10 });
    expect(index.tables.has('public.not_this_one') || index.unqualifiedTables.has('not_this_one') || index.unqualifiedTables.has('nor_this')).toBe(false);
    expect(index.indexes.get('public.idx_models_meta_credits_per_1k')).toEqual({ file: 'db/migrations/001_init.sql', line: 9 });
    expect(index.indexes.has('.nope')).toBe(false);
    expect(index.constraints.get('models_provider_fk')).toEqual({ file: 'db/migrations/001_init.sql', line: 5 });
    // A name used twice cannot be placed.
    expect(index.constraints.has('dup')).toBe(false);
  });

  it('places a finding by its index, then its constraint, then its table (any schema for an unqualified one)', () => {
    expect(locateFinding(index, finding({ schema: 'public', table: 'models', index: 'idx_models_meta_credits_per_1k' }))?.line).toBe(9);
    expect(locateFinding(index, finding({ schema: 'public', table: 'models', constraint: 'models_provider_fk' }))?.line).toBe(5);
    expect(locateFinding(index, finding({ schema: 'public', table: 'models', constraint: 'unknown' }))?.line).toBe(3);
    expect(locateFinding(index, finding({ schema: 'app', table: 'chat_sessions' }))?.line).toBe(10);
    expect(locateFinding(index, finding({ schema: 'public', table: 'elsewhere' }))).toBeNull();
  });

  it('puts the migration in SARIF and in the GitHub annotation; other findings keep the per-object path', () => {
    const located = finding({ schema: 'public', table: 'models' }, { source: { file: 'db/migrations/001_init.sql', line: 3 } });
    const other = finding({ schema: 'public', table: 'elsewhere' }, { fingerprint: 'fedcba9876543210' });
    const report = {
      version: '0.1.0',
      tool: 'integrity',
      database: { host: 'h', port: 5432, name: 'app', user: 'u', serverVersion: '15' },
      startedAt: '2026-11-23T00:00:00.000Z',
      durationMs: 1,
      options: { schemas: ['public'], deep: false, failOn: 'error' as const, samplePercent: null },
      scope: { tables: 3, partitions: 0 },
      summary: { checks: { passed: 0, sampled: 0, failed: 1, skipped: 0, error: 0 }, findings: { error: 2, warning: 0, info: 0 } },
      checks: [],
      findings: [located, other],
    };
    const sarif = JSON.parse(renderSarif(report)) as { runs: { results: { locations: { physicalLocation: unknown }[] }[] }[] };
    expect(sarif.runs[0]?.results.map((r) => r.locations[0]?.physicalLocation)).toEqual([
      { artifactLocation: { uri: 'db/migrations/001_init.sql', uriBaseId: '%SRCROOT%' }, region: { startLine: 3 } },
      { artifactLocation: { uri: 'db/public/elsewhere.sql', uriBaseId: 'DATABASE' }, region: { startLine: 1 } },
    ]);
    const lines = renderGithub(report).split('\n');
    expect(lines[0]).toMatch(/^::error file=db\/migrations\/001_init\.sql,line=3,title=integrity orphan-rows%3A public\.models::m$/);
    expect(lines[1]).toMatch(/^::error title=integrity orphan-rows%3A public\.elsewhere::m$/);
  });

  it('counts only the definition of a constraint, and reads past quoted names, E-strings and dollar tags', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-migrations-'));
    writeFileSync(
      path.join(dir, '001.sql'),
      [
        'ALTER TABLE a ADD CONSTRAINT a_fk FOREIGN KEY (x) REFERENCES b (id) NOT VALID;',
        'ALTER TABLE a VALIDATE CONSTRAINT a_fk;',
        'ALTER TABLE a DROP CONSTRAINT IF EXISTS old_fk;',
        'CREATE TABLE "O\'Reilly" (id int);',
        "COMMENT ON TABLE x IS 'writers';",
        "INSERT INTO t VALUES (E'it\\'s');",
        'CREATE TABLE after_e (id int);',
        'CREATE INDEX CONCURRENTLY ON after_e (id);',
        'CREATE FUNCTION f() RETURNS void AS $fn1$ BEGIN CREATE TABLE in_body (id int); END $fn1$ LANGUAGE plpgsql;',
      ].join('\n'),
    );
    const found = indexMigrations('.', dir);
    expect(found.constraints.get('a_fk')).toEqual({ file: '001.sql', line: 1 });
    expect(found.constraints.has('if')).toBe(false);
    expect(found.unqualifiedTables.get("O'Reilly")).toEqual({ file: '001.sql', line: 4 });
    expect(found.unqualifiedTables.get('after_e')).toEqual({ file: '001.sql', line: 7 });
    expect(found.unqualifiedTables.get('in_body')).toEqual({ file: '001.sql', line: 9 });
    expect([...found.indexes.keys()]).toEqual([]);
  });

  it('refuses a folder that does not exist, saying what to set', () => {
    expect(() => indexMigrations('no/such/dir', root)).toThrow(UsageError);
    expect(() => indexMigrations('no/such/dir', root)).toThrow(/set "migrations" in the config/);
  });

  it('blanks comments and strings without moving any offset', () => {
    const sql = "a -- c\nb /* x\ny */ 'it''s' $$ keep $$";
    const out = blankCommentsAndStrings(sql);
    expect(out).toHaveLength(sql.length);
    expect(out.split('\n')).toHaveLength(3);
    expect(out).toContain('$$ keep $$');
    expect(out).not.toContain('it');
  });
});
