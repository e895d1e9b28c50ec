import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { packageRoot } from '../paths.js';
import { quoteIdent } from '../db/quote.js';
import { fixtureClientConfig } from '../db/connection.js';

export function fixturesDir(): string {
  return path.join(packageRoot(), 'test', 'fixtures');
}

/**
 * The fixtures loaded as the incident database, in load order: the incidents themselves (each file's
 * first line names its seed number) and the files beside them (names that need quoting, look-alikes
 * that must not be reported).
 */
export function incidentFiles(): string[] {
  return readdirSync(fixturesDir())
    .filter((f) => /^\d{3}_.*\.sql$/.test(f))
    .sort();
}

/** The fixture files that rebuild an incident, apart from those beside them: what the demo counts as incidents. */
export function splitIncidentFiles(files: string[] = incidentFiles()): { incidents: string[]; others: string[] } {
  const isIncident = (f: string) => /^-- Seed \d{3}\b/.test(readFileSync(path.join(fixturesDir(), f), 'utf8'));
  return { incidents: files.filter(isIncident), others: files.filter((f) => !isIncident(f)) };
}

/** The config that declares the fixtures' unconstrained references (seed 001's llm_call file ids). */
export function incidentConfigFile(): string {
  return path.join(fixturesDir(), 'integrity.config.json');
}

/** Creates `name` on the server at `adminUrl` and returns its URL; drops it first if it exists. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client(fixtureClientConfig(adminUrl));
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client(fixtureClientConfig(adminUrl));
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Runs SQL files (or text) against a database, as a superuser: fixtures use session_replication_role. */
export async function runSql(url: string, sqlTexts: string[]): Promise<void> {
  const client = new pg.Client(fixtureClientConfig(url));
  await client.connect();
  try {
    for (const sql of sqlTexts) await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The fixtures of the check family around the incidents (issue 13), in load order. */
export function familyFiles(): string[] {
  return readdirSync(path.join(fixturesDir(), 'family'))
    .filter((f) => /^\d{3}_.*\.sql$/.test(f))
    .sort();
}

const EXPECTED_FAILURE = /\.fails-([0-9A-Z]{5})\.sql$/;

/**
 * Loads the family fixtures. A file named `*.fails-SQLSTATE.sql` holds one statement that must fail with
 * that SQLSTATE, run on its own (outside a transaction block): that is how a failed `CREATE INDEX
 * CONCURRENTLY` leaves its invalid index behind. It succeeding, or failing otherwise, is an error.
 */
export async function loadFamily(url: string, files: string[] = familyFiles()): Promise<void> {
  const client = new pg.Client(fixtureClientConfig(url));
  await client.connect();
  try {
    for (const file of files) {
      const sql = readFileSync(path.join(fixturesDir(), 'family', file), 'utf8');
      const expected = EXPECTED_FAILURE.exec(file)?.[1];
      if (!expected) {
        await client.query(sql);
        continue;
      }
      const code = await client.query(sql).then(
        () => null,
        (err: unknown) => String((err as { code?: unknown }).code ?? 'unknown'),
      );
      if (code !== expected) throw new Error(`fixture ${file} should fail with ${expected}, but ${code === null ? 'succeeded' : `failed with ${code}`}`);
    }
  } finally {
    await client.end();
  }
}

export async function loadIncidents(url: string, files: string[] = incidentFiles()): Promise<void> {
  await runSql(
    url,
    files.map((f) => readFileSync(path.join(fixturesDir(), f), 'utf8')),
  );
}
