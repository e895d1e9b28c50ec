import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { audit, checkResult, summarize, useDatabase } from '../helpers/db.js';

const SCHEMA = `
  CREATE SCHEMA "Billing Dept";
  CREATE TABLE "Billing Dept"."Invoice Line" ("Line Id" int PRIMARY KEY, "Amount Cents" bigint, "Refunded Cents" bigint);
  INSERT INTO "Billing Dept"."Invoice Line" VALUES (1, 100, NULL), (2, -5, NULL), (3, NULL, NULL), (4, 50, 80), (5, -1, 0), (6, 10, 10);

  CREATE TABLE logs (msg text, level int);
  INSERT INTO logs VALUES ('ok', 3), ('bad', 9), ('unknown', NULL);

  CREATE TABLE readings (id int, site text, val numeric, PRIMARY KEY (id, site)) PARTITION BY LIST (site);
  CREATE TABLE readings_a PARTITION OF readings FOR VALUES IN ('a');
  CREATE TABLE readings_b PARTITION OF readings FOR VALUES IN ('b');
  INSERT INTO readings VALUES (1, 'a', 1), (2, 'b', -1), (3, 'b', 2);

  CREATE TABLE periods (id int PRIMARY KEY, starts date, ends date);
  CREATE TABLE old_periods () INHERITS (periods);
  INSERT INTO periods VALUES (1, '2024-01-01', '2024-02-01'), (2, '2024-03-01', '2024-02-01');
  INSERT INTO old_periods VALUES (3, '2020-05-01', '2020-01-01');

  CREATE TABLE seats (id int PRIMARY KEY, taken int, capacity int);
  INSERT INTO seats VALUES (1, 3, 2), (2, 1, 2);
  ALTER TABLE seats ADD CONSTRAINT seats_within_capacity CHECK (taken <= capacity) NOT VALID;
`;

const NONNEG = { name: 'line amount non-negative', schema: 'Billing Dept', table: 'Invoice Line', condition: '"Amount Cents" >= 0' };
const REFUND = {
  name: 'refund within amount',
  schema: 'Billing Dept',
  table: 'Invoice Line',
  condition: '"Refunded Cents" <= "Amount Cents"',
  where: '"Refunded Cents" IS NOT NULL',
};
const config = (...rules: unknown[]) => ({ checks: { 'row-condition': { rules } } });

/** Runs `work` in a transaction on the fixture that is always rolled back: what PostgreSQL says is the verdict. */
async function inTransaction<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    return await work(client);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
  }
}

