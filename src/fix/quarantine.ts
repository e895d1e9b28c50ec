import { createHash } from 'node:crypto';
import { qualifiedName, quoteIdent, quoteLiteral, relationOidLiteral } from '../db/quote.js';
import type { Column, Table } from '../db/catalog.js';
import type { Queryable } from '../db/session.js';
import { equalsExpr } from '../db/sql.js';

export const QUARANTINE_SCHEMA = 'integrity_quarantine';

/**
 * Creates the quarantine schema, or stops the script when it exists and belongs to another role: its
 * owner could drop the copies, or plant a table whose code runs as whoever runs the script.
 */
export const CREATE_QUARANTINE_SCHEMA = `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(QUARANTINE_SCHEMA)};
DO $integrity_schema$
BEGIN
  IF (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) ${quoteLiteral(QUARANTINE_SCHEMA)})
     OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
    RAISE EXCEPTION 'integrity: the schema ${QUARANTINE_SCHEMA} belongs to another role; it must be owned by the role that runs the repairs (ALTER SCHEMA ${QUARANTINE_SCHEMA} OWNER TO ...)';
  END IF;
END
$integrity_schema$;
REVOKE ALL ON SCHEMA ${quoteIdent(QUARANTINE_SCHEMA)} FROM PUBLIC;`;

/** A string literal safe under any setting; see quoteLiteral. */
export function literal(value: string): string {
  return quoteLiteral(value);
}

/**
 * Where a finding's rows of one table are kept: every column of the table, copied by name, after three
 * columns of our own (when, which check, which finding) named so that none collides with the table's.
 */
export interface Quarantine {
  /** Schema-qualified and quoted. */
  name: string;
  /** The table's own name, unquoted. */
  relname: string;
  /** The source table's columns, in order. */
  columns: Column[];
  /** Our own columns' names (unquoted). */
  meta: { at: string; check: string; finding: string };
}

const META = { at: 'integrity_quarantined_at', check: 'integrity_check', finding: 'integrity_finding' } as const;

function metaNames(columns: Column[]): Quarantine['meta'] {
  const taken = new Set(columns.map((c) => c.name));
  const free = (base: string) => {
    let name = base;
    while (taken.has(name)) name = `${name}_`;
    taken.add(name);
    return name;
  };
  return { at: free(META.at), check: free(META.check), finding: free(META.finding) };
}

/**
 * The quarantine table's name: the table's name, cut to fit, then a hash of the source's schema and name,
 * the finding and the table's columns (names and types), so that `a.notes` and `b.notes` never share one
 * and a table whose columns changed since gets a new one rather than a copy into the wrong columns.
 */
export function quarantineRelname(table: Table, fingerprint: string, suffix: number): string {
  let name = table.name;
  while (Buffer.byteLength(name) > 36) name = name.slice(0, -1);
  const shape = table.columns.map((c) => [c.name, c.type]);
  const hash = createHash('sha256').update(JSON.stringify([table.schema, table.name, fingerprint, shape])).digest('hex').slice(0, 12);
  return `${name}__${hash}${suffix > 0 ? `_${suffix}` : ''}`;
}

function expectedShape(q: Pick<Quarantine, 'columns' | 'meta'>): string[] {
  return [
    `${q.meta.at}:timestamp with time zone`,
    `${q.meta.check}:text`,
    `${q.meta.finding}:text`,
    ...q.columns.map((c) => `${c.name}:${c.type}`),
  ];
}

/**
 * The quarantine for a finding's rows of `table` (only the columns `only` names, when given: never for
 * rows that are deleted, whose restore needs them whole). A table of that name that already exists is used only
 * when it has exactly the expected columns and types, no trigger and no rule; otherwise (someone else's,
 * or an old shape) the next free name is taken.
 */
