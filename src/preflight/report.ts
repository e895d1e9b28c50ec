import { makeFinding } from '../check.js';
import { EXIT } from '../errors.js';
import { visible } from '../escape.js';
import { SEVERITY_RANK, compareFindings, type AuditReport, type CheckResult, type FailOn, type Finding } from '../findings.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import type { JudgeRun, StatementVerdict } from './judge.js';
import { PREFLIGHT_RULES } from './rules.js';
import type { StatementLocation } from './statements.js';

/** A finding of preflight: always on one statement of a migration. */
export interface PreflightFinding extends Finding {
  /** The statement's file and line (also in `source`, which SARIF and GitHub annotations point at). */
  location: StatementLocation;
}

export interface NotJudged {
  file: string;
  line: number;
  statement: string;
  reason: string;
}

/** What preflight read, and where the list of migrations came from. */
export interface PreflightSummary {
  files: string[];
  statements: number;
  /** Statements every part of which was judged (or that data cannot make fail: SET, BEGIN, COMMIT). */
  judged: number;
  notJudged: NotJudged[];
  /** How the files were chosen, when not given on the command line. */
  discovery?: { folder: string; tool: string | null; table: string | null; applied: string[]; pending: string[]; note: string };
  statementsJudged: StatementVerdict[];
}

export interface PreflightReport extends AuditReport {
  findings: PreflightFinding[];
  preflight: PreflightSummary;
}

export interface ReportContext {
  database: AuditReport['database'];
  startedAt: Date;
  durationMs: number;
  schemas: string[];
  failOn: FailOn;
  scope: AuditReport['scope'];
  files: string[];
  discovery?: PreflightSummary['discovery'];
  warnings?: string[];
}

const where = (l: StatementLocation) => `${l.file}:${l.line}`;

/**
 * A judge's message names what its samples are ("(samples: primary key (id))"); with no sample given
 * (--samples 0, samples.exclude, or a count of rows whose keys were withheld) that would announce a list
 * the report does not have, so it goes. One level of parentheses inside is allowed, as in that example.
 */
export function withoutEmptySamples(message: string, samples: string[]): string {
  if (samples.length > 0) return message;
  return message.replace(/ \(samples: [^()]*(?:\([^()]*\)[^()]*)*\)/g, '');
}

