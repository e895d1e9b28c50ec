import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { runCli } from '../helpers/cli.js';
import { query, useDatabase } from '../helpers/db.js';

/**
 * Plugins as users write them: files in a project folder, loaded through the config. The project sits
 * inside the repository so that `import ... from 'integrity'` resolves (the package's self-reference)
 * to the built tool, as it resolves to the installed one in a user's project.
 */
const project = path.join(packageRoot(), 'test', '.scratch', `plugins-${process.pid}`);

const FIXTURE = `
CREATE TABLE public.invoice (id int PRIMARY KEY, amount_cents int NOT NULL);
INSERT INTO public.invoice VALUES (1, 100), (2, -5), (3, -7), (4, 0);
CREATE TABLE public.audit_log (id serial PRIMARY KEY, note text);
`;

const NEGATIVE_TS = `
import { defineCheck, qualifiedName, z } from 'integrity';

export default defineCheck({
  id: 'acme/negative-amounts',
  title: 'Invoice amounts are never negative',
  severity: 'error',
  description: 'Finds invoices whose amount is below zero.',
  options: z.strictObject({ table: z.string().default('invoice'), below: z.number().int().default(0) }),
  async run(ctx) {
    const table: string = ctx.options.table;
    const res = await ctx.db.query<{ n: string; ids: number[] }>(
      \`SELECT count(*) AS n, array_agg(id ORDER BY id) AS ids FROM \${qualifiedName('public', table)} WHERE amount_cents < $1\`,
      [ctx.options.below],
    );
    const n = Number(res.rows[0]?.n ?? 0);
    if (n === 0) return [];
    return [ctx.finding({ kind: 'negative', message: \`\${n} negative amounts\`, object: { schema: 'public', table, column: 'amount_cents' }, count: n, samples: (res.rows[0]?.ids ?? []).map(String) })];
  },
});
`;

const COUNTS_MJS = `
export const checks = [{
  id: 'acme/invoice-count',
  title: 'Counts invoices (plain JavaScript, no import at all)',
  severity: 'info',
  description: 'Reports how many invoices there are, as an info finding.',
  async run(ctx) {
    const res = await ctx.db.query('SELECT count(*)::int AS n FROM public.invoice');
    return [ctx.finding({ kind: 'count', message: 'invoices', object: { schema: 'public', table: 'invoice' }, count: res.rows[0].n })];
  },
}];
`;

/** A plugin check whose run is `body` (JavaScript), in a folder of its own. */
function pluginFolder(name: string, files: Record<string, string>): string {
  const dir = path.join(project, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(dir, file), text);
  return dir;
}

function oneCheck(id: string, body: string, extra = ''): string {
  return `export default {
  id: ${JSON.stringify(id)},
  title: 'a test plugin check',
  severity: 'error',
  description: 'a plugin check written for the isolation tests',
  ${extra}
  async run(ctx) { ${body} },
};
`;
}

