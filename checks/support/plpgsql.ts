import { parse, parsePlPgSQL, scan } from '@libpg-query/parser';
import { isNode, parseNodeTree, walkNodes, type TreeNode, type TreeValue } from '../../src/index.js';

/**
 * Reads what a function body does to tables, through PostgreSQL's own parsers (libpg_query): the
 * PL/pgSQL parser for `LANGUAGE plpgsql`, the SQL parser for the statements inside it and for
 * `LANGUAGE sql`, and the stored tree (pg_proc.prosqlbody) for SQL-standard bodies (`BEGIN ATOMIC`).
 * Comments and string literals are gone by then, so an INSERT in either is not one.
 */

/** A table a statement inserts into, as written: `schema` is null when the name is unqualified. */
export interface InsertTarget {
  schema: string | null;
  name: string;
  /** `insert` (with or without ON CONFLICT) or `merge` (MERGE ... WHEN NOT MATCHED THEN INSERT). */
  statement: 'insert' | 'merge';
  /** Line in the function body, when known. */
  line: number | null;
}

/** A call of a function (SELECT f(), PERFORM f(), x := f()) or of a procedure (CALL p()), as written. */
export interface RoutineCall {
  schema: string | null;
  name: string;
  /** The arguments passed, named ones included. */
  args: number;
  procedure: boolean;
  line: number | null;
}

export type UnreadableKind = 'dynamic-sql' | 'unparsed' | 'language';

/** A part of the body whose effect cannot be known without running it. */
export interface Unreadable {
  kind: UnreadableKind;
  line: number | null;
  /** What it is, for a person: `EXECUTE of a non-constant string`, the language's name, ... */
  detail: string;
}

export interface RoutineReading {
  inserts: InsertTarget[];
  /** From a stored SQL-standard body: the OIDs (as text) of the relations it inserts into. */
  insertOids: string[];
  calls: RoutineCall[];
  /** From a stored SQL-standard body: the OIDs (as text) of the functions it calls. */
  callOids: string[];
  unreadable: Unreadable[];
}

export interface RoutineText {
  /** pg_language.lanname */
  language: string;
  /** pg_proc.prosrc */
  source: string;
  /** pg_proc.prosqlbody as text (PostgreSQL 14+), for SQL-standard bodies; null otherwise. */
  sqlBody: string | null;
  kind: 'function' | 'procedure';
  /** pg_get_function_arguments(): `a integer, OUT b text`, ... */
  arguments: string;
  /** pg_get_function_result(): `trigger`, `SETOF record`, `TABLE(a integer)`, ...; null for a procedure. */
  result: string | null;
}

/** Languages whose functions are compiled code: they are not read, and are taken not to write user tables. */
const COMPILED_LANGUAGES = new Set(['c', 'internal']);

function emptyReading(): RoutineReading {
  return { inserts: [], insertOids: [], calls: [], callOids: [], unreadable: [] };
}

export async function readRoutine(routine: RoutineText): Promise<RoutineReading> {
  if (routine.language === 'plpgsql') return readPlpgsql(routine);
  if (routine.language === 'sql') {
    if (routine.sqlBody) return readSqlBody(routine.sqlBody);
    return readSql(routine.source);
  }
  const out = emptyReading();
  if (!COMPILED_LANGUAGES.has(routine.language)) {
    out.unreadable.push({ kind: 'language', line: null, detail: `written in ${routine.language}, which is not read` });
  }
  return out;
}

/** A dollar-quote tag that does not occur in the body. */
export function dollarTag(body: string): string {
  let tag = 'integrity';
  for (let i = 0; body.includes(`$${tag}$`); i++) tag = `integrity_${i}`;
  return tag;
}

