import {
  defineCheck,
  displayName,
  findTable,
  ownRows,
  qualifiedName,
  quoteIdent,
  quoteLiteral,
  relationOidLiteral,
  tableKey,
  z,
  type Catalog,
  type CheckContext,
  type Column,
  type Finding,
  type FindingObject,
  type Queryable,
  type Repair,
  type Severity,
  type Table,
} from '../src/index.js';
import {
  ancestorKeys,
  columnKey,
  legacySequenceName,
  namedByText,
  nextvalCalls,
  readSequences,
  splitQualifiedName,
  type DefaultCall,
  type LegacyName,
  type SequenceRecord,
} from './support/sequences.js';

const INTEGER_BASE_TYPES = new Set(['int2', 'int4', 'int8']);
/** Rows counted at most per column when saying how many of the sequence's coming values are taken. */
const TAKEN_CAP = 10_000;

type Sequence = SequenceRecord;

/** A column a sequence feeds, on the relation whose rows are read for it. */
interface Unit {
  table: Table;
  column: Column;
  /** The DEFAULT's nextval() call on the sequence; null for an identity column (or a partition read for a mixed tree without one). */
  call: DefaultCall | null;
  indexed: boolean;
  /** A unique index (or constraint) whose only key is the column, non-partial: a collision fails. */
  uniqueIndex: string | null;
  /**
   * The partitioned ancestors whose DEFAULT draws from another source: rows inserted through them land
   * here with that source's values, so the column's extreme need not be this sequence's to pass.
   */
  sharedWith: string[];
}

interface Plan {
  seq: Sequence;
  units: Unit[];
}

interface UnitResult {
  unit: Unit;
  read: boolean;
  extreme: bigint | null;
  behind: boolean;
  taken: number | null;
  takenCapped: boolean;
}

interface SequenceResult {
  plan: Plan;
  lastValue: bigint;
  isCalled: boolean;
  next: bigint;
  units: UnitResult[];
  /** A CYCLE sequence: the values from its next one that are taken in a row (the last of them), not compared by max. */
  cycleRun?: { taken: number; takenCapped: boolean; last: bigint | null };
}

/** Where a DEFAULT calls nextval() on a constant regclass; `plain` when the default is that call (and casts). */
export interface NextvalUse {
  oid: string | null;
  plain: boolean;
  /**
   * A pre-8.1 default, `nextval(('name'::text)::regclass)`: the text PostgreSQL resolves to a relation at
   * each call. `schema` null when the name is unqualified (the inserting session's search_path decides).
   */
  legacy?: LegacyName;
}

export { legacySequenceName, splitQualifiedName };

/** Every nextval() call in a DEFAULT's stored tree, as the shared reader sees it before the catalog is asked. */
export function nextvalUses(tree: string): NextvalUse[] {
  return nextvalCalls(tree).map((c) => ({ oid: c.oids[0] ?? null, plain: c.plain, ...(c.legacy ? { legacy: c.legacy } : {}) }));
}

interface IndexFactRow {
  ord: number;
  indexed: boolean;
  unique_index: string | null;
}

/**
 * For each (relation, column): whether max()/min() is one index lookup (every leaf has a valid,
 * non-partial btree index led by the column; the planner's min/max optimisation), and the unique index
 * whose only key is the column. Partitions are followed through pg_inherits, never pg_partition_tree()
 * (which locks them).
 */
async function loadIndexFacts(db: Queryable, wanted: { table: Table; column: Column }[]): Promise<IndexFactRow[]> {
  if (wanted.length === 0) return [];
  const res = await db.query<IndexFactRow>(
    `WITH RECURSIVE w AS (
       SELECT u.ord, c.oid AS relid, u.col
         FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[])) WITH ORDINALITY AS u(schema, tab, col, ord)
         JOIN pg_catalog.pg_namespace n ON n.nspname = u.schema
         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = u.tab
     ), tree AS (
       SELECT w.ord, w.relid FROM w
       UNION ALL
       SELECT t.ord, i.inhrelid FROM tree t
         JOIN pg_catalog.pg_inherits i ON i.inhparent = t.relid
         JOIN pg_catalog.pg_class ch ON ch.oid = i.inhrelid AND ch.relispartition
     )
     SELECT w.ord::pg_catalog.int4 AS ord,
            NOT EXISTS (SELECT 1 FROM tree t JOIN pg_catalog.pg_class l ON l.oid = t.relid
                         WHERE t.ord = w.ord AND l.relkind <> 'p'
                           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                                             JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
                                             JOIN pg_catalog.pg_am am ON am.oid = ic.relam
                                             JOIN pg_catalog.pg_attribute a ON a.attrelid = l.oid AND a.attnum = x.indkey[0]
                                            WHERE x.indrelid = l.oid AND am.amname = 'btree' AND x.indisvalid AND x.indisready
                                              AND x.indpred IS NULL AND a.attname = w.col)) AS indexed,
            (SELECT ic.relname FROM pg_catalog.pg_index x
               JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
               JOIN pg_catalog.pg_attribute a ON a.attrelid = w.relid AND a.attnum = x.indkey[0]
              WHERE x.indrelid = w.relid AND x.indisunique AND x.indnkeyatts = 1 AND x.indisvalid AND x.indpred IS NULL AND a.attname = w.col
              ORDER BY x.indisprimary DESC, ic.relname LIMIT 1) AS unique_index
       FROM w
      ORDER BY w.ord`,
    [wanted.map((u) => u.table.schema), wanted.map((u) => u.table.name), wanted.map((u) => u.column.name)],
  );
  return res.rows;
}

function columnLabel(u: { table: Table; column: Column }): string {
  return displayName(u.table.schema, u.table.name, u.column.name);
}

