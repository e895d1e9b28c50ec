import { z } from 'zod';
import {
  defineCheck,
  displayName,
  findColumn,
  findTable,
  qualifiedName,
  quoteIdent,
  quoteLiteral,
  relationOidLiteral,
  type CheckContext,
  type Column,
  type Finding,
  type FindingObject,
  type Queryable,
  type Repair,
  type RepairStep,
  type Table,
} from '../src/index.js';
import {
  ancestorsOf,
  columnKey,
  namedByText,
  nextvalCalls,
  readSequences,
  type DefaultCall,
  type FedColumn,
  type IntType,
  type SequenceRecord,
} from './support/sequences.js';

const options = z
  .strictObject({
    warnAt: z.number().gt(0).lte(1).default(0.75).describe('share of the range used at which a sequence is reported (warning)'),
    errorAt: z.number().gt(0).lte(1).default(0.9).describe('share of the range used at which the finding becomes an error'),
  })
  .refine((o) => o.warnAt <= o.errorAt, { message: 'warnAt must not be greater than errorAt', path: ['warnAt'] });

type Options = z.infer<typeof options>;

const BOUNDS: Record<IntType, { min: bigint; max: bigint; sql: string }> = {
  int2: { min: -32768n, max: 32767n, sql: 'smallint' },
  int4: { min: -2147483648n, max: 2147483647n, sql: 'integer' },
  int8: { min: -9223372036854775808n, max: 9223372036854775807n, sql: 'bigint' },
};
const isIntType = (t: string | null | undefined): t is IntType => t === 'int2' || t === 'int4' || t === 'int8';

/** The shared reader's sequence, of an integer type, with the columns it feeds as this check reads them. */
interface Sequence extends Omit<SequenceRecord, 'type' | 'owners'> {
  type: IntType;
  feeds: Feeder[];
}

/** A column that takes its values from the sequence. */
interface Feeder {
  table: Table;
  column: Column;
  via: 'identity' | 'serial' | 'default';
  /** The column's integer type (after domains); null for a column of another type (numeric, text). */
  intType: IntType | null;
  /** The narrowest integer type an explicit cast in the DEFAULT passes nextval through, when narrower than the column. */
  castType: IntType | null;
  /** For a DEFAULT that names the sequence as text: what the finding says about how it was resolved. */
  byText?: string;
  /** That name was resolved through an assumed search_path. */
  assumed?: boolean;
}

/** One bound on the values the sequence can hand out and the columns can store. */
interface Limit {
  kind: 'sequence-bound' | 'sequence-type' | 'column-type' | 'default-cast';
  value: bigint;
  text: string;
  feeder?: Feeder;
}

interface Position {
  next: bigint;
  lo: bigint;
  hi: bigint;
  share: number;
  remaining: bigint;
  /** The limits the next values run into (several when equal). */
  binding: Limit[];
  /** Every limit on the side the sequence moves towards, tightest first. */
  limits: Limit[];
}

