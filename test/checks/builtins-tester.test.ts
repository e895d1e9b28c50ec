import { describe, it } from 'vitest';
import { CheckTester } from '../../src/testing/index.js';
import { adminUrl } from '../helpers/db.js';

/**
 * The built-in checks through the public tester, as a plugin's author would test theirs: small
 * fixtures, and the exact findings (kind, object, count, samples) each must report, or none.
 */
const tester = new CheckTester({ databaseUrl: adminUrl(), describe, it });

tester.run('jsonb-int-cast-index', [
  {
    name: 'an index casting JSON text to int (seed 003)',
    fixture: `CREATE TABLE public.models (id text PRIMARY KEY, meta jsonb NOT NULL DEFAULT '{}');
              INSERT INTO public.models VALUES ('a', '{"credits": 1}');
              CREATE INDEX models_credits ON public.models (((meta->>'credits')::int));`,
    findings: [{ kind: 'index', severity: 'error', object: { schema: 'public', table: 'models', index: 'models_credits', column: 'meta' }, count: null }],
  },
  {
    name: 'a CHECK constraint casting to smallint',
    fixture: `CREATE TABLE public.versions (id integer PRIMARY KEY, meta jsonb NOT NULL DEFAULT '{}',
                CONSTRAINT versions_max_tokens CHECK (((meta->>'maxTokens')::smallint) > 0));`,
    findings: [{ kind: 'check-constraint', severity: 'error', object: { schema: 'public', table: 'versions', constraint: 'versions_max_tokens', column: 'meta' }, count: null }],
  },
  {
    name: 'numeric casts and plain text expressions are not reported',
    fixture: `CREATE TABLE public.models (id text PRIMARY KEY, meta jsonb NOT NULL DEFAULT '{}', code text);
              CREATE INDEX models_credits ON public.models (((meta->>'credits')::numeric));
              CREATE INDEX models_tier ON public.models ((meta->>'tier'));
              CREATE INDEX models_code ON public.models ((code::int));`,
    findings: [],
  },
]);

tester.run('models-without-pricing', [
  {
    name: 'a model without a pricing row and one with only an inactive row (seed 000)',
    fixture: `CREATE TABLE public.models (id text PRIMARY KEY);
              CREATE TABLE public.model_provider_pricing (id serial PRIMARY KEY, model_name text NOT NULL REFERENCES public.models (id), is_active boolean NOT NULL DEFAULT true);
              INSERT INTO public.models VALUES ('priced'), ('unpriced'), ('switched-off');
              INSERT INTO public.model_provider_pricing (model_name, is_active) VALUES ('priced', true), ('switched-off', false);`,
    findings: [
      {
        kind: 'unpriced',
        severity: 'error',
        object: { schema: 'public', table: 'models', column: 'id', references: { schema: 'public', table: 'model_provider_pricing', columns: ['model_name'] } },
        count: 2,
        samples: ['unpriced', 'switched-off'],
      },
    ],
  },
  {
    name: 'its severity from the config',
    fixture: `CREATE TABLE public.models (id text PRIMARY KEY);
              CREATE TABLE public.model_provider_pricing (model_name text NOT NULL);
              INSERT INTO public.models VALUES ('a');`,
    config: { checks: { 'models-without-pricing': { severity: 'warning' } } },
    findings: [
      {
        kind: 'unpriced',
        severity: 'warning',
        object: { schema: 'public', table: 'models', column: 'id', references: { schema: 'public', table: 'model_provider_pricing', columns: ['model_name'] } },
        count: 1,
        samples: ['a'],
      },
    ],
  },
  {
    name: 'every model priced',
    fixture: `CREATE TABLE public.models (id text PRIMARY KEY);
              CREATE TABLE public.model_provider_pricing (model_name text NOT NULL, is_active boolean NOT NULL DEFAULT true);
              INSERT INTO public.models VALUES ('a'), ('b');
              INSERT INTO public.model_provider_pricing VALUES ('a', true), ('b', true), ('b', false);`,
    findings: [],
  },
  {
    name: 'skipped without a models table',
    fixture: 'CREATE TABLE public.other (id integer);',
    findings: [],
    status: 'skipped',
    reason: /no table named models/,
  },
]);

const PARENT_CHILD = `CREATE TABLE public.parent (id integer PRIMARY KEY);
CREATE TABLE public.child (id integer PRIMARY KEY, parent_id integer);
INSERT INTO public.parent VALUES (1), (2);`;

