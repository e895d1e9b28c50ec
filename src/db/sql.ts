import { quoteIdent } from './quote.js';

/** A sample key as text: the value itself for one column, a JSON array for several. */
export function sampleKeyExpr(alias: string, columns: string[]): string {
  if (columns.length === 1) return `${alias}.${quoteIdent(columns[0] as string)}::text`;
  return `pg_catalog.json_build_array(${columns.map((c) => `${alias}.${quoteIdent(c)}`).join(', ')})::text`;
}

/** `left = right`, comparing as text when the two columns' types differ (declared relations need not match). */
export function equalsExpr(left: string, leftType: string, right: string, rightType: string): string {
  return leftType === rightType ? `${left} = ${right}` : `${left}::text = ${right}::text`;
}

export function allNotNull(alias: string, columns: string[]): string {
  return columns.map((c) => `${alias}.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
}
