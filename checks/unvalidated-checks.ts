import {
  createQuarantineTable,
  defineCheck,
  displayName,
  findTable,
  literal,
  moveToQuarantine,
  ownRows,
  qualifiedName,
  quarantineFor,
  quoteIdent,
  restoreStatement,
  relationOid,
  sampleKeyExpr,
  scaleCount,
  tableSample,
  userCodeFiredBy,
  z,
  type CheckContext,
  type Finding,
  type Queryable,
  type Repair,
  type RepairStep,
  type Table,
} from '../src/index.js';
import { judgeTrees, typeCodeProblems, type Verdict } from './support/expression-judge.js';
import { guardedValidations, tableConstraintValidation, type Validation } from './support/validate-statement.js';

const ID = 'unvalidated-checks';

const options = z.strictObject({
  /**
   * What the repair does with the rows that violate one table constraint, keyed by constraint name, or by
   * `schema.table.constraint` (an inherited copy also by its parent's): `review` (default) writes the move
   * to the quarantine commented out, `quarantine` writes it to run. A domain's move is always for review.
   */
  strategies: z
    .record(z.string(), z.enum(['quarantine', 'review']))
    .default({})
    .describe('per table constraint (name, or schema.table.constraint): "review" (default) or "quarantine" to move the violating rows aside and validate; a domain\'s move is always for review'),
});

type Options = z.infer<typeof options>;
type Ctx = CheckContext<Options>;

/** One table's own copy of a NOT VALID CHECK constraint (an inheritance child and a partition each have one). */
interface TableCopy {
  oid: string;
  name: string;
  table: Table;
  tableOid: string;
  tree: string;
  /** For a NOT NULL constraint (PostgreSQL 18 can add one NOT VALID): its column; null for a CHECK. */
  notNullColumn: string | null;
  /** OIDs of the tables this one inherits the same constraint from, where it is not validated either. */
  parents: string[];
  /** Likewise, the tables that inherit it from this one, in any schema (audited or not). */
  children: string[];
}

interface DomainUse {
  schema: string;
  table: string;
  column: string;
  relkind: string;
  /** `column`: of the domain (or a domain over it); `array`: an array of it; `composite`: an attribute of a composite type. */
  how: 'column' | 'array' | 'composite';
}

interface DomainConstraint {
  oid: string;
  name: string;
  domainSchema: string;
  domainName: string;
  tree: string;
  /** The type the domain's values have, qualified and quoted (VALUE is of it). */
  baseType: string;
  uses: DomainUse[];
}

interface Count {
  count: number;
  samples: string[];
  expression: string;
}