function writeConfig(name: string, config: unknown): string {
  const file = path.join(project, `${name}.config.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

describe('plugins: TypeScript and JavaScript checks loaded from the config', () => {
  const db = useDatabase('plugins', { sql: [FIXTURE] });
  beforeAll(() => {
    mkdirSync(project, { recursive: true });
    pluginFolder('checks', { 'negative.check.ts': NEGATIVE_TS, 'count.check.mjs': COUNTS_MJS, 'notes.txt': 'not a check' });
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  const json = async (args: string[]) => {
    const run = await runCli(['check', '-d', db.url, '--format', 'json', ...args], { cwd: project });
    return { ...run, report: run.stdout ? (JSON.parse(run.stdout) as { checks: { id: string; status: string; reason: string | null }[]; findings: { checkId: string; count: number; samples: string[]; object: unknown }[] }) : null };
  };

  it('loads a folder: .check.ts through jiti and .check.mjs natively; their findings are reported like the built-ins', async () => {
    const config = writeConfig('folder', { plugins: ['./checks'] });
    const { code, report } = await json(['--config', config, '--check', 'acme/negative-amounts', '--check', 'acme/invoice-count']);
    expect(code).toBe(1);
    expect(report?.findings.map((f) => [f.checkId, f.count, f.samples])).toEqual([
      ['acme/invoice-count', 4, []],
      ['acme/negative-amounts', 2, ['2', '3']],
    ]);
    expect(report?.checks.find((c) => c.id === 'orphan-rows')?.status).toBe('skipped');
  });

  it('hands a check its options from checks.<id>, validated by its own schema', async () => {
    const ok = writeConfig('options', { plugins: ['./checks'], checks: { 'acme/negative-amounts': { below: -6, severity: 'warning' } } });
    const { report } = await json(['--config', ok, '--check', 'acme/negative-amounts']);
    expect(report?.findings.map((f) => [f.checkId, f.count, f.samples])).toEqual([['acme/negative-amounts', 1, ['3']]]);
    const bad = writeConfig('bad-options', { plugins: ['./checks'], checks: { 'acme/negative-amounts': { below: 'ten' } } });
    const run = await json(['--config', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/checks\.acme\/negative-amounts\.below/);
    const unknown = writeConfig('unknown-option', { plugins: ['./checks'], checks: { 'acme/negative-amounts': { limt: 1 } } });
    expect((await json(['--config', unknown])).stderr).toMatch(/limt/);
  });

  it('list and explain show plugin checks with where they come from', async () => {
    const config = writeConfig('list', { plugins: ['./checks'] });
    const list = await runCli(['list', '--format', 'json', '--config', config], { cwd: project });
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as { id: string; origin: string }[];
    expect(rows.filter((r) => r.id.startsWith('acme/')).map((r) => [r.id, path.basename(r.origin)])).toEqual([
      ['acme/invoice-count', 'count.check.mjs'],
      ['acme/negative-amounts', 'negative.check.ts'],
    ]);
    const explain = await runCli(['explain', 'acme/negative-amounts', '--config', config], { cwd: project });
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('Invoice amounts are never negative');
    expect(explain.stdout).toContain('Finds invoices whose amount is below zero.');
  });

  it('resolves an npm package from the config file\'s folder, as ESLint resolves plugins', async () => {
    const pkg = path.join(project, 'node_modules', '@acme', 'integrity-checks');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@acme/integrity-checks', type: 'module', exports: { '.': { import: './index.js' } } }));
    writeFileSync(path.join(pkg, 'index.js'), COUNTS_MJS.replace('acme/invoice-count', 'acme/packaged-count'));
    const config = writeConfig('package', { plugins: ['@acme/integrity-checks'] });
    const { code, report } = await json(['--config', config, '--check', 'acme/packaged-count']);
    expect(code).toBe(0);
    expect(report?.findings.map((f) => [f.checkId, f.count])).toEqual([['acme/packaged-count', 4]]);
    const missing = writeConfig('missing-package', { plugins: ['@acme/not-installed'] });
    const run = await json(['--config', missing]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/plugin @acme\/not-installed: cannot be resolved .*npm install --save-dev @acme\/not-installed/);
  });

  it.each([
    ['a bare id', oneCheck('negative', 'return [];'), /must be namespaced/],
    ['a missing run', `export default { id: 'acme/x', title: 'x title', severity: 'error', description: 'no run here' };`, /run must be a function/],
    ['a missing title', `export default { id: 'acme/x', severity: 'error', description: 'd', async run() { return []; } };`, /title/],
    ['a bad severity', `export default { id: 'acme/x', title: 't', severity: 'fatal', description: 'd', async run() { return []; } };`, /severity/],
    ['nothing exported', `export const nothing = 1;`, /exports no checks/],
    ['a syntax error', `export default {`, /cannot be loaded/],
  ])('a plugin with %s is exit 2 naming the file and the reason', async (_label, source, reason) => {
    const dir = pluginFolder(`broken-${_label.replace(/\W+/g, '-')}`, { 'x.check.mjs': source });
    const config = writeConfig(`broken-${_label.replace(/\W+/g, '-')}`, { plugins: [path.relative(project, dir).replace(/^/, './')] });
    const run = await runCli(['check', '-d', db.url, '--config', config], { cwd: project });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(path.join(dir, 'x.check.mjs'));
    expect(run.stderr).toMatch(reason);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a duplicate id is exit 2 naming both places', async () => {
    const dir = pluginFolder('dupes', { 'a.check.mjs': oneCheck('acme/same', 'return [];'), 'b.check.mjs': oneCheck('acme/same', 'return [];') });
    const config = writeConfig('dupes', { plugins: ['./dupes'] });
    const run = await runCli(['list', '--config', config], { cwd: project });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`"acme/same" is defined twice: by ${path.join(dir, 'a.check.mjs')} and by ${path.join(dir, 'b.check.mjs')}`);
  });
});

describe('plugins are isolated: one that fails costs its own result, and none can write', () => {
  const db = useDatabase('plugin_isolation', { sql: [FIXTURE] });
  const isolationProject = path.join(project, 'isolation');
  beforeAll(() => mkdirSync(isolationProject, { recursive: true }));
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  const runPlugin = async (name: string, body: string, args: string[] = []) => {
    const dir = path.join(isolationProject, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'p.check.mjs'), oneCheck(`acme/${name}`, body));
    writeFileSync(path.join(dir, 'ok.check.mjs'), COUNTS_MJS);
    const config = path.join(dir, 'integrity.config.json');
    writeFileSync(config, JSON.stringify({ plugins: ['.'] }));
    const run = await runCli(['check', '-d', db.url, '--format', 'json', '--config', config, '--check', `acme/${name}`, '--check', 'acme/invoice-count', ...args], { cwd: dir });
    const report = JSON.parse(run.stdout) as { checks: { id: string; status: string; reason: string | null }[]; findings: { checkId: string; count: number }[] };
    const status = (id: string) => report.checks.find((c) => c.id === id);
    return { code: run.code, stderr: run.stderr, plugin: status(`acme/${name}`), other: status('acme/invoice-count'), findings: report.findings };
  };
  const expectIsolated = (r: Awaited<ReturnType<typeof runPlugin>>, reason: RegExp) => {
    expect(r.plugin?.status).toBe('error');
    expect(r.plugin?.reason).toMatch(reason);
    // The other check ran, in the same audit, and its finding stands.
    expect(r.other?.status).toBe('failed');
    expect(r.findings.map((f) => [f.checkId, f.count])).toEqual([['acme/invoice-count', 4]]);
    expect(r.code).toBe(2);
  };

  it('a plugin that throws is error with its message', async () => {
    expectIsolated(await runPlugin('throws', `throw new Error('the plugin broke');`), /the plugin broke/);
  });

  it.each([
    ['not an array', `return { findings: [] };`, /not an array of findings/],
    ['a finding without a count', `return [{ checkId: 'acme/malformed', severity: 'error', message: 'm', object: { schema: 'public', table: 'invoice' }, samples: [], fingerprint: 'f' }];`, /malformed finding at index 0: count/],
    ['a finding of another check', `return [{ ...ctx.finding({ kind: 'k', message: 'm', object: { schema: 'public', table: 'invoice' }, count: 1 }), checkId: 'orphan-rows' }];`, /another check/],
  ])('a plugin returning %s is error, not a half-read report', async (_label, body, reason) => {
    expectIsolated(await runPlugin('malformed', body), reason);
  });

  it('an INSERT is refused before it reaches the server, and a write hidden in a CTE is refused by READ ONLY', async () => {
    expectIsolated(await runPlugin('inserts', `await ctx.db.query("INSERT INTO public.audit_log (note) VALUES ('written')"); return [];`), /a check only reads: Insert is not allowed/);
    expectIsolated(
      await runPlugin('cte-write', `await ctx.db.query("WITH w AS (INSERT INTO public.audit_log (note) VALUES ('written') RETURNING id) SELECT * FROM w"); return [];`),
      /read-only transaction \[25006\]/,
    );
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM public.audit_log')).toEqual([{ n: 0 }]);
  });

  it.each([
    ['COMMIT, to go on outside the read-only transaction', `await ctx.db.query('COMMIT'); await ctx.db.query("INSERT INTO public.audit_log (note) VALUES ('x')"); return [];`, /Transaction is not allowed/],
    ['two statements in one query', `await ctx.db.query("SELECT 1; INSERT INTO public.audit_log (note) VALUES ('x')"); return [];`, /one statement per query, not 2/],
    ['SET, to lift the statement timeout', `await ctx.db.query('SET statement_timeout = 0'); return [];`, /VariableSet is not allowed/],
    ['set_config, to lift it from a SELECT', `await ctx.db.query("SELECT pg_catalog.set_config('statement_timeout', '0', false)"); return [];`, /may not call set_config\(\)/],
  ])('%s is refused', async (_label, body, reason) => {
    expectIsolated(await runPlugin('escapes', body), reason);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM public.audit_log')).toEqual([{ n: 0 }]);
  });

  it("settings a check changes (through a function of the user's, which no guard can read) do not outlive it", async () => {
    await query(db.url, `CREATE OR REPLACE FUNCTION public.loosen() RETURNS text LANGUAGE sql AS $$
      SELECT pg_catalog.set_config('search_path', 'public', true) || pg_catalog.set_config('row_security', 'on', true)
          || pg_catalog.set_config('statement_timeout', '0', true) || pg_catalog.set_config('standard_conforming_strings', 'off', true) $$`);
    const dir = path.join(isolationProject, 'settings');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'a-loosen.check.mjs'), oneCheck('acme/a-loosen', `await ctx.db.query('SELECT public.loosen()'); return [];`));
    writeFileSync(
      path.join(dir, 'b-observe.check.mjs'),
      oneCheck(
        'acme/b-observe',
        `const r = await ctx.db.query("SELECT pg_catalog.current_setting('search_path') AS sp, pg_catalog.current_setting('row_security') AS rs, pg_catalog.current_setting('statement_timeout') AS st, pg_catalog.current_setting('standard_conforming_strings') AS scs");
         return [ctx.finding({ kind: 'settings', message: JSON.stringify(r.rows[0]), object: { schema: 'public', table: 'invoice' }, count: 1 })];`,
      ),
    );
    writeFileSync(path.join(dir, 'integrity.config.json'), JSON.stringify({ plugins: ['.'] }));
    const run = await runCli(['check', '-d', db.url, '--format', 'json', '--jobs', '1', '--statement-timeout', '45000', '--check', 'acme/a-loosen', '--check', 'acme/b-observe'], { cwd: dir });
    const report = JSON.parse(run.stdout) as { checks: { id: string; status: string }[]; findings: { message: string }[] };
    expect(report.checks.filter((c) => c.id.startsWith('acme/')).map((c) => [c.id, c.status])).toEqual([
      ['acme/a-loosen', 'passed'],
      ['acme/b-observe', 'failed'],
    ]);
    expect(JSON.parse(report.findings[0]?.message ?? '{}')).toEqual({ sp: 'pg_catalog, pg_temp', rs: 'off', st: '45s', scs: 'on' });
  });

  it('the statement timeout applies to a plugin\'s queries', async () => {
    expectIsolated(await runPlugin('slow', `await ctx.db.query('SELECT pg_catalog.pg_sleep(5)'); return [];`, ['--statement-timeout', '300']), /statement timeout.*\[57014\]/);
  });

  it('a plugin that never returns is cut off by --check-timeout, and its running query is cancelled on the server', async () => {
    const started = Date.now();
    const hang = await runPlugin('hangs', `await new Promise(() => {});`, ['--check-timeout', '1500']);
    expectIsolated(hang, /did not finish within --check-timeout \(1500 ms\)/);
    const sleeping = await runPlugin('sleeps', `await ctx.db.query('SELECT pg_catalog.pg_sleep(120)'); return [];`, ['--check-timeout', '1500', '--jobs', '1']);
    expectIsolated(sleeping, /did not finish within --check-timeout/);
    expect(Date.now() - started).toBeLessThan(40_000);
    const left = await query(db.url, "SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_catalog.pg_backend_pid()");
    expect(left).toEqual([{ n: 0 }]);
  });
});
