import type { CheckDefinition } from '../check.js';
import { findTable, tableKey, type Catalog } from '../db/catalog.js';
import type { Queryable } from '../db/session.js';
import type { Relation } from '../config/relations.js';
import { auditWith, type AuditOptions, type RepairEntry } from '../engine/runner.js';
import { TransactionLanes } from '../fix/execute.js';
import { errorMessage } from '../errors.js';
import { compareFindings, type Finding, type FindingObject } from '../findings.js';
import { builtInChecks } from '../registry.js';
import { addInstead } from './instead.js';
import type { PreflightFinding, PreflightReport } from './report.js';
import type { MigrationFile } from './statements.js';

/** What the hook needs of the preflight run: its connection (inside its transaction and snapshot), and what it read. */
export interface RepairHookContext {
  /** The preflight's own connection, in its REPEATABLE READ, READ ONLY transaction. */
  db: Queryable;
  session: { serverVersion: string; systemIdentifier?: string | null };
  options: AuditOptions;
  /** The catalog the judges read. */
  catalog: Catalog;
  files: MigrationFile[];
}

/** The repairs of a report's findings, for `--fix-script` (kept beside the report, which stays the JSON it was). */
const ENTRIES = new WeakMap<PreflightReport, RepairEntry[]>();

export function preflightRepairs(report: PreflightReport): RepairEntry[] {
  return ENTRIES.get(report) ?? [];
}

/**
 * After the judgements: each finding that fails now gets the SQL to run instead, and each orphans or
 * duplicates finding on today's rows the repair `integrity fix` would write for them, from orphan-rows and
 * unique run in this same session and snapshot, on the tables involved only. A repair is attached only
 * where the check counted the same rows as the judge; otherwise `details.repairNote` says why not.
 */
export async function withRepairs(report: PreflightReport, ctx: RepairHookContext): Promise<PreflightReport> {
  addInstead(report, ctx.files);
  ENTRIES.set(report, await attachRepairs(report, ctx));
  return report;
}

const columnsOf = (o: FindingObject): string[] => o.columns ?? (o.column ? [o.column] : []);
const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

interface Wanted {
  finding: PreflightFinding;
  check: 'orphan-rows' | 'unique';
  /** The unique rule's name: its finding carries it in details.rule. */
  rule?: string;
}

/** The findings a check of integrity can repair, and why each of the others gets no repair. */
function wantedRepairs(report: PreflightReport, catalog: Catalog): Wanted[] {
  const wanted: Wanted[] = [];
  report.findings.forEach((f, i) => {
    const count = f.count;
    if (count === null || count === 0) return;
    if (f.checkId === 'preflight/orphans' && f.object.references && !/\(42830\)/.test(f.message)) {
      const r = f.object.references;
      if (!findTable(catalog, f.object.schema, f.object.table) || !findTable(catalog, r.schema, r.table)) {
        note(f, `${findTable(catalog, r.schema, r.table) ? 'the table' : 'the referenced table'} is created in this run: its rows when the statement runs are not today's, so no repair of today's rows is written`);
        return;
      }
      wanted.push({ finding: f, check: 'orphan-rows' });
    } else if (f.checkId === 'preflight/duplicates' && typeof f.details?.duplicateKeys === 'number') {
      if (!findTable(catalog, f.object.schema, f.object.table)) {
        note(f, 'the table is created in this run: no repair of today\'s rows is written');
        return;
      }
      wanted.push({ finding: f, check: 'unique', rule: `preflight ${f.location.file}:${f.location.line} #${i}` });
    }
  });
  return wanted;
}

function note(f: PreflightFinding, why: string): void {
  f.details = { ...f.details, repairNote: why };
}

/** A foreign key the database has, not validated: orphan-rows verifies it as it is, no relation needed. */
function catalogForeignKey(catalog: Catalog, f: PreflightFinding) {
  return f.object.constraint === undefined ? undefined : catalog.foreignKeys.find((fk) => fk.schema === f.object.schema && fk.table === f.object.table && fk.name === f.object.constraint && !fk.validated);
}

function relationFor(f: PreflightFinding): Relation {
  const r = f.object.references as NonNullable<FindingObject['references']>;
  return {
    // Named as the constraint, so that orphan-rows' strategies for it (delete, set-null, review) apply.
    ...(f.object.constraint ? { name: f.object.constraint } : {}),
    schema: f.object.schema,
    table: f.object.table,
    columns: columnsOf(f.object),
    references: { schema: r.schema, table: r.table, columns: r.columns },
  };
}

/**
 * The tables the checks must see: those of the findings, and every table whose foreign keys reach the rows
 * a repair may remove (their partitions and parents too), since a delete's cascade is quarantined only
 * where the catalog shows it.
 */
