/**
 * Whether a stored expression tree (pg_constraint.conbin, pg_index.indexprs / indpred) can be evaluated
 * during the audit without running code that is not PostgreSQL's own: user or extension functions and
 * operators, a domain's CHECK (which may call any function), the input, output or comparison functions
 * of a user's type. Shared by the checks that evaluate such expressions on every row.
 */
import { displayName, isNode, parseNodeTree, QUERY_RUNNING_FUNCTIONS, TYPE_IO_FUNCTIONS, walkNodes, type Queryable, type TreeNode } from '../../src/index.js';

/** Why an expression is not evaluated (it would run code that is not PostgreSQL's own), and the stable functions it depends on. */
export interface Verdict {
  refused: string[];
  stable: string[];
}

/**
 * The expression nodes this judge knows, under the names both pg_node_tree spellings use (PostgreSQL 15
 * renamed CASE, WHEN, ARRAY, ROW, ROWCOMPARE, COALESCE, MINMAX and COLLATE after their structs). A node
 * of any other type (a SubLink, a Param, a node of a later release) is not judged, so not evaluated:
 * whatever it runs is not seen here.
 */
const KNOWN_NODES = new Set([
  'VAR',
  'CONST',
  'FUNCEXPR',
  'NAMEDARGEXPR',
  'OPEXPR',
  'DISTINCTEXPR',
  'NULLIFEXPR',
  'SCALARARRAYOPEXPR',
  'BOOLEXPR',
  'FIELDSELECT',
  'FIELDSTORE',
  'RELABELTYPE',
  'COERCEVIAIO',
  'ARRAYCOERCEEXPR',
  'CONVERTROWTYPEEXPR',
  'COLLATEEXPR',
  'COLLATE',
  'CASEEXPR',
  'CASE',
  'CASEWHEN',
  'WHEN',
  'CASETESTEXPR',
  'ARRAYEXPR',
  'ARRAY',
  'ROWEXPR',
  'ROW',
  'ROWCOMPAREEXPR',
  'ROWCOMPARE',
  'COALESCEEXPR',
  'COALESCE',
  'MINMAXEXPR',
  'MINMAX',
  'SQLVALUEFUNCTION',
  'XMLEXPR',
  'NULLTEST',
  'BOOLEANTEST',
  'COERCETODOMAIN',
  'COERCETODOMAINVALUE',
  'SUBSCRIPTINGREF',
  'ARRAYREF',
  // SQL/JSON (PostgreSQL 16 and 17): their result type is in a JSONRETURNING node, judged below.
  'JSONFORMAT',
  'JSONRETURNING',
  'JSONVALUEEXPR',
  'JSONCONSTRUCTOREXPR',
  'JSONISPREDICATE',
  'JSONBEHAVIOR',
  'JSONEXPR',
]);

/** The fields of expression nodes that hold a type OID (others ending in "type", like nulltesttype, are enums). */
const TYPE_FIELDS = new Set([
  'vartype',
  'consttype',
  'funcresulttype',
  'opresulttype',
  'resulttype',
  'casetype',
  'typeId',
  'array_typeid',
  'element_typeid',
  'row_typeid',
  'coalescetype',
  'minmaxtype',
  'typid',
  'refcontainertype',
  'refarraytype',
  'refelemtype',
  'refrestype',
]);
/** Nodes whose `type` field is a type OID (JSON constructors use the name for an enum). */
const TYPE_NAMED_NODES = new Set(['SQLVALUEFUNCTION', 'XMLEXPR']);
const OPERATOR_NODES = new Set(['OPEXPR', 'DISTINCTEXPR', 'NULLIFEXPR', 'SCALARARRAYOPEXPR']);
const ROW_COMPARE_NODES = new Set(['ROWCOMPAREEXPR', 'ROWCOMPARE']);
/**
 * SQL/JSON expressions that coerce their result to the RETURNING type at run time, by the type's input
 * function or by json_populate_type, without a CoerceToDomain node in the tree: JSON_VALUE(... RETURNING
 * a_domain) runs the domain's CHECK on every row. The RETURNING type is produced, never only read.
 */
