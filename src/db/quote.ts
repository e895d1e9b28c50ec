/**
 * Characters no SQL text we write may carry raw: line ends (CR and LF end a `--` comment for psql and the
 * server), the other C0/C1 controls and DEL (terminal escapes), the Unicode line and paragraph
 * separators, and the bidirectional overrides and isolates (which make an editor show text in another
 * order than it runs). Identifiers and literals holding them are written with escapes instead.
 */
// eslint-disable-next-line no-control-regex
export const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/**
 * Quotes an identifier, always (never relying on case folding). A name holding a line end or another
 * control character is written as a Unicode-escaped identifier (`U&"a\000Db"`), which PostgreSQL reads
 * whatever standard_conforming_strings says, so the SQL text itself never carries the raw character.
 */
export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) throw new Error(`identifier contains a NUL byte: ${JSON.stringify(name)}`);
  const quoted = name.replace(/"/g, '""');
  if (!UNSAFE_CHARS.test(name)) return `"${quoted}"`;
  return `U&"${quoted.replace(/\\/g, '\\\\').replace(UNSAFE_CHARS_ALL, (c) => `\\${hex(c, 4)}`)}"`;
}

/**
 * A string literal that means the same under any server setting: an escape string (`E'...'`), which
 * standard_conforming_strings does not change, with backslashes and quotes doubled and every control
 * character written as an escape, so the SQL text never carries a raw line end.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('a string literal cannot hold a NUL byte');
  const body = value
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "''")
    .replace(UNSAFE_CHARS_ALL, (c) => (c.charCodeAt(0) < 0x80 ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
  return `E'${body}'`;
}

export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** A human label for an object, quoting only where psql would need to. */
export function displayName(...parts: string[]): string {
  return parts.map((p) => (/^[a-z_][a-z0-9_$]*$/.test(p) ? p : quoteIdent(p))).join('.');
}

/**
 * A relation's OID by schema and name, or NULL, as SQL: to_regclass() would parse a quoted name with its
 * own reader, which knows no `U&"..."`, so names are matched as values instead. `schema` and `name` are
 * SQL expressions: bind parameters (`$1`) in audit queries, literals in scripts.
 */
export function relationOid(schema: string, name: string): string {
  return `(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
          WHERE n.nspname OPERATOR(pg_catalog.=) ${schema} AND c.relname OPERATOR(pg_catalog.=) ${name})`;
}

/** relationOid for names known when the script is written. */
export function relationOidLiteral(schema: string, name: string): string {
  return relationOid(quoteLiteral(schema), quoteLiteral(name));
}
