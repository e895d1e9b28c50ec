import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { runCli } from '../helpers/cli.js';

describe('explain tells each incident in plain words', () => {
  // The incidents the checks come from are numbered in the repository (test/fixtures/000_...); a user has
  // never seen those numbers, so no check's documentation may lean on them.
  it.each(CHECKS.map((c) => c.id))('integrity explain %s names no seed', async (id) => {
    const run = await runCli(['explain', id]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Why it matters');
    expect(run.stdout).not.toMatch(/seed/i);
  });

  it('nor does any check\'s title, description or docs field, nor integrity list', async () => {
    for (const c of CHECKS) expect(JSON.stringify(c.docs ?? {}) + c.title + c.description).not.toMatch(/seed/i);
    expect((await runCli(['list'])).stdout).not.toMatch(/seed/i);
  });
});
