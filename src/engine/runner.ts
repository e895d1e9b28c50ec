import { CheckSkipped, makeFinding, type CheckContext, type CheckDefinition } from '../check.js';
import { listUserSchemas, loadCatalog, type Catalog } from '../db/catalog.js';
import { isSocketHost, redactSecrets, type ConnectionTarget } from '../db/connection.js';
import { AuditSession, type FanOut, type Queryable, type SettledFanOut } from '../db/session.js';
import type { IntegrityConfig } from '../config/schema.js';
import { UsageError, errorMessage } from '../errors.js';
import {
  compareFindings,
  type AuditReport,
  type CheckResult,
  type FailOn,
  type Finding,
  type Severity,
} from '../findings.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import type { Repair } from '../fix/types.js';
import { findingFix } from '../fix/script.js';
import { vetPluginRepair } from '../fix/vet-steps.js';
import { globToRegExp } from '../glob.js';
import { objectNames } from '../object-names.js';
import { CheckHandles } from './guard.js';
import { assertFindings } from '../plugins/validate.js';

/** Schemas never audited unless named with --schema: the tool's own quarantine. */
export const EXCLUDED_BY_DEFAULT = ['integrity_quarantine'];

/** --check-timeout's default: generous, since one check may read every table of a large database. */
export const DEFAULT_CHECK_TIMEOUT_MS = 30 * 60 * 1000;

/** Tables and indexes above which each audit task lets go of its locks when it is done. */
export const LOCK_RELEASE_THRESHOLD = 1000;

export type ProgressEvent =
  | { kind: 'catalog' }
  | { kind: 'check-start'; checkId: string; total: number }
  | { kind: 'object'; checkId: string; object: string }
  | { kind: 'check-done'; checkId: string; done: number; total: number };

export interface AuditOptions {
  target: ConnectionTarget;
  checks: readonly CheckDefinition[];
  /** Checks to run; the others are reported as skipped with `deselected[id]` as the reason. */
  selected: Set<string>;
  deselected: Map<string, string>;
  config: IntegrityConfig;
  schemas: string[] | undefined;
  deep: boolean;
  /** --amcheck: checks may verify indexes with the amcheck extension (see CheckContext.amcheck). Default false. */
  amcheck?: boolean;
  jobs: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** A check still running after this long is cut off and reported as `error` (default 30 minutes). */
  checkTimeoutMs?: number;
  failOn: FailOn;
  /** --sample-percent PERCENT: estimate from a share of each scanned table's pages. */
  samplePercent?: number | null;
  /** Told when a phase starts, a check starts or finishes, or a check moves to another object. */
  onProgress?: (event: ProgressEvent) => void;
  /** False: write no repairs (`--plan` lists only what the checks themselves read). Default true. */
  repairs?: boolean;
  /** Aborting it cancels the running queries on the server and makes runAudit throw AuditInterrupted. */
  signal?: AbortSignal;
  /**
   * Restricts the catalog the checks see to these tables (and a foreign key to those whose table is kept),
   * so that an audit of a few tables does not read a big database whole (preflight's repairs). The tables a
   * repair must know of (those whose foreign keys reach the rows it removes) must be kept too: a repair
   * only quarantines what the catalog it sees tells it of.
   */
  onlyTables?: (schema: string, table: string) => boolean;
  /** `--work-mem` in kB, across all the audit's connections (see SessionOptions.workMemKb). */
  workMemKb?: number;
}

/** The audit was stopped (SIGINT, SIGTERM); there is no report, and nothing it found counts as a pass. */
export class AuditInterrupted extends Error {
  override name = 'AuditInterrupted';
  constructor(readonly reason: unknown) {
    super(`interrupted${typeof reason === 'string' ? ` by ${reason}` : ''}`);
  }
}

interface CheckOutcome {
  severity: Severity;
  findings: Finding[];
  note: string | null;
  durationMs: number;
  repairs: RepairEntry[];
  objectErrors: { object: string; reason: string }[];
}

