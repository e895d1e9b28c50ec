import type { CheckDefinition } from '../check.js';
import type { IntegrityConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';

/** Which checks run (--check, --skip, `enabled: false`), and why each other one does not. */
export function selectChecks(
  checks: readonly CheckDefinition[],
  config: IntegrityConfig,
  only: readonly string[] | undefined,
  skip: readonly string[] | undefined,
): { selected: Set<string>; deselected: Map<string, string> } {
  const ids = new Set(checks.map((c) => c.id));
  for (const id of [...(only ?? []), ...(skip ?? [])]) {
    if (!ids.has(id)) throw new UsageError(`unknown check ${JSON.stringify(id)}; known checks: ${[...ids].join(', ')}`);
  }
  const selected = new Set<string>();
  const deselected = new Map<string, string>();
  for (const check of checks) {
    if (only && !only.includes(check.id)) deselected.set(check.id, 'not selected by --check');
    else if (skip?.includes(check.id)) deselected.set(check.id, 'skipped by --skip');
    else if (config.checks[check.id]?.enabled === false) deselected.set(check.id, `disabled in the config file (checks.${check.id}.enabled)`);
    else selected.add(check.id);
  }
  return { selected, deselected };
}