export default defineCheck({
  id: 'sequence-headroom',
  title: 'Sequences and identity columns close to their maximum',
  severity: 'warning',
  description: 'Sequences, identity and serial columns that have used most of their range, or whose sequence type caps a wider column.',
  docs: {
    finds:
      'Every sequence in the audited schemas (and any sequence elsewhere that feeds a column in them), extension-owned ones excepted, with the columns it feeds: identity columns (pg_depend `i`), and every column whose DEFAULT is `nextval(<constant regclass>)` (`nextval(16384::regclass)` too), possibly under integer casts (serial and OWNED BY columns, and defaults that name a sequence nothing owns), read from the stored default tree by function OID, by the same reader as sequence-behind-data\'s. A DEFAULT that names its sequence as text, `nextval(\'s\'::text)` (pre-8.1 dumps, some ORMs), feeds the sequence PostgreSQL would look up at insert time: a qualified name exactly; an unqualified one through the inserting session\'s search_path, which the catalog cannot know: assumed to be PostgreSQL\'s default `"$user", public` (pg_catalog first, `$user` any role with a schema of its name) unless ALTER DATABASE or ALTER ROLE ... SET search_path says otherwise, and the finding then says the column was matched by assumption (details.columns[].searchPathAssumed); a name that means different relations for different sessions feeds no sequence. ' +
      'A partition feeding from the same sequence as its parent is counted once, with the parent. The values the sequence may still hand out are bounded by the lowest of its MAXVALUE, the maximum of each fed column\'s integer type (smallint, integer, bigint; a domain by its base type) and any narrower integer cast in the DEFAULT (`nextval(...)::integer` on a bigint column keeps failing at 2^31-1 after an `ALTER ... TYPE bigint`); a descending sequence (negative INCREMENT) by the highest of its MINVALUE and those types\' minimums. ' +
      'The next value is `last_value + increment` once the sequence has been called, else `last_value`, read from the sequence itself (values cached by other sessions count as used). Used share = (next - low) / (high - low) over that range ([MINVALUE, limit] ascending, [limit, MAXVALUE] descending): the share of the range gone, not of the values since START. ' +
      'Findings, one per sequence, object = the sequence: `headroom` when the share is at least warnAt (default 0.75: the check\'s severity, warning) or errorAt (default 0.9: error), with details.nextValue, lowBound, highBound (the limit), share, remaining (nextval calls left) and binding (which limits bind: the sequence\'s MAXVALUE/MINVALUE, its type, a column\'s type, a DEFAULT\'s cast). ' +
      'A CYCLE sequence whose own bound binds does not fail there but wraps to MINVALUE and hands out values already used (a unique key then fails with 23505; a table that deleted those rows does not): `cycle-wrap`, `info`, at the same thresholds, only when it feeds a column; a CYCLE sequence feeding nothing is not reported, and one a column type caps first is a plain `headroom`. ' +
      '`sequence-type` (`info`), below warnAt: the sequence\'s type caps it below every integer column it feeds (an integer sequence feeding a bigint column, as after `ALTER TABLE ... TYPE bigint` on a serial column): nextval will fail with "reached maximum value of sequence" long before the column fills. The reverse, a bigint sequence feeding an integer column (every serial created before PostgreSQL 10, and their dumps), is not a defect by itself: the column type is then the binding limit, and `headroom` reports it when close. ' +
      'Columns in schemas that are not audited are not considered. Under --samples 0, or when samples.exclude matches the sequence (`schema.sequence`), details.nextValue and remaining and the message leave the position out; the share stays. ' +
      'A sequence the auditing role has neither SELECT nor USAGE on, one it has only USAGE on that has not handed out a value since its last setval (pg_sequence_last_value is then NULL, and the position unknown), and an unlogged sequence on a standby are object errors (the check ends `error`, its other findings stand), never a pass.',
    why: "'integer out of range' (22003) and 'nextval: reached maximum value of sequence' (2200H) are the same class of outage as the incident of an expression index that casts JSON text to int and meets `1.38` (22P02): every insert into the table fails at once, on a day nobody chose, and the fix (a table rewrite) is slowest exactly when it is needed.",
    fix:
      'Widen before the limit: `ALTER SEQUENCE ... AS bigint` (quick; PostgreSQL raises MAXVALUE with it only when it was the old type\'s default, and keeps an explicit one) and `ALTER TABLE ... ALTER COLUMN ... TYPE bigint` (rewrites the table and its indexes under ACCESS EXCLUSIVE; an identity column\'s sequence becomes bigint with it), and the same for every integer foreign-key column that references it. ' +
      'The repair (`headroom` and `sequence-type`; none for `cycle-wrap`, whose cycling may be intended) is review steps only, for the limits that bind and then the next ones while the share against them would still reach warnAt: the column changes first (at the inheritance or partition root; the foreign-key columns after), then `ALTER SEQUENCE ... AS bigint`, `ALTER SEQUENCE ... NO MAXVALUE` (NO MINVALUE descending) as a decision of its own when an explicit bound binds, and `SET DEFAULT nextval(...)` without the cast when a DEFAULT\'s cast binds. ' +
      'Each statement sits in a DO block that runs it only while the old type or bound is still there, so a second run changes nothing. The decisions name the views that block ALTER ... TYPE, a domain whose constraints TYPE bigint would drop, and the referencing columns.',
    bad: `CREATE TABLE events (id serial PRIMARY KEY, payload jsonb);      -- integer column, integer sequence
ALTER TABLE events ALTER COLUMN id TYPE bigint;                    -- the sequence is still AS integer`,
    good: `CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb);
-- or, for the table above:
ALTER SEQUENCE events_id_seq AS bigint;`,
  },
  options,
  async run(ctx) {
    const sequences = await loadSequences(ctx);
    const items = sequences.map((s) => ({ item: s, weight: 1, object: `sequence ${displayName(s.schema, s.name)}` }));
    const positions = await ctx.each(items, (s, db) => readNext(ctx, s, db));
    const findings: Finding[] = [];
    let unread = 0;
    sequences.forEach((s, i) => {
      const next = positions[i];
      if (next === undefined) {
        unread++;
        return;
      }
      const finding = judge(ctx, s, position(s, next));
      if (finding) findings.push(finding);
    });
    ctx.note(
      `examined ${sequences.length - unread} of ${sequences.length} sequences, feeding ${sequences.reduce((n, s) => n + s.feeds.length, 0)} columns`,
    );
    return findings;
  },
});

