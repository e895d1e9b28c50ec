import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CheckHandles, RefusedStatement } from '../../src/engine/guard.js';
import { planAudit } from '../../src/engine/plan.js';
import { fixtureClientConfig } from '../../src/db/connection.js';
import type { Queryable } from '../../src/db/session.js';
import { audit, auditOptions, checkResult, holdLock, query, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';

// Keys indexed on both sides (merge of index-only scans), a key indexed on neither, and id columns with
// and without an index of their own. VACUUM sets the visibility map the index-only scans rely on.
const SCHEMA = [
  `CREATE SCHEMA "Billing Dept";
   CREATE TABLE "Billing Dept"."Parent Row" (id uuid PRIMARY KEY, code text UNIQUE, payload text);
   CREATE TABLE "Billing Dept"."Child Row" (id uuid PRIMARY KEY, "parent id" uuid NOT NULL, loose_id uuid, tag_id uuid, "parent code" text);
   CREATE INDEX "child parent idx" ON "Billing Dept"."Child Row" ("parent id");
   CREATE INDEX "child code idx" ON "Billing Dept"."Child Row" ("parent code");
   CREATE INDEX child_tag_idx ON "Billing Dept"."Child Row" (tag_id);
   INSERT INTO "Billing Dept"."Parent Row" SELECT md5('p' || i)::uuid, md5('p' || i), repeat('x', 50) FROM generate_series(1, 20000) i;
   INSERT INTO "Billing Dept"."Child Row"
     SELECT md5('c' || i)::uuid,
            CASE WHEN i % 500 = 0 THEN md5('missing' || i)::uuid ELSE md5('p' || (1 + i % 20000))::uuid END,
            CASE WHEN i % 700 = 0 THEN '${NIL}'::uuid ELSE md5('p' || i)::uuid END,
            CASE WHEN i % 900 = 0 THEN '${NIL}'::uuid END,
            md5('p' || (1 + i % 20000))
       FROM generate_series(1, 60000) i;
   ALTER TABLE "Billing Dept"."Child Row" ADD CONSTRAINT child_code_fk FOREIGN KEY ("parent code") REFERENCES "Billing Dept"."Parent Row" (code) NOT VALID;
   ALTER TABLE "Billing Dept"."Child Row" ADD CONSTRAINT "child parent fk" FOREIGN KEY ("parent id") REFERENCES "Billing Dept"."Parent Row" (id) NOT VALID;
   ALTER TABLE "Billing Dept"."Child Row" ADD CONSTRAINT child_loose_fk FOREIGN KEY (loose_id) REFERENCES "Billing Dept"."Parent Row" (id) NOT VALID;`,
];

async function vacuum(url: string): Promise<void> {
  await query(url, 'VACUUM (ANALYZE) "Billing Dept"."Parent Row"');
  await query(url, 'VACUUM (ANALYZE) "Billing Dept"."Child Row"');
}

describe('plan hints through a check\'s handle (QueryOptions.avoid)', () => {
  const db = useDatabase('plan_hints', { sql: SCHEMA });

  async function inTransaction<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client(fixtureClientConfig(db.url));
    await client.connect();
    try {
      await client.query('BEGIN READ ONLY');
      return await work(client);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end();
    }
  }

  it('applies to that one query and is undone after it', async () => {
    await inTransaction(async (client) => {
      const handle = new CheckHandles().wrap(client as unknown as Queryable);
      const settings = `SELECT current_setting('enable_hashjoin') AS h, current_setting('max_parallel_workers_per_gather') AS p`;
      const before = await handle.query<{ h: string; p: string }>(settings);
      const during = await handle.query<{ h: string; p: string }>(settings, [], { avoid: ['hashjoin', 'parallel'] });
      const after = await handle.query<{ h: string; p: string }>(settings);
      expect(during.rows[0]).toEqual({ h: 'off', p: '0' });
      expect(after.rows[0]).toEqual(before.rows[0]);
      expect(before.rows[0]?.h).toBe('on');
      // What the session had set itself (a pooler's connect query, say) is what comes back, not the default.
      await client.query(`SET LOCAL enable_nestloop = off`);
      await handle.query('SELECT 1', [], { avoid: ['nestloop', 'mergejoin'] });
      expect((await client.query(`SELECT current_setting('enable_nestloop') AS n, current_setting('enable_mergejoin') AS m`)).rows[0]).toEqual({ n: 'off', m: 'on' });
    });
  });

  it('changes the plan, never the answer', async () => {
    await inTransaction(async (client) => {
      const handle = new CheckHandles().wrap(client as unknown as Queryable);
      const join = `SELECT count(*)::int AS n FROM ONLY "Billing Dept"."Child Row" c WHERE NOT EXISTS (SELECT 1 FROM ONLY "Billing Dept"."Parent Row" p WHERE p.id = c.loose_id)`;
      const plan = async (avoid: ('hashjoin' | 'mergejoin' | 'nestloop')[]) =>
        JSON.stringify((await handle.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${join}`, [], { avoid })).rows[0]?.['QUERY PLAN']);
      expect(await plan(['mergejoin', 'nestloop'])).toContain('"Hash Join"');
      expect(await plan(['hashjoin', 'nestloop'])).not.toContain('"Hash Join"');
      const counts = await Promise.all([[], ['hashjoin'], ['hashjoin', 'mergejoin']].map(async (avoid) => (await handle.query<{ n: number }>(join, [], { avoid: avoid as ('hashjoin' | 'mergejoin')[] })).rows[0]?.n));
      expect(new Set(counts).size).toBe(1);
      expect(counts[0]).toBeGreaterThan(0);
    });
  });

  it('refuses an unknown method before anything is sent', async () => {
    const sent: string[] = [];
    const handle = new CheckHandles().wrap({ query: async (sql: string) => (sent.push(sql), { rows: [] }) } as Queryable);
    await expect(handle.query('SELECT 1', [], { avoid: ['enable_seqscan = off; DROP TABLE x' as never] })).rejects.toThrow(RefusedStatement);
    await expect(handle.query('SELECT 1', [], { avoid: 'hashjoin' as never })).rejects.toThrow(/must be an array/);
    expect(sent).toEqual([]);
  });

  it('is undone with the savepoint when the query fails', async () => {
    await inTransaction(async (client) => {
      const handle = new CheckHandles().wrap(client as unknown as Queryable);
      await client.query('SAVEPOINT item');
      await expect(handle.query('SELECT 1 / 0', [], { avoid: ['seqscan'] })).rejects.toThrow(/division by zero/);
      await client.query('ROLLBACK TO SAVEPOINT item');
      expect((await client.query(`SELECT current_setting('enable_seqscan') AS s`)).rows[0]).toEqual({ s: 'on' });
    });
  });
});

describe('read strategies chosen from the catalog', () => {
  const db = useDatabase('read_strategies', { sql: SCHEMA });

  it('orphan-rows merges two index-only scans where both keys are indexed, leaves the rest to the planner, and counts the same', async () => {
    await vacuum(db.url);
    const plan = await planAudit(auditOptions(db.url, { checks: ['orphan-rows'], deep: true }));
    const queries = plan.checks.find((c) => c.id === 'orphan-rows')?.queries ?? [];
    const indexed = queries.find((q) => q.sql.includes('"parent id"'));
    const loose = queries.find((q) => q.sql.includes('loose_id'));
    expect(indexed?.strategy).toMatch(/^merge anti-join of two index-only scans/);
    expect(indexed?.scans.map((s) => s.index).sort()).toEqual(['Parent Row_pkey', 'child parent idx']);
    expect(loose?.strategy).not.toMatch(/index-only scans/);
    // Both text keys are indexed too, but in the database's collation, whose order a library upgrade can
    // change under the indexes: a merge would trust that order, so the planner's hash stays.
    const code = queries.find((q) => q.sql.includes('"parent code"'));
    expect(code?.strategy).toMatch(/^hash anti-join/);
    expect(indexed?.pages).toBeGreaterThan(0);

    const report = await audit(db.url, { checks: ['orphan-rows'], deep: true });
    const counts = Object.fromEntries(report.findings.filter((f) => f.checkId === 'orphan-rows').map((f) => [f.object.column, f.count]));
    const truth = await query<{ parent: number; loose: number }>(
      db.url,
      `SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM "Billing Dept"."Parent Row" p WHERE p.id = c."parent id"))::int AS parent,
              count(*) FILTER (WHERE c.loose_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "Billing Dept"."Parent Row" p WHERE p.id = c.loose_id))::int AS loose
         FROM "Billing Dept"."Child Row" c`,
    );
    expect(counts).toEqual({ 'parent id': truth[0]?.parent, loose_id: truth[0]?.loose });
    expect(truth[0]?.parent).toBe(120);
  });

  it('without an index on the child key, or with a table not yet vacuumed, the planner chooses', async () => {
    await query(db.url, 'CREATE TABLE "Billing Dept".fresh (id uuid PRIMARY KEY, "parent id" uuid REFERENCES "Billing Dept"."Parent Row" (id))');
    await query(db.url, 'CREATE INDEX ON "Billing Dept".fresh ("parent id")');
    await query(db.url, `INSERT INTO "Billing Dept".fresh SELECT md5('f' || i)::uuid, md5('p' || (1 + i % 20000))::uuid FROM generate_series(1, 5000) i`);
    try {
      const plan = await planAudit(auditOptions(db.url, { checks: ['orphan-rows'], deep: true }));
      const fresh = plan.checks.find((c) => c.id === 'orphan-rows')?.queries.find((q) => q.object === 'Billing Dept.fresh');
      // No VACUUM yet: its visibility map is empty, so an index-only scan would visit the heap for every row.
      expect(fresh?.sql).toBeDefined();
      expect(fresh?.strategy).not.toMatch(/merge anti-join of two index-only scans/);
    } finally {
      await query(db.url, 'DROP TABLE "Billing Dept".fresh');
    }
  });

  it('an index in another order does not count as leading on the key: no merge is forced over it', async () => {
    await query(db.url, 'CREATE TABLE "Billing Dept".backwards (id uuid PRIMARY KEY, "parent id" uuid)');
    await query(db.url, 'CREATE INDEX ON "Billing Dept".backwards ("parent id" DESC)');
    await query(db.url, `INSERT INTO "Billing Dept".backwards SELECT md5('b' || i)::uuid, md5('p' || (1 + i % 20000))::uuid FROM generate_series(1, 60000) i`);
    await query(db.url, 'ALTER TABLE "Billing Dept".backwards ADD FOREIGN KEY ("parent id") REFERENCES "Billing Dept"."Parent Row" (id) NOT VALID');
    await query(db.url, 'VACUUM (ANALYZE) "Billing Dept".backwards');
    try {
      const plan = await planAudit(auditOptions(db.url, { checks: ['orphan-rows'], deep: true }));
      const backwards = plan.checks.find((c) => c.id === 'orphan-rows')?.queries.find((q) => q.object === 'Billing Dept.backwards');
      expect(backwards?.strategy).toMatch(/^hash anti-join/);
    } finally {
      await query(db.url, 'DROP TABLE "Billing Dept".backwards');
    }
  });

  it('placeholder-uuid looks an indexed uuid column up in its index and scans the table only for the others', async () => {
    await vacuum(db.url);
    const plan = await planAudit(auditOptions(db.url, { checks: ['placeholder-uuid'] }));
    const queries = (plan.checks.find((c) => c.id === 'placeholder-uuid')?.queries ?? []).filter((q) => q.object === 'Billing Dept.Child Row');
    const lookups = queries.filter((q) => q.strategy.startsWith('index lookup'));
    // id, "parent id" and tag_id have an index of their own; loose_id does not.
    expect(lookups.map((q) => q.scans[0]?.index).sort()).toEqual(['Child Row_pkey', 'child parent idx', 'child_tag_idx']);
    const scans = queries.filter((q) => !q.strategy.startsWith('index lookup'));
    expect(scans).toHaveLength(1);
    expect(scans[0]?.sql).toContain('loose_id');
    expect(scans[0]?.sql).not.toContain('tag_id');

    const report = await audit(db.url, { checks: ['placeholder-uuid'] });
    const counts = Object.fromEntries(report.findings.filter((f) => f.object.table === 'Child Row').map((f) => [f.object.column, f.count]));
    expect(counts).toEqual({ loose_id: Math.floor(60000 / 700), tag_id: Math.floor(60000 / 900) });
    expect(checkResult(report, 'placeholder-uuid').note).toMatch(/looked up 4 indexed columns/);
  });
});

describe('placeholder-uuid on many small tables', () => {
  // 30 small tables: read many to a query; two of them hold a placeholder.
  const tables = Array.from({ length: 30 }, (_, i) => `"Many Small"."Small ${i + 1}"`);
  const db = useDatabase('placeholder_batches', {
    sql: [
      `CREATE SCHEMA "Many Small";
       ${tables.map((t, i) => `CREATE TABLE ${t} (id int PRIMARY KEY, ref_id uuid);
         INSERT INTO ${t} SELECT g, CASE WHEN ${i + 1} = 7 AND g <= 2 THEN '${NIL}'::uuid WHEN ${i + 1} = 13 AND g = 5 THEN '${NIL}'::uuid ELSE md5(g::text)::uuid END FROM generate_series(1, 50) g;`).join('\n')}`,
    ],
  });

  it('reads them in batches and counts each table on its own', async () => {
    await query(db.url, 'ANALYZE');
    const plan = await planAudit(auditOptions(db.url, { checks: ['placeholder-uuid'] }));
    const queries = plan.checks.find((c) => c.id === 'placeholder-uuid')?.queries ?? [];
    expect(queries).toHaveLength(1);
    expect(new Set(queries[0]?.scans.map((s) => s.relation)).size).toBe(30);

    const report = await audit(db.url, { checks: ['placeholder-uuid'] });
    const counts = Object.fromEntries(report.findings.map((f) => [f.object.table, f.count]));
    expect(counts).toEqual({ 'Small 7': 2, 'Small 13': 1 });
    expect(checkResult(report, 'placeholder-uuid').status).toBe('failed');
  });

  it('a batch that fails is read again table by table: the fault costs one table, not the batch', async () => {
    const release = await holdLock(db.url, tables[12] as string);
    try {
      const report = await audit(db.url, { checks: ['placeholder-uuid'] });
      const result = checkResult(report, 'placeholder-uuid');
      expect(result.status).toBe('error');
      expect(result.objectErrors?.map((e) => e.object)).toEqual(['"Many Small"."Small 13"']);
      expect(result.objectErrors?.[0]?.reason).toMatch(/lock/i);
      // The other 29 tables were read: the placeholder in Small 7 is still found.
      expect(report.findings.map((f) => [f.object.table, f.count])).toEqual([['Small 7', 2]]);
    } finally {
      await release();
    }
  });
});