/**
 * Writes a finding's repair in its own savepoint: a repair that cannot be written (a lock, a missing
 * privilege) leaves `fix` null and says why in `details.fixError`, and the finding stands.
 */
async function attachRepair(
  db: Queryable,
  guarded: Queryable,
  check: CheckDefinition,
  finding: Finding,
  repairer: ((f: Finding, db: Queryable) => Promise<Repair | null>) | undefined,
  out: RepairEntry[],
): Promise<void> {
  if (!repairer) return;
  await db.query('SAVEPOINT integrity_repair');
  try {
    const written = await repairer(finding, guarded);
    // A plugin's SQL is held to the script's rules: what could lose a row without its copy is review.
    const repair = written && check.origin ? await vetPluginRepair(written, check.origin, guarded) : written;
    await db.query('RELEASE SAVEPOINT integrity_repair');
    if (!repair) return;
    finding.fix = findingFix(finding, repair);
    out.push({ finding, repair });
  } catch (err) {
    await db.query('ROLLBACK TO SAVEPOINT integrity_repair');
    const error = errorMessage(err);
    finding.details = { ...finding.details, fixError: error };
    // Kept in the list, so the script and --verify say which finding has no repair and why.
    out.push({ finding, repair: { order: 99, summary: `the repair could not be written: ${error}`, steps: [], error } });
  }
}

/** A check still running after --check-timeout. */
class CheckTimedOut extends Error {
  constructor(readonly limitMs: number) {
    super(`did not finish within --check-timeout (${limitMs} ms) and was cut off; its running queries were cancelled`);
  }
}

/** Carries what is known of a check that stopped (skipped or failed) out of its savepoint. */
class CheckInterrupted extends Error {
  constructor(
    override readonly cause: unknown,
    readonly outcome: CheckOutcome,
  ) {
    super(errorMessage(cause));
  }
}

export async function runAudit(options: AuditOptions): Promise<AuditReport> {
  return (await runAuditWithRepairs(options)).report;
}

/** The connections an audit runs on: an AuditSession, or one transaction of `fix --verify`. */
export interface AuditLanes {
  primary: Queryable;
  serverVersion: string;
  runAll<T>(tasks: ((db: Queryable, fanOut: FanOut, settledFanOut: SettledFanOut) => Promise<T>)[]): Promise<PromiseSettledResult<T>[]>;
  /** What the connections had to do differently from what was asked (e.g. fewer of them). */
  readonly warnings?: readonly string[];
  /** Which cluster this is, when known (a fix script refuses any other). */
  readonly systemIdentifier?: string | null;
  /** See AuditSession.releaseLocksAfterEachTask. */
  releaseLocksAfterEachTask?(on: boolean): void;
  /** Cancels the query running on this connection now, if it is one of the audit's (see --check-timeout). */
  cancelRunning?(db: Queryable): Promise<void>;
}

export interface RepairEntry {
  finding: Finding;
  repair: Repair;
}

export interface AuditOutcome {
  report: AuditReport;
  /** The catalog the checks read; null when it could not be loaded. */
  catalog: Catalog | null;
  /** Every finding that has a repair, with its structured steps (for the fix script, --verify and --apply). */
  repairs: RepairEntry[];
}

export async function runAuditWithRepairs(options: AuditOptions): Promise<AuditOutcome> {
  return runWithSession(options, (session) => auditWith(session, options));
}

/** Opens the read-only session, runs `work` on it, and cancels it on the server when `options.signal` aborts. */
export async function runWithSession<T>(options: AuditOptions, work: (session: AuditSession) => Promise<T>): Promise<T> {
  const session = await AuditSession.open(options.target, {
    jobs: options.jobs,
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    ...(options.workMemKb ? { workMemKb: options.workMemKb } : {}),
  });
  const onAbort = () => {
    void session.interrupt();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new AuditInterrupted(options.signal.reason);
    return await work(session);
  } catch (err) {
    if (options.signal?.aborted) throw new AuditInterrupted(options.signal.reason);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await session.close();
  }
}

