import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { referencesOf } from '../../checks/support/expression-judge.js';
import { safeExpression } from '../../checks/unvalidated-checks.js';
import { runAudit, runAuditWithRepairs } from '../../src/engine/runner.js';
import { CREATE_QUARANTINE_SCHEMA } from '../../src/fix/quarantine.js';
import { renderFixScript, sessionPins } from '../../src/fix/script.js';
import type { AuditReport, Finding } from '../../src/findings.js';
import { runCli } from '../helpers/cli.js';
import { audit, auditOptions, checkResult, holdLock, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL, psqlFile } from '../helpers/psql.js';

const ID = 'unvalidated-checks';

/** [severity, schema.table, column(s), constraint, count, samples], sorted: what a test asserts on. */
function rows(report: AuditReport) {
  return report.findings
    .filter((f) => f.checkId === ID)
    .map((f) => [f.severity, `${f.object.schema}.${f.object.table}`, f.object.column ?? f.object.columns ?? null, f.object.constraint ?? null, f.count, f.samples] as const)
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

function findingOn(report: AuditReport, table: string, constraint: string): Finding {
  const f = report.findings.find((x) => x.checkId === ID && x.object.table === table && x.object.constraint === constraint);
  if (!f) throw new Error(`no finding on ${table} ${constraint}`);
  return f;
}

const NEWLINE_NAME = "U&\"pos'it\\000Aive\"";

const SCHEMA = `
  CREATE SCHEMA "Billing Dept";
  CREATE TYPE "Billing Dept".status AS ENUM ('open', 'paid', 'gone');
  CREATE TABLE "Billing Dept"."Invoice Line" ("Line Id" int PRIMARY KEY, "amo""unt" int, note text, status "Billing Dept".status);
  INSERT INTO "Billing Dept"."Invoice Line" VALUES
    (1, -5, 'a', 'open'), (2, 10, 'b', 'open'), (3, NULL, 'c', 'open'), (4, -1, E'x\\ny', 'paid'), (5, 3, E'q\\rz', 'paid'), (6, 7, 'f', 'gone');
  -- A name with a quote and a line feed, an expression with a carriage return in a literal.
  ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT ${NEWLINE_NAME} CHECK ("amo""unt" > 0 AND note <> E'q\\rz') NOT VALID;
  -- An enum comparison is PostgreSQL's own code: evaluated.
  ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT not_gone CHECK (status <> 'gone') NOT VALID;

  -- Partitions: each has its own copy, counted on its own rows.
  CREATE TABLE readings (id int, site text, val numeric, PRIMARY KEY (id, site)) PARTITION BY LIST (site);
  CREATE TABLE readings_a PARTITION OF readings FOR VALUES IN ('a');
  CREATE TABLE readings_b PARTITION OF readings FOR VALUES IN ('b');
  INSERT INTO readings VALUES (1, 'a', 1), (2, 'b', -1), (3, 'b', 2), (4, 'b', NULL);
  ALTER TABLE readings ADD CONSTRAINT val_positive CHECK (val > 0) NOT VALID;

  -- Inheritance: the parent's own rows (ONLY) and the child's, each counted once.
  CREATE TABLE periods (id int PRIMARY KEY, starts date, ends date);
  CREATE TABLE old_periods (note text) INHERITS (periods);
  INSERT INTO periods VALUES (1, '2024-01-01', '2024-02-01'), (2, '2024-03-01', '2024-02-01');
  INSERT INTO old_periods VALUES (3, '2020-05-01', '2020-01-01', 'x'), (4, '2020-05-01', '2020-06-01', 'y'), (5, '2020-05-01', '2020-04-01', 'z');
  ALTER TABLE periods ADD CONSTRAINT ordered CHECK (ends > starts) NOT VALID;

  -- A domain NOT VALID constraint, used by two tables, and by a domain over it.
  CREATE DOMAIN "Billing Dept"."Positive Int" AS int;
  CREATE DOMAIN public.small_pos AS "Billing Dept"."Positive Int" CHECK (VALUE < 1000);
  CREATE TABLE accounts (id int PRIMARY KEY, balance "Billing Dept"."Positive Int", cap small_pos);
  CREATE TABLE ledger (id int PRIMARY KEY, amount small_pos, value int);
  INSERT INTO accounts VALUES (1, -3, 5), (2, 4, -6), (3, 1, 1), (4, NULL, NULL), (5, -1, -1);
  INSERT INTO ledger VALUES (10, -9, 1), (11, 9, -1), (12, NULL, NULL);
  ALTER DOMAIN "Billing Dept"."Positive Int" ADD CONSTRAINT "positive" CHECK (VALUE > 0) NOT VALID;

  -- User code: never evaluated.
  CREATE FUNCTION public.valid_sku(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 LIKE 'SKU-%' $$;
  CREATE TABLE products (id int PRIMARY KEY, sku text);
  INSERT INTO products VALUES (1, 'nope');
  ALTER TABLE products ADD CONSTRAINT sku_format CHECK (public.valid_sku(sku)) NOT VALID;
  CREATE TABLE lottery (id int PRIMARY KEY, x float8);
  ALTER TABLE lottery ADD CONSTRAINT lucky CHECK (x < random()) NOT VALID;

  -- Stable: evaluated as of the audit.
  CREATE TABLE events (id int PRIMARY KEY, at timestamptz);
  INSERT INTO events VALUES (1, now() + interval '1 day'), (2, now() - interval '1 day');
  ALTER TABLE events ADD CONSTRAINT in_the_past CHECK (at <= now()) NOT VALID;

  -- Stable and clean: can be validated, but VALIDATE judges at its own time (review).
  CREATE TABLE stamps (id int PRIMARY KEY, at timestamptz);
  INSERT INTO stamps VALUES (1, now() - interval '1 day');
  ALTER TABLE stamps ADD CONSTRAINT stamped_before CHECK (at <= now()) NOT VALID;

  -- Look-alikes: validated constraints with the same shapes, NOT VALID ones no row violates.
  CREATE TABLE validated (id int PRIMARY KEY, a int CHECK (a > 0));
  INSERT INTO validated VALUES (1, 1);
  CREATE TABLE clean (id int PRIMARY KEY, a int);
  INSERT INTO clean VALUES (1, 1), (2, NULL);
  ALTER TABLE clean ADD CONSTRAINT clean_positive CHECK (a > 0) NOT VALID;
  CREATE DOMAIN public.code AS text;
  CREATE TABLE coded (id int PRIMARY KEY, c public.code);
  INSERT INTO coded VALUES (1, 'AB'), (2, NULL);
  ALTER DOMAIN public.code ADD CONSTRAINT code_upper CHECK (VALUE = upper(VALUE)) NOT VALID;
  CREATE DOMAIN public.valid_dom AS int CHECK (VALUE > 0);
  CREATE TABLE uses_valid (id int PRIMARY KEY, v valid_dom);
  INSERT INTO uses_valid VALUES (1, 1);
  CREATE TABLE inh_clean (id int PRIMARY KEY, a int);
  CREATE TABLE inh_clean_child () INHERITS (inh_clean);
  INSERT INTO inh_clean VALUES (1, 1); INSERT INTO inh_clean_child VALUES (2, 2);
  ALTER TABLE inh_clean ADD CONSTRAINT inh_positive CHECK (a > 0) NOT VALID;
`;

describe('unvalidated-checks', () => {
  const db = useDatabase('unvalidated_checks', { sql: [SCHEMA] });

  it('counts the rows each NOT VALID copy and domain constraint rejects, exactly as VALIDATE judges them', async () => {
    const report = await audit(db.url, { checks: [ID] });
    expect(checkResult(report, ID).status).toBe('failed');
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(rows(report)).toEqual(
      [
        // NULL passes (row 3); the carriage return literal is compared as stored (row 5).
        ['error', 'Billing Dept.Invoice Line', null, "pos'it\nive", 3, ['1', '4', '5']],
        ['error', 'Billing Dept.Invoice Line', null, 'not_gone', 1, ['6']],
        ['error', 'public.readings_b', null, 'val_positive', 1, ['[2, "b"]']],
        ['error', 'public.periods', null, 'ordered', 1, ['2']],
        // No primary key on the child (not inherited) and no unique key: counted, not sampled.
        ['error', 'public.old_periods', null, 'ordered', 2, []],
        ['error', 'public.accounts', ['balance', 'cap'], 'positive', 3, ['1', '2', '5']],
        ['error', 'public.ledger', 'amount', 'positive', 1, ['10']],
        ['error', 'public.events', null, 'in_the_past', 1, ['1']],
        ['warning', 'public.products', null, 'sku_format', null, []],
        ['warning', 'public.lottery', null, 'lucky', null, []],
        ['info', 'public.clean', null, 'clean_positive', null, []],
        ['info', 'public.code', null, 'code_upper', null, []],
        ['info', 'public.inh_clean', null, 'inh_positive', null, []],
        ['info', 'public.stamps', null, 'stamped_before', null, []],
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    // PostgreSQL agrees: VALIDATE fails exactly where a count was reported, and succeeds where none was counted.
    const outcome = async (sql: string) => {
      try {
        await query(db.url, `BEGIN; ${sql}; ROLLBACK;`);
        return 'ok';
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    expect(await outcome(`ALTER TABLE ONLY readings_a VALIDATE CONSTRAINT val_positive`)).toBe('ok');
    expect(await outcome(`ALTER TABLE readings_b VALIDATE CONSTRAINT val_positive`)).toBe('23514');
    expect(await outcome(`ALTER TABLE clean VALIDATE CONSTRAINT clean_positive`)).toBe('ok');
    expect(await outcome(`ALTER TABLE inh_clean VALIDATE CONSTRAINT inh_positive`)).toBe('ok');
    expect(await outcome(`ALTER DOMAIN public.code VALIDATE CONSTRAINT code_upper`)).toBe('ok');
    expect(await outcome(`ALTER DOMAIN "Billing Dept"."Positive Int" VALIDATE CONSTRAINT positive`)).toBe('23514');
  });

  it('says what it read: the expression, the domain, why a constraint was not evaluated', async () => {
    const report = await audit(db.url, { checks: [ID] });
    const line = findingOn(report, 'Invoice Line', "pos'it\nive");
    // The literal's carriage return is written as an escape, never raw.
    expect(line.details?.expression).toBe(`(("amo""unt" > 0) AND (note <> E'q\\x0dz'::text))`);
    expect(line.message).not.toMatch(/[\r\n]/);
    expect(findingOn(report, 'accounts', 'positive').details).toMatchObject({ domain: { schema: 'Billing Dept', name: 'Positive Int' }, columns: ['balance', 'cap'], expression: '(VALUE > 0)' });
    expect(findingOn(report, 'products', 'sku_format').details?.reasons).toEqual(["calls function public.valid_sku(), which is not PostgreSQL's own"]);
    expect((findingOn(report, 'lottery', 'lucky').details?.reasons as string[])[0]).toMatch(/volatile function pg_catalog\.random\(\)/);
    expect(findingOn(report, 'events', 'in_the_past').details?.stable).toEqual(['function pg_catalog.now()']);
    expect(checkResult(report, ID).note).toMatch(/^checked 14 NOT VALID table constraint copies \(one per table\) and 2 domain constraints not validated$/);
  });

  it('runs no user code: the user function is never called during the audit', async () => {
    // NOT VALID does not evaluate the existing rows, so the constraint is added; any call would raise.
    await query(db.url, `CREATE FUNCTION public.noisy(int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'user code ran'; END $$;
      CREATE TABLE noisy_t (id int PRIMARY KEY, a int); INSERT INTO noisy_t VALUES (1, 1);
      ALTER TABLE noisy_t ADD CONSTRAINT noisy_c CHECK (public.noisy(a)) NOT VALID;`);
    try {
      const report = await audit(db.url, { checks: [ID] });
      expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
      expect(rows(report).filter((r) => r[1] === 'public.noisy_t')).toEqual([['warning', 'public.noisy_t', null, 'noisy_c', null, []]]);
    } finally {
      await query(db.url, 'DROP TABLE noisy_t; DROP FUNCTION public.noisy(int);');
    }
  });

  it('validating a clean constraint is safe, unless its expression depends on the time; repairs never spell out key values', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    const repairOf = (table: string) => outcome.repairs.find((r) => r.finding.object.table === table)?.repair;
    expect(repairOf('clean')?.steps.map((s) => s.safety)).toEqual(['safe']);
    expect(repairOf('stamps')?.steps.map((s) => s.safety)).toEqual(['review']);
    expect(repairOf('stamps')?.steps[0]?.decision).toMatch(/depends on function pg_catalog\.now\(\)/);
    // Unevaluated constraints get no repair: VALIDATE would run the user's code.
    expect(repairOf('products')).toBeUndefined();
    const line = outcome.repairs.find((r) => r.finding.object.constraint === "pos'it\nive")?.repair;
    expect(line?.steps[0]?.sql).toContain(`WHERE NOT ((("amo""unt" > 0) AND (note <> E'q\\x0dz'::text)))`);
  });

  it('respects the audited schemas: a domain used only outside them is noted, not reported', async () => {
    const report = await audit(db.url, { checks: [ID], schemas: ['Billing Dept'] });
    expect(rows(report)).toEqual([
      ['error', 'Billing Dept.Invoice Line', null, 'not_gone', 1, ['6']],
      ['error', 'Billing Dept.Invoice Line', null, "pos'it\nive", 3, ['1', '4', '5']],
    ]);
    expect(checkResult(report, ID).note).toMatch(/domain "Billing Dept"\."Positive Int": not checked in column public\.accounts\.balance, column public\.accounts\.cap, column public\.ledger\.amount \(outside the audited tables\)/);
  });

  it('under --sample-percent, counts are estimates and nothing is called clean', async () => {
    const report = await runAudit({ ...auditOptions(db.url, { checks: [ID] }), samplePercent: 100 });
    const found = rows(report);
    // SYSTEM sampling at 100% reads every page: the same counts, marked as estimates.
    expect(found.filter((r) => r[0] === 'error')).toHaveLength(8);
    expect(report.findings.filter((f) => f.checkId === ID && f.severity === 'error').every((f) => f.estimated === true)).toBe(true);
    expect(found.filter((r) => r[0] === 'info')).toEqual([]);
  });

  it('--samples 0 keeps key values in the database', async () => {
    const report = await audit(db.url, { checks: [ID], config: { sampleSize: 0 } });
    const line = findingOn(report, 'Invoice Line', "pos'it\nive");
    expect(line.count).toBe(3);
    expect(line.samples).toEqual([]);
  });

  it('a table locked by a migration costs that table only', async () => {
    const release = await holdLock(db.url, 'public.clean');
    try {
      const report = await audit(db.url, { checks: [ID] });
      const result = checkResult(report, ID);
      expect(result.status).toBe('error');
      expect(rows(report).some((r) => r[1] === 'public.periods')).toBe(true);
      expect(rows(report).some((r) => r[1] === 'public.clean')).toBe(false);
    } finally {
      await release();
    }
  });
});

describe('unvalidated-checks evaluates only PostgreSQL\'s own code', () => {
  const db = useDatabase('unvalidated_checks_code', {
    sql: [
      `CREATE DOMAIN public.pos AS int CHECK (VALUE > 0);
       CREATE TYPE public.pair AS (a int, b int);
       CREATE FUNCTION public.pair_eq(public.pair, public.pair) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1.a = $2.a';
       CREATE OPERATOR public.=== (LEFTARG = public.pair, RIGHTARG = public.pair, FUNCTION = public.pair_eq);
       CREATE FUNCTION public.int_near(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT abs($1 - $2) < 2';
       CREATE OPERATOR public.~~~ (LEFTARG = int, RIGHTARG = int, FUNCTION = public.int_near);
       CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
       CREATE TABLE t (id int PRIMARY KEY, a int, p public.pair, m public.mood, arr int[]);
       INSERT INTO t VALUES (1, -1, ROW(1, 2), 'sad', ARRAY[-1]), (2, 5, ROW(3, 3), 'happy', ARRAY[1]);
       ALTER TABLE t ADD CONSTRAINT via_domain CHECK ((a)::public.pos IS NOT NULL) NOT VALID;
       ALTER TABLE t ADD CONSTRAINT via_operator CHECK (a OPERATOR(public.~~~) 5) NOT VALID;
       ALTER TABLE t ADD CONSTRAINT via_composite CHECK (p IS NULL OR (p).a = (p).b) NOT VALID;
       ALTER TABLE t ADD CONSTRAINT via_composite_eq CHECK (p OPERATOR(public.===) ROW(3, 3)::public.pair) NOT VALID;
       ALTER TABLE t ADD CONSTRAINT via_enum CHECK (m > 'sad') NOT VALID;
       ALTER TABLE t ADD CONSTRAINT via_array CHECK (arr[1] > 0 AND 0 < ALL (arr)) NOT VALID;
       ALTER TABLE t ADD CONSTRAINT via_tests CHECK (a IS NOT NULL AND a IS DISTINCT FROM 5 AND (a > -5) IS NOT FALSE
         AND CASE WHEN a < 0 THEN m <> 'happy' ELSE true END AND COALESCE(a, 0) = GREATEST(a, -9) AND NULLIF(a, 7) IS NOT NULL) NOT VALID;
       CREATE TABLE pf (id int PRIMARY KEY, a int) PARTITION BY RANGE (id);
       CREATE TABLE pf_1 PARTITION OF pf FOR VALUES FROM (0) TO (10);
       CREATE TABLE pf_2 PARTITION OF pf FOR VALUES FROM (10) TO (20);
       ALTER TABLE pf ADD CONSTRAINT pf_near CHECK (public.int_near(a, 1)) NOT VALID;
       CREATE SCHEMA elsewhere;
       CREATE TABLE parted (id int PRIMARY KEY, a int) PARTITION BY RANGE (id);
       CREATE TABLE elsewhere.parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
       INSERT INTO parted VALUES (1, -1);
       ALTER TABLE parted ADD CONSTRAINT parted_positive CHECK (a > 0) NOT VALID;`,
    ],
  });

  it('counts what runs on pg_catalog alone (enums, field selections, arrays); refuses casts to a domain, user operators and types', async () => {
    const report = await audit(db.url, { checks: [ID], schemas: ['public'] });
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(rows(report)).toEqual([
      // Once, on the partitioned table, not on each partition.
      ['warning', 'public.pf', null, 'pf_near', null, []],
      ['error', 'public.t', null, 'via_array', 1, ['1']],
      ['error', 'public.t', null, 'via_enum', 1, ['1']],
      ['error', 'public.t', null, 'via_tests', 1, ['2']],
      ['warning', 'public.t', null, 'via_composite', null, []],
      ['warning', 'public.t', null, 'via_composite_eq', null, []],
      ['warning', 'public.t', null, 'via_domain', null, []],
      ['warning', 'public.t', null, 'via_operator', null, []],
    ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
    const reasons = (c: string) => findingOn(report, 't', c).details?.reasons;
    expect(reasons('via_domain')).toEqual(['casts to the domain public.pos, whose constraints would run']);
    expect(reasons('via_operator')).toEqual(["calls operator OPERATOR(public.~~~), which is not PostgreSQL's own"]);
    expect(reasons('via_composite')).toEqual(["uses type public.pair, whose input, output or comparison functions are not PostgreSQL's own"]);
    // A partitioned table whose partition is in a schema this audit does not read is not called clean.
    expect(rows(report).some((r) => r[1] === 'public.parted')).toBe(false);
    expect(checkResult(report, ID).note).toMatch(/public\.parted \(constraint parted_positive\): 1 inheriting table is outside the audited schemas/);
  });
});

describe.skipIf(!HAS_PSQL)('unvalidated-checks with names built to break a script (needs psql)', () => {
  const db = useDatabase('unvalidated_checks_names', {
    sql: [
      `CREATE SCHEMA "Billing Dept";
       CREATE TABLE "Billing Dept".${"U&\"Line\\000AItems\""} (id int PRIMARY KEY, "a;b" int, "c--d" text);
       INSERT INTO "Billing Dept".${"U&\"Line\\000AItems\""} VALUES (1, -1, 'x'), (2, 1, E'*/ DROP TABLE x; --'), (3, 2, '$integrity_validate$');
       ALTER TABLE "Billing Dept".${"U&\"Line\\000AItems\""} ADD CONSTRAINT "$integrity_validate$ -- */" CHECK ("a;b" > 0) NOT VALID;
       ALTER TABLE "Billing Dept".${"U&\"Line\\000AItems\""} ADD CONSTRAINT "no '$$' here" CHECK ("c--d" <> '$$') NOT VALID;`,
    ],
  });

  it('writes a script that moves, validates and stays safe, whatever the names', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-uvc-'));
    const config = path.join(dir, 'c.json');
    writeFileSync(config, JSON.stringify({ checks: { [ID]: { strategies: { '$integrity_validate$ -- */': 'quarantine' } } } }));
    const report = await audit(db.url, { checks: [ID] });
    expect(rows(report)).toEqual([
      ['error', 'Billing Dept.Line\nItems', null, '$integrity_validate$ -- */', 1, ['1']],
      ['info', 'Billing Dept.Line\nItems', null, "no '$$' here", null, []],
    ]);
    const script = await runCli(['fix', '-d', db.url, '--check', ID, '--config', config]);
    expect(script.code).toBe(0);
    expect(script.stdout).not.toContain('Line\nItems');
    writeFileSync(path.join(dir, 'fix.sql'), script.stdout);
    psqlFile(db.url, path.join(dir, 'fix.sql'));
    psqlFile(db.url, path.join(dir, 'fix.sql'));
    expect(await query(db.url, `SELECT conname AS c, convalidated AS v FROM pg_constraint WHERE contype = 'c' AND conrelid <> 0 ORDER BY 1`)).toEqual([
      { c: '$integrity_validate$ -- */', v: true },
      { c: "no '$$' here", v: true },
    ]);
    expect(await query(db.url, `SELECT id FROM "Billing Dept"."Line
Items" ORDER BY 1`)).toEqual([{ id: 2 }, { id: 3 }]);
  });
});

describe('unvalidated-checks skips and passes honestly', () => {
  const db = useDatabase('unvalidated_checks_empty', { sql: ['CREATE SCHEMA empty_one; CREATE TABLE ok (id int PRIMARY KEY, a int CHECK (a > 0)); INSERT INTO ok VALUES (1, 1);'] });

  it('skips, saying how to make it run, when the audited schemas have no tables', async () => {
    const report = await audit(db.url, { checks: [ID], schemas: ['empty_one'] });
    expect(checkResult(report, ID)).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/no tables in the audited schemas \(empty_one\): name the schemas with --schema/) });
  });

  it('passes with a note when every constraint is validated', async () => {
    const report = await audit(db.url, { checks: [ID] });
    expect(checkResult(report, ID)).toMatchObject({ status: 'passed', note: 'checked 0 NOT VALID table constraint copies (one per table) and 0 domain constraints not validated' });
  });
});

describe('unvalidated-checks on PostgreSQL 18: NOT VALID NOT NULL, NOT ENFORCED', () => {
  const db = useDatabase('unvalidated_checks_18');

  it('counts the NULLs a NOT VALID NOT NULL constraint leaves, per copy; leaves NOT ENFORCED ones out, saying so; repairs and validates', async (t) => {
    const [v] = await query<{ n: number }>(db.url, `SELECT current_setting('server_version_num')::int AS n`);
    if ((v?.n ?? 0) < 180000) t.skip();
    await query(db.url, `
      CREATE SCHEMA "Billing Dept";
      CREATE TABLE "Billing Dept"."Invoice Line" (id int PRIMARY KEY, "due at" date);
      CREATE TABLE "Billing Dept".old_lines () INHERITS ("Billing Dept"."Invoice Line");
      INSERT INTO "Billing Dept"."Invoice Line" VALUES (1, NULL), (2, '2024-01-01'), (3, NULL);
      INSERT INTO "Billing Dept".old_lines VALUES (4, NULL);
      ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT "due set" NOT NULL "due at" NOT VALID;
      CREATE TABLE loose (id int PRIMARY KEY, a int);
      INSERT INTO loose VALUES (1, -1);
      ALTER TABLE loose ADD CONSTRAINT loose_positive CHECK (a > 0) NOT ENFORCED;`);
    const config = { checks: { [ID]: { strategies: { 'due set': 'quarantine' } } } };
    const report = await audit(db.url, { checks: [ID], config });
    expect(rows(report)).toEqual([
      ['error', 'Billing Dept.Invoice Line', 'due at', 'due set', 2, ['1', '3']],
      ['error', 'Billing Dept.old_lines', 'due at', 'due set', 1, []],
    ]);
    expect(checkResult(report, ID).note).toMatch(/; 1 NOT ENFORCED CHECK constraint copy is not audited/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-uvc-'));
    writeFileSync(path.join(dir, 'c.json'), JSON.stringify(config));
    const applied = await runCli(['fix', '--apply', '--yes', '-d', db.url, '--check', ID, '--config', path.join(dir, 'c.json')]);
    expect(applied.code).toBe(0);
    expect(await query(db.url, `SELECT conrelid::regclass::text AS t, convalidated AS v FROM pg_constraint WHERE conname = 'due set' ORDER BY 1`)).toEqual([
      { t: '"Billing Dept"."Invoice Line"', v: true },
      { t: '"Billing Dept".old_lines', v: true },
    ]);
    expect(rows(await audit(db.url, { checks: [ID] }))).toEqual([]);
  });
});

describe('unvalidated-checks never runs a domain\'s CHECK through a type input function it is handed', () => {
  const db = useDatabase('unvalidated_checks_type_io', {
    sql: [
      `CREATE FUNCTION public.evil(int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN'; END $$;
       CREATE DOMAIN public.d_evil AS int CHECK (public.evil(VALUE));
       CREATE TYPE public.c_evil AS (v public.d_evil);
       CREATE DOMAIN public.d_plain AS int;
       CREATE TABLE public.t (id int PRIMARY KEY, x int, y public.d_plain);
       INSERT INTO public.t VALUES (1, 1, 1);
       -- The type is a value (a regtype constant) here, so the tree's types do not show it.
       ALTER TABLE public.t ADD CONSTRAINT sneaky CHECK (pg_catalog.domain_in(x::text::cstring, 'public.d_evil'::regtype, -1) IS NOT NULL) NOT VALID;
       ALTER TABLE public.t ADD CONSTRAINT via_array_in CHECK (pg_catalog.array_in(('{' || x || '}')::cstring, 'public.d_evil'::regtype, -1) IS NOT NULL) NOT VALID;
       ALTER TABLE public.t ADD CONSTRAINT via_record_in CHECK (pg_catalog.record_in(('(' || x || ')')::cstring, 'public.c_evil'::regtype, -1) IS NOT NULL) NOT VALID;
       -- Stable pg_catalog functions that read a relation, or every one of a schema, given as a value: a view may call anything.
       CREATE VIEW public.v_evil AS SELECT public.evil(1) AS e;
       ALTER TABLE public.t ADD CONSTRAINT via_table_xml CHECK (pg_catalog.table_to_xml('public.v_evil'::regclass, true, false, '') IS NOT NULL) NOT VALID;
       ALTER TABLE public.t ADD CONSTRAINT via_schema_xml CHECK (pg_catalog.schema_to_xml('public', true, false, '') IS NOT NULL) NOT VALID;
       ALTER TABLE public.t ADD CONSTRAINT via_regtype CHECK (pg_catalog.regtypesend('public.d_evil'::regtype) IS NOT NULL) NOT VALID;
       -- A cast through text to an array of the domain: CoerceViaIO to a type whose input runs the CHECK.
       ALTER TABLE public.t ADD CONSTRAINT via_cast CHECK (('{' || x || '}')::public.d_evil[] IS NOT NULL) NOT VALID;
       ALTER DOMAIN public.d_plain ADD CONSTRAINT sneaky_domain CHECK (pg_catalog.domain_in(VALUE::text::cstring, 'public.d_evil'::regtype, -1) IS NOT NULL) NOT VALID;
       -- Look-alike: a cast through text to a built-in type is PostgreSQL's own input function.
       ALTER TABLE public.t ADD CONSTRAINT via_builtin_cast CHECK ((x::text)::int4 > 1) NOT VALID;`,
    ],
  });

  it('reports each as not evaluated, with the reason and no repair, and evil() never runs', async () => {
    const [v] = await query<{ n: number }>(db.url, `SELECT current_setting('server_version_num')::int AS n`);
    // PostgreSQL 16 on: the type is given by name, as text.
    const named = (v?.n ?? 0) >= 160000;
    if (named) {
      await query(db.url, `ALTER TABLE public.t DROP CONSTRAINT IF EXISTS via_input_is_valid, DROP CONSTRAINT IF EXISTS via_error_info;
        ALTER TABLE public.t ADD CONSTRAINT via_input_is_valid CHECK (pg_catalog.pg_input_is_valid(x::text, 'public.d_evil')) NOT VALID;
        ALTER TABLE public.t ADD CONSTRAINT via_error_info CHECK ((pg_catalog.pg_input_error_info(x::text, 'public.d_evil')).message IS NULL) NOT VALID;`);
    }
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    const report = outcome.report;
    expect(JSON.stringify(report)).not.toContain('USER CODE RAN');
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(rows(report)).toEqual(
      [
        ['warning', 'public.t', null, 'sneaky', null, []],
        ['warning', 'public.t', null, 'via_array_in', null, []],
        ['warning', 'public.t', null, 'via_record_in', null, []],
        ['warning', 'public.t', null, 'via_table_xml', null, []],
        ['warning', 'public.t', null, 'via_schema_xml', null, []],
        ['warning', 'public.t', null, 'via_regtype', null, []],
        ['warning', 'public.t', null, 'via_cast', null, []],
        ['warning', 'public.d_plain', null, 'sneaky_domain', null, []],
        ['error', 'public.t', null, 'via_builtin_cast', 1, ['1']],
        ...(named ? [['warning', 'public.t', null, 'via_input_is_valid', null, []], ['warning', 'public.t', null, 'via_error_info', null, []]] : []),
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    const reasons = (table: string, c: string) => findingOn(report, table, c).details?.reasons;
    const io = (fn: string) => `calls function pg_catalog.${fn}(), a type input or output function (it takes or returns cstring): it may run the input function of a type it is given, a domain's CHECK (any function) among them`;
    expect(reasons('t', 'sneaky')).toEqual([io('domain_in')]);
    expect(reasons('t', 'via_array_in')).toEqual([io('array_in')]);
    expect(reasons('t', 'via_record_in')).toEqual([io('record_in')]);
    expect(reasons('d_plain', 'sneaky_domain')).toEqual([io('domain_in')]);
    const given = (fn: string, type: string) => `calls function pg_catalog.${fn}(), which is given a type, relation or text search configuration as a value (${type}): it may run that object's code, which is not necessarily PostgreSQL's own`;
    expect(reasons('t', 'via_regtype')).toEqual([given('regtypesend', 'regtype')]);
    const queries = (fn: string) => `calls function pg_catalog.${fn}(), which runs queries on tables and views (a view may call any function)`;
    expect(reasons('t', 'via_table_xml')).toEqual([queries('table_to_xml')]);
    expect(reasons('t', 'via_schema_xml')).toEqual([queries('schema_to_xml')]);
    expect(reasons('t', 'via_cast')).toEqual(['casts to the domain public.d_evil, whose constraints would run']);
    if (named) {
      for (const c of ['via_input_is_valid', 'via_error_info']) expect((reasons('t', c) as string[] | undefined)?.join('; ')).toMatch(/runs the input function of the type it is given by name/);
    }
    // No repair but the built-in cast's: VALIDATE would run the code.
    expect(outcome.repairs.map((r) => r.finding.object.constraint)).toEqual(['via_builtin_cast']);
    // The CLI, as the reviewer ran it: no error, nothing ran.
    const cli = await runCli(['check', '-d', db.url, '--check', ID, '--format', 'json']);
    expect(cli.stdout + cli.stderr).not.toContain('USER CODE RAN');
    expect(cli.stderr).not.toMatch(/errored/);
  });
});

describe('unvalidated-checks never runs a user\'s comparison or cast that PostgreSQL picks at run time', () => {
  const db = useDatabase('unvalidated_checks_type_code', {
    sql: [
      `-- A default btree operator class for point (which has none): array_eq, GREATEST, row comparisons call it.
       CREATE FUNCTION public.pt_cmp(point, point) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: pt_cmp'; END $$;
       CREATE FUNCTION public.pt_lt(point, point) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: pt_lt'; END $$;
       CREATE FUNCTION public.pt_eq(point, point) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: pt_eq'; END $$;
       CREATE OPERATOR public.< (leftarg = point, rightarg = point, function = public.pt_lt);
       CREATE OPERATOR public.<= (leftarg = point, rightarg = point, function = public.pt_lt);
       CREATE OPERATOR public.= (leftarg = point, rightarg = point, function = public.pt_eq);
       CREATE OPERATOR public.>= (leftarg = point, rightarg = point, function = public.pt_lt);
       CREATE OPERATOR public.> (leftarg = point, rightarg = point, function = public.pt_lt);
       CREATE OPERATOR CLASS public.point_btree DEFAULT FOR TYPE point USING btree AS
         OPERATOR 1 public.<, OPERATOR 2 public.<=, OPERATOR 3 public.=, OPERATOR 4 public.>=, OPERATOR 5 public.>,
         FUNCTION 1 public.pt_cmp(point, point);
       -- An enum with a default btree operator class of its own, preferred over pg_catalog's enum_ops.
       CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
       -- Keyed by it before that operator class came: ordering the samples by this key would call it.
       CREATE TABLE public.moody (m public.mood PRIMARY KEY, v int);
       INSERT INTO public.moody VALUES ('sad', -1), ('ok', 1), ('happy', -2);
       ALTER TABLE public.moody ADD CONSTRAINT v_positive CHECK (v > 0) NOT VALID;
       CREATE FUNCTION public.mood_cmp(public.mood, public.mood) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: mood_cmp'; END $$;
       CREATE FUNCTION public.mood_lt(public.mood, public.mood) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: mood_lt'; END $$;
       CREATE FUNCTION public.mood_eq(public.mood, public.mood) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: mood_eq'; END $$;
       CREATE OPERATOR public.< (leftarg = public.mood, rightarg = public.mood, function = public.mood_lt);
       CREATE OPERATOR public.<= (leftarg = public.mood, rightarg = public.mood, function = public.mood_lt);
       CREATE OPERATOR public.= (leftarg = public.mood, rightarg = public.mood, function = public.mood_eq);
       CREATE OPERATOR public.>= (leftarg = public.mood, rightarg = public.mood, function = public.mood_lt);
       CREATE OPERATOR public.> (leftarg = public.mood, rightarg = public.mood, function = public.mood_lt);
       CREATE OPERATOR CLASS public.mood_ops DEFAULT FOR TYPE public.mood USING btree AS
         OPERATOR 1 public.< (public.mood, public.mood), OPERATOR 2 public.<= (public.mood, public.mood), OPERATOR 3 public.= (public.mood, public.mood),
         OPERATOR 4 public.>= (public.mood, public.mood), OPERATOR 5 public.> (public.mood, public.mood),
         FUNCTION 1 public.mood_cmp(public.mood, public.mood);
       -- An enum with a cast to json: to_json and to_jsonb call it.
       CREATE TYPE public.tone AS ENUM ('low', 'high');
       CREATE FUNCTION public.tone_json(public.tone) RETURNS json LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: tone_json'; END $$;
       CREATE CAST (public.tone AS json) WITH FUNCTION public.tone_json(public.tone);
       -- Look-alike: an enum with neither; a user cast from int to it (not to json) leaves int alone.
       CREATE TYPE public.plain AS ENUM ('a', 'b', 'gone');
       CREATE FUNCTION public.int_plain(int) RETURNS public.plain LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: int_plain'; END $$;
       CREATE CAST (int AS public.plain) WITH FUNCTION public.int_plain(int);
       CREATE TABLE public.pts (id int PRIMARY KEY, p point, m public.mood, e public.tone, q public.plain, qs public.plain[]);
       INSERT INTO public.pts VALUES (1, '(1,1)', 'ok', 'low', 'a', '{a}'), (2, '(2,2)', 'sad', 'high', 'gone', '{gone}');
       ALTER TABLE public.pts ADD CONSTRAINT greatest_p CHECK (GREATEST(p, p) IS NOT NULL) NOT VALID;
       ALTER TABLE public.pts ADD CONSTRAINT arr_self CHECK (ARRAY[p] = ARRAY[p]) NOT VALID;
       ALTER TABLE public.pts ADD CONSTRAINT row_self CHECK (ROW(p, 1) IS NOT DISTINCT FROM ROW(p, 1)) NOT VALID;
       ALTER TABLE public.pts ADD CONSTRAINT greatest_m CHECK (GREATEST(m, m) IS NOT NULL) NOT VALID;
       ALTER TABLE public.pts ADD CONSTRAINT json_e CHECK (to_jsonb(e) IS NOT NULL) NOT VALID;
       ALTER TABLE public.pts ADD CONSTRAINT json_es CHECK (to_json(ARRAY[e]) IS NOT NULL) NOT VALID;
       ALTER TABLE public.pts ADD CONSTRAINT plain_ok CHECK (GREATEST(q, q) <> 'gone' AND to_jsonb(qs) IS NOT NULL AND ARRAY[id] = ARRAY[id]) NOT VALID;
       -- A key whose type has a user cast to text: printing a sample (::text) would call it.
       CREATE TYPE public.color AS ENUM ('red', 'green');
       CREATE FUNCTION public.color_txt(public.color) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN: color_txt'; END $$;
       CREATE CAST (public.color AS text) WITH FUNCTION public.color_txt(public.color);
       CREATE TABLE public.colored (c public.color PRIMARY KEY, n int);
       INSERT INTO public.colored VALUES ('red', -1), ('green', 1);
       ALTER TABLE public.colored ADD CONSTRAINT n_pos CHECK (n > 0) NOT VALID;`,
    ],
  });

  it('reports each as not evaluated, naming the type and its operator class or cast; the user code never runs; the look-alike is counted', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    const report = outcome.report;
    expect(JSON.stringify(report)).not.toContain('USER CODE RAN');
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(rows(report)).toEqual(
      [
        ['warning', 'public.pts', null, 'greatest_p', null, []],
        ['warning', 'public.pts', null, 'arr_self', null, []],
        ['warning', 'public.pts', null, 'row_self', null, []],
        ['warning', 'public.pts', null, 'greatest_m', null, []],
        ['warning', 'public.pts', null, 'json_e', null, []],
        ['warning', 'public.pts', null, 'json_es', null, []],
        ['error', 'public.pts', null, 'plain_ok', 1, ['2']],
        // Counted, without samples: ordering or printing its key would call the user's code.
        ['error', 'public.moody', null, 'v_positive', 2, []],
        ['error', 'public.colored', null, 'n_pos', 1, []],
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    const reasons = (c: string) => findingOn(report, 'pts', c).details?.reasons;
    const point =
      "type pg_catalog.point is compared or hashed with the default btree operator class public.point_btree (array, row, GREATEST/LEAST and grouping comparisons call it), which is not PostgreSQL's own or holds functions or operators that are not";
    for (const c of ['greatest_p', 'arr_self']) expect(reasons(c)).toEqual([point]);
    // The row comparison resolved = to the user's operator for point when it was created: refused for that too.
    expect(reasons('row_self')).toEqual(["calls operator OPERATOR(public.=), which is not PostgreSQL's own", point]);
    expect(reasons('greatest_m')).toEqual([
      "type public.mood is compared or hashed with the default btree operator class public.mood_ops (array, row, GREATEST/LEAST and grouping comparisons call it), which is not PostgreSQL's own or holds functions or operators that are not",
    ]);
    const tone = "type public.tone has a cast to json by public.tone_json(), which is not PostgreSQL's own (to_json, to_jsonb and the json builders call a type's cast to json; ::text and a key's printed sample, its cast to text)";
    expect(reasons('json_e')).toEqual([tone]);
    expect(reasons('json_es')).toEqual([tone]);
    expect(outcome.repairs.map((r) => r.finding.object.constraint).sort()).toEqual(['n_pos', 'plain_ok', 'v_positive']);
    // The traps are armed: ordering by the key runs the user's comparison, printing it the user's cast.
    await expect(query(db.url, `SELECT m FROM public.moody ORDER BY m`)).rejects.toThrow('USER CODE RAN: mood_cmp');
    await expect(query(db.url, `SELECT c::text FROM public.colored`)).rejects.toThrow('USER CODE RAN: color_txt');
  });
});

describe('unvalidated-checks never runs a domain\'s CHECK through a SQL/JSON RETURNING type (PostgreSQL 17+)', () => {
  const db = useDatabase('unvalidated_checks_json_domain');

  it('reports a CHECK whose JSON_VALUE, JSON_QUERY or JSON_OBJECT returns a domain as not evaluated, and the domain\'s function never runs', async (t) => {
    const [v] = await query<{ n: number }>(db.url, `SELECT current_setting('server_version_num')::int AS n`);
    t.skip((v?.n ?? 0) < 170000, 'JSON_VALUE ... RETURNING is PostgreSQL 17\'s');
    // Any call raises: NOT VALID adds the constraints without evaluating the rows already there.
    await query(db.url, `CREATE FUNCTION public.evil(anyelement) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'USER CODE RAN'; END $$;
      CREATE DOMAIN public.d_evil AS int CHECK (public.evil(VALUE));
      CREATE DOMAIN public.j_evil AS jsonb CHECK (public.evil(VALUE));
      CREATE TABLE public.t (id int PRIMARY KEY, note text);
      INSERT INTO public.t VALUES (1, '{"k": 1}'), (2, '{"k": -1}');
      -- JSON_VALUE and JSON_QUERY coerce to the RETURNING domain at run time: no CoerceToDomain node in the tree.
      ALTER TABLE public.t ADD CONSTRAINT via_json_value CHECK (JSON_VALUE(note::jsonb, '$.k' RETURNING public.d_evil) IS NOT NULL) NOT VALID;
      ALTER TABLE public.t ADD CONSTRAINT via_json_query CHECK (JSON_QUERY(note::jsonb, '$' RETURNING public.j_evil) IS NOT NULL) NOT VALID;
      ALTER TABLE public.t ADD CONSTRAINT via_json_object CHECK (JSON_OBJECT('a': note RETURNING public.j_evil) IS NOT NULL) NOT VALID;
      -- Look-alike: JSON_VALUE returning a built-in type is PostgreSQL's own code, and is counted.
      ALTER TABLE public.t ADD CONSTRAINT via_json_int CHECK (JSON_VALUE(note::jsonb, '$.k' RETURNING int) > 0) NOT VALID;`);
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    const report = outcome.report;
    expect(JSON.stringify(report)).not.toContain('USER CODE RAN');
    expect(JSON.stringify(outcome.repairs)).not.toContain('USER CODE RAN');
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(rows(report)).toEqual(
      [
        ['error', 'public.t', null, 'via_json_int', 1, ['2']],
        ['warning', 'public.t', null, 'via_json_object', null, []],
        ['warning', 'public.t', null, 'via_json_query', null, []],
        ['warning', 'public.t', null, 'via_json_value', null, []],
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    const reasons = (c: string) => findingOn(report, 't', c).details?.reasons;
    expect(reasons('via_json_value')).toEqual(['casts to the domain public.d_evil, whose constraints would run']);
    expect(reasons('via_json_query')).toEqual(['casts to the domain public.j_evil, whose constraints would run']);
    expect(reasons('via_json_object')).toEqual(['casts to the domain public.j_evil, whose constraints would run']);
    // No repair for them: VALIDATE would run the domain's CHECK on every row.
    expect(outcome.repairs.map((r) => r.finding.object.constraint)).toEqual(['via_json_int']);
    // The trap is armed: VALIDATE itself would run it.
    await expect(query(db.url, 'ALTER TABLE public.t VALIDATE CONSTRAINT via_json_value')).rejects.toThrow('USER CODE RAN');
  });
});

describe('unvalidated-checks validates inside a script that relies on deferred constraints', () => {
  const db = useDatabase('unvalidated_checks_deferred', {
    sql: [
      `CREATE TABLE public.parents (id int PRIMARY KEY, n int);
       INSERT INTO public.parents VALUES (1, -1), (2, 5), (3, 6);
       CREATE TABLE public.kids (id int PRIMARY KEY, parent_id int REFERENCES public.parents DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO public.kids VALUES (1, 2);
       CREATE TABLE public.clean (id int PRIMARY KEY, n int, parent_id int REFERENCES public.parents DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO public.clean VALUES (1, 1, 2);
       -- Tables no repair of this check touches, with a deferred foreign key of their own.
       CREATE TABLE public.a (id int PRIMARY KEY);
       CREATE TABLE public.b (id int PRIMARY KEY, a_id int REFERENCES public.a DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO public.a VALUES (1); INSERT INTO public.b VALUES (1, 1);`,
      // Apart: the inserts' deferred checks are queued until their transaction ends, and ALTER TABLE waits for none.
      `ALTER TABLE public.parents ADD CONSTRAINT n_positive CHECK (n > 0) NOT VALID;
       ALTER TABLE public.clean ADD CONSTRAINT clean_positive CHECK (n > 0) NOT VALID;`,
    ],
  });

  /** Runs the statements in one transaction, as the script does; returns the NOTICEs. */
  async function inOneTransaction(statements: string[]): Promise<string[]> {
    const c = new pg.Client({ connectionString: db.url });
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.connect();
    try {
      await c.query('BEGIN');
      for (const sql of statements) await c.query(sql);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    } finally {
      await c.end();
    }
    return notices.filter((n) => n.startsWith('integrity:'));
  }

  const validated = async () =>
    query<{ c: string; v: boolean }>(db.url, `SELECT conname AS c, convalidated AS v FROM pg_constraint WHERE conname IN ('n_positive', 'clean_positive') ORDER BY 1`);

  it('fires only the deferred checks queued on the validated table, and leaves every deferred constraint deferred after it', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    const steps = (table: string) => outcome.repairs.find((r) => r.finding.object.table === table)?.repair.steps ?? [];
    // Referenced by a foreign key: the move is for review; accepted here, as a person would after reading it.
    expect(steps('parents').map((st) => st.safety)).toEqual(['review', 'review']);
    expect(steps('clean').map((st) => st.safety)).toEqual(['safe']);
    for (const st of [...steps('parents'), ...steps('clean')]) expect(st.sql).not.toMatch(/SET CONSTRAINTS ALL/);

    // First, a script whose earlier step leaves clean's own deferred foreign key violated until a later
    // step: validating clean would have to run that check now, so it is not validated, and the script goes on.
    const notices = await inOneTransaction([
      ...sessionPins(),
      'UPDATE public.clean SET parent_id = 99',
      ...steps('clean').map((st) => st.sql),
      'INSERT INTO public.parents VALUES (99, 1)',
    ]);
    expect(notices).toEqual([
      expect.stringMatching(/^integrity: not validated now: the deferred checks queued on its table fail at this point of the script \(they run again at COMMIT\): insert or update on table "clean" violates foreign key constraint "clean_parent_id_fkey"/),
    ]);
    expect(await validated()).toEqual([
      { c: 'clean_positive', v: false },
      { c: 'n_positive', v: false },
    ]);

    // Then the whole repair, between steps that rely on deferral: one deletes a row of a that b still
    // references, another a kid's parent, each resolved by a later statement. Both VALIDATEs have deferred
    // events queued on their table (the move's delete on parents, the update on clean): ALTER TABLE would
    // refuse them with "pending trigger events" (55006) unless their checks ran first.
    const again = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    const now = (table: string) => again.repairs.find((r) => r.finding.object.table === table)?.repair.steps ?? [];
    const quiet = await inOneTransaction([
      ...sessionPins(),
      CREATE_QUARANTINE_SCHEMA,
      'DELETE FROM public.a WHERE id = 1',
      'UPDATE public.clean SET parent_id = 3',
      ...now('parents').map((st) => st.sql),
      ...now('clean').map((st) => st.sql),
      'DELETE FROM public.parents WHERE id = 2',
      'DELETE FROM public.kids WHERE parent_id = 2',
      'DELETE FROM public.b WHERE a_id = 1',
    ]);
    expect(quiet).toEqual([]);
    expect(await validated()).toEqual([
      { c: 'clean_positive', v: true },
      { c: 'n_positive', v: true },
    ]);
    expect(await query(db.url, 'SELECT id, n FROM public.parents ORDER BY 1')).toEqual([
      { id: 3, n: 6 },
      { id: 99, n: 1 },
    ]);
    expect(rows(await audit(db.url, { checks: [ID] }))).toEqual([]);
  });
});

describe('the expression judge reads what a tree runs', () => {
  const VAR = (type: string) => `{VAR :varno 1 :varattno 1 :vartype ${type} :vartypmod -1 :varcollid 0 :varlevelsup 0 :location -1}`;

  it('takes the RETURNING type of a SQL/JSON expression as produced, a column\'s type as read', () => {
    const returning = (typid: string) => `:returning {JSONRETURNING :format {JSONFORMAT :format_type 0 :encoding 0 :location -1} :typid ${typid} :typmod -1}`;
    const jsonValue = (rest: string) => `{JSONEXPR :op 2 :column_name <> :formatted_expr ${VAR('3802')} ${rest} :passing_names <> :passing_values <> :use_io_coercion false :use_json_coercion true :collation 0 :location -1}`;
    expect(referencesOf(jsonValue(returning('16386')))?.types.get('16386')).toBe(false);
    expect(referencesOf(VAR('16386'))?.types.get('16386')).toBe(true);
    expect([...(referencesOf(jsonValue(returning('16386')))?.unknown ?? [])]).toEqual([]);
    // A JSON expression whose tree does not say its result type is not judged.
    expect([...(referencesOf(jsonValue(''))?.unknown ?? [])]).toEqual(['JSONEXPR without a RETURNING type']);
  });

  it('collects a row comparison\'s operators under both spellings, and refuses nodes it does not know', () => {
    const row = (node: string) => `{${node} :rctype 1 :opnos (o 97 521) :opfamilies (o 1976 1976) :inputcollids (o 0 0) :largs (${VAR('23')}) :rargs (${VAR('23')})}`;
    for (const node of ['ROWCOMPAREEXPR', 'ROWCOMPARE']) expect([...(referencesOf(row(node))?.operators ?? [])]).toEqual(['97', '521']);
    expect([...(referencesOf(`{SUBLINK :subLinkType 4 :subLinkId 0 :testexpr <> :operName <> :subselect <> :location -1}`)?.unknown ?? [])]).toEqual(['SUBLINK']);
  });
});

describe('safeExpression', () => {
  it('re-quotes literals and identifiers that hold control characters, and nothing else', () => {
    expect(safeExpression(`(a > 0)`)).toBe('(a > 0)');
    expect(safeExpression(`(note <> 'it''s')`)).toBe(`(note <> 'it''s')`);
    expect(safeExpression(`(note <> 'a\nb'::text)`)).toBe(`(note <> E'a\\x0ab'::text)`);
    expect(safeExpression(`("we""ird\r" > 0)`)).toBe(`(U&"we""ird\\000d" > 0)`);
    expect(safeExpression(`CASE\n    WHEN (a > 0) THEN true\n    ELSE false\nEND`)).toBe('CASE     WHEN (a > 0) THEN true     ELSE false END');
    expect(() => safeExpression(`(a <> 'x)`)).toThrow(/unterminated/);
  });
});

const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/real');

describe('unvalidated-checks on pagila (a real public schema)', () => {
  const db = useDatabase('unvalidated_pagila', {
    sql: [readFileSync(path.join(REAL, 'pagila-schema.sql'), 'utf8'), readFileSync(path.join(REAL, 'pagila-sample-data.sql'), 'utf8')],
  });

  it('reports nothing, and a NOT VALID constraint every row satisfies only as can-be-validated', async () => {
    const before = await audit(db.url, { checks: [ID] });
    expect(checkResult(before, ID).status).toBe('passed');
    expect(rows(before)).toEqual([]);
    // On the partitioned payment table, and on pagila's own domain "year" (used by film.release_year).
    await query(db.url, `ALTER TABLE public.payment ADD CONSTRAINT amount_nonnegative CHECK (amount >= 0) NOT VALID;
      ALTER DOMAIN public.year ADD CONSTRAINT year_sane CHECK (VALUE < 3000) NOT VALID;`);
    const after = await audit(db.url, { checks: [ID] });
    expect(after.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(rows(after)).toEqual([
      ['info', 'public.payment', null, 'amount_nonnegative', null, []],
      ['info', 'public.year', null, 'year_sane', null, []],
    ]);
  });
});

const REPAIR_SCHEMA = `
  CREATE SCHEMA "Billing Dept";
  CREATE TABLE "Billing Dept"."Invoice Line" ("Line Id" int PRIMARY KEY, "amo""unt" int, note text);
  INSERT INTO "Billing Dept"."Invoice Line" VALUES (1, -5, 'a'), (2, 10, 'b'), (3, NULL, 'c'), (4, -1, E'x\\ny');
  ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT ${NEWLINE_NAME} CHECK ("amo""unt" > 0) NOT VALID;
  CREATE TABLE readings (id int, site text, val numeric, PRIMARY KEY (id, site)) PARTITION BY LIST (site);
  CREATE TABLE readings_a PARTITION OF readings FOR VALUES IN ('a');
  CREATE TABLE readings_b PARTITION OF readings FOR VALUES IN ('b');
  CREATE TABLE readings_c PARTITION OF readings FOR VALUES IN ('c');
  INSERT INTO readings VALUES (1, 'a', 1), (2, 'b', -1), (3, 'b', 2), (5, 'c', -4);
  ALTER TABLE readings ADD CONSTRAINT val_positive CHECK (val > 0) NOT VALID;
  CREATE TABLE periods (id int PRIMARY KEY, starts date, ends date);
  CREATE TABLE old_periods (note text) INHERITS (periods);
  INSERT INTO periods VALUES (1, '2024-01-01', '2024-02-01'), (2, '2024-03-01', '2024-02-01');
  INSERT INTO old_periods VALUES (3, '2020-05-01', '2020-01-01', 'x'), (4, '2020-05-01', '2020-06-01', 'y');
  ALTER TABLE periods ADD CONSTRAINT ordered CHECK (ends > starts) NOT VALID;
  CREATE DOMAIN "Billing Dept"."Positive Int" AS int;
  CREATE DOMAIN public.small_pos AS "Billing Dept"."Positive Int" CHECK (VALUE < 1000);
  CREATE TABLE accounts (id int PRIMARY KEY, balance "Billing Dept"."Positive Int", cap small_pos);
  CREATE TABLE ledger (id int PRIMARY KEY, amount small_pos);
  INSERT INTO accounts VALUES (1, -3, 5), (2, 4, -6), (3, 1, 1), (4, NULL, NULL);
  INSERT INTO ledger VALUES (10, -9), (11, 9);
  ALTER DOMAIN "Billing Dept"."Positive Int" ADD CONSTRAINT "positive" CHECK (VALUE > 0) NOT VALID;
  CREATE TABLE clean (id int PRIMARY KEY, a int);
  INSERT INTO clean VALUES (1, 1);
  ALTER TABLE clean ADD CONSTRAINT clean_positive CHECK (a > 0) NOT VALID;
  -- Referenced by another table: its move stays for review whatever the strategy.
  CREATE TABLE customers (id int PRIMARY KEY, age int);
  CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers ON DELETE CASCADE);
  INSERT INTO customers VALUES (1, -1), (2, 30); INSERT INTO orders VALUES (1, 1);
  ALTER TABLE customers ADD CONSTRAINT age_nonnegative CHECK (age >= 0) NOT VALID;
`;

const STRATEGIES = {
  checks: {
    [ID]: {
      strategies: { "pos'it\nive": 'quarantine', val_positive: 'quarantine', 'public.periods.ordered': 'quarantine', 'Billing Dept.Positive Int.positive': 'quarantine', age_nonnegative: 'quarantine' },
    },
  },
};

const unvalidated = async (url: string) =>
  (
    await query<{ t: string; c: string }>(
      url,
      `SELECT CASE WHEN conrelid <> 0 THEN conrelid::regclass::text ELSE contypid::regtype::text END AS t, conname AS c FROM pg_constraint WHERE contype = 'c' AND NOT convalidated`,
    )
  ).sort((a, b) => a.t.localeCompare(b.t) || a.c.localeCompare(b.c));

const LEFT_FOR_REVIEW = [
  { t: '"Billing Dept"."Positive Int"', c: 'positive' },
  { t: 'customers', c: 'age_nonnegative' },
].sort((a, b) => a.t.localeCompare(b.t));

async function quarantineCounts(url: string): Promise<[string, number][]> {
  const tables = await query<{ t: string }>(url, `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'integrity_quarantine' AND c.relkind = 'r' ORDER BY 1`);
  const out: [string, number][] = [];
  for (const { t } of tables) {
    const [row] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM integrity_quarantine."${t.replace(/"/g, '""')}"`);
    out.push([t.replace(/__[0-9a-f]+$/, ''), row?.n ?? -1]);
  }
  return out;
}

describe.skipIf(!HAS_PSQL)('unvalidated-checks repairs (needs psql)', () => {
  const db = useDatabase('unvalidated_repair', { sql: [REPAIR_SCHEMA] });

  it('by default leaves every move for review, with the alternative in the decision; only the clean constraint is validated', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    const script = renderFixScript(outcome);
    const byTable = new Map(outcome.repairs.map((r) => [r.finding.object.table, r.repair]));
    expect(byTable.get('periods')?.steps.map((s) => s.safety)).toEqual(['review', 'review']);
    expect(byTable.get('periods')?.steps[0]?.decision).toMatch(/fix the rows' values by hand/);
    expect(byTable.get('clean')?.steps.map((s) => s.safety)).toEqual(['safe']);
    // No raw line end from a name or a value reaches the script outside our own line breaks.
    expect(script).not.toMatch(/\r/);
    expect(script).not.toContain("pos'it\nive");
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-uvc-'));
    writeFileSync(path.join(dir, 'fix.sql'), script);
    psqlFile(db.url, path.join(dir, 'fix.sql'));
    expect((await unvalidated(db.url)).map((r) => r.c)).not.toContain('clean_positive');
    expect((await unvalidated(db.url)).length).toBe(9);
  });

  it('with the quarantine strategy: --verify clears, --apply moves and validates, the rows are restorable, a second apply changes nothing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-uvc-'));
    const config = path.join(dir, 'integrity.config.json');
    writeFileSync(config, JSON.stringify(STRATEGIES));
    const args = ['-d', db.url, '--check', ID, '--config', config];

    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID], config: STRATEGIES }));
    const customers = outcome.repairs.find((r) => r.finding.object.table === 'customers');
    expect(customers?.repair.steps[0]?.safety).toBe('review');
    expect(customers?.repair.steps[0]?.decision).toMatch(/orders .*foreign key orders_customer_id_fkey/);

    const verify = await runCli(['fix', '--verify', '--format', 'json', ...args]);
    const verified = JSON.parse(verify.stdout) as { lines: { object: { table: string; constraint?: string }; status: string; countBefore: number | null }[]; created: unknown[]; databaseUnchanged: boolean };
    const statuses = verified.lines.map((l) => [l.object.table, l.object.constraint, l.countBefore, l.status]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(statuses).toEqual(
      [
        ['Invoice Line', "pos'it\nive", 2, 'cleared'],
        ['readings_b', 'val_positive', 1, 'cleared'],
        ['readings_c', 'val_positive', 1, 'cleared'],
        ['periods', 'ordered', 1, 'cleared'],
        ['old_periods', 'ordered', 1, 'cleared'],
        // A domain's move is always reviewed: the quarantine's copy would be of the domain otherwise.
        ['accounts', 'positive', 2, 'review only'],
        ['ledger', 'positive', 1, 'review only'],
        ['customers', 'age_nonnegative', 1, 'review only'],
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    expect(verified.created).toEqual([]);
    expect(await unvalidated(db.url)).toHaveLength(9);

    const applied = await runCli(['fix', '--apply', '--yes', ...args]);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0); // every repair that ran cleared its finding; customers is left for review
    // Nothing is left but the reviewed ones; every other constraint, its partitions' and children's copies included, is validated.
    expect(await unvalidated(db.url)).toEqual(LEFT_FOR_REVIEW);
    const after = await audit(db.url, { checks: [ID], config: STRATEGIES });
    expect(rows(after)).toEqual([
      ['error', 'public.accounts', ['balance', 'cap'], 'positive', 2, ['1', '2']],
      ['error', 'public.customers', null, 'age_nonnegative', 1, ['1']],
      ['error', 'public.ledger', 'amount', 'positive', 1, ['10']],
    ]);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 1 }]);

    // The rows are in the quarantine, and go back once their values satisfy the constraint.
    expect(await quarantineCounts(db.url)).toEqual([
      ['Invoice Line', 2],
      ['old_periods', 1],
      ['periods', 1],
      ['readings_b', 1],
      ['readings_c', 1],
    ]);
    const quarantined = await query<{ t: string }>(db.url, `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'integrity_quarantine'`);
    const line = outcome.repairs.find((r) => r.finding.object.table === 'Invoice Line');
    const restore = (line?.repair.restore?.[0] ?? '').replace(/ -- .*$/, '');
    const table = quarantined.find((q) => q.t.startsWith('Invoice Line'))?.t as string;
    await query(db.url, `UPDATE integrity_quarantine."${table}" SET "amo""unt" = abs("amo""unt"); ${restore}`);
    expect(await query(db.url, `SELECT "Line Id" AS id, "amo""unt" AS a FROM "Billing Dept"."Invoice Line" ORDER BY 1`)).toEqual([
      { id: 1, a: 5 },
      { id: 2, a: 10 },
      { id: 3, a: null },
      { id: 4, a: 1 },
    ]);

    const again = await runCli(['fix', '--apply', '--yes', ...args]);
    expect(again.stdout).toMatch(/Nothing to apply/);
    expect(await unvalidated(db.url)).toEqual(LEFT_FOR_REVIEW);
  });

  it('the reviewed steps, once accepted, clear the rest; the rows are restorable; the script then runs twice and changes nothing', async () => {
    // The person reading the decision deals with the referencing order first, as it says.
    await query(db.url, 'DELETE FROM orders WHERE customer_id = 1');
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    expect(outcome.repairs.map((r) => r.finding.object.table).sort()).toEqual(['accounts', 'customers', 'ledger']);
    const steps = outcome.repairs.flatMap((r) => r.repair.steps);
    const accepted = ['\\set ON_ERROR_STOP on', ...sessionPins(), 'BEGIN;', 'CREATE SCHEMA IF NOT EXISTS integrity_quarantine;', ...steps.map((s) => s.sql), 'COMMIT;'].join('\n');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-uvc-'));
    writeFileSync(path.join(dir, 'accepted.sql'), accepted);
    psqlFile(db.url, path.join(dir, 'accepted.sql'));
    expect(await unvalidated(db.url)).toEqual([]);
    expect(await query(db.url, 'SELECT id, age FROM customers ORDER BY 1')).toEqual([{ id: 2, age: 30 }]);
    const counts = await quarantineCounts(db.url);
    expect(counts.filter((q) => ['accounts', 'ledger', 'customers'].includes(q[0]))).toEqual([
      ['accounts', 2],
      ['customers', 1],
      ['ledger', 1],
    ]);
    // The domain's values went to the quarantine as its base type; fixed there, they go back.
    const accounts = outcome.repairs.find((r) => r.finding.object.table === 'accounts');
    const [q] = await query<{ t: string }>(db.url, `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'integrity_quarantine' AND c.relname LIKE 'accounts%'`);
    await query(db.url, `UPDATE integrity_quarantine."${q?.t}" SET balance = abs(balance), cap = abs(cap); ${(accounts?.repair.restore?.[0] ?? '').replace(/ -- .*$/, '')}`);
    expect(await query(db.url, 'SELECT id, balance, cap FROM accounts ORDER BY 1')).toEqual([
      { id: 1, balance: 3, cap: 5 },
      { id: 2, balance: 4, cap: 6 },
      { id: 3, balance: 1, cap: 1 },
      { id: 4, balance: null, cap: null },
    ]);
    const final = await runAuditWithRepairs(auditOptions(db.url, { checks: [ID] }));
    expect(rows(final.report)).toEqual([]);
    writeFileSync(path.join(dir, 'fix.sql'), renderFixScript(final));
    psqlFile(db.url, path.join(dir, 'fix.sql'));
    psqlFile(db.url, path.join(dir, 'fix.sql'));
    expect(rows(await audit(db.url, { checks: [ID] }))).toEqual([]);
  });
});
