import { z } from 'zod';
import {
  btreeIndexLeading,
  indexesOf,
  copyToQuarantine,
  createQuarantineTable,
  defineCheck,
  displayName,
  globToRegExp,
  literal,
  moveToQuarantine,
  ownRows,
  qualifiedName,
  QUARANTINE_SCHEMA,
  quarantineFor,
  quoteIdent,
  restoreStatement,
  restoreValuesStatement,
  sampleKeyExpr,
  scaleCount,
  tableKey,
  tableSample,
  userCodeFiredBy,
  type Catalog,
  type CheckContext,
  type Column,
  type Finding,
  type ForeignKey,
  type Queryable,
  type Repair,
  type Table,
} from '../src/index.js';

export const DEFAULT_PLACEHOLDERS = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'];

export { KNOWN_CONVENTIONS, type PlaceholderConvention } from './support/conventions.js';
import { KNOWN_CONVENTIONS } from './support/conventions.js';

/**
 * One placeholder (one spelling) in at least this share of a column's non-null rows, in at least
 * CONSTANT_MIN_ROWS rows, in a column nothing refers to, is taken for a constant by design (a single-tenant
 * `tenant_id`, say) and reported as `info` without a repair. Fewer rows than that prove nothing: two broken
 * inserts are 100% of a new table.
 */
export const CONSTANT_SHARE = 0.95;
export const CONSTANT_MIN_ROWS = 10;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'citext']);

const options = z.strictObject({
  /** Values that stand for "no real id". Compared case-insensitively; only UUID-shaped ones apply to uuid columns. */
  values: z
    .array(z.string().min(1))
    .min(1, 'expected at least one placeholder value')
    .default(DEFAULT_PLACEHOLDERS)
    .transform((vs) => [...new Set(vs.map((v) => v.toLowerCase()))]),
  conventions: z
    .array(z.string().min(1, 'expected a glob on schema.table.column'))
    .optional()
    .describe(
      'Columns that hold a placeholder by design, as globs on schema.table.column (e.g. "myschema.*.tenant_id"), added to the built-in list (integrity explain placeholder-uuid). Not reported unless a foreign key, a declared relation or a referenced key involves them.',
    ),
});

type Options = z.infer<typeof options>;

/** How a column's values are compared: as uuids, as the elements of a uuid[], or as case-folded text. */
type Shape = 'uuid' | 'uuid[]' | 'text';

/**
 * What a placeholder in the column means, which decides severity and repair:
 * - `reference`: a foreign key or declared relation (even if also part of the primary key, as in a join
 *   table): the row is a child pointing at a placeholder;
 * - `parent`: the whole primary key, referenced by nothing of its own: a fake parent row;
 * - `referenced-key`: a key that foreign keys or declared relations point at;
 * - `value`: nothing refers to it.
 */
type Role = 'reference' | 'parent' | 'referenced-key' | 'value';

interface ColumnPlan {
  column: Column;
  shape: Shape;
  role: Role;
  /** Foreign keys or declared relations point at it. */
  referenced: boolean;
  /** The foreign key that makes it a reference, when one does. */
  fk: ForeignKey | undefined;
  /** The declared relation that makes it a reference, when one does (and no foreign key). */
  relation: string | undefined;
  /** The convention pattern it matches, if any. */
  convention: string | undefined;
}

interface ColumnHits {
  plan: ColumnPlan;
  /** Rows holding a placeholder, each once, as read (before --sample scaling). */
  rows: number;
  /** Rows holding each placeholder spelling (an array may hold several). */
  byValue: Map<string, number>;
  samples: string[];
}

function isIdentifierName(name: string): boolean {
  return name === 'id' || /_id$/i.test(name) || /Id$/.test(name);
}

function shapeOf(column: Column): Shape | null {
  if (column.baseType === 'uuid') return 'uuid';
  if (column.baseType === '_uuid') return 'uuid[]';
  if (TEXT_TYPES.has(column.baseType) && isIdentifierName(column.name)) return 'text';
  return null;
}

/** uuid and uuid[] columns, and text/varchar/citext columns named like identifiers (`id`, `*_id`, `*Id`). */
export function isIdentifierColumn(column: Column): boolean {
  return shapeOf(column) !== null;
}

/** The text spellings of a UUID applications write: canonical, in braces, without dashes. */
function spellings(value: string): string[] {
  if (!UUID_RE.test(value)) return [value];
  const bare = value.replace(/-/g, '');
  return [value, `{${value}}`, bare, `{${bare}}`];
}

function valuesFor(options: Options, shape: Shape): string[] {
  return shape === 'text' ? [...new Set(options.values.flatMap(spellings))] : options.values.filter((v) => UUID_RE.test(v));
}

function conventionPatterns(options: Options): { pattern: string; re: RegExp }[] {
  return [...KNOWN_CONVENTIONS.map((c) => c.column), ...(options.conventions ?? [])].map((pattern) => ({ pattern, re: globToRegExp(pattern) }));
}

/** Partitions' keys mapped to the partitioned table that is scanned for them (their topmost parent). */
function partitionRoots(catalog: Catalog): Map<string, string> {
  const parents = new Map(catalog.partitions.map((p) => [tableKey(p.schema, p.name), p.partitionOf]));
  const roots = new Map<string, string>();
  for (const key of parents.keys()) {
    let root = key;
    for (let up = parents.get(root); up; up = parents.get(root)) root = tableKey(up.schema, up.name);
    roots.set(key, root);
  }
  return roots;
}

