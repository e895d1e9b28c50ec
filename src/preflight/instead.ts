import { deparseSync, parseSync } from '@libpg-query/parser';
import { UNSAFE_CHARS, qualifiedName, quoteIdent, quoteLiteral } from '../db/quote.js';
import { visible } from '../escape.js';
import type { FindingObject } from '../findings.js';
import type { PreflightFinding, PreflightReport } from './report.js';
import { isNode, type MigrationFile, type MigrationStatement, type Node } from './statements.js';

/**
 * What to run instead of a statement that fails now: the SQL (statements, each ending in `;`, one a line),
 * and the message's closing sentence, which names it in order with what to do between the statements.
 */
export interface Instead {
  statements: string[];
  advice: string;
}

/** The pointer every message ends with, pointing at the repair where preflight writes one. */
const REPAIR = 'integrity preflight --fix-script FILE writes the repair';

/**
 * Gives each finding that says a statement fails now `details.instead` (SQL) and ends its message with
 * "Instead: ...". A finding whose SQL cannot be written safely (a name the sanitizer cannot vouch for)
 * says so in `details.insteadNote` and keeps its message.
 */
export function addInstead(report: PreflightReport, files: MigrationFile[]): void {
  for (const f of report.findings) {
    // A judge that wrote its own (a DEFAULT that does not convert) is left as it is.
    if (typeof f.details?.instead === 'string' || !FAILS_NOW.has(`${f.checkId}:${kindOf(f)}`)) continue;
    // Two statements may share a line: the one whose parts the finding names.
    const instead = statementsAt(files, f).map((s) => insteadOrNull(f, s)).find((x) => x !== null) ?? null;
    if (!instead) {
      f.details = { ...f.details, insteadNote: 'no SQL to run instead could be written for this statement here' };
      continue;
    }
    f.details = { ...f.details, instead: instead.statements.join('\n') };
    f.message = `${f.message}. Instead: ${visible(instead.advice)}`.replace(/\.\. Instead:/, '. Instead:');
  }
}

/** A tree the deparser cannot write (a node it does not know) costs the finding its advice, not the run. */
function insteadOrNull(f: PreflightFinding, s: MigrationStatement): Instead | null {
  try {
    return insteadFor(f, s);
  } catch {
    return null;
  }
}

/** rule:kind of the findings that fail now (the kind is the fingerprint's, before `@file`). */
const FAILS_NOW = new Set([
  'preflight/already-exists:exists',
  'preflight/orphans:orphans',
  'preflight/orphans:no-unique-key',
  'preflight/duplicates:duplicates',
  'preflight/duplicates:primary-key-nulls',
  'preflight/nulls:set-not-null',
  'preflight/nulls:add-column-not-null',
  'preflight/check-violations:check',
  'preflight/check-violations:check-raises',
  'preflight/index-expressions:raises',
  'preflight/type-changes:no-assignment-cast',
  'preflight/type-changes:does-not-convert',
]);

/** The kind a judge gave the finding: `details.kind` where the judge keeps it there, else told from the message. */
function kindOf(f: PreflightFinding): string {
  if (typeof f.details?.kind === 'string') return f.details.kind;
  const m = f.message;
  switch (f.checkId) {
    case 'preflight/already-exists':
      return 'exists';
    case 'preflight/orphans':
      return /\(42830\)/.test(m) ? 'no-unique-key' : 'orphans';
    case 'preflight/duplicates':
      return /\(23502\)/.test(m) ? 'primary-key-nulls' : 'duplicates';
    case 'preflight/nulls':
      return /^ADD COLUMN /.test(m) ? 'add-column-not-null' : 'set-not-null';
    case 'preflight/check-violations':
      return /\(23514\)/.test(m) ? 'check' : 'check-raises';
    case 'preflight/index-expressions':
      return 'raises';
    case 'preflight/type-changes':
      return /\(42804\)/.test(m) ? 'no-assignment-cast' : 'does-not-convert';
    default:
      return '';
  }
}

function statementsAt(files: MigrationFile[], f: PreflightFinding): MigrationStatement[] {
  const file = files.find((x) => x.file === f.location.file);
  return file?.statements.filter((s) => s.location.line === f.location.line) ?? [];
}

