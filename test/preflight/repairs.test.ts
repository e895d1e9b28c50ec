import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditOptions, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL } from '../helpers/psql.js';
import { cli, preflightJson, repository } from './helpers.js';
import { quoteIdent, quoteLiteral } from '../../src/db/quote.js';
import { runAudit } from '../../src/engine/runner.js';
import { constraintName } from '../../src/preflight/instead.js';
import type { PreflightFinding } from '../../src/preflight/report.js';

/**
 * Today's rows: orders of customers that are gone, emails signed up twice, a NULL where NOT NULL is
 * coming, shipments whose key is partly NULL (MATCH FULL fails them, a relation does not), and a
 * foreign key added NOT VALID over orphans.
 */
const SETUP = [
  'CREATE TABLE customers (id int PRIMARY KEY, name text)',
  `INSERT INTO customers VALUES (1, 'Ada'), (2, 'Brendan')`,
  'CREATE TABLE orders (id int PRIMARY KEY, customer_id int, note text)',
  `INSERT INTO orders VALUES (10, 1, 'a'), (11, 99, 'b'), (12, 98, 'c'), (13, NULL, 'd'), (14, 99, 'e')`,
  // Rows that reference the orders: the repair's delete cascades to them, and must quarantine them too.
  'CREATE TABLE order_lines (id int PRIMARY KEY, order_id int REFERENCES orders (id) ON DELETE CASCADE)',
  'INSERT INTO order_lines VALUES (100, 10), (101, 11), (102, 11)',
  'CREATE TABLE users (id int, email text)',
  `INSERT INTO users VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x'), (4, NULL)`,
  'CREATE TABLE depots (region text, depot int, PRIMARY KEY (region, depot))',
  `INSERT INTO depots VALUES ('eu', 1)`,
  'CREATE TABLE shipments (id int PRIMARY KEY, region text, depot int)',
  `INSERT INTO shipments VALUES (1, 'eu', 1), (2, 'eu', NULL), (3, 'us', 5)`,
  'CREATE TABLE legacy (id int PRIMARY KEY, customer_id int)',
  'INSERT INTO legacy VALUES (1, 1), (2, 42), (3, 43)',
  'ALTER TABLE legacy ADD CONSTRAINT legacy_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID',
  // Orphans under a NOT VALID key on a table no migration names: the repair audit must not read it.
  'CREATE TABLE elsewhere (id int PRIMARY KEY, customer_id int)',
  'INSERT INTO elsewhere VALUES (1, 77)',
  'ALTER TABLE elsewhere ADD CONSTRAINT elsewhere_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID',
];

const MIGRATION = `ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE shipments ADD CONSTRAINT shipments_full FOREIGN KEY (region, depot) REFERENCES depots (region, depot) MATCH FULL;
ALTER TABLE legacy VALIDATE CONSTRAINT legacy_customer_fk;
CREATE TABLE new_customers (id int PRIMARY KEY);
ALTER TABLE orders ADD CONSTRAINT orders_new_fk FOREIGN KEY (customer_id) REFERENCES new_customers (id);
`;

const at = (findings: PreflightFinding[], line: number) => findings.find((f) => f.location.line === line) as PreflightFinding;

function psql(url: string, args: string[]): { code: number; stderr: string; stdout: string } {
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args, url], { encoding: 'utf8' });
  return { code: r.status ?? -1, stderr: r.stderr, stdout: r.stdout };
}

/** The orphan-rows repair of orders as the check writes it: the orphans chosen once, then moved to the quarantine. */
const ORDERS_DELETE =
  'WITH moved AS (DELETE FROM ONLY "public"."orders" AS t WHERE ((t."customer_id" IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM ONLY "public"."customers" p WHERE p."id" OPERATOR(pg_catalog.=) t."customer_id"))';

