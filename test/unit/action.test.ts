import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { WORKFLOW_FILE, expressions, isMap, list, map, readAction, str, type YamlMap } from '../helpers/action.js';
import { parseYaml, YamlSubsetError } from '../helpers/yaml-subset.js';

describe('the YAML subset the action is read with', () => {
  it.each([
    ['a block mapping in a sequence, with a nested mapping', 'a:\n  - b: 1\n    c:\n      d: x y\n  - e\n', { a: [{ b: '1', c: { d: 'x y' } }, 'e'] }],
    ['a sequence at its key\'s indentation, and an empty value', 'steps:\n- run: x\non:\n  pull_request:\n', { steps: [{ run: 'x' }], on: { pull_request: null } }],
    ['flow collections and comments', 'p: { a: read, b: write }   # c\nq: [main, "x, y"]\n# whole line\n', { p: { a: 'read', b: 'write' }, q: ['main', 'x, y'] }],
    ['quoted scalars', `a: 'it''s'\nb: "a\\"b\\n"\nc: ''\n`, { a: "it's", b: 'a"b\n', c: '' }],
    ['a literal block, kept as written', 'r: |\n  if [ x ]; then\n    y  # not a comment\n  fi\nn: 1\n', { r: 'if [ x ]; then\n  y  # not a comment\nfi\n', n: '1' }],
    ['a folded block, stripped', 'd: >-\n  one\n  two\n\n  three\n', { d: 'one two\nthree' }],
    ['an expression, whole', 'v: ${{ steps.check.outputs.exit-code }}\n', { v: '${{ steps.check.outputs.exit-code }}' }],
  ])('reads %s', (_what, source, expected) => {
    expect(parseYaml(source)).toEqual(expected);
  });

  it.each([
    ['an anchor', 'a: &x 1\n', /line 1: "&"/],
    ['a tab', 'a:\n\tb: 1\n', /line 2: a tab/],
    ['a key twice', 'a: 1\nb: 2\na: 3\n', /line 3: key a appears twice/],
    ['a plain scalar over two lines', 'a:\n  b: one\n    two\n', /line 3: unexpected indentation/],
    ['": " in a plain scalar', 'run: echo a: b\n', /line 1: ": " inside a plain scalar/],
    ['a second document', 'a: 1\n---\nb: 2\n', /line 2: document markers/],
    ['an unterminated quote', 'a: "x\n', /line 1: an unterminated double-quoted scalar/],
  ])('refuses %s, naming the line', (_what, source, message) => {
    expect(() => parseYaml(source)).toThrow(YamlSubsetError);
    expect(() => parseYaml(source)).toThrow(message);
  });
});

/** GitHub's metadata syntax for actions (docs: "Metadata syntax for GitHub Actions"), what a composite action may hold. */
const TOP_LEVEL = ['name', 'author', 'description', 'inputs', 'outputs', 'runs', 'branding'];
const INPUT_KEYS = ['description', 'required', 'default', 'deprecationMessage'];
const COMPOSITE_STEP_KEYS = ['id', 'if', 'name', 'env', 'run', 'shell', 'uses', 'with', 'working-directory', 'continue-on-error'];
const SHELLS = ['bash', 'pwsh', 'python', 'sh', 'cmd', 'powershell'];
const BRANDING_COLORS = ['white', 'black', 'yellow', 'blue', 'green', 'orange', 'red', 'purple', 'gray-dark'];
/** The contexts a composite action's expressions may read. */
const CONTEXTS = ['github', 'env', 'inputs', 'job', 'runner', 'steps', 'strategy', 'matrix'];

const steps = (action: YamlMap) => list(map(action.runs, 'runs').steps, 'runs.steps').map((s, i) => map(s, `runs.steps[${i}]`));

