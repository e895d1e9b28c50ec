import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSync } from '@libpg-query/parser';
import { z } from 'zod';
import type { CheckContext, CheckDefinition } from '../check.js';
import { findColumn, findTable, type Table } from '../db/catalog.js';
import { displayName, quoteIdent } from '../db/quote.js';
import { ownRows, sampleKeyExpr } from '../db/sql.js';
import type { Finding, Severity } from '../findings.js';
import { analyzeQuery, codePointIndex, describePosition, parseSqlFile, type AnalyzedQuery, type QuerySource } from './sql-parse.js';
import { quarantineRepair, userRepair } from './sql-repair.js';
import { HEADER_FIELDS, specIssues, sqlCheckSpecSchema, THRESHOLD, thresholdSchema, type ParsedSpec } from './sql-spec.js';

/**
 * A check written in SQL: the query returns the failing rows; the engine counts them, keeps a few sample
 * keys, and applies the thresholds. Given inline under `sqlChecks` in the config, or as a `.sql` file
 * whose header comment carries the same fields.
 */
export interface SqlCheckSpec {
  /** Namespaced, as `acme/no-negative-amounts`. */
  id: string;
  title: string;
  /** The severity of a finding when no threshold says otherwise; default `error`. */
  severity?: Severity;
  description?: string;
  /** `schema.table` or `schema.table.column`: what the failing rows belong to. */
  object: string;
  /** Columns of the failing rows that identify them, for samples and repairs; default the table's primary key. */
  key?: string[] | string;
  /** A single SELECT returning the failing rows. Qualify every table (the audit's search_path is pg_catalog). */
  query: string;
  /** The finding's message; `{count}`, `{object}` and `{percent}` are filled in. */
  message?: string;
  /** A finding is a warning when the count matches, e.g. `> 0` or `> 5%` of the table's rows. */
  warnIf?: string;
  /** A finding is an error when the count matches; checked before warnIf. */
  errorIf?: string;
  /** `quarantine` moves the failing rows (by key) to the quarantine; `{ sql }` is the user's own, always review. */
  repair?: 'quarantine' | { sql: string; description?: string };
}

export { sqlCheckSpecSchema } from './sql-spec.js';

/** `schema.table` or `schema.table.column`; a part may be double-quoted ("Billing Dept"."Invoice Line"). */
export function parseObjectName(text: string): { schema: string; table: string; column?: string } {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i <= s.length) {
    if (s[i] === '"') {
      let name = '';
      i++;
      for (;;) {
        if (i >= s.length) throw new Error(`object: unterminated quoted name in ${JSON.stringify(text)}`);
        if (s[i] === '"' && s[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (s[i] === '"') {
          i++;
          break;
        } else name += s[i++];
      }
      parts.push(name);
    } else {
      const end = s.indexOf('.', i);
      const part = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
      if (part.includes('"')) throw new Error(`object: a quote inside a name in ${JSON.stringify(text)}: quote the whole part, doubling quotes within it`);
      parts.push(part);
      i = end < 0 ? s.length : end;
    }
    if (i >= s.length) break;
    if (s[i] !== '.') throw new Error(`object: expected a dot after a quoted name in ${JSON.stringify(text)}`);
    i++;
  }
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new Error(`object: ${JSON.stringify(text)} is not schema.table or schema.table.column (double-quote a name holding a dot, as "Billing Dept"."Invoice Line")`);
  }
  return { schema: parts[0] as string, table: parts[1] as string, ...(parts[2] !== undefined ? { column: parts[2] } : {}) };
}

interface Threshold {
  text: string;
  op: string;
  value: number;
  percent: boolean;
}

function parseThreshold(text: string | null | undefined): Threshold | null {
  if (text === null || text === undefined) return null;
  const m = THRESHOLD.exec(text) as RegExpExecArray;
  return { text: text.trim(), op: m[1] as string, value: Number(m[2]), percent: m[3] === '%' };
}

function matches(t: Threshold, count: number, percent: number): boolean {
  const x = t.percent ? percent : count;
  switch (t.op) {
    case '>':
      return x > t.value;
    case '>=':
      return x >= t.value;
    case '<':
      return x < t.value;
    case '<=':
      return x <= t.value;
    case '=':
    case '==':
      return x === t.value;
    default:
      return x !== t.value;
  }
}

function formatPercent(p: number): string {
  return `${Number(p.toFixed(p >= 10 || p === 0 ? 1 : 2))}%`;
}

/** A PostgreSQL error, in one line: its message, where in the user's query, and a hint. */
class SqlCheckQueryError extends Error {
  override name = 'SqlCheckQueryError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface Compiled {
  spec: ParsedSpec;
  object: { schema: string; table: string; column?: string };
  key: string[] | null;
  query: AnalyzedQuery;
  source: QuerySource;
}

