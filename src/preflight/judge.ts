import { findTable, type Catalog, type Table } from '../db/catalog.js';
import type { Queryable } from '../db/session.js';
import type { FindingObject, Severity } from '../findings.js';
import { isNode, type MigrationFile, type MigrationStatement, type Node, type StatementLocation } from './statements.js';
import type { PreflightRuleId } from './rules.js';
import { BUILT_IN_DEFAULTS, DATETIME_SETTINGS, FOLLOWED_SETTINGS, isOn, parseSearchPath, readSessionDefaults, setValueText, type FollowedSetting, type SessionDefaults, type SettingValue } from './settings.js';
import { hasBackslashLiteral, newerSyntax, newerSyntaxMessage } from './syntax.js';

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
  /**
   * The schemas unqualified names resolve in, as written ("$user" already the role's name; pg_catalog and
   * pg_temp left out): the migration session's default, then what SET search_path makes it.
   */
  searchPath: string[] = ['public'];
  /** Why unqualified names cannot be resolved (a set_config call, a value not understood), or null. */
  searchPathUnknown: string | null = null;
  /** The migration session's followed settings as SET (not LOCAL) leaves them; unset means its default. */
  readonly settings = new Map<FollowedSetting, SettingValue & { location?: StatementLocation }>();
  /** SET LOCAL's values, until the transaction ends. */
  readonly localSettings = new Map<FollowedSetting, SettingValue & { location?: StatementLocation }>();
  /** What a new session of the connected role starts with. */
  defaults: SessionDefaults = BUILT_IN_DEFAULTS;
  /** Tables dropped by an earlier statement and not created again (key: tableKey). */
  readonly dropped = new Map<string, { location: StatementLocation; statement: string }>();
  /** Schemas dropped by an earlier statement: today's tables in them are gone. */
  readonly droppedSchemas = new Map<string, StatementLocation>();
  /** Schemas created by an earlier statement. */
  readonly createdSchemas = new Set<string>();
  /** SET ROLE / SET SESSION AUTHORIZATION of the run ("$user" is the current role); null: the connecting role. */
  role: SettingValue | null = null;
  /** SET LOCAL ROLE's, until the transaction ends. */
  localRole: SettingValue | null = null;
  /** The explicit transaction block (BEGIN) the run is in, with the state to go back to; null outside one. */
  transaction: TransactionFrame | null = null;

  /** The migration's value of a followed setting where the run is now. */
  setting(name: FollowedSetting): SettingValue & { location?: StatementLocation } {
    return this.localSettings.get(name) ?? this.settings.get(name) ?? { value: this.defaults.values[name] };
  }

  /** A copy to go back to at ROLLBACK or ROLLBACK TO SAVEPOINT. */
  snapshot(): RunState {
    const copy = new RunState();
    copyState(this, copy);
    return copy;
  }

  /** Becomes `saved` again (the transaction frame is the caller's to set). */
  restore(saved: RunState): void {
    const frame = this.transaction;
    copyState(saved, this);
    this.transaction = frame;
  }
}

/** An explicit BEGIN ... COMMIT/ROLLBACK the run is inside. */
export interface TransactionFrame {
  begin: StatementLocation;
  /** The state at BEGIN, for ROLLBACK (and a COMMIT of an aborted transaction). */
  atBegin: RunState;
  savepoints: { name: string; state: RunState }[];
  /** A statement of the block that fails: the block is aborted, nothing after it runs until ROLLBACK (25P02). */
  abortedBy: { location: StatementLocation; statement: string } | null;
  /** Statements before BEGIN in the same file changed something: a migration tool's own transaction around the file would be rolled back with them. */
  afterEffects: boolean;
}

/**
 * Copies every field of a state into another. Maps and sets are copied, lists inside them too (a
 * disabled-trigger list is pushed to in place); the records in them are never changed in place, so they
 * are shared. Generic over the fields, so one added later is copied without being named here.
 */
function copyState(from: RunState, to: RunState): void {
  // RunState's fields are read by name here, whatever they are: a record view of the same object.
  const src = from as unknown as Record<string, unknown>;
  const dst = to as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(src)) {
    if (key === 'transaction') continue;
    if (value instanceof Map) {
      const target = dst[key] as Map<unknown, unknown>;
      target.clear();
      for (const [k, v] of value) target.set(k, Array.isArray(v) ? [...(v as unknown[])] : v);
    } else if (value instanceof Set) {
      const target = dst[key] as Set<unknown>;
      target.clear();
      for (const v of value) target.add(v);
    } else dst[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
  }
}