/** The audit itself, on connections that are already in their transaction. */
export async function auditWith(session: AuditLanes, options: AuditOptions): Promise<AuditOutcome> {
  const startedAt = new Date();
  const started = performance.now();
  const repairers = new Map<Finding, (f: Finding, db: Queryable) => Promise<Repair | null>>();
  {
    if (options.signal?.aborted) throw new AuditInterrupted(options.signal.reason);
    const available = await listUserSchemas(session.primary);
    const schemas = options.schemas ?? available.filter((s) => !EXCLUDED_BY_DEFAULT.includes(s));
    const unknown = (options.schemas ?? []).filter((s) => !available.includes(s));
    if (unknown.length > 0) {
      throw new UsageError(
        `schema ${unknown.join(', ')} does not exist (or belongs to the system or an extension); existing schemas: ${available.join(', ') || 'none'}`,
      );
    }
    let catalog: Catalog;
    const systemIdentifier = session.systemIdentifier ?? null;
    try {
      options.onProgress?.({ kind: 'catalog' });
      catalog = restrictedCatalog(await loadCatalog(session.primary, schemas, available), options.onlyTables);
    } catch (err) {
      // Without the catalog no check can run; say so for each of them, so a report is still written.
      if (options.signal?.aborted) throw new AuditInterrupted(options.signal.reason);
      const reason = `the catalog could not be read: ${describeError(err, options.target)}`;
      const checks: CheckResult[] = options.checks.map((check) => ({
        id: check.id,
        title: check.title,
        severity: options.config.checks[check.id]?.severity ?? check.severity,
        status: options.selected.has(check.id) ? 'error' : 'skipped',
        reason: options.selected.has(check.id) ? reason : (options.deselected.get(check.id) ?? 'not selected'),
        note: null,
        durationMs: 0,
        findings: 0,
        ...(options.selected.has(check.id) ? {} : { selected: false as const }),
      }));
      return { report: buildReport(options, session, systemIdentifier, startedAt, started, schemas, checks, [], { tables: 0, partitions: 0 }), repairs: [], catalog: null };
    }

    // Beyond this many tables and indexes, the locks of one audit could fill PostgreSQL's lock table
    // (max_locks_per_transaction x max_connections, 6,400 by default, shared by every session).
    session.releaseLocksAfterEachTask?.(catalog.tables.length + catalog.partitions.length + catalog.indexes.length > LOCK_RELEASE_THRESHOLD);
    const toRun = options.checks.filter((c) => options.selected.has(c.id));
    const withheldPatterns = options.config.samplesExclude.map(globToRegExp);
    /** Runs inside the lane's savepoint and throws on failure, so the savepoint is rolled back. */
    const checkTimeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
    /** Runs inside the lane's savepoint and throws on failure, so the savepoint is rolled back. */
    const runCheck = async (check: CheckDefinition, db: Queryable, fanOut: FanOut, settledFanOut: SettledFanOut): Promise<CheckOutcome> => {
      const settings = options.config.checks[check.id];
      const severity: Severity = settings?.severity ?? check.severity;
      const outcome: CheckOutcome = { severity, findings: [], note: null, durationMs: 0, repairs: [], objectErrors: [] };
      const objectError = (object: string, error: unknown) => {
        if (options.signal?.aborted) throw new AuditInterrupted(options.signal.reason);
        outcome.objectErrors.push({ object, reason: describeError(error, options.target) });
      };
      // Every check, built-in or plugin, reads through the same guarded handles.
      const handles = new CheckHandles();
      const ctx: CheckContext<unknown> = {
        catalog,
        db: handles.wrap(db),
        options: check.options.parse(settings?.options ?? {}),
        severity,
        deep: options.deep,
        amcheck: options.amcheck ?? false,
        // Queries need at least one row to carry the count; samples are dropped afterwards when 0 was asked.
        sampleSize: Math.max(1, options.config.sampleSize),
        samplePercent: options.samplePercent ?? null,
        relations: options.config.relations,
        finding: (input) => {
          const finding = makeFinding(check.id, severity, input);
          if (input.repair) repairers.set(finding, input.repair);
          return finding;
        },
        skip: (reason) => {
          throw new CheckSkipped(reason);
        },
        note: (text) => {
          outcome.note = text;
        },
        progress: (object) => options.onProgress?.({ kind: 'object', checkId: check.id, object }),
        parallel: (items, work) => fanOut(items, (item, lane) => work(item, handles.wrap(lane))),
        each: async (items, work, expected) => {
          const settled = await settledFanOut(items, (item, lane) => work(item, handles.wrap(lane)));
          return settled.map((r, i) => {
            if (r.status === 'fulfilled') return r.value;
            const answer = expected?.(r.reason, (items[i] as { item: (typeof items)[number]['item'] }).item);
            if (answer !== undefined) return answer;
            objectError((items[i] as { object: string }).object, r.reason);
            return undefined;
          });
        },
        objectError,
        valuesAllowed: (finding) => !samplesWithheld(finding, options.config.sampleSize, withheldPatterns),
        sensitiveTable: (schema, table) => {
          const t = [...catalog.tables, ...catalog.partitions].find((x) => x.schema === schema && x.name === table);
          const names = [`${schema}.${table}`, ...(t?.columns ?? []).map((c) => `${schema}.${table}.${c.name}`)];
          return withheldPatterns.some((p) => names.some((n) => p.test(n)));
        },
      };
      options.onProgress?.({ kind: 'check-start', checkId: check.id, total: toRun.length });
      const t0 = performance.now();
      const work = async () => {
        outcome.findings = assertFindings(await (check.run as (c: CheckContext<unknown>) => Promise<unknown>)(ctx), check.id);
        outcome.durationMs = Math.round(performance.now() - t0);
        // Repairs read too (what a delete would cascade to, say): spread them over the idle connections.
        if (options.repairs !== false) await fanOut(
          outcome.findings.map((finding) => ({ item: finding, weight: 1 })),
          (finding, lane) => attachRepair(lane, handles.wrap(lane), check, finding, repairers.get(finding), outcome.repairs),
        );
      };
      let timer: NodeJS.Timeout | undefined;
      try {
        const running = work();
        // A check cut off may still settle later; its outcome is no longer awaited by anyone.
        running.catch(() => undefined);
        await Promise.race([
          running,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new CheckTimedOut(checkTimeoutMs)), checkTimeoutMs);
          }),
        ]);
        return outcome;
      } catch (err) {
        outcome.durationMs = Math.round(performance.now() - t0);
        if (err instanceof CheckTimedOut) {
          const busy = handles.close(err.message);
          await Promise.all(busy.map((b) => session.cancelRunning?.(b)));
        }
        throw new CheckInterrupted(err, outcome);
      } finally {
        clearTimeout(timer);
        handles.close(`check ${check.id} has finished: its database handles are closed`);
      }
    };

    let done = 0;
    const settled = await session.runAll(
      toRun.map((check) => async (db: Queryable, fanOut: FanOut, settledFanOut: SettledFanOut) => {
        try {
          return await runCheck(check, db, fanOut, settledFanOut);
        } finally {
          options.onProgress?.({ kind: 'check-done', checkId: check.id, done: ++done, total: toRun.length });
        }
      }),
    );
    if (options.signal?.aborted) throw new AuditInterrupted(options.signal.reason);
    const results = new Map<string, { result: CheckResult; findings: Finding[] }>();
    const sampled = options.samplePercent !== null && options.samplePercent !== undefined;
    const repairs: RepairEntry[] = [];
    settled.forEach((outcome, i) => {
      const check = toRun[i] as CheckDefinition;
      const base = { id: check.id, title: check.title };
      if (outcome.status === 'fulfilled') {
        const o = outcome.value;
        repairs.push(...o.repairs);
        const partial = o.objectErrors.length > 0;
        results.set(check.id, {
          result: {
            ...base,
            severity: o.severity,
            status: partial ? 'error' : o.findings.length > 0 ? 'failed' : sampled && check.samplesTables ? 'sampled' : 'passed',
            reason: partial ? objectErrorsReason(o.objectErrors) : sampled && check.samplesTables && o.findings.length === 0 ? `nothing found in the ${options.samplePercent}% read` : null,
            note: o.note,
            durationMs: o.durationMs,
            findings: o.findings.length,
            ...(partial ? { objectErrors: o.objectErrors } : {}),
          },
          findings: o.findings,
        });
        return;
      }
      const interrupted = outcome.reason instanceof CheckInterrupted ? outcome.reason : null;
      const cause: unknown = interrupted ? interrupted.cause : outcome.reason;
      const skipped = cause instanceof CheckSkipped;
      results.set(check.id, {
        result: {
          ...base,
          severity: interrupted?.outcome.severity ?? check.severity,
          status: skipped ? 'skipped' : 'error',
          reason: skipped ? cause.message : describeError(cause, options.target),
          note: interrupted?.outcome.note ?? null,
          durationMs: interrupted?.outcome.durationMs ?? 0,
          findings: 0,
        },
        findings: [],
      });
    });

    const checks: CheckResult[] = options.checks.map(
      (check) =>
        results.get(check.id)?.result ?? {
          id: check.id,
          title: check.title,
          severity: options.config.checks[check.id]?.severity ?? check.severity,
          status: 'skipped',
          reason: options.deselected.get(check.id) ?? 'not selected',
          note: null,
          durationMs: 0,
          findings: 0,
          selected: false,
        },
    );
    const findings = [...results.values()].flatMap((r) => r.findings).sort(compareFindings);
    withheldSamples(findings, options.config.sampleSize, options.config.samplesExclude);
    repairs.sort((a, b) => a.repair.order - b.repair.order || compareFindings(a.finding, b.finding));
    const scope = { tables: catalog.tables.length, partitions: catalog.partitions.length };
    return { report: buildReport(options, session, systemIdentifier, startedAt, started, schemas, checks, findings, scope), repairs, catalog };
  }
}

