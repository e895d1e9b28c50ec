import type { Planted } from './generate.js';

/** The parts of the JSON report the benchmark reads. */
export interface AuditReportShape {
  findings: { checkId: string; object: { schema: string; table: string; column?: string; columns?: string[] }; count: number | null }[];
  checks: { id: string; status: string; reason: string | null; durationMs: number }[];
}

/**
 * The generic-rule checks: the benchmark configures no rules and plants nothing for them, so each must
 * report itself skipped for exactly that reason (and find nothing); any other outcome is a problem.
 */
export const UNCONFIGURED_CHECKS: readonly string[] = ['accepted-values', 'required-child', 'row-condition', 'unique'];
const NO_RULES = /^no rules configured: /;

/** Differences between what the audit reported and what was planted; empty when exact. */
export function compareWithPlanted(report: AuditReportShape, planted: Planted[]): string[] {
  const problems: string[] = [];
  for (const check of report.checks) {
    if (UNCONFIGURED_CHECKS.includes(check.id)) {
      if (check.status !== 'skipped' || !NO_RULES.test(check.reason ?? '')) problems.push(`${check.id} ${check.status}: ${check.reason ?? 'ran'}, expected skipped (no rules configured)`);
    } else if (check.status === 'error' || check.status === 'skipped') problems.push(`${check.id} ${check.status}: ${check.reason}`);
  }
  const key = (check: string, table: string, column: string | null, count: number | null) => `${check} ${table}${column ? `.${column}` : ''} = ${count ?? 'catalog'}`;
  const expected = planted.map((p) => key(p.check, p.table, p.column, p.count));
  const actual = report.findings.map((f) =>
    key(f.checkId, `${f.object.schema}.${f.object.table}`, f.object.column ?? (f.object.columns ? f.object.columns.join(',') : null), f.count),
  );
  const remaining = [...actual];
  for (const e of expected) {
    const i = remaining.indexOf(e);
    if (i >= 0) remaining.splice(i, 1);
    else problems.push(`missing: ${e}`);
  }
  for (const r of remaining) problems.push(`unexpected: ${r}`);
  return problems;
}
