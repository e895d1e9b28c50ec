import type pg from 'pg';

/**
 * The synthetic database: the incident schemas at a scale factor, with every defect family planted at
 * counts that follow from the row numbers alone, so the expected answer is known without reading the data.
 */
export interface Sizes {
  users: number;
  sessions: number;
  messages: number;
  ledger: number;
  models: number;
  files: number;
}

export function sizesAt(scale: number): Sizes {
  const n = (base: number) => Math.max(100, Math.round(base * scale));
  return {
    users: n(1_000_000),
    sessions: n(2_000_000),
    messages: n(10_000_000),
    ledger: n(5_000_000),
    models: n(10_000),
    files: n(1_000_000),
  };
}

/** One expected finding: check, table, column (or null) and the count the audit must report. */
export interface Planted {
  check: string;
  table: string;
  column: string | null;
  /** Null for a finding with no row count: one about the catalog, or an undeclared reference with no orphan rows. */
  count: number | null;
}

/** How many of 1..n are congruent to r modulo m. */
export function every(n: number, m: number, r: number): number {
  if (r === 0) return Math.floor(n / m);
  return n >= r ? Math.floor((n - r) / m) + 1 : 0;
}

export const NIL = '00000000-0000-0000-0000-000000000000';

/**
 * The planted defects, computed from the same modular rules the SQL below uses. `options`: what
 * generate() could plant on the server (its result); by default, a server with ICU.
 */
export function plantedAt(s: Sizes, options: PlantOptions = { icu: true }): Planted[] {
  return [
    // Seed 004: every 50th user has no profile.
    { check: 'users-without-profiles', table: 'auth.users', column: 'id', count: every(s.users, 50, 0) },
    // ...and no trigger writes the profile (seed 004's first layer).
    { check: 'users-without-profiles', table: 'auth.users', column: null, count: null },
    // Seed 000: every 40th model has no pricing row, the next only inactive rows, the next only expired ones.
    { check: 'models-without-pricing', table: 'public.models', column: 'id', count: every(s.models, 40, 0) + every(s.models, 40, 1) + every(s.models, 40, 2) },
    // Seed 002: sessions of users that do not exist, messages of sessions that do not exist.
    { check: 'orphan-rows', table: 'public.chat_sessions', column: 'user_id', count: every(s.sessions, 200, 0) },
    { check: 'orphan-rows', table: 'public.chat_messages', column: 'session_id', count: every(s.messages, 100, 0) },
    { check: 'orphan-rows', table: 'public.chat_messages', column: 'user_id', count: every(s.messages, 250, 3) },
    // Seed 001: files whose message was never written (NOT VALID constraint).
    { check: 'orphan-rows', table: 'public.stored_files', column: 'message_id', count: every(s.files, 100, 0) },
    // Seed 000: the ledger's nil provider is both a placeholder and an orphan (no nil provider row exists).
    { check: 'orphan-rows', table: 'public.token_usage_ledger', column: 'provider_id', count: every(s.ledger, 50, 0) },
    { check: 'placeholder-uuid', table: 'public.token_usage_ledger', column: 'provider_id', count: every(s.ledger, 50, 0) },
    { check: 'placeholder-uuid', table: 'public.chat_messages', column: 'request_id', count: every(s.messages, 100, 7) },
    { check: 'placeholder-uuid', table: 'public.stored_files', column: 'upload_id', count: every(s.files, 80, 5) },
    { check: 'placeholder-uuid', table: 'public.chat_sessions', column: 'external_id', count: every(s.sessions, 120, 9) },
    // Seed 003: the expression index that rejects fractional credits (a catalog finding, no count).
    { check: 'jsonb-int-cast-index', table: 'public.models', column: 'meta', count: null },
    // The ledger's model_id names public.models (text, its primary key's type) with no foreign key; every
    // 1000th row (i % 1000 = 13) names a retired model that no longer exists: those are its orphans.
    { check: 'undeclared-references', table: 'public.token_usage_ledger', column: 'model_id', count: every(s.ledger, 1000, 13) },
    // The family around the incidents (issue 13), one planted defect per check that PostgreSQL lets an
    // ordinary owner produce:
    // the ledger was loaded with explicit ids and its bigserial's sequence never moved: next value 1, data up
    // to s.ledger, so the next s.ledger values collide with the primary key;
    { check: 'sequence-behind-data', table: 'public.token_usage_ledger', column: 'id', count: s.ledger },
    // the pricing rows' ids come from an integer sequence at 95% of its range (a catalog finding, no count);
    { check: 'sequence-headroom', table: 'public.model_provider_pricing_id_seq', column: null, count: null },
    // a unique index on the sessions' external_id, built CONCURRENTLY, failed on the nil placeholders that
    // every 120th session holds (i % 120 = 9) and was left invalid: those rows share one key;
    { check: 'invalid-indexes', table: 'public.chat_sessions', column: 'external_id', count: every(s.sessions, 120, 9) },
    // "credits are never negative", added NOT VALID over refunds written as negative credits (i % 500 = 11);
    { check: 'unvalidated-checks', table: 'public.token_usage_ledger', column: null, count: every(s.ledger, 500, 11) },
    // the trigger that stamps a message's time, disabled for the bulk load and never enabled again;
    { check: 'disabled-triggers', table: 'public.chat_messages', column: null, count: null },
    // and, on a server with ICU, an index on the models' ids under an ICU collation whose recorded version
    // (CREATE COLLATION ... version, as pg_upgrade writes it) is not the library's: the collation counts the
    // one index that sorts by it, and the index is listed.
    ...(options.icu
      ? [
          { check: 'collation-drift', table: 'public.models_und', column: null, count: 1 },
          { check: 'collation-drift', table: 'public.models', column: 'id', count: null },
        ]
      : []),
  ];
}