export const tableKey = (schema: string, name: string) => JSON.stringify([schema, name]);

export interface RangeVar {
  schemaname?: string;
  relname?: string;
}

/** Whether a schema exists when a statement runs: today's and not dropped since, or created by the run. */
export function schemaExists(state: RunState, catalog: Catalog, schema: string): boolean {
  if (state.createdSchemas.has(schema)) return true;
  if (state.droppedSchemas.has(schema)) return false;
  // A catalog that lists no schema (a test's own) says nothing about which exist.
  return catalog.existingSchemas.length === 0 || catalog.existingSchemas.includes(schema);
}

/** Today's table of that name, unless the run dropped it or its schema before. */
function tableToday(state: RunState, catalog: Catalog, schema: string, name: string): Table | undefined {
  if (state.droppedSchemas.has(schema) || state.dropped.has(tableKey(schema, name))) return undefined;
  return findTable(catalog, schema, name);
}

/**
 * Where an unqualified or qualified name points: the schema it lands in, and the table there today (if
 * any). While search_path is not known, an unqualified name lands in schema '' (no schema has that name).
 */
export function resolveRelation(rv: RangeVar, state: RunState, catalog: Catalog): { schema: string; name: string; table: Table | undefined } {
  const name = rv.relname ?? '';
  if (rv.schemaname) return { schema: rv.schemaname, name, table: tableToday(state, catalog, rv.schemaname, name) };
  if (state.searchPathUnknown) return { schema: '', name, table: undefined };
  for (const schema of state.searchPath) {
    if (state.created.has(tableKey(schema, name))) return { schema, name, table: tableToday(state, catalog, schema, name) };
    const table = tableToday(state, catalog, schema, name);
    if (table) return { schema, name, table };
  }
  // A table is created in the first schema of the path that exists.
  return { schema: state.searchPath.find((x) => schemaExists(state, catalog, x)) ?? state.searchPath[0] ?? 'public', name, table: undefined };
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
  if (s.kind === 'VariableSetStmt') {
    recordSet(s, state);
    return;
  }
  recordSetConfigCalls(s, state);
  if (s.kind === 'CreateSchemaStmt' && typeof s.node.schemaname === 'string') state.createdSchemas.add(s.node.schemaname);
  if (s.kind === 'DropStmt' && s.node.removeType === 'OBJECT_SCHEMA') {
    recordDroppedSchemas(s, state, catalog);
    return;
  }
  if (s.kind === 'DropStmt' && s.node.removeType === 'OBJECT_TABLE') recordDroppedTables(s, state, catalog);
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
      if (rel.schema === '' && !(s.kind === 'AlterTableStmt' && alterKeepsRows(s.node))) {
        // Which table an unqualified name means is not known: it may be any schema's.
        state.barrier = { location: s.location, statement: label, why: `it names ${rel.name} unqualified while search_path is not known (${state.searchPathUnknown ?? ''})` };
        return;
      }
      if (firesOtherCode(s.kind, tableKey(rel.schema, rel.name), rel.table, catalog, state)) {
        state.barrier = { location: s.location, statement: label };
        return;
      }
      // A table dropped is followed in `dropped` (recordDroppedTables).
      if (s.kind === 'DropStmt') continue;
      // Adding or dropping a constraint, a default or NOT NULL changes no row (a column added is followed
      // in addedColumns); anything else an ALTER TABLE does (a type, a column dropped) may.
      if (!(s.kind === 'AlterTableStmt' && alterKeepsRows(s.node))) state.changed.set(tableKey(rel.schema, rel.name), { location: s.location, statement: label });
    }
    return;
  }
  state.barrier = { location: s.location, statement: label };
}

const at = (l: StatementLocation) => `${l.file}:${l.line}`;

/**
 * SET, SET LOCAL, SET ... TO DEFAULT, RESET and RESET ALL of a followed setting. SET LOCAL lasts until the
 * transaction ends: inside BEGIN ... COMMIT that is the block; outside one it does nothing, unless the
 * migration tool runs the file in a transaction of its own, where it lasts to the end of the file.
 */
