import type { z } from 'zod';
import { audit, type AuditCallOptions } from '../audit.js';
import type { CheckDefinition } from '../check.js';
import type { AuditReport, CheckStatus, Finding } from '../findings.js';
import { errorMessage } from '../errors.js';
import { validateDefinition } from '../plugins/validate.js';
import { projectFrom } from '../registry.js';
import { CHECKS } from '../../checks/index.js';
import { ExpectationError, compareFindings, describeDifference, validateExpected, type ExpectedFinding, type ExpectedReportFinding } from './expected.js';
import { loadFixture, testServerUrl, withScratchDatabase } from './server.js';

const STATUSES: readonly CheckStatus[] = ['passed', 'sampled', 'failed', 'skipped', 'error'];

/** What may vary per case in how the audit runs; everything else is the audit's default. */
export type CaseAuditOptions = Pick<AuditCallOptions, 'deep' | 'amcheck' | 'schemas' | 'samplePercent' | 'samples' | 'statementTimeoutMs' | 'lockTimeoutMs' | 'checkTimeoutMs' | 'jobs'>;

/**
 * One row of the table: a fixture, and exactly what the check must report on it. `findings: []` means
 * the check must pass (status `passed`: not skipped, not errored, not sampled).
 */
export interface CheckTestCase {
  /** Unique within the table; the test's name. */
  name: string;
  /** SQL run in a fresh, empty database (as the server's user) before the audit. */
  fixture: string;
  /** integrity.config.json content for this case, over the tester's `config` (`checks` merged by check id). */
  config?: Record<string, unknown>;
  /** The audit's options for this case, e.g. `{ deep: true }`. */
  audit?: CaseAuditOptions;
  /** Every finding the check must report, and nothing else; required, `[]` for a case that must pass. */
  findings: ExpectedFinding[];
  /**
   * The check's status, when it is not the one the findings imply (`failed` for findings, `passed` for
   * none): `skipped`, `error` or `sampled` (then with `findings: []`, or the findings an errored check kept).
   */
  status?: CheckStatus;
  /** With `status`: the reason must match (a RegExp, or a substring). */
  reason?: RegExp | string;
}

export interface CaseResult {
  name: string;
  status: CheckStatus;
  reason: string | null;
  findings: Finding[];
  report: AuditReport;
}

type TestFn = () => Promise<void>;
/** The shape of vitest's and jest's `describe` and `it` that the tester uses. */
export type DescribeFn = (name: string, body: () => void) => unknown;
export type ItFn = (name: string, body: TestFn, timeout?: number) => unknown;

export interface CheckTesterOptions {
  /** A superuser URL (postgres://) of the server to create each case's database on; else INTEGRITY_TEST_DATABASE_URL, else an embedded PostgreSQL. */
  databaseUrl?: string;
  /** Config shared by every case (plugins, relations, checks.<id> options); a case's `config` goes over it. */
  config?: Record<string, unknown>;
  /** Where the config's relative paths (plugins) resolve from; default process.cwd(). */
  cwd?: string;
  /**
   * `auto` (default): register a `describe` with one `it` per case when a test framework's globals (or
   * the `describe`/`it` given here) exist, else run at once. `throw`: always run at once, rejecting on
   * the first case that does not match.
   */
  mode?: 'auto' | 'throw';
  describe?: DescribeFn;
  it?: ItFn;
  /** Per-case timeout handed to `it` (ms); a case creates a database, so the frameworks' 5 s can be short. */
  timeoutMs?: number;
  /** Defaults for every case's `audit` options. */
  audit?: CaseAuditOptions;
}

/** A table the tester refuses (a mistake in the test), or a case whose report differs from the table. */
export class CheckTesterError extends Error {
  override name = 'CheckTesterError';
}

/** A case the check did not satisfy; the message shows the expected and the actual findings. */
export class CaseMismatchError extends CheckTesterError {
  override name = 'CaseMismatchError';
  constructor(
    message: string,
    readonly result: CaseResult,
  ) {
    super(message);
  }
}

interface Resolved {
  check: CheckDefinition;
  /** Handed to audit() as an extra check: neither a built-in nor loaded by the config's plugins. */
  extra: boolean;
}

interface ValidCase extends CheckTestCase {
  expected: ExpectedReportFinding[];
  status: CheckStatus;
}

/**
 * Runs a check over a table of cases against a real PostgreSQL, in the manner of ESLint's RuleTester:
 * each case gets a database of its own, loads its fixture, is audited with that check alone, and must
 * report exactly the findings listed (compared by kind or fingerprint, object and count, never prose).
 */