function compile(input: unknown, source: QuerySource): Compiled {
  const parsed = sqlCheckSpecSchema.safeParse(input);
  if (!parsed.success) throw new Error(specIssues(parsed.error));
  const spec = parsed.data;
  const object = parseObjectName(spec.object);
  const key = spec.key === undefined ? null : Array.isArray(spec.key) ? spec.key : spec.key.split(',').map((k) => k.trim());
  if (key && (key.some((k) => k === '') || new Set(key).size !== key.length)) throw new Error('key: name each column once, separated by commas, as "tenant_id, id"');
  let query: AnalyzedQuery;
  try {
    query = analyzeQuery(spec.query);
  } catch (err) {
    throw new Error(`query: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (key && query.outputColumns) {
    const absent = key.filter((k) => !query.outputColumns?.includes(k));
    if (absent.length > 0) {
      throw new Error(
        `key: ${absent.map((k) => JSON.stringify(k)).join(', ')} ${absent.length === 1 ? 'is not a column' : 'are not columns'} the query returns (it returns ${query.outputColumns.map((c) => JSON.stringify(c)).join(', ') || 'no column'}): add ${absent.length === 1 ? 'it' : 'them'} to its SELECT list, or set key to the columns that identify a failing row`,
      );
    }
  }
  if (typeof spec.repair === 'object') {
    try {
      parseSync(spec.repair.sql);
    } catch (err) {
      throw new Error(`repair.sql: is not valid SQL (${(err as { sqlDetails?: { message?: string } }).sqlDetails?.message ?? String(err)})`, { cause: err });
    }
  }
  return { spec, object, key, query, source };
}

/** Turns a spec into a check the engine runs like any other. Throws an Error naming the field at fault. */
export function defineSqlCheck(spec: SqlCheckSpec, origin = 'sqlChecks'): CheckDefinition {
  return definitionOf(compile(spec, { origin, firstLine: null }), origin);
}

/** A `.sql` check: a header of `-- field: value` lines, then the query. Throws an Error naming the field at fault. */
export function sqlCheckFromFile(file: string | URL): CheckDefinition {
  const path = file instanceof URL ? fileURLToPath(file) : file;
  const { fields, query, queryLine } = parseSqlFile(readFileSync(path, 'utf8'));
  const value = (name: (typeof HEADER_FIELDS)[number]) => fields.get(name)?.value;
  if (fields.size === 0) throw new Error('has no header: start the file with -- id: ..., -- title: ..., -- object: ... lines, then the query');
  const spec: Record<string, unknown> = {};
  for (const name of ['id', 'title', 'severity', 'description', 'object', 'key', 'message', 'warnIf', 'errorIf'] as const) {
    const v = value(name);
    if (v !== undefined) spec[name] = v;
  }
  const repair = value('repair');
  const repairSql = value('repairSql');
  if (repair !== undefined && repairSql !== undefined) throw new Error('repair: give either "repair: quarantine" or repairSql, not both');
  if (repair !== undefined) {
    if (repair !== 'quarantine') throw new Error(`repair: write "quarantine" (the failing rows move to the quarantine), or give your own SQL as repairSql (shown for review); not ${JSON.stringify(repair)}`);
    spec.repair = 'quarantine';
  } else if (repairSql !== undefined) {
    spec.repair = { sql: repairSql, ...(value('repairDescription') !== undefined ? { description: value('repairDescription') } : {}) };
  } else if (value('repairDescription') !== undefined) {
    throw new Error('repairDescription: describes repairSql, which is not given');
  }
  if (query.trim() === '') throw new Error('query: the file has no query after its header: write one SELECT returning the failing rows');
  spec.query = query;
  let compiled: Compiled;
  try {
    compiled = compile(spec, { origin: path, firstLine: queryLine });
  } catch (err) {
    // A header field's line helps find it; the query's own problems name the query.
    const message = err instanceof Error ? err.message : String(err);
    const field = /^([A-Za-z.]+):/.exec(message)?.[1];
    const line = field ? fields.get(field.split('.')[0] === 'repair' ? (fields.has('repairSql') ? 'repairSql' : 'repair') : field)?.line : undefined;
    throw new Error(line ? `line ${line}: ${message}` : message, { cause: err });
  }
  return definitionOf(compiled, path);
}

function definitionOf(c: Compiled, origin: string): CheckDefinition {
  const { spec } = c;
  const options = z.strictObject({
    /** A finding is a warning when the count matches this (null: no warning threshold). */
    warnIf: thresholdSchema.nullable().default(spec.warnIf ?? null),
    /** A finding is an error when the count matches this; checked before warnIf (null: none). */
    errorIf: thresholdSchema.nullable().default(spec.errorIf ?? null),
  });
  const description = spec.description ?? `${spec.title} (a SQL check: its query returns the rows that break this)`;
  return {
    id: spec.id,
    title: spec.title,
    severity: spec.severity ?? 'error',
    description,
    docs: {
      finds: `${description}\n\nThe rows its query returns, from ${origin}:\n${c.query.text.trim()}`,
      ...(spec.repair === 'quarantine'
        ? { fix: "integrity fix moves the rows the query returns (found again by running it, by key) to the integrity_quarantine schema, keeping a copy. The key columns the query returns must be the object table's own (PostgreSQL tells which table each output column is): a key taken from another table, or computed, leaves the move for review." }
        : spec.repair
          ? { fix: spec.repair.description ?? `A repair written with the check, shown for review:\n${spec.repair.sql}` }
          : {}),
    },
    options,
    origin,
    run: (ctx) => runSqlCheck(c, ctx as CheckContext<z.infer<typeof options>>),
  };
}

function locate(c: Compiled, ctx: CheckContext<unknown>): Table {
  const { schema, table, column } = c.object;
  const name = displayName(schema, table);
  const found = findTable(ctx.catalog, schema, table);
  if (!found) {
    if (!ctx.catalog.schemas.includes(schema) && ctx.catalog.existingSchemas.includes(schema)) {
      ctx.skip(`its object ${name} is in schema ${displayName(schema)}, which is not audited (add --schema ${schema})`);
    }
    throw new Error(`its object ${name} does not exist (${c.source.origin}: check the object, or create the table)`);
  }
  if (found.unreadable) ctx.skip(`its object ${name} cannot be read here: ${found.unreadable}`);
  if (column !== undefined && !findColumn(found, column)) {
    throw new Error(`its object names column ${displayName(column)}, which ${name} does not have (${c.source.origin}: check the object)`);
  }
  return found;
}

/** What `--plan` puts before every query it explains (src/engine/plan.ts). */
const EXPLAIN_PREFIX = 'EXPLAIN (FORMAT JSON, VERBOSE true) ';

/**
 * The error's position as a code-point offset into the user's query, or NaN when it lies in the wrapper.
 * The query reached the server after our prefix, and under --plan after EXPLAIN's too: the offset whose
 * token the message names is taken, else the plain one.
 */
function positionInQuery(offset: number, query: string, message: string): number {
  const length = [...query].length;
  const candidates = [offset, offset - EXPLAIN_PREFIX.length].filter((o) => o >= 0 && o <= length);
  const named = candidates.find((o) => {
    const token = /^("(?:[^"]|"")*"|[\p{L}\p{N}_$]+)/u.exec(query.slice(codePointIndex(query, o)))?.[1];
    return token !== undefined && message.toLowerCase().includes(token.replace(/^"|"$/g, '').replace(/""/g, '"').toLowerCase());
  });
  return named ?? (candidates[0] === offset ? offset : NaN);
}

/** Maps a PostgreSQL error on the wrapped query back to the user's text. */
function queryError(err: unknown, c: Compiled, prefix: number, key: string[]): Error {
  const e = err as { message?: string; code?: string; position?: string; hint?: string };
  if (typeof e?.message !== 'string') return err instanceof Error ? err : new Error(String(err));
  const message = e.message.split('\n')[0] as string;
  const position = e.position ? positionInQuery(Number(e.position) - 1 - prefix, c.query.text, message) : NaN;
  const inQuery = Number.isFinite(position);
  const parts = [message];
  if (inQuery) parts.push(describePosition(c.query.text, codePointIndex(c.query.text, position), c.source));
  else if (e.code === '42703' && key.length > 0 && message.includes('integrity_failing.')) {
    return new SqlCheckQueryError(
      `${message}: the key (${key.map((k) => displayName(k)).join(', ')}) must be columns the query returns (${c.source.origin}: add them to its SELECT list, or set key)`,
      e.code,
    );
  } else parts.push(`in ${c.source.origin}`);
  const relation = /relation "([^"]+)" does not exist/.exec(message)?.[1];
  if (e.code === '42P01' && relation && c.query.unqualified.includes(relation)) {
    parts.push(`(name its schema, as public.${relation}: the audit's search_path is pg_catalog, pg_temp, so every table must be qualified)`);
  } else if (e.code === '42883') {
    parts.push('(functions and operators of your own must be schema-qualified: the audit\'s search_path is pg_catalog, pg_temp)');
  } else if (e.hint) parts.push(`(hint: ${e.hint.split('\n')[0]})`);
  return new SqlCheckQueryError(parts.join(' '), e.code);
}

async function runSqlCheck(c: Compiled, ctx: CheckContext<{ warnIf: string | null; errorIf: string | null }>): Promise<Finding[]> {
  if (c.query.syntaxError) {
    const { message, offset } = c.query.syntaxError;
    throw new SqlCheckQueryError(`${message} ${describePosition(c.query.text, offset, c.source)}`, '42601');
  }
  const table = locate(c, ctx as CheckContext<unknown>);
  const label = displayName(c.object.schema, c.object.table, ...(c.object.column !== undefined ? [c.object.column] : []));
  const key = c.key ?? table.primaryKey;
  const errorIf = parseThreshold(ctx.options.errorIf);
  const warnIf = parseThreshold(ctx.options.warnIf);
  const message = c.spec.message;
  const needTotal = Boolean(errorIf?.percent || warnIf?.percent || message?.includes('{percent}'));
  const prefix = 'WITH integrity_failing AS MATERIALIZED (\n';
  const f = (k: string) => `integrity_failing.${quoteIdent(k)}`;
  const samples = key && key.length > 0 ? `ARRAY(SELECT ${sampleKeyExpr('integrity_failing', key)} FROM integrity_failing ORDER BY ${key.map(f).join(', ')} LIMIT $1)` : 'ARRAY[]::pg_catalog.text[]';
  const sql = `${prefix}${c.query.text}\n)
SELECT (SELECT pg_catalog.count(*) FROM integrity_failing) AS n, ${samples} AS samples${needTotal ? `, (SELECT pg_catalog.count(*) FROM ${ownRows(table)}) AS total` : ''}`;
  ctx.progress(displayName(table.schema, table.name));
  let rows: { n: string; samples: string[] | null; total?: string }[];
  try {
    rows = (await ctx.db.query<{ n: string; samples: string[] | null; total?: string }>(sql, key && key.length > 0 ? [ctx.sampleSize] : [])).rows;
  } catch (err) {
    throw queryError(err, c, prefix.length, key ?? []);
  }
  const row = rows[0];
  const keyNote = key ? '' : `; ${displayName(table.schema, table.name)} has no primary key and the check names no key, so findings carry no samples and no quarantine repair (set key)`;
  // --plan: the query was explained, not run.
  if (!row) return [];
  const count = Number(row.n);
  const total = row.total === undefined ? null : Number(row.total);
  const percent = total === null ? 0 : total > 0 ? (count * 100) / total : count > 0 ? 100 : 0;
  const share = total === null ? '' : ` (${formatPercent(percent)} of ${total} rows of ${displayName(table.schema, table.name)})`;
  const thresholds = [errorIf && `errorIf ${errorIf.text}`, warnIf && `warnIf ${warnIf.text}`].filter(Boolean).join(', ');
  let severity: Severity = ctx.severity;
  let matched: string | null = null;
  if (errorIf || warnIf) {
    if (errorIf && count > 0 && matches(errorIf, count, percent)) {
      severity = 'error';
      matched = `errorIf ${errorIf.text}`;
    } else if (warnIf && count > 0 && matches(warnIf, count, percent)) {
      severity = 'warning';
      matched = `warnIf ${warnIf.text}`;
    } else {
      ctx.note(`the query returned ${count} row${count === 1 ? '' : 's'}${share}; no threshold matched (${thresholds})${keyNote}`);
      return [];
    }
  }
  ctx.note(`the query returned ${count} row${count === 1 ? '' : 's'}${share}${matched ? `; ${matched} matched` : ''}${keyNote}`);
  if (count === 0) return [];
  const text = (message ?? `{count} ${count === 1 ? 'row' : 'rows'} of {object} ${count === 1 ? 'fails' : 'fail'}: ${c.spec.title}`)
    .replace(/\{count\}/g, String(count))
    .replace(/\{object\}/g, label)
    .replace(/\{percent\}/g, formatPercent(percent));
  const repair = c.spec.repair;
  const finding = ctx.finding({
    kind: 'sql',
    severity,
    message: text,
    object: { schema: table.schema, table: table.name, ...(c.object.column !== undefined ? { column: c.object.column } : {}) },
    count,
    samples: key ? [...new Set(row.samples ?? [])] : [],
    details: {
      ...(key ? { sampleKey: key } : {}),
      ...(matched ? { threshold: matched } : {}),
      ...(total !== null ? { tableRows: total, percent: Number(percent.toFixed(4)) } : {}),
      origin: c.source.origin,
    },
    ...(repair === 'quarantine'
      ? {
          repair: async (found: Finding, db) => {
            if (!key) throw new Error(`${displayName(table.schema, table.name)} has no primary key and the check names no key, so the failing rows cannot be told apart: no quarantine repair (set key to a unique key)`);
            return quarantineRepair(
              { catalog: ctx.catalog, table, key, query: c.query.text, relations: c.query.relations, userCode: c.query.userCode, checkId: found.checkId },
              found,
              db,
            );
          },
        }
      : repair
        ? { repair: async () => userRepair(repair.sql, repair.description, c.source.origin) }
        : {}),
  });
  return [finding];
}