const strings = (list: unknown): string[] => (Array.isArray(list) ? (list as Node[]).map((n) => String((n.String as Node | undefined)?.sval ?? '')) : []);
const columnsOf = (o: FindingObject): string[] => o.columns ?? (o.column ? [o.column] : []);
const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function commands(s: MigrationStatement): Node[] {
  return ((s.node.cmds as Node[] | undefined) ?? []).map((c) => (c.AlterTableCmd ?? {}) as Node);
}

function constraintOf(cmd: Node): Node | null {
  const def = isNode(cmd.def) ? (cmd.def as Node) : null;
  return def && isNode(def.Constraint) ? (def.Constraint as Node) : null;
}

/** The statement's relation, schema-qualified as the judge resolved it: the SQL names the table meant, whatever search_path says. */
function qualifiedRelation(s: MigrationStatement, o: FindingObject): Node {
  return { ...((s.node.relation ?? {}) as Node), schemaname: o.schema, relname: o.table };
}

function alterWith(s: MigrationStatement, o: FindingObject, cmd: Node): string | null {
  return safeStatement('AlterTableStmt', { ...s.node, relation: qualifiedRelation(s, o), cmds: [{ AlterTableCmd: cmd }] });
}

/**
 * A name as PostgreSQL's makeObjectName makes one (`orders_customer_id_fkey`): the label kept whole, the
 * table's and the columns' parts cut (the longer first, on a character boundary) to fit 63 bytes, so that
 * the names of one table's constraints differ by their labels however long the table's name.
 */
export function constraintName(table: string, ...rest: string[]): string {
  const label = rest[rest.length - 1] ?? '';
  const columns = rest.slice(0, -1).join('_');
  const bytes = (x: string[]) => Buffer.byteLength(x.join(''), 'utf8');
  const a = Array.from(table);
  const b = Array.from(columns);
  const room = 63 - Buffer.byteLength(label, 'utf8') - 1 - (columns ? 1 : 0);
  while (bytes(a) + bytes(b) > room) {
    if (bytes(a) > bytes(b)) a.pop();
    else b.pop();
  }
  return [a.join(''), ...(columns ? [b.join('')] : []), label].join('_');
}

/** The statements and the advice naming them; null when one of them could not be written safely. */
function written(statements: (string | null)[], advice: (sql: string[]) => string): Instead | null {
  if (statements.some((x) => x === null)) return null;
  const sql = statements as string[];
  return { statements: sql, advice: advice(sql) };
}

function notNullRecipe(table: string, schema: string, column: string): { add: string; validate: string; setNotNull: string; drop: string } {
  const t = qualifiedName(schema, table);
  const check = quoteIdent(constraintName(table, column, 'not_null'));
  return {
    add: `ALTER TABLE ${t} ADD CONSTRAINT ${check} CHECK (${quoteIdent(column)} IS NOT NULL) NOT VALID;`,
    validate: `ALTER TABLE ${t} VALIDATE CONSTRAINT ${check};`,
    setNotNull: `ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(column)} SET NOT NULL;`,
    drop: `ALTER TABLE ${t} DROP CONSTRAINT ${check};`,
  };
}

/** The first column an expression names, as PostgreSQL names a CHECK after it (`plans_meta_check`); none when it names none. */
function firstColumn(expr: unknown): string[] {
  let found: string | null = null;
  const walk = (x: unknown): void => {
    if (found !== null) return;
    if (Array.isArray(x)) x.forEach(walk);
    else if (isNode(x)) {
      if (isNode(x.ColumnRef)) {
        const fields = strings((x.ColumnRef as Node).fields);
        found = fields[fields.length - 1] ?? null;
        return;
      }
      Object.values(x).forEach(walk);
    }
  };
  walk(expr);
  return found === null ? [] : [found];
}

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8', 'smallint', 'integer', 'int', 'bigint']);

/** Rewrites every cast to an integer type in the tree to numeric, which takes 1.38; how many it rewrote. */
function castsToNumeric(tree: unknown): number {
  let n = 0;
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (isNode(x)) {
      const cast = isNode(x.TypeCast) ? (x.TypeCast as Node) : null;
      const typeName = cast && isNode(cast.typeName) ? (cast.typeName as Node) : null;
      const names = strings(typeName?.names);
      const last = names[names.length - 1] ?? '';
      if (typeName && INTEGER_TYPES.has(last) && (names.length === 1 || names[0] === 'pg_catalog') && !(Array.isArray(typeName.arrayBounds) && typeName.arrayBounds.length > 0)) {
        typeName.names = [{ String: { sval: 'pg_catalog' } }, { String: { sval: 'numeric' } }];
        delete typeName.typmods;
        n++;
      }
      Object.values(x).forEach(walk);
    }
  };
  walk(tree);
  return n;
}

