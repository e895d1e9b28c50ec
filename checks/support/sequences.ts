/**
 * Which columns each sequence feeds, read once for sequence-headroom and sequence-behind-data, so that
 * the two agree on it: the sequences with their parameters, privileges and OWNED BY / identity
 * dependencies in one catalog query, and every nextval() call in the audited columns' DEFAULTs read from
 * the stored trees (not from pg_depend, which records no dependency for `nextval(16384::regclass)` or
 * for a name given as text).
 *
 * A DEFAULT that names its sequence as text, `nextval('s'::text)` (how pre-8.1 dumps and some ORMs spell
 * it: PostgreSQL casts the text to regclass at every call), is resolved as that cast would resolve it:
 * a qualified name exactly; an unqualified one through the search_path of the session that inserts,
 * which the catalog cannot know. What is assumed (see `searchPaths`): PostgreSQL's built-in default
 * `"$user", public` for every session, unless the catalog says otherwise (ALTER DATABASE / ALTER ROLE ...
 * SET search_path, pg_db_role_setting, readable by every role), with pg_catalog searched first when a path
 * does not name it, and `$user` standing for any role that has a schema of its name. A search_path set in
 * postgresql.conf, by the connection (options, PGOPTIONS) or by the application's own SET is not visible
 * in the catalog and not considered: every finding built on such a name says that it was resolved by
 * assumption. A name that resolves to different relations for different sessions is not resolved.
 */
import {
  displayName,
  findTable,
  isNode,
  parseNodeTree,
  tableKey,
  walkNodes,
  type Catalog,
  type Column,
  type Queryable,
  type Table,
  type TreeNode,
  type TreeValue,
} from '../../src/index.js';

export type IntType = 'int2' | 'int4' | 'int8';

/** pg_proc OIDs of nextval(regclass) and regclass(text), pg_type OIDs: fixed in PostgreSQL's initial catalogs. */
const NEXTVAL = '1574';
const TEXT_REGCLASS = '1079';
const REGCLASS = '2205';
const INT_TYPE_OIDS: Readonly<Record<string, IntType>> = { '21': 'int2', '23': 'int4', '20': 'int8' };
const INT_WIDTH: Readonly<Record<IntType, number>> = { int2: 2, int4: 4, int8: 8 };
/** regclass, oid and int4 constants: what a chain of binary relabellings (`16384::regclass`) ends in. */
const OID_LIKE = new Set([REGCLASS, '26', '23']);
const TEXT_TYPE_OIDS = new Set(['25', '1043']);
/** NAMEDATALEN - 1: PostgreSQL truncates identifiers to this many bytes. */
const MAX_IDENTIFIER_BYTES = 63;

/** A sequence named by text in a DEFAULT: schema null when unqualified. */
export type LegacyName = { schema: string | null; name: string } | { unparsable: true };

/** One nextval() call in a DEFAULT's stored tree. */
export interface NextvalCall {
  /**
   * The OID of a constant regclass argument, read in both byte orders where the Datum's bytes leave
   * it open (outDatum prints them in the server's order); usually one. Empty when the argument is no constant.
   */
  oids: string[];
  /** The DEFAULT is this call under integer casts, relabelling and domain coercion only: the column holds nextval's value. */
  plain: boolean;
  /** The DEFAULT is this call under casts of any type (a numeric column's `nextval(...)::numeric`). */
  castsOnly: boolean;
  /** The narrowest integer type an explicit cast passes the value through (the implicit cast to a serial's integer is not one). */
  castType: IntType | null;
  /** The argument is a name given as text, cast to regclass when the DEFAULT runs. */
  legacy?: LegacyName;
}

/** What a DEFAULT's text name resolves to. `assumed` is null for a qualified name, else what was assumed about the search_path. */
export type NamedSequence =
  | { status: 'found'; schema: string; name: string; assumed: string | null }
  | { status: 'not-a-sequence'; schema: string; name: string; assumed: string | null }
  | { status: 'missing'; schema: string | null; name: string; assumed: string | null }
  | { status: 'ambiguous'; name: string; candidates: string[]; assumed: string }
  | { status: 'unparsable' };

