import type { ChalkInstance } from 'chalk';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import {
  SEVERITIES,
  type AuditReport,
  type CheckStatus,
  type FailOn,
  type Finding,
  type FindingChange,
  type FindingObject,
  type PreviousFinding,
  type ReportComparison,
} from '../findings.js';
import { describeObject } from '../object-names.js';
import { visible } from '../escape.js';
import { exitCodeFor } from './exit-code.js';
import { wrapText } from './wrap.js';

/**
 * What --compare reads of an earlier `--format json` report. Not strict: a report of another version may
 * carry fields this one does not know, and only these are needed to compare.
 */
const objectSchema = z.object({
  schema: z.string(),
  table: z.string(),
  column: z.string().optional(),
  columns: z.array(z.string()).optional(),
  index: z.string().optional(),
  constraint: z.string().optional(),
  trigger: z.string().optional(),
  sequence: z.string().optional(),
  sequenceSchema: z.string().optional(),
  references: z.object({ schema: z.string(), table: z.string(), columns: z.array(z.string()) }).optional(),
});

const previousReportSchema = z.object({
  tool: z.literal('integrity'),
  startedAt: z.string(),
  database: z.object({ name: z.string(), systemIdentifier: z.string().nullable().optional() }),
  options: z.object({ schemas: z.array(z.string()), deep: z.boolean(), samplePercent: z.number().nullable() }),
  checks: z.array(z.object({ id: z.string(), status: z.enum(['passed', 'sampled', 'failed', 'skipped', 'error']) })),
  findings: z.array(
    z.object({
      checkId: z.string(),
      severity: z.enum(SEVERITIES),
      message: z.string(),
      object: objectSchema,
      count: z.number().int().nullable(),
      fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
    }),
  ),
});
export type PreviousReport = z.infer<typeof previousReportSchema>;

/** An earlier JSON report, or a one-line usage error (exit 2) saying why the file is not one. */
export function parsePreviousReport(text: string, file: string): PreviousReport {
  const howTo = `write one with integrity check --format json --output ${file}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`--compare ${file} is not valid JSON, so not an integrity JSON report; ${howTo}`);
  }
  // A baseline is the likeliest wrong file: it has the tool's name but no run in it.
  if (typeof json === 'object' && json !== null && 'formatVersion' in json && !('startedAt' in json)) {
    throw new UsageError(`--compare ${file} is a baseline, not a JSON report (pass it to --baseline); ${howTo}`);
  }
  const parsed = previousReportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--compare ${file} is not an integrity JSON report (${issue?.path.join('.') || 'top level'}: ${issue?.message}); ${howTo}`);
  }
  return parsed.data;
}

/** Statuses of a check that ran to the end: only then does the absence of a finding mean it is gone. */
const FINISHED: ReadonlySet<CheckStatus> = new Set(['passed', 'failed']);

/**
 * Why this run could not have seen an earlier finding, or null when it could (so its absence means it was
 * fixed): its check did not run to the end now, its schema was not audited, or this run read less.
 */
function notRecheckedReason(report: AuditReport, previous: PreviousReport, p: PreviousFinding): string | null {
  const check = report.checks.find((c) => c.id === p.checkId);
  if (!check) return `check ${p.checkId} is not in this run`;
  if (check.selected === false) return `check ${p.checkId} was not selected`;
  if (check.status === 'skipped') return `check ${p.checkId} was skipped`;
  if (check.status === 'error') return `check ${p.checkId} errored`;
  if (check.status === 'sampled') return `check ${p.checkId} only sampled the tables`;
  if (!report.options.schemas.includes(p.object.schema)) return `schema ${p.object.schema} was not audited`;
  if (report.options.samplePercent !== null) return `this run read only ${report.options.samplePercent}% of the rows (--sample-percent)`;
  if (previous.options.deep && !report.options.deep) return 'the earlier run had --deep and this one does not';
  return null;
}

/**
 * Whether the earlier run could have seen a finding of this one: its check ran to the end over its schema,
 * reading every row, with --deep when this one has it. Else a finding missing there may be older.
 */
