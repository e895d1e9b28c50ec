import { deparseSync } from '@libpg-query/parser';
import { findColumn, findTable } from '../db/catalog.js';
import { deparseExpression } from './data-judges.js';
import { displayName } from '../db/quote.js';
import { resolveRelation, type Judge, type JudgeContext, type Outcome, type PreflightFindingInput, type RangeVar, type RunState, type StatementVerdict } from './judge.js';
import { isNode, type MigrationStatement, type Node, type StatementLocation } from './statements.js';

const INTEGER_TYPES: Record<string, string> = { int2: 'smallint', int4: 'integer', int8: 'bigint' };
const TEXT_OPERATORS = new Set(['->>', '#>>']);
const PATH_OPERATORS = new Set(['->', '#>']);
const TEXT_FUNCTIONS = new Set(['json_extract_path_text', 'jsonb_extract_path_text']);

const names = (list: unknown): string[] => (Array.isArray(list) ? (list as Node[]).map((n) => String((n.String as Node | undefined)?.sval ?? '')) : []);
const lastName = (list: unknown): string => names(list).pop() ?? '';
const isCatalogName = (list: unknown): boolean => {
  const n = names(list);
  return n.length === 1 || (n.length === 2 && n[0] === 'pg_catalog');
};

/** The column a JSON extraction reads (through `->` and `#>` steps), or null when it reads something else. */
function extractedColumn(node: unknown): string | null {
  let n = node;
  for (;;) {
    if (!isNode(n)) return null;
    if (isNode(n.ColumnRef)) {
      const fields = ((n.ColumnRef as Node).fields as Node[] | undefined) ?? [];
      const last = fields[fields.length - 1];
      return last && isNode(last.String) ? String((last.String as Node).sval) : null;
    }
    const op = isNode(n.A_Expr) ? (n.A_Expr as Node) : null;
    if (op && op.kind === 'AEXPR_OP' && isCatalogName(op.name) && PATH_OPERATORS.has(lastName(op.name))) {
      n = op.lexpr;
      continue;
    }
    return null;
  }
}

/** A JSON text extraction (`->>`, `#>>`, `json(b)_extract_path_text`): the column it reads, or null when `node` is not one. */
function jsonTextExtraction(node: unknown): { column: string } | null {
  if (!isNode(node)) return null;
  const op = isNode(node.A_Expr) ? (node.A_Expr as Node) : null;
  if (op && op.kind === 'AEXPR_OP' && isCatalogName(op.name) && TEXT_OPERATORS.has(lastName(op.name))) {
    const column = extractedColumn(op.lexpr);
    return column ? { column } : null;
  }
  const call = isNode(node.FuncCall) ? (node.FuncCall as Node) : null;
  if (call && isCatalogName(call.funcname) && TEXT_FUNCTIONS.has(lastName(call.funcname))) {
    const column = extractedColumn(((call.args as unknown[] | undefined) ?? [])[0]);
    return column ? { column } : null;
  }
  return null;
}

interface Found {
  /** The cast's node, in the copy of the statement that becomes the advice. */
  cast: Node;
  /** The cast as the migration wrote it, deparsed. */
  text: string;
  type: string;
  column: string;
  /** Under a CASE: only some text may reach it, which is not analysed here. */
  guarded: boolean;
}

/** Casts of JSON text to an integer type in `expr`, and how many JSON text extractions it has. */
function jsonIntCasts(expr: unknown): { found: Found[]; extractions: number } {
  const found: Found[] = [];
  let extractions = 0;
  const walk = (n: unknown, guarded: boolean): void => {
    if (Array.isArray(n)) {
      for (const x of n) walk(x, guarded);
      return;
    }
    if (!isNode(n)) return;
    if (jsonTextExtraction(n)) extractions++;
    const cast = isNode(n.TypeCast) ? (n.TypeCast as Node) : null;
    if (cast) {
      const typeNames = names((cast.typeName as Node | undefined)?.names);
      const type = typeNames.length === 2 && typeNames[0] === 'pg_catalog' ? INTEGER_TYPES[typeNames[1] as string] : undefined;
      const extraction = type ? jsonTextExtraction(cast.arg) : null;
      if (type && extraction) found.push({ cast, text: deparseExpression(n), type, column: extraction.column, guarded });
    }
    for (const [k, v] of Object.entries(n)) walk(v, guarded || k === 'CaseExpr');
  };
  walk(expr, false);
  return { found, extractions };
}

