import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { findConfigFile, jsonSyntaxError, loadConfig, stripJsonComments } from '../../src/config/load.js';
import { EXIT } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';

const scratch = (label: string) => realpathSync(mkdtempSync(path.join(os.tmpdir(), `integrity-${label}-`)));

const SQL_CHECK = `-- id: acme/orders-without-lines
-- title: Orders without lines
-- severity: error
-- description: Every order has at least one line.
-- object: public.orders
-- key: id
-- message: {count} orders have no line
SELECT o.id FROM public.orders AS o WHERE NOT EXISTS (SELECT 1 FROM public.order_lines AS l WHERE l.order_id = o.id)
`;

/** A repository: .git, a config at its root naming a checks folder and a migrations folder, and a/b/c. */
function repository(): { root: string; deep: string } {
  const root = scratch('repo');
  mkdirSync(path.join(root, '.git'));
  mkdirSync(path.join(root, 'integrity', 'checks'), { recursive: true });
  mkdirSync(path.join(root, 'db', 'migrations'), { recursive: true });
  writeFileSync(path.join(root, 'integrity', 'checks', 'orders-without-lines.sql'), SQL_CHECK);
  writeFileSync(
    path.join(root, 'integrity.config.json'),
    JSON.stringify({ sampleSize: 3, plugins: ['./integrity/checks'], migrations: 'db/migrations' }, null, 2),
  );
  const deep = path.join(root, 'a', 'b', 'c');
  mkdirSync(deep, { recursive: true });
  return { root, deep };
}

