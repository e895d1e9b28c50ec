import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Finding } from '../findings.js';
import { UsageError } from '../errors.js';

/** Where an object was created: a file (relative to the working directory, with `/`) and a 1-based line. */
export interface SourceLocation {
  file: string;
  line: number;
}

/** The migration that created each table, index and named constraint; the first creation wins. */
export interface MigrationIndex {
  tables: Map<string, SourceLocation>;
  /** Tables created without a schema, by name: matched in any schema when no qualified one matches. */
  unqualifiedTables: Map<string, SourceLocation>;
  indexes: Map<string, SourceLocation>;
  /** Constraint names that occur once across the migrations (a repeated name cannot be placed). */
  constraints: Map<string, SourceLocation>;
}

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const QNAME = String.raw`(${IDENT})(?:\s*\.\s*(${IDENT}))?`;
const CREATE_TABLE = new RegExp(
  String.raw`\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?${QNAME}`,
  'gi',
);
const CREATE_INDEX = new RegExp(
  String.raw`\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?!(?:CONCURRENTLY|ON)\s)(${IDENT})\s+ON\s+(?:ONLY\s+)?${QNAME}`,
  'gi',
);
/** A constraint being defined: not one being validated, dropped, renamed or altered. */
const CONSTRAINT = new RegExp(String.raw`(?<!\b(?:DROP|VALIDATE|RENAME|ALTER)\s+)\bCONSTRAINT\s+(?!IF\s)(${IDENT})`, 'gi');

/** An identifier as PostgreSQL stores it: quoted ones verbatim, others folded to lower case. */
function identifier(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text.toLowerCase();
}

/** Counts the characters a scan examined, for tests that prove it linear. */
export interface ScanMeter {
  steps: number;
}

const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 0x80;
const isIdentCont = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;
/** A dollar-quote tag as PostgreSQL reads one: `$$` or `$name$`, the name not starting with a digit. */
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$/y;

/**
 * Blanks out comments and string literals (E'' strings with their backslash escapes too), keeping every
 * offset and line break, so matches inside them do not count. Quoted identifiers and dollar-quoted bodies
 * are kept: a quote inside `"O'Reilly"` starts no string, and a function body may create a table. Block
 * comments nest, as in PostgreSQL, and `$` inside a name (`a$b$`) starts no dollar quote.
 *
 * One pass from left to right, each character examined a bounded number of times: a string, comment,
 * quoted name or dollar quote that is never closed runs to the end of the file, as PostgreSQL reads it,
 * and is blanked there (PostgreSQL rejects such a file, so nothing in it was created). A regular expression
 * retried at each opening instead takes quadratic time on a file of unclosed `$tag$`s or `/*`s.
 */
export function blankCommentsAndStrings(sql: string, meter?: ScanMeter): string {
  const n = sql.length;
  const out: string[] = [];
  let copied = 0;
  let steps = 0;
  const blank = (from: number, to: number) => {
    out.push(sql.slice(copied, from), sql.slice(from, to).replace(/[^\n]/g, ' '));
    copied = to;
  };
  /** Where the next `quote` that is not doubled closes a literal or name opened before `from`, or -1. */
  const closingQuote = (quote: string, from: number): number => {
    let j = from;
    for (;;) {
      const k = sql.indexOf(quote, j);
      steps += (k < 0 ? n : k + 1) - j;
      if (k < 0) return -1;
      if (sql[k + 1] !== quote) return k;
      j = k + 2;
    }
  };
  let i = 0;
  while (i < n) {
    steps++;
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if (c === 45 && next === 45) {
      // -- to the end of the line
      const eol = sql.indexOf('\n', i + 2);
      const end = eol < 0 ? n : eol;
      steps += end - i;
      blank(i, end);
      i = end;
    } else if (c === 47 && next === 42) {
      // /* ... */, nested
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        steps++;
        const a = sql.charCodeAt(j);
        const b = sql.charCodeAt(j + 1);
        if (a === 47 && b === 42) {
          depth++;
          j += 2;
        } else if (a === 42 && b === 47) {
          depth--;
          j += 2;
        } else j++;
      }
      blank(i, j);
      i = j;
    } else if (c === 39) {
      // '...' with '' for a quote
      const close = closingQuote("'", i + 1);
      const end = close < 0 ? n : close + 1;
      blank(i, end);
      i = end;
    } else if (c === 34) {
      // "name" with "" for a quote: kept, unless never closed
      const close = closingQuote('"', i + 1);
      if (close < 0) {
        blank(i, n);
        i = n;
      } else i = close + 1;
    } else if (c === 36) {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql)?.[0];
      if (!tag) {
        i++;
        continue;
      }
      // $tag$ ... $tag$: kept whole, unless never closed
      const close = sql.indexOf(tag, i + tag.length);
      steps += (close < 0 ? n : close + tag.length) - i;
      if (close < 0) {
        blank(i, n);
        i = n;
      } else i = close + tag.length;
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentCont(sql.charCodeAt(j))) j++;
      steps += j - i;
      if (j === i + 1 && (c === 69 || c === 101) && sql.charCodeAt(j) === 39) {
        // E'...': backslash escapes, and '' for a quote
        let k = j + 1;
        while (k < n) {
          steps++;
          const a = sql.charCodeAt(k);
          if (a === 92) k += 2;
          else if (a === 39) {
            if (sql.charCodeAt(k + 1) === 39) k += 2;
            else break;
          } else k++;
        }
        const end = Math.min(n, k + 1);
        blank(i, end);
        i = end;
      } else i = j;
    } else i++;
  }
  out.push(sql.slice(copied));
  if (meter) meter.steps += steps;
  return out.join('');
}