/**
 * Every sequence with its parameters and privileges and the audited columns it feeds, from the reading
 * both sequence checks share (no function that locks a relation is called; the DEFAULT trees come from
 * the catalog snapshot).
 */
async function loadSequences(ctx: CheckContext<Options>): Promise<Sequence[]> {
  const reading = await readSequences(ctx.db, ctx.catalog);
  const out: Sequence[] = [];
  for (const r of reading.sequences) {
    if (!isIntType(r.type)) continue;
    const seq: Sequence = {
      oid: r.oid,
      schema: r.schema,
      name: r.name,
      type: r.type,
      start: r.start,
      increment: r.increment,
      min: r.min,
      max: r.max,
      cycle: r.cycle,
      unlogged: r.unlogged,
      canSelect: r.canSelect,
      canUse: r.canUse,
      feeds: [],
    };
    seq.feeds = feedersOf(ctx, r, reading.feeds.get(r.oid) ?? []);
    if (ctx.catalog.schemas.includes(seq.schema) || seq.feeds.length > 0) out.push(seq);
  }
  return out;
}

/**
 * The audited columns the sequence feeds, a partition left out when a partitioned ancestor takes from
 * the same sequence (its column has the ancestor's type).
 */
function feedersOf(ctx: CheckContext<Options>, r: SequenceRecord, fed: FedColumn[]): Feeder[] {
  const owned = new Set(r.owners.filter((o) => o.deptype === 'a').map((o) => JSON.stringify([o.schema, o.table, o.column])));
  const found = fed.map((f) =>
    f.via === 'identity'
      ? feeder(f.table, f.column, 'identity', null, null)
      : feeder(f.table, f.column, owned.has(columnKey(f.table, f.column)) ? 'serial' : 'default', f.call?.castType ?? null, f.call),
  );
  const keys = new Set(found.map((f) => columnKey(f.table, f.column)));
  return found.filter((f) => !ancestorsOf(ctx.catalog, f.table).some((a) => keys.has(columnKey(a, f.column))));
}

function feeder(table: Table, column: Column, via: Feeder['via'], cast: IntType | null, call: DefaultCall | null): Feeder {
  const intType = isIntType(column.baseType) ? column.baseType : null;
  const castType = cast && (intType === null || BOUNDS[cast].max < BOUNDS[intType].max) ? cast : null;
  const byText = namedByText(call);
  return { table, column, via, intType, castType, ...(byText ? { byText, assumed: call?.named?.status === 'found' && call.named.assumed !== null } : {}) };
}

/**
 * Whether a DEFAULT is nextval() of this sequence, under nothing but casts: the narrowest integer type
 * an explicit cast passes it through. An implicit cast to the column's own type (a serial's int4(nextval))
 * is what ALTER ... TYPE strips, an explicit one it keeps.
 */
export function nextvalOf(tree: string, seqOid: string): { castType: IntType | null } | null {
  const call = nextvalCalls(tree).find((c) => c.castsOnly);
  return call && call.oids.includes(seqOid) ? { castType: call.castType } : null;
}