function seenBefore(report: AuditReport, previous: PreviousReport, f: Finding): boolean {
  const check = previous.checks.find((c) => c.id === f.checkId);
  return (
    !!check &&
    FINISHED.has(check.status) &&
    previous.options.schemas.includes(f.object.schema) &&
    previous.options.samplePercent === null &&
    (previous.options.deep || !report.options.deep)
  );
}

function changeOf(report: AuditReport, f: Finding, before: PreviousFinding | undefined, previous: PreviousReport): FindingChange {
  if (!before) return seenBefore(report, previous, f) ? { status: 'new' } : { status: 'new', uncheckedBefore: true };
  // As a baseline compares: by fingerprint, then by count; a schema-level finding (no count) is unchanged.
  const status = f.count === null || before.count === null || f.count === before.count ? 'unchanged' : f.count > before.count ? 'grown' : 'shrunk';
  return { status, previousCount: before.count };
}

/** Another database than the earlier report's: another name, or another cluster when both know theirs. */
function isOtherDatabase(report: AuditReport, previous: PreviousReport): boolean {
  const now = report.database.systemIdentifier ?? null;
  const then = previous.database.systemIdentifier ?? null;
  return report.database.name !== previous.database.name || (now !== null && then !== null && now !== then);
}

/** The report with each finding marked against the earlier one, and a `comparison` listing what was fixed. */
export function compareWithPrevious(report: AuditReport, previous: { file: string; data: PreviousReport }): AuditReport {
  const earlier = previous.data;
  const before = new Map<string, PreviousFinding>();
  for (const p of earlier.findings) if (!before.has(p.fingerprint)) before.set(p.fingerprint, toPreviousFinding(p));
  const findings = report.findings.map((f) => ({ ...f, change: changeOf(report, f, before.get(f.fingerprint), earlier) }));
  const present = new Set(findings.map((f) => f.fingerprint));
  const fixed: PreviousFinding[] = [];
  const notRechecked: ReportComparison['notRechecked'] = [];
  for (const p of before.values()) {
    if (present.has(p.fingerprint)) continue;
    const reason = notRecheckedReason(report, earlier, p);
    if (reason === null) fixed.push(p);
    else notRechecked.push({ ...p, reason });
  }
  const count = (status: FindingChange['status']) => findings.filter((f) => f.change.status === status).length;
  const comparison: ReportComparison = {
    file: previous.file,
    previous: { startedAt: earlier.startedAt, database: { name: earlier.database.name, systemIdentifier: earlier.database.systemIdentifier ?? null } },
    otherDatabase: isOtherDatabase(report, earlier),
    counts: { new: count('new'), unchanged: count('unchanged'), grown: count('grown'), shrunk: count('shrunk'), fixed: fixed.length, notRechecked: notRechecked.length },
    fixed,
    notRechecked,
  };
  return { ...report, findings, comparison };
}

function toPreviousFinding(p: PreviousReport['findings'][number]): PreviousFinding {
  return { fingerprint: p.fingerprint, checkId: p.checkId, severity: p.severity, message: p.message, object: p.object, count: p.count };
}

/** One line when the earlier report is of another database, else null. */
export function otherDatabaseWarning(report: AuditReport): string | null {
  const c = report.comparison;
  if (!c?.otherDatabase) return null;
  const label = (name: string, id: string | null | undefined) => `${name}${id ? ` (system ${id})` : ''}`;
  return `warning: --compare ${c.file} is a report of database ${label(c.previous.database.name, c.previous.database.systemIdentifier)}, not of ${label(report.database.name, report.database.systemIdentifier)}: what it calls new or fixed may mean nothing`;
}

/** The day of the earlier run, for "since 2026-11-30". */
function sinceDay(c: ReportComparison): string {
  return /^\d{4}-\d{2}-\d{2}T/.test(c.previous.startedAt) ? c.previous.startedAt.slice(0, 10) : c.previous.startedAt;
}