export async function quarantineFor(db: Queryable, table: Table, fingerprint: string, only?: string[]): Promise<Quarantine> {
  // `only`: the key and the columns a repair changes, for a sensitive table; the rest is never copied.
  const columns = only ? table.columns.filter((c) => only.includes(c.name)) : table.columns;
  const meta = metaNames(columns);
  const expected = expectedShape({ columns, meta });
  for (let suffix = 0; suffix < 20; suffix++) {
    const name = quarantineRelname(table, fingerprint, suffix);
    const existing = await db.query<{ shape: string[] | null; extras: boolean }>(
      `SELECT ARRAY(SELECT a.attname::text || ':' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                      FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS shape,
              ${SOMEONE_ELSES('c')} AS extras
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2`,
      [QUARANTINE_SCHEMA, name],
    );
    const row = existing.rows[0];
    if (!row || (!row.extras && JSON.stringify(row.shape) === JSON.stringify(expected))) {
      return { name: qualifiedName(QUARANTINE_SCHEMA, name), relname: name, columns, meta };
    }
  }
  throw new Error(`no free quarantine table name for ${qualifiedName(table.schema, table.name)} in ${QUARANTINE_SCHEMA}: clear out the old ones`);
}

/**
 * True for a table that is not a bare copy of ours: anything that could run code or bend what is stored
 * when rows are inserted (a trigger, rule, constraint, index, default, generated or identity column,
 * row-level security, inheritance), or that is not a plain permanent table.
 */
export const SOMEONE_ELSES = (c: string) => `(${c}.relkind OPERATOR(pg_catalog.<>) 'r' OR ${c}.relpersistence OPERATOR(pg_catalog.<>) 'p' OR ${c}.relrowsecurity
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid OPERATOR(pg_catalog.=) ${c}.oid)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite rw WHERE rw.ev_class OPERATOR(pg_catalog.=) ${c}.oid)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid OPERATOR(pg_catalog.=) ${c}.oid)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_index x WHERE x.indrelid OPERATOR(pg_catalog.=) ${c}.oid)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits ih WHERE ih.inhrelid OPERATOR(pg_catalog.=) ${c}.oid OR ih.inhparent OPERATOR(pg_catalog.=) ${c}.oid)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) ${c}.oid AND a.attnum OPERATOR(pg_catalog.>) 0
                     AND (a.atthasdef OR a.attgenerated OPERATOR(pg_catalog.<>) '' OR a.attidentity OPERATOR(pg_catalog.<>) '')))`;

const columnList = (columns: Column[], alias?: string) => columns.map((c) => `${alias ? `${alias}.` : ''}${quoteIdent(c.name)}`).join(', ');
const metaList = (q: Quarantine) => [q.meta.at, q.meta.check, q.meta.finding].map(quoteIdent).join(', ');

/** A dollar-quote tag that does not occur in `body`. */
function dollarTag(body: string): string {
  let tag = '$integrity_guard$';
  for (let i = 1; body.includes(tag); i++) tag = `$integrity_guard_${i}$`;
  return tag;
}

/**
 * Creates the quarantine table when it is missing, then refuses (an error, so the script stops and rolls
 * back) to copy into one that exists with other columns, a trigger or a rule, or that the running role
 * does not own: such a table could store values in the wrong columns, or run someone else's code.
 */
export function createQuarantineTable(q: Quarantine, source: Table): string {
  const create = `CREATE TABLE IF NOT EXISTS ${q.name} AS
  SELECT pg_catalog.now() AS ${quoteIdent(q.meta.at)}, ''::pg_catalog.text AS ${quoteIdent(q.meta.check)}, ''::pg_catalog.text AS ${quoteIdent(q.meta.finding)}, ${columnList(q.columns, 't')}
    FROM ${qualifiedName(source.schema, source.name)} AS t WITH NO DATA;`;
  const expected = `ARRAY[${expectedShape(q).map(quoteLiteral).join(', ')}]::pg_catalog.text[]`;
  // format_type() qualifies a name by the search_path: compare under the audit's own (pg_catalog), whatever
  // the session running this has, and give the session its own back.
  const body = `DECLARE
  caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
  unexpected boolean;
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
              WHERE c.oid = ${relationOidLiteral(QUARANTINE_SCHEMA, q.relname)}
                AND (c.relowner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
                     OR ${SOMEONE_ELSES('c')}
                     OR ARRAY(SELECT a.attname::pg_catalog.text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) pg_catalog.format_type(a.atttypid, a.atttypmod)
                                FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
                        IS DISTINCT FROM ${expected})) INTO unexpected;
  PERFORM pg_catalog.set_config('search_path', caller_path, true);
  IF unexpected THEN
    RAISE EXCEPTION 'integrity: the quarantine table % is not the one this script expects (other columns, a trigger or rule, or another owner); move it aside and audit again', ${quoteLiteral(q.relname)};
  END IF;
END`;
  const tag = dollarTag(body);
  // The copies may be sensitive (an auth table's password hashes): nobody but the owner reads them, whatever default privileges say of PUBLIC.
  const sql = `${create}\nDO ${tag}${body}${tag};\nREVOKE ALL ON TABLE ${q.name} FROM PUBLIC;`;
  WRITTEN_BY_HELPERS.add(sql, 'keeps-rows');
  return sql;
}