/** The CREATE statement that libpg_query's PL/pgSQL parser takes, around a function's body. */
export function wrapPlpgsql(routine: Pick<RoutineText, 'source' | 'kind' | 'arguments' | 'result'>, source = routine.source): string {
  const tag = dollarTag(source);
  // The newline keeps a body that ends in `$integrity` from closing the quote early; line numbers are kept.
  const body = `$${tag}$${source}\n$${tag}$`;
  return routine.kind === 'procedure'
    ? `CREATE PROCEDURE pg_temp.integrity_body(${routine.arguments}) LANGUAGE plpgsql AS ${body}`
    : `CREATE FUNCTION pg_temp.integrity_body(${routine.arguments}) RETURNS ${routine.result ?? 'void'} LANGUAGE plpgsql AS ${body}`;
}

interface PlExpr {
  query: string;
  /** PLpgSQL_expr.parseMode: 0 a statement, 1 a type name, 2 an expression, 3-5 an assignment. */
  mode: number;
  line: number | null;
  /** The string of a dynamic statement: EXECUTE, FOR ... IN EXECUTE, RETURN QUERY EXECUTE, OPEN ... FOR EXECUTE. */
  dynamic: boolean;
}

/** The field holding the query string of each dynamic statement. */
const DYNAMIC_FIELDS: Record<string, string> = {
  PLpgSQL_stmt_dynexecute: 'query',
  PLpgSQL_stmt_dynfors: 'query',
  PLpgSQL_stmt_return_query: 'dynquery',
  PLpgSQL_stmt_open: 'dynquery',
};

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function collectExprs(value: Json, line: number | null, out: PlExpr[], dynamic = false): void {
  if (Array.isArray(value)) {
    for (const v of value) collectExprs(v, line, out);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'PLpgSQL_expr' && isObject(inner)) {
      if (typeof inner.query === 'string') {
        out.push({ query: inner.query, mode: typeof inner.parseMode === 'number' ? inner.parseMode : 0, line, dynamic });
      }
      continue;
    }
    if (isObject(inner)) {
      const here = typeof inner.lineno === 'number' ? inner.lineno : line;
      const dynamicField = DYNAMIC_FIELDS[key];
      for (const [field, v] of Object.entries(inner)) collectExprs(v, here, out, dynamicField !== undefined && field === dynamicField);
    } else {
      collectExprs(inner, line, out);
    }
  }
}

export async function readPlpgsql(routine: Pick<RoutineText, 'source' | 'kind' | 'arguments' | 'result'>): Promise<RoutineReading> {
  const out = emptyReading();
  const tree = await parsePlpgsqlTree(routine);
  if (tree === null) {
    out.unreadable.push({ kind: 'unparsed', line: null, detail: 'the PL/pgSQL body did not parse' });
    return out;
  }
  const exprs: PlExpr[] = [];
  collectExprs(tree, null, exprs);
  for (const expr of exprs) await readExpr(expr, out);
  return out;
}

/**
 * The parsed function, or null. libpg_query compiles the body without a catalog, so it cannot tell that
 * a variable of a table's row type has fields (`v public.t%ROWTYPE; v.id := ...` fails there, not in
 * PostgreSQL); such declarations are retried as `record`, which only changes what the parser is told
 * about the variables, never the statements it reads.
 */
async function parsePlpgsqlTree(routine: Pick<RoutineText, 'source' | 'kind' | 'arguments' | 'result'>): Promise<Json | null> {
  const attempts: (() => Promise<string | null>)[] = [
    async () => routine.source,
    async () => relaxDeclarations(routine.source, false),
    async () => relaxDeclarations(routine.source, true),
  ];
  let previous: string | null = null;
  for (const attempt of attempts) {
    const source = await attempt().catch(() => null);
    if (source === null || source === previous) continue;
    previous = source;
    try {
      const result = (await parsePlPgSQL(wrapPlpgsql(routine, source))) as unknown as { plpgsql_funcs?: Json[] };
      if (Array.isArray(result.plpgsql_funcs)) return result.plpgsql_funcs;
    } catch {
      // next attempt
    }
  }
  return null;
}

