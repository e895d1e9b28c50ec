import { SEVERITIES, fingerprintOf, type Finding, type FindingObject, type Severity } from '../findings.js';

/**
 * A finding a test expects, compared exactly on what it names and never on the message prose: the
 * object (every key, deeply, key order aside) and the count always; severity, samples (as a set) and
 * `estimated` when given; the fingerprint when given, or computed from `kind` (the kind the check passes
 * to `ctx.finding`) and the object.
 */
export interface ExpectedFinding {
  /** Optional in a CheckTester case, where it must be the check under test (so a report's finding can be pasted in). */
  checkId?: string;
  /** The kind the check gave `ctx.finding`; compared through the fingerprint it makes with the object. */
  kind?: string;
  /** The finding's fingerprint, as the JSON report shows it. */
  fingerprint?: string;
  severity?: Severity;
  object: FindingObject;
  /** Rows affected; null for a schema-level finding. */
  count: number | null;
  /** Sample key values, compared as a set (their order is the check's business). */
  samples?: string[];
  /** True when the count is an estimate from samplePercent. */
  estimated?: boolean;
}

/** An expected finding of a whole report: the same, with the check it belongs to. */
export interface ExpectedReportFinding extends ExpectedFinding {
  checkId: string;
}

const FIELDS = new Set(['checkId', 'kind', 'fingerprint', 'severity', 'object', 'count', 'samples', 'estimated']);
const OBJECT_FIELDS = new Set(['schema', 'table', 'column', 'columns', 'index', 'constraint', 'references']);

/** A table of expected findings that cannot be compared: a mistake in the test, not in the check. */
export class ExpectationError extends Error {
  override name = 'ExpectationError';
}

/**
 * Checks one expected finding's shape and says what is wrong with it in one line. `checkId` is required
 * when `owner` is null (a whole report's findings), else optional and must equal `owner`.
 */
export function validateExpected(value: unknown, where: string, owner: string | null): ExpectedReportFinding {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ExpectationError(`${where}: expected an object { object, count, ... }, got ${describe(value)}`);
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (key === 'message') throw new ExpectationError(`${where}: "message" is never compared (messages are prose and may change); assert kind, object and count`);
    if (!FIELDS.has(key)) throw new ExpectationError(`${where}: unknown field "${key}" (expected ${[...FIELDS].join(', ')})`);
  }
  if (owner === null && typeof v.checkId !== 'string') throw new ExpectationError(`${where}: "checkId" is required (which check makes this finding?)`);
  if (owner !== null && v.checkId !== undefined && v.checkId !== owner) throw new ExpectationError(`${where}: checkId ${JSON.stringify(v.checkId)} is not the check under test (${owner})`);
  const o = v.object;
  if (typeof o !== 'object' || o === null || typeof (o as { schema?: unknown }).schema !== 'string' || typeof (o as { table?: unknown }).table !== 'string') {
    throw new ExpectationError(`${where}: "object" must be { schema, table, ... } as in the report`);
  }
  for (const key of Object.keys(o)) if (!OBJECT_FIELDS.has(key)) throw new ExpectationError(`${where}: unknown object field "${key}" (expected ${[...OBJECT_FIELDS].join(', ')})`);
  if (!('count' in v)) throw new ExpectationError(`${where}: "count" is required (a number, or null for a schema-level finding)`);
  if (v.count !== null && !(Number.isInteger(v.count) && (v.count as number) >= 1)) throw new ExpectationError(`${where}: "count" must be a positive integer or null, got ${describe(v.count)}`);
  if (v.severity !== undefined && !(SEVERITIES as readonly unknown[]).includes(v.severity)) throw new ExpectationError(`${where}: "severity" must be one of ${SEVERITIES.join(', ')}`);
  if (v.kind !== undefined && (typeof v.kind !== 'string' || v.kind === '')) throw new ExpectationError(`${where}: "kind" must be a non-empty string`);
  if (v.fingerprint !== undefined && typeof v.fingerprint !== 'string') throw new ExpectationError(`${where}: "fingerprint" must be a string`);
  if (v.samples !== undefined && !(Array.isArray(v.samples) && v.samples.every((s) => typeof s === 'string'))) throw new ExpectationError(`${where}: "samples" must be an array of strings`);
  if (v.estimated !== undefined && typeof v.estimated !== 'boolean') throw new ExpectationError(`${where}: "estimated" must be a boolean`);
  return { ...(v as unknown as ExpectedFinding), checkId: (v.checkId as string | undefined) ?? (owner as string) };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' ? 'an object' : String(value);
}