/** Whether a column's DEFAULT takes its values from anything but this sequence (another one, or a computation). */
function drawsElsewhere(found: DefaultCall[], seqOid: string): boolean {
  return found.length > 0 && !found.every((u) => u.plain && u.oid === seqOid);
}

/** The partitioned ancestors of a fed partition whose own DEFAULT draws from elsewhere. */
function sharedWith(catalog: Catalog, uses: Map<string, DefaultCall[]>, u: { table: Table; column: Column }, seqOid: string): string[] {
  const out: string[] = [];
  let at = u.table.partitionOf;
  for (let depth = 0; at && depth < 64; depth++) {
    const parent = findTable(catalog, at.schema, at.name);
    if (!parent) break;
    const c = parent.columns.find((x) => x.name === u.column.name);
    if (c && drawsElsewhere(uses.get(columnKey(parent, c)) ?? [], seqOid)) out.push(columnLabel({ table: parent, column: c }));
    at = parent.partitionOf;
  }
  return out;
}

function lowerSeverity(s: Severity): Severity {
  return s === 'error' ? 'warning' : 'info';
}

/** max() for an ascending sequence, min() for a descending one: an index lookup when led by the column. */
function extremeOf(unit: Unit, ascending: boolean): string {
  return `(SELECT pg_catalog.${ascending ? 'max' : 'min'}(t.${quoteIdent(unit.column.name)})::pg_catalog.int8 FROM ${ownRows(unit.table)} AS t)`;
}

