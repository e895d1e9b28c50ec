import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import check from '../../checks/collation-drift.js';
import type { CheckContext } from '../../src/check.js';
import { CheckSkipped } from '../../src/check.js';
import type { Catalog } from '../../src/db/catalog.js';
import { dropDatabase, runSql } from '../../src/demo/fixtures.js';
import { runAudit, runAuditWithRepairs, type AuditOptions, type RepairEntry } from '../../src/engine/runner.js';
import { refusalOf } from '../../src/engine/guard.js';
import { verifyRepairs } from '../../src/fix/execute.js';
import { repairSafety } from '../../src/fix/types.js';
import type { AuditReport, Finding } from '../../src/findings.js';
import { runCli } from '../helpers/cli.js';
import { adminUrl, auditOptions, checkResult, query, useDatabase } from '../helpers/db.js';

const ID = 'collation-drift';
const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/real');

function options(url: string, extra: Omit<Partial<AuditOptions>, 'config' | 'schemas'> & { config?: unknown; schemas?: string[] } = {}): AuditOptions {
  const { config, schemas, ...rest } = extra;
  return { ...auditOptions(url, { checks: [ID], config: config ?? {}, ...(schemas ? { schemas } : {}) }), ...rest };
}

async function run(url: string, extra: Parameters<typeof options>[1] = {}): Promise<AuditReport> {
  return runAudit(options(url, extra));
}

/** What a test asserts of a finding: kind (from the fingerprint's inputs: the object and severity), never the prose. */
function shape(f: Finding) {
  return { severity: f.severity, object: f.object, count: f.count };
}

function mine(report: AuditReport): Finding[] {
  return report.findings.filter((f) => f.checkId === ID);
}

/** Drifts a collation as an ICU or glibc upgrade would: the recorded version no longer matches the library's. */
const DRIFT = (schema: string, name: string) =>
  `UPDATE pg_catalog.pg_collation SET collversion = '0.0'
    WHERE collname = '${name}' AND collnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = '${schema}')`;

/** Runs every step of the repairs as a person who uncommented them would: each block only while its guard says so. */
async function applyReviewed(url: string, repairs: RepairEntry[]): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let ran = 0;
  try {
    const steps = repairs.flatMap((r) => r.repair.steps);
    // As in the script: the transaction part first, then the concurrent blocks in the repairs' order.
    for (const step of [...steps.filter((s) => s.phase === 'transaction'), ...steps.filter((s) => s.phase === 'concurrent')]) {
      const todo = step.guard ? Object.values((await client.query(step.guard)).rows[0] ?? {})[0] === true : true;
      if (!todo) continue;
      ran++;
      if (step.phase === 'transaction') await client.query(step.sql);
      else for (const sql of step.statements ?? []) await client.query(sql);
    }
  } finally {
    await client.end();
  }
  return ran;
}

const FIXTURE = `
CREATE SCHEMA "Billing Dept";
CREATE SCHEMA elsewhere;
CREATE COLLATION "Billing Dept"."Drifty" (provider = icu, locale = 'und');
CREATE COLLATION "Billing Dept"."Steady" (provider = icu, locale = 'und');
CREATE TABLE "Billing Dept"."Invoice Line" (
  id int PRIMARY KEY,
  code text COLLATE "Billing Dept"."Drifty",
  "na""me" text COLLATE "Billing Dept"."Drifty",
  plain text COLLATE "C",
  steady text COLLATE "Billing Dept"."Steady"
);
ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT "Invoice ""Line"" code" UNIQUE (code);
CREATE INDEX "idx quote""s" ON "Billing Dept"."Invoice Line" ("na""me");
CREATE INDEX "idx
nl" ON "Billing Dept"."Invoice Line" (id, code);
CREATE INDEX "idx lower" ON "Billing Dept"."Invoice Line" (lower(code));
ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT "no same name" EXCLUDE USING btree ("na""me" WITH =);
-- Look-alikes: the same columns under "C", a hash index, an INCLUDE column, a collation that did not move.
CREATE INDEX "idx plain" ON "Billing Dept"."Invoice Line" (plain);
CREATE INDEX "idx name C" ON "Billing Dept"."Invoice Line" ("na""me" COLLATE "C");
CREATE INDEX "idx hash" ON "Billing Dept"."Invoice Line" USING hash (code);
CREATE INDEX "idx include" ON "Billing Dept"."Invoice Line" (id) INCLUDE (code);
CREATE INDEX "idx steady" ON "Billing Dept"."Invoice Line" (steady);
CREATE INDEX "idx gin" ON "Billing Dept"."Invoice Line" USING gin (pg_catalog.to_tsvector('simple', code));
INSERT INTO "Billing Dept"."Invoice Line" VALUES (1, 'a', 'x', 'a', 's'), (2, 'B', 'Y', 'B', 'T');
CREATE TABLE "Billing Dept".events (k text COLLATE "Billing Dept"."Drifty", n int) PARTITION BY RANGE (k);
CREATE TABLE "Billing Dept".events_a PARTITION OF "Billing Dept".events FOR VALUES FROM ('a') TO ('m');
CREATE TABLE "Billing Dept".events_m PARTITION OF "Billing Dept".events FOR VALUES FROM ('m') TO ('zzz');
CREATE INDEX events_k ON "Billing Dept".events (k);
INSERT INTO "Billing Dept".events VALUES ('b', 1), ('q', 2);
CREATE TABLE elsewhere.t (v text COLLATE "Billing Dept"."Drifty");
CREATE INDEX elsewhere_v ON elsewhere.t (v);
`;

