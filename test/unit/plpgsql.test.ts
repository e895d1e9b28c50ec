import { describe, expect, it } from 'vitest';
import { dollarTag, readPlpgsql, readRoutine, readSql, readSqlBody, relaxDeclarations, searchPathOf, wrapPlpgsql } from '../../checks/support/plpgsql.js';

const trigger = (source: string) => readPlpgsql({ source, kind: 'function', arguments: '', result: 'trigger' });

describe('reading PL/pgSQL bodies', () => {
  it('finds INSERT, INSERT ... ON CONFLICT, inserting CTEs and MERGE ... THEN INSERT, qualified or not', async () => {
    const r = await trigger(`DECLARE n int;
BEGIN
  INSERT INTO public.user_profiles (id) VALUES (NEW.id) ON CONFLICT (id) DO NOTHING;
  WITH made AS (INSERT INTO "App".profiles (id) VALUES (NEW.id) RETURNING id) SELECT count(*) INTO STRICT n FROM made;
  MERGE INTO accounts a USING (SELECT NEW.id AS id) s ON a.id = s.id WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id);
  MERGE INTO ledgers l USING (SELECT NEW.id AS id) s ON l.id = s.id WHEN MATCHED THEN UPDATE SET seen = true;
  RETURN NEW;
END`);
    expect(r.inserts.map((i) => [i.schema, i.name, i.statement, i.line])).toEqual([
      ['public', 'user_profiles', 'insert', 3],
      ['App', 'profiles', 'insert', 4],
      [null, 'accounts', 'merge', 5],
    ]);
    expect(r.unreadable).toEqual([]);
  });

  it('ignores INSERTs in comments, string literals and RAISE messages', async () => {
    const r = await trigger(`
BEGIN
  -- INSERT INTO public.user_profiles (id) VALUES (NEW.id);
  /* insert into public.user_profiles values (new.id) */
  RAISE NOTICE 'INSERT INTO public.user_profiles (id) VALUES (%)', NEW.id;
  PERFORM pg_catalog.set_config('x.note', 'insert into user_profiles', true);
  RETURN NEW;
END`);
    expect(r.inserts).toEqual([]);
  });

  it('reads the calls of PERFORM, SELECT ... INTO, assignments, CALL, IF conditions and declarations', async () => {
    const r = await trigger(`
DECLARE
  made boolean := app.ensure_profile(NEW.id);
  n int;
BEGIN
  PERFORM app.create_profile(NEW.id, NEW.email);
  SELECT app.count_profiles() INTO n;
  n := public.next_number(n, step => 1);
  NEW.email = lower_email(NEW.email);
  CALL app.provision(NEW.id);
  IF app.wants_profile(NEW) THEN NULL; END IF;
  RETURN NEW;
END`);
    expect(r.calls.map((c) => [c.schema, c.name, c.args, c.procedure])).toEqual(
      expect.arrayContaining([
        ['app', 'ensure_profile', 1, false],
        ['app', 'create_profile', 2, false],
        ['app', 'count_profiles', 0, false],
        ['public', 'next_number', 2, false],
        [null, 'lower_email', 1, false],
        ['app', 'provision', 1, true],
        ['app', 'wants_profile', 1, false],
      ]),
    );
    expect(r.calls).toHaveLength(7);
  });

  it('reads a constant EXECUTE string and marks one built at run time as dynamic', async () => {
    const constant = await trigger(`
BEGIN
  EXECUTE 'INSERT INTO public.user_profiles (id) VALUES ($1)' USING NEW.id;
  EXECUTE 'INSERT INTO ' || 'public.accounts (id) VALUES ($1)' USING NEW.id;
  RETURN NEW;
END`);
    expect(constant.inserts.map((i) => `${i.schema}.${i.name}`)).toEqual(['public.user_profiles', 'public.accounts']);
    expect(constant.unreadable).toEqual([]);

    const built = await trigger(`DECLARE r record;
BEGIN
  EXECUTE format('INSERT INTO %I.user_profiles (id) VALUES ($1)', TG_TABLE_SCHEMA) USING NEW.id;
  FOR r IN EXECUTE 'SELECT ' || quote_ident(TG_ARGV[0]) LOOP END LOOP;
  RETURN NEW;
END`);
    expect(built.inserts).toEqual([]);
    expect(built.unreadable.map((u) => [u.kind, u.line])).toEqual([
      ['dynamic-sql', 3],
      ['dynamic-sql', 4],
    ]);
  });

  it('parses functions with OUT parameters, RETURNS TABLE, and procedures, from their signatures', async () => {
    const table = await readPlpgsql({
      source: `BEGIN id := 1; RETURN NEXT; RETURN QUERY SELECT 2; INSERT INTO t VALUES (1); END`,
      kind: 'function',
      arguments: 'a integer',
      result: 'TABLE(id integer)',
    });
    expect(table.unreadable).toEqual([]);
    expect(table.inserts.map((i) => i.name)).toEqual(['t']);
    const proc = await readPlpgsql({ source: `BEGIN b := a; INSERT INTO t VALUES (a); END`, kind: 'procedure', arguments: 'a integer, INOUT b integer', result: null });
    expect(proc.unreadable).toEqual([]);
    expect(proc.inserts.map((i) => i.name)).toEqual(['t']);
  });

  it('parses bodies that assign fields of row-type variables, which the parser cannot look up', async () => {
    const source = `
DECLARE
  p public.user_profiles%ROWTYPE;
  q public.user_profiles;
  n integer;
  a integer;
BEGIN
  p.id := NEW.id;
  q.id := NEW.id;
  SELECT 1, 2 INTO n, a;
  INSERT INTO public.user_profiles SELECT p.*;
  RETURN NEW;
END`;
    const r = await trigger(source);
    expect(r.unreadable).toEqual([]);
    expect(r.inserts.map((i) => `${i.schema}.${i.name}`)).toEqual(['public.user_profiles']);
    // Only the declared types change, byte offsets kept through multi-byte text.
    const relaxed = await relaxDeclarations(`DECLARE /* é */ p public.t%ROWTYPE; n int; BEGIN RETURN 'é'; END`, false);
    expect(relaxed).toBe(`DECLARE /* é */ p record; n int; BEGIN RETURN 'é'; END`);
  });

  it('says a body that does not parse is unreadable instead of reading nothing', async () => {
    const r = await trigger(`BEGIN INSERT INTO public.user_profiles VALUES (NEW.id) END`);
    expect(r.unreadable.map((u) => u.kind)).toEqual(['unparsed']);
    expect(r.inserts).toEqual([]);
  });
});

