import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { useDatabase } from '../helpers/db.js';

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 200, write: (c: string) => chunks.push(c) }, text: () => chunks.join('') };
}

describe('progress', () => {
  const db = useDatabase('progress', { incidents: ['000_models_without_pricing.sql'] });

  it('draws a live line on a terminal stderr while stdout stays clean JSON', async () => {
    const out = capture(false);
    const err = capture(true);
    const code = await main(['check', '-d', db.url, '--format', 'json', '--jobs', '1'], { stdout: out.stream, stderr: err.stream, env: {}, cwd: process.cwd() });
    expect(code).toBe(1);
    expect(() => JSON.parse(out.text())).not.toThrow();
    expect(err.text()).toContain('\r\u001b[2Kintegrity · ');
    expect(err.text()).toMatch(/integrity · placeholder-uuid(?: · [^·]+)? · \d+\.\ds · \d+\/16 checks/);
    expect(err.text()).toMatch(/16\/16 checks/);
    expect(err.text().endsWith('\r\u001b[2K')).toBe(true);
  });

  it('draws nothing with --quiet or when stderr is not a terminal', async () => {
    for (const [args, tty] of [[['--quiet'], true], [[], false]] as const) {
      const err = capture(tty);
      await main(['check', '-d', db.url, '--format', 'json', ...args], { stdout: capture(false).stream, stderr: err.stream, env: {}, cwd: process.cwd() });
      expect(err.text()).toBe('');
    }
  });
});
