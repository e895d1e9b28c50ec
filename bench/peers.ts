import pg from 'pg';
import { listUserSchemas, loadCatalog } from '../src/db/catalog.js';
import { qualifiedName, quoteIdent } from '../src/db/quote.js';
import { DEFAULT_PLACEHOLDERS, isIdentifierColumn } from '../checks/placeholder-uuid.js';

/**
 * The two yardsticks the audit is measured against, read from the generated database's catalog (the same
 * catalog the audit loads): the floor (one count(*) per table the audit reads) and the naive peer (one
 * query per relationship and per column, as dbt's `relationships` test and a per-column placeholder
 * count are written).
 */
export interface Yardsticks {
  floor: string[];
  naive: { label: string; sql: string }[];
}

export async function yardsticks(url: string): Promise<Yardsticks> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const schemas = await listUserSchemas(db);
    const catalog = await loadCatalog(db, schemas);
    // Largest first, so the connections finish together, as the audit schedules them.
    const tables = [...catalog.tables].sort((a, b) => b.estimatedRows - a.estimatedRows);
    const rows = new Map(tables.map((t) => [`${t.schema}.${t.name}`, t.estimatedRows]));
    const fks = [...catalog.foreignKeys].sort((a, b) => (rows.get(`${b.schema}.${b.table}`) ?? 0) - (rows.get(`${a.schema}.${a.table}`) ?? 0));
    const placeholders = `ARRAY[${DEFAULT_PLACEHOLDERS.map((v) => `'${v}'`).join(', ')}]`;
    const naive = [
      ...fks.map((fk) => ({
        label: `relationships ${fk.schema}.${fk.table}(${fk.columns.join(', ')})`,
        // dbt's relationships test, counted.
        sql: `SELECT count(*) AS n FROM (
                SELECT ${fk.columns.map((c, i) => `child.${quoteIdent(c)} AS f${i}`).join(', ')} FROM ${qualifiedName(fk.schema, fk.table)} AS child
                 WHERE ${fk.columns.map((c) => `child.${quoteIdent(c)} IS NOT NULL`).join(' AND ')}) c
                LEFT JOIN ${qualifiedName(fk.refSchema, fk.refTable)} AS parent ON ${fk.refColumns.map((c, i) => `c.f${i} = parent.${quoteIdent(c)}`).join(' AND ')}
               WHERE parent.${quoteIdent(fk.refColumns[0] as string)} IS NULL`,
      })),
      ...tables.flatMap((t) =>
        t.columns.filter(isIdentifierColumn).map((col) => ({
          label: `placeholder ${t.schema}.${t.name}.${col.name}`,
          sql:
            col.baseType === 'uuid'
              ? `SELECT count(*) AS n FROM ${qualifiedName(t.schema, t.name)} WHERE ${quoteIdent(col.name)} = ANY(${placeholders}::uuid[])`
              : `SELECT count(*) AS n FROM ${qualifiedName(t.schema, t.name)} WHERE lower(${quoteIdent(col.name)}) = ANY(${placeholders})`,
        })),
      ),
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
