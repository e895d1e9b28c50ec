import type { CheckDefinition } from '../check.js';
import type { Severity } from '../findings.js';

/**
 * A check written in SQL: the query returns the failing rows; the engine counts them, keeps a few sample
 * keys, and applies the thresholds. Given inline under `sqlChecks` in the config, or as a `.sql` file
 * whose header comment carries the same fields.
 */
export interface SqlCheckSpec {
  /** Namespaced, as `acme/no-negative-amounts`. */
  id: string;
  title: string;
  /** The severity of a finding when no threshold says otherwise; default `error`. */
  severity?: Severity;
  description?: string;
  /** `schema.table` or `schema.table.column`: what the failing rows belong to. */
  object: string;
  /** Columns of the failing rows that identify them, for samples and repairs; default the table's primary key. */
  key?: string[];
  /** A single SELECT returning the failing rows. Qualify every table (the audit's search_path is pg_catalog). */
  query: string;
  /** The finding's message; `{count}`, `{object}` and `{percent}` are filled in. */
  message?: string;
  /** A finding is a warning when the count matches, e.g. `> 0` or `> 5%` of the table's rows. */
  warnIf?: string;
  /** A finding is an error when the count matches; checked before warnIf. */
  errorIf?: string;
  /** `quarantine` moves the failing rows (by key) to the quarantine; `{ sql }` is the user's own, always review. */
  repair?: 'quarantine' | { sql: string; description?: string };
}

export function defineSqlCheck(spec: SqlCheckSpec, origin = 'sqlChecks'): CheckDefinition {
  throw new Error(`SQL checks are not implemented yet (${spec.id}, ${origin})`);
}

export function sqlCheckFromFile(file: string | URL): CheckDefinition {
  throw new Error(`SQL checks are not implemented yet (${String(file)})`);
}
