import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { AuditReport, CheckResult, Finding, Severity } from '../findings.js';
import { checkCounts, sampledReason } from './sampled.js';
import { visible, visibleLines } from '../escape.js';
import { describeObject } from '../object-names.js';

export interface PrettyOptions {
  chalk: ChalkInstance;
  /** Terminal width; tables are wrapped to fit. */
  width: number;
}

const STATUS_MARK: Record<CheckResult['status'], string> = { passed: '✔', sampled: '◐', failed: '✖', skipped: '○', error: '!' };

export function renderPretty(report: AuditReport, { chalk, width }: PrettyOptions): string {
  const severityColor: Record<Severity, (s: string) => string> = {
    error: (s) => chalk.red.bold(s),
    warning: (s) => chalk.yellow(s),
    info: (s) => chalk.cyan(s),
  };
  const statusColor: Record<CheckResult['status'], (s: string) => string> = {
    passed: (s) => chalk.green(s),
    sampled: (s) => chalk.yellow(s),
    failed: (s) => chalk.red(s),
    skipped: (s) => chalk.gray(s),
    error: (s) => chalk.magenta.bold(s),
  };
  const lines: string[] = [];
  const db = report.database;
  lines.push(
    chalk.bold(`${report.tool} ${report.version}`) +
      chalk.gray(` · ${visible(`${db.user}@${db.host}${db.host.startsWith('socket:') ? '' : `:${db.port}`}/${db.name}`)} · PostgreSQL ${visible(db.serverVersion)} · schemas: ${visible(report.options.schemas.join(', ')) || 'none'}${report.options.deep ? ' · --deep' : ''}${report.options.samplePercent !== null ? ` · --sample-percent ${report.options.samplePercent} (counts are estimates)` : ''}`),
  );
  lines.push('');

  const byCheck = new Map<string, Finding[]>();
  for (const f of report.findings) byCheck.set(f.checkId, [...(byCheck.get(f.checkId) ?? []), f]);
  const tableWidth = Math.max(60, Math.min(width, 160));
  const objectWidth = Math.min(40, Math.floor(tableWidth * 0.3));
  const messageWidth = tableWidth - objectWidth - 10 - 8 - 5;

  for (const check of report.checks) {
    // The id and title come from the config or a plugin, as the reason and note do: escaped like data.
    const mark = statusColor[check.status](`${STATUS_MARK[check.status]} ${visible(check.id)}`);
    const count = check.status === 'failed' ? ` ${check.findings} finding${check.findings === 1 ? '' : 's'}` : ` ${check.status}`;
    lines.push(`${mark}${chalk.gray(` ${visible(check.title)} ·`)}${statusColor[check.status](count)}${chalk.gray(` · ${check.durationMs} ms`)}`);
    if (check.status === 'sampled') lines.push(`  ${statusColor.sampled('not a pass:')} ${visible(sampledReason(report, check))}`);
    else if (check.reason) lines.push(`  ${statusColor[check.status](`${check.status === 'error' ? 'error' : 'reason'}:`)} ${visible(check.reason)}`);
    if (check.note) lines.push(chalk.gray(`  ${visible(check.note)}`));
    const findings = byCheck.get(check.id) ?? [];
    if (findings.length > 0) {
      const table = new Table({
        head: ['severity', 'object', 'count', 'finding'].map((h) => chalk.bold(h)),
        colWidths: [10, objectWidth, 8, messageWidth],
        wordWrap: true,
        wrapOnWordBoundary: true,
        style: { head: [], border: [] },
      });
      for (const f of findings) {
        const samples = f.samples.length > 0 ? `\n${chalk.gray(`samples: ${f.samples.map(visible).join(', ')}`)}` : '';
        const accepted = f.baselined ? 'baselined' : f.ignored ? `ignored: ${visible(f.ignored.reason)}${f.ignored.until ? ` (until ${visible(f.ignored.until)})` : ''}` : '';
        const row = [
          accepted ? chalk.gray(f.severity) : severityColor[f.severity](f.severity),
          describeObject(f.object),
          f.count === null ? '—' : `${f.estimated ? '~' : ''}${f.count}`,
          visibleLines(f.message) + samples + (accepted ? `\n${chalk.gray(`(${accepted}: does not fail the run)`)}` : ''),
        ];
        table.push(accepted ? row.map((c) => chalk.dim(c)) : row);
      }
      lines.push(table.toString());
    }
    lines.push('');
  }

  const s = report.summary;
  const checksPart = checkCounts(report);
  const findingsPart = `findings: ${s.findings.error} error, ${s.findings.warning} warning, ${s.findings.info} info`;
  const summaryColor = s.checks.error > 0 ? chalk.magenta.bold : s.checks.failed > 0 ? chalk.red.bold : s.checks.sampled > 0 ? chalk.yellow.bold : chalk.green.bold;
  if (report.baseline && report.baseline.stale.length > 0) {
    lines.push(chalk.yellow(`baseline ${visible(report.baseline.file)}: ${report.baseline.stale.length} entr${report.baseline.stale.length === 1 ? 'y no longer occurs' : 'ies no longer occur'}; shrink it with --prune-baseline`));
  }
  for (const e of report.expiredIgnores ?? []) {
    lines.push(chalk.yellow(`ignore for ${visible(e.check)} on ${visible(e.object)} expired on ${visible(e.until)} and no longer applies (${visible(e.reason)})`));
  }
  const accepted = report.findings.filter((f) => f.baselined || f.ignored).length;
  lines.push(`${summaryColor(checksPart)} · ${findingsPart}${accepted ? ` (${accepted} baselined or ignored)` : ''} · ${report.durationMs} ms`);
  return `${lines.join('\n')}\n`;
}
