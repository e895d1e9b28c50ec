import {
  defineCheck,
  displayName,
  equalsExpr,
  ownRows,
  quoteIdent,
  scaleCount,
  tableSample,
  z,
  type CheckContext,
  type Finding,
  type Queryable,
  type Severity,
} from '../src/index.js';
import { inferReferences, relationEntry, type InferredReference, type MistypedReference } from './support/undeclared-inference.js';

const options = z.strictObject({});
type Options = z.infer<typeof options>;

function label(ref: InferredReference): string {
  return `${displayName(ref.child.schema, ref.child.name, ref.column.name)} -> ${displayName(ref.parent.schema, ref.parent.name, ref.parentColumn.name)}`;
}

export default defineCheck({
  id: 'undeclared-references',
  title: 'Columns that reference a table without a foreign key',
  severity: 'info',
  description: 'Columns that reference another table by name and type but have no foreign key, each with its count of orphan rows.',
  docs: {
    finds:
      'Columns that, by their name and type, reference another audited table, but that no foreign key and no configured `relations` entry covers: `<table>_id`, `<singular>_id`, `<table>Id`, `<singular>Id` and `<Table>ID` (the `id` its own word: `paid` or `userid` are not references), matched against table names word for word whatever their case and separators (`userId` -> `User` or `users`, `category_id` -> `categories`), and, as Prisma names relations, under a prefix of the referencing table\'s own name (`AssistantChatMessage.sessionId` -> `AssistantChatSession`). The type must equal (domains followed to their base type, type modifiers such as a varchar length aside) that of the table\'s single-column primary key (or, without one, its one single-column unique key named `id` or like the column). Not reported: a column named after its own table (its key, e.g. pagila\'s `actor.actor_id`) and self-references (`parent_id`), composite references, a name that fits two tables (the referencing table\'s schema wins when it has one; the note counts the rest), a name whose table\'s key is of another type (the note lists them, with a table of another schema that would fit, passed over because the column\'s own schema has one of that name), a bare suffix match (`sessionId` -> some other `...Session`), and columns of a foreign key, including one declared on partitions alone. Each finding counts the rows whose non-null value matches no row of the table, as orphan-rows would for the declared relation (`FROM ONLY`, pg_catalog\'s `=`). It is `info`, or `warning` when there are orphans (a severity configured higher stays): at its defaults a guess never fails a build gated on `error`.',
    why: 'Prisma\'s `relationMode = "prisma"` (PlanetScale, Vitess) creates no foreign keys at all (one incident this tool was built from was a Prisma chat schema with orphans); in another, an `llm_call` table\'s references to its stored files had none either, and many schemas never declared theirs. orphan-rows has nothing to verify there, so such orphans go unseen until a join loses rows. Declaring the relation makes orphan-rows verify it and write its repair.',
    fix: 'When the guess is right, declare the relation under `relations` in the config (the finding\'s `details.relation` is the entry; `integrity init` proposes them all), and orphan-rows verifies it and quarantines its orphans; better, repair the orphans and add the FOREIGN KEY. When it is wrong, ignore the finding with a reason (`ignore` in the config). This check writes no repair of its own: what to do with an orphan belongs to a declared relation.',
    bad: `CREATE TABLE customers (customer_id int PRIMARY KEY);
CREATE TABLE orders (order_id int PRIMARY KEY, customer_id int);  -- references customers, no constraint says so`,
    good: `ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (customer_id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey;`,
  },
  options,
  async run(ctx) {
    if (ctx.catalog.tables.length === 0) {
      return ctx.skip(`no tables in the audited schemas (${ctx.catalog.schemas.join(', ') || 'none'}): name the schemas with --schema`);
    }
    const { inferred, ambiguous, mistyped } = inferReferences(ctx.catalog, ctx.relations);
    const unreadable = inferred.filter((ref) => ref.child.unreadable ?? ref.parent.unreadable);
    const readable = inferred.filter((ref) => !unreadable.includes(ref));
    const counted = await ctx.each(
      readable.map((ref) => ({ item: ref, weight: Math.max(0, ref.child.estimatedRows), object: label(ref) })),
      async (ref, db) => {
        ctx.progress(displayName(ref.child.schema, ref.child.name));
        return countOrphans(ctx, ref, db);
      },
    );
    const findings = inferred.map((ref) => {
      const i = readable.indexOf(ref);
      const result = i >= 0 ? counted[i] : undefined;
      const why = ref.child.unreadable ?? ref.parent.unreadable ?? 'the count failed (see the check\'s errors)';
      return finding(ctx, ref, result ?? { count: null, samples: [], notCounted: why });
    });
    const withOrphans = findings.filter((f) => (f.count ?? 0) > 0).length;
    ctx.note(
      `inferred ${inferred.length} undeclared reference${inferred.length === 1 ? '' : 's'} from column names and types` +
        (inferred.length > 0 ? `, ${withOrphans} with orphan rows` : '') +
        (ambiguous.length > 0
          ? `; ${ambiguous.length} column${ambiguous.length === 1 ? '' : 's'} left out, ${ambiguous.length === 1 ? 'its' : 'their'} name fitting several tables (${ambiguous
              .slice(0, 3)
              .map((a) => `${displayName(a.child.schema, a.child.name, a.column.name)}: ${a.candidates.map((t) => displayName(t.schema, t.name)).join(' or ')}`)
              .join('; ')}${ambiguous.length > 3 ? '; ...' : ''})`
          : '') +
        (mistyped.length > 0
          ? `; ${mistyped.length} column${mistyped.length === 1 ? '' : 's'} left out, ${mistyped.length === 1 ? 'its' : 'their'} name fitting a table whose key is of another type (${mistyped
              .slice(0, 3)
              .map(mistypedText)
              .join('; ')}${mistyped.length > 3 ? '; ...' : ''})`
          : ''),
    );
    return findings;
  },
});

