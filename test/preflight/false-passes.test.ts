import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { findingsOf, preflightJson, repository } from './helpers.js';
import type { PreflightReport } from '../../src/preflight/report.js';

/**
 * Statements PostgreSQL rejects that preflight once reported as passed (issue 14, an adversarial
 * review). Each was run for real inside BEGIN ... ROLLBACK on PostgreSQL 15 and 18 first; the SQLSTATE
 * in each test is the one PostgreSQL gave.
 */
const SETUP = [
  // A8: a function shadowing pg_catalog.lower by an exact match on a domain; it raises if ever called.
  'CREATE DOMAIN public.d AS text',
  `CREATE FUNCTION public.lower(public.d) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'LOWER TRAP RAN'; END $$`,
  'CREATE TABLE a8 (id int PRIMARY KEY, col public.d, n int)',
  `INSERT INTO a8 VALUES (1, 'A', NULL)`,
  // And an operator: col ~~ 'A%'::text picks public.~~(public.d, text), which raises.
  `CREATE FUNCTION public.like_trap(public.d, text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'LIKE TRAP RAN'; END $$`,
  'CREATE OPERATOR public.~~ (leftarg = public.d, rightarg = text, function = public.like_trap)',
  // B1: partitioned by day; sub-partitioned by k below.
  'CREATE TABLE ev (id int, k int, day date) PARTITION BY RANGE (day)',
  `CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM ('2020-01-01') TO ('2030-01-01')`,
  `INSERT INTO ev VALUES (1, 1, '2021-01-01'), (2, 2, '2021-01-02')`,
  'CREATE TABLE ml (id int, day int, k int) PARTITION BY RANGE (day)',
  'CREATE TABLE ml_1 PARTITION OF ml FOR VALUES FROM (0) TO (10) PARTITION BY LIST (k)',
  // B2: names taken today.
  'CREATE TABLE b2 (id int PRIMARY KEY, n int CONSTRAINT b2_n_check CHECK (n > 0), m int)',
  'INSERT INTO b2 VALUES (1, 1, 1)',
  'CREATE INDEX b2_m_idx ON b2 (m)',
  'CREATE TABLE other_rel (id int)',
  // B5: text columns with defaults no assignment cast takes to integer.
  `CREATE TABLE b5 (id int PRIMARY KEY, s text DEFAULT 'x', t text DEFAULT '5', u text)`,
  `INSERT INTO b5 VALUES (1, '1', '2', '3')`,
  // B6: numerics distinct today, equal as integers (1.2 and 1.4; 3.1 and 3.2), under a UNIQUE and a unique index.
  'CREATE TABLE b6 (id int PRIMARY KEY, v numeric UNIQUE, w numeric)',
  'INSERT INTO b6 VALUES (1, 1.2, 1.1), (2, 1.4, 2), (3, 2, 3), (4, 3.1, 4), (5, 3.2, 4.4)',
  'CREATE UNIQUE INDEX b6_w ON b6 (w)',
  'CREATE TABLE b6e (id int PRIMARY KEY, v numeric)',
  'INSERT INTO b6e VALUES (1, 1.2), (2, 1.4)',
  'CREATE UNIQUE INDEX b6e_v ON b6e ((v + 0))',
  // B16
  'CREATE TABLE b16 (id int PRIMARY KEY, ts timestamptz, d date)',
  `INSERT INTO b16 VALUES (1, '2026-01-01 10:00+00', '2026-01-01')`,
  // B8: domains over int, NOT NULL or checked; one whose CHECK calls a trap.
  'CREATE DOMAIN dnn AS int NOT NULL',
  'CREATE DOMAIN dpos AS int CHECK (VALUE > 0)',
  'CREATE DOMAIN dset AS int CHECK (VALUE IS NOT NULL)',
  'CREATE DOMAIN dnn_default AS int NOT NULL DEFAULT 0',
  `CREATE FUNCTION public.trap(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'DOMAIN TRAP RAN'; END $$`,
  'CREATE DOMAIN duser AS int CHECK (public.trap(VALUE))',
  // Only pg_catalog's functions, but one that runs the query it is given: user code all the same.
  `CREATE DOMAIN dquery AS int CHECK (pg_catalog.query_to_xml('SELECT public.trap(1)', true, true, '') IS NOT NULL)`,
  'CREATE TABLE b8 (id int PRIMARY KEY)',
  'INSERT INTO b8 VALUES (1), (2)',
  'CREATE TABLE b8e (id int PRIMARY KEY)',
  // B17: a nondeterministic (case-insensitive) ICU collation, "C", and ICU's English.
  `CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
  'CREATE TABLE p17 (code text COLLATE "C" PRIMARY KEY)',
  `INSERT INTO p17 VALUES ('a'), ('b')`,
  'CREATE TABLE c17 (id int PRIMARY KEY, code text COLLATE "en-US-x-icu", cic text COLLATE ci)',
  `INSERT INTO c17 VALUES (1, 'a', 'A'), (2, 'b', 'b')`,
  'CREATE TABLE p17ci (code text COLLATE ci PRIMARY KEY)',
  `INSERT INTO p17ci VALUES ('a')`,
  'ALTER TABLE c17 ADD CONSTRAINT c17_nv FOREIGN KEY (code) REFERENCES p17 (code) NOT VALID',
  // C4
  'CREATE TABLE c4 (id int PRIMARY KEY, col int)',
  'INSERT INTO c4 VALUES (1, 1), (2, 0), (3, -1)',
];

/** The lead's operational judges (locks, rewrites) are not what these tests are about. */
const OPERATIONAL = new Set(['preflight/transaction-block', 'preflight/table-rewrites', 'preflight/blocking-scans', 'preflight/blocking-index-builds', 'preflight/lock-timeouts']);

function outcomesAt(report: PreflightReport, line: number) {
  return report.preflight.statementsJudged.find((v) => v.location.line === line)?.outcomes.filter((o) => !OPERATIONAL.has(o.rule));
}

function failuresOf(report: PreflightReport) {
  return findingsOf(report).filter((f) => !OPERATIONAL.has(f.rule) && f.rule !== 'preflight/not-judged');
}

function messageAt(report: PreflightReport, line: number, rule: string): string | undefined {
  return report.findings.find((f) => f.location.line === line && f.checkId === rule)?.message;
}

describe('preflight: statements PostgreSQL rejects are not passed (issue 14)', () => {
  const db = useDatabase('preflight_false_passes', { sql: SETUP });

  it('B1: a unique key on a partitioned table without its partition key column fails (0A000), ON ONLY and a sub-partition\'s key too', async () => {
    const root = repository({
      'db/b1.sql':
        'ALTER TABLE ev ADD PRIMARY KEY (id);\nALTER TABLE ev ADD CONSTRAINT ev_k UNIQUE (k);\nCREATE UNIQUE INDEX ev_id ON ev (id);\nCREATE UNIQUE INDEX ev_only ON ONLY ev (id);\n' +
        'ALTER TABLE ml ADD PRIMARY KEY (id, day);\nALTER TABLE ev ADD PRIMARY KEY (id, day);\n',
    });
    const { report } = await preflightJson(db.url, root, ['db/b1.sql']);
    const ev = (extra: Record<string, unknown>) => ({ schema: 'public', table: 'ev', ...extra });
    expect(failuresOf(report)).toEqual([
      { rule: 'preflight/partition-keys', severity: 'error', at: 'db/b1.sql:1', count: null, samples: [], object: ev({ columns: ['id'] }) },
      { rule: 'preflight/partition-keys', severity: 'error', at: 'db/b1.sql:2', count: null, samples: [], object: ev({ columns: ['k'], constraint: 'ev_k' }) },
      { rule: 'preflight/partition-keys', severity: 'error', at: 'db/b1.sql:3', count: null, samples: [], object: ev({ columns: ['id'], index: 'ev_id' }) },
      { rule: 'preflight/partition-keys', severity: 'error', at: 'db/b1.sql:4', count: null, samples: [], object: ev({ columns: ['id'], index: 'ev_only' }) },
      // ml's own key (day) is there, but its partition ml_1 is partitioned by k.
      { rule: 'preflight/partition-keys', severity: 'error', at: 'db/b1.sql:5', count: null, samples: [], object: { schema: 'public', table: 'ml', columns: ['id', 'day'] } },
    ]);
    expect(messageAt(report, 1, 'preflight/partition-keys')).toBe(
      'ADD PRIMARY KEY fails now (0A000): public.ev is partitioned by (day), and a unique key on a partitioned table must include every partition key column; (id) lacks day. Include it in the key, e.g. (id, day), or enforce uniqueness on each partition instead',
    );
    expect(messageAt(report, 5, 'preflight/partition-keys')).toMatch(/^ADD PRIMARY KEY fails now \(0A000\): public\.ml_1 is partitioned by \(k\)/);
    expect(outcomesAt(report, 6)).toEqual([{ rule: 'preflight/duplicates', status: 'passed' }]);
    // Tables the run creates PARTITION BY: a key of the CREATE TABLE itself, and one added after it.
    const created = await alone(
      'b1c',
      'CREATE TABLE nev (id int PRIMARY KEY, day date) PARTITION BY RANGE (day);\nCREATE TABLE nev2 (id int, day date) PARTITION BY RANGE (day);\nALTER TABLE nev2 ADD UNIQUE (id);\nALTER TABLE nev2 ADD UNIQUE (id, day);\n',
    );
    expect(failuresOf(created).map((f) => [f.rule, f.at, f.object.columns])).toEqual([
      ['preflight/partition-keys', 'db/b1c.sql:1', ['id']],
      ['preflight/partition-keys', 'db/b1c.sql:3', ['id']],
    ]);
    expect(messageAt(created, 1, 'preflight/partition-keys')).toBe(
      'CREATE TABLE fails now (0A000): public.nev is partitioned by (day), and its PRIMARY KEY (id) lacks day: a unique key on a partitioned table must include every partition key column. Include it, e.g. PRIMARY KEY (id, day)',
    );
    expect(outcomesAt(created, 4)?.map((o) => [o.rule, o.status])).toEqual([['preflight/duplicates', 'passed']]);
  });

  it('B2: a constraint name the table has (42710), an index name a relation of the schema has (42P07), and names made earlier in the run', async () => {
    const root = repository({
      'db/b2.sql': [
        'ALTER TABLE b2 ADD CONSTRAINT b2_n_check CHECK (n > 1);',
        'ALTER TABLE b2 ADD CONSTRAINT b2_pkey UNIQUE (m);',
        'CREATE INDEX b2_m_idx ON b2 (n);',
        'CREATE INDEX other_rel ON b2 (n);',
        'CREATE INDEX IF NOT EXISTS b2_m_idx ON b2 (n);',
        'ALTER TABLE b2 DROP CONSTRAINT b2_n_check, ADD CONSTRAINT b2_n_check CHECK (n > 0);',
        'ALTER TABLE b2 ADD CONSTRAINT b2_fresh CHECK (n > 0), ADD CONSTRAINT b2_fresh CHECK (n > -1);',
        'CREATE INDEX b2_n ON b2 (n);',
        'CREATE INDEX b2_n ON b2 (m);',
        'DROP INDEX b2_m_idx;',
        'CREATE INDEX b2_m_idx ON b2 (n);',
        'CREATE INDEX IF NOT EXISTS b2_n ON b2 (n);',
        'ALTER TABLE other_rel ADD CONSTRAINT b2_n_check CHECK (id > 0);',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['db/b2.sql']);
    const b2 = (extra: Record<string, unknown>) => ({ schema: 'public', table: 'b2', ...extra });
    const taken = (line: number, object: Record<string, unknown>) => ({ rule: 'preflight/names-taken', severity: 'error', at: `db/b2.sql:${line}`, count: null, samples: [], object });
    expect(failuresOf(report)).toEqual([taken(1, b2({ constraint: 'b2_n_check' })), taken(2, b2({ constraint: 'b2_pkey' })), taken(3, b2({ index: 'b2_m_idx' })), taken(4, b2({ index: 'other_rel' })), taken(7, b2({ constraint: 'b2_fresh' })), taken(9, b2({ index: 'b2_n' }))]);
    expect(messageAt(report, 1, 'preflight/names-taken')).toBe(
      'ADD CONSTRAINT b2_n_check fails now (42710): public.b2 has a constraint b2_n_check (CHECK) today. Give the constraint another name, or drop the old one first (ALTER TABLE public.b2 DROP CONSTRAINT b2_n_check, in the same migration)',
    );
    expect(messageAt(report, 2, 'preflight/names-taken')).toMatch(/^ADD CONSTRAINT b2_pkey fails now \(42P07\): public\.b2_pkey is an index today \(on public\.b2\)/);
    expect(messageAt(report, 4, 'preflight/names-taken')).toMatch(/^CREATE INDEX other_rel fails now \(42P07\): public\.other_rel is a table today\. Give the index another name/);
    expect(messageAt(report, 9, 'preflight/names-taken')).toMatch(/^CREATE INDEX b2_n fails now \(42P07\): the run makes a relation public\.b2_n at db\/b2\.sql:8\./);
    // Dropped first (in the statement, or by a DROP INDEX before it), the name is free; IF NOT EXISTS skips; constraint names are per table.
    expect(outcomesAt(report, 6)?.filter((o) => o.rule !== 'preflight/not-judged')).toEqual([{ rule: 'preflight/check-violations', status: 'passed' }]);
    expect(outcomesAt(report, 11)?.map((o) => o.status)).toEqual(['not-judged']);
    expect(outcomesAt(report, 12)).toEqual([{ rule: 'preflight/names-taken', status: 'passed', note: 'the run makes public.b2_n at db/b2.sql:8: IF NOT EXISTS skips the statement' }]);
    expect(outcomesAt(report, 13)).toEqual([{ rule: 'preflight/check-violations', status: 'passed' }]);
    // A name made in a block that is rolled back is free again; one made twice in the same block is taken.
    const rolledBack = await alone('b2r', 'BEGIN;\nCREATE INDEX b2_r ON b2 (n);\nROLLBACK;\nCREATE INDEX b2_r ON b2 (m);\n');
    expect(failuresOf(rolledBack)).toEqual([]);
    const twice = await alone('b2t', 'BEGIN;\nCREATE INDEX b2_t ON b2 (n);\nCREATE INDEX b2_t ON b2 (m);\nCOMMIT;\n');
    expect(failuresOf(twice).map((f) => [f.rule, f.at])).toEqual([['preflight/names-taken', 'db/b2t.sql:3']]);
    // The usual two steps: an index built first, then the constraint taking it (and its name).
    const usingIndex = await alone('b2u', 'CREATE UNIQUE INDEX CONCURRENTLY b2_m_key ON b2 (m);\nALTER TABLE b2 ADD CONSTRAINT b2_m_key UNIQUE USING INDEX b2_m_key;\n');
    expect(failuresOf(usingIndex)).toEqual([]);
  });

  /** Each migration in a run of its own: an ALTER COLUMN ... TYPE changes its table for whatever follows. */
  async function alone(name: string, sql: string): Promise<PreflightReport> {
    const root = repository({ [`db/${name}.sql`]: sql });
    return (await preflightJson(db.url, root, [`db/${name}.sql`])).report;
  }

  it('B5: ALTER COLUMN ... TYPE whose column DEFAULT does not convert fails (42804), USING or not; DROP DEFAULT in the statement, or earlier, avoids it', async () => {
    const failing = await alone('b5', 'ALTER TABLE b5 ALTER COLUMN s TYPE integer USING s::integer;\n');
    expect(failuresOf(failing)).toEqual([{ rule: 'preflight/default-casts', severity: 'error', at: 'db/b5.sql:1', count: null, samples: [], object: { schema: 'public', table: 'b5', column: 's' } }]);
    expect(messageAt(failing, 1, 'preflight/default-casts')).toMatch(
      /^ALTER COLUMN s TYPE int4 fails now \(42804\): the column's DEFAULT \('x'::text\) is converted to int4 by assignment, USING or not, and there is no assignment cast from text, on any data\. Drop the default in the same statement and set one of the new type after it: ALTER TABLE "public"\."b5" ALTER COLUMN "s" DROP DEFAULT, ALTER COLUMN "s" TYPE pg_catalog\."int4" USING s::int; ALTER TABLE "public"\."b5" ALTER COLUMN "s" SET DEFAULT <a value of int4>;/,
    );
    expect(outcomesAt(failing, 1)).toEqual([{ rule: 'preflight/default-casts', status: 'failed' }]);
    // u has no default today: the SET DEFAULT before it gives it one of type text.
    const setEarlier = await alone('b5u', "ALTER TABLE b5 ALTER COLUMN u SET DEFAULT '7';\nALTER TABLE b5 ALTER COLUMN u TYPE integer USING u::integer;\n");
    expect(failuresOf(setEarlier).map((f) => [f.rule, f.at, f.object.column])).toEqual([['preflight/default-casts', 'db/b5u.sql:2', 'u']]);
    const passed = [{ rule: 'preflight/type-changes', status: 'passed' }];
    const droppedHere = await alone('b5d', 'ALTER TABLE b5 ALTER COLUMN s TYPE integer USING s::integer, ALTER COLUMN s DROP DEFAULT;\n');
    expect(outcomesAt(droppedHere, 1)).toEqual(passed);
    const droppedBefore = await alone('b5t', 'ALTER TABLE b5 ALTER COLUMN t DROP DEFAULT;\nALTER TABLE b5 ALTER COLUMN t TYPE integer USING t::integer;\n');
    expect(outcomesAt(droppedBefore, 2)).toEqual(passed);
    // To a string type there is always an assignment (I/O) conversion.
    expect(outcomesAt(await alone('b5v', 'ALTER TABLE b5 ALTER COLUMN s TYPE varchar;\n'), 1)).toEqual(passed);
    expect(failuresOf(droppedHere).length + failuresOf(droppedBefore).length).toBe(0);
  });

  it('B6: ALTER COLUMN ... TYPE that makes distinct keys equal fails the unique index rebuild (23505): the rows that collide', async () => {
    const v = await alone('b6v', 'ALTER TABLE b6 ALTER COLUMN v TYPE integer;\n');
    // 1.2, 1.4 -> 1 and 3.1, 3.2 -> 3 (samples: the rows' primary keys).
    expect(failuresOf(v)).toEqual([{ rule: 'preflight/duplicates', severity: 'error', at: 'db/b6v.sql:1', count: 4, samples: ['1', '2', '4', '5'], object: { schema: 'public', table: 'b6', column: 'v', index: 'b6_v_key' } }]);
    expect(messageAt(v, 1, 'preflight/duplicates')).toMatch(/^ALTER COLUMN v TYPE int4 fails now \(23505\): the unique index b6_v_key on \(v\) is rebuilt over the converted values, and 4 rows of public\.b6 have distinct values today/);
    expect(outcomesAt(v, 1)).toEqual([{ rule: 'preflight/duplicates', status: 'failed' }]);
    // 4 and 4.4 -> 4, under the unique index b6_w.
    const w = await alone('b6w', 'ALTER TABLE b6 ALTER COLUMN w TYPE integer USING w::integer;\n');
    expect(failuresOf(w)).toEqual([{ rule: 'preflight/duplicates', severity: 'error', at: 'db/b6w.sql:1', count: 2, samples: ['4', '5'], object: { schema: 'public', table: 'b6', column: 'w', index: 'b6_w' } }]);
    // Conversions that keep the keys apart pass (PostgreSQL runs both).
    const passed = [{ rule: 'preflight/type-changes', status: 'passed' }];
    expect(outcomesAt(await alone('b6n', 'ALTER TABLE b6 ALTER COLUMN w TYPE numeric(10,1);\n'), 1)).toEqual(passed);
    expect(outcomesAt(await alone('b6x', 'ALTER TABLE b6 ALTER COLUMN v TYPE bigint USING (v * 10)::bigint;\n'), 1)).toEqual(passed);
    // A unique index on an expression of the column is rebuilt too (1.2 + 0 and 1.4 + 0 are both 1 then): not judged, not passed.
    expect(outcomesAt(await alone('b6e', 'ALTER TABLE b6e ALTER COLUMN v TYPE integer;\n'), 1)).toEqual([
      { rule: 'preflight/type-changes', status: 'not-judged', reason: 'the conversion passes, but the unique index b6e_v (on an expression, partial, or with an operator class of its own) is rebuilt over the new values: whether they stay distinct there is not judged' },
    ]);
  });

  it('B8: ADD COLUMN of a NOT NULL domain without a default (23502), or with a DEFAULT its CHECK rejects (23514), on a table with rows; a domain calling user code is not evaluated', async () => {
    const cases: [string, string][] = [
      ['nn', 'ALTER TABLE b8 ADD COLUMN c dnn;'],
      ['pos0', 'ALTER TABLE b8 ADD COLUMN c dpos DEFAULT 0;'],
      ['set', 'ALTER TABLE b8 ADD COLUMN c dset;'],
      ['pos1', 'ALTER TABLE b8 ADD COLUMN c dpos DEFAULT 1;'],
      ['posnull', 'ALTER TABLE b8 ADD COLUMN c dpos;'],
      ['nndefault', 'ALTER TABLE b8 ADD COLUMN c dnn_default;'],
      ['empty', 'ALTER TABLE b8e ADD COLUMN c dnn;'],
      ['user', 'ALTER TABLE b8 ADD COLUMN c duser DEFAULT 1;'],
      ['query', 'ALTER TABLE b8 ADD COLUMN c dquery DEFAULT 1;'],
    ];
    const reports = new Map<string, PreflightReport>();
    for (const [name, sql] of cases) reports.set(name, await alone(`b8-${name}`, `${sql}\n`));
    const of = (name: string) => reports.get(name) as PreflightReport;
    const failing = (name: string) => failuresOf(of(name)).map((f) => [f.rule, f.at, f.count, f.object.column]);
    expect(failing('nn')).toEqual([['preflight/domain-constraints', 'db/b8-nn.sql:1', 2, 'c']]);
    expect(messageAt(of('nn'), 1, 'preflight/domain-constraints')).toBe(
      'ADD COLUMN c public.dnn fails now (23502): each of the 2 rows of public.b8 would hold NULL (no DEFAULT), which the domain rejects ("domain public.dnn does not allow null values"). Instead: give it a DEFAULT the domain takes (ALTER TABLE "public"."b8" ADD COLUMN "c" "public"."dnn" DEFAULT <value>), or add it of the base type, fill it, then ALTER COLUMN "c" TYPE "public"."dnn"',
    );
    expect(failing('pos0')).toEqual([['preflight/domain-constraints', 'db/b8-pos0.sql:1', 2, 'c']]);
    expect(messageAt(of('pos0'), 1, 'preflight/domain-constraints')).toMatch(/^ADD COLUMN c public\.dpos fails now \(23514\): each of the 2 rows of public\.b8 would hold its DEFAULT, which the domain rejects \("value for domain public\.dpos violates check constraint "dpos_check""\)/);
    // No DEFAULT: NULL, which a CHECK (VALUE IS NOT NULL) rejects.
    expect(failing('set')).toEqual([['preflight/domain-constraints', 'db/b8-set.sql:1', 2, 'c']]);
    const passed = [{ rule: 'preflight/domain-constraints', status: 'passed' }, { rule: 'preflight/nulls', status: 'passed' }];
    expect(outcomesAt(of('pos1'), 1)).toEqual(passed);
    expect(outcomesAt(of('posnull'), 1)).toEqual(passed);
    // The domain's own DEFAULT fills the rows.
    expect(outcomesAt(of('nndefault'), 1)).toEqual(passed);
    expect(outcomesAt(of('empty'), 1)).toEqual([{ rule: 'preflight/domain-constraints', status: 'passed', note: 'public.b8e has no row today: the domain is checked on no value' }, { rule: 'preflight/nulls', status: 'passed' }]);
    expect(JSON.stringify(of('user'))).not.toContain('DOMAIN TRAP RAN');
    expect(outcomesAt(of('user'), 1)?.[0]).toEqual({ rule: 'preflight/domain-constraints', status: 'not-judged', reason: "the domain public.duser runs function public.trap(integer), not pg_catalog's: its constraints are not evaluated" });
    expect(failuresOf(of('user'))).toEqual([]);
    expect(JSON.stringify(of('query'))).not.toContain('DOMAIN TRAP RAN');
    // A domain of pg_catalog's code alone is no barrier for what follows; one calling user code is.
    const after = await alone('b8-after', 'ALTER TABLE b8 ADD COLUMN c dpos DEFAULT 1;\nALTER TABLE b8 ADD CONSTRAINT b8_id CHECK (id > 1);\n');
    expect(failuresOf(after).map((f) => [f.rule, f.at, f.count])).toEqual([['preflight/check-violations', 'db/b8-after.sql:2', 1]]);
    const barred = await alone('b8-barred', 'ALTER TABLE b8 ADD COLUMN c duser DEFAULT 1;\nALTER TABLE b8 ADD CONSTRAINT b8_id CHECK (id > 1);\n');
    expect(outcomesAt(barred, 2)?.map((o) => o.status)).toEqual(['not-judged']);
    expect(JSON.stringify(barred)).not.toContain('DOMAIN TRAP RAN');
    expect(outcomesAt(of('query'), 1)?.[0]).toEqual({ rule: 'preflight/domain-constraints', status: 'not-judged', reason: "the domain public.dquery runs function query_to_xml(), not pg_catalog's: its constraints are not evaluated" });
  });

  it('B16: an index expression or WHERE, or a generated column, calling what is not IMMUTABLE fails (42P17)', async () => {
    const root = repository({
      'db/b16.sql': [
        'CREATE INDEX ON b16 ((ts > now()));',
        'CREATE INDEX b16_recent ON b16 (id) WHERE ts > now();',
        'CREATE INDEX ON b16 ((random()));',
        "CREATE INDEX ON b16 ((to_char(ts, 'YYYY')));",
        'CREATE INDEX ON b16 (id) WHERE d > current_date;',
        "ALTER TABLE b16 ADD COLUMN g text GENERATED ALWAYS AS (to_char(ts, 'YYYY')) STORED;",
        "CREATE TABLE gx (ts timestamptz, g text GENERATED ALWAYS AS (to_char(ts, 'YYYY')) STORED);",
        // IMMUTABLE: extract of a date; pg_catalog has a STABLE extract (of a timestamptz), so extract is not claimed either way.
        'CREATE INDEX ON b16 ((extract(year from d)));',
        'ALTER TABLE b16 ADD COLUMN g2 int GENERATED ALWAYS AS (id + 1) STORED;',
        "CREATE INDEX ON b16 ((ts AT TIME ZONE 'UTC'));",
        'CREATE INDEX b16_day ON b16 ((ts::date));',
        'CREATE INDEX ON b16 ((d::text));',
        "CREATE INDEX ON b16 (((ts AT TIME ZONE 'UTC')::date));",
        'CREATE INDEX ON b16 ((id::text));',
        "CREATE INDEX ON b16 ((date_trunc('day', ts)));",
        "CREATE INDEX ON b16 ((date_part('year', d)));",
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['db/b16.sql']);
    const b16 = (extra: Record<string, unknown> = {}) => ({ schema: 'public', table: 'b16', ...extra });
    const mutable = (line: number, object: Record<string, unknown>) => ({ rule: 'preflight/not-immutable', severity: 'error', at: `db/b16.sql:${line}`, count: null, samples: [], object });
    expect(failuresOf(report)).toEqual([
      mutable(1, b16()),
      mutable(2, b16({ index: 'b16_recent' })),
      mutable(3, b16()),
      mutable(4, b16()),
      mutable(5, b16()),
      mutable(6, b16({ column: 'g' })),
      mutable(7, { schema: 'public', table: 'gx', column: 'g' }),
      // timestamptz to date reads TimeZone; a date's text, DateStyle.
      mutable(11, b16({ index: 'b16_day' })),
      mutable(12, b16()),
      // date_trunc has IMMUTABLE overloads, but for a timestamptz column PostgreSQL picks date_trunc(text, timestamptz).
      mutable(15, b16()),
    ]);
    expect(messageAt(report, 15, 'preflight/not-immutable')).toContain('calls date_trunc(text, timestamp with time zone) (stable)');
    expect(outcomesAt(report, 16)?.map((o) => [o.rule, o.status])).toEqual([['preflight/index-expressions', 'passed']]);
    expect(messageAt(report, 11, 'preflight/not-immutable')).toContain('calls the cast of ts (timestamp with time zone) to date (stable)');
    expect(outcomesAt(report, 13)?.map((o) => [o.rule, o.status])).toEqual([['preflight/index-expressions', 'passed']]);
    expect(outcomesAt(report, 14)?.map((o) => [o.rule, o.status])).toEqual([['preflight/index-expressions', 'passed']]);
    expect(messageAt(report, 1, 'preflight/not-immutable')).toMatch(/^CREATE INDEX fails now \(42P17\): its expression calls now\(\) \(stable\), and PostgreSQL takes only IMMUTABLE functions there \("functions in index expression must be marked IMMUTABLE"\), whatever the rows\. Index the columns themselves/);
    expect(messageAt(report, 2, 'preflight/not-immutable')).toMatch(/^CREATE INDEX b16_recent fails now \(42P17\): its WHERE calls now\(\) \(stable\).*"functions in index predicate must be marked IMMUTABLE"/);
    expect(messageAt(report, 3, 'preflight/not-immutable')).toContain('calls random() (volatile)');
    expect(messageAt(report, 5, 'preflight/not-immutable')).toContain('calls CURRENT_DATE (stable)');
    expect(messageAt(report, 6, 'preflight/not-immutable')).toMatch(/^ADD COLUMN g fails now \(42P17\): the generation expression of g calls to_char\(\) \(stable\)/);
    expect(outcomesAt(report, 8)).toEqual([{ rule: 'preflight/index-expressions', status: 'passed', note: 'no row of today makes the expression raise (whether PostgreSQL accepts the expression itself, IMMUTABLE, is not judged)' }]);
    expect(outcomesAt(report, 10)?.map((o) => [o.rule, o.status])).toEqual([['preflight/index-expressions', 'passed']]);
  });

  it('B17: ADD FOREIGN KEY between text columns of different collations is judged as the server does: compared under the referenced column\'s up to 17, refused (42P21) by 18 when one is nondeterministic', async () => {
    const root = repository({
      'db/b17.sql': [
        'ALTER TABLE c17 ADD FOREIGN KEY (code) REFERENCES p17 (code);',
        'ALTER TABLE c17 ADD FOREIGN KEY (cic) REFERENCES p17 (code);',
        'ALTER TABLE c17 ADD FOREIGN KEY (code) REFERENCES p17ci (code);',
        'ALTER TABLE c17 ADD FOREIGN KEY (cic) REFERENCES p17ci (code);',
        'ALTER TABLE c17 VALIDATE CONSTRAINT c17_nv;',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['db/b17.sql']);
    const eighteen = Number.parseInt(report.database.serverVersion, 10) >= 18;
    const object = (column: string, table: string) => ({ schema: 'public', table: 'c17', columns: [column], references: { schema: 'public', table, columns: ['code'] } });
    // Deterministic both (en-US against "C"): equal means the same bytes, a and b are there.
    expect(outcomesAt(report, 1)).toEqual([{ rule: 'preflight/orphans', status: 'passed' }]);
    const orphans = (line: number, column: string, table: string, samples: string[]) => ({ rule: 'preflight/orphans', severity: 'error', at: `db/b17.sql:${line}`, count: 1, samples, object: object(column, table) });
    const refused = (line: number, column: string, table: string) => ({ rule: 'preflight/key-collations', severity: 'error', at: `db/b17.sql:${line}`, count: null, samples: [], object: object(column, table) });
    expect(failuresOf(report)).toEqual(
      eighteen
        ? // 18 refuses the mixed pairs; the same nondeterministic collation on both sides: 'A' matches 'a', 'b' is an orphan.
          [refused(2, 'cic', 'p17'), refused(3, 'code', 'p17ci'), orphans(4, 'cic', 'p17ci', ['b'])]
        : // 15: under "C" 'A' is not 'a'; under ci 'b' is not in p17ci; ci against ci: 'b' again.
          [orphans(2, 'cic', 'p17', ['A']), orphans(3, 'code', 'p17ci', ['b']), orphans(4, 'cic', 'p17ci', ['b'])],
    );
    // VALIDATE of one between "en-US-x-icu" and "C" (it once made the judgement error, 42P22).
    expect(outcomesAt(report, 5)).toEqual([{ rule: 'preflight/orphans', status: 'passed' }]);
    if (eighteen) expect(messageAt(report, 2, 'preflight/key-collations')).toMatch(/^ADD FOREIGN KEY fails now \(42P21, PostgreSQL 18\): cic has collation public\.ci and code has pg_catalog\."C";.*ALTER COLUMN "cic" TYPE text COLLATE "pg_catalog"\."C"\), then add the foreign key$/);
  });

  it('C4: a column qualified by its own table is judged (the violating rows counted); by another table it fails as PostgreSQL does (42P01)', async () => {
    const root = repository({
      'db/c4.sql': [
        'ALTER TABLE c4 ADD CONSTRAINT c4_pos CHECK (c4.col > 0);',
        'ALTER TABLE c4 ADD CHECK (public.c4.col > 0);',
        'ALTER TABLE c4 ADD CHECK (c4.col > -5);',
        'ALTER TABLE c4 ADD CHECK (other_rel.col > 0);',
        'ALTER TABLE c4 ADD CHECK (elsewhere.c4.col > 0);',
        'CREATE INDEX c4_x ON c4 ((other_rel.id + 1));',
        'CREATE UNIQUE INDEX c4_u ON c4 (id) WHERE c4.col > 0;',
        'CREATE INDEX c4_e ON c4 (((c4.col + 1)::int));',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['db/c4.sql']);
    const c4 = (extra: Record<string, unknown> = {}) => ({ schema: 'public', table: 'c4', ...extra });
    expect(failuresOf(report)).toEqual([
      // 0 and -1 (rows 2 and 3).
      { rule: 'preflight/check-violations', severity: 'error', at: 'db/c4.sql:1', count: 2, samples: ['2', '3'], object: c4({ constraint: 'c4_pos' }) },
      { rule: 'preflight/check-violations', severity: 'error', at: 'db/c4.sql:2', count: 2, samples: ['2', '3'], object: c4() },
      { rule: 'preflight/invalid-references', severity: 'error', at: 'db/c4.sql:4', count: null, samples: [], object: c4() },
      { rule: 'preflight/invalid-references', severity: 'error', at: 'db/c4.sql:5', count: null, samples: [], object: c4() },
      { rule: 'preflight/invalid-references', severity: 'error', at: 'db/c4.sql:6', count: null, samples: [], object: c4({ index: 'c4_x' }) },
    ]);
    expect(messageAt(report, 4, 'preflight/invalid-references')).toBe(
      'ADD CHECK fails now (42P01): its CHECK expression names a column of a table the statement does not (missing FROM-clause entry for table "other_rel"), whatever the rows. Refer to the table\'s own columns only, unqualified or by its own name',
    );
    expect(messageAt(report, 5, 'preflight/invalid-references')).toContain('(invalid reference to FROM-clause entry for table "c4")');
    expect(outcomesAt(report, 3)).toEqual([{ rule: 'preflight/check-violations', status: 'passed' }]);
    expect(outcomesAt(report, 7)).toEqual([{ rule: 'preflight/duplicates', status: 'passed' }]);
    expect(outcomesAt(report, 8)).toEqual([{ rule: 'preflight/index-expressions', status: 'passed', note: 'no row of today makes the expression raise (whether PostgreSQL accepts the expression itself, IMMUTABLE, is not judged)' }]);
  });

  it('A8: a bare name that a user function shadows by overload is user code: not evaluated, and a barrier', async () => {
    const root = repository({
      'db/a8.sql': "ALTER TABLE a8 ADD CHECK (lower(col) <> '');\nALTER TABLE a8 ALTER COLUMN n SET NOT NULL;\nCREATE INDEX ON a8 (lower(col));\n",
    });
    const { run, report } = await preflightJson(db.url, root, ['db/a8.sql']);
    expect(JSON.stringify(report)).not.toContain('LOWER TRAP RAN');
    expect(run.stderr).not.toContain('LOWER TRAP RAN');
    expect(outcomesAt(report, 1)).toEqual([
      {
        rule: 'preflight/check-violations',
        status: 'not-judged',
        reason: 'not judged: the CHECK expression uses a name that public.lower() also has, outside pg_catalog: the one the migration resolves to may be user code',
      },
    ]);
    // The NULL in a8.n would fail SET NOT NULL today, but public.lower may write before it runs.
    expect(outcomesAt(report, 2)).toEqual([
      {
        rule: 'preflight/nulls',
        status: 'not-judged',
        reason: "the ALTER TABLE at db/a8.sql:1 may change any table's rows before this runs (it calls lower() (public.lower() has the name too, outside pg_catalog), which may write to any table)",
      },
    ]);
    expect(outcomesAt(report, 3)?.map((o) => o.status)).toEqual(['not-judged']);
    expect(failuresOf(report)).toEqual([]);
    const operator = await alone('a8op', "ALTER TABLE a8 ADD CONSTRAINT a8_like CHECK (col ~~ 'A%'::text);\nALTER TABLE a8 ALTER COLUMN n SET NOT NULL;\n");
    expect(JSON.stringify(operator)).not.toContain('LIKE TRAP RAN');
    expect(outcomesAt(operator, 1)).toEqual([
      { rule: 'preflight/check-violations', status: 'not-judged', reason: 'not judged: the CHECK expression uses a name that operator public.~~ also has, outside pg_catalog: the one the migration resolves to may be user code' },
    ]);
    expect(outcomesAt(operator, 2)?.[0]?.reason).toBe(
      "the ALTER TABLE at db/a8op.sql:1 may change any table's rows before this runs (it calls operator ~~ (OPERATOR(public.~~) has the name too, outside pg_catalog), which may write to any table)",
    );
  });
});
