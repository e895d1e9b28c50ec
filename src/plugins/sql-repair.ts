import type { Catalog, Table } from '../db/catalog.js';
import { findTable, tableKey } from '../db/catalog.js';
import { displayName, quoteIdent, quoteLiteral } from '../db/quote.js';
import type { Queryable } from '../db/session.js';
import { equalsExpr, ownRows } from '../db/sql.js';
import type { Finding } from '../findings.js';
import { createQuarantineTable, moveToQuarantine, QUARANTINE_SCHEMA, quarantineFor, restoreStatement, WRITTEN_BY_HELPERS } from '../fix/quarantine.js';
import { userCodeFiredBy } from '../fix/side-effects.js';
import type { Repair, RepairStep } from '../fix/types.js';

/** A dollar-quote tag that does not occur in `body`. */
function dollarTag(body: string): string {
  let tag = '$integrity_sql$';
  for (let i = 1; body.includes(tag); i++) tag = `$integrity_sql_${i}$`;
  return tag;
}

/**
 * Runs `sql` (which holds the user's query) from a DO block, as a string literal: the script's text then
 * carries the query only inside escape strings (E'...', every control character escaped), so nothing the
 * query holds can end a comment or a statement, or reach psql as a meta-command or a variable.
 */
export function executeBlock(sql: string): string {
  const lines = sql.split('\n');
  const pieces = lines.map((l, i) => quoteLiteral(i < lines.length - 1 ? `${l}\n` : l));
  const body = `BEGIN\n  EXECUTE ${pieces.join('\n       || ')};\nEND`;
  const tag = dollarTag(body);
  return `DO ${tag}\n${body}\n${tag};`;
}

/** Whether `columns` are, as a set, the table's primary key or the columns of one of its unique constraints. */
export function isUniqueKey(catalog: Catalog, table: Table, columns: string[]): boolean {
  const same = (cols: string[]) => cols.length === columns.length && cols.every((c) => columns.includes(c));
  if (table.primaryKey && same(table.primaryKey)) return true;
  return catalog.uniqueConstraints.some((u) => u.schema === table.schema && u.table === table.name && same(u.columns));
}

/** The table and the partitioned tables above it: a foreign key to any of them reaches its rows. */
function ancestry(catalog: Catalog, table: Table): Set<string> {
  const out = new Set([tableKey(table.schema, table.name)]);
  for (let up = table.partitionOf; up; ) {
    out.add(tableKey(up.schema, up.name));
    up = findTable(catalog, up.schema, up.name)?.partitionOf ?? null;
  }
  return out;
}

/** Why deleting rows of `table` could change rows the quarantine would not hold, if it could. */
function deleteSideEffects(catalog: Catalog, table: Table): string[] {
  const family = ancestry(catalog, table);
  const problems: string[] = [];
  for (const fk of catalog.foreignKeys) {
    if (!family.has(tableKey(fk.refSchema, fk.refTable))) continue;
    const label = `${displayName(fk.schema, fk.table)} (constraint ${displayName(fk.name)})`;
    if (fk.disabledTriggers.some((t) => family.has(tableKey(t.schema, t.table)))) {
      problems.push(`the RI triggers of ${label} are disabled on ${displayName(table.schema, table.name)}, so the delete would leave its rows pointing at nothing: re-enable them first`);
    } else if (fk.onDelete !== 'no action' && fk.onDelete !== 'restrict') {
      problems.push(`the delete would ${fk.onDelete === 'cascade' ? 'cascade to' : `set the key of (ON DELETE ${fk.onDelete.toUpperCase()})`} the rows of ${label} that refer to these rows, which this repair does not quarantine`);
    }
  }
  if (table.hasInheritanceChildren) {
    problems.push(`${displayName(table.schema, table.name)} has inheritance children, whose rows the key does not tell apart from its own`);
  }
  return problems;
}