/** Single-word type names that are not composite: left alone when declarations are relaxed. */
const SCALAR_TYPES = new Set(
  (
    'int int2 int4 int8 integer smallint bigint serial bigserial real float float4 float8 numeric decimal money ' +
    'text varchar char character bpchar name citext uuid bool boolean bytea date time timetz timestamp timestamptz interval ' +
    'json jsonb xml inet cidr macaddr oid regclass regproc regtype tsvector tsquery record refcursor bit varbit point'
  ).split(' '),
);
const DECLARATION_STOP = new Set(['collate', 'not', 'default', ':=', '=']);
const COMMENT_TOKENS = new Set(['SQL_COMMENT', 'C_COMMENT']);

/**
 * The body with the types of row-type declarations replaced by `record`: `%ROWTYPE` ones, and with
 * `all`, any declared type that is a (qualified) name the parser cannot know is scalar.
 */
export async function relaxDeclarations(body: string, all: boolean): Promise<string | null> {
  const bytes = Buffer.from(body, 'utf8');
  const { tokens } = await scan(body);
  const edits: { start: number; end: number }[] = [];
  let inDeclare = false;
  let declaration: { start: number; end: number; word: string }[] = [];
  for (const tok of tokens) {
    if (COMMENT_TOKENS.has(tok.tokenName)) continue;
    const word = bytes.subarray(tok.start, tok.end).toString('utf8').toLowerCase();
    if (!inDeclare) {
      if (word === 'declare') {
        inDeclare = true;
        declaration = [];
      }
      continue;
    }
    if (word === 'begin') {
      inDeclare = false;
    } else if (word === ';') {
      const span = declaredTypeSpan(declaration, all);
      if (span) edits.push(span);
      declaration = [];
    } else {
      declaration.push({ start: tok.start, end: tok.end, word });
    }
  }
  if (edits.length === 0) return null;
  let result = bytes;
  for (const edit of edits.reverse()) {
    result = Buffer.concat([result.subarray(0, edit.start), Buffer.from('record'), result.subarray(edit.end)]);
  }
  return result.toString('utf8');
}

function declaredTypeSpan(declaration: { start: number; end: number; word: string }[], all: boolean): { start: number; end: number } | null {
  let i = 1;
  if (declaration[i]?.word === 'constant') i++;
  const first = declaration[i]?.word;
  if (first === undefined || ['alias', 'cursor', 'no', 'scroll'].includes(first)) return null;
  let j = i;
  while (j < declaration.length && !DECLARATION_STOP.has((declaration[j] as { word: string }).word)) j++;
  const type = declaration.slice(i, j);
  const words = type.map((t) => t.word);
  const rowType = words.length >= 3 && words.at(-1) === 'rowtype' && words.at(-2) === '%';
  const named =
    all &&
    !words.some((w) => w === '%' || w === '(' || w === '[') &&
    (words.includes('.') || (words.length === 1 && !SCALAR_TYPES.has(words[0] as string)));
  const head = type[0];
  const tail = type.at(-1);
  if ((!rowType && !named) || !head || !tail) return null;
  return { start: head.start, end: tail.end };
}

async function readExpr(expr: PlExpr, out: RoutineReading): Promise<void> {
  if (expr.mode === 1) return;
  let sql: string;
  if (expr.mode === 0) sql = expr.query;
  else if (expr.mode === 2) sql = `SELECT ${expr.query}`;
  else {
    const value = await assignedExpression(expr.query);
    if (value === null) {
      out.unreadable.push({ kind: 'unparsed', line: expr.line, detail: 'an assignment did not parse' });
      return;
    }
    sql = `SELECT ${value}`;
  }
  let tree: Json;
  try {
    tree = await parse(sql);
  } catch {
    out.unreadable.push({ kind: 'unparsed', line: expr.line, detail: 'a statement did not parse' });
    return;
  }
  if (expr.dynamic) {
    // The string EXECUTE runs: read it when it is a constant; otherwise what it does is unknown.
    readSqlTree(tree, () => expr.line, out);
    const text = constantString(tree);
    if (text === null) {
      out.unreadable.push({ kind: 'dynamic-sql', line: expr.line, detail: 'EXECUTE of a string built at run time' });
      return;
    }
    try {
      readSqlTree(await parse(text), () => expr.line, out);
    } catch {
      out.unreadable.push({ kind: 'unparsed', line: expr.line, detail: 'the string EXECUTE runs did not parse' });
    }
    return;
  }
  readSqlTree(tree, () => expr.line, out);
}

