import { findTable, type Catalog, type Table } from '../db/catalog.js';
import type { Queryable } from '../db/session.js';
import type { FindingObject, Severity } from '../findings.js';
import { isNode, type MigrationFile, type MigrationStatement, type Node, type StatementLocation } from './statements.js';
import type { PreflightRuleId } from './rules.js';

/** What one judgement of a statement (or of one part of it, an ALTER TABLE's subcommand) came to. */
export interface Outcome {
  rule: PreflightRuleId;
  status: 'passed' | 'failed' | 'not-judged' | 'error';
  /** Why it was not judged, or what failed when it errored. */
  reason?: string;
  /** What the pass rests on, when that is worth saying (an empty table created in this run). */
  note?: string;
}

/** A finding before the report gives it a fingerprint: always on one statement. */
export interface PreflightFindingInput {
  rule: PreflightRuleId;
  kind: string;
  severity?: Severity;
  message: string;
  object: FindingObject;
  count: number | null;
  samples: string[];
  details?: Record<string, unknown>;
  location: StatementLocation;
}

export interface StatementVerdict {
  location: StatementLocation;
  /** e.g. `ALTER TABLE`, `CREATE INDEX`. */
  statement: string;
  /** The table it names, when it names one. */
  relation: { schema: string; table: string } | null;
  /** Its place in its file (1-based): what names it across edits that move its line. */
  ordinal: number;
  outcomes: Outcome[];
}

export interface JudgeContext {
  /** The guarded, read-only handle: every query goes through the audit's guard. */
  db: Queryable;
  /** The same connection, for the savepoints each judgement runs in (the guard refuses them). */
  raw: Queryable;
  catalog: Catalog;
  sampleSize: number;
  /** placeholder-uuid's values (config, else its defaults), lower case. */
  placeholders: string[];
  /** Whether key values may leave the database for a finding on this object (samples.exclude). */
  valuesAllowed: (object: FindingObject) => boolean;
  /**
   * Casts whose function is not pg_catalog's (`source -> target`): PostgreSQL picks a cast by its types,
   * so a judging query's `::text` or a migration's cast between built-in types could run one. While there
   * are any, no expression of the migration is evaluated and samples are ctids.
   */
  userCasts: string[];
}

/** What the earlier statements of the run did, as far as it matters to the later ones. */
export class RunState {
  /** Tables created by an earlier statement: empty when a later one runs, unless rows were written since. */
  readonly created = new Map<string, StatementLocation>();
  /** Tables whose rows or shape an earlier statement changed in a way not followed: later statements on them are not judged. */
  readonly changed = new Map<string, { location: StatementLocation; statement: string }>();
  /** An earlier statement that may have changed any table (a DO block, a function call): nothing after it is judged on data. */
  barrier: { location: StatementLocation; statement: string; why?: string } | null = null;
  /** Columns added by an earlier statement: their values are not today's (key: JSON [schema, table, column]). */
  readonly addedColumns = new Map<string, StatementLocation>();
  /** Constraints added NOT VALID earlier in the run, for a later VALIDATE CONSTRAINT (key: JSON [schema, table, name]). */
  readonly notValid = new Map<string, { table: string; constraint: Node; location: StatementLocation }>();
  /** Column types given by the run (CREATE TABLE, ADD COLUMN): the last part of the type's name (key: JSON [schema, table, column]). */
  readonly columnTypes = new Map<string, string>();
  /** Foreign keys added NOT VALID in the run (key: JSON [schema, table, name]), with where. */
  readonly notValidForeignKeys = new Map<string, { location: StatementLocation; columns: string[] }>();
  /** Constraints a VALIDATE CONSTRAINT of the run names (key: JSON [schema, table, name]). */
  readonly validated = new Set<string>();
  /** Triggers disabled in the run and not enabled again since (key: JSON [schema, table]; value: trigger name, ALL or USER, and where). */
  readonly disabledTriggers = new Map<string, { trigger: string; location: StatementLocation }[]>();
  /** Unique keys added earlier in the run, by table: a foreign key may reference them. */
  readonly uniqueAdded = new Map<string, string[][]>();
  /** Tables given a trigger, or referenced by a foreign key with an action, earlier in the run: writing to them runs more than the statement. */
  readonly codeAdded = new Set<string>();
  /** The schemas unqualified names resolve in (SET search_path changes it). */
  searchPath: string[] = ['public'];
}

