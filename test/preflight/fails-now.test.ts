import { describe, expect, it } from 'vitest';
import { query, useDatabase } from '../helpers/db.js';
import { findingsOf, preflightJson, repository } from './helpers.js';
import type { PreflightReport } from '../../src/preflight/report.js';

/**
 * Today's data, written as an application writes it before the constraint exists: orders of customers
 * that were deleted (the foreign key was never declared), one order of a customer held only in an
 * inheriting table (which a foreign key on customers does not see: PostgreSQL checks FROM ONLY), emails
 * signed up twice, prices entered as 0 and -1.
 */
const SETUP = [
  'CREATE TABLE customers (id int PRIMARY KEY, name text)',
  'CREATE TABLE vip_customers () INHERITS (customers)',
  `INSERT INTO customers VALUES (1, 'Ada'), (2, 'Brendan'), (3, 'Deleted later')`,
  `INSERT INTO vip_customers VALUES (7, 'Grace')`,
  'CREATE TABLE orders (id int PRIMARY KEY, customer_id int)',
  'INSERT INTO orders VALUES (10, 1), (11, 99), (12, 98), (13, NULL), (14, 7), (15, 3), (16, 99)',
  'DELETE FROM customers WHERE id = 3',
  'CREATE TABLE paid_orders (id int PRIMARY KEY, customer_id bigint)',
  'INSERT INTO paid_orders VALUES (1, 1), (2, 2), (3, NULL)',
  'CREATE TABLE shipments (id int PRIMARY KEY, region text, depot int)',
  `INSERT INTO shipments VALUES (1, 'eu', 1), (2, 'eu', NULL), (3, NULL, NULL), (4, 'us', 5)`,
  'CREATE TABLE depots (region text, depot int, PRIMARY KEY (region, depot))',
  `INSERT INTO depots VALUES ('eu', 1)`,
  // A foreign key added NOT VALID over orphans, the way a team defers validation.
  'CREATE TABLE legacy (id int PRIMARY KEY, customer_id int)',
  'INSERT INTO legacy VALUES (1, 1), (2, 42), (3, 43)',
  'ALTER TABLE legacy ADD CONSTRAINT legacy_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID',
  'CREATE TABLE users (id int, email text, nickname text)',
  `INSERT INTO users VALUES (1, 'a@x', 'a'), (2, 'a@x', 'b'), (3, 'b@x', 'c'), (4, 'b@x', 'd'), (5, 'b@x', 'e'), (6, 'c@x', 'f'), (7, NULL, 'g'), (8, NULL, 'h')`,
  'CREATE TABLE events (id int, k int) PARTITION BY RANGE (id)',
  'CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100)',
  'INSERT INTO events VALUES (1, 5), (1, 5), (2, 6)',
  'CREATE TABLE products (id int PRIMARY KEY, price numeric)',
  'INSERT INTO products VALUES (1, 10), (2, 0), (3, -1), (4, NULL)',
  'CREATE TABLE plans (id int PRIMARY KEY, meta jsonb)',
  `INSERT INTO plans VALUES (1, '{"creditsPer1kTokens": "5"}'), (2, '{"creditsPer1kTokens": 1.38}')`,
  // User code a CHECK could call: if the judgement ever ran it, the query would fail (and exit 2).
  `CREATE FUNCTION public.is_ok(numeric) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'user code ran'; END $$`,
  `CREATE FUNCTION public.is_fine(numeric) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'user code ran'; END $$`,
];

const FK = `-- Fremdschlüssel für Bestellungen 🧾 (multi-byte text: lines are counted in bytes)
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE paid_orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE shipments ADD CONSTRAINT shipments_simple FOREIGN KEY (region, depot) REFERENCES depots (region, depot);
ALTER TABLE shipments ADD CONSTRAINT shipments_full FOREIGN KEY (region, depot) REFERENCES depots (region, depot) MATCH FULL;
ALTER TABLE orders ADD CONSTRAINT orders_customer_nv FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_nv;
ALTER TABLE legacy VALIDATE CONSTRAINT legacy_customer_fk;
`;

