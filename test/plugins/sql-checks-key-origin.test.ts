import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { analyzeQuery } from '../../src/plugins/sql-parse.js';
import { auditProject, SCHEMA_SQL, writeProject } from './sql-check-helpers.js';

/**
 * The quarantine repair finds the object table's rows by the values of the key columns the query returns:
 * those columns must be the object table's own (PostgreSQL's RowDescription says which table and column
 * each output column is), or the move would take rows the query never found.
 */
describe('the quarantine repair moves only rows of the object table the query returned', () => {
  const db = useDatabase('sql_fix_key_origin', {
    sql: [
      SCHEMA_SQL,
      `CREATE TABLE public.customer (id int PRIMARY KEY, blocked boolean NOT NULL);
       INSERT INTO public.customer VALUES (1, false), (2, true), (3, true), (4, false);
       CREATE TABLE public.measure (region int NOT NULL, id int NOT NULL, bad boolean NOT NULL, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
       CREATE TABLE public.measure_1 PARTITION OF public.measure FOR VALUES IN (1);
       INSERT INTO public.measure VALUES (1, 1, true), (1, 2, false);`,
    ],
  });

  const check = (id: string, query: string, object = 'public.invoice', key = 'id') => ({ id, title: id, object, key, query, repair: 'quarantine' });

  async function repairOf(id: string, query: string, object?: string, key?: string) {
    const { file } = writeProject({ sqlChecks: [check(id, query, object, key)] });
    const { repairs } = await auditProject(db.url, file, [id]);
    const entry = repairs.find((r) => r.finding.checkId === id);
    expect(entry, `a repair for ${id}`).toBeDefined();
    return entry as NonNullable<typeof entry>;
  }

  it("a key taken from another table (customers 2 and 3 blocked): the move of invoices 2 and 3 is left for review, never destructive", async () => {
    const entry = await repairOf('acme/blocked', 'SELECT c.id FROM public.customer AS c WHERE c.blocked');
    expect(entry.finding.count).toBe(2);
    expect(entry.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(entry.finding.fix?.safety).toBe('review');
    expect(entry.repair.steps[0]?.decision).toMatch(/the key column id the query returns is public\.customer\.id, a column of another table than public\.invoice/);
  });

  it('the same, through a subquery and a CTE: PostgreSQL follows the column to public.customer', async () => {
    const entry = await repairOf('acme/blocked-cte', 'WITH b AS (SELECT id FROM public.customer WHERE blocked) SELECT s.id FROM (SELECT id FROM b) AS s');
    expect(entry.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(entry.repair.steps[0]?.decision).toMatch(/is public\.customer\.id, a column of another table/);
  });

  it("a computed key, a set operation's, or another column of the object table named as the key: review", async () => {
    const computed = await repairOf('acme/computed', 'SELECT i.id + 0 AS id FROM public.invoice AS i WHERE i.amount_cents < 0');
    expect(computed.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(computed.repair.steps[0]?.decision).toMatch(/the key column id the query returns is computed, not a column of public\.invoice/);
    const setop = await repairOf('acme/setop', 'SELECT i.id FROM public.invoice AS i WHERE i.amount_cents < 0 UNION SELECT c.id FROM public.customer AS c WHERE c.blocked');
    expect(setop.repair.steps.map((s) => s.safety)).toEqual(['review']);
    const other = await repairOf('acme/other-column', 'SELECT i.amount_cents AS id FROM public.invoice AS i WHERE i.amount_cents < 0');
    expect(other.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(other.repair.steps[0]?.decision).toMatch(/is public\.invoice's column amount_cents, not its column id/);
  });

  it("the object table's own key, through a join, a subquery and a CTE, or from a partition of it: moved (destructive)", async () => {
    for (const [id, query, object, key] of [
      ['acme/join', 'SELECT i.id FROM public.invoice AS i JOIN public.customer AS c ON c.id = i.id WHERE i.amount_cents < 0 OR c.blocked'],
      ['acme/cte', 'WITH neg AS (SELECT id FROM public.invoice WHERE amount_cents < 0) SELECT n.id FROM (SELECT id FROM neg) AS n'],
      ['acme/partition', 'SELECT region, id FROM public.measure_1 WHERE bad', 'public.measure', 'region, id'],
    ] as const) {
      const entry = await repairOf(id, query, object, key);
      expect(entry.repair.steps.map((s) => s.safety), id).not.toContain('review');
      expect(entry.repair.steps.at(-1)?.safety, id).toBe('destructive');
    }
  });
});

describe('pg_catalog functions that act beyond the query make the quarantine repair review', () => {
  it.each([
    'pg_try_advisory_lock(1)',
    'pg_advisory_lock_shared(1)',
    'pg_try_advisory_lock_shared(1)',
    "pg_create_physical_replication_slot('s') IS NOT NULL",
    "pg_create_logical_replication_slot('s', 'p') IS NOT NULL",
    "pg_drop_replication_slot('s') IS NULL",
    'lo_creat(-1) > 0',
    'lo_create(0) > 0',
    'lo_unlink(1) = 1',
    "table_to_xml('public.invoice', true, false, '') IS NOT NULL",
    "table_to_xmlschema('public.invoice', true, false, '') IS NOT NULL",
    "schema_to_xml('public', true, false, '') IS NOT NULL",
    "database_to_xml(true, false, '') IS NOT NULL",
    "query_to_xml('SELECT 1', true, false, '') IS NOT NULL",
    "ts_stat('SELECT 1') IS NOT NULL",
    "pg_logical_emit_message(true, 'p', 'm') IS NOT NULL",
    'pg_stat_reset() IS NULL',
    "pg_stat_reset_shared('bgwriter') IS NULL",
    'pg_stat_reset_single_table_counters(0) IS NULL',
    'pg_stat_reset_single_function_counters(0) IS NULL',
    'pg_stat_reset_slru(NULL) IS NULL',
    'pg_stat_reset_replication_slot(NULL) IS NULL',
    'pg_stat_reset_subscription_stats(NULL) IS NULL',
    'pg_catalog.PG_TRY_ADVISORY_LOCK(1)',
  ])('%s', (call) => {
    const name = (/^(?:pg_catalog\.)?(\w+)/.exec(call)?.[1] as string).toLowerCase();
    const { userCode } = analyzeQuery(`SELECT id FROM public.invoice WHERE ${call}`);
    expect(userCode.map((u) => u.toLowerCase())).toContainEqual(expect.stringContaining(`${name}()`));
  });
});
