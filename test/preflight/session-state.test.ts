import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { cli, findingsOf, preflightJson, repository } from './helpers.js';
import type { PreflightReport } from '../../src/preflight/report.js';

/**
 * What the migration's own session does to the statements after it: transaction control, search_path,
 * DROP SCHEMA, standard_conforming_strings, DateStyle; syntax newer than the server; set-returning
 * functions where PostgreSQL allows none. Each case was run for real against PostgreSQL 15 in
 * BEGIN ... ROLLBACK to see what it says.
 */
const SETUP = [
  // NULLs in n: SET NOT NULL fails (23502) on row 2.
  'CREATE TABLE t (id int PRIMARY KEY, n int, d text)',
  `INSERT INTO t VALUES (1, 1, '01/02/2026'), (2, NULL, '13/02/2026')`,
  'CREATE TABLE t2 (id int PRIMARY KEY, n int, d text)',
  'INSERT INTO t2 SELECT * FROM t',
  'CREATE TABLE u (id int PRIMARY KEY, n int)',
  'INSERT INTO u VALUES (1, 5), (2, 6)',
  'CREATE TABLE customers (id int PRIMARY KEY)',
  'CREATE TABLE legacy (id int PRIMARY KEY, customer_id int)',
  'INSERT INTO legacy VALUES (1, 42)',
  // The same table name in three schemas: app's has two duplicate skus, the role's own three, public's none.
  'CREATE SCHEMA app',
  'CREATE TABLE app.items (id int, sku text)',
  `INSERT INTO app.items VALUES (1, 'a'), (2, 'a')`,
  'CREATE TABLE public.items (id int, sku text)',
  `INSERT INTO public.items VALUES (1, 'a'), (2, 'b')`,
  `DO $$ BEGIN EXECUTE pg_catalog.format('CREATE SCHEMA %I', current_user); EXECUTE pg_catalog.format('CREATE TABLE %I.items (id int, sku text)', current_user); EXECUTE pg_catalog.format('INSERT INTO %I.items VALUES (1, %L), (2, %L), (3, %L)', current_user, 'b', 'b', 'b'); END $$`,
  'CREATE SCHEMA scratch',
  'CREATE SCHEMA s',
  'CREATE TABLE s.x (id int)',
  'INSERT INTO s.x VALUES (1), (1)',
  `DO $$ BEGIN EXECUTE pg_catalog.format('ALTER DATABASE %I SET search_path = app, public', current_database()); END $$`,
];

/** A second database whose defaults are not PostgreSQL's: standard_conforming_strings off, dates read day first. */
const ODD_DEFAULTS = [
  `CREATE TABLE t (id int PRIMARY KEY, n int, d text)`,
  `INSERT INTO t VALUES (1, 1, '01/02/2026'), (2, NULL, '13/02/2026')`,
  `DO $$ BEGIN EXECUTE pg_catalog.format('ALTER DATABASE %I SET standard_conforming_strings = off', current_database()); EXECUTE pg_catalog.format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'ISO, DMY'); END $$`,
  // The role's setting in this database wins over the database's own.
  'CREATE SCHEMA app2',
  'CREATE TABLE app2.items (id int, sku text)',
  `INSERT INTO app2.items VALUES (1, 'z'), (2, 'z'), (3, 'y'), (4, 'y')`,
  'CREATE TABLE public.items (id int, sku text)',
  `DO $$ BEGIN EXECUTE pg_catalog.format('ALTER DATABASE %I SET search_path = public', current_database()); EXECUTE pg_catalog.format('ALTER ROLE %I IN DATABASE %I SET search_path = app2, public', current_user, current_database()); END $$`,
];

const verdict = (report: PreflightReport, file: string, line: number) =>
  report.preflight.statementsJudged.filter((v) => v.location.file === file && v.location.line === line).map((v) => v.outcomes);

