import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { usageErrorLine } from '../../src/cli/main.js';
import { EXIT } from '../../src/errors.js';

/** Usage errors need no database: commander rejects them before any connection is attempted. */
describe('usage errors are one line, like the tool\'s other errors', () => {
  it.each([
    [['check', '--deeep'], "integrity: unknown option '--deeep'; did you mean --deep? (see integrity check --help)"],
    [['fix', '--veryfy'], "integrity: unknown option '--veryfy'; did you mean --verify? (see integrity fix --help)"],
    [['--bogus'], "integrity: unknown option '--bogus' (see integrity --help)"],
    [['chek'], "integrity: unknown command 'chek'; did you mean check? (see integrity --help)"],
    [['explain'], "integrity: missing required argument 'id' (see integrity explain --help)"],
    [['new-check'], "integrity: missing required argument 'id' (see integrity new-check --help)"],
    [['check', '--format'], "integrity: option '--format <format>' argument missing (see integrity check --help)"],
    [['explain', 'a', 'b'], "integrity: too many arguments for 'explain'. Expected 1 argument but got 2. (see integrity explain --help)"],
  ])('%j', async (args, line) => {
    const run = await runCli(args);
    expect(run.stderr).toBe(`${line}\n`);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(EXIT.auditFailed);
  });

  it('keeps every suggestion commander makes', () => {
    expect(usageErrorLine("error: unknown option '--s'\n(Did you mean one of --skip, --schema?)\n", 'integrity check')).toBe(
      "unknown option '--s'; did you mean one of --skip, --schema? (see integrity check --help)",
    );
  });

  it('shows a control character in what was typed escaped, not raw', async () => {
    const run = await runCli(['check', '--de\u001b[2Jep']);
    expect(run.stderr).not.toContain('\u001b');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.code).toBe(EXIT.auditFailed);
  });
});