const JSON_RESULT_NODES = new Set(['JSONEXPR', 'JSONCONSTRUCTOREXPR']);

interface TreeRefs {
  functions: Set<string>;
  operators: Set<string>;
  /** Type OIDs and whether the type is only read (a column or VALUE), never produced or parsed. */
  types: Map<string, boolean>;
  timeOrUser: boolean;
  /** Nodes that are not judged, by type. */
  unknown: Set<string>;
}

function oidList(v: unknown): string[] {
  if (typeof v === 'string') return /^\d+$/.test(v) ? [v] : [];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && /^\d+$/.test(x)) : [];
}

/** The RETURNING type of a SQL/JSON expression node, or null when the tree does not say it. */
function jsonReturningType(node: TreeNode): string | null {
  const returning = node.fields.returning;
  if (!isNode(returning) || returning.type !== 'JSONRETURNING') return null;
  const [oid] = oidList(returning.fields.typid);
  return oid !== undefined && oid !== '0' ? oid : null;
}

/** The functions, operators and types a tree reaches; null when the tree cannot be read. */
export function referencesOf(tree: string): TreeRefs | null {
  const refs: TreeRefs = { functions: new Set(), operators: new Set(), types: new Map(), timeOrUser: false, unknown: new Set() };
  let root;
  try {
    root = parseNodeTree(tree);
  } catch {
    return null;
  }
  const produced = (t: string) => refs.types.set(t, false);
  for (const node of walkNodes(root)) {
    if (!KNOWN_NODES.has(node.type)) refs.unknown.add(node.type);
    if (node.type === 'FUNCEXPR') for (const f of oidList(node.fields.funcid)) refs.functions.add(f);
    if (OPERATOR_NODES.has(node.type)) for (const o of oidList(node.fields.opno)) refs.operators.add(o);
    if (ROW_COMPARE_NODES.has(node.type)) for (const o of oidList(node.fields.opnos)) refs.operators.add(o);
    if (node.type === 'SQLVALUEFUNCTION') refs.timeOrUser = true;
    if (JSON_RESULT_NODES.has(node.type)) {
      const t = jsonReturningType(node);
      // Without its RETURNING type the coercion it runs is not known: not judged.
      if (t === null) refs.unknown.add(`${node.type} without a RETURNING type`);
      else produced(t);
    }
    const readOnly = node.type === 'VAR' || node.type === 'COERCETODOMAINVALUE';
    for (const [field, value] of Object.entries(node.fields)) {
      if (!(TYPE_FIELDS.has(field) || (field === 'type' && TYPE_NAMED_NODES.has(node.type))) || isNode(value)) continue;
      for (const t of oidList(value)) {
        if (t === '0') continue;
        refs.types.set(t, (refs.types.get(t) ?? true) && readOnly);
      }
    }
  }
  return refs;
}

interface CodeRow {
  kind: 'f' | 'o';
  oid: string;
  schema: string;
  name: string;
  code_schema: string;
  volatility: string;
  /** The function's (an operator's: its code's) argument and result types of TYPE_DESIGNATING, by name. */
  io_types: string[];
}

/**
 * Argument or result types that make a function part of the type input/output family, or let it be handed
 * a type or relation to work on: `cstring` and `internal` (a type's input, output, receive and send
 * functions: domain_in, array_in, record_in, range_in and the *_recv ones run the input function of the
 * type named by their oid argument, and a domain's input runs its CHECK, which may call any function),
 * `regtype` and `regclass` (a type or a row type given as a value, whose functions the call may run), and
 * `regconfig` and `regdictionary` (a text search configuration or dictionary, whose parser and dictionary
 * code may be an extension's). None of them is judged from the tree's types: the type is a value there.
 */
const TYPE_DESIGNATING = ['cstring', 'internal', 'regtype', 'regclass', 'regconfig', 'regdictionary'];