export default defineCheck({
  id: 'sequence-behind-data',
  title: 'Sequences whose next value is already taken',
  severity: 'error',
  description: 'Sequences whose next value is at or below the largest value already in a column they feed, so inserts collide.',
  docs: {
    finds:
      "Every sequence that feeds an integer column (smallint, integer, bigint, or a domain over one) of an audited table, through an identity column (pg_depend 'i') or a DEFAULT that is `nextval('seq'::regclass)` (read from the stored default tree, casts and domain coercion allowed; serial columns are this; `nextval(16384::regclass)` too; the reader is sequence-headroom's too), or `nextval('seq'::text)`, a name PostgreSQL looks up at every insert: a qualified one exactly, an unqualified one through the inserting session's search_path, assumed to be PostgreSQL's default `\"$user\", public` unless ALTER DATABASE or ALTER ROLE ... SET search_path says otherwise (the finding says so, and its setval is `review`; a name that means different sequences for different sessions is not compared, the note says which), whose next value (last_value + increment once called, else last_value) is at or below `max()` of the column, or for a descending sequence at or above `min()`. " +
      'One sequence feeding several columns (a shared sequence, partitions that each default to it, inheritance children) is compared with the extreme over all of them: each table\'s own rows (`FROM ONLY`), a partitioned table read whole and its partitions not again. ' +
      'A column is read only when the read is one index lookup: every leaf relation has a valid, non-partial btree index whose first key is the column. Other columns are not read unless `--deep` (then max() scans the table); the note says how many columns were read and how many were not. ' +
      "Severity: `error` when a column the sequence is behind has a unique index or constraint whose only key is the column (an insert that draws a taken value fails with 23505); one level lower (`warning`) when none does (a composite key such as pagila's (payment_date, payment_id): new rows silently repeat existing ids). " +
      'The count is how many values the sequence hands out before passing the data; `details.taken` says how many rows already hold one of them (counted through the index, at most 10,000 per column, `details.takenCapped`). With an increment other than ±1 only values on the sequence\'s own step count, and a sequence none of whose coming values is taken (two writers interleaving odd and even ids) is not reported. ' +
      "Not reported: sequences ahead of their data, empty tables, a sequence set with `setval(max + 1, false)`, sequences only OWNED BY a column whose default does not call them (nothing draws from them), and defaults that compute from nextval (`'INV-' || nextval(...)`, `nextval(...)::text` on a text column, `nextval(...) * 10`): these are counted in the note as not compared. A sequence the role cannot SELECT, a table it cannot read whole (row-level security) or an unlogged sequence on a standby is an error for that object, never a pass. Extension-owned sequences and tables are left out.",
    why: 'After a restore of data without its sequence values, an import with explicit ids, or a copy between environments, the sequence still starts where it was: the application\'s next INSERT takes an id that exists and fails with a duplicate key (or, without a unique index, silently writes a second row with that id). It fails on every insert until enough values have been drawn to pass the data. The same family as the incident of stored files written before their LLM call, whose rows also came in through a load that skipped what ordinary writes do: the database accepted the state, and the next ordinary write is the one that breaks.',
    fix: "`SELECT pg_catalog.setval('seq', max(col), true)` so the next value is above the data (`min` for a descending sequence). The repair is `safe`: it computes the extreme over every column the sequence feeds at apply time, never moves the sequence backwards (GREATEST with its current last_value), and runs only while the sequence is still behind, so a second run changes nothing. setval is not transactional, so it runs after the script's COMMIT, and `fix --verify` runs the transactional `ALTER SEQUENCE ... RESTART` instead (rolled back with the rest; it needs the sequence's owner and holds a lock on the sequence, which makes concurrent nextval() wait, until the verify ends). When the data already reaches the sequence's MAXVALUE (MINVALUE) the step is `review`: widen the sequence first; also when a partitioned ancestor draws from another source, and when the column's DEFAULT names the sequence as text without a schema (which sequence it moves was assumed from the search_path).",
    bad: `CREATE TABLE invoice (id serial PRIMARY KEY, ref text);
INSERT INTO invoice (id, ref) VALUES (1, 'INV-1'), (2, 'INV-2');  -- explicit ids: the sequence stays at 1
INSERT INTO invoice (ref) VALUES ('INV-3');  -- ERROR: duplicate key value violates unique constraint "invoice_pkey"`,
    good: `INSERT INTO invoice (id, ref) VALUES (1, 'INV-1'), (2, 'INV-2');
SELECT setval(pg_get_serial_sequence('invoice', 'id'), (SELECT max(id) FROM invoice));`,
  },
  options: z.strictObject({}),
  async run(ctx) {
    const { catalog } = ctx;
    const relations = [...catalog.tables, ...catalog.partitions];

    // Which sequence each audited column's DEFAULT calls, from the stored tree; a DEFAULT naming its
    // sequence as text, resolved as its cast to regclass would resolve it (see support/sequences.ts).
    const reading = await readSequences(ctx.db, catalog);
    const uses = reading.calls;
    const notCompared: string[] = [];
    for (const table of relations) {
      for (const column of table.columns) {
        for (const use of uses.get(columnKey(table, column)) ?? []) {
          const label = columnLabel({ table, column });
          const named = use.named;
          if (use.oid === null && named && named.status !== 'unparsable') {
            const assumed = named.assumed === null ? '' : ` (assumed: ${named.assumed})`;
            notCompared.push(
              named.status === 'ambiguous'
                ? `${label} (its DEFAULT names ${JSON.stringify(named.name)} as text, which the search_path decides at every insert: ${named.candidates.join(' or ')}${assumed})`
                : named.schema === null
                  ? `${label} (its DEFAULT names ${JSON.stringify(named.name)} as text, which no schema on the search_path holds${assumed})`
                  : `${label} (its DEFAULT names ${displayName(named.schema, named.name)}, which is not a sequence${assumed})`,
            );
          } else if (use.oid === null) {
            notCompared.push(`${label} (${use.legacy ? 'its DEFAULT resolves the sequence by name at run time' : 'its DEFAULT calls nextval() on a name computed at run time'})`);
          } else if (!use.plain || !INTEGER_BASE_TYPES.has(column.baseType)) {
            notCompared.push(`${label} (its DEFAULT computes a ${column.type} from nextval())`);
          }
        }
      }
    }
    // The sequences of the audited schemas, and those elsewhere that an audited column's DEFAULT is.
    const byDefault = new Set<string>();
    for (const [oid, fed] of reading.feeds) if (fed.some((f) => f.via === 'default' && f.call?.plain && INTEGER_BASE_TYPES.has(f.column.baseType))) byDefault.add(oid);
    const sequences = reading.sequences.filter((s) => catalog.schemas.includes(s.schema) || byDefault.has(s.oid));
    const plans: Plan[] = [];
    let ownedOnly = 0;
    let feedNothing = 0;
    const outside: string[] = [];
    const partitionNotCompared = new Set<string>();
    for (const seq of sequences) {
      const fed = new Map<string, { table: Table; column: Column; call: DefaultCall | null }>();
      const add = (table: Table, column: Column, call: DefaultCall | null) => fed.set(columnKey(table, column), { table, column, call });
      for (const f of reading.feeds.get(seq.oid) ?? []) {
        if (f.via === 'default' && f.call?.plain && INTEGER_BASE_TYPES.has(f.column.baseType)) add(f.table, f.column, f.call);
      }
      for (const f of reading.feeds.get(seq.oid) ?? []) if (f.via === 'identity') add(f.table, f.column, null);
      for (const o of seq.owners.filter((x) => x.deptype === 'i')) {
        if (!(reading.feeds.get(seq.oid) ?? []).some((f) => f.via === 'identity' && f.table.schema === o.schema && f.table.name === o.table && f.column.name === o.column)) {
          outside.push(`${displayName(o.schema, o.table, o.column)} (fed by ${displayName(seq.schema, seq.name)})`);
        }
      }
      // A partitioned table one of whose partitions has a DEFAULT of its own (another sequence, or a
      // computed one) is "mixed": an INSERT names one table and takes that table's default, so rows
      // inserted through the parent (this sequence's values) and rows inserted into that partition
      // directly (the other sequence's) share it. Its partitions are then read one by one (FROM ONLY),
      // those that draw from another sequence left out of the comparison with this one.
      const seqLabel = displayName(seq.schema, seq.name);
      const mixed = new Set<string>();
      for (const u of [...fed.values()]) {
        if (u.table.kind !== 'partitioned table') continue;
        const key = tableKey(u.table.schema, u.table.name);
        const below = relations.filter((r) => ancestorKeys(catalog, r).includes(key));
        const others = below.filter((r) => {
          const c = r.columns.find((x) => x.name === u.column.name);
          return c !== undefined && drawsElsewhere(uses.get(columnKey(r, c)) ?? [], seq.oid);
        });
        if (others.length === 0) continue;
        mixed.add(`${key}\u0000${u.column.name}`);
        for (const r of below) {
          const c = r.columns.find((x) => x.name === u.column.name);
          if (!c || r.kind === 'partitioned table') continue;
          if (others.includes(r)) {
            partitionNotCompared.add(
              `${columnLabel({ table: r, column: c })} with ${seqLabel} (its own DEFAULT draws from another source, while inserts through ${displayName(u.table.schema, u.table.name)} draw from ${seqLabel})`,
            );
          } else add(r, c, (uses.get(columnKey(r, c)) ?? []).find((x) => x.plain && x.oid === seq.oid) ?? null);
        }
      }
      // A partition whose partitioned ancestor is read for this sequence is read through it.
      const fedTables = new Set([...fed.values()].map((u) => `${tableKey(u.table.schema, u.table.name)}\u0000${u.column.name}`));
      const units = [...fed.values()].filter(
        (u) =>
          !mixed.has(`${tableKey(u.table.schema, u.table.name)}\u0000${u.column.name}`) &&
          !ancestorKeys(catalog, u.table).some((a) => fedTables.has(`${a}\u0000${u.column.name}`) && !mixed.has(`${a}\u0000${u.column.name}`)),
      );
      if (units.length === 0) {
        if (seq.owners.some((o) => o.deptype === 'a')) ownedOnly++;
        else feedNothing++;
        continue;
      }
      units.sort((a, b) => columnLabel(a).localeCompare(columnLabel(b)));
      plans.push({ seq, units: units.map((u) => ({ ...u, indexed: false, uniqueIndex: null, sharedWith: sharedWith(catalog, uses, u, seq.oid) })) });
    }

    const flat = plans.flatMap((p) => p.units);
    const facts = await loadIndexFacts(ctx.db, flat);
    facts.forEach((f) => {
      const unit = flat[f.ord - 1];
      if (!unit) return;
      unit.indexed = f.indexed;
      unit.uniqueIndex = f.unique_index;
    });

    let read = 0;
    const skipped: string[] = [];
    const work: { item: Plan; weight: number; object: string }[] = [];
    for (const plan of plans) {
      const label = `sequence ${displayName(plan.seq.schema, plan.seq.name)}`;
      if (!plan.seq.canSelect) {
        ctx.objectError(label, new Error(`the role cannot read ${label} (it needs SELECT on it: GRANT SELECT ON SEQUENCE ${qualifiedName(plan.seq.schema, plan.seq.name)} TO the auditing role)`));
        continue;
      }
      if (plan.seq.unlogged && catalog.inRecovery) {
        ctx.objectError(label, new Error(`${label} is unlogged and cannot be read on a standby: audit the primary`));
        continue;
      }
      const blocked = plan.units.filter((u) => u.table.unreadable || !u.table.rowSecurity.readableWhole);
      for (const u of blocked) {
        ctx.objectError(
          `${label} on ${columnLabel(u)}`,
          new Error(u.table.unreadable ?? `row-level security hides rows of ${displayName(u.table.schema, u.table.name)} from this role: audit as its owner or a role with BYPASSRLS`),
        );
      }
      const toRead = plan.units.filter((u) => !blocked.includes(u) && (u.indexed || ctx.deep));
      read += toRead.length;
      skipped.push(...plan.units.filter((u) => !blocked.includes(u) && !toRead.includes(u)).map(columnLabel));
      if (toRead.length === 0) continue;
      work.push({ item: { ...plan, units: toRead }, weight: toRead.length, object: label });
    }

    const results = await ctx.each(work, (plan, db) => readSequence(plan, db));
    const findings: Finding[] = [];
    let behindOffStep = 0;
    const cycles: string[] = [];
    for (const r of results) {
      if (!r) continue;
      const behind = r.units.filter((u) => u.behind);
      if (r.plan.seq.cycle) cycles.push(displayName(r.plan.seq.schema, r.plan.seq.name));
      if (behind.length === 0) continue;
      if (r.cycleRun) {
        findings.push(makeCycleFinding(ctx, r, plans.find((p) => p.seq.oid === r.plan.seq.oid) as Plan));
        continue;
      }
      const offStep = r.plan.seq.increment !== 1n && r.plan.seq.increment !== -1n;
      if (offStep && behind.every((u) => u.taken === 0 && !u.takenCapped)) {
        behindOffStep++;
        continue;
      }
      const original = plans.find((p) => p.seq.oid === r.plan.seq.oid) as Plan;
      findings.push(makeFinding(ctx, r, original));
    }

    ctx.note(
      [
        `compared ${work.length} sequence(s) with the ${read} column(s) they feed (read through an index${ctx.deep ? ', or by a scan under --deep' : ''})`,
        skipped.length > 0 ? `${skipped.length} column(s) not read, having no btree index led by the column (run with --deep to read them): ${skipped.join(', ')}` : '',
        notCompared.length > 0 ? `${notCompared.length} column(s) not compared: ${notCompared.join(', ')}` : '',
        partitionNotCompared.size > 0 ? `${partitionNotCompared.size} partition column(s) not compared by their largest value: ${[...partitionNotCompared].join(', ')}` : '',
        outside.length > 0 ? `${outside.length} fed column(s) outside the audited tables not read: ${outside.join(', ')}` : '',
        ownedOnly > 0 ? `${ownedOnly} sequence(s) only OWNED BY a column whose default does not call them, not compared` : '',
        feedNothing > 0 ? `${feedNothing} sequence(s) feed no audited column` : '',
        cycles.length > 0
          ? `${cycles.length} CYCLE sequence(s) compared only by whether their very next value is taken, not by the largest value (they wrap into used values by design; sequence-headroom reports cycle-wrap): ${cycles.join(', ')}`
          : '',
        behindOffStep > 0 ? `${behindOffStep} sequence(s) behind the data but none of their coming values taken (another step), not reported` : '',
      ]
        .filter(Boolean)
        .join('; '),
    );
    return findings;
  },
});