function recordSet(s: MigrationStatement, state: RunState): void {
  const kind = String(s.node.kind);
  const name = String(s.node.name ?? '').toLowerCase();
  if (name === 'role' || name === 'session_authorization' || kind === 'VAR_RESET_ALL') recordRole(s, state, kind, name);
  const names: FollowedSetting[] = kind === 'VAR_RESET_ALL' ? [...FOLLOWED_SETTINGS] : (FOLLOWED_SETTINGS as readonly string[]).includes(name) ? [name as FollowedSetting] : [];
  for (const setting of names) {
    let value: SettingValue & { location?: StatementLocation };
    if (kind === 'VAR_SET_VALUE') {
      const text = setValueText(setting, Array.isArray(s.node.args) ? (s.node.args as Node[]) : []);
      value = text === null ? { unknown: `the SET ${setting} at ${at(s.location)} gives a value preflight does not read` } : { value: text, location: s.location };
    } else if (kind === 'VAR_SET_DEFAULT' || kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL') value = { value: state.defaults.values[setting], location: s.location };
    else value = { unknown: `the SET ${setting} at ${at(s.location)} is of a form preflight does not follow` };
    if (s.node.is_local !== true) {
      state.settings.set(setting, value);
      state.localSettings.delete(setting);
    } else if (state.transaction) state.localSettings.set(setting, value);
    else state.localSettings.set(setting, { unknown: `the SET LOCAL ${setting} at ${at(s.location)} is outside BEGIN ... COMMIT: it does nothing, unless the migration tool runs the file in one transaction (then it lasts to the end of the file)` });
  }
  refreshSearchPath(state);
}

/** SET ROLE, SET SESSION AUTHORIZATION and their RESET: who "$user" in search_path is. */
function recordRole(s: MigrationStatement, state: RunState, kind: string, name: string): void {
  const args = Array.isArray(s.node.args) ? (s.node.args as Node[]) : [];
  const given = kind === 'VAR_SET_VALUE' ? setValueText(name, args) : null;
  const value: SettingValue | null =
    kind === 'VAR_SET_VALUE'
      ? given === null
        ? { unknown: `the SET ${name} at ${at(s.location)} names a role preflight does not read` }
        : given.toLowerCase() === 'none'
          ? null
          : { value: given }
      : kind === 'VAR_SET_DEFAULT' || kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL'
        ? null
        : { unknown: `the SET ${name} at ${at(s.location)} is of a form preflight does not follow` };
  if (s.node.is_local === true && state.transaction) state.localRole = value ?? { value: state.defaults.role };
  else if (s.node.is_local === true) state.localRole = { unknown: `the SET LOCAL ${name} at ${at(s.location)} is outside BEGIN ... COMMIT: whether it lasts depends on the migration tool` };
  else {
    state.role = value;
    state.localRole = null;
  }
}

/** set_config(name, value, is_local) in any statement: the setting it names (or, named by an expression, every followed one) is not known after it. */
function recordSetConfigCalls(s: MigrationStatement, state: RunState): void {
  const names = new Set<FollowedSetting>();
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (isNode(n)) {
      const call = isNode(n.FuncCall) ? (n.FuncCall as Node) : null;
      const fn = ((call?.funcname as Node[] | undefined) ?? []).map((x) => String((x.String as Node | undefined)?.sval ?? ''));
      if (fn[fn.length - 1] === 'set_config' && (fn.length === 1 || fn[0] === 'pg_catalog')) {
        const first = ((call?.args as Node[] | undefined) ?? [])[0];
        const c = first && isNode(first.A_Const) ? (first.A_Const as Node) : null;
        const named = c && isNode(c.sval) ? String((c.sval as Node).sval ?? '').toLowerCase() : null;
        if (named === null) FOLLOWED_SETTINGS.forEach((x) => names.add(x));
        else if ((FOLLOWED_SETTINGS as readonly string[]).includes(named)) names.add(named as FollowedSetting);
      }
      Object.values(n).forEach(walk);
    }
  };
  walk(s.node);
  for (const name of names) state.settings.set(name, { unknown: `the ${statementLabel(s)} at ${at(s.location)} sets ${name} through set_config(), which preflight does not evaluate` });
  if (names.size > 0) refreshSearchPath(state);
}

/** search_path's schemas from its value where the run is: "$user" is the connecting role's name. */
export function refreshSearchPath(state: RunState): void {
  const v = state.setting('search_path');
  if ('unknown' in v) {
    state.searchPathUnknown = v.unknown;
    state.searchPath = [];
    return;
  }
  const schemas = parseSearchPath(v.value);
  const role = state.localRole ?? state.role ?? { value: state.defaults.role };
  if (schemas.includes('$user') && 'unknown' in role) {
    state.searchPathUnknown = `search_path holds "$user", and ${role.unknown}`;
    state.searchPath = [];
    return;
  }
  state.searchPathUnknown = null;
  state.searchPath = schemas
    .map((x) => (x === '$user' ? ('value' in role ? role.value : '') : x))
    .filter((x) => x !== '' && x !== 'pg_catalog' && x !== 'pg_temp');
}