/** JSON with sorted keys and undefined members left out: equal values, equal text. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

function matches(expected: ExpectedReportFinding, actual: Finding): boolean {
  if (expected.checkId !== actual.checkId) return false;
  if (canonical(expected.object) !== canonical(actual.object)) return false;
  if (expected.count !== actual.count) return false;
  if (expected.severity !== undefined && expected.severity !== actual.severity) return false;
  if (expected.fingerprint !== undefined && expected.fingerprint !== actual.fingerprint) return false;
  if (expected.kind !== undefined && fingerprintOf(expected.checkId, expected.kind, expected.object) !== actual.fingerprint) return false;
  if (expected.samples !== undefined && canonical([...expected.samples].sort()) !== canonical([...actual.samples].sort())) return false;
  if (expected.estimated !== undefined && expected.estimated !== (actual.estimated ?? false)) return false;
  return true;
}

export interface FindingsComparison {
  ok: boolean;
  /** Expected findings no actual finding matched. */
  missing: ExpectedReportFinding[];
  /** Actual findings no expected finding matched. */
  unexpected: Finding[];
  matched: number;
}

/**
 * Pairs expected with actual findings one to one (a maximum matching, so that a loose expectation
 * never takes the finding a stricter one needed), and reports what is left on either side.
 */
export function compareFindings(expected: readonly ExpectedReportFinding[], actual: readonly Finding[]): FindingsComparison {
  const owner = new Array<number>(actual.length).fill(-1);
  const tryAssign = (e: number, seen: boolean[]): boolean => {
    for (let a = 0; a < actual.length; a++) {
      if (seen[a] || !matches(expected[e] as ExpectedReportFinding, actual[a] as Finding)) continue;
      seen[a] = true;
      if (owner[a] === -1 || tryAssign(owner[a] as number, seen)) {
        owner[a] = e;
        return true;
      }
    }
    return false;
  };
  const assigned = expected.map((_, e) => tryAssign(e, new Array<boolean>(actual.length).fill(false)));
  const missing = expected.filter((_, e) => !assigned[e]);
  const unexpected = actual.filter((_, a) => owner[a] === -1);
  return { ok: missing.length === 0 && unexpected.length === 0, missing, unexpected, matched: expected.length - missing.length };
}

/** An actual finding as an expectation would spell it, so that it can be pasted into the test. */
export function asExpected(f: Finding, withCheckId: boolean): Record<string, unknown> {
  return {
    ...(withCheckId ? { checkId: f.checkId } : {}),
    severity: f.severity,
    object: f.object,
    count: f.count,
    ...(f.samples.length > 0 ? { samples: f.samples } : {}),
    ...(f.estimated ? { estimated: true } : {}),
    fingerprint: f.fingerprint,
  };
}

/** The difference, compactly: one line per finding that did not pair up, expected first. */
export function describeDifference(c: FindingsComparison, withCheckId: boolean, expectedTotal: number, actualTotal: number): string {
  const out: string[] = [`expected ${expectedTotal} finding(s), got ${actualTotal}; ${c.matched} matched`];
  if (c.missing.length > 0) {
    out.push('  expected, not found:');
    for (const e of c.missing) {
      const { checkId, ...rest } = e;
      out.push(`    - ${JSON.stringify(withCheckId ? { checkId, ...rest } : rest)}`);
    }
  }
  if (c.unexpected.length > 0) {
    out.push('  found, not expected:');
    for (const a of c.unexpected) out.push(`    + ${JSON.stringify(asExpected(a, withCheckId))}`);
  }
  return out.join('\n');
}
