import os from 'node:os';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { EXIT } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const ESC = '\u001b';

describe('check --plan colours as the rest of the output does (colorLevel)', () => {
  const db = useDatabase('plan_color', { incidents: ['001_llm_call_stored_file.sql', '004_supabase_profiles.sql'] });
  const args = () => ['check', '-d', db.url, '--plan', '--check', 'orphan-rows', '--check', 'users-without-profiles'];

  /** The plan printed in-process to a stdout that is, or is not, a terminal. */
  async function plan(isTTY: boolean, env: NodeJS.ProcessEnv): Promise<string> {
    let stdout = '';
    let stderr = '';
    const io: CliIO = {
      stdout: { write: (s: string) => (stdout += s), isTTY, columns: 120 },
      stderr: { write: (s: string) => (stderr += s) },
      env,
      cwd: mkdtempSync(path.join(os.tmpdir(), 'integrity-plan-color-')),
    };
    const code = await main(args(), io);
    expect(stderr).toBe('');
    expect(code).toBe(EXIT.ok);
    // A table was drawn (its borders are what cli-table3 would colour), so the checks below mean something.
    expect(stdout).toContain('┌');
    return stdout;
  }

  it('piped: no escape, whatever TERM and COLORTERM say', async () => {
    expect(await plan(false, {})).not.toContain(ESC);
    expect(await plan(false, { TERM: 'xterm-256color', COLORTERM: 'truecolor' })).not.toContain(ESC);
  });

  it('on a terminal: colour, except with NO_COLOR', async () => {
    expect(await plan(true, { TERM: 'xterm-256color' })).toContain(ESC);
    expect(await plan(true, { TERM: 'xterm-256color', NO_COLOR: '1' })).not.toContain(ESC);
  });

  it('FORCE_COLOR=1 colours even a pipe', async () => {
    expect(await plan(false, { FORCE_COLOR: '1' })).toContain(`${ESC}[1m`);
  });

  it('through a real pipe (the built CLI): none, NO_COLOR=1 none, FORCE_COLOR=1 colour', async () => {
    const piped = await runCli(args());
    expect(piped.code).toBe(EXIT.ok);
    expect(piped.stdout).toContain('┌');
    expect(piped.stdout).not.toContain(ESC);
    expect((await runCli(args(), { env: { NO_COLOR: '1', TERM: 'xterm-256color' } })).stdout).not.toContain(ESC);
    expect((await runCli(args(), { env: { FORCE_COLOR: '1' } })).stdout).toContain(`${ESC}[1m`);
  });
});
