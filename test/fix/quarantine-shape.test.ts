import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { renderFixScript } from '../../src/fix/script.js';
import { auditOptions, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL } from '../helpers/psql.js';
import { runCli } from '../helpers/cli.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';

const SCHEMA = `CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, parent_id int, integrity_check text, integrity_finding text, note text);
INSERT INTO child VALUES (1, 9, 'mine', 'also mine', 'a'), (2, 8, NULL, NULL, 'b');
ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;`;

function runScript(url: string, script: string): { code: number | null; stderr: string } {
  // (every script here is also parsed: see the calls to expectScriptRunsOnlyPlanned)
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-qshape-')), 'fix.sql');
  writeFileSync(file, script);
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, url], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

async function quarantineTables(url: string): Promise<string[]> {
  return (await query<{ name: string }>(url, `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'integrity_quarantine' AND c.relkind = 'r' ORDER BY 1`)).map((r) => r.name);
}

describe.skipIf(!HAS_PSQL)('quarantine tables', () => {
  const db = useDatabase('quarantine_shape', { sql: [SCHEMA] });

  it('a user column named like ours (integrity_check, integrity_finding) is kept, and ours take other names', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    await expectScriptRunsOnlyPlanned(renderFixScript(outcome), outcome);
    expect(runScript(db.url, renderFixScript(outcome))).toMatchObject({ code: 0 });
    const [table] = await quarantineTables(db.url);
    const rows = await query<Record<string, unknown>>(db.url, `SELECT * FROM integrity_quarantine."${table}" ORDER BY id`);
    expect(rows.map((r) => [r.id, r.integrity_check, r.integrity_finding, r.integrity_check_, r.note])).toEqual([
      [1, 'mine', 'also mine', 'orphan-rows', 'a'],
      [2, null, null, 'orphan-rows', 'b'],
    ]);
    // The restore recipe puts them back, every column in its place.
    const restore = outcome.repairs[0]?.repair.restore?.[0] ?? '';
    // (the parents are still missing: PostgreSQL would refuse them under the now valid key)
    await query(db.url, `SET session_replication_role = replica; ${restore}`);
    expect(await query(db.url, 'SELECT id, integrity_check, note FROM child ORDER BY id')).toEqual([
      { id: 1, integrity_check: 'mine', note: 'a' },
      { id: 2, integrity_check: null, note: 'b' },
    ]);
  });

  it('one that exists with a trigger or another shape is not reused: the next name is taken, and the script refuses one that appeared since', async () => {
    await query(
      db.url,
      `ALTER TABLE child DROP CONSTRAINT child_parent_fk; TRUNCATE child; INSERT INTO child VALUES (3, 7, NULL, NULL, 'c');
       ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;
       DROP SCHEMA integrity_quarantine CASCADE; CREATE SCHEMA integrity_quarantine;`,
    );
    const first = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const planned = /INSERT INTO "integrity_quarantine"\."([^"]+)"/.exec(first.repairs[0]?.repair.steps.map((s) => s.sql).join('\n') ?? '')?.[1] as string;
    // Someone else's table under that name, with a trigger, made after the script was written.
    await query(
      db.url,
      `CREATE TABLE integrity_quarantine."${planned}" (LIKE child);
       CREATE FUNCTION public.steal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
       CREATE TRIGGER steal BEFORE INSERT ON integrity_quarantine."${planned}" FOR EACH ROW EXECUTE FUNCTION public.steal();`,
    );
    const refused = runScript(db.url, renderFixScript(first));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/is not the one this script expects/);
    expect(await query(db.url, 'SELECT id FROM child')).toEqual([{ id: 3 }]);
    // Audited again, the repair takes the next name and runs.
    const second = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const next = /INSERT INTO "integrity_quarantine"\."([^"]+)"/.exec(second.repairs[0]?.repair.steps.map((s) => s.sql).join('\n') ?? '')?.[1];
    expect(next).toBe(`${planned}_1`);
    await expectScriptRunsOnlyPlanned(renderFixScript(second), second);
    expect(runScript(db.url, renderFixScript(second))).toMatchObject({ code: 0 });
    expect(await query(db.url, 'SELECT id FROM child')).toEqual([]);
    expect(await query(db.url, `SELECT id, note FROM integrity_quarantine."${next}"`)).toEqual([{ id: 3, note: 'c' }]);
  });

  it('a table whose columns changed since gets a quarantine table of its own', async () => {
    await query(
      db.url,
      `ALTER TABLE child DROP CONSTRAINT child_parent_fk; INSERT INTO child VALUES (4, 6, NULL, NULL, 'd');
       ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;`,
    );
    const before = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    await query(db.url, 'ALTER TABLE child DROP COLUMN note');
    const after = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const name = (o: typeof before) => /INSERT INTO "integrity_quarantine"\."([^"]+)"/.exec(o.repairs[0]?.repair.steps.map((s) => s.sql).join('\n') ?? '')?.[1];
    expect(name(after)).not.toBe(name(before));
    expect(runScript(db.url, renderFixScript(after))).toMatchObject({ code: 0 });
  });
});

