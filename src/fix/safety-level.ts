import type { RepairEntry } from '../engine/runner.js';

/** `fix --safety`: `safe` keeps only the repairs that remove or change no row; `all` keeps every one. */
export type SafetyLevel = 'safe' | 'all';

/**
 * The repairs `--safety` lets through, and those it leaves out. A repair is kept at `safe` when every
 * statement that would run is safe: its review steps stay commented out, as always, and one that could
 * not be written is kept so the script still says why.
 */
export function withinSafety(entries: RepairEntry[], level: SafetyLevel): { kept: RepairEntry[]; leftOut: RepairEntry[] } {
  if (level === 'all') return { kept: entries, leftOut: [] };
  const kept: RepairEntry[] = [];
  const leftOut: RepairEntry[] = [];
  for (const e of entries) (e.repair.steps.every((s) => s.safety !== 'destructive') ? kept : leftOut).push(e);
  return { kept, leftOut };
}
