import { z } from 'zod';
import type { IgnoreEntry } from '../config/schema.js';
import type { AuditReport, BaselineEntry, Finding } from '../findings.js';
import { UsageError } from '../errors.js';

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

/** Counts the steps a glob match takes, for tests that prove it linear. */
export interface GlobMeter {
  steps: number;
}

/**
 * Whether `text` matches `glob` as a whole, where `*` is any run of characters (none included) and `?`
 * exactly one character; everything else, `\\` and `[` included, stands for itself, case-sensitively.
 * Characters are code points, so `?` matches an emoji, and `*` and `?` match line ends too (a name may
 * hold one). The classic two-pointer algorithm: when a character does not match, only the last `*` is
 * retried, one character further on, so a match takes at most (|text| + 1) x (|glob| + 1) steps whatever
 * the number of stars; a regular expression of `.*` runs backtracks exponentially in them.
 */
export function globMatch(glob: string | readonly string[], text: string | readonly string[], meter?: GlobMeter): boolean {
  const p = typeof glob === 'string' ? Array.from(glob) : glob;
  const t = typeof text === 'string' ? Array.from(text) : text;
  let pi = 0;
  let ti = 0;
  let star = -1;
  let resume = 0;
  let steps = 0;
  while (ti < t.length) {
    steps++;
    const pc = p[pi];
    if (pc === '*') {
      // Let the star match nothing for now; remember where to resume if that fails.
      star = pi++;
      resume = ti;
    } else if (pi < p.length && (pc === '?' || pc === t[ti])) {
      pi++;
      ti++;
    } else if (star >= 0) {
      // The last star takes one more character; anything before it stays matched.
      pi = star + 1;
      ti = ++resume;
    } else {
      if (meter) meter.steps += steps;
      return false;
    }
  }
  while (p[pi] === '*') {
    steps++;
    pi++;
  }
  if (meter) meter.steps += steps;
  return pi === p.length;
}

/** A compiled glob: `test` as on a RegExp, by `globMatch`. */
export interface GlobMatcher {
  readonly glob: string;
  test(text: string): boolean;
}

export function globMatcher(glob: string): GlobMatcher {
  const pattern = Array.from(glob);
  return { glob, test: (text: string) => globMatch(pattern, text) };
}

const REGEXP_SPECIAL = /[.+^${}()|[\]\\/]/g;

/**
 * The regular expression a glob once compiled to, rebuilt so that it cannot backtrack: `test` is
 * `globMatch`, and `exec` (and so `match`, `replace`, ...) runs an equivalent pattern in which each
 * literal run between stars is taken at its first occurrence inside an atomic lookahead, as the
 * two-pointer algorithm does. Kept for callers that hold RegExp[]; new code should use `globMatcher`.
 */
class GlobRegExp extends RegExp {
  /** split() and matchAll() build their own copy: a plain RegExp of the same source. */
  static override get [Symbol.species](): RegExpConstructor {
    return RegExp;
  }
  readonly #pattern: readonly string[];
  constructor(glob: string) {
    const segments = glob.split('*').map((seg) => seg.replace(REGEXP_SPECIAL, '\\$&').replace(/\?/g, '.'));
    let body: string;
    if (segments.length === 1) body = segments[0] as string;
    else {
      const middle = segments.slice(1, -1).map((seg, i) => `(?=([\\s\\S]*?${seg}))\\${i + 1}`);
      body = `${segments[0]}${middle.join('')}[\\s\\S]*${segments[segments.length - 1]}`;
    }
    super(`^${body}$`, 'su');
    this.#pattern = Array.from(glob);
  }
  override test(text: string): boolean {
    return globMatch(this.#pattern, String(text));
  }
}

/** A glob as a RegExp whose `test` and `exec` both take linear time; see `globMatch` for the rules. */
export function globToRegExp(glob: string): RegExp {
  return new GlobRegExp(glob);
}

/** The names an ignore's glob is matched against: `schema.table` and `schema.table.column` for each column. */
export function objectNames(f: Finding): string[] {
  const base = `${f.object.schema}.${f.object.table}`;
  const columns = f.object.column ? [f.object.column] : (f.object.columns ?? []);
  return [base, ...columns.map((c) => `${base}.${c}`)];
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