/** `x := expr`, `r.f = expr`, `a[i] := expr`: the expression, without its target. */
async function assignedExpression(query: string): Promise<string | null> {
  try {
    const bytes = Buffer.from(query, 'utf8');
    const { tokens } = await scan(query);
    let depth = 0;
    for (const tok of tokens) {
      const text = bytes.subarray(tok.start, tok.end).toString('utf8');
      if (text === '(' || text === '[') depth++;
      else if (text === ')' || text === ']') depth--;
      else if (depth === 0 && (text === ':=' || text === '=')) return bytes.subarray(tok.end).toString('utf8');
    }
  } catch {
    return null;
  }
  return null;
}

/** The value of `SELECT 'literal'` (also `'a' || 'b'` and `'a'::text`), or null when it is not a constant. */
function constantString(tree: Json): string | null {
  if (!isObject(tree) || !Array.isArray(tree.stmts) || tree.stmts.length !== 1) return null;
  const stmt = (tree.stmts[0] as { stmt?: { SelectStmt?: { targetList?: Json[] } } }).stmt?.SelectStmt;
  const targets = stmt?.targetList;
  if (!targets || targets.length !== 1) return null;
  const target = targets[0] as { ResTarget?: { val?: Json } };
  return constantValue(target.ResTarget?.val);
}

function constantValue(node: Json): string | null {
  if (!isObject(node)) return null;
  const aConst = node.A_Const;
  if (isObject(aConst)) {
    const sval = aConst.sval;
    return isObject(sval) && typeof sval.sval === 'string' ? sval.sval : isObject(sval) ? '' : null;
  }
  const cast = node.TypeCast;
  if (isObject(cast)) return constantValue(cast.arg);
  const op = node.A_Expr;
  if (isObject(op) && op.kind === 'AEXPR_OP' && Array.isArray(op.name) && op.name.length === 1) {
    const name = (op.name[0] as { String?: { sval?: string } }).String?.sval;
    if (name !== '||') return null;
    const left = constantValue(op.lexpr);
    const right = constantValue(op.rexpr);
    return left !== null && right !== null ? left + right : null;
  }
  return null;
}

function nameParts(list: Json): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((n) => (n as { String?: { sval?: string } }).String?.sval ?? '');
}

function callOf(funccall: Json, procedure: boolean, line: number | null): RoutineCall | null {
  if (!isObject(funccall)) return null;
  const parts = nameParts(funccall.funcname);
  const name = parts.at(-1);
  if (!name) return null;
  return {
    schema: parts.length >= 2 ? (parts.at(-2) as string) : null,
    name,
    args: Array.isArray(funccall.args) ? funccall.args.length : 0,
    procedure,
    line,
  };
}

/** INSERT and MERGE targets and calls, anywhere in a raw parse tree (CTEs and subqueries included). */
export function readSqlTree(value: Json, lineOf: (location: number | undefined) => number | null, out: RoutineReading): void {
  if (Array.isArray(value)) {
    for (const v of value) readSqlTree(v, lineOf, out);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, inner] of Object.entries(value)) {
    if (!isObject(inner)) {
      readSqlTree(inner, lineOf, out);
      continue;
    }
    if (key === 'InsertStmt' || key === 'MergeStmt') {
      const rel = inner.relation;
      const inserts =
        key === 'InsertStmt' ||
        (Array.isArray(inner.mergeWhenClauses) &&
          inner.mergeWhenClauses.some((c) => (c as { MergeWhenClause?: { commandType?: string } }).MergeWhenClause?.commandType === 'CMD_INSERT'));
      if (inserts && isObject(rel) && typeof rel.relname === 'string') {
        out.inserts.push({
          schema: typeof rel.schemaname === 'string' ? rel.schemaname : null,
          name: rel.relname,
          statement: key === 'InsertStmt' ? 'insert' : 'merge',
          line: lineOf(typeof rel.location === 'number' ? rel.location : undefined),
        });
      }
    } else if (key === 'CallStmt') {
      const fc = inner.funccall;
      const call = callOf(fc, true, lineOf(isObject(fc) && typeof fc.location === 'number' ? fc.location : undefined));
      if (call) out.calls.push(call);
      if (isObject(fc)) readSqlTree(fc.args, lineOf, out);
      continue;
    } else if (key === 'FuncCall') {
      const call = callOf(inner, false, lineOf(typeof inner.location === 'number' ? inner.location : undefined));
      if (call) out.calls.push(call);
    }
    readSqlTree(inner, lineOf, out);
  }
}