describe.skipIf(!HAS_PSQL)('a quarantine planted by another role', () => {
  const planter = `integrity_planter_${process.pid}`;
  const db = useDatabase('quarantine_planted', { sql: [SCHEMA] });

  it('a quarantine schema owned by another role stops the script; so does a table with a CHECK that calls code', async () => {
    await query(db.url, `DROP ROLE IF EXISTS ${planter}; CREATE ROLE ${planter}; CREATE SCHEMA integrity_quarantine AUTHORIZATION ${planter};`);
    try {
      const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
      const refused = runScript(db.url, renderFixScript(outcome));
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/belongs to another role/);
      expect(await query(db.url, 'SELECT count(*) AS n FROM child')).toEqual([{ n: '2' }]);

      await query(db.url, `ALTER SCHEMA integrity_quarantine OWNER TO CURRENT_USER`);
      const planted = /INSERT INTO "integrity_quarantine"\."([^"]+)"/.exec(outcome.repairs[0]?.repair.steps.map((s) => s.sql).join('\n') ?? '')?.[1] as string;
      await query(
        db.url,
        `CREATE FUNCTION public.escalate() RETURNS boolean LANGUAGE sql AS 'SELECT true';
         CREATE TABLE integrity_quarantine."${planted}" (integrity_quarantined_at timestamptz, integrity_check text, integrity_finding text,
           id int, parent_id int, integrity_check_ text, integrity_finding_ text, note text, CHECK (public.escalate()));`,
      );
      const second = runScript(db.url, renderFixScript(outcome));
      expect(second.code).not.toBe(0);
      expect(second.stderr).toMatch(/is not the one this script expects/);
      expect(await query(db.url, 'SELECT count(*) AS n FROM child')).toEqual([{ n: '2' }]);
    } finally {
      await query(db.url, `DROP SCHEMA IF EXISTS integrity_quarantine CASCADE; DROP ROLE IF EXISTS ${planter};`);
    }
  });
});

describe.skipIf(!HAS_PSQL)('session_replication_role = replica where the repairs run', () => {
  const db = useDatabase('repairs_replica_role', { sql: [SCHEMA] });

  it('stops the script and --verify: no key would cascade or be checked', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    await query(db.url, `ALTER DATABASE ${db.name} SET session_replication_role = replica`);
    const refused = runScript(db.url, renderFixScript(outcome));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/session_replication_role is not origin/);
    expect(await query(db.url, 'SELECT count(*) AS n FROM child')).toEqual([{ n: '2' }]);
    const verify = await runCli(['fix', '-d', db.url, '--check', 'orphan-rows', '--verify']);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toMatch(/session_replication_role is replica/);
  });
});
