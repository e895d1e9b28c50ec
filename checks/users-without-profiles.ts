import { z } from 'zod';
import {
  defineCheck,
  displayName,
  equalsExpr,
  findColumn,
  findTable,
  isNode,
  locateTable,
  parseNodeTree,
  qualifiedName,
  quoteIdent,
  type CheckContext,
  type Column,
  type Finding,
  type Queryable,
  type Repair,
  type Table,
  type TreeValue,
  type Trigger,
} from '../src/index.js';
import { readRoutine, searchPathOf, type RoutineReading, type UnreadableKind } from './support/plpgsql.js';

const options = z.strictObject({
  users: z
    .strictObject({
      schema: z.string().min(1).default('auth'),
      table: z.string().min(1).default('users'),
      key: z.string().min(1).default('id'),
    })
    .default({ schema: 'auth', table: 'users', key: 'id' }),
  profiles: z
    .strictObject({
      schema: z.string().min(1).optional(),
      table: z.string().min(1).optional(),
      /** The profile column holding the user's id; default `user_id` when the table has it, else `id`. */
      column: z.string().min(1).optional(),
    })
    .default({}),
});

type Options = z.infer<typeof options>;

const DEFAULT_PROFILE_TABLES = [
  { schema: 'public', table: 'user_profiles' },
  { schema: 'public', table: 'profiles' },
];