/** Who refers to what, indexed once per run by the scanned table's key (a partition's rows count on its root). */
interface ReferenceIndex {
  /** Foreign keys declared on the table or on any of its partitions. */
  foreignKeysOf: Map<string, ForeignKey[]>;
  /** Columns of the table (or of its partitions) that foreign keys point at. */
  referencedColumns: Map<string, Set<string>>;
  relations: CheckContext<Options>['relations'];
}

function indexReferences(ctx: CheckContext<Options>): ReferenceIndex {
  const roots = partitionRoots(ctx.catalog);
  const rootOf = (schema: string, table: string) => roots.get(tableKey(schema, table)) ?? tableKey(schema, table);
  const foreignKeysOf = new Map<string, ForeignKey[]>();
  const referencedColumns = new Map<string, Set<string>>();
  for (const fk of ctx.catalog.foreignKeys) {
    const child = rootOf(fk.schema, fk.table);
    const parent = rootOf(fk.refSchema, fk.refTable);
    if (!foreignKeysOf.has(child)) foreignKeysOf.set(child, []);
    if (!referencedColumns.has(parent)) referencedColumns.set(parent, new Set());
    foreignKeysOf.get(child)?.push(fk);
    for (const c of fk.refColumns) referencedColumns.get(parent)?.add(c);
  }
  return { foreignKeysOf, referencedColumns, relations: ctx.relations };
}

/** Whether a relation's end names the table: without a schema, it can be any table of that name. */
function relationEndIs(end: { schema?: string | undefined; table: string }, table: Table): boolean {
  return end.table === table.name && (end.schema === undefined || end.schema === table.schema);
}

function planColumn(refs: ReferenceIndex, table: Table, column: Column, shape: Shape, conventions: { pattern: string; re: RegExp }[]): ColumnPlan {
  const key = tableKey(table.schema, table.name);
  // A foreign key declared on a partition alone applies to rows the scan of its partitioned table reads.
  const fks = (refs.foreignKeysOf.get(key) ?? []).filter((fk) => fk.columns.includes(column.name));
  const fk = fks.find((f) => f.table === table.name && f.schema === table.schema) ?? fks[0];
  const relation = refs.relations.find((r) => relationEndIs(r, table) && r.columns.includes(column.name));
  const referenced =
    (refs.referencedColumns.get(key)?.has(column.name) ?? false) ||
    refs.relations.some((r) => relationEndIs(r.references, table) && r.references.columns.includes(column.name));
  const wholePrimaryKey = table.primaryKey?.length === 1 && table.primaryKey[0] === column.name;
  const role: Role = fk || relation ? 'reference' : wholePrimaryKey ? 'parent' : referenced ? 'referenced-key' : 'value';
  const name = `${table.schema}.${table.name}.${column.name}`;
  return {
    column,
    shape,
    role,
    referenced,
    fk,
    relation: fk || !relation ? undefined : (relation.name ?? `relation ${relation.table}(${relation.columns.join(', ')})`),
    convention: conventions.find((c) => c.re.test(name))?.pattern,
  };
}

/** A convention is honoured only where nothing refers through the column: no reference, nothing pointing at it. */
function honouredConvention(plan: ColumnPlan): boolean {
  return plan.convention !== undefined && plan.role !== 'reference' && !plan.referenced;
}

interface TableScan {
  table: Table;
  plans: ColumnPlan[];
  /** An index lookup of one indexed uuid column, rather than a scan of the table. */
  lookup: boolean;
}

