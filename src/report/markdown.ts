import type { AuditReport } from '../findings.js';
import { describeObject } from './pretty.js';

/** Text for a Markdown table cell: pipes escaped, one line. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

const STATUS = { passed: '✅ passed', failed: '❌ failed', skipped: '⏭️ skipped', error: '⚠️ error' } as const;

/** A summary for a pull-request comment or a GitHub step summary. */
export function renderMarkdown(report: AuditReport): string {
  const s = report.summary;
  const out = [
    `### integrity: ${s.findings.error} error, ${s.findings.warning} warning, ${s.findings.info} info`,
    '',
    `Database \`${report.database.name}\` (PostgreSQL ${report.database.serverVersion}) · ${report.checks.length} checks: ${s.checks.passed} passed, ${s.checks.failed} failed, ${s.checks.skipped} skipped, ${s.checks.error} errored · ${report.durationMs} ms`,
    '',
    '| check | status | findings | note |',
    '| --- | --- | --- | --- |',
    ...report.checks.map((c) => `| \`${c.id}\` | ${STATUS[c.status]} | ${c.findings} | ${cell(c.reason ?? c.note ?? '')} |`),
  ];
  if (report.findings.length > 0) {
    out.push(
      '',
      '| severity | check | object | count | finding |',
      '| --- | --- | --- | --- | --- |',
      ...report.findings.map(
        (f) =>
          `| ${f.severity} | \`${f.checkId}\` | ${cell(describeObject(f.object))} | ${f.count === null ? '—' : `${f.estimated ? '~' : ''}${f.count}`} | ${cell(f.message)} |`,
      ),
    );
  }
  return `${out.join('\n')}\n`;
}
