import path from 'node:path';
import { z } from 'zod';
import type { CheckDefinition } from './check.js';
import { configFrom, readConfigFile } from './config/load.js';
import type { IntegrityConfig } from './config/schema.js';
import { UsageError, errorMessage } from './errors.js';
import { loadPlugins } from './plugins/load.js';
import { defineSqlCheck, type SqlCheckSpec } from './plugins/sql-check.js';
import { PluginError } from './plugins/validate.js';

/** What a project audits with: its settings and every check it knows, built-in first, each id once. */
export interface Project {
  config: IntegrityConfig;
  /** The config file; null when none was given and none exists in the working directory. */
  file: string | null;
  checks: readonly CheckDefinition[];
}

/** The two keys that bring checks, read before the rest (whose `checks.<id>` entries depend on them). */
const sources = z
  .object({
    plugins: z.array(z.string().min(1, 'expected a path or a package name')).default([]),
    sqlChecks: z.array(z.record(z.string(), z.unknown())).default([]),
  })
  .loose();

/** The built-in checks, imported on first use so that the public API can be loaded on its own. */
export async function builtInChecks(): Promise<readonly CheckDefinition[]> {
  return (await import('../checks/index.js')).CHECKS;
}

/**
 * Reads the config, loads its plugins and SQL checks, and validates the whole file against every
 * check's options schema. A plugin that cannot load, a duplicate id, or a rejected option is a
 * UsageError (exit 2) naming the file and the reason.
 */
export async function loadProject(explicitFile: string | undefined, cwd: string, builtIns?: readonly CheckDefinition[]): Promise<Project> {
  const { json, file } = readConfigFile(explicitFile, cwd);
  return projectFrom(json, file, cwd, builtIns);
}

/** As loadProject, for a config already in hand (the library's `audit({ config })`); paths resolve from `baseDir`. */
export async function projectFrom(json: unknown, file: string | null, baseDir: string, builtIns?: readonly CheckDefinition[]): Promise<Project> {
  const origin = file ?? '(defaults)';
  const parsed = sources.safeParse(json ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`invalid config ${origin}: ${issue?.path.map(String).join('.') || '(top level)'}: ${issue?.message}`);
  }
  const dir = file ? path.dirname(file) : baseDir;
  const checks: CheckDefinition[] = [...(builtIns ?? (await builtInChecks()))];
  try {
    checks.push(...(await loadPlugins(parsed.data.plugins, dir)));
  } catch (err) {
    throw new UsageError(err instanceof PluginError ? `plugin ${err.message}` : `plugin could not be loaded: ${errorMessage(err)}`);
  }
  parsed.data.sqlChecks.forEach((spec, i) => {
    const where = `${origin}: sqlChecks[${i}]`;
    try {
      checks.push(defineSqlCheck(spec as unknown as SqlCheckSpec, where));
    } catch (err) {
      throw new UsageError(`invalid SQL check ${where}: ${errorMessage(err)}`);
    }
  });
  const seen = new Map<string, string>();
  for (const c of checks) {
    const before = seen.get(c.id);
    if (before !== undefined) {
      throw new UsageError(`check id ${JSON.stringify(c.id)} is defined twice: by ${before} and by ${c.origin ?? 'a built-in check'}; rename one of them`);
    }
    seen.set(c.id, c.origin ?? 'a built-in check');
  }
  return { config: configFrom(checks, json, file), file, checks };
}