/** The value the next nextval() returns, read from the sequence (one object: its failure costs it alone). */
async function readNext(ctx: CheckContext<Options>, s: Sequence, db: Queryable): Promise<bigint> {
  const name = displayName(s.schema, s.name);
  if (s.unlogged && ctx.catalog.inRecovery) throw new Error(`${name} is an unlogged sequence, which a standby does not have: audit the primary`);
  if (s.canSelect) {
    const res = await db.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::pg_catalog.text AS last_value, is_called FROM ${qualifiedName(s.schema, s.name)}`,
    );
    const row = res.rows[0];
    if (!row) throw new Error(`${name} returned no row`);
    return row.is_called ? BigInt(row.last_value) + s.increment : BigInt(row.last_value);
  }
  const grant = `grant SELECT on it (GRANT SELECT ON SEQUENCE ${qualifiedName(s.schema, s.name)} TO ...) or pg_read_all_data to the auditing role`;
  if (!s.canUse) throw new Error(`the auditing role has neither SELECT nor USAGE on sequence ${name}, so its position is unknown: ${grant}`);
  // With USAGE alone only the last value handed out is visible, and only once the sequence has been called.
  const res = await db.query<{ last_value: string | null }>(
    `SELECT pg_catalog.pg_sequence_last_value($1::pg_catalog.oid::pg_catalog.regclass)::pg_catalog.text AS last_value`,
    [s.oid],
  );
  const last = res.rows[0]?.last_value ?? null;
  if (last === null) throw new Error(`the auditing role has USAGE but not SELECT on sequence ${name}, which has not handed out a value since its last setval, so its next value is unknown: ${grant}`);
  return BigInt(last) + s.increment;
}

function columnLabel(f: Feeder): string {
  return displayName(f.table.schema, f.table.name, f.column.name);
}

/** The limits on each side: the sequence's own bound (or type) and each fed column's type and cast. */
function limitsOf(s: Sequence): { upper: Limit[]; lower: Limit[] } {
  const seqName = displayName(s.schema, s.name);
  const upper: Limit[] = [
    s.max === BOUNDS[s.type].max
      ? { kind: 'sequence-type', value: s.max, text: `the type of sequence ${seqName} (${BOUNDS[s.type].sql})` }
      : { kind: 'sequence-bound', value: s.max, text: `the MAXVALUE of sequence ${seqName}` },
  ];
  const lower: Limit[] = [
    s.min === BOUNDS[s.type].min
      ? { kind: 'sequence-type', value: s.min, text: `the type of sequence ${seqName} (${BOUNDS[s.type].sql})` }
      : { kind: 'sequence-bound', value: s.min, text: `the MINVALUE of sequence ${seqName}` },
  ];
  for (const f of s.feeds) {
    if (f.intType) {
      const text = `the type of column ${columnLabel(f)} (${f.column.type})`;
      upper.push({ kind: 'column-type', value: BOUNDS[f.intType].max, text, feeder: f });
      lower.push({ kind: 'column-type', value: BOUNDS[f.intType].min, text, feeder: f });
    }
    if (f.castType) {
      const text = `the DEFAULT of ${columnLabel(f)}, which casts nextval to ${BOUNDS[f.castType].sql}`;
      upper.push({ kind: 'default-cast', value: BOUNDS[f.castType].max, text, feeder: f });
      lower.push({ kind: 'default-cast', value: BOUNDS[f.castType].min, text, feeder: f });
    }
  }
  upper.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  lower.sort((a, b) => (a.value > b.value ? -1 : a.value < b.value ? 1 : 0));
  return { upper, lower };
}

/** Where the next value sits in the range every limit leaves, measured in the direction the sequence moves. */
export function measure(next: bigint, increment: bigint, lo: bigint, hi: bigint): { share: number; remaining: bigint } {
  const ascending = increment > 0n;
  const span = hi - lo;
  const gone = ascending ? next - lo : hi - next;
  const left = ascending ? hi - next : next - lo;
  const remaining = left < 0n ? 0n : left / (ascending ? increment : -increment) + 1n;
  if (span <= 0n) return { share: 1, remaining };
  const share = gone <= 0n ? 0 : gone >= span ? 1 : Number(gone) / Number(span);
  return { share, remaining };
}

function position(s: Sequence, next: bigint): Position {
  const { upper, lower } = limitsOf(s);
  const hi = (upper[0] as Limit).value;
  const lo = (lower[0] as Limit).value;
  const ascending = s.increment > 0n;
  const limits = ascending ? upper : lower;
  const bound = ascending ? hi : lo;
  const { share, remaining } = measure(next, s.increment, lo, hi);
  return { next, lo, hi, share, remaining, binding: limits.filter((l) => l.value === bound), limits };
}

/**
 * The limits a repair must lift so the sequence is no longer near one: the binding ones, then the next
 * tightest while the share against it would still be at warnAt or more.
 */
function limitsToLift(s: Sequence, p: Position, warnAt: number): Limit[] {
  const ascending = s.increment > 0n;
  const lifted: Limit[] = [];
  const limits = p.limits.filter((l) => ascending ? l.value < BOUNDS.int8.max : l.value > BOUNDS.int8.min);
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i] as Limit;
    if (lifted.length > 0 && l.value !== (lifted[lifted.length - 1] as Limit).value) {
      const { share } = ascending ? measure(p.next, s.increment, p.lo, l.value) : measure(p.next, s.increment, l.value, p.hi);
      if (share < warnAt) break;
    }
    lifted.push(l);
  }
  return lifted;
}

const percent = (share: number) => `${(Math.floor(share * 1000) / 10).toFixed(1)}%`;

function judge(ctx: CheckContext<Options>, s: Sequence, p: Position): Finding | null {
  const { warnAt, errorAt } = ctx.options;
  const ascending = s.increment > 0n;
  const seqName = displayName(s.schema, s.name);
  const object: FindingObject = { schema: s.schema, table: s.name };
  const bindsOwn = p.binding.some((l) => l.kind === 'sequence-bound' || l.kind === 'sequence-type');
  const columns = s.feeds.map((f) => ({
    schema: f.table.schema,
    table: f.table.name,
    column: f.column.name,
    type: f.column.type,
    via: f.via,
    ...(f.byText ? { namedAsText: true, searchPathAssumed: f.assumed === true } : {}),
  }));
  // How a DEFAULT that names the sequence as text was taken to mean this one.
  const byText = s.feeds.filter((f) => f.byText).map((f) => `; ${columnLabel(f)}: ${f.byText}`).join('');
  const feedsText = s.feeds.length === 0 ? 'feeding no audited column' : `feeding ${s.feeds.map((f) => `${columnLabel(f)} (${f.column.type}, ${f.via})`).join(', ')}`;
  const details = (values: boolean) => ({
    sequence: { schema: s.schema, name: s.name, type: BOUNDS[s.type].sql, start: String(s.start), increment: String(s.increment), min: String(s.min), max: String(s.max), cycle: s.cycle },
    columns,
    ...(values ? { nextValue: String(p.next), remaining: String(p.remaining) } : {}),
    lowBound: String(p.lo),
    highBound: String(p.hi),
    // Rounded, but never up to 1 while values remain.
    share: p.share < 1 ? Math.min(Math.round(p.share * 10000) / 10000, 0.9999) : 1,
    direction: ascending ? 'ascending' : 'descending',
    binding: p.binding.map((l) => ({ kind: l.kind, limit: String(l.value), ...(l.feeder ? { column: l.feeder.column.name, table: l.feeder.table.name, schema: l.feeder.table.schema } : {}) })),
    warnAt,
    errorAt,
  });
  const bound = ascending ? p.hi : p.lo;
  const bindingText = p.binding.map((l) => l.text).join(' and ');
  const failure = bindsOwn ? `nextval fails with "reached ${ascending ? 'maximum' : 'minimum'} value of sequence"` : 'inserts fail with "integer out of range"';

  let kind: string;
  let severity: 'error' | 'info' | undefined;
  let message: (values: boolean) => string;
  if (p.share >= warnAt && !(s.cycle && bindsOwn)) {
    kind = 'headroom';
    severity = p.share >= errorAt ? 'error' : undefined;
    message = (values) =>
      `sequence ${seqName} (${BOUNDS[s.type].sql}, ${feedsText}) has used ${percent(p.share)} of its range up to ${bound} (${bindingText})` +
      (values ? `: next value ${p.next}, ${p.remaining} left` : '') +
      `; then ${failure}${byText}`;
  } else if (p.share >= warnAt && s.feeds.length > 0) {
    kind = 'cycle-wrap';
    severity = 'info';
    message = (values) =>
      `CYCLE sequence ${seqName} (${feedsText}) has used ${percent(p.share)} of its range up to ${bound} (${bindingText})` +
      (values ? `: next value ${p.next}, ${p.remaining} left` : '') +
      `; then it wraps to ${ascending ? s.min : s.max} and hands out values already used, which a unique key rejects (23505) unless their rows are gone${byText}`;
  } else if (typeCaps(s)) {
    kind = 'sequence-type';
    severity = 'info';
    const wider = s.feeds.filter((f) => f.intType);
    message = () =>
      `sequence ${seqName} is ${BOUNDS[s.type].sql} but feeds ${wider.map((f) => `${columnLabel(f)} (${f.column.type})`).join(', ')}: it stops at ${bound} with "reached ${ascending ? 'maximum' : 'minimum'} value of sequence" (${percent(p.share)} used), long before the column${wider.length === 1 ? '' : 's'} would${byText}`;
  } else return null;

  const lift = kind === 'sequence-type' ? p.limits.filter((l) => l.kind === 'sequence-type') : limitsToLift(s, p, warnAt);
  const finding = ctx.finding({
    kind,
    ...(severity ? { severity } : {}),
    message: message(true),
    object,
    count: null,
    details: details(true),
    ...(kind === 'cycle-wrap' ? {} : { repair: async (_f: Finding, db: Queryable) => widen(ctx, db, s, lift) }),
  });
  if (!ctx.valuesAllowed(finding)) {
    finding.message = message(false);
    finding.details = details(false);
  }
  return finding;
}

/** The sequence's type (its default bound) is below every integer column it feeds, on the side it moves to. */
function typeCaps(s: Sequence): boolean {
  const ints = s.feeds.filter((f) => f.intType);
  if (ints.length === 0 || s.type === 'int8') return false;
  const ascending = s.increment > 0n;
  const own = BOUNDS[s.type];
  if (ascending ? s.max !== own.max : s.min !== own.min) return false;
  return ints.every((f) => {
    const limit = f.castType ?? (f.intType as IntType);
    return ascending ? BOUNDS[limit].max > own.max : BOUNDS[limit].min < own.min;
  });
}

/** A regclass literal for a DEFAULT: the text regclass's own reader takes (it knows no U&"..."). */
function regclassLiteral(schema: string, name: string): string {
  const part = (p: string) => `"${p.replace(/"/g, '""')}"`;
  return `${quoteLiteral(`${part(schema)}.${part(name)}`)}::pg_catalog.regclass`;
}