export const tableKey = (schema: string, name: string) => JSON.stringify([schema, name]);

export interface RangeVar {
  schemaname?: string;
  relname?: string;
}

/** Where an unqualified or qualified name points: the schema it lands in, and the table there today (if any). */
export function resolveRelation(rv: RangeVar, state: RunState, catalog: Catalog): { schema: string; name: string; table: Table | undefined } {
  const name = rv.relname ?? '';
  if (rv.schemaname) return { schema: rv.schemaname, name, table: findTable(catalog, rv.schemaname, name) };
  for (const schema of state.searchPath) {
    if (state.created.has(tableKey(schema, name))) return { schema, name, table: findTable(catalog, schema, name) };
    const table = findTable(catalog, schema, name);
    if (table) return { schema, name, table };
  }
  return { schema: state.searchPath[0] ?? 'public', name, table: undefined };
}

const LABELS: Record<string, string> = {
  CreateStmt: 'CREATE TABLE',
  IndexStmt: 'CREATE INDEX',
  VariableSetStmt: 'SET',
  TransactionStmt: 'transaction control',
  DoStmt: 'DO',
  ViewStmt: 'CREATE VIEW',
  DefineStmt: 'CREATE (aggregate, operator or type)',
  CompositeTypeStmt: 'CREATE TYPE',
  CreateEnumStmt: 'CREATE TYPE ... AS ENUM',
  CreateTrigStmt: 'CREATE TRIGGER',
  CreateSeqStmt: 'CREATE SEQUENCE',
  CreateTableAsStmt: 'CREATE TABLE AS',
  RenameStmt: 'RENAME',
  DropStmt: 'DROP',
  GrantStmt: 'GRANT or REVOKE',
  CommentStmt: 'COMMENT',
  CopyStmt: 'COPY',
  CallStmt: 'CALL',
};