export default defineCheck({
  id: 'users-without-profiles',
  title: 'Users without a profile row',
  severity: 'error',
  description: 'Every user in the auth table must have its profile row, and a trigger should create it.',
  docs: {
    finds:
      'Users (default `auth.users`, key `id`) with no row in the profile table (default `public.user_profiles`, else `public.profiles`), joined on the profile\'s `user_id` column when it has one, else on `id`. A second finding (warning) when no trigger on the users table creates the profile: one that fires (not disabled, not replica-only), BEFORE or AFTER INSERT, FOR EACH ROW, with a WHEN that can hold, whose function (PL/pgSQL or SQL, parsed, comments and strings ignored) or a function it calls, up to 5 levels deep, runs INSERT INTO or MERGE INTO ... WHEN NOT MATCHED THEN INSERT on the profile table, names resolved by the function\'s own search_path. When only dynamic SQL (EXECUTE of a string built at run time) or a function in another language could be doing it, the warning says the trigger could not be verified instead.',
    why: 'In the incident behind this check, Supabase Auth created users, nothing created their `user_profiles` rows, and every chat conversation for them failed on `chat_conversations_user_id_fkey`. Another incident had the same defect in a Prisma schema: chat sessions for users that did not exist.',
    fix: 'Insert the missing profiles from the users table (ON CONFLICT DO NOTHING), then add an AFTER INSERT trigger on the users table that creates the profile, so the database keeps the invariant itself, or enable the one that is disabled. When a trigger could not be verified (dynamic SQL), read its function first: it may already create the profile.',
    bad: `-- users are created by the auth service; profiles only by the app, when it remembers
INSERT INTO auth.users (id, email) VALUES (gen_random_uuid(), 'a@example.com');`,
    good: `CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO public.user_profiles (id, email) VALUES (NEW.id, NEW.email) ON CONFLICT (id) DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();`,
  },
  options,
  async run(ctx) {
    const users = resolveUsers(ctx);
    const profiles = resolveProfiles(ctx, users);
    const key = findColumn(users, ctx.options.users.key);
    if (!key) throw new Error(`column ${ctx.options.users.key} not found in ${displayName(users.schema, users.name)}; set checks.users-without-profiles.users.key`);
    const columnName = ctx.options.profiles.column ?? (findColumn(profiles, 'user_id') ? 'user_id' : 'id');
    const column = findColumn(profiles, columnName);
    if (!column) throw new Error(`column ${columnName} not found in ${displayName(profiles.schema, profiles.name)}; set checks.users-without-profiles.profiles.column`);

    const findings: Finding[] = [];
    const res = await ctx.db.query<{ n: string; id: string }>(
      `SELECT pg_catalog.count(*) OVER () AS n, u.${quoteIdent(key.name)}::pg_catalog.text AS id
         FROM ${qualifiedName(users.schema, users.name)} u
        WHERE NOT EXISTS (SELECT 1 FROM ${qualifiedName(profiles.schema, profiles.name)} p
                           WHERE ${equalsExpr(`p.${quoteIdent(column.name)}`, column.baseType, `u.${quoteIdent(key.name)}`, key.baseType)})
        ORDER BY u.${quoteIdent(key.name)} LIMIT $1`,
      [ctx.sampleSize],
    );
    const profilesName = displayName(profiles.schema, profiles.name);
    const usersName = displayName(users.schema, users.name);
    if (res.rows.length > 0) {
      const count = Number(res.rows[0]?.n);
      findings.push(
        ctx.finding({
          kind: 'missing-profile',
          message: `${count} ${count === 1 ? 'user has' : 'users have'} no row in ${profilesName} (joined on ${profilesName}.${displayName(column.name)} = ${usersName}.${displayName(key.name)}); anything with a foreign key to the profile fails for them`,
          object: {
            schema: users.schema,
            table: users.name,
            column: key.name,
            references: { schema: profiles.schema, table: profiles.name, columns: [column.name] },
          },
          count,
          samples: res.rows.map((r) => r.id),
          repair: async () => insertMissingProfiles(users, key, profiles, column),
        }),
      );
    }

    const usersTriggers = ctx.catalog.triggers.filter((t) => t.schema === users.schema && t.table === users.name);
    ctx.progress(`${usersName} triggers`);
    // In a savepoint of its own: should reading the functions fail, the missing profiles still stand.
    const [verdicts] = await ctx.each([{ item: usersTriggers, weight: 1, object: `${usersName} triggers` }], (triggers, db) =>
      judgeTriggers(db, ctx.catalog.serverVersionNum, triggers, profiles),
    );
    if (verdicts === undefined) return findings;
    const relevant = verdicts.filter((v) => v.inserts !== 'no');
    const details = { triggers: relevant.map(({ trigger: _trigger, ...v }) => v) };
    const references = { schema: profiles.schema, table: profiles.name, columns: [column.name] };
    const working = relevant.filter((v) => v.inserts === 'yes' && v.blockers.length === 0);
    const unverified = relevant.filter((v) => v.inserts === 'unknown' && v.blockers.length === 0);
    if (working.length === 0 && unverified.length > 0) {
      const reasons = unverified.flatMap((v) =>
        v.unknown.map((u) => `${v.name}: ${u.function}${u.line === null ? '' : ` line ${u.line}`}, ${u.detail}`),
      );
      findings.push(
        ctx.finding({
          kind: 'unverified-profile-trigger',
          severity: 'warning',
          message: `could not tell whether ${unverified.map((v) => v.name).join(', ')} on ${usersName} creates ${profilesName} rows (${reasons.join('; ')}): check it by hand, or make the insert a plain statement`,
          object: { schema: users.schema, table: users.name, references },
          count: null,
          details,
          repair: async () => profileTrigger(users, key, profiles, column, [], unverified.map((v) => `trigger ${v.name} (${v.function})`)),
        }),
      );
    } else if (working.length === 0) {
      // A trigger that inserts and is only switched off is switched back on; one that can never create the
      // profile for a new user (UPDATE only, per statement, a WHEN that never holds) is replaced.
      const switchedOff = relevant.filter(
        (v) => v.inserts === 'yes' && v.blockers.length > 0 && v.blockers.every((b) => b === 'disabled' || b === 'replica-only'),
      );
      const neverForNewUsers = relevant.filter((v) => v.inserts === 'yes' && !switchedOff.includes(v));
      const message =
        switchedOff.length > 0
          ? `the trigger that creates ${profilesName} rows on ${usersName} does not fire: ${switchedOff.map((v) => `${v.name} (${v.blockers.includes('disabled') ? 'disabled' : 'fires only in replica mode'})`).join(', ')}; new users get no profile`
          : neverForNewUsers.length > 0
            ? `the triggers on ${usersName} that insert into ${profilesName} never do it for a new user: ${neverForNewUsers.map((v) => `${v.name} (${v.blockers.map((b) => BLOCKER_TEXT[b]).join(', ')})`).join(', ')}`
            : `no enabled trigger on ${usersName} has a function that inserts into ${profilesName}: unless something else creates it, every new user is missing a profile`;
      const enable = switchedOff.map((v) => v.trigger);
      findings.push(
        ctx.finding({
          kind: 'no-profile-trigger',
          severity: 'warning',
          message,
          object: { schema: users.schema, table: users.name, references },
          count: null,
          details,
          repair: async () => profileTrigger(users, key, profiles, column, enable),
        }),
      );
    }
    ctx.note(`checked ${usersName} against ${profilesName}.${displayName(column.name)}`);
    return findings;
  },
});

