import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { resolveConnection } from '../db/connection.js';
import { AuditInterrupted, describeError } from '../engine/runner.js';
import { EXIT, UsageError } from '../errors.js';
import type { FailOn } from '../findings.js';
import { loadProject } from '../registry.js';
import { colorLevel, makeChalk } from '../report/color.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../report/formats.js';
import { renderMarkdown } from '../report/markdown.js';
import { applySuppressions, baselineFrom, parseBaseline } from '../report/suppress.js';
import { readMigrations } from '../preflight/statements.js';
import { discoverMigrations } from '../preflight/discover.js';
import { preflightExitCode, preflightSummaryLine, type PreflightReport } from '../preflight/report.js';
import { runPreflight, type PreflightOptions } from '../preflight/run.js';
import { preflightRepairs } from '../preflight/repairs.js';
import { renderFixScript } from '../fix/script.js';
import { collect, integer, positiveNumber } from './audit-options.js';
import { assertWritableDestination, errorLine, writeFileAtomic, type CliIO } from './io.js';
import { parseReportSpec } from './report-spec.js';
import { SIGNAL_EXIT, withSignals } from './signals.js';

export interface PreflightCommandOptions {
  databaseUrl?: string;
  connectTimeout?: number;
  schema?: string[];
  statementTimeout: number;
  lockTimeout: number;
  config?: string;
  samples?: number;
  format: ReportFormat;
  output?: string;
  report?: string[];
  failOn: FailOn;
  sarifCategory: string;
  baseline?: string;
  writeBaseline?: string;
  allowEmpty: boolean;
  fixScript?: string;
}

export const PREFLIGHT_EXAMPLES = `
Examples:
  $ integrity preflight -d "$DATABASE_URL" db/migrations/20260101_add_fk.sql
  $ integrity preflight -d "$DATABASE_URL"                      # the config's migrations folder, minus those applied
  $ integrity preflight -d "$DATABASE_URL" --format github       # annotations on the migration lines of the pull request
  $ integrity preflight -d "$DATABASE_URL" --format sarif --output preflight.sarif
  $ integrity preflight -d "$DATABASE_URL" --fix-script repair.sql db/migrations/*.sql   # then: psql -v ON_ERROR_STOP=1 -f repair.sql`;

/** Registers `integrity preflight [FILES...]`. */
export function addPreflightCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  program
    .command('preflight')
    .description("Judge migrations before they are deployed: which statements today's data would make fail. Read-only: nothing of the migration is run.")
    .argument('[files...]', 'the migration files to judge, in the order they run (default: the config\'s migrations folder, minus those applied)')
    .option('-d, --database-url <url>', 'postgres:// URL or libpq "key=value" string (else DATABASE_URL, else PGSERVICE and the PG* variables)')
    .option('--connect-timeout <seconds>', 'give up connecting after this long (default: 10)', positiveNumber('--connect-timeout'))
    .option('--schema <name>', 'read the catalog of this schema (repeatable; default: every non-system schema)', collect)
    .option('--statement-timeout <ms>', 'cancel any query running longer than this', integer('--statement-timeout', 1, 86_400_000), 60_000)
    .option('--lock-timeout <ms>', 'give up waiting for a lock after this long', integer('--lock-timeout', 1, 86_400_000), 3_000)
    .option('--config <file>', 'config file (default: the nearest integrity.config.json, looked for up to the repository root)')
    .option('--samples <n>', 'sample key values per finding (default 5, or sampleSize in the config; 0 for none)', integer('--samples', 0, 100))
    .addOption(new Option('--format <format>', 'report format').choices(REPORT_FORMATS).default('pretty'))
    .option('--output <file>', 'write the report to this file instead of stdout')
    .option('--report <format=path>', 'also write the report in FORMAT to PATH (repeatable)', collect)
    .addOption(new Option('--fail-on <severity>', 'exit 1 when a finding is at or above this severity (a statement not judged is info)').choices(['error', 'warning', 'info', 'never']).default('error'))
    .option('--sarif-category <name>', 'SARIF runAutomationDetails.id prefix', 'integrity-preflight')
    .option('--baseline <file>', 'findings recorded in this baseline do not fail the run unless their count grew')
    .option('--write-baseline <file>', 'write the findings of this run as a baseline to FILE')
    .option('--allow-empty', 'exit 0, not 2, when the files given hold no statement', false)
    .option('--fix-script <file>', "write the repair of the rows that make a statement fail (orphans today) to FILE, as integrity fix writes one: run it with psql before the migration")
    .addHelpText('after', PREFLIGHT_EXAMPLES)
    .action(async (files: string[], opts: PreflightCommandOptions) => {
      done(await preflightCommand(files, opts, io));
    });
}