export default defineCheck({
  id: ID,
  title: 'NOT VALID CHECK and domain constraints that old rows violate',
  severity: 'error',
  description: 'Rows that violate a CHECK constraint added NOT VALID, or a domain constraint not validated, which PostgreSQL enforces only on new writes.',
  docs: {
    finds:
      'For every CHECK constraint that is not validated (`ADD CONSTRAINT ... CHECK (...) NOT VALID`), the rows of each table that has a copy of it (an inheritance child and each partition has its own, counted FROM ONLY that table) on which the expression is false, judged as `ALTER TABLE ... VALIDATE CONSTRAINT` would: `WHERE NOT (expr)`, so a row on which it is NULL passes. For every domain constraint that is not validated (`ALTER DOMAIN ... ADD CONSTRAINT ... NOT VALID`), the rows of each table whose columns of that domain, or of a domain over it, hold a value on which the check is false (NULL values are checked too, as PostgreSQL does). One `error` finding per constraint per table: count = violating rows, samples = their primary key (else a unique key; none without one), details = the constraint and its expression. A constraint none of whose copies holds a violating row gets one `info` finding, on the table it was declared on (a clean partition or child of a table with violations is validated by that table\'s repair), saying it can be validated now, with a safe VALIDATE; under --sample-percent it gets none, since a sample proves no absence. A constraint that is not evaluated (below) is reported once, on the table it was declared on. ' +
      'An expression that calls a function or operator outside pg_catalog, casts to a domain, uses a type whose input/output or comparison is not PostgreSQL\'s own (an extension\'s, a composite or range type of the user\'s; or a pg_catalog type or enum, through its domains, array elements, attributes and range subtypes, compared by a default btree or hash operator class that is not initdb\'s, as a user may add for point or for an enum, preferred over enum_ops, since array, row, GREATEST/LEAST comparisons take theirs from there; or with a cast to json by a function not initdb\'s, which to_json and the json builders call), or calls a volatile function (random(), nextval(): VALIDATE\'s verdict would differ per run) is not evaluated: the audit runs no user code. It is reported as a `warning` with count null and the reason. Stable functions (now(), current_date, casts that depend on TimeZone) are evaluated in the audit\'s session and snapshot; VALIDATE evaluates them at its own time and settings. ' +
      'Not checked, and said so in the note: array columns of a domain and attributes of composite types over it (ALTER DOMAIN ... VALIDATE refuses while they exist; range types over it are not looked at either), materialized views and tables outside the audited schemas that use the domain, and NOT ENFORCED constraints (PostgreSQL 18: never enforced, so VALIDATE does not apply). A NOT NULL constraint added NOT VALID (PostgreSQL 18) is audited like a CHECK (col IS NOT NULL), with the column in the finding. Validated constraints are never reported: PostgreSQL checked every row when they were validated and checks every write since.',
    why: 'In several incidents this tool was built from (a usage ledger, chat sessions, conversations) foreign keys were added NOT VALID over rows that already broke them (orphan-rows finds those); this is the same shortcut taken with a CHECK or a domain constraint. Adding a constraint NOT VALID is the standard way to add one to a large table without a long lock: new and updated rows are checked at once, and the old ones are meant to be checked by VALIDATE CONSTRAINT later. When that step is forgotten, or fails and is never retried, the schema states an invariant that old rows break: queries, reports and code that rely on it (a positive amount, a known status) are wrong on exactly those rows, and the first UPDATE of one of them fails with a check violation in code that never touched the column.',
    fix: 'For each finding, fix the violating rows\' values by hand (the samples are their keys), or move them aside, then `ALTER TABLE ... VALIDATE CONSTRAINT ...` (or `ALTER DOMAIN ... VALIDATE CONSTRAINT ...`), which scans without blocking writes (SHARE UPDATE EXCLUSIVE). The repair, for review by default (checks.unvalidated-checks.strategies: "quarantine" to run it), moves the violating rows to the integrity_quarantine schema in one statement (every row the delete removes is copied), then validates the constraint on the table and on its parents once none of their copies has violations left (until then a NOTICE says so, and the script goes on). ALTER TABLE refuses a table with deferred trigger events queued on it in the script\'s transaction (a deferred foreign key that references it, after the move\'s delete): the table\'s own initially deferred constraints are made IMMEDIATE for its VALIDATE, which runs their queued checks then, and DEFERRED again after it; when those checks fail at that point, the constraint is not validated (a NOTICE says so, they run again at COMMIT). The script never runs SET CONSTRAINTS ALL IMMEDIATE, which would run every deferred check queued so far and keep every constraint immediate for the rest of the transaction. A domain\'s move is always for review: its quarantine copy stores the domain\'s columns as the base type (a copy of the domain would keep ALTER DOMAIN ... VALIDATE failing), so it runs once only. A constraint with no violating row gets a safe VALIDATE (review when the expression depends on the time or settings). A delete that other rows reference by foreign key, or that fires a user trigger or rule, is always left for review. A constraint that was not evaluated gets no repair: VALIDATE would run its code on every row.',
    bad: `ALTER TABLE invoice ADD CONSTRAINT invoice_amount_positive CHECK (amount_cents > 0) NOT VALID;
-- rows written before still hold amount_cents <= 0, and nothing ever ran:
-- ALTER TABLE invoice VALIDATE CONSTRAINT invoice_amount_positive;
ALTER DOMAIN email ADD CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%') NOT VALID;`,
    good: `UPDATE invoice SET amount_cents = -amount_cents WHERE amount_cents < 0;  -- or move the rows aside
ALTER TABLE invoice VALIDATE CONSTRAINT invoice_amount_positive;
ALTER DOMAIN email VALIDATE CONSTRAINT email_has_at;`,
  },
  options,
  samplesTables: true,
  async run(ctx) {
    if (ctx.catalog.tables.length === 0 && ctx.catalog.partitions.length === 0) {
      ctx.skip(`no tables in the audited schemas (${ctx.catalog.schemas.join(', ') || 'none'}): name the schemas with --schema`);
    }
    const notes: string[] = [];
    const copies = await loadTableCopies(ctx, notes);
    const domains = await loadDomainConstraints(ctx);
    const verdicts = await judgeTrees(ctx.db, [...copies.filter((c) => c.notNullColumn === null).map((c) => ({ key: c.oid, tree: c.tree })), ...domains.map((d) => ({ key: d.oid, tree: d.tree }))]);
    // A NOT NULL constraint runs no code at all.
    for (const c of copies) if (c.notNullColumn !== null) verdicts.set(c.oid, { refused: [], stable: [] });

    const findings: Finding[] = [];
    const tableFindings = await auditTableCopies(ctx, copies, verdicts, notes);
    findings.push(...tableFindings);
    findings.push(...(await auditDomains(ctx, domains, verdicts, notes)));
    ctx.note(
      `checked ${copies.length} NOT VALID table constraint cop${copies.length === 1 ? 'y' : 'ies'} (one per table) and ${domains.length} domain constraint${domains.length === 1 ? '' : 's'} not validated` +
        notes.map((n) => `; ${n}`).join(''),
    );
    return findings;
  },
});

// ---------------------------------------------------------------------------------------------------
// Catalog

interface CopyRow {
  oid: string;
  name: string;
  schema: string;
  table: string;
  table_oid: string;
  tree: string | null;
  not_null_column: string | null;
  enforced: boolean;
  parents: string[];
  children: string[];
}

/** `other` is a copy of `con` on a parent or child: a CHECK by name, a NOT NULL by its column's name. */
const SAME_CONSTRAINT = (other: string) => `CASE WHEN con.contype OPERATOR(pg_catalog.=) 'n'
         THEN (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) ${other}.conrelid AND a.attnum OPERATOR(pg_catalog.=) ${other}.conkey[1])
              OPERATOR(pg_catalog.=) (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) con.conrelid AND a.attnum OPERATOR(pg_catalog.=) con.conkey[1])
         ELSE ${other}.conname OPERATOR(pg_catalog.=) con.conname END`;