describe('preflight: the repair of the rows that fail, from the same writers as fix', () => {
  const db = useDatabase('preflight_repairs', { sql: SETUP });

  it('an orphans finding on today\'s rows carries orphan-rows\' repair, with its exact SQL, when the counts agree', async () => {
    const root = repository({ 'db/m.sql': MIGRATION });
    const { run, report } = await preflightJson(db.url, root, ['db/m.sql']);
    expect(run.code).toBe(1);
    const fk = at(report.findings, 1);
    expect(fk.checkId).toBe('preflight/orphans');
    expect(fk.count).toBe(3);
    expect(fk.details?.repair).toEqual({ checkId: 'orphan-rows', fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(fk.fix?.safety).toBe('destructive');
    // The delete cascades to two order lines: they are quarantined with it.
    expect(fk.fix?.summary).toBe('move 3 orphan row(s) to the integrity_quarantine schema, with the rows the delete cascades to');
    expect(fk.fix?.sql).toContain(ORDERS_DELETE);
    expect(fk.fix?.sql).toContain('quarantine the rows of public.order_lines that the delete cascades to (or changes)');
    expect(fk.fix?.sql.split('\n')[0]).toBe('-- [1/1] orphan-rows · public.orders.customer_id · → public.customers(id)');
    // VALIDATE of a key the database has NOT VALID: orphan-rows verifies the constraint itself, and its repair validates it.
    const legacy = at(report.findings, 5);
    expect(legacy.count).toBe(2);
    expect(legacy.details?.repair).toMatchObject({ checkId: 'orphan-rows' });
    expect(legacy.fix?.sql).toContain('WITH moved AS (DELETE FROM ONLY "public"."legacy" AS t');
    expect(legacy.fix?.sql).toContain('"legacy_customer_fk"');
  });

  it('a count that differs gets no repair, and says why; so do a table created in the run and duplicates, which no writer repairs', async () => {
    const root = repository({ 'db/m.sql': MIGRATION });
    const { report } = await preflightJson(db.url, root, ['db/m.sql']);
    // MATCH FULL fails (eu, NULL) too; a relation (MATCH SIMPLE) finds only (us, 5).
    const full = at(report.findings, 4);
    expect(full.count).toBe(2);
    expect(full.fix).toBeNull();
    expect(full.details?.repairNote).toBe('orphan-rows counted 1 row where this judgement counted 2: its repair would not remove exactly the rows that fail, so none is attached');
    const created = at(report.findings, 7);
    expect(created.count).toBe(4);
    expect(created.fix).toBeNull();
    expect(created.details?.repairNote).toBe("the referenced table is created in this run: its rows when the statement runs are not today's, so no repair of today's rows is written");
    const dup = at(report.findings, 2);
    expect(dup.count).toBe(2);
    expect(dup.fix).toBeNull();
    expect(dup.details?.repairNote).toBe(
      'unique counts the same 2 rows (1 key), but integrity writes no repair for duplicates: which row of each key to keep is a decision (merge or delete the others, and repoint what references them)',
    );
  });

  it('under --samples 0 and samples.exclude the findings keep no sample, and the repair is attached all the same (it holds no value)', async () => {
    const root = repository({ 'db/m.sql': MIGRATION });
    const { report } = await preflightJson(db.url, root, ['db/m.sql'], ['--samples', '0']);
    const fk = at(report.findings, 1);
    expect(fk.samples).toEqual([]);
    expect(fk.fix?.sql).toContain(ORDERS_DELETE);
    expect(fk.fix?.sql).not.toMatch(/\b9[89]\b/);
    // samples.exclude as in check: that table's findings keep no value; the others do.
    const excluded = repository({ 'db/m.sql': MIGRATION, 'integrity.config.json': JSON.stringify({ samples: { exclude: ['public.orders'] } }) });
    const { report: partly } = await preflightJson(db.url, excluded, ['db/m.sql']);
    expect(at(partly.findings, 1).samples).toEqual([]);
    expect(at(partly.findings, 1).fix?.sql).toContain(ORDERS_DELETE);
    expect(at(partly.findings, 5).samples).toEqual(['42', '43']);
  });

  it('onlyTables: the checks see the tables named and no other (elsewhere\'s orphans are not read)', async () => {
    const keep = new Set(['legacy', 'customers']);
    const report = await runAudit({ ...auditOptions(db.url, { checks: ['orphan-rows'] }), onlyTables: (schema, table) => schema === 'public' && keep.has(table) });
    expect(report.scope).toEqual({ tables: 2, partitions: 0 });
    expect(report.findings.map((f) => [f.object.table, f.object.constraint, f.count])).toEqual([['legacy', 'legacy_customer_fk', 2]]);
    const whole = await runAudit(auditOptions(db.url, { checks: ['orphan-rows'] }));
    expect(whole.findings.map((f) => f.object.table).sort()).toEqual(['elsewhere', 'legacy']);
  });

  it('--fix-script refuses a path it cannot write, as --output does (exit 2)', async () => {
    const root = repository({ 'db/m.sql': MIGRATION });
    const run = await cli(['preflight', '-d', db.url, '--fix-script', 'no/such/dir/fix.sql', 'db/m.sql'], root);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^integrity: cannot write --fix-script no\/such\/dir\/fix\.sql: /);
    expect(existsSync(path.join(root, 'no'))).toBe(false);
  });

  it('--help names --fix-script, with an example', async () => {
    const help = await cli(['preflight', '--help'], repository({}));
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--fix-script <file>');
    expect(help.stdout).toContain('integrity preflight -d "$DATABASE_URL" --fix-script repair.sql db/migrations/*.sql   # then: psql -v ON_ERROR_STOP=1 -f repair.sql');
  });
});

describe.skipIf(!HAS_PSQL)('preflight --fix-script and the instead SQL, run for real on a copy', () => {
  const db = useDatabase('preflight_repairs_real', { sql: SETUP });

  it('the script from --fix-script repairs the rows; the migration then succeeds, and the quarantine holds the rows removed', async () => {
    const root = repository({ 'db/fk.sql': 'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);\n' });
    const before = psql(db.url, ['-f', path.join(root, 'db/fk.sql')]);
    expect(before.code).toBe(3);
    expect(before.stderr).toMatch(/violates foreign key constraint "orders_customer_fk"/);
    const run = await cli(['preflight', '-d', db.url, '--fix-script', 'fix.sql', 'db/fk.sql'], root);
    expect(run.code).toBe(1);
    const script = readFileSync(path.join(root, 'fix.sql'), 'utf8');
    expect(script).toMatch(/^-- integrity fix script, written by integrity /);
    expect(script).toContain('-- fixes 1 finding: 0 safe, 0 need review, 1 destructive');
    expect(script).toContain(ORDERS_DELETE);
    expect(psql(db.url, ['-f', path.join(root, 'fix.sql')]).code).toBe(0);
    const migrate = psql(db.url, ['-f', path.join(root, 'db/fk.sql')]);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);
    const quarantined = await query<{ table: string; ids: number[] }>(
      db.url,
      `SELECT c.relname::text AS table, (pg_catalog.xpath('//id/text()', pg_catalog.query_to_xml(pg_catalog.format('SELECT id FROM integrity_quarantine.%I ORDER BY id', c.relname), false, false, '')))::text[]::int[] AS ids
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'integrity_quarantine' AND c.relkind = 'r' ORDER BY 1`,
    );
    expect(quarantined.map((q) => [q.table.replace(/__[0-9a-f]+$/, ''), q.ids])).toEqual([
      ['order_lines', [101, 102]],
      ['orders', [11, 12, 14]],
    ]);
    expect((await query<{ id: number }>(db.url, 'SELECT id FROM orders ORDER BY id')).map((r) => r.id)).toEqual([10, 13]);
  });

  it('the instead SQL of ADD FOREIGN KEY, SET NOT NULL and ADD UNIQUE succeeds once the rows are repaired', async () => {
    const root = repository({
      'db/m.sql': `ALTER TABLE legacy ADD CONSTRAINT legacy_customer_fk2 FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE users ADD UNIQUE (email);
`,
    });
    const { report } = await preflightJson(db.url, root, ['db/m.sql'], ['--fix-script', 'fix.sql']);
    const [fk, notNull, unique] = [1, 2, 3].map((line) => at(report.findings.filter((f) => f.checkId !== 'preflight/blocking-scans'), line));
    expect(fk?.details?.instead).toBe(
      'ALTER TABLE public.legacy ADD CONSTRAINT legacy_customer_fk2 FOREIGN KEY (customer_id) REFERENCES public.customers (id) NOT VALID;\nALTER TABLE "public"."legacy" VALIDATE CONSTRAINT "legacy_customer_fk2";',
    );
    expect(fk?.message).toMatch(/\. Instead: ALTER TABLE public\.legacy ADD CONSTRAINT legacy_customer_fk2 .* NOT VALID; \(new rows are checked at once\); repair or remove the rows that reference nothing \(integrity preflight --fix-script FILE writes the repair\); then ALTER TABLE "public"\."legacy" VALIDATE CONSTRAINT "legacy_customer_fk2"; \(VALIDATE takes SHARE UPDATE EXCLUSIVE: writes go on\)$/);
    expect(notNull?.details?.instead).toBe(
      [
        'ALTER TABLE "public"."users" ADD CONSTRAINT "users_email_not_null" CHECK ("email" IS NOT NULL) NOT VALID;',
        'ALTER TABLE "public"."users" VALIDATE CONSTRAINT "users_email_not_null";',
        'ALTER TABLE "public"."users" ALTER COLUMN "email" SET NOT NULL;',
        'ALTER TABLE "public"."users" DROP CONSTRAINT "users_email_not_null";',
      ].join('\n'),
    );
    expect(unique?.details?.instead).toBe(
      'CREATE UNIQUE INDEX CONCURRENTLY "users_email_key" ON "public"."users" ("email");\nALTER TABLE "public"."users" ADD CONSTRAINT "users_email_key" UNIQUE USING INDEX "users_email_key";',
    );
    // Before the repair the instead SQL fails where the statement did (its NOT VALID part alone succeeds).
    expect(psql(db.url, ['-c', String(fk?.details?.instead)]).code).not.toBe(0);
    // The repair (orphan-rows' script), then each instead, each in psql as a person would paste it.
    expect(psql(db.url, ['-f', path.join(root, 'fix.sql')]).code).toBe(0);
    const steps = (f: PreflightFinding | undefined) => String(f?.details?.instead).split('\n');
    for (const sql of steps(fk)) expect(psql(db.url, ['-c', sql])).toMatchObject({ code: 0, stderr: '' });
    // NULLs filled and duplicates removed by hand, as the messages say.
    const notNullSteps = steps(notNull);
    expect(psql(db.url, ['-c', notNullSteps[0] as string]).code).toBe(0);
    expect(psql(db.url, ['-c', "UPDATE users SET email = 'z@x' WHERE email IS NULL"]).code).toBe(0);
    for (const sql of notNullSteps.slice(1)) expect(psql(db.url, ['-c', sql])).toMatchObject({ code: 0, stderr: '' });
    expect(psql(db.url, ['-c', 'DELETE FROM users WHERE id = 2']).code).toBe(0);
    for (const sql of steps(unique)) expect(psql(db.url, ['-c', sql])).toMatchObject({ code: 0, stderr: '' });
    const state = await query<{ validated: boolean; notnull: boolean; unique: string }>(
      db.url,
      `SELECT (SELECT convalidated FROM pg_constraint WHERE conname = 'legacy_customer_fk2') AS validated,
              (SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email') AS notnull,
              (SELECT contype::text FROM pg_constraint WHERE conname = 'users_email_key') AS unique`,
    );
    expect(state).toEqual([{ validated: true, notnull: true, unique: 'u' }]);
  });
});