/** A statement's name for a person: `ALTER TABLE`, `CREATE FUNCTION`. */
export function statementLabel(s: MigrationStatement): string {
  if (s.kind === 'IndexStmt' && s.node.unique === true) return 'CREATE UNIQUE INDEX';
  return LABELS[s.kind] ?? s.kind.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/**
 * Statements that change no row of a table that exists: after them, the data a later statement sees
 * is still today's. (A CREATE EXTENSION's script could write anywhere; extensions create their own
 * objects, and that is what is assumed here.)
 */
const ROWS_UNCHANGED = new Set([
  'VariableSetStmt',
  'TransactionStmt',
  'CreateFunctionStmt',
  'CreateTrigStmt',
  'ViewStmt',
  'CreateSchemaStmt',
  'CreateSeqStmt',
  'AlterSeqStmt',
  'CreateEnumStmt',
  'AlterEnumStmt',
  'CompositeTypeStmt',
  'CreateDomainStmt',
  'DefineStmt',
  'CreateExtensionStmt',
  'CommentStmt',
  'GrantStmt',
  'GrantRoleStmt',
  'CreateRoleStmt',
  'AlterRoleStmt',
  'CreatePolicyStmt',
  'AlterPolicyStmt',
  'AlterOwnerStmt',
  'AlterDefaultPrivilegesStmt',
  'IndexStmt',
  'CreateStmt',
  'VacuumStmt',
  'NotifyStmt',
]);

/** Statements whose changes are confined to the rows of the table they name. */
const ROWS_OF_ONE_TABLE = new Set(['AlterTableStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt', 'RenameStmt']);

/** A DML statement may fire triggers or cascade to other tables; then it is a barrier for all of them. */
function firesOtherCode(kind: string, key: string, table: Table | undefined, catalog: Catalog, state: RunState): boolean {
  if (kind === 'AlterTableStmt' || kind === 'RenameStmt') return false;
  if (state.codeAdded.has(key)) return true;
  if (!table) return false;
  if (catalog.triggers.some((t) => t.schema === table.schema && t.table === table.name && t.enabled !== 'D')) return true;
  // A DELETE or UPDATE cascades (or sets NULL) along the foreign keys that reference the table.
  return catalog.foreignKeys.some((fk) => fk.refSchema === table.schema && fk.refTable === table.name && (fk.onDelete !== 'no action' && fk.onDelete !== 'restrict' || fk.onUpdate !== 'no action' && fk.onUpdate !== 'restrict'));
}

/** Records what a statement (judged or not) does to the rows later statements see. */
export function recordEffects(s: MigrationStatement, state: RunState, catalog: Catalog): void {
  const label = statementLabel(s);
  if (s.kind === 'CreateStmt') {
    const rel = resolveRelation((s.node.relation ?? {}) as RangeVar, state, catalog);
    // Over a table that exists, IF NOT EXISTS does nothing and a plain CREATE fails (reported): either
    // way the table keeps today's rows for the statements after it.
    const key = tableKey(rel.schema, rel.name);
    if (rel.table && !state.created.has(key) && !state.changed.has(key)) return;
    state.created.set(tableKey(rel.schema, rel.name), s.location);
    state.changed.delete(tableKey(rel.schema, rel.name));
    recordColumnTypes(rel, (s.node.tableElts as Node[] | undefined) ?? [], state);
    return;
  }
  if (s.kind === 'VariableSetStmt' && s.node.name === 'search_path' && Array.isArray(s.node.args)) {
    const schemas = (s.node.args as Node[]).map((a) => {
      const c = isNode(a.A_Const) ? (a.A_Const as Node) : {};
      return isNode(c.sval) ? String((c.sval as Node).sval) : '';
    });
    state.searchPath = schemas.filter((x) => x !== '' && x !== '$user' && x !== 'pg_catalog' && x !== 'pg_temp');
    return;
  }
  if (s.kind === 'CreateTrigStmt' && isNode(s.node.relation)) {
    const rel = resolveRelation(s.node.relation as RangeVar, state, catalog);
    state.codeAdded.add(tableKey(rel.schema, rel.name));
  }
  if (s.kind === 'AlterTableStmt' || s.kind === 'CreateStmt') {
    // A foreign key with ON DELETE/UPDATE CASCADE, SET NULL or SET DEFAULT: writing to its parent writes to the child.
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) n.forEach(walk);
      else if (isNode(n)) {
        const c = isNode(n.Constraint) ? (n.Constraint as Node) : null;
        if (c?.contype === 'CONSTR_FOREIGN' && isNode(c.pktable) && (!['a', 'r'].includes(String(c.fk_del_action ?? 'a')) || !['a', 'r'].includes(String(c.fk_upd_action ?? 'a')))) {
          const rel = resolveRelation(c.pktable as RangeVar, state, catalog);
          state.codeAdded.add(tableKey(rel.schema, rel.name));
        }
        Object.values(n).forEach(walk);
      }
    };
    walk(s.node);
  }
  if (s.kind === 'AlterTableStmt' && isNode(s.node.relation) && s.node.objtype === 'OBJECT_TABLE') {
    const rel = resolveRelation(s.node.relation as RangeVar, state, catalog);
    recordColumnTypes(rel, ((s.node.cmds as Node[] | undefined) ?? []).map((c) => ((c.AlterTableCmd as Node | undefined)?.def ?? {}) as Node), state);
    recordConstraintsAndTriggers(s, rel, state);
  }
  if (ROWS_UNCHANGED.has(s.kind)) return;
  if (s.kind === 'TruncateStmt' || s.kind === 'DropStmt' || ROWS_OF_ONE_TABLE.has(s.kind)) {
    const relations: RangeVar[] =
      s.kind === 'TruncateStmt'
        ? ((s.node.relations as Node[] | undefined) ?? []).map((r) => (r.RangeVar ?? {}) as RangeVar)
        : s.kind === 'DropStmt'
          ? dropTargets(s.node)
          : [(s.node.relation ?? {}) as RangeVar];
    if (s.kind === 'DropStmt' && s.node.removeType !== 'OBJECT_TABLE') {
      // Dropping an index, a type, a function changes no row; anything else dropped with CASCADE may.
      if (s.node.behavior !== 'DROP_CASCADE') return;
    }
    if (s.kind === 'TruncateStmt' && s.node.behavior === 'DROP_CASCADE') {
      state.barrier = { location: s.location, statement: label };
      return;
    }
    for (const rv of relations) {
      const rel = resolveRelation(rv, state, catalog);
      if (firesOtherCode(s.kind, tableKey(rel.schema, rel.name), rel.table, catalog, state)) {
        state.barrier = { location: s.location, statement: label };
        return;
      }
      // Adding or dropping a constraint, a default or NOT NULL changes no row (a column added is followed
      // in addedColumns); anything else an ALTER TABLE does (a type, a column dropped) may.
      if (!(s.kind === 'AlterTableStmt' && alterKeepsRows(s.node))) state.changed.set(tableKey(rel.schema, rel.name), { location: s.location, statement: label });
    }
    return;
  }
  state.barrier = { location: s.location, statement: label };
}