/** Whether any of the units holds the value (one index lookup per unit when indexed). */
function takenBy(units: Unit[], value: string): string {
  return units.map((u) => `EXISTS (SELECT 1 FROM ${ownRows(u.table)} AS t WHERE t.${quoteIdent(u.column.name)} OPERATOR(pg_catalog.=) ${value})`).join(' OR ');
}

/**
 * The run of values a CYCLE sequence hands out from `next` (a numeric SQL expression) that are already
 * taken, one index lookup each, at most TAKEN_CAP, not past the sequence's bound: a recursive query
 * returning the run's length and its last value (0 and null when the next value is free).
 */
function cycleRunQuery(seq: Sequence, units: Unit[], next: string): string {
  const ascending = seq.increment > 0n;
  const bound = ascending ? `v OPERATOR(pg_catalog.+) ${seq.increment}::pg_catalog.numeric OPERATOR(pg_catalog.<=) ${seq.max}::pg_catalog.numeric` : `v OPERATOR(pg_catalog.+) ${seq.increment}::pg_catalog.numeric OPERATOR(pg_catalog.>=) ${seq.min}::pg_catalog.numeric`;
  const stepped = `(r.v OPERATOR(pg_catalog.+) ${seq.increment}::pg_catalog.numeric)::pg_catalog.int8`;
  return `WITH RECURSIVE r(v, n) AS (
       SELECT x.v, 1 FROM (SELECT (${next})::pg_catalog.numeric AS v) AS x WHERE ${takenBy(units, 'x.v::pg_catalog.int8')}
       UNION ALL
       SELECT r.v OPERATOR(pg_catalog.+) ${seq.increment}::pg_catalog.numeric, r.n OPERATOR(pg_catalog.+) 1 FROM r
        WHERE r.n OPERATOR(pg_catalog.<) ${TAKEN_CAP + 1} AND CASE WHEN r.${bound} THEN ${takenBy(units, stepped)} ELSE false END)
     SELECT pg_catalog.count(*)::pg_catalog.int4 AS n, (SELECT r2.v FROM r AS r2 ORDER BY r2.n DESC LIMIT 1)::pg_catalog.text AS last FROM r`;
}

