import { displayName, qualifiedName, quoteIdent, relationOid } from '../db/quote.js';
import { ownRows } from '../db/sql.js';
import type { FindingObject } from '../findings.js';
import {
  countRows,
  defaultActions,
  deparseExpression,
  evaluating,
  expressionRefusal,
  missingColumn,
  notJudged,
  ownColumns,
  reportForeignQualifier,
  rowKey,
  sampleLimit,
  stillMade,
  userTypes,
  type Target,
} from './data-judges.js';
import { judgement, type JudgeContext, type Outcome, type PreflightFindingInput, type RunState } from './judge.js';
import { isNode, type MigrationStatement, type Node } from './statements.js';

const INTEGER_RANGES: Record<string, [string, string]> = {
  int2: ['-32768', '32767'],
  int4: ['-2147483648', '2147483647'],
  int8: ['-9223372036854775808', '9223372036854775807'],
};

/**
 * Node types through which every operand is evaluated for every row: an operator, a function call, a
 * cast. Under anything else (CASE, COALESCE, AND/OR, NULLIF) a cast may not be reached for a row, so
 * a row failing it alone is not known to make the whole expression raise.
 */
const ALWAYS_EVALUATED = new Set(['TypeCast', 'A_Expr', 'FuncCall']);

interface IntegerCast {
  /** SQL of the text being cast. */
  arg: string;
  type: keyof typeof INTEGER_RANGES;
}

/** The casts to an integer type reached for every row, or null when one is under a conditional node. */
function integerCasts(expr: unknown): IntegerCast[] | null {
  const out: IntegerCast[] = [];
  let conditional = false;
  const walk = (n: unknown, always: boolean): void => {
    if (Array.isArray(n)) {
      for (const x of n) walk(x, always);
      return;
    }
    if (!isNode(n)) return;
    for (const [kind, v] of Object.entries(n)) {
      if (!isNode(v)) {
        walk(v, always);
        continue;
      }
      const here = always && (ALWAYS_EVALUATED.has(kind) || !/^[A-Z]/.test(kind));
      if (kind === 'TypeCast') {
        const names = ((v.typeName as Node | undefined)?.names as Node[] | undefined)?.map((x) => String((x.String as Node | undefined)?.sval ?? '')) ?? [];
        const type = names.length === 2 && names[0] === 'pg_catalog' ? names[1] : undefined;
        const inner = isNode(v.arg) && isNode((v.arg as Node).TypeCast) ? ((v.arg as Node).TypeCast as Node) : null;
        const innerNames = ((inner?.typeName as Node | undefined)?.names as Node[] | undefined)?.map((x) => String((x.String as Node | undefined)?.sval ?? '')) ?? [];
        // An integer cast of an integer cast (USING code::int, then the column's new type): the inner one is what reads text.
        const ofInteger = innerNames.length === 2 && innerNames[0] === 'pg_catalog' && (innerNames[1] as string) in INTEGER_RANGES;
        if (type && type in INTEGER_RANGES && !ofInteger) {
          if (!here) conditional = true;
          else out.push({ arg: deparseExpression(v.arg), type: type as keyof typeof INTEGER_RANGES });
        }
      }
      if (kind === 'A_Expr' && (v as Node).kind !== 'AEXPR_OP') walk(v, false);
      else walk(v, here);
    }
  };
  walk(expr, true);
  return conditional ? null : out;
}

/**
 * Whether the text `a` is not read by the integer type's input function: not (spaces, a sign, digits,
 * spaces) within the type's range. From PostgreSQL 16 the input also takes `_` between digits and 0x,
 * 0o, 0b prefixes; those are taken as read (a value of those forms out of range is caught by the check
 * that the other rows do not raise).
 */
function integerInputFails(a: string, type: keyof typeof INTEGER_RANGES, serverVersionNum: number): string {
  const [lo, hi] = INTEGER_RANGES[type] as [string, string];
  const modern = serverVersionNum >= 160000;
  const decimal = modern ? String.raw`^\s*[+-]?[0-9]+(_[0-9]+)*\s*$` : String.raw`^\s*[+-]?[0-9]+\s*$`;
  const prefixed = String.raw`^\s*[+-]?0([xX][0-9a-fA-F]+(_[0-9a-fA-F]+)*|[oO][0-7]+(_[0-7]+)*|[bB][01]+(_[01]+)*)\s*$`;
  const digits = `pg_catalog.replace(pg_catalog.btrim(${a}, E' \\t\\n\\r\\f\\v'), '_', '')::pg_catalog.numeric`;
  return `(CASE WHEN (${a}) IS NULL THEN false
                WHEN (${a}) OPERATOR(pg_catalog.~) '${decimal}' THEN NOT (${digits} OPERATOR(pg_catalog.>=) ${lo} AND ${digits} OPERATOR(pg_catalog.<=) ${hi})
                ${modern ? `WHEN (${a}) OPERATOR(pg_catalog.~) '${prefixed}' THEN false` : ''}
                ELSE true END)`;
}