/** What the generator could plant on this server. */
export interface PlantOptions {
  /** The server has ICU, so the drifted collation could be created. */
  icu: boolean;
}

/** A deterministic uuid for row i of a kind: the same on every run and machine. */
const id = (kind: string, expr: string) => `md5('${kind}' || (${expr}))::uuid`;

/** A session that exists before the foreign keys are validated: not one of the broken ones (every 200th). */
const sessionRef = (s: Sizes) => id('s', `(1 + i % ${s.sessions}) - ((1 + i % ${s.sessions}) % 200 = 0)::int`);

interface Load {
  table: string;
  rows: number;
  select: string;
  /** Rows that break a foreign key: loaded after the constraints, with their triggers off. */
  broken?: string;
  /** Rows to leave out altogether. */
  absent?: string;
}

/**
 * Creates the schema and loads it with set-based SQL: rows first, then keys and indexes (built by sorting,
 * not row by row), then the foreign keys, validated. The rows that break a foreign key come last, loaded
 * with session_replication_role = replica (which needs a superuser), the way the incidents' orphans got
 * in: the constraints are valid in the catalog and broken in the data, so only --deep finds them.
 */
export async function generate(db: pg.Client, s: Sizes): Promise<PlantOptions> {
  const exec = (sql: string) => db.query(sql);
  await exec(`SET maintenance_work_mem = '512MB'`);
  await exec(`DROP SCHEMA IF EXISTS auth CASCADE; DROP SCHEMA IF EXISTS public CASCADE; DROP SCHEMA IF EXISTS integrity_quarantine CASCADE; CREATE SCHEMA public; CREATE SCHEMA auth;`);
  await exec(`
    CREATE TABLE auth.users (id uuid NOT NULL, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE public.user_profiles (id uuid NOT NULL, display_name text, avatar_file_id text);
    CREATE TABLE public.providers (id uuid NOT NULL, name text NOT NULL);
    CREATE TABLE public.models (id text NOT NULL, provider_id uuid NOT NULL, meta jsonb NOT NULL);
    CREATE TABLE public.model_provider_pricing (
      id bigint NOT NULL, model_name text NOT NULL, is_active boolean NOT NULL,
      effective_from timestamptz NOT NULL, effective_until timestamptz, credits_per_1k numeric NOT NULL);
    CREATE TABLE public.chat_sessions (id uuid NOT NULL, user_id uuid NOT NULL, model_id text, external_id text, created_at timestamptz NOT NULL);
    CREATE TABLE public.chat_messages (
      id uuid NOT NULL, session_id uuid NOT NULL, user_id uuid, provider_id uuid,
      request_id text, trace_id text, role text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL);
    CREATE TABLE public.token_usage_ledger (
      id bigserial NOT NULL, user_id uuid NOT NULL, provider_id uuid NOT NULL, session_id uuid, model_id text,
      credits integer NOT NULL, created_at timestamptz NOT NULL);
    CREATE TABLE public.stored_files (id uuid NOT NULL, owner_id uuid, storage_key text NOT NULL, upload_id text, size_bytes bigint NOT NULL, message_id uuid);
  `);
  const loads: Load[] = [
    { table: 'public.providers', rows: 20, select: `${id('p', 'i')}, 'provider ' || i` },
    { table: 'auth.users', rows: s.users, select: `${id('u', 'i')}, 'user' || i || '@example.com', now()` },
    { table: 'public.user_profiles', rows: s.users, select: `${id('u', 'i')}, 'User ' || i, NULL`, absent: 'i % 50 = 0' },
    { table: 'public.models', rows: s.models, select: `'model-' || i, ${id('p', '1 + i % 20')}, jsonb_build_object('creditsPer1kTokens', 1 + i % 7)` },
    {
      table: 'public.model_provider_pricing',
      rows: s.models,
      absent: 'i % 40 = 0',
      select: `i, 'model-' || i, i % 40 <> 1,
               CASE WHEN i % 40 = 2 THEN now() - interval '2 years' ELSE now() - interval '1 year' END,
               CASE WHEN i % 40 = 2 THEN now() - interval '1 year' END, 1.38`,
    },
    {
      table: 'public.chat_sessions',
      rows: s.sessions,
      broken: 'i % 200 = 0',
      select: `${id('s', 'i')},
               CASE WHEN i % 200 = 0 THEN ${id('ghost-user', 'i')} ELSE ${id('u', `1 + i % ${s.users}`)} END,
               'model-' || (1 + i % ${s.models}),
               CASE WHEN i % 120 = 9 THEN '${NIL}' ELSE 'ext-' || i END, now()`,
    },
    {
      table: 'public.chat_messages',
      rows: s.messages,
      broken: 'i % 100 = 0 OR i % 250 = 3',
      select: `${id('m', 'i')},
               CASE WHEN i % 100 = 0 THEN ${id('ghost-session', 'i')} ELSE ${sessionRef(s)} END,
               CASE WHEN i % 250 = 3 THEN ${id('ghost-user', 'i')} WHEN i % 250 = 4 THEN NULL ELSE ${id('u', `1 + i % ${s.users}`)} END,
               ${id('p', '1 + i % 20')},
               CASE WHEN i % 100 = 7 THEN '${NIL}' ELSE 'req_' || i END,
               'trace-' || (i % 100000),
               CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END,
               'message body ' || i, now()`,
    },
    {
      table: 'public.token_usage_ledger',
      rows: s.ledger,
      broken: 'i % 50 = 0',
      select: `i, ${id('u', `1 + i % ${s.users}`)},
               CASE WHEN i % 50 = 0 THEN '${NIL}'::uuid ELSE ${id('p', '1 + i % 20')} END,
               ${sessionRef(s)},
               CASE WHEN i % 1000 = 13 THEN 'model-retired-' || i ELSE 'model-' || (1 + i % ${s.models}) END,
               CASE WHEN i % 500 = 11 THEN -(1 + i % 100) ELSE 1 + i % 100 END, now()`,
    },
    {
      // Its foreign key to the messages is added NOT VALID at the end (seed 001), so every row loads now.
      table: 'public.stored_files',
      rows: s.files,
      select: `${id('f', 'i')}, ${id('u', `1 + i % ${s.users}`)}, 'files/' || i,
               CASE WHEN i % 80 = 5 THEN '${NIL}' ELSE 'up_' || i END, 1024 + i,
               CASE WHEN i % 100 = 0 THEN ${id('ghost-message', 'i')} ELSE ${id('m', `1 + i % ${s.messages}`)} END`,
    },
  ];
  const where = (conditions: (string | undefined)[]) => {
    const set = conditions.filter((c): c is string => c !== undefined);
    return set.length ? ` WHERE ${set.join(' AND ')}` : '';
  };
  for (const l of loads) {
    await exec(`INSERT INTO ${l.table} SELECT ${l.select} FROM generate_series(1, ${l.rows}) i${where([l.broken && `NOT (${l.broken})`, l.absent && `NOT (${l.absent})`])}`);
  }
  await exec(`
    ALTER TABLE auth.users ADD PRIMARY KEY (id);
    ALTER TABLE public.user_profiles ADD PRIMARY KEY (id);
    ALTER TABLE public.providers ADD PRIMARY KEY (id);
    ALTER TABLE public.models ADD PRIMARY KEY (id);
    ALTER TABLE public.model_provider_pricing ADD PRIMARY KEY (id);
    ALTER TABLE public.chat_sessions ADD PRIMARY KEY (id);
    ALTER TABLE public.chat_messages ADD PRIMARY KEY (id);
    ALTER TABLE public.token_usage_ledger ADD PRIMARY KEY (id);
    ALTER TABLE public.stored_files ADD PRIMARY KEY (id);
    CREATE INDEX models_credits_idx ON public.models (((meta->>'creditsPer1kTokens')::int));
    CREATE INDEX chat_messages_session_id_idx ON public.chat_messages (session_id);
    CREATE INDEX chat_sessions_user_id_idx ON public.chat_sessions (user_id);
    CREATE INDEX token_usage_ledger_user_id_idx ON public.token_usage_ledger (user_id);
    ALTER TABLE public.user_profiles ADD FOREIGN KEY (id) REFERENCES auth.users (id);
    ALTER TABLE public.models ADD FOREIGN KEY (provider_id) REFERENCES public.providers (id);
    ALTER TABLE public.chat_sessions ADD FOREIGN KEY (user_id) REFERENCES auth.users (id);
    ALTER TABLE public.chat_sessions ADD FOREIGN KEY (model_id) REFERENCES public.models (id);
    ALTER TABLE public.chat_messages ADD FOREIGN KEY (session_id) REFERENCES public.chat_sessions (id);
    ALTER TABLE public.chat_messages ADD FOREIGN KEY (user_id) REFERENCES auth.users (id);
    ALTER TABLE public.chat_messages ADD FOREIGN KEY (provider_id) REFERENCES public.providers (id);
    ALTER TABLE public.token_usage_ledger ADD FOREIGN KEY (user_id) REFERENCES auth.users (id);
    ALTER TABLE public.token_usage_ledger ADD FOREIGN KEY (provider_id) REFERENCES public.providers (id);
    ALTER TABLE public.token_usage_ledger ADD FOREIGN KEY (session_id) REFERENCES public.chat_sessions (id);
    ALTER TABLE public.stored_files ADD FOREIGN KEY (owner_id) REFERENCES auth.users (id);
  `);
  await exec(`SET session_replication_role = replica`);
  try {
    for (const l of loads.filter((x) => x.broken)) {
      await exec(`INSERT INTO ${l.table} SELECT ${l.select} FROM generate_series(1, ${l.rows}) i${where([l.broken, l.absent])}`);
    }
  } finally {
    await exec(`RESET session_replication_role`);
  }
  await exec(`ALTER TABLE public.stored_files ADD CONSTRAINT stored_files_message_id_fkey FOREIGN KEY (message_id) REFERENCES public.chat_messages (id) NOT VALID`);
  const planted = await plantFamily(db, s);
  // Statistics and the visibility map, as on a database that autovacuum has visited.
  await exec(`VACUUM (ANALYZE)`);
  return planted;
}

