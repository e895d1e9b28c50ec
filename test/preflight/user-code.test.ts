import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { preflightJson, repository } from './helpers.js';

/**
 * Code of the user's that judging a migration must never run: every function here raises, so a
 * judgement that ran one would end in exit 2 with its message.
 */
const SETUP = [
  `CREATE FUNCTION public.evil(text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'EVIL RAN'; END $$`,
  `CREATE DOMAIN public.evildom AS text CHECK (public.evil(VALUE))`,
  'CREATE TABLE t (id int PRIMARY KEY, s text, n int)',
  `INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)`,
];

describe('preflight runs no user code while judging', () => {
  const db = useDatabase('preflight_user_code', { sql: SETUP });

  it('a cast to a qualified domain (whose CHECK calls a user function) is not evaluated', async () => {
    const root = repository({
      'db/a.sql': `ALTER TABLE t ADD CONSTRAINT c1 CHECK (s::public.evildom IS NOT NULL);\nALTER TABLE t ADD CONSTRAINT c2 CHECK (CAST(s AS public.evildom) IS NOT NULL);\n`,
    });
    const { run, report } = await preflightJson(db.url, root, ['db/a.sql']);
    expect(run.stderr).not.toContain('EVIL RAN');
    expect(run.code).toBe(0);
    expect(JSON.stringify(report)).not.toContain('EVIL RAN');
    const reasons = report.findings.map((f) => f.message);
    expect(reasons.filter((m) => m.includes('type public.evildom'))).toHaveLength(2);
  });

  it('ts_rewrite (which runs the query it is given) is refused', async () => {
    const root = repository({ 'db/b.sql': `ALTER TABLE t ADD CONSTRAINT c3 CHECK (ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery WHERE public.evil(''x'')') IS NOT NULL);\n` });
    const { run, report } = await preflightJson(db.url, root, ['db/b.sql']);
    expect(run.code).toBe(0);
    expect(JSON.stringify(report)).not.toContain('EVIL RAN');
    expect(report.findings.map((f) => f.message).join('\n')).toContain('ts_rewrite');
  });

  it('a function reading the server\'s files or settings is refused, so their text cannot reach the report', async () => {
    const root = repository({ 'db/c.sql': `ALTER TABLE t ADD CONSTRAINT c4 CHECK (pg_read_file('/etc/hostname', 0, 20)::int > 0);\nALTER TABLE t ALTER COLUMN s TYPE int USING (current_setting('data_directory') || s)::int;\n` });
    const { run, report } = await preflightJson(db.url, root, ['db/c.sql']);
    expect(run.code).toBe(0);
    const text = report.findings.map((f) => f.message).join('\n');
    expect(text).toContain('pg_read_file');
    expect(text).toContain('current_setting');
    expect(text).not.toContain('/var/lib');
  });

  it('while a cast with a user function exists, no expression is evaluated and samples are ctids', async () => {
    const root = repository({ 'db/d.sql': `ALTER TABLE t ADD CONSTRAINT c5 CHECK (n::macaddr IS NOT NULL);\n` });
    const before = await preflightJson(db.url, root, ['db/d.sql']);
    expect(JSON.stringify(before.report)).not.toContain("casts whose function is not pg_catalog's");
    const { query } = await import('../helpers/db.js');
    await query(db.url, `CREATE FUNCTION public.evil_i(int) RETURNS macaddr LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'EVIL RAN'; END $$;
                         CREATE CAST (int4 AS macaddr) WITH FUNCTION public.evil_i(int)`);
    const { run, report } = await preflightJson(db.url, root, ['db/d.sql']);
    expect(run.code).toBe(0);
    expect(JSON.stringify(report)).not.toContain('EVIL RAN');
    expect(report.findings.map((f) => f.message).join('\n')).toContain("casts whose function is not pg_catalog's (integer -> macaddr)");
  });
});

describe('a statement that runs user code through an operator or a type is a barrier too', () => {
  const db = useDatabase('preflight_barrier_types', {
    sql: [
      `CREATE TABLE nn (id int PRIMARY KEY, x int)`,
      `INSERT INTO nn VALUES (1, NULL), (2, NULL)`,
      `CREATE TABLE src (id int PRIMARY KEY, s text, n int)`,
      `INSERT INTO src VALUES (1, 'a', 1)`,
      // Each fills nn.x when it runs: what a later SET NOT NULL on nn sees is not today's.
      `CREATE FUNCTION public.fill(int, int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN UPDATE nn SET x = 1; RETURN true; END $$`,
      `CREATE OPERATOR public.### (leftarg = int, rightarg = int, function = public.fill)`,
      `CREATE FUNCTION public.fill_text(text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN UPDATE nn SET x = 1; RETURN true; END $$`,
      `CREATE DOMAIN bumpdom AS text CHECK (public.fill_text(VALUE))`,
    ],
  });

  for (const [label, first] of [
    ['a user operator in a CHECK', 'ALTER TABLE src ADD CONSTRAINT c1 CHECK (n OPERATOR(public.###) 1);'],
    ['a column converted to a domain', 'ALTER TABLE src ALTER COLUMN s TYPE bumpdom;'],
    ['a cast to a domain in a CHECK', 'ALTER TABLE src ADD CONSTRAINT c2 CHECK (s::bumpdom IS NOT NULL);'],
  ] as const) {
    it(`${label}: the SET NOT NULL after it is not judged`, async () => {
      const root = repository({ 'db/m.sql': `${first}\nALTER TABLE nn ALTER COLUMN x SET NOT NULL;\n` });
      const { report } = await preflightJson(db.url, root, ['db/m.sql']);
      expect(report.findings.filter((f) => f.checkId === 'preflight/nulls')).toEqual([]);
      expect(report.findings.find((f) => f.location.line === 2)?.message).toMatch(/may change any table's rows before this runs/);
    });
  }

  it('a CREATE TABLE with a column of a user type is not one (an empty table runs nothing)', async () => {
    const root = repository({ 'db/n.sql': 'CREATE TABLE t2 (id int PRIMARY KEY, s bumpdom);\nALTER TABLE nn ALTER COLUMN x SET NOT NULL;\n' });
    const { report } = await preflightJson(db.url, root, ['db/n.sql']);
    expect(report.findings.filter((f) => f.checkId === 'preflight/nulls').map((f) => [f.location.line, f.count])).toEqual([[2, 2]]);
  });
});