export interface Raising {
  code: string;
  message: string;
  /** Rows that raise, when it can be told exactly; null when only "at least one" is known. */
  count: number | null;
  samples: string[];
}

/**
 * Whether evaluating the expressions over the rows (alias r) raises, as the statement would: each is
 * evaluated for every row the statement evaluates it for. When it raises and the cause is a cast to an
 * integer type reached for every row, the rows whose text that type does not read are counted, and the
 * count is taken only if the other rows then evaluate without error.
 */
export async function raisingRows(ctx: JudgeContext, from: string, where: string, exprs: unknown[], key: string, object: FindingObject): Promise<Raising | null> {
  const sql = exprs.map(deparseExpression);
  const allowed = ctx.valuesAllowed(object);
  const all = await evaluating(ctx, () => ctx.db.query(`SELECT ${sql.map((e, i) => `pg_catalog.count((${e})) AS e${i}`).join(', ')} FROM ${from} r WHERE ${where}`), allowed);
  if (!('error' in all)) return null;
  const { code, message } = all.error;
  if (!code.startsWith('22')) throw Object.assign(new Error(`the expression could not be evaluated here: ${message}`), { code, notJudged: true });
  const casts = exprs.map(integerCasts);
  if (casts.some((c) => c === null) || casts.every((c) => c?.length === 0)) return { code, message, count: null, samples: [] };
  const fails = (casts.flat() as IntegerCast[]).map((c) => integerInputFails(c.arg, c.type, ctx.catalog.serverVersionNum)).join(' OR ');
  const counted = await evaluating(ctx, () => countRows(ctx, from, `(${where}) AND (${fails})`, key, sampleLimit(ctx, object)), allowed);
  if ('error' in counted || counted.value.count === 0) return { code, message, count: null, samples: [] };
  const rest = await evaluating(ctx, () => ctx.db.query(`SELECT ${sql.map((e, i) => `pg_catalog.count((${e})) AS e${i}`).join(', ')} FROM ${from} r WHERE (${where}) AND NOT (${fails})`), allowed);
  if ('error' in rest) return { code, message, count: null, samples: [] };
  return { code, message, count: counted.value.count, samples: counted.value.samples };
}

/** A refusal or an evaluation this session cannot do becomes `not judged`; anything else is the run's error. */
async function notJudgedOn<T extends Outcome>(rule: Outcome['rule'], work: () => Promise<T>): Promise<Outcome> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof Error && 'notJudged' in err) return notJudged(rule, `not judged: ${err.message}`);
    throw err;
  }
}