/** A schema and table whose names try to end a statement and a comment, and start a psql meta-command. */
const pwned = path.join(os.tmpdir(), `integrity-preflight-pwned-${process.pid}`);
const SCHEMA = 'Billing Dept';
const TABLE = `Invoice; Line*/\n\\! touch ${pwned}\n`;
const COLUMN = `cust"omer\r\n\\! touch ${pwned}`;
const HOSTILE = `${quoteIdent(SCHEMA)}.${quoteIdent(TABLE)}`;
const OID = '(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)';

describe.skipIf(!HAS_PSQL)('preflight: hostile names in the instead SQL and the repair script', () => {
  const db = useDatabase('preflight_repairs_hostile', {
    sql: [
      `CREATE SCHEMA ${quoteIdent(SCHEMA)}`,
      `CREATE TABLE ${quoteIdent(SCHEMA)}.parents (id int PRIMARY KEY)`,
      `INSERT INTO ${quoteIdent(SCHEMA)}.parents VALUES (1)`,
      `CREATE TABLE ${HOSTILE} (id int PRIMARY KEY, ${quoteIdent(COLUMN)} int, qty int)`,
      `INSERT INTO ${HOSTILE} VALUES (1, 1, 1), (2, 5, NULL), (3, 6, 3)`,
    ],
  });

  it('every name is quoted with escapes: the SQL runs in psql as it reads, and no meta-command runs', async () => {
    rmSync(pwned, { force: true });
    const migration = `ALTER TABLE ${HOSTILE} ADD FOREIGN KEY (${quoteIdent(COLUMN)}) REFERENCES ${quoteIdent(SCHEMA)}.parents (id);
ALTER TABLE ${HOSTILE} ALTER COLUMN qty SET NOT NULL;
ALTER TABLE ${HOSTILE} ADD CONSTRAINT ${quoteIdent(`qty*/\n\\! touch ${pwned}`)} CHECK (qty > 1 AND ${quoteLiteral(`\n\\! touch ${pwned}\n`)} <> '');
`;
    const root = repository({ 'db/m.sql': migration });
    const { report } = await preflightJson(db.url, root, ['db/m.sql'], ['--fix-script', 'fix.sql']);
    const mine = report.findings.filter((f) => f.checkId !== 'preflight/blocking-scans');
    const [fk, notNull, check] = [1, 2, 3].map((line) => at(mine, line));
    for (const f of [fk, notNull, check]) {
      const sql = String(f?.details?.instead);
      // One statement a line: no name's line end, CR or other control character is left raw.
      // eslint-disable-next-line no-control-regex -- the control characters are what is looked for
      expect(sql.split('\n').every((l) => /^ALTER TABLE .*;$/.test(l) && !/[\u0000-\u001f]/.test(l))).toBe(true);
      expect(sql).toContain('U&"Invoice; Line*/\\000a\\\\! touch ');
    }
    // A literal holding a line end is written as an escape string.
    expect(String(check?.details?.instead)).toContain(`CHECK (qty > 1 AND ${quoteLiteral(`\n\\! touch ${pwned}\n`)} <> '') NOT VALID;`);
    const fkName = constraintName(TABLE, COLUMN, 'fkey');
    expect(String(fk?.details?.instead).split('\n')[0]).toBe(
      `ALTER TABLE "Billing Dept".${quoteIdent(TABLE)} ADD CONSTRAINT ${quoteIdent(fkName)} FOREIGN KEY (${quoteIdent(COLUMN)}) REFERENCES "Billing Dept".parents (id) NOT VALID;`,
    );
    expect(psql(db.url, ['-f', path.join(root, 'fix.sql')])).toMatchObject({ code: 0 });
    // The NOT NULL and CHECK recipes, with the rows repaired by hand as their messages say.
    const run = (sql: string) => {
      const file = path.join(root, 'instead.sql');
      // As a person would save it from the report and run it with psql -f.
      writeFileSync(file, `${sql}\n`);
      return psql(db.url, ['-f', file]);
    };
    expect(run(String(fk?.details?.instead))).toMatchObject({ code: 0, stderr: '' });
    expect(run(`UPDATE ${HOSTILE} SET qty = 2 WHERE qty IS NULL OR qty <= 1;\n${String(notNull?.details?.instead)}\n${String(check?.details?.instead)}`)).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(pwned)).toBe(false);
    const constraints = await query<{ conname: string; contype: string; validated: boolean }>(
      db.url,
      `SELECT conname::text, contype::text, convalidated AS validated FROM pg_constraint WHERE conrelid = ${OID} AND contype IN ('c', 'f') ORDER BY 2`,
      [SCHEMA, TABLE],
    );
    expect(constraints).toEqual([
      { conname: `qty*/\n\\! touch ${pwned}`, contype: 'c', validated: true },
      { conname: fkName, contype: 'f', validated: true },
    ]);
    const qty = await query<{ notnull: boolean }>(db.url, `SELECT attnotnull AS notnull FROM pg_attribute WHERE attrelid = ${OID} AND attname = 'qty'`, [SCHEMA, TABLE]);
    expect(qty).toEqual([{ notnull: true }]);
  });
});