/** Columns copied from the user to the new profile when both tables have them. */
const COPIED_COLUMNS = ['email', 'full_name', 'name', 'display_name', 'username'];

function copiedColumns(users: Table, key: Column, profiles: Table, column: Column): { from: Column; to: Column }[] {
  const pairs = [{ from: key, to: column }];
  for (const name of COPIED_COLUMNS) {
    const from = findColumn(users, name);
    const to = findColumn(profiles, name);
    if (from && to && to.name !== column.name && to.generated === '') pairs.push({ from, to });
  }
  return pairs;
}

function insertMissingProfiles(users: Table, key: Column, profiles: Table, column: Column): Repair {
  const pairs = copiedColumns(users, key, profiles, column);
  const filled = new Set(pairs.map((p) => p.to.name));
  const unfillable = profiles.columns.filter((c) => c.notNull && c.defaultTree === null && c.generated === '' && !filled.has(c.name));
  const profilesName = qualifiedName(profiles.schema, profiles.name);
  const sql = `INSERT INTO ${profilesName} (${pairs.map((p) => quoteIdent(p.to.name)).join(', ')})
SELECT ${pairs.map((p) => `u.${quoteIdent(p.from.name)}${p.from.baseType === p.to.baseType ? '' : `::${p.to.type}`}`).join(', ')}
  FROM ${qualifiedName(users.schema, users.name)} AS u
 WHERE NOT EXISTS (SELECT 1 FROM ${profilesName} AS p
                    WHERE ${equalsExpr(`p.${quoteIdent(column.name)}`, column.baseType, `u.${quoteIdent(key.name)}`, key.baseType)})
ON CONFLICT DO NOTHING;`;
  const copied = pairs.map((p) => p.to.name).join(', ');
  return {
    order: 10,
    summary: `create the missing profiles from ${displayName(users.schema, users.name)} (${copied})`,
    steps: [
      unfillable.length > 0
        ? {
            safety: 'review',
            phase: 'transaction',
            description: `insert the missing profiles (${copied})`,
            decision: `${profilesName} also requires ${unfillable.map((c) => c.name).join(', ')} (NOT NULL, no default): add a value for each to the statement`,
            sql,
          }
        : { safety: 'safe', phase: 'transaction', description: `insert the missing profiles (${copied}); existing ones are left alone`, sql },
    ],
  };
}