/** The foreign-key columns that reference a column, on the root of a partition tree. */
function referencing(ctx: CheckContext<Options>, f: Feeder): { table: Table; column: Column }[] {
  const out = new Map<string, { table: Table; column: Column }>();
  for (const fk of ctx.catalog.foreignKeys) {
    if (fk.refSchema !== f.table.schema || fk.refTable !== f.table.name) continue;
    const at = fk.refColumns.indexOf(f.column.name);
    const childColumn = fk.columns[at];
    if (at < 0 || childColumn === undefined) continue;
    let table = findTable(ctx.catalog, fk.schema, fk.table);
    while (table?.partitionOf) table = findTable(ctx.catalog, table.partitionOf.schema, table.partitionOf.name) ?? table;
    const column = table && findColumn(table, childColumn);
    if (!table || !column || column.baseType === 'int8' || !isIntType(column.baseType)) continue;
    out.set(JSON.stringify([table.schema, table.name, column.name]), { table, column });
  }
  return [...out.values()];
}

/** Views and rules that read a column: ALTER ... TYPE refuses to run until they are dropped. */
async function viewsUsing(db: Queryable, f: Feeder): Promise<string[]> {
  const res = await db.query<{ schema: string; view: string }>(
    `SELECT DISTINCT vn.nspname AS schema, v.relname AS view
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class t ON t.oid = a.attrelid
       JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
       JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum
            AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
       JOIN pg_catalog.pg_class v ON v.oid = r.ev_class AND v.oid <> t.oid
       JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
      WHERE tn.nspname = $1 AND t.relname = $2 AND a.attname = $3
      ORDER BY 1, 2`,
    [f.table.schema, f.table.name, f.column.name],
  );
  return res.rows.map((r) => displayName(r.schema, r.view));
}

