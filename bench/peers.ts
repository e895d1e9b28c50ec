import pg from 'pg';
import { listUserSchemas, loadCatalog } from '../src/db/catalog.js';
import { qualifiedName, quoteIdent } from '../src/db/quote.js';
import type { Table } from '../src/index.js';
import { DEFAULT_PLACEHOLDERS, isIdentifierColumn } from '../checks/placeholder-uuid.js';

/**
 * What the audit is measured against, read from the generated database's catalog (the same catalog the
 * audit loads). The floor: one count(*) per table, one read of the data. The peers: the same questions as
 * the tools users would otherwise run ask them, in those tools' own SQL, one query per test as they send it.
 */
export interface PeerQuery {
  label: string;
  sql: string;
}

export interface Yardsticks {
  floor: string[];
  peers: Record<PeerName, PeerQuery[]>;
}

export type PeerName = 'dbt' | 'soda';
export const PEERS: readonly PeerName[] = ['dbt', 'soda'];

interface Reference {
  child: { schema: string; table: string; columns: string[] };
  parent: { schema: string; table: string; columns: string[] };
}

/**
 * dbt's generic tests as dbt-core compiles them: the test's select (macros `default__test_relationships`
 * and `default__test_not_null`, the latter's `is null` replaced by the placeholder list, as a project's own
 * `not_placeholder` generic test is written), wrapped in dbt's `get_test_sql` count.
 */
function dbtTest(select: string): string {
  return `select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      ${select}
    ) dbt_internal_test`;
}

function dbtRelationships(ref: Reference): string {
  const c = quoteIdent(ref.child.columns[0] as string);
  const p = quoteIdent(ref.parent.columns[0] as string);
  return dbtTest(`with child as (
    select ${c} as from_field
    from ${qualifiedName(ref.child.schema, ref.child.table)}
    where ${c} is not null
),

parent as (
    select ${p} as to_field
    from ${qualifiedName(ref.parent.schema, ref.parent.table)}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null`);
}

/**
 * Soda's reference check (`values in (col) must exist in parent (col)`), the SQL soda-core's ReferenceQuery
 * builds: it fetches the failing rows themselves and counts them client-side.
 */
function sodaReference(ref: Reference): string {
  const join = ref.child.columns.map((c, i) => `SOURCE.${quoteIdent(c)} = TARGET.${quoteIdent(ref.parent.columns[i] as string)}`).join(' AND ');
  const where = ref.child.columns.map((c, i) => `(SOURCE.${quoteIdent(c)} IS NOT NULL AND TARGET.${quoteIdent(ref.parent.columns[i] as string)} IS NULL)`).join(' OR ');
  return `SELECT SOURCE.* \nFROM ${qualifiedName(ref.child.schema, ref.child.table)} as SOURCE \n     LEFT JOIN ${qualifiedName(ref.parent.schema, ref.parent.table)} as TARGET on ${join} \nWHERE ${where}`;
}

/**
 * Soda's `missing_count(col) = 0` with `missing values: [placeholders]`: soda-core computes every aggregate
 * metric of a table in one query, one COUNT(CASE ...) per column.
 */
function sodaMissing(table: Table): string | null {
  const columns = table.columns.filter(isIdentifierColumn);
  if (columns.length === 0) return null;
  const values = (uuid: boolean) => DEFAULT_PLACEHOLDERS.map((v) => `'${v}'${uuid ? '::uuid' : ''}`).join(', ');
  const metrics = columns.map(
    (col) => `COUNT(CASE WHEN (${col.baseType === 'uuid' ? quoteIdent(col.name) : `lower(${quoteIdent(col.name)})`} IS NULL OR ${col.baseType === 'uuid' ? quoteIdent(col.name) : `lower(${quoteIdent(col.name)})`} IN (${values(col.baseType === 'uuid')})) THEN 1 END)`,
  );
  return `SELECT \n  ${metrics.join(',\n  ')} \nFROM ${qualifiedName(table.schema, table.name)}`;
}

function dbtNotPlaceholder(table: Table, column: Table['columns'][number]): string {
  const c = quoteIdent(column.name);
  const test = column.baseType === 'uuid' ? `${c} in (${DEFAULT_PLACEHOLDERS.map((v) => `'${v}'`).join(', ')})` : `lower(${c}) in (${DEFAULT_PLACEHOLDERS.map((v) => `'${v}'`).join(', ')})`;
  return dbtTest(`select ${c}
from ${qualifiedName(table.schema, table.name)}
where ${test}`);
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
    const references: Reference[] = [
      ...catalog.foreignKeys.map((fk) => ({
        child: { schema: fk.schema, table: fk.table, columns: fk.columns },
        parent: { schema: fk.refSchema, table: fk.refTable, columns: fk.refColumns },
      })),
      // Seed 004 as such a tool writes it: every user has a profile.
      { child: { schema: 'auth', table: 'users', columns: ['id'] }, parent: { schema: 'public', table: 'user_profiles', columns: ['id'] } },
    ].sort((a, b) => (rows.get(`${b.child.schema}.${b.child.table}`) ?? 0) - (rows.get(`${a.child.schema}.${a.child.table}`) ?? 0));
    const label = (ref: Reference) => `${ref.child.schema}.${ref.child.table}(${ref.child.columns.join(', ')})`;
    // Seed 000: a model without an active price, as dbt_utils' relationships_where and a Soda failed-rows check write it.
    const pricing = `select id from public.models m where not exists (
        select 1 from public.model_provider_pricing p where p.model_name = m.id and p.is_active
           and p.effective_from <= now() and (p.effective_until is null or p.effective_until > now()))`;
    const dbt = [
      ...references.map((ref) => ({ label: `relationships ${label(ref)}`, sql: dbtRelationships(ref) })),
      ...tables.flatMap((t) => t.columns.filter(isIdentifierColumn).map((col) => ({ label: `not_placeholder ${t.schema}.${t.name}.${col.name}`, sql: dbtNotPlaceholder(t, col) }))),
      { label: 'models without active pricing', sql: dbtTest(pricing) },
    ];
    const soda = [
      ...references.map((ref) => ({ label: `reference ${label(ref)}`, sql: sodaReference(ref) })),
      ...tables.flatMap((t) => {
        const sql = sodaMissing(t);
        return sql ? [{ label: `missing_count ${t.schema}.${t.name}`, sql }] : [];
      }),
      { label: 'models without active pricing', sql: `SELECT * FROM (${pricing}) failed_rows` },
    ];
    return { floor: tables.map((t) => `SELECT count(*) AS n FROM ${qualifiedName(t.schema, t.name)}`), peers: { dbt, soda } };
  } finally {
    await db.end();
  }
}
