import { existsSync } from 'node:fs';
import path from 'node:path';
import { CHECKS } from '../../checks/index.js';
import { inferReferences, relationEntry } from '../../checks/support/undeclared-inference.js';
import { describeRowSecurity, listUserSchemas, loadCatalog, rowSecurityTables, type Catalog, type Table } from '../db/catalog.js';
import { AuditSession } from '../db/session.js';
import { EXCLUDED_BY_DEFAULT, describeError } from '../engine/runner.js';
import { EXIT, UsageError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { parseConfig, stripJsonComments } from '../config/load.js';
import type { Command } from 'commander';
import { collect, integer, positiveNumber } from './audit-options.js';
import { resolveConnection } from '../db/connection.js';
import { displayName } from '../db/quote.js';
import { assertWritableDestination, errorLine, writeFileAtomic, type CliIO } from './io.js';

const SCHEMA_FILE = path.join('schema', 'integrity.config.schema.json');

function find(catalog: Catalog, name: string, prefer: string[] = ['public']): Table | undefined {
  const all = catalog.tables.filter((t) => t.name === name);
  return prefer.map((s) => all.find((t) => t.schema === s)).find(Boolean) ?? all[0];
}

/**
 * The references undeclared-references infers (name and type, one candidate, no foreign key), as
 * `relations` entries. They are proposed commented out: a guess made active would have orphan-rows fail a
 * build on it, so the user uncomments the ones that are real.
 */
function relationCandidates(catalog: Catalog): string[] {
  // JSON escapes line ends but not U+2028/U+2029, which some readers take for one: the entry stays one comment line.
  return inferReferences(catalog).inferred.map((ref) => JSON.stringify(relationEntry(ref)).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'));
}

/** The users table's key for the config: its single-column primary key, else `id` (the check's default). */
function keyOf(table: Table): string {
  return table.primaryKey?.length === 1 ? (table.primaryKey[0] as string) : 'id';
}

/** A line saying a table found outside the audited schemas needs --schema on every run that should check it. */
function outsideNote(catalog: Catalog, tables: Table[]): string[] {
  const outside = [...new Set(tables.map((t) => t.schema).filter((s) => !catalog.schemas.includes(s)))];
  return outside.length > 0 ? [`    // schema ${outside.join(', ')} is not among the audited schemas (--schema): add --schema ${outside.join(' --schema ')} to the runs that should check this`] : [];
}

/**
 * The users-without-profiles entry: the tables when both are found; else what was found and what was not,
 * with the mapping to fill in as a comment and the check disabled (it would only report itself skipped).
 */
function usersSection(catalog: Catalog, lookup: Catalog): string {
  const users = find(lookup, 'users', ['auth', ...catalog.schemas]);
  const profiles = find(lookup, 'user_profiles', ['public', ...(users ? [users.schema] : [])]) ?? find(lookup, 'profiles', ['public', ...(users ? [users.schema] : [])]);
  if (users && profiles) {
    return [
      ...outsideNote(catalog, [users, profiles]),
      `    "users-without-profiles": {\n      "users": { "schema": ${JSON.stringify(users.schema)}, "table": ${JSON.stringify(users.name)}, "key": ${JSON.stringify(keyOf(users))} },\n      "profiles": { "schema": ${JSON.stringify(profiles.schema)}, "table": ${JSON.stringify(profiles.name)} }\n    }`,
    ].join('\n');
  }
  const usersJson = users
    ? `{ "schema": ${JSON.stringify(users.schema)}, "table": ${JSON.stringify(users.name)}, "key": ${JSON.stringify(keyOf(users))} }`
    : '{ "schema": "<schema>", "table": "<your users table>", "key": "id" }';
  const said = users
    ? `found ${displayName(users.schema, users.name)} but no profile table (looked for user_profiles and profiles); map yours:`
    : 'no users table found (looked for a table named users); map yours:';
  return [
    `    // ${said}`,
    `    // "users-without-profiles": { "users": ${usersJson}, "profiles": { "schema": "public", "table": "<your profile table>" } },`,
    '    "users-without-profiles": { "enabled": false }',
  ].join('\n');
}

/** The models-without-pricing entry, found or not as usersSection says it. */
function modelsSection(catalog: Catalog, lookup: Catalog): string {
  const models = find(lookup, 'models', catalog.schemas);
  const pricing = find(lookup, 'model_provider_pricing', models ? [models.schema, ...catalog.schemas] : catalog.schemas);
  if (models && pricing) {
    return [
      ...outsideNote(catalog, [models, pricing]),
      `    "models-without-pricing": {\n      "models": { "schema": ${JSON.stringify(models.schema)}, "table": ${JSON.stringify(models.name)}, "key": ${JSON.stringify(keyOf(models))} },\n      "pricing": { "schema": ${JSON.stringify(pricing.schema)}, "table": ${JSON.stringify(pricing.name)}, "column": "model_name" }\n    }`,
    ].join('\n');
  }
  const modelsJson = models
    ? `{ "schema": ${JSON.stringify(models.schema)}, "table": ${JSON.stringify(models.name)}, "key": ${JSON.stringify(keyOf(models))} }`
    : '{ "schema": "<schema>", "table": "<your models table>", "key": "id" }';
  const said = models
    ? `found ${displayName(models.schema, models.name)} but no pricing table (looked for model_provider_pricing); map yours:`
    : 'no models table found (looked for a table named models); map yours:';
  return [
    `    // ${said}`,
    `    // "models-without-pricing": { "models": ${modelsJson}, "pricing": { "schema": "<schema>", "table": "<your pricing table>", "column": "<its model column>" } },`,
    '    "models-without-pricing": { "enabled": false }',
  ].join('\n');
}

// A column that names another table's row without saying which: `customer_id`, `customerId`, `order_ref`.
const REFERENCE_LIKE = /(_id|_ref|[a-z]Id)$/;

/**
 * The example `relations` entry when none was inferred: a column of the user's own tables that looks like
 * a reference (not its key, no foreign key), with the table it points at left to fill in; else nothing but
 * placeholders. It is written commented out, so it declares nothing.
 */
function exampleRelation(catalog: Catalog): { intro: string; entry: string } {
  const constrained = new Set(catalog.foreignKeys.flatMap((fk) => fk.columns.map((c) => `${fk.schema}.${fk.table}.${c}`)));
  for (const table of catalog.tables) {
    const column = table.columns.find((c) => REFERENCE_LIKE.test(c.name) && !(table.primaryKey ?? []).includes(c.name) && !constrained.has(`${table.schema}.${table.name}.${c.name}`));
    if (!column) continue;
    const entry = { schema: table.schema, table: table.name, columns: [column.name], references: { schema: '<schema>', table: '<the table it points at>', columns: ['<its key column>'] } };
    return {
      intro: `  // References without a FOREIGN KEY that orphan-rows should verify; none was inferred. If ${displayName(table.schema, table.name)}.${displayName(column.name)} holds another table's keys, say which and uncomment:`,
      entry: JSON.stringify(entry).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'),
    };
  }
  return {
    intro: '  // References without a FOREIGN KEY that orphan-rows should verify; none was inferred. Declare one as (placeholders in <>):',
    entry: '{ "schema": "<schema>", "table": "<table>", "columns": ["<column>"], "references": { "schema": "<schema>", "table": "<referenced table>", "columns": ["<referenced column>"] } }',
  };
}

/**
 * The config text: what was found, set; everything else as commented examples. `lookup` is where the
 * incident tables are looked for: every user schema, so that `auth.users` is found under `--schema public`
 * (and said to need `--schema auth`); `catalog` is the audited schemas, where references are inferred.
 */
export function renderInitConfig(catalog: Catalog, schemaRef: string, lookup: Catalog = catalog): string {
  const checks: string[] = [modelsSection(catalog, lookup), usersSection(catalog, lookup)];
  checks.push(`    "placeholder-uuid": {\n      // "values": ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]\n    }`);
  checks.push(`    "orphan-rows": {\n      // "strategies": { "some_fkey": "set-null" }\n    }`);
  checks.push(`    "jsonb-int-cast-index": {}`);
  const candidates = relationCandidates(catalog);
  const example = candidates.length ? null : exampleRelation(catalog);
  const relations = [
    example
      ? example.intro
      : `  // References without a FOREIGN KEY that orphan-rows should verify: ${candidates.length} inferred from column names and types (see undeclared-references); uncomment the real ones:`,
    ...(example ? [`  //   ${example.entry},`] : candidates.map((c) => `  //   ${c},`)),
    '  "relations": [],',
    '  // Accepted findings, each with a reason (and an optional end date):',
    '  //   { "check": "orphan-rows", "object": "public.legacy_*", "reason": "old import, cleaned up by Q3", "until": "2027-01-01" }',
    '  "ignore": [],',
  ];
  return [
    '// integrity.config.json, written by integrity init. Comments are allowed.',
    '{',
    `  "$schema": ${JSON.stringify(schemaRef)},`,
    '  "sampleSize": 5,',
    '  // "samples": { "exclude": ["public.customers"] },  // findings there carry no sample values',
    '  // "migrations": "db/migrations",  // SARIF results and GitHub annotations then point at the migration that created each object',
    ...relations,
    '  "checks": {',
    checks.join(',\n'),
    '  }',
    '}',
    '',
  ].join('\n');
}

export interface InitCommandOptions {
  databaseUrl?: string;
  connectTimeout?: number;
  schema?: string[];
  statementTimeout: number;
  lockTimeout: number;
  output: string;
  force: boolean;
}

/**
 * init's options: how to connect and where to look, and nothing of what an audit does (checks, --deep,
 * samples, jobs), since init reads only the catalog and runs no check.
 */
export function addInitOptions(cmd: Command): Command {
  return cmd
    .option(
      '-d, --database-url <url>',
      'postgres:// URL or libpq "key=value" string (else DATABASE_URL, else PGSERVICE and the PG* variables); an empty one is an error',
    )
    .option('--connect-timeout <seconds>', 'give up connecting after this long (default: 10)', positiveNumber('--connect-timeout'))
    .option('--schema <name>', 'infer references in this schema only (repeatable; default: every non-system schema); the users and models tables are looked for in every schema', collect)
    .option('--statement-timeout <ms>', 'cancel a catalog query running longer than this', integer('--statement-timeout', 1, 86_400_000), 60_000)
    .option('--lock-timeout <ms>', 'give up waiting for a lock after this long', integer('--lock-timeout', 1, 86_400_000), 3_000)
    .option('--output <file>', 'where to write the config', 'integrity.config.json')
    .option('--force', 'overwrite an existing file', false);
}

export async function initCommand(opts: InitCommandOptions, io: CliIO): Promise<number> {
  const errLine = errorLine(io);
  try {
    const target = path.resolve(io.cwd, opts.output);
    if (existsSync(target) && !opts.force) throw new UsageError(`${opts.output} exists; pass --force to overwrite it`);
    // Before connecting: an unwritable target loses nothing but costs no audit either.
    assertWritableDestination(opts.output, io.cwd);
    // No config is read: init writes one, and an old one it replaces (--force) may be the broken one.
    const connection = resolveConnection({ databaseUrl: opts.databaseUrl, env: io.env, connectTimeoutSec: opts.connectTimeout, applicationName: 'integrity' });
    for (const warning of connection.warnings ?? []) io.stderr.write(`integrity: warning: ${warning}\n`);
    const session = await AuditSession.open(connection, { jobs: 1, statementTimeoutMs: opts.statementTimeout, lockTimeoutMs: opts.lockTimeout });
    let text: string;
    let rls: string;
    try {
      const available = await listUserSchemas(session.primary);
      const unknown = (opts.schema ?? []).filter((s) => !available.includes(s));
      if (unknown.length > 0) throw new UsageError(`schema ${unknown.join(', ')} does not exist (or belongs to the system or an extension); existing schemas: ${available.join(', ') || 'none'}`);
      const every = available.filter((s) => !EXCLUDED_BY_DEFAULT.includes(s));
      const schemas = opts.schema ? [...new Set(opts.schema)] : every;
      const catalog = await loadCatalog(session.primary, schemas, available);
      const lookup = opts.schema ? await loadCatalog(session.primary, every, available) : catalog;
      const schemaRef = path.relative(path.dirname(target), path.join(packageRoot(), SCHEMA_FILE)).split(path.sep).join('/');
      text = renderInitConfig(catalog, schemaRef, lookup);
      rls = describeRowSecurity(rowSecurityTables(catalog), connection.user);
    } finally {
      await session.close();
    }
    parseConfig(CHECKS, JSON.parse(stripJsonComments(text)), opts.output); // never write a config we would reject
    writeFileAtomic(target, text);
    io.stdout.write(`wrote ${opts.output}\n${rls}\n`);
    return EXIT.ok;
  } catch (err) {
    errLine(err instanceof UsageError ? err.message : `init failed: ${describeError(err, { password: undefined })}`);
    return EXIT.auditFailed;
  }
}
