import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { adminUrl, audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';

// What PostgreSQL itself would say is the yardstick: each case below also asks the server (VALIDATE
// CONSTRAINT in a rolled-back transaction) where that is possible.

function as(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** Whether ALTER TABLE ... VALIDATE CONSTRAINT accepts the table's rows today (run and rolled back). */
async function postgresValidates(url: string, table: string, constraint: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}`);
    return true;
  } catch {
    return false;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
  }
}

const pid = process.pid;

describe('row-level security: an error for the tables the role cannot read whole, never a partial answer', () => {
  const reader = `integrity_rls_reader_${pid}`;
  const owner = `integrity_rls_owner_${pid}`;
  const bypass = `integrity_rls_bypass_${pid}`;
  const db = useDatabase('rls', {
    sql: [
      `DROP ROLE IF EXISTS ${reader}; DROP ROLE IF EXISTS ${owner}; DROP ROLE IF EXISTS ${bypass};
       CREATE ROLE ${reader} LOGIN PASSWORD 'pw'; GRANT pg_read_all_data TO ${reader};
       CREATE ROLE ${owner} LOGIN PASSWORD 'pw';
       CREATE ROLE ${bypass} LOGIN PASSWORD 'pw' BYPASSRLS; GRANT pg_read_all_data TO ${bypass};`,
      `CREATE TABLE tenant (id int PRIMARY KEY, name text);
       INSERT INTO tenant VALUES (1, 'a'), (2, 'b');
       CREATE TABLE invoice (id int PRIMARY KEY, tenant_id int);
       INSERT INTO invoice VALUES (1, 1), (2, 2), (3, 404);
       ALTER TABLE invoice ADD CONSTRAINT invoice_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenant (id) NOT VALID;
       -- policies that show the auditing role nothing: today's silent answer would be "every invoice is an orphan"
       ALTER TABLE tenant ENABLE ROW LEVEL SECURITY;
       CREATE POLICY own_rows ON tenant USING (name = current_user);
       CREATE TABLE label (id int PRIMARY KEY);
       INSERT INTO label VALUES (1);
       CREATE TABLE tag (id int PRIMARY KEY, label_id int);
       INSERT INTO tag VALUES (1, 1), (2, 9);
       ALTER TABLE tag ADD CONSTRAINT tag_label_fk FOREIGN KEY (label_id) REFERENCES label (id) NOT VALID;`,
    ],
  });
  afterAll(async () => {
    for (const role of [reader, owner, bypass]) {
      await query(db.url, `DROP OWNED BY ${role}`).catch(() => undefined);
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    }
  });

  it('a role without BYPASSRLS: orphan-rows is error for the RLS reference only, the other reference is still reported', async () => {
    const report = await audit(as(db.url, reader, 'pw'), { checks: ['orphan-rows'] });
    const result = checkResult(report, 'orphan-rows');
    expect(result.status).toBe('error');
    expect(result.objectErrors?.map((e) => e.object)).toEqual(['public.invoice (constraint invoice_tenant_fk)']);
    expect(result.objectErrors?.[0]?.reason).toMatch(/row-level security.*BYPASSRLS/);
    expect(summarize(report).map((f) => [f.object.table, f.count, f.samples])).toEqual([['tag', 1, ['9']]]);
  });

  it('the CLI exits 2 for it, and names the table', async () => {
    const run = await runCli(['check', '-d', as(db.url, reader, 'pw'), '--check', 'orphan-rows', '--format', 'json']);
    expect(run.code).toBe(2);
    const report = reportSchema.parse(JSON.parse(run.stdout));
    expect(report.checks.find((c) => c.id === 'orphan-rows')?.reason).toMatch(/invoice/);
    expect(report.findings.map((f) => f.object.table)).toEqual(['tag']);
  });

  it('--plan and init say which tables have RLS and whether the role reads them whole', async () => {
    const plan = await runCli(['check', '-d', as(db.url, reader, 'pw'), '--plan', '--check', 'orphan-rows', '--format', 'json']);
    expect((JSON.parse(plan.stdout) as { rowSecurity: unknown }).rowSecurity).toEqual([{ schema: 'public', table: 'tenant', forced: false, readableWhole: false }]);
    const asBypass = await runCli(['check', '-d', as(db.url, bypass, 'pw'), '--plan', '--check', 'orphan-rows', '--format', 'json']);
    expect((JSON.parse(asBypass.stdout) as { rowSecurity: unknown }).rowSecurity).toEqual([{ schema: 'public', table: 'tenant', forced: false, readableWhole: true }]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-rls-init-'));
    const init = await runCli(['init', '-d', as(db.url, reader, 'pw'), '--output', path.join(dir, 'integrity.config.json')]);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(new RegExp(`role ${reader} cannot read 1 of them whole \\("public.tenant"\\)`));
  });

  it('the owner under FORCE ROW LEVEL SECURITY is refused too; the owner without FORCE and a BYPASSRLS role read it whole', async () => {
    await query(db.url, `ALTER TABLE tenant OWNER TO ${owner}; ALTER TABLE invoice OWNER TO ${owner}; ALTER TABLE tenant FORCE ROW LEVEL SECURITY`);
    const forced = await audit(as(db.url, owner, 'pw'), { checks: ['orphan-rows'], schemas: ['public'] });
    // The owner cannot read tag/label (not granted): those are errors too, but never a finding from a partial read.
    expect(checkResult(forced, 'orphan-rows').objectErrors?.find((e) => e.object.startsWith('public.invoice'))?.reason).toMatch(/row-level security/);
    expect(summarize(forced).filter((f) => f.object.table === 'invoice')).toEqual([]);

    await query(db.url, 'ALTER TABLE tenant NO FORCE ROW LEVEL SECURITY');
    const owned = await audit(as(db.url, owner, 'pw'), { checks: ['orphan-rows'] });
    expect(summarize(owned).filter((f) => f.object.table === 'invoice').map((f) => [f.count, f.samples])).toEqual([[1, ['404']]]);

    const bypassing = await audit(as(db.url, bypass, 'pw'), { checks: ['orphan-rows'] });
    expect(checkResult(bypassing, 'orphan-rows').status).toBe('failed');
    expect(summarize(bypassing).map((f) => [f.object.table, f.count])).toEqual([
      ['invoice', 1],
      ['tag', 1],
    ]);
  });
});

describe('row-level security on a profiles table: an error naming it, not "every user lacks a profile"', () => {
  const reader = `integrity_rls_profiles_${pid}`;
  const db = useDatabase('rls_profiles', {
    sql: [
      `DROP ROLE IF EXISTS ${reader}; CREATE ROLE ${reader} LOGIN PASSWORD 'pw'; GRANT pg_read_all_data TO ${reader};`,
      `CREATE SCHEMA auth;
       CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
       CREATE TABLE public.user_profiles (id uuid PRIMARY KEY REFERENCES auth.users (id), email text);
       INSERT INTO auth.users VALUES ('d78a04ae-a852-4bd8-9ed6-aa927276d190', 'a@example.com');
       INSERT INTO public.user_profiles VALUES ('d78a04ae-a852-4bd8-9ed6-aa927276d190', 'a@example.com');
       ALTER TABLE public.user_profiles ENABLE ROW LEVEL SECURITY;
       CREATE POLICY mine ON public.user_profiles USING (id::text = current_setting('request.jwt.sub', true));`,
    ],
  });
  afterAll(async () => {
    await query(db.url, `DROP OWNED BY ${reader}`).catch(() => undefined);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${reader}`).catch(() => undefined);
  });

  it('users-without-profiles is error with the table and the remedy, and reports no missing profile', async () => {
    const report = await audit(as(db.url, reader, 'pw'), { checks: ['users-without-profiles'] });
    const result = checkResult(report, 'users-without-profiles');
    expect(result.status).toBe('error');
    expect(result.reason).toMatch(/user_profiles.*BYPASSRLS/);
    expect(report.findings).toEqual([]);
    // Read whole (as a superuser), the one user has its profile.
    expect(summarize(await audit(db.url, { checks: ['users-without-profiles'] })).filter((f) => f.count !== null)).toEqual([]);
  });
});