/** CREATE INDEX on an expression: the rows of today for which it raises (seed 003's `::int` over 1.38). */
export async function judgeExpressionIndex(s: MigrationStatement, t: Extract<Target, { kind: 'today' | 'created' }>, elems: Node[], state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome> {
  const rule = 'preflight/index-expressions';
  if (t.kind === 'created') return { rule, status: 'passed', note: `${displayName(t.schema, t.name)} is created at ${s.location.file}:${s.location.line} in this run: empty when this runs, no row to evaluate` };
  const name = typeof s.node.idxname === 'string' ? s.node.idxname : null;
  const object: FindingObject = { schema: t.schema, table: t.name, ...(name ? { index: name } : {}) };
  // Columns qualified by the table's own name are its columns; another table's name fails the statement.
  const owned = elems.filter((e) => e.expr).map((e) => ownColumns(e.expr, t));
  const ownedWhere = s.node.whereClause ? ownColumns(s.node.whereClause, t) : null;
  const foreign = [...owned, ...(ownedWhere ? [ownedWhere] : [])].find((o) => o.error);
  if (foreign?.error) return reportForeignQualifier(foreign.error, 'expression', `CREATE INDEX${name ? ` ${name}` : ''}`, object, s.location, report);
  const exprs = owned.map((o) => o.expr);
  for (const e of elems.filter((x) => !x.expr)) {
    const missing = missingColumn(state, t, String(e.name));
    if (missing) return notJudged(rule, missing);
  }
  for (const e of [...exprs, ...(ownedWhere ? [ownedWhere.expr] : [])]) {
    const refusal = await expressionRefusal(ctx, e, t, state, t.table);
    if (refusal) return notJudged(rule, `not judged: the index expression ${refusal}`);
  }
  const where = ownedWhere ? `(${deparseExpression(ownedWhere.expr)})` : 'true';
  const key = rowKey(t.table, ctx);
  return judgement(ctx, rule, () =>
    notJudgedOn(rule, async () => {
      const raised = await raisingRows(ctx, ownRows(t.table), where, exprs, key.expr, object);
      // What is judged is the data; whether PostgreSQL takes the expression itself (IMMUTABLE) is not.
      if (!raised) return { rule, status: 'passed', note: 'no row of today makes the expression raise (whether PostgreSQL accepts the expression itself, IMMUTABLE, is not judged)' } as Outcome;
      const rows = raised.count === null ? 'at least one row' : `${raised.count} row${raised.count === 1 ? '' : 's'}`;
      report({
        rule,
        kind: 'raises',
        message:
          `CREATE INDEX${name ? ` ${name}` : ''} fails now: its expression raises "${raised.message}" [${raised.code}] on ${rows} of ${displayName(t.schema, t.name)}${raised.count === null ? '' : ` (samples: ${key.what})`}. ` +
          'Write it so that it cannot raise on the data it will meet (a ::numeric cast instead of ::int for JSON numbers), or repair the rows first',
        object,
        count: raised.count,
        samples: raised.samples,
        details: { sqlstate: raised.code, error: raised.message },
        location: s.location,
      });
      return { rule, status: 'failed' } as Outcome;
    }),
  );
}

/** pg_catalog type names the parser writes for SQL's own spellings (integer -> int4), and a few by name. */
function targetType(typeName: Node): { sql: string; name: string; typmod: boolean } | null {
  const names = ((typeName.names as Node[] | undefined) ?? []).map((x) => String((x.String as Node | undefined)?.sval ?? ''));
  if (Array.isArray(typeName.arrayBounds) && typeName.arrayBounds.length > 0) return null;
  const name = names.length === 2 && names[0] === 'pg_catalog' ? names[1] : names.length === 1 ? names[0] : undefined;
  if (!name) return null;
  const typmods = ((typeName.typmods as Node[] | undefined) ?? []).map((m) => {
    const c = (m.A_Const ?? {}) as Node;
    return isNode(c.ival) ? Number((c.ival as Node).ival ?? 0) : NaN;
  });
  if (typmods.some((m) => !Number.isInteger(m))) return null;
  return { sql: `pg_catalog.${quoteIdent(name)}${typmods.length > 0 ? `(${typmods.join(', ')})` : ''}`, name, typmod: typmods.length > 0 };
}

/** Types whose assignment cast behaves unlike an explicit one (an explicit cast truncates, an assignment raises). */
const TRUNCATED_BY_EXPLICIT_CAST = new Set(['varchar', 'bpchar', 'bit', 'varbit']);

/** ALTER COLUMN ... TYPE: the rows whose value does not convert (or the statement fails whatever the rows). */
export async function judgeAlterType(s: MigrationStatement, t: Extract<Target, { kind: 'today' | 'created' }>, cmd: Node, state: RunState, ctx: JudgeContext, report: (f: PreflightFindingInput) => void): Promise<Outcome> {
  const rule = 'preflight/type-changes';
  const column = String(cmd.name);
  const def = ((cmd.def as Node | undefined)?.ColumnDef ?? {}) as Node;
  if (t.kind === 'created') return { rule, status: 'passed', note: `${displayName(t.schema, t.name)} is created in this run: empty when this runs, no value to convert` };
  const missing = missingColumn(state, t, column);
  if (missing) return notJudged(rule, missing);
  const target = isNode(def.typeName) ? targetType(def.typeName as Node) : null;
  if (!target) return notJudged(rule, 'the new type is not one of pg_catalog\'s by a name read here (an array, a schema-qualified or user type)');
  if (target.typmod && TRUNCATED_BY_EXPLICIT_CAST.has(target.name)) return notJudged(rule, `a ${target.name} with a length: the conversion's length check is not repeated here`);
  if (def.collClause) return notJudged(rule, 'a COLLATE clause: not judged');
  const known = (
    await ctx.db.query<{ ok: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND typname::pg_catalog.text OPERATOR(pg_catalog.=) $1 AND typtype OPERATOR(pg_catalog.=) 'b') AS ok`,
      [target.name],
    )
  ).rows[0]?.ok;
  if (!known) return notJudged(rule, `type ${target.name} is not a base type of pg_catalog`);
  const foreign = await userTypes(ctx, t.schema, t.name, [column]);
  if (foreign) return notJudged(rule, foreign);
  const object: FindingObject = { schema: t.schema, table: t.name, column };
  const defaultFails = await judgeDefaultCast(s, t, column, target.name, state, ctx, object, report);
  if (defaultFails) return defaultFails;
  const key = rowKey(t.table, ctx);
  // ALTER TYPE rewrites the inheriting tables too, unless ONLY.
  const from = t.inh || t.table.kind === 'partitioned table' ? qualifiedName(t.schema, t.name) : `ONLY ${qualifiedName(t.schema, t.name)}`;
  let expr: unknown;
  if (def.raw_default) {
    const refusal = await expressionRefusal(ctx, def.raw_default, t, state, t.table);
    if (refusal) return notJudged(rule, `not judged: the USING expression ${refusal}`);
    expr = { TypeCast: { arg: def.raw_default, typeName: def.typeName } };
  } else {
    // Without USING the value goes through an assignment cast: with none (text to integer), the
    // statement fails on any table, empty or not (42804).
    const cast = await assignmentCast(ctx, t.schema, t.name, column, target.name);
    if (cast && !cast.ok) {
      report({
        rule,
        kind: 'no-assignment-cast',
        message: `ALTER COLUMN ${column} TYPE ${target.name} fails now (42804): there is no assignment cast from ${cast.from} to ${target.name}, so PostgreSQL will not convert the column without USING (e.g. USING ${column}::${target.name})`,
        object,
        count: null,
        samples: [],
        location: s.location,
      });
      return { rule, status: 'failed' };
    }
    expr = { TypeCast: { arg: { ColumnRef: { fields: [{ String: { sval: column } }] } }, typeName: def.typeName } };
  }
  return notJudgedOn(rule, async () => {
    const raised = await raisingRows(ctx, from, 'true', [expr], key.expr, object);
    if (!raised) return judgeUniqueCollisions(s, t, column, target.name, expr, ctx, object, report);
    const rows = raised.count === null ? 'at least one row' : `${raised.count} row${raised.count === 1 ? '' : 's'}`;
    report({
      rule,
      kind: 'does-not-convert',
      message:
        `ALTER COLUMN ${column} TYPE ${target.name} fails now: converting raises "${raised.message}" [${raised.code}] on ${rows} of ${displayName(t.schema, t.name)}${raised.count === null ? '' : ` (samples: ${key.what})`}. ` +
        'Repair those values first, or convert them in USING',
      object,
      count: raised.count,
      samples: raised.samples,
      details: { sqlstate: raised.code, error: raised.message },
      location: s.location,
    });
    return { rule, status: 'failed' } as Outcome;
  });
}

/**
 * Whether PostgreSQL converts a value of the column's type to the pg_catalog type by assignment (as a
 * column without USING, and a column's DEFAULT, are converted): the same type, a string target (I/O
 * conversion), or an assignment or implicit cast from the type (a domain's base type). Null when the
 * column is not found.
 */
async function assignmentCast(ctx: JudgeContext, schema: string, table: string, column: string, target: string): Promise<{ ok: boolean; from: string } | null> {
  return (
    (
      await ctx.db.query<{ ok: boolean; from: string }>(
        `SELECT pg_catalog.format_type(a.atttypid, NULL) AS from,
                (a.atttypid OPERATOR(pg_catalog.=) t.oid
                 OR t.typcategory OPERATOR(pg_catalog.=) 'S'
                 OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast c WHERE c.castsource OPERATOR(pg_catalog.=) (SELECT CASE WHEN st.typtype OPERATOR(pg_catalog.=) 'd' THEN st.typbasetype ELSE st.oid END FROM pg_catalog.pg_type st WHERE st.oid OPERATOR(pg_catalog.=) a.atttypid) AND c.casttarget OPERATOR(pg_catalog.=) t.oid AND c.castcontext IN ('a', 'i'))) AS ok
           FROM pg_catalog.pg_attribute a, pg_catalog.pg_type t
          WHERE a.attrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')}
            AND a.attname OPERATOR(pg_catalog.=) $3 AND t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND t.typname::pg_catalog.text OPERATOR(pg_catalog.=) $4`,
        [schema, table, column, target],
      )
    ).rows[0] ?? null
  );
}

/**
 * The column's DEFAULT is converted to the new type by assignment, whatever USING says (42804 "default
 * for column ... cannot be cast automatically", on an empty table too). A DROP DEFAULT in the same
 * statement runs first and removes it; one earlier in the run too, and a SET DEFAULT there leaves a
 * default of the old type. Null when the default converts (or there is none).
 */
async function judgeDefaultCast(s: MigrationStatement, t: Extract<Target, { kind: 'today' }>, column: string, target: string, state: RunState, ctx: JudgeContext, object: FindingObject, report: (f: PreflightFindingInput) => void): Promise<Outcome | null> {
  const rule = 'preflight/default-casts';
  const cmds = ((s.node.cmds as Node[] | undefined) ?? []).map((c) => (c.AlterTableCmd ?? {}) as Node);
  if (cmds.some((c) => c.subtype === 'AT_ColumnDefault' && c.name === column && !c.def)) return null;
  const recorded = defaultActions(state).get(JSON.stringify([t.schema, t.name, column]));
  // One in a transaction block that may have been rolled back since is not taken as done.
  const earlier = recorded && stillMade(recorded.made, state) ? recorded.action : null;
  if (earlier === 'dropped') return null;
  const dflt = (
    await ctx.db.query<{ expr: string }>(
      `SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expr FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.adrelid AND a.attnum OPERATOR(pg_catalog.=) d.adnum
        WHERE d.adrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')} AND a.attname OPERATOR(pg_catalog.=) $3`,
      [t.schema, t.name, column],
    )
  ).rows[0];
  if (!dflt && earlier !== 'set') return null;
  const cast = await assignmentCast(ctx, t.schema, t.name, column, target);
  if (!cast || cast.ok) return null;
  const table = qualifiedName(t.schema, t.name);
  const col = quoteIdent(column);
  const using = cmds.find((c) => c.subtype === 'AT_AlterColumnType' && c.name === column);
  const usingSql = isNode(using?.def) && isNode((using.def as Node).ColumnDef) && (using.def as Node).ColumnDef && ((using.def as Node).ColumnDef as Node).raw_default ? ` USING ${deparseExpression(((using.def as Node).ColumnDef as Node).raw_default)}` : ` USING ${col}::pg_catalog.${quoteIdent(target)}`;
  const instead = `ALTER TABLE ${table} ALTER COLUMN ${col} DROP DEFAULT, ALTER COLUMN ${col} TYPE pg_catalog.${quoteIdent(target)}${usingSql}; ALTER TABLE ${table} ALTER COLUMN ${col} SET DEFAULT <a value of ${target}>;`;
  report({
    rule,
    kind: 'default-does-not-convert',
    message:
      `ALTER COLUMN ${column} TYPE ${target} fails now (42804): the column's DEFAULT (${dflt ? dflt.expr : `set earlier in the run`}) is converted to ${target} by assignment, USING or not, and there is no assignment cast from ${cast.from}, on any data. ` +
      `Drop the default in the same statement and set one of the new type after it: ${instead}`,
    object,
    count: null,
    samples: [],
    details: { sqlstate: '42804', kind: 'default-does-not-convert', instead },
    location: s.location,
  });
  return { rule, status: 'failed' };
}