/** The SQL to run instead of the statement `f` is on, by what failed. */
export function insteadFor(f: PreflightFinding, s: MigrationStatement): Instead | null {
  const o = f.object;
  const t = qualifiedName(o.schema, o.table);
  const kind = kindOf(f);
  const cmds = s.kind === 'AlterTableStmt' ? commands(s) : [];
  const validate = cmds.find((c) => c.subtype === 'AT_ValidateConstraint' && (o.constraint === undefined || c.name === o.constraint));

  if (kind === 'exists' && s.kind === 'CreateStmt') {
    return written([safeStatement('CreateStmt', { ...s.node, relation: qualifiedRelation(s, o), if_not_exists: true })], ([sql]) => `if the table's definition is this one, ${sql} (or drop the statement)`);
  }

  if (kind === 'orphans' || kind === 'check') {
    if (validate) {
      const sql = `ALTER TABLE ${t} VALIDATE CONSTRAINT ${quoteIdent(String(validate.name))};`;
      const repair = kind === 'orphans' ? `repair the rows first (${REPAIR}), then ${sql}` : `repair the rows that violate it first, then ${sql}`;
      return { statements: [sql], advice: `${repair}; until then the constraint stays NOT VALID and checks new rows only` };
    }
    const contype = kind === 'orphans' ? 'CONSTR_FOREIGN' : 'CONSTR_CHECK';
    const cmd = cmds.find((c) => {
      const k = constraintOf(c);
      if (c.subtype !== 'AT_AddConstraint' || k?.contype !== contype || k.skip_validation === true) return false;
      if (o.constraint !== undefined) return k.conname === o.constraint;
      return kind === 'check' || same(strings(k.fk_attrs), columnsOf(o));
    });
    const k = cmd ? constraintOf(cmd) : null;
    if (!cmd || !k) return null;
    const name = typeof k.conname === 'string' ? k.conname : kind === 'orphans' ? constraintName(o.table, ...columnsOf(o), 'fkey') : constraintName(o.table, ...firstColumn(k.raw_expr), 'check');
    // The referenced table as the judge resolved it, like the table itself.
    const pktable = kind === 'orphans' && o.references && isNode(k.pktable) ? { pktable: { ...(k.pktable as Node), schemaname: o.references.schema, relname: o.references.table } } : {};
    const notValid = alterWith(s, o, { ...cmd, def: { Constraint: { ...k, ...pktable, conname: name, skip_validation: true, initially_valid: false } } });
    const validateSql = `ALTER TABLE ${t} VALIDATE CONSTRAINT ${quoteIdent(name)};`;
    const repair = kind === 'orphans' ? `repair or remove the rows that reference nothing (${REPAIR})` : 'repair the rows that violate it';
    return written([notValid, validateSql], ([a, b]) => `${a} (new rows are checked at once); ${repair}; then ${b} (VALIDATE takes SHARE UPDATE EXCLUSIVE: writes go on)`);
  }

  if (kind === 'no-unique-key' && o.references) {
    const r = o.references;
    const sql = `ALTER TABLE ${qualifiedName(r.schema, r.table)} ADD UNIQUE (${r.columns.map(quoteIdent).join(', ')});`;
    return { statements: [sql], advice: `give the referenced table the key first, ${sql} (it fails too while the referenced rows repeat a key), then the statement` };
  }

  if (kind === 'duplicates') {
    const columns = columnsOf(o);
    const dedupe = 'remove the duplicates first (keep one row per key, repoint what references the others)';
    if (s.kind === 'IndexStmt') {
      const sql = safeStatement('IndexStmt', { ...s.node, relation: qualifiedRelation(s, o), concurrent: true });
      return written([sql], ([a]) => `${dedupe}; then ${a} (outside a transaction block; writes go on while it builds)`);
    }
    const cmd = cmds.find((c) => {
      const k = constraintOf(c);
      return c.subtype === 'AT_AddConstraint' && (k?.contype === 'CONSTR_UNIQUE' || k?.contype === 'CONSTR_PRIMARY') && same(strings(k.keys), columns) && (o.constraint === undefined || k.conname === o.constraint);
    });
    const k = cmd ? constraintOf(cmd) : null;
    if (!cmd || !k) return null;
    const primary = k.contype === 'CONSTR_PRIMARY';
    // Options USING INDEX cannot carry (DEFERRABLE, INCLUDE, WITH, a tablespace): the same statement, once deduplicated.
    if (k.deferrable === true || (Array.isArray(k.including) && k.including.length > 0) || (Array.isArray(k.options) && k.options.length > 0) || typeof k.indexspace === 'string') {
      return written([alterWith(s, o, cmd)], ([a]) => `${dedupe}; then ${a}`);
    }
    const name = typeof k.conname === 'string' ? k.conname : primary ? constraintName(o.table, 'pkey') : constraintName(o.table, ...columns, 'key');
    const index = `CREATE UNIQUE INDEX CONCURRENTLY ${quoteIdent(name)} ON ${t} (${columns.map(quoteIdent).join(', ')})${k.nulls_not_distinct === true ? ' NULLS NOT DISTINCT' : ''};`;
    const attach = `ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(name)} ${primary ? 'PRIMARY KEY' : 'UNIQUE'} USING INDEX ${quoteIdent(name)};`;
    return { statements: [index, attach], advice: `${dedupe}; then ${index} (outside a transaction block; writes go on while it builds), then ${attach}` };
  }

  if (kind === 'primary-key-nulls') {
    const recipes = columnsOf(o).map((c) => notNullRecipe(o.table, o.schema, c));
    const sql = recipes.flatMap((r) => [r.add, r.validate, r.setNotNull, r.drop]);
    return { statements: sql, advice: `fill or remove the rows with a NULL in the key first; for each column ${recipes.map((r) => `${r.add} ${r.validate} ${r.setNotNull} ${r.drop}`).join(' ')} (PostgreSQL 12+ skips the SET NOT NULL scan the validated CHECK proves), then the statement` };
  }

  if (kind === 'set-not-null' && o.column) {
    const r = notNullRecipe(o.table, o.schema, o.column);
    return {
      statements: [r.add, r.validate, r.setNotNull, r.drop],
      advice: `${r.add} (new rows are checked at once); fill the NULLs (an UPDATE before the VALIDATE); then ${r.validate} ${r.setNotNull} ${r.drop} (PostgreSQL 12+ skips the SET NOT NULL scan, the validated CHECK proves it)`,
    };
  }

  if (kind === 'add-column-not-null' && o.column) {
    const cmd = cmds.find((c) => c.subtype === 'AT_AddColumn' && isNode(c.def) && isNode((c.def as Node).ColumnDef) && ((c.def as Node).ColumnDef as Node).colname === o.column);
    if (!cmd) return null;
    const def = ((cmd.def as Node).ColumnDef ?? {}) as Node;
    const constraints = ((def.constraints as Node[] | undefined) ?? []).filter((c) => !['CONSTR_NOTNULL', 'CONSTR_DEFAULT'].includes(String((c.Constraint as Node | undefined)?.contype)));
    const nullable = alterWith(s, o, { ...cmd, def: { ColumnDef: { ...def, constraints, is_not_null: false } } });
    const r = notNullRecipe(o.table, o.schema, o.column);
    return written([nullable, r.add, r.validate, r.setNotNull, r.drop], ([a]) => `give it a DEFAULT (ADD COLUMN ... NOT NULL DEFAULT <value>: a constant fills every row without a rewrite since PostgreSQL 11), or add it nullable, ${a} then ${r.add} fill it for the existing rows, then ${r.validate} ${r.setNotNull} ${r.drop}`);
  }

  if (kind === 'check-raises' || kind === 'raises') {
    const fixed = structuredClone(s.node);
    if (s.kind === 'AlterTableStmt') {
      const i = cmds.findIndex((c) => c.subtype === 'AT_AddConstraint' && constraintOf(c)?.contype === 'CONSTR_CHECK' && (o.constraint === undefined || constraintOf(c)?.conname === o.constraint));
      if (i < 0) return null;
      const cmd = ((fixed.cmds as Node[])[i] as Node).AlterTableCmd as Node;
      const rewritten = castsToNumeric(constraintOf(cmd)?.raw_expr);
      const sql = alterWith({ ...s, node: fixed }, o, cmd);
      if (rewritten > 0) return written([sql], ([a]) => `cast to numeric, which takes 1.38 where an integer cast raises: ${a}`);
      return written([alterWith(s, o, cmds[i] as Node)], ([a]) => `repair the rows it raises on first, then ${a}`);
    }
    const rewritten = castsToNumeric([fixed.indexParams, fixed.whereClause]);
    const sql = safeStatement('IndexStmt', { ...fixed, relation: qualifiedRelation(s, o) });
    if (rewritten > 0) return written([sql], ([a]) => `cast to numeric, which takes 1.38 where an integer cast raises: ${a}`);
    return written([safeStatement('IndexStmt', { ...s.node, relation: qualifiedRelation(s, o) })], ([a]) => `repair the rows it raises on first, then ${a}`);
  }

  if ((kind === 'no-assignment-cast' || kind === 'does-not-convert') && o.column) {
    const cmd = cmds.find((c) => c.subtype === 'AT_AlterColumnType' && c.name === o.column);
    if (!cmd) return null;
    const def = (((cmd.def as Node | undefined)?.ColumnDef ?? {}) as Node);
    if (kind === 'no-assignment-cast') {
      const using = { TypeCast: { arg: { ColumnRef: { fields: [{ String: { sval: o.column } }] } }, typeName: def.typeName } };
      const sql = alterWith(s, o, { ...cmd, def: { ColumnDef: { ...def, raw_default: using } } });
      return written([sql], ([a]) => `convert it explicitly: ${a}`);
    }
    return written([alterWith(s, o, cmd)], ([a]) => `repair the values that do not convert first (or give a USING that converts them), then ${a}`);
  }
  return null;
}

