import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CONFIG_FILE, stripJsonComments } from '../config/load.js';
import { EXIT, UsageError, errorMessage } from '../errors.js';
import { NAMESPACED_ID } from '../plugins/validate.js';
import { errorLine, type CliIO } from './io.js';
import { fixture, sqlCheck, sqlTest, typescriptCheck, typescriptTest, type TemplateNames } from './templates/new-check.js';

export interface NewCheckOptions {
  sql: boolean;
  dir?: string;
  config?: string;
  force: boolean;
}

/** Where a project keeps its own checks, relative to the project's folder. */
const CHECKS_DIR = path.join('integrity', 'checks');
/**
 * Fixtures sit apart from the checks: the plugin loader reads every `*.sql` of the checks folder as a
 * SQL check, and a fixture is not one.
 */
const FIXTURES_DIR = path.join('integrity', 'fixtures');

/**
 * `integrity new-check <id>`: writes a check, its fixture and its test from the template, and lists the
 * checks folder under `plugins` in the config (creating the config when there is none), so that
 * `integrity list` and `integrity check` see it at once. Refuses a bad id or an existing file (exit 2).
 */
export function newCheckCommand(id: string, opts: NewCheckOptions, io: CliIO): number {
  const errLine = errorLine(io);
  try {
    if (!NAMESPACED_ID.test(id)) {
      throw new UsageError(`check id ${JSON.stringify(id)} must be namespaced, as "acme/invoice-has-lines" (lower case letters, digits, ".", "_" and "-"; bare ids belong to the built-in checks)`);
    }
    const name = id.slice(id.indexOf('/') + 1);
    const root = path.resolve(io.cwd, opts.dir ?? '.');
    const checkFile = path.join(root, CHECKS_DIR, opts.sql ? `${name}.sql` : `${name}.check.ts`);
    const testFile = path.join(root, CHECKS_DIR, `${name}.test.ts`);
    const fixtureFile = path.join(root, FIXTURES_DIR, `${name}.sql`);
    const configFile = path.resolve(io.cwd, opts.config ?? path.join(opts.dir ?? '.', DEFAULT_CONFIG_FILE));

    const names: TemplateNames = { id, name, fixtureFromTest: posix(path.relative(path.dirname(testFile), fixtureFile)) };
    const files: [string, string][] = [
      [checkFile, opts.sql ? sqlCheck(names) : typescriptCheck(names)],
      [fixtureFile, fixture(names)],
      [testFile, opts.sql ? sqlTest(names) : typescriptTest(names)],
    ];
    // Everything is checked before anything is written: a refusal leaves the project as it was.
    const existing = files.map(([f]) => f).filter((f) => existsSync(f));
    if (existing.length > 0 && !opts.force) {
      throw new UsageError(`${existing.map((f) => shown(io.cwd, f)).join(', ')} already exist${existing.length === 1 ? 's' : ''}; pass --force to overwrite`);
    }
    const pluginEntry = relativeEntry(path.dirname(configFile), path.join(root, CHECKS_DIR));
    const configUpdate = planConfig(configFile, pluginEntry);

    for (const [file, text] of files) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    if (configUpdate.text !== null) {
      mkdirSync(path.dirname(configFile), { recursive: true });
      writeFileSync(configFile, configUpdate.text);
    }

    const lines = files.map(([f]) => `wrote ${shown(io.cwd, f)}`);
    lines.push(
      configUpdate.action === 'unchanged'
        ? `${shown(io.cwd, configFile)} already lists ${pluginEntry} in plugins`
        : `${configUpdate.action === 'created' ? 'wrote' : 'updated'} ${shown(io.cwd, configFile)}: plugins lists ${pluginEntry}`,
    );
    lines.push('', 'Next: run its test (against INTEGRITY_TEST_DATABASE_URL, else an embedded PostgreSQL):', `  npx vitest run ${shown(io.cwd, testFile)}`);
    lines.push(`then see it in integrity list, and run it with integrity check --check ${id}`);
    io.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } catch (err) {
    errLine(err instanceof UsageError ? err.message : `new-check failed: ${errorMessage(err)}`);
    return EXIT.auditFailed;
  }
}

function posix(p: string): string {
  const s = p.split(path.sep).join('/');
  return s.startsWith('.') ? s : `./${s}`;
}