const ROW_KEEPING_SUBCOMMANDS = new Set([
  'AT_AddConstraint',
  'AT_ValidateConstraint',
  'AT_DropConstraint',
  'AT_SetNotNull',
  'AT_DropNotNull',
  'AT_ColumnDefault',
  'AT_AddColumn',
  'AT_EnableTrig',
  'AT_DisableTrig',
  'AT_EnableTrigAll',
  'AT_DisableTrigAll',
  'AT_EnableTrigUser',
  'AT_DisableTrigUser',
  'AT_SetStatistics',
  'AT_SetStorage',
  'AT_ChangeOwner',
  'AT_EnableRowSecurity',
  'AT_DisableRowSecurity',
  'AT_ForceRowSecurity',
  'AT_NoForceRowSecurity',
  'AT_SetRelOptions',
  'AT_ResetRelOptions',
  'AT_ReplicaIdentity',
]);

function alterKeepsRows(node: Node): boolean {
  if (node.objtype !== 'OBJECT_TABLE') return true;
  return ((node.cmds as Node[] | undefined) ?? []).every((c) => ROW_KEEPING_SUBCOMMANDS.has(String((c.AlterTableCmd as Node | undefined)?.subtype)));
}

/** NOT VALID foreign keys and their VALIDATE; triggers disabled and enabled: judged when the run ends. */
function recordConstraintsAndTriggers(s: MigrationStatement, rel: { schema: string; name: string }, state: RunState): void {
  const key = (name: string) => JSON.stringify([rel.schema, rel.name, name]);
  const tkey = JSON.stringify([rel.schema, rel.name]);
  for (const item of (s.node.cmds as Node[] | undefined) ?? []) {
    const cmd = (item.AlterTableCmd ?? {}) as Node;
    const subtype = String(cmd.subtype);
    const c = isNode(cmd.def) && isNode((cmd.def as Node).Constraint) ? ((cmd.def as Node).Constraint as Node) : null;
    if (subtype === 'AT_AddConstraint' && c?.contype === 'CONSTR_FOREIGN' && c.skip_validation === true && typeof c.conname === 'string') {
      const columns = (((c.fk_attrs as Node[] | undefined) ?? []).map((n) => String((n.String as Node | undefined)?.sval ?? '')));
      state.notValidForeignKeys.set(key(c.conname), { location: s.location, columns });
    }
    if (subtype === 'AT_ValidateConstraint') state.validated.add(key(String(cmd.name)));
    const disabled = state.disabledTriggers.get(tkey) ?? [];
    if (subtype === 'AT_DisableTrig') disabled.push({ trigger: String(cmd.name), location: s.location });
    if (subtype === 'AT_DisableTrigAll') disabled.push({ trigger: 'ALL', location: s.location });
    if (subtype === 'AT_DisableTrigUser') disabled.push({ trigger: 'USER', location: s.location });
    const enabled = (d: { trigger: string }) =>
      ['AT_EnableTrig', 'AT_EnableAlwaysTrig', 'AT_EnableReplicaTrig'].includes(subtype)
        ? d.trigger === String(cmd.name)
        : subtype === 'AT_EnableTrigAll'
          ? true
          : subtype === 'AT_EnableTrigUser'
            ? d.trigger !== 'ALL'
            : false;
    state.disabledTriggers.set(tkey, disabled.filter((d) => !enabled(d)));
  }
}

function recordColumnTypes(rel: { schema: string; name: string }, elements: Node[], state: RunState): void {
  for (const e of elements) {
    if (!isNode(e.ColumnDef)) continue;
    const c = e.ColumnDef as Node;
    const typeNames = (((c.typeName as Node | undefined)?.names as Node[] | undefined) ?? []).map((n) => String((n.String as Node | undefined)?.sval ?? ''));
    state.columnTypes.set(JSON.stringify([rel.schema, rel.name, String(c.colname)]), typeNames[typeNames.length - 1] ?? '');
  }
}

