import type { CheckDefinition } from '../src/index.js';
import acceptedValues from './accepted-values.js';
import collationDrift from './collation-drift.js';
import disabledTriggers from './disabled-triggers.js';
import invalidIndexes from './invalid-indexes.js';
import jsonbIntCastIndex from './jsonb-int-cast-index.js';
import modelsWithoutPricing from './models-without-pricing.js';
import orphanRows from './orphan-rows.js';
import placeholderUuid from './placeholder-uuid.js';
import requiredChild from './required-child.js';
import rowCondition from './row-condition.js';
import sequenceBehindData from './sequence-behind-data.js';
import sequenceHeadroom from './sequence-headroom.js';
import undeclaredReferences from './undeclared-references.js';
import unique from './unique.js';
import unvalidatedChecks from './unvalidated-checks.js';
import usersWithoutProfiles from './users-without-profiles.js';

/**
 * Every built-in check, sorted by id; a test asserts this list, the files in checks/ and the README agree.
 * The cast erases each check's options type: `run` takes its own options (contravariant), and the runner
 * only ever hands a check the options its own schema parsed.
 */
export const CHECKS: readonly CheckDefinition[] = [
  acceptedValues,
  collationDrift,
  disabledTriggers,
  invalidIndexes,
  jsonbIntCastIndex,
  modelsWithoutPricing,
  orphanRows,
  placeholderUuid,
  requiredChild,
  rowCondition,
  sequenceBehindData,
  sequenceHeadroom,
  undeclaredReferences,
  unique,
  unvalidatedChecks,
  usersWithoutProfiles,
] as unknown as readonly CheckDefinition[];

export function checkById(id: string): CheckDefinition | undefined {
  return CHECKS.find((c) => c.id === id);
}