/**
 * After the conversion the column's unique indexes (a primary key, a UNIQUE) are rebuilt over the new
 * values: values distinct today that convert to one (numeric 1.2 and 1.4 to integer 1) fail the rebuild
 * (23505). Counted only for a conversion already judged not to raise, on indexes of plain columns of
 * PostgreSQL's types with their default operator classes; anything else is not judged.
 */
async function judgeUniqueCollisions(s: MigrationStatement, t: Extract<Target, { kind: 'today' }>, column: string, target: string, expr: unknown, ctx: JudgeContext, object: FindingObject, report: (f: PreflightFindingInput) => void): Promise<Outcome> {
  const rule = 'preflight/type-changes';
  // A failure is the unique index's (23505), reported as duplicates are.
  const failedRule = 'preflight/duplicates';
  const indexes = (
    await ctx.db.query<{ name: string; columns: string[]; plain: boolean; defaultOpclasses: boolean; nullsNotDistinct: boolean }>(
      `SELECT ic.relname::pg_catalog.text AS name,
              (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY k.o) FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(n, o)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) k.n
                WHERE k.o OPERATOR(pg_catalog.<=) i.indnkeyatts) AS columns,
              (i.indexprs IS NULL AND i.indpred IS NULL) AS plain,
              NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(i.indclass::pg_catalog.oid[]) AS oc(oid) JOIN pg_catalog.pg_opclass op ON op.oid OPERATOR(pg_catalog.=) oc.oid WHERE NOT op.opcdefault) AS "defaultOpclasses",
              ${ctx.catalog.serverVersionNum >= 150000 ? 'i.indnullsnotdistinct' : 'false'} AS "nullsNotDistinct"
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
        WHERE i.indrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')} AND i.indisunique
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attname OPERATOR(pg_catalog.=) $3
                        AND (a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])
                             -- in an expression or the predicate: the index depends on the column
                             OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid OPERATOR(pg_catalog.=) i.indexrelid
                                          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid OPERATOR(pg_catalog.=) i.indrelid AND d.refobjsubid OPERATOR(pg_catalog.=) a.attnum)))
        ORDER BY 1`,
      [t.schema, t.name, column],
    )
  ).rows.filter((ix) => (ix.columns ?? []).includes(column) || !ix.plain);
  if (indexes.length === 0) return { rule, status: 'passed' };
  const converted = new Set(
    ((s.node.cmds as Node[] | undefined) ?? []).map((c) => (c.AlterTableCmd ?? {}) as Node).filter((c) => c.subtype === 'AT_AlterColumnType').map((c) => String(c.name)),
  );
  const key = rowKey(t.table, ctx);
  let failed = false;
  for (const ix of indexes) {
    if (!ix.plain || !ix.defaultOpclasses) return notJudged(rule, `the conversion passes, but the unique index ${ix.name} (on an expression, partial, or with an operator class of its own) is rebuilt over the new values: whether they stay distinct there is not judged`);
    const others = ix.columns.filter((c) => c !== column);
    if (others.some((c) => converted.has(c))) return notJudged(rule, `the conversion passes, but the same statement converts another column of the unique index ${ix.name}: whether its keys stay distinct is not judged`);
    const foreign = await userTypes(ctx, t.schema, t.name, others);
    if (foreign) return notJudged(rule, `the conversion passes, but the unique index ${ix.name}: ${foreign}`);
    const keyExprs = [`(${deparseExpression(expr)})`, ...others.map((c) => `r.${quoteIdent(c)}`)];
    const where = ix.nullsNotDistinct ? 'true' : [`(${deparseExpression(expr)}) IS NOT NULL`, ...others.map((c) => `r.${quoteIdent(c)} IS NOT NULL`)].join(' AND ');
    const colliding = `(${keyExprs.join(', ')}) IN (SELECT ${keyExprs.join(', ')} FROM ${ownRows(t.table)} r WHERE ${where} GROUP BY ${keyExprs.join(', ')} HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1)`;
    const evaluated = await evaluating(ctx, () => countRows(ctx, ownRows(t.table), `${where} AND ${colliding}`, key.expr, sampleLimit(ctx, object)), ctx.valuesAllowed(object));
    if ('error' in evaluated) return notJudged(rule, `the conversion passes, but comparing the converted keys of ${ix.name} could not be done here: ${evaluated.error.message} [${evaluated.error.code}]`);
    const { count, samples } = evaluated.value;
    if (count === 0) continue;
    report({
      rule: failedRule,
      kind: 'converted-keys-collide',
      message:
        `ALTER COLUMN ${column} TYPE ${target} fails now (23505): the unique index ${ix.name} on (${ix.columns.join(', ')}) is rebuilt over the converted values, and ${count} row${count === 1 ? '' : 's'} of ${displayName(t.schema, t.name)} ${count === 1 ? 'has' : 'have'} distinct values today that convert to a key another row also gets (samples: ${key.what}). ` +
        `Make those values distinct in the new type first (an UPDATE before this statement), or convert to a type that keeps them apart`,
      object: { ...object, index: ix.name },
      count,
      samples,
      details: { sqlstate: '23505', kind: 'converted-keys-collide', index: ix.name },
      location: s.location,
    });
    failed = true;
  }
  return failed ? { rule: failedRule, status: 'failed' } : { rule, status: 'passed' };
}
