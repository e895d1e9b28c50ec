import { z } from 'zod';
import { defineCheck, scaleCount, tableSample, type CheckContext } from '../src/check.js';
import type { Column, ForeignKey, Table } from '../src/db/catalog.js';
import { displayName, qualifiedName, quoteIdent } from '../src/db/quote.js';
import { sampleKeyExpr } from '../src/db/sql.js';
import type { Finding } from '../src/findings.js';
import type { Queryable } from '../src/db/session.js';
import type { Repair } from '../src/fix/types.js';
import { QUARANTINE_SCHEMA, copyToQuarantine, createQuarantineTable, literal, moveToQuarantine, quarantineTable, restoreStatement } from '../src/fix/quarantine.js';

export const DEFAULT_PLACEHOLDERS = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar']);

const options = z.strictObject({
  /** Values that stand for "no real id". Compared case-insensitively; only UUID-shaped ones apply to uuid columns. */
  values: z
    .array(z.string().min(1))
    .min(1, 'expected at least one placeholder value')
    .default(DEFAULT_PLACEHOLDERS)
    .transform((vs) => [...new Set(vs.map((v) => v.toLowerCase()))]),
});

type Options = z.infer<typeof options>;

/** uuid columns, and text columns named like identifiers (`id`, `*_id`, `*Id`). */
export function isIdentifierColumn(column: Column): boolean {
  if (column.baseType === 'uuid') return true;
  if (!TEXT_TYPES.has(column.baseType)) return false;
  return column.name === 'id' || /_id$/i.test(column.name) || /Id$/.test(column.name);
}

export default defineCheck({
  id: 'placeholder-uuid',
  title: 'Placeholder UUIDs standing in for real ids',
  severity: 'error',
  description: 'Id columns holding a placeholder such as the nil UUID instead of a real id, and columns whose DEFAULT is one.',
  docs: {
    finds:
      'Every uuid column, and every text/varchar column named `id` or ending in `_id`/`Id`, holding a placeholder value (by default the nil UUID 00000000-0000-0000-0000-000000000000 and the max UUID ffffffff-ffff-ffff-ffff-ffffffffffff; configurable). One finding per column, with the count and sample primary keys; it says when the column is a primary key (a fake parent row made to satisfy foreign keys) or a foreign key. Also columns whose DEFAULT is a placeholder. One scan per table covers all of its columns.',
    why: "Seed 000: when the pricing lookup failed, the code returned the provider id '00000000-0000-0000-0000-000000000000' and carried on; the ledger insert then failed on its foreign key. Where a fake parent row with the nil UUID exists, such rows are accepted and silently attributed to nobody.",
    fix: 'Fail instead of falling back. Set nullable placeholder references to NULL (after copying the rows aside), resolve NOT NULL ones by hand, delete placeholder parent rows nothing references, and drop placeholder DEFAULTs.',
    bad: `INSERT INTO token_usage_ledger (provider_id, credits)
VALUES ('00000000-0000-0000-0000-000000000000', 12);  -- "unknown provider"`,
    good: `-- no fallback: the caller gets an error and nothing is written
INSERT INTO token_usage_ledger (provider_id, credits)
SELECT id, 12 FROM providers WHERE name = 'openai';`,
  },
  options,
  async run(ctx) {
    const findings: Finding[] = [];
    let scanned = 0;
    let columnsChecked = 0;
    const scans: { item: { table: Table; columns: Column[] }; weight: number }[] = [];
    for (const table of ctx.catalog.tables) {
      const columns = table.columns.filter(isIdentifierColumn);
      if (columns.length === 0) continue;
      columnsChecked += columns.length;
      findings.push(...placeholderDefaults(ctx, table, columns));
      const applicable = columns.filter((c) => valuesFor(ctx.options, c).length > 0);
      if (applicable.length === 0) continue;
      scanned++;
      scans.push({ item: { table, columns: applicable }, weight: Math.max(0, table.estimatedRows) });
    }
    const found = await ctx.parallel(scans, async ({ table, columns }, db) => {
      ctx.progress(displayName(table.schema, table.name));
      return scanTable(ctx, table, columns, db);
    });
    findings.push(...found.flat());
    ctx.note(`scanned ${scanned} tables, ${columnsChecked} id columns, for ${ctx.options.values.join(', ')}`);
    return findings;
  },
});