export class CheckTester {
  constructor(private readonly options: CheckTesterOptions = {}) {}

  /**
   * Checks the table (throwing CheckTesterError at once for a case without `findings`, a duplicate name,
   * or a check that is not one), then either registers one test per case with the test framework and
   * resolves to [] (the framework reports them), or runs the cases in order and resolves to their
   * results, rejecting with CaseMismatchError on the first that differs.
   */
  run<Schema extends z.ZodObject>(check: CheckDefinition<Schema> | string, cases: readonly CheckTestCase[]): Promise<CaseResult[]> {
    const label = typeof check === 'string' ? check : String((check as { id?: unknown })?.id ?? '(a check without an id)');
    const valid = validateCases(label, cases);
    // Its options' type is the check's own business; the audit hands it what its schema parsed.
    const resolving = this.resolve(check as unknown as CheckDefinition | string);
    // A late refusal (an id among the plugins) fails every case's test, never as an unhandled rejection.
    if (resolving instanceof Promise) resolving.catch(() => undefined);
    const framework = this.framework();
    if (!framework) {
      return (async () => {
        const resolved = await resolving;
        const results: CaseResult[] = [];
        for (const c of valid) results.push(await this.runCase(resolved, c));
        return results;
      })();
    }
    framework.describe(label, () => {
      for (const c of valid) {
        framework.it(
          c.name,
          async () => {
            await this.runCase(await resolving, c);
          },
          this.options.timeoutMs ?? 120_000,
        );
      }
    });
    return Promise.resolve([]);
  }

  private framework(): { describe: DescribeFn; it: ItFn } | null {
    if (this.options.mode === 'throw') return null;
    const g = globalThis as { describe?: unknown; it?: unknown };
    const describe = this.options.describe ?? (typeof g.describe === 'function' ? (g.describe as DescribeFn) : undefined);
    const it = this.options.it ?? (typeof g.it === 'function' ? (g.it as ItFn) : undefined);
    return describe && it ? { describe, it } : null;
  }

  /**
   * The check under test, found at once when it can be (an object, or a built-in id): an invalid or
   * unknown one is refused before any test is registered. An id among the config's plugins needs them
   * loaded, so that refusal comes when the cases run.
   */
  private resolve(check: CheckDefinition | string): Resolved | Promise<Resolved> {
    if (typeof check !== 'string') {
      if (CHECKS.includes(check)) return { check, extra: false };
      try {
        return { check: validateDefinition(check, 'CheckTester'), extra: true };
      } catch (err) {
        throw new CheckTesterError(`not a check: ${errorMessage(err)}`);
      }
    }
    const unknown = (known: readonly CheckDefinition[]) =>
      new CheckTesterError(`unknown check ${JSON.stringify(check)}; known checks: ${known.map((c) => c.id).join(', ')} (pass a plugin's check as the object itself, or name its plugin in the tester's config)`);
    const builtIn = CHECKS.find((c) => c.id === check);
    if (builtIn) return { check: builtIn, extra: false };
    if (!hasSources(this.options.config)) throw unknown(CHECKS);
    const config = this.options.config;
    return (async () => {
      const known = (await projectFrom(config, null, this.cwd(), CHECKS)).checks;
      const found = known.find((c) => c.id === check);
      if (!found) throw unknown(known);
      return { check: found, extra: false };
    })();
  }

  private cwd(): string {
    return this.options.cwd ?? process.cwd();
  }

  private async runCase(resolved: Resolved, c: ValidCase): Promise<CaseResult> {
    const check = resolved.check;
    const server = await testServerUrl(this.options.databaseUrl);
    const report = await withScratchDatabase(server, c.name, async (url) => {
      await loadFixture(url, c.fixture).catch((err: unknown) => {
        throw new CheckTesterError(`${check.id} › ${c.name}: the fixture failed: ${errorMessage(err)}`);
      });
      return audit({
        ...this.options.audit,
        ...c.audit,
        databaseUrl: url,
        cwd: this.cwd(),
        config: mergeConfig(this.options.config, c.config),
        // A check named by id comes with the config's plugins already; passing it too would define it twice.
        extraChecks: resolved.extra ? [resolved.check] : [],
        checks: [check.id],
      });
    });
    const result = report.checks.find((r) => r.id === check.id);
    const findings = report.findings.filter((f) => f.checkId === check.id);
    const outcome: CaseResult = result
      ? { name: c.name, status: result.status, reason: result.reason, findings, report }
      : { name: c.name, status: 'error', reason: 'the check is missing from the report', findings, report };
    const problems: string[] = [];
    if (outcome.status !== c.status) problems.push(`expected status ${c.status}, got ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''}`);
    else if (c.reason !== undefined && !reasonMatches(c.reason, outcome.reason)) problems.push(`expected the reason to match ${String(c.reason)}, got ${JSON.stringify(outcome.reason)}`);
    const comparison = compareFindings(c.expected, findings);
    if (!comparison.ok) problems.push(describeDifference(comparison, false, c.expected.length, findings.length));
    if (problems.length > 0) throw new CaseMismatchError(`${check.id} › ${c.name}: ${problems.join('\n')}`, outcome);
    return outcome;
  }
}