/** A CYCLE sequence's next value (wrapping at its bound, as nextval does) and the taken run from it. */
async function readCycle(plan: Plan, db: Queryable): Promise<SequenceResult> {
  const { seq } = plan;
  const ascending = seq.increment > 0n;
  const state = await db.query<{ last_value: string; is_called: boolean }>(
    `SELECT s.last_value::pg_catalog.text AS last_value, s.is_called FROM ${qualifiedName(seq.schema, seq.name)} AS s`,
  );
  const row = state.rows[0];
  if (!row) throw new Error(`sequence ${displayName(seq.schema, seq.name)} returned no row`);
  const lastValue = BigInt(row.last_value);
  let next = row.is_called ? lastValue + seq.increment : lastValue;
  if (ascending && next > seq.max) next = seq.min;
  if (!ascending && next < seq.min) next = seq.max;
  const holds = await db.query<{ holds: boolean[] }>(
    `SELECT ARRAY[${plan.units.map((u) => takenBy([u], '$1::pg_catalog.int8')).join(', ')}]::pg_catalog.bool[] AS holds`,
    [next.toString()],
  );
  const held = holds.rows[0]?.holds ?? [];
  let run = { taken: 0, takenCapped: false, last: null as bigint | null };
  if (held.some(Boolean)) {
    const res = await db.query<{ n: number; last: string | null }>(cycleRunQuery(seq, plan.units, '$1::pg_catalog.numeric'), [next.toString()]);
    const n = res.rows[0]?.n ?? 0;
    const last = res.rows[0]?.last ?? null;
    run = { taken: Math.min(n, TAKEN_CAP), takenCapped: n > TAKEN_CAP, last: last === null ? null : BigInt(last) };
  }
  const units: UnitResult[] = plan.units.map((unit, i) => ({ unit, read: true, extreme: null, behind: held[i] === true, taken: null, takenCapped: false }));
  return { plan, lastValue, isCalled: row.is_called, next, units, cycleRun: run };
}

/** The sequence's state and the extreme of every column it feeds, in one query; then the taken values. */
async function readSequence(plan: Plan, db: Queryable): Promise<SequenceResult> {
  if (plan.seq.cycle) return readCycle(plan, db);
  const ascending = plan.seq.increment > 0n;
  const extremes = plan.units.map((u) => extremeOf(u, ascending));
  // The extremes first, then the sequence: the extremes are read in the audit's snapshot, the sequence as
  // it is now, which a concurrent insert only moves further ahead. Two queries, so that --plan (which runs
  // a read of a sequence alone and EXPLAINs one of a table) plans the table reads.
  const read = await db.query<{ extremes: (string | null)[] }>(
    `SELECT ARRAY[${extremes.map((e) => `${e}::pg_catalog.text`).join(', ')}]::pg_catalog.text[] AS extremes`,
  );
  const res = await db.query<{ last_value: string; is_called: boolean }>(
    `SELECT s.last_value::pg_catalog.text AS last_value, s.is_called FROM ${qualifiedName(plan.seq.schema, plan.seq.name)} AS s`,
  );
  const row = res.rows[0];
  if (!row) throw new Error(`sequence ${displayName(plan.seq.schema, plan.seq.name)} returned no row`);
  // A query without FROM returns one row; none only under --plan, where the extremes were not read.
  const extremeTexts = read.rows[0]?.extremes ?? [];
  const lastValue = BigInt(row.last_value);
  const next = row.is_called ? lastValue + plan.seq.increment : lastValue;
  const units: UnitResult[] = [];
  for (const [i, unit] of plan.units.entries()) {
    const text = extremeTexts[i];
    const extreme = text === null || text === undefined ? null : BigInt(text);
    const behind = extreme !== null && (ascending ? next <= extreme : next >= extreme);
    const result: UnitResult = { unit, read: true, extreme, behind, taken: null, takenCapped: false };
    if (behind) Object.assign(result, await countTaken(db, unit, next, plan.seq.increment));
    units.push(result);
  }
  return { plan, lastValue, isCalled: row.is_called, next, units };
}