export default defineCheck({
  id: 'placeholder-uuid',
  title: 'Placeholder UUIDs standing in for real ids',
  severity: 'error',
  description: 'Id columns holding a placeholder such as the nil UUID instead of a real id, and columns whose DEFAULT is one.',
  docs: {
    finds: `Every uuid and uuid[] column, and every text/varchar/citext column named \`id\` or ending in \`_id\`/\`Id\`, holding a placeholder value (by default the nil UUID 00000000-0000-0000-0000-000000000000 and the max UUID ffffffff-ffff-ffff-ffff-ffffffffffff; configurable). Text columns match the spellings in braces and without dashes too, case-insensitively; a uuid[] matches when an element is a placeholder; each row counts once per column. One finding per column, with the count and sample primary keys, saying what the column is: a foreign key or declared relation (a child pointing at a placeholder, also when the column is part of a composite primary key), a primary key (a placeholder parent row, made so that foreign keys pointing at it pass), a key others reference, or a plain value. Also columns whose DEFAULT is a placeholder. One scan per table covers all of its columns; an inheritance parent is read without its children (each row is counted on the table that holds it), a partitioned table through its partitions.

Constants by design are not defects. A column nothing refers to (no foreign key, relation or referenced key) whose non-null rows hold one placeholder (one spelling) in at least ${CONSTANT_SHARE * 100}% of at least ${CONSTANT_MIN_ROWS} rows is reported as info, without a repair. Columns of these known conventions are not reported at all (add your own with the \`conventions\` option, globs on schema.table.column):
${KNOWN_CONVENTIONS.map((c) => `- ${c.column} (${c.source}): ${c.why}`).join('\n')}`,
    why: "In the incident behind this check, a model had no pricing row; when the pricing lookup failed, the code returned the provider id '00000000-0000-0000-0000-000000000000' and carried on; the ledger insert then failed on its foreign key. Where a fake parent row with the nil UUID exists, such rows are accepted and silently attributed to nobody.",
    fix: 'Fail instead of falling back. A nullable foreign key holding a placeholder is set to NULL after its rows are copied to the quarantine (destructive); any other column (a declared relation\'s too) is left for review, since NULL can mean something else to the application than the placeholder did. NOT NULL columns (a join table\'s key, say) need the real id from a person. A placeholder parent row is deleted (quarantined) only while nothing references it. Placeholder DEFAULTs are dropped (review).',
    bad: `INSERT INTO token_usage_ledger (provider_id, credits)
VALUES ('00000000-0000-0000-0000-000000000000', 12);  -- "unknown provider"`,
    good: `-- no fallback: the caller gets an error and nothing is written
INSERT INTO token_usage_ledger (provider_id, credits)
SELECT id, 12 FROM providers WHERE name = 'openai';`,
  },
  options,
  samplesTables: true,
  async run(ctx) {
    const plan = planScans(ctx);
    const { batches, alone } = batchSmallTables(ctx.catalog, plan.scans);
    // Small tables are read many to a query: on a schema of thousands of tables the round trips, not the
    // rows, are the cost. A batch that fails (a lock timeout on one table, say) is read again table by table,
    // so that the failure costs only the table that caused it.
    const batched = await ctx.each(
      batches.map((batch) => ({
        item: batch,
        weight: batch.reduce((n, scan) => n + Math.max(1, scan.table.estimatedRows), 0),
        object: `${batch.length} small tables from ${displayName((batch[0] as TableScan).table.schema, (batch[0] as TableScan).table.name)}`,
      })),
      async (batch, db) => {
        ctx.progress(displayName((batch[0] as TableScan).table.schema, (batch[0] as TableScan).table.name));
        const hits = await readHitsOf(ctx, batch, db);
        const out: Finding[] = [];
        for (const [i, scan] of batch.entries()) out.push(...(await findingsOf(ctx, scan.table, hits[i] ?? [], db)));
        return out;
      },
      () => null,
    );
    const retried = batches.filter((_, i) => batched[i] === null).flat();
    const found = await ctx.each(
      [...alone, ...retried].map((scan) => ({
        item: scan,
        weight: scan.lookup ? 1 : Math.max(0, scan.table.estimatedRows),
        object: scan.lookup ? displayName(scan.table.schema, scan.table.name, (scan.plans[0] as ColumnPlan).column.name) : displayName(scan.table.schema, scan.table.name),
      })),
      async (scan, db) => {
        ctx.progress(displayName(scan.table.schema, scan.table.name));
        return scanTable(ctx, scan, db);
      },
    );
    ctx.note(
      [
        `scanned ${plan.scans.filter((x) => !x.lookup).length} tables and looked up ${plan.scans.filter((x) => x.lookup).length} indexed columns, ${plan.columnsChecked} id columns in all, for ${ctx.options.values.join(', ')}`,
        ...(plan.byConvention.length > 0 ? [`not reported, by convention: ${plan.byConvention.join(', ')}`] : []),
        ...(plan.unreadable.length > 0 ? [`not read: ${plan.unreadable.join(', ')}`] : []),
      ].join('; '),
    );
    return [...plan.defaults, ...batched.flatMap((f) => f ?? []), ...found.flatMap((f) => f ?? [])];
  },
});

/** A table read in a batch with others: at most this many pages by the statistics (1 MB of 8 kB pages). */
const SMALL_TABLE_PAGES = 128;
const SMALL_TABLE_ROWS = 20_000;
/**
 * Per batch: at most this many pages, and this many relations locked. Planning a query locks each table
 * it reads and every index of each (ACCESS SHARE), until the batch is done. The shared lock table holds
 * max_locks_per_transaction (64 by default) times max_connections; past its 16 fast-path slots a backend
 * takes from it, so a batch of 128 takes at most 112, and --jobs 4 of them 448 of the default 6,400.
 */
const BATCH_PAGES = 1024;
const BATCH_LOCKS = 128;

/**
 * Groups the scans of small plain tables into batches; lookups, large tables and partitioned ones (whose
 * size is their partitions') are read alone. By the statistics: a table larger than they say (never
 * analyzed since a bulk load, say) is still read whole and exactly, only in a batch, whose failure (a
 * statement timeout) sends its tables to be read one by one.
 */
function batchSmallTables(catalog: Catalog, scans: TableScan[]): { batches: TableScan[][]; alone: TableScan[] } {
  const alone: TableScan[] = [];
  const batches: TableScan[][] = [];
  let current: TableScan[] = [];
  let pages = 0;
  let locks = 0;
  for (const scan of scans) {
    const small = !scan.lookup && scan.table.kind === 'table' && scan.table.pages <= SMALL_TABLE_PAGES && scan.table.estimatedRows <= SMALL_TABLE_ROWS;
    const relations = 1 + indexesOf(catalog, scan.table).length;
    if (!small || relations > BATCH_LOCKS / 2) {
      alone.push(scan);
      continue;
    }
    if (pages + scan.table.pages > BATCH_PAGES || locks + relations > BATCH_LOCKS) {
      batches.push(current);
      current = [];
      pages = 0;
      locks = 0;
    }
    current.push(scan);
    pages += scan.table.pages;
    locks += relations;
  }
  if (current.length > 0) batches.push(current);
  // A batch of one is a table read alone.
  return { batches: batches.filter((b) => b.length > 1), alone: [...alone, ...batches.filter((b) => b.length === 1).flat()] };
}

interface ScanPlan {
  scans: TableScan[];
  /** Placeholder DEFAULT findings, known from the catalog alone. */
  defaults: Finding[];
  columnsChecked: number;
  /** Columns left out by a convention, for the note. */
  byConvention: string[];
  /** Tables this audit cannot read at all, with why, for the note. */
  unreadable: string[];
}