/** Turns the judgements into the same report `check` writes: one "check" per rule, findings on statement lines. */
export function buildPreflightReport(run: JudgeRun, ctx: ReportContext): PreflightReport {
  const findings: PreflightFinding[] = [];
  const severityOf = new Map<string, (typeof PREFLIGHT_RULES)[number]['severity']>(PREFLIGHT_RULES.map((r) => [r.id, r.severity]));
  for (const input of run.findings) {
    const f = makeFinding(input.rule, severityOf.get(input.rule) ?? 'error', {
      // The file is part of what the finding is: the same constraint added by another migration is another finding.
      kind: `${input.kind}@${input.location.file}`,
      ...(input.severity ? { severity: input.severity } : {}),
      // Messages quote the migration's names and expressions, which may hold line ends: one line each.
      message: visible(withoutEmptySamples(input.message, input.samples)),
      object: input.object,
      count: input.count,
      samples: input.samples,
      ...(input.details ? { details: input.details } : {}),
    });
    findings.push({ ...f, source: { ...input.location }, location: { ...input.location } });
  }
  const notJudged: NotJudged[] = [];
  for (const v of run.verdicts) {
    for (const o of v.outcomes) {
      if (o.status !== 'not-judged') continue;
      const reason = o.reason ?? 'not judged';
      notJudged.push({ file: v.location.file, line: v.location.line, statement: v.statement, reason });
      const f = makeFinding('preflight/not-judged', 'info', {
        // By its place in the file, not its line: a baseline survives lines added above it.
        kind: `not-judged@${v.location.file}#${v.ordinal}:${o.rule}`,
        message: visible(`${v.statement} at ${where(v.location)} was not judged: ${reason}`),
        object: v.relation ?? { schema: '', table: '' },
        count: null,
        samples: [],
        details: { statement: v.statement, reason },
      });
      findings.push({ ...f, source: { ...v.location }, location: { ...v.location } });
    }
  }
  // By rule, then in the order the statements run.
  const fileOrder = new Map(ctx.files.map((f, i) => [f, i]));
  findings.sort(
    (a, b) =>
      a.checkId.localeCompare(b.checkId) ||
      (fileOrder.get(a.location.file) ?? 0) - (fileOrder.get(b.location.file) ?? 0) ||
      a.location.line - b.location.line ||
      compareFindings(a, b),
  );

  const statements = run.verdicts.length;
  const checks: CheckResult[] = PREFLIGHT_RULES.map((rule) => {
    const outcomes = run.verdicts.flatMap((v) => v.outcomes.filter((o) => o.rule === rule.id).map((o) => ({ v, o })));
    const mine = findings.filter((f) => f.checkId === rule.id);
    const errors = outcomes.filter(({ o }) => o.status === 'error');
    const judged = outcomes.filter(({ o }) => o.status === 'passed' || o.status === 'failed');
    const notes = outcomes.filter(({ o }) => o.note).map(({ v, o }) => `${where(v.location)}: ${o.note}`);
    const base = { id: rule.id, title: rule.title, severity: rule.severity, durationMs: 0, findings: mine.length };
    if (rule.id === 'preflight/not-judged') {
      const n = notJudged.length;
      const named = notJudged.slice(0, 5).map((x) => `${x.statement} at ${x.file}:${x.line}`);
      return {
        ...base,
        status: errors.length > 0 ? 'error' : n > 0 ? 'failed' : 'passed',
        reason: errors.length > 0 ? errors.map(({ v, o }) => `${where(v.location)}: ${o.reason}`).join('; ') : null,
        note: n > 0 ? `${n} statement part${n === 1 ? '' : 's'} not judged: ${named.join(', ')}${n > 5 ? `, and ${n - 5} more` : ''}` : 'every statement was judged',
      };
    }
    if (errors.length > 0) {
      return {
        ...base,
        status: 'error',
        reason: errors.map(({ v, o }) => `${where(v.location)} ${v.statement} could not be judged: ${o.reason}`).join('; '),
        note: null,
      };
    }
    // Syntax is looked at in every statement, and only a failure is an outcome.
    if (judged.length === 0 && rule.id === 'preflight/syntax') return { ...base, status: 'passed', reason: null, note: `no statement uses syntax the server lacks, of the syntax preflight knows the release of (${statements} statements looked at)` };
    if (judged.length === 0) return { ...base, status: 'skipped', reason: 'no statement of this kind was judged', note: null };
    const count = `judged ${judged.length} statement${judged.length === 1 ? '' : 's'}`;
    return { ...base, status: mine.length > 0 ? 'failed' : 'passed', reason: null, note: [count, ...notes].join('; ') };
  });

  const judged = run.verdicts.filter((v) => v.outcomes.every((o) => o.status === 'passed' || o.status === 'failed')).length;
  const summary: AuditReport['summary'] = { checks: { passed: 0, sampled: 0, failed: 0, skipped: 0, error: 0 }, findings: { error: 0, warning: 0, info: 0 } };
  for (const c of checks) summary.checks[c.status]++;
  for (const f of findings) summary.findings[f.severity]++;
  return {
    version: TOOL_VERSION,
    tool: TOOL_NAME,
    database: ctx.database,
    startedAt: ctx.startedAt.toISOString(),
    durationMs: ctx.durationMs,
    ...(ctx.warnings?.length ? { warnings: ctx.warnings } : {}),
    options: { schemas: ctx.schemas, deep: false, failOn: ctx.failOn, samplePercent: null },
    scope: ctx.scope,
    summary,
    checks,
    findings,
    preflight: {
      files: ctx.files,
      statements,
      judged,
      notJudged,
      ...(ctx.discovery ? { discovery: ctx.discovery } : {}),
      statementsJudged: run.verdicts,
    },
  };
}

/**
 * As `check`: 2 when a judgement errored (a statement could not be judged for a reason other than its
 * kind), 1 when a finding not accepted by the baseline or an ignore is at or above --fail-on, else 0.
 * A statement not judged is an `info` finding: `--fail-on info` fails on it.
 */
export function preflightExitCode(report: PreflightReport, failOn: FailOn): number {
  if (report.checks.some((c) => c.status === 'error')) return EXIT.auditFailed;
  if (failOn === 'never') return EXIT.ok;
  const threshold = SEVERITY_RANK[failOn];
  return report.findings.some((f) => !f.baselined && !f.ignored && SEVERITY_RANK[f.severity] <= threshold) ? EXIT.findings : EXIT.ok;
}

/** The line the pretty report ends with: how many statements were read, judged, and not judged. */
export function preflightSummaryLine(report: PreflightReport): string {
  const p = report.preflight;
  const files = `${p.files.length} file${p.files.length === 1 ? '' : 's'}`;
  const not = p.statements - p.judged;
  return `preflight: ${p.statements} statement${p.statements === 1 ? '' : 's'} in ${files}; ${p.judged} judged, ${not} not judged${not > 0 ? ' (see preflight/not-judged: not judged is not passed)' : ''}`;
}