/** A nextval() call of an audited column's DEFAULT, with the sequence it draws from. */
export interface DefaultCall extends NextvalCall {
  /**
   * The relation the call draws from: its constant's OID (the candidate that is a sequence, when one
   * is), or the sequence its text name resolves to; null when not known before the call runs.
   */
  oid: string | null;
  /** For a text name: what it resolves to, and on what assumption. */
  named?: NamedSequence;
}

export interface SequenceOwner {
  schema: string;
  table: string;
  column: string;
  /** 'a': OWNED BY (a serial's), 'i': the column's identity sequence. */
  deptype: 'a' | 'i';
}

export interface SequenceRecord {
  oid: string;
  schema: string;
  name: string;
  /** pg_type.typname of the sequence's type: int2, int4 or int8. */
  type: string;
  start: bigint;
  increment: bigint;
  min: bigint;
  max: bigint;
  cycle: boolean;
  unlogged: boolean;
  canSelect: boolean;
  canUse: boolean;
  owners: SequenceOwner[];
}

/** An audited column the sequence feeds: its identity column, or a DEFAULT that is one nextval() of it under casts. */
export interface FedColumn {
  table: Table;
  column: Column;
  via: 'identity' | 'default';
  /** The DEFAULT's call (null for an identity column). */
  call: DefaultCall | null;
}

export interface SequenceReading {
  /**
   * The sequences of the audited schemas and those any audited column's DEFAULT calls, wherever they
   * are; extension members left out. In schema and name order.
   */
  sequences: SequenceRecord[];
  /** Every nextval() call of each audited relation's (partitions included) columns' DEFAULTs, by columnKey. */
  calls: Map<string, DefaultCall[]>;
  /**
   * By sequence OID: the audited columns (of tables and of partitions, none left out) it feeds, identity
   * columns first, then DEFAULTs in catalog order.
   */
  feeds: Map<string, FedColumn[]>;
}

export function columnKey(table: { schema: string; name: string }, column: { name: string }): string {
  return JSON.stringify([table.schema, table.name, column.name]);
}

/** The partitioned ancestors of a partition, nearest first, as far as the catalog knows them. */
export function ancestorsOf(catalog: Catalog, table: Table): Table[] {
  const out: Table[] = [];
  let at = table.partitionOf;
  while (at && out.length < 64) {
    const parent = findTable(catalog, at.schema, at.name);
    if (!parent) break;
    out.push(parent);
    at = parent.partitionOf;
  }
  return out;
}

