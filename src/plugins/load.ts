import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CheckDefinition } from '../check.js';
import { errorMessage } from '../errors.js';
import { PACKAGE_NAME } from '../paths.js';
import { sqlCheckFromFile } from './sql-check.js';
import { PluginError, validateDefinition } from './validate.js';

/** Files a plugin folder contributes: TypeScript and JavaScript checks, and SQL checks. */
const CHECK_FILE = /\.check\.(ts|mts|js|mjs)$/;
const SQL_FILE = /\.sql$/;
const TYPESCRIPT = /\.(ts|mts|cts)$/;

/**
 * Loads the checks that `plugins` in the config names, in its order: a folder (its `*.check.ts|mts|js|mjs`
 * and `*.sql` files, sorted by name), a file, or an npm package resolved from `baseDir` (the config file's
 * folder), as ESLint resolves plugins. TypeScript loads through jiti, without a build step; JavaScript
 * loads natively. Throws PluginError naming the file and the reason.
 */
export async function loadPlugins(specs: readonly string[], baseDir: string): Promise<CheckDefinition[]> {
  const out: CheckDefinition[] = [];
  for (const spec of specs) {
    const local = spec.startsWith('.') || path.isAbsolute(spec);
    if (!local) {
      out.push(...(await loadPackage(spec, baseDir)));
      continue;
    }
    const target = path.resolve(baseDir, spec);
    if (!existsSync(target)) throw new PluginError(spec, `does not exist (resolved to ${target}); plugins are paths relative to the config file, or npm package names`);
    if (statSync(target).isDirectory()) {
      const files = readdirSync(target)
        .filter((f) => CHECK_FILE.test(f) || SQL_FILE.test(f))
        .sort();
      if (files.length === 0) throw new PluginError(target, 'holds no *.check.ts, *.check.mts, *.check.js, *.check.mjs or *.sql file');
      for (const f of files) out.push(...(await loadFile(path.join(target, f))));
    } else {
      out.push(...(await loadFile(target)));
    }
  }
  return out;
}

async function loadFile(file: string): Promise<CheckDefinition[]> {
  if (SQL_FILE.test(file)) {
    try {
      return [sqlCheckFromFile(file)];
    } catch (err) {
      throw err instanceof PluginError ? err : new PluginError(file, errorMessage(err));
    }
  }
  return checksOf(await importModule(file, file), file);
}

async function loadPackage(name: string, baseDir: string): Promise<CheckDefinition[]> {
  let entry: string;
  try {
    entry = await resolvePackage(name, baseDir);
  } catch (err) {
    throw new PluginError(name, `cannot be resolved from ${baseDir} (${errorMessage(err).split('\n')[0]}); install it in the project (npm install --save-dev ${name})`);
  }
  return checksOf(await importModule(entry, name), name);
}

/** The package's entry for `import`, from the project's folder: an ESM-only package resolves too. */
async function resolvePackage(name: string, baseDir: string): Promise<string> {
  const jiti = (await loadJiti())(path.join(baseDir, 'integrity.config.json'));
  try {
    return jiti.esmResolve(name, { conditions: ['import', 'node', 'default'] }).replace(/^file:\/\//, '');
  } catch {
    return createRequire(path.join(baseDir, 'integrity.config.json')).resolve(name);
  }
}

/**
 * The package was published as `integrity` before that name turned out to be someone else's on npm: a
 * TypeScript plugin that still imports 'integrity' or 'integrity/testing' gets this tool's own entries
 * (what PACKAGE_NAME resolves to from here), never the unrelated npm package. Plain JavaScript loads
 * natively, out of jiti's reach: it must import PACKAGE_NAME.
 */
export function legacyAliases(): Record<string, string> {
  const own = createRequire(import.meta.url);
  const aliases: Record<string, string> = {};
  for (const sub of ['', '/testing']) {
    try {
      aliases[`integrity${sub}`] = own.resolve(`${PACKAGE_NAME}${sub}`);
    } catch {
      // Not built (no dist/): the old name is left to resolve as it would, and fails naming itself.
    }
  }
  return aliases;
}

/** jiti, loaded on first use: a project without TypeScript plugins never pays for it. */
async function loadJiti(): Promise<typeof import('jiti').createJiti> {
  return (await import('jiti')).createJiti;
}

async function importModule(file: string, origin: string): Promise<unknown> {
  const resolved = file.startsWith('/') ? file : decodeURIComponent(file);
  try {
    if (TYPESCRIPT.test(resolved)) {
      // moduleCache off: a test or a watch loop that rewrites a check sees the new file. The file
      // cache is keyed by the source's content, so it only saves transpiling the same text again.
      const jiti = (await loadJiti())(pathToFileURL(resolved).href, { moduleCache: false, fsCache: true, interopDefault: false, alias: legacyAliases() });
      return await jiti.import(resolved);
    }
    return await import(pathToFileURL(resolved).href);
  } catch (err) {
    throw new PluginError(origin, `cannot be loaded: ${errorMessage(err).split('\n')[0]}`);
  }
}

/**
 * The checks a module exports: `checks` (an array), or a default export that is a check, an array of
 * checks, or `{ checks }`. Anything else names what was found.
 */
function checksOf(mod: unknown, origin: string): CheckDefinition[] {
  const m = (mod ?? {}) as { checks?: unknown; default?: unknown };
  const inner = m.default as { checks?: unknown } | undefined;
  const candidates = Array.isArray(m.checks)
    ? m.checks
    : Array.isArray(m.default)
      ? m.default
      : inner && typeof inner === 'object' && Array.isArray(inner.checks)
        ? inner.checks
        : inner && typeof inner === 'object' && ('run' in inner || 'id' in inner)
          ? [inner]
          : null;
  if (!candidates) {
    throw new PluginError(origin, 'exports no checks: export `checks` (an array of defineCheck(...) results), or a check or an array of checks as the default export');
  }
  if (candidates.length === 0) throw new PluginError(origin, 'exports an empty list of checks');
  return candidates.map((c) => validateDefinition(c, origin));
}