/** A finding's check and the first line of its object, as "orphan-rows in public.orders.customer_id". */
function findingLabel(f: { checkId: string; object: FindingObject }): string {
  return `${f.checkId} in ${describeObject(f.object).split('\n')[0] ?? ''}`;
}

const MOST_NAMED = 3;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "a grew from 3 to 41, b grew from 1 to 2, 2 more grew": the first few of a kind by name, the rest counted. */
function namedChanges(findings: Finding[], verb: string): string[] {
  const parts = findings.slice(0, MOST_NAMED).map((f) => `${findingLabel(f)} ${verb} from ${f.change?.previousCount} to ${f.estimated ? '~' : ''}${f.count}`);
  if (findings.length > MOST_NAMED) parts.push(`${findings.length - MOST_NAMED} more ${verb}`);
  return parts;
}

/**
 * What changed since the earlier report, in one line that the human formats lead with, e.g.
 * "2 new findings, orphan-rows in public.orders.customer_id grew from 3 to 41, 1 fixed since 2026-11-30";
 * null without --compare. Plain text: each format escapes it as it escapes data.
 */
export function comparisonLead(report: AuditReport): string | null {
  const c = report.comparison;
  if (!c) return null;
  const byGrowth = (a: Finding, b: Finding) => Math.abs((b.count ?? 0) - (b.change?.previousCount ?? 0)) - Math.abs((a.count ?? 0) - (a.change?.previousCount ?? 0));
  const grown = report.findings.filter((f) => f.change?.status === 'grown').sort(byGrowth);
  const shrunk = report.findings.filter((f) => f.change?.status === 'shrunk').sort(byGrowth);
  const unseen = report.findings.filter((f) => f.change?.uncheckedBefore).length;
  const parts = [
    ...(c.counts.new > 0 ? [`${plural(c.counts.new, 'new finding')}${unseen > 0 ? ` (${unseen} not looked for then)` : ''}`] : []),
    ...namedChanges(grown, 'grew'),
    ...(c.counts.fixed > 0 ? [`${c.counts.fixed} fixed`] : []),
    ...namedChanges(shrunk, 'shrank'),
  ];
  const notRechecked = c.counts.notRechecked > 0 ? `${plural(c.counts.notRechecked, 'earlier finding')} not rechecked` : null;
  if (parts.length === 0) {
    const unchanged = c.counts.unchanged > 0 ? `${plural(c.counts.unchanged, 'finding')} unchanged` : 'no finding then or now';
    return `no change since ${sinceDay(c)} (${[unchanged, ...(notRechecked ? [notRechecked] : [])].join(', ')})`;
  }
  return `${parts.join(', ')} since ${sinceDay(c)}${notRechecked ? `; ${notRechecked}` : ''}`;
}

const MOST_LISTED = 10;

/**
 * The lines under the lead: each finding fixed since (the first ten, then a count), and why earlier
 * findings that this run could not have seen are not called fixed. Plain text, as the lead.
 */
export function comparisonDetails(report: AuditReport): string[] {
  const c = report.comparison;
  if (!c) return [];
  const lines = c.fixed.slice(0, MOST_LISTED).map((p) => `fixed: ${findingLabel(p)}${p.count === null ? '' : ` (was ${p.count})`}`);
  if (c.fixed.length > MOST_LISTED) lines.push(`and ${c.fixed.length - MOST_LISTED} more fixed`);
  if (c.notRechecked.length > 0) {
    const reasons = [...new Set(c.notRechecked.map((p) => p.reason))];
    lines.push(`not counted as fixed, since this run could not have seen ${c.notRechecked.length === 1 ? 'it' : 'them'}: ${plural(c.notRechecked.length, 'earlier finding')} (${reasons.join('; ')})`);
  }
  return lines;
}

/** Whether a finding fails a --fail-on-new run: it is new, or its count grew. */
export function isNewOrGrown(f: Finding): boolean {
  return f.change?.status === 'new' || f.change?.status === 'grown';
}

/**
 * The exit code of a --fail-on-new run: as exitCodeFor (2 for an errored check or an empty audit), but only
 * new and grown findings at or above the threshold fail it; unchanged and shrunk ones do not.
 */