/** Which columns of which tables to scan, from the catalog; conventions honoured are left out. */
function planScans(ctx: CheckContext<Options>): ScanPlan {
  const refs = indexReferences(ctx);
  const conventions = conventionPatterns(ctx.options);
  const out: ScanPlan = { scans: [], defaults: [], columnsChecked: 0, byConvention: [], unreadable: [] };
  for (const table of ctx.catalog.tables) {
    const plans = table.columns.flatMap((column) => {
      const shape = shapeOf(column);
      return shape ? [planColumn(refs, table, column, shape, conventions)] : [];
    });
    out.columnsChecked += plans.length;
    out.byConvention.push(...plans.filter(honouredConvention).map((p) => displayName(table.schema, table.name, p.column.name)));
    const checked = plans.filter((p) => !honouredConvention(p));
    out.defaults.push(...placeholderDefaults(ctx, table, checked));
    const scanned = checked.filter((p) => valuesFor(ctx.options, p.shape).length > 0);
    if (scanned.length === 0) continue;
    if (table.unreadable) {
      out.unreadable.push(`${displayName(table.schema, table.name)} (${table.unreadable})`);
      continue;
    }
    // A uuid column with a btree index of its own is answered by probing the index for each placeholder
    // (what a query per column gets for free); the table is scanned only for the columns left, if any.
    const lookups = ctx.samplePercent === null ? scanned.filter((p) => p.shape === 'uuid' && btreeIndexLeading(ctx.catalog, table, [p.column.name])) : [];
    for (const p of lookups) out.scans.push({ table, plans: [p], lookup: true });
    const rest = scanned.filter((p) => !lookups.includes(p));
    if (rest.length > 0) out.scans.push({ table, plans: rest, lookup: false });
  }
  return out;
}

function placeholderDefaults(ctx: CheckContext<Options>, table: Table, plans: ColumnPlan[]): Finding[] {
  const out: Finding[] = [];
  for (const { column } of plans) {
    const constants = column.defaultConstants.map((c) => c.toLowerCase());
    const value = ctx.options.values.find((v) => constants.includes(v));
    if (!value) continue;
    const shown = `'${value}'${column.baseType === 'uuid' ? '::uuid' : ''}`;
    out.push(
      ctx.finding({
        kind: 'default',
        severity: 'warning',
        message: `${displayName(table.schema, table.name, column.name)} defaults to the placeholder ${value} (DEFAULT ${shown}): every insert that omits it writes a fake id`,
        object: { schema: table.schema, table: table.name, column: column.name },
        count: null,
        details: { placeholder: value },
        repair: async () => ({
          order: 35,
          summary: `drop the placeholder DEFAULT of ${displayName(table.schema, table.name, column.name)}`,
          steps: [
            {
              safety: 'review',
              phase: 'transaction',
              description: `drop the DEFAULT ${shown}`,
              decision: 'inserts that omit the column will then write NULL (or fail if it is NOT NULL): make sure the application sets it',
              sql: `ALTER TABLE ${qualifiedName(table.schema, table.name)} ALTER COLUMN ${quoteIdent(column.name)} DROP DEFAULT;`,
            },
          ],
        }),
      }),
    );
  }
  return out;
}

/** Writes an array of values into the SQL: as a bound parameter in the scan, as a literal in repairs. */
type Bind = (values: readonly (string | number)[], type: string) => string;

const inline: Bind = (values, type) => `ARRAY[${values.map((v) => (typeof v === 'number' ? String(v) : literal(v))).join(', ')}]::${type}`;

// Everything is schema-qualified: the audit runs with search_path = pg_catalog, pg_temp and the repairs in
// whatever session the user runs them, where a user-defined lower() or = must not be picked up. Domains are
// cast to their base type so that its own operators apply.
function matchTest(plan: ColumnPlan, alias: string, values: string[], bind: Bind): string {
  const ref = `${alias}.${quoteIdent(plan.column.name)}`;
  if (plan.shape === 'uuid') return `${ref}::pg_catalog.uuid OPERATOR(pg_catalog.=) ANY (${bind(values, 'pg_catalog.uuid[]')})`;
  if (plan.shape === 'uuid[]') return `${ref}::pg_catalog.uuid[] OPERATOR(pg_catalog.&&) ${bind(values, 'pg_catalog.uuid[]')}`;
  return textTest(ref, values, bind, plan.column.deterministicCollation);
}

/**
 * Case-insensitive comparison of a text column (citext is compared as text, so its extension's schema never
 * matters). lower() is the costly part of the scan, so when every value is made of hex digits, dashes and
 * braces (the UUID spellings), a byte-length test runs first: no other character lowers to one of those, so
 * a value of another length cannot match.
 */
function textTest(ref: string, values: string[], bind: Bind, deterministic: boolean): string {
  const compare = `pg_catalog.lower(${ref}::pg_catalog.text) OPERATOR(pg_catalog.=) ANY (${bind(values, 'pg_catalog.text[]')})`;
  // Under a nondeterministic collation, strings of other lengths can compare equal.
  if (!deterministic || !values.every((v) => /^[0-9a-f{}-]+$/.test(v))) return compare;
  const lengths = [...new Set(values.map((v) => v.length))];
  return `(pg_catalog.octet_length(${ref}::pg_catalog.text) OPERATOR(pg_catalog.=) ANY (${bind(lengths, 'pg_catalog.int4[]')}) AND ${compare})`;
}

/**
 * The placeholders a matching row holds in the column, as text[]. Spellings are told apart byte by byte
 * (COLLATE "C"): under a nondeterministic collation two of them compare equal, and each would otherwise
 * carry the count of both.
 */