export async function preflightCommand(files: string[], opts: PreflightCommandOptions, io: CliIO): Promise<number> {
  const errLine = errorLine(io);
  const interruption = new AbortController();
  try {
    const outputFile = opts.output ? assertWritableDestination(opts.output, io.cwd) : undefined;
    const extraReports = (opts.report ?? []).map((spec) => parseReportSpec(spec, io.cwd));
    const writeBaseline = opts.writeBaseline ? assertWritableDestination(opts.writeBaseline, io.cwd, '--write-baseline') : undefined;
    const fixScript = opts.fixScript ? assertWritableDestination(opts.fixScript, io.cwd, '--fix-script') : undefined;
    const project = await loadProject(opts.config, io.cwd);
    const config = opts.samples === undefined ? project.config : { ...project.config, sampleSize: opts.samples };
    const baselineFile = opts.baseline ? path.resolve(io.cwd, opts.baseline) : undefined;
    if (baselineFile && !existsSync(baselineFile)) throw new UsageError(`baseline ${opts.baseline} does not exist; write one with integrity preflight --write-baseline ${opts.baseline}`);
    const baseline = baselineFile ? { file: opts.baseline as string, data: parseBaseline(readFileSync(baselineFile, 'utf8'), opts.baseline as string) } : undefined;
    // Files are read and parsed before connecting: a typo or a syntax error fails at once, with its line.
    let migrations: PreflightOptions['migrations'];
    if (files.length > 0) migrations = readMigrations(files, io.cwd);
    else {
      if (!config.migrations) throw new UsageError('no migration to judge: give the files (integrity preflight FILE...), or set "migrations" in the config to their folder');
      const folder = config.migrations;
      // Which are pending is read from the migration tool's table, in the same read-only session.
      migrations = (db) => discoverMigrations(folder, db, io.cwd);
    }
    const target = resolveConnection({ databaseUrl: opts.databaseUrl, env: io.env, connectTimeoutSec: opts.connectTimeout, applicationName: 'integrity' });
    for (const warning of target.warnings ?? []) io.stderr.write(`integrity: warning: ${warning}\n`);
    const judged = await withSignals(interruption, () =>
      runPreflight({
        target,
        config,
        schemas: opts.schema ? [...new Set(opts.schema)] : undefined,
        statementTimeoutMs: opts.statementTimeout,
        lockTimeoutMs: opts.lockTimeout,
        failOn: opts.failOn,
        signal: interruption.signal,
        migrations,
      }),
    );
    const report = applySuppressions(judged, {
      ...(baseline ? { baseline } : {}),
      ignore: config.ignore,
      today: new Date().toISOString().slice(0, 10),
    }) as PreflightReport;
    const destinationIsTTY = outputFile ? false : Boolean(io.stdout.isTTY);
    const render = (format: ReportFormat, tty: boolean) => {
      const text = renderReport(format, report, { chalk: makeChalk(colorLevel(tty, io.env)), width: io.stdout.columns ?? 120, sarifCategory: opts.sarifCategory });
      // The reporters are check's; what only preflight knows (statements read, judged, not judged) ends the human formats.
      if (format === 'pretty') return `${text}${preflightSummaryLine(report)}\n`;
      if (format === 'markdown') return `${text}\n${preflightSummaryLine(report)}\n`;
      return text;
    };
    const text = render(opts.format, destinationIsTTY);
    for (const [format, file] of extraReports) writeFileAtomic(file, render(format, false));
    if (io.env.GITHUB_STEP_SUMMARY && (opts.format === 'github' || extraReports.some(([f]) => f === 'github'))) {
      appendFileSync(io.env.GITHUB_STEP_SUMMARY, `${renderMarkdown(report)}\n${preflightSummaryLine(report)}\n`);
    }
    if (outputFile) writeFileAtomic(outputFile, text);
    else io.stdout.write(text);
    if (writeBaseline) writeFileAtomic(writeBaseline, `${JSON.stringify(baselineFrom(report, new Date()), null, 2)}\n`);
    if (fixScript) writeFileAtomic(fixScript, renderFixScript({ report: judged, repairs: preflightRepairs(judged) }));
    for (const c of report.checks.filter((r) => r.status === 'error')) errLine(`${c.id}: ${c.reason}`);
    if (opts.format !== 'pretty') errLine(preflightSummaryLine(report));
    const discovery = report.preflight.discovery;
    if (discovery) errLine(discovery.note);
    // Every migration applied: nothing pending is a pass, not an empty run.
    if (discovery && discovery.pending.length === 0) return preflightExitCode(report, opts.failOn);
    if (report.preflight.statements === 0 && !opts.allowEmpty) {
      errLine('nothing was judged: the migrations hold no statement; pass --allow-empty if that is expected');
      return EXIT.auditFailed;
    }
    return preflightExitCode(report, opts.failOn);
  } catch (err) {
    if (err instanceof AuditInterrupted) {
      const signal = String(err.reason);
      errLine(`interrupted by ${signal}: the queries were cancelled on the server; no report was written`);
      return SIGNAL_EXIT[signal] ?? EXIT.auditFailed;
    }
    errLine(err instanceof UsageError ? err.message : `preflight failed: ${describeError(err, { password: undefined })}`);
    return EXIT.auditFailed;
  }
}