export function exitCodeForNew(report: AuditReport, failOn: FailOn, options: { allowEmpty?: boolean } = {}): number {
  return exitCodeFor({ ...report, findings: report.findings.filter(isNewOrGrown) }, failOn, options);
}

/**
 * What the summaries call the findings no baseline or ignore accepts: "new", except under --compare, where
 * "new" means new since the earlier report and the lead line says how many are.
 */
export function unacceptedWord(report: Pick<AuditReport, 'comparison'>): string {
  return report.comparison ? 'unaccepted' : 'new';
}

/** After a finding's count in the human formats: " (new)", " (was 3)" for a count that grew or shrank; else nothing. */
export function changeNote(f: Finding): string {
  if (!f.change) return '';
  if (f.change.status === 'new') return f.change.uncheckedBefore ? ' (new, not looked for then)' : ' (new)';
  if (f.change.status === 'grown' || f.change.status === 'shrunk') return ` (was ${f.change.previousCount})`;
  return '';
}

/** The pretty report's opening block with --compare: the lead in bold, the details in grey, a blank line. */
export function prettyComparison(report: AuditReport, chalk: ChalkInstance, width: number): string[] {
  const lead = comparisonLead(report);
  if (lead === null) return [];
  return [wrapText(chalk.bold(visible(lead)), width, '  '), ...comparisonDetails(report).map((l) => chalk.gray(wrapText(`  ${visible(l)}`, width, '    '))), ''];
}

/** The Markdown report's opening lines with --compare; `escape` is the report's own escaping of text. */
export function markdownComparison(report: AuditReport, escape: (text: string) => string): string[] {
  const lead = comparisonLead(report);
  if (lead === null) return [];
  const details = comparisonDetails(report).map((l) => `- ${escape(visible(l))}`);
  return [`**${escape(visible(lead))}** (compared with ${escape(visible(report.comparison?.file ?? ''))})`, '', ...(details.length > 0 ? [...details, ''] : [])];
}

/** The GitHub format's first annotation with --compare: a notice whose title is the lead and whose body lists the details. */
export function githubComparison(report: AuditReport, escapeProperty: (text: string) => string, escapeData: (text: string) => string): string[] {
  const lead = comparisonLead(report);
  if (lead === null) return [];
  const body = [lead, ...comparisonDetails(report)].map(visible).join('\n');
  return [`::notice title=${escapeProperty('integrity: what changed')}::${escapeData(body)}`];
}

/** The webhook payload's `comparison`: the counts, the earlier run, and the first fixed findings. */
export function webhookComparison(report: AuditReport): Record<string, unknown> {
  const c = report.comparison;
  if (!c) return {};
  return { comparison: { file: c.file, previousStartedAt: c.previous.startedAt, otherDatabase: c.otherDatabase, counts: c.counts, fixed: c.fixed.slice(0, 100) } };
}

/**
 * The --compare file, read and checked before the audit so that a wrong path fails at once; undefined
 * without --compare. --fail-on-new needs it: with nothing to compare, nothing would be new.
 */
export function loadPreviousReport(opts: { compare?: string; failOnNew?: boolean }, cwd: string): { file: string; data: PreviousReport } | undefined {
  if (opts.failOnNew && !opts.compare) throw new UsageError('--fail-on-new needs --compare PREVIOUS.json (a report of an earlier run, from --format json)');
  if (!opts.compare) return undefined;
  const file = path.resolve(cwd, opts.compare);
  if (!existsSync(file)) throw new UsageError(`--compare ${opts.compare} does not exist; write one with integrity check --format json --output ${opts.compare}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--compare ${opts.compare} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { file: opts.compare, data: parsePreviousReport(text, opts.compare) };
}

/** The report compared with the earlier one when there is one, else as it is. */
export function comparedWith(previous: { file: string; data: PreviousReport } | undefined, report: AuditReport): AuditReport {
  return previous ? compareWithPrevious(report, previous) : report;
}
