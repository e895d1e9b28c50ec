import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { audit, checkResult, query, useDatabase } from '../helpers/db.js';
import { fingerprintOf, type Finding } from '../../src/findings.js';
import { loadCatalog } from '../../src/db/catalog.js';
import { judgeTriggers, MAX_CALL_DEPTH } from '../../checks/users-without-profiles.js';

// Which triggers keep profiles in step, read from the parsed function bodies on a real server. Every
// scenario has its own schema (users, user_profiles, no users yet), so only the trigger question is asked.

const CHECK = 'users-without-profiles';
const KINDS = ['missing-profile', 'no-profile-trigger', 'unverified-profile-trigger'];

interface TriggerDetail {
  name: string;
  function: string;
  blockers: string[];
  inserts: string;
  via: string[];
  unknown: { function: string; kind: string; line: number | null }[];
}

describe('users-without-profiles: which triggers create profiles', () => {
  const db = useDatabase('profile_triggers');
  let counter = 0;

  /** A schema with users and user_profiles, then `sql` with `$S` standing for the schema. */
  async function scenario(sql: string): Promise<string> {
    const s = `case_${counter++}`;
    await query(
      db.url,
      `CREATE SCHEMA ${s};
       CREATE TABLE ${s}.users (id uuid PRIMARY KEY, email text);
       CREATE TABLE ${s}.user_profiles (id uuid PRIMARY KEY, email text);
       ${sql.replaceAll('$S', s)}`,
    );
    return s;
  }

  /** The check's trigger findings for one scenario: kind (from the fingerprint), severity, fix safety, triggers. */
  async function outcome(s: string) {
    const report = await audit(db.url, {
      checks: [CHECK],
      schemas: [s],
      config: { checks: { [CHECK]: { users: { schema: s, table: 'users' }, profiles: { schema: s, table: 'user_profiles' } } } },
    });
    expect(checkResult(report, CHECK).status).not.toBe('error');
    return report.findings
      .filter((f) => f.checkId === CHECK)
      .map((f: Finding) => ({
        kind: KINDS.find((k) => fingerprintOf(CHECK, k, f.object) === f.fingerprint),
        severity: f.severity,
        fix: f.fix?.safety ?? null,
        triggers: ((f.details?.triggers ?? []) as TriggerDetail[]).map((t) => ({ name: t.name, inserts: t.inserts, blockers: t.blockers })),
        unknown: ((f.details?.triggers ?? []) as TriggerDetail[]).flatMap((t) => t.unknown.map((u) => u.kind)),
        steps: f.fix?.steps.map((st) => st.sql.split('\n')[0]) ?? [],
      }));
  }

  const noTrigger = { kind: 'no-profile-trigger', severity: 'warning', fix: 'review', triggers: [], unknown: [] };

  describe('1. the PL/pgSQL is parsed', () => {
    it('an INSERT into the profile table in a comment or a string literal does not count', async () => {
      const s = await scenario(`
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          -- INSERT INTO $S.user_profiles (id) VALUES (NEW.id);
          /* INSERT INTO $S.user_profiles (id) VALUES (NEW.id); */
          RAISE NOTICE 'INSERT INTO $S.user_profiles (id) VALUES (%)', NEW.id;
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      const [finding] = await outcome(s);
      expect(finding).toMatchObject(noTrigger);
    });

    it('INSERT ... ON CONFLICT counts, and so does MERGE ... WHEN NOT MATCHED THEN INSERT; a MERGE that only updates does not', async () => {
      const upsert = await scenario(`
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          INSERT INTO $S.user_profiles AS p (id, email) VALUES (NEW.id, NEW.email) ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email;
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(upsert)).toEqual([]);

      const merge = await scenario(`
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          MERGE INTO $S.user_profiles p USING (SELECT NEW.id AS id) u ON p.id = u.id
            WHEN NOT MATCHED THEN INSERT (id) VALUES (u.id);
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(merge)).toEqual([]);

      const updateOnly = await scenario(`
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          MERGE INTO $S.user_profiles p USING (SELECT NEW.id AS id, NEW.email AS email) u ON p.id = u.id
            WHEN MATCHED THEN UPDATE SET email = u.email;
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect((await outcome(updateOnly))[0]).toMatchObject(noTrigger);
    });

    it('an unqualified table name resolves by the function\'s own search_path, else "$user", public', async () => {
      // public.user_profiles is another table: the default path reaches it, not the profile table.
      const s = await scenario(`
        CREATE TABLE IF NOT EXISTS public.user_profiles (id uuid);
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          INSERT INTO user_profiles (id) VALUES (NEW.id);
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect((await outcome(s))[0]).toMatchObject(noTrigger);
      await query(db.url, `ALTER FUNCTION ${s}.on_user() SET search_path = ${s}`);
      expect(await outcome(s)).toEqual([]);
      // An empty path (the Supabase advice, SET search_path = '') reaches only pg_catalog.
      await query(db.url, `ALTER FUNCTION ${s}.on_user() SET search_path = ''`);
      expect((await outcome(s))[0]).toMatchObject(noTrigger);
    });

    it('a constant EXECUTE string is read; one built at run time makes the trigger unverified, its repair left for review', async () => {
      const constant = await scenario(`
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          EXECUTE 'INSERT INTO $S.user_profiles (id) VALUES ($1)' USING NEW.id;
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(constant)).toEqual([]);

      const built = await scenario(`
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          EXECUTE format('INSERT INTO %I.user_profiles (id) VALUES ($1)', TG_TABLE_SCHEMA) USING NEW.id;
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(built)).toEqual([
        {
          kind: 'unverified-profile-trigger',
          severity: 'warning',
          fix: 'review',
          triggers: [{ name: 'on_user', inserts: 'unknown', blockers: [] }],
          unknown: ['dynamic-sql'],
          steps: [expect.stringMatching(/^CREATE OR REPLACE FUNCTION /)],
        },
      ]);
    });

    it('the trigger from the Supabase guide counts: lower case, SECURITY DEFINER, SET search_path = \'\'', async () => {
      const s = await scenario(`
        create function $S.handle_new_user() returns trigger language plpgsql security definer set search_path = '' as $$
        begin
          insert into $S.user_profiles (id, email) values (new.id, new.raw_user_meta_data ->> 'email');
          return new;
        end;
        $$;
        alter table $S.users add column raw_user_meta_data jsonb;
        create trigger on_auth_user_created after insert on $S.users for each row execute procedure $S.handle_new_user();`);
      expect(await outcome(s)).toEqual([]);
    });

    it('a trigger with a static INSERT still counts when it also runs dynamic SQL', async () => {
      const s = await scenario(`
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          INSERT INTO $S.user_profiles (id) VALUES (NEW.id);
          EXECUTE 'NOTIFY ' || quote_ident(TG_TABLE_NAME);
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(s)).toEqual([]);
    });
  });

  describe('2. calls are followed into the functions of the database', () => {
    it.each([
      ['PERFORM', 'PERFORM $S.create_profile(NEW.id, NEW.email);'],
      ['SELECT ... INTO', 'SELECT $S.create_profile(NEW.id, NEW.email) INTO made;'],
      ['an assignment', 'made := $S.create_profile(NEW.id, NEW.email);'],
      ['a declaration', 'made := made;'],
      ['CALL', 'CALL $S.provision(NEW.id, NEW.email);'],
    ])('a trigger that inserts through a helper called by %s counts', async (how, statement) => {
      const s = await scenario(`
        CREATE FUNCTION $S.create_profile(uid uuid, mail text) RETURNS boolean LANGUAGE plpgsql AS $f$
        BEGIN
          INSERT INTO $S.user_profiles (id, email) VALUES (uid, mail) ON CONFLICT DO NOTHING;
          RETURN true;
        END $f$;
        CREATE PROCEDURE $S.provision(uid uuid, mail text) LANGUAGE plpgsql AS $f$
        BEGIN
          INSERT INTO $S.user_profiles (id, email) VALUES (uid, mail);
        END $f$;
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        DECLARE made boolean${how === 'a declaration' ? ' := $S.create_profile(NEW.id, NEW.email)' : ''};
        BEGIN
          ${statement}
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(s)).toEqual([]);
    });

    it('follows two levels into SQL functions, quoted and BEGIN ATOMIC, resolving names by each function\'s search_path', async () => {
      const s = await scenario(`
        CREATE SCHEMA $S_lib;
        CREATE FUNCTION $S_lib.write_profile(uid uuid) RETURNS void LANGUAGE sql
          BEGIN ATOMIC INSERT INTO $S.user_profiles (id) VALUES (uid) ON CONFLICT DO NOTHING; END;
        CREATE FUNCTION $S_lib.quoted_write(uid uuid) RETURNS void LANGUAGE sql
          AS 'INSERT INTO user_profiles (id) VALUES ($1) ON CONFLICT DO NOTHING' SET search_path = $S;
        CREATE FUNCTION $S_lib.make_profile(uid uuid) RETURNS void LANGUAGE plpgsql SET search_path = $S_lib AS $f$
        BEGIN
          PERFORM write_profile(uid);
        END $f$;
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql SET search_path = $S_lib, pg_catalog AS $f$
        BEGIN
          PERFORM make_profile(NEW.id);
          RETURN NEW;
        END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(s)).toEqual([]);
      // The quoted SQL body, reached instead through the plpgsql helper.
      await query(
        db.url,
        `CREATE OR REPLACE FUNCTION ${s}_lib.make_profile(uid uuid) RETURNS void LANGUAGE plpgsql SET search_path = ${s}_lib AS $f$
         BEGIN PERFORM quoted_write(uid); END $f$`,
      );
      expect(await outcome(s)).toEqual([]);
      // A helper of the same name in a schema the path does not reach is not the one called.
      await query(
        db.url,
        `CREATE SCHEMA ${s}_other;
         CREATE FUNCTION ${s}_other.make_profile(uid uuid) RETURNS void LANGUAGE sql AS 'SELECT 1';
         ALTER FUNCTION ${s}.on_user() SET search_path = ${s}_other`,
      );
      expect((await outcome(s))[0]).toMatchObject(noTrigger);
    });

    it('ends on recursion, and calls nested deeper than the bound make the trigger unverified', async () => {
      const loop = await scenario(`
        CREATE FUNCTION $S.ping(n int) RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN $S.pong(n - 1); END $f$;
        CREATE FUNCTION $S.pong(n int) RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN $S.ping(n - 1); END $f$;
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM $S.ping(3); RETURN NEW; END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect((await outcome(loop))[0]).toMatchObject(noTrigger);

      // on_user -> step1 -> ... -> stepN, where stepN inserts.
      const chain = (n: number) =>
        [
          `CREATE FUNCTION $S.step${n}(uid uuid) RETURNS void LANGUAGE sql AS 'INSERT INTO $S.user_profiles (id) VALUES ($1)';`,
          ...Array.from(
            { length: n - 1 },
            (_, i) => `CREATE FUNCTION $S.step${i + 1}(uid uuid) RETURNS void LANGUAGE plpgsql AS $f$ BEGIN PERFORM $S.step${i + 2}(uid); END $f$;`,
          ),
          `CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM $S.step1(NEW.id); RETURN NEW; END $f$;`,
          `CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`,
        ].join('\n');
      expect(await outcome(await scenario(chain(MAX_CALL_DEPTH)))).toEqual([]);
      const deep = await outcome(await scenario(chain(MAX_CALL_DEPTH + 1)));
      expect(deep).toMatchObject([{ kind: 'unverified-profile-trigger', severity: 'warning', fix: 'review', unknown: ['call-depth'] }]);
    });

    it('a call that may reach one of several overloads, not all of which insert, leaves the trigger unverified', async () => {
      const s = await scenario(`
        CREATE FUNCTION $S.create_profile(uid uuid) RETURNS void LANGUAGE sql AS 'INSERT INTO $S.user_profiles (id) VALUES ($1)';
        CREATE FUNCTION $S.create_profile(uid text) RETURNS void LANGUAGE sql AS 'SELECT 1';
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM $S.create_profile(NEW.id); RETURN NEW; END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(s)).toMatchObject([{ kind: 'unverified-profile-trigger', severity: 'warning', fix: 'review', unknown: ['overloaded-call'] }]);
    });

    it('loads the called functions with one pg_proc query per level, not one per function', async () => {
      const s = await scenario(`
        CREATE FUNCTION $S.leaf(uid uuid) RETURNS void LANGUAGE sql AS 'INSERT INTO $S.user_profiles (id) VALUES ($1)';
        ${[1, 2, 3, 4]
          .map((i) => `CREATE FUNCTION $S.mid${i}(uid uuid) RETURNS void LANGUAGE plpgsql AS $f$ BEGIN PERFORM $S.leaf(uid); PERFORM pg_catalog.now(); END $f$;`)
          .join('\n')}
        CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN PERFORM $S.mid1(NEW.id), $S.mid2(NEW.id), $S.mid3(NEW.id), $S.mid4(NEW.id), now(); RETURN NEW; END $f$;
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();
        CREATE TRIGGER on_user_2 AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query('SET search_path = pg_catalog, pg_temp');
        const catalog = await loadCatalog(client, [s]);
        const sql: string[] = [];
        const counting = { query: async <R,>(text: string, params?: unknown[]) => (sql.push(text), (await client.query(text, params)) as unknown as { rows: R[] }) };
        const verdicts = await judgeTriggers(counting, catalog.serverVersionNum, catalog.triggers, { schema: s, name: 'user_profiles' });
        expect(verdicts.map((v) => [v.name, v.inserts, v.via])).toEqual([
          ['on_user', 'yes', [`${s}.on_user`, `${s}.mid1`, `${s}.leaf`]],
          ['on_user_2', 'yes', [`${s}.on_user`, `${s}.mid1`, `${s}.leaf`]],
        ]);
        // The trigger function's search_path (it calls now() unqualified), the mids, the leaf, and the calls
        // of the leaf (none): at most one query per level, whatever the number of functions on it.
        expect(sql.filter((q) => q.includes('pg_catalog.pg_proc')).length).toBeLessThanOrEqual(3);
        expect(sql.filter((q) => q.includes('pg_catalog.pg_proc')).length).toBeGreaterThanOrEqual(2);
      } finally {
        await client.end();
      }
    });
  });

  describe('3. the trigger must fire for every new user', () => {
    const writer = `
      CREATE FUNCTION $S.on_user() RETURNS trigger LANGUAGE plpgsql AS $f$
      BEGIN
        INSERT INTO $S.user_profiles (id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
        RETURN NEW;
      END $f$;`;

    it('a disabled trigger and a replica-only one do not count, and the repair enables them; ENABLE ALWAYS does', async () => {
      const s = await scenario(`${writer}
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();
        ALTER TABLE $S.users DISABLE TRIGGER on_user;`);
      expect(await outcome(s)).toEqual([
        { ...noTrigger, triggers: [{ name: 'on_user', inserts: 'yes', blockers: ['disabled'] }], steps: [`ALTER TABLE "${s}"."users" ENABLE TRIGGER "on_user";`] },
      ]);
      await query(db.url, `ALTER TABLE ${s}.users ENABLE REPLICA TRIGGER on_user`);
      expect(await outcome(s)).toEqual([
        { ...noTrigger, triggers: [{ name: 'on_user', inserts: 'yes', blockers: ['replica-only'] }], steps: [`ALTER TABLE "${s}"."users" ENABLE TRIGGER "on_user";`] },
      ]);
      await query(db.url, `ALTER TABLE ${s}.users ENABLE ALWAYS TRIGGER on_user`);
      expect(await outcome(s)).toEqual([]);
    });

    it.each([['false'], ['NULL'], ['1 = 0'], ['NOT true'], ['false AND NEW.email IS NOT NULL'], ['NULL::boolean OR 2 < 1']])(
      'a trigger WHEN (%s) does not count, and the repair creates a trigger instead',
      async (condition) => {
        const s = await scenario(`${writer}
          CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW WHEN (${condition}) EXECUTE FUNCTION $S.on_user();`);
        const [finding] = await outcome(s);
        expect(finding).toMatchObject({ ...noTrigger, triggers: [{ name: 'on_user', inserts: 'yes', blockers: ['when-never-holds'] }] });
        expect(finding?.steps[0]).toMatch(/^CREATE OR REPLACE FUNCTION /);
      },
    );

    it.each([['NEW.email IS NOT NULL'], ['1 = 1'], ['true OR NEW.id IS NULL']])('a trigger WHEN (%s) counts', async (condition) => {
      const s = await scenario(`${writer}
        CREATE TRIGGER on_user AFTER INSERT ON $S.users FOR EACH ROW WHEN (${condition}) EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(s)).toEqual([]);
    });

    it('a statement-level or UPDATE-only trigger does not count; BEFORE INSERT OR UPDATE ... FOR EACH ROW does', async () => {
      const s = await scenario(`${writer}
        CREATE TRIGGER per_statement AFTER INSERT ON $S.users FOR EACH STATEMENT EXECUTE FUNCTION $S.on_user();
        CREATE TRIGGER on_update AFTER UPDATE ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.on_user();`);
      expect(await outcome(s)).toEqual([
        {
          ...noTrigger,
          triggers: [
            { name: 'on_update', inserts: 'yes', blockers: ['not-on-insert'] },
            { name: 'per_statement', inserts: 'yes', blockers: ['statement-level'] },
          ],
          steps: [expect.stringMatching(/^CREATE OR REPLACE FUNCTION /)],
        },
      ]);
      await query(db.url, `CREATE TRIGGER before_row BEFORE INSERT OR UPDATE ON ${s}.users FOR EACH ROW EXECUTE FUNCTION ${s}.on_user()`);
      expect(await outcome(s)).toEqual([]);
    });
  });
});
