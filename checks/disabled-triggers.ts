import {
  defineCheck,
  displayName,
  qualifiedName,
  quoteIdent,
  z,
  type CheckContext,
  type Finding,
  type Queryable,
  type Repair,
} from '../src/index.js';

const ID = 'disabled-triggers';
const options = z.strictObject({});
type Options = z.infer<typeof options>;

/** pg_trigger.tgenabled: O fires in origin mode (ordinary sessions), D never, R only in replica mode, A always. */
type State = 'O' | 'D' | 'R' | 'A';

/** One row of pg_trigger on an audited table: a user trigger, or an internal one that is switched off. */
interface TriggerRow {
  oid: string;
  /** The partitioned table's trigger this one was cloned from (pg_trigger.tgparentid), '0' when none. */
  parent_oid: string;
  schema: string;
  table: string;
  relkind: string;
  is_partition: boolean;
  internal: boolean;
  name: string;
  enabled: string;
  tgtype: number;
  is_constraint: boolean;
  deferrable: boolean;
  initially_deferred: boolean;
  fn_schema: string;
  fn_name: string;
  update_columns: string[];
  /** For an internal trigger: the constraint it implements, and that constraint's table. */
  con_name: string | null;
  con_type: string | null;
  con_schema: string | null;
  con_table: string | null;
}

interface Node {
  row: TriggerRow;
  state: State;
  parent: Node | undefined;
  children: Node[];
}

/** The constraints whose internal triggers a DISABLE TRIGGER ALL switched off on one table. */
interface SwitchedOffConstraint {
  constraint: string;
  kind: 'foreign key' | 'unique' | 'exclusion' | 'primary key' | 'constraint';
  schema: string;
  table: string;
}

// pg_trigger.tgtype bits, from src/include/catalog/pg_trigger.h
const TYPE = { ROW: 1, BEFORE: 2, INSERT: 4, DELETE: 8, UPDATE: 16, TRUNCATE: 32, INSTEAD: 64 } as const;
const CONSTRAINT_KINDS: Record<string, SwitchedOffConstraint['kind']> = { f: 'foreign key', u: 'unique', x: 'exclusion', p: 'primary key' };
/** How many partitions a message names before it says "and N more" (details list them all). */
const NAMED_PARTITIONS = 5;

/**
 * Every trigger on the audited tables, partitioned tables and foreign tables that a person created
 * (CREATE TRIGGER, CREATE CONSTRAINT TRIGGER, and their clones on partitions), and the internal ones
 * (foreign keys, deferrable unique constraints) that are switched off, in one query; extension-owned
 * tables are left out as the catalog loader leaves them out. Plain catalog columns only: nothing that
 * locks a user table.
 */
async function loadTriggers(db: Queryable, schemas: string[], versionNum: number): Promise<TriggerRow[]> {
  // tgparentid exists from PostgreSQL 13; before that a partition's clones were internal triggers.
  const parent = versionNum >= 130000 ? 't.tgparentid::text' : "'0'";
  const res = await db.query<TriggerRow>(
    `SELECT t.oid::text AS oid, ${parent} AS parent_oid, n.nspname AS schema, c.relname AS table,
            c.relkind::text AS relkind, c.relispartition AS is_partition, t.tgisinternal AS internal,
            t.tgname AS name, t.tgenabled::text AS enabled, t.tgtype::int AS tgtype,
            t.tgconstraint OPERATOR(pg_catalog.<>) 0 AS is_constraint, t.tgdeferrable AS deferrable,
            t.tginitdeferred AS initially_deferred, pn.nspname AS fn_schema, p.proname AS fn_name,
            ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(t.tgattr::pg_catalog.int2[]) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS update_columns,
            con.conname AS con_name, con.contype::text AS con_type, cn.nspname AS con_schema, cc.relname AS con_table
       FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
       JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
       LEFT JOIN pg_catalog.pg_constraint con ON t.tgisinternal AND con.oid = t.tgconstraint
       LEFT JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid
       LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
      WHERE n.nspname = ANY($1::text[])
        AND c.relkind IN ('r', 'p', 'f')
        AND (NOT t.tgisinternal OR t.tgenabled IN ('D', 'R'))
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                         WHERE dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dep.objid = c.oid AND dep.deptype = 'e')
      ORDER BY n.nspname, c.relname, t.tgname`,
    [schemas],
  );
  return res.rows;
}