/** The SQLSTATE a statement fails with inside a savepoint, or 'ok'. */
async function outcome(client: pg.Client, sql: string): Promise<string> {
  await client.query('SAVEPOINT s');
  try {
    await client.query(sql);
    await client.query('RELEASE SAVEPOINT s');
    return 'ok';
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT s');
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('row-condition', () => {
  const db = useDatabase('row_condition', { sql: [SCHEMA] });

  it('skips, saying how to configure it, when no rule is configured', async () => {
    const result = checkResult(await audit(db.url, { checks: ['row-condition'] }), 'row-condition');
    expect(result.status).toBe('skipped');
    expect(result.reason).toBe('no rules configured: add checks.row-condition.rules to the config file (see integrity explain row-condition)');
  });

  it.each([
    ['quoted names; a row where the condition is NULL passes (CHECK semantics)', NONNEG, { schema: 'Billing Dept', table: 'Invoice Line' }, 2, ['2', '5']],
    ['a where filter: rows where it is not true are not checked', REFUND, { schema: 'Billing Dept', table: 'Invoice Line' }, 2, ['4', '5']],
    ['no primary key: samples are ctids', { name: 'level in range', table: 'logs', condition: 'level BETWEEN 0 AND 7' }, { schema: 'public', table: 'logs' }, 1, ['(0,2)']],
    ['a partitioned table, read whole', { name: 'val positive', table: 'readings', condition: 'val > 0' }, { schema: 'public', table: 'readings' }, 1, ['[2, "b"]']],
    ["an inheritance parent: its own rows only, not old_periods'", { name: 'period ordered', table: 'periods', condition: 'ends > starts' }, { schema: 'public', table: 'periods' }, 1, ['2']],
  ])('%s', async (_name, rule, object, count, samples) => {
    const report = await audit(db.url, { checks: ['row-condition'], config: config(rule) });
    expect(checkResult(report, 'row-condition').status).toBe('failed');
    expect(summarize(report)).toEqual([{ checkId: 'row-condition', severity: 'error', object, count, samples }]);
  });

  it('one finding per failing rule, told apart by name; a passing rule adds none', async () => {
    const report = await audit(db.url, {
      checks: ['row-condition'],
      config: config(NONNEG, REFUND, { name: 'ids positive', schema: 'Billing Dept', table: 'Invoice Line', condition: '"Line Id" > 0' }),
    });
    expect(report.findings.map((f) => [f.details?.rule, f.count]).sort()).toEqual([
      ['line amount non-negative', 2],
      ['refund within amount', 2],
    ]);
    expect(new Set(report.findings.map((f) => f.fingerprint)).size).toBe(2);
    expect(checkResult(report, 'row-condition').note).toBe('checked 3 of 3 rules');
  });

  it('offers the condition as a CHECK constraint added NOT VALID, for review; PostgreSQL accepts it, and VALIDATE fails until the rows are fixed', async () => {
    const report = await audit(db.url, { checks: ['row-condition'], config: config(NONNEG, REFUND) });
    const byRule = (name: string) => report.findings.find((f) => f.details?.rule === name);
    const [nonneg, refund] = [byRule(NONNEG.name), byRule(REFUND.name)];
    expect(nonneg?.fix?.safety).toBe('review');
    expect(nonneg?.fix?.steps.map((s) => [s.safety, s.sql])).toEqual([
      ['review', 'ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT "line amount non-negative" CHECK (("Amount Cents" >= 0)) NOT VALID;'],
      ['review', 'ALTER TABLE "Billing Dept"."Invoice Line" VALIDATE CONSTRAINT "line amount non-negative";'],
    ]);
    expect(refund?.fix?.steps.map((s) => s.sql)).toEqual([
      'ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT "refund within amount" CHECK (NOT (("Refunded Cents" IS NOT NULL)) OR ("Refunded Cents" <= "Amount Cents")) NOT VALID;',
      'ALTER TABLE "Billing Dept"."Invoice Line" VALIDATE CONSTRAINT "refund within amount";',
    ]);
    // Review steps are commented out in the script: nothing runs unless a person uncomments it.
    expect(nonneg?.fix?.sql.split('\n').filter((l) => l.includes('ALTER TABLE')).every((l) => l.startsWith('-- '))).toBe(true);

    const [add, validate] = (nonneg?.fix?.steps ?? []).map((s) => s.sql) as [string, string];
    const [addRefund, validateRefund] = (refund?.fix?.steps ?? []).map((s) => s.sql) as [string, string];
    await inTransaction(db.url, async (client) => {
      expect(await outcome(client, add)).toBe('ok');
      expect(await outcome(client, addRefund)).toBe('ok');
      // New rows are checked at once; the existing ones only by VALIDATE, which fails while any breaks it.
      expect(await outcome(client, `INSERT INTO "Billing Dept"."Invoice Line" VALUES (7, -3, NULL)`)).toBe('23514');
      expect(await outcome(client, `INSERT INTO "Billing Dept"."Invoice Line" VALUES (7, NULL, NULL)`)).toBe('ok');
      expect(await outcome(client, validate)).toBe('23514');
      expect(await outcome(client, validateRefund)).toBe('23514');
      await client.query(`UPDATE "Billing Dept"."Invoice Line" SET "Amount Cents" = 0 WHERE "Amount Cents" < 0`);
      expect(await outcome(client, validate)).toBe('ok');
      expect(await outcome(client, validateRefund)).toBe('23514');
      await client.query(`UPDATE "Billing Dept"."Invoice Line" SET "Refunded Cents" = "Amount Cents" WHERE "Refunded Cents" > "Amount Cents"`);
      expect(await outcome(client, validateRefund)).toBe('ok');
      const { rows } = await client.query<{ conname: string; convalidated: boolean }>(
        `SELECT conname, convalidated FROM pg_constraint WHERE conrelid = '"Billing Dept"."Invoice Line"'::regclass AND contype = 'c' ORDER BY conname`,
      );
      expect(rows).toEqual([
        { conname: 'line amount non-negative', convalidated: true },
        { conname: 'refund within amount', convalidated: true },
      ]);
    });

    // The audit after the repair: what the transaction did was rolled back, the findings still stand.
    expect((await audit(db.url, { checks: ['row-condition'], config: config(NONNEG) })).findings.map((f) => f.count)).toEqual([2]);
  });

  it('a constraint of that name already there (NOT VALID) is only validated; a subquery gets no repair', async () => {
    const report = await audit(db.url, {
      checks: ['row-condition'],
      config: config(
        { name: 'seats_within_capacity', table: 'seats', condition: 'taken <= capacity' },
        { name: 'seat has a reading', table: 'seats', condition: 'EXISTS (SELECT 1 FROM public.readings r WHERE r.id = seats.id AND r.val > 0)' },
      ),
    });
    expect(report.findings.map((f) => [f.details?.rule, f.count, f.samples, f.fix?.steps.map((s) => s.sql) ?? null]).sort()).toEqual([
      ['seat has a reading', 1, ['2'], null],
      ['seats_within_capacity', 1, ['1'], ['ALTER TABLE "public"."seats" VALIDATE CONSTRAINT "seats_within_capacity";']],
    ]);
  });

  it('a rule that cannot be checked costs that rule only: missing table, hostile or invalid condition', async () => {
    const report = await audit(db.url, {
      checks: ['row-condition'],
      config: config(
        { name: 'missing', schema: 'nowhere', table: 'x', condition: 'true' },
        { name: 'statements', table: 'logs', condition: `true); DROP TABLE logs; --` },
        { name: 'precedence', table: 'logs', condition: `false) OR (true` },
        { name: 'clause', table: 'logs', condition: `true GROUP BY 1` },
        { name: 'not sql', table: 'logs', condition: `level >>>= 'a` },
        { name: 'no such column', table: 'logs', condition: `severity > 0` },
        NONNEG,
      ),
    });
    const result = checkResult(report, 'row-condition');
    expect(result.status).toBe('error');
    expect(result.objectErrors?.map((e) => [e.object, e.reason.replace(/: [^:]*$/, (m) => (m.includes('[') ? ` ${m.match(/\[(\w{5})\]$/)?.[1]}` : m))])).toEqual([
      ['nowhere.x (rule "missing")', 'rule "missing": table: schema nowhere is not audited (see --schema); the audited schemas are Billing Dept, public'],
      ['logs (rule "statements")', 'rule "statements": condition must be one expression, not statements: it holds a ";"'],
      ['logs (rule "precedence")', 'rule "precedence": condition must be one expression: it closes a parenthesis it did not open'],
      ['logs (rule "clause")', 'rule "clause": condition is not a valid SQL expression: syntax error at or near "GROUP"'],
      ['logs (rule "not sql")', 'rule "not sql": condition is not valid SQL: unterminated quoted string at or near "\'a)"'],
      ['public.logs (rule "no such column")', expect.stringMatching(/column "severity" does not exist/)],
    ]);
    expect(summarize(report).map((f) => [f.object.table, f.count])).toEqual([['Invoice Line', 2]]);
    expect((await inTransaction(db.url, (c) => c.query(`SELECT count(*)::int AS n FROM logs`))).rows).toEqual([{ n: 3 }]);
  });

  it('refuses a rule name that cannot be a constraint name, and two rules with one name', async () => {
    await expect(audit(db.url, { checks: ['row-condition'], config: config({ ...NONNEG, name: 'x'.repeat(64) }) })).rejects.toThrow(/at most 63 bytes/);
    await expect(audit(db.url, { checks: ['row-condition'], config: config(NONNEG, { ...NONNEG, condition: 'true' }) })).rejects.toThrow(/two rules have the same name/);
  });
});