/** Rows already holding a value the sequence will hand out before it passes them, counted up to the cap. */
async function countTaken(db: Queryable, unit: Unit, next: bigint, increment: bigint): Promise<{ taken: number; takenCapped: boolean }> {
  const col = `t.${quoteIdent(unit.column.name)}`;
  const onStep =
    increment === 1n || increment === -1n
      ? ''
      : ` AND pg_catalog.mod(${col}::pg_catalog.numeric OPERATOR(pg_catalog.-) $1::pg_catalog.numeric, $2::pg_catalog.numeric) OPERATOR(pg_catalog.=) 0`;
  const res = await db.query<{ n: string }>(
    `SELECT pg_catalog.count(*)::pg_catalog.text AS n FROM (
       SELECT 1 FROM ${ownRows(unit.table)} AS t
        WHERE ${col} OPERATOR(pg_catalog.${increment > 0n ? '>=' : '<='}) $1::pg_catalog.int8${onStep}
        LIMIT ${TAKEN_CAP + 1}) AS x`,
    onStep ? [next.toString(), increment.toString()] : [next.toString()],
  );
  const n = Number(res.rows[0]?.n ?? 0);
  return n > TAKEN_CAP ? { taken: TAKEN_CAP, takenCapped: true } : { taken: n, takenCapped: false };
}

/** The fed column a finding is about: the identity or OWNED BY column when it is fed, else the first. */
function homeOf(plan: Plan): Unit {
  const owners = plan.seq.owners;
  return (
    plan.units.find((u) => owners.some((o) => o.schema === u.table.schema && o.table === u.table.name && o.column === u.column.name)) ??
    (plan.units[0] as Unit)
  );
}

/** The fed columns whose DEFAULT names the sequence as text without a schema: which sequence they draw from was assumed. */
function assumedUnits(units: Unit[]): { unit: Unit; text: string }[] {
  return units.flatMap((unit) => {
    const named = unit.call?.named;
    const text = namedByText(unit.call);
    return named?.status === 'found' && named.assumed !== null && text ? [{ unit, text }] : [];
  });
}

/** The details a fed column's entry carries when its DEFAULT names the sequence as text. */
function namedFields(unit: Unit): Record<string, boolean> {
  const named = unit.call?.named;
  return named?.status === 'found' ? { namedAsText: true, searchPathAssumed: named.assumed !== null } : {};
}

function makeFinding(ctx: Pick<CheckContext<unknown>, 'finding' | 'severity' | 'valuesAllowed'>, r: SequenceResult, original: Plan): Finding {
  const { seq } = r.plan;
  const ascending = seq.increment > 0n;
  const behind = r.units.filter((u) => u.behind);
  const extremes = behind.map((u) => u.extreme as bigint);
  const extreme = extremes.reduce((a, b) => (ascending ? (b > a ? b : a) : b < a ? b : a));
  const step = ascending ? seq.increment : -seq.increment;
  const valuesBehind = (ascending ? extreme - r.next : r.next - extreme) / step + 1n;
  const unique = behind.filter((u) => u.unit.uniqueIndex !== null);
  const taken = behind.reduce((n, u) => n + (u.taken ?? 0), 0);
  const capped = behind.some((u) => u.takenCapped);
  const seqName = displayName(seq.schema, seq.name);
  const object = findingObject(seq, original);
  const where = behind.map((u) => columnLabel(u.unit)).join(', ');
  const consequence =
    unique.length > 0
      ? `an insert that draws one of them fails with a duplicate key (${unique.map((u) => `unique index ${displayName(u.unit.uniqueIndex as string)} on ${columnLabel(u.unit)}`).join(', ')})`
      : `no unique index on the column alone stops it, so new rows silently repeat ids that exist`;
  const takenText = `${capped ? 'at least ' : ''}${taken} row(s) already hold one of them`;
  const assumed = assumedUnits(original.units);
  const assumedText = assumed.map((a) => `; ${columnLabel(a.unit)}: ${a.text}`).join('');
  const message = (withValues: boolean) =>
    `sequence ${seqName} is behind its data: its next value is ${r.next}, but ${where} already holds values ${ascending ? 'up to' : 'down to'} ${withValues ? extreme : 'beyond it'}, so the next ${valuesBehind} value(s) it hands out do not pass the data, and ${takenText}: ${consequence}${assumedText}`;
  const columns = (withValues: boolean) =>
    r.units.map((u) => ({
      schema: u.unit.table.schema,
      table: u.unit.table.name,
      column: u.unit.column.name,
      ...(withValues ? { [ascending ? 'max' : 'min']: u.extreme === null ? null : u.extreme.toString() } : {}),
      behind: u.behind,
      indexed: u.unit.indexed,
      uniqueIndex: u.unit.uniqueIndex,
      ...(u.behind ? { taken: u.taken, takenCapped: u.takenCapped } : {}),
      ...namedFields(u.unit),
    }));
  const details = (withValues: boolean) => ({
    sequence: { schema: seq.schema, name: seq.name },
    nextValue: r.next.toString(),
    lastValue: r.lastValue.toString(),
    isCalled: r.isCalled,
    increment: seq.increment.toString(),
    ...(withValues ? { [ascending ? 'max' : 'min']: extreme.toString() } : {}),
    valuesBehind: valuesBehind.toString(),
    taken,
    takenCapped: capped,
    columns: columns(withValues),
    notRead: original.units.filter((u) => !r.units.some((x) => x.unit === u)).map(columnLabel),
  });
  // The repair reads every fed column it can at apply time, also those the audit did not read.
  const repairUnits = original.units.filter((u) => !u.table.unreadable && u.table.rowSecurity.readableWhole);
  const exhausted = ascending ? extreme > seq.max - seq.increment : extreme < seq.min - seq.increment;
  const finding = ctx.finding({
    kind: 'behind',
    severity: unique.length > 0 ? ctx.severity : lowerSeverity(ctx.severity),
    message: message(true),
    object,
    count: Number(valuesBehind),
    details: details(true),
    repair: async () => setvalRepair(seq, repairUnits, extreme, exhausted, [...new Set(behind.flatMap((u) => u.unit.sharedWith))], assumed.map((a) => a.unit)),
  });
  if (!ctx.valuesAllowed(finding)) {
    finding.message = message(false);
    finding.details = details(false);
  }
  return finding;
}

