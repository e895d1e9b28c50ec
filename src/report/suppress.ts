import { z } from 'zod';
import type { IgnoreEntry } from '../config/schema.js';
import type { AuditReport, BaselineEntry } from '../findings.js';
import { UsageError } from '../errors.js';
import type { AuditOptions } from '../engine/runner.js';
import { globMatch } from '../glob.js';
import { objectNames } from '../object-names.js';

/**
 * The options of the audit a baseline was recorded with that change what it can find: a gate run with
 * more (--deep, another schema, another check) fails on findings the baseline never saw.
 */
const auditedWithSchema = z.strictObject({
  deep: z.boolean(),
  amcheck: z.boolean(),
  samplePercent: z.number().nullable(),
  schemas: z.array(z.string()),
  checks: z.array(z.string()),
});
export type AuditedWith = z.infer<typeof auditedWithSchema>;

export const baselineFileSchema = z.strictObject({
  tool: z.literal('integrity'),
  formatVersion: z.literal(1),
  createdAt: z.string(),
  /** Absent in baselines written before it was recorded: nothing is then compared. */
  auditedWith: auditedWithSchema.optional(),
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

/** What an audit was run with, as a baseline records it: the schemas it covered and the checks it ran, sorted. */
export function auditedWith(options: Pick<AuditOptions, 'deep' | 'amcheck' | 'samplePercent' | 'selected'>, report: Pick<AuditReport, 'options'>): AuditedWith {
  return {
    deep: options.deep,
    amcheck: options.amcheck ?? false,
    samplePercent: options.samplePercent ?? null,
    schemas: [...report.options.schemas].sort(),
    checks: [...options.selected].sort(),
  };
}

export function baselineFrom(report: AuditReport, now: Date, recorded?: AuditedWith): BaselineFile {
  return {
    tool: 'integrity',
    formatVersion: 1,
    createdAt: now.toISOString(),
    ...(recorded ? { auditedWith: recorded } : {}),
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
      .filter((e) => !present.has(e.fingerprint) && covered(report, e, options.baseline?.data))
      .map((e) => ({ fingerprint: e.fingerprint, checkId: e.checkId, object: e.object as unknown as BaselineEntry['object'], count: e.count }));
    out.baseline = { file: options.baseline.file, accepted, stale };
  }
  return out;
}

/**
 * Whether this audit could have seen the entry: its check ran to the end, its schema was audited, and the
 * audit read what the baseline's did: a sampled run can miss any row, and a run without --deep cannot
 * see what only --deep finds, so after those no entry is stale (and --prune-baseline keeps them all).
 */
function covered(report: AuditReport, e: { checkId: string; object: Record<string, unknown> }, data: BaselineFile | undefined): boolean {
  if (report.options.samplePercent !== null) return false;
  if (data?.auditedWith?.deep && !report.options.deep) return false;
  const check = report.checks.find((c) => c.id === e.checkId);
  return !!check && (check.status === 'passed' || check.status === 'failed') && report.options.schemas.includes(String(e.object.schema));
}

/**
 * The baseline without its stale entries (--prune-baseline). Entries this audit could not have seen
 * (a check not run, a schema not audited) are kept.
 */
export function pruneBaseline(data: BaselineFile, report: AuditReport): BaselineFile {
  const present = new Set(report.findings.map((f) => f.fingerprint));
  return { ...data, findings: data.findings.filter((e) => present.has(e.fingerprint) || !covered(report, e, data)) };
}

/** The command-line options of a run that say what it audits, to repeat them in the command a warning suggests. */
export interface ScopeFlags {
  config?: string;
  schema?: string[];
  check?: string[];
  skip?: string[];
  deep: boolean;
  amcheck?: boolean;
  samplePercent?: number;
  sample?: number;
}

function quoteArg(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `integrity baseline` with the options of this run that decide what it finds, and the baseline's file. */
function baselineCommandFor(flags: ScopeFlags, file: string): string {
  const samplePercent = flags.samplePercent ?? flags.sample;
  const args = [
    ...(flags.config ? ['--config', flags.config] : []),
    ...(flags.schema ?? []).flatMap((s) => ['--schema', s]),
    ...(flags.check ?? []).flatMap((c) => ['--check', c]),
    ...(flags.skip ?? []).flatMap((c) => ['--skip', c]),
    ...(flags.deep ? ['--deep'] : []),
    ...(flags.amcheck ? ['--amcheck'] : []),
    ...(samplePercent !== undefined ? ['--sample-percent', String(samplePercent)] : []),
    '--output',
    file,
  ];
  return ['integrity baseline', ...args.map(quoteArg)].join(' ');
}

/**
 * One line when this run can see findings the baseline's audit could not (it runs with --deep or
 * --amcheck and the baseline's did not, reads another share of the tables, covers a schema or runs a
 * check the baseline's did not), saying what differs and the command that records a baseline to match;
 * else null. Running with less than the baseline (no --deep, fewer checks) is no mismatch: all it sees,
 * the baseline saw.
 */
export function baselineScopeWarning(file: string, data: BaselineFile, now: AuditedWith, flags: ScopeFlags): string | null {
  const then = data.auditedWith;
  if (!then) return null;
  const differences: string[] = [];
  if (now.deep && !then.deep) differences.push('without --deep');
  if (now.amcheck && !then.amcheck) differences.push('without --amcheck');
  if (now.samplePercent !== then.samplePercent) {
    differences.push(then.samplePercent === null ? 'reading whole tables' : `with --sample-percent ${then.samplePercent}`);
  }
  const newSchemas = now.schemas.filter((s) => !then.schemas.includes(s));
  if (newSchemas.length > 0) differences.push(`without schema${newSchemas.length === 1 ? '' : 's'} ${newSchemas.join(', ')}`);
  const newChecks = now.checks.filter((c) => !then.checks.includes(c));
  if (newChecks.length > 0) differences.push(`without check${newChecks.length === 1 ? '' : 's'} ${newChecks.join(', ')}`);
  if (differences.length === 0) return null;
  return `warning: baseline ${file} was recorded ${differences.join(', ')}, so this run can fail on findings it never saw; to record one that matches, run ${baselineCommandFor(flags, file)} (with this run's connection)`;
}

/**
 * The failed checks whose every finding a baseline or an ignore accepts: they do not fail the run, and the
 * summary says so ("3 failed, all accepted") rather than leave a passing run reading as failed.
 */
export function acceptedFailures(report: Pick<AuditReport, 'checks' | 'findings'>): { failed: number; accepted: number } {
  const failed = report.checks.filter((c) => c.status === 'failed');
  const accepted = failed.filter((c) => {
    const findings = report.findings.filter((f) => f.checkId === c.id);
    return findings.length > 0 && findings.every((f) => f.baselined || f.ignored);
  });
  return { failed: failed.length, accepted: accepted.length };
}

/** A summary's check counts with what `acceptedFailures` says added to "N failed". */
export function withAcceptedFailures(counts: string, report: Pick<AuditReport, 'checks' | 'findings'>): string {
  const { failed, accepted } = acceptedFailures(report);
  if (accepted === 0) return counts;
  const note = accepted === failed ? ', all accepted' : ` (${accepted} with only accepted findings)`;
  return counts.replace(/\b(\d+ failed)\b/, `$1${note}`);
}