const KINDS_SETUP = [
  'CREATE TABLE products (id int PRIMARY KEY, price numeric)',
  'INSERT INTO products VALUES (1, 10), (2, 0), (3, NULL)',
  'CREATE TABLE plans (id int PRIMARY KEY, meta jsonb)',
  `INSERT INTO plans VALUES (1, '{"k": "5"}'), (2, '{"k": 1.38}')`,
  'CREATE TABLE codes (id int PRIMARY KEY, code text)',
  `INSERT INTO codes VALUES (1, '12')`,
  'CREATE TABLE people (id int, email text)',
  `INSERT INTO people VALUES (1, 'a'), (2, 'a'), (3, NULL)`,
  'CREATE TABLE items (id int PRIMARY KEY)',
  'INSERT INTO items VALUES (1), (2)',
  'CREATE TABLE nokey (id int)',
  'INSERT INTO nokey VALUES (1)',
  'CREATE TABLE members (id int PRIMARY KEY, account_id int)',
  'INSERT INTO members VALUES (1, 1)',
  `CREATE TABLE b5 (id int PRIMARY KEY, s text DEFAULT 'x')`,
  `INSERT INTO b5 VALUES (1, '1')`,
  'CREATE TABLE b6 (id int PRIMARY KEY, v numeric UNIQUE)',
  'INSERT INTO b6 VALUES (1, 1.2), (2, 1.4)',
];