/** The catalog with only the tables `keep` keeps, and what belongs to them (see AuditOptions.onlyTables). */
export function restrictedCatalog(catalog: Catalog, keep: AuditOptions['onlyTables']): Catalog {
  if (!keep) return catalog;
  // A partition goes with its partitioned table, and what belongs to it too.
  const keys = new Set([...catalog.tables, ...catalog.partitions].filter((t) => keep(t.schema, t.name) || (t.partitionOf !== null && keep(t.partitionOf.schema, t.partitionOf.name))).map((t) => JSON.stringify([t.schema, t.name])));
  const kept = (schema: string, table: string) => keys.has(JSON.stringify([schema, table]));
  const keptItems = <T extends { schema: string; table: string }>(items: T[]) => items.filter((i) => kept(i.schema, i.table));
  return {
    ...catalog,
    tables: catalog.tables.filter((t) => kept(t.schema, t.name)),
    partitions: catalog.partitions.filter((t) => kept(t.schema, t.name)),
    foreignKeys: keptItems(catalog.foreignKeys),
    uniqueConstraints: keptItems(catalog.uniqueConstraints),
    checkConstraints: keptItems(catalog.checkConstraints),
    indexes: keptItems(catalog.indexes),
    triggers: keptItems(catalog.triggers),
  };
}