/** Every table's own copy of a CHECK constraint that is not validated, in one query. */
async function loadTableCopies(ctx: Ctx, notes: string[]): Promise<TableCopy[]> {
  // conenforced exists from PostgreSQL 18; before that every constraint is enforced.
  const enforced = ctx.catalog.serverVersionNum >= 180000 ? 'con.conenforced' : 'true';
  const res = await ctx.db.query<CopyRow>(
    `SELECT con.oid::pg_catalog.text AS oid, con.conname::pg_catalog.text AS name, n.nspname::pg_catalog.text AS schema,
            c.relname::pg_catalog.text AS table, c.oid::pg_catalog.text AS table_oid, con.conbin::pg_catalog.text AS tree, ${enforced} AS enforced,
            CASE WHEN con.contype OPERATOR(pg_catalog.=) 'n' THEN
              (SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) con.conrelid AND a.attnum OPERATOR(pg_catalog.=) con.conkey[1]) END AS not_null_column,
            ARRAY(SELECT pc.conrelid::pg_catalog.text FROM pg_catalog.pg_inherits ih
                    JOIN pg_catalog.pg_constraint pc ON pc.conrelid OPERATOR(pg_catalog.=) ih.inhparent AND pc.contype OPERATOR(pg_catalog.=) con.contype
                     AND ${SAME_CONSTRAINT('pc')} AND NOT pc.convalidated
                   WHERE ih.inhrelid OPERATOR(pg_catalog.=) con.conrelid ORDER BY 1) AS parents,
            ARRAY(SELECT cc.conrelid::pg_catalog.text FROM pg_catalog.pg_inherits ih
                    JOIN pg_catalog.pg_constraint cc ON cc.conrelid OPERATOR(pg_catalog.=) ih.inhrelid AND cc.contype OPERATOR(pg_catalog.=) con.contype
                     AND ${SAME_CONSTRAINT('cc')} AND NOT cc.convalidated
                   WHERE ih.inhparent OPERATOR(pg_catalog.=) con.conrelid ORDER BY 1) AS children
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) con.conrelid
       JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      -- NOT NULL constraints are in pg_constraint (contype n) from PostgreSQL 18, which can add them NOT VALID.
      WHERE con.contype IN ('c', 'n') AND NOT con.convalidated AND c.relkind IN ('r', 'p')
        AND n.nspname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
      ORDER BY n.nspname, c.relname, con.conname`,
    [ctx.catalog.schemas],
  );
  const out: TableCopy[] = [];
  let notEnforced = 0;
  for (const r of res.rows) {
    // The catalog snapshot leaves out extension-owned tables: so does this check.
    const table = findTable(ctx.catalog, r.schema, r.table);
    if (!table || (r.tree === null && r.not_null_column === null)) continue;
    if (!r.enforced) {
      notEnforced++;
      continue;
    }
    out.push({ oid: r.oid, name: r.name, table, tableOid: r.table_oid, tree: r.tree ?? '', notNullColumn: r.not_null_column, parents: r.parents, children: r.children });
  }
  if (notEnforced > 0) notes.push(`${notEnforced} NOT ENFORCED CHECK constraint cop${notEnforced === 1 ? 'y is' : 'ies are'} not audited (PostgreSQL never enforces them; VALIDATE does not apply)`);
  return out;
}

interface DomainRow {
  oid: string;
  name: string;
  domain_schema: string;
  domain_name: string;
  tree: string;
  base_schema: string;
  base_name: string;
  uses: string[];
}

/**
 * Every domain constraint that is not validated, with every use of the domain: columns of it or of a domain
 * over it (at any depth), arrays of those, and attributes of composite types; in one query.
 */
async function loadDomainConstraints(ctx: Ctx): Promise<DomainConstraint[]> {
  const res = await ctx.db.query<DomainRow>(
    `WITH RECURSIVE derived(con, typ) AS (
       SELECT con.oid, con.contypid FROM pg_catalog.pg_constraint con
        WHERE con.contype OPERATOR(pg_catalog.=) 'c' AND con.contypid OPERATOR(pg_catalog.<>) 0 AND NOT con.convalidated
       UNION
       SELECT d.con, t.oid FROM derived d JOIN pg_catalog.pg_type t ON t.typtype OPERATOR(pg_catalog.=) 'd' AND t.typbasetype OPERATOR(pg_catalog.=) d.typ
     ), base(con, typ) AS (
       SELECT con.oid, con.contypid FROM pg_catalog.pg_constraint con
        WHERE con.contype OPERATOR(pg_catalog.=) 'c' AND con.contypid OPERATOR(pg_catalog.<>) 0 AND NOT con.convalidated
       UNION
       SELECT b.con, t.typbasetype FROM base b JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) b.typ AND t.typtype OPERATOR(pg_catalog.=) 'd'
     ), uses AS (
       SELECT d.con, pg_catalog.json_build_object('schema', n.nspname, 'table', c.relname, 'column', a.attname, 'relkind', c.relkind,
                'how', CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'c' THEN 'composite' WHEN a.atttypid OPERATOR(pg_catalog.=) d.typ THEN 'column' ELSE 'array' END)::pg_catalog.text AS use
         FROM derived d
         JOIN pg_catalog.pg_type dt ON dt.oid OPERATOR(pg_catalog.=) d.typ
         JOIN pg_catalog.pg_attribute a ON (a.atttypid OPERATOR(pg_catalog.=) d.typ OR a.atttypid OPERATOR(pg_catalog.=) dt.typarray)
                                        AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'c', 'f')
          -- A partition's columns are read through its partitioned table.
          AND NOT c.relispartition
     )
     SELECT con.oid::pg_catalog.text AS oid, con.conname::pg_catalog.text AS name, tn.nspname::pg_catalog.text AS domain_schema,
            t.typname::pg_catalog.text AS domain_name, con.conbin::pg_catalog.text AS tree,
            bn.nspname::pg_catalog.text AS base_schema, bt.typname::pg_catalog.text AS base_name,
            ARRAY(SELECT u.use FROM uses u WHERE u.con OPERATOR(pg_catalog.=) con.oid ORDER BY 1) AS uses
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) con.contypid
       JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.typnamespace
       JOIN base b ON b.con OPERATOR(pg_catalog.=) con.oid
       JOIN pg_catalog.pg_type bt ON bt.oid OPERATOR(pg_catalog.=) b.typ AND bt.typtype OPERATOR(pg_catalog.<>) 'd'
       JOIN pg_catalog.pg_namespace bn ON bn.oid OPERATOR(pg_catalog.=) bt.typnamespace
      WHERE con.contype OPERATOR(pg_catalog.=) 'c' AND con.contypid OPERATOR(pg_catalog.<>) 0 AND NOT con.convalidated AND con.conbin IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                         AND dep.objid OPERATOR(pg_catalog.=) t.oid AND dep.deptype OPERATOR(pg_catalog.=) 'e')
      ORDER BY tn.nspname, t.typname, con.conname`,
  );
  const audited = new Set(ctx.catalog.schemas);
  return res.rows
    .map((r) => ({
      oid: r.oid,
      name: r.name,
      domainSchema: r.domain_schema,
      domainName: r.domain_name,
      tree: r.tree,
      baseType: qualifiedName(r.base_schema, r.base_name),
      uses: r.uses.map((u) => JSON.parse(u) as DomainUse),
    }))
    .filter((d) => audited.has(d.domainSchema) || d.uses.some((u) => audited.has(u.schema)));
}

