import type { Catalog, Table } from '../db/catalog.js';
import { displayName, qualifiedName, quoteIdent } from '../db/quote.js';
import type { Queryable } from '../db/session.js';
import { equalsExpr, ownRows } from '../db/sql.js';
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
export async function restoreRows(db: Queryable, h: HeldFinding, changeable: string[][]): Promise<RestoredTable> {
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
  // The table's own rows, as the repair selected them: ONLY but for a partitioned table, which has none of its own.
  const rows = ownRows(source);
  const quarantine = `ONLY ${h.table.name}`;
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
    const col = (alias: string, c: { name: string }) => `${alias}.${quoteIdent(c.name)}`;
    // As text, so a column of a type with no equality operator (json, point) compares too.
    const equal = (c: { name: string }) => `${col('t', c)}::pg_catalog.text IS NOT DISTINCT FROM ${col('q', c)}::pg_catalog.text`;
    const nulledNow = (c: { name: string }) => `(${col('t', c)} IS NULL AND ${col('q', c)} IS NOT NULL)`;
    if (back.length > 0) {
      // A row of that key still there: the repair changed it (set its key to NULL), or the key was used
      // again by another row since. Only the first is given its values back, and only when what differs
      // is exactly what a repair of that check changes.
      const res = await db.query<{ nulled: string[]; other: boolean; n: string }>(
        `SELECT pg_catalog.array_remove(ARRAY[${back.map((c) => `CASE WHEN ${nulledNow(c)} THEN ${literal(c.name)} END`).join(', ')}]::pg_catalog.text[], NULL) AS nulled,
                (${back.map((c) => `NOT ${nulledNow(c)} AND NOT (${equal(c)})`).join(' OR ')}) AS other, pg_catalog.count(*)::pg_catalog.text AS n
           FROM ${quarantine} AS q JOIN ${rows} AS t ON ${same} WHERE ${finding} GROUP BY 1, 2`,
      );
      for (const g of res.rows) {
        const fits = g.nulled.length === 0 || changeable.some((set) => g.nulled.every((c) => set.includes(c)));
        if (g.other || !fits) {
          const what = g.other ? 'differs from the copy in values the repair did not set to NULL' : `has NULL in ${g.nulled.map((c) => displayName(c)).join(', ')}, which no repair of ${h.checkId} sets to NULL`;
          throw new RestoreRefused(`${g.n} of the rows copied from ${label} have a row of the same primary key in it now that ${what}: the key was used again since, and restoring would overwrite that row, so nothing was restored`);
        }
      }
      const given = [...new Set(res.rows.flatMap((g) => g.nulled))];
      const set = back.filter((c) => given.includes(c.name));
      if (set.length > 0) {
        updated = await counted(
          db,
          `UPDATE ${rows} AS t SET ${set.map((c) => `${quoteIdent(c.name)} = CASE WHEN ${col('t', c)} IS NULL THEN ${col('q', c)} ELSE ${col('t', c)} END`).join(', ')}
             FROM ${quarantine} AS q WHERE ${finding} AND ${same} AND (${set.map(nulledNow).join(' OR ')}) RETURNING 1`,
        );
      }
    }
    // A sensitive table's copy holds only the key and the columns the repair changed: such a row can be
    // given its values back, never inserted again as a row missing the rest.
    const partial = source.columns.some((c) => c.generated === '' && !h.table.columns.some((q) => q.name === c.name));
    if (partial) {
      const gone = await db.query<{ n: string }>(`SELECT pg_catalog.count(*)::pg_catalog.text AS n FROM ${quarantine} AS q WHERE ${finding} AND NOT EXISTS (SELECT 1 FROM ${rows} AS t WHERE ${same})`);
      const n = Number(gone.rows[0]?.n ?? 0);
      if (n > 0) throw new RestoreRefused(`${n} of the rows copied from ${label} are no longer in it, and the copy holds only their key and the columns the repair changed (a sensitive table): they cannot be inserted again`);
    }
    inserted = partial ? 0 : await counted(db, `INSERT INTO ${target} (${cols})${overriding} SELECT ${qcols} FROM ${quarantine} AS q WHERE ${finding} AND NOT EXISTS (SELECT 1 FROM ${rows} AS t WHERE ${same}) RETURNING 1`);
  } else {
    inserted = await counted(db, `INSERT INTO ${target} (${cols})${overriding} SELECT ${qcols} FROM ${quarantine} AS q WHERE ${finding} RETURNING 1`);
  }
  // The caller holds the quarantine table locked: these are exactly the rows read above.
  await db.query(`DELETE FROM ${quarantine} AS q WHERE ${finding}`);
  return { table: label, inserted, updated };
}

/**
 * The column sets a repair of `checkId` may have set to NULL in rows of `table`, for telling a changed row
 * from a key used again: orphan-rows nulls a foreign key's (or a declared relation's) columns, on the
 * child or on a table whose foreign key says ON DELETE SET NULL; placeholder-uuid one column. Other checks
 * change no row they keep.
 */
export function changeableColumns(checkId: string, table: Table, catalog: Catalog, relations: { schema?: string; table: string; columns: string[] }[]): string[][] {
  if (checkId === 'placeholder-uuid') return table.columns.map((c) => [c.name]);
  if (checkId !== 'orphan-rows') return [];
  return [
    ...catalog.foreignKeys.filter((fk) => fk.schema === table.schema && fk.table === table.name).map((fk) => fk.columns),
    ...relations.filter((r) => r.table === table.name && (r.schema ?? 'public') === table.schema).map((r) => r.columns),
  ];
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
    if (h.table.foreign) throw new RestoreRefused(`${h.table.name} holds rows of this finding but is not integrity's (another owner, a trigger, a rule, an index or a child table): nothing was restored; restore by hand`);
    if (!h.source) throw new RestoreRefused(`no table of today matches ${h.table.name} (the name hashes the table and its columns): has the table been renamed, or its columns changed? Restore by hand: INSERT INTO ... SELECT ... FROM ${h.table.name}`);
  }
}