/** A `LANGUAGE sql` function's body (prosrc): one or more SQL statements. */
export async function readSql(source: string): Promise<RoutineReading> {
  const out = emptyReading();
  let tree: Json;
  try {
    tree = await parse(source);
  } catch {
    out.unreadable.push({ kind: 'unparsed', line: null, detail: 'the SQL body did not parse' });
    return out;
  }
  const bytes = Buffer.from(source, 'utf8');
  readSqlTree(tree, (location) => (location === undefined ? null : lineAt(bytes, location)), out);
  return out;
}

function lineAt(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < bytes.length; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

// CmdType, from src/include/nodes/nodes.h: stable across versions.
const CMD_INSERT = '3';
const CMD_MERGE = '5';

/** A SQL-standard body (`BEGIN ATOMIC ... END`, pg_proc.prosqlbody): its analyzed queries, by OID. */
export function readSqlBody(text: string): RoutineReading {
  const out = emptyReading();
  let tree: TreeValue;
  try {
    tree = parseNodeTree(text);
  } catch {
    out.unreadable.push({ kind: 'unparsed', line: null, detail: 'the stored SQL body did not parse' });
    return out;
  }
  for (const node of walkNodes(tree)) {
    if (node.type === 'QUERY') {
      const command = node.fields.commandType;
      const inserts =
        command === CMD_INSERT ||
        (command === CMD_MERGE &&
          Array.isArray(node.fields.mergeActionList) &&
          node.fields.mergeActionList.some((a) => isNode(a) && a.fields.commandType === CMD_INSERT));
      const relid = inserts ? resultRelid(node) : null;
      if (relid) out.insertOids.push(relid);
    } else if (node.type === 'FUNCEXPR' && typeof node.fields.funcid === 'string') {
      out.callOids.push(node.fields.funcid);
    }
  }
  return out;
}

function resultRelid(query: TreeNode): string | null {
  const index = Number(query.fields.resultRelation);
  const rtable = query.fields.rtable;
  if (!Number.isInteger(index) || index < 1 || !Array.isArray(rtable)) return null;
  const rte = rtable[index - 1];
  return isNode(rte) && typeof rte.fields.relid === 'string' ? rte.fields.relid : null;
}

/**
 * The search_path a function sets for itself (`SET search_path = ...`, pg_proc.proconfig), as schema
 * names (`$user` kept as is); null when it sets none. Unquoted names are folded to lower case, as
 * PostgreSQL does; `''` is the empty path.
 */
export function searchPathOf(proconfig: string[] | null): string[] | null {
  const entry = proconfig?.find((c) => c.toLowerCase().startsWith('search_path='));
  if (entry === undefined) return null;
  const value = entry.slice('search_path='.length);
  const schemas: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === ' ' || value[i] === ',') i++;
    if (i >= value.length) break;
    if (value[i] === '"') {
      let name = '';
      i++;
      while (i < value.length) {
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += value[i];
        i++;
      }
      if (name !== '') schemas.push(name);
    } else {
      let name = '';
      while (i < value.length && value[i] !== ',') name += value[i++];
      name = name.trim().toLowerCase();
      if (name !== '') schemas.push(name);
    }
  }
  return schemas;
}
