import type { AuditReport, CheckResult } from '../findings.js';
import { ExpectationError, compareFindings, describeDifference, validateExpected, type ExpectedReportFinding } from './expected.js';

/** What a matcher returns to vitest's and jest's `expect.extend`. */
export interface MatcherResult {
  pass: boolean;
  message: () => string;
}

/** The part of the matcher context the matchers read (vitest and jest both provide it). */
interface MatcherContext {
  isNot?: boolean;
}

/**
 * Matchers over an AuditReport (what `audit()` returns, or `integrity check --format json` parsed).
 * Each passes only on a report that proves it: an errored check never passes, and neither does
 * silence (a skipped, sampled or absent check is not a pass).
 *
 * - `toHaveNoFindings()`: no finding at all, no check errored or sampled, and at least one check passed.
 *   Skipped checks are allowed here, since deselected checks are skipped too; name the check to require it ran.
 * - `toHaveNoFindings(checkId)`: that check is `passed` (so it ran and found nothing).
 * - `toHaveFindings(expected)`: the report's findings are exactly `expected` (each `{ checkId, object,
 *   count, ... }`, compared as the CheckTester compares them), and no check errored.
 * - `toPassCheck(checkId)`: that check's status is `passed`.
 */
export const integrityMatchers = {
  toHaveNoFindings(this: MatcherContext, received: unknown, checkId?: string): MatcherResult {
    const report = asReport(received);
    if (typeof report === 'string') return refused(report);
    if (checkId !== undefined) return passedCheck(report, checkId, 'toHaveNoFindings');
    const problems: string[] = [];
    if (report.findings.length > 0) problems.push(`${report.findings.length} finding(s): ${summary(report)}`);
    for (const c of report.checks) if (c.status === 'error' || c.status === 'sampled') problems.push(`check ${c.id} is ${c.status}${c.reason ? `: ${c.reason}` : ''}`);
    if (!report.checks.some((c) => c.status === 'passed' || c.status === 'failed')) problems.push('no check ran (every one was skipped), which proves nothing');
    return {
      pass: problems.length === 0,
      message: () => (problems.length === 0 ? 'expected the report to have findings or a check that did not pass, but every check that ran passed' : `expected no findings, but:\n  ${problems.join('\n  ')}`),
    };
  },

  toHaveFindings(this: MatcherContext, received: unknown, expected: readonly ExpectedReportFinding[]): MatcherResult {
    const report = asReport(received);
    if (typeof report === 'string') return refused(report);
    let valid: ExpectedReportFinding[];
    try {
      if (!Array.isArray(expected)) throw new ExpectationError('toHaveFindings takes an array of expected findings ([] for none)');
      valid = expected.map((e, i) => validateExpected(e, `expected[${i}]`, null));
    } catch (err) {
      if (err instanceof ExpectationError) return refused(err.message);
      throw err;
    }
    const comparison = compareFindings(valid, report.findings);
    const errored = report.checks.filter((c) => c.status === 'error');
    const pass = comparison.ok && errored.length === 0;
    return {
      pass,
      message: () => {
        if (pass) return `expected other findings than these ${valid.length}, but the report has exactly them`;
        const lines = [comparison.ok ? `the findings are as expected, but a check errored (what it did not read may hide more)` : describeDifference(comparison, true, valid.length, report.findings.length)];
        for (const c of errored) lines.push(`  check ${c.id} errored: ${c.reason ?? ''}`);
        return lines.join('\n');
      },
    };
  },

  toPassCheck(this: MatcherContext, received: unknown, checkId: string): MatcherResult {
    const report = asReport(received);
    if (typeof report === 'string') return refused(report);
    return passedCheck(report, checkId, 'toPassCheck');
  },
};

export type IntegrityMatchers = typeof integrityMatchers;

/** What `expect(...)` gains: one method per matcher, returning what the framework's assertions return. */
export interface IntegrityAssertions<R = unknown> {
  /** No findings and every check that ran passed; with a check id, that check ran and passed. */
  toHaveNoFindings(checkId?: string): R;
  /** Exactly these findings (by checkId, object and count; kind/fingerprint, severity, samples when given), and no check errored. */
  toHaveFindings(expected: readonly ExpectedReportFinding[]): R;
  /** The check ran and passed (status `passed`: not failed, skipped, sampled or errored). */
  toPassCheck(checkId: string): R;
}

/** Adds the matchers to a framework's `expect` (vitest's or jest's): `installMatchers(expect)`. */
export function installMatchers(expect: { extend(matchers: Record<string, unknown>): unknown }): void {
  expect.extend(integrityMatchers);
}

function passedCheck(report: AuditReport, checkId: string, matcher: string): MatcherResult {
  const result: CheckResult | undefined = report.checks.find((c) => c.id === checkId);
  const findings = report.findings.filter((f) => f.checkId === checkId);
  const pass = result?.status === 'passed' && findings.length === 0;
  return {
    pass,
    message: () => {
      if (pass) return `expected check ${checkId} not to pass, but it passed`;
      if (!result) return `${matcher}: the report has no check ${checkId}; checks: ${report.checks.map((c) => c.id).join(', ') || 'none'}`;
      const detail = result.status === 'failed' ? `: ${summary(report, checkId)}` : result.reason ? `: ${result.reason}` : '';
      return `expected check ${checkId} to pass, but it is ${result.status}${detail}`;
    },
  };
}

function summary(report: AuditReport, checkId?: string): string {
  const findings = report.findings.filter((f) => checkId === undefined || f.checkId === checkId);
  const shown = findings.slice(0, 5).map((f) => `${f.checkId} on ${f.object.schema}.${f.object.table}${f.object.column ? `.${f.object.column}` : ''} (count ${f.count ?? 'n/a'})`);
  return shown.join('; ') + (findings.length > shown.length ? `; and ${findings.length - shown.length} more` : '');
}

/** The report, or why the value is not one: these matchers read what audit() returns. */
function asReport(value: unknown): AuditReport | string {
  const v = value as Partial<AuditReport> | null;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.checks) || !Array.isArray(v.findings)) {
    return 'expected an audit report (what audit() returns, or the JSON report parsed), with checks and findings arrays';
  }
  return v as AuditReport;
}

/** A misuse fails whether or not the assertion is negated: `.not` must not turn a typo into a pass. */
function refused(message: string): never {
  throw new ExpectationError(message);
}

/*
 * The type declarations: `expect(report).toHaveNoFindings()` type-checks under vitest (its Matchers,
 * which Assertion extends) and under jest (@types/jest's global jest.Matchers). A project with
 * skipLibCheck off and neither framework installed sees an error for the vitest module; the frameworks'
 * own setup guides (vitest's "extending matchers") have the same shape.
 */
// The import makes 'vitest' resolvable for the augmentation below; it is a type and emits nothing.
import type {} from 'vitest';

declare module 'vitest' {
  // vitest declares Matchers<T = any>; a merged declaration must repeat its type parameters exactly.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-empty-object-type
  interface Matchers<T = any> extends IntegrityAssertions<T> {}
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace jest {
    // @types/jest declares Matchers<R, T = {}>; the same parameters, or the declarations do not merge.
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unused-vars
    interface Matchers<R, T = {}> extends IntegrityAssertions<R> {}
  }
}