/** Of the relations named, those that are not tables (views, foreign tables), whose reading runs code. */
async function notPlainTables(db: Queryable, relations: { schema: string; name: string }[]): Promise<string[]> {
  if (relations.length === 0) return [];
  const res = await db.query<{ schema: string; name: string; kind: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
       FROM unnest($1::text[], $2::text[]) AS r(s, t)
       JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.s
       JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname OPERATOR(pg_catalog.=) r.t
      WHERE c.relkind NOT IN ('r', 'p', 'm')`,
    [relations.map((r) => r.schema), relations.map((r) => r.name)],
  );
  return [...new Set(res.rows.map((r) => `${r.kind === 'v' ? 'view' : r.kind === 'f' ? 'foreign table' : 'relation'} ${displayName(r.schema, r.name)}`))];
}

/** A column of a query's result as PostgreSQL describes it (RowDescription): the table and column it is, or 0. */
interface FieldOrigin {
  name: string;
  tableID: number;
  columnID: number;
}

/**
 * Why the key columns the query returns are not proven to be `table`'s own columns, as PostgreSQL tells
 * it: the RowDescription of a result names, for a column that is a plain column of a table (through
 * subqueries and non-recursive CTEs too), that table's OID and the column's number, and 0 for anything
 * computed. A key taken from another table (`SELECT c.id FROM customer c`) or computed would name rows of
 * `table` by a value the query found elsewhere: the rows moved would not be the rows the query found.
 */
async function keyOrigins(db: Queryable, catalog: Catalog, table: Table, key: string[], query: string): Promise<string[]> {
  const res = (await db.query(`SELECT ${key.map((k) => `integrity_q.${quoteIdent(k)}`).join(', ')} FROM (\n${query}\n) AS integrity_q LIMIT 0`)) as {
    fields?: FieldOrigin[];
  };
  const fields = res.fields;
  const label = displayName(table.schema, table.name);
  if (!Array.isArray(fields) || fields.length !== key.length) {
    return [`the database did not say which table the key columns the query returns come from, so they are not known to be ${label}'s own`];
  }
  const tableIDs = fields.map((f) => Number(f.tableID) || 0);
  const res2 = await db.query<{ i: number; schema: string; name: string; column: string | null }>(
    `SELECT f.i::int AS i, n.nspname AS schema, c.relname AS name, a.attname AS column
       FROM unnest($1::pg_catalog.oid[], $2::pg_catalog.int2[]) WITH ORDINALITY AS f(rel, att, i)
       JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) f.rel
       JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) f.rel AND a.attnum OPERATOR(pg_catalog.=) f.att AND NOT a.attisdropped`,
    [tableIDs.map(String), fields.map((f) => String(Number(f.columnID) || 0))],
  );
  const origin = new Map(res2.rows.map((r) => [Number(r.i) - 1, r]));
  // A partition's rows are rows of the partitioned table above it, which the move reaches (no ONLY).
  const isTableOrPartition = (schema: string, name: string) => {
    for (let t: { schema: string; name: string } | null = { schema, name }; t; t = findTable(catalog, t.schema, t.name)?.partitionOf ?? null) {
      if (t.schema === table.schema && t.name === table.name) return true;
    }
    return false;
  };
  const problems: string[] = [];
  key.forEach((k, i) => {
    const o = origin.get(i);
    const what = `the key column ${displayName(k)} the query returns`;
    if (tableIDs[i] === 0 || !o) problems.push(`${what} is computed, not a column of ${label} (PostgreSQL names no table for it)`);
    else if (!isTableOrPartition(o.schema, o.name)) problems.push(`${what} is ${displayName(o.schema, o.name, o.column ?? '?')}, a column of another table than ${label}`);
    else if (o.column !== k) problems.push(`${what} is ${label}'s column ${displayName(o.column ?? '?')}, not its column ${displayName(k)}`);
  });
  if (problems.length === 0) return [];
  return [
    `${problems.join('; ')}: the rows of ${label} holding these values need not be the rows the query found, so the move could take rows nothing failed for (return the key from ${label} itself, as SELECT t.${displayName(key[0] as string)} FROM ${label} AS t ...)`,
  ];
}

export interface QuarantineTarget {
  catalog: Catalog;
  table: Table;
  /** Columns the query returns that identify a row of `table`. */
  key: string[];
  /** The user's query, as analyzed (trailing semicolon blanked). */
  query: string;
  /** What the query reads and runs beyond plain reads (see AnalyzedQuery). */
  relations: { schema: string; name: string }[];
  userCode: string[];
  checkId: string;
}

/**
 * Moves the rows the query returns, by key, to the quarantine. At fix time the rows are chosen by running
 * the query again (never by the sampled keys): locked first (FOR UPDATE, remembered in a temporary table),
 * then copied and deleted in one statement, only those locked rows the query still returns. The key
 * columns the query returns must be the object table's own (keyOrigins): a key the query took from
 * another table, or computed, would name rows it never found, so the move is then left for review, with
 * the reason, rather than refused: the SQL is there to read and adapt.
 */
