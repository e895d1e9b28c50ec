import { z } from 'zod';
import {
  btreeIndexLeading,
  copyToQuarantine,
  createQuarantineTable,
  defineCheck,
  displayName,
  equalsExpr,
  findColumn,
  findTable,
  locateTable,
  moveToQuarantine,
  mostlyAllVisible,
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
  type CheckContext,
  type Column,
  type Finding,
  type ForeignKey,
  type KeyEquality,
  type MatchType,
  type PlanMethod,
  type Queryable,
  type Relation,
  type Repair,
  type RepairStep,
  type Table,
} from '../src/index.js';
import { guardedValidations, tableConstraintValidation } from './support/validate-statement.js';

const options = z.strictObject({
  /**
   * How to repair the orphans of one reference, keyed by constraint name (or `schema.table.constraint`)
   * or by a declared relation's name: delete them, set their key to NULL, or leave them for review.
   */
  strategies: z.record(z.string(), z.enum(['delete', 'set-null', 'review'])).default({}),
});

type Options = z.infer<typeof options>;
type Strategy = 'delete' | 'set-null' | 'review';

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
  fk: ForeignKey | null;
  relationName: string | null;
  /** The constraint's own comparison (operators, casts); null for a declared relation. */
  equality: KeyEquality[] | null;
}

function referenceLabel(ref: Reference): string {
  const child = displayName(ref.child.schema, ref.child.name);
  return ref.constraint ? `${child} (constraint ${displayName(ref.constraint)})` : `${child} (relation ${ref.relationName ?? ref.columns.map((c) => c.name).join(', ')})`;
}