// ---------------------------------------------------------------------------------------------------
// Expression text

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * pg_get_expr's text, made safe to write into a script: a string literal or quoted identifier holding a
 * line end or another control character is re-quoted with escapes (quote_ident and the deparser leave them
 * raw), and layout line breaks become spaces. The deparser writes no E'' strings (standard_conforming_strings
 * is on), no dollar quotes and no comments, so quotes are the only context to track.
 */
export function safeExpression(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch !== "'" && ch !== '"') {
      out += UNSAFE.test(ch) ? ' ' : ch;
      i++;
      continue;
    }
    let j = i + 1;
    let value = '';
    for (;;) {
      if (j >= text.length) throw new Error('the deparsed expression has an unterminated quote');
      if (text[j] === ch) {
        if (text[j + 1] === ch) {
          value += ch;
          j += 2;
          continue;
        }
        break;
      }
      value += text[j];
      j++;
    }
    out += !UNSAFE.test(value) ? text.slice(i, j + 1) : ch === "'" ? literal(value) : quoteIdent(value);
    i = j + 1;
  }
  return out;
}

/** The constraint's expression as the server deparses it, read in the work item that reads the table anyway. */
async function expressionOf(db: Queryable, constraintOid: string, forDomain: boolean): Promise<string> {
  const res = await db.query<{ expr: string | null }>(
    `SELECT pg_catalog.pg_get_expr(con.conbin, ${forDomain ? '0' : 'con.conrelid'}) AS expr FROM pg_catalog.pg_constraint con WHERE con.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid`,
    [constraintOid],
  );
  const expr = res.rows[0]?.expr;
  if (expr === null || expr === undefined) throw new Error('the constraint is gone (dropped since the audit began?)');
  return safeExpression(expr);
}

// ---------------------------------------------------------------------------------------------------
// Table CHECK constraints

function sampleKey(ctx: Ctx, table: Table): string[] | null {
  if (table.primaryKey) return table.primaryKey;
  return ctx.catalog.uniqueConstraints.find((u) => u.schema === table.schema && u.table === table.name)?.columns ?? null;
}

/**
 * Whether ordering by the key's columns, or printing them, would call code that is not PostgreSQL's own:
 * the sort takes its comparison from the type's default btree operator class, which a user may have added
 * (an enum's own, preferred over enum_ops; one for a pg_catalog type that had none) after the key's index
 * was built, and `::text` takes a user's cast to text where there is one.
 */
async function keyOrderIsForeign(db: Queryable, table: Table, key: string[]): Promise<boolean> {
  const res = await db.query<{ types: string[] }>(
    `SELECT ARRAY(SELECT a.atttypid::pg_catalog.text FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid OPERATOR(pg_catalog.=) ${relationOid('$1', '$2')}
                     AND a.attname OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.name[]) AND NOT a.attisdropped) AS types`,
    [table.schema, table.name, key],
  );
  const types = res.rows[0]?.types ?? [];
  const problems = await typeCodeProblems(db, types);
  return types.some((t) => (problems.get(t) ?? []).length > 0);
}

/** Counts the rows `violation` selects among the table's own rows, with samples of their key. */
async function countViolations(ctx: Ctx, db: Queryable, table: Table, violation: string): Promise<{ count: number; samples: string[] }> {
  const ref = qualifiedName(table.schema, table.name);
  const found = sampleKey(ctx, table);
  // A key whose type is compared or printed by code not PostgreSQL's own (a user opclass, a user cast to
  // text) is neither ordered by nor printed: the violations are counted, without samples.
  const key = found && !(await keyOrderIsForeign(db, table, found)) ? found : null;
  const order = key ? `ORDER BY ${key.map((c) => `${ref}.${quoteIdent(c)}`).join(', ')}` : '';
  const res = await db.query<{ n: string; sample: string | null }>(
    `SELECT count(*) OVER () AS n, ${key ? sampleKeyExpr(ref, key) : 'NULL::pg_catalog.text'} AS sample
       FROM ${ownRows(table)}${tableSample(ctx.samplePercent)}
      WHERE ${violation}
      ${order}
      LIMIT $1`,
    [ctx.sampleSize],
  );
  if (res.rows.length === 0) return { count: 0, samples: [] };
  return { count: scaleCount(Number(res.rows[0]?.n), ctx.samplePercent), samples: res.rows.flatMap((r) => (r.sample === null ? [] : [r.sample])) };
}

