import { z } from 'zod';
import type { Catalog } from './db/catalog.js';
import type { FanOut, Queryable } from './db/session.js';
import { fingerprintOf, type Finding, type FindingObject, type Severity } from './findings.js';
import type { Relation } from './config/relations.js';
import type { Repair } from './fix/types.js';

export interface CheckDocs {
  /** What the check finds, one paragraph. */
  finds: string;
  /** Why it matters: the incident it comes from. */
  why: string;
  /** How to resolve a finding. */
  fix: string;
  /** SQL that produces the defect. */
  bad: string;
  /** SQL that avoids it. */
  good: string;
}

export interface FindingInput {
  /** Distinguishes the kinds of finding one check makes on the same object (part of the fingerprint). */
  kind: string;
  severity?: Severity;
  message: string;
  object: FindingObject;
  count: number | null;
  /** The count is an estimate from --sample. */
  estimated?: boolean;
  samples?: string[];
  details?: Record<string, unknown>;
  /** Writes the repair, when one exists; called in the audit's snapshot, after the check has run. */
  repair?: (finding: Finding, db: Queryable) => Promise<Repair | null>;
}

export interface CheckContext<Options> {
  catalog: Catalog;
  db: Queryable;
  options: Options;
  /** The check's severity after the config file's override. */
  severity: Severity;
  deep: boolean;
  /**
   * `--amcheck`: checks that can verify an index's physical order with the amcheck extension
   * (`bt_index_check`, read-only, ACCESS SHARE locks only) may do so; off by default, since it reads
   * every page of each index checked and every row of its table.
   */
  amcheck: boolean;
  sampleSize: number;
  /**
   * `--sample-percent PERCENT`: checks that scan tables read this share of their pages (TABLESAMPLE SYSTEM,
   * repeatable) and report counts scaled up, marked as estimates. Null for an exact audit.
   */
  samplePercent: number | null;
  relations: Relation[];
  finding(input: FindingInput): Finding;
  /** Ends the check as skipped, with a reason that says how to make it run. */
  skip(reason: string): never;
  /** Says what was covered (e.g. "verified 3 of 12 foreign keys"), shown with the check's status. */
  note(text: string): void;
  /** Names the object being read now, for the progress line. */
  progress(object: string): void;
  /**
   * Runs independent reads (one per table, say) on the audit's idle connections too, heaviest first,
   * in the same snapshot; `weight` is the expected cost (e.g. the table's estimated rows).
   */
  parallel: FanOut;
  /**
   * Like `parallel`, but one item's failure costs that item only: its error is recorded against
   * `object` (see objectError) and its result is undefined, while the other items' results stand.
   * Use it wherever items are independent objects (one per table or per reference).
   *
   * `expected`: for work whose error is the answer rather than a failure (amcheck's bt_index_check raises
   * on a corrupt index): given an item's error, it returns the result to use for that item, or undefined
   * to record the error against `object` as usual. The item's savepoint is rolled back either way.
   */
  each<I, R>(
    items: { item: I; weight: number; object: string }[],
    work: (item: I, db: Queryable) => Promise<R>,
    expected?: (error: unknown, item: I) => R | undefined,
  ): Promise<(R | undefined)[]>;
  /** Records that one object could not be checked (the check ends as `error`, keeping its other findings). */
  objectError(object: string, error: unknown): void;
  /**
   * Whether key values of this finding may leave the database (samples, and repair SQL or descriptions
   * that would spell them out): false under `--samples 0` or when `samples.exclude` covers the object. A
   * repair then selects its rows by condition instead of listing them.
   */
  valuesAllowed(finding: Finding): boolean;
  /**
   * Whether the config marks a table as sensitive: a `samples.exclude` pattern matches `schema.table` or
   * one of its columns. A repair that changes rows of it (rather than deleting them) copies only the key
   * and the columns it changes to the quarantine.
   */
  sensitiveTable(schema: string, table: string): boolean;
}

export interface CheckDefinition<Schema extends z.ZodObject = z.ZodObject> {
  id: string;
  title: string;
  severity: Severity;
  description: string;
  /** Shown by `integrity explain`; every built-in has all five sections, a plugin may leave them out. */
  docs?: Partial<CheckDocs>;
  /** Options accepted under `checks.<id>` in the config file, with their defaults. */
  options: Schema;
  /** Where the check came from: unset for a built-in, else the plugin's file or package, or `sqlChecks[i]`. */
  origin?: string;
  /**
   * True when the check reads only a share of each table under `--sample-percent` (TABLESAMPLE): finding
   * nothing is then `sampled`, not `passed`. Checks that read the catalog or whole tables leave it unset.
   */
  samplesTables?: boolean;
  run(ctx: CheckContext<z.infer<Schema>>): Promise<Finding[]>;
}

export class CheckSkipped extends Error {
  override name = 'CheckSkipped';
}

export function defineCheck<Schema extends z.ZodObject>(def: CheckDefinition<Schema>): CheckDefinition<Schema> {
  return def;
}

export function makeFinding(checkId: string, defaultSeverity: Severity, input: FindingInput): Finding {
  const finding: Finding = {
    checkId,
    severity: input.severity ?? defaultSeverity,
    message: input.message,
    object: input.object,
    count: input.count,
    samples: input.samples ?? [],
    fingerprint: fingerprintOf(checkId, input.kind, input.object),
    fix: null,
  };
  if (input.details) finding.details = input.details;
  if (input.estimated) finding.estimated = true;
  return finding;
}

/** `FROM` clause sampling for checks that scan a table, per --sample. */
export function tableSample(percent: number | null): string {
  // The percentage is a validated number, not user text; REPEATABLE keeps runs comparable.
  return percent === null ? '' : ` TABLESAMPLE SYSTEM (${Number(percent)}) REPEATABLE (42)`;
}

/** Scales a count read from a sample up to the whole table. */
export function scaleCount(count: number, percent: number | null): number {
  return percent === null ? count : Math.round((count * 100) / percent);
}
