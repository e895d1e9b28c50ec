import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { tablespaceOffset } from '../../checks/jsonb-int-cast-index.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { applyRepairs, runnableSteps, verifyRepairs } from '../../src/fix/execute.js';
import { parse } from '@libpg-query/parser';
import { runCli } from '../helpers/cli.js';
import { auditOptions, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL, acceptedConcurrentReviews } from '../helpers/psql.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';

async function quarantineRows(url: string): Promise<Record<string, number>> {
  const tables = await query<{ t: string }>(url, `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'integrity_quarantine' ORDER BY 1`);
  const out: Record<string, number> = {};
  for (const { t } of tables) {
    const [row] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM integrity_quarantine."${t.replace(/"/g, '""')}"`);
    const name = t.replace(/__[0-9a-f]{12}$/, '');
    out[name] = (out[name] ?? 0) + (row?.n ?? 0);
  }
  return out;
}

describe('cascades', () => {
  const db = useDatabase('repair_cascades', {
    sql: [
      `CREATE TABLE owner (id int PRIMARY KEY);
       CREATE TABLE l0 (id int PRIMARY KEY, owner_id int);
       INSERT INTO l0 VALUES (1, 99);
       ALTER TABLE l0 ADD FOREIGN KEY (owner_id) REFERENCES owner NOT VALID;
       DO $$ BEGIN
         FOR i IN 1..6 LOOP
           EXECUTE format('CREATE TABLE l%s (id int PRIMARY KEY, up int REFERENCES l%s ON DELETE CASCADE)', i, i - 1);
           EXECUTE format('INSERT INTO l%s VALUES (1, 1)', i);
         END LOOP;
       END $$;
       CREATE SCHEMA a; CREATE SCHEMA b;
       CREATE TABLE items (id int PRIMARY KEY, owner_id int);
       INSERT INTO items VALUES (1, 77);
       ALTER TABLE items ADD FOREIGN KEY (owner_id) REFERENCES owner NOT VALID;
       CREATE TABLE a.notes (id int PRIMARY KEY, item int REFERENCES public.items ON DELETE CASCADE, body text);
       CREATE TABLE b.notes (id int PRIMARY KEY, item int REFERENCES public.items ON DELETE CASCADE);
       INSERT INTO a.notes VALUES (1, 1, 'x'); INSERT INTO b.notes VALUES (1, 1);`,
    ],
  });

  it('quarantines every row a delete cascades to, however deep, and keeps same-named tables apart', async () => {
    const options = auditOptions(db.url, { checks: ['orphan-rows'] });
    const { repairs } = await runAuditWithRepairs(options);
    expect(repairs.map((r) => [r.finding.object.table, r.repair.steps.some((s) => s.safety === 'review')])).toEqual([
      ['items', false],
      ['l0', false],
    ]);
    const verified = await verifyRepairs(options);
    expect(verified.lines.map((l) => l.status)).toEqual(['cleared', 'cleared']);
    await applyRepairs(options, repairs.filter((r) => runnableSteps(r).length > 0));
    expect(await quarantineRows(db.url)).toEqual({ items: 1, l0: 1, l1: 1, l2: 1, l3: 1, l4: 1, l5: 1, l6: 1, notes: 2 });
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM l6')).toEqual([{ n: 0 }]);
  });

  it('leaves for review a delete that would cascade outside the audited schemas', async () => {
    await query(db.url, `SET session_replication_role = replica; INSERT INTO items VALUES (2, 78); INSERT INTO a.notes VALUES (2, 2, 'y');`);
    const { repairs } = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'], schemas: ['public'], deep: true }));
    expect(repairs[0]?.repair.steps[0]).toMatchObject({ safety: 'review', decision: expect.stringContaining('cascade into a.notes, outside the audited schemas (add --schema a)') });
  });
});

describe('self-referencing cascades and identity columns', () => {
  const db = useDatabase('repair_cycles', {
    sql: [
      `CREATE TABLE owner (id int PRIMARY KEY);
       CREATE TABLE nodes (id int PRIMARY KEY, parent_id int REFERENCES nodes ON DELETE CASCADE, owner_id int);
       INSERT INTO nodes VALUES (1, NULL, 5), (2, 1, 5), (3, 2, NULL);
       ALTER TABLE nodes ADD FOREIGN KEY (owner_id) REFERENCES owner NOT VALID;
       CREATE TABLE gen (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner_id int);
       INSERT INTO gen (owner_id) VALUES (6);
       ALTER TABLE gen ADD FOREIGN KEY (owner_id) REFERENCES owner NOT VALID;`,
    ],
  });

  it('sends a cascade through a cycle to review, and restores identity columns with OVERRIDING SYSTEM VALUE', async () => {
    const { repairs } = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const nodes = repairs.find((r) => r.finding.object.table === 'nodes');
    expect(nodes?.repair.steps[0]).toMatchObject({ safety: 'review', decision: expect.stringContaining('cycle of foreign keys') });
    const gen = repairs.find((r) => r.finding.object.table === 'gen');
    expect(gen?.repair.restore?.[0]).toMatch(/^INSERT INTO "public"\."gen" \("id", "owner_id"\) OVERRIDING SYSTEM VALUE SELECT/);
    await applyRepairs(auditOptions(db.url), [gen!]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // The row is an orphan: put it back the way the comment says, into a table whose key is no longer enforced.
      await client.query('ALTER TABLE gen DROP CONSTRAINT gen_owner_id_fkey');
      await client.query(gen!.repair.restore![0] as string);
    } finally {
      await client.end();
    }
    expect(await query(db.url, 'SELECT id, owner_id FROM gen')).toEqual([{ id: 1, owner_id: 6 }]);
  });
});