function copyLabel(c: TableCopy): string {
  return `${displayName(c.table.schema, c.table.name)} (constraint ${displayName(c.name)})`;
}

async function auditTableCopies(ctx: Ctx, copies: TableCopy[], verdicts: Map<string, Verdict>, notes: string[]): Promise<Finding[]> {
  // Copies of one constraint share its name; a NOT NULL constraint's copies may not (a child's own name is
  // kept), and share the column instead.
  const family = (c: TableCopy) => (c.notNullColumn !== null ? `n:${c.notNullColumn}` : `c:${c.name}`);
  const byOid = new Map(copies.map((c) => [`${c.tableOid}\u0000${family(c)}`, c]));
  const parentsOf = (c: TableCopy) => c.parents.map((p) => byOid.get(`${p}\u0000${family(c)}`)).filter((p): p is TableCopy => p !== undefined);
  const counted = new Map<TableCopy, Count | null>();
  const findings: Finding[] = [];
  const toCount: TableCopy[] = [];
  for (const copy of copies) {
    const verdict = verdicts.get(copy.oid) as Verdict;
    if (copy.table.unreadable) {
      notes.push(`skipped ${copyLabel(copy)}: ${copy.table.unreadable}`);
      counted.set(copy, null);
    } else if (verdict.refused.length > 0) {
      counted.set(copy, null);
      // Once per constraint, on the table it was declared on, not again on each partition or child.
      if (parentsOf(copy).length === 0) findings.push(notEvaluated(ctx, copy.table, copy.name, verdict, null));
    } else if (copy.table.kind === 'partitioned table') {
      counted.set(copy, { count: 0, samples: [], expression: '' });
    } else {
      toCount.push(copy);
    }
  }
  const results = await ctx.each(
    toCount.map((copy) => ({ item: copy, weight: Math.max(0, copy.table.estimatedRows), object: copyLabel(copy) })),
    async (copy, db) => {
      ctx.progress(displayName(copy.table.schema, copy.table.name));
      const expression = copy.notNullColumn !== null ? `${quoteIdent(copy.notNullColumn)} IS NOT NULL` : await expressionOf(db, copy.oid, false);
      const { count, samples } = await countViolations(ctx, db, copy.table, `NOT (${expression})`);
      return { count, samples, expression };
    },
  );
  toCount.forEach((copy, i) => counted.set(copy, results[i] ?? null));

  const childrenOf = new Map<TableCopy, TableCopy[]>();
  for (const c of copies) for (const p of parentsOf(c)) childrenOf.set(p, [...(childrenOf.get(p) ?? []), c]);
  const clean = new Map<TableCopy, boolean>();
  const isClean = (c: TableCopy, depth = 0): boolean => {
    const known = clean.get(c);
    if (known !== undefined) return known;
    const own = counted.get(c);
    // A copy on a table this audit does not read (another schema) is not known to be clean.
    const unread = c.children.filter((oid) => !byOid.has(`${oid}\u0000${family(c)}`));
    if (unread.length > 0) notes.push(`${copyLabel(c)}: ${unread.length} inheriting table${unread.length === 1 ? ' is' : 's are'} outside the audited schemas, so it is not known to be clean`);
    const result =
      depth < 50 && ctx.samplePercent === null && unread.length === 0 && own !== null && own !== undefined && own.count === 0 && (childrenOf.get(c) ?? []).every((ch) => isClean(ch, depth + 1));
    clean.set(c, result);
    return result;
  };
  for (const copy of copies) {
    const result = counted.get(copy);
    if (!result) continue;
    if (result.count > 0) {
      findings.push(violationFinding(ctx, copy, result, ancestorsOf(copy, parentsOf), verdicts.get(copy.oid)?.stable ?? []));
    } else if (parentsOf(copy).length === 0 && isClean(copy)) {
      // Only at the top: a clean copy under a parent with violations is validated with that parent.
      findings.push(canValidateTable(ctx, copy, ancestorsOf(copy, parentsOf), verdicts.get(copy.oid)?.stable ?? []));
    }
  }
  return findings;
}

/** The copies above this one, nearest first (each once, under multiple inheritance too). */
function ancestorsOf(copy: TableCopy, parentsOf: (c: TableCopy) => TableCopy[]): TableCopy[] {
  const out: TableCopy[] = [];
  let level = parentsOf(copy);
  while (level.length > 0 && out.length < 100) {
    const next: TableCopy[] = [];
    for (const p of level) {
      if (out.includes(p)) continue;
      out.push(p);
      next.push(...parentsOf(p));
    }
    level = next;
  }
  return out;
}

function strategyFor(ctx: Ctx, keys: string[]): 'quarantine' | 'review' {
  for (const key of keys) {
    // Keys are names users chose: a constraint called `constructor` must not find Object.prototype's.
    if (Object.hasOwn(ctx.options.strategies, key)) return ctx.options.strategies[key] ?? 'review';
  }
  return 'review';
}

function notEvaluated(ctx: Ctx, table: Table | { schema: string; name: string }, name: string, verdict: Verdict, domain: DomainConstraint | null): Finding {
  const what = domain ? `domain constraint ${displayName(name)} of ${displayName(domain.domainSchema, domain.domainName)}` : `CHECK constraint ${displayName(name)} of ${displayName(table.schema, table.name)}`;
  return ctx.finding({
    kind: 'not-evaluated',
    severity: 'warning',
    message: `${what} is not validated and was not evaluated, so its violating rows are not counted: ${verdict.refused.join('; ')}`,
    object: { schema: table.schema, table: table.name, constraint: name },
    count: null,
    details: { constraint: name, reasons: verdict.refused, ...(domain ? { domain: { schema: domain.domainSchema, name: domain.domainName } } : {}) },
  });
}

