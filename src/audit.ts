import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CheckDefinition } from './check.js';
import { resolveConnection } from './db/connection.js';
import { runAuditWithRepairs, type AuditOptions } from './engine/runner.js';
import { selectChecks } from './engine/selection.js';
import { UsageError } from './errors.js';
import type { AuditReport, FailOn } from './findings.js';
import { builtInChecks, loadProject, projectFrom, type Project } from './registry.js';
import { applySuppressions, parseBaseline } from './report/suppress.js';

/** `audit()`'s options: the command line's, by their long names. */
export interface AuditCallOptions {
  /** postgres:// URL or libpq key=value string; else DATABASE_URL and the PG* variables of `env`. */
  databaseUrl?: string;
  /** Environment for the connection and the config (default process.env). */
  env?: Record<string, string | undefined>;
  /** A config file (relative to `cwd`), or the config itself as an object; default ./integrity.config.json when present. */
  config?: string | Record<string, unknown>;
  /** Where relative paths resolve from (default process.cwd()). */
  cwd?: string;
  /** Checks given as objects (a check under test, say), added to the built-ins and the config's plugins. */
  extraChecks?: readonly CheckDefinition[];
  /** Run only these checks (--check). */
  checks?: string[];
  /** Do not run these (--skip). */
  skip?: string[];
  schemas?: string[];
  deep?: boolean;
  /** --amcheck: collation-drift verifies the indexes at risk with the amcheck extension. */
  amcheck?: boolean;
  jobs?: number;
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  checkTimeoutMs?: number;
  samplePercent?: number;
  /** Sample key values per finding (0 for none); default the config's sampleSize. */
  samples?: number;
  /** A baseline file written by `integrity baseline`. */
  baseline?: string;
  /** Recorded in the report; the exit code is the caller's to compute (default `error`). */
  failOn?: FailOn;
  signal?: AbortSignal;
}

/**
 * Runs an audit and returns the same report as `integrity check --format json` (ignores and the
 * baseline applied). Throws UsageError for bad options, as the command line exits 2 for them.
 */
export async function audit(options: AuditCallOptions = {}): Promise<AuditReport> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const project = await projectFor(options, cwd);
  const config = options.samples === undefined ? project.config : { ...project.config, sampleSize: options.samples };
  const { selected, deselected } = selectChecks(project.checks, config, options.checks, options.skip);
  const auditOptions: AuditOptions = {
    target: resolveConnection({ databaseUrl: options.databaseUrl, env, connectTimeoutSec: undefined, applicationName: 'integrity' }),
    checks: project.checks,
    selected,
    deselected,
    config,
    schemas: options.schemas,
    deep: options.deep ?? false,
    amcheck: options.amcheck ?? false,
    jobs: options.jobs ?? 4,
    statementTimeoutMs: options.statementTimeoutMs ?? 60_000,
    lockTimeoutMs: options.lockTimeoutMs ?? 3_000,
    ...(options.checkTimeoutMs !== undefined ? { checkTimeoutMs: options.checkTimeoutMs } : {}),
    failOn: options.failOn ?? 'error',
    samplePercent: options.samplePercent ?? null,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const { report } = await runAuditWithRepairs(auditOptions);
  const baselineFile = options.baseline ? path.resolve(cwd, options.baseline) : undefined;
  return applySuppressions(report, {
    ...(baselineFile ? { baseline: { file: options.baseline as string, data: parseBaseline(readFileSync(baselineFile, 'utf8'), options.baseline as string) } } : {}),
    ignore: config.ignore,
    today: new Date().toISOString().slice(0, 10),
  });
}

async function projectFor(options: AuditCallOptions, cwd: string): Promise<Project> {
  const builtIns = await builtInChecks();
  const extra = (options.extraChecks ?? []).filter((c) => !builtIns.includes(c)).map((c) => ({ ...c, origin: c.origin ?? 'audit({ extraChecks })' }));
  const all = [...builtIns, ...extra];
  if (options.config !== undefined && typeof options.config === 'object') return projectFrom(options.config, null, cwd, all);
  if (options.config !== undefined && typeof options.config !== 'string') throw new UsageError('config must be a file name or an object');
  return loadProject(options.config, cwd, all);
}
