import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { incidentConfigFile } from '../../src/demo/fixtures.js';

/** The four built-in checks that take rules from the config; without rules each reports itself skipped. */
export const GENERIC_CHECKS: readonly string[] = ['accepted-values', 'required-child', 'row-condition', 'unique'];

/** The reason a generic-rule check gives when the config has no rules for it. */
export const NO_RULES = /^no rules configured: add checks\.[a-z-]+\.rules to the config file/;

/**
 * One rule per generic check, each failing on the five incident fixtures (all of them loaded) for a
 * reason the fixtures plant; INCIDENT_RULE_FINDINGS says exactly what each finds.
 */
export const INCIDENT_RULES = {
  'required-child': {
    rules: [
      {
        // The README's rule for Seed 000: the same count and samples as models-without-pricing.
        name: 'models-have-active-pricing',
        parent: { table: 'models', key: ['id'] },
        child: { table: 'model_provider_pricing', columns: ['model_name'], where: 'is_active AND effective_from <= now() AND (effective_until IS NULL OR effective_until > now())' },
      },
    ],
  },
  // Seed 000's fake 'unknown' provider, made so that the placeholder UUID passes the foreign key.
  'accepted-values': { rules: [{ name: 'known-providers', table: 'providers', column: 'name', values: ['openai', 'anthropic'] }] },
  // Seed 000's gpt-4o-mini keeps its expired pricing row switched on next to the current one.
  unique: { rules: [{ name: 'one-active-pricing-row-per-model', table: 'model_provider_pricing', columns: ['model_name'], where: 'is_active' }] },
  // Seed 005's invoice lines whose composite key has a NULL part, which the foreign key (MATCH SIMPLE) lets through.
  'row-condition': {
    rules: [{ name: 'invoice_line_key_complete', schema: 'Billing Dept', table: 'Invoice Line', condition: '"Tenant" IS NOT NULL AND "Invoice No" IS NOT NULL' }],
  },
};

/** `checkId schema.table.column count samples` of each finding INCIDENT_RULES gives, in report order (by check id). */
export const INCIDENT_RULE_FINDINGS = [
  'accepted-values public.providers.name 1 unknown',
  'required-child public.models.id 3 gpt-4-turbo-preview,gpt-5-chat,text-davinci-003',
  'row-condition Billing Dept.Invoice Line.- 2 11111111-1111-4111-8111-000000000005,11111111-1111-4111-8111-000000000006',
  'unique public.model_provider_pricing.model_name 2 gpt-4o-mini',
];

/** The same line for a finding of the report, to compare with INCIDENT_RULE_FINDINGS. */
export function ruleFindingLine(f: { checkId: string; object: { schema: string; table: string; column?: string | undefined }; count: number | null; samples: string[] }): string {
  return `${f.checkId} ${f.object.schema}.${f.object.table}.${f.object.column ?? '-'} ${f.count} ${f.samples.join(',')}`;
}

/** A config file: the incident fixtures' own (test/fixtures/integrity.config.json) plus INCIDENT_RULES. */
export function incidentConfigWithRules(): string {
  const base = JSON.parse(readFileSync(incidentConfigFile(), 'utf8')) as Record<string, unknown>;
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-rules-')), 'integrity.config.json');
  writeFileSync(file, JSON.stringify({ ...base, checks: { ...(base.checks as object | undefined), ...INCIDENT_RULES } }, null, 2));
  return file;
}