describe('action.yml, against the action metadata syntax', () => {
  const action = readAction();

  it('has only the top-level keys the syntax knows, and a name, a description and runs', () => {
    expect(Object.keys(action).filter((k) => !TOP_LEVEL.includes(k))).toEqual([]);
    expect(str(action.name, 'name')).toBe('pg-integrity check');
    expect(str(action.description, 'description').length).toBeGreaterThan(40);
    expect(map(action.runs, 'runs').using).toBe('composite');
  });

  it('declares the inputs for the database URL, config, baseline and format, each described; only database-url is required, and it has no default', () => {
    const inputs = map(action.inputs, 'inputs');
    expect(Object.keys(inputs)).toEqual(['database-url', 'config', 'baseline', 'format', 'sarif-category', 'upload-sarif', 'args', 'version', 'working-directory']);
    for (const [id, raw] of Object.entries(inputs)) {
      const spec = map(raw, `inputs.${id}`);
      expect(id).toMatch(/^[A-Za-z_][A-Za-z0-9_-]*$/);
      expect(Object.keys(spec).filter((k) => !INPUT_KEYS.includes(k)), id).toEqual([]);
      expect(str(spec.description, `inputs.${id}.description`).length, id).toBeGreaterThan(10);
      expect(['true', 'false'], id).toContain(spec.required);
      if (spec.required === 'true') expect(spec.default, id).toBeUndefined();
      else expect(typeof spec.default, id).toBe('string');
    }
    expect(Object.entries(inputs).filter(([, s]) => map(s, '').required === 'true').map(([id]) => id)).toEqual(['database-url']);
    expect(map(inputs.format, 'format').default).toBe('github');
  });

  it('runs two steps: the check, a bash script with its shell, and the SARIF upload, an action pinned to a major version', () => {
    const all = steps(action);
    for (const [i, step] of all.entries()) {
      expect(Object.keys(step).filter((k) => !COMPOSITE_STEP_KEYS.includes(k)), `step ${i}`).toEqual([]);
      expect('run' in step !== 'uses' in step, `step ${i}: exactly one of run and uses`).toBe(true);
      if ('run' in step) expect(SHELLS, `step ${i}: a composite action's run step needs its shell`).toContain(step.shell);
      else expect(str(step.uses, `step ${i}.uses`)).toMatch(/^([A-Za-z0-9_.-]+\/[A-Za-z0-9_./-]+@[A-Za-z0-9_.-]+|\.\/.*)$/);
    }
    expect(all.map((s) => s.id ?? s.uses)).toEqual(['check', 'github/codeql-action/upload-sarif@v3']);
    const check = all[0] ?? {};
    expect(check.shell).toBe('bash');
    // The check writes the SARIF file, and the github format (or a github report beside another) the step summary.
    const script = str(check.run, 'check.run');
    expect(script).toContain('--report "sarif=$sarif"');
    expect(script).toContain('--report "github=$RUNNER_TEMP/integrity-annotations.txt"');
    expect(map(all[1]?.with, 'upload.with')).toEqual({ sarif_file: '${{ steps.check.outputs.sarif-file }}' });
    // Also when the gate failed, which is when there is something to see.
    expect(all[1]?.if).toMatch(/^\$\{\{ always\(\) && /);
  });

  it('names only declared inputs, and outputs that an earlier step writes, in its expressions; every input is used; scripts read inputs from env only', () => {
    const declared = Object.keys(map(action.inputs, 'inputs'));
    const found = expressions(action);
    expect(found.length).toBeGreaterThan(10);
    const used = new Set<string>();
    const all = steps(action);
    const written = new Map(all.map((s) => [String(s.id), new Set([...str(s.run ?? '', 'run').matchAll(/echo "([A-Za-z0-9_-]+)=[^"]*" >> "\$GITHUB_OUTPUT"/g)].map((m) => m[1]))]));
    for (const { where, expr } of found) {
      const bare = expr.replace(/'[^']*'/g, "''");
      for (const m of bare.matchAll(/(?<![\w.-])([A-Za-z_][A-Za-z0-9_]*)\.[A-Za-z_]/g)) expect(CONTEXTS, `${where}: ${expr}`).toContain(m[1]);
      for (const m of bare.matchAll(/\binputs\.([A-Za-z0-9_-]+)/g)) {
        expect(declared, `${where}: ${expr}`).toContain(m[1]);
        used.add(m[1] ?? '');
      }
      for (const m of bare.matchAll(/\bsteps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g)) {
        expect(written.get(m[1] ?? '')?.has(m[2]), `${where}: ${expr} (no step ${m[1]} writes ${m[2]})`).toBe(true);
      }
    }
    expect(declared.filter((id) => !used.has(id))).toEqual([]);
    // An input pasted into a script would be shell code; through env it is only a value.
    for (const [i, s] of all.entries()) if ('run' in s) expect(str(s.run, 'run'), `step ${i}`).not.toContain('${{');
  });

  it('declares outputs with a description and a value', () => {
    const outputs = map(action.outputs, 'outputs');
    expect(Object.keys(outputs)).toEqual(['exit-code', 'sarif-file']);
    for (const [id, raw] of Object.entries(outputs)) {
      const spec = map(raw, id);
      expect(str(spec.description, `${id}.description`).length).toBeGreaterThan(10);
      expect(spec.value).toBe(`\${{ steps.check.outputs.${id} }}`);
    }
  });

  it("has branding: an icon and one of GitHub's colours", () => {
    const branding = map(action.branding, 'branding');
    expect(Object.keys(branding).sort()).toEqual(['color', 'icon']);
    expect(BRANDING_COLORS).toContain(branding.color);
    expect(branding.icon).toBe('database');
  });
});

describe("the README's workflow with the action", () => {
  const readme = readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
  const source = readFileSync(WORKFLOW_FILE, 'utf8');

  it('is examples/github/integrity.yml, word for word', () => {
    expect(readme).toContain(`\`\`\`yaml\n${source}\`\`\``);
  });

  it("uses the action with declared inputs only, gives the required one, and grants what the upload needs", () => {
    const workflow = map(parseYaml(source), 'workflow');
    const job = map(map(workflow.jobs, 'jobs').integrity, 'jobs.integrity');
    expect(map(job.permissions, 'permissions')['security-events']).toBe('write');
    const all = list(job.steps, 'steps').map((s, i) => map(s, `steps[${i}]`));
    const uses = all.filter((s) => typeof s.uses === 'string' && /\/pg-integrity@/.test(s.uses));
    expect(uses).toHaveLength(1);
    const given = map(uses[0]?.with, 'with');
    const inputs = map(readAction().inputs, 'inputs');
    expect(Object.keys(given).filter((k) => !(k in inputs))).toEqual([]);
    for (const [id, spec] of Object.entries(inputs)) if (isMap(spec) && spec.required === 'true') expect(Object.keys(given)).toContain(id);
    expect(given['database-url']).toBe('${{ secrets.STAGING_DATABASE_URL }}');
    // The project's own pg-integrity is installed before the action runs it.
    expect(all.findIndex((s) => s.run === 'npm ci')).toBeLessThan(all.indexOf(uses[0] ?? {}));
  });
});