interface TypeRow {
  oid: string;
  schema: string;
  name: string;
  typtype: string;
  base: string;
  elem: string;
  category: string;
}

/** Which of TYPE_DESIGNATING ($3) the pg_proc row `p` takes (any argument, OUT ones too) or returns. */
const IO_TYPES = `ARRAY(SELECT DISTINCT ty.typname::pg_catalog.text
         FROM pg_catalog.unnest(pg_catalog.array_append(COALESCE(p.proallargtypes, p.proargtypes::pg_catalog.oid[]), p.prorettype)) AS a(typ)
         JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) a.typ
        WHERE ty.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND ty.typname OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.name[])
        ORDER BY 1)`;

/** Why a pg_catalog function (an operator's code) may run a type's input or output functions it is handed as a value. */
function typeIoProblem(kind: 'f' | 'o', row: CodeRow): string | null {
  if (kind === 'f' && QUERY_RUNNING_FUNCTIONS.has(row.name)) return 'which runs queries on tables and views (a view may call any function)';
  const io = row.io_types.filter((t) => t === 'cstring' || t === 'internal');
  if (io.length > 0) return `a type input or output function (it takes or returns ${io.join(' and ')}): it may run the input function of a type it is given, a domain's CHECK (any function) among them`;
  if (row.io_types.length > 0) return `which is given a type, relation or text search configuration as a value (${row.io_types.join(', ')}): it may run that object's code, which is not necessarily PostgreSQL's own`;
  if (kind === 'f' && TYPE_IO_FUNCTIONS.has(row.name)) return "which runs the input function of the type it is given by name: a domain's CHECK (any function) among them";
  return null;
}

/**
 * For each tree: the user code or volatile function evaluating it would run, and the stable functions it
 * depends on. Functions, operators and types of every tree are looked up in two queries.
 */
