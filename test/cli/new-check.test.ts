import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stripJsonComments } from '../../src/config/load.js';
import { addPlugin } from '../../src/cli/new-check-command.js';
import { createDatabase, dropDatabase, runSql } from '../../src/demo/fixtures.js';
import { packageRoot } from '../../src/paths.js';
import { runCli } from '../helpers/cli.js';
import { adminUrl } from '../helpers/db.js';

/** A user's project with pg-integrity installed (a link to this package) and vitest beside it. */
function project(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-new-check-'));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(packageRoot(), path.join(dir, 'node_modules', 'pg-integrity'));
  symlinkSync(path.join(packageRoot(), 'node_modules', 'vitest'), path.join(dir, 'node_modules', 'vitest'));
  return dir;
}

const read = (dir: string, file: string) => readFileSync(path.join(dir, file), 'utf8');
const config = (dir: string, file = 'integrity.config.json') => JSON.parse(stripJsonComments(read(dir, file))) as Record<string, unknown>;

/** Audits a database holding the generated fixture with the project's config, as a user would. */
async function checkWithFixture(dir: string, id: string, fixtureFile: string) {
  const name = `integrity_t_new_check_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const url = await createDatabase(adminUrl(), name);
  try {
    await runSql(url, [read(dir, fixtureFile)]);
    const run = await runCli(['check', '--config', 'integrity.config.json', '-d', url, '--check', id, '--format', 'json'], { cwd: dir });
    return { run, report: JSON.parse(run.stdout) as { checks: { id: string; status: string }[]; findings: { checkId: string; count: number; object: Record<string, unknown> }[] } };
  } finally {
    await dropDatabase(adminUrl(), name);
  }
}

/** The project's own test run, as `npx vitest run <file>` would run it there. */
function vitest(dir: string, file: string): Promise<{ code: number; output: string }> {
  const bin = path.join(packageRoot(), 'node_modules', 'vitest', 'vitest.mjs');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, 'run', file],
      { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME, INTEGRITY_TEST_DATABASE_URL: adminUrl(), NO_COLOR: '1' }, timeout: 180_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

describe('integrity new-check', () => {
  it('writes a TypeScript check, its fixture and its test, and registers the folder so list and check see it', async () => {
    const dir = project();
    const run = await runCli(['new-check', 'acme/invoice-has-lines'], { cwd: dir });
    expect(run).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'wrote integrity/checks/invoice-has-lines.check.ts',
        'wrote integrity/fixtures/invoice-has-lines.sql',
        'wrote integrity/checks/invoice-has-lines.test.ts',
        'wrote integrity.config.json: plugins lists ./integrity/checks',
        '',
        'Next: run its test (against INTEGRITY_TEST_DATABASE_URL, else an embedded PostgreSQL):',
        '  npx vitest run integrity/checks/invoice-has-lines.test.ts',
        'then see it in integrity list, and run it with integrity check --check acme/invoice-has-lines',
        '',
      ].join('\n'),
    });
    expect(read(dir, 'integrity/checks/invoice-has-lines.check.ts')).toMatch(/^import \{ defineCheck, displayName, findTable, qualifiedName, z \} from 'pg-integrity';\n\nconst ID = 'acme\/invoice-has-lines';/);
    expect(read(dir, 'integrity/checks/invoice-has-lines.test.ts')).toContain("import { CheckTester } from 'pg-integrity/testing';");
    expect(config(dir)).toEqual({ plugins: ['./integrity/checks'] });

    const list = await runCli(['list', '--config', 'integrity.config.json', '--format', 'json'], { cwd: dir });
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((c) => c.id)).toContain('acme/invoice-has-lines');

    const { run: check, report } = await checkWithFixture(dir, 'acme/invoice-has-lines', 'integrity/fixtures/invoice-has-lines.sql');
    expect(check.code).toBe(1);
    expect(report.checks.find((c) => c.id === 'acme/invoice-has-lines')?.status).toBe('failed');
    expect(report.findings.map((f) => [f.checkId, f.object.table, f.count])).toEqual([['acme/invoice-has-lines', 'orders', 1]]);
  });

  it('writes a SQL check with --sql, adding the folder to an existing config without losing its comments', async () => {
    const dir = project();
    const before = '// our settings\n{\n  "sampleSize": 3, // fewer samples\n  "plugins": [\n    "./other" /* kept */\n  ]\n}\n';
    writeFileSync(path.join(dir, 'integrity.config.json'), before);
    mkdirSync(path.join(dir, 'other'));
    writeFileSync(path.join(dir, 'other', 'noop.check.mjs'), "export default { id: 'other/noop', title: 'Nothing', severity: 'info', description: 'Finds nothing.', async run() { return []; } };\n");
    const run = await runCli(['new-check', 'acme/no-future-invoices', '--sql'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('wrote integrity/checks/no-future-invoices.sql\nwrote integrity/fixtures/no-future-invoices.sql\nwrote integrity/checks/no-future-invoices.test.ts\nupdated integrity.config.json: plugins lists ./integrity/checks\n');
    expect(read(dir, 'integrity.config.json')).toBe('// our settings\n{\n  "sampleSize": 3, // fewer samples\n  "plugins": [\n    "./other", "./integrity/checks" /* kept */\n  ]\n}\n');
    expect(read(dir, 'integrity/checks/no-future-invoices.sql')).toMatch(/^-- id: acme\/no-future-invoices\n-- title: /);

    const list = await runCli(['list', '--config', 'integrity.config.json', '--format', 'json'], { cwd: dir });
    expect((JSON.parse(list.stdout) as { id: string }[]).map((c) => c.id)).toEqual(expect.arrayContaining(['other/noop', 'acme/no-future-invoices']));
    const { run: check, report } = await checkWithFixture(dir, 'acme/no-future-invoices', 'integrity/fixtures/no-future-invoices.sql');
    expect(check.code).toBe(1);
    expect(report.findings.map((f) => [f.checkId, f.object, f.count])).toEqual([['acme/no-future-invoices', { schema: 'public', table: 'orders' }, 1]]);

    // A second check goes to the same folder: the config already lists it.
    const again = await runCli(['new-check', 'acme/second'], { cwd: dir });
    expect(again.stdout).toContain('integrity.config.json already lists ./integrity/checks in plugins\n');
    expect(read(dir, 'integrity.config.json')).toContain('"./other", "./integrity/checks" /* kept */');
  });

  it('the generated tests pass under vitest, and fail when the fixture stops matching them', async () => {
    const dir = project();
    expect((await runCli(['new-check', 'acme/invoice-has-lines'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['new-check', 'acme/no-future-invoices', '--sql'], { cwd: dir })).code).toBe(0);
    const passing = await vitest(dir, 'integrity/checks/');
    expect(passing.output).toMatch(/Tests {2}4 passed \(4\)/);
    expect(passing.code).toBe(0);

    // One more order without lines: the failing case expected exactly one.
    writeFileSync(path.join(dir, 'integrity/fixtures/invoice-has-lines.sql'), `${read(dir, 'integrity/fixtures/invoice-has-lines.sql')}INSERT INTO public.orders (id) VALUES (3);\n`);
    const failing = await vitest(dir, 'integrity/checks/invoice-has-lines.test.ts');
    expect(failing.code).toBe(1);
    expect(failing.output).toContain('acme/invoice-has-lines › an order without lines: expected 1 finding(s), got 1; 0 matched');
    expect(failing.output).toContain('"count":2,"samples":["2","3"]');
  }, 300_000);

  it('refuses a bad id and an existing file with a one-line error and exit 2, and --force overwrites', async () => {
    const dir = project();
    for (const bad of ['invoice-has-lines', 'Acme/Invoice', 'acme/', 'acme/a/b']) {
      const run = await runCli(['new-check', bad], { cwd: dir });
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(`integrity: check id ${JSON.stringify(bad)} must be namespaced, as "acme/invoice-has-lines" (lower case letters, digits, ".", "_" and "-"; bare ids belong to the built-in checks)\n`);
    }
    expect(existsSync(path.join(dir, 'integrity'))).toBe(false);
    expect(existsSync(path.join(dir, 'integrity.config.json'))).toBe(false);

    mkdirSync(path.join(dir, 'integrity', 'checks'), { recursive: true });
    writeFileSync(path.join(dir, 'integrity', 'checks', 'x.test.ts'), 'mine\n');
    const refused = await runCli(['new-check', 'acme/x'], { cwd: dir });
    expect(refused).toEqual({ code: 2, stdout: '', stderr: 'integrity: integrity/checks/x.test.ts already exists; pass --force to overwrite\n' });
    expect(existsSync(path.join(dir, 'integrity', 'checks', 'x.check.ts'))).toBe(false);
    expect(read(dir, 'integrity/checks/x.test.ts')).toBe('mine\n');
    const forced = await runCli(['new-check', 'acme/x', '--force'], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(read(dir, 'integrity/checks/x.test.ts')).toContain('CheckTester');
  });

  it('--dir and --config: the plugins entry is relative to the config file', async () => {
    const dir = project();
    mkdirSync(path.join(dir, 'ci'));
    const run = await runCli(['new-check', 'acme/x', '--dir', 'app', '--config', 'ci/integrity.config.json'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('wrote app/integrity/checks/x.check.ts\n');
    expect(run.stdout).toContain('  npx vitest run app/integrity/checks/x.test.ts\n');
    expect(config(dir, 'ci/integrity.config.json')).toEqual({ plugins: ['../app/integrity/checks'] });
  });
});

describe('addPlugin (the config edit)', () => {
  it('appends to the plugins array or adds the key, leaving the rest of the text alone', () => {
    expect(addPlugin('{}', './p')).toBe('{\n  "plugins": ["./p"]\n}');
    expect(addPlugin('{ "plugins": [] }', './p')).toBe('{ "plugins": ["./p"] }');
    expect(addPlugin('{\n    "sampleSize": 2\n}\n', './p')).toBe('{\n    "plugins": ["./p"],\n    "sampleSize": 2\n}\n');
    expect(addPlugin('{"checks": {"plugins": ["no"]}, "plugins": ["a"]}', './p')).toBe('{"checks": {"plugins": ["no"]}, "plugins": ["a", "./p"]}');
    expect(addPlugin('{ /* "plugins": [] */ "x": "plugins: [" }', './p')).toBe('{\n  "plugins": ["./p"], /* "plugins": [] */ "x": "plugins: [" }');
  });
});
