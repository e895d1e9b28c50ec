import type { JudgeContext, JudgeRun } from './judge.js';
import type { MigrationFile } from './statements.js';

/** Operational hazards (rewrites, long locks, blocking index builds): judged over the whole run once the data judges are done. */
export async function judgeOperations(_files: MigrationFile[], _run: JudgeRun, _ctx: JudgeContext): Promise<void> {
  // Filled in by the operational judges.
}