function tablesToSee(catalog: Catalog, wanted: Wanted[]): Set<string> {
  const seen = new Set<string>();
  const queue: { schema: string; name: string }[] = [];
  const add = (schema: string, name: string) => {
    const key = tableKey(schema, name);
    if (seen.has(key)) return;
    seen.add(key);
    queue.push({ schema, name });
  };
  for (const w of wanted) {
    add(w.finding.object.schema, w.finding.object.table);
    const r = w.finding.object.references;
    if (r) seen.add(tableKey(r.schema, r.table));
  }
  while (queue.length > 0) {
    const t = queue.shift() as { schema: string; name: string };
    const table = findTable(catalog, t.schema, t.name);
    if (table?.partitionOf) add(table.partitionOf.schema, table.partitionOf.name);
    for (const p of catalog.partitions) if (p.partitionOf?.schema === t.schema && p.partitionOf.name === t.name) add(p.schema, p.name);
    for (const fk of catalog.foreignKeys) if (fk.refSchema === t.schema && fk.refTable === t.name) add(fk.schema, fk.table);
  }
  return seen;
}


async function attachRepairs(report: PreflightReport, ctx: RepairHookContext): Promise<RepairEntry[]> {
  const wanted = wantedRepairs(report, ctx.catalog);
  if (wanted.length === 0) return [];
  const builtIn = await builtInChecks();
  const checks = builtIn.filter((c) => wanted.some((w) => w.check === c.id)) as CheckDefinition[];
  const relations: Relation[] = [];
  for (const w of wanted) {
    if (w.check !== 'orphan-rows' || catalogForeignKey(ctx.catalog, w.finding)) continue;
    const r = relationFor(w.finding);
    if (!relations.some((x) => JSON.stringify({ ...x, name: undefined }) === JSON.stringify({ ...r, name: undefined }))) relations.push(r);
  }
  const rules = wanted
    .filter((w) => w.check === 'unique')
    .map((w) => ({
      name: w.rule as string,
      schema: w.finding.object.schema,
      table: w.finding.object.table,
      columns: columnsOf(w.finding.object),
      nullsDistinct: w.finding.details?.nullsDistinct !== false,
      ...(typeof w.finding.details?.predicate === 'string' ? { where: w.finding.details.predicate } : {}),
    }));
  const config = ctx.options.config;
  const see = tablesToSee(ctx.catalog, wanted);
  const options: AuditOptions = {
    ...ctx.options,
    checks,
    selected: new Set(checks.map((c) => c.id)),
    deselected: new Map(),
    config: {
      ...config,
      relations,
      checks: {
        ...config.checks,
        unique: { enabled: true, severity: config.checks.unique?.severity, options: { rules } },
      },
    },
    deep: false,
    onlyTables: (schema, table) => see.has(tableKey(schema, table)),
  };
  let outcome;
  try {
    outcome = await auditWith(new TransactionLanes(ctx.db, ctx.session.serverVersion, ctx.session.systemIdentifier ?? null), options);
  } catch (err) {
    for (const w of wanted) note(w.finding, `the repair could not be written: ${errorMessage(err).split('\n')[0] ?? ''}`);
    return [];
  }
  const { report: audit, repairs } = outcome;
  const entries: RepairEntry[] = [];
  for (const w of wanted) {
    const f = w.finding;
    const result = audit.checks.find((c) => c.id === w.check);
    if (result && (result.status === 'error' || result.status === 'skipped')) {
      note(f, `${w.check} could not count these rows (${result.reason ?? result.status}): no repair is attached`);
      continue;
    }
    const match = audit.findings.find((c) => c.checkId === w.check && matches(w, c));
    if (!match) {
      note(f, `${w.check} found none of these rows in the same snapshot: no repair is attached`);
      continue;
    }
    const agree = w.check === 'unique' ? match.count === f.count && match.details?.duplicateKeys === f.details?.duplicateKeys : match.count === f.count;
    if (!agree) {
      note(f, `${w.check} counted ${match.count} row${match.count === 1 ? '' : 's'} where this judgement counted ${f.count}: its repair would not remove exactly the rows that fail, so none is attached`);
      continue;
    }
    const entry = repairs.find((e) => e.finding === match);
    if (!entry) {
      const keys = Number(f.details?.duplicateKeys);
      note(f, w.check === 'unique'
        ? `unique counts the same ${f.count} rows (${keys} key${keys === 1 ? '' : 's'}), but integrity writes no repair for duplicates: which row of each key to keep is a decision (merge or delete the others, and repoint what references them)`
        : `${w.check} wrote no repair for these rows`);
      continue;
    }
    if (entry.repair.error) {
      note(f, `the repair could not be written: ${entry.repair.error}`);
      continue;
    }
    f.fix = match.fix;
    f.details = { ...f.details, repair: { checkId: match.checkId, fingerprint: match.fingerprint } };
    if (!entries.includes(entry)) entries.push(entry);
  }
  entries.sort((a, b) => a.repair.order - b.repair.order || compareFindings(a.finding, b.finding));
  return entries;
}

/** Whether the check's finding is on the same rows: same table and columns, and the same referenced key or rule. */
function matches(w: Wanted, c: Finding): boolean {
  const f = w.finding.object;
  if (c.object.schema !== f.schema || c.object.table !== f.table || !sameList(columnsOf(c.object), columnsOf(f))) return false;
  if (w.check === 'unique') return c.details?.rule === w.rule;
  const r = f.references;
  const cr = c.object.references;
  if (!r || !cr || cr.schema !== r.schema || cr.table !== r.table || !sameList(cr.columns, r.columns)) return false;
  // A constraint the database has is verified by name; a relation has none.
  return c.object.constraint === undefined || c.object.constraint === f.constraint;
}
