import { z } from 'zod';
import { defineCheck, type CheckContext } from '../src/check.js';
import { findColumn, findTable, locateTable, type Column, type Table, type Trigger } from '../src/db/catalog.js';
import type { Repair } from '../src/fix/types.js';
import { displayName, qualifiedName, quoteIdent } from '../src/db/quote.js';
import { equalsExpr } from '../src/db/sql.js';
import type { Finding } from '../src/findings.js';

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
      'Users (default `auth.users`, key `id`) with no row in the profile table (default `public.user_profiles`, else `public.profiles`), joined on the profile\'s `user_id` column when it has one, else on `id`. A second finding (warning) when no enabled trigger on the users table writes the profile table.',
    why: 'Seed 004: Supabase Auth created users, nothing created their `user_profiles` rows, and every chat conversation for them failed on `chat_conversations_user_id_fkey`. Seed 002 is the same defect in a Prisma schema.',
    fix: 'Insert the missing profiles from the users table (ON CONFLICT DO NOTHING), then add an AFTER INSERT trigger on the users table that creates the profile, so the database keeps the invariant itself.',
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
      `SELECT count(*) OVER () AS n, u.${quoteIdent(key.name)}::text AS id
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

    const writers = ctx.catalog.triggers.filter(
      (t) => t.schema === users.schema && t.table === users.name && t.events.includes('insert') && writesTable(t, profiles),
    );
    const firing = writers.filter((t) => t.enabled === 'O' || t.enabled === 'A');
    if (firing.length === 0) {
      const disabled = writers.map((t) => `${t.name} (${t.enabled === 'D' ? 'disabled' : 'fires only in replica mode'})`);
      findings.push(
        ctx.finding({
          kind: 'no-profile-trigger',
          severity: 'warning',
          message:
            disabled.length > 0
              ? `the trigger that creates ${profilesName} rows on ${usersName} does not fire: ${disabled.join(', ')}; new users get no profile`
              : `no enabled trigger on ${usersName} has a function that inserts into ${profilesName}: unless something else creates it, every new user is missing a profile`,
          object: { schema: users.schema, table: users.name, references: { schema: profiles.schema, table: profiles.name, columns: [column.name] } },
          count: null,
          repair: async () => profileTrigger(users, key, profiles, column, disabled.length > 0 ? writers : []),
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

function profileTrigger(users: Table, key: Column, profiles: Table, column: Column, disabled: Trigger[]): Repair {
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
    summary: `create a trigger that gives every new user a profile (seed 004's layer 1)`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: `trigger on ${displayName(users.schema, users.name)} inserting into ${displayName(profiles.schema, profiles.name)}`,
        decision: 'check the columns the profile needs; the function runs as its owner (SECURITY DEFINER)',
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

/** Whether a trigger function's source inserts into (or merges into) the table. */
export function writesTable(trigger: Trigger, table: { schema: string; name: string }): boolean {
  const name = identifierPattern(table.name);
  const schema = identifierPattern(table.schema);
  const re = new RegExp(`\\b(?:insert|merge)\\s+into\\s+(?:${schema}\\s*\\.\\s*)?${name}(?![\\w$"])`, 'i');
  return re.test(trigger.functionSource);
}

function identifierPattern(name: string): string {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const quoted = `"${name.replace(/"/g, '""').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`;
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? `(?:${escaped}|${quoted})` : quoted;
}