function heldValues(plan: ColumnPlan, alias: string, values: string[], bind: Bind): string {
  const ref = `${alias}.${quoteIdent(plan.column.name)}`;
  if (plan.shape === 'uuid') return `ARRAY[${ref}::pg_catalog.text COLLATE pg_catalog."C"]`;
  if (plan.shape === 'uuid[]') {
    return `ARRAY(SELECT DISTINCT u.e::pg_catalog.text COLLATE pg_catalog."C" FROM pg_catalog.unnest(${ref}::pg_catalog.uuid[]) AS u(e)
                   WHERE u.e OPERATOR(pg_catalog.=) ANY (${bind(values, 'pg_catalog.uuid[]')}) ORDER BY 1)`;
  }
  return `ARRAY[pg_catalog.lower(${ref}::pg_catalog.text) COLLATE pg_catalog."C"]`;
}

/** One scan of the table's own rows on `db` (any of the audit's connections), for all of its id columns. */
async function scanTable(ctx: CheckContext<Options>, { table, plans }: TableScan, db: Queryable): Promise<Finding[]> {
  return findingsOf(ctx, table, (await readHitsOf(ctx, [{ table, plans }], db))[0] ?? [], db);
}

async function findingsOf(ctx: CheckContext<Options>, table: Table, hits: ColumnHits[], db: Queryable): Promise<Finding[]> {
  // One value only: a column holding both the nil and the max UUID is not a constant of anything.
  const candidates = hits.filter((h) => h.plan.role === 'value' && h.byValue.size === 1 && scaleCount(h.rows, ctx.samplePercent) >= CONSTANT_MIN_ROWS);
  const nonNull = await countNonNull(ctx, table, candidates.map((h) => h.plan.column), db);
  return hits.map((h) => {
    const rowsWithValue = nonNull.get(h.plan.column.name);
    const constant = rowsWithValue !== undefined && h.rows >= CONSTANT_SHARE * rowsWithValue ? { share: h.rows / rowsWithValue, nonNullRows: scaleCount(rowsWithValue, ctx.samplePercent) } : null;
    return placeholderFinding(ctx, table, h, constant);
  });
}

/** A table's matching rows, one record per matching column, tagged `tag` (its place in a batch). */
function hitsSelect(ctx: CheckContext<Options>, table: Table, plans: ColumnPlan[], bind: Bind, tag: number): string {
  const columns = plans.map((plan, i) => {
    const values = valuesFor(ctx.options, plan.shape);
    return { i, test: matchTest(plan, 't', values, bind), held: heldValues(plan, 't', values, bind) };
  });
  const sampleExpr = table.primaryKey ? sampleKeyExpr('t', table.primaryKey) : 't.ctid::pg_catalog.text';
  const sampleOrder = table.primaryKey ? table.primaryKey.map((c) => `t.${quoteIdent(c)}`).join(', ') : 't.ctid';
  return `SELECT ${Number(tag)}::pg_catalog.int4 AS tbl, v.i, v.held, (${sampleExpr})::pg_catalog.text AS sample,
              pg_catalog.row_number() OVER (PARTITION BY v.i ORDER BY ${sampleOrder}) AS ord
         FROM ${ownRows(table)} AS t${tableSample(ctx.samplePercent)}
        CROSS JOIN LATERAL (VALUES ${columns.map((c) => `(${c.i}, CASE WHEN ${c.test} THEN ${c.held} END)`).join(', ')}) AS v(i, held)
        WHERE v.held IS NOT NULL AND (${columns.map((c) => c.test).join(' OR ')})`;
}

/**
 * The hits of several tables in one query (one branch per table): per table and column, the rows holding
 * a placeholder, each once, with the first samples in key order; then the rows holding each spelling.
 */
async function readHitsOf(ctx: CheckContext<Options>, scans: { table: Table; plans: ColumnPlan[] }[], db: Queryable): Promise<ColumnHits[][]> {
  const params: unknown[] = [];
  const bind: Bind = (value, type) => {
    params.push(value);
    return `$${params.length}::${type}`;
  };
  const branches = scans.map((scan, tag) => hitsSelect(ctx, scan.table, scan.plans, bind, tag));
  params.push(ctx.sampleSize);
  const sampleLimit = `$${params.length}::pg_catalog.int4`;
  // A row yields one record per matching column, so the first branch counts each row once per column; the
  // second counts the rows holding each spelling.
  const res = await db.query<{ tbl: number; i: number; val: string | null; n: string; samples: string[] | null }>(
    `WITH hits AS MATERIALIZED (
       ${branches.join('\n     UNION ALL\n       ')}
     )
     SELECT tbl, i, NULL::pg_catalog.text AS val, pg_catalog.count(*) AS n,
            pg_catalog.array_agg(sample ORDER BY ord) FILTER (WHERE ord OPERATOR(pg_catalog.<=) ${sampleLimit}) AS samples
       FROM hits GROUP BY tbl, i
     UNION ALL
     SELECT h.tbl, h.i, u.val COLLATE pg_catalog."C", pg_catalog.count(*), NULL
       FROM hits AS h CROSS JOIN LATERAL pg_catalog.unnest(h.held) AS u(val)
      GROUP BY h.tbl, h.i, u.val COLLATE pg_catalog."C"
     ORDER BY 1, 2, 3 NULLS FIRST`,
    params,
  );
  const byColumn = scans.map(() => new Map<number, ColumnHits>());
  for (const r of res.rows) {
    const plans = scans[r.tbl]?.plans;
    const columns = byColumn[r.tbl];
    if (!plans || !columns) continue;
    const entry = columns.get(r.i) ?? { plan: plans[r.i] as ColumnPlan, rows: 0, byValue: new Map<string, number>(), samples: [] };
    if (r.val === null) {
      entry.rows = Number(r.n);
      entry.samples = r.samples ?? [];
    } else {
      entry.byValue.set(r.val, Number(r.n));
    }
    columns.set(r.i, entry);
  }
  return byColumn.map((columns) => [...columns.entries()].sort((a, b) => a[0] - b[0]).map(([, entry]) => entry));
}

