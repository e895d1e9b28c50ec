import { locateTable, tableKey, type Catalog, type Column, type Relation, type Table } from '../../src/index.js';
import { isKnownConvention } from './conventions.js';

/**
 * Which columns reference another table without a foreign key, guessed from names and types. Shared by
 * the `undeclared-references` check and `integrity init`, which proposes the same guesses as `relations`.
 *
 * Precision comes first: a guess is made only when the name leaves one candidate, the types are the
 * same, and nothing declares the reference already. Whatever is unsure is left out (and counted).
 */

/** How the column's name led to the table: `<table>_id`/`<table>Id` directly, or under the referencing table's own prefix. */
export type InferenceRule = 'name' | 'prefix';

export interface InferredReference {
  child: Table;
  column: Column;
  parent: Table;
  parentColumn: Column;
  rule: InferenceRule;
}

export interface AmbiguousReference {
  child: Table;
  column: Column;
  candidates: Table[];
}

/** A column whose name fits a table whose key is of another type: not guessed, and said so. */
export interface MistypedReference {
  child: Table;
  column: Column;
  /** The tables the name picks (the referencing table's schema first), each with its key. */
  candidates: { table: Table; key: Column }[];
  /** A table of another schema whose key's type does fit, passed over because the column's own schema has a table of that name. */
  fitsElsewhere: Table[];
}

export interface Inference {
  inferred: InferredReference[];
  /** Columns whose name fits more than one table: not guessed. */
  ambiguous: AmbiguousReference[];
  /** Columns whose name fits a table, but not its key's type: not guessed. */
  mistyped: MistypedReference[];
}

/**
 * The words of a name, lower-cased: split at `_`, `-`, spaces and other punctuation, and at camelCase
 * boundaries (`AssistantChatSession` -> assistant chat session, `HTTPServer` -> http server, `userID` ->
 * user id).
 */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 0)
    .map((w) => w.toLowerCase());
}

/** The referenced name a column spells: `customer_id`, `customerId`, `CustomerID` -> [customer]. Null for anything else. */
export function referencedWords(column: string): string[] | null {
  const words = nameWords(column);
  // The `id` must be its own word: `paid`, `uuid`, `userid` are not references by their name.
  if (words.length < 2 || words[words.length - 1] !== 'id') return null;
  return words.slice(0, -1);
}

/**
 * The table names a reference's words may point at: the name itself and its last word's plurals
 * (`customer` -> customers, `address` -> addresses, `category` -> categories). No other inflection is
 * guessed.
 */
function spellings(words: string[]): string[] {
  const last = words[words.length - 1] as string;
  const head = words.slice(0, -1);
  const forms = new Set([last, `${last}s`]);
  if (/(s|x|z|ch|sh)$/.test(last)) forms.add(`${last}es`);
  if (/[^aeiou]y$/.test(last)) forms.add(`${last.slice(0, -1)}ies`);
  return [...forms].map((f) => [...head, f].join('_'));
}

/** The column a reference to `table` points at: its single-column primary key, else one single-column unique key named `id` or like the referencing column. */
function keyColumn(catalog: Catalog, table: Table, referencing: string): Column | null {
  const pk = table.primaryKey;
  if (pk) return pk.length === 1 ? (table.columns.find((c) => c.name === pk[0]) ?? null) : null;
  const unique = catalog.uniqueConstraints
    .filter((u) => u.schema === table.schema && u.table === table.name && u.columns.length === 1)
    .map((u) => u.columns[0] as string)
    .filter((name) => name === 'id' || name === referencing);
  const names = [...new Set(unique)];
  return names.length === 1 ? (table.columns.find((c) => c.name === names[0]) ?? null) : null;
}

/** The partitioned table (at the top) that a partition belongs to, or the table itself. */
function rootOf(byKey: Map<string, Table>, schema: string, name: string): string {
  let t = byKey.get(tableKey(schema, name));
  const seen = new Set<string>();
  while (t?.partitionOf && !seen.has(tableKey(t.schema, t.name))) {
    seen.add(tableKey(t.schema, t.name));
    const up = byKey.get(tableKey(t.partitionOf.schema, t.partitionOf.name));
    if (!up) return tableKey(t.partitionOf.schema, t.partitionOf.name);
    t = up;
  }
  return t ? tableKey(t.schema, t.name) : tableKey(schema, name);
}

/**
 * The (table, column) pairs some reference already covers: a column of any foreign key (a foreign key
 * declared on a partition alone counts for its partitioned table, as pagila's monthly payment partitions
 * declare theirs), and every column of a configured relation.
 */
