import { z } from 'zod';
import {
  defineCheck,
  displayName,
  fingerprintOf,
  ownRows,
  qualifiedName,
  quoteIdent,
  relationOid,
  sampleKeyExpr,
  type CheckContext,
  type Column,
  type Finding,
  type Queryable,
  type Table,
} from '../src/index.js';
import {
  checkedExpression,
  columnName,
  groupingExpr,
  resolveColumn,
  resolveTable,
  ruleKind,
  ruleName,
  ruleObject,
  runRules,
  schemaName,
  sqlExpression,
  tableName,
} from './support/generic-rules.js';

const ID = 'unique';

const rule = z.strictObject({
  name: ruleName.optional(),
  schema: schemaName.optional(),
  table: tableName,
  columns: z
    .array(columnName)
    .min(1)
    .refine((cs) => new Set(cs).size === cs.length, 'a column is named twice')
    .describe('the columns whose values, together, must not repeat'),
  where: sqlExpression('only rows where this holds must be unique among themselves').optional(),
  nullsDistinct: z
    .boolean()
    .default(true)
    .describe('true (as a plain UNIQUE index): a row with a NULL in any of the columns is never a duplicate; false: NULLs are equal (NULLS NOT DISTINCT)'),
});

const options = z.strictObject({
  rules: z.array(rule).default([]).describe('one rule per set of columns that must be unique'),
});

type Options = z.infer<typeof options>;
type Rule = z.infer<typeof rule>;

interface Prepared {
  rule: Rule;
  label: string;
  object: string;
  kind: string;
  table: Table;
  columns: Column[];
  where: string | null;
}

/** What makes a rule hold already: a valid, non-partial unique index on a subset of its columns. */
interface Enforcer {
  what: string;
  columns: string[];
}

export default defineCheck({
  id: ID,
  title: 'Duplicate values where no unique index enforces uniqueness',
  severity: 'error',
  description: 'Rows that repeat the values of a configured set of columns, where no unique index or constraint makes PostgreSQL prevent it, per rule.',
  docs: {
    finds: `For each rule in checks.unique.rules, the groups of rows (those where \`where\` holds, if given) that share the values of all the rule's columns, found with one GROUP BY ... HAVING count(*) > 1 over the table's own rows (FROM ONLY, not its inheritance children's; a partitioned table whole). One finding per failing rule: count = the rows involved in duplicates (details.rows), details.duplicateKeys = how many distinct keys repeat, samples = the most repeated keys (a JSON array for several columns), details.duplicates = those keys with their row counts. With "nullsDistinct": true (the default, as a plain UNIQUE index) a row with a NULL in any of the columns is never a duplicate; with false, NULLs compare equal (NULLS NOT DISTINCT). Built-in types are grouped by pg_catalog's own equality (2.0 and 2.00 are the same numeric), citext case-insensitively, any other type by its text, so no operator a user wrote is called. A rule already enforced is not scanned, and the note says so: the primary key, or a valid, non-partial unique index or constraint on some of the rule's columns (only plain columns; for "nullsDistinct": false it must be NULLS NOT DISTINCT or its columns NOT NULL). A partial unique index is not taken as enforcing a rule, even one with the same \`where\`. The \`where\` expression runs as written under the audit's search_path (pg_catalog, pg_temp): a user's function or operator resolves only schema-qualified, which is intended; it is parsed first and refused unless it is exactly one expression. The whole table is read even under --sample-percent: a sample would miss most duplicates.`,
    why: "dbt's `unique` test, done in PostgreSQL: a uniqueness the application believes in but no index holds (an email, an external id, one active row per key, the kind of natural key the pricing lookups of the missing-pricing incident assumed) breaks quietly under concurrent writers or a backfill, and lookups by it then pick an arbitrary row.",
    fix: 'Merge or remove the duplicates (keep one row per key; repoint what references the others), then create the unique index CONCURRENTLY so that PostgreSQL keeps it: CREATE UNIQUE INDEX CONCURRENTLY ... (a partial one, WHERE ..., for a filtered rule).',
    bad: `CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
CREATE INDEX users_email ON users (lower(email));  -- fast lookups, but nothing unique
INSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com');`,
    good: `// integrity.config.json
"checks": { "unique": { "rules": [
  { "name": "one-account-per-email", "table": "users", "columns": ["email"] },
  { "name": "one-active-price", "table": "model_provider_pricing", "columns": ["model_name"],
    "where": "is_active AND effective_until IS NULL" },
  { "table": "invoices", "columns": ["tenant_id", "number"], "nullsDistinct": false }
] } }
-- and in the schema, once the duplicates are gone:
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);`,
  },
  options,
  async run(ctx) {
    // Indexed by the rule's place, so that the note lists them in the config's order whichever ran first.
    const enforced: (string | undefined)[] = [];
    return runRules(ctx, ID, {
      objectOf: (r, label) => ruleObject(r, label),
      prepare: (r, label) => prepare(ctx, r, label),
      identity: (p) => fingerprintOf(ID, p.kind, findingObject(p)),
      table: (p) => p.table,
      audit: async (p, db, i) => {
        const enforcer = fromCatalog(ctx, p) ?? (await fromIndexes(ctx, p, db));
        if (!enforcer) return auditRule(ctx, p, db);
        enforced[i] = `${p.label} is enforced by ${enforcer.what} (${enforcer.columns.map((c) => displayName(c)).join(', ')}), not scanned`;
        return null;
      },
      note: (rules) => {
        const notes = enforced.filter((n): n is string => n !== undefined);
        return [` (${rules.length - notes.length} scanned)`, ...notes].join('; ');
      },
    });
  },
});