export async function judgeTrees(db: Queryable, trees: { key: string; tree: string }[]): Promise<Map<string, Verdict>> {
  const parsed = trees.map((t) => ({ key: t.key, refs: referencesOf(t.tree) }));
  const functions = [...new Set(parsed.flatMap((p) => [...(p.refs?.functions ?? [])]))];
  const operators = [...new Set(parsed.flatMap((p) => [...(p.refs?.operators ?? [])]))];
  const typeOids = [...new Set(parsed.flatMap((p) => [...(p.refs?.types.keys() ?? [])]))];
  const code = new Map<string, CodeRow>();
  const types = new Map<string, TypeRow>();
  if (functions.length + operators.length > 0) {
    const res = await db.query<CodeRow>(
      `SELECT 'f' AS kind, p.oid::pg_catalog.text AS oid, n.nspname::pg_catalog.text AS schema, p.proname::pg_catalog.text AS name,
              n.nspname::pg_catalog.text AS code_schema, p.provolatile::pg_catalog.text AS volatility, ${IO_TYPES} AS io_types
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
        WHERE p.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[])
       UNION ALL
       SELECT 'o', o.oid::pg_catalog.text, n.nspname::pg_catalog.text, o.oprname::pg_catalog.text, pn.nspname::pg_catalog.text, p.provolatile::pg_catalog.text, ${IO_TYPES}
         FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
         JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) o.oprcode JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) p.pronamespace
        WHERE o.oid OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.oid[])`,
      [functions, operators, TYPE_DESIGNATING],
    );
    for (const r of res.rows) code.set(`${r.kind}${r.oid}`, r);
  }
  if (typeOids.length > 0) {
    const res = await db.query<TypeRow>(
      `WITH RECURSIVE ty(oid) AS (
         SELECT t.oid FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[])
         UNION
         SELECT x.next FROM ty JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.oid
          CROSS JOIN LATERAL (VALUES (t.typbasetype), (t.typelem)) AS x(next) WHERE x.next OPERATOR(pg_catalog.<>) 0
       )
       SELECT t.oid::pg_catalog.text AS oid, n.nspname::pg_catalog.text AS schema, t.typname::pg_catalog.text AS name, t.typtype::pg_catalog.text AS typtype,
              t.typbasetype::pg_catalog.text AS base, t.typelem::pg_catalog.text AS elem, t.typcategory::pg_catalog.text AS category
         FROM ty JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.oid
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace`,
      [typeOids],
    );
    for (const r of res.rows) types.set(r.oid, r);
  }
  const typeCode = await typeCodeProblems(db, typeOids);
  const out = new Map<string, Verdict>();
  for (const { key, refs } of parsed) {
    if (!refs) {
      out.set(key, { refused: ['the stored expression tree could not be read'], stable: [] });
      continue;
    }
    const refused: string[] = [...refs.unknown].sort().map((t) => `has a node this audit does not judge (${t})`);
    const stable: string[] = [];
    const judge = (kind: 'f' | 'o', oid: string) => {
      const row = code.get(`${kind}${oid}`);
      const label = kind === 'f' ? `function ${displayName(row?.schema ?? '?', row?.name ?? oid)}()` : `operator OPERATOR(${displayName(row?.schema ?? '?')}.${row?.name ?? oid})`;
      if (!row) refused.push(`${label} not found`);
      else if (row.schema !== 'pg_catalog' || row.code_schema !== 'pg_catalog') refused.push(`calls ${label}, which is not PostgreSQL's own`);
      else if (typeIoProblem(kind, row) !== null) refused.push(`calls ${label}, ${typeIoProblem(kind, row)}`);
      else if (row.volatility === 'v') refused.push(`calls the volatile ${label}: its result differs from one evaluation to the next, so no count made now would hold`);
      else if (row.volatility === 's') stable.push(label);
    };
    for (const f of refs.functions) judge('f', f);
    for (const o of refs.operators) judge('o', o);
    for (const [oid, readOnly] of refs.types) {
      const problem = typeProblem(types, oid, readOnly, 0);
      if (problem) refused.push(problem);
      // Even a type of PostgreSQL's own (or an enum) may be compared, hashed or cast by the user's code.
      else refused.push(...(typeCode.get(oid) ?? []));
    }
    if (refs.timeOrUser) stable.push('CURRENT_DATE/CURRENT_USER-style value functions');
    out.set(key, { refused: [...new Set(refused)], stable: [...new Set(stable)] });
  }
  return out;
}

/**
 * Why evaluating with a value of this type could run code that is not PostgreSQL's own: a domain's
 * constraints (when a value is cast or coerced to it, not when a column of it is read), or a type of the
 * user's or an extension's (its input, output and comparison functions). Enums and arrays of allowed types
 * are fine here, as far as the type itself goes (the comparisons and casts a user may attach to them are
 * typeCodeProblems'); an array of a domain is judged as the domain (a value coerced to it coerces each element).
 */
function typeProblem(types: Map<string, TypeRow>, oid: string, readOnly: boolean, depth: number): string | null {
  const t = types.get(oid);
  if (!t || depth > 20) return `type ${oid} not found`;
  const label = `type ${displayName(t.schema, t.name)}`;
  if (t.typtype === 'd') return readOnly ? typeProblem(types, t.base, readOnly, depth + 1) : `casts to the domain ${displayName(t.schema, t.name)}, whose constraints would run`;
  if (t.schema === 'pg_catalog') return null;
  if (t.typtype === 'e') return null;
  if (t.category === 'A' && t.elem !== '0') return typeProblem(types, t.elem, readOnly, depth + 1);
  return `uses ${label}, whose input, output or comparison functions are not PostgreSQL's own`;
}

/** OIDs below this are initdb's: PostgreSQL's own objects (FirstNormalObjectId). */
const FIRST_NORMAL_OID = 16384;

/**
 * One step of a walk through the types a value of type `rt` (a pg_type row) holds: a domain's base, an
 * array's element, a composite's attributes, a range's subtype, a multirange's range; as `nx(typ)`.
 * Recursive CTEs over it reach every type whose code comparing or printing such a value may call.
 */