/** The tableKeys of a partition's ancestors, nearest first (those the catalog does not hold included). */
export function ancestorKeys(catalog: Catalog, table: Table): string[] {
  const out: string[] = [];
  let at: Table | undefined = table;
  while (at?.partitionOf && out.length < 64) {
    out.push(tableKey(at.partitionOf.schema, at.partitionOf.name));
    at = findTable(catalog, at.partitionOf.schema, at.partitionOf.name);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Reading a DEFAULT's stored tree

function u32le(b: number[], o: number): number {
  return ((b[o] ?? 0) | ((b[o + 1] ?? 0) << 8) | ((b[o + 2] ?? 0) << 16) | ((b[o + 3] ?? 0) << 24)) >>> 0;
}

function u32be(b: number[], o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}

/**
 * A constant regclass argument's OID candidates. A Datum is printed as its bytes in the server's order:
 * on a little-endian server the OID is the first four, on a big-endian 64-bit one the last four (an 8-byte
 * Datum), on a big-endian 32-bit one the four there are. OID 0 names nothing, so a zero reading is dropped.
 */
export function regclassOids(value: TreeValue | undefined): string[] {
  let node = value;
  // Binary relabellings (`16384::regclass`, `'s'::regclass::oid::int4::regclass`) leave the constant's value as it is.
  for (let depth = 0; isNode(node) && node.type === 'RELABELTYPE' && depth < 16; depth++) {
    if (depth === 0 && String(node.fields.resulttype) !== REGCLASS) return [];
    node = node.fields.arg;
  }
  if (!isNode(node) || node.type !== 'CONST' || !OID_LIKE.has(String(node.fields.consttype)) || node.fields.constisnull === 'true') return [];
  const datum = node.fields.constvalue;
  if (!datum || typeof datum !== 'object' || Array.isArray(datum) || isNode(datum) || !('bytes' in datum)) return [];
  const b = datum.bytes;
  if (b.length < 4) return [];
  const out = new Set<number>([u32le(b, 0), b.length >= 8 ? u32be(b, 4) : u32be(b, 0)]);
  out.delete(0);
  return [...out].map(String);
}

/** A text Const's string: the varlena header (4-byte or 1-byte, either byte order) checked against the datum's length. */
function textConst(value: TreeValue | undefined): string | null {
  let node = value;
  if (isNode(node) && node.type === 'RELABELTYPE') node = node.fields.arg;
  if (!isNode(node) || node.type !== 'CONST' || !TEXT_TYPE_OIDS.has(String(node.fields.consttype)) || node.fields.constisnull === 'true') return null;
  const datum = node.fields.constvalue;
  if (!datum || typeof datum !== 'object' || Array.isArray(datum) || isNode(datum) || !('bytes' in datum)) return null;
  const b = datum.bytes;
  const n = b.length;
  const le = u32le(b, 0);
  const be = u32be(b, 0);
  let start: number;
  if (n >= 4 && (le & 3) === 0 && le >>> 2 === n) start = 4;
  else if (n >= 4 && (be & 0xc0000000) === 0 && be === n) start = 4;
  else if (n >= 1 && ((b[0] ?? 0) & 1) === 1 && (b[0] ?? 0) >>> 1 === n) start = 1;
  else if (n >= 1 && ((b[0] ?? 0) & 0x80) !== 0 && ((b[0] ?? 0) & 0x7f) === n) start = 1;
  else return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(b.slice(start)));
  } catch {
    return null;
  }
}

/** Truncates to PostgreSQL's identifier length in UTF-8 bytes, never inside a character. */
function truncateIdentifier(name: string): string {
  const enc = new TextEncoder();
  if (enc.encode(name).length <= MAX_IDENTIFIER_BYTES) return name;
  let out = '';
  for (const ch of name) {
    if (enc.encode(out + ch).length > MAX_IDENTIFIER_BYTES) break;
    out += ch;
  }
  return out;
}

/**
 * Splits a list of identifiers as PostgreSQL's SplitIdentifierString does: double-quoted parts taken as
 * written ("" for a quote), unquoted ones lower-cased (ASCII letters, as in a UTF-8 database), both
 * truncated to 63 bytes, whitespace around parts allowed. Null when PostgreSQL would reject it.
 */
export function splitIdentifiers(text: string, separator: '.' | ','): string[] | null {
  const parts: string[] = [];
  let i = 0;
  const space = (c: string | undefined) => c !== undefined && /[ \t\n\r\f\v]/.test(c);
  while (space(text[i])) i++;
  if (separator === ',' && i >= text.length) return [];
  for (;;) {
    let part = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return null;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i];
        i++;
      }
      if (part === '') return null;
    } else {
      while (i < text.length && text[i] !== separator && !space(text[i])) part += text[i++];
      if (part === '') return null;
      part = part.replace(/[A-Z]/g, (c) => c.toLowerCase());
    }
    parts.push(truncateIdentifier(part));
    while (space(text[i])) i++;
    if (i >= text.length) return parts;
    if (text[i] !== separator) return null;
    i++;
    while (space(text[i])) i++;
  }
}

/** A qualified name as text-to-regclass splits it. */
export function splitQualifiedName(text: string): string[] | null {
  return splitIdentifiers(text, '.');
}

