import { z } from 'zod';

const severity = z.enum(['error', 'warning', 'info']);
const reference = z.strictObject({ schema: z.string(), table: z.string(), columns: z.array(z.string()).min(1) });

export const findingSchema = z.strictObject({
  checkId: z.string(),
  severity,
  message: z.string().min(1),
  object: z.strictObject({
    schema: z.string(),
    table: z.string(),
    column: z.string().optional(),
    columns: z.array(z.string()).min(2).optional(),
    index: z.string().optional(),
    constraint: z.string().optional(),
    trigger: z.string().optional(),
    sequence: z.string().optional(),
    sequenceSchema: z.string().optional(),
    references: reference.optional(),
  }),
  count: z.number().int().min(1).nullable(),
  estimated: z.literal(true).optional(),
  samples: z.array(z.string()).max(100),
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  fix: z
    .strictObject({
      safety: z.enum(['safe', 'review', 'destructive']),
      summary: z.string().min(1),
      sql: z.string().min(1),
      steps: z
        .array(
          z.strictObject({
            safety: z.enum(['safe', 'review', 'destructive']),
            phase: z.enum(['transaction', 'concurrent']),
            description: z.string().min(1),
            decision: z.string().optional(),
            sql: z.string().min(1),
          }),
        )
        .min(1),
    })
    .nullable(),
  details: z.record(z.string(), z.unknown()).optional(),
  baselined: z.literal(true).optional(),
  ignored: z.strictObject({ reason: z.string().min(1), until: z.string().nullable() }).optional(),
  source: z.strictObject({ file: z.string().min(1), line: z.number().int().min(1) }).optional(),
  change: z
    .strictObject({ status: z.enum(['new', 'unchanged', 'grown', 'shrunk']), previousCount: z.number().int().nullable().optional(), uncheckedBefore: z.literal(true).optional() })
    .optional(),
});

const previousFindingSchema = z.strictObject({
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  checkId: z.string(),
  severity,
  message: z.string(),
  object: findingSchema.shape.object,
  count: z.number().int().nullable(),
});

/** The JSON report's contract, as documented in the README. */
export const reportSchema = z.strictObject({
  version: z.string(),
  tool: z.literal('integrity'),
  database: z.strictObject({ host: z.string(), port: z.number().int(), name: z.string(), user: z.string(), serverVersion: z.string(), systemIdentifier: z.string().regex(/^\d+$/).nullable().optional() }),
  startedAt: z.iso.datetime(),
  durationMs: z.number().int().min(0),
  warnings: z.array(z.string().min(1)).min(1).optional(),
  options: z.strictObject({ schemas: z.array(z.string()), deep: z.boolean(), failOn: z.enum(['error', 'warning', 'info', 'never']), samplePercent: z.number().nullable() }),
  scope: z.strictObject({ tables: z.number().int().min(0), partitions: z.number().int().min(0) }),
  summary: z.strictObject({
    checks: z.strictObject({ passed: z.number(), sampled: z.number(), failed: z.number(), skipped: z.number(), error: z.number() }),
    findings: z.strictObject({ error: z.number(), warning: z.number(), info: z.number() }),
  }),
  checks: z.array(
    z.strictObject({
      id: z.string(),
      title: z.string(),
      severity,
      status: z.enum(['passed', 'sampled', 'failed', 'skipped', 'error']),
      reason: z.string().nullable(),
      note: z.string().nullable(),
      durationMs: z.number().int().min(0),
      findings: z.number().int().min(0),
      selected: z.literal(false).optional(),
      objectErrors: z.array(z.strictObject({ object: z.string().min(1), reason: z.string().min(1) })).min(1).optional(),
    }),
  ),
  findings: z.array(findingSchema),
  baseline: z
    .strictObject({
      file: z.string(),
      accepted: z.number().int(),
      stale: z.array(z.strictObject({ fingerprint: z.string(), checkId: z.string(), object: z.record(z.string(), z.unknown()), count: z.number().nullable() })),
    })
    .optional(),
  expiredIgnores: z.array(z.strictObject({ check: z.string(), object: z.string(), reason: z.string(), until: z.string() })).optional(),
  comparison: z
    .strictObject({
      file: z.string().min(1),
      previous: z.strictObject({ startedAt: z.string(), database: z.strictObject({ name: z.string(), systemIdentifier: z.string().nullable() }) }),
      otherDatabase: z.boolean(),
      counts: z.strictObject({ new: z.number().int(), unchanged: z.number().int(), grown: z.number().int(), shrunk: z.number().int(), fixed: z.number().int(), notRechecked: z.number().int() }),
      fixed: z.array(previousFindingSchema),
      notRechecked: z.array(previousFindingSchema.extend({ reason: z.string().min(1) })),
    })
    .optional(),
});