/**
 * A statement that runs only while the old state is in place, so that running the repair again changes
 * nothing (a second ALTER ... TYPE bigint would still rebuild a partitioned table's indexes). The
 * dollar-quote tag is one that the body does not contain, whatever the names in it.
 */
function guarded(condition: string, statement: string): string {
  let tag = 'integrity';
  for (let i = 0; `${condition}${statement}`.includes(`$${tag}$`); i++) tag = `integrity_${i}`;
  return `DO $${tag}$ BEGIN\n  IF ${condition} THEN\n    ${statement}\n  END IF;\nEND $${tag}$;`;
}

const INT8 = `'pg_catalog.int8'::pg_catalog.regtype::pg_catalog.oid`;

function columnTypeIsNot8(schema: string, table: string, column: string): string {
  return `(SELECT a.atttypid FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) ${relationOidLiteral(schema, table)} AND a.attname OPERATOR(pg_catalog.=) ${quoteLiteral(column)} AND NOT a.attisdropped) OPERATOR(pg_catalog.<>) ${INT8}`;
}

function sequenceFact(s: Sequence, column: 'seqtypid' | 'seqmax' | 'seqmin'): string {
  return `(SELECT s.${column} FROM pg_catalog.pg_sequence s WHERE s.seqrelid OPERATOR(pg_catalog.=) ${relationOidLiteral(s.schema, s.name)})`;
}