/** Non-null rows of each column, read from the same pages as the hits (--sample is repeatable). */
async function countNonNull(ctx: CheckContext<Options>, table: Table, columns: Column[], db: Queryable): Promise<Map<string, number>> {
  if (columns.length === 0) return new Map();
  const res = await db.query<Record<string, string>>(
    `SELECT ${columns.map((c, i) => `pg_catalog.count(t.${quoteIdent(c.name)}) AS n${i}`).join(', ')}
       FROM ${ownRows(table)} AS t${tableSample(ctx.samplePercent)}`,
  );
  const row = res.rows[0] ?? {};
  return new Map(columns.map((c, i) => [c.name, Number(row[`n${i}`] ?? 0)]));
}

function roleText(plan: ColumnPlan, isPrimaryKey: boolean): string {
  const fk = plan.fk;
  switch (plan.role) {
    case 'reference': {
      const via = fk ? `foreign key ${displayName(fk.name)} to ${displayName(fk.refSchema, fk.refTable)}` : `declared ${plan.relation ?? 'relation'}`;
      return isPrimaryKey ? `${via}, part of the primary key: child rows pointing at a placeholder` : via;
    }
    case 'parent':
      return 'primary key: a placeholder parent row, made so that foreign keys pointing at it pass';
    case 'referenced-key':
      return 'a key that foreign keys or declared relations point at';
    case 'value':
      return 'no foreign key, relation or key refers to it';
  }
}

function placeholderFinding(ctx: CheckContext<Options>, table: Table, hits: ColumnHits, constant: { share: number; nonNullRows: number } | null): Finding {
  const { plan } = hits;
  const column = plan.column;
  const total = scaleCount(hits.rows, ctx.samplePercent);
  const about = ctx.samplePercent === null ? '' : 'about ';
  const isPrimaryKey = table.primaryKey?.includes(column.name) ?? false;
  const fk = plan.fk;
  const values = [...hits.byValue.keys()].sort();
  const rows = `${about}${total} ${total === 1 ? 'row' : 'rows'} of ${displayName(table.schema, table.name)} ${total === 1 ? 'holds' : 'hold'} the placeholder ${values.join(' / ')} in ${displayName(column.name)}`;
  const message = constant
    ? `${rows}: ${Math.round(constant.share * 100)}% of its ${constant.nonNullRows} non-null rows and ${roleText(plan, isPrimaryKey)}, so a constant by design rather than a missing id (list it in conventions to stop this note)`
    : `${rows} (${roleText(plan, isPrimaryKey)})`;
  return ctx.finding({
    kind: constant ? 'placeholder-constant' : plan.role === 'parent' ? 'placeholder-parent' : 'placeholder-value',
    ...(constant ? { severity: 'info' as const } : {}),
    message,
    object: {
      schema: table.schema,
      table: table.name,
      column: column.name,
      ...(fk
        ? { constraint: fk.name, references: { schema: fk.refSchema, table: fk.refTable, columns: [fk.refColumns[fk.columns.indexOf(column.name)] as string] } }
        : {}),
    },
    count: total,
    ...(ctx.samplePercent === null ? {} : { estimated: true }),
    samples: hits.samples,
    details: {
      role: constant ? 'constant' : plan.role,
      byValue: Object.fromEntries([...hits.byValue.entries()].sort()),
      primaryKey: isPrimaryKey,
      foreignKey: fk ? fk.name : null,
      ...(plan.relation ? { relation: plan.relation } : {}),
      // Named when a convention matched but was not honoured, because something refers through the column.
      ...(plan.convention ? { convention: plan.convention } : {}),
      ...(constant ? { constant: { share: Number(constant.share.toFixed(4)), nonNullRows: constant.nonNullRows } } : {}),
      sampleKey: table.primaryKey ?? 'ctid',
    },
    // A constant by design has nothing to repair.
    ...(constant
      ? {}
      : {
          repair: async (finding: Finding, repairDb: Queryable) =>
            plan.role === 'parent' ? removePlaceholderParent(ctx, table, plan, finding, repairDb) : clearPlaceholders(ctx, table, plan, finding, repairDb),
        }),
  });
}

function placeholderCondition(ctx: CheckContext<Options>, plan: ColumnPlan, alias: string): string {
  return matchTest(plan, alias, valuesFor(ctx.options, plan.shape), inline);
}

/**
 * The column without its placeholders: NULL; for a uuid[], the array without its placeholder elements, or,
 * where it has more than one dimension (array_remove cannot keep its shape), with NULL in their place.
 */
function clearedValue(ctx: CheckContext<Options>, plan: ColumnPlan): string {
  if (plan.shape !== 'uuid[]') return 'NULL';
  const array = `${quoteIdent(plan.column.name)}::pg_catalog.uuid[]`;
  const values = valuesFor(ctx.options, plan.shape).map((v) => `${literal(v)}::pg_catalog.uuid`);
  const removed = values.reduce((expr, v) => `pg_catalog.array_remove(${expr}, ${v})`, array);
  const replaced = values.reduce((expr, v) => `pg_catalog.array_replace(${expr}, ${v}, NULL)`, array);
  return `CASE WHEN pg_catalog.array_ndims(${array}) OPERATOR(pg_catalog.>) 1 THEN ${replaced} ELSE ${removed} END`;
}

