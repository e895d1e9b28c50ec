import type { FixSafety } from '../findings.js';

/** One statement (or a few that belong together) of a repair. */
export interface RepairStep {
  safety: FixSafety;
  /** What it does, in one line; it becomes the comment above the statement. */
  description: string;
  /** For `review` steps: the decision a person must make before uncommenting it. */
  decision?: string;
  sql: string;
  /** `concurrent` statements cannot run in a transaction block and come after COMMIT. */
  phase: 'transaction' | 'concurrent';
  /** Concurrent steps: a query returning one row with one boolean, true while there is work to do. */
  guard?: string;
  /** Concurrent steps: the statements, one at a time (CONCURRENTLY cannot share a query string). */
  statements?: string[];
  /** Concurrent steps: the non-concurrent equivalent that `fix --verify` runs inside its transaction. */
  verifyStatements?: string[];
}

export interface Repair {
  /** Position in the script: parents are restored (10, 20) before anything is removed (30, 40). */
  order: number;
  /** What the repair does, one line. */
  summary: string;
  steps: RepairStep[];
  /** How to put quarantined rows back, for the script's comments. */
  restore?: string[];
  /** Set when the repair could not be written (a lock, a privilege); it then has no steps. */
  error?: string;
}

const RANK: Record<FixSafety, number> = { safe: 0, review: 1, destructive: 2 };

/** A repair is as dangerous as its most dangerous step. */
export function repairSafety(repair: Repair): FixSafety {
  return repair.steps.reduce<FixSafety>((worst, s) => (RANK[s.safety] > RANK[worst] ? s.safety : worst), 'safe');
}
