import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { auditOptions, useDatabase } from '../helpers/db.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';

// --samples 0 and samples.exclude keep key values in the database: not in the report, not in the fix
// script, not in its descriptions. The repairs select their rows by condition instead.
const IDS = ['gpt-5-chat', 'gpt-4-turbo-preview', 'text-davinci-003'];

describe('key values withheld from the fix SQL', () => {
  const db = useDatabase('samples_withheld', { incidents: ['000_models_without_pricing.sql'] });

  it('are spelled out by default (the baseline this test relies on)', async () => {
    const run = await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--format', 'json']);
    expect(run.code).toBe(0);
    for (const id of IDS) expect(run.stdout).toContain(id);
  });

  it.each([
    ['--samples 0', ['--samples', '0']],
    ['samples.exclude', ['--config', 'exclude.json']],
  ])('never appear under %s, in the script or the report, and the script still repairs', async (_label, flags) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-withheld-'));
    writeFileSync(path.join(dir, 'exclude.json'), JSON.stringify({ samples: { exclude: ['public.models'] } }));
    const file = path.join(dir, 'fix.sql');
    const run = await runCli(['check', '-d', db.url, '--check', 'models-without-pricing', '--format', 'json', '--fix-sql', file, ...flags], { cwd: dir });
    expect(run.code).toBe(1);
    const script = readFileSync(file, 'utf8');
    const config = flags[0] === '--samples' ? { sampleSize: 0 } : { samples: { exclude: ['public.models'] } };
    await expectScriptRunsOnlyPlanned(script, await runAuditWithRepairs(auditOptions(db.url, { checks: ['models-without-pricing'], config })));
    for (const id of IDS) {
      expect(script).not.toContain(id);
      expect(run.stdout).not.toContain(id);
    }
    expect(script).toMatch(/INSERT INTO "public"."model_provider_pricing"/);
    const verify = await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--verify', '--format', 'json', ...flags], { cwd: dir });
    expect(verify.stdout).not.toMatch(/gpt-5-chat/);
    expect(verify.code).toBe(1); // two models cannot be priced without a person: partly cleared
  });
});
