import type { Catalog, Table } from '../db/catalog.js';
import { displayName, qualifiedName, quoteIdent } from '../db/quote.js';
import type { Queryable } from '../db/session.js';
import { equalsExpr } from '../db/sql.js';
import { literal } from '../fix/quarantine.js';
import { UsageError } from '../errors.js';
import type { HeldFinding } from './inventory.js';

/** Restoring would break a constraint, or cannot be done as asked: nothing was changed. */
export class RestoreRefused extends Error {
  override name = 'RestoreRefused';
}

export interface RestoredTable {
  table: string;
  /** Rows the repair deleted, inserted again. */
  inserted: number;
  /** Rows the repair changed (a key set to NULL), their NULLed values put back. */
  updated: number;
}

/**
 * Parents before children: a row is restored after the rows it references, so the foreign keys of
 * today accept it. A cycle keeps the order found (the constraint then decides).
 */
export function dependencyOrder(held: HeldFinding[], catalog: Catalog): HeldFinding[] {
  const key = (t: { schema: string; name: string }) => JSON.stringify([t.schema, t.name]);
  const tables = new Map(held.map((h) => [key(h.source as Table), h]));
  const out: HeldFinding[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (h: HeldFinding) => {
    const k = key(h.source as Table);
    if (state.get(k)) return;
    state.set(k, 'visiting');
    for (const fk of catalog.foreignKeys) {
      if (fk.schema !== h.source?.schema || fk.table !== h.source.name) continue;
      const parent = tables.get(key({ schema: fk.refSchema, name: fk.refTable }));
      if (parent && parent !== h) visit(parent);
    }
    state.set(k, 'done');
    out.push(h);
  };
  for (const h of held) visit(h);
  return out;
}

/**
 * Puts one quarantine table's rows of a finding back into their table, in the caller's transaction:
 * a row whose key is gone from the table is inserted again; a row still there (the repair set its key
 * to NULL) gets back the values that are NULL now and were not when it was copied. The rows restored
 * leave the quarantine in the same transaction. PostgreSQL's constraints are the judge: a row that
 * would now conflict makes the statement fail, and the caller rolls everything back.
 */
export async function restoreRows(db: Queryable, h: HeldFinding): Promise<RestoredTable> {
  const source = h.source as Table;
  const label = displayName(source.schema, source.name);
  const missing = h.table.columns.filter((c) => !source.columns.some((s) => s.name === c.name));
  if (missing.length > 0) throw new RestoreRefused(`${label} has no column ${missing.map((c) => displayName(c.name)).join(', ')} any more: the copies cannot go back as they are`);
  const writable = h.table.columns.filter((c) => {
    const col = source.columns.find((s) => s.name === c.name);
    return col !== undefined && col.generated === '';
  });
  const cols = writable.map((c) => quoteIdent(c.name)).join(', ');
  const qcols = writable.map((c) => `q.${quoteIdent(c.name)}`).join(', ');
  const finding = `q.${quoteIdent(h.table.meta.finding)} OPERATOR(pg_catalog.=) ${literal(h.fingerprint)}`;
  const target = qualifiedName(source.schema, source.name);
  const overriding = source.columns.some((c) => c.identity === 'a') ? ' OVERRIDING SYSTEM VALUE' : '';
  const pk = source.primaryKey ?? [];
  const keyed = pk.length > 0 && pk.every((k) => writable.some((c) => c.name === k));
  let inserted: number;
  let updated = 0;
  if (keyed) {
    const same = pk
      .map((k) => {
        const type = source.columns.find((c) => c.name === k)?.baseType ?? 'text';
        return equalsExpr(`t.${quoteIdent(k)}`, type, `q.${quoteIdent(k)}`, type);
      })
      .join(' AND ');
    const back = writable.filter((c) => !pk.includes(c.name));
    // A row of that key that differs otherwise than by NULLs is not the one copied (the key was used again since).
    const sameButNulled = back.map((c) => `(t.${quoteIdent(c.name)} IS NULL OR t.${quoteIdent(c.name)} IS NOT DISTINCT FROM q.${quoteIdent(c.name)})`).join(' AND ');
    const conflicts = await db.query<{ n: string }>(
      `SELECT pg_catalog.count(*)::pg_catalog.text AS n FROM ${h.table.name} AS q JOIN ONLY ${target} AS t ON ${same} WHERE ${finding}${back.length > 0 ? ` AND NOT (${sameButNulled})` : ''}`,
    );
    const n = back.length > 0 ? Number(conflicts.rows[0]?.n ?? 0) : 0;
    if (n > 0) throw new RestoreRefused(`${n} of the rows copied from ${label} have a row of the same primary key in it now that differs from the copy: restoring would overwrite it, so nothing was restored`);
    if (back.length > 0) {
      const set = back.map((c) => `${quoteIdent(c.name)} = CASE WHEN t.${quoteIdent(c.name)} IS NULL THEN q.${quoteIdent(c.name)} ELSE t.${quoteIdent(c.name)} END`).join(', ');
      const changed = back.map((c) => `(t.${quoteIdent(c.name)} IS NULL AND q.${quoteIdent(c.name)} IS NOT NULL)`).join(' OR ');
      updated = await counted(db, `UPDATE ONLY ${target} AS t SET ${set} FROM ${h.table.name} AS q WHERE ${finding} AND ${same} AND (${changed}) RETURNING 1`);
    }
    // A sensitive table's copy holds only the key and the columns the repair changed: such a row can be
    // given its values back, never inserted again as a row missing the rest.
    const partial = source.columns.some((c) => c.generated === '' && !h.table.columns.some((q) => q.name === c.name));
    if (partial) {
      const gone = await db.query<{ n: string }>(`SELECT pg_catalog.count(*)::pg_catalog.text AS n FROM ${h.table.name} AS q WHERE ${finding} AND NOT EXISTS (SELECT 1 FROM ONLY ${target} AS t WHERE ${same})`);
      const n = Number(gone.rows[0]?.n ?? 0);
      if (n > 0) throw new RestoreRefused(`${n} of the rows copied from ${label} are no longer in it, and the copy holds only their key and the columns the repair changed (a sensitive table): they cannot be inserted again`);
    }
    inserted = partial ? 0 : await counted(db, `INSERT INTO ${target} (${cols})${overriding} SELECT ${qcols} FROM ${h.table.name} AS q WHERE ${finding} AND NOT EXISTS (SELECT 1 FROM ONLY ${target} AS t WHERE ${same}) RETURNING 1`);
  } else {
    inserted = await counted(db, `INSERT INTO ${target} (${cols})${overriding} SELECT ${qcols} FROM ${h.table.name} AS q WHERE ${finding} RETURNING 1`);
  }
  await db.query(`DELETE FROM ${h.table.name} AS q WHERE ${finding}`);
  return { table: label, inserted, updated };
}

/** Runs a write with RETURNING and says how many rows it wrote. */
async function counted(db: Queryable, write: string): Promise<number> {
  const res = await db.query<{ n: string }>(`WITH w AS (${write}) SELECT pg_catalog.count(*)::pg_catalog.text AS n FROM w`);
  return Number(res.rows[0]?.n ?? 0);
}

/** Refuses what restore cannot do, before anything is written: a table not known, or not ours. */
export function assertRestorable(held: HeldFinding[], fingerprint: string): void {
  if (held.length === 0) throw new UsageError(`the quarantine holds no rows of finding ${fingerprint}; integrity quarantine list shows what it holds`);
  for (const h of held) {
    if (h.table.foreign) throw new RestoreRefused(`${h.table.name} is not integrity's (another owner, a trigger or a rule): restore its rows by hand`);
    if (!h.source) throw new RestoreRefused(`no table of today matches ${h.table.name} (the name hashes the table and its columns): has the table been renamed, or its columns changed? Restore by hand: INSERT INTO ... SELECT ... FROM ${h.table.name}`);
  }
}
