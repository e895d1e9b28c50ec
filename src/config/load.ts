import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CheckDefinition } from '../check.js';
import { UsageError, errorMessage } from '../errors.js';
import { configSchema, formatIssues, settingsFrom, type IntegrityConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'integrity.config.json';

export interface LoadedConfig {
  config: IntegrityConfig;
  /** The file it came from; null when no file was given and none exists in the working directory. */
  file: string | null;
}

/** --config FILE must exist; without it, ./integrity.config.json is read when present. */
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

/** The config file's JSON (comments allowed), or `{}` when no file was given and none exists here. */
export function readConfigFile(explicitFile: string | undefined, cwd: string): { json: unknown; file: string | null } {
  const file = explicitFile ? path.resolve(cwd, explicitFile) : path.resolve(cwd, DEFAULT_CONFIG_FILE);
  if (!existsSync(file)) {
    if (explicitFile) throw new UsageError(`config file ${explicitFile} does not exist; pass an existing file to --config`);
    return { json: {}, file: null };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${file}: ${errorMessage(err)}`);
  }
  try {
    return { json: JSON.parse(stripJsonComments(text)), file };
  } catch (err) {
    throw new UsageError(`config file ${file} is not valid JSON: ${errorMessage(err)}`);
  }
}

export function parseConfig(checks: readonly CheckDefinition[], json: unknown, origin: string): IntegrityConfig {
  const result = configSchema(checks).safeParse(json);
  if (!result.success) throw new UsageError(`invalid config ${origin}: ${formatIssues(result.error, checks)}`);
  return settingsFrom(checks, result.data);
}

/** Removes line and block comments outside strings, so the config may carry notes (as tsconfig.json does). */
export function stripJsonComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}