function declaredColumns(catalog: Catalog, relations: Relation[]): Set<string> {
  const out = new Set<string>();
  const byKey = new Map([...catalog.tables, ...catalog.partitions].map((t) => [tableKey(t.schema, t.name), t]));
  for (const fk of catalog.foreignKeys) {
    const root = rootOf(byKey, fk.schema, fk.table);
    for (const c of fk.columns) out.add(`${root}:${c}`);
  }
  for (const rel of relations) {
    const found = locateTable(catalog, { schema: rel.schema, table: rel.table });
    // A relation naming a table ambiguously covers every table of that name: never guess beside it.
    const tables = found.status === 'found' ? [found.table] : found.status === 'ambiguous' ? found.candidates : [];
    for (const t of tables) for (const c of rel.columns) out.add(`${tableKey(t.schema, t.name)}:${c}`);
  }
  return out;
}

/** Infers the undeclared references of the audited tables, in catalog order (schema, table, column). */
export function inferReferences(catalog: Catalog, relations: Relation[] = []): Inference {
  const byName = new Map<string, Table[]>();
  for (const t of catalog.tables) {
    const key = nameWords(t.name).join('_');
    byName.set(key, [...(byName.get(key) ?? []), t]);
  }
  const declared = declaredColumns(catalog, relations);
  const inferred: InferredReference[] = [];
  const ambiguous: AmbiguousReference[] = [];
  const mistyped: MistypedReference[] = [];
  for (const child of catalog.tables) {
    const childWords = nameWords(child.name);
    for (const column of child.columns) {
      const words = referencedWords(column.name);
      if (!words || declared.has(`${tableKey(child.schema, child.name)}:${column.name}`)) continue;
      // A column that holds a placeholder by convention (Supabase's instance_id) spells a table but means none.
      if (isKnownConvention(child.schema, child.name, column.name)) continue;
      const named = candidates(byName, words, childWords);
      // A column named after its own table is its key (pagila's actor.actor_id), or a copy of it: never a
      // reference. Under the prefix rule the table itself is merely no candidate (team_user.user_id is not
      // team_user's key). A self-reference (parent_id) says nothing about which table it means: not guessed.
      if (named.some((c) => c.table === child && c.rule === 'name')) continue;
      const others = named.filter((c) => c.table !== child);
      if (others.length === 0) continue;
      const keyed = others
        .map((c) => ({ ...c, key: keyColumn(catalog, c.table, column.name) }))
        .filter((c): c is typeof c & { key: Column } => c.key !== null);
      const typed = keyed.filter((c) => c.key.baseType === column.baseType);
      // The referencing table's schema decides when it has a table of that name (of any type: a wrong
      // type there makes a match elsewhere a guess too far); else the one audited schema that has one.
      const local = others.some((c) => c.table.schema === child.schema);
      const inScope = (t: Table) => !local || t.schema === child.schema;
      const chosen = typed.filter((c) => inScope(c.table));
      const tables = [...new Set(chosen.map((c) => c.table))];
      if (tables.length > 1) {
        ambiguous.push({ child, column, candidates: tables });
        continue;
      }
      const pick = chosen[0];
      if (!pick) {
        const wrong = keyed.filter((c) => inScope(c.table));
        if (wrong.length > 0) {
          mistyped.push({ child, column, candidates: wrong.map((c) => ({ table: c.table, key: c.key })), fitsElsewhere: [...new Set(typed.filter((c) => !inScope(c.table)).map((c) => c.table))] });
        }
        continue;
      }
      inferred.push({ child, column, parent: pick.table, parentColumn: pick.key, rule: pick.rule });
    }
  }
  return { inferred, ambiguous, mistyped };
}

/**
 * Tables the words may name: directly (`customer_id` -> customer or customers), or under a prefix of the
 * referencing table's own name (`AssistantChatMessage.sessionId` -> AssistantChatSession), as Prisma
 * schemas name a model's relations. A bare suffix match (`sessionId` -> any table ending in Session) is
 * not made: it picks among unrelated tables.
 */
function candidates(byName: Map<string, Table[]>, words: string[], childWords: string[]): { table: Table; rule: InferenceRule }[] {
  const out: { table: Table; rule: InferenceRule }[] = [];
  const add = (names: string[], rule: InferenceRule) => {
    for (const n of names) for (const table of byName.get(n) ?? []) if (!out.some((o) => o.table === table)) out.push({ table, rule });
  };
  add(spellings(words), 'name');
  for (let k = childWords.length - 1; k >= 1; k--) {
    const prefix = childWords.slice(0, k);
    // `website_event.website_id` would otherwise look for website_website.
    if (words.length >= prefix.length && prefix.every((w, i) => words[i] === w)) continue;
    add(spellings([...prefix, ...words]), 'prefix');
  }
  return out;
}

/** The `relations` entry that declares an inferred reference, as the config file spells it. */
export function relationEntry(ref: InferredReference): Relation {
  return {
    name: `${ref.child.name}.${ref.column.name} -> ${ref.parent.name}.${ref.parentColumn.name}`,
    schema: ref.child.schema,
    table: ref.child.name,
    columns: [ref.column.name],
    references: { schema: ref.parent.schema, table: ref.parent.name, columns: [ref.parentColumn.name] },
  };
}