function shown(cwd: string, file: string): string {
  const rel = path.relative(cwd, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel.split(path.sep).join('/');
}

/** The plugins entry for the folder, as the config file's folder resolves it: `./integrity/checks`. */
function relativeEntry(configDir: string, folder: string): string {
  return posix(path.relative(configDir, folder));
}

interface ConfigUpdate {
  action: 'created' | 'updated' | 'unchanged';
  /** The new text, or null when the file stays as it is. */
  text: string | null;
}

function planConfig(configFile: string, entry: string): ConfigUpdate {
  if (!existsSync(configFile)) return { action: 'created', text: `{\n  "plugins": [${JSON.stringify(entry)}]\n}\n` };
  const text = readFileSync(configFile, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(stripJsonComments(text));
  } catch (err) {
    throw new UsageError(`config ${configFile} is not valid JSON (${errorMessage(err)}); fix it, or add ${JSON.stringify(entry)} to its plugins by hand`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`config ${configFile} is not a JSON object`);
  const plugins = (json as { plugins?: unknown }).plugins;
  if (plugins !== undefined && !Array.isArray(plugins)) throw new UsageError(`config ${configFile}: plugins is not an array; make it one and add ${JSON.stringify(entry)}`);
  const dir = path.dirname(configFile);
  if ((plugins ?? []).some((p) => typeof p === 'string' && (p.startsWith('.') || path.isAbsolute(p)) && path.resolve(dir, p) === path.resolve(dir, entry))) {
    return { action: 'unchanged', text: null };
  }
  const edited = addPlugin(text, entry);
  // The edit touches only the plugins list: the file, read back, must be the same config plus the entry.
  const reread = JSON.parse(stripJsonComments(edited)) as Record<string, unknown>;
  const expected = { ...(json as Record<string, unknown>), plugins: [...(plugins ?? []), entry] };
  if (JSON.stringify(sortKeys(reread)) !== JSON.stringify(sortKeys(expected))) {
    throw new UsageError(`could not add ${JSON.stringify(entry)} to the plugins of ${configFile} without rewriting it; add it by hand`);
  }
  return { action: 'updated', text: edited };
}

function sortKeys(v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

interface Token {
  kind: 'string' | 'punct' | 'value';
  text: string;
  start: number;
  end: number;
}

/** JSON-with-comments tokens: strings, punctuation and bare values, comments and whitespace skipped. */
function tokens(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) i++;
    else if (ch === '/' && text[i + 1] === '/') while (i < text.length && text[i] !== '\n') i++;
    else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out.push({ kind: 'string', text: text.slice(i, j + 1), start: i, end: j + 1 });
      i = j + 1;
    } else if ('{}[]:,'.includes(ch)) {
      out.push({ kind: 'punct', text: ch, start: i, end: i + 1 });
      i++;
    } else {
      let j = i;
      while (j < text.length && !/[\s{}[\]:,"/]/.test(text[j] as string)) j++;
      out.push({ kind: 'value', text: text.slice(i, j), start: i, end: Math.max(j, i + 1) });
      i = Math.max(j, i + 1);
    }
  }
  return out;
}

/**
 * Adds `entry` to the top-level `plugins` array by inserting text, so that comments and layout stay:
 * after the array's last element, or as a new first key of the object.
 */
export function addPlugin(text: string, entry: string): string {
  const toks = tokens(text);
  const value = JSON.stringify(entry);
  let depth = 0;
  for (let t = 0; t < toks.length; t++) {
    const tok = toks[t] as Token;
    if (tok.text === '{' || tok.text === '[') depth++;
    else if (tok.text === '}' || tok.text === ']') depth--;
    const isPluginsKey = depth === 1 && tok.kind === 'string' && JSON.parse(tok.text) === 'plugins' && toks[t + 1]?.text === ':' && toks[t + 2]?.text === '[';
    if (!isPluginsKey) continue;
    const open = t + 2;
    let inner = 0;
    for (let u = open; u < toks.length; u++) {
      const x = toks[u] as Token;
      if (x.text === '[' || x.text === '{') inner++;
      else if (x.text === ']' || x.text === '}') inner--;
      if (inner !== 0) continue;
      const last = toks[u - 1] as Token;
      if (u - 1 === open) return `${text.slice(0, last.end)}${value}${text.slice(last.end)}`;
      const at = last.text === ',' ? (toks[u - 2] as Token).end : last.end;
      return `${text.slice(0, at)}, ${value}${text.slice(at)}`;
    }
    break;
  }
  const first = toks[0];
  if (first?.text !== '{') return text;
  const empty = toks[1]?.text === '}';
  const indent = /\n([ \t]+)"/.exec(text)?.[1] ?? '  ';
  return `${text.slice(0, first.end)}\n${indent}"plugins": [${value}]${empty ? '\n' : ','}${text.slice(first.end)}`;
}
