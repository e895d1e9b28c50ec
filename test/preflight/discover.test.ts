import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { cli, findingsOf, preflightJson } from './helpers.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/preflight');

/** A repository with the layout's folder as db/migrations and a config naming it. */
function repository(layout: string): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'integrity-preflight-discover-'));
  cpSync(path.join(FIXTURES, layout), path.join(root, 'db', 'migrations'), { recursive: true });
  writeFileSync(path.join(root, 'integrity.config.json'), JSON.stringify({ migrations: 'db/migrations' }));
  return root;
}

const USERS = 'CREATE TABLE users (id int PRIMARY KEY)';

/** Each layout: the tool's table as the tool creates it, some rows applied, and the files left to judge. */
const LAYOUTS: { layout: string; tool: string; table: string; sql: string[]; pending: string[]; applied: string[] }[] = [
  {
    layout: 'prisma',
    tool: 'Prisma',
    table: 'public._prisma_migrations',
    sql: [
      `CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY NOT NULL, checksum varchar(64) NOT NULL, finished_at timestamptz, migration_name varchar(255) NOT NULL,
         logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)`,
      `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, rolled_back_at, applied_steps_count) VALUES
         ('a', 'x', now(), '20260101000000_init', NULL, 1),
         ('b', 'x', now(), '20260102000000_add_email', now(), 0),
         ('c', 'x', NULL, '20260103000000_add_index', NULL, 0)`,
    ],
    applied: ['20260101000000_init/migration.sql'],
    pending: ['20260102000000_add_email/migration.sql', '20260103000000_add_index/migration.sql'],
  },
  {
    layout: 'rails',
    tool: 'Rails',
    table: 'public.schema_migrations',
    sql: [
      'CREATE TABLE schema_migrations (version character varying NOT NULL PRIMARY KEY)',
      'CREATE TABLE ar_internal_metadata (key character varying NOT NULL PRIMARY KEY, value character varying, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL)',
      `INSERT INTO schema_migrations VALUES ('20260101120000')`,
    ],
    applied: ['20260101120000_create_users.sql'],
    pending: ['20260105120000_add_users_email.sql'],
  },
  {
    layout: 'flyway',
    tool: 'Flyway',
    table: 'public.flyway_schema_history',
    sql: [
      `CREATE TABLE flyway_schema_history (installed_rank int NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL,
         script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL, success boolean NOT NULL)`,
      `INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, installed_by, execution_time, success) VALUES
         (1, '1', 'init', 'SQL', 'V1__init.sql', 'app', 5, true),
         (2, '1.1', 'add email', 'SQL', 'V1_1__add_email.sql', 'app', 5, false)`,
    ],
    applied: ['V1__init.sql'],
    // By version: 1.1, 2, 10 (by name, V10 would come first).
    pending: ['V1_1__add_email.sql', 'V2__index.sql', 'V10__later.sql'],
  },
  {
    layout: 'node-pg-migrate',
    tool: 'node-pg-migrate',
    table: 'public.pgmigrations',
    sql: ['CREATE TABLE pgmigrations (id serial PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)', `INSERT INTO pgmigrations (name, run_on) VALUES ('1700000000000_init', now())`],
    applied: ['1700000000000_init.sql'],
    pending: ['1700000000001_add-email.sql'],
  },
  {
    layout: 'golang-migrate',
    tool: 'golang-migrate',
    table: 'public.schema_migrations',
    sql: ['CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)', 'INSERT INTO schema_migrations VALUES (2, true)'],
    applied: ['000001_init.up.sql'],
    pending: ['000002_add_email.up.sql', '000003_index.up.sql'],
  },
  {
    layout: 'supabase',
    tool: 'Supabase',
    table: 'supabase_migrations.schema_migrations',
    sql: [
      'CREATE SCHEMA supabase_migrations',
      'CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY, statements text[], name text)',
      `INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES ('20260101000000', 'init')`,
    ],
    applied: ['20260101000000_init.sql'],
    pending: ['20260102000000_add_email.sql'],
  },
  {
    layout: 'django',
    tool: 'Django',
    table: 'public.django_migrations',
    sql: [
      'CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied timestamptz NOT NULL)',
      `INSERT INTO django_migrations (app, name, applied) VALUES ('accounts', '0001_initial', now()), ('auth', '0002_email', now())`,
    ],
    applied: ['accounts/0001_initial.sql'],
    pending: ['accounts/0002_email.sql'],
  },
];

for (const l of LAYOUTS) {
  describe(`preflight without files: ${l.tool}`, () => {
    const db = useDatabase(`preflight_discover_${l.layout}`, { sql: [USERS, ...l.sql] });

    it(`judges the migrations ${l.table} does not record as applied, in the order ${l.tool} runs them`, async () => {
      const root = repository(l.layout);
      const { run, report } = await preflightJson(db.url, root, []);
      expect(report.preflight.discovery).toMatchObject({ folder: 'db/migrations', tool: l.tool, table: l.table, applied: l.applied, pending: l.pending });
      expect(report.preflight.files).toEqual(l.pending.map((f) => `db/migrations/${f}`));
      // The applied CREATE TABLE users would fail if it were judged again: it is not.
      expect(findingsOf(report, 'preflight/already-exists')).toEqual([]);
      expect(run.stderr).toContain(`integrity: ${l.tool}: ${l.table} records ${l.applied.length} of the ${l.applied.length + l.pending.length} migrations in db/migrations as applied`);
      expect(run.code).toBe(0);
    });
  });
}

describe('preflight without files: no migration table', () => {
  const db = useDatabase('preflight_discover_none', { sql: [USERS] });

  it('judges every file of the folder, in name order, and says why', async () => {
    const root = repository('rails');
    const { run, report } = await preflightJson(db.url, root, []);
    expect(report.preflight.discovery).toMatchObject({ tool: null, table: null, pending: ['20260101120000_create_users.sql', '20260105120000_add_users_email.sql'] });
    // Now the first one is judged, and fails: users exists.
    expect(findingsOf(report, 'preflight/already-exists')).toEqual([
      { rule: 'preflight/already-exists', severity: 'error', at: 'db/migrations/20260101120000_create_users.sql:2', object: { schema: 'public', table: 'users' }, count: null, samples: [] },
    ]);
    expect(run.stderr).toContain('no migration table of a known tool');
    expect(run.code).toBe(1);
  });

  it('without files and without a migrations folder in the config: exit 2, one line', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'integrity-preflight-nofolder-'));
    const run = await cli(['preflight', '-d', db.url], root);
    expect(run).toEqual({ code: 2, stdout: '', stderr: 'integrity: no migration to judge: give the files (integrity preflight FILE...), or set "migrations" in the config to their folder\n' });
  });
});

describe('preflight without files: every migration applied', () => {
  const db = useDatabase('preflight_discover_all_applied', {
    sql: [USERS, 'CREATE TABLE pgmigrations (id serial PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)', `INSERT INTO pgmigrations (name, run_on) VALUES ('1700000000000_init', now()), ('1700000000001_add-email', now())`],
  });

  it('exits 0 and says there is nothing pending', async () => {
    const root = repository('node-pg-migrate');
    const { run, report } = await preflightJson(db.url, root, []);
    expect(run.code).toBe(0);
    expect(report.preflight).toMatchObject({ files: [], statements: 0 });
    expect(run.stderr).toContain('integrity: node-pg-migrate: public.pgmigrations records 2 of the 2 migrations in db/migrations as applied');
    expect(run.stderr).toContain('no pending migration to judge');
  });
});