/**
 * Case-insensitive comparison of a text column. lower() is the costly part of the scan, so when every value
 * is made of hex digits and dashes (the UUIDs), a byte-length test runs first: no other character lowers
 * to one of those, so a value of another length cannot match.
 */
function textTest(ref: string, values: string[], bind: (value: unknown, type: string) => string, deterministic: boolean): string {
  const compare = `lower(${ref}::text) = ANY(${bind(values, 'text[]')})`;
  // Under a nondeterministic collation, strings of other lengths can compare equal.
  if (!deterministic || !values.every((v) => /^[0-9a-f-]+$/.test(v))) return compare;
  const lengths = [...new Set(values.map((v) => v.length))];
  return `(octet_length(${ref}::text) = ANY(${bind(lengths, 'int[]')}) AND ${compare})`;
}

function valuesFor(options: Options, column: Column): string[] {
  return column.baseType === 'uuid' ? options.values.filter((v) => UUID_RE.test(v)) : options.values;
}

function foreignKeyOf(ctx: CheckContext<Options>, table: Table, column: Column): ForeignKey | undefined {
  return ctx.catalog.foreignKeys.find((fk) => fk.schema === table.schema && fk.table === table.name && fk.columns.includes(column.name));
}

function placeholderDefaults(ctx: CheckContext<Options>, table: Table, columns: Column[]): Finding[] {
  const out: Finding[] = [];
  for (const column of columns) {
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

/** One scan of the table on `db` (any of the audit's connections) for all of its id columns. */
// Values are told apart byte by byte (COLLATE "C"): under a nondeterministic collation two spellings of
// a placeholder compare equal, and each would otherwise carry the count of both.
async function scanTable(ctx: CheckContext<Options>, table: Table, columns: Column[], db: Queryable): Promise<Finding[]> {
  const params: unknown[] = [];
  const bind = (value: unknown, type: string) => {
    params.push(value);
    return `$${params.length}::${type}`;
  };
  const hits = columns.map((column) => {
    const ref = `t.${quoteIdent(column.name)}`;
    const values = valuesFor(ctx.options, column);
    // Compare uuids as uuids (an index can serve it); compare text case-insensitively.
    const test = column.baseType === 'uuid' ? `${ref} = ANY(${bind(values, 'uuid[]')})` : textTest(ref, values, bind, column.deterministicCollation);
    return { column, test, value: column.baseType === 'uuid' ? `${ref}::text` : `lower(${ref}::text)` };
  });
  const sampleExpr = table.primaryKey ? sampleKeyExpr('t', table.primaryKey) : 't.ctid::text';
  const sampleOrder = table.primaryKey ? table.primaryKey.map((c) => `t.${quoteIdent(c)}`).join(', ') : 't.ctid';
  const sampleLimit = bind(ctx.sampleSize, 'int');
  const res = await db.query<{ i: number; val: string; n: string; sample: string }>(
    `SELECT i, val, n, sample FROM (
       SELECT v.i, v.val, count(*) OVER (PARTITION BY v.i, v.val COLLATE "C") AS n,
              row_number() OVER (PARTITION BY v.i, v.val COLLATE "C" ORDER BY ${sampleOrder}) AS rn,
              row_number() OVER (PARTITION BY v.i ORDER BY ${sampleOrder}) AS column_rank,
              ${sampleExpr} AS sample
         FROM ${qualifiedName(table.schema, table.name)} t${tableSample(ctx.samplePercent)}
        CROSS JOIN LATERAL (VALUES ${hits.map((h, i) => `(${i}, CASE WHEN ${h.test} THEN ${h.value} END)`).join(', ')}) v(i, val)
        WHERE v.val IS NOT NULL AND (${hits.map((h) => h.test).join(' OR ')})
     ) s
     WHERE rn <= ${sampleLimit}
     ORDER BY i, column_rank`,
    params,
  );
  // Each (column, value) brings its count and its first samples; a column keeps the first samples overall.
  const byColumn = new Map<number, { counts: Map<string, number>; samples: string[] }>();
  for (const r of res.rows) {
    const entry = byColumn.get(r.i) ?? { counts: new Map<string, number>(), samples: [] };
    entry.counts.set(r.val, Number(r.n));
    if (entry.samples.length < ctx.sampleSize) entry.samples.push(r.sample);
    byColumn.set(r.i, entry);
  }
  const findings: Finding[] = [];
  for (const [i, entry] of [...byColumn.entries()].sort((a, b) => a[0] - b[0])) {
    const column = (hits[i] as (typeof hits)[number]).column;
    const total = scaleCount([...entry.counts.values()].reduce((a, b) => a + b, 0), ctx.samplePercent);
    const about = ctx.samplePercent === null ? '' : 'about ';
    const isPrimaryKey = table.primaryKey?.includes(column.name) ?? false;
    const fk = foreignKeyOf(ctx, table, column);
    const values = [...entry.counts.keys()].sort();
    const role = isPrimaryKey
      ? 'primary key: a placeholder parent row, made so that foreign keys pointing at it pass'
      : fk
        ? `foreign key ${displayName(fk.name)} to ${displayName(fk.refSchema, fk.refTable)}`
        : 'no constraint';
    findings.push(
      ctx.finding({
        kind: isPrimaryKey ? 'placeholder-parent' : 'placeholder-value',
        message: `${about}${total} ${total === 1 ? 'row' : 'rows'} of ${displayName(table.schema, table.name)} ${total === 1 ? 'holds' : 'hold'} the placeholder ${values.join(' / ')} in ${displayName(column.name)} (${role})`,
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
        samples: entry.samples,
        details: {
          byValue: Object.fromEntries([...entry.counts.entries()].sort()),
          primaryKey: isPrimaryKey,
          foreignKey: fk ? fk.name : null,
          sampleKey: table.primaryKey ?? 'ctid',
        },
        repair: async (finding, repairDb) => (isPrimaryKey ? removePlaceholderParent(ctx, table, column, finding, repairDb) : clearPlaceholders(ctx, table, column, finding)),
      }),
    );
  }
  return findings;
}

function placeholderCondition(ctx: CheckContext<Options>, column: Column, alias: string): string {
  const values = valuesFor(ctx.options, column).map((v) => literal(v)).join(', ');
  return column.baseType === 'uuid'
    ? `${alias}.${quoteIdent(column.name)} = ANY (ARRAY[${values}]::uuid[])`
    : `lower(${alias}.${quoteIdent(column.name)}::text) = ANY (ARRAY[${values}]::text[])`;
}

async function clearPlaceholders(ctx: CheckContext<Options>, table: Table, column: Column, finding: Finding): Promise<Repair> {
  const source = qualifiedName(table.schema, table.name);
  const where = placeholderCondition(ctx, column, 't');
  const label = displayName(table.schema, table.name, column.name);
  if (column.notNull) {
    return {
      order: 30,
      summary: `${label} is NOT NULL: the placeholder must be replaced by the real id, which only a person can supply`,
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `replace the placeholder in ${finding.count} row(s) of ${label}`,
          decision: 'supply the real id for these rows (or make the column nullable and set NULL)',
          sql: `UPDATE ${source} AS t SET ${quoteIdent(column.name)} = /* the real id */ NULL WHERE ${where};`,
        },
      ],
    };
  }
  const quarantine = quarantineTable(table.schema, table.name, finding.fingerprint);
  if (!table.primaryKey) {
    return {
      order: 30,
      summary: `${displayName(table.schema, table.name)} has no primary key: setting the placeholders to NULL could not be undone row by row`,
      steps: [
        {
          safety: 'review',
          phase: 'transaction',
          description: `copy the ${finding.count} row(s) to the quarantine, then set ${displayName(column.name)} to NULL`,
          decision: 'add a primary key first, or accept that the quarantine copy cannot be matched back to its row',
          sql: `${createQuarantineTable(quarantine, source)}\n${copyToQuarantine(quarantine, source, where, 'placeholder-uuid', finding.fingerprint)}\nUPDATE ${source} AS t SET ${quoteIdent(column.name)} = NULL WHERE ${where};`,
        },
      ],
    };
  }
  return {
    order: 30,
    summary: `set ${label} to NULL where it holds a placeholder, after copying the rows to the ${QUARANTINE_SCHEMA} schema`,
    steps: [
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${displayName(table.schema, table.name)}`, sql: createQuarantineTable(quarantine, source) },
      {
        safety: 'destructive',
        phase: 'transaction',
        description: `copy the ${finding.count} row(s) to the quarantine, then set ${displayName(column.name)} to NULL`,
        sql: `${copyToQuarantine(quarantine, source, where, 'placeholder-uuid', finding.fingerprint)}\nUPDATE ${source} AS t SET ${quoteIdent(column.name)} = NULL WHERE ${where};`,
      },
    ],
    restore: [
      `UPDATE ${source} AS t SET ${quoteIdent(column.name)} = q.${quoteIdent(column.name)} FROM ${quarantine} AS q WHERE q.integrity_finding = ${literal(finding.fingerprint)} AND ${table.primaryKey.map((k) => `t.${quoteIdent(k)} = q.${quoteIdent(k)}`).join(' AND ')};`,
    ],
  };
}

async function removePlaceholderParent(ctx: CheckContext<Options>, table: Table, column: Column, finding: Finding, db: Queryable): Promise<Repair> {
  const source = qualifiedName(table.schema, table.name);
  const where = placeholderCondition(ctx, column, 't');
  const referencing = ctx.catalog.foreignKeys.filter(
    (fk) => fk.refSchema === table.schema && fk.refTable === table.name && fk.refColumns.includes(column.name),
  );
  const uses: string[] = [];
  const guards: string[] = [];
  for (const fk of referencing) {
    const childCol = fk.columns[fk.refColumns.indexOf(column.name)] as string;
    const refd = `EXISTS (SELECT 1 FROM ${qualifiedName(fk.schema, fk.table)} AS r WHERE r.${quoteIdent(childCol)} = t.${quoteIdent(column.name)})`;
    guards.push(`NOT ${refd}`);
    const n = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${source} AS t JOIN ${qualifiedName(fk.schema, fk.table)} AS r ON r.${quoteIdent(childCol)} = t.${quoteIdent(column.name)} WHERE ${where}`);
    const count = Number(n.rows[0]?.n ?? 0);
    if (count > 0) uses.push(`${count} row(s) of ${displayName(fk.schema, fk.table)} (${fk.name})`);
  }
  const label = displayName(table.schema, table.name);
  const quarantine = quarantineTable(table.schema, table.name, finding.fingerprint);
  const guarded = [where, ...guards].join('\n   AND ');
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
          sql: `${createQuarantineTable(quarantine, source)}\n${moveToQuarantine(quarantine, source, guarded, 'placeholder-uuid', finding.fingerprint)}`,
        },
      ],
    };
  }
  return {
    order: 45,
    summary: `delete the unreferenced placeholder row of ${label}, keeping a copy in the ${QUARANTINE_SCHEMA} schema`,
    steps: [
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${label}`, sql: createQuarantineTable(quarantine, source) },
      {
        safety: 'destructive',
        phase: 'transaction',
        description: `move the placeholder row to the quarantine (only while nothing references it)`,
        sql: moveToQuarantine(quarantine, source, guarded, 'placeholder-uuid', finding.fingerprint),
      },
    ],
    restore: [restoreStatement(quarantine, source, table.columns, finding.fingerprint)],
  };
}