const KINDS = `ALTER TABLE products ADD CONSTRAINT price_positive CHECK (price > 0);
ALTER TABLE items ADD COLUMN sku text NOT NULL;
CREATE UNIQUE INDEX people_email ON people (email);
ALTER TABLE people ADD PRIMARY KEY (email);
CREATE INDEX plans_k ON plans (((meta->>'k')::int));
ALTER TABLE codes ALTER COLUMN code TYPE int;
CREATE TABLE items (id int);
ALTER TABLE members ADD FOREIGN KEY (account_id) REFERENCES nokey (id);
ALTER TABLE plans ADD CHECK ((meta->>'k')::int > 0);
`;

describe.skipIf(!HAS_PSQL)('preflight: the instead SQL of each kind of statement that fails now', () => {
  const db = useDatabase('preflight_instead_kinds', { sql: KINDS_SETUP });

  it('is the exact SQL, and run for real once the rows are repaired by hand, each part succeeds', async () => {
    const root = repository({ 'db/k.sql': KINDS, 'db/o.sql': 'ALTER TABLE b5 ALTER COLUMN s TYPE int USING s::int;\nALTER TABLE b6 ALTER COLUMN v TYPE int;\n' });
    const { report } = await preflightJson(db.url, root, ['db/k.sql']);
    const instead = (line: number, rule: string, kind?: RegExp) =>
      String(report.findings.find((f) => f.location.line === line && f.checkId === rule && (!kind || kind.test(f.message)))?.details?.instead).split('\n');
    const check = instead(1, 'preflight/check-violations');
    expect(check).toEqual(['ALTER TABLE public.products ADD CONSTRAINT price_positive CHECK (price > 0) NOT VALID;', 'ALTER TABLE "public"."products" VALIDATE CONSTRAINT "price_positive";']);
    const column = instead(2, 'preflight/nulls');
    expect(column).toEqual([
      'ALTER TABLE public.items ADD COLUMN sku text;',
      'ALTER TABLE "public"."items" ADD CONSTRAINT "items_sku_not_null" CHECK ("sku" IS NOT NULL) NOT VALID;',
      'ALTER TABLE "public"."items" VALIDATE CONSTRAINT "items_sku_not_null";',
      'ALTER TABLE "public"."items" ALTER COLUMN "sku" SET NOT NULL;',
      'ALTER TABLE "public"."items" DROP CONSTRAINT "items_sku_not_null";',
    ]);
    const index = instead(3, 'preflight/duplicates');
    expect(index).toEqual(['CREATE UNIQUE INDEX CONCURRENTLY people_email ON public.people USING btree (email);']);
    const pkNulls = instead(4, 'preflight/duplicates', /\(23502\)/);
    expect(pkNulls).toEqual([
      'ALTER TABLE "public"."people" ADD CONSTRAINT "people_email_not_null" CHECK ("email" IS NOT NULL) NOT VALID;',
      'ALTER TABLE "public"."people" VALIDATE CONSTRAINT "people_email_not_null";',
      'ALTER TABLE "public"."people" ALTER COLUMN "email" SET NOT NULL;',
      'ALTER TABLE "public"."people" DROP CONSTRAINT "people_email_not_null";',
    ]);
    const pk = instead(4, 'preflight/duplicates', /\(23505\)/);
    expect(pk).toEqual(['CREATE UNIQUE INDEX CONCURRENTLY "people_pkey" ON "public"."people" ("email");', 'ALTER TABLE "public"."people" ADD CONSTRAINT "people_pkey" PRIMARY KEY USING INDEX "people_pkey";']);
    const numericIndex = instead(5, 'preflight/index-expressions');
    expect(numericIndex).toEqual(["CREATE INDEX plans_k ON public.plans USING btree ((CAST(meta ->> 'k' AS numeric)));"]);
    const using = instead(6, 'preflight/type-changes');
    expect(using).toEqual(['ALTER TABLE public.codes ALTER COLUMN code TYPE int USING code::int;']);
    const exists = instead(7, 'preflight/already-exists');
    expect(exists).toEqual(['CREATE TABLE IF NOT EXISTS public.items (id int);']);
    const key = instead(8, 'preflight/orphans');
    expect(key).toEqual(['ALTER TABLE "public"."nokey" ADD UNIQUE ("id");']);
    const numericCheck = instead(9, 'preflight/check-violations');
    expect(numericCheck).toEqual(["ALTER TABLE public.plans ADD CHECK (CAST(meta ->> 'k' AS numeric) > 0);"]);
    // Every message that fails now ends with its pointer.
    const failing = report.findings.filter((x) => / fails now/.test(x.message));
    expect(failing).toHaveLength(10);
    for (const f of failing) {
      expect(f.message.split('. Instead: ')).toHaveLength(2);
      expect(f.message.split('. Instead: ')[1]).toContain(String(f.details?.instead).split('\n')[0]);
    }

    // What other judges write themselves is left as they wrote it; a statement with no instead of its own is not given a made-up one.
    const { report: others } = await preflightJson(db.url, root, ['db/o.sql']);
    const dflt = others.findings.find((f) => f.location.line === 1 && f.checkId !== 'preflight/blocking-scans' && f.checkId !== 'preflight/table-rewrites');
    expect(dflt?.details?.instead).toMatch(/^ALTER TABLE .*DROP DEFAULT/);
    expect(dflt?.message).not.toContain('. Instead: ');
    const collide = others.findings.find((f) => f.location.line === 2 && f.checkId === 'preflight/duplicates');
    expect(collide?.details).toMatchObject({ kind: 'converted-keys-collide' });
    expect(collide?.details?.instead).toBeUndefined();
    expect(collide?.details?.insteadNote).toBeUndefined();
    expect(collide?.details?.repairNote).toBeUndefined();
    expect(collide?.fix).toBeNull();

    const ok = (sql: string) => expect(psql(db.url, ['-c', sql]), sql).toMatchObject({ code: 0 });
    ok('UPDATE products SET price = 1 WHERE price <= 0');
    check.forEach(ok);
    ok(column[0] as string);
    ok(column[1] as string);
    ok("UPDATE items SET sku = 'x'");
    column.slice(2).forEach(ok);
    ok('DELETE FROM people WHERE id = 2');
    index.forEach(ok);
    ok("UPDATE people SET email = 'c' WHERE email IS NULL");
    pkNulls.forEach(ok);
    pk.forEach(ok);
    [...numericIndex, ...using, ...exists, ...key, 'ALTER TABLE members ADD FOREIGN KEY (account_id) REFERENCES nokey (id)', ...numericCheck].forEach(ok);
    const made = await query<{ conname: string; contype: string }>(
      db.url,
      `SELECT conname::text, contype::text FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('c', 'f', 'p', 'u') ORDER BY 1`,
    );
    expect(made.map((c) => `${c.conname}:${c.contype}`)).toEqual([
      'b5_pkey:p', 'b6_pkey:p', 'b6_v_key:u', 'codes_pkey:p', 'items_pkey:p', 'members_account_id_fkey:f', 'members_pkey:p', 'nokey_id_key:u', 'people_pkey:p', 'plans_meta_check:c', 'plans_pkey:p', 'price_positive:c', 'products_pkey:p',
    ]);
  });
});
