import { z } from 'zod';
import { defineCheck, type CheckContext } from '../src/check.js';
import { findColumn, locateTable, type Column, type ForeignKey, type MatchType, type Table } from '../src/db/catalog.js';
import { displayName, qualifiedName, quoteIdent } from '../src/db/quote.js';
import { equalsExpr, sampleKeyExpr } from '../src/db/sql.js';
import type { Relation } from '../src/config/relations.js';
import type { Finding } from '../src/findings.js';

const options = z.strictObject({});

/** One reference to verify: a foreign key PostgreSQL is not guaranteeing, or a declared relation. */
interface Reference {
  child: Table;
  columns: Column[];
  parent: Table;
  parentColumns: Column[];
  matchType: MatchType;
  constraint: string | null;
  /** Why the database's own guarantee was not trusted. */
  reasons: string[];
}

export default defineCheck({
  id: 'orphan-rows',
  title: 'Rows whose foreign key matches no parent',
  severity: 'error',
  description: 'Rows whose non-null reference matches no parent row, for every reference PostgreSQL is not guaranteeing.',
  docs: {
    finds:
      'Rows whose non-null foreign key values match no parent row (MATCH SIMPLE semantics; MATCH FULL where the constraint says so; composite keys included). By default it verifies every foreign key PostgreSQL is not currently guaranteeing: constraints added NOT VALID, constraints whose internal RI triggers are disabled, and NOT ENFORCED constraints (PostgreSQL 18). With --deep it verifies every foreign key, since rows loaded with session_replication_role = replica or with triggers switched off break even valid constraints. It also verifies the `relations` declared in the config file for references that have no constraint at all.',
    why: 'Seeds 001, 002 and 004: stored files written before their LLM call, chat messages pointing at sessions and sessions at users that do not exist, conversations for users without profiles. Seed 000\'s ledger pointed at a provider that did not exist. An orphan breaks joins, reports and every later write that touches it.',
    fix: 'Restore the missing parents where they should exist; otherwise quarantine the orphans (copy them aside) and delete them or set the key to NULL. Then VALIDATE CONSTRAINT, re-enable the triggers, or add the missing FOREIGN KEY.',
    bad: `ALTER TABLE stored_file ADD CONSTRAINT fk_stored_file_llm_call_id
  FOREIGN KEY (llm_call_id) REFERENCES llm_call(id) NOT VALID;  -- existing rows never checked
ALTER TABLE "AssistantChatMessage" DISABLE TRIGGER ALL;          -- new rows not checked either`,
    good: `ALTER TABLE stored_file VALIDATE CONSTRAINT fk_stored_file_llm_call_id;
ALTER TABLE "AssistantChatMessage" ENABLE TRIGGER ALL;
ALTER TABLE llm_call ADD FOREIGN KEY (prompt_file_id) REFERENCES stored_file(id);`,
  },
  options,
  async run(ctx) {
    const references = [...foreignKeysToVerify(ctx), ...ctx.relations.map((r) => declaredRelation(ctx, r))];
    const trusted = ctx.catalog.foreignKeys.filter((fk) => untrustedReasons(fk).length === 0).length;
    const findings: Finding[] = [];
    for (const ref of references) {
      const finding = await verify(ctx, ref);
      if (finding) findings.push(finding);
    }
    ctx.note(
      `verified ${references.length} reference${references.length === 1 ? '' : 's'}` +
        (ctx.deep ? ' (--deep: every foreign key)' : `; ${trusted} foreign key${trusted === 1 ? '' : 's'} trusted as guaranteed by PostgreSQL (use --deep to verify them too)`),
    );
    return findings;
  },
});

function columnsOf(table: Table, names: string[], what: string): Column[] {
  return names.map((name) => {
    const col = findColumn(table, name);
    if (!col) throw new Error(`${what}: column ${name} not found in ${displayName(table.schema, table.name)}`);
    return col;
  });
}

function untrustedReasons(fk: ForeignKey): string[] {
  const reasons: string[] = [];
  // PostgreSQL 18 marks a NOT ENFORCED constraint not validated as well; name the cause once.
  if (!fk.enforced) reasons.push('NOT ENFORCED');
  else if (!fk.validated) reasons.push('NOT VALID');
  if (fk.disabledTriggers.length > 0) {
    reasons.push(`RI triggers disabled on ${fk.disabledTriggers.map((t) => displayName(t.schema, t.table)).join(' and ')}`);
  }
  return reasons;
}

