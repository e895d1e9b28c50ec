import { confirm } from './confirm.js';
import { UsageError, EXIT, errorMessage } from '../errors.js';
import { AuditInterrupted, describeError, runAuditWithRepairs } from '../engine/runner.js';
import { applyRepairs, outcomeOf, runnableSteps, verifyRepairs, type VerifyLine } from '../fix/execute.js';
import { renderFixScript } from '../fix/script.js';
import { withinSafety, type SafetyLevel } from '../fix/safety-level.js';
import { describeObject } from '../object-names.js';
import { colorLevel, makeChalk } from '../report/color.js';
import type { AuditReport } from '../findings.js';
import { nothingAudited } from '../report/exit-code.js';
import { checkCounts } from '../report/sampled.js';
import { visible } from '../escape.js';
import { assertWritableDestination, errorLine, writeFileAtomic, type CliIO } from './io.js';
import { auditOptionsFrom, type AuditCommandOptions } from './audit-options.js';
import { SIGNAL_EXIT, withSignals } from './signals.js';

export interface FixCommandOptions extends AuditCommandOptions {
  output?: string;
  verify: boolean;
  apply: boolean;
  yes: boolean;
  format: 'pretty' | 'json';
  safety: SafetyLevel;
}

function summaryLine(report: AuditReport): string {
  const s = report.summary;
  return `${report.findings.length} findings (${s.findings.error} error, ${s.findings.warning} warning, ${s.findings.info} info); ${checkCounts(report)}`;
}