async function prepare(ctx: CheckContext<Options>, r: Rule, label: string): Promise<Prepared> {
  const table = resolveTable(ctx as CheckContext<unknown>, r, `${label}: table`);
  const columns = r.columns.map((c) => resolveColumn(table, c, `${label}: columns`));
  const where = r.where === undefined ? null : (await checkedExpression(r.where, `${label}: where`)).sql;
  return {
    rule: r,
    label,
    object: ruleObject({ schema: table.schema, table: table.name }, label),
    kind: ruleKind(r.name, { where: r.where ?? null, nullsDistinct: r.nullsDistinct }),
    table,
    columns,
    where,
  };
}

function findingObject(p: Prepared) {
  const names = p.columns.map((c) => c.name);
  return { schema: p.table.schema, table: p.table.name, ...(names.length === 1 ? { column: names[0] as string } : { columns: names }) };
}

/**
 * Whether a unique key on `keyColumns` (a subset of the rule's) makes the rule hold: any two rows equal on
 * all the rule's columns are equal on the key's. With NULLs distinct in the rule, such rows have no NULL
 * there, so any unique key does; with NULLs equal, only one whose NULLs are equal too, or that has none.
 */
function covers(p: Prepared, keyColumns: string[], nullsNotDistinct: boolean): boolean {
  if (keyColumns.length === 0 || !keyColumns.every((c) => p.columns.some((col) => col.name === c))) return false;
  if (p.rule.nullsDistinct || nullsNotDistinct) return true;
  return keyColumns.every((c) => p.columns.find((col) => col.name === c)?.notNull);
}

/**
 * The primary key and the unique constraints, from the catalog snapshot (a constraint's index is always
 * valid and plain). A primary key's columns are NOT NULL, so it covers either NULL rule; a unique
 * constraint's NULLS NOT DISTINCT is not in the snapshot, so for `nullsDistinct: false` the index is read.
 */
function fromCatalog(ctx: CheckContext<Options>, p: Prepared): Enforcer | null {
  const pk = p.table.primaryKey;
  if (pk && covers(p, pk, true)) return { what: 'the primary key', columns: pk };
  const u = ctx.catalog.uniqueConstraints.find((c) => c.schema === p.table.schema && c.table === p.table.name && covers(p, c.columns, false));
  return u ? { what: `unique constraint ${displayName(u.name)}`, columns: u.columns } : null;
}

/**
 * The unique indexes of the table that PostgreSQL is enforcing: valid (a failed CREATE INDEX CONCURRENTLY
 * leaves an invalid one), without a predicate or an expression; with the constraint each backs, if any.
 */
