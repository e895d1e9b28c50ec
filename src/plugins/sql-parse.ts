import { loadModule, parseSync, scanSync } from '@libpg-query/parser';
import { ACTING_FUNCTIONS as GUARDED_FUNCTIONS, codeBeyondReading } from '../db/acting-functions.js';
import { HEADER_FIELDS } from './sql-spec.js';

// The parser's WebAssembly is loaded once, when this module is first imported, so that checks can be
// validated synchronously while the registry loads them.
await loadModule();

/** Where a query's text sits in the file or config entry it came from, to report positions there. */
export interface QuerySource {
  /** The file (a `.sql` check) or the config entry (`integrity.config.json: sqlChecks[0]`). */
  origin: string;
  /** 1-based line of the file on which the query starts; null for an inline query (lines are the query's own). */
  firstLine: number | null;
}

export interface AnalyzedQuery {
  /** The query as it will be sent: the user's text, a trailing semicolon blanked out (positions unchanged). */
  text: string;
  /** A syntax error, reported when the check runs (as PostgreSQL would), with its position in `text`. */
  syntaxError: { message: string; offset: number } | null;
  /** The names of the columns the query returns, when every one can be told from the text; else null. */
  outputColumns: string[] | null;
  /** Tables the query names without a schema (and that are not its own CTEs). */
  unqualified: string[];
  /** Relations the query names with their schema. */
  relations: { schema: string; name: string }[];
  /**
   * Code the query would run that is not PostgreSQL's own reading: functions, operators and types of a
   * schema other than pg_catalog, and pg_catalog functions that run SQL or act outside the query.
   */
  userCode: string[];
}

/**
 * pg_catalog functions whose call makes the query more than a plain read, which the quarantine repair
 * would run again outside the audit's read-only transaction: those that act beyond the query (the
 * guard's list: SQL given as text, settings, other sessions, session-level locks, notifications,
 * replication slots and logical messages, statistics, large objects, files), and those the audit lets
 * READ ONLY refuse or end with it but the repair's read-write transaction would run: sequences
 * (nextval, setval), transaction-level advisory locks and unlocks, lo_truncate.
 */
const ACTING_FUNCTIONS = new Set([
  ...GUARDED_FUNCTIONS,
  'setval',
  'nextval',
  'pg_advisory_xact_lock',
  'pg_advisory_xact_lock_shared',
  'pg_try_advisory_xact_lock',
  'pg_try_advisory_xact_lock_shared',
  'pg_advisory_unlock',
  'pg_advisory_unlock_shared',
  'lo_truncate',
]);

/** A line and column (1-based, in characters) of `offset` (a UTF-16 index into `text`). */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split(/\r\n|\r|\n/);
  return { line: lines.length, column: [...(lines[lines.length - 1] ?? '')].length + 1 };
}

/** Where `offset` of the query is, in the words of its source: `line 3, column 8 of FILE`. */
export function describePosition(query: string, offset: number, source: QuerySource): string {
  const { line, column } = lineColumn(query, offset);
  if (source.firstLine === null) return `at line ${line}, column ${column} of the query of ${source.origin}`;
  return `at line ${source.firstLine + line - 1}, column ${column} of ${source.origin}`;
}

/** The UTF-16 index of the character after the first `n` code points of `text`. */
export function codePointIndex(text: string, n: number): number {
  let index = 0;
  for (let i = 0; i < n && index < text.length; i++) index += (text.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
  return index;
}

/** The UTF-16 index of a UTF-8 byte offset (the parser and scanner count bytes). */
function byteIndex(text: string, bytes: number): number {
  return Buffer.from(text, 'utf8').subarray(0, bytes).toString('utf8').length;
}

type Node = Record<string, unknown>;

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every object under `node` that has key `kind` (a parse-tree node of that type), with its fields. */
function nodesOf(node: unknown, kind: string, out: Node[] = []): Node[] {
  if (Array.isArray(node)) for (const n of node) nodesOf(n, kind, out);
  else if (isNode(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k === kind && isNode(v)) out.push(v);
      nodesOf(v, kind, out);
    }
  }
  return out;
}