function dropTargets(node: Node): RangeVar[] {
  if (node.removeType !== 'OBJECT_TABLE') return [];
  return ((node.objects as Node[] | undefined) ?? []).map((o) => {
    const names = (((o.List as Node | undefined)?.items as Node[] | undefined) ?? []).map((i) => String((i.String as Node | undefined)?.sval ?? ''));
    return names.length > 1 ? { schemaname: names[0] as string, relname: names[1] as string } : { relname: names[0] as string };
  });
}

/**
 * Why the data a statement on `table` would meet cannot be told from today's (an earlier statement of
 * the run changed it), or null when it can.
 */
export function unknownData(state: RunState, schema: string, name: string): string | null {
  if (state.barrier) {
    const why = state.barrier.why ? ` (${state.barrier.why})` : '';
    return `the ${state.barrier.statement} at ${state.barrier.location.file}:${state.barrier.location.line} may change any table's rows before this runs${why}`;
  }
  const changed = state.changed.get(tableKey(schema, name));
  if (changed) return `the ${changed.statement} at ${changed.location.file}:${changed.location.line} changes ${schema}.${name} before this runs`;
  return null;
}

/**
 * Runs one judgement's queries in a savepoint of its own: a query that errors (a lock not granted, a
 * statement timeout, a privilege) makes that judgement `error`, with why, and the run goes on.
 */
export async function judgement(ctx: JudgeContext, rule: PreflightRuleId, work: () => Promise<Outcome>): Promise<Outcome> {
  await ctx.raw.query('SAVEPOINT integrity_judgement');
  try {
    const outcome = await work();
    await ctx.raw.query('RELEASE SAVEPOINT integrity_judgement');
    return outcome;
  } catch (err) {
    await ctx.raw.query('ROLLBACK TO SAVEPOINT integrity_judgement');
    const code = typeof err === 'object' && err !== null && 'code' in err ? ` [${String((err as { code: unknown }).code)}]` : '';
    return { rule, status: 'error', reason: `${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}${code}` };
  }
}

/** A judge for one kind of statement: its outcomes, and its findings through `report`. */
export type Judge = (s: MigrationStatement, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void) => Promise<Outcome[]>;

const judgeCreateTable: Judge = async (s, state, ctx, report) => {
  const rel = resolveRelation((s.node.relation ?? {}) as RangeVar, state, ctx.catalog);
  const exists = rel.table !== undefined && !state.created.has(tableKey(rel.schema, rel.name)) && !state.changed.has(tableKey(rel.schema, rel.name));
  if (s.node.partbound || s.node.inhRelations) {
    return [{ rule: 'preflight/not-judged', status: 'not-judged', reason: 'a partition or an inheriting table: the rows of its parent are not judged' }];
  }
  if (exists && s.node.if_not_exists !== true) {
    report({
      rule: 'preflight/already-exists',
      kind: 'exists',
      message: `CREATE TABLE ${rel.schema}.${rel.name} fails now: the table exists (42P07); drop the statement, or write CREATE TABLE IF NOT EXISTS if its definition matches`,
      object: { schema: rel.schema, table: rel.name },
      count: null,
      samples: [],
      location: s.location,
    });
    return [{ rule: 'preflight/already-exists', status: 'failed' }];
  }
  return [{ rule: 'preflight/already-exists', status: 'passed', ...(exists ? { note: 'IF NOT EXISTS: the table exists, so this does nothing' } : {}) }];
};

/** Statements that data cannot make fail and that change no data: nothing to judge. */
const NOTHING_TO_JUDGE = new Set(['VariableSetStmt', 'TransactionStmt']);

export interface Judges {
  [kind: string]: Judge;
}

export const JUDGES: Judges = { CreateStmt: judgeCreateTable };

