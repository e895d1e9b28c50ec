import { z } from 'zod';
import type { CheckDefinition } from '../check.js';
import { SEVERITIES } from '../findings.js';
import { relationSchema, type Relation } from './relations.js';

export interface CheckSettings {
  enabled: boolean;
  severity: (typeof SEVERITIES)[number] | undefined;
  options: Record<string, unknown>;
}

export interface IntegrityConfig {
  checks: Record<string, CheckSettings>;
  relations: Relation[];
  sampleSize: number;
}

/** The config file's schema, built from the checks' own option schemas so the two cannot drift. */
export function configSchema(checks: readonly CheckDefinition[]) {
  const entries = Object.fromEntries(
    checks.map((check) => [
      check.id,
      check.options
        .extend({
          enabled: z.boolean().default(true),
          severity: z.enum(SEVERITIES).optional(),
        })
        .strict()
        .optional(),
    ]),
  );
  return z.strictObject({
    $schema: z.string().optional(),
    sampleSize: z.number().int().min(1).max(100).default(5),
    checks: z.strictObject(entries).default({}),
    relations: z.array(relationSchema).default([]),
  });
}

/** Turns the parsed file into settings for every check, filling in each check's defaults. */
export function settingsFrom(checks: readonly CheckDefinition[], parsed: unknown): IntegrityConfig {
  const data = parsed as { sampleSize: number; checks: Record<string, Record<string, unknown> | undefined>; relations: Relation[] };
  const settings: Record<string, CheckSettings> = {};
  for (const check of checks) {
    const entry = data.checks[check.id];
    const { enabled, severity, ...rest } = entry ?? {};
    settings[check.id] = {
      enabled: enabled === undefined ? true : Boolean(enabled),
      severity: severity as CheckSettings['severity'],
      options: entry ? rest : (check.options.parse({}) as Record<string, unknown>),
    };
  }
  return { checks: settings, relations: data.relations, sampleSize: data.sampleSize };
}

/** One line for all problems: where in the file, and what was expected. */
export function formatIssues(error: z.ZodError, checks: readonly CheckDefinition[] = []): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
      const known =
        issue.code === 'unrecognized_keys' && where === 'checks' && checks.length > 0
          ? ` (known checks: ${checks.map((c) => c.id).join(', ')})`
          : '';
      return `${where}: ${issue.message}${known}`;
    })
    .join('; ');
}