/** The JSON columns an expression may extract from: in-run column types, else today's catalog. */
function isJsonColumn(state: RunState, ctx: JudgeContext, schema: string, table: string, column: string, inStatement: Map<string, string>): boolean | null {
  const type = inStatement.get(column) ?? state.columnTypes.get(JSON.stringify([schema, table, column]));
  if (type) return type === 'json' || type === 'jsonb';
  const t = findTable(ctx.catalog, schema, table);
  const c = t ? findColumn(t, column) : undefined;
  if (!c) return null;
  return c.baseType === 'json' || c.baseType === 'jsonb';
}

/** Where a statement puts expressions that every later write evaluates: index keys and WHERE, CHECKs, generated columns. */
function writeTimeExpressions(s: MigrationStatement): { where: string; expr: unknown }[] {
  const out: { where: string; expr: unknown }[] = [];
  const constraintExprs = (c: Node, column: string | null) => {
    if (c.contype === 'CONSTR_CHECK' && c.raw_expr) out.push({ where: `CHECK${typeof c.conname === 'string' ? ` ${c.conname}` : ''}`, expr: c.raw_expr });
    if (c.contype === 'CONSTR_GENERATED' && c.raw_expr) out.push({ where: `generated column ${column ?? ''}`.trim(), expr: c.raw_expr });
  };
  const columnDef = (d: Node) => {
    for (const c of (d.constraints as Node[] | undefined) ?? []) if (isNode(c.Constraint)) constraintExprs(c.Constraint as Node, String(d.colname ?? ''));
  };
  if (s.kind === 'IndexStmt') {
    for (const p of (s.node.indexParams as Node[] | undefined) ?? []) {
      const e = (p.IndexElem ?? {}) as Node;
      if (e.expr) out.push({ where: 'index key', expr: e.expr });
    }
    if (s.node.whereClause) out.push({ where: 'index predicate', expr: s.node.whereClause });
  } else if (s.kind === 'AlterTableStmt') {
    for (const item of (s.node.cmds as Node[] | undefined) ?? []) {
      const cmd = (item.AlterTableCmd ?? {}) as Node;
      const def = isNode(cmd.def) ? (cmd.def as Node) : {};
      if (isNode(def.Constraint)) constraintExprs(def.Constraint as Node, null);
      if (isNode(def.ColumnDef)) columnDef(def.ColumnDef as Node);
    }
  } else if (s.kind === 'CreateStmt') {
    for (const e of (s.node.tableElts as Node[] | undefined) ?? []) {
      if (isNode(e.ColumnDef)) columnDef(e.ColumnDef as Node);
      if (isNode(e.Constraint)) constraintExprs(e.Constraint as Node, null);
    }
  }
  return out;
}

/**
 * Data that will make it fail later: a JSON text value cast to an integer type where every later write
 * evaluates it (an index key or predicate, a CHECK, a generated column), as jsonb-int-cast-index finds
 * in a live catalog. Today's rows may all be integers: the first 1.38 written fails with 22P02 (seed 003).
 */
