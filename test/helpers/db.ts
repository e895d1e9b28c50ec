import { afterAll, beforeAll, inject } from 'vitest';
import pg from 'pg';
import { CHECKS } from '../../checks/index.js';
import { parseConfig } from '../../src/config/load.js';
import { fixtureClientConfig, resolveConnection } from '../../src/db/connection.js';
import { createDatabase, dropDatabase, loadFamily, loadIncidents, runSql } from '../../src/demo/fixtures.js';
import { runAudit, type AuditOptions } from '../../src/engine/runner.js';
import type { AuditReport } from '../../src/findings.js';

export function adminUrl(): string {
  return inject('adminUrl');
}

let counter = 0;

/** A database of this test file's own, created before its tests and dropped after. */
export function useDatabase(label: string, setup: { incidents?: string[] | 'all'; family?: boolean; sql?: string[] } = {}) {
  const name = `integrity_t_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}_${process.pid}_${counter++}`;
  const handle = { url: '', name };
  beforeAll(async () => {
    handle.url = await createDatabase(adminUrl(), name);
    if (setup.incidents) await loadIncidents(handle.url, setup.incidents === 'all' ? undefined : setup.incidents);
    if (setup.family) await loadFamily(handle.url);
    if (setup.sql) await runSql(handle.url, setup.sql);
  });
  afterAll(async () => {
    await dropDatabase(adminUrl(), name);
  });
  return handle;
}

export async function query<R extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client(fixtureClientConfig(url));
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface AuditArgs {
  checks?: string[];
  config?: unknown;
  deep?: boolean;
  schemas?: string[];
  jobs?: number;
  statementTimeoutMs?: number;
}

/** Runs the audit in-process, as `integrity check` would, selecting only the named checks. */
export async function audit(url: string, args: AuditArgs = {}): Promise<AuditReport> {
  return runAudit(auditOptions(url, args));
}

export function auditOptions(url: string, args: AuditArgs = {}): AuditOptions {
  const ids = args.checks ?? CHECKS.map((c) => c.id);
  const options: AuditOptions = {
    target: resolveConnection({ databaseUrl: url, env: {}, connectTimeoutSec: 10, applicationName: 'integrity-test' }),
    checks: CHECKS,
    selected: new Set(ids),
    deselected: new Map(CHECKS.filter((c) => !ids.includes(c.id)).map((c) => [c.id, 'not selected by --check'])),
    config: parseConfig(CHECKS, args.config ?? {}, 'test config'),
    schemas: args.schemas,
    deep: args.deep ?? false,
    jobs: args.jobs ?? 2,
    statementTimeoutMs: args.statementTimeoutMs ?? 30_000,
    lockTimeoutMs: 3_000,
    failOn: 'error',
  };
  return options;
}

/** The parts of a finding a test asserts on: never the prose. */
export function summarize(report: AuditReport, checkId?: string) {
  return report.findings
    .filter((f) => checkId === undefined || f.checkId === checkId)
    .map((f) => ({
      checkId: f.checkId,
      severity: f.severity,
      object: f.object,
      count: f.count,
      samples: f.samples,
    }));
}

export function checkResult(report: AuditReport, id: string) {
  const result = report.checks.find((c) => c.id === id);
  if (!result) throw new Error(`no result for ${id}`);
  return result;
}

/** Holds ACCESS EXCLUSIVE on a table in a session of its own, as a migration would, until released. */
export async function holdLock(url: string, table: string): Promise<() => Promise<void>> {
  const client = new pg.Client(fixtureClientConfig(url));
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return async () => {
    await client.query('ROLLBACK');
    await client.end();
  };
}