const DDL_WITH_EXPRESSIONS = new Set(['AlterTableStmt', 'IndexStmt', 'CreateStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/**
 * Code of the user's a statement runs: functions, operators and types (a domain's CHECK, a type's input
 * function) schema-qualified outside pg_catalog, or named bare and not found in pg_catalog, or named bare
 * and found in pg_catalog but also in another schema (see userOverloads).
 */
async function userFunctionsCalled(node: Node, ctx: JudgeContext, kind: string): Promise<string[]> {
  const qualified = new Set<string>();
  const bare = { functions: new Set<string>(), operators: new Set<string>(), types: new Set<string>() };
  const namesOf = (list: unknown): string[] => (Array.isArray(list) ? (list as Node[]).map((x) => String((x.String as Node | undefined)?.sval ?? '')) : []);
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (isNode(n)) {
      const call = isNode(n.FuncCall) ? (n.FuncCall as Node) : null;
      const fn = namesOf(call?.funcname);
      if (fn.length > 1 && fn[0] !== 'pg_catalog') qualified.add(`${fn.join('.')}()`);
      else if (fn.length === 1) bare.functions.add(fn[0] as string);
      const op = namesOf(isNode(n.A_Expr) ? (n.A_Expr as Node).name : undefined);
      if (op.length > 1 && op[0] !== 'pg_catalog') qualified.add(`operator OPERATOR(${op.join('.')})`);
      else if (op.length === 1) bare.operators.add(op[0] as string);
      // A type runs code where values are made of it: a cast, and a column added or converted over rows
      // (ALTER TABLE); a column of a table created empty holds none.
      const typed = [isNode(n.TypeCast) ? (n.TypeCast as Node).typeName : undefined, kind === 'AlterTableStmt' && isNode(n.ColumnDef) ? (n.ColumnDef as Node).typeName : undefined];
      for (const t of typed) {
        const ty = namesOf(isNode(t) ? (t as Node).names : undefined);
        if (ty.length > 1 && ty[0] !== 'pg_catalog') qualified.add(`type ${ty.join('.')}`);
        else if (ty.length === 1) bare.types.add(ty[0] as string);
      }
      Object.values(n).forEach(walk);
    }
  };
  walk(node);
  if (bare.functions.size + bare.operators.size + bare.types.size > 0) {
    const res = await ctx.db.query<{ kind: string; name: string }>(
      `SELECT DISTINCT 'f' AS kind, p.proname::pg_catalog.text AS name FROM pg_catalog.pg_proc p
        WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND p.proname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
       UNION ALL
       SELECT DISTINCT 'o', o.oprname::pg_catalog.text FROM pg_catalog.pg_operator o
        WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND o.oprname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])
       UNION ALL
       SELECT DISTINCT 't', t.typname::pg_catalog.text FROM pg_catalog.pg_type t
        WHERE t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND t.typname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[])`,
      [[...bare.functions], [...bare.operators], [...bare.types]],
    );
    const known = new Set(res.rows.map((r) => `${r.kind}:${r.name}`));
    const shadows = await userOverloads(ctx, [...bare.functions], [...bare.operators]);
    for (const b of bare.functions) {
      if (!known.has(`f:${b}`)) qualified.add(`${b}()`);
      else if (shadows.get(`f:${b}`)) qualified.add(`${b}() (${shadows.get(`f:${b}`) ?? ''} has the name too, outside pg_catalog)`);
    }
    for (const b of bare.operators) {
      if (!known.has(`o:${b}`)) qualified.add(`operator ${b}`);
      else if (shadows.get(`o:${b}`)) qualified.add(`operator ${b} (${shadows.get(`o:${b}`) ?? ''} has the name too, outside pg_catalog)`);
    }
    // The parser's own spellings of pg_catalog types (int, integer, varchar, ...) reach pg_catalog by other names.
    for (const b of bare.types) if (!known.has(`t:${b}`) && !SQL_TYPE_NAMES.has(b.toLowerCase())) qualified.add(`type ${b}`);
  }
  return [...qualified].sort();
}

/**
 * Functions and operators of a schema other than pg_catalog that share a bare name the statement uses
 * (key `f:name` / `o:name`, value the qualified names, for a person). PostgreSQL picks among every
 * overload on the search_path by argument types, and an exact match wins over pg_catalog's (lower(d) for a
 * column of domain d beats pg_catalog.lower(text)), so such a name may run user code. Any schema counts,
 * not just the migration's search_path as preflight reads it: the path the migration really runs under
 * also comes from ALTER ROLE / ALTER DATABASE SET search_path, the tool's connection and `$user`, none of
 * which the files show. Members of an extension are left out: they are the packaged code of an
 * installed extension (citext and PostGIS put `=`, `<` on their own types in public), which counting
 * would make every comparison in those databases a barrier; they are what checks already run.
 */