export default defineCheck({
  id: 'orphan-rows',
  title: 'Rows whose foreign key matches no parent',
  severity: 'error',
  description: 'Rows whose non-null reference matches no parent row, for every reference PostgreSQL is not guaranteeing.',
  docs: {
    finds:
      'Rows whose non-null foreign key values match no parent row (MATCH SIMPLE semantics; MATCH FULL where the constraint says so; composite keys included). By default it verifies every foreign key PostgreSQL is not currently guaranteeing: constraints added NOT VALID, constraints whose internal RI triggers are disabled, and NOT ENFORCED constraints (PostgreSQL 18). With --deep it verifies every foreign key, since rows loaded with session_replication_role = replica or with triggers switched off break even valid constraints. It also verifies the `relations` declared in the config file for references that have no constraint at all.',
    why: 'The incidents this tool was built from: stored files written before their LLM call, chat messages pointing at sessions and sessions at users that do not exist, conversations for users without profiles, and a usage ledger pointing at a provider that did not exist. An orphan breaks joins, reports and every later write that touches it.',
    fix: 'Restore the missing parents where they should exist; otherwise quarantine the orphans (copy them aside) and delete them or set the key to NULL. Then VALIDATE CONSTRAINT, re-enable the triggers, or add the missing FOREIGN KEY.',
    bad: `ALTER TABLE stored_file ADD CONSTRAINT fk_stored_file_llm_call_id
  FOREIGN KEY (llm_call_id) REFERENCES llm_call(id) NOT VALID;  -- existing rows never checked
ALTER TABLE "AssistantChatMessage" DISABLE TRIGGER ALL;          -- new rows not checked either`,
    good: `ALTER TABLE stored_file VALIDATE CONSTRAINT fk_stored_file_llm_call_id;
ALTER TABLE "AssistantChatMessage" ENABLE TRIGGER ALL;
ALTER TABLE llm_call ADD FOREIGN KEY (prompt_file_id) REFERENCES stored_file(id);`,
  },
  options,
  samplesTables: true,
  async run(ctx) {
    const all = [...foreignKeysToVerify(ctx), ...ctx.relations.map((r) => declaredRelation(ctx, r))];
    const trusted = ctx.catalog.foreignKeys.filter((fk) => ctx.catalog.schemas.includes(fk.schema) && untrustedReasons(ctx, fk).length === 0).length;
    // A table this audit cannot read (an unlogged table on a standby) costs only the references that need it.
    const unreadable = all.filter((ref) => ref.child.unreadable ?? ref.parent.unreadable);
    const references = all.filter((ref) => !unreadable.includes(ref));
    const verified = await ctx.each(
      references.map((ref) => ({ item: ref, weight: Math.max(0, ref.child.estimatedRows), object: referenceLabel(ref) })),
      async (ref, db) => {
        ctx.progress(displayName(ref.child.schema, ref.child.name));
        return verify(ctx, ref, db);
      },
    );
    const findings = verified.filter((f): f is Finding => f !== null && f !== undefined);
    const why = ctx.catalog.replicationRole.length > 0 ? ` (every foreign key: ${ctx.catalog.replicationRole.join('; ')})` : '';
    ctx.note(
      `verified ${references.length} reference${references.length === 1 ? '' : 's'}` +
        (ctx.deep ? ' (--deep: every foreign key)' : why || `; ${trusted} foreign key${trusted === 1 ? '' : 's'} trusted as guaranteed by PostgreSQL (use --deep to verify them too)`) +
        unreadable.map((ref) => `; skipped ${referenceLabel(ref)}: ${ref.child.unreadable ?? ref.parent.unreadable}`).join(''),
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

function untrustedReasons(ctx: CheckContext<Options>, fk: ForeignKey): string[] {
  const reasons: string[] = [];
  // Sessions with session_replication_role = replica fire no RI trigger: no constraint is guaranteed.
  if (ctx.catalog.replicationRole.length > 0) reasons.push('session_replication_role = replica: not enforced for those sessions');
  // PostgreSQL 18 marks a NOT ENFORCED constraint not validated as well; name the cause once.
  if (!fk.enforced) reasons.push('NOT ENFORCED');
  else if (!fk.validated) reasons.push('NOT VALID');
  if (fk.disabledTriggers.length > 0) {
    reasons.push(`RI triggers disabled on ${fk.disabledTriggers.map((t) => displayName(t.schema, t.table)).join(' and ')}`);
  }
  return reasons;
}

function foreignKeysToVerify(ctx: CheckContext<Options>): Reference[] {
  const out: Reference[] = [];
  for (const fk of ctx.catalog.foreignKeys) {
    const reasons = untrustedReasons(ctx, fk);
    if (reasons.length === 0 && !ctx.deep) continue;
    const child = findTable(ctx.catalog, fk.schema, fk.table);
    const parent = findTable(ctx.catalog, fk.refSchema, fk.refTable);
    if (!child) continue;
    const columns = columnsOf(child, fk.columns, fk.name);
    out.push({
      child,
      columns,
      // A parent outside the audited schemas has no loaded columns; a foreign key's types are compatible, so
      // comparing with the child's types is exact.
      parent: parent ?? outsideTable(fk),
      parentColumns: parent
        ? columnsOf(parent, fk.refColumns, fk.name)
        : fk.refColumns.map((name, i) => ({ ...(columns[i] as Column), name })),
      matchType: fk.matchType,
      constraint: fk.name,
      reasons: reasons.length > 0 ? reasons : ['verified by --deep'],
      fk,
      relationName: null,
      equality: fk.equality,
    });
  }
  return out;
}

/** A referenced table outside the audited schemas: only what the foreign key says of it is known. */
function outsideTable(fk: ForeignKey): Table {
  return {
    schema: fk.refSchema,
    name: fk.refTable,
    kind: fk.refKind,
    estimatedRows: 0,
    pages: 0,
    allVisiblePages: 0,
    columns: [],
    primaryKey: null,
    // Not known; were its policies to hide rows, the read fails under row_security = off rather than mislead.
    rowSecurity: { enabled: false, forced: false, readableWhole: true },
    unreadable: null,
    partitionOf: null,
    hasInheritanceChildren: false,
  };
}

function declaredRelation(ctx: CheckContext<Options>, rel: Relation): Reference {
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
    fk: null,
    relationName: rel.name ?? null,
    equality: null,
  };
}

/**
 * The rows of the child (under `alias`) whose reference matches no parent, as PostgreSQL's RI query
 * sees it: `ONLY` on both sides (an inheritance child's rows are neither checked nor a match), and the
 * constraint's own equality operator, schema-qualified, with the casts ri_GenerateQual would add.
 */
function violationSql(ref: Reference, alias: string): string {
  const c = (col: Column) => `${alias}.${quoteIdent(col.name)}`;
  const joins = ref.columns
    .map((col, i) => {
      const parentCol = ref.parentColumns[i] as Column;
      const eq = ref.equality?.[i];
      // As ri_GenerateQualCollation: where the two columns' collations differ, the parent's decides.
      const pc = parentCol.collation;
      const collate = pc && (col.collation?.schema !== pc.schema || col.collation?.name !== pc.name) ? ` COLLATE ${quoteIdent(pc.schema)}.${quoteIdent(pc.name)}` : '';
      if (eq) return `${cast(`p.${quoteIdent(parentCol.name)}`, eq.parentCast)} ${eq.operator} ${cast(c(col), eq.childCast)}${collate}`;
      return equalsExpr(`p.${quoteIdent(parentCol.name)}`, parentCol.baseType, c(col), col.baseType);
    })
    .join(' AND ');
  const allSet = ref.columns.map((col) => `${c(col)} IS NOT NULL`).join(' AND ');
  const missingParent = `NOT EXISTS (SELECT 1 FROM ${ownRows(ref.parent)} p WHERE ${joins})`;
  // MATCH SIMPLE ignores a row with any NULL key column; MATCH FULL also rejects a partly-NULL key.
  return ref.matchType === 'full' && ref.columns.length > 1
    ? `((${allSet}) AND ${missingParent}) OR (NOT (${allSet}) AND (${ref.columns.map((col) => `${c(col)} IS NOT NULL`).join(' OR ')}))`
    : `(${allSet}) AND ${missingParent}`;
}

/**
 * Where both keys are btree-indexed in the same column order and both tables are mostly all-visible,
 * the cheapest exact verification is a merge anti-join of two index-only scans: it reads each index once,
 * in order, and holds nothing in memory. The planner's statistics often prefer a hash of the parent,
 * which costs a full read of the child's heap and, for a large parent, batches spilled to disk (measured
 * in bench/: 3.0 s for the hash, 0.8 s for the merge, 5M rows against 1M). Elsewhere the planner chooses.
 */
function joinMethodsToAvoid(ctx: CheckContext<Options>, ref: Reference): PlanMethod[] {
  if (ctx.samplePercent !== null) return [];
  // A cast or a collation other than the index's would keep the index from supplying the join's order.
  const plainEquality = ref.columns.every((col, i) => {
    const parentCol = ref.parentColumns[i] as Column;
    const eq = ref.equality?.[i];
    const sameCollation = col.collation?.schema === parentCol.collation?.schema && col.collation?.name === parentCol.collation?.name;
    return sameCollation && (eq ? eq.parentCast === null && eq.childCast === null && eq.operator === `OPERATOR(${quoteIdent('pg_catalog')}.=)` : col.baseType === parentCol.baseType);
  });
  // A merge join trusts the indexes' order. A collation's order can change under an index (a new glibc
  // or ICU, see collation-drift), where a hash join, comparing for equality only, would still be right:
  // only keys whose order no library decides (no collation, or C/POSIX) are merged.
  const orderFixed = ref.columns.every((col) => col.collation === null || (col.collation.schema === 'pg_catalog' && (col.collation.name === 'C' || col.collation.name === 'POSIX')));
  if (!plainEquality || !orderFixed || !mostlyAllVisible(ref.child) || !mostlyAllVisible(ref.parent)) return [];
  const names = (cols: Column[]) => cols.map((col) => col.name);
  if (!btreeIndexLeading(ctx.catalog, ref.child, names(ref.columns)) || !btreeIndexLeading(ctx.catalog, ref.parent, names(ref.parentColumns))) return [];
  return ['hashjoin', 'nestloop'];
}

function cast(expr: string, type: string | null): string {
  // The type name comes from format_type() in the audit's own session: qualified wherever it must be.
  return type === null ? expr : `(${expr})::${type}`;
}

/** Runs the verification on `db` (any of the audit's connections); the repair is written later on the check's own. */
async function verify(ctx: CheckContext<Options>, ref: Reference, db: Queryable): Promise<Finding | null> {
  const c = (col: Column) => `c.${quoteIdent(col.name)}`;
  const violation = violationSql(ref, 'c');
  const keyNames = ref.columns.map((col) => col.name);
  const res = await db.query<{ n: string; sample: string }>(
    `SELECT count(*) OVER () AS n, ${sampleKeyExpr('c', keyNames)} AS sample
       FROM ${ownRows(ref.child)} c${tableSample(ctx.samplePercent)}
      WHERE ${violation}
      ORDER BY ${ref.columns.map((col) => c(col)).join(', ')} LIMIT $1`,
    [ctx.sampleSize],
    { avoid: joinMethodsToAvoid(ctx, ref) },
  );
  if (res.rows.length === 0) return null;
  const count = scaleCount(Number(res.rows[0]?.n), ctx.samplePercent);
  const about = ctx.samplePercent === null ? '' : 'about ';
  const childName = displayName(ref.child.schema, ref.child.name);
  const parentName = displayName(ref.parent.schema, ref.parent.name);
  const cols = keyNames.map((n) => displayName(n)).join(', ');
  const parentCols = ref.parentColumns.map((col) => displayName(col.name)).join(', ');
  const via = ref.constraint ? `constraint ${displayName(ref.constraint)}, ${ref.reasons.join(', ')}` : 'no constraint, declared in config';
  const samples = [...new Set(res.rows.map((r) => r.sample))];
  return ctx.finding({
    kind: 'orphans',
    message: `${about}${count} ${count === 1 ? 'row' : 'rows'} of ${childName} ${count === 1 ? 'points' : 'point'} at no row of ${parentName}: (${cols}) -> (${parentCols}) (${via})`,
    object: {
      schema: ref.child.schema,
      table: ref.child.name,
      ...(keyNames.length === 1 ? { column: keyNames[0] as string } : { columns: keyNames }),
      ...(ref.constraint ? { constraint: ref.constraint } : {}),
      references: { schema: ref.parent.schema, table: ref.parent.name, columns: ref.parentColumns.map((col) => col.name) },
    },
    count,
    ...(ctx.samplePercent === null ? {} : { estimated: true }),
    samples,
    details: { reasons: ref.reasons, matchType: ref.matchType },
    repair: async (finding, repairDb) => removeOrphans(ctx, ref, finding, repairDb),
  });
}

function strategyFor(ctx: CheckContext<Options>, ref: Reference): Strategy {
  const keys = ref.fk
    ? [ref.fk.name, `${ref.fk.schema}.${ref.fk.table}.${ref.fk.name}`]
    : ref.relationName
      ? [ref.relationName]
      : [];
  for (const key of keys) {
    // Keys are names users chose: a constraint called `constructor` must not find Object.prototype's.
    if (!Object.hasOwn(ctx.options.strategies, key)) continue;
    const chosen = ctx.options.strategies[key];
    if (chosen) return chosen;
  }
  const nullable = ref.columns.every((c) => !c.notNull);
  return nullable && ref.fk?.onDelete === 'set null' ? 'set-null' : 'delete';
}

interface RowSet {
  table: Table;
  /** Selects the rows under the given alias. */
  where: (alias: string) => string;
  /** For dependents: the columns ON DELETE SET NULL/DEFAULT changes; none when the rows are deleted. */
  setColumns?: string[];
}

interface Dependents {
  /** Rows a delete would take with it (ON DELETE CASCADE) or change (SET NULL, SET DEFAULT), one entry per table. */
  changed: RowSet[];
  /** References that would block the delete (NO ACTION, RESTRICT). */
  blockers: RowSet[];
  /** Why the cascade cannot be quarantined exactly (a cycle, a table outside the audit). */
  problems: string[];
}

/**
 * The tables whose foreign keys reach rows of `table`: itself, the partitioned tables it is a partition of
 * (a key on the parent covers its partitions' rows), and its own partitions, at any depth.
 */
function partitionFamily(ctx: CheckContext<Options>, table: Table): Set<string> {
  const family = new Set([tableKey(table.schema, table.name)]);
  for (let up = table.partitionOf; up; ) {
    family.add(tableKey(up.schema, up.name));
    up = findTable(ctx.catalog, up.schema, up.name)?.partitionOf ?? null;
  }
  for (const p of ctx.catalog.partitions) if (isBelow(ctx, p, table)) family.add(tableKey(p.schema, p.name));
  return family;
}

/** Whether `p` is a partition of `table` at some depth. */
function isBelow(ctx: CheckContext<Options>, p: Table, table: Table): boolean {
  for (let up = p.partitionOf; up; up = findTable(ctx.catalog, up.schema, up.name)?.partitionOf ?? null) {
    if (up.schema === table.schema && up.name === table.name) return true;
  }
  return false;
}

/** Follows every foreign key into `rows`, as deep as the cascades go; a cycle is reported, not followed. */
function dependents(ctx: CheckContext<Options>, rows: RowSet, path: string[], out: Dependents): void {
  const family = partitionFamily(ctx, rows.table);
  for (const fk of ctx.catalog.foreignKeys) {
    if (!family.has(tableKey(fk.refSchema, fk.refTable))) continue;
    const key = tableKey(fk.schema, fk.table);
    const label = displayName(fk.schema, fk.table);
    const child = findTable(ctx.catalog, fk.schema, fk.table);
    // The referential actions are triggers on the referenced table: disabled there, the delete neither
    // cascades nor is refused, and would leave the rows that reference it orphaned.
    if (fk.disabledTriggers.some((t) => family.has(tableKey(t.schema, t.table)))) {
      out.problems.push(
        `the RI triggers of ${displayName(fk.name)} are disabled on ${displayName(rows.table.schema, rows.table.name)}, so the delete would not ${fk.onDelete === 'cascade' ? 'cascade to' : 'be checked against'} ${label} and would leave its rows orphaned: re-enable them first`,
      );
      continue;
    }
    if (fk.onDelete === 'no action' || fk.onDelete === 'restrict') {
      if (!child) out.problems.push(`${label} references it and is outside the audited schemas (add --schema ${fk.schema})`);
      else out.blockers.push(dependentRows(fk, child, rows, path.length));
      continue;
    }
    if (!child) {
      out.problems.push(`the delete would cascade into ${label}, outside the audited schemas (add --schema ${fk.schema})`);
      continue;
    }
    if (path.includes(key)) {
      out.problems.push(`the delete cascades through a cycle of foreign keys (${label} again)`);
      continue;
    }
    const set = dependentRows(fk, child, rows, path.length);
    if (fk.onDelete !== 'cascade') {
      if (!child.primaryKey) {
        out.problems.push(`the delete would change rows of ${label}, which has no primary key to put them back by`);
        continue;
      }
      // The restore finds a changed row by its primary key: not if the change is to the key itself.
      if (fk.columns.some((c) => child.primaryKey?.includes(c))) {
        out.problems.push(`the delete would change the primary key of rows of ${label} (ON DELETE ${fk.onDelete.toUpperCase()}), so they could not be put back by it`);
        continue;
      }
      // The change is an UPDATE: keys that reference those columns ON UPDATE would carry it further.
      const carried = ctx.catalog.foreignKeys.filter(
        (other) => other.refSchema === child.schema && other.refTable === child.name && other.onUpdate !== 'no action' && other.onUpdate !== 'restrict' && other.refColumns.some((c) => fk.columns.includes(c)),
      );
      if (carried.length > 0) {
        out.problems.push(`setting ${label}'s key would cascade further by ON UPDATE (${carried.map((o) => displayName(o.name)).join(', ')}), which this script cannot quarantine`);
        continue;
      }
      set.setColumns = fk.columns;
    }
    const same = out.changed.find((c) => c.table === child && (c.setColumns === undefined) === (set.setColumns === undefined));
    if (same) {
      // Reached again by another path: one copy, whichever path selects the row.
      const previous = same.where;
      same.where = (alias) => `(${previous(alias)}) OR (${set.where(alias)})`;
    } else {
      out.changed.push(set);
    }
    if (fk.onDelete === 'cascade') dependents(ctx, set, [...path, key], out);
  }
}

/** Column pair `i` of a foreign key compared as its RI query compares it (qualified operator, casts). */
function keyEquals(fk: ForeignKey, i: number, parentExpr: string, childExpr: string): string {
  const eq = fk.equality[i];
  return eq ? `${cast(parentExpr, eq.parentCast)} ${eq.operator} ${cast(childExpr, eq.childCast)}` : `${parentExpr} OPERATOR(pg_catalog.=) ${childExpr}`;
}

function dependentRows(fk: ForeignKey, child: Table, parent: RowSet, depth: number): RowSet {
  const parentAlias = `d${depth}`;
  // The rows being removed are the parent's own (ONLY); RI's cascades read the child's own rows too.
  const parentTable = ownRows(parent.table);
  // From the smaller side: a referencing table smaller than the parent is probed row by row through the
  // parent's key (OFFSET 0 keeps PostgreSQL from turning it back into a join that reads the whole parent);
  // otherwise the parent's matching rows are collected once.
  const probe = child.estimatedRows >= 0 && parent.table.estimatedRows > 0 && child.estimatedRows < parent.table.estimatedRows;
  return {
    table: child,
    where: (alias) =>
      probe
        ? `EXISTS (SELECT 1 FROM ${parentTable} AS ${parentAlias} WHERE ${fk.columns
            .map((c, i) => keyEquals(fk, i, `${parentAlias}.${quoteIdent(fk.refColumns[i] as string)}`, `${alias}.${quoteIdent(c)}`))
            .join(' AND ')} AND (${parent.where(parentAlias)}) OFFSET 0)`
        : // A semi-join PostgreSQL may hash; the key's own operator, as the cascade compares (citext's, say).
          `EXISTS (SELECT 1 FROM ${parentTable} AS ${parentAlias} WHERE ${fk.columns
            .map((c, i) => keyEquals(fk, i, `${parentAlias}.${quoteIdent(fk.refColumns[i] as string)}`, `${alias}.${quoteIdent(c)}`))
            .join(' AND ')} AND (${parent.where(parentAlias)}))`,
  };
}

/**
 * Locks the rows a repair is about to copy and remove (FOR UPDATE), in the order given: a concurrent
 * insert that references one of them waits for this transaction (its foreign key check takes FOR KEY
 * SHARE on the row) and then fails, instead of slipping in between the copy and the delete.
 */
function lockStep(rememberOrphans: string, cascaded: RowSet[]): RepairStep {
  return {
    safety: 'safe',
    phase: 'transaction',
    description: `lock the orphans${cascaded.length ? ` and the rows their delete cascades to (${cascaded.map((s) => displayName(s.table.schema, s.table.name)).join(', ')})` : ''} until COMMIT, remembering which, so that no writer adds to them or changes them in between`,
    sql: [
      rememberOrphans,
      ...cascaded.map((s) => `SELECT pg_catalog.count(*) AS rows_locked FROM (SELECT 1 FROM ${ownRows(s.table)} AS t WHERE ${s.where('t')} FOR UPDATE OF t) AS locked;`),
    ].join('\n'),
  };
}

async function removeOrphans(ctx: CheckContext<Options>, ref: Reference, finding: Finding, db: Queryable): Promise<Repair> {
  const child = qualifiedName(ref.child.schema, ref.child.name);
  // Reads, updates and deletes of the child's own rows (ONLY, as its foreign key covers); inserts name it plainly.
  const childRows = ownRows(ref.child);
  const childLabel = displayName(ref.child.schema, ref.child.name);
  const strategy = strategyFor(ctx, ref);
  // A sensitive table's rows that are only changed (their key set to NULL) are copied as the key and the
  // changed columns; rows that are deleted are copied whole, or restoring them would lose the rest.
  const partial = strategy === 'set-null' && ref.child.primaryKey && ctx.sensitiveTable(ref.child.schema, ref.child.name) ? [...ref.child.primaryKey, ...ref.columns.map((c) => c.name)] : undefined;
  const quarantine = await quarantineFor(db, ref.child, finding.fingerprint, partial);
  const steps: RepairStep[] = [];
  const restore: string[] = [];
  const fp = finding.fingerprint;
  // The orphans are chosen once, when they are locked, and only those are copied and removed: a row that
  // becomes an orphan later in the run (no key checks a declared relation) is left for the next audit.
  const locked = `pg_temp.${quoteIdent(`integrity_rows_${fp}`)}`;
  const lockedOrphans = (a: string) => `(${violationSql(ref, a)}) AND (${a}.tableoid, ${a}.ctid) IN (SELECT integrity_rel, integrity_row FROM ${locked})`;
  const where = lockedOrphans('t');
  const rememberOrphans = `CREATE TEMP TABLE ${locked} ON COMMIT DROP AS SELECT t.tableoid AS integrity_rel, t.ctid AS integrity_row FROM ${childRows} AS t WHERE ${violationSql(ref, 't')} FOR UPDATE OF t;`;

  // Read now (which rows would block or be cascaded to), and as the script will select them.
  const related: Dependents = { changed: [], blockers: [], problems: [] };
  const scripted: Dependents = { changed: [], blockers: [], problems: [] };
  if (strategy === 'delete') {
    const path = [tableKey(ref.child.schema, ref.child.name)];
    dependents(ctx, { table: ref.child, where: (a) => violationSql(ref, a) }, path, related);
    dependents(ctx, { table: ref.child, where: lockedOrphans }, path, scripted);
  }
  // Whether any row blocks the delete, not how many: EXISTS stops at the first, where a count would read
  // every referencing row (on a large table, as much again as the audit itself).
  const blockingTables: string[] = [];
  for (const b of related.blockers) {
    const hit = await db.query<{ blocked: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${ownRows(b.table)} AS t WHERE ${b.where('t')}) AS blocked`);
    const label = displayName(b.table.schema, b.table.name);
    if (hit.rows[0]?.blocked && !blockingTables.includes(label)) blockingTables.push(label);
  }
  const blocked = blockingTables.length;
  // Code of the user's that the removal would run, changing rows that the quarantine would not hold.
  const touched = [
    { table: ref.child, event: strategy === 'set-null' ? ('update' as const) : ('delete' as const) },
    ...related.changed.map((d) => ({ table: d.table, event: d.setColumns ? ('update' as const) : ('delete' as const) })),
  ];
  if (strategy !== 'review') {
    const fired = await userCodeFiredBy(db, touched);
    if (fired.length > 0) related.problems.push(`the ${strategy === 'set-null' ? 'update' : 'delete'} would fire ${fired.join(', ')}, whose changes the quarantine would not hold: read them first`);
  }

  if (strategy === 'review' || blocked > 0 || related.problems.length > 0) {
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `remove the ${finding.count} orphan row(s) of ${childLabel}, quarantined first`,
      decision:
        related.problems.length > 0
          ? `the rows this delete would also remove cannot all be quarantined by this script: ${[...new Set(related.problems)].join('; ')}`
          : blocked > 0
            ? `rows of ${blockingTables.join(', ')} reference these orphans without ON DELETE CASCADE: repair or remove them first`
            : 'the strategy for this reference is "review": restore the missing parents, or delete or detach the orphans',
      sql: `${createQuarantineTable(quarantine, ref.child)}
${moveToQuarantine(quarantine, childRows, violationSql(ref, 't'), 'orphan-rows', fp)}`,
    });
  } else if (strategy === 'set-null' && !ref.child.primaryKey) {
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `copy the orphan rows of ${childLabel} to the quarantine, then set their reference to NULL`,
      decision: `${childLabel} has no primary key, so the old values could not be put back row by row: add a key first, or accept that`,
      sql: `${createQuarantineTable(quarantine, ref.child)}\n${copyToQuarantine(quarantine, childRows, violationSql(ref, 't'), 'orphan-rows', fp)}\nUPDATE ${childRows} AS t SET ${ref.columns.map((c) => `${quoteIdent(c.name)} = NULL`).join(', ')} WHERE ${violationSql(ref, 't')};`,
    });
  } else if (strategy === 'set-null') {
    const sets = ref.columns.map((c) => `${quoteIdent(c.name)} = NULL`).join(', ');
    steps.push(
      lockStep(rememberOrphans, []),
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${childLabel}`, sql: createQuarantineTable(quarantine, ref.child) },
      {
        safety: 'destructive',
        phase: 'transaction',
        description: `copy the orphan rows of ${childLabel} to the quarantine, then set their reference to NULL`,
        sql: `${copyToQuarantine(quarantine, childRows, where, 'orphan-rows', fp)}
UPDATE ${childRows} AS t SET ${sets} WHERE ${where};`,
      },
    );
    restore.push(
      restoreValuesStatement(quarantine, childRows, ref.child, ref.columns.map((c) => c.name), fp),
    );
  } else {
    // Locked before anything is copied: a row a writer adds to the cascade after its copy was taken would
    // be deleted with no copy. Under the lock, such a writer waits for this transaction and then fails.
    steps.push(lockStep(rememberOrphans, scripted.changed.filter((d) => !d.setColumns)));
    for (const dep of scripted.changed) {
      const depRows = ownRows(dep.table);
      const depQuarantine = await quarantineFor(db, dep.table, fp, dep.setColumns && dep.table.primaryKey && ctx.sensitiveTable(dep.table.schema, dep.table.name) ? [...dep.table.primaryKey, ...dep.setColumns] : undefined);
      steps.push({
        safety: 'destructive',
        phase: 'transaction',
        description: `quarantine the rows of ${displayName(dep.table.schema, dep.table.name)} that the delete cascades to (or changes)`,
        sql: `${createQuarantineTable(depQuarantine, dep.table)}
${copyToQuarantine(depQuarantine, depRows, dep.where('t'), 'orphan-rows', fp)}`,
      });
      restore.push(
        dep.setColumns
          ? `${restoreValuesStatement(depQuarantine, depRows, dep.table, dep.setColumns, fp)} -- after the rows above`
          : `${restoreStatement(depQuarantine, dep.table, fp)} -- after the rows above`,
      );
    }
    steps.push(
      { safety: 'safe', phase: 'transaction', description: `quarantine table for ${childLabel}`, sql: createQuarantineTable(quarantine, ref.child) },
      {
        safety: 'destructive',
        phase: 'transaction',
        description: `move the orphan rows of ${childLabel} to the quarantine (delete them, keeping a copy)`,
        sql: moveToQuarantine(quarantine, childRows, where, 'orphan-rows', fp),
      },
    );
    restore.unshift(restoreStatement(quarantine, ref.child, fp));
  }

  const fk = ref.fk;
  if (fk && !fk.enforced) {
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: `make ${displayName(fk.name)} enforced again`,
      decision: 'confirm the constraint was not made NOT ENFORCED on purpose',
      sql: `ALTER TABLE ${child} ALTER CONSTRAINT ${quoteIdent(fk.name)} ENFORCED;`,
    });
  } else if (fk && !fk.validated && strategy !== 'review' && blocked === 0 && related.problems.length === 0) {
    steps.push({
      safety: 'safe',
      phase: 'transaction',
      description: `validate ${displayName(fk.name)} now that no row breaks it`,
      // The delete queues the events of deferred keys referencing the child on it, and ALTER TABLE refuses
      // a table with events queued (55006): only the child's own deferred constraints are run first, not
      // every one the script has deferred so far, and they are deferred again after it.
      sql: guardedValidations([tableConstraintValidation(ref.child.schema, ref.child.name, fk.name, 'f')], false),
    });
  }
  if (fk && fk.disabledTriggers.length > 0) {
    for (const t of fk.disabledTriggers) {
      steps.push({
        safety: 'review',
        phase: 'transaction',
        description: `re-enable the triggers of ${displayName(t.schema, t.table)}, so the foreign key is checked again`,
        decision: 'ENABLE TRIGGER ALL also enables user triggers; confirm none was disabled on purpose',
        sql: `ALTER TABLE ${qualifiedName(t.schema, t.table)} ENABLE TRIGGER ALL;`,
      });
    }
  }
  if (!fk) {
    steps.push({
      safety: 'review',
      phase: 'transaction',
      description: 'add the foreign key this relation never had',
      decision: 'the referenced columns need a unique constraint, and the types must match',
      sql: `ALTER TABLE ${child} ADD FOREIGN KEY (${ref.columns.map((c) => quoteIdent(c.name)).join(', ')}) REFERENCES ${qualifiedName(ref.parent.schema, ref.parent.name)} (${ref.parentColumns.map((c) => quoteIdent(c.name)).join(', ')}) NOT VALID;`,
    });
  }
  return {
    order: 40,
    summary:
      strategy === 'set-null'
        ? `set the dangling reference of ${finding.count} row(s) to NULL, after copying them to the quarantine`
        : `move ${finding.count} orphan row(s) to the ${QUARANTINE_SCHEMA} schema${related.changed.length ? ', with the rows the delete cascades to' : ''}`,
    steps,
    restore,
  };
}