export const TYPE_STEPS = `CROSS JOIN LATERAL (
          SELECT rt.typbasetype WHERE rt.typtype = 'd'
          UNION ALL
          SELECT el.oid FROM pg_catalog.pg_type el WHERE el.oid = rt.typelem AND el.typarray = rt.oid
          UNION ALL
          SELECT ca.atttypid FROM pg_catalog.pg_attribute ca
           WHERE rt.typtype = 'c' AND ca.attrelid = rt.typrelid AND ca.attnum > 0 AND NOT ca.attisdropped
          UNION ALL
          SELECT rg.rngsubtype FROM pg_catalog.pg_range rg WHERE rt.typtype = 'r' AND rg.rngtypid = rt.oid
          UNION ALL
          SELECT rg.rngtypid FROM pg_catalog.pg_range rg WHERE rt.typtype = 'm' AND rg.rngmultitypid = rt.oid
        ) AS nx(typ)`;

/**
 * For each type: the code not PostgreSQL's own that comparing, hashing or converting a value of it would
 * run, as "type X: ..." reasons (an empty list when there is none). PostgreSQL picks a type's comparison
 * and hash functions at run time from its DEFAULT btree and hash operator classes (the type cache, with
 * an operator class for the exact type preferred over a polymorphic one): array_eq and array_cmp,
 * record_eq, GREATEST/LEAST, IS DISTINCT FROM on rows, GROUP BY and DISTINCT all call them. A user may add
 * one for a pg_catalog type that has none (point, json, xml...) and for any enum type (next to
 * pg_catalog's enum_ops for anyenum), or ALTER OPERATOR FAMILY ... ADD a function to a pg_catalog family.
 * to_json, to_jsonb and the json builders call a type's cast to json for any type from
 * FirstNormalObjectId on (every enum and composite among them): the only cast PostgreSQL's own code looks
 * up at run time (any other cast an expression does is a FuncExpr of its tree, judged as a call; casts to
 * other types are not refused, so citext's casts from boolean and inet leave those types alone). So the types are followed (as collation-drift's amcheck eligibility does)
 * through domains to their base, true arrays to their element, composites to their attributes, ranges to
 * their subtype and multiranges to their range; for each type reached, a default btree or hash operator
 * class that its values may be compared with (for the type itself, one it is binary-coercible to, or a
 * polymorphic one) must be initdb's in an initdb family whose same-type support functions and operators
 * are all initdb's; a range's subtype operator class, canonical and subdiff functions too; and no cast
 * from the type to json or jsonb may be done by a function that is not initdb's.
 */