async function fromIndexes(ctx: CheckContext<Options>, p: Prepared, db: Queryable): Promise<Enforcer | null> {
  // indnullsnotdistinct exists from PostgreSQL 15; before that every unique index treats NULLs as distinct.
  const nnd = ctx.catalog.serverVersionNum >= 150000 ? 'x.indnullsnotdistinct' : 'false';
  const res = await db.query<{ index: string; constraint: string | null; contype: string | null; nnd: boolean; columns: string[] }>(
    `SELECT i.relname AS index, con.conname AS constraint, con.contype::pg_catalog.text AS contype, ${nnd} AS nnd,
            ARRAY(SELECT a.attname::pg_catalog.text
                    FROM pg_catalog.generate_series(0, x.indnkeyatts OPERATOR(pg_catalog.-) 1) AS k
                    JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) x.indrelid AND a.attnum OPERATOR(pg_catalog.=) x.indkey[k]
                   ORDER BY k) AS columns
       FROM pg_catalog.pg_index x
       JOIN pg_catalog.pg_class i ON i.oid OPERATOR(pg_catalog.=) x.indexrelid
       LEFT JOIN pg_catalog.pg_constraint con ON con.conindid OPERATOR(pg_catalog.=) x.indexrelid
            AND con.conrelid OPERATOR(pg_catalog.=) x.indrelid AND con.contype IN ('p', 'u')
      WHERE x.indrelid OPERATOR(pg_catalog.=) ${relationOid('$1::pg_catalog.text', '$2::pg_catalog.text')}
        AND x.indisunique AND x.indisvalid AND x.indisready AND x.indpred IS NULL AND x.indexprs IS NULL
        AND NOT (0::pg_catalog.int2 OPERATOR(pg_catalog.=) ANY (x.indkey::pg_catalog.int2[]))
      ORDER BY pg_catalog.array_length(x.indkey::pg_catalog.int2[], 1), i.relname`,
    [p.table.schema, p.table.name],
  );
  for (const r of res.rows) {
    if (!covers(p, r.columns, r.nnd)) continue;
    const what =
      r.contype === 'p' ? `primary key ${displayName(r.constraint ?? r.index)}` : r.contype === 'u' ? `unique constraint ${displayName(r.constraint ?? r.index)}` : `unique index ${displayName(r.index)}`;
    return { what, columns: r.columns };
  }
  return null;
}

async function auditRule(ctx: CheckContext<Options>, p: Prepared, db: Queryable): Promise<Finding | null> {
  const table = qualifiedName(p.table.schema, p.table.name);
  const names = p.columns.map((c) => c.name);
  const groups = p.columns.map((c) => groupingExpr(`${table}.${quoteIdent(c.name)}`, c));
  const conditions = [
    ...(p.rule.nullsDistinct ? p.columns.map((c) => `${table}.${quoteIdent(c.name)} IS NOT NULL`) : []),
    ...(p.where === null ? [] : [p.where]),
  ];
  // The key shown is the smallest spelling in the group (min of its text), so a sample is a real value;
  // a one-column key that is NULL (under nullsDistinct: false) is shown as NULL.
  const res = await db.query<{ sample: string; n: string; keys: string; total: string }>(
    `WITH duplicates AS (
       SELECT COALESCE(pg_catalog.min(${sampleKeyExpr(table, names)} COLLATE pg_catalog."C"), 'NULL') AS sample, count(*) AS n
         FROM ${ownRows(p.table)}${conditions.length === 0 ? '' : `\n        WHERE ${conditions.join('\n          AND ')}`}
        GROUP BY ${groups.join(', ')}
       HAVING count(*) OPERATOR(pg_catalog.>) 1
     )
     SELECT sample, n, count(*) OVER () AS keys, sum(n) OVER () AS total
       FROM duplicates
      ORDER BY n DESC, sample
      LIMIT $1`,
    [ctx.sampleSize],
  );
  if (res.rows.length === 0) return null;
  const first = res.rows[0] as { keys: string; total: string };
  const rows = Number(first.total);
  const keys = Number(first.keys);
  const tableName = displayName(p.table.schema, p.table.name);
  const cols = names.map((n) => displayName(n)).join(', ');
  const finding = ctx.finding({
    kind: p.kind,
    message: `${rows} rows of ${tableName}${p.rule.where === undefined ? '' : ` (where ${p.rule.where})`} share ${keys} ${names.length === 1 ? 'value' : 'key'}${keys === 1 ? '' : 's'} of (${cols}), which no unique index enforces [${p.label}]`,
    object: findingObject(p),
    count: rows,
    samples: res.rows.map((r) => r.sample),
    details: {
      ...(p.rule.name === undefined ? {} : { rule: p.rule.name }),
      sampleKey: names,
      rows,
      duplicateKeys: keys,
      nullsDistinct: p.rule.nullsDistinct,
      duplicates: res.rows.map((r) => ({ key: r.sample, count: Number(r.n) })),
    },
  });
  if (!ctx.valuesAllowed(finding)) {
    finding.samples = [];
    finding.details = { ...finding.details, duplicates: res.rows.map((r) => ({ count: Number(r.n) })) };
  }
  return finding;
}