export async function quarantineRepair(target: QuarantineTarget, finding: Finding, db: Queryable): Promise<Repair> {
  const { catalog, table, key, query, checkId } = target;
  const label = displayName(table.schema, table.name);
  const missing = key.filter((k) => !table.columns.some((c) => c.name === k));
  if (missing.length > 0) {
    throw new Error(`the key ${missing.map((k) => displayName(k)).join(', ')} is not a column of ${label}, so the rows could not be found in it: no quarantine repair (set key to columns of ${label})`);
  }
  if (!isUniqueKey(catalog, table, key)) {
    throw new Error(
      `the key (${key.map((k) => displayName(k)).join(', ')}) is neither the primary key nor a unique constraint of ${label}, so it could name rows the query did not return: no quarantine repair (set key to a unique key of ${label})`,
    );
  }
  const rows = ownRows(table);
  const match = (alias: string) =>
    `EXISTS (SELECT 1 FROM (\n${query}\n) AS integrity_q WHERE ${key
      .map((k) => {
        const type = table.columns.find((c) => c.name === k)?.baseType ?? 'text';
        return equalsExpr(`${alias}.${quoteIdent(k)}`, type, `integrity_q.${quoteIdent(k)}`, type);
      })
      .join(' AND ')})`;
  // Planned, never run: a key of another type than the table's, say, is found now rather than in the script.
  await db.query(`EXPLAIN SELECT 1 FROM ${rows} AS t WHERE ${match('t')}`);

  const fp = finding.fingerprint;
  const quarantine = await quarantineFor(db, table, fp);
  const locked = `pg_temp.${quoteIdent(`integrity_rows_${fp}`)}`;
  const lock = `CREATE TEMP TABLE ${locked} ON COMMIT DROP AS SELECT t.tableoid AS integrity_rel, t.ctid AS integrity_row FROM ${rows} AS t WHERE ${match('t')} FOR UPDATE OF t`;
  const move = moveToQuarantine(quarantine, rows, `(t.tableoid, t.ctid) IN (SELECT integrity_rel, integrity_row FROM ${locked}) AND ${match('t')}`, checkId, fp).replace(/;$/, '');
  const steps: RepairStep[] = [];
  const unproven = await keyOrigins(db, catalog, table, key, query);
  const problems = deleteSideEffects(catalog, table);
  const fired = await userCodeFiredBy(db, [{ table, event: 'delete' }]);
  if (fired.length > 0) problems.push(`the delete would fire ${fired.join(', ')}, whose changes the quarantine would not hold: read them first`);
  // The query runs again in the repair's transaction, which is not read-only: code it runs could write.
  if (target.userCode.length > 0) {
    problems.push(`the query runs ${target.userCode.join(', ')}, which the repair would run again outside the audit's read-only transaction: confirm it changes nothing`);
  }
  const notTables = await notPlainTables(db, target.relations);
  if (notTables.length > 0) {
    problems.push(`the query reads ${notTables.join(', ')}, whose code the repair would run again outside the audit's read-only transaction: confirm it changes nothing`);
  }
  if (unproven.length > 0 || problems.length > 0) {
    const reasons = [...unproven, ...(problems.length > 0 ? [`the delete could change rows the quarantine would not hold: ${problems.join('; ')}`] : [])];
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `move the rows of ${label} that the query returns to the quarantine`,
      decision: reasons.join('. '),
      sql: `${executeBlock(lock)}\n${createQuarantineTable(quarantine, table)}\n${executeBlock(move)}`,
    });
  } else {
    // Our own DO blocks, around statements of our own and a query checked to be a plain read: not a
    // plugin's code for the vetting of plugin repairs (vet-steps.ts) to hold back.
    const lockBlock = executeBlock(lock);
    const moveBlock = executeBlock(move);
    WRITTEN_BY_HELPERS.add(lockBlock, 'keeps-rows');
    WRITTEN_BY_HELPERS.add(moveBlock, 'moves-rows');
    steps.push(
      {
        safety: 'safe',
        phase: 'transaction',
        description: `lock the rows of ${label} that the query returns (running it again now) until COMMIT, remembering which, so that no writer changes them in between`,
        sql: lockBlock,
      },
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${label}`, sql: createQuarantineTable(quarantine, table) },
      {
        safety: 'destructive',
        phase: 'transaction',
        description: `move the locked rows of ${label} that the query still returns to the quarantine (delete them, keeping a copy)`,
        sql: moveBlock,
      },
    );
  }
  return {
    order: 40,
    summary: `move the ${finding.count} row(s) of ${label} that the query returns to the ${QUARANTINE_SCHEMA} schema`,
    steps,
    restore: [restoreStatement(quarantine, table, fp)],
  };
}

/** The check author's own repair SQL: shown for review, commented out, never run by --verify or --apply. */
export function userRepair(sql: string, description: string | undefined, origin: string): Repair {
  return {
    order: 50,
    summary: description ?? `the repair written with the check (${origin}), for review`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: description ?? 'the repair written with the check',
        decision: `this SQL comes from the check's author (${origin}), not from integrity: read it, and confirm it changes only the failing rows and keeps what it removes`,
        sql,
      },
    ],
  };
}
