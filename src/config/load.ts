import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CheckDefinition } from '../check.js';
import { UsageError, errorMessage } from '../errors.js';
import { configSchema, formatIssues, settingsFrom, type IntegrityConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'integrity.config.json';

export interface LoadedConfig {
  config: IntegrityConfig;
  /** The file it came from; null when no file was given and none was found from the working directory up. */
  file: string | null;
}

/** --config FILE must exist; without it, the nearest integrity.config.json (see readConfigFile) is read when there is one. */
export function loadConfig(checks: readonly CheckDefinition[], explicitFile: string | undefined, cwd: string): LoadedConfig {
  const { json, file } = readConfigFile(explicitFile, cwd);
  return { config: configFrom(checks, json, file), file };
}

/** The parsed settings, with paths in the file made absolute (relative to the file, wherever the command runs). */
export function configFrom(checks: readonly CheckDefinition[], json: unknown, file: string | null): IntegrityConfig {
  const config = parseConfig(checks, json, file ?? '(defaults)');
  if (config.migrations && file) config.migrations = path.resolve(path.dirname(file), config.migrations);
  return config;
}

/**
 * The config file's JSON (comments allowed), or `{}` when no file was given and none is found. Without
 * --config, integrity.config.json is looked for in the working directory and then upward, up to the
 * repository root (the first directory holding .git) or the filesystem root, as ESLint does.
 */
export function readConfigFile(explicitFile: string | undefined, cwd: string): { json: unknown; file: string | null } {
  const file = explicitFile ? path.resolve(cwd, explicitFile) : findConfigFile(cwd);
  if (file === null || !existsSync(file)) {
    if (explicitFile) throw new UsageError(`config file ${explicitFile} does not exist; pass an existing file to --config`);
    return { json: {}, file: null };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${file}: ${errorMessage(err)}`);
  }
  return { json: parseJsonWithComments(text, `config file ${file}`), file };
}

/** The nearest integrity.config.json from `cwd` upward, stopping after the directory that holds .git. */
export function findConfigFile(cwd: string): string | null {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, DEFAULT_CONFIG_FILE);
    if (isFile(candidate)) return candidate;
    // .git is a directory in a clone, a file in a worktree or a submodule: either marks the root.
    if (existsSync(path.join(dir, '.git')) || path.dirname(dir) === dir) return null;
  }
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** JSON.parse after removing comments; a syntax error names its line and column (1-based), not a character offset. */
export function parseJsonWithComments(text: string, what: string): unknown {
  // An editor's byte order mark is not part of the JSON.
  const body = stripJsonComments(text.startsWith('\uFEFF') ? text.slice(1) : text);
  try {
    return JSON.parse(body);
  } catch (err) {
    const problem = jsonSyntaxError(body);
    if (!problem) throw new UsageError(`${what} is not valid JSON: ${errorMessage(err)}`);
    const { line, column } = lineAndColumn(body, problem.offset);
    throw new UsageError(`${what} is not valid JSON: line ${line}, column ${column}: ${problem.message}`);
  }
}

/** 1-based line and column of a character offset; a column counts characters, a tab as one. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Where the first JSON syntax error is, and what was expected there; null when the text is valid. Node's
 * own messages give a character offset at best (and none for "Unexpected token" or the end of input).
 */
export function jsonSyntaxError(text: string): { offset: number; message: string } | null {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new JsonSyntaxProblem(at, message);
  };
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const found = () => (i >= text.length ? 'end of file' : JSON.stringify(text[i]));
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${found()}; expected a value`);
  };
  const string = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') {
      const ch = text.charCodeAt(i);
      if (ch < 0x20) fail(ch === 0x0a ? 'a string is not closed on its line (a missing ")' : 'a control character in a string; write it escaped');
      if (text[i] === '\\') {
        const next = text[i + 1] ?? '';
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('\\u must be followed by 4 hex digits');
          i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(next) || next === '') fail(`invalid escape \\${next} in a string`);
        i += 2;
        continue;
      }
      i++;
    }
    if (i >= text.length) fail('a string is never closed (a missing ")', start);
    i++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!match || match[0] === '' || match[0] === '-') fail(`unexpected ${found()}; expected a value`);
    i += (match as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    skipSpace();
    const ch = text[i];
    if (ch === '{') return object();
    if (ch === '[') return array();
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return number();
    if (ch === "'") fail('strings take double quotes, not single quotes');
    fail(`unexpected ${found()}; expected a value`);
  };
  const object = () => {
    i++;
    skipSpace();
    if (text[i] === '}') {
      i++;
      return;
    }
    let comma = -1;
    for (;;) {
      skipSpace();
      if (text[i] === '}' && comma >= 0) fail('a comma before } (JSON allows no trailing comma)', comma);
      if (text[i] !== '"') fail(`unexpected ${found()}; expected a property name in double quotes`);
      string();
      skipSpace();
      if (text[i] !== ':') fail(`unexpected ${found()}; expected ':' after the property name`);
      i++;
      value();
      skipSpace();
      if (text[i] === ',') {
        comma = i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return;
      }
      fail(`unexpected ${found()}; expected ',' or '}' after the property value`);
    }
  };
  const array = () => {
    i++;
    skipSpace();
    if (text[i] === ']') {
      i++;
      return;
    }
    let comma = -1;
    for (;;) {
      skipSpace();
      if (text[i] === ']' && comma >= 0) fail('a comma before ] (JSON allows no trailing comma)', comma);
      value();
      skipSpace();
      if (text[i] === ',') {
        comma = i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return;
      }
      fail(`unexpected ${found()}; expected ',' or ']' after the array element`);
    }
  };
  try {
    value();
    skipSpace();
    if (i < text.length) fail(`unexpected ${found()} after the end of the JSON value`);
    return null;
  } catch (err) {
    if (err instanceof JsonSyntaxProblem) return { offset: err.offset, message: err.message };
    throw err;
  }
}

class JsonSyntaxProblem extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

export function parseConfig(checks: readonly CheckDefinition[], json: unknown, origin: string): IntegrityConfig {
  const result = configSchema(checks).safeParse(json);
  if (!result.success) throw new UsageError(`invalid config ${origin}: ${formatIssues(result.error, checks)}`);
  return settingsFrom(checks, result.data);
}

/**
 * Removes line and block comments outside strings, so the config may carry notes (as tsconfig.json does).
 * Each comment becomes spaces (its line breaks kept), so a syntax error's line and column are the file's.
 */
export function stripJsonComments(text: string): string {
  let out = '';
  let i = 0;
  const blank = (comment: string) => comment.replace(/[^\n\r]/g, ' ');
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '/' && text[i + 1] === '/') {
      const start = i;
      while (i < text.length && text[i] !== '\n') i++;
      out += blank(text.slice(start, i));
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += blank(text.slice(i, stop));
      i = stop;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}