function violationFinding(ctx: Ctx, copy: TableCopy, result: Count, ancestors: TableCopy[], stable: string[]): Finding {
  const table = copy.table;
  const label = displayName(table.schema, table.name);
  const about = ctx.samplePercent === null ? '' : 'about ';
  const key = sampleKey(ctx, table);
  return ctx.finding({
    kind: 'violations',
    message: `${about}${result.count} ${result.count === 1 ? 'row' : 'rows'} of ${label} ${result.count === 1 ? 'violates' : 'violate'} ${copy.notNullColumn !== null ? 'NOT NULL' : 'CHECK'} constraint ${displayName(copy.name)}, which was added NOT VALID and is enforced only on new writes: ${copy.notNullColumn !== null ? result.expression : `CHECK ${result.expression}`}${key ? '' : ` (${label} has no primary or unique key: no samples)`}`,
    object: { schema: table.schema, table: table.name, ...(copy.notNullColumn !== null ? { column: copy.notNullColumn } : {}), constraint: copy.name },
    count: result.count,
    ...(ctx.samplePercent === null ? {} : { estimated: true }),
    samples: result.samples,
    details: {
      constraint: copy.name,
      expression: result.expression,
      sampleKey: key,
      ...(ancestors.length > 0 ? { inheritedFrom: ancestors.map((a) => ({ schema: a.table.schema, table: a.table.name })) } : {}),
      ...(stable.length > 0 ? { stable } : {}),
    },
    repair: async (finding, db) => moveAndValidate(ctx, finding, db, {
      table,
      rows: ownRows(table),
      where: `NOT (${result.expression})`,
      // An inherited copy follows what was said of the table it was inherited from, too.
      strategy: strategyFor(ctx, [copy.name, ...[copy, ...ancestors].map((c) => `${c.table.schema}.${c.table.name}.${copy.name}`)]),
      constraint: copy.name,
      validate: [copy, ...ancestors].map((c) => tableValidate(c)),
      validateLabel: `${copy.notNullColumn !== null ? 'NOT NULL' : 'CHECK'} constraint ${displayName(copy.name)} on ${label}${ancestors.length ? ` and on ${ancestors.map((a) => displayName(a.table.schema, a.table.name)).join(', ')}` : ''}`,
      blockers: [],
      plainColumns: [],
    }),
  });
}

/** ALTER TABLE ... VALIDATE CONSTRAINT, run only while the copy exists unvalidated. */
function tableValidate(c: TableCopy): Validation {
  return tableConstraintValidation(c.table.schema, c.table.name, c.name, c.notNullColumn !== null ? 'n' : 'c');
}

function canValidateTable(ctx: Ctx, copy: TableCopy, ancestors: TableCopy[], stable: string[]): Finding {
  const label = displayName(copy.table.schema, copy.table.name);
  const below = copy.table.kind === 'partitioned table' ? ' (every partition\'s copy included)' : '';
  return ctx.finding({
    kind: 'can-validate',
    severity: 'info',
    message: `${copy.notNullColumn !== null ? 'NOT NULL' : 'CHECK'} constraint ${displayName(copy.name)} on ${label} is NOT VALID but no row violates it${below}: it can be validated now`,
    object: { schema: copy.table.schema, table: copy.table.name, ...(copy.notNullColumn !== null ? { column: copy.notNullColumn } : {}), constraint: copy.name },
    // No row violates it: the constraint itself is the finding (a count is rows affected, never 0).
    count: null,
    details: {
      constraint: copy.name,
      ...(ancestors.length > 0 ? { inheritedFrom: ancestors.map((a) => ({ schema: a.table.schema, table: a.table.name })) } : {}),
      ...(stable.length > 0 ? { stable } : {}),
    },
    repair: async () => ({
      order: 50,
      summary: `validate ${displayName(copy.name)} on ${label}: no row violates it`,
      steps: [
        {
          // An expression that depends on the time or on settings may judge a row differently when VALIDATE runs.
          safety: stable.length > 0 ? 'review' : 'safe',
          ...(stable.length > 0
            ? { decision: `the expression depends on ${stable.join(', ')}: VALIDATE judges the rows at its own time and with its own settings, and fails (stopping the script) if one violates it then` }
            : {}),
          phase: 'transaction',
          description: `validate ${copy.notNullColumn !== null ? 'NOT NULL' : 'CHECK'} constraint ${displayName(copy.name)} on ${label} (a scan under SHARE UPDATE EXCLUSIVE, which does not block reads or writes; it changes no row)`,
          sql: guardedValidations([tableValidate(copy)], false),
        },
      ],
    }),
  });
}

interface MoveSpec {
  table: Table;
  rows: string;
  /** Selects the violating rows under the alias `t`. */
  where: string;
  strategy: 'quarantine' | 'review';
  constraint: string;
  validate: Validation[];
  validateLabel: string;
  /** Reasons the validation cannot succeed (an array column of the domain). */
  blockers: string[];
  /**
   * Columns of a domain whose validation the quarantine's own copies would block (ALTER DOMAIN ... VALIDATE
   * checks every table, the quarantine's too): stored there as the domain's base type instead.
   */
  plainColumns: { name: string; baseType: string }[];
}

/**
 * Moves the violating rows to the quarantine (one statement: every row the delete removes is copied),
 * then validates. Review unless the strategy says quarantine and nothing else would change with the delete.
 */
