import { describe, expect, it } from 'vitest';
import { audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

describe('users-without-profiles on seed 004', () => {
  const db = useDatabase('profiles', { incidents: ['004_supabase_profiles.sql'] });

  it('reports the users without profiles and the missing trigger', async () => {
    const report = await audit(db.url, { checks: ['users-without-profiles'] });
    expect(summarize(report)).toEqual([
      {
        checkId: 'users-without-profiles',
        severity: 'error',
        object: { schema: 'auth', table: 'users', column: 'id', references: { schema: 'public', table: 'user_profiles', columns: ['id'] } },
        count: 2,
        samples: ['d78a04ae-a852-4bd8-9ed6-aa927276d190', 'e4f5a6b7-c8d9-4eaf-b0c1-d2e3f4a5b6c7'],
      },
      {
        checkId: 'users-without-profiles',
        severity: 'warning',
        object: { schema: 'auth', table: 'users', references: { schema: 'public', table: 'user_profiles', columns: ['id'] } },
        count: null,
        samples: [],
      },
    ]);
  });

  it('drops the trigger warning once an enabled trigger writes the profile table, and names a disabled one', async () => {
    await query(
      db.url,
      `CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
       BEGIN
         INSERT INTO public.user_profiles (id, email) VALUES (NEW.id, NEW.email) ON CONFLICT (id) DO NOTHING;
         RETURN NEW;
       END $$;
       CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();`,
    );
    let report = await audit(db.url, { checks: ['users-without-profiles'] });
    expect(report.findings.map((f) => f.severity)).toEqual(['error']);

    await query(db.url, `ALTER TABLE auth.users DISABLE TRIGGER on_auth_user_created`);
    report = await audit(db.url, { checks: ['users-without-profiles'] });
    expect(report.findings.map((f) => f.severity)).toEqual(['error', 'warning']);
    expect(report.findings[1]?.details?.triggers).toMatchObject([{ name: 'on_auth_user_created', inserts: 'yes', blockers: ['disabled'] }]);
    expect(report.findings[1]?.fix?.steps.map((s) => [s.safety, s.sql])).toEqual([['review', 'ALTER TABLE "auth"."users" ENABLE TRIGGER "on_auth_user_created";']]);
  });

  it('is skipped with a reason when auth is not audited', async () => {
    const report = await audit(db.url, { checks: ['users-without-profiles'], schemas: ['public'] });
    const result = checkResult(report, 'users-without-profiles');
    expect(result.status).toBe('skipped');
    expect(result.reason).toContain('schema auth is not audited');
  });
});

describe('users-without-profiles with a user_id column and a profiles table', () => {
  const db = useDatabase('profiles_userid', {
    sql: [
      `CREATE SCHEMA auth;
       CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
       CREATE TABLE public.profiles (id bigserial PRIMARY KEY, user_id text UNIQUE);
       INSERT INTO auth.users VALUES ('10000000-0000-4000-8000-000000000001', 'a@x'), ('10000000-0000-4000-8000-00000000000b', 'b@x');
       INSERT INTO public.profiles (user_id) VALUES ('10000000-0000-4000-8000-00000000000B');`,
    ],
  });

  it('falls back to public.profiles and joins on user_id, matching a text uuid in any case', async () => {
    const report = await audit(db.url, { checks: ['users-without-profiles'] });
    expect(summarize(report)[0]).toEqual({
      checkId: 'users-without-profiles',
      severity: 'error',
      object: { schema: 'auth', table: 'users', column: 'id', references: { schema: 'public', table: 'profiles', columns: ['user_id'] } },
      count: 1,
      samples: ['10000000-0000-4000-8000-000000000001'],
    });
  });
});

describe('users-without-profiles without the tables', () => {
  const db = useDatabase('profiles_none', { sql: ['CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY);'] });

  it('is skipped, saying how to configure the profile table', async () => {
    const report = await audit(db.url, { checks: ['users-without-profiles'] });
    const result = checkResult(report, 'users-without-profiles');
    expect(result.status).toBe('skipped');
    expect(result.reason).toMatch(/no profile table .*profiles\.table/);
  });
});
