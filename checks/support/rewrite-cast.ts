import { parse } from '@libpg-query/parser';

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8', 'smallint', 'integer', 'bigint', 'int']);
const TEXT_EXTRACT_OPERATORS = new Set(['->>', '#>>']);
const TEXT_EXTRACT_FUNCTIONS = new Set([
  'json_extract_path_text',
  'jsonb_extract_path_text',
  'json_object_field_text',
  'jsonb_object_field_text',
  'json_array_element_text',
  'jsonb_array_element_text',
]);

type Json = Record<string, unknown>;

function lastName(names: unknown): string | undefined {
  if (!Array.isArray(names)) return undefined;
  const last = names[names.length - 1] as { String?: { sval?: string } } | undefined;
  return last?.String?.sval;
}

/** The expression whose text is cast, looking through casts to text types. */
function isJsonTextExtraction(node: unknown): boolean {
  if (!node || typeof node !== 'object') return false;
  const n = node as Json;
  if (n.TypeCast) {
    const tc = n.TypeCast as Json;
    const type = lastName((tc.typeName as Json | undefined)?.names);
    if (type && ['text', 'varchar', 'bpchar'].includes(type)) return isJsonTextExtraction(tc.arg);
    return false;
  }
  if (n.A_Expr) return TEXT_EXTRACT_OPERATORS.has(lastName((n.A_Expr as Json).name) ?? '');
  if (n.FuncCall) return TEXT_EXTRACT_FUNCTIONS.has(lastName((n.FuncCall as Json).funcname) ?? '');
  return false;
}

/** Byte offsets of the type names of every integer cast of extracted JSON text. */
function findCastTypeLocations(node: unknown, out: number[]): void {
  if (Array.isArray(node)) {
    for (const v of node) findCastTypeLocations(v, out);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Json;
  if (n.TypeCast) {
    const tc = n.TypeCast as Json;
    const typeName = tc.typeName as Json | undefined;
    const type = lastName(typeName?.names);
    if (type && INTEGER_TYPES.has(type) && isJsonTextExtraction(tc.arg) && typeof typeName?.location === 'number') {
      out.push(typeName.location);
    }
  }
  for (const v of Object.values(n)) findCastTypeLocations(v, out);
}

/**
 * Rewrites every integer cast of extracted JSON text in one SQL statement to `numeric`, by finding the
 * cast nodes in PostgreSQL's own parse tree and replacing exactly the type name's span; every other
 * byte of the statement is kept.
 */
export async function rewriteJsonIntCasts(sql: string): Promise<{ sql: string; rewritten: number }> {
  const tree = await parse(sql);
  const locations: number[] = [];
  findCastTypeLocations(tree, locations);
  const bytes = Buffer.from(sql, 'utf8');
  let out = Buffer.alloc(0);
  let cursor = 0;
  for (const at of [...new Set(locations)].sort((a, b) => a - b)) {
    const rest = bytes.subarray(at).toString('utf8');
    const m = /^(?:pg_catalog\.)?(?:"?(?:integer|bigint|smallint|int[248]?)"?)(?![\w$])/i.exec(rest);
    if (!m) throw new Error(`cannot find the cast's type name at byte ${at} of: ${sql}`);
    out = Buffer.concat([out, bytes.subarray(cursor, at), Buffer.from('numeric')]);
    cursor = at + Buffer.byteLength(m[0]);
  }
  out = Buffer.concat([out, bytes.subarray(cursor)]);
  return { sql: out.toString('utf8'), rewritten: locations.length };
}

/**
 * Whether an expression (as pg_get_indexdef prints one key) is itself an integer cast of extracted JSON
 * text, rather than containing one inside a larger expression.
 */
export async function isBareJsonIntCast(expression: string): Promise<boolean> {
  const tree = (await parse(`SELECT ${expression}`)) as { stmts: { stmt: { SelectStmt?: { targetList?: { ResTarget?: { val?: unknown } }[] } } }[] };
  const target = tree.stmts[0]?.stmt.SelectStmt?.targetList;
  if (!target || target.length !== 1) return false;
  const val = target[0]?.ResTarget?.val as Json | undefined;
  const tc = val?.TypeCast as Json | undefined;
  if (!tc) return false;
  const type = lastName((tc.typeName as Json | undefined)?.names);
  return !!type && INTEGER_TYPES.has(type) && isJsonTextExtraction(tc.arg);
}
