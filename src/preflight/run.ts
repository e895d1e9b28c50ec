import { listUserSchemas, loadCatalog, type Catalog } from '../db/catalog.js';
import { isSocketHost, type ConnectionTarget } from '../db/connection.js';
import type { Queryable } from '../db/session.js';
import { PREFLIGHT_DEFAULTS, type IntegrityConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { FailOn } from '../findings.js';
import { CheckHandles } from '../engine/guard.js';
import { EXCLUDED_BY_DEFAULT, runWithSession, type AuditOptions } from '../engine/runner.js';
import { globToRegExp } from '../glob.js';
import { objectNames } from '../object-names.js';
import { judgeAll, type JudgeContext, type Judges } from './judge.js';
import { judgeOperations } from './operations.js';
import { ALL_JUDGES } from './data-judges.js';
import { DEFAULT_PLACEHOLDERS, judgeRunEnd } from './later-judges.js';
import { withRepairs } from './repairs.js';
import { buildPreflightReport, type PreflightReport, type PreflightSummary } from './report.js';
import type { MigrationFile } from './statements.js';

export interface PreflightOptions {
  target: ConnectionTarget;
  config: IntegrityConfig;
  schemas: string[] | undefined;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  failOn: FailOn;
  signal?: AbortSignal;
  /** The migrations to judge, or a function that reads the database to choose them (discovery). */
  migrations: MigrationFile[] | ((db: Queryable, catalog: Catalog) => Promise<{ files: MigrationFile[]; discovery: NonNullable<PreflightSummary['discovery']> }>);
  judges?: Judges;
}

/**
 * Judges the migrations in the audit's own session: one REPEATABLE READ, READ ONLY transaction with
 * row_security off and search_path pg_catalog, pg_temp, every query through the audit's guard. Nothing
 * of the migration is ever sent to the server: only the queries that count the rows it would meet.
 */
export async function runPreflight(options: PreflightOptions): Promise<PreflightReport> {
  const auditOptions: AuditOptions = {
    target: options.target,
    checks: [],
    selected: new Set(),
    deselected: new Map(),
    config: options.config,
    schemas: options.schemas,
    deep: false,
    jobs: 1,
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    failOn: options.failOn,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const startedAt = new Date();
  const started = performance.now();
  return runWithSession(auditOptions, async (session) => {
    const [settled] = await session.runAll([
      async (db) => {
        const available = await listUserSchemas(db);
        const unknown = (options.schemas ?? []).filter((s) => !available.includes(s));
        if (unknown.length > 0) throw new UsageError(`schema ${unknown.join(', ')} does not exist; existing schemas: ${available.join(', ') || 'none'}`);
        const schemas = options.schemas ?? available.filter((s) => !EXCLUDED_BY_DEFAULT.includes(s));
        const catalog = await loadCatalog(db, schemas, available);
        const handles = new CheckHandles();
        const guarded = handles.wrap(db);
        const chosen = typeof options.migrations === 'function' ? await options.migrations(guarded, catalog) : { files: options.migrations, discovery: undefined };
        const excluded = options.config.samplesExclude.map(globToRegExp);
        const judgeContext: JudgeContext = {
          db: guarded,
          raw: db,
          catalog,
          sampleSize: options.config.sampleSize,
          placeholders: placeholdersOf(options.config),
          userCasts: await userCastsOf(guarded),
          valuesAllowed: (object) => {
            const names = objectNames({ object } as Parameters<typeof objectNames>[0]);
            return options.config.sampleSize > 0 && !excluded.some((p) => names.some((n) => p.test(n)));
          },
        };
        const run = await judgeAll(chosen.files, judgeContext, options.judges ?? ALL_JUDGES, judgeRunEnd);
        await judgeOperations(chosen.files, run, judgeContext, options.config.preflight ?? PREFLIGHT_DEFAULTS);
        handles.close('preflight has finished');
        return withRepairs(buildPreflightReport(run, {
          database: {
            host: isSocketHost(options.target.host) ? `socket:${options.target.host}` : options.target.host,
            port: options.target.port,
            name: options.target.database,
            user: options.target.user,
            serverVersion: session.serverVersion,
            systemIdentifier: session.systemIdentifier,
          },
          startedAt,
          durationMs: Math.round(performance.now() - started),
          schemas,
          failOn: options.failOn,
          scope: { tables: catalog.tables.length, partitions: catalog.partitions.length },
          files: chosen.files.map((f) => f.file),
          ...(chosen.discovery ? { discovery: chosen.discovery } : {}),
          ...(session.warnings.length ? { warnings: [...session.warnings] } : {}),
        }), { db, session, options: auditOptions, catalog, files: chosen.files });
      },
    ]);
    if (!settled || settled.status === 'rejected') throw settled?.reason ?? new Error('preflight did not run');
    return settled.value;
  });
}

/** placeholder-uuid's `values` from the config, else its defaults. */
function placeholdersOf(config: IntegrityConfig): string[] {
  const values = config.checks['placeholder-uuid']?.options.values;
  return Array.isArray(values) && values.every((v) => typeof v === 'string') ? (values as string[]) : DEFAULT_PLACEHOLDERS;
}

/** Casts whose function is not pg_catalog's, as `source -> target` (see JudgeContext.userCasts). */
async function userCastsOf(db: Queryable): Promise<string[]> {
  const res = await db.query<{ cast: string }>(
    `SELECT pg_catalog.format_type(c.castsource, NULL) OPERATOR(pg_catalog.||) ' -> ' OPERATOR(pg_catalog.||) pg_catalog.format_type(c.casttarget, NULL) AS cast
       FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) c.castfunc
      WHERE p.pronamespace OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace
      ORDER BY 1`,
  );
  return res.rows.map((r) => r.cast);
}
