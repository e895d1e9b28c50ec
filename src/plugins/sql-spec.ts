import { z } from 'zod';
import { SEVERITIES } from '../findings.js';

/** A user's check id: `namespace/name`, lower case (as NAMESPACED_ID in validate.ts). */
const NAMESPACED_ID = /^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*$/;

/**
 * A threshold as dbt writes `warn_if` / `error_if`: a comparison with a number of rows, or with a share
 * of the object table's rows (`%`).
 */
export const THRESHOLD = /^\s*(>=|<=|!=|<>|==|=|>|<)\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/;

export const THRESHOLD_HELP = 'write a comparison and a number of rows or a percentage of the table, e.g. "> 0", ">= 10", "!= 0" or "> 5%"';

export const thresholdSchema = z
  .string({ error: `must be text: ${THRESHOLD_HELP}` })
  .regex(THRESHOLD, THRESHOLD_HELP)
  .refine((t) => {
    const m = THRESHOLD.exec(t);
    return !m || m[3] !== '%' || Number(m[2]) <= 100;
  }, 'a percentage is at most 100%');

/** A message may say `{count}`, `{object}` and `{percent}`; anything else in braces is a typo. */
export const PLACEHOLDERS = ['count', 'object', 'percent'] as const;

const QUERY_HELP = 'one SELECT (or WITH ... SELECT) returning the failing rows, every table schema-qualified';

function text(field: string, what: string) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be text: ${what}`) })
    .trim()
    .min(1, `must not be empty: ${what}`)
    .describe(`${field}: ${what}`);
}

/**
 * A SQL check as written inline under `sqlChecks` in the config file (a `.sql` file's header carries the
 * same fields, and its query follows the header). Validated before anything runs; each problem names its
 * field and what to write.
 */
export const sqlCheckSpecSchema = z.strictObject({
  id: text('id', 'a namespaced id, as "acme/no-negative-amounts"').regex(
    NAMESPACED_ID,
    'must be namespaced, as "acme/no-negative-amounts" (lower case; bare ids belong to the built-in checks)',
  ),
  title: text('title', 'one line saying what must hold, as "Invoice amounts are never negative"'),
  severity: z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` }).optional(),
  description: text('description', 'what the check finds, a sentence or two').optional(),
  object: text('object', 'the table the failing rows belong to, as "public.invoice" or "public.invoice.amount_cents" (double-quote a name holding a dot)'),
  key: z
    .union([z.string().trim().min(1), z.array(z.string().trim().min(1)).min(1)], {
      error: 'must name the columns that identify a failing row, as "id" or ["tenant_id", "id"] (default: the table\'s primary key)',
    })
    .optional(),
  // Not trimmed: positions in PostgreSQL's errors are mapped back to the text as written.
  query: z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${QUERY_HELP}` : `must be text: ${QUERY_HELP}`) })
    .refine((q) => q.trim() !== '', `must not be empty: ${QUERY_HELP}`),
  message: text('message', 'the finding\'s message; {count}, {object} and {percent} are filled in')
    .refine((m) => [...m.matchAll(/\{([^{}]*)\}/g)].every((p) => (PLACEHOLDERS as readonly string[]).includes(p[1] as string)), {
      message: `uses an unknown placeholder; write {${PLACEHOLDERS.join('}, {')}}`,
    })
    .optional(),
  warnIf: thresholdSchema.optional(),
  errorIf: thresholdSchema.optional(),
  repair: z
    .union(
      [
        z.literal('quarantine'),
        z.strictObject({
          sql: text('repair.sql', 'the SQL that repairs the failing rows (written commented out, for review)'),
          description: text('repair.description', 'what the repair does, one line').optional(),
        }),
      ],
      { error: 'write "quarantine" (the failing rows move to the quarantine), or { "sql": "...", "description": "..." } for a repair of your own, shown for review' },
    )
    .optional(),
});

export type SqlCheckSpecInput = z.input<typeof sqlCheckSpecSchema>;
export type ParsedSpec = z.output<typeof sqlCheckSpecSchema>;

/** Header field names of a `.sql` file, and the spec field each sets. */
export const HEADER_FIELDS = [
  'id',
  'title',
  'severity',
  'description',
  'object',
  'key',
  'message',
  'warnIf',
  'errorIf',
  'repair',
  'repairSql',
  'repairDescription',
] as const;

/** Every field a spec has, for "unknown field" messages. */
export const SPEC_FIELDS = Object.keys(sqlCheckSpecSchema.shape);

/** One line per problem: `field: what is wrong and what to write`. */
export function specIssues(error: z.ZodError, fields: readonly string[] = SPEC_FIELDS): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys
          .map((k) => {
            const near = fields.find((f) => f.toLowerCase() === k.toLowerCase().replace(/[-_]/g, ''));
            return `${k}: unknown field${near ? ` (did you mean ${near}?)` : ''}; the fields are ${fields.join(', ')}`;
          })
          .join('; ');
      }
      const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(the check)';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}
