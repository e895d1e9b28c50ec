import type { Table } from '../db/catalog.js';
import type { Queryable } from '../db/session.js';

/** The enabled user triggers and rules that an INSERT, UPDATE or DELETE of these tables (or their partitions) would fire. */
export async function userCodeFiredBy(db: Queryable, touched: { table: Pick<Table, 'schema' | 'name'>; event: 'insert' | 'delete' | 'update' }[]): Promise<string[]> {
  if (touched.length === 0) return [];
  const res = await db.query<{ what: string }>(
    `WITH r AS (SELECT c.oid, r.ev FROM unnest($1::text[], $2::text[], $3::text[]) AS r(s, t, ev)
                  JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.s
                  JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname OPERATOR(pg_catalog.=) r.t),
          rel AS (SELECT r.oid, r.ev FROM r UNION SELECT pt.relid, r.ev FROM r CROSS JOIN LATERAL pg_catalog.pg_partition_tree(r.oid) AS pt)
     SELECT DISTINCT 'trigger ' || pg_catalog.quote_ident(tg.tgname) || ' on ' || tg.tgrelid::pg_catalog.regclass::pg_catalog.text AS what
       FROM rel JOIN pg_catalog.pg_trigger tg ON tg.tgrelid OPERATOR(pg_catalog.=) rel.oid
      WHERE NOT tg.tgisinternal AND tg.tgenabled NOT IN ('D', 'R')
        AND (tg.tgtype::int OPERATOR(pg_catalog.&) (CASE rel.ev WHEN 'insert' THEN 4 WHEN 'delete' THEN 8 ELSE 16 END)) OPERATOR(pg_catalog.<>) 0
     UNION
     SELECT DISTINCT 'rule ' || pg_catalog.quote_ident(rw.rulename) || ' on ' || rw.ev_class::pg_catalog.regclass::pg_catalog.text
       FROM rel JOIN pg_catalog.pg_rewrite rw ON rw.ev_class OPERATOR(pg_catalog.=) rel.oid
      WHERE rw.ev_type OPERATOR(pg_catalog.=) (CASE rel.ev WHEN 'insert' THEN '3' WHEN 'delete' THEN '4' ELSE '2' END)::"char"
     ORDER BY 1`,
    [touched.map((t) => t.table.schema), touched.map((t) => t.table.name), touched.map((t) => t.event)],
  );
  return res.rows.map((r) => r.what);
}