describe('a foreign key declared on one partition only', () => {
  const db = useDatabase('partition_fk', {
    sql: [
      `CREATE TABLE account (id int PRIMARY KEY, region_id int);
       CREATE TABLE region (id int PRIMARY KEY);
       INSERT INTO region VALUES (1);
       INSERT INTO account VALUES (1, 1), (2, 1), (3, 66);
       ALTER TABLE account ADD CONSTRAINT account_region_fk FOREIGN KEY (region_id) REFERENCES region (id) NOT VALID;
       CREATE TABLE event (id int, account_id int, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
       CREATE TABLE event_2024 PARTITION OF event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
       CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
       INSERT INTO event VALUES (1, 1, '2024-03-01'), (2, 99, '2024-04-01'), (3, 98, '2025-02-01'), (4, 3, '2024-05-01');
       ALTER TABLE event_2024 ADD CONSTRAINT event_2024_account_fk FOREIGN KEY (account_id) REFERENCES account (id) NOT VALID;`,
    ],
  });

  it('is verified like any other: the partition\'s orphan is found, the other partition\'s rows are not its business', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    const onPartition = summarize(report).filter((f) => f.object.table === 'event_2024');
    expect(onPartition.map((f) => [f.object.constraint, f.count, f.samples])).toEqual([['event_2024_account_fk', 1, ['99']]]);
    expect(await postgresValidates(db.url, 'event_2024', 'event_2024_account_fk')).toBe(false);
  });

  it('with --deep too, once the constraint is valid and rows slipped past it', async () => {
    await query(
      db.url,
      `DELETE FROM event WHERE id = 2;
       ALTER TABLE event_2024 VALIDATE CONSTRAINT event_2024_account_fk;
       SET session_replication_role = replica;
       INSERT INTO event VALUES (5, 77, '2024-06-01');
       RESET session_replication_role;`,
    );
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] })).filter((f) => f.object.table === 'event_2024')).toEqual([]);
    const deep = await audit(db.url, { checks: ['orphan-rows'], deep: true });
    expect(summarize(deep).filter((f) => f.object.table === 'event_2024').map((f) => [f.count, f.samples])).toEqual([[1, ['77']]]);
  });

  it('the repair planner sees the partition as a referencing table: an account it references is not deleted blindly', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    const account = report.findings.find((f) => f.object.table === 'account');
    expect(account?.count).toBe(1);
    // event_2024 row 4 references account 3 (the orphan) with NO ACTION: deleting it would fail, so it is review.
    expect(account?.fix?.safety).toBe('review');
    expect(account?.fix?.steps.find((s) => s.decision)?.decision).toMatch(/event_2024/);
  });
});