export const judgeJsonIntCasts: Judge = async (s, state, ctx, report) => {
  const rule = 'preflight/json-int-casts';
  const exprs = writeTimeExpressions(s);
  if (exprs.length === 0 || !isNode(s.node.relation)) return [];
  const rel = resolveRelation(s.node.relation as RangeVar, state, ctx.catalog);
  const inStatement = new Map<string, string>();
  const elts = s.kind === 'CreateStmt' ? ((s.node.tableElts as Node[] | undefined) ?? []) : ((s.node.cmds as Node[] | undefined) ?? []).map((c) => ((c.AlterTableCmd as Node | undefined)?.def ?? {}) as Node);
  for (const e of elts) if (isNode(e.ColumnDef)) inStatement.set(String((e.ColumnDef as Node).colname), lastName(((e.ColumnDef as Node).typeName as Node | undefined)?.names));
  // A copy to rewrite with ::numeric: the advice is the same statement, fixed.
  const fixed = structuredClone(s.node);
  const fixedExprs = writeTimeExpressions({ ...s, node: fixed });
  const outcomes: Outcome[] = [];
  let casts = 0;
  let extractions = 0;
  const flagged: (Found & { where: string })[] = [];
  for (let i = 0; i < exprs.length; i++) {
    const { found, extractions: n } = jsonIntCasts((fixedExprs[i] as { expr: unknown }).expr);
    extractions += n;
    for (const f of found) {
      casts++;
      const json = isJsonColumn(state, ctx, rel.schema, rel.name, f.column, inStatement);
      const where = (exprs[i] as { where: string }).where;
      if (json === false) continue;
      if (json === null) {
        outcomes.push({ rule, status: 'not-judged', reason: `${f.text} in the ${where}: the type of ${f.column} is not known here` });
      } else if (f.guarded || (where === 'index key' && s.node.whereClause)) {
        outcomes.push({ rule, status: 'not-judged', reason: `${f.text} in the ${where} is under ${f.guarded ? 'a CASE' : "the index's WHERE"}: whether only integer text reaches it is not judged (integrity check's jsonb-int-cast-index reads such guards once the object exists)` });
      } else flagged.push({ ...f, where });
    }
  }
  if (extractions === 0) return [];
  if (flagged.length > 0) {
    // The same statement with those casts to numeric, as the advice.
    for (const f of flagged) (f.cast.typeName as Node).names = [{ String: { sval: 'pg_catalog' } }, { String: { sval: 'numeric' } }];
    const fixedSql = deparseSync({ version: 170004, stmts: [{ stmt: { [s.kind]: fixed } }] } as unknown as Parameters<typeof deparseSync>[0]);
    const columns = [...new Set(flagged.map((f) => f.column))];
    report({
      rule,
      kind: 'json-int-cast',
      message:
        `${flagged.map((f) => `${f.text} (${f.type}) in the ${f.where}`).join('; ')}: a JSON number with a fraction (1.38) or beyond the type's range, written later, makes that write fail with 22P02 or 22003, whatever today's rows hold (an index like this once failed in production the day a price of 1.38 arrived). ` +
        `Cast to numeric instead: ${fixedSql}`,
      object: { schema: rel.schema, table: rel.name, ...(columns.length === 1 ? { column: columns[0] as string } : { columns }), ...(s.kind === 'IndexStmt' && typeof s.node.idxname === 'string' ? { index: s.node.idxname } : {}) },
      count: null,
      samples: [],
      details: { casts: flagged.map((f) => ({ expression: f.text, castType: f.type, column: f.column, where: f.where })), instead: fixedSql },
      location: s.location,
    });
    outcomes.push({ rule, status: 'failed' });
  } else if (outcomes.length === 0) outcomes.push({ rule, status: 'passed', ...(casts > 0 ? { note: 'its integer casts read columns that are not JSON' } : {}) });
  return outcomes;
};

/** placeholder-uuid's built-in values (its `values` option's default), for a config that does not set them. */
export const DEFAULT_PLACEHOLDERS = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'];

const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'citext']);
const normalUuid = (v: string) => v.toLowerCase().replace(/[{}-]/g, '');

/** The string constant an expression is (through casts), or null. */
function stringConstant(expr: unknown): string | null {
  let e = expr;
  while (isNode(e) && isNode(e.TypeCast)) e = (e.TypeCast as Node).arg;
  if (isNode(e) && isNode(e.A_Const)) {
    const c = e.A_Const as Node;
    return isNode(c.sval) ? String((c.sval as Node).sval ?? '') : null;
  }
  return null;
}

/**
 * Data that will fail later: a placeholder UUID as an id column's DEFAULT (CREATE TABLE, ADD COLUMN,
 * ALTER COLUMN SET DEFAULT), as placeholder-uuid finds once it exists: every insert that omits the column
 * writes a fake id (seed 000). Columns as placeholder-uuid reads them: uuid, or text named id / *_id / *Id.
 */
