import { describe, expect, it } from 'vitest';
import { query, useDatabase } from '../helpers/db.js';
import { findingsOf, preflightJson, repository } from './helpers.js';

// "Large" is 1,000 rows here, so the fixtures stay small; the default is 100,000 rows or 100 MB.
const CONFIG = JSON.stringify({ preflight: { largeTableRows: 1000 } });

const SETUP = [
  'CREATE TABLE accounts (id int PRIMARY KEY, name text)',
  'INSERT INTO accounts SELECT g, $$a$$ || g FROM pg_catalog.generate_series(1, 2000) g',
  'CREATE TABLE orders (id int PRIMARY KEY, account_id int, amount int, code varchar(10), price numeric(10,2), note text)',
  'INSERT INTO orders SELECT g, 1 + g % 2000, g, $$c$$, 1.5, NULL FROM pg_catalog.generate_series(1, 5000) g',
  'CREATE TABLE tiny (id int PRIMARY KEY, v int)',
  'INSERT INTO tiny VALUES (1, 1)',
  'CREATE TABLE "Billing Dept"."Invoice Line" (id int PRIMARY KEY, qty int)',
  'INSERT INTO "Billing Dept"."Invoice Line" SELECT g, g FROM pg_catalog.generate_series(1, 3000) g',
  'ALTER TABLE orders ADD CONSTRAINT orders_note_nn CHECK (note IS NOT NULL) NOT VALID',
  'ANALYZE',
];