describe('collation-drift: an ICU collation whose version moved', () => {
  const db = useDatabase('collation_drift', { sql: [FIXTURE] });

  it('passes before the drift, saying what it compared', async () => {
    const report = await run(db.url);
    expect(mine(report)).toEqual([]);
    expect(checkResult(report, ID).status).toBe('passed');
    expect(checkResult(report, ID).note).toMatch(/versions unchanged/);
  });

  it('lists exactly the btree indexes with a key under the drifted collation, the range partition key, and the collation', async () => {
    await query(db.url, DRIFT('Billing Dept', 'Drifty'));
    const report = await run(db.url, { schemas: ['Billing Dept'] });
    expect(checkResult(report, ID).status).toBe('failed');
    const found = mine(report).map(shape);
    const s = 'Billing Dept';
    const line = 'Invoice Line';
    // One key column is `column`, as in every check's findings; `columns` is for several, neither for an expression.
    expect(found.filter((f) => f.object.index !== undefined).map((f) => [f.object.table, f.object.index, f.object.column ?? null, f.object.columns ?? null]).sort()).toEqual(
      [
        [line, 'Invoice "Line" code', 'code', null],
        [line, 'idx\nnl', 'code', null],
        [line, 'idx lower', null, null],
        [line, 'no same name', 'na"me', null],
        [line, 'idx quote"s', 'na"me', null],
        ['events_a', 'events_a_k_idx', 'k', null],
        ['events_m', 'events_m_k_idx', 'k', null],
      ].sort(),
    );
    expect(found.filter((f) => f.object.index === undefined).sort((a, b) => a.object.table.localeCompare(b.object.table))).toEqual([
      { severity: 'warning', object: { schema: s, table: 'Drifty' }, count: 7 },
      { severity: 'warning', object: { schema: s, table: 'events', column: 'k' }, count: null },
    ]);
    const unique = mine(report).find((f) => f.object.index === 'Invoice "Line" code') as Finding;
    expect(unique.message).toMatch(/let duplicates in/);
    expect(unique.details).toMatchObject({ unique: true, constraintType: 'unique', amcheck: 'not run', collations: [{ schema: s, name: 'Drifty', recorded: '0.0' }] });
    const lower = mine(report).find((f) => f.object.index === 'idx lower') as Finding;
    expect(lower.details?.keys).toEqual([{ position: 1, column: null, collation: '"Billing Dept"."Drifty"' }]);
    const part = mine(report).find((f) => f.object.index === 'events_a_k_idx') as Finding;
    expect(part.details?.partitionOf).toEqual({ schema: s, table: 'events' });
    expect(checkResult(report, ID).note).toMatch(/--amcheck would verify the 7 listed index\(es\)/);
    // The index in a schema not audited is not listed, but the refresh's decision names it.
    const collation = mine(report).find((f) => f.object.table === 'Drifty') as Finding;
    expect(collation.details?.indexesOutsideAudit).toBe(1);
    expect(collation.fix?.steps[0]?.decision).toMatch(/elsewhere\.elsewhere_v/);
    expect(collation.fix?.steps[0]?.decision).toMatch(/Range-partitioned "Billing Dept"\.events/);
  });

  it('audits every schema by default: the index elsewhere is listed too', async () => {
    const report = await run(db.url);
    expect(mine(report).filter((f) => f.object.schema === 'elsewhere').map((f) => f.object.index)).toEqual(['elsewhere_v']);
  });

  it('writes review repairs: REINDEX CONCURRENTLY per index (quoted), then the refresh; applying them clears everything, twice changes nothing', async () => {
    const { repairs } = await runAuditWithRepairs(options(db.url));
    const mineRepairs = repairs.filter((r) => r.finding.checkId === ID);
    const reindexes = mineRepairs.filter((r) => r.finding.object.index !== undefined);
    expect(reindexes).toHaveLength(8);
    for (const r of mineRepairs) expect(repairSafety(r.repair)).toBe('review');
    // An exclusion constraint's index cannot be rebuilt CONCURRENTLY: a plain REINDEX, guarded like the others.
    const exclusion = reindexes.find((r) => r.finding.object.index === 'no same name') as RepairEntry;
    expect(exclusion.repair.steps.map((s) => [s.phase, s.statements, typeof s.guard])).toEqual([['concurrent', ['REINDEX INDEX "Billing Dept"."no same name"'], 'string']]);
    expect(exclusion.finding.details?.constraintType).toBe('exclusion');
    for (const r of reindexes.filter((x) => x !== exclusion)) {
      expect(r.repair.order).toBe(50);
      expect(r.repair.steps.map((s) => [s.phase, s.statements?.length])).toEqual([['concurrent', 1]]);
      expect(r.repair.steps[0]?.statements?.[0]).toMatch(/^REINDEX INDEX CONCURRENTLY /);
    }
    const nl = reindexes.find((r) => r.finding.object.index === 'idx\nnl') as RepairEntry;
    expect(nl.repair.steps[0]?.sql).toBe('REINDEX INDEX CONCURRENTLY "Billing Dept".U&"idx\\000anl";');
    const unique = reindexes.find((r) => r.finding.object.index === 'Invoice "Line" code') as RepairEntry;
    expect(unique.repair.steps[0]?.decision).toMatch(/23505/);
    const refresh = mineRepairs.filter((r) => r.finding.object.index === undefined && r.repair.steps.length > 0);
    expect(refresh.map((r) => [r.repair.order, r.repair.steps[0]?.statements])).toEqual([[60, ['ALTER COLLATION "Billing Dept"."Drifty" REFRESH VERSION']]]);
    // The repairs come sorted: every rebuild before the refresh.
    const orders = mineRepairs.map((r) => r.repair.order);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    // No row is lost: the tables hold what they held.
    const rowsBefore = await query(db.url, `SELECT * FROM "Billing Dept"."Invoice Line" ORDER BY id`);

    expect(await applyReviewed(db.url, mineRepairs)).toBe(9);
    const after = await run(db.url);
    expect(mine(after)).toEqual([]);
    expect(checkResult(after, ID).status).toBe('passed');
    expect(await query(db.url, `SELECT * FROM "Billing Dept"."Invoice Line" ORDER BY id`)).toEqual(rowsBefore);
    // Every guard is false now: a second run does nothing.
    expect(await applyReviewed(db.url, mineRepairs)).toBe(0);
  });
});

describe('collation-drift: fix --verify leaves the database as it was', () => {
  const db = useDatabase('collation_drift_verify', {
    sql: [
      `CREATE COLLATION drifty (provider = icu, locale = 'und');
       CREATE TABLE t (v text COLLATE drifty UNIQUE);
       INSERT INTO t VALUES ('a'), ('B');`,
      DRIFT('public', 'drifty'),
    ],
  });

  it('fix --verify on the command line: review only, and the database unchanged', async () => {
    const verify = await runCli(['fix', '-d', db.url, '--check', ID, '--verify', '--format', 'json']);
    const out = JSON.parse(verify.stdout) as { databaseUnchanged: boolean; lines: { status: string }[] };
    expect(out.databaseUnchanged).toBe(true);
    expect(out.lines.map((l) => l.status)).toEqual(['review only', 'review only']);
    expect((await query<{ v: string }>(db.url, `SELECT collversion AS v FROM pg_collation WHERE collname = 'drifty'`))[0]?.v).toBe('0.0');
  });

  it('the steps are review only (not run by --verify), and their verify statements roll back, the refresh included', async () => {
    const result = await verifyRepairs(options(db.url));
    expect(result.lines.filter((l) => l.checkId === ID).map((l) => l.status)).toEqual(['review only', 'review only']);
    const version = async () => (await query<{ v: string }>(db.url, `SELECT collversion AS v FROM pg_collation WHERE collname = 'drifty'`))[0]?.v;
    expect(await version()).toBe('0.0');
    // What --verify would run if the steps were not review: REINDEX and the refresh, inside its transaction.
    const { repairs } = await runAuditWithRepairs(options(db.url));
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      for (const r of repairs) for (const s of r.repair.steps) for (const sql of s.verifyStatements ?? []) await client.query(sql);
      expect((await client.query(`SELECT collversion AS v FROM pg_collation WHERE collname = 'drifty'`)).rows[0]?.v).not.toBe('0.0');
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
    expect(await version()).toBe('0.0');
    expect(mine(await run(db.url)).map((f) => f.object.index ?? f.object.table)).toEqual(['drifty', 't_v_key']);
  });
});

