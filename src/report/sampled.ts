import type { AuditReport, CheckResult } from '../findings.js';

/** What a `sampled` check says in every format: it found nothing in the share it read, which is not a pass. */
export function sampledReason(report: Pick<AuditReport, 'options'>, check: Pick<CheckResult, 'reason'>): string {
  return check.reason ?? `nothing found in the ${report.options.samplePercent ?? '?'}% read`;
}

/** The checks a summary line counts, in order: `sampled` only when some are, so that it never reads as passed. */
export function checkCounts(report: Pick<AuditReport, 'summary' | 'checks'>): string {
  const c = report.summary.checks;
  // The checks left out (--check, --skip, enabled: false) are counted apart, as the progress line counts only those selected.
  const notSelected = report.checks.filter((check) => check.selected === false).length;
  const counts = `${report.checks.length - notSelected} checks: ${c.passed} passed, ${c.sampled > 0 ? `${c.sampled} sampled (nothing found in the share read), ` : ''}${c.failed} failed, ${c.skipped - notSelected} skipped, ${c.error} errored`;
  return notSelected > 0 ? `${counts} (${notSelected} not selected)` : counts;
}
