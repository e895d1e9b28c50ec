import { afterAll, describe, expect, it } from 'vitest';
import { adminUrl, audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

const SCHEMA = `
  CREATE EXTENSION IF NOT EXISTS citext;
  CREATE SCHEMA "Billing Dept";
  CREATE TABLE "Billing Dept"."Invoice" ("Tenant" text, "Invoice No" int, "Status" text NOT NULL, PRIMARY KEY ("Tenant", "Invoice No"));
  CREATE TABLE "Billing Dept"."Invoice Line" ("Line Id" serial PRIMARY KEY, "Tenant" text, "Invoice No" int, "Voided" boolean NOT NULL DEFAULT false);
  INSERT INTO "Billing Dept"."Invoice" VALUES ('acme', 1, 'open'), ('acme', 2, 'open'), ('globex', 7, 'draft'), ('globex', 8, 'open');
  -- acme 2: no line; globex 7: a draft (not required); globex 8: only a voided line
  INSERT INTO "Billing Dept"."Invoice Line" ("Tenant", "Invoice No", "Voided") VALUES ('acme', 1, false), ('globex', 8, true);

  CREATE TABLE orders (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
  CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
  CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
  CREATE TABLE order_lines (id serial PRIMARY KEY, order_id int);
  INSERT INTO orders VALUES (1, 'eu'), (2, 'us'), (3, 'us');
  INSERT INTO order_lines (order_id) VALUES (1), (1);

  CREATE TABLE tenants (id int PRIMARY KEY, name text);
  CREATE TABLE archived_tenants () INHERITS (tenants);
  CREATE TABLE tenant_members (tenant_id int, role text, revoked_at timestamptz);
  INSERT INTO tenants VALUES (1, 'has owner'), (2, 'only a member'), (4, 'revoked owner');
  INSERT INTO archived_tenants VALUES (3, 'archived, no owner');
  INSERT INTO tenant_members VALUES (1, 'owner', NULL), (2, 'member', NULL), (4, 'owner', now() - interval '1 day');

  CREATE TABLE accounts (email citext PRIMARY KEY);
  CREATE TABLE account_settings (email text);
  INSERT INTO accounts VALUES ('Ann@Example.com'), ('bob@example.com');
  INSERT INTO account_settings VALUES ('ann@example.COM');

  CREATE TABLE devices (id uuid PRIMARY KEY);
  CREATE TABLE device_tokens (device_id varchar(36));
  INSERT INTO devices VALUES ('a0000000-0000-4000-8000-000000000001'), ('a0000000-0000-4000-8000-000000000002');
  INSERT INTO device_tokens VALUES ('A0000000-0000-4000-8000-000000000001');

  CREATE TABLE widgets (id int PRIMARY KEY, sku text);
  CREATE TABLE widget_stock (sku text);
  INSERT INTO widgets VALUES (1, 'a'), (2, NULL), (3, 'c');
  INSERT INTO widget_stock VALUES ('a'), (NULL);

  CREATE SCHEMA "from";
  CREATE TABLE "from"."Or""der\\s Ω" ("I""d" int PRIMARY KEY);
  CREATE TABLE "from"."li)ne; --" ("or""der" int);
  INSERT INTO "from"."Or""der\\s Ω" VALUES (1), (2);
  INSERT INTO "from"."li)ne; --" VALUES (1);

  CREATE TABLE secret_parent (id int PRIMARY KEY);
  CREATE TABLE secret_child (parent_id int);
  INSERT INTO secret_parent VALUES (1), (2);
  ALTER TABLE secret_parent ENABLE ROW LEVEL SECURITY;
  CREATE POLICY only_one ON secret_parent USING (id = 1);
  CREATE TABLE open_parent (id int PRIMARY KEY);
  CREATE TABLE open_child (parent_id int);
  INSERT INTO open_parent VALUES (1), (2);
`;

const RULES = {
  invoiceLines: {
    name: 'every invoice has a line',
    parent: { schema: 'Billing Dept', table: 'Invoice', key: ['Tenant', 'Invoice No'], where: `"Status" <> 'draft'` },
    child: { schema: 'Billing Dept', table: 'Invoice Line', columns: ['Tenant', 'Invoice No'], where: 'NOT "Voided"' },
  },
  orderLines: { name: 'every order has a line', parent: { table: 'orders', key: ['id'] }, child: { table: 'order_lines', columns: ['order_id'] } },
  tenantOwner: {
    name: 'every tenant has an owner',
    parent: { table: 'tenants', key: ['id'] },
    child: { table: 'tenant_members', columns: ['tenant_id'], where: `role = 'owner' AND (revoked_at IS NULL OR revoked_at > now())` },
  },
  citext: { parent: { table: 'accounts', key: ['email'] }, child: { table: 'account_settings', columns: ['email'] } },
  uuidText: { parent: { table: 'devices', key: ['id'] }, child: { table: 'device_tokens', columns: ['device_id'] } },
  nullKey: { parent: { table: 'widgets', key: ['sku'] }, child: { table: 'widget_stock', columns: ['sku'] } },
};

const config = (...rules: unknown[]) => ({ checks: { 'required-child': { rules } } });

describe('required-child', () => {
  const db = useDatabase('required_child', { sql: [SCHEMA] });

  it('skips, saying how to configure it, when no rule is configured', async () => {
    const result = checkResult(await audit(db.url, { checks: ['required-child'] }), 'required-child');
    expect(result.status).toBe('skipped');
    expect(result.reason).toBe('no rules configured: add checks.required-child.rules to the config file (see integrity explain required-child)');
  });

  it.each([
    [
      'quoted names with spaces, composite key, both filters',
      RULES.invoiceLines,
      {
        object: {
          schema: 'Billing Dept',
          table: 'Invoice',
          columns: ['Tenant', 'Invoice No'],
          references: { schema: 'Billing Dept', table: 'Invoice Line', columns: ['Tenant', 'Invoice No'] },
        },
        count: 2,
        samples: ['["acme", 2]', '["globex", 8]'],
      },
    ],
    [
      'a partitioned parent, sampled by its primary key',
      RULES.orderLines,
      {
        object: { schema: 'public', table: 'orders', column: 'id', references: { schema: 'public', table: 'order_lines', columns: ['order_id'] } },
        count: 2,
        samples: ['[2, "us"]', '[3, "us"]'],
      },
    ],
    [
      "an inheritance parent: its own rows only (FROM ONLY), not archived_tenants'",
      RULES.tenantOwner,
      {
        object: { schema: 'public', table: 'tenants', column: 'id', references: { schema: 'public', table: 'tenant_members', columns: ['tenant_id'] } },
        count: 2,
        samples: ['2', '4'],
      },
    ],
    [
      'a citext key against text, compared case-insensitively',
      RULES.citext,
      {
        object: { schema: 'public', table: 'accounts', column: 'email', references: { schema: 'public', table: 'account_settings', columns: ['email'] } },
        count: 1,
        samples: ['bob@example.com'],
      },
    ],
    [
      'a uuid key against varchar, compared as canonical text',
      RULES.uuidText,
      {
        object: { schema: 'public', table: 'devices', column: 'id', references: { schema: 'public', table: 'device_tokens', columns: ['device_id'] } },
        count: 1,
        samples: ['a0000000-0000-4000-8000-000000000002'],
      },
    ],
    [
      'hostile identifiers: quotes, backslash, reserved words, a ";" and "--" in names',
      { parent: { schema: 'from', table: 'Or"der\\s Ω', key: ['I"d'], where: '"I""d" > 0' }, child: { schema: 'from', table: 'li)ne; --', columns: ['or"der'] } },
      {
        object: { schema: 'from', table: 'Or"der\\s Ω', column: 'I"d', references: { schema: 'from', table: 'li)ne; --', columns: ['or"der'] } },
        count: 1,
        samples: ['2'],
      },
    ],
    [
      'a parent with a NULL key is not checked (and a NULL child key matches nothing)',
      RULES.nullKey,
      {
        object: { schema: 'public', table: 'widgets', column: 'sku', references: { schema: 'public', table: 'widget_stock', columns: ['sku'] } },
        count: 1,
        samples: ['3'],
      },
    ],
  ])('%s', async (_name, rule, expected) => {
    const report = await audit(db.url, { checks: ['required-child'], config: config(rule) });
    expect(checkResult(report, 'required-child').objectErrors).toBeUndefined();
    expect(checkResult(report, 'required-child').status).toBe('failed');
    expect(summarize(report)).toEqual([{ checkId: 'required-child', severity: 'error', ...expected }]);
  });

  it('passes when every parent has its child', async () => {
    const rule = { parent: { table: 'orders', key: ['id'], where: `region = 'eu'` }, child: { table: 'order_lines', columns: ['order_id'] } };
    const report = await audit(db.url, { checks: ['required-child'], config: config(rule) });
    expect(checkResult(report, 'required-child').status).toBe('passed');
    expect(report.findings).toEqual([]);
  });

  it('one finding per failing rule; a fingerprint follows the rule, not its place in the list', async () => {
    const a = await audit(db.url, { checks: ['required-child'], config: config(RULES.orderLines, RULES.tenantOwner, RULES.uuidText) });
    const b = await audit(db.url, { checks: ['required-child'], config: config(RULES.uuidText, RULES.citext, RULES.tenantOwner, RULES.orderLines) });
    const prints = (r: typeof a) => new Map(r.findings.map((f) => [f.object.table, f.fingerprint]));
    expect(a.findings.map((f) => f.object.table).sort()).toEqual(['devices', 'orders', 'tenants']);
    for (const [table, print] of prints(a)) expect(prints(b).get(table)).toBe(print);
    // Two unnamed rules between the same columns differ by their filters.
    const c = await audit(db.url, {
      checks: ['required-child'],
      config: config({ ...RULES.tenantOwner, name: undefined }, { ...RULES.tenantOwner, name: undefined, child: { ...RULES.tenantOwner.child, where: `role = 'owner'` } }),
    });
    expect(c.findings.map((f) => f.count)).toEqual([2, 1]);
    expect(new Set(c.findings.map((f) => f.fingerprint)).size).toBe(2);
  });

  it('a rule on a missing table or column, or with a hostile expression, costs that rule only', async () => {
    const report = await audit(db.url, {
      checks: ['required-child'],
      config: config(
        { name: 'missing table', parent: { table: 'invoice', key: ['id'] }, child: { table: 'order_lines', columns: ['order_id'] } },
        { name: 'missing column', parent: { table: 'orders', key: ['order_no'] }, child: { table: 'order_lines', columns: ['order_id'] } },
        {
          name: 'hostile',
          parent: { table: 'orders', key: ['id'], where: `true); DROP TABLE order_lines; --` },
          child: { table: 'order_lines', columns: ['order_id'] },
        },
        { name: 'precedence', parent: { table: 'orders', key: ['id'], where: `false) OR (true` }, child: { table: 'order_lines', columns: ['order_id'] } },
        RULES.orderLines,
      ),
    });
    const result = checkResult(report, 'required-child');
    expect(result.status).toBe('error');
    expect(result.objectErrors).toEqual([
      { object: 'invoice (rule "missing table")', reason: expect.stringMatching(/no table named invoice in the audited schemas; did you mean "Billing Dept"\."Invoice"\?/) },
      { object: 'orders (rule "missing column")', reason: expect.stringMatching(/orders has no column order_no; its columns are id, region$/) },
      { object: 'orders (rule "hostile")', reason: expect.stringMatching(/parent\.where must be one expression, not statements/) },
      { object: 'orders (rule "precedence")', reason: expect.stringMatching(/parent\.where must be one expression: it closes a parenthesis it did not open/) },
    ]);
    expect(summarize(report).map((f) => [f.object.table, f.count])).toEqual([['orders', 2]]);
    expect(await query(db.url, `SELECT count(*)::int AS n FROM order_lines`)).toEqual([{ n: 2 }]);
  });

  it('an expression PostgreSQL rejects, or a user function it cannot see, is that rule error', async () => {
    await query(db.url, `CREATE OR REPLACE FUNCTION public.is_live(int) RETURNS boolean LANGUAGE sql AS 'SELECT true'`);
    const report = await audit(db.url, {
      checks: ['required-child'],
      config: config(
        { name: 'unqualified user function', parent: { table: 'orders', key: ['id'], where: 'is_live(id)' }, child: { table: 'order_lines', columns: ['order_id'] } },
        { name: 'qualified user function', parent: { table: 'orders', key: ['id'], where: 'public.is_live(id)' }, child: { table: 'order_lines', columns: ['order_id'] } },
      ),
    });
    const result = checkResult(report, 'required-child');
    expect(result.objectErrors?.map((e) => [e.object, e.reason.match(/\[(\w{5})\]$/)?.[1]])).toEqual([['public.orders (rule "unqualified user function")', '42883']]);
    expect(summarize(report).map((f) => [f.object.table, f.count])).toEqual([['orders', 2]]);
  });

  describe('under row-level security the role does not bypass', () => {
    const role = `integrity_rc_norls_${process.pid}`;
    afterAll(async () => {
      await query(db.url, `DROP OWNED BY ${role}`).catch(() => undefined);
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    });

    it('that rule is an error and the others stand', async () => {
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN NOBYPASSRLS PASSWORD 'norls-pw'`);
      await query(db.url, `GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      url.password = 'norls-pw';
      const report = await audit(url.toString(), {
        checks: ['required-child'],
        config: config(
          { name: 'secret', parent: { table: 'secret_parent', key: ['id'] }, child: { table: 'secret_child', columns: ['parent_id'] } },
          { name: 'open', parent: { table: 'open_parent', key: ['id'] }, child: { table: 'open_child', columns: ['parent_id'] } },
        ),
      });
      const result = checkResult(report, 'required-child');
      expect(result.status).toBe('error');
      expect(result.objectErrors?.map((e) => [e.object, e.reason.match(/\[(\w{5})\]$/)?.[1]])).toEqual([['public.secret_parent (rule "secret")', '42501']]);
      expect(summarize(report).map((f) => [f.object.table, f.count, f.samples])).toEqual([['open_parent', 2, ['1', '2']]]);
    });
  });

  it('withholds samples under --samples 0, keeping the count', async () => {
    const report = await audit(db.url, { checks: ['required-child'], config: { sampleSize: 0, ...config(RULES.orderLines) } });
    expect(summarize(report).map((f) => [f.count, f.samples])).toEqual([[2, []]]);
  });
});

describe('required-child as the two incident checks (seeds 000 and 004)', () => {
  const db = useDatabase('required_child_seeds', { incidents: ['000_models_without_pricing.sql', '004_supabase_profiles.sql'] });

  it('finds what models-without-pricing and users-without-profiles find', async () => {
    const rules = [
      {
        name: 'models-have-active-pricing',
        parent: { table: 'models', key: ['id'] },
        child: { table: 'model_provider_pricing', columns: ['model_name'], where: 'is_active AND effective_from <= now() AND (effective_until IS NULL OR effective_until > now())' },
      },
      { name: 'users-have-profiles', parent: { schema: 'auth', table: 'users', key: ['id'] }, child: { schema: 'public', table: 'user_profiles', columns: ['id'] } },
    ];
    const generic = await audit(db.url, { checks: ['required-child'], config: config(...rules) });
    const incident = await audit(db.url, { checks: ['models-without-pricing', 'users-without-profiles'] });
    const shape = (fs: ReturnType<typeof summarize>) =>
      fs
        .filter((f) => f.count !== null)
        .map((f) => ({ object: f.object, count: f.count, samples: [...f.samples].sort() }))
        .sort((x, y) => x.object.table.localeCompare(y.object.table));
    expect(shape(summarize(generic))).toEqual(shape(summarize(incident)));
    expect(summarize(generic).map((f) => [f.object.table, f.count])).toEqual([['users', 2], ['models', 3]]);
  });
});
