import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/db/connection.js';
import { ConnectionError, connect } from '../../src/db/session.js';
import { useDatabase } from '../helpers/db.js';

/** What connect() sends to the real server for options, application_name and the PG* session variables. */

const HOME = mkdtempSync(path.join(os.tmpdir(), 'integrity-live-home-'));

describe('connect() against the real PostgreSQL', () => {
  const db = useDatabase('conn_live', { sql: ['CREATE SCHEMA xyz;'] });

  async function settings(suffix: string, env: NodeJS.ProcessEnv = {}) {
    const sep = suffix.startsWith('?') || suffix === '' ? '' : '?';
    const target = resolveConnection({ databaseUrl: `${db.url}${sep}${suffix}`, env: { HOME, ...env }, connectTimeoutSec: 10, applicationName: 'integrity' });
    const client = await connect(target);
    try {
      const res = await client.query<Record<string, string>>(
        `SELECT current_setting('search_path') AS search_path, current_setting('application_name') AS app,
                current_setting('client_encoding') AS encoding, current_setting('TimeZone') AS tz, current_setting('work_mem') AS work_mem`,
      );
      return res.rows[0] as Record<string, string>;
    } finally {
      await client.end();
    }
  }

  it('options are passed through to the server (-c search_path=xyz)', async () => {
    expect((await settings(`options=${encodeURIComponent('-c search_path=xyz -c work_mem=5MB')}`)).search_path).toBe('xyz');
    expect((await settings('', { PGOPTIONS: '-c work_mem=7MB' })).work_mem).toBe('7MB');
  });

  it("the user's application_name wins; the tool's name is only the fallback", async () => {
    expect((await settings('')).app).toBe('integrity');
    expect((await settings('application_name=nightly-audit')).app).toBe('nightly-audit');
    expect((await settings('fallback_application_name=mine')).app).toBe('mine');
    expect((await settings('', { PGAPPNAME: 'from-env' })).app).toBe('from-env');
  });

  it('the client encoding is UTF8, and PGTZ sets the session time zone', async () => {
    const s = await settings('', { PGTZ: 'Asia/Tokyo' });
    expect([s.encoding, s.tz]).toEqual(['UTF8', 'Asia/Tokyo']);
  });

  it('target_session_attrs=standby on this primary: a ConnectionError naming it', async () => {
    const target = resolveConnection({ databaseUrl: `${db.url}?target_session_attrs=standby`, env: { HOME }, connectTimeoutSec: 10, applicationName: 'integrity' });
    const attempt = connect(target);
    await expect(attempt).rejects.toBeInstanceOf(ConnectionError);
    await expect(attempt).rejects.toThrow(/target_session_attrs=standby, but the server is a primary \(pg_is_in_recovery\(\) is false\)/);
  });
});
