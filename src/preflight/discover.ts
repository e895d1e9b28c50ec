import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Queryable } from '../db/session.js';
import { displayName, qualifiedName } from '../db/quote.js';
import { UsageError } from '../errors.js';
import type { PreflightSummary } from './report.js';
import { readMigrations, reportPath, type MigrationFile } from './statements.js';

/** A migration file of the folder, with the id its tool records it under once applied. */
interface Candidate {
  file: string;
  /** The id as the tool's table holds it (a version, a name), or null when the file is not one of this tool's. */
  id: string | null;
}

interface Tool {
  name: string;
  /** The table (schema null: any schema) and the columns it must have to be this tool's. */
  table: { schema: string | null; name: string; columns: string[] };
  /** The id of a file (path relative to the folder, with `/`), or null when the tool would not run it. */
  idOf(relative: string): string | null;
  /** The query that lists the applied ids, given the table's qualified name. */
  appliedSql(table: string): string;
  /** How `applied` is decided, for the report. */
  rule: string;
}

const base = (relative: string) => relative.split('/').pop() ?? relative;
const VERSIONED = /^(\d+)_[^/]*\.sql$/;

/** The tools whose migration tables are read, most specific first (their tables' names overlap). */
const TOOLS: Tool[] = [
  {
    name: 'Supabase',
    table: { schema: 'supabase_migrations', name: 'schema_migrations', columns: ['version'] },
    idOf: (r) => (r.includes('/') ? null : (VERSIONED.exec(r)?.[1] ?? null)),
    appliedSql: (t) => `SELECT m.version::pg_catalog.text AS id FROM ${t} m`,
    rule: 'a version in supabase_migrations.schema_migrations is applied',
  },
  {
    name: 'Prisma',
    table: { schema: null, name: '_prisma_migrations', columns: ['migration_name', 'finished_at', 'rolled_back_at'] },
    idOf: (r) => /^([^/]+)\/migration\.sql$/.exec(r)?.[1] ?? null,
    appliedSql: (t) => `SELECT m.migration_name::pg_catalog.text AS id FROM ${t} m WHERE m.finished_at IS NOT NULL AND m.rolled_back_at IS NULL`,
    rule: 'a migration whose _prisma_migrations row has finished_at set and rolled_back_at null is applied',
  },
  {
    name: 'Flyway',
    table: { schema: null, name: 'flyway_schema_history', columns: ['version', 'success'] },
    // V1_2__desc.sql is version 1.2: Flyway writes the version's underscores as dots.
    idOf: (r) => {
      const m = /^V([0-9][0-9._]*)__[^/]*\.sql$/.exec(base(r));
      return m ? (m[1] as string).replace(/_/g, '.') : null;
    },
    appliedSql: (t) => `SELECT m.version::pg_catalog.text AS id FROM ${t} m WHERE m.success AND m.version IS NOT NULL`,
    rule: 'a version with success = true in flyway_schema_history is applied',
  },
  {
    name: 'node-pg-migrate',
    table: { schema: null, name: 'pgmigrations', columns: ['name', 'run_on'] },
    idOf: (r) => (r.includes('/') ? null : (/^(\d+[^/]*)\.sql$/.exec(r)?.[1] ?? null)),
    appliedSql: (t) => `SELECT m.name::pg_catalog.text AS id FROM ${t} m`,
    rule: 'a file whose name (without .sql) is in pgmigrations is applied',
  },
  {
    name: 'golang-migrate',
    table: { schema: null, name: 'schema_migrations', columns: ['version', 'dirty'] },
    idOf: (r) => (r.includes('/') ? null : (/^(\d+)_[^/]*\.up\.sql$/.exec(r)?.[1] ?? null)),
    // One row: the version reached. Every version up to it is applied, unless it is dirty (it failed half-way).
    appliedSql: (t) => `SELECT m.version::pg_catalog.text AS id, m.dirty AS dirty FROM ${t} m`,
    rule: 'the versions up to the one in schema_migrations are applied (a dirty one is not)',
  },
  {
    name: 'Rails',
    table: { schema: null, name: 'schema_migrations', columns: ['version'] },
    idOf: (r) => (r.includes('/') ? null : (VERSIONED.exec(r)?.[1] ?? null)),
    appliedSql: (t) => `SELECT m.version::pg_catalog.text AS id FROM ${t} m`,
    rule: 'a version in schema_migrations is applied',
  },
  {
    name: 'Django',
    table: { schema: null, name: 'django_migrations', columns: ['app', 'name'] },
    // <app>/<name>.sql, the SQL of Django migration <name> of app <app> (as sqlmigrate writes it).
    idOf: (r) => {
      const m = /^([^/]+)\/([^/]+)\.sql$/.exec(r);
      return m ? `${m[1]}/${m[2]}` : null;
    },
    appliedSql: (t) => `SELECT pg_catalog.concat(m.app, '/', m.name) AS id FROM ${t} m`,
    rule: 'a file <app>/<name>.sql whose (app, name) is in django_migrations is applied',
  },
];

function listSql(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const relative = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listSql(path.join(dir, e.name), relative));
    else if (e.isFile() && e.name.toLowerCase().endsWith('.sql')) out.push(relative);
  }
  return out;
}