export async function typeCodeProblems(db: Queryable, typeOids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(typeOids.map((t) => [t, []]));
  if (typeOids.length === 0) return out;
  const foreign = (col: string) => `${col} >= ${FIRST_NORMAL_OID}::pg_catalog.oid`;
  const res = await db.query<{ root: string; type_schema: string; type_name: string; kind: string; schema: string; name: string; extra: string | null }>(
    `WITH RECURSIVE reach(root, typ) AS (
       SELECT r.oid, r.oid FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS r(oid)
       UNION
       SELECT reach.root, nx.typ FROM reach
         JOIN pg_catalog.pg_type rt ON rt.oid = reach.typ
        ${TYPE_STEPS}
     ),
     reached AS (SELECT DISTINCT typ FROM reach),
     classes(typ, opc) AS (
       SELECT r.typ, oc.oid FROM reached r
         JOIN pg_catalog.pg_opclass oc ON oc.opcdefault
         JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod AND am.amname IN ('btree', 'hash')
         JOIN pg_catalog.pg_type it ON it.oid = oc.opcintype
        WHERE oc.opcintype = r.typ
           -- Only without one for the exact type does PostgreSQL take a polymorphic or binary-coercible one
           -- (GetDefaultOpClass): text keeps text_ops though citext's text-to-citext cast is binary.
           OR ((it.typtype = 'p' OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast bc WHERE bc.castsource = r.typ AND bc.casttarget = oc.opcintype AND bc.castmethod = 'b'))
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_opclass ex WHERE ex.opcdefault AND ex.opcmethod = oc.opcmethod AND ex.opcintype = r.typ))
       UNION
       SELECT r.typ, rg.rngsubopc FROM reached r JOIN pg_catalog.pg_range rg ON rg.rngtypid = r.typ
     ),
     problems(typ, kind, schema, name, extra) AS (
       SELECT c.typ, 'operator class', cn.nspname::pg_catalog.text, oc.opcname::pg_catalog.text, am.amname::pg_catalog.text
         FROM classes c
         JOIN pg_catalog.pg_opclass oc ON oc.oid = c.opc
         JOIN pg_catalog.pg_namespace cn ON cn.oid = oc.opcnamespace
         JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod
        WHERE ${foreign('oc.oid')} OR ${foreign('oc.opcfamily')}
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_amproc ap
                       WHERE ap.amprocfamily = oc.opcfamily AND ap.amproclefttype = oc.opcintype AND ap.amprocrighttype = oc.opcintype
                         AND (${foreign('ap.oid')} OR ${foreign('ap.amproc::pg_catalog.oid')}))
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_amop ao JOIN pg_catalog.pg_operator op ON op.oid = ao.amopopr
                       WHERE ao.amopfamily = oc.opcfamily AND ao.amoplefttype = oc.opcintype AND ao.amoprighttype = oc.opcintype
                         AND (${foreign('ao.oid')} OR ${foreign('op.oid')} OR ${foreign('op.oprcode::pg_catalog.oid')}))
       UNION ALL
       SELECT r.typ, 'range function', fn.nspname::pg_catalog.text, f.proname::pg_catalog.text, NULL
         FROM reached r
         JOIN pg_catalog.pg_range rg ON rg.rngtypid = r.typ
         JOIN pg_catalog.pg_proc f ON f.oid IN (rg.rngcanonical::pg_catalog.oid, rg.rngsubdiff::pg_catalog.oid)
         JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
        WHERE ${foreign('f.oid')}
       UNION ALL
       SELECT r.typ, 'cast', fn.nspname::pg_catalog.text, f.proname::pg_catalog.text, pg_catalog.format_type(ct.casttarget, NULL)
         FROM reached r
         JOIN pg_catalog.pg_cast ct ON ct.castsource = r.typ AND ct.castfunc <> 0
              AND ct.casttarget IN ('pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.jsonb'::pg_catalog.regtype, 'pg_catalog.text'::pg_catalog.regtype,
                                    'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.bpchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype)
         JOIN pg_catalog.pg_proc f ON f.oid = ct.castfunc
         JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
        WHERE ${foreign('f.oid')}
     )
     SELECT DISTINCT reach.root::pg_catalog.text AS root, tn.nspname::pg_catalog.text AS type_schema, t.typname::pg_catalog.text AS type_name,
            p.kind, p.schema, p.name, p.extra
       FROM reach
       JOIN problems p ON p.typ = reach.typ
       JOIN pg_catalog.pg_type t ON t.oid = p.typ
       JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
      ORDER BY 1, 2, 3, 4, 5, 6, 7`,
    [typeOids],
  );
  for (const r of res.rows) {
    const type = `type ${displayName(r.type_schema, r.type_name)}`;
    const object = displayName(r.schema, r.name);
    const reason =
      r.kind === 'operator class'
        ? `${type} is compared or hashed with the default ${r.extra ?? ''} operator class ${object} (array, row, GREATEST/LEAST and grouping comparisons call it), which is not PostgreSQL's own or holds functions or operators that are not`
        : r.kind === 'range function'
          ? `${type} is a range whose function ${object}() is not PostgreSQL's own`
          : `${type} has a cast to ${r.extra ?? '?'} by ${object}(), which is not PostgreSQL's own (to_json, to_jsonb and the json builders call a type's cast to json; ::text and a key's printed sample, its cast to text)`;
    out.get(r.root)?.push(reason);
  }
  return out;
}
