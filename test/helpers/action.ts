import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { parseYaml, type Yaml } from './yaml-subset.js';

/** The repository's GitHub Action and the workflow the README shows with it. */
export const ACTION_FILE = path.join(packageRoot(), 'action.yml');
export const WORKFLOW_FILE = path.join(packageRoot(), 'examples', 'github', 'integrity.yml');

export type YamlMap = { [key: string]: Yaml };

export function isMap(v: Yaml | undefined): v is YamlMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function map(v: Yaml | undefined, where: string): YamlMap {
  if (!isMap(v)) throw new Error(`${where} is not a mapping: ${JSON.stringify(v)}`);
  return v;
}

export function list(v: Yaml | undefined, where: string): Yaml[] {
  if (!Array.isArray(v)) throw new Error(`${where} is not a sequence: ${JSON.stringify(v)}`);
  return v;
}

export function str(v: Yaml | undefined, where: string): string {
  if (typeof v !== 'string') throw new Error(`${where} is not a string: ${JSON.stringify(v)}`);
  return v;
}

export function readAction(): YamlMap {
  return map(parseYaml(readFileSync(ACTION_FILE, 'utf8')), 'action.yml');
}

/** Every `${{ ... }}` expression in a value, with where it sits. */
export function expressions(v: Yaml, where = ''): { where: string; expr: string }[] {
  if (typeof v === 'string') return [...v.matchAll(/\$\{\{(.*?)\}\}/gs)].map((m) => ({ where, expr: (m[1] ?? '').trim() }));
  if (Array.isArray(v)) return v.flatMap((x, i) => expressions(x, `${where}[${i}]`));
  if (isMap(v)) return Object.entries(v).flatMap(([k, x]) => expressions(x, where ? `${where}.${k}` : k));
  return [];
}

/**
 * What the runner does with an expression this action uses: `inputs.X` and `steps.ID.outputs.X` are looked
 * up; `always()` is true; `==` compares strings; `&&` joins. Anything else throws, so a test cannot pass an
 * expression it did not evaluate.
 */
export function evaluate(expr: string, inputs: Record<string, string>, outputs: Record<string, Record<string, string>>): string | boolean {
  const term = (t: string): string | boolean => {
    const s = t.trim();
    if (s === 'always()') return true;
    const eq = /^(.+?)\s*==\s*(.+)$/.exec(s);
    if (eq?.[1] && eq[2]) return term(eq[1]) === term(eq[2]);
    const quoted = /^'([^']*)'$/.exec(s);
    if (quoted) return quoted[1] ?? '';
    const input = /^inputs\.([A-Za-z0-9_-]+)$/.exec(s);
    if (input?.[1]) {
      const value = inputs[input[1]];
      if (value === undefined) throw new Error(`no input ${input[1]}`);
      return value;
    }
    const output = /^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$/.exec(s);
    if (output?.[1] && output[2]) return outputs[output[1]]?.[output[2]] ?? '';
    throw new Error(`an expression this helper does not evaluate: ${s}`);
  };
  const parts = expr.split('&&');
  if (parts.length === 1) return term(expr);
  return parts.every((p) => term(p) === true);
}

/** A string with every `${{ ... }}` replaced by its value, as the runner renders `env`, `with` and `working-directory`. */
export function render(text: string, inputs: Record<string, string>, outputs: Record<string, Record<string, string>> = {}): string {
  return text.replace(/\$\{\{(.*?)\}\}/gs, (_m, expr: string) => String(evaluate(expr, inputs, outputs)));
}

/** The inputs a workflow step gives, over the action's defaults. */
export function inputsWith(action: YamlMap, given: Record<string, string>): Record<string, string> {
  const declared = map(action.inputs, 'inputs');
  const out: Record<string, string> = {};
  for (const [id, spec] of Object.entries(declared)) {
    const d = map(spec, `inputs.${id}`).default;
    out[id] = given[id] ?? (typeof d === 'string' ? d : '');
  }
  for (const id of Object.keys(given)) if (!(id in declared)) throw new Error(`input ${id} is not declared by the action`);
  return out;
}

/** `NAME=value` lines of a GITHUB_OUTPUT file (the single-line form the action writes). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`not NAME=value: ${line}`);
    out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}
