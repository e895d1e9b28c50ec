import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadModule, parseSync, scanSync } from '@libpg-query/parser';
import { UsageError, errorMessage } from '../errors.js';

// The parser's WebAssembly is loaded once, when this module is first imported.
await loadModule();

export type Node = Record<string, unknown>;

export function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a statement is: the file as the report names it (relative to the working directory, with `/`) and its 1-based line. */
export interface StatementLocation {
  file: string;
  line: number;
}

/** One statement of a migration, as libpg_query parsed it. */
export interface MigrationStatement {
  location: StatementLocation;
  /** The parse tree's node type, e.g. `AlterTableStmt`. */
  kind: string;
  /** The node under `kind`. */
  node: Node;
  /** The statement's own text (comments before it left out), for naming it in the report. */
  text: string;
}

export interface MigrationFile {
  /** As the report names it. */
  file: string;
  statements: MigrationStatement[];
}

/** The line (1-based) of a UTF-16 index. */
function lineOfIndex(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Splits a migration into its statements. libpg_query gives each statement's start and length in
 * bytes of the UTF-8 text (a file with `é` or an emoji before a statement would put a character count
 * lines off), and the start is where the previous statement's semicolon left off, comments included:
 * the statement's line is that of its first token, found by the scanner, which counts bytes too.
 */
export function parseMigration(sql: string, file: string): MigrationFile {
  let tree: { stmts?: { stmt: Node; stmt_location?: number; stmt_len?: number }[] };
  try {
    tree = parseSync(sql) as unknown as typeof tree;
  } catch (err) {
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    // The parser's cursor counts characters (code points), not bytes.
    const at = details?.cursorPosition ?? 0;
    let index = 0;
    for (let i = 0; i < at && index < sql.length; i++) index += (sql.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
    const line = lineOfIndex(sql, index);
    throw new UsageError(`${file}:${line}: ${details?.message ?? errorMessage(err).split('\n')[0]} (the file could not be parsed, so nothing in it was judged)`);
  }
  const bytes = Buffer.from(sql, 'utf8');
  let tokens: { start: number }[] = [];
  try {
    tokens = scanSync(sql).tokens.filter((t) => t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT');
  } catch {
    // The parser read the text, so the scanner does too; without it each statement starts at its offset.
  }
  /** Line starts as byte offsets, for a binary search. */
  const lineStarts = [0];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) lineStarts.push(i + 1);
  const lineOfByte = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  let t = 0;
  const statements: MigrationStatement[] = [];
  for (const s of tree.stmts ?? []) {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    while (t < tokens.length && (tokens[t] as { start: number }).start < start) t++;
    const first = t < tokens.length && (tokens[t] as { start: number }).start < end ? (tokens[t] as { start: number }).start : start;
    const kind = Object.keys(s.stmt)[0] ?? 'unknown';
    const node = s.stmt[kind];
    statements.push({
      location: { file, line: lineOfByte(first) },
      kind,
      node: isNode(node) ? node : {},
      text: bytes.subarray(first, end).toString('utf8').trim(),
    });
  }
  return { file, statements };
}

/** The name a report gives a file: relative to the working directory, with `/`. */
export function reportPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return (relative.startsWith('..') || path.isAbsolute(relative) ? file : relative).split(path.sep).join('/');
}

/** Reads and parses the migration files; a missing one or a parse error is a UsageError naming the file (and line). */
export function readMigrations(files: string[], cwd: string): MigrationFile[] {
  return files.map((given) => {
    const absolute = path.resolve(cwd, given);
    const name = reportPath(absolute, cwd);
    const st = statSync(absolute, { throwIfNoEntry: false });
    if (!st) throw new UsageError(`${name}: no such file`);
    if (!st.isFile()) throw new UsageError(`${name}: not a file (give the migration's .sql file)`);
    let text: string;
    try {
      text = readFileSync(absolute, 'utf8');
    } catch (err) {
      throw new UsageError(`${name}: cannot be read (${errorMessage(err)})`);
    }
    return parseMigration(text, name);
  });
}