/** Event triggers that are switched off (not extension-owned): named in the note, not reported. */
async function switchedOffEventTriggers(db: Queryable): Promise<{ name: string; enabled: string }[]> {
  const res = await db.query<{ name: string; enabled: string }>(
    `SELECT e.evtname AS name, e.evtenabled::text AS enabled FROM pg_catalog.pg_event_trigger e
      WHERE e.evtenabled IN ('D', 'R')
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                         WHERE dep.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND dep.objid = e.oid AND dep.deptype = 'e')
      ORDER BY e.evtname`,
  );
  return res.rows;
}

/** The logical-replication subscriptions of this database: their apply workers are what REPLICA triggers fire for. */
async function subscriptions(db: Queryable): Promise<string[]> {
  // Only subname and subdbid are read: they are granted to PUBLIC (subconninfo is not).
  const res = await db.query<{ name: string }>(
    `SELECT s.subname::text AS name FROM pg_catalog.pg_subscription s
      WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
      ORDER BY 1`,
  );
  return res.rows.map((r) => r.name);
}

function stateOf(enabled: string): State {
  return enabled === 'D' || enabled === 'R' || enabled === 'A' ? enabled : 'O';
}

/** User triggers as trees: a partitioned table's trigger with the clones on its partitions below it. */
function buildForest(rows: TriggerRow[]): Node[] {
  const nodes = new Map<string, Node>();
  for (const row of rows) if (!row.internal) nodes.set(row.oid, { row, state: stateOf(row.enabled), parent: undefined, children: [] });
  for (const node of nodes.values()) {
    // A clone whose parent is not audited (another schema) stands alone.
    const parent = node.row.parent_oid === '0' ? undefined : nodes.get(node.row.parent_oid);
    if (parent) {
      node.parent = parent;
      parent.children.push(node);
    }
  }
  return [...nodes.values()];
}

/**
 * Where a trigger's state was set: a trigger with no parent, or a clone whose state differs from its
 * parent's (DISABLE TRIGGER on that partition alone). A clone in its parent's state is the parent's
 * finding, so a partitioned table disabled whole is one finding, not one per partition.
 */
function isOwnSetting(node: Node): boolean {
  return !node.parent || node.parent.state !== node.state;
}

/** The node and the clones below it that share its state through an unbroken chain: what its finding covers. */
function covered(node: Node): Node[] {
  return [node, ...node.children.filter((c) => c.state === node.state).flatMap(covered)];
}

function descendants(node: Node): Node[] {
  return node.children.flatMap((c) => [c, ...descendants(c)]);
}

function events(row: TriggerRow): string {
  const out: string[] = [];
  if (row.tgtype & TYPE.INSERT) out.push('INSERT');
  if (row.tgtype & TYPE.UPDATE) out.push(row.update_columns.length > 0 ? `UPDATE OF ${row.update_columns.map((c) => displayName(c)).join(', ')}` : 'UPDATE');
  if (row.tgtype & TYPE.DELETE) out.push('DELETE');
  if (row.tgtype & TYPE.TRUNCATE) out.push('TRUNCATE');
  return out.join(' OR ');
}

function timing(row: TriggerRow): 'BEFORE' | 'AFTER' | 'INSTEAD OF' {
  return row.tgtype & TYPE.INSTEAD ? 'INSTEAD OF' : row.tgtype & TYPE.BEFORE ? 'BEFORE' : 'AFTER';
}

/** e.g. `AFTER INSERT OR UPDATE FOR EACH ROW, function public.sync_profile()` */
function shape(row: TriggerRow): string {
  const deferral = row.deferrable ? (row.initially_deferred ? ' DEFERRABLE INITIALLY DEFERRED' : ' DEFERRABLE') : '';
  return `${timing(row)} ${events(row)}${deferral} FOR EACH ${row.tgtype & TYPE.ROW ? 'ROW' : 'STATEMENT'}, function ${displayName(row.fn_schema, row.fn_name)}()`;
}

function triggerLabel(row: TriggerRow): string {
  return `${row.is_constraint ? 'constraint trigger' : 'trigger'} ${displayName(row.name)}`;
}