const STATEMENT_NAMES: Record<string, string> = {
  InsertStmt: 'an INSERT',
  UpdateStmt: 'an UPDATE',
  DeleteStmt: 'a DELETE',
  MergeStmt: 'a MERGE',
  ExplainStmt: 'an EXPLAIN',
  CreateTableAsStmt: 'a CREATE TABLE AS',
  CallStmt: 'a CALL',
  DoStmt: 'a DO block',
  TransactionStmt: 'transaction control',
  VariableSetStmt: 'a SET',
  CopyStmt: 'a COPY',
};

function statementName(kind: string): string {
  return STATEMENT_NAMES[kind] ?? `a ${kind.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase()} statement`;
}

/** The name PostgreSQL gives an output column written without AS, where it can be told from the text alone. */
function columnName(target: Node): string | null | 'star' {
  if (typeof target.name === 'string') return target.name;
  let val = target.val;
  while (isNode(val) && isNode(val.TypeCast)) val = (val.TypeCast as Node).arg;
  if (isNode(val) && isNode(val.ColumnRef)) {
    const fields = ((val.ColumnRef as Node).fields as Node[] | undefined) ?? [];
    const last = fields[fields.length - 1];
    if (last && isNode(last.A_Star)) return 'star';
    const s = last && isNode(last.String) ? (last.String as Node).sval : undefined;
    return typeof s === 'string' ? s : null;
  }
  return null;
}

/** The output column names of a SELECT, or null when one cannot be told (`*`, an expression without AS). */
function outputColumns(select: Node): string[] | null {
  let s: Node = select;
  // A UNION/INTERSECT/EXCEPT is named by its first branch.
  while (s.op && s.op !== 'SETOP_NONE' && isNode(s.larg)) s = s.larg as Node;
  if (Array.isArray(s.valuesLists)) {
    const first = (s.valuesLists[0] as Node | undefined)?.List as Node | undefined;
    const items = (first?.items as unknown[] | undefined) ?? [];
    return items.map((_, i) => `column${i + 1}`);
  }
  const names: string[] = [];
  for (const t of (s.targetList as Node[] | undefined) ?? []) {
    const name = isNode(t.ResTarget) ? columnName(t.ResTarget as Node) : null;
    if (name === null || name === 'star') return null;
    names.push(name);
  }
  return names;
}

/**
 * Checks that `query` is exactly one read: a SELECT (WITH ... SELECT, VALUES, a set operation), with no
 * data-modifying CTE, no SELECT INTO and no row locks. Throws an Error saying why not; a syntax error is
 * kept for the check to report when it runs, with its position.
 */