async function moveAndValidate(ctx: Ctx, finding: Finding, db: Queryable, spec: MoveSpec): Promise<Repair> {
  const { table } = spec;
  const label = displayName(table.schema, table.name);
  const quarantine = await quarantineFor(db, table, finding.fingerprint);
  const problems: string[] = [];
  const family = new Set([`${table.schema}\u0000${table.name}`]);
  for (let up = table.partitionOf; up; up = findTable(ctx.catalog, up.schema, up.name)?.partitionOf ?? null) family.add(`${up.schema}\u0000${up.name}`);
  const referencing = ctx.catalog.foreignKeys.filter((fk) => family.has(`${fk.refSchema}\u0000${fk.refTable}`));
  if (referencing.length > 0) {
    problems.push(`rows of ${[...new Set(referencing.map((fk) => displayName(fk.schema, fk.table)))].join(', ')} may reference these rows (foreign key ${referencing.map((fk) => displayName(fk.name)).join(', ')}): the delete would fail, cascade or set their keys, and the quarantine would not hold those changes`);
  }
  const fired = await userCodeFiredBy(db, [{ table, event: 'delete' }]);
  if (fired.length > 0) problems.push(`the delete would fire ${fired.join(', ')}, whose changes the quarantine would not hold`);
  if (spec.plainColumns.length > 0) {
    problems.push(
      `the quarantine's copies of ${spec.plainColumns.map((c) => displayName(c.name)).join(', ')} are changed to the domain's base type after the move (a copy of the domain would keep ALTER DOMAIN ... VALIDATE failing), so this step can run once only: a second run stops at the quarantine table's check`,
    );
  }
  const review = spec.strategy === 'review' || problems.length > 0;
  const alternative = 'or instead fix the rows\' values by hand (the samples are their keys), and then validate';
  const decision =
    problems.length > 0
      ? `${problems.join('; ')}; ${alternative}`
      : `moving the ${finding.count} violating row(s) out of ${label} removes them from the application (they stay in the quarantine); ${alternative}. Set checks.${ID}.strategies to "quarantine" for this constraint to have this run`;
  const steps: RepairStep[] = [
    {
      safety: review ? 'review' : 'destructive',
      phase: 'transaction',
      description: `move the rows of ${label} that violate ${displayName(spec.constraint)} to the quarantine (delete them, keeping a copy)`,
      ...(review ? { decision } : {}),
      sql: [
        createQuarantineTable(quarantine, table),
        moveToQuarantine(quarantine, spec.rows, spec.where, ID, finding.fingerprint),
        ...spec.plainColumns.map((c) => `ALTER TABLE ${quarantine.name} ALTER COLUMN ${quoteIdent(c.name)} TYPE ${c.baseType};`),
      ].join('\n'),
    },
  ];
  if (spec.blockers.length === 0) {
    steps.push({
      safety: review ? 'review' : 'safe',
      phase: 'transaction',
      description: `validate ${spec.validateLabel} once no table has violating rows left (until then a NOTICE says so)`,
      ...(review ? { decision: 'run it with the move above: VALIDATE scans the table under SHARE UPDATE EXCLUSIVE, which does not block writes, and fails while any row violates the constraint' } : {}),
      sql: guardedValidations(spec.validate, true),
    });
  }
  return {
    order: 50,
    summary: `move ${finding.count} row(s) violating ${displayName(spec.constraint)} out of ${label} to the quarantine, then validate${spec.blockers.length ? ` (not possible yet: ${spec.blockers.join('; ')})` : ''}`,
    steps,
    restore: [`${restoreStatement(quarantine, table, finding.fingerprint)} -- after fixing their values in the quarantine: the constraint refuses them as they are`],
  };
}

// ---------------------------------------------------------------------------------------------------
// Domain constraints

interface DomainTable {
  domain: DomainConstraint;
  table: Table;
  columns: string[];
}

function domainKeys(d: DomainConstraint): string[] {
  return [d.name, `${d.domainSchema}.${d.domainName}.${d.name}`];
}

function domainViolation(d: DomainConstraint, expression: string, columns: string[], alias: string): string {
  // VALUE in the deparsed check reads as a column named value: the innermost scope has only that one.
  const values = columns.map((c) => `(${alias}.${quoteIdent(c)}::${d.baseType})`).join(', ');
  return `EXISTS (SELECT 1 FROM (VALUES ${values}) AS integrity_domain(value) WHERE NOT (${expression}))`;
}

