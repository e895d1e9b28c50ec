import { describe, expect, it } from 'vitest';
import { audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

const SCHEMA = `
  CREATE EXTENSION IF NOT EXISTS citext;
  CREATE SCHEMA "Billing Dept";
  CREATE TABLE "Billing Dept"."Invoice Line" ("Line Id" int PRIMARY KEY, "Invoice No" int, "Position" int, "SKU" text);
  INSERT INTO "Billing Dept"."Invoice Line" VALUES
    (1, 10, 1, 'a'), (2, 10, 1, 'b'), (3, 10, 1, 'c'),
    (4, 11, 1, 'a'), (5, 11, 1, 'a'),
    (6, 12, NULL, 'x'), (7, 12, NULL, 'y'),
    (8, 13, 1, 'z');

  CREATE TABLE users (id int PRIMARY KEY, email text, name text);
  CREATE UNIQUE INDEX users_email_key ON users (email);
  CREATE UNIQUE INDEX users_lower_email ON users (pg_catalog.lower(email));
  INSERT INTO users VALUES (1, 'a@example.com', 'A'), (2, 'b@example.com', 'A');

  CREATE TABLE accounts (id int PRIMARY KEY, handle text, CONSTRAINT accounts_handle_key UNIQUE (handle));
  INSERT INTO accounts VALUES (1, NULL), (2, NULL), (3, 'x');

  CREATE TABLE codes (id int PRIMARY KEY, code text);
  CREATE UNIQUE INDEX codes_code_nnd ON codes (code) NULLS NOT DISTINCT;

  CREATE TABLE subs (id int PRIMARY KEY, user_id int, active boolean NOT NULL);
  CREATE UNIQUE INDEX subs_one_active ON subs (user_id) WHERE active;
  INSERT INTO subs VALUES (1, 7, true), (2, 7, false), (3, 7, false), (4, 8, true);

  CREATE TABLE emails (id int PRIMARY KEY, address text);
  INSERT INTO emails VALUES (1, 'dup@example.com'), (2, 'dup@example.com'), (3, 'solo@example.com');

  CREATE TABLE items (id int, sku text);
  CREATE TABLE old_items () INHERITS (items);
  INSERT INTO items VALUES (1, 'p'), (2, 'q');
  INSERT INTO old_items VALUES (3, 'p'), (4, 'p');

  CREATE TABLE readings (id int, site text, PRIMARY KEY (id, site)) PARTITION BY LIST (site);
  CREATE TABLE readings_a PARTITION OF readings FOR VALUES IN ('a');
  CREATE TABLE readings_b PARTITION OF readings FOR VALUES IN ('b');
  INSERT INTO readings VALUES (1, 'a'), (1, 'b'), (2, 'a');

  CREATE TABLE tags (id int PRIMARY KEY, label citext, weight numeric);
  INSERT INTO tags VALUES (1, 'Red', 2.0), (2, 'red', 2.00), (3, 'blue', 3);
`;

const LINE = { name: 'one line per position', schema: 'Billing Dept', table: 'Invoice Line', columns: ['Invoice No', 'Position'] };
const config = (...rules: unknown[]) => ({ checks: { unique: { rules } } });

describe('unique', () => {
  const db = useDatabase('unique', { sql: [SCHEMA] });

  it('skips, saying how to configure it, when no rule is configured', async () => {
    const result = checkResult(await audit(db.url, { checks: ['unique'] }), 'unique');
    expect(result.status).toBe('skipped');
    expect(result.reason).toBe('no rules configured: add checks.unique.rules to the config file (see integrity explain unique)');
  });

  it.each([
    [
      'quoted names, a composite key; a NULL makes rows distinct',
      LINE,
      { schema: 'Billing Dept', table: 'Invoice Line', columns: ['Invoice No', 'Position'] },
      5,
      ['[10, 1]', '[11, 1]'],
      { rows: 5, duplicateKeys: 2, duplicates: [{ key: '[10, 1]', count: 3 }, { key: '[11, 1]', count: 2 }] },
    ],
    [
      'nullsDistinct: false: NULLs are equal',
      { ...LINE, nullsDistinct: false },
      { schema: 'Billing Dept', table: 'Invoice Line', columns: ['Invoice No', 'Position'] },
      7,
      ['[10, 1]', '[11, 1]', '[12, null]'],
      { rows: 7, duplicateKeys: 3 },
    ],
    [
      'a where filter',
      { ...LINE, where: `"SKU" = 'a'` },
      { schema: 'Billing Dept', table: 'Invoice Line', columns: ['Invoice No', 'Position'] },
      2,
      ['[11, 1]'],
      { rows: 2, duplicateKeys: 1 },
    ],
    [
      'a unique constraint does not enforce nullsDistinct: false on a nullable column (the NULL key is shown as NULL)',
      { table: 'accounts', columns: ['handle'], nullsDistinct: false },
      { schema: 'public', table: 'accounts', column: 'handle' },
      2,
      ['NULL'],
      { rows: 2, duplicateKeys: 1 },
    ],
    [
      'a partial unique index does not enforce a rule',
      { table: 'subs', columns: ['user_id'] },
      { schema: 'public', table: 'subs', column: 'user_id' },
      3,
      ['7'],
      { rows: 3, duplicateKeys: 1 },
    ],
    [
      "an inheritance parent: its own rows only, not old_items'",
      { table: 'items', columns: ['sku'], where: `sku = 'p' OR id > 0` },
      null,
      0,
      [],
      {},
    ],
    ['a partitioned table, across its partitions', { table: 'readings', columns: ['id'] }, { schema: 'public', table: 'readings', column: 'id' }, 2, ['1'], { rows: 2 }],
    ['citext groups case-insensitively', { table: 'tags', columns: ['label'] }, { schema: 'public', table: 'tags', column: 'label' }, 2, ['Red'], { rows: 2 }],
    ['numeric groups by value (2.0 = 2.00)', { table: 'tags', columns: ['weight'] }, { schema: 'public', table: 'tags', column: 'weight' }, 2, ['2.0'], { rows: 2 }],
  ])('%s', async (_name, rule, object, count, samples, details) => {
    const report = await audit(db.url, { checks: ['unique'], config: config(rule) });
    if (object === null) {
      expect(checkResult(report, 'unique').status).toBe('passed');
      expect(report.findings).toEqual([]);
      return;
    }
    expect(checkResult(report, 'unique').status).toBe('failed');
    expect(summarize(report)).toEqual([{ checkId: 'unique', severity: 'error', object, count, samples }]);
    expect(report.findings[0]?.details).toMatchObject(details);
  });

  it('does not scan a rule a valid, plain unique index or key already enforces, and says so', async () => {
    const report = await audit(db.url, {
      checks: ['unique'],
      config: config(
        { name: 'email', table: 'users', columns: ['email'] },
        { name: 'email and name', table: 'users', columns: ['name', 'email'], nullsDistinct: false, where: 'id > 0' },
        { name: 'id', table: 'users', columns: ['id', 'name'], nullsDistinct: false },
        { name: 'handle', table: 'accounts', columns: ['handle'] },
        { name: 'code', table: 'codes', columns: ['code'], nullsDistinct: false },
        { name: 'address', table: 'emails', columns: ['address'] },
        { name: 'one active', table: 'subs', columns: ['user_id'], where: 'active' },
      ),
    });
    const result = checkResult(report, 'unique');
    expect(result.status).toBe('failed');
    expect(result.note).toBe(
      'checked 7 of 7 rules (3 scanned); ' +
        'rule "email" is enforced by unique index users_email_key (email), not scanned; ' +
        // nullsDistinct: false and email is nullable: users_email_key (NULLS DISTINCT) alone would not do, the
        // index on lower(email) is an expression: neither enforces it, so the scan runs. Nor does the partial
        // index subs_one_active enforce "one active", though its predicate is the rule's where. Rule order is kept.
        'rule "id" is enforced by the primary key (id), not scanned; ' +
        'rule "handle" is enforced by unique constraint accounts_handle_key (handle), not scanned; ' +
        'rule "code" is enforced by unique index codes_code_nnd (code), not scanned',
    );
    expect(summarize(report).map((f) => [f.object.table, f.count, f.samples])).toEqual([
      ['emails', 2, ['dup@example.com']],
    ]);
  });

  it('an index left invalid by a failed CREATE UNIQUE INDEX CONCURRENTLY enforces nothing', async () => {
    await expect(query(db.url, `CREATE UNIQUE INDEX CONCURRENTLY emails_address_key ON emails (address)`)).rejects.toThrow(/could not create unique index/);
    expect(await query(db.url, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'emails_address_key'::regclass`)).toEqual([{ indisvalid: false }]);
    const report = await audit(db.url, { checks: ['unique'], config: config({ table: 'emails', columns: ['address'] }) });
    expect(summarize(report).map((f) => [f.object.table, f.count])).toEqual([['emails', 2]]);
    expect(checkResult(report, 'unique').note).toBe('checked 1 of 1 rule (1 scanned)');
    await query(db.url, `DROP INDEX emails_address_key`);
  });

  it('withholds the keys under --samples 0, keeping the counts', async () => {
    const report = await audit(db.url, { checks: ['unique'], config: { sampleSize: 0, ...config(LINE) } });
    const f = report.findings[0];
    // At least one row carries the counts; the keys themselves stay in the database.
    expect([f?.count, f?.samples, f?.details?.duplicates, f?.details?.duplicateKeys]).toEqual([5, [], [{ count: 3 }], 2]);
  });

  it('a rule that cannot be checked costs that rule only; two rules with the same identity are refused', async () => {
    const report = await audit(db.url, {
      checks: ['unique'],
      config: config(
        { table: 'nope', columns: ['id'] },
        { table: 'emails', columns: ['adress'] },
        { table: 'emails', columns: ['address'], where: `id > 0) OR (true` },
        { table: 'emails', columns: ['address'], where: `pg_catalog.pg_sleep(0) IS NOT NULL; SELECT 1` },
        { table: 'emails', columns: ['address'] },
        { table: 'emails', columns: ['address'] },
      ),
    });
    const result = checkResult(report, 'unique');
    expect(result.status).toBe('error');
    expect(result.objectErrors).toEqual([
      { object: 'nope (checks.unique.rules[0])', reason: 'checks.unique.rules[0]: table: no table named nope in the audited schemas' },
      { object: 'emails (checks.unique.rules[1])', reason: 'checks.unique.rules[1]: columns: public.emails has no column adress; its columns are id, address' },
      { object: 'emails (checks.unique.rules[2])', reason: 'checks.unique.rules[2]: where must be one expression: it closes a parenthesis it did not open' },
      { object: 'emails (checks.unique.rules[3])', reason: 'checks.unique.rules[3]: where must be one expression, not statements: it holds a ";"' },
      {
        object: 'public.emails (checks.unique.rules[5])',
        reason: 'checks.unique.rules[5] checks the same thing as checks.unique.rules[4], so their findings could not be told apart; give each a distinct name',
      },
    ]);
    expect(summarize(report).map((f) => [f.object.table, f.count])).toEqual([['emails', 2]]);
  });
});
