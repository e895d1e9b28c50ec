import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { holdLock, query, useDatabase } from '../helpers/db.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/integrity.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The audit's sessions on the server (its application_name is integrity), other than this one. */
async function auditSessions(url: string, database: string) {
  return query<{ state: string; wait: string | null; xact: boolean }>(
    url,
    `SELECT state, wait_event_type AS wait, xact_start IS NOT NULL AS xact FROM pg_stat_activity
      WHERE application_name = 'integrity' AND datname = $1 AND pid <> pg_backend_pid()`,
    [database],
  );
}

describe('SIGHUP stops a run as SIGTERM does', () => {
  const db = useDatabase('sighup', {
    sql: [
      `CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
       CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, 9);
       ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;`,
    ],
  });

  it.each([
    ['check --output --fix-sql --report', ['check', '--output', 'report.json', '--format', 'json', '--fix-sql', 'fix.sql', '--report', 'junit=junit.xml']],
    ['fix --output', ['fix', '--output', 'fix.sql']],
    ['baseline --output', ['baseline', '--output', 'base.json']],
  ])('%s: the queries are cancelled on the server, nothing is written, exit 129', async (_label, args) => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'integrity-sighup-'));
    const release = await holdLock(db.url, 'c');
    try {
      const child = spawn(process.execPath, [BIN, ...args, '-d', db.url, '--lock-timeout', '60000', '--statement-timeout', '120000'], {
        cwd,
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += String(d)));
      child.stderr.on('data', (d) => (stderr += String(d)));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      // Wait until the audit is blocked on the lock: a query of it is running on the server.
      const blocked = async () => (await auditSessions(db.url, db.name)).some((q) => q.state === 'active' && q.wait === 'Lock');
      for (let i = 0; i < 150 && !(await blocked()); i++) await sleep(100);
      expect(await blocked()).toBe(true);

      child.kill('SIGHUP');
      // Exit 129 (128 + 1) by the CLI's own hand: not killed by the signal, which would leave the query running.
      expect(await exited).toEqual({ code: 129, signal: null });
      expect(stdout).toBe('');
      expect(stderr.split('\n')).toHaveLength(2); // one line
      expect(readdirSync(cwd)).toEqual([]);
      // Cancelled on the server before the lock was released: nothing of the audit is left there.
      expect(await auditSessions(db.url, db.name)).toEqual([]);
    } finally {
      await release();
    }
  });
});
