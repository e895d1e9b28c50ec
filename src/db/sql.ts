import { qualifiedName, quoteIdent } from './quote.js';

/** A sample key as text: the value itself for one column, a JSON array for several. */
export function sampleKeyExpr(alias: string, columns: string[]): string {
  if (columns.length === 1) return `${alias}.${quoteIdent(columns[0] as string)}::text`;
  return `pg_catalog.json_build_array(${columns.map((c) => `${alias}.${quoteIdent(c)}`).join(', ')})::text`;
}

const NUMERIC = new Set(['int2', 'int4', 'int8', 'numeric', 'float4', 'float8']);
const STRING = new Set(['text', 'varchar', 'bpchar', 'name']);
/** Built-in types compared with pg_catalog's own `=`; any other type (an extension's, a user's) goes through text. */
const BUILTIN_EQUALITY = new Set([...NUMERIC, ...STRING, 'uuid', 'bool', 'date', 'timestamp', 'timestamptz', 'time', 'timetz', 'interval', 'bytea', 'oid', 'inet', 'cidr', 'macaddr', 'char']);
const EQ = 'OPERATOR(pg_catalog.=)';

/**
 * `left = right` for two columns that are meant to hold the same values. Types PostgreSQL can compare
 * (same type, or both numbers, or both strings) are compared natively, so that `2.00 = 2` and an index
 * can serve the comparison; a uuid against a string compares the canonical lower-case text; `citext`
 * compares case-insensitively, as its own operator would; anything else falls back to text. The operator
 * and functions are pg_catalog's, so no operator a user defined on a type or domain is ever called.
 */
export function equalsExpr(left: string, leftType: string, right: string, rightType: string): string {
  const same =
    (leftType === rightType && BUILTIN_EQUALITY.has(leftType)) || (NUMERIC.has(leftType) && NUMERIC.has(rightType)) || (STRING.has(leftType) && STRING.has(rightType));
  if (same) return `${left} ${EQ} ${right}`;
  if (leftType === 'uuid' && STRING.has(rightType)) return `${left}::pg_catalog.text ${EQ} pg_catalog.lower(${right})`;
  if (rightType === 'uuid' && STRING.has(leftType)) return `pg_catalog.lower(${left}) ${EQ} ${right}::pg_catalog.text`;
  if (leftType === 'citext' || rightType === 'citext') {
    return `pg_catalog.lower(${left}::pg_catalog.text) ${EQ} pg_catalog.lower(${right}::pg_catalog.text)`;
  }
  return `${left}::pg_catalog.text ${EQ} ${right}::pg_catalog.text`;
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
