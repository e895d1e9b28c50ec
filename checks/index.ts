import type { CheckDefinition } from '../src/index.js';
import acceptedValues from './accepted-values.js';
import jsonbIntCastIndex from './jsonb-int-cast-index.js';
import modelsWithoutPricing from './models-without-pricing.js';
import orphanRows from './orphan-rows.js';
import placeholderUuid from './placeholder-uuid.js';
import requiredChild from './required-child.js';
import rowCondition from './row-condition.js';
import unique from './unique.js';
import usersWithoutProfiles from './users-without-profiles.js';

/**
 * Every built-in check, sorted by id; a test asserts this list, the files in checks/ and the README agree.
 * The cast erases each check's options type: `run` takes its own options (contravariant), and the runner
 * only ever hands a check the options its own schema parsed.
 */
export const CHECKS: readonly CheckDefinition[] = [
  acceptedValues,
  jsonbIntCastIndex,
  modelsWithoutPricing,
  orphanRows,
  placeholderUuid,
  requiredChild,
  rowCondition,
  unique,
  usersWithoutProfiles,
] as unknown as readonly CheckDefinition[];

export function checkById(id: string): CheckDefinition | undefined {
  return CHECKS.find((c) => c.id === id);
}
