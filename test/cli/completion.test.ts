import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { EXIT } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';

/** Runs the CLI in-process (no database is involved): what it printed and its exit code. */
async function cli(args: string[], cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-completion-'))): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: {}, cwd };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

function has(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
}

/** The commands `integrity --help` lists (and theirs, as `quarantine restore`), and the long options each one's --help lists: what the scripts must offer. */
async function helpSurface(path: string[] = [], surface = new Map<string, string[]>()): Promise<Map<string, string[]>> {
  const help = (await cli([...path, '--help'])).stdout;
  if (path.length > 0) {
    const options = help.split('Options:')[1]?.split(/\n\n/)[0] ?? '';
    surface.set(path.join(' '), [...new Set([...options.matchAll(/(?:^|[ ,])(--[a-z][a-z-]*)/gm)].map((m) => m[1] as string))]);
  }
  const commands = [...(help.split('Commands:')[1] ?? '').matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1] as string);
  for (const command of commands.filter((c) => c !== 'help')) await helpSurface([...path, command], surface);
  return surface;
}

function scriptFile(shell: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-completion-')), `integrity.${shell}`);
  writeFileSync(file, text);
  return file;
}

describe('integrity completion', () => {
  it('offers every command and every option of each, as --help lists them', async () => {
    const surface = await helpSurface();
    // The surface read from --help is itself checked, so an empty parse cannot pass.
    for (const command of ['check', 'fix', 'baseline', 'init', 'preflight', 'list', 'explain', 'new-check', 'demo', 'completion', 'quarantine list', 'quarantine restore']) {
      expect([...surface.keys()]).toContain(command);
    }
    expect(surface.get('check')).toContain('--deep');
    expect(surface.get('check')).toContain('--fail-on');
    expect(surface.get('quarantine restore')).toContain('--finding');
    for (const shell of ['bash', 'zsh', 'fish']) {
      const run = await cli(['completion', shell]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(EXIT.ok);
      for (const [command, options] of surface) {
        expect(run.stdout, `${shell}: ${command}`).toMatch(new RegExp(`\\b${command.split(' ').at(-1)}\\b`));
        for (const option of options) {
          // fish writes `-l deep`, the others `--deep`.
          const spelled = shell === 'fish' ? `-l ${option.slice(2)} ` : option;
          expect(run.stdout, `${shell}: ${command} ${option}`).toContain(spelled);
        }
      }
      for (const check of CHECKS) expect(run.stdout, `${shell}: ${check.id}`).toContain(check.id);
      // The deprecated, hidden --sample is not offered.
      expect(run.stdout).not.toMatch(/--sample[^-s]|-l sample /);
    }
  });

  it('bash -n accepts the bash script, and completing in bash gives commands, options, choices and check ids', async () => {
    const file = scriptFile('bash', (await cli(['completion', 'bash'])).stdout);
    expect(spawnSync('bash', ['-n', file], { encoding: 'utf8' }).stderr).toBe('');
    const complete = (words: string[]) => {
      const script = `source ${JSON.stringify(file)}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _integrity_completion; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    };
    expect(complete(['integrity', 'ch'])).toEqual(['check']);
    expect(complete(['integrity', 'check', '--de'])).toEqual(['--deep']);
    expect(complete(['integrity', 'fix', '--ve'])).toEqual(['--verify']);
    expect(complete(['integrity', 'check', '--format', ''])).toEqual(['pretty', 'json', 'junit', 'sarif', 'github', 'markdown']);
    expect(complete(['integrity', 'check', '--check', 'orph'])).toEqual(['orphan-rows']);
    expect(complete(['integrity', 'explain', 'users'])).toEqual(['users-without-profiles']);
    expect(complete(['integrity', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    expect(complete(['integrity', 'check', '--jobs', ''])).toEqual([]);
    // A command's own commands, and their options (not those of the top-level `list`).
    expect(complete(['integrity', 'quarantine', ''])).toEqual(['list', 'restore', 'purge', 'help']);
    expect(complete(['integrity', 'quarantine', 'restore', '--fi'])).toEqual(['--finding']);
    expect(complete(['integrity', 'quarantine', 'list', '--con'])).toEqual(['--connect-timeout']);
    expect(complete(['integrity', 'list', '--con'])).toEqual(['--config']);
  });

  it.skipIf(!has('zsh'))('zsh -n accepts the zsh script (skipped when zsh is not installed)', async () => {
    const text = (await cli(['completion', 'zsh'])).stdout;
    expect(text.startsWith('#compdef integrity\n')).toBe(true);
    const result = spawnSync('zsh', ['-n', scriptFile('zsh', text)], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.skipIf(!has('fish'))('fish --no-execute accepts the fish script, and fish completes from it (skipped when fish is not installed)', async () => {
    const file = scriptFile('fish', (await cli(['completion', 'fish'])).stdout);
    const parsed = spawnSync('fish', ['--no-execute', file], { encoding: 'utf8' });
    expect(parsed.stderr).toBe('');
    expect(parsed.status).toBe(0);
    const complete = (line: string) =>
      spawnSync('fish', ['--no-config', '-c', `source ${JSON.stringify(file)}; complete -C ${JSON.stringify(line)}`], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]);
    expect(complete('integrity check --de')).toEqual(['--deep']);
    expect(complete('integrity explain orph')).toEqual(['orphan-rows']);
    expect(complete('integrity completion ').sort()).toEqual(['bash', 'fish', 'zsh']);
    expect(complete('integrity quarantine ').sort()).toEqual(['help', 'list', 'purge', 'restore']);
    expect(complete('integrity quarantine restore --fi')).toEqual(['--finding']);
    expect(complete('integrity list --con')).toEqual(['--config']);
    // The helper deciding where the words stand raises no error in fish.
    const errors = spawnSync('fish', ['--no-config', '-c', `source ${JSON.stringify(file)}; complete -C 'integrity '`], { encoding: 'utf8' }).stderr;
    expect(errors).toBe('');
  });

  it("completes the ids of the config's own checks too", async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'integrity-completion-'));
    mkdirSync(path.join(root, 'checks'));
    writeFileSync(
      path.join(root, 'checks', 'orders.sql'),
      '-- id: acme/orders-without-lines\n-- title: Orders without lines\n-- severity: error\n-- description: Every order has a line.\n-- object: public.orders\n-- key: id\n-- message: {count} orders have no line\nSELECT o.id FROM public.orders AS o\n',
    );
    writeFileSync(path.join(root, 'integrity.config.json'), JSON.stringify({ plugins: ['./checks'] }));
    const run = await cli(['completion', 'bash'], root);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/--check\) COMPREPLY=\(\$\(compgen -W '[^']*\bacme\/orders-without-lines\b/);
  });

  it('an unknown shell is a one-line usage error', async () => {
    const run = await runCli(['completion', 'powershell']);
    expect(run.stderr).toBe("integrity: command-argument value 'powershell' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish. (see integrity completion --help)\n");
    expect(run.code).toBe(EXIT.auditFailed);
  });
});
