import type { Catalog, Table } from '../db/catalog.js';
import { displayName, qualifiedName, quoteIdent } from '../db/quote.js';
import type { Queryable } from '../db/session.js';
import { QUARANTINE_SCHEMA, SOMEONE_ELSES, quarantineRelname } from '../fix/quarantine.js';

/** One quarantine table of ours: its three columns of our own, and the copied columns after them. */
export interface QuarantineTable {
  relname: string;
  /** Schema-qualified and quoted. */
  name: string;
  meta: { at: string; check: string; finding: string };
  columns: { name: string; type: string }[];
  /** Another role's table, or one with a trigger, a rule, an index, a child: listed, never written to or restored from. */
  foreign: boolean;
  /** Whether its rows can be read without running anyone's code (a plain table without row-level security). */
  readable: boolean;
}

/** What a quarantine table holds for one finding. */
export interface HeldFinding {
  table: QuarantineTable;
  fingerprint: string;
  checkId: string;
  rows: number;
  first: string;
  last: string;
  /** The table the rows came from, found by the quarantine table's name (a hash of it and the finding); null when no table of today matches. */
  source: Table | null;
}

/** The quarantine tables whose first three columns are ours (when, which check, which finding). */
async function quarantineTables(db: Queryable): Promise<QuarantineTable[]> {
  const res = await db.query<{ relname: string; columns: string[]; types: string[]; foreign: boolean; readable: boolean }>(
    `SELECT c.relname::pg_catalog.text AS relname,
            ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
            ARRAY(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped ORDER BY a.attnum) AS types,
            (c.relowner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
             OR ${SOMEONE_ELSES('c')}) AS foreign,
            -- A plain table's rows can be read without running anything of its owner's (no trigger fires on a
            -- SELECT, and row_security is off); a view's or a foreign table's could not.
            (c.relkind OPERATOR(pg_catalog.=) 'r' AND NOT c.relrowsecurity) AS readable
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm', 'f']::pg_catalog."char"[])
      ORDER BY 1`,
    [QUARANTINE_SCHEMA],
  );
  const ours: QuarantineTable[] = [];
  for (const r of res.rows) {
    const [at, check, finding] = r.columns;
    if (!at?.startsWith('integrity_quarantined_at') || !check?.startsWith('integrity_check') || !finding?.startsWith('integrity_finding')) continue;
    if (r.types[0] !== 'timestamp with time zone' || r.types[1] !== 'text' || r.types[2] !== 'text') continue;
    ours.push({
      relname: r.relname,
      name: qualifiedName(QUARANTINE_SCHEMA, r.relname),
      meta: { at, check, finding },
      columns: r.columns.slice(3).map((name, i) => ({ name, type: r.types[i + 3] as string })),
      foreign: r.foreign,
      readable: r.readable,
    });
  }
  return ours;
}

/** The table of today whose quarantine for `fingerprint` has this name (the name hashes the table's schema, name and columns). */
function sourceOf(catalog: Catalog, relname: string, fingerprint: string): Table | null {
  for (const table of [...catalog.tables, ...catalog.partitions]) {
    for (let suffix = 0; suffix < 20; suffix++) if (quarantineRelname(table, fingerprint, suffix) === relname) return table;
  }
  return null;
}

/** Every finding the quarantine holds rows of, per table, oldest first. */
export async function inventory(db: Queryable, catalog: Catalog): Promise<HeldFinding[]> {
  const held: HeldFinding[] = [];
  for (const table of await quarantineTables(db)) {
    if (!table.readable) {
      held.push({ table, fingerprint: '', checkId: '', rows: 0, first: '', last: '', source: null });
      continue;
    }
    const m = table.meta;
    const res = await db.query<{ finding: string; check: string; rows: string; first: string; last: string }>(
      `SELECT q.${quoteIdent(m.finding)} AS finding, q.${quoteIdent(m.check)} AS check, pg_catalog.count(*)::pg_catalog.text AS rows,
              pg_catalog.to_char(pg_catalog.min(q.${quoteIdent(m.at)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS first,
              pg_catalog.to_char(pg_catalog.max(q.${quoteIdent(m.at)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last
         FROM ONLY ${table.name} q GROUP BY 1, 2 ORDER BY 4, 1`,
    );
    for (const r of res.rows) {
      held.push({ table, fingerprint: r.finding, checkId: r.check, rows: Number(r.rows), first: r.first, last: r.last, source: sourceOf(catalog, table.relname, r.finding) });
    }
  }
  return held;
}

/** `schema.table`, or why the rows' table is not known. */
export function sourceLabel(h: HeldFinding): string {
  if (h.table.foreign) return "(not integrity's: another owner, a trigger or a rule)";
  return h.source ? displayName(h.source.schema, h.source.name) : '(unknown: no table of today has the name and columns these rows were copied from)';
}