/** One line naming every object a check could not read; the findings on the others are kept. */
function objectErrorsReason(errors: { object: string; reason: string }[]): string {
  const shown = errors.slice(0, 3).map((e) => `${e.object}: ${e.reason}`);
  const more = errors.length > 3 ? `; and ${errors.length - 3} more (see objectErrors in the JSON report)` : '';
  return `${errors.length} object${errors.length === 1 ? '' : 's'} could not be checked, the findings on the rest stand: ${shown.join('; ')}${more}`;
}

/** Whether `--samples 0` or `samples.exclude` keeps this finding's key values in the database. */
function samplesWithheld(f: Finding, sampleSize: number, patterns: RegExp[]): boolean {
  const sampleKey = f.details?.sampleKey;
  const keyNames = Array.isArray(sampleKey) ? sampleKey.map((k) => `${f.object.schema}.${f.object.table}.${String(k)}`) : [];
  const names = [...objectNames(f), ...keyNames];
  return sampleSize === 0 || patterns.some((p) => names.some((n) => p.test(n)));
}

/** `--samples 0` and `samples.exclude`: no key values leave the database for these findings. */
function withheldSamples(findings: Finding[], sampleSize: number, exclude: string[]): void {
  const patterns = exclude.map(globToRegExp);
  for (const f of findings) {
    if (samplesWithheld(f, sampleSize, patterns)) {
      f.samples = [];
      if (f.details && 'samplesByReason' in f.details) {
        const { samplesByReason: _withheld, ...rest } = f.details;
        f.details = rest;
      }
    }
  }
}