/** The sequence name of a legacy `('name'::text)::regclass` argument, or null when the argument is not one. */
export function legacySequenceName(value: TreeValue | undefined): LegacyName | null {
  if (!isNode(value) || value.type !== 'FUNCEXPR' || String(value.fields.funcid) !== TEXT_REGCLASS) return null;
  const args = Array.isArray(value.fields.args) ? value.fields.args : [];
  if (args.length !== 1) return null;
  const text = textConst(args[0]);
  if (text === null) return { unparsable: true };
  const parts = splitQualifiedName(text);
  if (parts === null || parts.length > 2) return { unparsable: true };
  return parts.length === 2 ? { schema: parts[0] as string, name: parts[1] as string } : { schema: null, name: parts[0] as string };
}

function isNextval(node: TreeNode): boolean {
  return node.type === 'FUNCEXPR' && String(node.fields.funcid) === NEXTVAL;
}

/** The nextval() call a DEFAULT is, under nothing but casts, relabelling and domain coercion. */
function topCall(root: TreeValue): { call: TreeNode; integerOnly: boolean; castType: IntType | null } | null {
  let node: TreeValue | undefined = root;
  let integerOnly = true;
  let castType: IntType | null = null;
  for (let depth = 0; depth < 64; depth++) {
    if (!isNode(node)) return null;
    const args = Array.isArray(node.fields.args) ? node.fields.args : [];
    if (node.type === 'RELABELTYPE' || node.type === 'COERCETODOMAIN') node = node.fields.arg;
    else if (isNextval(node)) return { call: node, integerOnly, castType };
    else if (node.type === 'FUNCEXPR' && (node.fields.funcformat === '1' || node.fields.funcformat === '2') && args.length === 1) {
      const to = INT_TYPE_OIDS[String(node.fields.funcresulttype)];
      if (!to) integerOnly = false;
      // An explicit cast is kept by ALTER ... TYPE; the implicit one to the column's type is rebuilt.
      else if (node.fields.funcformat === '1' && (castType === null || INT_WIDTH[to] < INT_WIDTH[castType])) castType = to;
      node = args[0];
    } else return null;
  }
  return null;
}