const AMCHECK_FIXTURE = `
CREATE SCHEMA "Amcheck ""Ext""";
CREATE EXTENSION amcheck SCHEMA "Amcheck ""Ext""";
CREATE COLLATION drifty (provider = icu, locale = 'und');
-- Built in "C" order ('B' before 'a'), then told it is in drifty's ('a' before 'B'): out of order, as after an upgrade.
CREATE TABLE "Corrupt Tab" (v text COLLATE "C");
INSERT INTO "Corrupt Tab" SELECT x FROM unnest(ARRAY['a', 'B', 'c', 'D', 'e', 'F']) AS x;
CREATE INDEX "idx corrupt" ON "Corrupt Tab" (v);
UPDATE pg_catalog.pg_index SET indcollation = (SELECT oid::text FROM pg_catalog.pg_collation WHERE collname = 'drifty')::pg_catalog.oidvector
 WHERE indexrelid = '"idx corrupt"'::regclass;
CREATE TABLE sound (v text COLLATE drifty);
INSERT INTO sound SELECT x FROM unnest(ARRAY['a', 'B', 'c', 'D', 'e', 'F']) AS x;
CREATE INDEX idx_sound ON sound (v);
-- An index whose expression calls a function of the user's: amcheck would run it (here it would fail), so it is left alone.
CREATE TABLE flag (on_ int);
INSERT INTO flag VALUES (1);
CREATE FUNCTION tagged(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT t || (1 / (SELECT count(*) FROM public.flag))::text $$;
CREATE TABLE coded (v text COLLATE drifty);
INSERT INTO coded VALUES ('a');
CREATE INDEX idx_user_code ON coded (tagged(v));
DELETE FROM flag;
${DRIFT('public', 'drifty')};
`;