function tableLabel(row: TriggerRow): string {
  const what = row.relkind === 'p' ? 'partitioned table' : row.relkind === 'f' ? 'foreign table' : row.is_partition ? 'partition' : 'table';
  return `${what} ${displayName(row.schema, row.table)}`;
}

function listed(names: string[]): string {
  const shown = names.slice(0, NAMED_PARTITIONS).join(', ');
  return names.length > NAMED_PARTITIONS ? `${shown} and ${names.length - NAMED_PARTITIONS} more` : shown;
}

const tableKey = (schema: string, table: string) => JSON.stringify([schema, table]);
const nodeTable = (n: Node) => displayName(n.row.schema, n.row.table);

/** Internal triggers switched off, by the table they are on (DISABLE TRIGGER ALL, or USER's complement). */
function switchedOffConstraints(rows: TriggerRow[]): Map<string, SwitchedOffConstraint[]> {
  const out = new Map<string, SwitchedOffConstraint[]>();
  for (const r of rows) {
    if (!r.internal || r.con_name === null || r.con_schema === null || r.con_table === null) continue;
    const key = tableKey(r.schema, r.table);
    const list = out.get(key) ?? [];
    if (!list.some((c) => c.constraint === r.con_name && c.schema === r.con_schema && c.table === r.con_table)) {
      list.push({ constraint: r.con_name, kind: CONSTRAINT_KINDS[r.con_type ?? ''] ?? 'constraint', schema: r.con_schema, table: r.con_table });
    }
    out.set(key, list);
  }
  return out;
}

function describeConstraints(list: SwitchedOffConstraint[]): string {
  const fks = list.filter((c) => c.kind === 'foreign key');
  const others = list.filter((c) => c.kind !== 'foreign key');
  const name = (c: SwitchedOffConstraint) => `${displayName(c.constraint)} (on ${displayName(c.schema, c.table)})`;
  const parts = [
    ...(fks.length > 0 ? [`foreign key${fks.length === 1 ? '' : 's'} ${fks.map(name).join(', ')}, which orphan-rows verifies`] : []),
    ...(others.length > 0 ? [`the deferred check of ${others.map((c) => `${c.kind} constraint ${name(c)}`).join(', ')}`] : []),
  ];
  return parts.join(', and ');
}

interface Context {
  ctx: CheckContext<Options>;
  offConstraints: Map<string, SwitchedOffConstraint[]>;
  subscriptions: string[];
}

const STATE_WORD: Record<State, string> = { O: 'enabled', D: 'disabled', R: 'enabled REPLICA only', A: 'enabled ALWAYS' };
const EFFECT: Record<'D' | 'R', string> = {
  D: 'it never fires',
  R: 'it fires only in sessions with session_replication_role = replica, never for ordinary sessions',
};

/** What the trigger's state means where it is, in words: the tables it covers, and those it does not. */
function stateText(node: Node, clones: Node[], below: Node[], others: Node[]): string {
  const state = node.state as 'D' | 'R';
  const what = STATE_WORD[state];
  const elsewhere = others.length > 0 ? `; on ${listed(others.map((o) => `${nodeTable(o)} (${STATE_WORD[o.state]})`))} it is not ${what}` : '';
  if (node.row.relkind === 'p' && node.row.tgtype & TYPE.ROW) {
    // A row trigger on a partitioned table fires through its clones; its own state is what new partitions get.
    const future = `partitions created or attached from now on get it ${what} too`;
    if (below.length === 0) return `is ${what}: the table has no partition yet, and ${future}`;
    if (clones.length === 0) return `is ${what} on the partitioned table alone, not on its partitions: ${future}${elsewhere}`;
    const share = clones.length === below.length ? `all ${clones.length}` : `${clones.length} of the ${below.length}`;
    return `is ${what}, and so are its clones on ${share} partition${below.length === 1 ? '' : 's'} (${listed(clones.map(nodeTable))}): for their rows ${EFFECT[state]}; ${future}${elsewhere}`;
  }
  const alone = node.parent ? `; on this partition alone (on ${nodeTable(node.parent)} it is ${STATE_WORD[node.parent.state]})` : '';
  return `is ${what}: ${EFFECT[state]}${alone}`;
}

