import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { query, useDatabase } from '../helpers/db.js';
import { cli, findingsOf, preflightJson, repository } from './helpers.js';

/** Multi-byte text before the statements: a byte offset read as a character offset would land lines off. */
const MIGRATION = [
  '-- Ünïcödé 🚀 comment: the bytes before a statement are not its characters',
  "SET lock_timeout = '2s';",
  "COMMENT ON TABLE accounts IS 'déjà vu 🎉🎉🎉';",
  '/* a block',
  '   comment */ CREATE TABLE accounts (id int PRIMARY KEY);',
  'CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY);',
  'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;',
  '',
  'CREATE TABLE "Brand New" (id int);',
  'DROP TABLE accounts;',
  '',
].join('\n');

describe('integrity preflight: the command', () => {
  const db = useDatabase('preflight_command', { sql: ['CREATE TABLE accounts (id int PRIMARY KEY)', 'INSERT INTO accounts VALUES (1), (2)'] });

  it('reports each finding at the line of its statement, and every statement it does not judge', async () => {
    const root = repository({ 'db/001_init.sql': MIGRATION });
    const { run, report } = await preflightJson(db.url, root, ['db/001_init.sql']);
    expect(run.code).toBe(1);
    expect(findingsOf(report)).toEqual([
      { rule: 'preflight/already-exists', severity: 'error', at: 'db/001_init.sql:5', object: { schema: 'public', table: 'accounts' }, count: null, samples: [] },
      { rule: 'preflight/not-judged', severity: 'info', at: 'db/001_init.sql:3', object: { schema: '', table: '' }, count: null, samples: [] },
      { rule: 'preflight/not-judged', severity: 'info', at: 'db/001_init.sql:7', object: { schema: '', table: '' }, count: null, samples: [] },
      { rule: 'preflight/not-judged', severity: 'info', at: 'db/001_init.sql:10', object: { schema: '', table: '' }, count: null, samples: [] },
    ]);
    // The finding's location is the statement's; `source` (what SARIF and GitHub read) is the same.
    for (const f of report.findings) expect(f.source).toEqual(f.location);
    expect(report.preflight.statements).toBe(7);
    expect(report.preflight.judged).toBe(4);
    expect(report.preflight.notJudged).toEqual([
      { file: 'db/001_init.sql', line: 3, statement: 'COMMENT', reason: 'preflight does not judge COMMENT statements' },
      { file: 'db/001_init.sql', line: 7, statement: 'CREATE FUNCTION', reason: 'preflight does not judge CREATE FUNCTION statements' },
      { file: 'db/001_init.sql', line: 10, statement: 'DROP', reason: 'preflight does not judge DROP statements' },
    ]);
    const notJudged = report.checks.find((c) => c.id === 'preflight/not-judged');
    expect(notJudged).toMatchObject({ status: 'failed', findings: 3, note: '3 statement parts not judged: COMMENT at db/001_init.sql:3, CREATE FUNCTION at db/001_init.sql:7, DROP at db/001_init.sql:10' });
    expect(report.checks.find((c) => c.id === 'preflight/already-exists')).toMatchObject({ status: 'failed', findings: 1 });
    expect(report.checks.find((c) => c.id === 'preflight/orphans')).toMatchObject({ status: 'skipped' });
    // The line named holds the statement.
    const lines = MIGRATION.split('\n');
    expect(lines[4]).toContain('CREATE TABLE accounts');
    expect(run.stderr).toBe('integrity: preflight: 7 statements in 1 file; 4 judged, 3 not judged (see preflight/not-judged: not judged is not passed)\n');
  });

  it('runs nothing of the migration: the audit is the read-only session of check', async () => {
    const root = repository({ 'm.sql': MIGRATION });
    await preflightJson(db.url, root, ['m.sql']);
    const tables = await query<{ relname: string }>(db.url, `SELECT relname FROM pg_class WHERE relname IN ('accounts', 'Brand New') ORDER BY 1`);
    expect(tables.map((t) => t.relname)).toEqual(['accounts']);
    expect(await query(db.url, `SELECT count(*)::int AS n FROM accounts`)).toEqual([{ n: 2 }]);
    expect(await query(db.url, `SELECT proname FROM pg_proc WHERE proname = 'f'`)).toEqual([]);
  });

  it('points SARIF results and GitHub annotations at the statement line', async () => {
    const root = repository({ 'db/001_init.sql': MIGRATION });
    const sarif = await cli(['preflight', '-d', db.url, '--format', 'sarif', '--report', 'github=annotations.txt', '--report', 'junit=junit.xml', '--report', 'markdown=summary.md', 'db/001_init.sql'], root);
    expect(sarif.code).toBe(1);
    const results = (JSON.parse(sarif.stdout) as { runs: { results: { ruleId: string; locations: { physicalLocation: unknown }[] }[] }[] }).runs[0]?.results ?? [];
    expect(results.map((r) => [r.ruleId, r.locations[0]?.physicalLocation])).toEqual([
      ['preflight/already-exists', { artifactLocation: { uri: 'db/001_init.sql', uriBaseId: '%SRCROOT%' }, region: { startLine: 5 } }],
      ['preflight/not-judged', { artifactLocation: { uri: 'db/001_init.sql', uriBaseId: '%SRCROOT%' }, region: { startLine: 3 } }],
      ['preflight/not-judged', { artifactLocation: { uri: 'db/001_init.sql', uriBaseId: '%SRCROOT%' }, region: { startLine: 7 } }],
      ['preflight/not-judged', { artifactLocation: { uri: 'db/001_init.sql', uriBaseId: '%SRCROOT%' }, region: { startLine: 10 } }],
    ]);
    const annotations = readFileSync(path.join(root, 'annotations.txt'), 'utf8').split('\n');
    expect(annotations[0]).toMatch(/^::error file=db\/001_init\.sql,line=5,title=integrity preflight\/already-exists%3A public\.accounts::CREATE TABLE public\.accounts fails now/);
    expect(annotations[1]).toMatch(/^::notice file=db\/001_init\.sql,line=3,title=/);
    const junit = readFileSync(path.join(root, 'junit.xml'), 'utf8');
    expect(junit).toContain('<testsuite name="preflight/already-exists" tests="1" failures="1"');
    const markdown = readFileSync(path.join(root, 'summary.md'), 'utf8');
    expect(markdown).toContain('| `preflight/already-exists` | ❌ failed | 1 |');
    expect(markdown).toContain('preflight: 7 statements in 1 file; 4 judged, 3 not judged');
    const pretty = await cli(['preflight', '-d', db.url, 'db/001_init.sql'], root);
    expect(pretty.code).toBe(1);
    expect(pretty.stdout).toContain('preflight: 7 statements in 1 file; 4 judged, 3 not judged');
    expect(pretty.stdout).toContain('CREATE FUNCTION at db/001_init.sql:7 was not judged');
  });

  it('--fail-on, baselines and ignores work as in check', async () => {
    const root = repository({ 'm.sql': MIGRATION });
    expect((await cli(['preflight', '-d', db.url, '--fail-on', 'never', 'm.sql'], root)).code).toBe(0);
    expect((await cli(['preflight', '-d', db.url, '--fail-on', 'info', 'm.sql'], root)).code).toBe(1);
    const written = await cli(['preflight', '-d', db.url, '--write-baseline', 'baseline.json', 'm.sql'], root);
    expect(written.code).toBe(1);
    const { run, report } = await preflightJson(db.url, root, ['m.sql'], ['--baseline', 'baseline.json', '--fail-on', 'info']);
    expect(run.code).toBe(0);
    expect(report.findings.every((f) => f.baselined)).toBe(true);
    const ignoring = repository({
      'm.sql': MIGRATION,
      'integrity.config.json': JSON.stringify({ ignore: [{ check: 'preflight/already-exists', object: 'public.accounts', reason: 'recreated on purpose' }] }),
    });
    const ignored = await preflightJson(db.url, ignoring, ['m.sql']);
    expect(ignored.run.code).toBe(0);
    expect(ignored.report.findings.find((f) => f.checkId === 'preflight/already-exists')?.ignored).toEqual({ reason: 'recreated on purpose', until: null });
  });

  it('a look-alike that passes: IF NOT EXISTS, a new table, SET and transaction control', async () => {
    const root = repository({ 'ok.sql': 'BEGIN;\nSET statement_timeout = 0;\nCREATE TABLE IF NOT EXISTS accounts (id int);\nCREATE TABLE other (id int);\nCOMMIT;\n' });
    const { run, report } = await preflightJson(db.url, root, ['ok.sql']);
    expect(run.code).toBe(0);
    expect(report.findings).toEqual([]);
    expect(report.preflight).toMatchObject({ statements: 5, judged: 5, notJudged: [] });
    expect(report.checks.find((c) => c.id === 'preflight/not-judged')).toMatchObject({ status: 'passed', note: 'every statement was judged' });
  });

  it('bad input is one line and exit 2, with the file and line', async () => {
    const root = repository({ 'bad.sql': "-- é🚀\nSELECT 1;\n\nALTER TABLE accounts ADD COLUMN x int NOT NUL;\n", 'empty.sql': '-- nothing\n' });
    const parse = await cli(['preflight', '-d', db.url, 'bad.sql'], root);
    expect(parse).toEqual({ code: 2, stdout: '', stderr: 'integrity: bad.sql:4: syntax error at or near "NUL" (the file could not be parsed, so nothing in it was judged)\n' });
    const missing = await cli(['preflight', '-d', db.url, 'nope.sql'], root);
    expect(missing).toEqual({ code: 2, stdout: '', stderr: 'integrity: nope.sql: no such file\n' });
    const empty = await cli(['preflight', '-d', db.url, '--format', 'json', 'empty.sql'], root);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('nothing was judged: the migrations hold no statement; pass --allow-empty if that is expected');
    expect((await cli(['preflight', '-d', db.url, '--allow-empty', 'empty.sql'], root)).code).toBe(0);
    const noConnection = await cli(['preflight', '-d', 'postgres://postgres@127.0.0.1:1/postgres', 'empty.sql'], root);
    expect(noConnection.code).toBe(2);
    expect(noConnection.stderr.split('\n').length).toBe(2);
  });
});