async function auditDomains(ctx: Ctx, domains: DomainConstraint[], verdicts: Map<string, Verdict>, notes: string[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  const audited = new Set(ctx.catalog.schemas);
  const items: DomainTable[] = [];
  const blockersOf = new Map<DomainConstraint, string[]>();
  const outsideOf = new Map<DomainConstraint, string[]>();
  for (const d of domains) {
    const label = displayName(d.domainSchema, d.domainName);
    const verdict = verdicts.get(d.oid) as Verdict;
    const blockers = d.uses
      .filter((u) => u.how !== 'column')
      .map((u) => `${u.how === 'array' ? 'array column' : 'attribute of composite type'} ${displayName(u.schema, u.table, u.column)}`);
    const outside = d.uses
      .filter((u) => u.how === 'column' && (!audited.has(u.schema) || (u.relkind !== 'r' && u.relkind !== 'p') || !findTable(ctx.catalog, u.schema, u.table)))
      .map((u) => `${u.relkind === 'm' ? 'materialized view' : u.relkind === 'f' ? 'foreign table' : 'column'} ${displayName(u.schema, u.table, u.column)}`);
    blockersOf.set(d, blockers);
    outsideOf.set(d, outside);
    if (blockers.length > 0) notes.push(`domain ${label}: not checked in ${blockers.join(', ')} (ALTER DOMAIN ... VALIDATE refuses while they exist)`);
    if (outside.length > 0) notes.push(`domain ${label}: not checked in ${outside.join(', ')} (outside the audited tables)`);
    if (verdict.refused.length > 0) {
      findings.push(notEvaluated(ctx, { schema: d.domainSchema, name: d.domainName }, d.name, verdict, d));
      continue;
    }
    const byTable = new Map<Table, string[]>();
    for (const u of d.uses) {
      if (u.how !== 'column' || !audited.has(u.schema)) continue;
      const table = findTable(ctx.catalog, u.schema, u.table);
      if (!table || table.partitionOf) continue;
      if (table.unreadable) {
        notes.push(`skipped ${displayName(table.schema, table.name)}: ${table.unreadable}`);
        continue;
      }
      byTable.set(table, [...(byTable.get(table) ?? []), u.column]);
    }
    for (const [table, columns] of byTable) items.push({ domain: d, table, columns });
  }
  const results = await ctx.each(
    items.map((it) => ({ item: it, weight: Math.max(0, it.table.estimatedRows), object: `${displayName(it.table.schema, it.table.name)} (domain constraint ${displayName(it.domain.name)})` })),
    async (it, db) => {
      ctx.progress(displayName(it.table.schema, it.table.name));
      const expression = await expressionOf(db, it.domain.oid, true);
      const { count, samples } = await countViolations(ctx, db, it.table, domainViolation(it.domain, expression, it.columns, qualifiedName(it.table.schema, it.table.name)));
      return { count, samples, expression };
    },
  );
  const dirty = new Set<DomainConstraint>();
  items.forEach((it, i) => {
    const r = results[i];
    if (r === undefined || r.count > 0) dirty.add(it.domain);
    if (r && r.count > 0) findings.push(domainFinding(ctx, it, r, blockersOf.get(it.domain) ?? []));
  });
  for (const d of domains) {
    const verdict = verdicts.get(d.oid) as Verdict;
    if (verdict.refused.length > 0 || dirty.has(d) || ctx.samplePercent !== null) continue;
    if ((blockersOf.get(d) ?? []).length > 0 || (outsideOf.get(d) ?? []).length > 0) continue;
    findings.push(canValidateDomain(ctx, d));
  }
  return findings;
}

function domainValidate(d: DomainConstraint): Validation {
  return {
    relation: null,
    guard: `EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) k.contypid JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) ty.typnamespace WHERE tn.nspname OPERATOR(pg_catalog.=) ${literal(d.domainSchema)} AND ty.typname OPERATOR(pg_catalog.=) ${literal(d.domainName)} AND k.conname OPERATOR(pg_catalog.=) ${literal(d.name)} AND NOT k.convalidated)`,
    statement: `ALTER DOMAIN ${qualifiedName(d.domainSchema, d.domainName)} VALIDATE CONSTRAINT ${quoteIdent(d.name)};`,
  };
}

function domainFinding(ctx: Ctx, it: DomainTable, result: Count, blockers: string[]): Finding {
  const d = it.domain;
  const table = it.table;
  const label = displayName(table.schema, table.name);
  const domainLabel = displayName(d.domainSchema, d.domainName);
  const about = ctx.samplePercent === null ? '' : 'about ';
  const key = sampleKey(ctx, table);
  return ctx.finding({
    kind: 'domain-violations',
    message: `${about}${result.count} ${result.count === 1 ? 'row' : 'rows'} of ${label} ${result.count === 1 ? 'holds' : 'hold'} a value in ${it.columns.map((c) => displayName(c)).join(', ')} that violates constraint ${displayName(d.name)} of domain ${domainLabel}, which is not validated: CHECK ${result.expression}${key ? '' : ` (${label} has no primary or unique key: no samples)`}`,
    object: { schema: table.schema, table: table.name, ...(it.columns.length === 1 ? { column: it.columns[0] as string } : { columns: it.columns }), constraint: d.name },
    count: result.count,
    ...(ctx.samplePercent === null ? {} : { estimated: true }),
    samples: result.samples,
    details: { domain: { schema: d.domainSchema, name: d.domainName }, constraint: d.name, expression: result.expression, columns: it.columns, sampleKey: key, ...(blockers.length ? { notChecked: blockers } : {}) },
    repair: async (finding, db) => moveAndValidate(ctx, finding, db, {
      table,
      rows: ownRows(table),
      where: domainViolation(d, result.expression, it.columns, 't'),
      strategy: strategyFor(ctx, domainKeys(d)),
      constraint: d.name,
      validate: [domainValidate(d)],
      validateLabel: `constraint ${displayName(d.name)} of domain ${domainLabel}`,
      blockers,
      plainColumns: it.columns.map((name) => ({ name, baseType: d.baseType })),
    }),
  });
}

function canValidateDomain(ctx: Ctx, d: DomainConstraint): Finding {
  const label = displayName(d.domainSchema, d.domainName);
  return ctx.finding({
    kind: 'can-validate',
    severity: 'info',
    message: `constraint ${displayName(d.name)} of domain ${label} is not validated but no value of it violates it: it can be validated now`,
    object: { schema: d.domainSchema, table: d.domainName, constraint: d.name },
    // No row violates it: the constraint itself is the finding (a count is rows affected, never 0).
    count: null,
    details: { domain: { schema: d.domainSchema, name: d.domainName }, constraint: d.name },
    repair: async () => ({
      order: 50,
      summary: `validate ${displayName(d.name)} of domain ${label}: no value violates it`,
      steps: [
        {
          safety: 'safe',
          phase: 'transaction',
          description: `validate constraint ${displayName(d.name)} of domain ${label} (scans every column of it; changes no row)`,
          sql: guardedValidations([domainValidate(d)], false),
        },
      ],
    }),
  });
}
