import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/db/connection.js';
import { AuditSession, type Queryable } from '../../src/db/session.js';
import { loadCatalog } from '../../src/db/catalog.js';
import { query, useDatabase } from '../helpers/db.js';

function target(url: string) {
  return resolveConnection({ databaseUrl: url, env: {}, connectTimeoutSec: 10, applicationName: 'integrity' });
}

describe('AuditSession', () => {
  const db = useDatabase('session', { sql: ['CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);'] });

  it('runs every query in a REPEATABLE READ, READ ONLY transaction with the timeouts set', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 1, statementTimeoutMs: 1234, lockTimeoutMs: 567 });
    try {
      const [settings] = await session.runAll([
        async (q) =>
          (
            await q.query<Record<string, string>>(
              `SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro,
                      current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,
                      current_setting('application_name') AS app`,
            )
          ).rows[0],
      ]);
      expect(settings).toEqual({ status: 'fulfilled', value: { iso: 'repeatable read', ro: 'on', st: '1234ms', lt: '567ms', app: 'integrity' } });
      const [write] = await session.runAll([(q) => q.query('CREATE TABLE nope (x int)')]);
      expect(write).toMatchObject({ status: 'rejected', reason: { code: '25006' } });
    } finally {
      await session.close();
    }
    expect(await query(db.url, `SELECT to_regclass('nope') AS r`)).toEqual([{ r: null }]);
  });

  it('pins how constants print, whatever the database sets: a deparsed date, interval or float reads back as the same value', async () => {
    const name = new URL(db.url).pathname.slice(1);
    await query(db.url, `ALTER DATABASE "${name}" SET DateStyle = 'German, DMY'; ALTER DATABASE "${name}" SET IntervalStyle = 'sql_standard'; ALTER DATABASE "${name}" SET extra_float_digits = 0`);
    try {
      const session = await AuditSession.open(target(db.url), { jobs: 1, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
      try {
        const [printed] = await session.runAll([
          async (q) =>
            (
              await q.query<Record<string, string>>(
                `SELECT DATE '2024-02-01'::text AS d, INTERVAL '1 day 2 hours'::text AS i, 0.30000000000000004::float8::text AS f`,
              )
            ).rows[0],
        ]);
        expect(printed).toEqual({ status: 'fulfilled', value: { d: '2024-02-01', i: '1 day 02:00:00', f: '0.30000000000000004' } });
      } finally {
        await session.close();
      }
    } finally {
      await query(db.url, `ALTER DATABASE "${name}" RESET DateStyle; ALTER DATABASE "${name}" RESET IntervalStyle; ALTER DATABASE "${name}" RESET extra_float_digits`);
    }
  });

  it('gives every parallel connection the same snapshot', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 3, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
    try {
      expect(session.sharedSnapshot).toBe(true);
      await query(db.url, 'INSERT INTO t SELECT generate_series(11, 20)');
      const task = async (q: Queryable) =>
        (await q.query<{ n: string; pid: number }>('SELECT count(*) AS n, pg_backend_pid() AS pid FROM public.t, pg_sleep(0.1)')).rows[0];
      const results = await session.runAll([task, task, task]);
      const values = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
      expect(values.map((v) => v?.n)).toEqual(['10', '10', '10']);
      expect(new Set(values.map((v) => v?.pid)).size).toBe(3);
    } finally {
      await session.close();
    }
  });

  it('spreads a task\'s pieces over the idle connections, heaviest first, in the shared snapshot', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 3, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
    try {
      const started: number[] = [];
      const [fanned, quick] = await session.runAll<unknown>([
        async (_q, fanOut) =>
          fanOut(
            [1, 2, 3, 4, 5, 6].map((n) => ({ item: n, weight: n })),
            async (n, q) => {
              started.push(n);
              return (await q.query<{ n: string; pid: number }>('SELECT $1::int AS n, count(*) AS rows, pg_backend_pid() AS pid FROM public.t, pg_sleep(0.2)', [n])).rows[0];
            },
          ),
        async (q) => (await q.query<{ n: string }>('SELECT count(*) AS n FROM public.t')).rows[0]?.n,
      ]);
      expect(quick).toMatchObject({ status: 'fulfilled' });
      const rows = (fanned as PromiseFulfilledResult<{ n: number; rows: string; pid: number }[]>).value;
      // Results come back in the items' order; the heaviest pieces started first.
      expect(rows.map((r) => r.n)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(started.slice(0, 3).sort()).toEqual([4, 5, 6]);
      expect(new Set(rows.map((r) => r.rows))).toEqual(new Set([rows[0]?.rows]));
      expect(new Set(rows.map((r) => r.pid)).size).toBe(3);
    } finally {
      await session.close();
    }
  });

  it('rejects a fan-out with the failure of a piece, and the connections carry on', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 2, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
    try {
      const [fanned, after] = await session.runAll<unknown>([
        async (_q, fanOut) =>
          fanOut(
            [1, 2, 3].map((n) => ({ item: n, weight: n })),
            (n, q) => q.query(n === 2 ? 'SELECT 1/0' : 'SELECT pg_sleep(0.05)'),
          ),
        async (q) => (await q.query<{ n: string }>('SELECT count(*) AS n FROM public.t')).rows[0]?.n,
      ]);
      expect(fanned).toMatchObject({ status: 'rejected', reason: { code: '22012' } });
      expect(after).toMatchObject({ status: 'fulfilled' });
      const [again] = await session.runAll([async (q) => (await q.query<{ ok: number }>('SELECT 1 AS ok')).rows[0]?.ok]);
      expect(again).toEqual({ status: 'fulfilled', value: 1 });
    } finally {
      await session.close();
    }
  });

  it('gives a piece whose connection was lost to another lane, and the fan-out still completes', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 3, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
    try {
      const tried = new Set<number>();
      const [fanned] = await session.runAll<unknown>([
        async (_q, fanOut) =>
          fanOut(
            [1, 2, 3, 4, 5, 6].map((n) => ({ item: n, weight: n })),
            async (n, q) => {
              if (n === 5 && !tried.has(n)) {
                tried.add(n);
                await q.query('SELECT pg_terminate_backend(pg_backend_pid())');
              }
              return (await q.query<{ n: number }>('SELECT $1::int AS n FROM pg_sleep(0.05)', [n])).rows[0]?.n;
            },
          ),
      ]);
      expect(fanned).toEqual({ status: 'fulfilled', value: [1, 2, 3, 4, 5, 6] });
    } finally {
      await session.close();
    }
  });

  it('keeps the locks a task took until the audit ends, unless told to let go of them (for thousands of tables)', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 1, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
    try {
      const locksOnT = async (q: Queryable) =>
        (await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'public.t'::regclass`)).rows[0]?.n;
      const read = async (q: Queryable) => {
        await q.query('SELECT count(*) FROM public.t');
        return locksOnT(q);
      };
      // Kept: a TRUNCATE (not MVCC-safe) cannot empty the table under the snapshot.
      expect(await session.runAll<unknown>([read, locksOnT])).toEqual([
        { status: 'fulfilled', value: 1 },
        { status: 'fulfilled', value: 1 },
      ]);
      await session.close();
      const wide = await AuditSession.open(target(db.url), { jobs: 1, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
      try {
        wide.releaseLocksAfterEachTask(true);
        expect(await wide.runAll<unknown>([read, locksOnT])).toEqual([
          { status: 'fulfilled', value: 1 },
          { status: 'fulfilled', value: 0 },
        ]);
      } finally {
        await wide.close();
      }
    } finally {
      await session.close();
    }
  });

  it('keeps going on a connection after a query times out', async () => {
    const session = await AuditSession.open(target(db.url), { jobs: 1, statementTimeoutMs: 100, lockTimeoutMs: 100 });
    try {
      const results = await session.runAll<unknown>([
        (q) => q.query('SELECT pg_sleep(2)'),
        async (q) => (await q.query<{ n: string }>('SELECT count(*) AS n FROM public.t')).rows[0]?.n,
      ]);
      expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: '57014' } });
      expect(results[1]).toEqual({ status: 'fulfilled', value: '20' });
    } finally {
      await session.close();
    }
  });

  it('fails to open with a one-line error that names the target but never the password', async () => {
    const url = new URL(db.url);
    url.password = 'wrong-Secret-123';
    url.username = 'no_such_role_integrity';
    await expect(AuditSession.open(target(url.toString()), { jobs: 1, statementTimeoutMs: 1000, lockTimeoutMs: 1000 })).rejects.toSatisfy(
      (err: Error) => err.message.startsWith('cannot connect to no_such_role_integrity@') && !err.message.includes('wrong-Secret-123'),
    );
  });
});

describe('loadCatalog', () => {
  const small = useDatabase('catalog_small', { sql: ['CREATE TABLE a (id int PRIMARY KEY, b_id int);'] });
  const large = useDatabase('catalog_large', {
    sql: [
      `DO $$ BEGIN
         FOR i IN 1..150 LOOP
           EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, parent_id int REFERENCES %I (id), meta jsonb)', 't' || i, CASE WHEN i = 1 THEN 't1' ELSE 't' || (i - 1) END);
           EXECUTE format('CREATE INDEX ON %I (((meta->>''k'')::numeric))', 't' || i);
         END LOOP;
       END $$;`,
    ],
  });

  async function countQueries(url: string): Promise<{ queries: number; tables: number; fks: number; indexes: number }> {
    const session = await AuditSession.open(target(url), { jobs: 1, statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
    try {
      let queries = 0;
      const counting: Queryable = {
        query: (sql, params) => {
          queries++;
          return session.primary.query(sql, params);
        },
      };
      const catalog = await loadCatalog(counting, ['public']);
      return { queries, tables: catalog.tables.length, fks: catalog.foreignKeys.length, indexes: catalog.indexes.length };
    } finally {
      await session.close();
    }
  }

  it('loads the catalog in the same handful of queries for 1 table or 150', async () => {
    const one = await countQueries(small.url);
    const many = await countQueries(large.url);
    expect(one).toEqual({ queries: 7, tables: 1, fks: 0, indexes: 1 });
    expect(many).toEqual({ queries: 7, tables: 150, fks: 150, indexes: 300 });
  });
});