describe('preflight: operational hazards, with the table size from the catalog', () => {
  const db = useDatabase('preflight_operations', { sql: ['CREATE SCHEMA "Billing Dept"', ...SETUP] });

  it('table rewrites of a large table: ALTER TYPE that is not binary-coercible, ADD COLUMN with a volatile default', async () => {
    const root = repository({
      'integrity.config.json': CONFIG,
      'm.sql': [
        "SET lock_timeout = '5s';",
        'ALTER TABLE orders ALTER COLUMN amount TYPE bigint;',
        'ALTER TABLE orders ALTER COLUMN code TYPE varchar(20);',
        'ALTER TABLE orders ALTER COLUMN code TYPE text;',
        'ALTER TABLE orders ALTER COLUMN price TYPE numeric(12,2);',
        'ALTER TABLE orders ALTER COLUMN price TYPE numeric(12,3);',
        'ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();',
        'ALTER TABLE orders ADD COLUMN created_at timestamptz DEFAULT now();',
        'ALTER TABLE orders ADD COLUMN seq bigserial;',
        'ALTER TABLE tiny ALTER COLUMN v TYPE bigint;',
        'VACUUM FULL orders;',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['m.sql']);
    expect(findingsOf(report, 'preflight/table-rewrites').map((f) => [f.at, f.object.column ?? null])).toEqual([
      ['m.sql:2', 'amount'],
      ['m.sql:6', 'price'],
      ['m.sql:7', 'token'],
      ['m.sql:9', 'seq'],
      ['m.sql:11', null],
    ]);
    const amount = report.findings.find((f) => f.checkId === 'preflight/table-rewrites' && f.location.line === 2);
    expect(amount?.severity).toBe("warning");
    expect(amount?.message).toMatch(/^ALTER COLUMN "amount" TYPE is not binary-coercible: it rewrites "public"\."orders" and rebuilds its indexes under ACCESS EXCLUSIVE; public.orders is large \(about 5000 rows, \d+ MB, from the catalog's estimates\)\. Instead: add a new column/);
    expect(amount?.details).toMatchObject({ lock: 'ACCESS EXCLUSIVE', estimatedRows: 5000 });
    expect(report.findings.find((f) => f.checkId === 'preflight/table-rewrites' && f.location.line === 7)?.message).toContain('its DEFAULT calls gen_random_uuid(), which is volatile');
    // lock_timeout was set first: no finding of that rule.
    expect(findingsOf(report, 'preflight/lock-timeouts')).toEqual([]);
    // The statements that do not rewrite still take ACCESS EXCLUSIVE on the large table, for an instant.
    expect(findingsOf(report, 'preflight/access-exclusive-locks').map((f) => f.at)).toEqual(['m.sql:3', 'm.sql:4', 'm.sql:5', 'm.sql:8']);
    const brief = report.findings.find((f) => f.checkId === 'preflight/access-exclusive-locks');
    expect(brief?.details).toMatchObject({ lock: 'ACCESS EXCLUSIVE', lockTimeoutMs: 5000 });
    expect(brief?.message).toMatch(/^ALTER TABLE takes ACCESS EXCLUSIVE on public\.orders, which is large \(about 5000 rows, \d+ MB\): even when the change itself is instant, .*lock_timeout is 5000 ms here/);
  });

  it('blocking scans and index builds on a large table, each with the form that does not block', async () => {
    const root = repository({
      'integrity.config.json': CONFIG,
      'm.sql': [
        "SET lock_timeout = '2s';",
        'ALTER TABLE orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id);',
        'ALTER TABLE orders ADD CONSTRAINT orders_account_fk2 FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;',
        'ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0);',
        'ALTER TABLE orders ALTER COLUMN account_id SET NOT NULL;',
        'ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE (id, code);',
        'CREATE INDEX orders_account_idx ON orders (account_id);',
        'CREATE INDEX tiny_v_idx ON tiny (v);',
        'ALTER TABLE orders ALTER COLUMN note SET NOT NULL;',
        '',
      ].join('\n'),
    });
    const { run, report } = await preflightJson(db.url, root, ['m.sql']);
    // Every note is NULL: line 9 fails now too. Its CHECK (note IS NOT NULL) is NOT VALID, so it does not spare the scan.
    expect(run.code).toBe(1);
    expect(findingsOf(report, 'preflight/nulls').map((f) => [f.at, f.count])).toEqual([['m.sql:9', 5000]]);
    expect(findingsOf(report, 'preflight/blocking-scans').map((f) => f.at)).toEqual(['m.sql:2', 'm.sql:4', 'm.sql:5', 'm.sql:6', 'm.sql:9']);
    expect(findingsOf(report, 'preflight/blocking-index-builds').map((f) => f.at)).toEqual(['m.sql:7']);
    const fk = report.findings.find((f) => f.checkId === 'preflight/blocking-scans' && f.location.line === 2);
    expect(fk?.details?.instead).toBe(
      'ALTER TABLE orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;\nALTER TABLE "public"."orders" VALIDATE CONSTRAINT "orders_account_fk";',
    );
    expect(report.findings.find((f) => f.checkId === 'preflight/blocking-index-builds')?.details?.instead).toMatch(/^CREATE INDEX CONCURRENTLY orders_account_idx ON orders/);
    const notNull = report.findings.find((f) => f.checkId === 'preflight/blocking-scans' && f.location.line === 5);
    expect(notNull?.details?.instead).toBe(
      [
        'ALTER TABLE "public"."orders" ADD CONSTRAINT "orders_account_id_not_null" CHECK ("account_id" IS NOT NULL) NOT VALID;',
        'ALTER TABLE "public"."orders" VALIDATE CONSTRAINT "orders_account_id_not_null";',
        'ALTER TABLE "public"."orders" ALTER COLUMN "account_id" SET NOT NULL;',
        'ALTER TABLE "public"."orders" DROP CONSTRAINT "orders_account_id_not_null";',
      ].join('\n'),
    );
  });

  it('a validated CHECK (col IS NOT NULL) lets SET NOT NULL skip its scan: no finding', async () => {
    const root = repository({
      'integrity.config.json': CONFIG,
      'm.sql': "SET lock_timeout = '2s';\nALTER TABLE accounts ADD CONSTRAINT accounts_name_nn CHECK (name IS NOT NULL) NOT VALID;\n",
    });
    const { report } = await preflightJson(db.url, root, ['m.sql']);
    expect(findingsOf(report, 'preflight/blocking-scans')).toEqual([]);
  });

  it('the default thresholds (100,000 rows, 100 MB) call none of these tables large', async () => {
    const root = repository({ 'integrity.config.json': JSON.stringify({ preflight: {} }), 'm.sql': "SET lock_timeout = '2s';\nALTER TABLE orders ALTER COLUMN amount TYPE bigint;\nCREATE INDEX ON orders (amount);\n" });
    const { report } = await preflightJson(db.url, root, ['m.sql']);
    expect(findingsOf(report).filter((f) => f.rule !== 'preflight/type-changes' && f.rule !== 'preflight/not-judged')).toEqual([]);
  });

  it('CONCURRENTLY and VACUUM inside BEGIN ... COMMIT fail (25001); outside it they pass; transactionPerFile makes the file one block', async () => {
    const sql = [
      'BEGIN;',
      'CREATE INDEX CONCURRENTLY orders_amount_idx ON orders (amount);',
      'VACUUM orders;',
      'COMMIT;',
      'CREATE INDEX CONCURRENTLY orders_amount_idx2 ON orders (amount);',
      'DROP INDEX CONCURRENTLY orders_amount_idx2;',
      '',
    ].join('\n');
    const root = repository({ 'integrity.config.json': CONFIG, 'm.sql': sql });
    const { run, report } = await preflightJson(db.url, root, ['m.sql']);
    expect(run.code).toBe(1);
    expect(findingsOf(report, 'preflight/transaction-block').map((f) => [f.at, f.severity])).toEqual([
      ['m.sql:2', 'error'],
      ['m.sql:3', 'error'],
    ]);
    expect(report.findings.find((f) => f.checkId === 'preflight/transaction-block')?.message).toMatch(/^CREATE INDEX CONCURRENTLY fails now \(25001\): it cannot run inside a transaction block, and this one runs between BEGIN and COMMIT/);
    const perFile = repository({ 'integrity.config.json': JSON.stringify({ preflight: { largeTableRows: 1000, transactionPerFile: true } }), 'm.sql': sql });
    const second = await preflightJson(db.url, perFile, ['m.sql']);
    expect(findingsOf(second.report, 'preflight/transaction-block').map((f) => f.at)).toEqual(['m.sql:2', 'm.sql:3', 'm.sql:5', 'm.sql:6']);
  });

  it('a missing lock_timeout: one finding per file, at its first statement that blocks writes to a table of today, counting them', async () => {
    const root = repository({
      'integrity.config.json': CONFIG,
      'a.sql': [
        'CREATE TABLE fresh (id int PRIMARY KEY);',
        'ALTER TABLE fresh ADD COLUMN v int;',
        'ALTER TABLE tiny ADD COLUMN w int;',
        'CREATE TABLE child (id int PRIMARY KEY, tiny_id int REFERENCES tiny (id));',
        'ALTER TABLE tiny VALIDATE CONSTRAINT tiny_pkey;',
        '',
      ].join('\n'),
      'b.sql': "SET lock_timeout = '3s';\nALTER TABLE tiny ADD COLUMN z int;\n",
      'c.sql': "BEGIN;\nSET LOCAL lock_timeout = '3s';\nALTER TABLE tiny ADD COLUMN y int;\nCOMMIT;\nALTER TABLE tiny DROP COLUMN y;\n",
    });
    const { report } = await preflightJson(db.url, root, ['a.sql', 'b.sql', 'c.sql']);
    expect(findingsOf(report, 'preflight/lock-timeouts')).toEqual([
      { rule: 'preflight/lock-timeouts', severity: 'warning', at: 'a.sql:3', object: { schema: 'public', table: 'tiny' }, count: 2, samples: [] },
      { rule: 'preflight/lock-timeouts', severity: 'warning', at: 'c.sql:5', object: { schema: 'public', table: 'tiny' }, count: 1, samples: [] },
    ]);
    expect(report.findings.find((f) => f.checkId === 'preflight/lock-timeouts')?.details).toMatchObject({ statements: [3, 4], tables: ['public.tiny'] });
    const off = repository({ 'integrity.config.json': JSON.stringify({ preflight: { requireLockTimeout: false } }), 'a.sql': 'ALTER TABLE tiny ADD COLUMN w int;\n' });
    expect(findingsOf((await preflightJson(db.url, off, ['a.sql'])).report, 'preflight/lock-timeouts')).toEqual([]);
  });

  it("a lock_timeout set for the database counts; one of the role preflight connects as (or of its connection) does not: the migration may run as another", async () => {
    const root = repository({ 'integrity.config.json': JSON.stringify({ preflight: {} }), 'a.sql': 'ALTER TABLE tiny ADD COLUMN w int;\n' });
    expect(findingsOf((await preflightJson(db.url, root, ['a.sql'])).report, 'preflight/lock-timeouts').map((f) => f.at)).toEqual(['a.sql:1']);
    const viaOptions = await preflightJson(`${db.url}${db.url.includes('?') ? '&' : '?'}options=-c%20lock_timeout%3D4000`, root, ['a.sql']);
    expect(findingsOf(viaOptions.report, 'preflight/lock-timeouts').map((f) => f.at)).toEqual(['a.sql:1']);
    await query(db.url, `ALTER DATABASE "${db.name}" SET lock_timeout = '4s'`);
    try {
      const { report } = await preflightJson(db.url, root, ['a.sql']);
      expect(findingsOf(report, 'preflight/lock-timeouts')).toEqual([]);
    } finally {
      await query(db.url, `ALTER DATABASE "${db.name}" RESET lock_timeout`);
    }
  });

  it('names that need quoting stay quoted in the SQL it proposes', async () => {
    const root = repository({
      'integrity.config.json': CONFIG,
      'm.sql': 'SET lock_timeout = \'1s\';\nALTER TABLE "Billing Dept"."Invoice Line" ALTER COLUMN qty SET NOT NULL;\n',
    });
    const { report } = await preflightJson(db.url, root, ['m.sql']);
    const f = report.findings.find((x) => x.checkId === 'preflight/blocking-scans');
    expect(f?.object).toEqual({ schema: 'Billing Dept', table: 'Invoice Line', column: 'qty' });
    expect(f?.details?.instead).toContain('ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT "Invoice Line_qty_not_null" CHECK ("qty" IS NOT NULL) NOT VALID;');
  });

  it('what PostgreSQL really does (an adversarial review, each checked with relfilenode and pg_locks): ADD COLUMN of a checked domain, with a CHECK or UNIQUE; locks of DROP INDEX, DROP TRIGGER, REINDEX INDEX, REFRESH of a view', async () => {
    await query(db.url, 'CREATE DOMAIN posint AS int CHECK (VALUE > 0)');
    await query(db.url, 'CREATE DOMAIN plainint AS int');
    await query(db.url, 'CREATE INDEX orders_amount_idx ON orders (amount)');
    await query(db.url, 'CREATE MATERIALIZED VIEW order_totals AS SELECT id, amount FROM orders');
    await query(db.url, 'ANALYZE order_totals');
    const root = repository({
      'integrity.config.json': CONFIG,
      'm.sql': [
        'ALTER TABLE orders ADD COLUMN x1 posint;',
        'ALTER TABLE orders ADD COLUMN x2 plainint;',
        'ALTER TABLE orders ADD COLUMN x3 int CHECK (x3 > 0);',
        'ALTER TABLE orders ADD COLUMN x4 int UNIQUE;',
        'DROP INDEX orders_amount_idx;',
        'REINDEX INDEX orders_pkey;',
        'REFRESH MATERIALIZED VIEW order_totals;',
        'ALTER TABLE orders ALTER COLUMN amount SET (n_distinct = 100);',
        'ALTER TABLE orders ALTER COLUMN id SET NOT NULL;',
        'ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text DEFAULT gen_random_uuid()::text;',
        'CREATE INDEX IF NOT EXISTS orders_pkey ON orders (id);',
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['m.sql']);
    const at = (rule: string) => findingsOf(report, rule).map((f) => f.at);
    expect(at('preflight/table-rewrites')).toEqual(['m.sql:1', 'm.sql:7']);
    expect(report.findings.find((f) => f.location.line === 1 && f.checkId === 'preflight/table-rewrites')?.message).toContain('its type is a domain with constraints, which PostgreSQL checks on every row');
    expect(at('preflight/blocking-scans')).toEqual(['m.sql:3', 'm.sql:4']);
    expect(at('preflight/blocking-index-builds')).toEqual(['m.sql:6']);
    // Line 2: a domain with no constraint adds no rewrite, only the instant lock; n_distinct takes SHARE UPDATE
    // EXCLUSIVE. SET NOT NULL of a column that is NOT NULL scans nothing, and ADD COLUMN IF NOT EXISTS of one that
    // exists does nothing, but both take ACCESS EXCLUSIVE first.
    expect(at('preflight/access-exclusive-locks')).toEqual(['m.sql:2', 'm.sql:5', 'm.sql:9', 'm.sql:10']);
    const lock = findingsOf(report, 'preflight/lock-timeouts')[0];
    expect(report.findings.find((f) => f.checkId === 'preflight/lock-timeouts')?.details).toMatchObject({ statements: [1, 2, 3, 4, 5, 6, 7, 9, 10, 11] });
    expect(lock?.count).toBe(10);
    await query(db.url, 'DROP MATERIALIZED VIEW order_totals');
    await query(db.url, 'DROP INDEX orders_amount_idx');
    await query(db.url, 'DROP DOMAIN posint; DROP DOMAIN plainint');
  });

  it('names resolve as the migration resolves them: search_path, renames, and a table dropped and made again', async () => {
    await query(db.url, 'CREATE SCHEMA app');
    await query(db.url, 'CREATE TABLE app.big (id int PRIMARY KEY, v int)');
    await query(db.url, 'INSERT INTO app.big SELECT g, g FROM pg_catalog.generate_series(1, 3000) g');
    await query(db.url, 'ANALYZE app.big');
    const root = repository({
      'integrity.config.json': CONFIG,
      'a.sql': "SET lock_timeout = '1s';\nSET search_path = app;\nCREATE INDEX ON big (v);\nALTER TABLE big RENAME TO big_old;\nALTER TABLE big_old ALTER COLUMN v TYPE bigint;\n",
      'b.sql': "SET lock_timeout = '1s';\nSET search_path = app, public;\nDROP TABLE big_old;\nCREATE TABLE big_old (id int, v int);\nCREATE INDEX ON big_old (v);\nTRUNCATE accounts;\n",
    });
    const { report } = await preflightJson(db.url, root, ['a.sql', 'b.sql']);
    expect(findingsOf(report, 'preflight/blocking-index-builds').map((f) => [f.at, f.object.schema, f.object.table])).toEqual([['a.sql:3', 'app', 'big']]);
    expect(findingsOf(report, 'preflight/table-rewrites').map((f) => [f.at, f.object.schema, f.object.table])).toEqual([['a.sql:5', 'app', 'big_old']]);
    expect(findingsOf(report, 'preflight/access-exclusive-locks').map((f) => [f.at, f.object.table])).toEqual([['a.sql:4', 'big'], ['b.sql:3', 'big_old'], ['b.sql:6', 'accounts']]);
    await query(db.url, 'DROP SCHEMA app CASCADE');
  });

  it('lock_timeout as PostgreSQL keeps it: ROLLBACK and ROLLBACK TO undo a SET, RESET ALL resets it, SET LOCAL lasts to the end of its transaction, microseconds count', async () => {
    const cfg = JSON.stringify({ preflight: {} });
    const root = repository({
      'integrity.config.json': cfg,
      'rollback.sql': "BEGIN;\nSET lock_timeout = '2s';\nROLLBACK;\nALTER TABLE tiny ADD COLUMN a1 int;\n",
      'reset.sql': "SET lock_timeout = '2s';\nRESET ALL;\nALTER TABLE tiny ADD COLUMN a2 int;\n",
      'savepoint.sql': "BEGIN;\nSAVEPOINT s;\nSET LOCAL lock_timeout = '2s';\nROLLBACK TO SAVEPOINT s;\nALTER TABLE tiny ADD COLUMN a3 int;\nCOMMIT;\n",
      'committed.sql': "BEGIN;\nSET lock_timeout = '2s';\nCOMMIT;\nALTER TABLE tiny ADD COLUMN a4 int;\n",
      'micro.sql': "SET lock_timeout = '2000000us';\nALTER TABLE tiny ADD COLUMN a5 int;\n",
    });
    const { report } = await preflightJson(db.url, root, ['rollback.sql', 'reset.sql', 'savepoint.sql', 'committed.sql', 'micro.sql']);
    expect(findingsOf(report, 'preflight/lock-timeouts').map((f) => f.at)).toEqual(['rollback.sql:4', 'reset.sql:3', 'savepoint.sql:5']);
    const perFile = repository({ 'integrity.config.json': JSON.stringify({ preflight: { transactionPerFile: true } }), 'local.sql': "SET LOCAL lock_timeout = '2s';\nALTER TABLE tiny ADD COLUMN a6 int;\n" });
    expect(findingsOf((await preflightJson(db.url, perFile, ['local.sql'])).report, 'preflight/lock-timeouts')).toEqual([]);
  });

  it('statements that cannot run in a transaction block: REINDEX SCHEMA, DISCARD ALL, REINDEX TABLE of a partitioned table', async () => {
    await query(db.url, 'CREATE TABLE meas (id int, at date) PARTITION BY RANGE (at)');
    const root = repository({ 'integrity.config.json': CONFIG, 'm.sql': 'BEGIN;\nREINDEX SCHEMA public;\nDISCARD ALL;\nREINDEX TABLE meas;\nREINDEX TABLE tiny;\nCOMMIT;\n' });
    const { report } = await preflightJson(db.url, root, ['m.sql']);
    expect(findingsOf(report, 'preflight/transaction-block').map((f) => f.at)).toEqual(['m.sql:2', 'm.sql:3', 'm.sql:4']);
    await query(db.url, 'DROP TABLE meas');
  });

  it("a partitioned table is its partitions once (the parent's reltuples already sums them); an inheritance parent alone is its own rows under ONLY and for CREATE INDEX", async () => {
    await query(db.url, 'CREATE TABLE meas (id int, at int) PARTITION BY RANGE (at)');
    await query(db.url, 'CREATE TABLE meas_1 PARTITION OF meas FOR VALUES FROM (0) TO (1000)');
    await query(db.url, 'CREATE TABLE meas_2 PARTITION OF meas FOR VALUES FROM (1000) TO (3000)');
    await query(db.url, 'INSERT INTO meas SELECT g, g FROM pg_catalog.generate_series(0, 2999) g');
    await query(db.url, 'CREATE TABLE pa (id int)');
    await query(db.url, 'CREATE TABLE pa_child (extra int) INHERITS (pa)');
    await query(db.url, 'INSERT INTO pa_child SELECT g, g FROM pg_catalog.generate_series(1, 3000) g');
    await query(db.url, 'ANALYZE meas; ANALYZE meas_1; ANALYZE meas_2; ANALYZE pa; ANALYZE pa_child');
    const root = repository({ 'integrity.config.json': CONFIG, 'm.sql': "SET lock_timeout = '1s';\nCREATE INDEX ON meas (id);\nCREATE INDEX ON pa (id);\nLOCK TABLE ONLY pa IN ACCESS EXCLUSIVE MODE;\nALTER TABLE pa ADD COLUMN y int;\n" });
    const { report } = await preflightJson(db.url, root, ['m.sql']);
    const index = report.findings.find((f) => f.checkId === 'preflight/blocking-index-builds');
    expect(findingsOf(report, 'preflight/blocking-index-builds').map((f) => f.at)).toEqual(['m.sql:2']);
    expect(index?.details?.estimatedRows).toBe(3000);
    expect(index?.details?.instead).toBeUndefined();
    expect(index?.details?.insteadNote).toMatch(/^a partitioned table takes no CONCURRENTLY: CREATE INDEX \.\.\. ON ONLY/);
    expect(findingsOf(report, 'preflight/access-exclusive-locks').map((f) => f.at)).toEqual(['m.sql:5']);
    await query(db.url, 'DROP TABLE meas; DROP TABLE pa CASCADE');
  });
});
