import { createHash } from 'node:crypto';

export const SEVERITIES = ['error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Lower rank is more severe; used for thresholds and sorting. */
export const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export interface ObjectReference {
  schema: string;
  table: string;
  columns: string[];
}

export interface FindingObject {
  schema: string;
  table: string;
  column?: string;
  columns?: string[];
  index?: string;
  constraint?: string;
  /** A trigger on the table (disabled-triggers). */
  trigger?: string;
  /** A sequence feeding the column, in the table's schema unless `sequenceSchema` says otherwise. */
  sequence?: string;
  sequenceSchema?: string;
  references?: ObjectReference;
}

export type FixSafety = 'safe' | 'review' | 'destructive';

export interface FindingFixStep {
  safety: FixSafety;
  phase: 'transaction' | 'concurrent';
  description: string;
  decision?: string;
  sql: string;
}

export interface FindingFix {
  /** The most dangerous of its steps. */
  safety: FixSafety;
  summary: string;
  /** The finding's block of the fix script (review steps commented out). */
  sql: string;
  steps: FindingFixStep[];
}

export interface Finding {
  checkId: string;
  severity: Severity;
  message: string;
  object: FindingObject;
  count: number | null;
  /** Present and true when `count` was estimated from --sample. */
  estimated?: boolean;
  samples: string[];
  fingerprint: string;
  fix: FindingFix | null;
  /** Check-specific facts a machine may want (e.g. a breakdown of the count); never row data. */
  details?: Record<string, unknown>;
  /** Present and true when --baseline accepts it: it does not count toward the exit code. */
  baselined?: boolean;
  /** The migration that created the object, when the config names a migrations folder. */
  source?: { file: string; line: number };
  /** Set when an `ignore` entry of the config covers it: it does not count toward the exit code. */
  ignored?: { reason: string; until: string | null };
  /** With --compare: how it stands against the earlier report (see src/report/compare.ts). */
  change?: FindingChange;
}

export type ChangeStatus = 'new' | 'unchanged' | 'grown' | 'shrunk';

export interface FindingChange {
  status: ChangeStatus;
  /** The earlier report's count; absent for a new finding. */
  previousCount?: number | null;
  /** On a new finding whose check did not run to the end (or whose schema was not audited) in the earlier run: it may be older than that. */
  uncheckedBefore?: true;
}

/** A finding of the earlier report that this run does not have. */
export interface PreviousFinding {
  fingerprint: string;
  checkId: string;
  severity: Severity;
  message: string;
  object: FindingObject;
  count: number | null;
}

/** With --compare: the earlier report, what changed since, and what was fixed. */
export interface ReportComparison {
  /** The --compare file as given. */
  file: string;
  previous: { startedAt: string; database: { name: string; systemIdentifier: string | null } };
  /** The earlier report is of another database (name or cluster): the comparison may mean nothing. */
  otherDatabase: boolean;
  counts: Record<ChangeStatus | 'fixed' | 'notRechecked', number>;
  /** Earlier findings absent now, whose check ran to the end now over the same scope. */
  fixed: PreviousFinding[];
  /** Earlier findings absent now that this run could not have seen (check skipped, errored or sampled, schema not audited...): not fixed. */
  notRechecked: (PreviousFinding & { reason: string })[];
}

export interface BaselineEntry {
  fingerprint: string;
  checkId: string;
  object: FindingObject;
  count: number | null;
}

/**
 * `sampled`: under --sample-percent the check found nothing in the share it read, which is not a pass
 * (rows outside the sample were never looked at).
 */
export type CheckStatus = 'passed' | 'sampled' | 'failed' | 'skipped' | 'error';

export interface CheckResult {
  id: string;
  title: string;
  severity: Severity;
  status: CheckStatus;
  reason: string | null;
  /** What the check covered, e.g. which foreign keys it verified and why. */
  note: string | null;
  durationMs: number;
  findings: number;
  /** Present (false) when --check, --skip or the config's `enabled: false` left the check out: it did not run, and is `skipped`. */
  selected?: false;
  /**
   * Objects the check could not read (a lock, row-level security, a privilege), each with its reason.
   * Present only when there are some; the check is then `error`, and its findings on the rest stand.
   */
  objectErrors?: { object: string; reason: string }[];
}

export interface DatabaseInfo {
  host: string;
  port: number;
  name: string;
  user: string;
  serverVersion: string;
  /** pg_control_system().system_identifier: which cluster this is (a restored copy shares it); null if unreadable. */
  systemIdentifier?: string | null;
}

export interface AuditSummary {
  checks: Record<CheckStatus, number>;
  findings: Record<Severity, number>;
}

export interface AuditReport {
  version: string;
  tool: string;
  database: DatabaseInfo;
  startedAt: string;
  durationMs: number;
  options: { schemas: string[]; deep: boolean; failOn: FailOn; samplePercent: number | null };
  /** How the run differed from what was asked (e.g. fewer connections than --jobs, for want of free slots). */
  warnings?: string[];
  /** What the audit covered: the tables (and partitions) in the audited schemas. A run over none is not a pass. */
  scope: { tables: number; partitions: number };
  summary: AuditSummary;
  checks: CheckResult[];
  findings: Finding[];
  /** With --baseline: the file, how many findings it accepted, and its entries that no longer occur. */
  baseline?: { file: string; accepted: number; stale: BaselineEntry[] };
  /** `ignore` entries of the config whose `until` date has passed: they no longer apply. */
  expiredIgnores?: { check: string; object: string; reason: string; until: string }[];
  /** With --compare: see ReportComparison. */
  comparison?: ReportComparison;
}

export type FailOn = Severity | 'never';

/**
 * Identifies a finding across runs: the check, the kind of defect and the object it sits on.
 * Counts and samples are left out so that a baseline survives the data changing.
 */
export function fingerprintOf(checkId: string, kind: string, object: FindingObject): string {
  const identity = JSON.stringify([
    checkId,
    kind,
    object.schema,
    object.table,
    object.column ?? null,
    object.columns ?? null,
    object.index ?? null,
    object.constraint ?? null,
    object.references ? [object.references.schema, object.references.table, object.references.columns] : null,
    // Appended only when present, so that the fingerprints of findings without them stay what they were.
    ...(object.trigger !== undefined ? [['trigger', object.trigger]] : []),
    ...(object.sequence !== undefined ? [['sequence', object.sequenceSchema ?? object.schema, object.sequence]] : []),
  ]);
  return createHash('sha256').update(identity).digest('hex').slice(0, 16);
}

function objectSortKey(o: FindingObject): string {
  return o.index ?? o.constraint ?? o.column ?? o.columns?.join(',') ?? '';
}

/** Report order: by check, then severity, then the object's place in the schema. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    a.checkId.localeCompare(b.checkId) ||
    SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
    a.object.schema.localeCompare(b.object.schema) ||
    a.object.table.localeCompare(b.object.table) ||
    objectSortKey(a.object).localeCompare(objectSortKey(b.object)) ||
    a.fingerprint.localeCompare(b.fingerprint)
  );
}