function alterColumnType(table: Table, column: Column): string {
  return guarded(
    columnTypeIsNot8(table.schema, table.name, column.name),
    `ALTER TABLE ${qualifiedName(table.schema, table.name)} ALTER COLUMN ${quoteIdent(column.name)} TYPE bigint;`,
  );
}

const REWRITE =
  'rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE (every read and write of it waits; plan the time for its size, or migrate through a new column and a trigger instead); on a logically replicated table change the subscriber first';

/** How many parents each column is inherited from (pg_attribute.attinhcount): ALTER ... TYPE must start at the top. */
async function inheritance(db: Queryable, columns: { table: Table; column: Column }[]): Promise<number[]> {
  if (columns.length === 0) return [];
  const res = await db.query<{ i: number; n: number }>(
    `SELECT k.i::pg_catalog.int4 AS i, a.attinhcount::pg_catalog.int4 AS n
       FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) WITH ORDINALITY AS k(c, i)
       JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) (k.c OPERATOR(pg_catalog.->>) 0)
       JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname OPERATOR(pg_catalog.=) (k.c OPERATOR(pg_catalog.->>) 1)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attname OPERATOR(pg_catalog.=) (k.c OPERATOR(pg_catalog.->>) 2)`,
    [JSON.stringify(columns.map((c) => [c.table.schema, c.table.name, c.column.name]))],
  );
  const out = columns.map(() => 0);
  for (const r of res.rows) out[r.i - 1] = r.n;
  return out;
}

const INHERITED =
  'the column is inherited from a parent table, so ALTER ... TYPE fails here unless a step above changed the parent (it recurses to its children, and this step then does nothing)';

async function widenColumn(ctx: CheckContext<Options>, db: Queryable, f: Feeder, inherited: boolean): Promise<RepairStep[]> {
  const children = referencing(ctx, f);
  const childInheritance = await inheritance(db, children);
  children.sort((x, y) => (childInheritance[children.indexOf(x)] ?? 0) - (childInheritance[children.indexOf(y)] ?? 0));
  const views = await viewsUsing(db, f);
  const notes = [
    REWRITE,
    ...(inherited ? [INHERITED] : []),
    ...(f.column.type !== BOUNDS[f.intType as IntType].sql ? [`the column's type is ${f.column.type}, a domain: TYPE bigint drops the domain's constraints from it; create a domain over bigint and use that instead`] : []),
    ...(views.length > 0 ? [`views ${views.join(', ')} read the column: ALTER ... TYPE fails until they are dropped and recreated in the same transaction`] : []),
    ...(children.length > 0 ? [`the foreign-key columns ${children.map((c) => displayName(c.table.schema, c.table.name, c.column.name)).join(', ')} reference it and need the same change (the steps below), or they cannot hold the new values`] : []),
  ];
  const steps: RepairStep[] = [
    {
      safety: 'review',
      phase: 'transaction',
      description: `change ${columnLabel(f)} to bigint${f.via === 'identity' ? ' (its identity sequence becomes bigint with it)' : ''}`,
      decision: notes.join('; '),
      sql: alterColumnType(f.table, f.column),
    },
  ];
  for (const [i, c] of children.entries()) {
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `change the referencing column ${displayName(c.table.schema, c.table.name, c.column.name)} to bigint`,
      decision: (childInheritance[i] ?? 0) > 0 ? `${REWRITE}; ${INHERITED}` : REWRITE,
      sql: alterColumnType(c.table, c.column),
    });
  }
  return steps;
}

