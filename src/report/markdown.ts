import type { AuditReport } from '../findings.js';
import { describeObject } from '../object-names.js';
import { checkCounts, sampledReason } from './sampled.js';
import { visibleLines, visible } from '../escape.js';
import { withAcceptedFailures } from './suppress.js';
import { changeNote, markdownComparison, unacceptedWord } from './compare.js';

/** Text for a Markdown table cell: controls made visible, HTML and Markdown escaped, one line. */
function cell(text: string): string {
  return visibleLines(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|])/g, '\\$1')
    .replace(/\r?\n/g, '<br>');
}

const STATUS = { passed: '✅ passed', sampled: '◐ sampled, not a pass', failed: '❌ failed', skipped: '⏭️ skipped', error: '⚠️ error' } as const;

/** A summary for a pull-request comment or a GitHub step summary. */
export function renderMarkdown(report: AuditReport): string {
  const s = report.summary;
  const accepted = report.findings.filter((f) => f.baselined || f.ignored).length;
  const out = [
    `### integrity: ${s.findings.error} error, ${s.findings.warning} warning, ${s.findings.info} info${accepted ? ` (${report.findings.length - accepted} ${unacceptedWord(report)}, ${accepted} accepted)` : ''}`,
    '',
    ...markdownComparison(report, cell),
    `Database \`${visible(report.database.name)}\` (PostgreSQL ${visible(report.database.serverVersion)}) · ${withAcceptedFailures(checkCounts(report), report)} · ${report.durationMs} ms`,
    '',
    '| check | status | findings | note |',
    '| --- | --- | --- | --- |',
    ...report.checks.map((c) => `| \`${c.id}\` | ${STATUS[c.status]} | ${c.findings} | ${cell(c.status === 'sampled' ? sampledReason(report, c) : (c.reason ?? c.note ?? ''))} |`),
  ];
  if (report.findings.length > 0) {
    out.push(
      '',
      '| severity | check | object | count | finding |',
      '| --- | --- | --- | --- | --- |',
      ...report.findings.map(
        (f) =>
          `| ${f.severity}${f.baselined ? ' (baselined)' : f.ignored ? ' (ignored)' : ''} | \`${f.checkId}\` | ${cell(describeObject(f.object))} | ${f.count === null ? '—' : `${f.estimated ? '~' : ''}${f.count}`}${changeNote(f)} | ${cell(f.message)} |`,
      ),
    );
  }
  for (const e of report.baseline?.stale ?? []) out.push('', `- baseline entry no longer occurs: \`${e.checkId}\` on ${cell(`${e.object.schema}.${e.object.table}`)} (shrink it with --prune-baseline)`);
  for (const e of report.expiredIgnores ?? []) out.push('', `- ignore expired on ${visible(e.until)}: \`${visible(e.check)}\` on ${cell(e.object)} (${cell(e.reason)})`);
  return `${out.join('\n')}\n`;
}
