import { describe, expect, it } from 'vitest';
import { query, useDatabase } from '../helpers/db.js';
import { cli, repository } from '../preflight/helpers.js';

const CONFIG = JSON.stringify({
  relations: [{ schema: 'Billing Dept', table: 'Invoice Line', columns: ['customer_id'], references: { schema: 'Billing Dept', table: 'customers', columns: ['id'] } }],
});

const SETUP = [
  'CREATE SCHEMA "Billing Dept"',
  'CREATE TABLE "Billing Dept".customers (id int PRIMARY KEY)',
  'INSERT INTO "Billing Dept".customers VALUES (1)',
  'CREATE TABLE "Billing Dept"."Invoice Line" (id int PRIMARY KEY, customer_id int, note text)',
  `INSERT INTO "Billing Dept"."Invoice Line" VALUES (10, 1, 'ok'), (11, 99, 'orphan'), (12, 98, 'it''s "quoted"')`,
  'CREATE TABLE "Billing Dept".items (id int PRIMARY KEY, line_id int REFERENCES "Billing Dept"."Invoice Line" (id) ON DELETE CASCADE)',
  'INSERT INTO "Billing Dept".items VALUES (100, 11), (101, 10)',
];

interface Held {
  source: { schema: string; table: string } | null;
  checkId: string;
  fingerprint: string;
  rows: number;
  firstCopiedAt: string;
  ours: boolean;
}