function foreignKeysToVerify(ctx: CheckContext<Record<string, never>>): Reference[] {
  const out: Reference[] = [];
  for (const fk of ctx.catalog.foreignKeys) {
    const reasons = untrustedReasons(fk);
    if (reasons.length === 0 && !ctx.deep) continue;
    const child = ctx.catalog.tables.find((t) => t.schema === fk.schema && t.name === fk.table);
    const parent = ctx.catalog.tables.find((t) => t.schema === fk.refSchema && t.name === fk.refTable);
    if (!child) continue;
    const columns = columnsOf(child, fk.columns, fk.name);
    out.push({
      child,
      columns,
      // A parent outside the audited schemas has no loaded columns; a foreign key's types are compatible, so
      // comparing with the child's types is exact.
      parent: parent ?? { schema: fk.refSchema, name: fk.refTable, kind: 'table', estimatedRows: 0, columns: [], primaryKey: null },
      parentColumns: parent
        ? columnsOf(parent, fk.refColumns, fk.name)
        : fk.refColumns.map((name, i) => ({ ...(columns[i] as Column), name })),
      matchType: fk.matchType,
      constraint: fk.name,
      reasons: reasons.length > 0 ? reasons : ['verified by --deep'],
    });
  }
  return out;
}

function declaredRelation(ctx: CheckContext<Record<string, never>>, rel: Relation): Reference {
  const label = rel.name ?? `relation ${rel.table}(${rel.columns.join(', ')})`;
  const child = locateTable(ctx.catalog, { schema: rel.schema, table: rel.table });
  if (child.status !== 'found') throw new Error(`${label}: ${child.reason}`);
  const parent = locateTable(ctx.catalog, { schema: rel.references.schema, table: rel.references.table }, [child.table.schema]);
  if (parent.status !== 'found') throw new Error(`${label}: referenced table: ${parent.reason}`);
  return {
    child: child.table,
    columns: columnsOf(child.table, rel.columns, label),
    parent: parent.table,
    parentColumns: columnsOf(parent.table, rel.references.columns, label),
    matchType: 'simple',
    constraint: null,
    reasons: ['declared in config'],
  };
}

async function verify(ctx: CheckContext<Record<string, never>>, ref: Reference): Promise<Finding | null> {
  const c = (col: Column) => `c.${quoteIdent(col.name)}`;
  const joins = ref.columns
    .map((col, i) => {
      const parentCol = ref.parentColumns[i] as Column;
      // A foreign key guarantees an equality operator between its columns' types; compare natively.
      return ref.constraint
        ? `p.${quoteIdent(parentCol.name)} = ${c(col)}`
        : equalsExpr(`p.${quoteIdent(parentCol.name)}`, parentCol.baseType, c(col), col.baseType);
    })
    .join(' AND ');
  const allSet = ref.columns.map((col) => `${c(col)} IS NOT NULL`).join(' AND ');
  const missingParent = `NOT EXISTS (SELECT 1 FROM ${qualifiedName(ref.parent.schema, ref.parent.name)} p WHERE ${joins})`;
  // MATCH SIMPLE ignores a row with any NULL key column; MATCH FULL also rejects a partly-NULL key.
  const violation =
    ref.matchType === 'full' && ref.columns.length > 1
      ? `((${allSet}) AND ${missingParent}) OR (NOT (${allSet}) AND (${ref.columns.map((col) => `${c(col)} IS NOT NULL`).join(' OR ')}))`
      : `(${allSet}) AND ${missingParent}`;
  const keyNames = ref.columns.map((col) => col.name);
  const res = await ctx.db.query<{ n: string; sample: string }>(
    `SELECT count(*) OVER () AS n, ${sampleKeyExpr('c', keyNames)} AS sample
       FROM ${qualifiedName(ref.child.schema, ref.child.name)} c
      WHERE ${violation}
      ORDER BY ${ref.columns.map((col) => c(col)).join(', ')} LIMIT $1`,
    [ctx.sampleSize],
  );
  if (res.rows.length === 0) return null;
  const count = Number(res.rows[0]?.n);
  const childName = displayName(ref.child.schema, ref.child.name);
  const parentName = displayName(ref.parent.schema, ref.parent.name);
  const cols = keyNames.map((n) => displayName(n)).join(', ');
  const parentCols = ref.parentColumns.map((col) => displayName(col.name)).join(', ');
  const via = ref.constraint ? `constraint ${displayName(ref.constraint)}, ${ref.reasons.join(', ')}` : 'no constraint, declared in config';
  const samples = [...new Set(res.rows.map((r) => r.sample))];
  return ctx.finding({
    kind: 'orphans',
    message: `${count} ${count === 1 ? 'row' : 'rows'} of ${childName} ${count === 1 ? 'points' : 'point'} at no row of ${parentName}: (${cols}) -> (${parentCols}) (${via})`,
    object: {
      schema: ref.child.schema,
      table: ref.child.name,
      ...(keyNames.length === 1 ? { column: keyNames[0] as string } : { columns: keyNames }),
      ...(ref.constraint ? { constraint: ref.constraint } : {}),
      references: { schema: ref.parent.schema, table: ref.parent.name, columns: ref.parentColumns.map((col) => col.name) },
    },
    count,
    samples,
    details: { reasons: ref.reasons, matchType: ref.matchType },
  });
}