describe('a JSON syntax error in the config names its line and column', () => {
  const BROKEN = [
    '{',
    '  // the gate of the nightly job',
    '  "sampleSize": 3,',
    '  /* a note',
    '     over two lines */',
    '  "checks": {',
    '    "orphan-rows": { "enabled": false } "unique": { "enabled": false }',
    '  }',
    '}',
  ].join('\n');

  it('a missing comma on line 7 (after comments, which keep their lines): line 7, column 41', async () => {
    const dir = scratch('broken');
    writeFileSync(path.join(dir, 'integrity.config.json'), BROKEN);
    expect(BROKEN.split('\n')[6]?.indexOf('"unique"')).toBe(40);
    const run = await runCli(['list'], { cwd: dir });
    expect(run.stderr).toBe(
      `integrity: config file ${path.join(dir, 'integrity.config.json')} is not valid JSON: line 7, column 41: unexpected "\\""; expected ',' or '}' after the property value\n`,
    );
    expect(run.stdout).toBe('');
    expect(run.code).toBe(EXIT.auditFailed);
  });

  it('a trailing comma on line 7 is pointed at', async () => {
    const dir = scratch('comma');
    const lines = ['{', '  "sampleSize": 3,', '  "checks": {', '    "orphan-rows": {', '      "enabled": false', '    }', '  },', '}'];
    writeFileSync(path.join(dir, 'integrity.config.json'), lines.join('\n'));
    const run = await runCli(['list'], { cwd: dir });
    expect(run.stderr).toBe(
      `integrity: config file ${path.join(dir, 'integrity.config.json')} is not valid JSON: line 7, column 4: a comma before } (JSON allows no trailing comma)\n`,
    );
    expect(run.stdout).toBe('');
    expect(run.code).toBe(EXIT.auditFailed);
  });

  it.each([
    ['{\n  "a": 1\n  "b": 2\n}', { offset: 13, message: `unexpected "\\""; expected ',' or '}' after the property value` }],
    ['{"a": x}', { offset: 6, message: 'unexpected "x"; expected a value' }],
    ['', { offset: 0, message: 'unexpected end of file; expected a value' }],
    ['{"a": 1', { offset: 7, message: "unexpected end of file; expected ',' or '}' after the property value" }],
    ["{'a': 1}", { offset: 1, message: 'unexpected "\'"; expected a property name in double quotes' }],
    ['{"a": "b\n"}', { offset: 8, message: 'a string is not closed on its line (a missing ")' }],
    ['[1, 2,]', { offset: 5, message: 'a comma before ] (JSON allows no trailing comma)' }],
    ['{} {}', { offset: 3, message: 'unexpected "{" after the end of the JSON value' }],
    ['{"a": 01}', { offset: 7, message: "unexpected \"1\"; expected ',' or '}' after the property value" }],
  ])('jsonSyntaxError(%j)', (text, expected) => {
    expect(jsonSyntaxError(text)).toEqual(expected);
  });

  it('finds an error exactly when JSON.parse rejects the text', () => {
    const parses = (text: string) => {
      try {
        JSON.parse(text);
        return true;
      } catch {
        return false;
      }
    };
    // Valid JSON, then the same with one character removed, replaced or inserted.
    const mutated = fc.tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', '}', ']', '"', ':', '\\', 'x', '\n', '0', '-', '.', 'e')).map(([json, at, ch]) => {
      const i = json.length === 0 ? 0 : at % json.length;
      return at % 2 === 0 ? json.slice(0, i) + ch + json.slice(i + 1) : json.slice(0, i) + ch + json.slice(i);
    });
    fc.assert(
      fc.property(fc.oneof(fc.json(), mutated, fc.string()), (text) => {
        expect(jsonSyntaxError(text) === null).toBe(parses(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('comments become blanks, keeping every offset', () => {
    const text = '{ // one\n /* two\n three */ "a": "//not a comment" }';
    const stripped = stripJsonComments(text);
    expect(stripped).toHaveLength(text.length);
    expect(stripped.split('\n')).toHaveLength(3);
    expect(JSON.parse(stripped)).toEqual({ a: '//not a comment' });
  });
});

describe('the config is found from a subdirectory, up to the repository root', () => {
  it('run from a/b/c, it reads the root config, and its paths stay relative to the file', async () => {
    const { root, deep } = repository();
    const loaded = loadConfig(CHECKS, undefined, deep);
    expect(loaded.file).toBe(path.join(root, 'integrity.config.json'));
    expect(loaded.config.sampleSize).toBe(3);
    expect(loaded.config.migrations).toBe(path.join(root, 'db', 'migrations'));
    // The plugin folder ./integrity/checks resolves from the config's folder, not from a/b/c.
    const run = await runCli(['list', '--format', 'json'], { cwd: deep });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT.ok);
    const listed = JSON.parse(run.stdout) as { id: string; origin: string }[];
    expect(listed.filter((c) => c.origin !== 'built-in').map((c) => c.id)).toEqual(['acme/orders-without-lines']);
  });

  it('the nearest config wins', () => {
    const { root, deep } = repository();
    writeFileSync(path.join(root, 'a', 'integrity.config.json'), '{ "sampleSize": 9 }');
    expect(findConfigFile(deep)).toBe(path.join(root, 'a', 'integrity.config.json'));
    expect(loadConfig(CHECKS, undefined, deep).config.sampleSize).toBe(9);
  });

  it('stops at the directory holding .git (a directory, or a file as in a worktree): a config above the repository is not read', () => {
    const outer = scratch('outer');
    writeFileSync(path.join(outer, 'integrity.config.json'), '{ "sampleSize": 9 }');
    for (const [name, makeGit] of [
      ['clone', (dir: string) => mkdirSync(path.join(dir, '.git'))],
      ['worktree', (dir: string) => writeFileSync(path.join(dir, '.git'), 'gitdir: /elsewhere/.git/worktrees/w\n')],
    ] as const) {
      const repo = path.join(outer, name);
      mkdirSync(path.join(repo, 'src'), { recursive: true });
      makeGit(repo);
      expect(findConfigFile(path.join(repo, 'src'))).toBeNull();
      expect(loadConfig(CHECKS, undefined, path.join(repo, 'src'))).toMatchObject({ file: null, config: { sampleSize: 5 } });
    }
    // Outside any repository the search goes on up to the filesystem root.
    mkdirSync(path.join(outer, 'plain', 'sub'), { recursive: true });
    expect(findConfigFile(path.join(outer, 'plain', 'sub'))).toBe(path.join(outer, 'integrity.config.json'));
  });

  it('a directory named integrity.config.json is not a config', () => {
    const { root, deep } = repository();
    mkdirSync(path.join(root, 'a', 'b', 'integrity.config.json'));
    expect(findConfigFile(deep)).toBe(path.join(root, 'integrity.config.json'));
  });

  it('--config is still read from the working directory, without a search', async () => {
    const { deep } = repository();
    const run = await runCli(['list', '--config', 'integrity.config.json'], { cwd: deep });
    expect(run.stderr).toBe('integrity: config file integrity.config.json does not exist; pass an existing file to --config\n');
    expect(run.code).toBe(EXIT.auditFailed);
  });
});