describe('integrity quarantine: list, restore, purge', () => {
  const db = useDatabase('cli_quarantine', { sql: SETUP });

  async function list(root: string): Promise<Held[]> {
    const run = await cli(['quarantine', 'list', '-d', db.url, '--format', 'json'], root);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as Held[];
  }

  it('after fix --apply: lists what is held per table and finding; restore puts it back, parents first; purge deletes old copies', async () => {
    const root = repository({ 'integrity.config.json': CONFIG });
    expect((await list(root))).toEqual([]);
    const applied = await cli(['fix', '-d', db.url, '--check', 'orphan-rows', '--apply', '--yes'], root);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await query(db.url, 'SELECT id FROM "Billing Dept"."Invoice Line" ORDER BY id')).toEqual([{ id: 10 }]);
    expect(await query(db.url, 'SELECT id FROM "Billing Dept".items ORDER BY id')).toEqual([{ id: 101 }]);

    const held = await list(root);
    expect(held.map((h) => [h.source, h.checkId, h.rows, h.ours]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      [{ schema: 'Billing Dept', table: 'Invoice Line' }, 'orphan-rows', 2, true],
      [{ schema: 'Billing Dept', table: 'items' }, 'orphan-rows', 1, true],
    ]);
    const fingerprint = held[0]?.fingerprint as string;
    expect(new Set(held.map((h) => h.fingerprint))).toEqual(new Set([fingerprint]));
    expect(held[0]?.firstCopiedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const pretty = await cli(['quarantine', 'list', '-d', db.url], root);
    expect(pretty.stdout).toContain('"Billing Dept"."Invoice Line"');
    expect(pretty.stdout).toMatch(/3 rows of 1 finding in 2 table\(s\)/);

    // A dry run changes nothing.
    const dry = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint, '--dry-run'], root);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Dry run: rolled back, nothing was changed.');
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM "Billing Dept".items')).toEqual([{ n: 1 }]);
    expect((await list(root)).reduce((n, h) => n + h.rows, 0)).toBe(3);

    // The item references line 11: the line goes back first, or the foreign key would refuse the item.
    const restored = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint, '--format', 'json'], root);
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toEqual({
      finding: fingerprint,
      dryRun: false,
      restored: [
        { table: '"Billing Dept"."Invoice Line"', inserted: 2, updated: 0 },
        { table: '"Billing Dept".items', inserted: 1, updated: 0 },
      ],
    });
    expect(await query(db.url, 'SELECT id, customer_id, note FROM "Billing Dept"."Invoice Line" ORDER BY id')).toEqual([
      { id: 10, customer_id: 1, note: 'ok' },
      { id: 11, customer_id: 99, note: 'orphan' },
      { id: 12, customer_id: 98, note: 'it\'s "quoted"' },
    ]);
    expect(await query(db.url, 'SELECT id FROM "Billing Dept".items ORDER BY id')).toEqual([{ id: 100 }, { id: 101 }]);
    expect(await list(root)).toEqual([]);
    const again = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`integrity: the quarantine holds no rows of finding ${fingerprint}; integrity quarantine list shows what it holds\n`);
  });

  it('refuses, changing nothing, when a row would now conflict: the key was taken since', async () => {
    const root = repository({ 'integrity.config.json': CONFIG });
    expect((await cli(['fix', '-d', db.url, '--check', 'orphan-rows', '--apply', '--yes'], root)).code).toBe(0);
    const fingerprint = (await list(root))[0]?.fingerprint as string;
    await query(db.url, `INSERT INTO "Billing Dept"."Invoice Line" VALUES (12, 1, 'new row, same id')`);
    const refused = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^integrity: restore refused, nothing was changed: 1 of the rows copied from "Billing Dept"\."Invoice Line" have a row of the same primary key in it now that differs from the copy/);
    expect(await query(db.url, 'SELECT id FROM "Billing Dept"."Invoice Line" ORDER BY id')).toEqual([{ id: 10 }, { id: 12 }]);
    expect((await list(root)).reduce((n, h) => n + h.rows, 0)).toBe(3);
    // A unique key other than the primary key: PostgreSQL's constraint is the judge, and says which.
    await query(db.url, `DELETE FROM "Billing Dept"."Invoice Line" WHERE id = 12`);
    await query(db.url, `ALTER TABLE "Billing Dept"."Invoice Line" ADD CONSTRAINT note_key UNIQUE (note)`);
    await query(db.url, `INSERT INTO "Billing Dept"."Invoice Line" VALUES (13, 1, 'orphan')`);
    const unique = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root);
    expect(unique.code).toBe(1);
    expect(unique.stderr).toMatch(/would conflict: duplicate key value violates unique constraint "note_key".*\[23505\]\n$/);
    expect((await list(root)).reduce((n, h) => n + h.rows, 0)).toBe(3);
    await query(db.url, `DELETE FROM "Billing Dept"."Invoice Line" WHERE id = 13`);
    await query(db.url, `ALTER TABLE "Billing Dept"."Invoice Line" DROP CONSTRAINT note_key`);
    expect((await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root)).code).toBe(0);
  });

  it('the quarantine is readable by no one but its owner, whatever default privileges grant PUBLIC', async () => {
    const root = repository({ 'integrity.config.json': CONFIG });
    await query(db.url, 'ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC');
    expect((await cli(['fix', '-d', db.url, '--check', 'orphan-rows', '--apply', '--yes'], root)).code).toBe(0);
    const acl = await query<{ relname: string; public_reads: boolean; schema_usage: boolean }>(
      db.url,
      `SELECT c.relname, has_table_privilege('public', c.oid, 'SELECT') AS public_reads, has_schema_privilege('public', 'integrity_quarantine', 'USAGE') AS schema_usage
         FROM pg_class c WHERE c.relnamespace = 'integrity_quarantine'::regnamespace AND c.relkind = 'r' ORDER BY 1`,
    );
    expect(acl.length).toBe(2);
    expect(acl.map((a) => [a.public_reads, a.schema_usage])).toEqual([[false, false], [false, false]]);
    await query(db.url, 'ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM PUBLIC');
    const fingerprint = (await list(root))[0]?.fingerprint as string;
    expect((await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root)).code).toBe(0);
  });

  it('a sensitive table (samples.exclude): a repair that changes rows copies only the key and the changed column, and restore gives it back', async () => {
    await query(db.url, `CREATE TABLE providers (id uuid PRIMARY KEY)`);
    await query(db.url, `CREATE TABLE accounts (id int PRIMARY KEY, password_hash text NOT NULL, provider_id uuid)`);
    await query(db.url, `INSERT INTO accounts VALUES (1, '$2b$12$secret', '00000000-0000-0000-0000-000000000000'), (2, '$2b$12$other', NULL)`);
    await query(db.url, `ALTER TABLE accounts ADD CONSTRAINT accounts_provider_id_fkey FOREIGN KEY (provider_id) REFERENCES providers (id) NOT VALID`);
    const root = repository({ 'integrity.config.json': JSON.stringify({ samples: { exclude: ['public.accounts.password_hash'] } }) });
    const applied = await cli(['fix', '-d', db.url, '--check', 'placeholder-uuid', '--apply', '--yes'], root);
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    expect(await query(db.url, 'SELECT id, provider_id FROM accounts ORDER BY id')).toEqual([{ id: 1, provider_id: null }, { id: 2, provider_id: null }]);
    const tables = await query<{ relname: string; columns: string[] }>(
      db.url,
      `SELECT c.relname, ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum) AS columns
         FROM pg_class c WHERE c.relnamespace = 'integrity_quarantine'::regnamespace AND c.relname LIKE 'accounts%'`,
    );
    expect(tables.map((t) => t.columns)).toEqual([['integrity_quarantined_at', 'integrity_check', 'integrity_finding', 'id', 'provider_id']]);
    const held = (await list(root)).filter((h) => h.source?.table === 'accounts');
    expect(held.map((h) => [h.checkId, h.rows])).toEqual([['placeholder-uuid', 1]]);
    // The foreign key, NOT VALID or not, checks the value put back: the nil UUID has no provider.
    const refused = await cli(['quarantine', 'restore', '-d', db.url, '--finding', held[0]?.fingerprint as string], root);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^integrity: restore refused, nothing was changed: a row of public\.accounts would conflict: insert or update on table "accounts" violates foreign key constraint "accounts_provider_id_fkey" \[23503\]\n$/);
    await query(db.url, `ALTER TABLE accounts DROP CONSTRAINT accounts_provider_id_fkey`);
    const restored = await cli(['quarantine', 'restore', '-d', db.url, '--finding', held[0]?.fingerprint as string, '--format', 'json'], root);
    expect(restored.code, restored.stderr).toBe(0);
    expect((JSON.parse(restored.stdout) as { restored: unknown[] }).restored).toEqual([{ table: 'public.accounts', inserted: 0, updated: 1 }]);
    expect(await query(db.url, 'SELECT id, password_hash, provider_id FROM accounts ORDER BY id')).toEqual([
      { id: 1, password_hash: '$2b$12$secret', provider_id: '00000000-0000-0000-0000-000000000000' },
      { id: 2, password_hash: '$2b$12$other', provider_id: null },
    ]);
  });

  it('a key used again by another row since is refused, not merged; a json column compares; a table of another owner holding the finding stops the restore', async () => {
    const root = repository({ 'integrity.config.json': CONFIG });
    await query(db.url, `ALTER TABLE "Billing Dept"."Invoice Line" ADD COLUMN meta json`);
    expect((await cli(['fix', '-d', db.url, '--check', 'orphan-rows', '--apply', '--yes'], root)).code).toBe(0);
    const fingerprint = (await list(root)).find((h) => h.source?.table === 'Invoice Line')?.fingerprint as string;
    // A new row takes id 11, with NULLs where the copy has values: not the row the repair removed.
    await query(db.url, `INSERT INTO "Billing Dept"."Invoice Line" (id) VALUES (11)`);
    const reused = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root);
    expect(reused.code).toBe(1);
    expect(reused.stderr).toMatch(/1 of the rows copied from "Billing Dept"\."Invoice Line" have a row of the same primary key in it now that has NULL in customer_id, note, which no repair of orphan-rows sets to NULL/);
    expect(await query(db.url, `SELECT id, customer_id, note FROM "Billing Dept"."Invoice Line" WHERE id = 11`)).toEqual([{ id: 11, customer_id: null, note: null }]);
    await query(db.url, `DELETE FROM "Billing Dept"."Invoice Line" WHERE id = 11`);
    // Another role's quarantine table holding the finding's rows: nothing is restored from any table.
    const items = (await query<{ relname: string }>(db.url, `SELECT relname FROM pg_class WHERE relnamespace = 'integrity_quarantine'::regnamespace AND relname LIKE 'items%'`))[0]?.relname as string;
    await query(db.url, `CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`);
    await query(db.url, `CREATE TRIGGER planted BEFORE INSERT ON integrity_quarantine."${items}" FOR EACH ROW EXECUTE FUNCTION public.noop()`);
    const foreign = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/holds rows of this finding but is not integrity's .*nothing was restored/);
    expect(await query(db.url, `SELECT count(*)::int AS n FROM "Billing Dept"."Invoice Line"`)).toEqual([{ n: 1 }]);
    await query(db.url, `DROP TRIGGER planted ON integrity_quarantine."${items}"`);
    const restored = await cli(['quarantine', 'restore', '-d', db.url, '--finding', fingerprint], root);
    expect(restored.code, restored.stderr).toBe(0);
    await query(db.url, `ALTER TABLE "Billing Dept"."Invoice Line" DROP COLUMN meta`);
  });

  it('purge: asks (without a terminal, needs --yes), keeps what is newer than --older-than, drops emptied tables', async () => {
    const root = repository({ 'integrity.config.json': CONFIG });
    expect((await cli(['fix', '-d', db.url, '--check', 'orphan-rows', '--apply', '--yes'], root)).code).toBe(0);
    const noYes = await cli(['quarantine', 'purge', '-d', db.url, '--older-than', '30d'], root);
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/^integrity: refusing to delete quarantined rows without a terminal to confirm on: pass --yes/);
    const bad = await cli(['quarantine', 'purge', '-d', db.url, '--older-than', 'a month', '--yes'], root);
    expect(bad.stderr).toBe('integrity: --older-than a month: expected a number and a unit, e.g. 30d, 12h, 2w or 90m\n');
    const young = await cli(['quarantine', 'purge', '-d', db.url, '--older-than', '30d', '--yes'], root);
    expect(young.stderr).toBe('');
    expect(young.stdout).toBe('Nothing to purge: no quarantined row was copied more than 30d ago.\n');
    await query(db.url, `SELECT pg_sleep(0.01)`);
    // Backdate one table's copies: only those go.
    const tables = await query<{ relname: string }>(db.url, `SELECT relname FROM pg_class WHERE relnamespace = 'integrity_quarantine'::regnamespace AND relkind = 'r' AND relname LIKE 'items%'`);
    await query(db.url, `UPDATE integrity_quarantine."${tables[0]?.relname}" SET integrity_quarantined_at = now() - interval '40 days'`);
    const purged = await cli(['quarantine', 'purge', '-d', db.url, '--older-than', '30d', '--yes'], root);
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stdout).toBe('Deleted 1 quarantined row copied more than 30d ago.\n');
    expect((await list(root)).map((h) => [h.source?.table, h.rows])).toEqual([['Invoice Line', 2]]);
    expect(await query(db.url, `SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'integrity_quarantine'::regnamespace AND relname LIKE 'items%'`)).toEqual([{ n: 0 }]);
  });
});