const UNIQUE = `-- ¡Único! ✨
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE users ADD CONSTRAINT users_email_nnd UNIQUE NULLS NOT DISTINCT (email);
ALTER TABLE users ADD PRIMARY KEY (email);
CREATE UNIQUE INDEX users_email_late ON users (email) WHERE id > 3;
CREATE UNIQUE INDEX CONCURRENTLY users_id ON users (id);
ALTER TABLE users ADD UNIQUE (nickname);
CREATE UNIQUE INDEX events_id_k ON ONLY events (id, k);
CREATE UNIQUE INDEX events_id_k_all ON events (id, k);
`;

const NOT_NULL = `-- ÑOT NULL 🚫
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE users ADD COLUMN age int NOT NULL;
ALTER TABLE users ADD COLUMN score int NOT NULL DEFAULT 0;
ALTER TABLE users ALTER COLUMN nickname SET NOT NULL;
UPDATE products SET price = 1 WHERE price IS NULL;
ALTER TABLE products ALTER COLUMN price SET NOT NULL;
`;

const CHECK = `-- Prüfung ✅
ALTER TABLE products ADD CONSTRAINT price_positive CHECK (price > 0);
ALTER TABLE products ADD CONSTRAINT price_sane CHECK (price > -5 AND price < 1000);
ALTER TABLE products ADD CONSTRAINT price_later CHECK (price > 0) NOT VALID;
ALTER TABLE products VALIDATE CONSTRAINT price_later;
ALTER TABLE plans ADD CHECK ((meta->>'creditsPer1kTokens')::int > 0);
ALTER TABLE plans ADD CHECK ((meta->>'creditsPer1kTokens')::numeric > 0);
ALTER TABLE products ADD CONSTRAINT price_ok CHECK (public.is_ok(price));
ALTER TABLE plans ADD CHECK ((meta->>'creditsPer1kTokens')::numeric > 0);
`;

const USER_CODE = `ALTER TABLE products ADD CONSTRAINT price_fine CHECK (is_fine(price));
`;

const SAME_RUN = `CREATE TABLE fresh (id int, customer_id int, price int);
ALTER TABLE fresh ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE fresh ALTER COLUMN id SET NOT NULL;
ALTER TABLE fresh ADD CHECK (price > 0);
CREATE UNIQUE INDEX ON fresh (id);
CREATE TABLE new_customers (id int PRIMARY KEY);
ALTER TABLE orders ADD CONSTRAINT orders_new_fk FOREIGN KEY (customer_id) REFERENCES new_customers (id);
CREATE TABLE IF NOT EXISTS users (id int);
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
DO $$ BEGIN UPDATE users SET email = 'x' WHERE email IS NULL; END $$;
ALTER TABLE orders ADD CONSTRAINT orders_after_do FOREIGN KEY (customer_id) REFERENCES customers (id);
`;

function statusOf(report: PreflightReport, line: number) {
  return report.preflight.statementsJudged.find((v) => v.location.line === line)?.outcomes;
}