function profileTrigger(users: Table, key: Column, profiles: Table, column: Column, disabled: Trigger[], unverified: string[] = []): Repair {
  const usersName = qualifiedName(users.schema, users.name);
  if (disabled.length > 0) {
    return {
      order: 15,
      summary: `enable the trigger that creates profiles`,
      steps: disabled.map((t) => ({
        safety: 'review' as const,
        phase: 'transaction' as const,
        description: `enable trigger ${t.name} on ${displayName(users.schema, users.name)}`,
        decision: 'confirm the trigger was not disabled on purpose (a bulk load, a migration)',
        sql: `ALTER TABLE ${usersName} ENABLE TRIGGER ${quoteIdent(t.name)};`,
      })),
    };
  }
  const pairs = copiedColumns(users, key, profiles, column);
  const fn = qualifiedName(profiles.schema, `integrity_create_${profiles.name}`.slice(0, 63));
  const sql = `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $integrity$
BEGIN
  INSERT INTO ${qualifiedName(profiles.schema, profiles.name)} (${pairs.map((p) => quoteIdent(p.to.name)).join(', ')})
  VALUES (${pairs.map((p) => `NEW.${quoteIdent(p.from.name)}${p.from.baseType === p.to.baseType ? '' : `::${p.to.type}`}`).join(', ')})
  ON CONFLICT DO NOTHING;
  RETURN NEW;
END
$integrity$;
DROP TRIGGER IF EXISTS integrity_create_profile ON ${usersName};
CREATE TRIGGER integrity_create_profile AFTER INSERT ON ${usersName}
  FOR EACH ROW EXECUTE FUNCTION ${fn}();`;
  return {
    order: 15,
    summary: `create a trigger that gives every new user a profile`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: `trigger on ${displayName(users.schema, users.name)} inserting into ${displayName(profiles.schema, profiles.name)}`,
        decision:
          (unverified.length > 0
            ? `first read ${unverified.join(', ')}, which the audit could not verify: if it already creates the profile, this trigger is not needed (and without a unique key on the profile column it would insert a second row); `
            : '') + 'check the columns the profile needs; the function runs as its owner (SECURITY DEFINER)',
        sql,
      },
    ],
  };
}

function resolveUsers(ctx: CheckContext<Options>): Table {
  const { schema, table } = ctx.options.users;
  const found = findTable(ctx.catalog, schema, table);
  if (found) return found;
  if (ctx.catalog.existingSchemas.includes(schema) && !ctx.catalog.schemas.includes(schema)) {
    ctx.skip(`schema ${schema} is not audited, so ${schema}.${table} cannot be checked; add --schema ${schema} or set checks.users-without-profiles.users`);
  }
  ctx.skip(`no table ${displayName(schema, table)}; set checks.users-without-profiles.users to the table that holds your users`);
}

function resolveProfiles(ctx: CheckContext<Options>, users: Table): Table {
  const { schema, table } = ctx.options.profiles;
  if (table !== undefined) {
    const found = locateTable(ctx.catalog, { schema, table }, ['public', users.schema]);
    if (found.status === 'found') return found.table;
    throw new Error(`profile table: ${found.reason}`);
  }
  for (const candidate of DEFAULT_PROFILE_TABLES) {
    const found = findTable(ctx.catalog, schema ?? candidate.schema, candidate.table);
    if (found) return found;
  }
  ctx.skip(
    `no profile table (looked for public.user_profiles and public.profiles); set checks.users-without-profiles.profiles.table`,
  );
}

// ---- Which triggers create the profile -------------------------------------------------------------

/** Why a trigger cannot create the profile of a newly inserted user, whatever its function does. */
export type Blocker = 'not-on-insert' | 'statement-level' | 'when-never-holds' | 'disabled' | 'replica-only';

const BLOCKER_TEXT: Record<Blocker, string> = {
  'not-on-insert': 'not on INSERT',
  'statement-level': 'FOR EACH STATEMENT',
  'when-never-holds': 'its WHEN condition can never hold',
  disabled: 'disabled',
  'replica-only': 'fires only in replica mode',
};

export interface UnknownPart {
  /** The function, `schema.name`. */
  function: string;
  kind: UnreadableKind | 'call-depth' | 'overloaded-call';
  line: number | null;
  detail: string;
}

export interface TriggerVerdict {
  trigger: Trigger;
  name: string;
  /** The trigger's function, `schema.name`. */
  function: string;
  blockers: Blocker[];
  /** Whether the function, or a function it calls, inserts into the profile table. */
  inserts: 'yes' | 'no' | 'unknown';
  /** For `yes`: the functions from the trigger's to the one with the INSERT. */
  via: string[];
  /** For `unknown`: what could not be read. */
  unknown: UnknownPart[];
}

/** How many levels of calls are followed from a trigger function. */
export const MAX_CALL_DEPTH = 5;
const SYSTEM_SCHEMAS = new Set(['pg_catalog', 'information_schema']);

