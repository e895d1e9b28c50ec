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
import { auditOptionsFrom, type AuditCommandOptions } from './audit-options.js';
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

/** The config text: what was found, set; everything else as commented examples. */
export function renderInitConfig(catalog: Catalog, schemaRef: string): string {
  const models = find(catalog, 'models');
  const pricing = find(catalog, 'model_provider_pricing', models ? [models.schema] : ['public']);
  const users = find(catalog, 'users', ['auth']);
  const profiles = find(catalog, 'user_profiles') ?? find(catalog, 'profiles');
  const checks: string[] = [];
  checks.push(
    models && pricing
      ? `    "models-without-pricing": {\n      "models": { "schema": ${JSON.stringify(models.schema)}, "table": ${JSON.stringify(models.name)}, "key": "id" },\n      "pricing": { "schema": ${JSON.stringify(pricing.schema)}, "table": ${JSON.stringify(pricing.name)}, "column": "model_name" }\n    }`
      : `    // no models / model_provider_pricing tables found; map yours:\n    // "models-without-pricing": { "models": { "schema": "public", "table": "models", "key": "id" }, "pricing": { "schema": "public", "table": "model_provider_pricing", "column": "model_name" } },\n    "models-without-pricing": { "enabled": false }`,
  );
  checks.push(
    users && profiles
      ? `    "users-without-profiles": {\n      "users": { "schema": ${JSON.stringify(users.schema)}, "table": ${JSON.stringify(users.name)}, "key": "id" },\n      "profiles": { "schema": ${JSON.stringify(profiles.schema)}, "table": ${JSON.stringify(profiles.name)} }\n    }`
      : `    // no users / profiles tables found; map yours:\n    // "users-without-profiles": { "users": { "schema": "auth", "table": "users", "key": "id" }, "profiles": { "schema": "public", "table": "user_profiles" } },\n    "users-without-profiles": { "enabled": false }`,
  );
  checks.push(`    "placeholder-uuid": {\n      // "values": ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]\n    }`);
  checks.push(`    "orphan-rows": {\n      // "strategies": { "some_fkey": "set-null" }\n    }`);
  checks.push(`    "jsonb-int-cast-index": {}`);
  const candidates = relationCandidates(catalog);
  const relations = [
    candidates.length
      ? `  // References without a FOREIGN KEY that orphan-rows should verify: ${candidates.length} inferred from column names and types (see undeclared-references); uncomment the real ones:`
      : '  // References without a FOREIGN KEY that orphan-rows should verify, for example:',
    ...(candidates.length ? candidates.map((c) => `  //   ${c},`) : ['  //   { "table": "llm_call", "columns": ["prompt_file_id"], "references": { "table": "stored_file", "columns": ["id"] } },']),
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

export async function initCommand(opts: AuditCommandOptions & { output: string; force: boolean }, io: CliIO): Promise<number> {
  const errLine = errorLine(io);
  try {
    const target = path.resolve(io.cwd, opts.output);
    if (existsSync(target) && !opts.force) throw new UsageError(`${opts.output} exists; pass --force to overwrite it`);
    // Before connecting: an unwritable target loses nothing but costs no audit either.
    assertWritableDestination(opts.output, io.cwd);
    const options = await auditOptionsFrom({ ...opts, config: undefined }, { ...io, cwd: path.dirname(target) }, 'never');
    const session = await AuditSession.open(options.target, { jobs: 1, statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs });
    let text: string;
    let rls: string;
    try {
      const available = await listUserSchemas(session.primary);
      const schemas = options.schemas ?? available.filter((s) => !EXCLUDED_BY_DEFAULT.includes(s));
      const catalog = await loadCatalog(session.primary, schemas, available);
      const schemaRef = path.relative(path.dirname(target), path.join(packageRoot(), SCHEMA_FILE)).split(path.sep).join('/');
      text = renderInitConfig(catalog, schemaRef);
      rls = describeRowSecurity(rowSecurityTables(catalog), options.target.user);
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
