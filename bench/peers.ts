import pg from 'pg';
import { qualifiedName, quoteIdent } from '../src/db/quote.js';
import { DEFAULT_PLACEHOLDERS } from '../checks/placeholder-uuid.js';

/**
 * The two yardsticks the audit is measured against, both read from the catalog of the generated database:
 * the floor (one count(*) per table the audit reads) and the naive peer (one query per relationship and per
 * column, as dbt's `relationships` test and a per-column placeholder count are written).
 */
export interface Yardsticks {
  floor: string[];
  naive: { label: string; sql: string }[];
}

const SCHEMAS = ['auth', 'public'];

export async function yardsticks(url: string): Promise<Yardsticks> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const tables = (
      await db.query<{ schema: string; name: string }>(
        `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') ORDER BY c.relpages DESC, 1, 2`,
        [SCHEMAS],
      )
    ).rows;
    const fks = (
      await db.query<{ schema: string; name: string; cols: string[]; rschema: string; rname: string; rcols: string[]; pages: number }>(
        `SELECT cn.nspname AS schema, c.relname AS name, rn.nspname AS rschema, r.relname AS rname, c.relpages AS pages,
                ARRAY(SELECT attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, o) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY o) AS cols,
                ARRAY(SELECT attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, o) JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY o) AS rcols
           FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
           JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
          WHERE k.contype = 'f' AND cn.nspname = ANY($1) ORDER BY c.relpages DESC, k.conname`,
        [SCHEMAS],
      )
    ).rows;
    const idColumns = (
      await db.query<{ schema: string; name: string; column: string; type: string; pages: number }>(
        `SELECT n.nspname AS schema, c.relname AS name, a.attname AS column, format_type(a.atttypid, NULL) AS type, c.relpages AS pages
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
            AND (a.atttypid = 'uuid'::regtype OR (a.atttypid IN ('text'::regtype, 'varchar'::regtype) AND (a.attname = 'id' OR a.attname ~* '_id$' OR a.attname ~ 'Id$')))
          ORDER BY c.relpages DESC, 1, 2, 3`,
        [SCHEMAS],
      )
    ).rows;
    const placeholders = `ARRAY[${DEFAULT_PLACEHOLDERS.map((v) => `'${v}'`).join(', ')}]`;
    const naive = [
      ...fks.map((fk) => ({
        label: `relationships ${fk.schema}.${fk.name}(${fk.cols.join(', ')})`,
        // dbt's relationships test, counted.
        sql: `SELECT count(*) AS n FROM (
                SELECT ${fk.cols.map((c, i) => `child.${quoteIdent(c)} AS f${i}`).join(', ')} FROM ${qualifiedName(fk.schema, fk.name)} AS child
                 WHERE ${fk.cols.map((c) => `child.${quoteIdent(c)} IS NOT NULL`).join(' AND ')}) c
                LEFT JOIN ${qualifiedName(fk.rschema, fk.rname)} AS parent ON ${fk.rcols.map((c, i) => `c.f${i} = parent.${quoteIdent(c)}`).join(' AND ')}
               WHERE parent.${quoteIdent(fk.rcols[0] as string)} IS NULL`,
      })),
      ...idColumns.map((col) => ({
        label: `placeholder ${col.schema}.${col.name}.${col.column}`,
        sql:
          col.type === 'uuid'
            ? `SELECT count(*) AS n FROM ${qualifiedName(col.schema, col.name)} WHERE ${quoteIdent(col.column)} = ANY(${placeholders}::uuid[])`
            : `SELECT count(*) AS n FROM ${qualifiedName(col.schema, col.name)} WHERE lower(${quoteIdent(col.column)}) = ANY(${placeholders})`,
      })),
      {
        label: 'users without profiles',
        sql: `SELECT count(*) AS n FROM auth.users u WHERE NOT EXISTS (SELECT 1 FROM public.user_profiles p WHERE p.id = u.id)`,
      },
      {
        label: 'models without active pricing',
        sql: `SELECT count(*) AS n FROM public.models m WHERE NOT EXISTS (
                SELECT 1 FROM public.model_provider_pricing p WHERE p.model_name = m.id AND p.is_active
                   AND p.effective_from <= now() AND (p.effective_until IS NULL OR p.effective_until > now()))`,
      },
    ];
    return { floor: tables.map((t) => `SELECT count(*) AS n FROM ${qualifiedName(t.schema, t.name)}`), naive };
  } finally {
    await db.end();
  }
}