/** golang-migrate and Flyway order by version number, not by name: `10_x` runs after `9_y`. */
function compareIds(tool: Tool, a: Candidate, b: Candidate): number {
  if (tool.name === 'golang-migrate' || tool.name === 'Flyway') {
    const pa = (a.id ?? '').split('.').map(Number);
    const pb = (b.id ?? '').split('.').map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
      const d = (pa[i] ?? 0) - (pb[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  }
  return a.file < b.file ? -1 : a.file > b.file ? 1 : 0;
}

/** The migration tables the database has, by tool, with the columns each must have. */
async function findTables(db: Queryable): Promise<Map<Tool, { sql: string; label: string }>> {
  const names = [...new Set(TOOLS.map((t) => t.table.name))];
  const rows = (
    await db.query<{ schema: string; name: string; columns: string[] }>(
      `SELECT n.nspname AS schema, c.relname AS name, pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attnum) AS columns
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
         -- a column of a type not pg_catalog's would run its own cast or output function when read as text
         JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) a.atttypid AND ty.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
        WHERE c.relkind IN ('r', 'p') AND c.relname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
        GROUP BY n.nspname, c.relname
        ORDER BY n.nspname OPERATOR(pg_catalog.=) 'public' DESC, n.nspname, c.relname`,
      [names],
    )
  ).rows;
  const found = new Map<Tool, { sql: string; label: string }>();
  for (const tool of TOOLS) {
    const row = rows.find((r) => r.name === tool.table.name && (tool.table.schema === null || r.schema === tool.table.schema) && tool.table.columns.every((c) => r.columns.includes(c)));
    // golang-migrate's table is Rails' name with a `dirty` column: a table with it is not Rails'.
    if (row && tool.name === 'Rails' && row.columns.includes('dirty')) continue;
    if (row && tool.name !== 'Supabase' && tool.table.name === 'schema_migrations' && row.schema === 'supabase_migrations') continue;
    if (row) found.set(tool, { sql: qualifiedName(row.schema, row.name), label: displayName(row.schema, row.name) });
  }
  return found;
}

export type Discovery = NonNullable<PreflightSummary['discovery']>;

/**
 * The migrations of `folder` not applied yet: the files of the tool whose table the database has (and
 * whose file names the folder's match), minus those the table records as applied; all of them when no
 * table is found, which the report says.
 */
export async function discoverMigrations(folder: string, db: Queryable, cwd: string): Promise<{ files: MigrationFile[]; discovery: Discovery }> {
  const absolute = path.resolve(cwd, folder);
  if (!(statSync(absolute, { throwIfNoEntry: false })?.isDirectory() ?? false)) {
    throw new UsageError(`migrations folder ${reportPath(absolute, cwd)} does not exist; set "migrations" in the config to the folder holding your .sql migrations, or give the files`);
  }
  const all = listSql(absolute);
  const tables = await findTables(db);
  const folderName = reportPath(absolute, cwd);
  for (const [tool, table] of tables) {
    const candidates: Candidate[] = all.map((file) => ({ file, id: tool.idOf(file) }));
    const mine = candidates.filter((c) => c.id !== null);
    if (mine.length === 0) continue;
    const rows = (await db.query<{ id: string; dirty?: boolean }>(tool.appliedSql(table.sql))).rows;
    let applied: Set<string>;
    if (tool.name === 'golang-migrate') {
      const current = rows[0];
      const reached = current ? Number(current.id) : -Infinity;
      applied = new Set(mine.filter((c) => Number(c.id) < reached || (Number(c.id) === reached && current?.dirty !== true)).map((c) => c.id as string));
    } else applied = new Set(rows.map((r) => r.id));
    mine.sort((a, b) => compareIds(tool, a, b));
    const pending = mine.filter((c) => !applied.has(c.id as string));
    const done = mine.filter((c) => applied.has(c.id as string));
    const others = candidates.filter((c) => c.id === null).map((c) => c.file);
    const note =
      `${tool.name}: ${table.label} records ${done.length} of the ${mine.length} migrations in ${folderName} as applied (${tool.rule}); ` +
      (pending.length === 0 ? 'no pending migration to judge' : `judging the ${pending.length} pending`) +
      (others.length > 0 ? `; ${others.length} .sql file${others.length === 1 ? '' : 's'} not named as ${tool.name} names migrations left out: ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', ...' : ''}` : '');
    return {
      files: readMigrations(pending.map((c) => path.join(absolute, c.file)), cwd),
      discovery: { folder: folderName, tool: tool.name, table: table.label, applied: done.map((c) => c.file), pending: pending.map((c) => c.file), note },
    };
  }
  const note = `no migration table of a known tool (${TOOLS.map((t) => `${t.name} ${t.table.schema ? `${t.table.schema}.` : ''}${t.table.name}`).join(', ')}) matches ${folderName}: judging all ${all.length} .sql files in name order`;
  return {
    files: readMigrations(all.map((f) => path.join(absolute, f)), cwd),
    discovery: { folder: folderName, tool: null, table: null, applied: [], pending: all, note },
  };
}