/** `new CheckTester(options)`, for those who prefer a function. */
export function checkTester(options: CheckTesterOptions = {}): CheckTester {
  return new CheckTester(options);
}

function hasSources(config: Record<string, unknown> | undefined): config is Record<string, unknown> {
  return config !== undefined && (config.plugins !== undefined || config.sqlChecks !== undefined);
}

function reasonMatches(expected: RegExp | string, actual: string | null): boolean {
  if (actual === null) return false;
  return typeof expected === 'string' ? actual.includes(expected) : expected.test(actual);
}

/** The case's config over the tester's: top-level keys replaced, `checks` merged by check id. */
export function mergeConfig(base: Record<string, unknown> | undefined, over: Record<string, unknown> | undefined): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base, ...over };
  const a = base?.checks;
  const b = over?.checks;
  if (isRecord(a) && isRecord(b)) merged.checks = { ...a, ...b };
  return merged;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validateCases(label: string, cases: readonly CheckTestCase[]): ValidCase[] {
  const refuse = (msg: string): never => {
    throw new CheckTesterError(`${label}: ${msg}`);
  };
  if (!Array.isArray(cases) || cases.length === 0) refuse('expected a non-empty array of cases');
  const names = new Set<string>();
  return cases.map((raw, i) => {
    const c = raw as Partial<CheckTestCase> | null;
    const where = `case ${i}${typeof c?.name === 'string' ? ` (${JSON.stringify(c.name)})` : ''}`;
    if (typeof c !== 'object' || c === null) return refuse(`${where} is not an object`);
    if (typeof c.name !== 'string' || c.name.trim() === '') return refuse(`${where} needs a name`);
    if (names.has(c.name)) return refuse(`duplicate case name ${JSON.stringify(c.name)}: every case needs its own`);
    names.add(c.name);
    if (typeof c.fixture !== 'string') return refuse(`${where} needs a fixture (SQL text; '' for an empty database)`);
    if (c.findings === undefined) return refuse(`${where} has no "findings": list every finding the check must report, or [] for a case where it must pass`);
    if (!Array.isArray(c.findings)) return refuse(`${where}: "findings" must be an array`);
    if (c.config !== undefined && !isRecord(c.config)) return refuse(`${where}: "config" must be an object (integrity.config.json content)`);
    if (c.status !== undefined && !STATUSES.includes(c.status)) return refuse(`${where}: "status" must be one of ${STATUSES.join(', ')}`);
    if (c.status === 'passed' && c.findings.length > 0) return refuse(`${where}: status "passed" with findings cannot both hold`);
    if (c.status === 'failed' && c.findings.length === 0) return refuse(`${where}: status "failed" needs the findings that fail it`);
    if ((c.status === 'skipped' || c.status === 'sampled') && c.findings.length > 0) return refuse(`${where}: a ${c.status} check reports no findings; use findings: []`);
    if (c.reason !== undefined && !(c.reason instanceof RegExp || typeof c.reason === 'string')) return refuse(`${where}: "reason" must be a RegExp or a string`);
    if (c.reason !== undefined && (c.status === undefined || c.status === 'passed' || c.status === 'failed')) return refuse(`${where}: "reason" goes with status skipped, error or sampled`);
    let expected: ExpectedReportFinding[];
    try {
      expected = c.findings.map((f, j) => validateExpected(f, `${where} findings[${j}]`, label));
    } catch (err) {
      if (err instanceof ExpectationError) return refuse(err.message);
      throw err;
    }
    return { ...(c as CheckTestCase), expected, status: c.status ?? (c.findings.length > 0 ? 'failed' : 'passed') };
  });
}
