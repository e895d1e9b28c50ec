import type { AuditReport } from '../findings.js';
import type { CheckDefinition } from '../check.js';
import { renderGithub } from './github.js';
import { renderJson } from './json.js';
import { renderJunit } from './junit.js';
import { renderMarkdown } from './markdown.js';
import { renderPretty, type PrettyOptions } from './pretty.js';
import { renderSarif } from './sarif.js';

/** Every reporter by name: each a pure function of the audit result. */
export const REPORT_FORMATS = ['pretty', 'json', 'junit', 'sarif', 'github', 'markdown'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function renderReport(format: ReportFormat, report: AuditReport, pretty: PrettyOptions & { sarifCategory?: string; checks?: readonly CheckDefinition[] }): string {
  switch (format) {
    case 'json':
      return renderJson(report);
    case 'junit':
      return renderJunit(report);
    case 'sarif':
      return renderSarif(report, pretty.sarifCategory, pretty.checks);
    case 'github':
      return renderGithub(report);
    case 'markdown':
      return renderMarkdown(report);
    default:
      return renderPretty(report, pretty);
  }
}