/** The finding for a trigger that is disabled or replica-only where its state was set. */
function switchedOffFinding(c: Context, node: Node): Finding {
  const state = node.state as 'D' | 'R';
  const row = node.row;
  const cover = covered(node);
  const clones = cover.slice(1);
  const below = descendants(node);
  const others = below.filter((d) => !clones.includes(d));
  const tables = cover.map((n) => tableKey(n.row.schema, n.row.table));
  const off = dedupe(tables.flatMap((k) => c.offConstraints.get(k) ?? []));
  const replicaPlaces = state === 'R' && c.ctx.catalog.replicationRole.length > 0 ? ` (here: ${c.ctx.catalog.replicationRole.join('; ')})` : '';
  const message =
    `${triggerLabel(row)} on ${tableLabel(row)} (${shape(row)}) ${stateText(node, clones, below, others)}${replicaPlaces}` +
    (off.length > 0 ? `; the table's internal triggers are switched off too (as DISABLE TRIGGER ALL does): ${describeConstraints(off)}` : '');
  return c.ctx.finding({
    kind: state === 'D' ? 'disabled' : 'replica-only',
    message,
    object: { schema: row.schema, table: row.table, trigger: row.name },
    count: null,
    details: {
      trigger: row.name,
      enabled: state,
      constraintTrigger: row.is_constraint,
      timing: timing(row),
      events: events(row),
      forEachRow: (row.tgtype & TYPE.ROW) !== 0,
      function: { schema: row.fn_schema, name: row.fn_name },
      ...(below.length > 0 ? { partitions: clones.map((n) => ({ schema: n.row.schema, table: n.row.table })) } : {}),
      ...(others.length > 0 ? { partitionsInOtherStates: others.map((n) => ({ schema: n.row.schema, table: n.row.table, enabled: n.state })) } : {}),
      ...(node.parent ? { parent: { schema: node.parent.row.schema, table: node.parent.row.table, enabled: node.parent.state } } : {}),
      ...(off.length > 0 ? { alsoSwitchedOff: off } : {}),
      ...(state === 'R' && c.subscriptions.length > 0 ? { subscriptions: c.subscriptions } : {}),
    },
    repair: async () => enableRepair(c, node, cover, below, off),
  });
}

