import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { renderChecksMarkdown } from '../../src/report/docs.js';
import { packageRoot } from '../../src/paths.js';

const root = packageRoot();

describe('the check registry', () => {
  it('lists exactly the files in checks/, each named by its id, sorted by id', () => {
    const files = readdirSync(path.join(root, 'checks'))
      .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(CHECKS.map((c) => c.id)).toEqual(files);
    expect([...CHECKS.map((c) => c.id)].sort()).toEqual(CHECKS.map((c) => c.id));
  });

  it.each(CHECKS.map((c) => [c.id, c]))('%s has complete documentation and metadata', (_id, check) => {
    expect(check.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(check.title.length).toBeGreaterThan(10);
    expect(check.description.length).toBeGreaterThan(20);
    for (const key of ['finds', 'why', 'fix', 'bad', 'good'] as const) expect((check.docs?.[key] ?? '').trim().length).toBeGreaterThan(20);
    expect(() => check.options.parse({})).not.toThrow();
  });

  // An incident check tells the incident it comes from, in plain words (a user has never seen the seed
  // numbers); a generic-rule check (options.rules, configured per database) says which dbt generic test it
  // is and which incidents it generalises, and shows a rule to paste.
  const isGeneric = (check: (typeof CHECKS)[number]) => 'rules' in check.options.shape;

  it.each(CHECKS.filter((c) => !isGeneric(c)).map((c) => [c.id, c]))('incident check %s tells its incident, without a seed number', (_id, check) => {
    expect(check.docs?.why).toMatch(/\bincidents?\b/);
    expect(check.docs?.why).not.toMatch(/seed/i);
  });

  it.each(CHECKS.filter(isGeneric).map((c) => [c.id, c]))('generic-rule check %s cites its dbt test and the seeds, and shows a rule', (_id, check) => {
    expect(check.docs?.why).toMatch(/\bdbt(_utils)?'s `[a-z_]+` test/);
    expect(check.docs?.why).toMatch(/\bincidents?\b/);
    expect(check.docs?.why).not.toMatch(/seed/i);
    expect(check.docs?.good).toContain(`"checks": { "${check.id}": { "rules": [`);
    // No rule configured: skipped with a reason naming the config key, never a silent pass.
    expect(check.options.parse({})).toEqual({ rules: [] });
  });

  it('knows the generic-rule checks', () => {
    expect(CHECKS.filter(isGeneric).map((c) => c.id)).toEqual(['accepted-values', 'required-child', 'row-condition', 'unique']);
  });

  it('is what the README says: its checks table is generated from the checks (npm run docs)', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const table = readme.split('<!-- checks:start -->')[1]?.split('<!-- checks:end -->')[0]?.trim();
    expect(table).toBe(renderChecksMarkdown(CHECKS));
  });
});