function buildReport(
  options: AuditOptions,
  session: AuditLanes,
  systemIdentifier: string | null,
  startedAt: Date,
  started: number,
  schemas: string[],
  checks: CheckResult[],
  findings: Finding[],
  scope: AuditReport['scope'],
): AuditReport {
    return {
      version: TOOL_VERSION,
      tool: TOOL_NAME,
      database: {
        host: isSocketHost(options.target.host) ? `socket:${options.target.host}` : options.target.host,
        port: options.target.port,
        name: options.target.database,
        user: options.target.user,
        serverVersion: session.serverVersion,
        systemIdentifier,
      },
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
      ...(session.warnings?.length ? { warnings: [...session.warnings] } : {}),
      options: { schemas, deep: options.deep, failOn: options.failOn, samplePercent: options.samplePercent ?? null },
      scope,
      summary: summarize(checks, findings),
      checks,
      findings,
    };
}

function summarize(checks: CheckResult[], findings: Finding[]): AuditReport['summary'] {
  const summary: AuditReport['summary'] = {
    checks: { passed: 0, sampled: 0, failed: 0, skipped: 0, error: 0 },
    findings: { error: 0, warning: 0, info: 0 },
  };
  for (const c of checks) summary.checks[c.status]++;
  for (const f of findings) summary.findings[f.severity]++;
  return summary;
}

/** One line, with the SQLSTATE when PostgreSQL gave one, and never a secret. */
export function describeError(err: unknown, target: Pick<ConnectionTarget, 'password'>): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  let message = errorMessage(err).split('\n')[0] ?? 'unknown error';
  if (code === '57014' && /statement timeout/.test(message)) message += ' (raise --statement-timeout, use --sample-percent PERCENT, or run against a replica)';
  if (code === '55P03') message += ' (a lock was not granted within --lock-timeout)';
  if (code === '42501' && /row-level security/i.test(message)) {
    message += ' (run the audit as a role with BYPASSRLS, or as the table owner when it does not FORCE ROW LEVEL SECURITY: policies would hide rows, so no partial answer is given)';
  } else if (code === '42501') message += ' (grant the auditing role SELECT on it, or --skip this check)';
  if (code === '53200') message += ' (the lock table is full: raise max_locks_per_transaction, or audit fewer schemas at a time with --schema)';
  return redactSecrets(/^[0-9A-Z]{5}$/.test(code) ? `${message} [${code}]` : message, [target.password]);
}