interface ProcRow {
  oid: string;
  schema: string;
  name: string;
  kind: string;
  language: string;
  nargs: number;
  ndefaults: number;
  variadic: boolean;
  config: string[] | null;
  definer: boolean;
  owner: string;
  source: string | null;
  sql_body: string | null;
  arguments: string | null;
  result: string | null;
}

interface Routine {
  oid: string;
  label: string;
  /** The schemas unqualified names resolve in, pg_catalog first unless the function places it. */
  path: string[];
  reading: RoutineReading;
  /** It calls a function of the database past the depth bound, which was not read. */
  unexplored: boolean;
  edges: { oid: string; certain: boolean }[];
}

/**
 * The search_path a function runs with: its own `SET search_path`, else the default `"$user", public`
 * (`$user` is the owner for SECURITY DEFINER; otherwise whoever inserts the user, which is not known).
 */
function runPath(config: string[] | null, definer: boolean, owner: string): string[] {
  const path = (searchPathOf(config) ?? ['$user', 'public']).flatMap((s) => (s === '$user' ? (definer ? [owner] : []) : s === 'pg_temp' ? [] : [s]));
  return path.includes('pg_catalog') ? path : ['pg_catalog', ...path];
}

const DEFAULT_PATH = runPath(null, false, '');

const q = (op: string) => `OPERATOR(pg_catalog.${op})`;

async function loadRoutines(db: Queryable, versionNum: number, oids: string[], names: string[], schemas: string[]): Promise<ProcRow[]> {
  const system = `n.nspname ${q('=')} ANY ('{pg_catalog,information_schema}'::pg_catalog.name[])`;
  const sqlBody = versionNum >= 140000 ? 'p.prosqlbody::pg_catalog.text' : 'NULL::pg_catalog.text';
  const res = await db.query<ProcRow>(
    `SELECT p.oid::pg_catalog.text AS oid, n.nspname::pg_catalog.text AS schema, p.proname::pg_catalog.text AS name,
            p.prokind::pg_catalog.text AS kind, l.lanname::pg_catalog.text AS language,
            p.pronargs::pg_catalog.int4 AS nargs, p.pronargdefaults::pg_catalog.int4 AS ndefaults,
            p.provariadic ${q('<>')} '0'::pg_catalog.oid AS variadic,
            p.proconfig AS config, p.prosecdef AS definer, pg_catalog.pg_get_userbyid(p.proowner)::pg_catalog.text AS owner,
            CASE WHEN ${system} THEN NULL ELSE p.prosrc END AS source,
            CASE WHEN ${system} THEN NULL ELSE ${sqlBody} END AS sql_body,
            CASE WHEN ${system} THEN NULL ELSE pg_catalog.pg_get_function_arguments(p.oid) END AS arguments,
            CASE WHEN ${system} THEN NULL ELSE pg_catalog.pg_get_function_result(p.oid) END AS result
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid ${q('=')} p.pronamespace
       JOIN pg_catalog.pg_language l ON l.oid ${q('=')} p.prolang
      WHERE p.oid ${q('=')} ANY ($1::pg_catalog.oid[])
         OR (p.proname ${q('=')} ANY ($2::pg_catalog.name[]) AND n.nspname ${q('=')} ANY ($3::pg_catalog.name[]))
      ORDER BY p.oid`,
    [oids, names, schemas],
  );
  return res.rows;
}

function argsFit(row: ProcRow, args: number): boolean {
  return args >= row.nargs - row.ndefaults && (args <= row.nargs || row.variadic);
}

/**
 * Reads every trigger function on the users table and the functions they call in the audited database
 * (down to MAX_CALL_DEPTH, each function once), one pg_proc query per level of calls, and says for each
 * trigger whether it inserts into the profile table and whether it can for a new user.
 */