/**
 * A statement's SQL from its parse tree, with every identifier and string literal that holds a line end or
 * another control character written with escapes (U&"...", E'...'), so that no name can end a statement
 * or a comment, or start a psql meta-command on a line of its own. The text is parsed back and must mean
 * the same statement; null when it does not, or when anything unsafe is left.
 */
export function safeStatement(kind: string, node: Node): string | null {
  const raw = deparseSync({ version: 170004, stmts: [{ stmt: { [kind]: node } }] } as unknown as Parameters<typeof deparseSync>[0]).replace(/;\s*$/, '');
  const sql = escapedSql(raw);
  if (sql === null || UNSAFE_CHARS.test(sql)) return null;
  if (treeOf(sql) !== treeOf(raw)) return null;
  return `${sql};`;
}

/** The parse tree without positions: what a text means. */
function treeOf(sql: string): string {
  return JSON.stringify(parseSync(sql), (key, value: unknown) => (key === 'location' || key === 'stmt_location' || key === 'stmt_len' ? undefined : value));
}

/** A control character as an escape string writes it (`\x0a`, `\u2028`). */
const escaped = (c: string) => {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** The body of an E'...' literal from `start` (after its quote), its raw control characters written as escapes; null when it does not end. */
function escapeString(sql: string, start: number): { text: string; next: number } | null {
  let text = '';
  for (let j = start; j < sql.length; ) {
    const ch = sql[j] as string;
    if (ch === '\\') {
      const next = sql[j + 1];
      if (next === undefined) return null;
      // A backslash before a raw character stands for that character.
      text += UNSAFE_CHARS.test(next) ? escaped(next) : `${ch}${next}`;
      j += 2;
    } else if (ch === "'") {
      if (sql[j + 1] !== "'") return { text, next: j + 1 };
      text += "''";
      j += 2;
    } else {
      text += UNSAFE_CHARS.test(ch) ? escaped(ch) : ch;
      j++;
    }
  }
  return null;
}

/** Rewrites the quoted identifiers and standard string literals of deparsed SQL that hold unsafe characters; null on anything else that does. */
function escapedSql(sql: string): string | null {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'" && /[Ee]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_$]/.test(sql[i - 2] ?? ' ')) {
      const end = escapeString(sql, i + 1);
      if (end === null) return null;
      out += `'${end.text}'`;
      i = end.next;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= sql.length) return null;
        if (sql[j] === c) {
          if (sql[j + 1] === c) {
            value += c;
            j += 2;
            continue;
          }
          break;
        }
        value += sql[j];
        j++;
      }
      const prefix = sql[i - 1] ?? ' ';
      const text = sql.slice(i, j + 1);
      if (!UNSAFE_CHARS.test(value)) out += text;
      // Plain literals and identifiers are rewritten (E'' ones above): a U& one or any other with a raw control character is refused.
      else if (/[A-Za-z0-9_&$]/.test(prefix)) return null;
      else out += c === '"' ? quoteIdent(value) : quoteLiteral(value);
      i = j + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}
