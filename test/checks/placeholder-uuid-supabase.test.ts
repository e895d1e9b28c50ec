import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '../../src/demo/fixtures.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { repairSafety } from '../../src/fix/types.js';
import { auditOptions, checkResult, query, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';

/** The n-th id of a kind, as a uuid literal: predictable, version 4, distinct per kind. */
const id = (kind: number, n: string) => `('${kind}0000000-0000-4000-8000-' || lpad((${n})::text, 12, '0'))::uuid`;

// What the auth server writes for 40 users signing up by email and password, a few of them with TOTP or
// passkeys: instance_id is the nil UUID in every users, refresh_tokens and audit_log_entries row, and
// "none"-attestation passkeys carry the all-zero AAGUID, beside authenticators that report a real one.
const ROWS = `
INSERT INTO auth.schema_migrations (version)
  VALUES ('00'), ('20210710035447'), ('20221003041349'), ('20240612123726'), ('20241009103726'), ('20260302000000');

INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, confirmation_token,
                        recovery_token, email_change_token_new, email_change, last_sign_in_at, raw_app_meta_data,
                        raw_user_meta_data, created_at, updated_at, phone_change, phone_change_token,
                        email_change_token_current, reauthentication_token)
SELECT '${NIL}', ${id(1, 'g')}, 'authenticated', 'authenticated', 'user' || g || '@example.com',
       '$2a$10$' || md5(g::text), now() - g * interval '1 day', '', '', '', '', now() - g * interval '1 hour',
       '{"provider": "email", "providers": ["email"]}', jsonb_build_object('sub', ${id(1, 'g')}::text, 'email', 'user' || g || '@example.com'),
       now() - g * interval '1 day', now(), '', '', '', ''
  FROM generate_series(1, 40) g;

INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at, id)
SELECT u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true), 'email',
       u.last_sign_in_at, u.created_at, u.updated_at, ${id(2, 'row_number() OVER (ORDER BY u.id)')}
  FROM auth.users u;

INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent, ip, not_after)
SELECT ${id(3, 'g')}, ${id(1, '(g % 40) + 1')}, now() - interval '2 hours', now(), 'aal1', now(), 'Mozilla/5.0', '203.0.113.7', NULL
  FROM generate_series(1, 60) g;

INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
SELECT '${NIL}', substr(md5('t' || g), 1, 12), ${id(1, '(g % 40) + 1')}::text, g % 3 = 0, now(), now(),
       CASE WHEN g > 60 THEN substr(md5('t' || (g - 60)), 1, 12) END, ${id(3, '((g - 1) % 60) + 1')}
  FROM generate_series(1, 120) g;

INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
SELECT '${NIL}', ${id(4, 'g')},
       json_build_object('action', CASE WHEN g % 2 = 0 THEN 'login' ELSE 'token_refreshed' END, 'actor_id', ${id(1, '(g % 40) + 1')}::text,
                         'actor_username', 'user' || (g % 40) + 1 || '@example.com', 'log_type', 'account'),
       now() - g * interval '1 minute', '203.0.113.7'
  FROM generate_series(1, 200) g;

INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret, web_authn_credential, web_authn_aaguid)
SELECT ${id(5, 'g')}, ${id(1, 'g')}, 'factor ' || g,
       CASE WHEN g <= 4 THEN 'totp' ELSE 'webauthn' END::auth.factor_type, 'verified', now(), now(),
       CASE WHEN g <= 4 THEN 'JBSWY3DPEHPK3PXP' END,
       CASE WHEN g > 4 THEN '{"attestation_type": "none"}'::jsonb END,
       CASE WHEN g <= 4 THEN NULL WHEN g <= 7 THEN '${NIL}'::uuid ELSE 'ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4'::uuid END
  FROM generate_series(1, 9) g;

INSERT INTO auth.mfa_challenges (id, factor_id, created_at, verified_at, ip_address)
SELECT ${id(6, 'g')}, ${id(5, '(g % 9) + 1')}, now(), now(), '203.0.113.7' FROM generate_series(1, 12) g;

INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
SELECT ${id(3, 'g')}, now(), now(), 'password', ${id(7, 'g')} FROM generate_series(1, 60) g;

INSERT INTO auth.webauthn_credentials (user_id, credential_id, public_key, attestation_type, aaguid, sign_count, friendly_name)
SELECT ${id(1, 'g + 10')}, decode(md5('cred' || g), 'hex'), decode(md5('key' || g), 'hex'),
       CASE WHEN g <= 5 THEN 'none' ELSE 'packed' END,
       CASE WHEN g <= 5 THEN '${NIL}'::uuid WHEN g = 6 THEN 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd'::uuid ELSE '08987058-cadc-4b81-b6e1-30de50dcbe96'::uuid END,
       g, 'passkey ' || g
  FROM generate_series(1, 8) g;

INSERT INTO auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge, provider_type, created_at, updated_at, authentication_method)
SELECT ${id(8, 'g')}, ${id(1, 'g')}, md5('code' || g), 's256', md5('challenge' || g), 'email', now(), now(), 'magiclink'
  FROM generate_series(1, 5) g;

INSERT INTO auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to)
SELECT ${id(9, 'g')}, ${id(1, 'g')}, 'confirmation_token', md5('ott' || g), 'user' || g || '@example.com'
  FROM generate_series(1, 5) g;

INSERT INTO auth.sso_providers (id, resource_id, created_at, updated_at) VALUES ('a0000000-0000-4000-8000-000000000001', 'acme-okta', now(), now());
INSERT INTO auth.sso_domains (id, sso_provider_id, domain, created_at, updated_at)
  VALUES ('a0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000001', 'acme.example', now(), now());
INSERT INTO auth.saml_providers (id, sso_provider_id, entity_id, metadata_xml, created_at, updated_at)
  VALUES ('a0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000001', 'https://acme.okta.example/saml', '<EntityDescriptor/>', now(), now());
ANALYZE;`;

describe('placeholder-uuid on the real Supabase auth schema (supabase/auth migrations)', () => {
  const db = useDatabase('placeholder_supabase', {
    sql: [readFileSync(path.join(fixturesDir(), 'real', 'supabase-auth.sql'), 'utf8'), ROWS],
  });

  it('loads the schema as the auth server leaves it: instance_id nil everywhere, nil AAGUIDs beside real ones', async () => {
    expect(
      await query(
        db.url,
        `SELECT (SELECT count(*) FROM auth.users WHERE instance_id = '${NIL}')::int AS users,
                (SELECT count(*) FROM auth.refresh_tokens WHERE instance_id = '${NIL}')::int AS tokens,
                (SELECT count(*) FROM auth.audit_log_entries WHERE instance_id = '${NIL}')::int AS audit,
                (SELECT count(*) FROM auth.webauthn_credentials WHERE aaguid = '${NIL}')::int AS passkeys,
                (SELECT count(*) FROM auth.mfa_factors WHERE web_authn_aaguid = '${NIL}')::int AS factors,
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'auth' AND c.relrowsecurity)::int AS rls`,
      ),
    ).toEqual([{ users: 40, tokens: 120, audit: 200, passkeys: 5, factors: 3, rls: 16 }]);
  });

  it('reports no placeholder there and writes no repair', async () => {
    const { report, repairs } = await runAuditWithRepairs(auditOptions(db.url, { checks: ['placeholder-uuid'] }));
    expect(checkResult(report, 'placeholder-uuid').status).toBe('passed');
    expect(report.findings).toEqual([]);
    expect(repairs).toEqual([]);
    expect(report.scope.tables).toBe(23);
  });

  it('still reports a real defect in the same schema: a placeholder user that identities point at', async () => {
    await query(
      db.url,
      `INSERT INTO auth.users (instance_id, id, aud, role, email, created_at, updated_at)
         VALUES ('${NIL}', '${NIL}', 'authenticated', 'authenticated', 'unknown@example.com', now(), now());
       INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, id)
         VALUES ('legacy-1', '${NIL}', '{}', 'legacy', 'b0000000-0000-4000-8000-000000000001'),
                ('legacy-2', '${NIL}', '{}', 'legacy', 'b0000000-0000-4000-8000-000000000002');`,
    );
    const { report, repairs } = await runAuditWithRepairs(auditOptions(db.url, { checks: ['placeholder-uuid'] }));
    expect(report.findings.map((f) => [f.object.table, f.object.column, f.severity, f.count, f.details?.role])).toEqual([
      ['identities', 'user_id', 'error', 2, 'reference'],
      ['users', 'id', 'error', 1, 'parent'],
    ]);
    // NOT NULL reference and a referenced parent: both for a person to decide; instance_id is never touched.
    expect(repairs.map((r) => [r.finding.object.table, repairSafety(r.repair)])).toEqual([
      ['identities', 'review'],
      ['users', 'review'],
    ]);
    expect(repairs.some((r) => r.repair.steps.some((s) => /SET "instance_id"/.test(s.sql)))).toBe(false);
  });
});
