import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveConnection } from '../../src/db/connection.js';
import { selectChecks } from '../../src/engine/selection.js';
import { runAuditWithRepairs, type AuditOptions } from '../../src/engine/runner.js';
import { loadProject } from '../../src/registry.js';
import { packageRoot } from '../../src/paths.js';

export const FIXTURES = path.join(packageRoot(), 'test', 'fixtures', 'sql-checks');
export const PLUGIN_DIR = path.join(FIXTURES, 'plugin');
export const SCHEMA_SQL = readFileSync(path.join(FIXTURES, 'schema.sql'), 'utf8');

/** A config file in a fresh temporary folder, with any extra files (plugin folders, .sql checks) beside it. */
export function writeProject(config: unknown, files: Record<string, string> = {}): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-sqlcheck-'));
  for (const [name, content] of Object.entries(files)) {
    const target = path.join(dir, name);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  const file = path.join(dir, 'integrity.config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { dir, file };
}

/** The audit's options for a project's config, running only `ids` (as `integrity check --check ...`). */
export async function projectOptions(url: string, configFile: string, ids: string[], extra: Partial<AuditOptions> = {}): Promise<AuditOptions> {
  const project = await loadProject(configFile, path.dirname(configFile));
  const { selected, deselected } = selectChecks(project.checks, project.config, ids, undefined);
  return {
    target: resolveConnection({ databaseUrl: url, env: {}, connectTimeoutSec: 10, applicationName: 'integrity-test' }),
    checks: project.checks,
    selected,
    deselected,
    config: project.config,
    schemas: undefined,
    deep: false,
    jobs: 2,
    statementTimeoutMs: 30_000,
    lockTimeoutMs: 3_000,
    failOn: 'error',
    ...extra,
  };
}

export async function auditProject(url: string, configFile: string, ids: string[], extra: Partial<AuditOptions> = {}) {
  return runAuditWithRepairs(await projectOptions(url, configFile, ids, extra));
}

/** The message loadProject throws for a config, or null when it loads. */
export async function loadError(configFile: string): Promise<string | null> {
  try {
    await loadProject(configFile, path.dirname(configFile));
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