export async function fixCommand(opts: FixCommandOptions, io: CliIO): Promise<number> {
  const errLine = errorLine(io);
  const chalk = makeChalk(colorLevel(Boolean(io.stdout.isTTY), io.env));
  const interruption = new AbortController();
  let password: string | undefined;
  /** A run that covered no table or ran no check: says so in one line; true unless --allow-empty. */
  const emptyAudit = (report: AuditReport): boolean => {
    const empty = opts.allowEmpty ? null : nothingAudited(report);
    if (empty) errLine(empty);
    return empty !== null;
  };
  try {
    if (opts.verify && opts.apply) throw new UsageError('--verify and --apply exclude each other: verify first, then apply');
    const outputFile = opts.output ? assertWritableDestination(opts.output, io.cwd) : undefined;
    const options = await auditOptionsFrom(opts, io, 'error', interruption.signal);
    password = options.target.password;

    if (opts.verify) {
      const result = await withSignals(interruption, () => verifyRepairs(options, (e) => withinSafety([e], opts.safety ?? 'all').kept.length > 0));
      const repaired = result.lines.filter((l) => l.status !== 'review only');
      // Exit 0 only when every repaired finding is cleared; a partly cleared one still needs a person.
      // A repair that creates a finding (a new orphan, a placeholder) is not proven, whatever it cleared.
      const ok = repaired.every((l) => l.status === 'cleared') && result.created.length === 0 && result.before.report.summary.checks.error === 0;
      const created = result.created.map((f) => ({ checkId: f.checkId, fingerprint: f.fingerprint, object: f.object, count: f.count, message: f.message }));
      if (opts.format === 'json') {
        io.stdout.write(
          `${JSON.stringify({ tool: 'integrity', verified: ok, databaseUnchanged: true, lines: result.lines, created, notUndone: result.notUndone, before: result.before.report.summary, after: result.after.report.summary }, null, 2)}\n`,
        );
      } else {
        const mark: Record<VerifyLine['status'], string> = {
          cleared: chalk.green('✔ cleared    '),
          'partly cleared': chalk.yellow('◐ partly     '),
          'not cleared': chalk.red('✖ not cleared'),
          failed: chalk.magenta('! failed     '),
          'review only': chalk.gray('○ review only'),
        };
        const out = [`integrity fix --verify · before: ${summaryLine(result.before.report)}`];
        for (const l of result.lines) {
          out.push(
            `  ${mark[l.status]}  ${l.checkId}  ${describeObject(l.object).replace(/\n/g, ' ')}  ${l.countBefore ?? '—'} → ${l.status === 'review only' ? 'not run' : (l.countAfter ?? '—')}${l.error ? `  (${visible(l.error)})` : ''}`,
          );
        }
        const count = (s: VerifyLine['status']) => result.lines.filter((l) => l.status === s).length;
        out.push(
          `${repaired.length} repaired findings: ${count('cleared')} cleared, ${count('partly cleared')} partly cleared (the rest needs review), ${count('not cleared')} not cleared, ${count('failed')} failed; ${count('review only')} need review (not run)`,
          `after the repairs: ${summaryLine(result.after.report)}`,
          ...(created.length > 0
            ? [chalk.red(`the repairs would create ${created.length} finding${created.length === 1 ? '' : 's'}:`), ...created.map((f) => `  ${chalk.red('+ new        ')}  ${f.checkId}  ${describeObject(f.object).replace(/\n/g, ' ')}  ${f.count ?? '—'}`)]
            : []),
          'The database is unchanged: the repairs and the second audit ran in one transaction that was rolled back,',
          ...(result.notUndone.length > 0 ? ['except for what a rollback cannot undo:', ...result.notUndone.map((n) => `  - ${n}`)] : ['and nothing they did lies outside it (no sequence advanced, no trigger fired).']),
        );
        io.stdout.write(`${out.join('\n')}\n`);
      }
      if (result.before.report.summary.checks.error > 0) return EXIT.auditFailed;
      if (emptyAudit(result.before.report)) return EXIT.auditFailed;
      return ok ? EXIT.ok : EXIT.findings;
    }

    const audited = await withSignals(interruption, () => runAuditWithRepairs(options));
    const { kept, leftOut } = withinSafety(audited.repairs, opts.safety ?? 'all');
    const before = { ...audited, repairs: kept };
    const script = renderFixScript({ ...before, leftOut });
    if (!opts.apply) {
      if (outputFile) writeFileAtomic(outputFile, script);
      else io.stdout.write(script);
      return before.report.summary.checks.error > 0 || emptyAudit(before.report) ? EXIT.auditFailed : EXIT.ok;
    }
    if (before.report.summary.checks.error === 0 && emptyAudit(before.report)) return EXIT.auditFailed;

    const runnable = before.repairs.filter((e) => runnableSteps(e).length > 0);
    if (outputFile) writeFileAtomic(outputFile, script);
    if (runnable.length === 0) {
      io.stdout.write(`Nothing to apply: ${before.repairs.length} finding(s) have repairs that need review only.\n`);
      return EXIT.ok;
    }
    if (!opts.yes) {
      if (!process.stdin.isTTY) throw new UsageError('refusing to apply repairs without a terminal to confirm on: pass --yes after reading the script (integrity fix --output fix.sql)');
      const d = before.report.database;
      if (!(await confirm(`Apply ${runnable.length} repair(s) to ${d.user}@${d.host}/${d.name}? Rows removed are kept in integrity_quarantine. [y/N] `))) {
        errLine('not applied');
        return EXIT.auditFailed;
      }
    }
    const applied = await applyRepairs(options, runnable);
    const after = await runAuditWithRepairs({ ...options, signal: undefined });
    const remaining = new Map(after.report.findings.map((f) => [f.fingerprint, f]));
    const outcomes = runnable.map((e) => ({ entry: e, status: outcomeOf(e, remaining, after.report) }));
    const cleared = outcomes.filter((o) => o.status === 'cleared').length;
    io.stdout.write(
      [
        `before: ${summaryLine(before.report)}`,
        `applied ${applied.applied} repair(s) in one transaction, then ${applied.concurrentRun} concurrent index rebuild(s)`,
        ...outcomes.map((o) => `  ${o.status.padEnd(14)} ${o.entry.finding.checkId}  ${describeObject(o.entry.finding.object).replace(/\n/g, ' ')}  ${o.entry.finding.count ?? '—'} → ${remaining.get(o.entry.finding.fingerprint)?.count ?? 0}`),
        `after:  ${summaryLine(after.report)}`,
        `${cleared} of ${runnable.length} repaired finding(s) cleared`,
        ...(leftOut.length > 0 ? [`--safety safe left out ${leftOut.length} repair(s) that remove or change rows: integrity fix --output fix.sql writes them for review`] : []),
      ].join('\n') + '\n',
    );
    if (after.report.summary.checks.error > 0) return EXIT.auditFailed;
    return cleared === runnable.length ? EXIT.ok : EXIT.findings;
  } catch (err) {
    if (err instanceof AuditInterrupted) {
      errLine(`interrupted by ${String(err.reason)}; nothing was left running${opts.verify ? ', and the database is unchanged' : ''}`);
      return SIGNAL_EXIT[String(err.reason)] ?? EXIT.auditFailed;
    }
    if (err instanceof UsageError) {
      errLine(err.message);
      return EXIT.auditFailed;
    }
    errLine(`fix failed: ${describeError(err, { password }) || errorMessage(err)}`);
    if (opts.verify) errLine('the database is unchanged: --verify ran in one transaction, which was rolled back');
    return EXIT.auditFailed;
  }
}
