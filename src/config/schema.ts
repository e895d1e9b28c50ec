import { z } from 'zod';
import type { CheckDefinition } from '../check.js';
import { SEVERITIES } from '../findings.js';
import { relationSchema, type Relation } from './relations.js';
import { sqlCheckSpecSchema } from '../plugins/sql-spec.js';
import { PREFLIGHT_RULE_IDS } from '../preflight/rules.js';

export interface CheckSettings {
  enabled: boolean;
  severity: (typeof SEVERITIES)[number] | undefined;
  options: Record<string, unknown>;
}

export const ignoreSchema = z.strictObject({
  check: z.string().min(1),
  /** A glob on `schema.table` or `schema.table.column`: `*` any characters, `?` one. */
  object: z.string().min(1),
  reason: z
    .string({ error: 'an ignore needs a reason: say why this finding is accepted' })
    .trim()
    .min(1, 'an ignore needs a reason: say why this finding is accepted'),
  until: z.iso.date().optional(),
});
export type IgnoreEntry = z.infer<typeof ignoreSchema>;

export interface IntegrityConfig {
  checks: Record<string, CheckSettings>;
  relations: Relation[];
  sampleSize: number;
  ignore: IgnoreEntry[];
  /** Globs on `schema.table` or `schema.table.column`: findings there carry no sample values. */
  samplesExclude: string[];
  /** The folder of .sql migrations (absolute once loaded from a file): SARIF and GitHub point at the line that created each object. */
  migrations: string | null;
  /** `integrity preflight`'s thresholds; absent means the defaults (PREFLIGHT_DEFAULTS). */
  preflight?: PreflightSettings;
}

/** When preflight calls a table large, and what it assumes of how the migrations are run. */
export interface PreflightSettings {
  /** A table with at least this many rows (estimated, from the catalog) is large. */
  largeTableRows: number;
  /** ... or at least this many megabytes of heap. */
  largeTableMegabytes: number;
  /** Whether a blocking statement without a lock_timeout before it is a finding. */
  requireLockTimeout: boolean;
  /** Whether the migration tool runs each file as one transaction (Flyway and Rails do by default; psql -f does not). */
  transactionPerFile: boolean;
}

export const PREFLIGHT_DEFAULTS: PreflightSettings = { largeTableRows: 100_000, largeTableMegabytes: 100, requireLockTimeout: true, transactionPerFile: false };

/** The config file's schema, built from the checks' own option schemas so the two cannot drift. */
export function configSchema(checks: readonly CheckDefinition[]) {
  const entries = Object.fromEntries(checks.map((check) => [check.id, checkEntrySchema(check).optional()]));
  return z.strictObject({
    $schema: z.string().optional(),
    sampleSize: z.number().int().min(0).max(100).default(5),
    samples: z.strictObject({ exclude: z.array(z.string().min(1)).default([]) }).default({ exclude: [] }),
    checks: z.strictObject(entries).default({}),
    relations: z.array(relationSchema).default([]),
    /** Checks of your own: folders (of *.check.ts|mts|js|mjs and *.sql files), files, or npm packages, resolved from this file's folder. */
    plugins: z.array(z.string().min(1)).default([]),
    /** Checks written in SQL, inline: each a query that returns the failing rows (see "Writing checks" in the README). */
    sqlChecks: z.array(sqlCheckSpecSchema).default([]),
    /** Folder of .sql migrations, relative to this file: SARIF results and GitHub annotations then point at the migration that created the object, and `integrity preflight` without files judges those not applied yet. */
    migrations: z.string().min(1).optional(),
    /** `integrity preflight`: when a table is large, and how the migrations are run. */
    preflight: z
      .strictObject({
        largeTableRows: z.number().int().min(0).default(PREFLIGHT_DEFAULTS.largeTableRows).describe('a table with at least this many rows (the catalog\'s estimate) is large: rewrites, blocking scans and index builds on it are findings'),
        largeTableMegabytes: z.number().min(0).default(PREFLIGHT_DEFAULTS.largeTableMegabytes).describe('... or with at least this many megabytes of heap'),
        requireLockTimeout: z.boolean().default(PREFLIGHT_DEFAULTS.requireLockTimeout).describe('a statement that blocks writes with no SET lock_timeout before it (nor one set for the role or database) is a finding'),
        transactionPerFile: z.boolean().default(PREFLIGHT_DEFAULTS.transactionPerFile).describe('the migration tool runs each file as one transaction (Flyway and Rails do by default): CONCURRENTLY and VACUUM then fail anywhere in it'),
      })
      .default(PREFLIGHT_DEFAULTS),
    ignore: z
      .array(
        // integrity preflight's rules are ignored by their ids as checks are.
        ignoreSchema.refine((i) => checks.some((c) => c.id === i.check) || PREFLIGHT_RULE_IDS.includes(i.check), {
          message: `unknown check; known checks: ${checks.map((c) => c.id).join(', ')}`,
          path: ['check'],
        }),
      )
      .default([]),
  });
}

/**
 * `checks.<id>`: enabled, severity, and the check's own options. A plugin may bring its own copy of zod,
 * whose schemas cannot be extended by ours: its options are then validated by its schema as a whole.
 */
function checkEntrySchema(check: CheckDefinition) {
  const common = { enabled: z.boolean().default(true), severity: z.enum(SEVERITIES).optional() };
  if (check.options instanceof z.ZodObject) return check.options.extend(common).strict();
  return z.looseObject(common).superRefine((entry, ctx) => {
    const { enabled: _enabled, severity: _severity, ...rest } = entry as Record<string, unknown>;
    const parsed = (check.options as { safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } }).safeParse(rest);
    for (const issue of parsed.success ? [] : (parsed.error?.issues ?? [])) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path.map(String) });
  });
}

/** Turns the parsed file into settings for every check, filling in each check's defaults. */
export function settingsFrom(checks: readonly CheckDefinition[], parsed: unknown): IntegrityConfig {
  const data = parsed as {
    sampleSize: number;
    samples: { exclude: string[] };
    checks: Record<string, Record<string, unknown> | undefined>;
    relations: Relation[];
    ignore: IgnoreEntry[];
    migrations?: string;
    preflight: PreflightSettings;
  };
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
  return {
    checks: settings,
    relations: data.relations,
    sampleSize: data.sampleSize,
    ignore: data.ignore,
    samplesExclude: data.samples.exclude,
    migrations: data.migrations ?? null,
    preflight: data.preflight,
  };
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

/** The config file's JSON Schema, for editors (`$schema`), generated from the same zod schema. */
export function configJsonSchema(checks: readonly CheckDefinition[]): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema(checks), { io: 'input', unrepresentable: 'any' }),
    title: 'integrity.config.json',
    description: 'Configuration of integrity, the PostgreSQL data-integrity auditor (see its README).',
  };
}
