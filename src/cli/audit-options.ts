import { Command, InvalidArgumentError, Option } from 'commander';
import { loadProject } from '../registry.js';
import { selectChecks } from '../engine/selection.js';
import { resolveConnection } from '../db/connection.js';
import type { AuditOptions } from '../engine/runner.js';
import { UsageError } from '../errors.js';
import { globToRegExp } from '../glob.js';
import type { FailOn } from '../findings.js';
import type { CliIO } from './io.js';

export function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number above 0`);
    return n;
  };
}

function percentage(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0 && n < 100)) throw new InvalidArgumentError(`${name} must be a percentage above 0 and below 100`);
    return n;
  };
}

/** A memory size as PostgreSQL writes one (`64MB`, `1GB`, `512kB`; a bare number is MB), in kB, from 1 MB to 64 GB. */
export function memorySize(name: string) {
  return (value: string): number => {
    const m = /^\s*(\d+)\s*(kB|MB|GB)?\s*$/i.exec(value);
    const unit = { kb: 1, mb: 1024, gb: 1024 * 1024 }[(m?.[2] ?? 'MB').toLowerCase() as 'kb'];
    const kb = m ? Number(m[1]) * unit : NaN;
    if (!Number.isSafeInteger(kb) || kb < 1024 || kb > 64 * 1024 * 1024) throw new InvalidArgumentError(`${name} must be a size from 1MB to 64GB, e.g. 256MB or 1GB`);
    return kb;
  };
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The options that say what to audit and how, shared by `check` and `fix`. */
export function addAuditOptions(cmd: Command): Command {
  return cmd
    .option(
      '-d, --database-url <url>',
      'postgres:// URL or libpq "key=value" string (else DATABASE_URL, else PGSERVICE and the PG* variables); an empty one is an error',
    )
    .option('--connect-timeout <seconds>', 'give up connecting after this long (default: 10)', positiveNumber('--connect-timeout'))
    .option('--check <id>', 'run only this check (repeatable)', collect)
    .option('--skip <id>', 'do not run this check (repeatable)', collect)
    .option('--schema <name>', 'audit this schema (repeatable; default: every non-system schema)', collect)
    .option('--table <pattern>', 'audit only tables matching this glob on schema.table, or on table when it has no dot (repeatable), e.g. --table public.orders --table \'billing.*\'', collect)
    .option('--deep', 'orphan-rows: verify every foreign key, not only the ones PostgreSQL is not guaranteeing; sequence-behind-data: also read columns no index leads (a scan)', false)
    .option('--amcheck', 'collation-drift: verify the indexes a collation change put at risk with the amcheck extension (bt_index_check, read-only; reads each such index and its table)', false)
    .option('--jobs <n>', 'parallel connections sharing one snapshot', integer('--jobs', 1, 64), 4)
    .option('--work-mem <size>', 'memory the audit\'s joins may use across all its connections and their parallel workers, e.g. 256MB or 1GB (default 512MB; each process gets its share of it as work_mem, divided by hash_mem_multiplier; never less than the server\'s work_mem)', memorySize('--work-mem'))
    .option('--statement-timeout <ms>', 'cancel any audit query running longer than this', integer('--statement-timeout', 1, 86_400_000), 60_000)
    .option('--lock-timeout <ms>', 'give up waiting for a lock after this long', integer('--lock-timeout', 1, 86_400_000), 3_000)
    .option('--check-timeout <ms>', 'cut off a check (a plugin, say) still running after this long, and report it as an error', integer('--check-timeout', 1, 86_400_000), 1_800_000)
    .option('--config <file>', 'config file (default: the nearest integrity.config.json, looked for up to the repository root)')
    .option('--samples <n>', 'sample key values per finding (default 5, or sampleSize in the config; 0 for none)', integer('--samples', 0, 100))
    .option(
      '--sample-percent <percent>',
      'placeholder-uuid and orphan-rows read this share of each table (TABLESAMPLE); their counts become estimates, and a check that finds nothing is "sampled", not passed',
      percentage('--sample-percent'),
    )
    .addOption(new Option('--sample <percent>', 'deprecated: the old name of --sample-percent').argParser(percentage('--sample')).hideHelp());
}

export interface AuditCommandOptions {
  databaseUrl?: string;
  connectTimeout?: number;
  check?: string[];
  skip?: string[];
  schema?: string[];
  table?: string[];
  deep: boolean;
  /** Absent for commands that do not offer it. */
  amcheck?: boolean;
  jobs: number;
  /** kB */
  workMem?: number;
  statementTimeout: number;
  lockTimeout: number;
  checkTimeout: number;
  config?: string;
  samplePercent?: number;
  /** The deprecated spelling of --sample-percent. */
  sample?: number;
  samples?: number;
  /** check, fix, baseline: an audit that covered no table, or ran no check, exits 0 instead of 2. */
  allowEmpty?: boolean;
}

/** Validates the shared options against the config and the registry (plugins loaded); throws UsageError. */
export async function auditOptionsFrom(opts: AuditCommandOptions, io: CliIO, failOn: FailOn, signal?: AbortSignal): Promise<AuditOptions> {
  const project = await loadProject(opts.config, io.cwd);
  const config = opts.samples === undefined ? project.config : { ...project.config, sampleSize: opts.samples };
  const checks = project.checks;
  const { selected, deselected } = selectChecks(checks, config, opts.check, opts.skip);
  if (opts.sample !== undefined && opts.samplePercent !== undefined) {
    throw new UsageError('--sample is the old name of --sample-percent: give --sample-percent only');
  }
  if (opts.sample !== undefined) io.stderr.write('integrity: warning: --sample is deprecated and will be removed; use --sample-percent\n');
  const samplePercent = opts.samplePercent ?? opts.sample ?? null;
  const target = resolveConnection({
    databaseUrl: opts.databaseUrl,
    env: io.env,
    connectTimeoutSec: opts.connectTimeout,
    // Our name is the fallback: an application_name the user gives (keyword, service or PGAPPNAME) wins.
    applicationName: 'integrity',
  });
  for (const warning of target.warnings ?? []) io.stderr.write(`integrity: warning: ${warning}\n`);
  return {
    target,
    checks,
    selected,
    deselected,
    config,
    schemas: opts.schema ? [...new Set(opts.schema)] : undefined,
    deep: opts.deep,
    amcheck: opts.amcheck ?? false,
    jobs: opts.jobs,
    ...(opts.workMem ? { workMemKb: opts.workMem } : {}),
    statementTimeoutMs: opts.statementTimeout,
    lockTimeoutMs: opts.lockTimeout,
    checkTimeoutMs: opts.checkTimeout,
    failOn,
    samplePercent,
    ...(opts.table?.length ? { onlyTables: tableMatcher(opts.table) } : {}),
    ...(signal ? { signal } : {}),
  };
}

/** `--table` patterns: a glob on `schema.table`, or on the table's name alone when the pattern has no dot. */
export function tableMatcher(patterns: string[]): (schema: string, table: string) => boolean {
  const compiled = patterns.map((p) => {
    if (p.trim() === '') throw new UsageError('--table needs a pattern, e.g. --table public.orders or --table \'orders*\'');
    return { re: globToRegExp(p), qualified: p.includes('.') };
  });
  return (schema, table) => compiled.some((c) => c.re.test(c.qualified ? `${schema}.${table}` : table));
}