describe('table inheritance: a foreign key covers ONLY its own table, and only ONLY the referenced table satisfies it', () => {
  const db = useDatabase('inheritance', {
    sql: [
      `CREATE TABLE owner (id int PRIMARY KEY);
       INSERT INTO owner VALUES (1);
       CREATE TABLE pet (id int PRIMARY KEY, owner_id int, name text);
       CREATE TABLE dog (bark text) INHERITS (pet);
       INSERT INTO pet VALUES (1, 1, 'cat'), (2, 77, 'stray');
       INSERT INTO dog VALUES (3, 55, 'rex', 'woof');
       ALTER TABLE pet ADD CONSTRAINT pet_owner_fk FOREIGN KEY (owner_id) REFERENCES owner (id) NOT VALID;
       CREATE TABLE vehicle (id int PRIMARY KEY);
       CREATE TABLE truck (payload int) INHERITS (vehicle);
       INSERT INTO vehicle VALUES (1);
       INSERT INTO truck VALUES (2, 10);
       CREATE TABLE trip (id int PRIMARY KEY, vehicle_id int);
       INSERT INTO trip VALUES (1, 1), (2, 2);
       ALTER TABLE trip ADD CONSTRAINT trip_vehicle_fk FOREIGN KEY (vehicle_id) REFERENCES vehicle (id) NOT VALID;`,
    ],
  });

  it('reports exactly what VALIDATE CONSTRAINT rejects: no false orphan from the child table, the real one behind it', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(summarize(report).map((f) => [f.object.table, f.object.constraint, f.count, f.samples])).toEqual([
      ['pet', 'pet_owner_fk', 1, ['77']],
      ['trip', 'trip_vehicle_fk', 1, ['2']],
    ]);
    expect(await postgresValidates(db.url, 'trip', 'trip_vehicle_fk')).toBe(false);
  });

  it('the repair removes the parent\'s own orphan only, and then PostgreSQL validates the constraint', async () => {
    const run = await runCli(['fix', '-d', db.url, '--check', 'orphan-rows', '--apply', '--yes', '--format', 'json']);
    expect(run.code).toBe(0);
    expect(await query(db.url, 'SELECT id FROM ONLY pet ORDER BY id')).toEqual([{ id: 1 }]);
    // The dog (an inheritance child, not covered by the key) is untouched.
    expect(await query(db.url, 'SELECT id, owner_id, bark FROM dog')).toEqual([{ id: 3, owner_id: 55, bark: 'woof' }]);
    const copies = await query<{ n: string }>(
      db.url,
      `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'integrity_quarantine' AND c.relname LIKE 'pet\\_\\_%'`,
    );
    expect(copies).toEqual([{ n: '1' }]);
    const validated = await query<{ convalidated: boolean }>(db.url, `SELECT convalidated FROM pg_constraint WHERE conname = 'pet_owner_fk'`);
    expect(validated).toEqual([{ convalidated: true }]);
  });
});

