import { describe, expect, it } from 'vitest';
import { adminUrl, audit, query, summarize, useDatabase } from '../helpers/db.js';

// An audit runs no code but its own: a user's operator on a domain, a user's lower(varchar) and a
// user's functions named like built-ins must never run inside it. Each trojan raises an error (the audit
// would report it) and is counted by track_functions (read after the audit's sessions have ended).

const TROJANS = `
CREATE DOMAIN public.d_id AS text;
CREATE FUNCTION public.trojan_eq(public.d_id, public.d_id) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'trojan = ran'; END $$;
CREATE OPERATOR public.= (LEFTARG = public.d_id, RIGHTARG = public.d_id, FUNCTION = public.trojan_eq);
CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'trojan lower ran'; END $$;
CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'trojan count ran'; END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'trojan now ran'; END $$;
CREATE FUNCTION public.json_build_array(VARIADIC anyarray) RETURNS json LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'trojan json ran'; END $$;

CREATE TABLE public.tenant (id public.d_id PRIMARY KEY);
INSERT INTO public.tenant VALUES ('t1');
CREATE TABLE public.member (id int PRIMARY KEY, tenant_id public.d_id, team_id public.d_id, owner_id varchar(40));
INSERT INTO public.member VALUES (1, 't1', 't1', 'x'), (2, 't9', 't8', '00000000-0000-0000-0000-000000000000');
ALTER TABLE public.member ADD CONSTRAINT member_tenant_fk FOREIGN KEY (tenant_id) REFERENCES public.tenant (id) NOT VALID;
CREATE TABLE public.membership (tenant_id public.d_id, member_id int, PRIMARY KEY (tenant_id, member_id));
INSERT INTO public.membership VALUES ('t1', 1), ('t7', 2);
ALTER TABLE public.membership ADD CONSTRAINT membership_tenant_fk FOREIGN KEY (tenant_id) REFERENCES public.tenant (id) NOT VALID;
CREATE TABLE public.models (id varchar(40) PRIMARY KEY, provider text NOT NULL, meta jsonb NOT NULL DEFAULT '{}');
CREATE TABLE public.model_provider_pricing (id int PRIMARY KEY, model_name varchar(40), is_active boolean, effective_until timestamptz);
INSERT INTO public.models VALUES ('m1', 'openai', '{}'), ('m2', 'openai', '{}');
INSERT INTO public.model_provider_pricing VALUES (1, 'm1', true, NULL);
CREATE INDEX ON public.models (((meta->>'k')::int));
`;

describe('user code reachable by name', () => {
  const db = useDatabase('trojans', { sql: [TROJANS] });

  it('never runs during an audit: no check errors, the findings are exact, and no trojan was called', async () => {
    await query(adminUrl(), `ALTER DATABASE ${db.name} SET track_functions = 'all'`);
    const report = await audit(db.url, {
      deep: true,
      config: { relations: [{ table: 'member', columns: ['team_id'], references: { table: 'tenant', columns: ['id'] } }] },
    });
    expect(report.checks.filter((c) => c.status === 'error').map((c) => [c.id, c.reason])).toEqual([]);
    const found = summarize(report).map((f) => [f.checkId, f.object.table, f.object.column ?? f.object.index ?? null, f.count]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['orphan-rows', 'member', 'tenant_id', 1],
        ['orphan-rows', 'member', 'team_id', 1],
        ['orphan-rows', 'membership', 'tenant_id', 1],
        ['models-without-pricing', 'models', 'id', 1],
        ['placeholder-uuid', 'member', 'owner_id', 1],
      ]),
    );
    // Statistics reach the collector when the audit's sessions end; read them from a fresh one.
    let calls: { funcname: string; calls: string }[] = [];
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      calls = await query(db.url, `SELECT funcname, calls::text FROM pg_stat_user_functions WHERE schemaname = 'public' ORDER BY 1`);
      if (calls.length > 0) break;
    }
    expect(calls).toEqual([]);
    // The trap works: the same trojans do run for SQL that finds them by name.
    await expect(query(db.url, `SELECT public.lower('X'::varchar)`)).rejects.toThrow(/trojan lower ran/);
  });
});