describe('preflight: data that makes a statement fail now', () => {
  const db = useDatabase('preflight_fails_now', { sql: SETUP });

  it('ADD FOREIGN KEY and VALIDATE CONSTRAINT: the orphans, as PostgreSQL’s check sees them', async () => {
    const root = repository({ 'db/fk.sql': FK });
    const { run, report } = await preflightJson(db.url, root, ['db/fk.sql']);
    expect(run.code).toBe(1);
    const ref = (table: string, columns: string[]) => ({ schema: 'public', table, columns });
    expect(findingsOf(report, 'preflight/orphans')).toEqual([
      // 99 twice, 98, 3 (deleted), and 7: a row of vip_customers, which FROM ONLY customers does not see. NULL is not checked.
      {
        rule: 'preflight/orphans', severity: 'error', at: 'db/fk.sql:2', count: 5, samples: ['3', '7', '98', '99'],
        object: { schema: 'public', table: 'orders', columns: ['customer_id'], constraint: 'orders_customer_fk', references: ref('customers', ['id']) },
      },
      // MATCH SIMPLE: (eu, NULL) and (NULL, NULL) are not checked; (us, 5) is an orphan.
      {
        rule: 'preflight/orphans', severity: 'error', at: 'db/fk.sql:4', count: 1, samples: ['["us", 5]'],
        object: { schema: 'public', table: 'shipments', columns: ['region', 'depot'], constraint: 'shipments_simple', references: ref('depots', ['region', 'depot']) },
      },
      // MATCH FULL: (eu, NULL) fails too.
      {
        rule: 'preflight/orphans', severity: 'error', at: 'db/fk.sql:5', count: 2, samples: ['["eu", null]', '["us", 5]'],
        object: { schema: 'public', table: 'shipments', columns: ['region', 'depot'], constraint: 'shipments_full', references: ref('depots', ['region', 'depot']) },
      },
      {
        rule: 'preflight/orphans', severity: 'error', at: 'db/fk.sql:7', count: 5, samples: ['3', '7', '98', '99'],
        object: { schema: 'public', table: 'orders', columns: ['customer_id'], constraint: 'orders_customer_nv', references: ref('customers', ['id']) },
      },
      {
        rule: 'preflight/orphans', severity: 'error', at: 'db/fk.sql:8', count: 2, samples: ['42', '43'],
        object: { schema: 'public', table: 'legacy', columns: ['customer_id'], constraint: 'legacy_customer_fk', references: ref('customers', ['id']) },
      },
    ]);
    // The look-alikes: bigint against int, every key present (NULL unchecked); NOT VALID checks no row of today.
    expect(statusOf(report, 3)).toEqual([{ rule: 'preflight/orphans', status: 'passed' }]);
    expect(statusOf(report, 6)).toEqual([
      { rule: 'preflight/orphans', status: 'passed', note: 'NOT VALID: the rows of today are not checked until VALIDATE CONSTRAINT' },
      // Validated at line 7.
      { rule: 'preflight/unvalidated-foreign-keys', status: 'passed' },
    ]);
    expect(report.findings.find((f) => f.location.line === 2)?.message).toMatch(/^ADD FOREIGN KEY fails now \(23503\): 5 rows of public\.orders reference no row of public\.customers\(id\)\. Add the constraint NOT VALID/);
    // Nothing was created: the constraints do not exist.
    expect(await query(db.url, `SELECT conname FROM pg_constraint WHERE conname IN ('orders_customer_fk', 'orders_customer_nv', 'shipments_simple', 'shipments_full', 'paid_orders_customer_id_fkey')`)).toEqual([]);
  });

  it('ADD UNIQUE, ADD PRIMARY KEY, CREATE UNIQUE INDEX: the duplicate keys, and a primary key’s NULLs', async () => {
    const root = repository({ 'db/unique.sql': UNIQUE });
    const { run, report } = await preflightJson(db.url, root, ['db/unique.sql']);
    expect(run.code).toBe(1);
    const users = (extra: Record<string, unknown>) => ({ schema: 'public', table: 'users', columns: ['email'], ...extra });
    expect(findingsOf(report, 'preflight/duplicates')).toEqual([
      // a@x twice, b@x three times: 2 keys, 5 rows; the NULLs are distinct.
      { rule: 'preflight/duplicates', severity: 'error', at: 'db/unique.sql:2', count: 5, samples: ['b@x', 'a@x'], object: users({ constraint: 'users_email_key' }) },
      // NULLS NOT DISTINCT: the two NULLs are a third duplicate key.
      { rule: 'preflight/duplicates', severity: 'error', at: 'db/unique.sql:3', count: 7, samples: ['b@x', 'a@x', 'NULL'], object: users({ constraint: 'users_email_nnd' }) },
      { rule: 'preflight/duplicates', severity: 'error', at: 'db/unique.sql:4', count: 7, samples: ['b@x', 'a@x', 'NULL'], object: users({}) },
      // The primary key's NULLs (rows 7 and 8: samples are ctids, users has no primary key).
      { rule: 'preflight/duplicates', severity: 'error', at: 'db/unique.sql:4', count: 2, samples: ['(0,7)', '(0,8)'], object: users({}) },
      // WHERE id > 3: b@x (rows 4, 5) only.
      { rule: 'preflight/duplicates', severity: 'error', at: 'db/unique.sql:5', count: 2, samples: ['b@x'], object: users({ index: 'users_email_late' }) },
      {
        rule: 'preflight/duplicates', severity: 'error', at: 'db/unique.sql:9', count: 2, samples: ['[1, 5]'],
        object: { schema: 'public', table: 'events', columns: ['id', 'k'], index: 'events_id_k_all' },
      },
    ]);
    expect(report.findings.find((f) => f.location.line === 2)?.details).toMatchObject({ duplicateKeys: 2, sampleKey: ['email'], nullsDistinct: true });
    // The look-alikes: id and nickname are unique today.
    expect(statusOf(report, 6)).toEqual([{ rule: 'preflight/duplicates', status: 'passed' }]);
    expect(statusOf(report, 7)).toEqual([{ rule: 'preflight/duplicates', status: 'passed' }]);
    // ON ONLY a partitioned table reads no row; without ONLY every partition's rows count.
    expect(statusOf(report, 8)).toEqual([{ rule: 'preflight/duplicates', status: 'passed', note: "ON ONLY a partitioned table: the index is built over no row until its partitions' indexes are attached" }]);
  });

  it('SET NOT NULL and ADD COLUMN ... NOT NULL without a default: the rows that fail; a backfill before it is not second-guessed', async () => {
    const root = repository({ 'db/not-null.sql': NOT_NULL });
    const { run, report } = await preflightJson(db.url, root, ['db/not-null.sql']);
    expect(run.code).toBe(1);
    expect(findingsOf(report, 'preflight/nulls')).toEqual([
      { rule: 'preflight/nulls', severity: 'error', at: 'db/not-null.sql:2', count: 2, samples: ['(0,7)', '(0,8)'], object: { schema: 'public', table: 'users', column: 'email' } },
      { rule: 'preflight/nulls', severity: 'error', at: 'db/not-null.sql:3', count: 8, samples: ['(0,1)', '(0,2)', '(0,3)', '(0,4)', '(0,5)'], object: { schema: 'public', table: 'users', column: 'age' } },
    ]);
    expect(statusOf(report, 4)).toEqual([{ rule: 'preflight/nulls', status: 'passed' }]);
    expect(statusOf(report, 5)).toEqual([{ rule: 'preflight/nulls', status: 'passed' }]);
    // The UPDATE fills the NULLs before SET NOT NULL runs: today's NULLs are not its rows, so it is not judged, and says why.
    expect(statusOf(report, 7)).toEqual([
      { rule: 'preflight/nulls', status: 'not-judged', reason: 'the UPDATE at db/not-null.sql:6 changes public.products before this runs' },
    ]);
  });

  it('ADD CHECK: the violating rows; user code is never evaluated', async () => {
    const root = repository({ 'db/check.sql': CHECK, 'db/user-code.sql': USER_CODE });
    const { run, report } = await preflightJson(db.url, root, ['db/check.sql']);
    expect(run.code).toBe(1);
    expect(findingsOf(report, 'preflight/check-violations')).toEqual([
      // 0 and -1 violate price > 0; NULL passes a CHECK.
      { rule: 'preflight/check-violations', severity: 'error', at: 'db/check.sql:2', count: 2, samples: ['2', '3'], object: { schema: 'public', table: 'products', constraint: 'price_positive' } },
      { rule: 'preflight/check-violations', severity: 'error', at: 'db/check.sql:5', count: 2, samples: ['2', '3'], object: { schema: 'public', table: 'products', constraint: 'price_later' } },
      // 1.38 does not cast to int: the ALTER TABLE raises 22P02 on that row.
      { rule: 'preflight/check-violations', severity: 'error', at: 'db/check.sql:6', count: 1, samples: ['2'], object: { schema: 'public', table: 'plans' } },
    ]);
    expect(report.findings.find((f) => f.location.line === 6)?.message).toBe(
      'ADD CHECK (CAST(meta ->> \'creditsPer1kTokens\' AS int) > 0) fails now: evaluating it over 1 row of public.plans (samples: primary key (id)) raises "invalid input syntax for type integer: "1.38"" [22P02]. Write the expression so that it cannot raise (e.g. a ::numeric cast instead of ::int), or repair the rows first. Instead: cast to numeric, which takes 1.38 where an integer cast raises: ALTER TABLE public.plans ADD CHECK (CAST(meta ->> \'creditsPer1kTokens\' AS numeric) > 0);',
    );
    expect(statusOf(report, 3)).toEqual([{ rule: 'preflight/check-violations', status: 'passed' }]);
    expect(statusOf(report, 4)).toEqual([{ rule: 'preflight/check-violations', status: 'passed', note: 'NOT VALID: the rows of today are not checked until VALIDATE CONSTRAINT' }]);
    // The ::int cast of JSON text also fails later writes; the ::numeric one does not.
    expect(statusOf(report, 6)).toEqual([{ rule: 'preflight/check-violations', status: 'failed' }, { rule: 'preflight/json-int-casts', status: 'failed' }]);
    expect(statusOf(report, 7)).toEqual([{ rule: 'preflight/check-violations', status: 'passed' }, { rule: 'preflight/json-int-casts', status: 'passed' }]);
    expect(statusOf(report, 8)).toEqual([{ rule: 'preflight/check-violations', status: 'not-judged', reason: 'not judged: the CHECK expression calls function public.is_ok()' }]);
    // When the migration runs, that CHECK runs public.is_ok on every row, which may write anywhere: nothing after it is judged.
    expect(statusOf(report, 9)).toEqual([
      {
        rule: 'preflight/check-violations',
        status: 'not-judged',
        reason: "the ALTER TABLE at db/check.sql:8 may change any table's rows before this runs (it calls public.is_ok(), which may write to any table)",
      },
      // What does not depend on the data is still judged: a numeric cast will not fail later writes.
      { rule: 'preflight/json-int-casts', status: 'passed' },
    ]);
    expect(report.checks.find((c) => c.id === 'preflight/check-violations')?.status).toBe('failed');
    const unqualified = await preflightJson(db.url, root, ['db/user-code.sql']);
    expect(unqualified.run.code).toBe(0);
    expect(statusOf(unqualified.report, 1)).toEqual([{ rule: 'preflight/check-violations', status: 'not-judged', reason: 'not judged: the CHECK expression calls is_fine(), not a pg_catalog function' }]);
  });

  it('a table created earlier in the run is judged empty; one referenced when new makes every key an orphan; after a DO block nothing is judged', async () => {
    const root = repository({ 'db/same-run.sql': SAME_RUN });
    const { run, report } = await preflightJson(db.url, root, ['db/same-run.sql']);
    expect(run.code).toBe(1);
    const empty = 'public.fresh is created at db/same-run.sql:1 in this run: empty when this runs';
    expect(statusOf(report, 2)).toEqual([{ rule: 'preflight/orphans', status: 'passed', note: `${empty}, no row to check` }]);
    expect(statusOf(report, 3)).toEqual([{ rule: 'preflight/nulls', status: 'passed', note: empty }]);
    expect(statusOf(report, 4)).toEqual([{ rule: 'preflight/check-violations', status: 'passed', note: `${empty}, no row to check` }]);
    expect(statusOf(report, 5)).toEqual([{ rule: 'preflight/duplicates', status: 'passed', note: `${empty}, no key to compare` }]);
    expect(report.checks.find((c) => c.id === 'preflight/orphans')?.note).toContain(`db/same-run.sql:2: ${empty}, no row to check`);
    expect(findingsOf(report, 'preflight/orphans')).toEqual([
      {
        rule: 'preflight/orphans', severity: 'error', at: 'db/same-run.sql:7', count: 6, samples: ['1', '3', '7', '98', '99'],
        object: { schema: 'public', table: 'orders', columns: ['customer_id'], constraint: 'orders_new_fk', references: { schema: 'public', table: 'new_customers', columns: ['id'] } },
      },
    ]);
    expect(report.findings.find((f) => f.location.line === 7)?.message).toContain('public.new_customers is created at db/same-run.sql:6 in this run, so it is empty when this runs and every such row is an orphan');
    // IF NOT EXISTS over users does nothing: users keeps its rows, and its NULLs fail SET NOT NULL.
    expect(findingsOf(report, 'preflight/nulls')).toEqual([
      { rule: 'preflight/nulls', severity: 'error', at: 'db/same-run.sql:9', count: 2, samples: ['(0,7)', '(0,8)'], object: { schema: 'public', table: 'users', column: 'email' } },
    ]);
    expect(statusOf(report, 11)).toEqual([
      { rule: 'preflight/orphans', status: 'not-judged', reason: "the DO at db/same-run.sql:10 may change any table's rows before this runs" },
    ]);
  });

  it('a write that runs more than itself (a trigger or cascade added in the run, a user function) stops the judging of every table after it', async () => {
    const trigger = `CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER products_audit AFTER UPDATE ON products FOR EACH ROW EXECUTE FUNCTION public.audit();
UPDATE products SET price = 1 WHERE price IS NULL;
ALTER TABLE orders ADD CONSTRAINT o1 FOREIGN KEY (customer_id) REFERENCES customers (id);
`;
    const cascade = `ALTER TABLE paid_orders ADD CONSTRAINT p1 FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
DELETE FROM customers WHERE id = 2;
ALTER TABLE paid_orders ALTER COLUMN customer_id SET NOT NULL;
`;
    const userFunction = `UPDATE users SET nickname = public.is_ok(1)::text WHERE id = 1;
ALTER TABLE orders ADD CONSTRAINT o2 FOREIGN KEY (customer_id) REFERENCES customers (id);
`;
    const lookAlike = `UPDATE products SET price = 1 WHERE price IS NULL;
ALTER TABLE orders ADD CONSTRAINT o3 FOREIGN KEY (customer_id) REFERENCES customers (id);
`;
    const root = repository({ 't.sql': trigger, 'c.sql': cascade, 'u.sql': userFunction, 'l.sql': lookAlike });
    const t = (await preflightJson(db.url, root, ['t.sql'])).report;
    expect(statusOf(t, 4)).toEqual([{ rule: 'preflight/orphans', status: 'not-judged', reason: "the UPDATE at t.sql:3 may change any table's rows before this runs" }]);
    const c = (await preflightJson(db.url, root, ['c.sql'])).report;
    expect(statusOf(c, 1)).toEqual([{ rule: 'preflight/orphans', status: 'passed' }]);
    expect(statusOf(c, 3)).toEqual([{ rule: 'preflight/nulls', status: 'not-judged', reason: "the DELETE at c.sql:2 may change any table's rows before this runs" }]);
    const u = (await preflightJson(db.url, root, ['u.sql'])).report;
    expect(statusOf(u, 2)).toEqual([
      { rule: 'preflight/orphans', status: 'not-judged', reason: "the UPDATE at u.sql:1 may change any table's rows before this runs (it calls public.is_ok(), which may write to any table)" },
    ]);
    // The same UPDATE without a trigger changes products only: the foreign key on orders is judged (and fails).
    const l = await preflightJson(db.url, root, ['l.sql']);
    expect(findingsOf(l.report, 'preflight/orphans').map((f) => [f.at, f.count])).toEqual([['l.sql:2', 5]]);
    // And nothing ran: the trigger, the cascade and the writes are not there.
    expect(await query(db.url, `SELECT count(*)::int AS n FROM customers WHERE id = 2`)).toEqual([{ n: 1 }]);
    expect(await query(db.url, `SELECT tgname FROM pg_trigger WHERE tgname = 'products_audit'`)).toEqual([]);
  });

  it('a CREATE TABLE that fails because the table exists leaves it with its rows for what follows', async () => {
    const root = repository({ 'x.sql': 'CREATE TABLE customers (id int PRIMARY KEY);\nALTER TABLE paid_orders ADD CONSTRAINT p2 FOREIGN KEY (customer_id) REFERENCES customers (id);\n' });
    const { report } = await preflightJson(db.url, root, ['x.sql']);
    expect(findingsOf(report).map((f) => [f.rule, f.at])).toEqual([['preflight/already-exists', 'x.sql:1']]);
    // Judged against today's customers (1 and 2 exist), not an empty table.
    expect(statusOf(report, 2)).toEqual([{ rule: 'preflight/orphans', status: 'passed' }]);
  });

  it('ADD CHECK without ONLY reaches the rows of the inheriting tables', async () => {
    const root = repository({ 'i.sql': "ALTER TABLE customers ADD CONSTRAINT small_ids CHECK (id < 5);\nALTER TABLE customers ADD CONSTRAINT named CHECK (name <> 'Grace');\nALTER TABLE customers ADD CONSTRAINT own_small_ids CHECK (id < 5) NO INHERIT;\n" });
    const { report } = await preflightJson(db.url, root, ['i.sql']);
    // Grace (7) is a row of vip_customers: ALTER TABLE customers checks it too.
    expect(findingsOf(report, 'preflight/check-violations').map((f) => [f.at, f.count, f.samples])).toEqual([
      ['i.sql:1', 1, ['7']],
      ['i.sql:2', 1, ['7']],
    ]);
    // NO INHERIT: the constraint is the parent's alone, and its own rows (1 and 2) pass.
    expect(statusOf(report, 3)).toEqual([{ rule: 'preflight/check-violations', status: 'passed' }]);
  });

  it('a foreign key needs a unique key to reference: none today fails whatever the rows; one added earlier in the run counts', async () => {
    const root = repository({
      'k.sql': 'ALTER TABLE orders ADD CONSTRAINT o4 FOREIGN KEY (customer_id) REFERENCES users (id);\n',
      'k2.sql': 'ALTER TABLE users ADD CONSTRAINT users_id_key UNIQUE (id);\nALTER TABLE orders ADD CONSTRAINT o5 FOREIGN KEY (customer_id) REFERENCES users (id);\n',
    });
    const none = (await preflightJson(db.url, root, ['k.sql'])).report;
    expect(findingsOf(none, 'preflight/orphans')).toEqual([
      {
        rule: 'preflight/orphans', severity: 'error', at: 'k.sql:1', count: null, samples: [],
        object: { schema: 'public', table: 'orders', columns: ['customer_id'], constraint: 'o4', references: { schema: 'public', table: 'users', columns: ['id'] } },
      },
    ]);
    expect(none.findings[0]?.message).toBe('ADD FOREIGN KEY fails now (42830): public.users has no primary key, unique constraint or unique index on (id), which a foreign key must reference. Add one first. Instead: give the referenced table the key first, ALTER TABLE "public"."users" ADD UNIQUE ("id"); (it fails too while the referenced rows repeat a key), then the statement');
    // users' ids are 1 to 8: 99 (twice) and 98 are orphans.
    const added = (await preflightJson(db.url, root, ['k2.sql'])).report;
    expect(findingsOf(added, 'preflight/orphans').map((f) => [f.at, f.count, f.samples])).toEqual([['k2.sql:2', 3, ['98', '99']]]);
  });

  it('ADD COLUMN serial, identity or generated: filled by PostgreSQL, never reported as NULL', async () => {
    const root = repository({ 's.sql': 'ALTER TABLE users ADD COLUMN seq serial;\nALTER TABLE users ADD COLUMN big bigserial NOT NULL;\nALTER TABLE users ADD COLUMN ident int GENERATED ALWAYS AS IDENTITY NOT NULL;\n' });
    const { run, report } = await preflightJson(db.url, root, ['s.sql']);
    expect(run.code).toBe(0);
    expect(findingsOf(report, 'preflight/nulls')).toEqual([]);
    expect(statusOf(report, 1)).toEqual([{ rule: 'preflight/nulls', status: 'passed', note: 'seq is serial: every row gets a value from its sequence' }]);
    expect(statusOf(report, 3)).toEqual([{ rule: 'preflight/not-judged', status: 'not-judged', reason: 'ADD COLUMN ident with IDENTITY: not judged' }]);
  });

  it('--samples 0 and samples.exclude keep key values in the database', async () => {
    const root = repository({ 'db/fk.sql': FK, 'integrity.config.json': JSON.stringify({ samples: { exclude: ['public.legacy'] } }) });
    const { report } = await preflightJson(db.url, root, ['db/fk.sql']);
    expect(findingsOf(report, 'preflight/orphans').map((f) => [f.at, f.count, f.samples])).toEqual([
      ['db/fk.sql:2', 5, ['3', '7', '98', '99']],
      ['db/fk.sql:4', 1, ['["us", 5]']],
      ['db/fk.sql:5', 2, ['["eu", null]', '["us", 5]']],
      ['db/fk.sql:7', 5, ['3', '7', '98', '99']],
      ['db/fk.sql:8', 2, []],
    ]);
    const none = await preflightJson(db.url, root, ['db/fk.sql'], ['--samples', '0']);
    expect(none.report.findings.every((f) => f.samples.length === 0)).toBe(true);
  });
});