export async function judgeTriggers(db: Queryable, versionNum: number, triggers: Trigger[], profiles: { schema: string; name: string }): Promise<TriggerVerdict[]> {
  const routines = new Map<string, Routine>();
  for (const t of triggers) {
    if (routines.has(t.functionOid)) continue;
    const reading = await readRoutine({ language: t.functionLanguage, source: t.functionSource, sqlBody: null, kind: 'function', arguments: '', result: 'trigger' });
    routines.set(t.functionOid, { oid: t.functionOid, label: `${t.functionSchema}.${t.functionName}`, path: DEFAULT_PATH, reading, unexplored: false, edges: [] });
  }
  // The trigger functions' own search_path, when something in them is unqualified.
  const unqualified = [...routines.values()].filter(
    (r) => r.reading.calls.some((c) => c.schema === null) || r.reading.inserts.some((i) => i.schema === null && i.name === profiles.name),
  );
  if (unqualified.length > 0) {
    for (const row of await loadRoutines(db, versionNum, unqualified.map((r) => r.oid), [], [])) {
      const routine = routines.get(row.oid);
      if (routine) routine.path = runPath(row.config, row.definer, row.owner);
    }
  }

  const known = new Map<string, ProcRow>();
  const fetched = new Set<string>();
  let frontier = [...routines.values()];
  for (let depth = 1; frontier.length > 0 && depth <= MAX_CALL_DEPTH + 1; depth++) {
    const wanted = frontier.flatMap((r) =>
      r.reading.calls
        .filter((c) => c.schema === null || !SYSTEM_SCHEMAS.has(c.schema))
        .flatMap((c) => (c.schema === null ? r.path : [c.schema]).map((schema) => ({ schema, name: c.name }))),
    );
    const missing = wanted.filter((w) => !fetched.has(`${w.schema}\u0000${w.name}`));
    const oids = [...new Set(frontier.flatMap((r) => r.reading.callOids))].filter((o) => !known.has(o));
    if (missing.length > 0 || oids.length > 0) {
      const names = [...new Set(missing.map((w) => w.name))];
      const schemas = [...new Set(missing.map((w) => w.schema))];
      for (const row of await loadRoutines(db, versionNum, oids, names, schemas)) known.set(row.oid, row);
      for (const name of names) for (const schema of schemas) fetched.add(`${schema}\u0000${name}`);
    }
    const next: Routine[] = [];
    const follow = async (from: Routine, row: ProcRow, certain: boolean) => {
      let routine = routines.get(row.oid);
      if (!routine) {
        if (depth > MAX_CALL_DEPTH) {
          from.unexplored = true;
          return;
        }
        const reading = await readRoutine({
          language: row.language,
          source: row.source ?? '',
          sqlBody: row.sql_body,
          kind: row.kind === 'p' ? 'procedure' : 'function',
          arguments: row.arguments ?? '',
          result: row.result,
        });
        routine = { oid: row.oid, label: `${row.schema}.${row.name}`, path: runPath(row.config, row.definer, row.owner), reading, unexplored: false, edges: [] };
        routines.set(row.oid, routine);
        next.push(routine);
      }
      from.edges.push({ oid: routine.oid, certain });
    };
    for (const r of frontier) {
      for (const call of r.reading.calls) {
        if (call.schema !== null && SYSTEM_SCHEMAS.has(call.schema)) continue;
        const schemas = call.schema === null ? r.path : [call.schema];
        const candidates = [...known.values()]
          .filter((row) => row.name === call.name && schemas.includes(row.schema) && (call.procedure ? row.kind === 'p' : row.kind === 'f') && argsFit(row, call.args))
          .sort((a, b) => schemas.indexOf(a.schema) - schemas.indexOf(b.schema));
        // A built-in earlier in the path wins (now(), lower(), format(), ...).
        if (candidates.length === 0 || SYSTEM_SCHEMAS.has((candidates[0] as ProcRow).schema)) continue;
        const own = candidates.filter((row) => !SYSTEM_SCHEMAS.has(row.schema));
        // Overloads with the same name and number of arguments: which one runs depends on the argument types.
        for (const row of own) await follow(r, row, own.length === 1);
      }
      for (const oid of r.reading.callOids) {
        const row = known.get(oid);
        if (row && !SYSTEM_SCHEMAS.has(row.schema)) await follow(r, row, true);
      }
    }
    frontier = next;
  }

  // Where the unqualified profile-table names resolve, and which relations the stored SQL bodies insert into.
  const insertOids = [...new Set([...routines.values()].flatMap((r) => r.reading.insertOids))];
  const needNames = [...routines.values()].some((r) => r.reading.inserts.some((i) => i.schema === null && i.name === profiles.name));
  const holders: string[] = [];
  const relations = new Map<string, { schema: string; name: string }>();
  if (needNames || insertOids.length > 0) {
    const res = await db.query<{ schema: string; name: string; oid: string }>(
      `SELECT n.nspname::pg_catalog.text AS schema, c.relname::pg_catalog.text AS name, c.oid::pg_catalog.text AS oid
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid ${q('=')} c.relnamespace
        WHERE c.relname ${q('=')} $1::pg_catalog.name OR c.oid ${q('=')} ANY ($2::pg_catalog.oid[])`,
      [profiles.name, insertOids],
    );
    for (const r of res.rows) {
      relations.set(r.oid, { schema: r.schema, name: r.name });
      if (r.name === profiles.name) holders.push(r.schema);
    }
  }
  const writes = (r: Routine): boolean =>
    r.reading.inserts.some(
      (i) => i.name === profiles.name && (i.schema ?? r.path.find((s) => holders.includes(s))) === profiles.schema,
    ) ||
    r.reading.insertOids.some((o) => {
      const rel = relations.get(o);
      return rel !== undefined && rel.schema === profiles.schema && rel.name === profiles.name;
    });

  return triggers.map((t) => {
    const blockers: Blocker[] = [];
    if (!t.events.includes('insert') || t.timing === 'instead of') blockers.push('not-on-insert');
    if (!t.forEachRow) blockers.push('statement-level');
    if (t.whenTree !== null && whenNeverHolds(t.whenTree)) blockers.push('when-never-holds');
    if (t.enabled === 'D') blockers.push('disabled');
    if (t.enabled === 'R') blockers.push('replica-only');
    const verdict: TriggerVerdict = {
      trigger: t,
      name: t.name,
      function: `${t.functionSchema}.${t.functionName}`,
      blockers,
      inserts: 'no',
      via: [],
      unknown: [],
    };
    const certain = reach(routines, t.functionOid, true);
    for (const [oid, path] of certain) {
      const r = routines.get(oid);
      if (r && writes(r)) return { ...verdict, inserts: 'yes', via: path.map((o) => routines.get(o)?.label ?? o) };
    }
    for (const oid of reach(routines, t.functionOid, false).keys()) {
      const r = routines.get(oid);
      if (!r) continue;
      for (const u of r.reading.unreadable) verdict.unknown.push({ function: r.label, kind: u.kind, line: u.line, detail: u.detail });
      if (r.unexplored) {
        verdict.unknown.push({ function: r.label, kind: 'call-depth', line: null, detail: `calls nested more than ${MAX_CALL_DEPTH} deep are not read` });
      }
      if (!certain.has(oid) && writes(r)) {
        verdict.unknown.push({ function: r.label, kind: 'overloaded-call', line: null, detail: 'inserts, but is one of several overloads a call may reach' });
      }
    }
    if (verdict.unknown.length > 0) verdict.inserts = 'unknown';
    return verdict;
  });
}

