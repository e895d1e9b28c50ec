import { qualifiedName, quoteIdent } from './quote.js';

/** A sample key as text: the value itself for one column, a JSON array for several. */
export function sampleKeyExpr(alias: string, columns: string[]): string {
  if (columns.length === 1) return `${alias}.${quoteIdent(columns[0] as string)}::text`;
  return `pg_catalog.json_build_array(${columns.map((c) => `${alias}.${quoteIdent(c)}`).join(', ')})::text`;
}

const NUMERIC = new Set(['int2', 'int4', 'int8', 'numeric', 'float4', 'float8']);
const STRING = new Set(['text', 'varchar', 'bpchar', 'name']);

/**
 * `left = right` for two columns that are meant to hold the same values. Types PostgreSQL can compare
 * (same type, or both numbers, or both strings) are compared natively, so that `2.00 = 2` and an index
 * can serve the comparison; a uuid against a string compares the canonical lower-case text; anything
 * else falls back to text.
 */
export function equalsExpr(left: string, leftType: string, right: string, rightType: string): string {
  const same = leftType === rightType || (NUMERIC.has(leftType) && NUMERIC.has(rightType)) || (STRING.has(leftType) && STRING.has(rightType));
  if (same) return `${left} = ${right}`;
  if (leftType === 'uuid' && STRING.has(rightType)) return `${left}::text = lower(${right})`;
  if (rightType === 'uuid' && STRING.has(leftType)) return `lower(${left}) = ${right}::text`;
  return `${left}::text = ${right}::text`;
}

export function allNotNull(alias: string, columns: string[]): string {
  return columns.map((c) => `${alias}.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
}

/**
 * How a query names a table's own rows, as PostgreSQL's RI queries do (`FROM ONLY`): an inheritance
 * parent's rows without its children's, which a foreign key on it neither covers nor is satisfied by. A
 * partitioned table is named plainly, since its rows are all in its partitions.
 */
export function ownRows(table: { schema: string; name: string; kind: 'table' | 'partitioned table' }): string {
  return `${table.kind === 'partitioned table' ? '' : 'ONLY '}${qualifiedName(table.schema, table.name)}`;
}