describe('session_replication_role = replica set on a role or the database', () => {
  const app = `integrity_replica_app_${pid}`;
  const db = useDatabase('replication_role', {
    sql: [
      `CREATE TABLE customer (id int PRIMARY KEY);
       INSERT INTO customer VALUES (1);
       CREATE TABLE purchase (id int PRIMARY KEY, customer_id int REFERENCES customer (id));
       SET session_replication_role = replica;
       INSERT INTO purchase VALUES (1, 1), (2, 42);
       RESET session_replication_role;`,
    ],
  });
  afterAll(async () => {
    await query(adminUrl(), `DROP ROLE IF EXISTS ${app}`).catch(() => undefined);
  });

  it('makes every foreign key untrusted: verified without --deep, saying why', async () => {
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] }))).toEqual([]);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${app}; CREATE ROLE ${app} LOGIN`);
    await query(adminUrl(), `ALTER ROLE ${app} IN DATABASE ${db.name} SET session_replication_role = replica`);
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(summarize(report).map((f) => [f.object.table, f.count, f.samples])).toEqual([['purchase', 1, ['42']]]);
    expect(checkResult(report, 'orphan-rows').note).toMatch(new RegExp(`role "${app}"`));
    expect(report.findings[0]?.details?.reasons).toEqual(['session_replication_role = replica: not enforced for those sessions']);
  });

  it('set on the database itself', async () => {
    await query(adminUrl(), `ALTER ROLE ${app} IN DATABASE ${db.name} RESET session_replication_role`);
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] }))).toEqual([]);
    await query(adminUrl(), `ALTER DATABASE ${db.name} SET session_replication_role = replica`);
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(summarize(report).map((f) => f.count)).toEqual([1]);
    expect(checkResult(report, 'orphan-rows').note).toMatch(/this database/);
  });
});

describe('a table locked by a migration costs only the findings that need it', () => {
  const db = useDatabase('locked_catalog', {
    sql: [
      `CREATE TABLE parent (id int PRIMARY KEY);
       INSERT INTO parent VALUES (1);
       CREATE TABLE busy (id int PRIMARY KEY, parent_id int, qty int CHECK (qty >= 0), meta jsonb);
       INSERT INTO busy VALUES (1, 1, 1, '{}'), (2, 5, 1, '{}');
       ALTER TABLE busy ADD CONSTRAINT busy_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;
       CREATE TABLE calm (id int PRIMARY KEY, parent_id int);
       INSERT INTO calm VALUES (1, 1), (2, 6);
       ALTER TABLE calm ADD CONSTRAINT calm_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;`,
    ],
  });

  it('the catalog loads, the locked reference is an error of its own, the other reference is still reported', async () => {
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE busy IN ACCESS EXCLUSIVE MODE');
      const report = await audit(db.url, { checks: ['orphan-rows', 'jsonb-int-cast-index'] });
      expect(report.checks.map((c) => c.reason ?? '').join(' ')).not.toMatch(/catalog could not be read/);
      const orphans = checkResult(report, 'orphan-rows');
      expect(orphans.status).toBe('error');
      expect(orphans.objectErrors?.map((e) => e.object)).toEqual(['public.busy (constraint busy_parent_fk)']);
      expect(orphans.objectErrors?.[0]?.reason).toMatch(/55P03/);
      expect(summarize(report, 'orphan-rows').map((f) => [f.object.table, f.count])).toEqual([['calm', 1]]);
      expect(checkResult(report, 'jsonb-int-cast-index').status).toBe('passed');
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });
});

describe('collations: the referenced column\'s decides, as in PostgreSQL\'s RI query', () => {
  const db = useDatabase('fk_collations', {
    sql: [
      // (a server built without ICU gets a deterministic stand-in: the parent's collation still decides)
      `DO $$ BEGIN CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
           EXCEPTION WHEN OTHERS THEN CREATE COLLATION ci FROM "C"; END $$;
       CREATE TABLE p_def (code text PRIMARY KEY);
       INSERT INTO p_def VALUES ('ALICE');
       CREATE TABLE c_ci (id int PRIMARY KEY, code text COLLATE ci);
       INSERT INTO c_ci VALUES (1, 'alice'), (2, 'ALICE');
       -- PostgreSQL 18 refuses this key outright ("cannot be implemented"); 15 accepts it.
       DO $$ BEGIN ALTER TABLE c_ci ADD CONSTRAINT c_ci_fk FOREIGN KEY (code) REFERENCES p_def (code) NOT VALID;
           EXCEPTION WHEN OTHERS THEN NULL; END $$;
       CREATE TABLE p_c (code text COLLATE "C" PRIMARY KEY);
       INSERT INTO p_c VALUES ('a');
       CREATE TABLE c_posix (id int PRIMARY KEY, code text COLLATE "POSIX");
       INSERT INTO c_posix VALUES (1, 'a'), (2, 'b');
       ALTER TABLE c_posix ADD CONSTRAINT c_posix_fk FOREIGN KEY (code) REFERENCES p_c (code) NOT VALID;`,
    ],
  });

  it('finds what VALIDATE CONSTRAINT rejects, and no collation conflict errors', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(checkResult(report, 'orphan-rows').status).toBe('failed');
    const ciKey = (await query(db.url, `SELECT 1 FROM pg_constraint WHERE conname = 'c_ci_fk'`)).length > 0;
    expect(summarize(report).map((f) => [f.object.table, f.count, f.samples])).toEqual([...(ciKey ? [['c_ci', 1, ['alice']]] : []), ['c_posix', 1, ['b']]]);
    if (ciKey) expect(await postgresValidates(db.url, 'c_ci', 'c_ci_fk')).toBe(false);
    expect(await postgresValidates(db.url, 'c_posix', 'c_posix_fk')).toBe(false);
  });
});
