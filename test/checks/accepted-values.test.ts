import { afterAll, describe, expect, it } from 'vitest';
import { adminUrl, audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

const SCHEMA = `
  CREATE SCHEMA "Billing Dept";
  CREATE TABLE "Billing Dept"."Invoice Line" ("Line Id" int PRIMARY KEY, "Line Status" text, "Kind" text NOT NULL);
  INSERT INTO "Billing Dept"."Invoice Line" VALUES
    (1, 'open', 'goods'), (2, 'open', 'goods'), (3, 'paid', 'goods'),
    (4, 'canceled', 'goods'), (5, 'canceled', 'service'), (6, 'canceled', 'goods'),
    (7, 'Paid', 'service'), (8, NULL, 'goods'), (9, NULL, 'service'), (10, 'void', 'goods');

  CREATE TYPE mood AS ENUM ('happy', 'sad', 'meh');
  CREATE TABLE people (id int PRIMARY KEY, mood mood);
  INSERT INTO people VALUES (1, 'happy'), (2, 'meh'), (3, 'meh'), (4, NULL);

  CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
  CREATE TABLE tickets (id int PRIMARY KEY, state text COLLATE case_blind);
  INSERT INTO tickets VALUES (1, 'open'), (2, 'OPEN'), (3, 'closed');

  CREATE TABLE events (id int PRIMARY KEY, kind text);
  CREATE TABLE archived_events () INHERITS (events);
  INSERT INTO events VALUES (1, 'click'), (2, 'view'), (3, 'scroll');
  INSERT INTO archived_events VALUES (4, 'legacy'), (5, 'legacy');

  CREATE TABLE readings (id int, site text, unit text, PRIMARY KEY (id, site)) PARTITION BY LIST (site);
  CREATE TABLE readings_a PARTITION OF readings FOR VALUES IN ('a');
  CREATE TABLE readings_b PARTITION OF readings FOR VALUES IN ('b');
  INSERT INTO readings VALUES (1, 'a', 'kg'), (2, 'a', 'lb'), (3, 'b', 'lb'), (4, 'b', 'g');

  CREATE TABLE secret_note (id int PRIMARY KEY, tag text);
  INSERT INTO secret_note VALUES (1, 'x');
  ALTER TABLE secret_note ENABLE ROW LEVEL SECURITY;
  ALTER TABLE secret_note FORCE ROW LEVEL SECURITY;
`;

const STATUS = { name: 'line status', schema: 'Billing Dept', table: 'Invoice Line', column: 'Line Status', values: ['open', 'paid', 'cancelled'] };
const config = (rules: unknown[], extra: Record<string, unknown> = {}) => ({ ...extra, checks: { 'accepted-values': { rules } } });

describe('accepted-values', () => {
  const db = useDatabase('accepted_values', { sql: [SCHEMA] });

  it('skips, saying how to configure it, when no rule is configured', async () => {
    const result = checkResult(await audit(db.url, { checks: ['accepted-values'] }), 'accepted-values');
    expect(result.status).toBe('skipped');
    expect(result.reason).toBe('no rules configured: add checks.accepted-values.rules to the config file (see integrity explain accepted-values)');
  });

  it.each([
    [
      'quoted names; NULL is not a violation; most frequent first',
      STATUS,
      { schema: 'Billing Dept', table: 'Invoice Line', column: 'Line Status' },
      5,
      ['canceled', 'Paid', 'void'],
      [{ value: 'canceled', count: 3 }, { value: 'Paid', count: 1 }, { value: 'void', count: 1 }],
    ],
    [
      'caseSensitive: false',
      { ...STATUS, caseSensitive: false },
      { schema: 'Billing Dept', table: 'Invoice Line', column: 'Line Status' },
      4,
      ['canceled', 'void'],
      [{ value: 'canceled', count: 3 }, { value: 'void', count: 1 }],
    ],
    [
      'a where filter',
      { ...STATUS, where: `"Kind" = 'service'` },
      { schema: 'Billing Dept', table: 'Invoice Line', column: 'Line Status' },
      2,
      ['Paid', 'canceled'],
      [{ value: 'Paid', count: 1 }, { value: 'canceled', count: 1 }],
    ],
    ['an enum column, compared as text', { table: 'people', column: 'mood', values: ['happy', 'sad'] }, { schema: 'public', table: 'people', column: 'mood' }, 2, ['meh'], [{ value: 'meh', count: 2 }]],
    [
      "a case-insensitive collation does not accept 'OPEN' for 'open'",
      { table: 'tickets', column: 'state', values: ['open', 'closed'] },
      { schema: 'public', table: 'tickets', column: 'state' },
      1,
      ['OPEN'],
      [{ value: 'OPEN', count: 1 }],
    ],
    [
      "an inheritance parent: its own rows only, not archived_events'",
      { table: 'events', column: 'kind', values: ['click', 'view'] },
      { schema: 'public', table: 'events', column: 'kind' },
      1,
      ['scroll'],
      [{ value: 'scroll', count: 1 }],
    ],
    [
      'a partitioned table, read whole',
      { table: 'readings', column: 'unit', values: ['kg', 'g'] },
      { schema: 'public', table: 'readings', column: 'unit' },
      2,
      ['lb'],
      [{ value: 'lb', count: 2 }],
    ],
  ])('%s', async (_name, rule, object, count, samples, unexpected) => {
    const report = await audit(db.url, { checks: ['accepted-values'], config: config([rule]) });
    expect(checkResult(report, 'accepted-values').status).toBe('failed');
    expect(summarize(report)).toEqual([{ checkId: 'accepted-values', severity: 'error', object, count, samples }]);
    expect(report.findings[0]?.details).toMatchObject({ distinctValues: unexpected.length, unexpected });
  });

  it('passes when every value is accepted, and keeps its fingerprint when a value is added to the set', async () => {
    const passing = await audit(db.url, { checks: ['accepted-values'], config: config([{ ...STATUS, values: ['open', 'paid', 'canceled', 'Paid', 'void'] }]) });
    expect(checkResult(passing, 'accepted-values').status).toBe('passed');
    const a = await audit(db.url, { checks: ['accepted-values'], config: config([STATUS]) });
    const b = await audit(db.url, { checks: ['accepted-values'], config: config([{ table: 'people', column: 'mood', values: ['happy'] }, { ...STATUS, values: [...STATUS.values, 'void'] }]) });
    expect(b.findings.find((f) => f.object.table === 'Invoice Line')?.fingerprint).toBe(a.findings[0]?.fingerprint);
  });

  it('counts only, no value, under --samples 0 and samples.exclude', async () => {
    for (const extra of [{ sampleSize: 0 }, { samples: { exclude: ['Billing Dept.Invoice Line.Line Status'] } }]) {
      const report = await audit(db.url, { checks: ['accepted-values'], config: config([STATUS], extra) });
      const f = report.findings[0];
      expect([f?.count, f?.samples]).toEqual([5, []]);
      expect(f?.details?.unexpected).toEqual([{ count: 3 }, { count: 1 }, { count: 1 }]);
      expect(JSON.stringify(f)).not.toMatch(/canceled|void/);
    }
  });

  it('a rule that cannot be checked costs that rule only: missing table or column, hostile where', async () => {
    const report = await audit(db.url, {
      checks: ['accepted-values'],
      config: config([
        { name: 'no table', schema: 'Billing Dept', table: 'Invoice Lines', column: 'x', values: ['a'] },
        { name: 'no column', table: 'people', column: 'Mood', values: ['a'] },
        { name: 'hostile', table: 'people', column: 'mood', values: ['a'], where: `true; DELETE FROM people` },
        { name: 'rls', table: 'secret_note', column: 'tag', values: ['y'] },
        { table: 'people', column: 'mood', values: ['happy', 'sad'] },
      ]),
    });
    const result = checkResult(report, 'accepted-values');
    expect(result.status).toBe('error');
    expect(result.objectErrors?.map((e) => e.object)).toEqual(['"Billing Dept"."Invoice Lines" (rule "no table")', 'people (rule "no column")', 'people (rule "hostile")']);
    expect(result.objectErrors?.map((e) => e.reason)).toEqual([
      'rule "no table": table: no table Billing Dept.Invoice Lines; the tables of schema "Billing Dept" are "Invoice Line"',
      'rule "no column": column: public.people has no column "Mood"; its columns are id, mood',
      'rule "hostile": where must be one expression, not statements: it holds a ";"',
    ]);
    // The test's own role is a superuser: row-level security does not hide secret_note's rows from it.
    expect(summarize(report).map((f) => [f.object.table, f.count])).toEqual([
      ['people', 2],
      ['secret_note', 1],
    ]);
  });

  describe('under row-level security the role does not bypass', () => {
    const role = `integrity_av_norls_${process.pid}`;
    afterAll(async () => {
      await query(db.url, `DROP OWNED BY ${role}`).catch(() => undefined);
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    });

    it('that rule is an error (42501, never a partial read) and the others stand', async () => {
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN NOBYPASSRLS PASSWORD 'norls-pw'`);
      await query(db.url, `GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      url.password = 'norls-pw';
      const report = await audit(url.toString(), {
        checks: ['accepted-values'],
        schemas: ['public'],
        config: config([
          { name: 'rls', table: 'secret_note', column: 'tag', values: ['y'] },
          { table: 'people', column: 'mood', values: ['happy', 'sad'] },
        ]),
      });
      const result = checkResult(report, 'accepted-values');
      expect(result.status).toBe('error');
      expect(result.objectErrors?.map((e) => [e.object, e.reason.match(/\[(\w{5})\]$/)?.[1]])).toEqual([['public.secret_note (rule "rls")', '42501']]);
      expect(summarize(report).map((f) => [f.object.table, f.count, f.samples])).toEqual([['people', 2, ['meh']]]);
    });
  });
});
