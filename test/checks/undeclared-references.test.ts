import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/findings.js';
import { runCli } from '../helpers/cli.js';
import { adminUrl, audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

const ID = 'undeclared-references';
const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/real');
const read = (file: string) => readFileSync(path.join(REAL, file), 'utf8');

/** child.column -> parent.column, for comparing inferred references with the declared ones. */
function inferredPairs(report: AuditReport): string[] {
  return report.findings
    .filter((f) => f.checkId === ID)
    .map((f) => `${f.object.table}.${String(f.object.column)} -> ${String(f.object.references?.table)}.${String(f.object.references?.columns[0])}`)
    .sort();
}

/** Findings in one order whatever the report's (which puts the warnings first). */
function sorted<T extends { object: { schema: string; table: string; column?: string } }>(items: T[]): T[] {
  const key = (f: T) => JSON.stringify([f.object.schema, f.object.table, f.object.column ?? '']);
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

const ref = (schema: string, table: string, column: string, parentSchema: string, parent: string, parentColumn: string) => ({
  schema,
  table,
  column,
  references: { schema: parentSchema, table: parent, columns: [parentColumn] },
});

const PLANTED = `
  -- snake_case, plural tables, orphans and a NULL (not an orphan)
  CREATE TABLE public.customers (customer_id int PRIMARY KEY, name text);
  CREATE TABLE public.orders (order_id int PRIMARY KEY, customer_id int, account_id text, paid boolean);
  INSERT INTO public.customers VALUES (1, 'a'), (2, 'b');
  INSERT INTO public.orders VALUES (10, 1, 'x', true), (11, 99, 'y', false), (12, 98, NULL, true), (13, NULL, NULL, true), (14, 99, NULL, false);
  -- singular table, an id column, y -> ies, no orphans; a self-reference by parent_id
  CREATE TABLE public.categories (id bigint PRIMARY KEY, parent_id bigint);
  CREATE TABLE public.products (id bigint PRIMARY KEY, category_id bigint, supplier_id int[]);
  INSERT INTO public.categories VALUES (1, NULL), (2, 1);
  INSERT INTO public.products VALUES (1, 1, '{1}'), (2, 2, NULL);
  -- a domain over the key's type is the same type
  CREATE DOMAIN public.customer_key AS int;
  CREATE TABLE public.invoices (id int PRIMARY KEY, customer_id public.customer_key);
  INSERT INTO public.invoices VALUES (1, 2), (2, 3);

  -- Prisma's PascalCase models, camelCase fields, text ids, no foreign keys (relationMode = "prisma")
  CREATE TABLE public."User" ("id" text PRIMARY KEY);
  CREATE TABLE public."Post" ("id" text PRIMARY KEY, "userId" text NOT NULL);
  CREATE TABLE public."AssistantChatSession" ("id" text PRIMARY KEY, "userId" text NOT NULL);
  CREATE TABLE public."AssistantChatMessage" ("id" text PRIMARY KEY, "sessionId" text NOT NULL);
  INSERT INTO public."User" VALUES ('usr_1');
  INSERT INTO public."Post" VALUES ('p1', 'usr_1'), ('p2', 'usr_gone');
  INSERT INTO public."AssistantChatSession" VALUES ('ses_1', 'usr_1');
  INSERT INTO public."AssistantChatMessage" VALUES ('m1', 'ses_1'), ('m2', 'ses_lost'), ('m3', 'ses_lost');

  -- hostile names: a space, a quote, a line end
  CREATE SCHEMA "Billing Dept";
  CREATE TABLE "Billing Dept"."Customer" ("customer_id" uuid PRIMARY KEY);
  CREATE TABLE "Billing Dept"."Invoice Line" ("id" int PRIMARY KEY, "customer_id" uuid, "tax ""code"" id" int, "ware_house_id" int);
  CREATE TABLE "Billing Dept"."Tax ""Code""" ("id" int PRIMARY KEY);
  CREATE TABLE "Billing Dept".${'U&"Ware\\000aHouse"'} ("id" int PRIMARY KEY);
  INSERT INTO "Billing Dept"."Customer" VALUES ('6f1c1d36-4b7e-4c55-9a55-2f0f4b0b7a01');
  INSERT INTO "Billing Dept"."Tax ""Code""" VALUES (1);
  INSERT INTO "Billing Dept"."Invoice Line" VALUES (1, '6f1c1d36-4b7e-4c55-9a55-2f0f4b0b7a01', 1, 7), (2, '00000000-0000-0000-0000-0000000000aa', 2, NULL);

  -- look-alikes: another type, a foreign key, a configured relation, a table's own key, a composite key
  CREATE TABLE public.accounts (account_id int PRIMARY KEY);
  CREATE TABLE public.shipments (id int PRIMARY KEY, order_id int REFERENCES public.orders (order_id));
  CREATE TABLE public.refunds (id int PRIMARY KEY, order_id int);
  INSERT INTO public.refunds VALUES (1, 10), (2, 404);
  CREATE TABLE public.order_lines (order_id int, line_no int, PRIMARY KEY (order_id, line_no));
  CREATE TABLE public.returns (id int PRIMARY KEY, order_line_id int);
  -- no primary key: its one single-column unique key named id is the target
  CREATE TABLE public.warehouses (id int NOT NULL UNIQUE, code text UNIQUE);
  CREATE TABLE public.stock (id int PRIMARY KEY, warehouse_id int);
  INSERT INTO public.warehouses VALUES (1, 'w1');
  INSERT INTO public.stock VALUES (1, 1), (2, 1);
  -- two tables the name fits in one schema: not guessed
  CREATE TABLE public.tag (id int PRIMARY KEY);
  CREATE TABLE public.tags (id int PRIMARY KEY);
  CREATE TABLE public.notes (id int PRIMARY KEY, tag_id int);

  -- a name that fits a table in two other schemas: not guessed; in its own schema: that one
  CREATE SCHEMA east; CREATE SCHEMA west; CREATE SCHEMA sales;
  CREATE TABLE east.region (id int PRIMARY KEY);
  CREATE TABLE west.region (id int PRIMARY KEY);
  CREATE TABLE sales.office (id int PRIMARY KEY, region_id int, team_id int);
  CREATE TABLE sales.team (id int PRIMARY KEY);
  CREATE TABLE public.team (id int PRIMARY KEY);
  INSERT INTO sales.office VALUES (1, 5, 5);
`;

const REFUNDS = { table: 'refunds', columns: ['order_id'], references: { table: 'orders', columns: ['order_id'] } };

describe('undeclared-references on planted schemas', () => {
  const db = useDatabase('undeclared', { sql: [PLANTED] });

  const expected = [
    {
      checkId: ID,
      severity: 'warning',
      object: ref('Billing Dept', 'Invoice Line', 'customer_id', 'Billing Dept', 'Customer', 'customer_id'),
      count: 1,
      samples: ['00000000-0000-0000-0000-0000000000aa'],
    },
    { checkId: ID, severity: 'warning', object: ref('Billing Dept', 'Invoice Line', 'tax "code" id', 'Billing Dept', 'Tax "Code"', 'id'), count: 1, samples: ['2'] },
    { checkId: ID, severity: 'warning', object: ref('Billing Dept', 'Invoice Line', 'ware_house_id', 'Billing Dept', 'Ware\nHouse', 'id'), count: 1, samples: ['7'] },
    { checkId: ID, severity: 'warning', object: ref('public', 'AssistantChatMessage', 'sessionId', 'public', 'AssistantChatSession', 'id'), count: 2, samples: ['ses_lost'] },
    { checkId: ID, severity: 'info', object: ref('public', 'AssistantChatSession', 'userId', 'public', 'User', 'id'), count: null, samples: [] },
    { checkId: ID, severity: 'warning', object: ref('public', 'Post', 'userId', 'public', 'User', 'id'), count: 1, samples: ['usr_gone'] },
    { checkId: ID, severity: 'warning', object: ref('public', 'invoices', 'customer_id', 'public', 'customers', 'customer_id'), count: 1, samples: ['3'] },
    { checkId: ID, severity: 'info', object: ref('public', 'order_lines', 'order_id', 'public', 'orders', 'order_id'), count: null, samples: [] },
    { checkId: ID, severity: 'warning', object: ref('public', 'orders', 'customer_id', 'public', 'customers', 'customer_id'), count: 3, samples: ['98', '99'] },
    { checkId: ID, severity: 'info', object: ref('public', 'products', 'category_id', 'public', 'categories', 'id'), count: null, samples: [] },
    { checkId: ID, severity: 'warning', object: ref('public', 'refunds', 'order_id', 'public', 'orders', 'order_id'), count: 1, samples: ['404'] },
    { checkId: ID, severity: 'warning', object: ref('sales', 'office', 'team_id', 'sales', 'team', 'id'), count: 1, samples: ['5'] },
    { checkId: ID, severity: 'info', object: ref('public', 'stock', 'warehouse_id', 'public', 'warehouses', 'id'), count: null, samples: [] },
  ];

  it('reports each inferred reference with its exact orphan count, and nothing for the look-alikes', async () => {
    const report = await audit(db.url, { checks: [ID] });
    expect(sorted(summarize(report))).toEqual(sorted(expected));
    const result = checkResult(report, ID);
    expect(result.status).toBe('failed');
    expect(result.note).toBe(
      'inferred 13 undeclared references from column names and types, 9 with orphan rows; 2 columns left out, their name fitting several tables (public.notes.tag_id: public.tag or public.tags; sales.office.region_id: east.region or west.region); 1 column left out, its name fitting a table whose key is of another type (public.orders.account_id is text, public.accounts.account_id is integer)',
    );
    expect(report.findings.find((f) => f.object.table === 'AssistantChatMessage')?.details).toMatchObject({ rule: 'prefix', type: 'text' });
    // No orphans: the reference alone is the finding (count null), its orphan count 0 in details.
    expect(report.findings.find((f) => f.object.table === 'stock')?.details).toMatchObject({ orphans: 0 });
    expect(report.findings.find((f) => f.object.table === 'orders')?.details).toEqual({
      rule: 'name',
      type: 'integer',
      orphans: 3,
      relation: { name: 'orders.customer_id -> customers.customer_id', schema: 'public', table: 'orders', columns: ['customer_id'], references: { schema: 'public', table: 'customers', columns: ['customer_id'] } },
    });
    expect(report.findings.every((f) => f.fix === null)).toBe(true);
  });

  it('names hostile identifiers quoted, with no raw line end in any message', async () => {
    const report = await audit(db.url, { checks: [ID] });
    const ware = report.findings.find((f) => f.object.column === 'ware_house_id');
    expect(ware?.message).toContain('reference to "Billing Dept".U&"Ware\\000aHouse" (id)');
    expect(report.findings.map((f) => f.message).filter((m) => /[\r\n]/.test(m))).toEqual([]);
    expect(report.findings.find((f) => f.object.column === 'tax "code" id')?.message).toMatch(/^"Billing Dept"\."Invoice Line"\."tax ""code"" id" looks like a reference to "Billing Dept"\."Tax ""Code""" \(id\)/);
  });

  it('leaves out a column a configured relation covers, and reports it again as orphan-rows\'s once declared', async () => {
    const report = await audit(db.url, { checks: [ID, 'orphan-rows'], config: { relations: [REFUNDS] } });
    expect(summarize(report, ID).map((f) => `${f.object.table}.${String(f.object.column)}`)).not.toContain('refunds.order_id');
    expect(summarize(report, ID)).toHaveLength(expected.length - 1);
    expect(summarize(report, 'orphan-rows')).toEqual([
      { checkId: 'orphan-rows', severity: 'error', object: { ...ref('public', 'refunds', 'order_id', 'public', 'orders', 'order_id') }, count: 1, samples: ['404'] },
    ]);
  });

  it('declaring every details.relation leaves nothing to report, and orphan-rows counts the same orphans', async () => {
    const first = await audit(db.url, { checks: [ID] });
    const relations = first.findings.map((f) => f.details?.relation);
    const declared = await audit(db.url, { checks: [ID, 'orphan-rows'], config: { relations } });
    expect(summarize(declared, ID)).toEqual([]);
    const orphanCounts = summarize(declared, 'orphan-rows').map((f) => [f.object.schema, f.object.table, f.object.column, f.count]);
    expect(orphanCounts).toEqual(
      first.findings.filter((f) => (f.count ?? 0) > 0).map((f) => [f.object.schema, f.object.table, f.object.column, f.count]),
    );
  });

  it('keeps sample values in the database under sampleSize 0, the counts unchanged', async () => {
    const report = await audit(db.url, { checks: [ID], config: { sampleSize: 0 } });
    expect(sorted(summarize(report))).toEqual(sorted(expected).map((f) => ({ ...f, samples: [] })));
  });

  it('picks the referencing table\'s own schema, and is ambiguous nowhere else', async () => {
    const report = await audit(db.url, { checks: [ID], schemas: ['sales', 'east'] });
    expect(summarize(report).map((f) => f.object)).toEqual([ref('sales', 'office', 'region_id', 'east', 'region', 'id'), ref('sales', 'office', 'team_id', 'sales', 'team', 'id')]);
  });

  it('never fails a build gated on error by default, and writes no repair: the fix script has nothing to run for it', async () => {
    const check = await runCli(['check', '-d', db.url, '--check', ID, '--format', 'json']);
    expect(check.code).toBe(0);
    const json = JSON.parse(check.stdout) as AuditReport;
    expect(json.findings.map((f) => f.severity).sort()).toEqual(expected.map((f) => f.severity).sort());
    expect((await runCli(['check', '-d', db.url, '--check', ID, '--fail-on', 'warning'])).code).toBe(1);
    const fix = await runCli(['fix', '-d', db.url, '--check', ID]);
    expect(fix.code).toBe(0);
    expect(fix.stdout).not.toMatch(/^\s*(ALTER|DELETE|UPDATE|INSERT|CREATE)\b/m);
  });

  it('is skipped with a reason when the audited schemas have no table', async () => {
    await query(db.url, 'CREATE SCHEMA IF NOT EXISTS empty_one');
    const result = checkResult(await audit(db.url, { checks: [ID], schemas: ['empty_one'] }), ID);
    expect(result.status).toBe('skipped');
    expect(result.reason).toBe('no tables in the audited schemas (empty_one): name the schemas with --schema');
  });

  describe('under row-level security the role does not bypass', () => {
    const role = `integrity_undeclared_norls_${process.pid}`;
    afterAll(async () => {
      await query(db.url, `ALTER TABLE public.orders DISABLE ROW LEVEL SECURITY; DROP OWNED BY ${role}`).catch(() => undefined);
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    });

    it('that reference is still reported, uncounted, as an error of its own; the others are counted', async () => {
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN NOBYPASSRLS PASSWORD 'norls-pw'`);
      await query(
        db.url,
        `GRANT USAGE ON SCHEMA public, "Billing Dept", sales, east, west TO ${role};
         GRANT SELECT ON ALL TABLES IN SCHEMA public, "Billing Dept", sales, east, west TO ${role};
         ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY`,
      );
      const url = new URL(db.url);
      url.username = role;
      url.password = 'norls-pw';
      const report = await audit(url.toString(), { checks: [ID] });
      const result = checkResult(report, ID);
      expect(result.status).toBe('error');
      expect(result.objectErrors?.map((e) => [e.object, e.reason.match(/\[(\w{5})\]$/)?.[1]])).toEqual([
        ['public.order_lines.order_id -> public.orders.order_id', '42501'],
        ['public.orders.customer_id -> public.customers.customer_id', '42501'],
        ['public.refunds.order_id -> public.orders.order_id', '42501'],
      ]);
      // orders is read as the child of one reference and as the parent of two.
      const blocked = (f: { object: { table: string; references?: { table: string } } }) => f.object.table === 'orders' || f.object.references?.table === 'orders';
      expect(report.findings.filter(blocked).map((f) => [f.object.table, f.count, f.samples, f.severity, f.details?.notCounted])).toEqual(
        ['order_lines', 'orders', 'refunds'].map((t) => [t, null, [], 'info', "the count failed (see the check's errors)"]),
      );
      expect(sorted(summarize(report).filter((f) => !blocked(f)))).toEqual(sorted(expected.filter((f) => !blocked(f))));
    });
  });
});

/** The relations a Prisma schema declares (`@relation(fields: [...], references: [...])`), as table.column pairs. */
function prismaRelations(schema: string): string[] {
  const models = new Map<string, { table: string; columns: Map<string, string>; relations: { fields: string[]; model: string; references: string[] }[] }>();
  for (const m of schema.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const [, name, body] = m as unknown as [string, string, string];
    const table = /@@map\((?:name:\s*)?"([^"]+)"\)/.exec(body)?.[1] ?? name;
    const columns = new Map<string, string>();
    const relations: { fields: string[]; model: string; references: string[] }[] = [];
    for (const line of body.split('\n')) {
      const field = /^\s*(\w+)\s+(\w+)(\[\])?\??\s*(.*)$/.exec(line);
      if (!field || line.trim().startsWith('@@') || line.trim().startsWith('//')) continue;
      const [, fieldName, type, , rest] = field as unknown as [string, string, string, string | undefined, string];
      columns.set(fieldName, /@map\((?:name:\s*)?"([^"]+)"\)/.exec(rest)?.[1] ?? fieldName);
      const rel = /@relation\([^)]*fields:\s*\[([^\]]+)\][^)]*references:\s*\[([^\]]+)\]/.exec(rest);
      if (rel) relations.push({ fields: (rel[1] as string).split(',').map((s) => s.trim()), model: type, references: (rel[2] as string).split(',').map((s) => s.trim()) });
    }
    models.set(name, { table, columns, relations });
  }
  const out: string[] = [];
  for (const model of models.values()) {
    for (const r of model.relations) {
      const parent = models.get(r.model);
      if (!parent) throw new Error(`no model ${r.model}`);
      out.push(`${model.table}.${r.fields.map((f) => model.columns.get(f) ?? f).join(',')} -> ${parent.table}.${r.references.map((f) => parent.columns.get(f) ?? f).join(',')}`);
    }
  }
  return out.sort();
}

/** The declared foreign keys (a partition's attributed to its partitioned table), deduplicated, then dropped. */
async function takeForeignKeys(url: string): Promise<string[]> {
  const rows = await query<{ pair: string }>(
    url,
    `SELECT DISTINCT coalesce(pc.relname, c.relname) || '.' || (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(n, ord) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n)
              || ' -> ' || r.relname || '.' || (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(n, ord) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n) AS pair
       FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class r ON r.oid = con.confrelid
       LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid LEFT JOIN pg_class pc ON pc.oid = i.inhparent
      WHERE con.contype = 'f' ORDER BY 1`,
  );
  await query(
    url,
    `DO $$ DECLARE r record; BEGIN
       FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 LOOP
         EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname);
       END LOOP; END $$`,
  );
  return rows.map((r) => r.pair);
}

interface Measured {
  inferred: string[];
  truePositives: number;
  declared: number;
  singleColumn: number;
}

function measure(inferred: string[], declared: string[]): Measured {
  return { inferred, truePositives: inferred.filter((p) => declared.includes(p)).length, declared: declared.length, singleColumn: declared.filter((d) => !d.includes(',')).length };
}

// Precision on real schemas: the declared references are the truth. Foreign keys are dropped first, so
// the check sees the schema as one with none would look; a Prisma schema with relationMode = "prisma"
// has none to begin with, and its @relation attributes say which columns are references.
describe('undeclared-references on real schemas', () => {
  describe('pagila', () => {
    const db = useDatabase('undeclared_pagila', { sql: [read('pagila-schema.sql'), read('pagila-sample-data.sql')] });

    it('reports nothing while its foreign keys are declared', async () => {
      const report = await audit(db.url, { checks: [ID] });
      expect(report.findings).toEqual([]);
      expect(checkResult(report, ID)).toMatchObject({ status: 'passed', note: 'inferred 0 undeclared references from column names and types' });
    });

    it('without them, infers 20 references, all of them right (precision 20/20, recall 20/21), with no orphan in its data', async () => {
      const declared = await takeForeignKeys(db.url);
      const report = await audit(db.url, { checks: [ID] });
      const m = measure(inferredPairs(report), declared);
      expect(m).toEqual({
        inferred: [
          'address.city_id -> city.city_id',
          'city.country_id -> country.country_id',
          'customer.address_id -> address.address_id',
          'customer.store_id -> store.store_id',
          'film.language_id -> language.language_id',
          'film_actor.actor_id -> actor.actor_id',
          'film_actor.film_id -> film.film_id',
          'film_category.category_id -> category.category_id',
          'film_category.film_id -> film.film_id',
          'inventory.film_id -> film.film_id',
          'inventory.store_id -> store.store_id',
          'payment.customer_id -> customer.customer_id',
          'payment.rental_id -> rental.rental_id',
          'payment.staff_id -> staff.staff_id',
          'rental.customer_id -> customer.customer_id',
          'rental.inventory_id -> inventory.inventory_id',
          'rental.staff_id -> staff.staff_id',
          'staff.address_id -> address.address_id',
          'staff.store_id -> store.store_id',
          'store.address_id -> address.address_id',
        ],
        truePositives: 20,
        declared: 21,
        singleColumn: 21,
      });
      // Missed: a name that does not spell its table.
      expect(declared.filter((d) => !m.inferred.includes(d))).toEqual(['film.original_language_id -> language.language_id']);
      expect(report.findings.map((f) => [f.count, f.severity])).toEqual(report.findings.map(() => [null, 'info']));
    });
  });

  describe('supabase auth', () => {
    const db = useDatabase('undeclared_supabase', { sql: [read('supabase-auth.sql')] });

    it('infers its 18 foreign keys once dropped, and 2 columns Supabase itself leaves without one (precision 18/20, recall 18/18)', async () => {
      const undeclared = inferredPairs(await audit(db.url, { checks: [ID] }));
      // With its keys in place, only the columns that have none: two flow_state columns. The legacy
      // instance_id columns spell auth.instances but hold the nil UUID by convention (placeholder-uuid's
      // known conventions): not taken for references.
      expect(undeclared).toEqual(['flow_state.oauth_client_state_id -> oauth_client_states.id', 'flow_state.user_id -> users.id']);
      const declared = await takeForeignKeys(db.url);
      const m = measure(inferredPairs(await audit(db.url, { checks: [ID] })), declared);
      expect({ inferred: m.inferred.length, truePositives: m.truePositives, declared: m.declared, singleColumn: m.singleColumn }).toEqual({ inferred: 20, truePositives: 18, declared: 18, singleColumn: 18 });
      expect(m.inferred.filter((p) => !declared.includes(p))).toEqual(undeclared);
    });
  });

  describe('northwind', () => {
    const db = useDatabase('undeclared_northwind', { sql: [read('northwind-schema.sql')] });

    it('reports nothing with its foreign keys; without them, 10 references, all right (precision 10/10, recall 10/13)', async () => {
      expect((await audit(db.url, { checks: [ID] })).findings).toEqual([]);
      const declared = await takeForeignKeys(db.url);
      const m = measure(inferredPairs(await audit(db.url, { checks: [ID] })), declared);
      expect(m).toEqual({
        inferred: [
          'customer_customer_demo.customer_id -> customers.customer_id',
          'employee_territories.employee_id -> employees.employee_id',
          'employee_territories.territory_id -> territories.territory_id',
          'order_details.order_id -> orders.order_id',
          'order_details.product_id -> products.product_id',
          'orders.customer_id -> customers.customer_id',
          'orders.employee_id -> employees.employee_id',
          'products.category_id -> categories.category_id',
          'products.supplier_id -> suppliers.supplier_id',
          'territories.region_id -> region.region_id',
        ],
        truePositives: 10,
        declared: 13,
        singleColumn: 13,
      });
      // Missed: names that do not spell their table.
      expect(declared.filter((d) => !m.inferred.includes(d))).toEqual([
        'customer_customer_demo.customer_type_id -> customer_demographics.customer_type_id',
        'employees.reports_to -> employees.employee_id',
        'orders.ship_via -> shippers.shipper_id',
      ]);
    });
  });

  describe('umami (Prisma, relationMode = "prisma": no foreign keys)', () => {
    const db = useDatabase('undeclared_umami', { sql: [read('umami-schema.sql')] });

    it('infers 25 references, 22 of them declared by its schema.prisma (precision 22/25, recall 22/23)', async () => {
      const declared = prismaRelations(read('umami-schema.prisma'));
      const m = measure(inferredPairs(await audit(db.url, { checks: [ID] })), declared);
      expect(m.inferred).toHaveLength(25);
      expect({ truePositives: m.truePositives, declared: m.declared, singleColumn: m.singleColumn }).toEqual({ truePositives: 22, declared: 23, singleColumn: 23 });
      // Counted as wrong, though by name, type and use they hold a website's or a session's id: their
      // models have the column but declare no relation field for it.
      expect(m.inferred.filter((p) => !declared.includes(p))).toEqual([
        'session.website_id -> website.website_id',
        'session_replay.session_id -> session.session_id',
        'website_event.website_id -> website.website_id',
      ]);
      // Missed: website.created_by (the relation "createUser"), a name that does not spell its table.
      expect(declared.filter((d) => !m.inferred.includes(d))).toEqual(['website.created_by -> user.user_id']);
    });
  });

  describe('taxonomy (Prisma, camelCase fields, referentialIntegrity = "prisma")', () => {
    const db = useDatabase('undeclared_taxonomy', { sql: [read('taxonomy-schema.sql')] });

    it('infers 2 references, both right (precision 2/2, recall 2/3)', async () => {
      const declared = prismaRelations(read('taxonomy-schema.prisma'));
      const m = measure(inferredPairs(await audit(db.url, { checks: [ID] })), declared);
      expect(m).toEqual({ inferred: ['accounts.userId -> users.id', 'sessions.userId -> users.id'], truePositives: 2, declared: 3, singleColumn: 3 });
      expect(declared.filter((d) => !m.inferred.includes(d))).toEqual(['posts.authorId -> users.id']);
    });
  });
});

describe('a name that fits a table whose key is of another type', () => {
  const db = useDatabase('undeclared_mistyped', {
    sql: [
      `CREATE SCHEMA auth;
       CREATE TABLE auth.users (id uuid PRIMARY KEY);
       CREATE TABLE public."User" ("id" text PRIMARY KEY);
       -- Seed 004's audit table beside Seed 002's Prisma "User": the local "User" has a text key.
       CREATE TABLE public.user_profiles_audit (id int PRIMARY KEY, user_id uuid);
       INSERT INTO public.user_profiles_audit VALUES (1, '00000000-0000-0000-0000-000000000001');
       -- same type: still inferred
       CREATE TABLE public.post (id int PRIMARY KEY, user_id text);`,
    ],
  });

  it('is not guessed, and the note names the column, both types and the table of another schema that would fit', async () => {
    const report = await audit(db.url, { checks: [ID], schemas: ['public', 'auth'] });
    expect(summarize(report).map((f) => f.object)).toEqual([ref('public', 'post', 'user_id', 'public', 'User', 'id')]);
    expect(checkResult(report, ID).note).toBe(
      'inferred 1 undeclared reference from column names and types, 0 with orphan rows; 1 column left out, its name fitting a table whose key is of another type (public.user_profiles_audit.user_id is uuid, public."User".id is text; auth.users would fit, in another schema)',
    );
  });

  it('with the local table of that name gone, the one schema that has it is the reference', async () => {
    await query(db.url, 'DROP TABLE public.post; DROP TABLE public."User"');
    const report = await audit(db.url, { checks: [ID], schemas: ['public', 'auth'] });
    expect(summarize(report).map((f) => [f.object, f.count])).toEqual([[ref('public', 'user_profiles_audit', 'user_id', 'auth', 'users', 'id'), 1]]);
    expect(checkResult(report, ID).note).toBe('inferred 1 undeclared reference from column names and types, 1 with orphan rows');
  });
});