/** Review steps that lift the given limits: the columns first (an identity sequence follows its column), then the sequence. */
async function widen(ctx: CheckContext<Options>, db: Queryable, s: Sequence, lift: Limit[]): Promise<Repair | null> {
  const seq = qualifiedName(s.schema, s.name);
  const seqName = displayName(s.schema, s.name);
  const ascending = s.increment > 0n;
  const steps: RepairStep[] = [];
  const done = new Set<Feeder>();
  for (const l of lift) if (l.kind === 'column-type' && l.feeder) done.add(l.feeder);
  // Parents before inheritance children: the parent's ALTER recurses, and the child's guard then finds bigint.
  const columns = [...done];
  const depth = await inheritance(db, columns.map((f) => ({ table: f.table, column: f.column })));
  const order = columns.map((f, i) => ({ f, n: depth[i] ?? 0 })).sort((x, y) => x.n - y.n);
  for (const { f, n } of order) steps.push(...(await widenColumn(ctx, db, f, n > 0)));
  for (const l of lift) {
    if (l.kind !== 'default-cast' || !l.feeder) continue;
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `drop the integer cast from the DEFAULT of ${columnLabel(l.feeder)}`,
      decision:
        `the DEFAULT casts nextval to ${BOUNDS[l.feeder.castType as IntType].sql}, which fails past that type's range whatever the column's type; check nothing relies on the cast` +
        (l.feeder.byText ? `; the DEFAULT now names the sequence as text, looked up at every insert: the new one names ${seqName} itself, whatever the inserting session's search_path` : ''),
      sql: `ALTER TABLE ${qualifiedName(l.feeder.table.schema, l.feeder.table.name)} ALTER COLUMN ${quoteIdent(l.feeder.column.name)} SET DEFAULT pg_catalog.nextval(${regclassLiteral(s.schema, s.name)});`,
    });
  }
  const identityWidened = [...done].some((f) => f.via === 'identity');
  if (s.type !== 'int8' && lift.some((l) => l.kind === 'sequence-type') && !identityWidened) {
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `make sequence ${seqName} bigint`,
      decision: `quick (no table rewrite), but nextval on it waits for the lock meanwhile; PostgreSQL moves ${ascending ? 'MAXVALUE' : 'MINVALUE'} to bigint's only when it was ${BOUNDS[s.type].sql}'s default`,
      sql: guarded(`${sequenceFact(s, 'seqtypid')} OPERATOR(pg_catalog.<>) ${INT8}`, `ALTER SEQUENCE ${seq} AS bigint;`),
    });
  }
  if (lift.some((l) => l.kind === 'sequence-bound')) {
    const bound = ascending ? s.max : s.min;
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `remove the explicit ${ascending ? 'MAXVALUE' : 'MINVALUE'} ${bound} of sequence ${seqName}`,
      decision: `someone set ${ascending ? 'MAXVALUE' : 'MINVALUE'} ${bound} on purpose (a range kept apart for another system or shard?): lift it only if nothing relies on it, or set another bound instead`,
      sql: guarded(
        `${sequenceFact(s, ascending ? 'seqmax' : 'seqmin')} OPERATOR(pg_catalog.=) ${quoteLiteral(String(bound))}::pg_catalog.int8`,
        `ALTER SEQUENCE ${seq} ${ascending ? 'NO MAXVALUE' : 'NO MINVALUE'};`,
      ),
    });
  }
  // A bigint sequence near bigint's own end has nothing left to widen to.
  if (steps.length === 0) return null;
  return {
    order: 60,
    summary: `lift what caps sequence ${seqName}: ${steps.map((st) => st.description).join('; ')} (needs review: ${steps.some((st) => st.sql.includes(' TYPE bigint;')) ? 'rewrites a table' : 'no table rewrite'})`,
    steps,
  };
}
