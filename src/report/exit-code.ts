import { EXIT } from '../errors.js';
import { SEVERITY_RANK, type AuditReport, type FailOn } from '../findings.js';

/** 2 when any check errored; else 1 when a finding is at or above the threshold; else 0. */
export function exitCodeFor(report: Pick<AuditReport, 'checks' | 'findings'>, failOn: FailOn): number {
  if (report.checks.some((c) => c.status === 'error')) return EXIT.auditFailed;
  if (failOn === 'never') return EXIT.ok;
  const threshold = SEVERITY_RANK[failOn];
  // Findings a baseline or an ignore entry accepts are shown but do not fail the run.
  return report.findings.some((f) => !f.baselined && !f.ignored && SEVERITY_RANK[f.severity] <= threshold) ? EXIT.findings : EXIT.ok;
}
