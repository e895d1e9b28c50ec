import http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

interface Received {
  body: Record<string, unknown>;
}

/** A local webhook that answers with the given statuses in turn (the last one repeats). */
async function webhook(statuses: number[]): Promise<{ url: string; received: Received[]; close: () => void }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += String(c)));
    req.on('end', () => {
      received.push({ body: JSON.parse(data) as Record<string, unknown> });
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)] as number;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/hooks/T000/secret-token`, received, close: () => server.close() };
}

describe('alerts for the nightly job', () => {
  const db = useDatabase('notify', { incidents: ['004_supabase_profiles.sql'] });
  const clean = useDatabase('notify_clean', { sql: ['CREATE TABLE t (id int PRIMARY KEY);'] });
  const closers: (() => void)[] = [];
  afterAll(() => closers.forEach((c) => c()));

  it('posts a JSON summary with a Slack-compatible text when the run fails', async () => {
    const hook = await webhook([200]);
    closers.push(hook.close);
    const run = await runCli(['check', '-d', db.url, '--notify-webhook', hook.url]);
    expect(run.code).toBe(1);
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]?.body).toMatchObject({ tool: 'integrity', status: 'failed', exitCode: 1, database: { name: db.name } });
    expect(String(hook.received[0]?.body.text)).toMatch(/^integrity failed on integrity_t_notify_\d+_\d+: 4 new finding\(s\) \(2 error, 1 warning, 1 info in all\)/);
    // Seed 004's audit table: its trigger writes auth.users' ids into user_profiles_audit.user_id, which has no foreign key.
    expect(String(hook.received[0]?.body.text)).toContain('• [info] undeclared-references: public.user_profiles_audit.user_id looks like a reference to auth.users (id) by its name and type, but no foreign key or configured relation declares it; every non-null value has a parent row.');
  });

  it('stays quiet on a passing run unless --notify-on always', async () => {
    const hook = await webhook([200]);
    closers.push(hook.close);
    expect((await runCli(['check', '-d', clean.url, '--notify-webhook', hook.url])).code).toBe(0);
    expect(hook.received).toHaveLength(0);
    await runCli(['check', '-d', clean.url, '--notify-webhook', hook.url, '--notify-on', 'always']);
    expect(hook.received.map((r) => r.body.status)).toEqual(['passed']);
  });

  it('retries once, then reports a failed delivery without the token; exit 2 only with --notify-required', async () => {
    const flaky = await webhook([503, 200]);
    closers.push(flaky.close);
    const retried = await runCli(['check', '-d', db.url, '--notify-webhook', flaky.url]);
    expect([retried.code, flaky.received.length, retried.stderr]).toEqual([1, 2, '']);

    const down = await webhook([500]);
    closers.push(down.close);
    const failed = await runCli(['check', '-d', db.url, '--notify-webhook', down.url]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^integrity: notification to 127\.0\.0\.1:\d+ failed after 2 attempt\(s\): HTTP 500\n$/);
    expect(failed.stderr).not.toContain('secret-token');
    expect((await runCli(['check', '-d', db.url, '--notify-webhook', down.url, '--notify-required'])).code).toBe(2);
  });

  it('alerts when the audit could not run at all', async () => {
    const hook = await webhook([200]);
    closers.push(hook.close);
    const run = await runCli(['check', '-d', 'postgres://u@127.0.0.1:1/x', '--notify-webhook', hook.url]);
    expect(run.code).toBe(2);
    expect(hook.received[0]?.body).toMatchObject({ status: 'error', text: expect.stringMatching(/^integrity could not run: cannot connect/) });
  });
});