/**
 * The family defects (issue 13), each the way PostgreSQL gets into it for an ordinary owner, no catalog
 * write: they cost the generator a failed index build over chat_sessions and little else.
 */
async function plantFamily(db: pg.Client, s: Sizes): Promise<PlantOptions> {
  const exec = (sql: string) => db.query(sql);
  await exec(`
    CREATE SEQUENCE public.model_provider_pricing_id_seq AS integer OWNED BY public.model_provider_pricing.id;
    ALTER TABLE public.model_provider_pricing ALTER COLUMN id SET DEFAULT nextval('public.model_provider_pricing_id_seq');
    SELECT setval('public.model_provider_pricing_id_seq', 2040109465);
    ALTER TABLE public.token_usage_ledger ADD CONSTRAINT token_usage_ledger_credits_nonnegative CHECK (credits >= 0) NOT VALID;
    CREATE FUNCTION public.chat_messages_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.created_at := coalesce(NEW.created_at, now()); RETURN NEW; END $$;
    CREATE TRIGGER chat_messages_stamp BEFORE INSERT ON public.chat_messages FOR EACH ROW EXECUTE FUNCTION public.chat_messages_stamp();
    ALTER TABLE public.chat_messages DISABLE TRIGGER chat_messages_stamp;
  `);
  // CONCURRENTLY runs outside a transaction, in a statement of its own; the duplicates make it fail and
  // leave the index behind, invalid.
  if (every(s.sessions, 120, 9) < 2) throw new Error(`scale too small: ${s.sessions} sessions hold fewer than two nil external_ids`);
  try {
    await exec(`CREATE UNIQUE INDEX CONCURRENTLY chat_sessions_external_id_key ON public.chat_sessions (external_id)`);
    throw new Error('CREATE UNIQUE INDEX CONCURRENTLY on chat_sessions.external_id succeeded: the nil placeholders were expected to make it fail');
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
  }
  let icu = true;
  try {
    await exec(`CREATE COLLATION public.models_und (provider = icu, locale = 'und', version = '0.0')`);
  } catch (err) {
    // 0A000: this server was built without ICU; the collation-drift defect is then not planted.
    if ((err as { code?: string }).code !== '0A000') throw err;
    icu = false;
  }
  if (icu) await exec(`CREATE INDEX models_id_und_idx ON public.models (id COLLATE public.models_und)`);
  return { icu };
}