/**
 * DROP SCHEMA: with CASCADE its tables go with it; without, it fails on a schema holding a table (and
 * then drops nothing), so it is followed only when no table of it is known.
 */
function recordDroppedSchemas(s: MigrationStatement, state: RunState, catalog: Catalog): void {
  const schemas = ((s.node.objects as Node[] | undefined) ?? []).map((o) => String((o.String as Node | undefined)?.sval ?? ''));
  for (const schema of schemas) {
    const createdHere = [...state.created.keys()].some((k) => (JSON.parse(k) as string[])[0] === schema);
    const today = [...catalog.tables, ...catalog.partitions].some((t) => t.schema === schema && !state.dropped.has(tableKey(t.schema, t.name))) && !state.droppedSchemas.has(schema);
    if (s.node.behavior !== 'DROP_CASCADE' && (createdHere || today)) continue;
    state.droppedSchemas.set(schema, s.location);
    state.createdSchemas.delete(schema);
    for (const k of [...state.created.keys()]) if ((JSON.parse(k) as string[])[0] === schema) state.created.delete(k);
  }
  refreshSearchPath(state);
}

/** DROP TABLE: the table is gone for the statements after it; a CREATE TABLE of its name makes a new, empty one. */
function recordDroppedTables(s: MigrationStatement, state: RunState, catalog: Catalog): void {
  for (const rv of dropTargets(s.node)) {
    const rel = resolveRelation(rv, state, catalog);
    if (rel.schema === '') continue;
    const key = tableKey(rel.schema, rel.name);
    state.dropped.set(key, { location: s.location, statement: statementLabel(s) });
    state.created.delete(key);
    state.changed.delete(key);
  }
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
  if (schema === '') return `which table ${name} is, unqualified, is not known: ${state.searchPathUnknown ?? 'search_path is not known'}`;
  if (state.barrier) {
    const why = state.barrier.why ? ` (${state.barrier.why})` : '';
    return `the ${state.barrier.statement} at ${state.barrier.location.file}:${state.barrier.location.line} may change any table's rows before this runs${why}`;
  }
  const changed = state.changed.get(tableKey(schema, name));
  if (changed) return `the ${changed.statement} at ${changed.location.file}:${changed.location.line} changes ${schema}.${name} before this runs`;
  if (!state.created.has(tableKey(schema, name))) {
    const dropped = state.dropped.get(tableKey(schema, name));
    if (dropped) return `the ${dropped.statement} at ${at(dropped.location)} drops ${schema}.${name} before this runs`;
    const droppedSchema = state.droppedSchemas.get(schema);
    if (droppedSchema) return `the DROP SCHEMA at ${at(droppedSchema)} drops schema ${schema}, and its tables, before this runs`;
  }
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
  if (rel.schema === '') return [{ rule: 'preflight/already-exists', status: 'not-judged', reason: `which schema it creates ${rel.name} in is not known: ${state.searchPathUnknown ?? 'search_path is not known'}` }];
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
  const qualifiedTypes = new Map<string, [string, string]>();
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
        if (ty.length > 1 && ty[0] !== 'pg_catalog') qualifiedTypes.set(`type ${ty.join('.')}`, [ty[ty.length - 2] as string, ty[ty.length - 1] as string]);
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
    for (const b of bare.types) if (!known.has(`t:${b}`) && !SQL_TYPE_NAMES.has(b.toLowerCase())) qualifiedTypes.set(`type ${b}`, ['', b]);
  }
  // A domain whose values are made by pg_catalog's code alone (its base type's input, CHECKs of
  // pg_catalog's functions) runs no user code. Imported here, not at the top: data-judges imports this module.
  if (qualifiedTypes.size > 0) {
    const { harmlessDomain } = await import('./data-judges.js');
    for (const [label, [schema, name]] of qualifiedTypes) if (!(await harmlessDomain(ctx, schema === '' ? null : schema, name))) qualified.add(label);
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
  /** Per verdict, the search_path its unqualified names resolve in (null when it is not known): for the judges that run after. */
  searchPaths?: (string[] | null)[];
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
  state.defaults = await readSessionDefaults(ctx.db);
  refreshSearchPath(state);
  const verdicts: StatementVerdict[] = [];
  const findings: PreflightFindingInput[] = [];
  const searchPaths: (string[] | null)[] = [];
  for (const file of files) {
    let ordinal = 0;
    let effectsInFile = false;
    for (const s of file.statements) {
      ordinal++;
      const statement = statementLabel(s);
      const rv = isNode(s.node.relation) ? (s.node.relation as RangeVar) : null;
      const resolved = rv?.relname ? resolveRelation(rv, state, ctx.catalog) : null;
      const relation = resolved && resolved.schema !== '' ? { schema: resolved.schema, table: resolved.name } : null;
      const aborted = state.transaction?.abortedBy;
      if (aborted && !endsAbortedBlock(s)) {
        // It does not run: nothing of it is judged, and it changes nothing.
        const reason = `the ${aborted.statement} at ${at(aborted.location)} fails, which aborts the transaction block: this statement does not run (25P02)`;
        verdicts.push({ location: s.location, statement, relation, ordinal, outcomes: [{ rule: 'preflight/not-judged', status: 'not-judged', reason }] });
        searchPaths.push(state.searchPathUnknown ? null : [...state.searchPath]);
        continue;
      }
      const pathHere = state.searchPathUnknown ? null : [...state.searchPath];
      const misparsed = literalsMisread(s, state);
      const outcomes = misparsed
        ? [{ rule: 'preflight/not-judged' as const, status: 'not-judged' as const, reason: misparsed }]
        : await judgeStatement(s, state, ctx, judges, findings, relation);
      if (rv && !rv.schemaname && resolved && userSchemaResolved(state, resolved.schema)) {
        const note = `search_path's "$user" is taken as ${state.defaults.role}, the role preflight connects as: the migration is assumed to run as that role`;
        for (const o of outcomes) if (!o.note && (o.status === 'passed' || o.status === 'failed')) o.note = note;
      }
      if (outcomes.some((o) => REJECTED.has(o))) {
        // The server rejects it before it does anything: it changes nothing for what follows.
      } else if (s.kind === 'TransactionStmt') recordTransaction(s, state, effectsInFile);
      else recordEffects(s, state, ctx.catalog);
      if (s.kind !== 'TransactionStmt' && s.kind !== 'VariableSetStmt') effectsInFile = true;
      if (misparsed && !state.barrier) state.barrier = { location: s.location, statement, why: misparsed };
      // A DEFAULT, USING, CHECK or index expression (or an INSERT's, UPDATE's or DELETE's own) that calls
      // a function of a schema other than pg_catalog runs it when the statement runs, and it may write anywhere.
      if (!state.barrier && DDL_WITH_EXPRESSIONS.has(s.kind)) {
        const calls = await userFunctionsCalled(s.node, ctx, s.kind);
        if (calls.length > 0) state.barrier = { location: s.location, statement, why: `it calls ${calls.join(', ')}, which may write to any table` };
      }
      if (state.transaction && !state.transaction.abortedBy && outcomes.some((o) => o.status === 'failed' && STATEMENT_FAILS.has(o.rule))) {
        state.transaction.abortedBy = { location: s.location, statement };
      }
      verdicts.push({ location: s.location, statement, relation, ordinal, outcomes });
      searchPaths.push(pathHere);
    }
    // A migration tool's own transaction around the file ends with it, and SET LOCAL outside BEGIN with that.
    if (!state.transaction && (state.localSettings.size > 0 || state.localRole)) {
      endLocal(state);
      refreshSearchPath(state);
    }
  }
  end?.(state, verdicts, (f) => findings.push(f));
  return { verdicts, findings, searchPaths };
}