/** Each constraint once, foreign keys first, then by table and name: the order does not depend on trigger OIDs. */
function dedupe(list: SwitchedOffConstraint[]): SwitchedOffConstraint[] {
  const seen = new Set<string>();
  const rank = (c: SwitchedOffConstraint) => (c.kind === 'foreign key' ? 0 : 1);
  return list
    .filter((c) => {
      const k = JSON.stringify([c.schema, c.table, c.constraint]);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => rank(a) - rank(b) || a.schema.localeCompare(b.schema) || a.table.localeCompare(b.table) || a.constraint.localeCompare(b.constraint));
}

function alterTable(n: Node, only: boolean): string {
  const keyword = n.row.relkind === 'f' ? 'ALTER FOREIGN TABLE' : 'ALTER TABLE';
  return `${keyword} ${only ? 'ONLY ' : ''}${qualifiedName(n.row.schema, n.row.table)} ENABLE TRIGGER ${quoteIdent(n.row.name)};`;
}

/**
 * ENABLE TRIGGER on the table, which on a partitioned table recurses to every partition's clone
 * (PostgreSQL 15 on): used when the finding covers every clone. Otherwise `ONLY` on each table the
 * finding covers, so that clones in another state (ALWAYS, or their own finding) are left as they are.
 * ENABLE TRIGGER changes nothing when the trigger is already enabled: a second run is a no-op.
 */
function enableRepair(c: Context, node: Node, cover: Node[], below: Node[], off: SwitchedOffConstraint[]): Repair {
  const row = node.row;
  const whole = cover.length === below.length + 1;
  const sql = whole ? alterTable(node, false) : cover.map((n) => alterTable(n, true)).join('\n');
  const where = below.length === 0 ? '' : whole ? ' and its clones on every partition' : ` and its clones on ${cover.length - 1} partition${cover.length === 2 ? '' : 's'} (ONLY each, the others are left as they are)`;
  const fired = `it fires on every ${events(row)} of ${displayName(row.schema, row.table)}${below.length > 0 ? ' and the partitions named' : ''} from then on`;
  const decision =
    node.state === 'D'
      ? [
          `confirm it was not disabled on purpose (a bulk load or migration still running)`,
          `rows written while it was off were never processed by it: whatever it maintains (a profile, an audit row, a copy, a total) is missing for them and must be backfilled separately (for profiles, users-without-profiles finds and inserts them)`,
          fired,
        ]
      : [
          `ENABLE REPLICA is deliberate on a logical-replication subscriber, for rows the apply worker writes${c.subscriptions.length > 0 ? ` (this database has subscription${c.subscriptions.length === 1 ? '' : 's'} ${c.subscriptions.map((s) => displayName(s)).join(', ')})` : ' (this database has no subscription)'}: if that is what it is for, leave it and ignore this finding`,
          `enabled, it fires for ordinary sessions and no longer under session_replication_role = replica (ENABLE ALWAYS TRIGGER fires in both)`,
          `rows written by ordinary sessions until now were never processed by it`,
          fired,
        ];
  if (off.length > 0) decision.push(`this enables only this trigger: the constraints DISABLE TRIGGER ALL switched off stay off (orphan-rows' repair re-enables a foreign key's triggers)`);
  decision.push('ALTER TABLE takes a SHARE ROW EXCLUSIVE lock on each table, waiting for the writes in progress and blocking new ones meanwhile');
  return {
    // Last: the other repairs' writes run with the triggers as the audit found them.
    order: 90,
    summary: `enable ${triggerLabel(row)} on ${displayName(row.schema, row.table)} (needs review)`,
    steps: [
      {
        safety: 'review',
        phase: 'transaction',
        description: `enable ${triggerLabel(row)} on ${displayName(row.schema, row.table)}${where}`,
        decision: decision.join('; '),
        sql,
      },
    ],
  };
}

/**
 * Under `session_replication_role = replica` (set on the database, a role, or the server) ordinary
 * triggers do not fire: one finding per table whose origin-mode triggers those sessions skip.
 */
function replicaSessionFindings(c: Context, nodes: Node[]): Finding[] {
  const places = c.ctx.catalog.replicationRole;
  if (places.length === 0) return [];
  const byTable = new Map<string, Node[]>();
  for (const n of nodes) {
    if (n.state !== 'O' || !isOwnSetting(n)) continue;
    const key = tableKey(n.row.schema, n.row.table);
    byTable.set(key, [...(byTable.get(key) ?? []), n]);
  }
  return [...byTable.values()].map((list) => {
    const row = (list[0] as Node).row;
    const names = list.map((n) => {
      const clones = covered(n).length - 1;
      return `${triggerLabel(n.row)} (${shape(n.row)}${clones > 0 ? `, with its clones on ${clones} partition${clones === 1 ? '' : 's'}` : ''})`;
    });
    return c.ctx.finding({
      kind: 'replica-sessions',
      message: `${names.join(', ')} on ${tableLabel(row)} ${list.length === 1 ? 'fires' : 'fire'} only in origin mode, so not for the sessions where ${places.join('; ')}: what ${list.length === 1 ? 'it does' : 'they do'} is skipped for every row those sessions write`,
      object: { schema: row.schema, table: row.table },
      count: null,
      details: {
        triggers: list.map((n) => ({ trigger: n.row.name, timing: timing(n.row), events: events(n.row), function: { schema: n.row.fn_schema, name: n.row.fn_name } })),
        replicationRole: places,
      },
    });
  });
}

export default defineCheck({
  id: ID,
  title: 'Triggers that do not fire for ordinary sessions',
  severity: 'warning',
  description: 'User triggers that are disabled or enabled REPLICA only, or that session_replication_role = replica (set on the database or a role) switches off, so what they maintain silently stops.',
  docs: {
    finds:
      "User triggers (CREATE TRIGGER and CREATE CONSTRAINT TRIGGER) on the audited tables, partitioned tables and foreign tables (not views: their INSTEAD OF triggers cannot be disabled), read from pg_trigger.tgenabled in one catalog query that locks no table: `disabled` (ALTER TABLE ... DISABLE TRIGGER, which fires never) and `REPLICA` (ENABLE REPLICA TRIGGER, which fires only in sessions with session_replication_role = replica, i.e. never for ordinary sessions), one finding per trigger. ENABLE ALWAYS triggers are not reported. " +
      "A partitioned table's row trigger fires through its clones on the partitions (pg_trigger.tgparentid, PostgreSQL 13+; before 13 clones are internal and not examined): a trigger disabled on the partitioned table with its clones (as ALTER TABLE on it does, recursively) is one finding on the partitioned table, naming the partitions; a clone in a different state from its parent's (DISABLE TRIGGER on one partition) is a finding on that partition. " +
      "Internal triggers are not reported: a foreign key's RI triggers switched off (DISABLE TRIGGER ALL) are orphan-rows' to verify; the finding on a user trigger of the same table names the foreign keys (and the deferred checks of deferrable unique constraints) that DISABLE TRIGGER ALL also switched off. Tables owned by an extension are skipped. " +
      "Where session_replication_role = replica is set for sessions of this database (ALTER DATABASE ... SET, ALTER ROLE ... SET, or the server's configuration), those sessions do not fire ordinary triggers either: one finding per table with such triggers (kind replica-sessions), naming the triggers and where the setting is. " +
      'Event triggers (DDL, not rows) are not reported; disabled ones are named in the note.',
    why: 'A profile-sync or audit trigger switched off for a bulk load (DISABLE TRIGGER, or session_replication_role = replica on the loading role) and never switched back on: every row written since is missing what the trigger maintained (as in the incident of users without profiles: a profile trigger that does not fire leaves new users without one, and every later write that needs it fails), and nothing fails to say so.',
    fix: "For a disabled or REPLICA trigger, the repair (review) is ALTER TABLE ... ENABLE TRIGGER (on a partitioned table it recurses to the partitions' clones; where only some clones are covered, ALTER TABLE ONLY on each, leaving the other clones as they are); it changes nothing when run again. It is ordered after the other checks' repairs, so their writes run with the triggers as audited. First backfill what the trigger would have done for the rows written meanwhile (users-without-profiles does it for profiles): enabling it does not process them. A REPLICA trigger on a logical-replication subscriber is often deliberate (it fires for the apply worker): the decision names this database's subscriptions; leave it and ignore the finding if so. For replica-sessions there is no repair: reset the setting (ALTER ROLE ... RESET session_replication_role, ALTER DATABASE ... RESET ...), or ENABLE ALWAYS TRIGGER for a trigger that must fire for those sessions too.",
    bad: `ALTER TABLE auth.users DISABLE TRIGGER on_auth_user_created;  -- for the bulk load
COPY auth.users FROM '/tmp/users.csv';
-- and never switched back on`,
    good: `BEGIN;
ALTER TABLE auth.users DISABLE TRIGGER on_auth_user_created;
COPY auth.users FROM '/tmp/users.csv';
INSERT INTO public.user_profiles (id) SELECT id FROM auth.users ON CONFLICT DO NOTHING;  -- what the trigger does
ALTER TABLE auth.users ENABLE TRIGGER on_auth_user_created;
COMMIT;`,
  },
  options,
  async run(ctx) {
    const rows = await loadTriggers(ctx.db, ctx.catalog.schemas, ctx.catalog.serverVersionNum);
    const nodes = buildForest(rows);
    const needsSubscriptions = nodes.some((n) => n.state === 'R');
    const c: Context = { ctx, offConstraints: switchedOffConstraints(rows), subscriptions: needsSubscriptions ? await subscriptions(ctx.db) : [] };
    const findings: Finding[] = [];
    for (const node of nodes) {
      if ((node.state === 'D' || node.state === 'R') && isOwnSetting(node)) findings.push(switchedOffFinding(c, node));
    }
    findings.push(...replicaSessionFindings(c, nodes));
    const events = await switchedOffEventTriggers(ctx.db);
    const tables = new Set(nodes.map((n) => tableKey(n.row.schema, n.row.table))).size;
    const clones = nodes.filter((n) => n.parent).length;
    ctx.note(
      `examined ${nodes.length} user trigger${nodes.length === 1 ? '' : 's'} on ${tables} table${tables === 1 ? '' : 's'}${clones > 0 ? ` (${clones} of them clones on partitions)` : ''}` +
        (events.length > 0
          ? `; event trigger${events.length === 1 ? '' : 's'} ${events.map((e) => `${displayName(e.name)} (${e.enabled === 'D' ? 'disabled' : 'REPLICA only'})`).join(', ')} not reported (they act on DDL, not rows)`
          : ''),
    );
    return findings;
  },
});