describe('collation-drift --amcheck', () => {
  const db = useDatabase('collation_drift_amcheck', { sql: [AMCHECK_FIXTURE] });
  const plain = useDatabase('collation_drift_noext', {
    sql: [`CREATE COLLATION drifty (provider = icu, locale = 'und'); CREATE TABLE t (v text COLLATE drifty); CREATE INDEX t_v ON t (v);`, DRIFT('public', 'drifty')],
  });

  it('bt_index_check reports the misordered index corrupt (error), passes the sound one, and does not run user code', async () => {
    const report = await run(db.url, { amcheck: true });
    const result = checkResult(report, ID);
    expect([result.status, result.reason]).toEqual(['failed', null]);
    const byIndex = new Map(mine(report).map((f) => [f.object.index ?? f.object.table, f]));
    expect([...byIndex.keys()].sort()).toEqual(['drifty', 'idx corrupt', 'idx_sound', 'idx_user_code']);
    const corrupt = byIndex.get('idx corrupt') as Finding;
    expect(shape(corrupt)).toEqual({ severity: 'error', object: { schema: 'public', table: 'Corrupt Tab', index: 'idx corrupt', column: 'v' }, count: null });
    expect(corrupt.details?.amcheck).toBe('corrupt');
    expect(String(corrupt.details?.amcheckMessage)).toMatch(/item order invariant violated/);
    expect(byIndex.get('idx_sound')?.severity).toBe('warning');
    expect(byIndex.get('idx_sound')?.details?.amcheck).toBe('passed');
    expect(byIndex.get('idx_user_code')?.details?.amcheck).toMatch(/^not checked: it would run code/);
    expect(result.note).toMatch(/bt_index_check: 1 in order, 1 corrupt, 1 not checked \(public\.idx_user_code\)$/);
    // A corrupt index is a different finding from a drifted one: a baseline of the drift does not hide it.
    expect(corrupt.fingerprint).not.toBe((mine(await run(db.url)).find((f) => f.object.index === 'idx corrupt') as Finding).fingerprint);
  });

  it('--amcheck on the command line: the corrupt index is an error (exit 1); without it only warnings (exit 0)', async () => {
    const withFlag = await runCli(['check', '-d', db.url, '--check', ID, '--amcheck', '--format', 'json']);
    expect(withFlag.code).toBe(1);
    const found = (JSON.parse(withFlag.stdout) as AuditReport).findings.filter((f) => f.severity === 'error');
    expect(found.map((f) => f.object.index)).toEqual(['idx corrupt']);
    const without = await runCli(['check', '-d', db.url, '--check', ID, '--format', 'json']);
    expect(without.code).toBe(0);
    expect((JSON.parse(without.stdout) as AuditReport).findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('the audit guard lets the bt_index_check call through (it refuses only acting functions)', async () => {
    expect(await refusalOf(`SELECT "Amcheck ""Ext""".bt_index_check($1::pg_catalog.oid::pg_catalog.regclass, true) IS NULL AS done`)).toBeNull();
  });

  it('fix --verify --amcheck: the corrupt index is found in its transaction too (each check in a savepoint), and nothing changes', async () => {
    const result = await verifyRepairs(options(db.url, { amcheck: true }));
    const before = result.before.report;
    expect([checkResult(before, ID).status, checkResult(before, ID).reason]).toEqual(['failed', null]);
    expect(mine(before).filter((f) => f.severity === 'error').map((f) => f.object.index)).toEqual(['idx corrupt']);
    expect(mine(result.after.report).filter((f) => f.severity === 'error').map((f) => f.object.index)).toEqual(['idx corrupt']);
  });

  it('a spent budget starts no check, and says which were not checked', async () => {
    const report = await run(db.url, { amcheck: true, config: { checks: { [ID]: { amcheckBudgetMs: 0 } } } });
    const corrupt = mine(report).find((f) => f.object.index === 'idx corrupt') as Finding;
    expect(corrupt.severity).toBe('warning');
    expect(corrupt.details?.amcheck).toMatch(/^not checked: the amcheck budget/);
    expect(checkResult(report, ID).note).toMatch(/bt_index_check: 0 in order, 0 corrupt, 3 not checked \(public\."idx corrupt", public\.idx_user_code, public\.idx_sound\)$/);
    expect(mine(report).find((f) => f.object.index === 'idx_sound')?.details?.amcheck).toMatch(/^not checked: the amcheck budget/);
    expect(checkResult(report, ID).status).toBe('failed');
  });

  it('without --amcheck the listing stands and the note says --amcheck would verify them', async () => {
    const report = await run(db.url);
    expect(mine(report).find((f) => f.object.index === 'idx corrupt')?.severity).toBe('warning');
    expect(checkResult(report, ID).note).toMatch(/--amcheck would verify the 3 listed index/);
  });

  it('without the extension the note says CREATE EXTENSION amcheck, and the listing stands', async () => {
    const report = await run(plain.url, { amcheck: true });
    expect(mine(report).map(shape)).toEqual([
      { severity: 'warning', object: { schema: 'public', table: 'drifty' }, count: 1 },
      { severity: 'warning', object: { schema: 'public', table: 't', index: 't_v', column: 'v' }, count: null },
    ]);
    expect(checkResult(report, ID).note).toMatch(/CREATE EXTENSION amcheck/);
  });

  it('a role that may not call bt_index_check is told to GRANT it', async () => {
    const role = `cd_reader_${process.pid}`;
    await query(db.url, `CREATE ROLE ${role} LOGIN PASSWORD 'cd-reader'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    try {
      const url = new URL(db.url);
      url.username = role;
      url.password = 'cd-reader';
      const report = await run(url.toString(), { amcheck: true });
      expect(checkResult(report, ID).note).toMatch(/may not call "Amcheck ""Ext"""\.bt_index_check \(GRANT EXECUTE/);
      expect(checkResult(report, ID).status).toBe('failed');
    } finally {
      await query(db.url, `REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}; DROP ROLE ${role}`);
    }
  });
});

/**
 * A user's collatable base type (as citext is one of an extension's), with a default btree operator class
 * whose comparison is SQL of the user's that fails once public.flag is empty. An index on mytext[] uses
 * pg_catalog's array_ops and one on a composite pg_catalog's record_ops, and depends (pg_depend) on neither
 * mytext nor its operator class, yet array_cmp and record_cmp call the elements' comparison: mytext_cmp.
 */
const USER_COMPARISON_FIXTURE = `
CREATE EXTENSION amcheck;
CREATE COLLATION drifty (provider = icu, locale = 'und');
CREATE TYPE mytext;
CREATE FUNCTION mytext_in(cstring) RETURNS mytext LANGUAGE internal IMMUTABLE STRICT AS 'textin';
CREATE FUNCTION mytext_out(mytext) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'textout';
CREATE TYPE mytext (INPUT = mytext_in, OUTPUT = mytext_out, LIKE = text, COLLATABLE = true);
CREATE TABLE flag (on_ int);
INSERT INTO flag VALUES (1);
CREATE FUNCTION mytext_cmp(a mytext, b mytext) RETURNS int LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.bttextcmp(a::text, b::text) * (1 / (SELECT count(*) FROM public.flag))::int $$;
CREATE FUNCTION mytext_lt(a mytext, b mytext) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT public.mytext_cmp(a, b) < 0 $$;
CREATE FUNCTION mytext_le(a mytext, b mytext) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT public.mytext_cmp(a, b) <= 0 $$;
CREATE FUNCTION mytext_eq(a mytext, b mytext) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT public.mytext_cmp(a, b) = 0 $$;
CREATE FUNCTION mytext_ge(a mytext, b mytext) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT public.mytext_cmp(a, b) >= 0 $$;
CREATE FUNCTION mytext_gt(a mytext, b mytext) RETURNS bool LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT public.mytext_cmp(a, b) > 0 $$;
CREATE OPERATOR < (LEFTARG = mytext, RIGHTARG = mytext, FUNCTION = mytext_lt);
CREATE OPERATOR <= (LEFTARG = mytext, RIGHTARG = mytext, FUNCTION = mytext_le);
CREATE OPERATOR = (LEFTARG = mytext, RIGHTARG = mytext, FUNCTION = mytext_eq);
CREATE OPERATOR >= (LEFTARG = mytext, RIGHTARG = mytext, FUNCTION = mytext_ge);
CREATE OPERATOR > (LEFTARG = mytext, RIGHTARG = mytext, FUNCTION = mytext_gt);
CREATE OPERATOR CLASS mytext_ops DEFAULT FOR TYPE mytext USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 mytext_cmp(mytext, mytext);
CREATE TYPE tagpair AS (tag mytext, n int);
CREATE TYPE plainpair AS (tag text, n int);
CREATE DOMAIN label AS text COLLATE drifty;
CREATE TABLE tagged (k text COLLATE drifty, tags mytext[] COLLATE drifty, tp tagpair, pp plainpair, labels label[], m mytext);
-- Equal k values, so that an index on (k, tp) compares the composites too.
INSERT INTO tagged VALUES
  ('a', ARRAY['b', 'a']::mytext[], ROW('x', 1), ROW('x', 1), ARRAY['b', 'a']::label[], 'x'),
  ('a', ARRAY['a']::mytext[], ROW('y', 2), ROW('y', 2), ARRAY['a']::label[], 'y'),
  ('b', ARRAY['c']::mytext[], ROW('x', 1), ROW('x', 1), ARRAY['c']::label[], 'z');
CREATE INDEX tagged_tags ON tagged (tags);
CREATE INDEX tagged_k_tp ON tagged (k, tp);
-- An expression that reads mytext (its output function, for the cast): heapallindexed evaluates it.
CREATE INDEX tagged_k_mtext ON tagged (k, (m::text));
-- Look-alikes whose every comparison is pg_catalog's: an array of a domain over text, a composite of text,
-- an INCLUDE column of the user's type (stored, never compared).
CREATE INDEX tagged_labels ON tagged (labels);
CREATE INDEX tagged_k_pp ON tagged (k, pp);
CREATE INDEX tagged_k_inc ON tagged (k) INCLUDE (m);
DELETE FROM flag;
${DRIFT('public', 'drifty')};
`;

describe('collation-drift --amcheck: an index whose comparison is not PostgreSQL\'s own', () => {
  const db = useDatabase('collation_drift_user_cmp', { sql: [USER_COMPARISON_FIXTURE] });

  it('bt_index_check on the planted indexes would run the user\'s comparison (the reason they are left alone)', async () => {
    for (const index of ['tagged_tags', 'tagged_k_tp']) {
      await expect(query(db.url, `SELECT bt_index_check('${index}'::regclass, true)`)).rejects.toThrow(/division by zero/);
    }
    expect(await query(db.url, `SELECT bt_index_check('tagged_labels'::regclass, true)`)).toHaveLength(1);
  });

  it('lists them all, verifies only those whose every comparison is pg_catalog\'s, and runs no user code', async () => {
    const report = await run(db.url, { amcheck: true });
    const result = checkResult(report, ID);
    expect([result.status, result.reason, result.objectErrors]).toEqual(['failed', null, undefined]);
    const amcheck = new Map(mine(report).filter((f) => f.object.index !== undefined).map((f) => [f.object.index, [f.severity, f.details?.amcheck]]));
    const foreign = "not checked: its comparison is not PostgreSQL's own: bt_index_check would call that of type public.mytext, operator class public.mytext_ops, code the audit never runs";
    expect(Object.fromEntries(amcheck)).toEqual({
      tagged_tags: ['warning', foreign],
      tagged_k_tp: ['warning', foreign],
      tagged_k_mtext: ['warning', foreign],
      tagged_labels: ['warning', 'passed'],
      tagged_k_pp: ['warning', 'passed'],
      tagged_k_inc: ['warning', 'passed'],
    });
    expect(mine(report).find((f) => f.object.index === 'tagged_tags')?.message).toMatch(/not verified with bt_index_check: its comparison is not PostgreSQL's own/);
    expect(result.note).toMatch(/bt_index_check: 3 in order, 0 corrupt, 3 not checked \(public\.tagged_k_mtext, public\.tagged_k_tp, public\.tagged_tags\)$/);
  });
});

describe('collation-drift: a unique index that let duplicates in', () => {
  // Built under a case-sensitive nondeterministic collation, where 'a' and 'A' differ; under the case-insensitive
  // one it now claims (nondeterministic too, so the index's deduplication flag still holds), they are equal.
  const db = useDatabase('collation_drift_dupes', {
    sql: [
      `CREATE EXTENSION amcheck;
       CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
       CREATE COLLATION cs (provider = icu, locale = 'und', deterministic = false);
       CREATE TABLE t (v text COLLATE cs UNIQUE);
       INSERT INTO t VALUES ('a'), ('A');
       UPDATE pg_catalog.pg_index SET indcollation = (SELECT oid::text FROM pg_catalog.pg_collation WHERE collname = 'ci')::pg_catalog.oidvector
        WHERE indexrelid = 't_v_key'::regclass;`,
      DRIFT('public', 'ci'),
    ],
  });

  it('bt_index_check with checkunique (amcheck 1.4 on) reports the duplicates; an older amcheck passes it and the note says what it did not look for', async () => {
    const checkunique = (await query(db.url, `SELECT 1 FROM pg_proc WHERE proname = 'bt_index_check' AND pronargs = 3`)).length === 1;
    const report = await run(db.url, { amcheck: true });
    const index = mine(report).find((f) => f.object.index === 't_v_key') as Finding;
    if (checkunique) {
      expect(index.severity).toBe('error');
      expect(String(index.details?.amcheckMessage)).toMatch(/uniqueness is violated/);
    } else {
      expect([index.severity, index.details?.amcheck, index.details?.amcheckMessage]).toEqual(['warning', 'passed', undefined]);
      expect(checkResult(report, ID).note).toMatch(/no checkunique: duplicates in unique indexes are not looked for\)$/);
    }
  });

  it('the rebuild fails with 23505 and leaves t_v_key_ccnew, as its decision says', async () => {
    const { repairs } = await runAuditWithRepairs(options(db.url));
    const step = repairs.find((r) => r.finding.object.index === 't_v_key')?.repair.steps[0];
    expect(step?.decision).toMatch(/fails with 23505.*_ccnew/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await expect(client.query(step?.statements?.[0] ?? '')).rejects.toMatchObject({ code: '23505' });
    } finally {
      await client.end();
    }
    expect(await query(db.url, `SELECT relname FROM pg_class WHERE relname LIKE 't_v_key%' ORDER BY 1`)).toEqual([{ relname: 't_v_key' }, { relname: 't_v_key_ccnew' }]);
  });
});

describe('collation-drift: the database default collation (an ICU database)', () => {
  const name = `integrity_t_cd_icu_${process.pid}`;
  let url = '';
  beforeAll(async () => {
    await query(adminUrl(), `DROP DATABASE IF EXISTS "${name}"`);
    await query(adminUrl(), `CREATE DATABASE "${name}" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C'`);
    const u = new URL(adminUrl());
    u.pathname = `/${name}`;
    url = u.toString();
    await runSql(url, [
      `CREATE TABLE "Invoice Line" (id int PRIMARY KEY, email text UNIQUE, code text COLLATE "C");
       CREATE INDEX "Invoice Line code" ON "Invoice Line" (code);
       INSERT INTO "Invoice Line" VALUES (1, 'a@x', 'a'), (2, 'B@x', 'B');`,
      `UPDATE pg_catalog.pg_database SET datcollversion = '0.0' WHERE datname = current_database()`,
    ]);
  });
  afterAll(async () => {
    await dropDatabase(adminUrl(), name);
  });

  it('reports the database and its default-collation indexes, not the "C" one; the refresh clears it and a second run does nothing', async () => {
    const { report, repairs } = await runAuditWithRepairs(options(url));
    expect(mine(report).map(shape)).toEqual([
      { severity: 'warning', object: { schema: 'pg_catalog', table: 'default' }, count: 1 },
      { severity: 'warning', object: { schema: 'public', table: 'Invoice Line', index: 'Invoice Line_email_key', column: 'email', constraint: 'Invoice Line_email_key' }, count: null },
    ]);
    const database = mine(report)[0] as Finding;
    expect(database.details).toMatchObject({ provider: 'i', recorded: '0.0', database: name });
    const steps = repairs.filter((r) => r.finding.checkId === ID).map((r) => [r.repair.order, r.repair.steps[0]?.statements]);
    expect(steps).toEqual([
      [50, ['REINDEX INDEX CONCURRENTLY "public"."Invoice Line_email_key"']],
      [60, [`ALTER DATABASE "${name}" REFRESH COLLATION VERSION`]],
    ]);
    expect(await applyReviewed(url, repairs.filter((r) => r.finding.checkId === ID))).toBe(2);
    expect(mine(await run(url))).toEqual([]);
    expect(await applyReviewed(url, repairs.filter((r) => r.finding.checkId === ID))).toBe(0);
  });
});

/** A database of its own, created with `create` (the clauses after its name), set up with `sql`, dropped after the tests. */
function ownDatabase(label: string, create: string, sql: string[]) {
  const handle = { name: `integrity_t_cd_${label}_${process.pid}`, url: '' };
  beforeAll(async () => {
    await query(adminUrl(), `DROP DATABASE IF EXISTS "${handle.name}"`);
    await query(adminUrl(), `CREATE DATABASE "${handle.name}" ${create}`);
    const u = new URL(adminUrl());
    u.pathname = `/${handle.name}`;
    handle.url = u.toString();
    await runSql(handle.url, sql);
  });
  afterAll(async () => {
    await dropDatabase(adminUrl(), handle.name);
  });
  return handle;
}

/**
 * PostgreSQL offers no statement that leaves a version NULL where the library gives one (CREATE DATABASE
 * records its template's or the library's, COLLATION_VERSION and CREATE COLLATION's version take a string,
 * REFRESH refuses to go to or from NULL), so a test clears it as those who silence the mismatch warning
 * do: a catalog UPDATE, as superuser.
 */
const CLEAR_DATABASE_VERSION = `UPDATE pg_catalog.pg_database SET datcollversion = NULL WHERE datname = current_database()`;

describe('collation-drift: an ICU database with no recorded version', () => {
  const db = ownDatabase('icu_unrecorded', `TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C'`, [
    `CREATE EXTENSION amcheck;
     CREATE TABLE "Invoice Line" (id int PRIMARY KEY, email text UNIQUE, first text, last text, code text COLLATE "C");
     CREATE INDEX "Invoice Line name" ON "Invoice Line" (first, last);
     CREATE INDEX "Invoice Line code" ON "Invoice Line" (code);
     INSERT INTO "Invoice Line" VALUES (1, 'a@x', 'Ann', 'b', 'a'), (2, 'B@x', 'bob', 'A', 'B');
     CREATE TABLE events (k text, n int) PARTITION BY RANGE (k);
     CREATE TABLE events_a PARTITION OF events FOR VALUES FROM ('a') TO ('m');
     CREATE TABLE events_m PARTITION OF events FOR VALUES FROM ('m') TO ('zzz');
     CREATE INDEX events_k ON events (k);
     INSERT INTO events VALUES ('b', 1), ('q', 2);
     -- Built in "C" order ('B' before 'a'), then told it sorts by the database's ICU order ('a' before 'B'): out of order.
     CREATE TABLE "Corrupt Tab" (v text COLLATE "C");
     INSERT INTO "Corrupt Tab" SELECT x FROM unnest(ARRAY['a', 'B', 'c', 'D', 'e', 'F']) AS x;
     CREATE INDEX "idx corrupt" ON "Corrupt Tab" (v);
     UPDATE pg_catalog.pg_index SET indcollation = '100'::pg_catalog.oidvector WHERE indexrelid = '"idx corrupt"'::regclass;`,
    CLEAR_DATABASE_VERSION,
  ]);
  const indexes = ['Invoice Line_email_key', 'Invoice Line name', 'events_a_k_idx', 'events_m_k_idx', 'idx corrupt'];

  it('warns: the database (no version recorded, nothing said either way), each index on its default collation, the range key; no error', async () => {
    const report = await run(db.url);
    const byObject = mine(report).map(shape).sort((a, b) => (a.object.index ?? a.object.table).localeCompare(b.object.index ?? b.object.table));
    expect(byObject).toEqual(
      [
        { severity: 'warning', object: { schema: 'pg_catalog', table: 'default' }, count: 5 },
        { severity: 'warning', object: { schema: 'public', table: 'events', column: 'k' }, count: null },
        { severity: 'warning', object: { schema: 'public', table: 'Invoice Line', index: 'Invoice Line_email_key', column: 'email', constraint: 'Invoice Line_email_key' }, count: null },
        { severity: 'warning', object: { schema: 'public', table: 'Invoice Line', index: 'Invoice Line name', columns: ['first', 'last'] }, count: null },
        { severity: 'warning', object: { schema: 'public', table: 'events_a', index: 'events_a_k_idx', column: 'k' }, count: null },
        { severity: 'warning', object: { schema: 'public', table: 'events_m', index: 'events_m_k_idx', column: 'k' }, count: null },
        { severity: 'warning', object: { schema: 'public', table: 'Corrupt Tab', index: 'idx corrupt', column: 'v' }, count: null },
      ].sort((a, b) => (a.object.index ?? a.object.table).localeCompare(b.object.index ?? b.object.table)),
    );
    const database = mine(report).find((f) => f.object.table === 'default') as Finding;
    expect(database.message).toMatch(/^database integrity_t_cd_icu_unrecorded_\d+'s default collation \(ICU\) has no recorded version \(pg_database\.datcollversion is NULL\) while the library gives "[^"]+": PostgreSQL compares nothing and never warns/);
    expect(database.message).toMatch(/--amcheck verifies the indexes with bt_index_check; then record the version/);
    expect(database.details).toMatchObject({ provider: 'i', recorded: null, database: db.name, indexes: expect.arrayContaining(indexes.map((i) => `public.${/^[a-z_]+$/.test(i) ? i : `"${i}"`}`)) });
    const email = mine(report).find((f) => f.object.index === 'Invoice Line_email_key') as Finding;
    expect(email.message).toMatch(/under the database's default collation, which has no recorded version: whether the library changed since the index was built cannot be told .*; if it did, it may be out of order, so lookups can miss rows and it can let duplicates in .*; --amcheck verifies it$/);
    expect(email.details?.collations).toEqual([{ schema: 'pg_catalog', name: 'default', recorded: null, actual: expect.any(String), unrecorded: true }]);
    const events = mine(report).find((f) => f.object.table === 'events') as Finding;
    expect(events.message).toMatch(/which has no recorded version: whether the library changed since its rows were routed cannot be told/);
    expect(checkResult(report, ID).note).toMatch(/^1 with no recorded version \(the library gives one\): the database default; 5 btree index\(es\) of the audited schemas on them; --amcheck would verify/);
  });

  it('--amcheck: the misordered index is an error (evidence), the ones in order are info with nothing to rebuild, the database stays a warning', async () => {
    const report = await run(db.url, { amcheck: true });
    const found = new Map(mine(report).map((f) => [f.object.index ?? f.object.table, f]));
    expect(Object.fromEntries([...found].map(([k, f]) => [k, [f.severity, f.details?.amcheck ?? null, f.fix === null]]))).toEqual({
      default: ['warning', null, false],
      events: ['warning', null, true],
      'Invoice Line_email_key': ['info', 'passed', true],
      'Invoice Line name': ['info', 'passed', true],
      events_a_k_idx: ['info', 'passed', true],
      events_m_k_idx: ['info', 'passed', true],
      'idx corrupt': ['error', 'corrupt', false],
    });
    expect(found.get('Invoice Line name')?.message).toMatch(/bt_index_check found it in order under the library's current order: nothing to rebuild \(record the version: see the database's finding\)$/);
    expect(String(found.get('idx corrupt')?.details?.amcheckMessage)).toMatch(/item order invariant violated/);
    expect(found.get('default')?.details?.verifiedInOrder).toBe(4);
    expect(found.get('default')?.message).toMatch(/bt_index_check found 4 of the 5 in order under the library's current order \(the others are listed/);
    expect(checkResult(report, ID).note).toMatch(/bt_index_check: 4 in order, 1 corrupt( \(this amcheck has no checkunique: [^)]*\))?$/);
  });

  it('repairs: rebuilds (review: nothing says they are out of order), then the first recorded version (a catalog UPDATE: REFRESH refuses); applied, nothing is left, twice changes nothing', async () => {
    await expect(query(db.url, `ALTER DATABASE "${db.name}" REFRESH COLLATION VERSION`)).rejects.toThrow(/invalid collation version change/);
    const { repairs } = await runAuditWithRepairs(options(db.url));
    const ours = repairs.filter((r) => r.finding.checkId === ID);
    for (const r of ours) expect(repairSafety(r.repair)).toBe('review');
    const orders = ours.map((r) => r.repair.order);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    const steps = ours.map((r) => [r.repair.order, r.finding.object.index ?? r.finding.object.table, r.repair.steps.map((s) => s.phase)]);
    expect(steps.sort()).toEqual([...indexes.map((i) => [50, i, ['concurrent']]), [60, 'default', ['concurrent']]].sort());
    const rebuild = ours.find((r) => r.finding.object.index === 'Invoice Line_email_key')?.repair.steps[0];
    expect(rebuild?.statements).toEqual(['REINDEX INDEX CONCURRENTLY "public"."Invoice Line_email_key"']);
    expect(rebuild?.decision).toMatch(/^nothing says it is out of order \(no version was recorded, see the collation's finding\): --amcheck verifies it/);
    const record = ours.find((r) => r.finding.object.table === 'default')?.repair.steps[0];
    expect(record?.statements).toEqual([
      `UPDATE pg_catalog.pg_database SET datcollversion = pg_catalog.pg_database_collation_actual_version(oid)\n WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database() AND datcollversion IS NULL`,
    ]);
    expect(record?.decision).toMatch(/only once every index listed under it was found in order by bt_index_check \(--amcheck\) or rebuilt above.*"invalid collation version change".*needs a superuser.*Range-partitioned public\.events/);

    expect(await applyReviewed(db.url, ours)).toBe(6);
    const [version] = await query<{ recorded: string | null; actual: string | null }>(
      db.url,
      `SELECT datcollversion AS recorded, pg_database_collation_actual_version(oid) AS actual FROM pg_database WHERE datname = current_database()`,
    );
    expect(version?.recorded).not.toBeNull();
    expect(version?.recorded).toBe(version?.actual);
    const after = await run(db.url, { amcheck: true });
    expect(mine(after)).toEqual([]);
    expect(checkResult(after, ID).status).toBe('passed');
    expect(await applyReviewed(db.url, ours)).toBe(0);
  });
});

describe('collation-drift: an ICU collation with no recorded version', () => {
  const db = useDatabase('collation_drift_unrecorded', {
    sql: [
      `CREATE COLLATION "Un Versioned" (provider = icu, locale = 'und');
       CREATE COLLATION steady (provider = icu, locale = 'und');
       -- Copied from "C": no version, and the library gives none for it either.
       CREATE COLLATION my_c FROM "C";
       CREATE TABLE t (v text COLLATE "Un Versioned" UNIQUE, w text COLLATE steady, c text COLLATE my_c);
       CREATE INDEX t_w ON t (w);
       CREATE INDEX t_c ON t (c);
       INSERT INTO t VALUES ('a', 'a', 'a'), ('B', 'B', 'B');`,
      // See CLEAR_DATABASE_VERSION: CREATE COLLATION ... (version = '') records '', a version that differs.
      `UPDATE pg_catalog.pg_collation SET collversion = NULL WHERE collname = 'Un Versioned'`,
    ],
  });

  it('warns on the collation and its index only; the steady one and the one copied from "C" stay silent', async () => {
    const report = await run(db.url);
    expect(mine(report).map(shape)).toEqual([
      { severity: 'warning', object: { schema: 'public', table: 't', index: 't_v_key', column: 'v', constraint: 't_v_key' }, count: null },
      { severity: 'warning', object: { schema: 'public', table: 'Un Versioned' }, count: 1 },
    ]);
    const collation = mine(report)[1] as Finding;
    expect(collation.message).toMatch(/^collation public\."Un Versioned" has no recorded version \(pg_collation\.collversion is NULL\) while the library gives/);
    expect(checkResult(report, ID).note).toMatch(/^1 with no recorded version \(the library gives one\): public\."Un Versioned"; 1 btree index/);
  });

  it('fix --verify rolls the first recorded version back; applied, the repairs clear it and a second run changes nothing', async () => {
    await expect(query(db.url, `ALTER COLLATION "Un Versioned" REFRESH VERSION`)).rejects.toThrow(/invalid collation version change/);
    const version = async () => (await query<{ v: string | null }>(db.url, `SELECT collversion AS v FROM pg_collation WHERE collname = 'Un Versioned'`))[0]?.v;
    const result = await verifyRepairs(options(db.url));
    expect(result.lines.filter((l) => l.checkId === ID).map((l) => l.status)).toEqual(['review only', 'review only']);
    const { repairs } = await runAuditWithRepairs(options(db.url));
    const ours = repairs.filter((r) => r.finding.checkId === ID);
    expect(ours.map((r) => r.repair.steps[0]?.statements)).toEqual([
      ['REINDEX INDEX CONCURRENTLY "public"."t_v_key"'],
      [
        `UPDATE pg_catalog.pg_collation SET collversion = pg_catalog.pg_collation_actual_version(oid)\n WHERE collnamespace OPERATOR(pg_catalog.=) (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) E'public')\n   AND collname OPERATOR(pg_catalog.=) E'Un Versioned' AND collversion IS NULL`,
      ],
    ]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      for (const r of ours) for (const s of r.repair.steps) for (const sql of s.verifyStatements ?? []) await client.query(sql);
      expect((await client.query(`SELECT collversion AS v FROM pg_collation WHERE collname = 'Un Versioned'`)).rows[0]?.v).not.toBeNull();
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
    expect(await version()).toBeNull();
    expect(await applyReviewed(db.url, ours)).toBe(2);
    expect(await version()).not.toBeNull();
    expect(mine(await run(db.url))).toEqual([]);
    expect(await applyReviewed(db.url, ours)).toBe(0);
  });
});

describe('collation-drift: no recorded version where none is due stays silent', () => {
  const libc = ownDatabase('libc_c', `TEMPLATE template0 LOCALE 'C'`, [`CREATE TABLE t (v text UNIQUE); INSERT INTO t VALUES ('a'), ('B');`, CLEAR_DATABASE_VERSION]);

  it('a libc "C" database: its library gives no version, nothing to compare, nothing reported', async () => {
    expect(await query(libc.url, `SELECT datcollversion AS recorded, pg_database_collation_actual_version(oid) AS actual FROM pg_database WHERE datname = current_database()`)).toEqual([
      { recorded: null, actual: null },
    ]);
    const report = await run(libc.url, { amcheck: true });
    expect(mine(report)).toEqual([]);
    expect(checkResult(report, ID).note).toMatch(/versions unchanged/);
  });

  it('a builtin-provider database (PostgreSQL 17 on) with its version cleared: its order is PostgreSQL\'s own and never changes', async (t) => {
    const [server] = await query<{ v: number }>(adminUrl(), `SELECT current_setting('server_version_num')::int AS v`);
    if ((server?.v ?? 0) < 170000) return t.skip();
    const name = `integrity_t_cd_builtin_${process.pid}`;
    await query(adminUrl(), `DROP DATABASE IF EXISTS "${name}"`);
    await query(adminUrl(), `CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8' LOCALE 'C'`);
    try {
      const u = new URL(adminUrl());
      u.pathname = `/${name}`;
      await runSql(u.toString(), [`CREATE TABLE t (v text UNIQUE); INSERT INTO t VALUES ('a'), ('B');`, CLEAR_DATABASE_VERSION]);
      const [version] = await query<{ recorded: string | null; actual: string | null }>(
        u.toString(),
        `SELECT datcollversion AS recorded, pg_database_collation_actual_version(oid) AS actual FROM pg_database WHERE datname = current_database()`,
      );
      // The provider does give a version ("1"): what keeps it silent is that builtin's order cannot change.
      expect([version?.recorded, version?.actual]).toEqual([null, '1']);
      const report = await run(u.toString());
      expect(mine(report)).toEqual([]);
      expect(checkResult(report, ID).note).toMatch(/versions unchanged/);
    } finally {
      await dropDatabase(adminUrl(), name);
    }
  });
});

/** The script with its review blocks uncommented, as a person who accepted every decision would run it. */
function acceptAll(script: string): string {
  const out: string[] = [];
  let uncomment = false;
  for (const line of script.split('\n')) {
    if (line === '') uncomment = false;
    out.push(uncomment ? line.replace(/^-- ?/, '') : line);
    if (line === '-- Uncomment to run:') uncomment = true;
  }
  return out.join('\n');
}

function psqlFile(url: string, file: string): { code: number; stderr: string } {
  try {
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, url], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stderr?: string };
    return { code: e.status ?? 1, stderr: String(e.stderr ?? '') };
  }
}

describe('collation-drift: the fix script under psql, hostile names', () => {
  const db = useDatabase('collation_drift_script', {
    sql: [
      `CREATE SCHEMA "Billing Dept";
       CREATE COLLATION "Billing Dept"."Dr""ifty
coll" (provider = icu, locale = 'und');
       CREATE TABLE "Billing Dept"."Invoice Line" (id int PRIMARY KEY, "co""de" text COLLATE "Billing Dept"."Dr""ifty
coll" UNIQUE);
       CREATE INDEX "idx */ ; quote""s
nl" ON "Billing Dept"."Invoice Line" ("co""de" DESC);
       INSERT INTO "Billing Dept"."Invoice Line" VALUES (1, 'a'), (2, 'B');`,
      `UPDATE pg_catalog.pg_collation SET collversion = '0.0' WHERE collname = E'Dr"ifty\ncoll'`,
    ],
  });

  it('review blocks are commented out; accepted, they run under psql, clear every finding, and a second run changes nothing', async () => {
    const before = await run(db.url);
    expect(mine(before).map((f) => f.object.index ?? f.object.table).sort()).toEqual(['Dr"ifty\ncoll', 'Invoice Line_co"de_key', 'idx */ ; quote"s\nnl']);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-cd-'));
    const file = path.join(dir, 'fix.sql');
    const generated = await runCli(['fix', '-d', db.url, '--check', ID, '--output', file]);
    expect(generated.code).toBe(0);
    const script = readFileSync(file, 'utf8');
    // As generated, nothing runs: every step is review.
    expect(script.split('\n').filter((l) => /REINDEX|REFRESH/.test(l) && !l.startsWith('--'))).toEqual([]);
    expect(psqlFile(db.url, file)).toEqual({ code: 0, stderr: '' });
    expect(mine(await run(db.url))).toHaveLength(3);
    const accepted = path.join(dir, 'accepted.sql');
    writeFileSync(accepted, acceptAll(script));
    expect(readFileSync(accepted, 'utf8')).toMatch(/^REINDEX INDEX CONCURRENTLY "Billing Dept"\.U&"idx \*\/ ; quote""s\\000anl";$/m);
    expect(psqlFile(db.url, accepted)).toEqual({ code: 0, stderr: '' });
    const after = await run(db.url);
    expect(mine(after)).toEqual([]);
    expect(checkResult(after, ID).status).toBe('passed');
    expect(await query(db.url, `SELECT id, "co""de" AS code FROM "Billing Dept"."Invoice Line" ORDER BY id`)).toEqual([{ id: 1, code: 'a' }, { id: 2, code: 'B' }]);
    // Again: every guard is false, so nothing is rebuilt (the index keeps its file).
    const file0 = await query(db.url, `SELECT relfilenode FROM pg_class WHERE relname = E'idx */ ; quote"s\\nnl'`);
    expect(file0).toHaveLength(1);
    expect(psqlFile(db.url, accepted)).toEqual({ code: 0, stderr: '' });
    expect(await query(db.url, `SELECT relfilenode FROM pg_class WHERE relname = E'idx */ ; quote"s\\nnl'`)).toEqual(file0);
  });
});

describe('collation-drift: pagila (a real schema)', () => {
  const read = (file: string) => readFileSync(path.join(REAL, file), 'utf8');
  const db = useDatabase('collation_drift_pagila', { sql: [read('pagila-schema.sql'), read('pagila-sample-data.sql')] });

  it('reports nothing, with --amcheck too', async () => {
    const report = await run(db.url, { amcheck: true });
    expect(mine(report)).toEqual([]);
    expect(checkResult(report, ID).status).toBe('passed');
  });

  it('after an ICU collation used by no pagila index drifts: still nothing', async () => {
    await query(db.url, DRIFT('pg_catalog', 'und-x-icu'));
    const report = await run(db.url);
    expect(mine(report)).toEqual([]);
    expect(checkResult(report, ID).status).toBe('passed');
  });
});

describe('collation-drift before PostgreSQL 15', () => {
  it('skips, saying why and how to make it run', async () => {
    const catalog = { serverVersionNum: 140012, serverVersion: '14.12', schemas: ['public'] } as unknown as Catalog;
    const ctx = {
      catalog,
      options: { amcheckBudgetMs: 1000 },
      amcheck: false,
      db: { query: () => Promise.reject(new Error('the check must not query on PostgreSQL 14')) },
      skip: (reason: string) => {
        throw new CheckSkipped(reason);
      },
    } as unknown as CheckContext<{ amcheckBudgetMs: number }>;
    await expect(check.run(ctx)).rejects.toThrow(/needs PostgreSQL 15 or later, .* this server is 14\.12: run the audit against PostgreSQL 15 or later/);
  });
});