/** Outcomes saying the server rejects the statement whatever the data (syntax, a set-returning function): it has no effects. */
const REJECTED = new WeakSet<Outcome>();
const rejected = (o: Outcome): Outcome => {
  REJECTED.add(o);
  return o;
};

/** Rules whose failure is the statement's error when it runs (not a hazard for later, not a lock). */
const STATEMENT_FAILS = new Set<string>([
  'preflight/already-exists',
  'preflight/orphans',
  'preflight/duplicates',
  'preflight/nulls',
  'preflight/check-violations',
  'preflight/index-expressions',
  'preflight/type-changes',
  'preflight/syntax',
  'preflight/partition-keys',
  'preflight/names-taken',
  'preflight/not-immutable',
  'preflight/key-collations',
  'preflight/default-casts',
  'preflight/domain-constraints',
  'preflight/invalid-references',
]);

/** The statements an aborted block still runs: the ones that end it or go back to a savepoint. */
function endsAbortedBlock(s: MigrationStatement): boolean {
  return s.kind === 'TransactionStmt' && ['TRANS_STMT_ROLLBACK', 'TRANS_STMT_ROLLBACK_TO', 'TRANS_STMT_COMMIT'].includes(String(s.node.kind));
}

/** Whether an unqualified name landed in the schema "$user" names. */
function userSchemaResolved(state: RunState, schema: string): boolean {
  const v = state.setting('search_path');
  return state.role === null && state.localRole === null && state.defaults.role !== '' && schema === state.defaults.role && 'value' in v && parseSearchPath(v.value).includes('$user') && !parseSearchPath(v.value).includes(schema);
}