/** Line of an offset, by binary search over where each line starts. */
function lineFinder(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

function sqlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sqlFiles(full));
    else if (entry.isFile() && entry.name.toLowerCase().endsWith('.sql')) out.push(full);
  }
  return out;
}

/**
 * Reads every `.sql` file under `dir` (in name order, as migration tools apply them) and records where each
 * table, index and constraint is first created. Function bodies (dollar-quoted) are read too: migrations
 * often create tables inside DO blocks.
 */
export function indexMigrations(dir: string, cwd: string): MigrationIndex {
  const absolute = path.resolve(cwd, dir);
  const isDir = statSync(absolute, { throwIfNoEntry: false })?.isDirectory() ?? false;
  if (!isDir) throw new UsageError(`migrations folder ${dir} does not exist; set "migrations" in the config to the folder holding your .sql migrations`);
  const index: MigrationIndex = { tables: new Map(), unqualifiedTables: new Map(), indexes: new Map(), constraints: new Map() };
  const constraintCounts = new Map<string, number>();
  for (const file of sqlFiles(absolute)) {
    const text = blankCommentsAndStrings(readFileSync(file, 'utf8'));
    const lineAt = lineFinder(text);
    const where = (offset: number): SourceLocation => ({ file: path.relative(cwd, file).split(path.sep).join('/'), line: lineAt(offset) });
    for (const m of text.matchAll(CREATE_TABLE)) {
      const [first, second] = [m[1] as string, m[2]];
      if (second) setOnce(index.tables, `${identifier(first)}.${identifier(second)}`, where(m.index));
      else setOnce(index.unqualifiedTables, identifier(first), where(m.index));
    }
    for (const m of text.matchAll(CREATE_INDEX)) {
      const schema = m[3] ? identifier(m[2] as string) : null;
      setOnce(index.indexes, `${schema ?? ''}.${identifier(m[1] as string)}`, where(m.index));
    }
    for (const m of text.matchAll(CONSTRAINT)) {
      const name = identifier(m[1] as string);
      constraintCounts.set(name, (constraintCounts.get(name) ?? 0) + 1);
      setOnce(index.constraints, name, where(m.index));
    }
  }
  for (const [name, n] of constraintCounts) if (n > 1) index.constraints.delete(name);
  return index;
}

function setOnce(map: Map<string, SourceLocation>, key: string, value: SourceLocation): void {
  if (!map.has(key)) map.set(key, value);
}

/** The migration line for a finding: its index, else its constraint, else its table. */
export function locateFinding(index: MigrationIndex, f: Finding): SourceLocation | null {
  const { schema, table } = f.object;
  if (f.object.index) {
    const found = index.indexes.get(`${schema}.${f.object.index}`) ?? index.indexes.get(`.${f.object.index}`);
    if (found) return found;
  }
  if (f.object.constraint) {
    const found = index.constraints.get(f.object.constraint);
    if (found) return found;
  }
  return index.tables.get(`${schema}.${table}`) ?? index.unqualifiedTables.get(table) ?? null;
}