/**
 * setval() past the data, computed when it runs. setval is not transactional, so the step runs after the
 * script's COMMIT (a concurrent step) under a guard that is true only while the sequence is behind;
 * `fix --verify` runs ALTER SEQUENCE ... RESTART instead, which its rollback undoes.
 */
function setvalRepair(seq: Sequence, units: Unit[], extreme: bigint, exhausted: boolean, shared: string[], assumed: Unit[]): Repair {
  const ascending = seq.increment > 0n;
  const qseq = qualifiedName(seq.schema, seq.name);
  const oid = relationOidLiteral(seq.schema, seq.name);
  const extremes = units.map((u) => extremeOf(u, ascending));
  const pick = ascending ? 'GREATEST' : 'LEAST';
  const nextExpr = `CASE WHEN s.is_called THEN s.last_value::pg_catalog.numeric OPERATOR(pg_catalog.+) p.seqincrement::pg_catalog.numeric ELSE s.last_value::pg_catalog.numeric END`;
  const guard = `SELECT coalesce((SELECT ${nextExpr} FROM ${qseq} AS s, pg_catalog.pg_sequence AS p WHERE p.seqrelid OPERATOR(pg_catalog.=) ${oid}) OPERATOR(pg_catalog.${ascending ? '<=' : '>='}) ${pick}(${extremes.join(', ')})::pg_catalog.numeric, false)`;
  const setval = `SELECT pg_catalog.setval(${oid}::pg_catalog.regclass, ${pick}(${extremes.join(', ')}, s.last_value), true) FROM ${qseq} AS s`;
  const label = displayName(seq.schema, seq.name);
  const columns = units.map(columnLabel).join(', ');
  const limit = ascending ? `MAXVALUE ${seq.max}` : `MINVALUE ${seq.min}`;
  const decisions = [
    ...(exhausted
      ? [`the data already reaches the sequence's ${limit}: after this setval the next nextval() fails (or the setval itself does); widen the sequence first (ALTER SEQUENCE ${qseq} AS pg_catalog.int8 ${ascending ? 'MAXVALUE' : 'MINVALUE'} ...)`]
      : []),
    ...(shared.length > 0
      ? [
          `${shared.join(', ')} draw${shared.length === 1 ? 's' : ''} from another source, and rows inserted through ${shared.length === 1 ? 'it' : 'them'} land in ${columns} too: the ${ascending ? 'largest' : 'smallest'} value there may be that source's, and moving ${label} past it can make both hand out the same values; check which rows are this sequence's before moving it`,
        ]
      : []),
    ...(assumed.length > 0
      ? [
          `the DEFAULT of ${assumed.map(columnLabel).join(', ')} names the sequence as text without a schema, so which sequence an insert draws from depends on the inserting session's search_path: ${label} is the one the assumed search_path finds; check the application's search_path (SHOW search_path in its session) before moving it`,
        ]
      : []),
  ];
  return {
    order: 20,
    summary: `move sequence ${label} past the ${ascending ? 'largest' : 'smallest'} value of ${columns}, computed when it runs (never backwards)`,
    steps: [
      {
        safety: decisions.length > 0 ? 'review' : 'safe',
        ...(decisions.length > 0 ? { decision: decisions.join('; ') } : {}),
        phase: 'concurrent',
        description: `setval ${label} to the ${ascending ? 'max' : 'min'} of ${columns} (or leave it where it is, if it is already past): setval cannot be rolled back, so it runs after COMMIT`,
        guard,
        sql: `${setval};`,
        statements: [setval],
        verifyStatements: [restartForVerify(seq, extreme + seq.increment)],
      },
    ],
  };
}

/**
 * What `fix --verify` runs for a setval: ALTER SEQUENCE ... RESTART, which its rollback undoes (setval
 * is not transactional). Only the sequence's owner (or a member of the owning role) may run it, so the
 * statement first says that, instead of a bare "must be owner", when the verifying role is not one.
 */
function restartForVerify(seq: Sequence, value: bigint): string {
  const qseq = qualifiedName(seq.schema, seq.name);
  const oid = relationOidLiteral(seq.schema, seq.name);
  const message = quoteLiteral(
    `needs the sequence's owner: fix --verify moves sequence ${displayName(seq.schema, seq.name)} with ALTER SEQUENCE ... RESTART (setval cannot be rolled back), which only its owner may run; verify as its owner or a member of that role`,
  );
  const body = `BEGIN
  IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) ${oid}), 'USAGE') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = ${message};
  END IF;
  ALTER SEQUENCE ${qseq} RESTART WITH ${value};
END`;
  let tag = 'integrity';
  for (let i = 0; body.includes(`$${tag}$`); i++) tag = `integrity_${i}`;
  return `DO $${tag}$ ${body} $${tag}$`;
}

/** The next value a sequence hands out, wrapping at its bound as a CYCLE sequence does, read when it runs. */
function nextValueExpr(seq: Sequence): string {
  const oid = relationOidLiteral(seq.schema, seq.name);
  const ascending = seq.increment > 0n;
  const stepped = `s.last_value::pg_catalog.numeric OPERATOR(pg_catalog.+) p.seqincrement::pg_catalog.numeric`;
  const wrapped = ascending
    ? `CASE WHEN ${stepped} OPERATOR(pg_catalog.>) p.seqmax::pg_catalog.numeric THEN p.seqmin::pg_catalog.numeric ELSE ${stepped} END`
    : `CASE WHEN ${stepped} OPERATOR(pg_catalog.<) p.seqmin::pg_catalog.numeric THEN p.seqmax::pg_catalog.numeric ELSE ${stepped} END`;
  return `(SELECT CASE WHEN s.is_called THEN ${wrapped} ELSE s.last_value::pg_catalog.numeric END FROM ${qualifiedName(seq.schema, seq.name)} AS s, pg_catalog.pg_sequence AS p WHERE p.seqrelid OPERATOR(pg_catalog.=) ${oid})`;
}