/**
 * Why the statement's text may not mean what the parser read: with standard_conforming_strings off (SET
 * in the run, or the database's or role's default), a backslash in a '...' literal escapes, and the
 * parser reads it with the setting on. Null when it reads the same.
 */
function literalsMisread(s: MigrationStatement, state: RunState): string | null {
  const v = state.setting('standard_conforming_strings');
  if ('value' in v && isOn(v.value)) return null;
  if (!hasBackslashLiteral(s.text)) return null;
  const where = 'unknown' in v ? v.unknown : v.location ? `it is set off at ${at(v.location)}` : 'it is off by default for this database or role';
  return `a string literal of it holds a backslash, which standard_conforming_strings off makes an escape (${where}); preflight's parser reads it as on`;
}

/**
 * BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE and ROLLBACK TO: inside an explicit block the state is
 * kept at BEGIN and at each savepoint, and a rollback goes back to it. What a rollback outside BEGIN
 * undoes depends on whether the migration tool runs the file in a transaction of its own: not known,
 * so it is a barrier.
 */
function recordTransaction(s: MigrationStatement, state: RunState, effectsInFile: boolean): void {
  const kind = String(s.node.kind);
  const label = `${String(s.node.kind).replace(/^TRANS_STMT_/, '').replace(/_/g, ' ')}`;
  const frame = state.transaction;
  const barrier = (why: string) => {
    state.barrier = { location: s.location, statement: label, why };
  };
  const toolTransaction = 'if the migration tool runs the file in one transaction, it undoes the statements of the file before it; otherwise it undoes nothing: which is not known';
  switch (kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      if (!frame) state.transaction = { begin: s.location, atBegin: state.snapshot(), savepoints: [], abortedBy: null, afterEffects: effectsInFile };
      return;
    case 'TRANS_STMT_COMMIT':
      if (!frame) endLocal(state);
      else if (frame.abortedBy) rollBack(state, frame, barrier);
      else {
        state.transaction = null;
        endLocal(state);
      }
      break;
    case 'TRANS_STMT_ROLLBACK':
      if (frame) rollBack(state, frame, barrier);
      else if (effectsInFile) barrier(toolTransaction);
      endLocal(state);
      break;
    case 'TRANS_STMT_SAVEPOINT':
      if (frame) frame.savepoints.push({ name: String(s.node.savepoint_name ?? ''), state: state.snapshot() });
      return;
    case 'TRANS_STMT_RELEASE': {
      const i = frame ? lastSavepoint(frame, String(s.node.savepoint_name ?? '')) : -1;
      if (frame && i >= 0) frame.savepoints.splice(i);
      return;
    }
    case 'TRANS_STMT_ROLLBACK_TO': {
      const i = frame ? lastSavepoint(frame, String(s.node.savepoint_name ?? '')) : -1;
      const saved = frame?.savepoints[i];
      if (!frame || !saved) {
        barrier(frame ? `no savepoint ${String(s.node.savepoint_name ?? '')} is known to be open: what it undoes is not known` : `outside BEGIN, ${toolTransaction}`);
        break;
      }
      state.restore(saved.state);
      frame.savepoints.splice(i + 1);
      frame.abortedBy = null;
      break;
    }
    default:
      // PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED: a two-phase commit's outcome is not in the file.
      barrier('a prepared transaction\'s outcome is decided outside the file');
      state.transaction = null;
  }
  refreshSearchPath(state);
}

/** The end of a transaction: SET LOCAL's values go. */
function endLocal(state: RunState): void {
  state.localSettings.clear();
  state.localRole = null;
}

function lastSavepoint(frame: TransactionFrame, name: string): number {
  for (let i = frame.savepoints.length - 1; i >= 0; i--) if (frame.savepoints[i]?.name === name) return i;
  return -1;
}

/** ROLLBACK (or COMMIT of an aborted block): back to the state at BEGIN. */
function rollBack(state: RunState, frame: TransactionFrame, barrier: (why: string) => void): void {
  state.restore(frame.atBegin);
  state.transaction = null;
  if (frame.afterEffects) barrier(`if the migration tool runs the file in one transaction, this also undoes the statements of the file before the BEGIN at ${at(frame.begin)}: which is not known`);
}

