import { EXIT } from '../errors.js';
import { SEVERITY_RANK, type AuditReport, type FailOn } from '../findings.js';

/** Statuses of a check that looked at the data (an `error` one tried to). */
const RAN = new Set(['passed', 'sampled', 'failed', 'error']);

/**
 * Why this audit covered nothing, in one line, or null: no table (or partition) in the audited schemas,
 * or no check that ran (each skipped or deselected). Such a run proves nothing, so it is not a pass.
 */
export function nothingAudited(report: Pick<AuditReport, 'checks' | 'scope' | 'options'>): string | null {
  const schemas = report.options.schemas;
  if (report.scope.tables + report.scope.partitions === 0) {
    const where = schemas.length === 0 ? 'there is no schema to audit' : `schema${schemas.length === 1 ? '' : 's'} ${schemas.join(', ')} hold${schemas.length === 1 ? 's' : ''} no table`;
    return `nothing was audited: ${where} (wrong database or --schema?); pass --allow-empty if that is expected`;
  }
  if (!report.checks.some((c) => RAN.has(c.status))) {
    return `nothing was audited: no check ran (all ${report.checks.length} were skipped or deselected, see their reasons); pass --allow-empty if that is expected`;
  }
  return null;
}

/**
 * 2 when any check errored, or when nothing was audited (unless `allowEmpty`); else 1 when a finding is
 * at or above the threshold; else 0. A `sampled` check (nothing found in the share read) is not a finding.
 */
export function exitCodeFor(
  report: Pick<AuditReport, 'checks' | 'findings' | 'scope' | 'options'>,
  failOn: FailOn,
  options: { allowEmpty?: boolean } = {},
): number {
  if (report.checks.some((c) => c.status === 'error')) return EXIT.auditFailed;
  if (!options.allowEmpty && nothingAudited(report) !== null) return EXIT.auditFailed;
  if (failOn === 'never') return EXIT.ok;
  const threshold = SEVERITY_RANK[failOn];
  // Findings a baseline or an ignore entry accepts are shown but do not fail the run.
  return report.findings.some((f) => !f.baselined && !f.ignored && SEVERITY_RANK[f.severity] <= threshold) ? EXIT.findings : EXIT.ok;
}