function mistypedText(m: MistypedReference): string {
  const keys = m.candidates.map((c) => `${displayName(c.table.schema, c.table.name, c.key.name)} is ${c.key.type}`).join(', ');
  const elsewhere = m.fitsElsewhere.length > 0 ? `; ${m.fitsElsewhere.map((t) => displayName(t.schema, t.name)).join(' or ')} would fit, in another schema` : '';
  return `${displayName(m.child.schema, m.child.name, m.column.name)} is ${m.column.type}, ${keys}${elsewhere}`;
}

interface Counted {
  count: number | null;
  samples: string[];
  /** Why the orphans were not counted; null when they were. */
  notCounted: string | null;
}

/** The rows of the child whose non-null value matches no row of the parent, read as orphan-rows reads a declared relation. */
async function countOrphans(ctx: CheckContext<Options>, ref: InferredReference, db: Queryable): Promise<Counted> {
  const col = `c.${quoteIdent(ref.column.name)}`;
  const parentCol = `p.${quoteIdent(ref.parentColumn.name)}`;
  // Where the two collations differ, the parent's decides, as the foreign key's RI query would compare.
  const pc = ref.parentColumn.collation;
  const cc = ref.column.collation;
  const collate = pc && (cc?.schema !== pc.schema || cc.name !== pc.name) ? ` COLLATE ${quoteIdent(pc.schema)}.${quoteIdent(pc.name)}` : '';
  const equal = `${equalsExpr(parentCol, ref.parentColumn.baseType, col, ref.column.baseType)}${collate}`;
  const res = await db.query<{ n: string; sample: string }>(
    `SELECT count(*) OVER () AS n, ${col}::pg_catalog.text AS sample
       FROM ${ownRows(ref.child)} c${tableSample(ctx.samplePercent)}
      WHERE ${col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${ownRows(ref.parent)} p WHERE ${equal})
      ORDER BY ${col} LIMIT $1`,
    [ctx.sampleSize],
  );
  const n = res.rows.length === 0 ? 0 : scaleCount(Number(res.rows[0]?.n), ctx.samplePercent);
  return { count: n, samples: [...new Set(res.rows.map((r) => r.sample))], notCounted: null };
}

function finding(ctx: CheckContext<Options>, ref: InferredReference, counted: Counted): Finding {
  const child = displayName(ref.child.schema, ref.child.name);
  const parent = displayName(ref.parent.schema, ref.parent.name);
  const column = `${child}.${displayName(ref.column.name)}`;
  const about = ctx.samplePercent === null ? '' : 'about ';
  const n = counted.count;
  const orphans =
    n === null
      ? `its orphans were not counted: ${counted.notCounted ?? ''}`
      : n === 0
        ? 'every non-null value has a parent row'
        : `${about}${n} ${n === 1 ? 'row points' : 'rows point'} at no row of ${parent}`;
  // A guess with orphans is worth a look, never a failed build: warning at most, unless configured higher.
  const severity: Severity = (n ?? 0) > 0 && ctx.severity === 'info' ? 'warning' : ctx.severity;
  return ctx.finding({
    kind: 'undeclared-reference',
    severity,
    message:
      `${column} looks like a reference to ${parent} (${displayName(ref.parentColumn.name)}) by its name and type, but no foreign key or configured relation declares it; ${orphans}. ` +
      'Declare it under "relations" (orphan-rows then verifies it) or add the FOREIGN KEY.',
    object: {
      schema: ref.child.schema,
      table: ref.child.name,
      column: ref.column.name,
      references: { schema: ref.parent.schema, table: ref.parent.name, columns: [ref.parentColumn.name] },
    },
    // A finding's count is rows affected, null when none are (the reference itself is the finding).
    count: n === 0 ? null : n,
    ...(ctx.samplePercent !== null && n !== null && n > 0 ? { estimated: true } : {}),
    samples: counted.samples,
    details: {
      rule: ref.rule,
      orphans: n,
      type: ref.column.type,
      relation: relationEntry(ref),
      ...(counted.notCounted === null ? {} : { notCounted: counted.notCounted }),
    },
  });
}