/**
 * One statement's judgements: syntax the server does not have first, then a set-returning function where
 * PostgreSQL allows none, then the judge of its kind, under the migration's date/time settings.
 */
async function judgeStatement(
  s: MigrationStatement,
  state: RunState,
  ctx: JudgeContext,
  judges: Judges,
  findings: PreflightFindingInput[],
  relation: { schema: string; table: string } | null,
): Promise<Outcome[]> {
  const statement = statementLabel(s);
  const object = relation ?? { schema: '', table: '' };
  const syntax = newerSyntax(s, ctx.catalog.serverVersionNum);
  if (syntax.length > 0) {
    findings.push({
      rule: 'preflight/syntax',
      kind: 'newer-syntax',
      message: newerSyntaxMessage(statement, syntax, ctx.catalog.serverVersionNum),
      object,
      count: null,
      samples: [],
      details: { features: syntax.map((f) => f.feature), serverVersionNum: ctx.catalog.serverVersionNum },
      location: s.location,
    });
    return [rejected({ rule: 'preflight/syntax', status: 'failed' })];
  }
  if (NOTHING_TO_JUDGE.has(s.kind)) return [];
  const judge = judges[s.kind];
  if (!judge) return [{ rule: 'preflight/not-judged', status: 'not-judged', reason: `preflight does not judge ${statement} statements` }];
  const srf = await setReturningMisuse(s, ctx);
  if (srf) {
    findings.push({
      rule: srf.rule,
      kind: 'set-returning',
      message: `${statement} fails now (0A000): set-returning functions are not allowed in ${srf.context} (${srf.functions.join(', ')}), whatever the rows`,
      object,
      count: null,
      samples: [],
      // The kind tells the report's "Instead" writer this is no matter of rows to repair first.
      details: { kind: 'set-returning', functions: srf.functions },
      location: s.location,
    });
    return [rejected({ rule: srf.rule, status: 'failed' })];
  }
  const settings = dateTimeSettings(state);
  if ('unknown' in settings && s.kind !== 'CreateStmt') return [{ rule: 'preflight/not-judged', status: 'not-judged', reason: settings.unknown }];
  const apply = 'apply' in settings ? settings.apply : [];
  const mine: PreflightFindingInput[] = [];
  await ctx.raw.query('SAVEPOINT integrity_preflight');
  try {
    // SET LOCAL within the savepoint: ROLLBACK TO SAVEPOINT takes it back, so the next judgement starts from ours.
    const refused = await applySettings(ctx, apply);
    if (refused) {
      await ctx.raw.query('ROLLBACK TO SAVEPOINT integrity_preflight');
      await ctx.raw.query('RELEASE SAVEPOINT integrity_preflight');
      return [{ rule: 'preflight/not-judged', status: 'not-judged', reason: refused }];
    }
    const outcomes = await judge(s, state, ctx, (f) => mine.push(f));
    await ctx.raw.query(apply.length > 0 ? 'ROLLBACK TO SAVEPOINT integrity_preflight' : 'RELEASE SAVEPOINT integrity_preflight');
    if (apply.length > 0) await ctx.raw.query('RELEASE SAVEPOINT integrity_preflight');
    findings.push(...mine);
    if (apply.length > 0) {
      const note = `evaluated under the migration's ${apply.map(([n, v]) => `${n} ${v}`).join(', ')} (not preflight's own)`;
      for (const o of outcomes) if (!o.note && (o.status === 'passed' || o.status === 'failed')) o.note = note;
    }
    return outcomes;
  } catch (err) {
    await ctx.raw.query('ROLLBACK TO SAVEPOINT integrity_preflight');
    return [{ rule: 'preflight/not-judged', status: 'error', reason: err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err) }];
  }
}

/** Sets the migration's values for this judgement (SET LOCAL); why not, when the server refuses one. */
async function applySettings(ctx: JudgeContext, apply: [string, string][]): Promise<string | null> {
  for (const [name, value] of apply) {
    try {
      await ctx.raw.query('SELECT pg_catalog.set_config($1, $2, true)', [name, value]);
    } catch (err) {
      const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
      return `the migration's ${name} ${JSON.stringify(value)} is refused by the server (${message}): the statement is not evaluated under it`;
    }
  }
  return null;
}

/**
 * The migration's DateStyle, IntervalStyle and TimeZone where they are not ours: a conversion between
 * text and a date, time or interval is evaluated under them. One not known makes the statement not judged.
 */