export function analyzeQuery(query: string): AnalyzedQuery {
  let text = query;
  // One trailing semicolon is allowed; it is blanked out so that every position stays where it was.
  let tokens: { start: number; end: number; text: string; tokenName: string }[];
  try {
    tokens = scanSync(query).tokens.filter((t) => t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT');
  } catch {
    tokens = [];
  }
  let trailing = 0;
  for (let i = tokens.length - 1; i >= 0 && tokens[i]?.text === ';'; i--) trailing++;
  if (trailing > 1) throw new Error('ends with more than one semicolon: end it with one, or none');
  if (trailing === 1) {
    const semi = tokens[tokens.length - 1] as { start: number };
    const at = byteIndex(query, semi.start);
    text = `${query.slice(0, at)} ${query.slice(at + 1)}`;
  }
  let tree: { stmts?: { stmt: Node }[] };
  try {
    tree = parseSync(text) as unknown as { stmts?: { stmt: Node }[] };
  } catch (err) {
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const message = details?.message ?? (err instanceof Error ? err.message : String(err));
    return { text, syntaxError: { message, offset: codePointIndex(text, details?.cursorPosition ?? 0) }, outputColumns: null, unqualified: [], relations: [], userCode: [] };
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length === 0) throw new Error('is empty: write one SELECT returning the failing rows');
  if (stmts.length > 1) throw new Error(`holds ${stmts.length} statements: write exactly one SELECT returning the failing rows (a semicolon ends the statement)`);
  const stmt = (stmts[0] as { stmt: Node }).stmt;
  const kind = Object.keys(stmt)[0] ?? '';
  if (kind !== 'SelectStmt') {
    throw new Error(`is ${statementName(kind)}, not a SELECT: a check only reads; write one SELECT (or WITH ... SELECT) returning the failing rows`);
  }
  const select = stmt.SelectStmt as Node;
  for (const s of [select, ...nodesOf(select, 'SelectStmt')]) {
    if (s.intoClause) throw new Error('is a SELECT INTO, which creates a table: a check only reads; drop the INTO clause');
    if (Array.isArray(s.lockingClause) && s.lockingClause.length > 0) throw new Error('locks rows (FOR UPDATE/SHARE): a check only reads; drop the locking clause');
  }
  for (const cte of nodesOf(select, 'CommonTableExpr')) {
    const inner = isNode(cte.ctequery) ? (Object.keys(cte.ctequery)[0] ?? '') : '';
    if (inner !== 'SelectStmt') throw new Error(`has ${statementName(inner)} in its WITH clause (${String(cte.ctename)}): a check only reads`);
  }
  const cteNames = new Set(nodesOf(select, 'CommonTableExpr').map((c) => String(c.ctename)));
  const unqualified = [
    ...new Set(
      nodesOf(select, 'RangeVar')
        .filter((r) => !r.schemaname && !cteNames.has(String(r.relname)))
        .map((r) => String(r.relname)),
    ),
  ];
  const relations = nodesOf(select, 'RangeVar')
    .filter((r) => typeof r.schemaname === 'string')
    .map((r) => ({ schema: String(r.schemaname), name: String(r.relname) }));
  return { text, syntaxError: null, outputColumns: outputColumns(select), unqualified, relations, userCode: codeBeyondReading(select, ACTING_FUNCTIONS) };
}

export interface SqlFileHeader {
  /** Field name -> value (continuation lines joined: with a line break for repairSql, a space otherwise). */
  fields: Map<string, { value: string; line: number }>;
  query: string;
  /** 1-based line on which the query starts. */
  queryLine: number;
}

/**
 * Splits a `.sql` check into its header and its query. The header is the block of `--` lines at the top:
 * each `-- field: value`, or a continuation of the field above (`--` and at least two spaces, or a tab),
 * or an empty `--`. The first line that is not a `--` comment ends it; the rest is the query.
 */
export function parseSqlFile(content: string): SqlFileHeader {
  const text = content.startsWith('\uFEFF') ? content.slice(1) : content;
  const lines = text.split(/(?<=\n)/);
  const fields = new Map<string, { value: string; line: number }>();
  let last: string | null = null;
  let i = 0;
  let offset = 0;
  for (; i < lines.length; i++) {
    const raw = lines[i] as string;
    const line = raw.replace(/\r?\n$/, '');
    if (line.trim() === '' && fields.size === 0) {
      offset += raw.length;
      continue;
    }
    const m = /^\s*--(.*)$/.exec(line);
    if (!m) break;
    const body = m[1] as string;
    offset += raw.length;
    if (body.trim() === '') {
      last = null;
      continue;
    }
    const field = /^\s?([A-Za-z][\w-]*)\s*:(.*)$/.exec(body);
    if (field && !/^(\s{2,}|\t)/.test(body)) {
      const name = field[1] as string;
      const known = (HEADER_FIELDS as readonly string[]).find((f) => f === name);
      if (!known) {
        const near = (HEADER_FIELDS as readonly string[]).find((f) => f.toLowerCase() === name.toLowerCase().replace(/[-_]/g, ''));
        throw new Error(
          `line ${i + 1}: ${name}: unknown field${near ? ` (did you mean ${near}?)` : ''}; the header's fields are ${HEADER_FIELDS.join(', ')}`,
        );
      }
      if (fields.has(name)) throw new Error(`line ${i + 1}: ${name}: given twice (first on line ${fields.get(name)?.line}); give it once`);
      fields.set(name, { value: (field[2] as string).trim(), line: i + 1 });
      last = name;
      continue;
    }
    if (last && /^(\s{2,}|\t)/.test(body)) {
      const entry = fields.get(last) as { value: string; line: number };
      const more = last === 'repairSql' ? body.replace(/^\s{1,3}/, '') : body.trim();
      entry.value = entry.value === '' ? more : `${entry.value}${last === 'repairSql' ? '\n' : ' '}${more}`;
      continue;
    }
    throw new Error(
      `line ${i + 1}: expected "-- field: value" in the header (or an indented continuation of the field above); end the header with a line that is not a -- comment before writing other comments`,
    );
  }
  return { fields, query: text.slice(offset), queryLine: i + 1 };
}