describe('preflight follows what the migration session does', () => {
  const db = useDatabase('preflight_session_state', { sql: SETUP });
  const odd = useDatabase('preflight_session_odd', { sql: ODD_DEFAULTS });

  it('B9: ROLLBACK and ROLLBACK TO SAVEPOINT undo what they undo; a failure aborts the rest of its block (25P02)', async () => {
    const root = repository({
      'db/rollback.sql': [
        'BEGIN;',
        'UPDATE t SET n = 0 WHERE n IS NULL;',
        'CREATE TABLE fresh (id int);',
        'ALTER TABLE legacy ADD CONSTRAINT legacy_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;',
        'ROLLBACK;',
        // The UPDATE was rolled back: today's NULL is there again.
        'ALTER TABLE t ALTER COLUMN n SET NOT NULL;',
        // fresh was rolled back: it does not exist (42P01), so it is not judged as an empty table.
        'ALTER TABLE fresh ADD PRIMARY KEY (id);',
        'BEGIN;',
        'SAVEPOINT before_fill;',
        'UPDATE u SET n = NULL;',
        'ROLLBACK TO SAVEPOINT before_fill;',
        'ALTER TABLE u ALTER COLUMN n SET NOT NULL;',
        'COMMIT;',
        'BEGIN;',
        'ALTER TABLE t ALTER COLUMN n SET NOT NULL;',
        'CREATE UNIQUE INDEX u_n ON u (n);',
        'COMMIT;',
        '',
      ].join('\n'),
    });
    const { run, report } = await preflightJson(db.url, root, ['db/rollback.sql']);
    expect(run.code).toBe(1);
    expect(findingsOf(report, 'preflight/nulls').map((f) => [f.at, f.count])).toEqual([
      ['db/rollback.sql:6', 1],
      ['db/rollback.sql:15', 1],
    ]);
    expect(verdict(report, 'db/rollback.sql', 7)).toEqual([
      [expect.objectContaining({ status: 'not-judged', reason: expect.stringMatching(/^no table fresh \(looked for in app, public\) exists today/) })],
    ]);
    // The NOT VALID foreign key was rolled back: nothing to validate later.
    expect(findingsOf(report, 'preflight/unvalidated-foreign-keys')).toEqual([]);
    // u's values are today's again after ROLLBACK TO: judged, and they hold no NULL.
    expect(verdict(report, 'db/rollback.sql', 12)).toEqual([[{ rule: 'preflight/nulls', status: 'passed' }]]);
    expect(verdict(report, 'db/rollback.sql', 16)).toEqual([
      [{ rule: 'preflight/not-judged', status: 'not-judged', reason: 'the ALTER TABLE at db/rollback.sql:15 fails, which aborts the transaction block: this statement does not run (25P02)' }],
    ]);

    // Outside BEGIN, what a ROLLBACK undoes depends on the migration tool: a barrier, with why.
    const outside = repository({ 'db/outside.sql': 'UPDATE u SET n = NULL;\nROLLBACK;\nALTER TABLE t ALTER COLUMN n SET NOT NULL;\n' });
    const second = await preflightJson(db.url, outside, ['db/outside.sql']);
    expect(verdict(second.report, 'db/outside.sql', 3)).toEqual([
      [expect.objectContaining({ status: 'not-judged', reason: expect.stringMatching(/^the ROLLBACK at db\/outside\.sql:2 may change any table's rows before this runs \(if the migration tool runs the file in one transaction/) })],
    ]);
  });

  it('B9: a ROLLBACK after BEGIN, with statements before the BEGIN in its file, may undo them too (a tool\'s transaction around the file): a barrier', async () => {
    const root = repository({ 'db/wrapped.sql': 'UPDATE u SET n = 1;\nBEGIN;\nCREATE TABLE x2 (id int);\nROLLBACK;\nALTER TABLE t ALTER COLUMN n SET NOT NULL;\n' });
    const { report } = await preflightJson(db.url, root, ['db/wrapped.sql']);
    expect(verdict(report, 'db/wrapped.sql', 5)).toEqual([
      [
        {
          rule: 'preflight/nulls',
          status: 'not-judged',
          reason:
            "the ROLLBACK at db/wrapped.sql:4 may change any table's rows before this runs (if the migration tool runs the file in one transaction, this also undoes the statements of the file before the BEGIN at db/wrapped.sql:2: which is not known)",
        },
      ],
    ]);
  });

  it('B10/B11: search_path starts at the database\'s default; "$user", RESET, DEFAULT, SET LOCAL and set_config are followed', async () => {
    const root = repository({
      // The database's default is app, public: items is app.items, with a duplicate.
      'db/a.sql': 'CREATE UNIQUE INDEX items_sku ON items (sku);\n',
      'db/b.sql': 'SET search_path = "$user", public;\nCREATE UNIQUE INDEX items_b ON items (sku);\n',
      'db/c.sql': 'SET search_path = public;\nRESET search_path;\nCREATE UNIQUE INDEX items_c1 ON items (sku);\nSET search_path = public;\nSET search_path TO DEFAULT;\nCREATE UNIQUE INDEX items_c2 ON items (sku);\n',
      'db/d.sql': 'BEGIN;\nSET LOCAL search_path = public;\nCREATE UNIQUE INDEX items_d1 ON items (sku);\nCOMMIT;\nCREATE UNIQUE INDEX items_d2 ON items (sku);\n',
      // The path is the empty schema scratch now, where items does not exist: CREATE TABLE does not fail, and preflight does not say it does.
      // "$user" is the current role: after SET ROLE app, schema app (the role app must exist for the migration to run; preflight takes the SET as written).
      'db/f.sql': 'SET search_path = "$user", public;\nSET ROLE app;\nCREATE UNIQUE INDEX items_f1 ON items (sku);\nRESET ROLE;\nCREATE UNIQUE INDEX items_f2 ON items (sku);\n',
      'db/e.sql': "SELECT pg_catalog.set_config('search_path', 'scratch', false);\nCREATE TABLE items (id int);\n",
    });
    const { report } = await preflightJson(db.url, root, ['db/a.sql', 'db/b.sql', 'db/c.sql', 'db/d.sql', 'db/f.sql', 'db/e.sql']);
    const role = report.database.user;
    expect(findingsOf(report, 'preflight/duplicates').map((f) => [f.at, f.object.schema, f.count])).toEqual([
      ['db/a.sql:1', 'app', 2],
      ['db/b.sql:2', role, 3],
      ['db/c.sql:3', 'app', 2],
      ['db/c.sql:6', 'app', 2],
      ['db/d.sql:5', 'app', 2],
      ['db/f.sql:3', 'app', 2],
      ['db/f.sql:5', role, 3],
    ]);
    expect(verdict(report, 'db/b.sql', 2)).toEqual([
      [{ rule: 'preflight/duplicates', status: 'failed', note: `search_path's "$user" is taken as ${role}, the role preflight connects as: the migration is assumed to run as that role` }],
    ]);
    // SET LOCAL inside BEGIN: public.items, whose skus are unique; after COMMIT the default again.
    expect(verdict(report, 'db/d.sql', 3)).toEqual([[{ rule: 'preflight/duplicates', status: 'passed' }]]);
    expect(findingsOf(report, 'preflight/already-exists')).toEqual([]);
    expect(verdict(report, 'db/e.sql', 2)).toEqual([
      [
        {
          rule: 'preflight/already-exists',
          status: 'not-judged',
          reason: "which schema it creates items in is not known: the SELECT at db/e.sql:1 sets search_path through set_config(), which preflight does not evaluate",
        },
      ],
    ]);
  });

  it('B11: the role\'s setting in the database is read from pg_db_role_setting, not from our session (which PGOPTIONS may have set)', async () => {
    const root = repository({ 'db/role.sql': 'CREATE UNIQUE INDEX items_sku ON items (sku);\n' });
    const run = await cli(['preflight', '-d', odd.url, '--format', 'json', 'db/role.sql'], root, { PGOPTIONS: '-c search_path=public' });
    const report = JSON.parse(run.stdout) as PreflightReport;
    expect(findingsOf(report, 'preflight/duplicates').map((f) => [f.at, f.object.schema, f.count, f.samples])).toEqual([['db/role.sql:1', 'app2', 4, ['y', 'z']]]);
    expect(run.code).toBe(1);
  });

  it('B12: DROP SCHEMA ... CASCADE and DROP TABLE: the tables are gone; CREATE TABLE of them again is not "already exists"', async () => {
    const root = repository({
      'db/drop.sql': [
        'DROP SCHEMA s CASCADE;',
        'ALTER TABLE s.x ADD PRIMARY KEY (id);',
        'CREATE SCHEMA s;',
        'CREATE TABLE s.x (id int);',
        'ALTER TABLE s.x ADD PRIMARY KEY (id);',
        'DROP TABLE u;',
        'CREATE TABLE u (id int);',
        'DROP SCHEMA scratch;',
        'CREATE SCHEMA scratch;',
        'CREATE TABLE scratch.items (id int);',
        '',
      ].join('\n'),
    });
    const { run, report } = await preflightJson(db.url, root, ['db/drop.sql']);
    expect(findingsOf(report, 'preflight/already-exists')).toEqual([]);
    expect(findingsOf(report, 'preflight/duplicates')).toEqual([]);
    expect(run.code).toBe(0);
    expect(verdict(report, 'db/drop.sql', 2)).toEqual([
      [{ rule: 'preflight/duplicates', status: 'not-judged', reason: 'the DROP SCHEMA at db/drop.sql:1 drops schema s, and its tables, before this runs' }],
    ]);
    expect(verdict(report, 'db/drop.sql', 4)).toEqual([[{ rule: 'preflight/already-exists', status: 'passed' }]]);
    expect(verdict(report, 'db/drop.sql', 5)[0]?.[0]).toMatchObject({ rule: 'preflight/duplicates', status: 'passed' });
    expect(verdict(report, 'db/drop.sql', 7)).toEqual([[{ rule: 'preflight/already-exists', status: 'passed' }]]);
    expect(verdict(report, 'db/drop.sql', 10)).toEqual([[{ rule: 'preflight/already-exists', status: 'passed' }]]);
  });

  it('B13: with standard_conforming_strings off (SET, or the database\'s default) a backslash in a literal makes the statement not judged', async () => {
    const root = repository({
      'db/scs.sql': "ALTER TABLE t ADD CONSTRAINT d_plain CHECK (d <> 'a\\b');\nSET standard_conforming_strings = off;\nALTER TABLE t ADD CONSTRAINT d_esc CHECK (d <> 'a\\b');\nALTER TABLE t ADD CONSTRAINT d_none CHECK (d <> 'ab');\n",
    });
    const { report } = await preflightJson(db.url, root, ['db/scs.sql']);
    expect(verdict(report, 'db/scs.sql', 1)).toEqual([[{ rule: 'preflight/check-violations', status: 'passed' }]]);
    const reason = "a string literal of it holds a backslash, which standard_conforming_strings off makes an escape (it is set off at db/scs.sql:2); preflight's parser reads it as on";
    expect(verdict(report, 'db/scs.sql', 3)).toEqual([[{ rule: 'preflight/not-judged', status: 'not-judged', reason }]]);
    // Its text may have been split differently too: the statements after it are not judged on data either.
    expect(verdict(report, 'db/scs.sql', 4)[0]?.[0]).toMatchObject({ status: 'not-judged', reason: expect.stringMatching(/^the ALTER TABLE at db\/scs\.sql:3 may change any table's rows/) });

    const other = repository({ 'db/odd.sql': "ALTER TABLE t ADD CONSTRAINT d_esc CHECK (d <> 'a\\b');\n" });
    const second = await preflightJson(odd.url, other, ['db/odd.sql']);
    expect(verdict(second.report, 'db/odd.sql', 1)).toEqual([
      [{ rule: 'preflight/not-judged', status: 'not-judged', reason: "a string literal of it holds a backslash, which standard_conforming_strings off makes an escape (it is off by default for this database or role); preflight's parser reads it as on" }],
    ]);
  });

  it('B14: syntax newer than the server fails there (42601); what the server accepts is not flagged', async () => {
    const root = repository({
      'db/new.sql': [
        'ALTER TABLE t ADD CONSTRAINT n_small CHECK (n < 1_000);',
        'CREATE INDEX t_hex ON t ((n + 0x1F));',
        'ALTER TABLE t ADD CONSTRAINT n_plain CHECK (n < 1000);',
        "SELECT JSON_OBJECT('a': 1);",
        "SELECT * FROM JSON_TABLE('[1]'::jsonb, '$[*]' COLUMNS (v int PATH '$')) AS j;",
        'MERGE INTO u USING t ON u.id = t.id WHEN MATCHED THEN UPDATE SET n = t.n RETURNING u.id;',
        'ALTER TABLE t ALTER COLUMN n SET EXPRESSION AS (id * 2);',
        // Rejected on 15, it creates nothing: the ALTER after it meets no table.
        'CREATE TABLE later (id int CHECK (id < 1_000));',
        'ALTER TABLE later ADD PRIMARY KEY (id);',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['db/new.sql']);
    const version = Number(/^(\d+)/.exec(report.database.serverVersion)?.[1]);
    const syntax = findingsOf(report, 'preflight/syntax').map((f) => f.at);
    if (version === 15) {
      expect(syntax).toEqual(['db/new.sql:1', 'db/new.sql:2', 'db/new.sql:4', 'db/new.sql:5', 'db/new.sql:6', 'db/new.sql:7', 'db/new.sql:8']);
      expect(verdict(report, 'db/new.sql', 9)).toEqual([
        [expect.objectContaining({ status: 'not-judged', reason: expect.stringMatching(/^no table later \(looked for in app, public\) exists today/) })],
      ]);
      expect(report.findings.find((f) => f.checkId === 'preflight/syntax')?.message).toBe(
        "ALTER TABLE fails now (42601): PostgreSQL 15 does not accept numeric literals with underscores (1_000) (new in PostgreSQL 16); preflight's parser is PostgreSQL 17's",
      );
      expect(report.findings.filter((f) => f.checkId === 'preflight/syntax').map((f) => f.message.replace(/^.*does not accept (.*); preflight.*$/, '$1'))).toEqual([
        'numeric literals with underscores (1_000) (new in PostgreSQL 16)',
        'non-decimal integer literals (0x1F, 0o17, 0b101) (new in PostgreSQL 16)',
        'the SQL/JSON constructor JSON_OBJECT (new in PostgreSQL 16)',
        'JSON_TABLE (new in PostgreSQL 17)',
        'MERGE ... RETURNING (new in PostgreSQL 17)',
        'ALTER COLUMN ... SET EXPRESSION (new in PostgreSQL 17)',
        'numeric literals with underscores (1_000) (new in PostgreSQL 16)',
      ]);
    } else {
      // PostgreSQL 18 (the embedded server) accepts all of it.
      expect(version).toBeGreaterThanOrEqual(17);
      expect(syntax).toEqual([]);
      expect(report.checks.find((c) => c.id === 'preflight/syntax')?.status).toBe('passed');
    }
    expect(verdict(report, 'db/new.sql', 3)).toEqual([[{ rule: 'preflight/check-violations', status: 'passed' }]]);
  });

  it('B15: a conversion is evaluated under the migration\'s DateStyle (SET in the run, or the database\'s), and ours comes back after', async () => {
    const root = repository({
      'db/dates.sql': [
        "SET DateStyle = 'ISO, DMY';",
        'ALTER TABLE t ALTER COLUMN d TYPE date USING d::date;',
        'RESET DateStyle;',
        'ALTER TABLE t2 ALTER COLUMN d TYPE date USING d::date;',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['db/dates.sql']);
    // Day first: 01/02/2026 and 13/02/2026 are both dates. Month first (the default again): month 13 is not.
    expect(verdict(report, 'db/dates.sql', 2)).toEqual([
      [{ rule: 'preflight/type-changes', status: 'passed', note: "evaluated under the migration's datestyle ISO, DMY (not preflight's own)" }],
    ]);
    // (Rows are counted only for integer casts: for a date, "at least one row".)
    expect(findingsOf(report, 'preflight/type-changes').map((f) => [f.at, f.count])).toEqual([['db/dates.sql:4', null]]);
    expect(report.findings.find((f) => f.checkId === 'preflight/type-changes')?.message).toContain('date/time field value out of range: "13/02/2026"');

    // A value the server refuses (the SET itself fails): nothing is evaluated under it.
    const refused = repository({ 'db/tz.sql': "SET TimeZone = 'Mars/Olympus';\nALTER TABLE u ADD CONSTRAINT u_pos CHECK (n > 0);\n" });
    const third = await preflightJson(db.url, refused, ['db/tz.sql']);
    expect(verdict(third.report, 'db/tz.sql', 2)).toEqual([
      [expect.objectContaining({ rule: 'preflight/not-judged', status: 'not-judged', reason: expect.stringMatching(/^the migration's timezone "Mars\/Olympus" is refused by the server \(invalid value for parameter "TimeZone": "Mars\/Olympus"\)/) })],
    ]);
    expect(third.run.code).toBe(0);

    const other = repository({ 'db/dates.sql': 'ALTER TABLE t ALTER COLUMN d TYPE date USING d::date;\n' });
    const second = await preflightJson(odd.url, other, ['db/dates.sql']);
    expect(findingsOf(second.report, 'preflight/type-changes')).toEqual([]);
    expect(verdict(second.report, 'db/dates.sql', 1)).toEqual([
      [{ rule: 'preflight/type-changes', status: 'passed', note: "evaluated under the migration's datestyle ISO, DMY (not preflight's own)" }],
    ]);
  });

  it('C3: a set-returning function where PostgreSQL allows none fails that statement (0A000); the run goes on', async () => {
    const root = repository({
      'db/srf.sql': [
        'ALTER TABLE t ADD CONSTRAINT srf_check CHECK (generate_series(1, 2) > 0);',
        "CREATE INDEX t_srf ON t ((jsonb_array_elements('[1]'::jsonb)));",
        'ALTER TABLE t ALTER COLUMN n TYPE int USING unnest(ARRAY[n]);',
        'ALTER TABLE u ADD CONSTRAINT u_n_positive CHECK (n > 5);',
        '',
      ].join('\n'),
    });
    const { run, report } = await preflightJson(db.url, root, ['db/srf.sql']);
    expect(run.code).toBe(1);
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(
      report.findings
        .filter((f) => f.checkId !== 'preflight/not-judged' && f.severity === 'error')
        .map((f) => [f.checkId, f.location.line, f.message]),
    ).toEqual([
      ['preflight/check-violations', 1, 'ALTER TABLE fails now (0A000): set-returning functions are not allowed in check constraints (generate_series), whatever the rows'],
      ['preflight/check-violations', 4, expect.stringMatching(/^ADD CHECK \(n > 5\) fails now \(23514\): 1 row of public\.u violate/)],
      ['preflight/index-expressions', 2, 'CREATE INDEX fails now (0A000): set-returning functions are not allowed in index expressions (jsonb_array_elements), whatever the rows'],
      ['preflight/type-changes', 3, 'ALTER TABLE fails now (0A000): set-returning functions are not allowed in transform expressions (unnest), whatever the rows'],
    ]);
  });

  it('a finding without samples does not announce them ("(samples: primary key (id))" with none listed)', async () => {
    const root = repository({ 'db/n.sql': 'ALTER TABLE t ALTER COLUMN n SET NOT NULL;\n' });
    const shown = await preflightJson(db.url, root, ['db/n.sql']);
    expect(findingsOf(shown.report, 'preflight/nulls')).toEqual([
      { rule: 'preflight/nulls', severity: 'error', at: 'db/n.sql:1', count: 1, samples: ['2'], object: { schema: 'public', table: 't', column: 'n' } },
    ]);
    expect(shown.report.findings.find((f) => f.checkId === 'preflight/nulls')?.message).toMatch(/^ALTER COLUMN n SET NOT NULL fails now \(23502\): 1 row of public\.t hold NULL in n \(samples: primary key \(id\)\)\. Fill them first/);
    const withheld = await preflightJson(db.url, root, ['db/n.sql'], ['--samples', '0']);
    expect(findingsOf(withheld.report, 'preflight/nulls').map((f) => [f.count, f.samples])).toEqual([[1, []]]);
    expect(withheld.report.findings.find((f) => f.checkId === 'preflight/nulls')?.message).toMatch(/^ALTER COLUMN n SET NOT NULL fails now \(23502\): 1 row of public\.t hold NULL in n\. Fill them first/);
    for (const format of ['pretty', 'markdown']) {
      const out = await cli(['preflight', '-d', db.url, '--format', format, '--samples', '0', 'db/n.sql'], root);
      expect(out.code).toBe(1);
      // (The pretty table wraps lines: the sentence's start only.)
      expect(out.stdout).toContain('hold NULL in n.');
      expect(out.stdout).not.toContain('samples:');
    }
  });

  it('a statement failing on any rule that makes PostgreSQL refuse it (a name taken, here) aborts the rest of its block too', async () => {
    const root = repository({ 'db/m.sql': 'BEGIN;\nALTER TABLE public.u ADD CONSTRAINT u_pkey UNIQUE (n);\nALTER TABLE public.t ALTER COLUMN n SET NOT NULL;\nCOMMIT;\n' });
    const { report } = await preflightJson(db.url, root, ['db/m.sql']);
    expect(findingsOf(report, 'preflight/names-taken').map((f) => f.at)).toEqual(['db/m.sql:2']);
    expect(findingsOf(report, 'preflight/nulls')).toEqual([]);
    expect(verdict(report, 'db/m.sql', 3)).toEqual([
      [{ rule: 'preflight/not-judged', status: 'not-judged', reason: 'the ALTER TABLE at db/m.sql:2 fails, which aborts the transaction block: this statement does not run (25P02)' }],
    ]);
  });
});
