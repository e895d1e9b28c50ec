import type { AuditReport } from '../findings.js';

/** The machine-readable report; its shape is documented in the README and checked by a contract test. */
export function renderJson(report: AuditReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
