import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import type { PreflightReport } from '../../src/preflight/report.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command line in-process (no build needed), in `cwd`. */
export async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env,
    cwd,
  });
  return { code, stdout, stderr };
}

/**
 * A repository folder with these files (path -> content). Its config leaves out the lock_timeout rule
 * unless it says something of `preflight`: the tests of the data judges are not about how the
 * migration waits for locks (test/preflight/operations.test.ts is).
 */
export function repository(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'integrity-preflight-'));
  const config = files['integrity.config.json'] === undefined ? {} : (JSON.parse(files['integrity.config.json']) as Record<string, unknown>);
  if (!('preflight' in config)) files = { ...files, 'integrity.config.json': JSON.stringify({ ...config, preflight: { requireLockTimeout: false } }) };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

export async function preflightJson(url: string, cwd: string, files: string[], extra: string[] = []): Promise<{ run: Run; report: PreflightReport }> {
  const run = await cli(['preflight', '-d', url, '--format', 'json', ...extra, ...files], cwd);
  let report: PreflightReport;
  try {
    report = JSON.parse(run.stdout) as PreflightReport;
  } catch {
    throw new Error(`no JSON report (exit ${run.code}): ${run.stderr}`);
  }
  return { run, report };
}

/** The parts of the findings a test asserts on. */
export function findingsOf(report: PreflightReport, rule?: string) {
  return report.findings
    .filter((f) => rule === undefined || f.checkId === rule)
    .map((f) => ({ rule: f.checkId, severity: f.severity, at: `${f.location.file}:${f.location.line}`, object: f.object, count: f.count, samples: f.samples }));
}
