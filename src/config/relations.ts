import { z } from 'zod';

const identifier = z.string().min(1, 'expected a non-empty name');

export const relationSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    schema: identifier.optional(),
    table: identifier,
    columns: z.array(identifier).min(1, 'expected at least one column'),
    references: z.strictObject({
      schema: identifier.optional(),
      table: identifier,
      columns: z.array(identifier).min(1, 'expected at least one column'),
    }),
  })
  .refine((r) => r.columns.length === r.references.columns.length, {
    message: 'columns and references.columns must have the same length',
    path: ['references', 'columns'],
  });

/** A reference the database does not enforce (no FOREIGN KEY), declared so orphan-rows verifies it. */
export type Relation = z.infer<typeof relationSchema>;
