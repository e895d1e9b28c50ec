import { z } from 'zod';
import type { IgnoreEntry } from '../config/schema.js';
import type { AuditReport, BaselineEntry } from '../findings.js';
import { UsageError } from '../errors.js';
import { globMatch } from '../glob.js';
import { objectNames } from '../object-names.js';

export const baselineFileSchema = z.strictObject({
  tool: z.literal('integrity'),
  formatVersion: z.literal(1),
  createdAt: z.string(),
  findings: z.array(
    z.strictObject({
      fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
      checkId: z.string(),
      object: z.record(z.string(), z.unknown()),
      count: z.number().int().nullable(),
    }),
  ),
});
export type BaselineFile = z.infer<typeof baselineFileSchema>;

export function baselineFrom(report: AuditReport, now: Date): BaselineFile {
  return {
    tool: 'integrity',
    formatVersion: 1,
    createdAt: now.toISOString(),
    findings: report.findings.map((f) => ({ fingerprint: f.fingerprint, checkId: f.checkId, object: { ...f.object }, count: f.count })),
  };
}

export function parseBaseline(text: string, file: string): BaselineFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`baseline ${file} is not valid JSON; write one with integrity baseline --output ${file}`);
  }
  const parsed = baselineFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`baseline ${file} is not an integrity baseline (${issue?.path.join('.') || 'top level'}: ${issue?.message}); write one with integrity baseline`);
  }
  return parsed.data;
}

/**
 * Marks the findings a baseline accepts (same fingerprint, count not grown) and those an ignore entry
 * covers; lists baseline entries that no longer occur and ignore entries past their date.
 */
export function applySuppressions(
  report: AuditReport,
  options: { baseline?: { file: string; data: BaselineFile }; ignore: IgnoreEntry[]; today: string },
): AuditReport {
  const findings = report.findings.map((f) => ({ ...f }));
  const out: AuditReport = { ...report, findings };
  const active = options.ignore.filter((i) => !i.until || i.until >= options.today);
  const expired = options.ignore.filter((i) => i.until && i.until < options.today);
  if (expired.length > 0) out.expiredIgnores = expired.map((i) => ({ check: i.check, object: i.object, reason: i.reason, until: i.until as string }));
  for (const f of findings) {
    const entry = active.find((i) => i.check === f.checkId && objectNames(f).some((n) => globMatch(i.object, n)));
    if (entry) f.ignored = { reason: entry.reason, until: entry.until ?? null };
  }
  if (options.baseline) {
    const known = new Map(options.baseline.data.findings.map((e) => [e.fingerprint, e]));
    let accepted = 0;
    for (const f of findings) {
      const e = known.get(f.fingerprint);
      if (e && (f.count === null || e.count === null || f.count <= e.count)) {
        f.baselined = true;
        accepted++;
      }
    }
    const present = new Set(findings.map((f) => f.fingerprint));
    const stale: BaselineEntry[] = options.baseline.data.findings
      .filter((e) => !present.has(e.fingerprint) && covered(report, e))
      .map((e) => ({ fingerprint: e.fingerprint, checkId: e.checkId, object: e.object as unknown as BaselineEntry['object'], count: e.count }));
    out.baseline = { file: options.baseline.file, accepted, stale };
  }
  return out;
}

/** Whether this audit could have seen the entry: its check ran to the end and its schema was audited. */
function covered(report: AuditReport, e: { checkId: string; object: Record<string, unknown> }): boolean {
  const check = report.checks.find((c) => c.id === e.checkId);
  return !!check && (check.status === 'passed' || check.status === 'failed') && report.options.schemas.includes(String(e.object.schema));
}

/**
 * The baseline without its stale entries (--prune-baseline). Entries this audit could not have seen
 * (a check not run, a schema not audited) are kept.
 */
export function pruneBaseline(data: BaselineFile, report: AuditReport): BaselineFile {
  const present = new Set(report.findings.map((f) => f.fingerprint));
  return { ...data, findings: data.findings.filter((e) => present.has(e.fingerprint) || !covered(report, e)) };
}