/** The functions reachable from one, breadth first (each once, so cycles end), with the path to each. */
function reach(routines: Map<string, Routine>, from: string, certainOnly: boolean): Map<string, string[]> {
  const paths = new Map<string, string[]>([[from, [from]]]);
  const queue = [from];
  while (queue.length > 0) {
    const oid = queue.shift() as string;
    for (const edge of routines.get(oid)?.edges ?? []) {
      if ((certainOnly && !edge.certain) || paths.has(edge.oid)) continue;
      paths.set(edge.oid, [...(paths.get(oid) ?? []), edge.oid]);
      queue.push(edge.oid);
    }
  }
  return paths;
}

// ---- WHEN conditions that never hold ---------------------------------------------------------------

// Built-in comparison operators on integer types (int2, int4, int8 and across them), by OID: pinned
// in pg_operator.dat, the same in every database.
const INT_COMPARISONS: Record<string, '=' | '<>' | '<' | '>' | '<=' | '>='> = {
  15: '=', 36: '<>', 37: '<', 76: '>', 80: '<=', 82: '>=',
  94: '=', 95: '<', 96: '=', 97: '<',
  410: '=', 411: '<>', 412: '<', 413: '>', 414: '<=', 415: '>=',
  416: '=', 417: '<>', 418: '<', 419: '>', 420: '<=', 430: '>=',
  518: '<>', 519: '<>', 520: '>', 521: '>', 522: '<=', 523: '<=', 524: '>=', 525: '>=',
  532: '=', 533: '=', 534: '<', 535: '<', 536: '>', 537: '>', 538: '<>', 539: '<>', 540: '<=', 541: '<=', 542: '>=', 543: '>=',
  1862: '=', 1863: '<>', 1864: '<', 1865: '>', 1866: '<=', 1867: '>=',
  1868: '=', 1869: '<>', 1870: '<', 1871: '>', 1872: '<=', 1873: '>=',
  // boolean
  91: '=', 85: '<>',
};
const INT_TYPES = new Set(['20', '21', '23']);
const BOOL_TYPE = '16';