async function userOverloads(ctx: JudgeContext, functions: string[], operators: string[]): Promise<Map<string, string>> {
  if (functions.length + operators.length === 0) return new Map();
  const res = await ctx.db.query<{ key: string; what: string }>(
    `SELECT 'f:' OPERATOR(pg_catalog.||) p.proname::pg_catalog.text AS key, pg_catalog.string_agg(DISTINCT pg_catalog.concat(n.nspname, '.', p.proname, '()'), ', ') AS what
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
      WHERE n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog' AND p.proname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                          AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')
      GROUP BY p.proname
     UNION ALL
     SELECT 'o:' OPERATOR(pg_catalog.||) o.oprname::pg_catalog.text, pg_catalog.string_agg(DISTINCT pg_catalog.concat('OPERATOR(', n.nspname, '.', o.oprname, ')'), ', ')
       FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
      WHERE n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog' AND o.oprname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
                          AND d.objid OPERATOR(pg_catalog.=) o.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')
      GROUP BY o.oprname`,
    [functions, operators],
  );
  return new Map(res.rows.map((r) => [r.key, r.what]));
}

/** Type names the grammar takes that are not pg_type names: they always mean pg_catalog's type. */
const SQL_TYPE_NAMES = new Set(['int', 'integer', 'smallint', 'bigint', 'real', 'float', 'double precision', 'decimal', 'dec', 'boolean', 'character', 'char', 'varchar', 'character varying', 'national character', 'nchar', 'time', 'timestamp', 'interval', 'bit', 'bit varying', 'serial', 'bigserial', 'smallserial', 'serial2', 'serial4', 'serial8']);

export interface JudgeRun {
  verdicts: StatementVerdict[];
  findings: PreflightFindingInput[];
}

/**
 * Judges the statements in file order, each against today's data as the earlier statements of the run
 * would leave it, as far as that can be known. Each judgement runs in a savepoint: one that errors
 * (a lock not granted, a statement timeout) costs that judgement only.
 */
/** Judgements made once the whole run is read (what a later statement may undo), given the verdicts to add outcomes to. */
export type RunEnd = (state: RunState, verdicts: StatementVerdict[], report: (f: PreflightFindingInput) => void) => void;

export async function judgeAll(files: MigrationFile[], ctx: JudgeContext, judges: Judges = JUDGES, end?: RunEnd): Promise<JudgeRun> {
  const state = new RunState();
  const verdicts: StatementVerdict[] = [];
  const findings: PreflightFindingInput[] = [];
  for (const file of files) {
    let ordinal = 0;
    for (const s of file.statements) {
      ordinal++;
      const statement = statementLabel(s);
      const rv = isNode(s.node.relation) ? (s.node.relation as RangeVar) : null;
      const resolved = rv?.relname ? resolveRelation(rv, state, ctx.catalog) : null;
      const relation = resolved ? { schema: resolved.schema, table: resolved.name } : null;
      let outcomes: Outcome[];
      const judge = judges[s.kind];
      if (NOTHING_TO_JUDGE.has(s.kind)) outcomes = [];
      else if (!judge) outcomes = [{ rule: 'preflight/not-judged', status: 'not-judged', reason: `preflight does not judge ${statement} statements` }];
      else {
        const mine: PreflightFindingInput[] = [];
        await ctx.raw.query('SAVEPOINT integrity_preflight');
        try {
          outcomes = await judge(s, state, ctx, (f) => mine.push(f));
          await ctx.raw.query('RELEASE SAVEPOINT integrity_preflight');
          findings.push(...mine);
        } catch (err) {
          await ctx.raw.query('ROLLBACK TO SAVEPOINT integrity_preflight');
          outcomes = [{ rule: 'preflight/not-judged', status: 'error', reason: err instanceof Error ? err.message.split('\n')[0] : String(err) }];
        }
      }
      recordEffects(s, state, ctx.catalog);
      // A DEFAULT, USING, CHECK or index expression (or an INSERT's, UPDATE's or DELETE's own) that calls
      // a function of a schema other than pg_catalog runs it when the statement runs, and it may write anywhere.
      if (!state.barrier && DDL_WITH_EXPRESSIONS.has(s.kind)) {
        const calls = await userFunctionsCalled(s.node, ctx, s.kind);
        if (calls.length > 0) state.barrier = { location: s.location, statement, why: `it calls ${calls.join(', ')}, which may write to any table` };
      }
      verdicts.push({ location: s.location, statement, relation, ordinal, outcomes });
    }
  }
  end?.(state, verdicts, (f) => findings.push(f));
  return { verdicts, findings };
}