async function clearPlaceholders(ctx: CheckContext<Options>, table: Table, plan: ColumnPlan, finding: Finding, db: Queryable): Promise<Repair> {
  const column = plan.column;
  // ONLY: an inheritance parent's statement must not reach its children's rows, whose quarantine copy
  // would lack their own columns; they have findings of their own.
  const source = ownRows(table);
  const where = placeholderCondition(ctx, plan, 't');
  const label = displayName(table.schema, table.name, column.name);
  const isArray = plan.shape === 'uuid[]';
  if (column.notNull && !isArray) {
    return {
      order: 30,
      summary: `${label} is NOT NULL: the placeholder must be replaced by the real id, which only a person can supply`,
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `replace the placeholder in ${finding.count} row(s) of ${label}`,
          decision:
            plan.role === 'reference' && (table.primaryKey?.includes(column.name) ?? false)
              ? 'these are child rows whose key includes the reference: supply the real id, or delete the rows that should not exist'
              : 'supply the real id for these rows (or make the column nullable and set NULL)',
          sql: `UPDATE ${source} AS t SET ${quoteIdent(column.name)} = /* the real id */ NULL WHERE ${where};`,
        },
      ],
    };
  }
  // A sensitive table: its rows are changed, not deleted, so the key and the cleared column are all the restore needs.
  const partial = table.primaryKey && ctx.sensitiveTable(table.schema, table.name) ? [...new Set([...table.primaryKey, column.name])] : undefined;
  const quarantine = await quarantineFor(db, table, finding.fingerprint, partial);
  const what = isArray ? `remove the placeholder elements from ${displayName(column.name)} (NULL them in multidimensional arrays)` : `set ${displayName(column.name)} to NULL`;
  const clear = `${copyToQuarantine(quarantine, source, where, 'placeholder-uuid', finding.fingerprint)}\nUPDATE ${source} AS t SET ${quoteIdent(column.name)} = ${clearedValue(ctx, plan)} WHERE ${where};`;
  if (!table.primaryKey) {
    return {
      order: 30,
      summary: `${displayName(table.schema, table.name)} has no primary key: clearing the placeholders could not be undone row by row`,
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `copy the ${finding.count} row(s) to the quarantine, then ${what}`,
          decision: 'add a primary key first, or accept that the quarantine copy cannot be matched back to its row',
          sql: `${createQuarantineTable(quarantine, table)}\n${clear}`,
        },
      ],
    };
  }
  const restore = [
    restoreValuesStatement(quarantine, source, table, [column.name], finding.fingerprint),
  ];
  // Only a foreign key's placeholder surely means "no parent", which NULL says properly. Elsewhere (a
  // declared relation included: the database never held it to that) the application may rely on the value,
  // as Supabase looks users up by instance_id = the nil UUID: a person decides. So too for a foreign key of
  // one partition only: the statement on the partitioned table would reach the other partitions' rows.
  const ownForeignKey = plan.fk !== undefined && plan.fk.schema === table.schema && plan.fk.table === table.name;
  // An UPDATE trigger or rule would change rows that the quarantine does not hold.
  const fired = ownForeignKey && !isArray ? await userCodeFiredBy(db, [{ table, event: 'update' }]) : [];
  if (fired.length > 0) {
    return {
      order: 30,
      summary: `${what} in ${label} would fire ${fired.join(', ')}: left for review`,
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `copy the ${finding.count} row(s) to the quarantine, then ${what}`,
          decision: `the update would fire ${fired.join(', ')}, whose changes the quarantine would not hold: read them first`,
          sql: `${createQuarantineTable(quarantine, table)}\n${clear}`,
        },
      ],
      restore,
    };
  }
  if (!ownForeignKey || isArray) {
    return {
      order: 30,
      summary: `${what} in ${label}, after copying the rows to the ${QUARANTINE_SCHEMA} schema, if nothing relies on the placeholder`,
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `copy the ${finding.count} row(s) to the quarantine, then ${what}`,
          decision:
            plan.role === 'referenced-key'
              ? 'other rows refer to this key: repoint or remove them first'
              : 'no foreign key says the placeholder means "no parent": make sure no code looks rows up by it, or reads it as a value',
          sql: `${createQuarantineTable(quarantine, table)}\n${clear}`,
        },
      ],
      restore,
    };
  }
  return {
    order: 30,
    summary: `set ${label} to NULL where it holds a placeholder, after copying the rows to the ${QUARANTINE_SCHEMA} schema`,
    steps: [
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${displayName(table.schema, table.name)}`, sql: createQuarantineTable(quarantine, table) },
      { safety: 'destructive', phase: 'transaction', description: `copy the ${finding.count} row(s) to the quarantine, then ${what}`, sql: clear },
    ],
    restore,
  };
}

/**
 * `r.child` equals `t.parent`: natively for uuids; otherwise as lower-case text, which finds at least every
 * reference the column's own equality would (citext's, say), so the guard errs towards keeping the row.
 */
function refersTo(childRef: string, child: Column | undefined, parentRef: string, parent: Column): string {
  if (child?.baseType === 'uuid' && parent.baseType === 'uuid') return `${childRef}::pg_catalog.uuid OPERATOR(pg_catalog.=) ${parentRef}::pg_catalog.uuid`;
  return `pg_catalog.lower(${childRef}::pg_catalog.text) OPERATOR(pg_catalog.=) pg_catalog.lower(${parentRef}::pg_catalog.text)`;
}

/**
 * Every table that refers to the row: foreign keys into any of its columns (a key on another unique
 * column refers to the same row, and its cascade would take rows with it), and declared relations.
 */
function referrers(ctx: CheckContext<Options>, table: Table, column: Column): { table: string; column: Column | undefined; columnName: string; label: string; match?: string }[] {
  const out: { table: string; column: Column | undefined; columnName: string; label: string; match?: string }[] = [];
  for (const fk of ctx.catalog.foreignKeys) {
    if (fk.refSchema !== table.schema || fk.refTable !== table.name) continue;
    const child = ctx.catalog.tables.find((t) => t.schema === fk.schema && t.name === fk.table) ?? ctx.catalog.partitions.find((t) => t.schema === fk.schema && t.name === fk.table);
    const label = `${displayName(fk.schema, fk.table)} (${fk.name})`;
    if (!fk.refColumns.includes(column.name)) {
      // Compared as the key compares them (its own operators), column by column.
      const match = fk.columns
        .map((c, i) => {
          const eq = fk.equality[i];
          const parent = `t.${quoteIdent(fk.refColumns[i] as string)}`;
          const ref = `r.${quoteIdent(c)}`;
          return eq ? `${eq.parentCast ? `(${parent})::${eq.parentCast}` : parent} ${eq.operator} ${eq.childCast ? `(${ref})::${eq.childCast}` : ref}` : `${parent} OPERATOR(pg_catalog.=) ${ref}`;
        })
        .join(' AND ');
      out.push({ table: qualifiedName(fk.schema, fk.table), column: undefined, columnName: fk.columns[0] as string, label, match });
      continue;
    }
    const columnName = fk.columns[fk.refColumns.indexOf(column.name)] as string;
    // Without ONLY: rows of inheritance children count too, which only makes the guard stricter.
    out.push({ table: qualifiedName(fk.schema, fk.table), column: child?.columns.find((c) => c.name === columnName), columnName, label });
  }
  for (const rel of ctx.relations) {
    if (!relationEndIs(rel.references, table) || !rel.references.columns.includes(column.name)) continue;
    const columnName = rel.columns[rel.references.columns.indexOf(column.name)] as string;
    for (const child of ctx.catalog.tables.filter((t) => relationEndIs(rel, t))) {
      out.push({ table: qualifiedName(child.schema, child.name), column: child.columns.find((c) => c.name === columnName), columnName, label: `${displayName(child.schema, child.name)} (${rel.name ?? 'declared relation'})` });
    }
  }
  return out;
}

async function removePlaceholderParent(ctx: CheckContext<Options>, table: Table, plan: ColumnPlan, finding: Finding, db: Queryable): Promise<Repair> {
  const column = plan.column;
  const source = ownRows(table);
  const where = placeholderCondition(ctx, plan, 't');
  const uses: string[] = [];
  const guards: string[] = [];
  for (const referrer of referrers(ctx, table, column)) {
    const match = referrer.match ?? refersTo(`r.${quoteIdent(referrer.columnName)}`, referrer.column, `t.${quoteIdent(column.name)}`, column);
    guards.push(`NOT EXISTS (SELECT 1 FROM ${referrer.table} AS r WHERE ${match})`);
    const n = await db.query<{ n: string }>(`SELECT pg_catalog.count(*) AS n FROM ${source} AS t JOIN ${referrer.table} AS r ON ${match} WHERE ${where}`);
    const count = Number(n.rows[0]?.n ?? 0);
    if (count > 0) uses.push(`${count} row(s) of ${referrer.label}`);
  }
  const label = displayName(table.schema, table.name);
  const quarantine = await quarantineFor(db, table, finding.fingerprint);
  const guarded = [where, ...guards].join('\n   AND ');
  const fired = await userCodeFiredBy(db, [{ table, event: 'delete' }]);
  if (fired.length > 0) uses.push(`the delete would fire ${fired.join(', ')}, whose changes the quarantine would not hold`);
  if (uses.length > 0) {
    return {
      order: 45,
      summary: `the placeholder row of ${label} is still referenced by ${uses.join(', ')}`,
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `delete the placeholder row of ${label}, quarantined first`,
          decision: `first repoint or remove what references it: ${uses.join(', ')}`,
          sql: `${createQuarantineTable(quarantine, table)}\n${moveToQuarantine(quarantine, source, guarded, 'placeholder-uuid', finding.fingerprint)}`,
        },
      ],
    };
  }
  return {
    order: 45,
    summary: `delete the unreferenced placeholder row of ${label}, keeping a copy in the ${QUARANTINE_SCHEMA} schema`,
    steps: [
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${label}`, sql: createQuarantineTable(quarantine, table) },
      {
        safety: 'destructive',
        phase: 'transaction',
        description: `move the placeholder row to the quarantine (only while nothing references it)`,
        // Locked first: a writer referencing the row meanwhile waits, then fails, rather than have its new
        // row taken by a cascade that the guard below did not see.
        sql: `SELECT pg_catalog.count(*) AS rows_locked FROM (SELECT 1 FROM ${source} AS t WHERE ${where} FOR UPDATE OF t) AS locked;\n${moveToQuarantine(quarantine, source, guarded, 'placeholder-uuid', finding.fingerprint)}`,
      },
    ],
    // INSERT takes no ONLY: the row goes back into the table it came from.
    restore: [restoreStatement(quarantine, table, finding.fingerprint)],
  };
}