export const judgePlaceholderDefaults: Judge = async (s, state, ctx, report) => {
  const rule = 'preflight/placeholder-defaults';
  if (!isNode(s.node.relation) || (s.kind !== 'CreateStmt' && s.kind !== 'AlterTableStmt')) return [];
  const rel = resolveRelation(s.node.relation as RangeVar, state, ctx.catalog);
  const defaults: { column: string; type: string; expr: unknown }[] = [];
  const fromDef = (d: Node) => {
    for (const c of (d.constraints as Node[] | undefined) ?? []) {
      const k = (c.Constraint ?? {}) as Node;
      if (k.contype === 'CONSTR_DEFAULT') defaults.push({ column: String(d.colname), type: lastName((d.typeName as Node | undefined)?.names), expr: k.raw_expr });
    }
  };
  if (s.kind === 'CreateStmt') for (const e of (s.node.tableElts as Node[] | undefined) ?? []) if (isNode(e.ColumnDef)) fromDef(e.ColumnDef as Node);
  for (const item of s.kind === 'AlterTableStmt' ? ((s.node.cmds as Node[] | undefined) ?? []) : []) {
    const cmd = (item.AlterTableCmd ?? {}) as Node;
    const def = isNode(cmd.def) ? (cmd.def as Node) : null;
    if (cmd.subtype === 'AT_AddColumn' && def && isNode(def.ColumnDef)) fromDef(def.ColumnDef as Node);
    if (cmd.subtype === 'AT_ColumnDefault' && def) {
      const column = String(cmd.name);
      const known = state.columnTypes.get(JSON.stringify([rel.schema, rel.name, column]));
      const table = findTable(ctx.catalog, rel.schema, rel.name);
      defaults.push({ column, type: known ?? (table ? (findColumn(table, column)?.baseType ?? '') : ''), expr: def });
    }
  }
  const outcomes: Outcome[] = [];
  const wanted = new Map(ctx.placeholders.map((p) => [normalUuid(p), p]));
  for (const d of defaults) {
    const idLike = d.type === 'uuid' || (TEXT_TYPES.has(d.type) && /(^id$|_id$|[a-z]Id$)/.test(d.column));
    if (!idLike) continue;
    const value = stringConstant(d.expr);
    const placeholder = value === null ? undefined : wanted.get(normalUuid(value));
    if (!placeholder) {
      outcomes.push({ rule, status: 'passed' });
      continue;
    }
    report({
      rule,
      kind: 'placeholder-default',
      message: `${d.column} gets DEFAULT '${value}', the placeholder ${placeholder}: every insert that omits ${d.column} will write a fake id (a ledger once filled with rows attributed to nobody this way). Leave it without a DEFAULT (an insert that does not know the id then fails), or NULL`,
      object: { schema: rel.schema, table: rel.name, column: d.column },
      count: null,
      samples: [],
      details: { placeholder },
      location: s.location,
    });
    outcomes.push({ rule, status: 'failed' });
  }
  return outcomes;
};

/**
 * What only the whole run tells: a foreign key added NOT VALID that no later statement validates, and a
 * trigger disabled that none enables again. Added to the verdict of the statement that did it.
 */
export function judgeRunEnd(state: RunState, verdicts: StatementVerdict[], report: (f: PreflightFindingInput) => void): void {
  const verdictAt = (l: StatementLocation) => verdicts.find((v) => v.location === l);
  for (const [key, fk] of state.notValidForeignKeys) {
    const [schema, table, name] = JSON.parse(key) as [string, string, string];
    const v = verdictAt(fk.location);
    const rule = 'preflight/unvalidated-foreign-keys';
    if (state.validated.has(key)) {
      v?.outcomes.push({ rule, status: 'passed' });
      continue;
    }
    report({
      rule,
      kind: 'not-validated',
      message: `foreign key ${name} is added NOT VALID and no migration of this run validates it: the rows already there are never checked, so their orphans stay. Repair them, then ALTER TABLE ${displayName(schema, table)} VALIDATE CONSTRAINT ${displayName(name)} in a later migration`,
      object: { schema, table, columns: fk.columns, constraint: name },
      count: null,
      samples: [],
      location: fk.location,
    });
    v?.outcomes.push({ rule, status: 'failed' });
  }
  for (const [key, list] of state.disabledTriggers) {
    const [schema, table] = JSON.parse(key) as [string, string];
    for (const d of list) {
      const rule = 'preflight/disabled-triggers';
      const which = d.trigger === 'ALL' ? 'every trigger (ALL: the foreign keys\' own too)' : d.trigger === 'USER' ? 'every user trigger (USER)' : `trigger ${d.trigger}`;
      report({
        rule,
        kind: 'left-disabled',
        message: `${which} of ${displayName(schema, table)} is disabled and no later statement of the run enables it again: what it keeps true stops being kept for every write after the migration. Enable it again in the same migration (ALTER TABLE ${displayName(schema, table)} ENABLE TRIGGER ${d.trigger === 'ALL' || d.trigger === 'USER' ? d.trigger : displayName(d.trigger)})`,
        object: { schema, table, ...(d.trigger === 'ALL' || d.trigger === 'USER' ? {} : { trigger: d.trigger }) },
        count: null,
        samples: [],
        location: d.location,
      });
      verdictAt(d.location)?.outcomes.push({ rule, status: 'failed' });
    }
  }
}