function dateTimeSettings(state: RunState): { apply: [string, string][] } | { unknown: string } {
  const apply: [string, string][] = [];
  for (const name of DATETIME_SETTINGS) {
    const v = state.setting(name);
    if ('unknown' in v) return { unknown: `${v.unknown}: a conversion between text and a date, time or interval may read differently under it` };
    if (v.value === state.defaults.ours[name]) continue;
    // A DateStyle SET in the run may give one half ('German', 'DMY'): the other half is the session's, so its default goes first.
    if (name === 'datestyle' && v.location && state.defaults.values.datestyle !== state.defaults.ours.datestyle) apply.push([name, state.defaults.values.datestyle]);
    apply.push([name, v.value]);
  }
  return { apply };
}

/** Where PostgreSQL refuses a set-returning function, with its words for the place and the rule that judges it. */
const SRF_PLACES = {
  check: { rule: 'preflight/check-violations', context: 'check constraints' },
  index: { rule: 'preflight/index-expressions', context: 'index expressions' },
  predicate: { rule: 'preflight/index-expressions', context: 'index predicates' },
  using: { rule: 'preflight/type-changes', context: 'transform expressions' },
} as const;

/**
 * A set-returning function of pg_catalog (every function of that name returns a set, and no other
 * schema has one of that name) in a CHECK, an index expression or predicate, or a USING: the statement
 * fails (0A000) whatever the rows. Evaluated, it would fail the judging query instead.
 */
async function setReturningMisuse(s: MigrationStatement, ctx: JudgeContext): Promise<{ rule: PreflightRuleId; context: string; functions: string[] } | null> {
  const places: { place: keyof typeof SRF_PLACES; expr: unknown }[] = [];
  const constraintsOf = (list: unknown) => (Array.isArray(list) ? (list as Node[]) : []).map((c) => (c.Constraint ?? {}) as Node).filter((c) => c.contype === 'CONSTR_CHECK');
  if (s.kind === 'IndexStmt') {
    for (const p of (s.node.indexParams as Node[] | undefined) ?? []) places.push({ place: 'index', expr: (p.IndexElem as Node | undefined)?.expr });
    places.push({ place: 'predicate', expr: s.node.whereClause });
  }
  if (s.kind === 'AlterTableStmt') {
    for (const item of (s.node.cmds as Node[] | undefined) ?? []) {
      const cmd = (item.AlterTableCmd ?? {}) as Node;
      const def = isNode(cmd.def) ? (cmd.def as Node) : {};
      if (cmd.subtype === 'AT_AddConstraint') for (const c of constraintsOf([def])) places.push({ place: 'check', expr: c.raw_expr });
      if (cmd.subtype === 'AT_AlterColumnType') places.push({ place: 'using', expr: (def.ColumnDef as Node | undefined)?.raw_default });
      if (cmd.subtype === 'AT_AddColumn') for (const c of constraintsOf((def.ColumnDef as Node | undefined)?.constraints)) places.push({ place: 'check', expr: c.raw_expr });
    }
  }
  const named = places.map((p) => ({ ...p, names: functionNames(p.expr) })).filter((p) => p.names.length > 0);
  if (named.length === 0) return null;
  const all = [...new Set(named.flatMap((p) => p.names))];
  const res = await ctx.db.query<{ name: string }>(
    `SELECT p.proname::pg_catalog.text AS name FROM pg_catalog.pg_proc p
      WHERE p.proname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
      GROUP BY p.proname
     HAVING pg_catalog.bool_and(p.proretset AND p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace)`,
    [all],
  );
  const srfs = new Set(res.rows.map((r) => r.name));
  for (const p of named) {
    const found = p.names.filter((n) => srfs.has(n));
    if (found.length > 0) return { ...SRF_PLACES[p.place], functions: found };
  }
  return null;
}

/** The names of the functions an expression calls bare or as pg_catalog's, outside subqueries. */
function functionNames(expr: unknown): string[] {
  const out = new Set<string>();
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (isNode(n)) {
      if (isNode(n.SubLink)) return;
      const call = isNode(n.FuncCall) ? (n.FuncCall as Node) : null;
      const fn = ((call?.funcname as Node[] | undefined) ?? []).map((x) => String((x.String as Node | undefined)?.sval ?? ''));
      if (fn.length === 1 || (fn.length === 2 && fn[0] === 'pg_catalog')) out.add(fn[fn.length - 1] as string);
      Object.values(n).forEach(walk);
    }
  };
  walk(expr);
  return [...out].sort();
}