/** The column the finding sits on (the plan's home column), with the sequence that feeds it. */
function findingObject(seq: SequenceResult['plan']['seq'], original: Plan): FindingObject {
  const home = homeOf(original);
  return {
    schema: home.table.schema,
    table: home.table.name,
    column: home.column.name,
    sequence: seq.name,
    ...(seq.schema === home.table.schema ? {} : { sequenceSchema: seq.schema }),
  };
}

/** A CYCLE sequence whose very next value is taken: the next insert draws a used value now. */
function makeCycleFinding(ctx: Pick<CheckContext<unknown>, 'finding' | 'severity' | 'valuesAllowed'>, r: SequenceResult, original: Plan): Finding {
  const { seq } = r.plan;
  const run = r.cycleRun as NonNullable<SequenceResult['cycleRun']>;
  const holders = r.units.filter((u) => u.behind);
  const unique = holders.filter((u) => u.unit.uniqueIndex !== null);
  const seqName = displayName(seq.schema, seq.name);
  const object = findingObject(seq, original);
  const where = holders.map((u) => columnLabel(u.unit)).join(', ');
  const consequence =
    unique.length > 0
      ? `the next insert fails with a duplicate key (${unique.map((u) => `unique index ${displayName(u.unit.uniqueIndex as string)} on ${columnLabel(u.unit)}`).join(', ')})`
      : 'no unique index on the column alone stops it, so the next rows silently repeat ids that exist';
  const assumedText = assumedUnits(original.units).map((a) => `; ${columnLabel(a.unit)}: ${a.text}`).join('');
  const message = (withValues: boolean) =>
    `CYCLE sequence ${seqName} hands out a taken value next: ${withValues ? `its next value ${r.next} is` : 'its next value is'} already held in ${where}, and ${run.takenCapped ? 'at least ' : ''}${run.taken} value(s) in a row from it are taken: ${consequence}${assumedText}`;
  const details = (withValues: boolean) => ({
    sequence: { schema: seq.schema, name: seq.name },
    cycle: true,
    ...(withValues ? { nextValue: r.next.toString(), lastValue: r.lastValue.toString(), ...(run.last === null ? {} : { lastTaken: run.last.toString() }) } : {}),
    isCalled: r.isCalled,
    increment: seq.increment.toString(),
    taken: run.taken,
    takenCapped: run.takenCapped,
    columns: r.units.map((u) => ({
      schema: u.unit.table.schema,
      table: u.unit.table.name,
      column: u.unit.column.name,
      holdsNext: u.behind,
      indexed: u.unit.indexed,
      uniqueIndex: u.unit.uniqueIndex,
      ...namedFields(u.unit),
    })),
    notRead: original.units.filter((u) => !r.units.some((x) => x.unit === u)).map(columnLabel),
  });
  const finding = ctx.finding({
    kind: 'cycle-next-taken',
    severity: unique.length > 0 ? ctx.severity : lowerSeverity(ctx.severity),
    message: message(true),
    object,
    count: run.taken,
    details: details(true),
    repair: async () => cycleRepair(seq, r.units.map((u) => u.unit), run.last ?? r.next),
  });
  if (!ctx.valuesAllowed(finding)) {
    finding.message = message(false);
    finding.details = details(false);
  }
  return finding;
}

/** Review only: move a CYCLE sequence past the run of taken values at its next value, computed when it runs. */
function cycleRepair(seq: Sequence, units: Unit[], lastTaken: bigint): Repair {
  const oid = relationOidLiteral(seq.schema, seq.name);
  const label = displayName(seq.schema, seq.name);
  const columns = units.map(columnLabel).join(', ');
  const next = nextValueExpr(seq);
  const guard = `SELECT coalesce((SELECT ${takenBy(units, `${next}::pg_catalog.int8`)}), false)`;
  const setval = `SELECT pg_catalog.setval(${oid}::pg_catalog.regclass, q.last::pg_catalog.int8, true) FROM (${cycleRunQuery(seq, units, next)}) AS q WHERE q.last IS NOT NULL`;
  return {
    order: 20,
    summary: `move CYCLE sequence ${label} past the values of ${columns} taken in a row from its next value (needs review)`,
    steps: [
      {
        safety: 'review',
        decision: `${label} is a CYCLE sequence: it hands out values again after wrapping, by design, so it is not moved past the largest value (that would wrap it sooner into the values below); this skips only the taken values in a row from its next one (at most ${TAKEN_CAP}; run it again if more follow), and later values may be taken too: decide whether the rows holding them, a wider non-cycling sequence, or this skip is the fix${
          assumedUnits(units).length > 0
            ? `; the DEFAULT of ${assumedUnits(units).map((a) => columnLabel(a.unit)).join(', ')} names the sequence as text without a schema: ${label} is the one the assumed search_path finds, check the application's search_path first`
            : ''
        }`,
        phase: 'concurrent',
        description: `setval ${label} to the last of the taken values in a row from its next value: setval cannot be rolled back, so it runs after COMMIT`,
        guard,
        sql: `${setval};`,
        statements: [setval],
        verifyStatements: [restartForVerify(seq, lastTaken + seq.increment > seq.max || lastTaken + seq.increment < seq.min ? (seq.increment > 0n ? seq.min : seq.max) : lastTaken + seq.increment)],
      },
    ],
  };
}