/** Every nextval() call in a DEFAULT's stored tree; none for a tree that does not parse. */
export function nextvalCalls(tree: string): NextvalCall[] {
  let root: TreeValue;
  try {
    root = parseNodeTree(tree);
  } catch {
    return [];
  }
  const top = topCall(root);
  const out: NextvalCall[] = [];
  for (const node of walkNodes(root)) {
    if (!isNextval(node)) continue;
    const args = Array.isArray(node.fields.args) ? node.fields.args : [];
    const oids = regclassOids(args[0]);
    const legacy = oids.length === 0 ? legacySequenceName(args[0]) : null;
    const isTop = top?.call === node;
    out.push({
      oids,
      plain: isTop && top.integerOnly,
      castsOnly: isTop,
      castType: isTop ? top.castType : null,
      ...(legacy ? { legacy } : {}),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Resolving a text name the way the DEFAULT's cast to regclass would

/** A search_path some sessions run with, and where the catalog says so. */
export interface SearchPath {
  /** The path's entries as PostgreSQL splits them; `$user` as written. */
  entries: string[];
  /** Who runs with it: `PostgreSQL's default`, `database "shop"`, `role "app"`, ... */
  source: string;
  /** The role `$user` stands for; null when any role may run with the path. */
  role: string | null;
}

/** A relation of a name the DEFAULTs give as text. */
export interface NamedRelation {
  schema: string;
  name: string;
  oid: string;
  relkind: string;
  /**
   * False when PUBLIC lacks USAGE on its schema: a session without it leaves the schema out of its
   * search_path and finds the name further on, so the sessions' answers may differ. Absent: true.
   */
  open?: boolean;
}

export const DEFAULT_SEARCH_PATH: SearchPath = { entries: ['$user', 'public'], source: "PostgreSQL's default", role: null };

function pathText(entries: string[]): string {
  return entries.map((e) => (/^[a-z_][a-z0-9_$]*$/.test(e) && e !== '$user' ? e : `"${e.replace(/"/g, '""')}"`)).join(', ') || "''";
}

/** How the assumption reads in a message: the paths and who runs with them. */
export function describeSearchPaths(paths: SearchPath[]): string {
  const each = paths.map((p) => `${pathText(p.entries)} (${p.source})`);
  return `${paths.length === 1 ? 'the search_path' : 'the search_paths'} ${each.join(' and ')}`;
}

/**
 * The search_paths sessions connecting to this database start with, as far as the catalog says:
 * per role, ALTER ROLE ... IN DATABASE, else ALTER ROLE; for every other role ALTER DATABASE, else ALTER
 * ROLE ALL, else PostgreSQL's default (postgresql.conf is not visible to the audit).
 */
export function searchPaths(settings: { role: string | null; database: boolean; value: string }[]): SearchPath[] {
  const parse = (value: string) => (splitIdentifiers(value, ',') ?? []).filter((e) => e !== '');
  const dbWide = settings.find((s) => s.role === null && s.database);
  const all = settings.find((s) => s.role === null && !s.database);
  const general: SearchPath = dbWide
    ? { entries: parse(dbWide.value), source: 'set for this database', role: null }
    : all
      ? { entries: parse(all.value), source: 'set for all roles', role: null }
      : DEFAULT_SEARCH_PATH;
  const out = [general];
  const roles = [...new Set(settings.filter((s) => s.role !== null).map((s) => s.role as string))].sort();
  for (const role of roles) {
    const own = settings.find((s) => s.role === role && s.database) ?? settings.find((s) => s.role === role && !s.database);
    if (own) out.push({ entries: parse(own.value), source: `set for role ${displayName(role)}`, role });
  }
  return out;
}

/**
 * The relations an unqualified name resolves to under the given paths: pg_catalog first unless the path
 * places it, `$user` as the path's role or, when any role may run with it, as each schema named after a
 * role (and as none). A schema PUBLIC may not use, other than `tableSchema` (which every role inserting
 * into the table may use), is skipped by some roles: its hit and the next are both answers. Sessions that find nothing fail their insert, and draw from no sequence.
 */
export function resolveOnSearchPaths(name: string, paths: SearchPath[], relations: NamedRelation[], roleSchemas: string[], tableSchema: string | null = null): NamedRelation[] {
  const named = relations.filter((r) => r.name === name);
  const found = new Map<string, NamedRelation>();
  for (const path of paths) {
    const users = path.role !== null ? [path.role] : [null, ...roleSchemas.filter((s) => named.some((r) => r.schema === s))];
    for (const user of users) {
      const entries = path.entries.flatMap((e) => (e === '$user' ? (user === null ? [] : [user]) : e === 'pg_temp' ? [] : [e]));
      const order = entries.includes('pg_catalog') ? entries : ['pg_catalog', ...entries];
      for (const schema of order) {
        const hit = named.find((r) => r.schema === schema);
        if (hit) {
          found.set(hit.oid, hit);
          // A role that may not use the schema skips it (namespace search checks USAGE) and goes on; every
          // role inserting into the table may use the table's own schema.
          if (hit.open !== false || hit.schema === tableSchema) break;
        }
      }
    }
  }
  return [...found.values()];
}

interface NameFactsRow {
  relations: [string, string, string, string, boolean][] | null;
  role_schemas: string[] | null;
  settings: [string | null, boolean, string][] | null;
}

/** The relations of the given names in every schema, the schemas named after a role, and the search_path settings. */
async function readNameFacts(db: Queryable, names: string[]): Promise<{ relations: NamedRelation[]; roleSchemas: string[]; paths: SearchPath[] }> {
  const res = await db.query<NameFactsRow>(
    `SELECT (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(n.nspname, c.relname, c.oid::pg_catalog.text, c.relkind::pg_catalog.text,
                                                             pg_catalog.has_schema_privilege('public', n.oid, 'USAGE')))
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
              WHERE c.relname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[])) AS relations,
            (SELECT pg_catalog.json_agg(n.nspname)
               FROM pg_catalog.pg_namespace n
              WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) n.nspname)
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) n.oid
                              AND c.relname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[]))) AS role_schemas,
            (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(r.rolname, s.setdatabase OPERATOR(pg_catalog.<>) 0,
                                                                    pg_catalog.substr(g.setting, 13)))
               FROM pg_catalog.pg_db_role_setting s
               LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) s.setrole
               CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS g(setting)
              WHERE s.setdatabase OPERATOR(pg_catalog.=) ANY (ARRAY[0::pg_catalog.oid,
                      (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())])
                AND pg_catalog.left(g.setting, 12) OPERATOR(pg_catalog.=) 'search_path='
                AND (s.setrole OPERATOR(pg_catalog.=) 0 OR r.rolname IS NOT NULL)) AS settings`,
    [names],
  );
  const row = res.rows[0];
  return {
    relations: (row?.relations ?? []).map(([schema, name, oid, relkind, open]) => ({ schema, name, oid, relkind, open })),
    roleSchemas: row?.role_schemas ?? [],
    paths: searchPaths((row?.settings ?? []).map(([role, database, value]) => ({ role, database, value }))),
  };
}

/** What a DEFAULT's text name resolves to, given the relations of that name. */
function resolveName(legacy: LegacyName, facts: { relations: NamedRelation[]; roleSchemas: string[]; paths: SearchPath[] }, tableSchema: string): NamedSequence {
  if ('unparsable' in legacy) return { status: 'unparsable' };
  if (legacy.schema !== null) {
    const hit = facts.relations.find((r) => r.schema === legacy.schema && r.name === legacy.name);
    if (!hit) return { status: 'missing', schema: legacy.schema, name: legacy.name, assumed: null };
    return { status: hit.relkind === 'S' ? 'found' : 'not-a-sequence', schema: hit.schema, name: hit.name, assumed: null };
  }
  const assumed = describeSearchPaths(facts.paths);
  const hits = resolveOnSearchPaths(legacy.name, facts.paths, facts.relations, facts.roleSchemas, tableSchema);
  if (hits.length === 0) return { status: 'missing', schema: null, name: legacy.name, assumed };
  if (hits.length > 1) return { status: 'ambiguous', name: legacy.name, candidates: hits.map((h) => displayName(h.schema, h.name)).sort(), assumed };
  const hit = hits[0] as NamedRelation;
  return { status: hit.relkind === 'S' ? 'found' : 'not-a-sequence', schema: hit.schema, name: hit.name, assumed };
}

// ---------------------------------------------------------------------------------------------------
// The catalog reading

interface SequenceRow {
  oid: string;
  schema: string;
  name: string;
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cycle: boolean;
  unlogged: boolean;
  can_select: boolean;
  can_use: boolean;
  /** JSON [schema, table, column, deptype] for OWNED BY ('a') and identity ('i') dependencies. */
  owners: string[];
}

/**
 * The sequences, the DEFAULTs' calls and the columns each sequence feeds. One catalog query for the
 * sequences (no function that locks a relation), preceded by one for the relations that text names in
 * DEFAULTs may resolve to when there are such DEFAULTs.
 */
export async function readSequences(db: Queryable, catalog: Catalog): Promise<SequenceReading> {
  const relations = [...catalog.tables, ...catalog.partitions];
  const calls = new Map<string, DefaultCall[]>();
  const schemaOf = new Map<string, string>();
  const names = new Set<string>();
  for (const table of relations) {
    for (const column of table.columns) {
      if (!column.defaultTree) continue;
      const found: DefaultCall[] = nextvalCalls(column.defaultTree).map((c) => ({ ...c, oid: null }));
      if (found.length === 0) continue;
      calls.set(columnKey(table, column), found);
      schemaOf.set(columnKey(table, column), table.schema);
      for (const c of found) if (c.legacy && 'name' in c.legacy) names.add(c.legacy.name);
    }
  }
  const facts = names.size > 0 ? await readNameFacts(db, [...names].sort()) : null;
  const candidates = new Set<string>();
  for (const [key, list] of calls) {
    for (const c of list) {
      for (const oid of c.oids) candidates.add(oid);
      if (c.legacy && facts) {
        c.named = resolveName(c.legacy, facts, schemaOf.get(key) ?? '');
        if (c.named.status === 'found') {
          const { schema, name } = c.named;
          c.oid = facts.relations.find((r) => r.schema === schema && r.name === name)?.oid ?? null;
          if (c.oid !== null) candidates.add(c.oid);
        }
      } else if (c.legacy) c.named = { status: 'unparsable' };
    }
  }

  const res = await db.query<SequenceRow>(
    `SELECT c.oid::pg_catalog.text AS oid, n.nspname AS schema, c.relname AS name, t.typname::pg_catalog.text AS type,
            s.seqstart::pg_catalog.text AS start, s.seqincrement::pg_catalog.text AS increment,
            s.seqmin::pg_catalog.text AS min, s.seqmax::pg_catalog.text AS max, s.seqcycle AS cycle,
            c.relpersistence = 'u' AS unlogged,
            pg_catalog.has_sequence_privilege(c.oid, 'SELECT') AS can_select,
            pg_catalog.has_sequence_privilege(c.oid, 'USAGE') AS can_use,
            ARRAY(SELECT pg_catalog.json_build_array(tn.nspname, tc.relname, a.attname, d.deptype)::pg_catalog.text
                    FROM pg_catalog.pg_depend d
                    JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
                    JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = tc.oid AND a.attnum = d.refobjsubid
                   WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                     AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
                   ORDER BY 1) AS owners
       FROM pg_catalog.pg_sequence s
       JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_type t ON t.oid = s.seqtypid
      WHERE (n.nspname = ANY ($1::pg_catalog.text[]) OR c.oid = ANY ($2::pg_catalog.oid[]))
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                         WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = c.oid AND e.deptype = 'e')
      ORDER BY n.nspname, c.relname`,
    [catalog.schemas, [...candidates]],
  );
  const sequences: SequenceRecord[] = res.rows.map((r) => ({
    oid: r.oid,
    schema: r.schema,
    name: r.name,
    type: r.type,
    start: BigInt(r.start),
    increment: BigInt(r.increment),
    min: BigInt(r.min),
    max: BigInt(r.max),
    cycle: r.cycle,
    unlogged: r.unlogged,
    canSelect: r.can_select,
    canUse: r.can_use,
    owners: r.owners.map((o) => {
      const [schema, table, column, deptype] = JSON.parse(o) as [string, string, string, string];
      return { schema, table, column, deptype: deptype === 'i' ? 'i' : 'a' };
    }),
  }));
  const known = new Set(sequences.map((s) => s.oid));

  const feeds = new Map<string, FedColumn[]>();
  const add = (oid: string, fed: FedColumn) => {
    const list = feeds.get(oid) ?? [];
    list.push(fed);
    feeds.set(oid, list);
  };
  for (const seq of sequences) {
    for (const o of seq.owners) {
      if (o.deptype !== 'i') continue;
      const table = findTable(catalog, o.schema, o.table);
      const column = table?.columns.find((c) => c.name === o.column);
      if (table && column) add(seq.oid, { table, column, via: 'identity', call: null });
    }
  }
  for (const table of relations) {
    for (const column of table.columns) {
      for (const c of calls.get(columnKey(table, column)) ?? []) {
        if (c.oids.length > 0) c.oid = c.oids.find((o) => known.has(o)) ?? (c.oids[0] as string);
        if (c.castsOnly && c.oid !== null && known.has(c.oid)) add(c.oid, { table, column, via: 'default', call: c });
      }
    }
  }
  return { sequences, calls, feeds };
}

/** What a finding says about a column whose DEFAULT names its sequence as text; null for any other column. */
export function namedByText(call: DefaultCall | null): string | null {
  const named = call?.named;
  if (!named || named.status !== 'found') return null;
  const seq = displayName(named.schema, named.name);
  if (named.assumed === null) return `its DEFAULT names ${seq} as text, which PostgreSQL looks up at every insert`;
  const finds = /^the search_paths /.test(named.assumed) ? 'find' : 'finds';
  return `its DEFAULT names the sequence as text without a schema (${JSON.stringify(named.name)}), which PostgreSQL looks up through the inserting session's search_path at every insert: assumed to be ${seq}, the one ${named.assumed} ${finds}; a session with another search_path draws from another sequence (or fails)`;
}
