import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, appendFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIncidents } from '../../src/demo/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { query } from '../helpers/db.js';
import { GENERIC_CHECKS, INCIDENT_RULE_FINDINGS, incidentConfigWithRules, ruleFindingLine } from '../helpers/incident-rules.js';
import { reportSchema } from '../helpers/report-schema.js';

/** The newest PostgreSQL server binaries installed on the machine (Debian layout), if any. */
function serverBinaries(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'pg_basebackup'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const bin = serverBinaries();
const asRoot = process.getuid?.() === 0;
const osUser = asRoot ? 'postgres' : null;
let skipReason: string | null = null;
if (!bin) skipReason = 'no PostgreSQL server binaries under /usr/lib/postgresql';
else if (asRoot) {
  try {
    execFileSync('id', ['postgres'], { stdio: 'ignore' });
  } catch {
    skipReason = 'running as root and there is no postgres OS user to run the servers as';
  }
}

/** Runs a server binary as the postgres OS user when we are root (PostgreSQL refuses to run as root). */
function pgRun(tool: string, args: string[]): string {
  const file = path.join(bin as string, tool);
  const [cmd, argv] = osUser ? ['runuser', ['-u', osUser, '--', file, ...args]] : [file, args];
  // pg_ctl start leaves the server holding inherited pipes; with 'ignore' nothing waits on them.
  execFileSync(cmd, argv, { stdio: 'ignore', timeout: 60_000 });
  return '';
}

describe('a hot standby (streaming replication)', () => {
  const dirs: string[] = [];
  const started: string[] = [];
  afterAll(() => {
    for (const dir of started.reverse()) {
      try {
        pgRun('pg_ctl', ['stop', '-D', dir, '-m', 'immediate', '-w']);
      } catch {
        // already stopped
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(skipReason !== null)(`audits a read replica exactly as its primary${skipReason ? ` (skipped: ${skipReason})` : ''}`, async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'integrity-standby-'));
    dirs.push(base);
    if (osUser) execFileSync('chown', ['-R', `${osUser}:`, base]);
    const primary = path.join(base, 'primary');
    const standby = path.join(base, 'standby');
    const [primaryPort, standbyPort] = [await freePort(), await freePort()];

    pgRun('initdb', ['-D', primary, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    appendFileSync(
      path.join(primary, 'postgresql.conf'),
      `\nport = ${primaryPort}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${base}'\nwal_level = replica\nmax_wal_senders = 4\nfsync = off\n`,
    );
    appendFileSync(path.join(primary, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\n');
    pgRun('pg_ctl', ['start', '-w', '-D', primary, '-l', path.join(base, 'primary.log')]);
    started.push(primary);

    const primaryAdmin = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`;
    await query(primaryAdmin, 'CREATE DATABASE incidents');
    await loadIncidents(`postgres://postgres@127.0.0.1:${primaryPort}/incidents`);
    // An unlogged table: its rows exist only on the primary, and a standby refuses to read it at all.
    await query(
      `postgres://postgres@127.0.0.1:${primaryPort}/incidents`,
      `CREATE UNLOGGED TABLE import_buffer (id int PRIMARY KEY, llm_call_id varchar, provider_id uuid);
       INSERT INTO import_buffer VALUES (1, 'no-such-call', '00000000-0000-0000-0000-000000000000'), (2, 'no-such-call', NULL);
       ALTER TABLE import_buffer ADD CONSTRAINT import_buffer_call_fk FOREIGN KEY (llm_call_id) REFERENCES llm_call (id) NOT VALID;`,
    );

    pgRun('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standby, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
    appendFileSync(path.join(standby, 'postgresql.conf'), `\nport = ${standbyPort}\nhot_standby = on\n`);
    pgRun('pg_ctl', ['start', '-w', '-D', standby, '-l', path.join(base, 'standby.log')]);
    started.push(standby);
    if (osUser) chownSync(base, 0, 0);

    const standbyUrl = `postgres://postgres@127.0.0.1:${standbyPort}/incidents`;
    expect(await query(standbyUrl, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);

    // The incident config plus one rule for each generic-rule check, so that every check reads the standby.
    const args = ['--deep', '--config', incidentConfigWithRules(), '--format', 'json'];
    const onStandby = await runCli(['check', '-d', standbyUrl, ...args]);
    const onPrimary = await runCli(['check', '-d', `postgres://postgres@127.0.0.1:${primaryPort}/incidents`, ...args]);
    expect(onStandby.stderr).toBe('');
    expect(onStandby.code).toBe(1);
    const replica = reportSchema.parse(JSON.parse(onStandby.stdout));
    const source = reportSchema.parse(JSON.parse(onPrimary.stdout));
    const every = ['accepted-values', 'jsonb-int-cast-index', 'models-without-pricing', 'orphan-rows', 'placeholder-uuid', 'required-child', 'row-condition', 'unique', 'users-without-profiles'];
    expect(replica.checks.map((c) => [c.id, c.status])).toEqual(every.map((id) => [id, 'failed']));
    const shape = (r: typeof replica) => r.findings.filter((f) => f.object.table !== 'import_buffer').map((f) => [f.fingerprint, f.count, f.samples]);
    expect(shape(replica)).toEqual(shape(source));
    // The five incidents' 18 errors and 2 warnings, and one error for each rule.
    expect(replica.summary.findings).toEqual({ error: 22, warning: 2, info: 0 });
    expect(replica.findings.filter((f) => GENERIC_CHECKS.includes(f.checkId)).map(ruleFindingLine)).toEqual(INCIDENT_RULE_FINDINGS);
    // On the primary the unlogged table is read; on the standby it is skipped, saying why, and nothing else is lost.
    expect(source.findings.filter((f) => f.object.table === 'import_buffer').map((f) => f.checkId)).toEqual(['orphan-rows', 'placeholder-uuid']);
    expect(replica.findings.filter((f) => f.object.table === 'import_buffer')).toEqual([]);
    for (const id of ['orphan-rows', 'placeholder-uuid']) {
      expect(replica.checks.find((c) => c.id === id)?.note).toMatch(/import_buffer.*unlogged/);
    }
  }, 180_000);
});