type Truth = boolean | null | undefined;

/**
 * Whether a trigger's WHEN condition (pg_trigger.tgqual) is false or NULL whatever the row: PostgreSQL
 * stores it as written (`WHEN (1 = 0)` stays a comparison), so constants are folded here: boolean and
 * NULL constants, AND/OR/NOT, and the built-in comparisons of integer or boolean constants.
 */
export function whenNeverHolds(tree: string): boolean {
  let root: TreeValue;
  try {
    root = parseNodeTree(tree);
  } catch {
    return false;
  }
  const value = truth(root);
  return value === false || value === null;
}

function truth(node: TreeValue | undefined): Truth {
  const v = constValue(node);
  if (v === undefined || v === null || typeof v === 'boolean') return v;
  return undefined;
}

/** A constant's value: boolean, bigint for integers, null for NULL; undefined when not a known constant. */
function constValue(node: TreeValue | undefined): boolean | bigint | null | undefined {
  if (!isNode(node)) return undefined;
  const f = node.fields;
  if (node.type === 'CONST') {
    if (f.constisnull === 'true') return null;
    const datum = f.constvalue;
    if (!datum || typeof datum !== 'object' || Array.isArray(datum) || isNode(datum)) return undefined;
    const bytes = datum.bytes.slice(0, datum.length);
    if (f.consttype === BOOL_TYPE) return (bytes[0] ?? 0) !== 0;
    if (typeof f.consttype === 'string' && INT_TYPES.has(f.consttype) && bytes.length > 0) {
      let n = 0n;
      for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0);
      return BigInt.asIntN(bytes.length * 8, n);
    }
    return undefined;
  }
  if (node.type === 'BOOLEXPR' && Array.isArray(f.args)) {
    const args = f.args.map((a) => truth(a));
    if (f.boolop === 'not') return args.length === 1 ? (args[0] === undefined || args[0] === null ? args[0] : !args[0]) : undefined;
    if (f.boolop === 'and') {
      if (args.includes(false)) return false;
      if (args.includes(undefined)) return undefined;
      return args.includes(null) ? null : true;
    }
    if (f.boolop === 'or') {
      if (args.includes(true)) return true;
      if (args.includes(undefined)) return undefined;
      return args.includes(null) ? null : false;
    }
    return undefined;
  }
  if (node.type === 'OPEXPR' && typeof f.opno === 'string' && Array.isArray(f.args) && f.args.length === 2) {
    const op = INT_COMPARISONS[f.opno];
    if (!op) return undefined;
    const [a, b] = f.args.map((x) => constValue(x));
    if (a === undefined || b === undefined) return undefined;
    if (a === null || b === null) return null; // the comparisons are strict
    if (typeof a !== typeof b) return undefined;
    switch (op) {
      case '=': return a === b;
      case '<>': return a !== b;
      case '<': return a < b;
      case '>': return a > b;
      case '<=': return a <= b;
      case '>=': return a >= b;
    }
  }
  return undefined;
}
