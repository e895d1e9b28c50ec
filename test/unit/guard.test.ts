import { describe, expect, it } from 'vitest';
import { CheckHandles, refusalOf } from '../../src/engine/guard.js';
import type { Queryable } from '../../src/db/session.js';

describe('what a check may send through its database handle', () => {
  it.each([
    'SELECT 1',
    'select count(*) from public."Invoice Line" where amount_cents < 0',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'VALUES (1), (2)',
    'EXPLAIN (FORMAT JSON) SELECT 1',
    '(SELECT 1) UNION ALL (SELECT 2)',
    "SELECT 'set_config(1)' AS not_a_call",
  ])('reads pass: %s', async (sql) => {
    expect(await refusalOf(sql)).toBeNull();
  });

  it.each([
    ['INSERT INTO t VALUES (1)', /Insert is not allowed/],
    ['UPDATE t SET a = 1', /Update is not allowed/],
    ['DELETE FROM t', /Delete is not allowed/],
    ['COMMIT', /Transaction is not allowed/],
    ['ROLLBACK', /Transaction is not allowed/],
    ['BEGIN', /Transaction is not allowed/],
    ['SET statement_timeout = 0', /VariableSet is not allowed/],
    ['RESET ALL', /VariableSet is not allowed/],
    ['SET TRANSACTION READ WRITE', /VariableSet is not allowed/],
    ['CREATE TABLE t (a int)', /Create is not allowed/],
    ['CALL p()', /Call is not allowed/],
    ['DO $$ BEGIN END $$', /Do is not allowed/],
    ['COPY t TO PROGRAM \'sh\'', /Copy is not allowed/],
    ['EXPLAIN ANALYZE DELETE FROM t', /Explain is not allowed/],
    ['SELECT 1; SELECT 2', /one statement per query, not 2/],
    ["SELECT pg_catalog.set_config('statement_timeout', '0', false)", /set_config\(\)/],
    ["SELECT * FROM t WHERE a = (SELECT SET_CONFIG('x', 'y', true))", /set_config\(\)/],
    ["SELECT public.dblink_exec('dbname=x', 'DELETE FROM t')", /dblink_exec\(\)/],
    ['SELECT pg_terminate_backend(1)', /pg_terminate_backend\(\)/],
    ['SELECT pg_advisory_lock(1)', /pg_advisory_lock\(\)/],
  ])('refused: %s', async (sql, reason) => {
    expect((await refusalOf(sql))?.reason).toMatch(reason);
  });

  it('refuses a syntax error with PostgreSQL\'s own message and position (its parser is the server\'s), never sending it', async () => {
    expect(await refusalOf('SELEC 1')).toEqual({ reason: 'syntax error at or near "SELEC"', syntaxErrorAt: 1 });
    expect(await refusalOf('SELECT 1 FORM t')).toEqual({ reason: 'syntax error at or near "t"', syntaxErrorAt: 15 });
  });

  it('refuses a text it cannot read rather than send it, where the simple protocol would run every statement in it', async () => {
    const deep = `SELECT 'a'${' COLLATE "C"'.repeat(10000)} AS x; COMMIT; DELETE FROM public.invoice`;
    expect((await refusalOf(deep))?.reason).toMatch(/could not be checked|one statement per query|syntax error|stack/);
  });

  it.each(['query_to_xml', 'ts_stat', 'pg_create_physical_replication_slot', 'pg_stat_reset', 'lo_creat'])('refuses %s(), which acts beyond the statement', async (fn) => {
    expect((await refusalOf(`SELECT pg_catalog.${fn}('x')`))?.reason).toContain(`${fn}()`);
  });

  it.each([
    'domain_in',
    'domain_recv',
    'array_in',
    'array_recv',
    'record_in',
    'record_recv',
    'range_in',
    'range_recv',
    'multirange_in',
    'multirange_recv',
    'pg_input_is_valid',
    'pg_input_error_info',
  ])('refuses %s(), which runs the input function of a type it is handed (a domain\'s CHECK may call user code)', async (fn) => {
    expect((await refusalOf(`SELECT count(*) FROM public.t WHERE pg_catalog.${fn}(x::text::cstring, 'public.d'::regtype, -1) IS NOT NULL`))?.reason).toContain(`${fn}()`);
    expect((await refusalOf(`SELECT ${fn.toUpperCase()}('1', 'public.d')`))?.reason).toContain(`${fn}()`);
  });

  it('closed handles refuse everything and name the connections still busy', async () => {
    const handles = new CheckHandles();
    let release: () => void = () => undefined;
    const db: Queryable = { query: () => new Promise((resolve) => (release = () => resolve({ rows: [] }))) };
    const guarded = handles.wrap(db);
    const pending = guarded.query('SELECT pg_catalog.pg_sleep(10)');
    await new Promise((r) => setTimeout(r, 50));
    expect(handles.close('cut off')).toEqual([db]);
    await expect(guarded.query('SELECT 1')).rejects.toThrow('cut off');
    release();
    await pending;
    expect(handles.close('again')).toEqual([]);
  });
});