tester.run('orphan-rows', [
  {
    name: 'orphans under a constraint added NOT VALID (seed 002)',
    fixture: `${PARENT_CHILD}
              INSERT INTO public.child VALUES (10, 1), (11, 99), (12, 99), (13, 98), (14, NULL);
              ALTER TABLE public.child ADD CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) REFERENCES public.parent (id) NOT VALID;`,
    findings: [
      {
        kind: 'orphans',
        severity: 'error',
        object: { schema: 'public', table: 'child', column: 'parent_id', constraint: 'child_parent_fkey', references: { schema: 'public', table: 'parent', columns: ['id'] } },
        count: 3,
        samples: ['98', '99'],
      },
    ],
  },
  {
    name: 'orphans loaded with triggers off are seen with --deep (seed 001)',
    fixture: `${PARENT_CHILD}
              ALTER TABLE public.child ADD CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) REFERENCES public.parent (id);
              SET session_replication_role = replica;
              INSERT INTO public.child VALUES (10, 1), (11, 7);
              RESET session_replication_role;`,
    audit: { deep: true },
    findings: [
      {
        kind: 'orphans',
        object: { schema: 'public', table: 'child', column: 'parent_id', constraint: 'child_parent_fkey', references: { schema: 'public', table: 'parent', columns: ['id'] } },
        count: 1,
        samples: ['7'],
      },
    ],
  },
  {
    name: 'a reference declared in the config, with no constraint',
    fixture: `${PARENT_CHILD} INSERT INTO public.child VALUES (10, 2), (11, 3);`,
    config: { relations: [{ name: 'child.parent_id -> parent.id', table: 'child', columns: ['parent_id'], references: { table: 'parent', columns: ['id'] } }] },
    findings: [{ kind: 'orphans', object: { schema: 'public', table: 'child', column: 'parent_id', references: { schema: 'public', table: 'parent', columns: ['id'] } }, count: 1, samples: ['3'] }],
  },
  {
    name: 'a NOT VALID constraint every row satisfies, and a NULL reference',
    fixture: `${PARENT_CHILD}
              INSERT INTO public.child VALUES (10, 1), (11, 2), (12, NULL);
              ALTER TABLE public.child ADD CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) REFERENCES public.parent (id) NOT VALID;`,
    findings: [],
  },
]);

const NIL = '00000000-0000-0000-0000-000000000000';

tester.run('placeholder-uuid', [
  {
    name: 'the nil UUID as a foreign key, accepted through a fake parent row (seed 000)',
    fixture: `CREATE TABLE public.providers (id uuid PRIMARY KEY, name text NOT NULL);
              INSERT INTO public.providers VALUES ('bc091a10-d1bc-4a2d-89bc-5f9585e23ae5', 'openai'), ('${NIL}', 'unknown');
              CREATE TABLE public.ledger (id integer PRIMARY KEY, provider_id uuid NOT NULL REFERENCES public.providers (id));
              INSERT INTO public.ledger VALUES (1, 'bc091a10-d1bc-4a2d-89bc-5f9585e23ae5'), (2, '${NIL}'), (3, '${NIL}');`,
    findings: [
      {
        kind: 'placeholder-value',
        severity: 'error',
        object: { schema: 'public', table: 'ledger', column: 'provider_id', constraint: 'ledger_provider_id_fkey', references: { schema: 'public', table: 'providers', columns: ['id'] } },
        count: 2,
        samples: ['2', '3'],
      },
      { kind: 'placeholder-parent', severity: 'error', object: { schema: 'public', table: 'providers', column: 'id' }, count: 1, samples: [NIL] },
    ],
  },
  {
    name: 'a text id column spelling the nil UUID without dashes',
    fixture: `CREATE TABLE public.sessions (id integer PRIMARY KEY, user_id text);
              INSERT INTO public.sessions VALUES (1, 'usr_1'), (2, '00000000000000000000000000000000');`,
    findings: [{ kind: 'placeholder-value', object: { schema: 'public', table: 'sessions', column: 'user_id' }, count: 1, samples: ['2'] }],
  },
  {
    name: 'real UUIDs, and a nil UUID in a column that is not an id',
    fixture: `CREATE TABLE public.requests (id uuid PRIMARY KEY, external_ref text);
              INSERT INTO public.requests VALUES ('3d6f0a4e-1111-4b7c-9d2e-000000000001', '${NIL}');`,
    findings: [],
  },
]);

const SUPABASE = `CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE TABLE public.user_profiles (id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE, email text);`;
const ANA = '7c1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6';
const BEN = '2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a7b';
const CHLOE = 'd78a04ae-a852-4bd8-9ed6-aa927276d190';

tester.run('users-without-profiles', [
  {
    name: 'users without profiles and no trigger to create them (seed 004)',
    fixture: `${SUPABASE}
              INSERT INTO auth.users VALUES ('${ANA}', 'ana@example.com'), ('${BEN}', 'ben@example.com'), ('${CHLOE}', 'chloe@example.com');
              INSERT INTO public.user_profiles VALUES ('${ANA}', 'ana@example.com');`,
    findings: [
      {
        kind: 'missing-profile',
        severity: 'error',
        object: { schema: 'auth', table: 'users', column: 'id', references: { schema: 'public', table: 'user_profiles', columns: ['id'] } },
        count: 2,
        samples: [BEN, CHLOE],
      },
      { kind: 'no-profile-trigger', severity: 'warning', object: { schema: 'auth', table: 'users', references: { schema: 'public', table: 'user_profiles', columns: ['id'] } }, count: null },
    ],
  },
  {
    name: 'every user has a profile, and a trigger creates it',
    fixture: `${SUPABASE}
              CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $$
              BEGIN
                INSERT INTO public.user_profiles (id, email) VALUES (NEW.id, NEW.email);
                RETURN NEW;
              END $$;
              CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();
              INSERT INTO auth.users VALUES ('${ANA}', 'ana@example.com'), ('${BEN}', 'ben@example.com');`,
    findings: [],
  },
  {
    name: 'skipped without the users table',
    fixture: 'CREATE TABLE public.user_profiles (id uuid PRIMARY KEY);',
    findings: [],
    status: 'skipped',
    reason: /auth\.users/,
  },
]);