describe('index rebuilds keep every property', () => {
  const db = useDatabase('repair_index', {
    sql: [
      `CREATE TABLE idx (id int PRIMARY KEY, name text, extra text, meta jsonb);
       CREATE INDEX idx_incl ON idx (name, ((meta->>'k')::integer)) INCLUDE (extra) WITH (fillfactor = 70, deduplicate_items = off)
         WHERE name <> 'a WHERE b';
       COMMENT ON INDEX idx_incl IS 'important comment';
       CREATE INDEX idx_u ON idx (((meta->>'u')::bigint)) WITH (fillfactor = 80);`,
    ],
  });

  it.skipIf(!HAS_PSQL)('rebuilds with numeric and nothing else changed, under psql, twice (needs psql)', async () => {
    const before = await query<{ indexname: string; indexdef: string }>(db.url, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'idx' AND indexname <> 'idx_pkey' ORDER BY 1`);
    const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { execFileSync } = await import('node:child_process');
    const file = join(mkdtempSync(join(tmpdir(), 'integrity-idx-')), 'fix.sql');
    expect((await runCli(['check', '-d', db.url, '--check', 'jsonb-int-cast-index', '--fix-sql', file])).code).toBe(1);
    await expectScriptRunsOnlyPlanned(readFileSync(file, 'utf8'), await runAuditWithRepairs(auditOptions(db.url, { checks: ['jsonb-int-cast-index'] })));
    // The rebuild is `review` (queries written with ::int stop using it): the script alone changes nothing,
    // and a person who accepts it runs the reviewed blocks, twice without harm.
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, db.url], { stdio: 'ignore' });
    const unchanged = await query<{ indexname: string; indexdef: string }>(db.url, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'idx' AND indexname <> 'idx_pkey' ORDER BY 1`);
    expect(unchanged).toEqual(before);
    const accepted = join(mkdtempSync(join(tmpdir(), 'integrity-idx-')), 'accepted.sql');
    writeFileSync(accepted, acceptedConcurrentReviews((await runAuditWithRepairs(auditOptions(db.url, { checks: ['jsonb-int-cast-index'] }))).repairs));
    for (let i = 0; i < 2; i++) execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', accepted, db.url], { stdio: 'ignore' });
    const after = await query<{ indexname: string; indexdef: string }>(db.url, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'idx' AND indexname <> 'idx_pkey' ORDER BY 1`);
    expect(after.map((r) => r.indexdef)).toEqual(before.map((r) => r.indexdef.replace(/::(integer|bigint)\)/g, '::numeric)')));
    expect(await query(db.url, `SELECT obj_description('idx_incl'::regclass, 'pg_class') AS c`)).toEqual([{ c: 'important comment' }]);
    expect((await runCli(['check', '-d', db.url, '--check', 'jsonb-int-cast-index'])).code).toBe(0);
  });

  it('leaves a unique index for review: as numeric, 1 and 1.0 would collide', async () => {
    await query(db.url, `CREATE UNIQUE INDEX idx_unique ON idx (((meta->>'v')::int))`);
    const { repairs } = await runAuditWithRepairs(auditOptions(db.url, { checks: ['jsonb-int-cast-index'] }));
    expect(repairs.find((r) => r.finding.object.index === 'idx_unique')?.repair.steps[0]).toMatchObject({ safety: 'review', decision: expect.stringContaining('1 and 1.0') });
    await query(db.url, 'DROP INDEX idx_unique');
  });

  it('places TABLESPACE before the WHERE keyword found from the parse tree, not inside a literal', async () => {
    const def = `CREATE INDEX i ON public.idx USING btree (name) WHERE (name <> 'a WHERE b'::text)`;
    const tree = (await parse(def)) as { stmts: { stmt: { IndexStmt: { whereClause: unknown } } }[] };
    const bytes = Buffer.from(def);
    const at = tablespaceOffset(bytes, tree.stmts[0]?.stmt.IndexStmt.whereClause);
    expect(`${def.slice(0, at)} TABLESPACE "ts"${def.slice(at)}`).toBe(
      `CREATE INDEX i ON public.idx USING btree (name) TABLESPACE "ts" WHERE (name <> 'a WHERE b'::text)`,
    );
    expect(tablespaceOffset(bytes, undefined)).toBe(bytes.length);
  });
});