/**
 * SQL this module wrote (its DO guard included), so that a plugin's repair built with these helpers is
 * not held for review for a DO block integrity wrote itself. Bounded: a long-lived process forgets.
 */
export const WRITTEN_BY_HELPERS = new (class HelperTexts extends Map<string, 'keeps-rows' | 'moves-rows'> {
  add(sql: string, effect: 'keeps-rows' | 'moves-rows' = 'keeps-rows'): this {
    if (this.size > 10_000) this.clear();
    return this.set(sql, effect);
  }
})();

/** Copies the rows `where` selects (alias `t`) from `rows` (e.g. `ONLY "s"."t"`) into the quarantine, column by column. */
export function copyToQuarantine(q: Quarantine, rows: string, where: string, checkId: string, fingerprint: string): string {
  return `INSERT INTO ${q.name} (${metaList(q)}, ${columnList(q.columns)})
SELECT pg_catalog.now(), ${literal(checkId)}, ${literal(fingerprint)}, ${columnList(q.columns, 't')} FROM ${rows} AS t
 WHERE ${where};`;
}

/** Deletes the rows `where` selects (alias `t`) and keeps them in the quarantine, in one statement. */
export function moveToQuarantine(q: Quarantine, rows: string, where: string, checkId: string, fingerprint: string): string {
  return vouched(`WITH moved AS (DELETE FROM ${rows} AS t WHERE ${where} RETURNING ${columnList(q.columns, 't')})
INSERT INTO ${q.name} (${metaList(q)}, ${columnList(q.columns)}) SELECT pg_catalog.now(), ${literal(checkId)}, ${literal(fingerprint)}, ${columnList(q.columns, 'moved')} FROM moved;`);
}

/** A move this module wrote: vetting then knows it copies every row it deletes. */
function vouched(sql: string): string {
  WRITTEN_BY_HELPERS.add(sql, 'moves-rows');
  return sql;
}

/** Puts the finding's rows back into `source` (generated columns are computed again). */
export function restoreStatement(q: Quarantine, source: Table, fingerprint: string): string {
  const cols = columnList(q.columns.filter((c) => c.generated === ''));
  const overriding = q.columns.some((c) => c.identity === 'a') ? ' OVERRIDING SYSTEM VALUE' : '';
  return `INSERT INTO ${qualifiedName(source.schema, source.name)} (${cols})${overriding} SELECT ${cols} FROM ${q.name} WHERE ${quoteIdent(q.meta.finding)} OPERATOR(pg_catalog.=) ${literal(fingerprint)};`;
}

/** Puts back the values of `columns` that an UPDATE changed, matching rows by the table's primary key (alias `t`, quarantine `q`). */
export function restoreValuesStatement(q: Quarantine, rows: string, table: Table, columns: string[], fingerprint: string): string {
  const key = (table.primaryKey ?? []).map((k) => {
    const type = table.columns.find((c) => c.name === k)?.baseType ?? 'text';
    return equalsExpr(`t.${quoteIdent(k)}`, type, `q.${quoteIdent(k)}`, type);
  });
  return `UPDATE ${rows} AS t SET ${columns.map((c) => `${quoteIdent(c)} = q.${quoteIdent(c)}`).join(', ')} FROM ${q.name} AS q WHERE q.${quoteIdent(q.meta.finding)} OPERATOR(pg_catalog.=) ${literal(fingerprint)} AND ${key.join(' AND ')};`;
}
