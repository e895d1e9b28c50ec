import { z } from 'zod';
import type { CheckDefinition } from '../check.js';
import { SEVERITIES, type Finding } from '../findings.js';

/** A user's check id: `namespace/name`, lower case, so that it can never take a built-in's bare id. */
export const NAMESPACED_ID = /^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*$/;
export const BUILT_IN_ID = /^[a-z0-9][a-z0-9-]*$/;

const text = z.string().trim().min(1);

/**
 * What a loaded module must hand us for each check. `options` is tested by shape, not `instanceof`: a
 * plugin may bring its own copy of zod, and any zod object schema answers `safeParse`.
 */
const definitionShape = z.object({
  id: z.string().regex(NAMESPACED_ID, 'must be namespaced, as "acme/invoice-has-lines" (lower case; bare ids belong to the built-in checks)'),
  title: text,
  severity: z.enum(SEVERITIES),
  description: text,
  docs: z
    .object({ finds: z.string(), why: z.string(), fix: z.string(), bad: z.string(), good: z.string() })
    .partial()
    .optional(),
  options: z
    .custom<z.ZodObject>(
      (v) => typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function' && 'shape' in v,
      'must be a zod object schema (z.strictObject({...})), or left out when the check takes no options',
    )
    .optional(),
  samplesTables: z.boolean().optional(),
  run: z.custom<CheckDefinition['run']>((v) => typeof v === 'function', 'must be a function (ctx) => Promise<Finding[]>'),
});

/** Checks a plugin's export and fills in what may be left out; throws with every problem in one line. */
export function validateDefinition(value: unknown, origin: string): CheckDefinition {
  const parsed = definitionShape.safeParse(value);
  if (!parsed.success) {
    const id = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? ` ${JSON.stringify((value as { id: string }).id)}` : '';
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(the export)'} ${i.message}`).join('; ');
    throw new PluginError(origin, `check${id} is not a valid check: ${problems}`);
  }
  const def = value as CheckDefinition;
  return { ...def, options: def.options ?? z.strictObject({}), origin };
}

/** A plugin that cannot be loaded: the file (or package) and the reason, for a one-line exit-2 error. */
export class PluginError extends Error {
  override name = 'PluginError';
  constructor(
    readonly origin: string,
    reason: string,
  ) {
    super(`${origin}: ${reason}`);
  }
}

const findingShape = z.object({
  checkId: z.string(),
  severity: z.enum(SEVERITIES),
  message: z.string(),
  object: z.object({ schema: z.string(), table: z.string() }).loose(),
  count: z.number().int().nonnegative().nullable(),
  samples: z.array(z.string()),
  fingerprint: z.string().min(1),
});

/**
 * What a check's run returned, checked before anything is reported: an array of findings made by
 * `ctx.finding`, each its own. A malformed one makes the check `error`, never a half-read report.
 */
export function assertFindings(value: unknown, checkId: string): Finding[] {
  if (!Array.isArray(value)) throw new Error(`run() returned ${value === null ? 'null' : typeof value}, not an array of findings (return ctx.finding(...) results)`);
  value.forEach((f, i) => {
    const parsed = findingShape.safeParse(f);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`run() returned a malformed finding at index ${i}: ${issue?.path.map(String).join('.') || '(the finding)'} ${issue?.message} (make findings with ctx.finding(...))`);
    }
    if (parsed.data.checkId !== checkId) throw new Error(`run() returned a finding of another check (${JSON.stringify(parsed.data.checkId)}) at index ${i}`);
  });
  return value as Finding[];
}