describe('reading SQL functions and other languages', () => {
  it('reads a quoted SQL body, with the lines of its statements', async () => {
    const r = await readSql(`SELECT 1;\n-- INSERT INTO public.nope VALUES (1);\nINSERT INTO public.user_profiles (id) VALUES ($1) ON CONFLICT DO NOTHING;\nSELECT app.f($1, $2)`);
    expect(r.inserts.map((i) => [i.schema, i.name, i.line])).toEqual([['public', 'user_profiles', 3]]);
    expect(r.calls.map((c) => [c.schema, c.name, c.args])).toEqual([['app', 'f', 2]]);
  });

  it('reads a stored SQL-standard body by OID', () => {
    // pg_proc.prosqlbody of: BEGIN ATOMIC INSERT INTO t VALUES (x); SELECT public.f(); END (trimmed to the fields read)
    const body =
      '(({QUERY :commandType 3 :resultRelation 1 :rtable ({RANGETBLENTRY :rtekind 0 :relid 20133 :relkind r}) :targetList <>}' +
      ' {QUERY :commandType 1 :resultRelation 0 :rtable <> :targetList ({TARGETENTRY :expr {FUNCEXPR :funcid 26853 :args <>} :resno 1})}' +
      ' {QUERY :commandType 5 :resultRelation 1 :rtable ({RANGETBLENTRY :rtekind 0 :relid 30000}) :mergeActionList ({MERGEACTION :matched true :commandType 2})}))';
    const r = readSqlBody(body);
    expect(r.insertOids).toEqual(['20133']);
    expect(r.callOids).toEqual(['26853']);
  });

  it('does not read compiled functions, and marks other languages unreadable', async () => {
    const c = await readRoutine({ language: 'c', source: 'moddatetime', sqlBody: null, kind: 'function', arguments: '', result: 'trigger' });
    expect(c.unreadable).toEqual([]);
    const v8 = await readRoutine({ language: 'plv8', source: 'plv8.execute("INSERT INTO t VALUES (1)")', sqlBody: null, kind: 'function', arguments: '', result: 'trigger' });
    expect(v8.unreadable.map((u) => u.kind)).toEqual(['language']);
    expect(v8.inserts).toEqual([]);
  });
});

describe('wrapping and search paths', () => {
  it('picks a dollar-quote tag absent from the body, and keeps a trailing $tag from closing it', async () => {
    expect(dollarTag('BEGIN RETURN NEW; END')).toBe('integrity');
    expect(dollarTag('BEGIN RAISE NOTICE $integrity$x$integrity$; END')).toBe('integrity_0');
    const r = await trigger(`BEGIN INSERT INTO public.user_profiles VALUES (NEW.id); RETURN NEW; END -- $integrity`);
    expect(r.inserts.map((i) => i.name)).toEqual(['user_profiles']);
    expect(wrapPlpgsql({ source: 'BEGIN END', kind: 'procedure', arguments: 'a integer', result: null })).toMatch(/^CREATE PROCEDURE /);
  });

  it('reads proconfig search paths as PostgreSQL stores them', () => {
    expect(searchPathOf(null)).toBeNull();
    expect(searchPathOf(['work_mem=1MB'])).toBeNull();
    expect(searchPathOf(['search_path=""'])).toEqual([]);
    expect(searchPathOf(['search_path=public, "My S", "$user"'])).toEqual(['public', 'My S', '$user']);
    expect(searchPathOf(['search_path=pg_catalog, Public', 'work_mem=1MB'])).toEqual(['pg_catalog', 'public']);
    // SET search_path = 'public, extensions' names one schema, with a comma in it.
    expect(searchPathOf(['search_path="public, extensions"'])).toEqual(['public, extensions']);
    expect(searchPathOf(['search_path="a""b"'])).toEqual(['a"b']);
  });
});
