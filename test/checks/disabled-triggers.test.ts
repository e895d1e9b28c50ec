import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintOf, type Finding } from '../../src/findings.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { runCli } from '../helpers/cli.js';
import { adminUrl, audit, auditOptions, checkResult, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL, psqlFile } from '../helpers/psql.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';

const CHECK = 'disabled-triggers';
const REAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/real');

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The finding's kind, read back from its fingerprint (disabled, replica-only, replica-sessions), with the trigger it is about. */
function kindOf(f: Finding): string | undefined {
  const kind = ['disabled', 'replica-only', 'replica-sessions'].find((k) => fingerprintOf(CHECK, k, f.object) === f.fingerprint);
  return kind && f.object.trigger !== undefined ? `${kind}:${f.object.trigger}` : kind;
}

/** What a test asserts on: never the whole prose. */
function outline(f: Finding) {
  return {
    kind: kindOf(f),
    severity: f.severity,
    object: f.object,
    count: f.count,
    samples: f.samples,
    fix: f.fix?.steps.map((s) => [s.safety, s.phase, s.sql]) ?? null,
  };
}

describe('disabled-triggers', () => {
  const db = useDatabase('disabled_triggers');
  let counter = 0;

  /** A schema of its own with a trigger function, then `sql` with `$S` standing for the schema. */
  async function scenario(sql: string): Promise<string> {
    const s = `dt_${counter++}`;
    await query(
      db.url,
      `CREATE SCHEMA ${s};
       CREATE FUNCTION ${s}.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
       ${sql.replaceAll('$S', s)}`,
    );
    return s;
  }

  async function run(s: string | string[]) {
    const report = await audit(db.url, { checks: [CHECK], schemas: Array.isArray(s) ? s : [s] });
    const result = checkResult(report, CHECK);
    expect(result.status).toMatch(/^(passed|failed)$/);
    return { report, result, findings: report.findings.filter((f) => f.checkId === CHECK) };
  }

  it('a disabled AFTER INSERT trigger: one warning naming it, its table, function, events and what it means; a review repair', async () => {
    const s = await scenario(`
      CREATE TABLE $S.users (id int PRIMARY KEY);
      CREATE TRIGGER sync_profile AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.users DISABLE TRIGGER sync_profile;`);
    const { findings, result } = await run(s);
    expect(findings.map(outline)).toEqual([
      {
        kind: 'disabled:sync_profile',
        severity: 'warning',
        object: { schema: s, table: 'users', trigger: 'sync_profile' },
        count: null,
        samples: [],
        fix: [['review', 'transaction', `ALTER TABLE "${s}"."users" ENABLE TRIGGER "sync_profile";`]],
      },
    ]);
    const [f] = findings as [Finding];
    expect(f.message).toBe(
      `trigger sync_profile on table ${s}.users (AFTER INSERT FOR EACH ROW, function ${s}.touch()) is disabled: it never fires`,
    );
    expect(f.details).toEqual({
      trigger: 'sync_profile',
      enabled: 'D',
      constraintTrigger: false,
      timing: 'AFTER',
      events: 'INSERT',
      forEachRow: true,
      function: { schema: s, name: 'touch' },
    });
    expect(f.fix?.steps[0]?.decision).toMatch(/rows written while it was off were never processed by it/);
    expect(f.fix?.steps[0]?.decision).toMatch(/users-without-profiles/);
    expect(result.note).toBe('examined 1 user trigger on 1 table');
  });

  it('ENABLE REPLICA: reported as firing only under session_replication_role = replica; the decision says whether this database subscribes', async () => {
    const s = await scenario(`
      CREATE TABLE $S.orders (id int PRIMARY KEY, total numeric);
      CREATE TRIGGER audit_orders BEFORE UPDATE OF total OR DELETE ON $S.orders FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.orders ENABLE REPLICA TRIGGER audit_orders;`);
    const { findings } = await run(s);
    expect(findings.map(outline)).toEqual([
      {
        kind: 'replica-only:audit_orders',
        severity: 'warning',
        object: { schema: s, table: 'orders', trigger: 'audit_orders' },
        count: null,
        samples: [],
        fix: [['review', 'transaction', `ALTER TABLE "${s}"."orders" ENABLE TRIGGER "audit_orders";`]],
      },
    ]);
    const [f] = findings as [Finding];
    expect(f.message).toBe(
      `trigger audit_orders on table ${s}.orders (BEFORE UPDATE OF total OR DELETE FOR EACH ROW, function ${s}.touch()) is enabled REPLICA only: it fires only in sessions with session_replication_role = replica, never for ordinary sessions`,
    );
    expect(f.details).toMatchObject({ enabled: 'R', events: 'UPDATE OF total OR DELETE', timing: 'BEFORE' });
    expect(f.details).not.toHaveProperty('subscriptions');
    expect(f.fix?.steps[0]?.decision).toMatch(/this database has no subscription/);
    expect(f.fix?.steps[0]?.decision).toMatch(/ENABLE ALWAYS TRIGGER fires in both/);
  });

  it('look-alikes: enabled, ALWAYS, statement-level and INSTEAD OF triggers, internal RI and deferred-unique triggers switched off, other schemas', async () => {
    const other = await scenario(`
      CREATE TABLE $S.hidden (id int);
      CREATE TRIGGER off_elsewhere AFTER INSERT ON $S.hidden FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.hidden DISABLE TRIGGER off_elsewhere;`);
    const s = await scenario(`
      CREATE TABLE $S.accounts (id int PRIMARY KEY, code int UNIQUE DEFERRABLE INITIALLY DEFERRED);
      CREATE TABLE $S.entries (id int PRIMARY KEY, account_id int REFERENCES $S.accounts (id));
      CREATE TRIGGER stamp BEFORE UPDATE ON $S.accounts FOR EACH ROW EXECUTE FUNCTION $S.touch();
      CREATE TRIGGER always_on AFTER INSERT ON $S.accounts FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.accounts ENABLE ALWAYS TRIGGER always_on;
      CREATE TRIGGER per_statement AFTER TRUNCATE ON $S.entries FOR EACH STATEMENT EXECUTE FUNCTION $S.touch();
      -- only internal triggers are off here: foreign keys are orphan-rows', unique checks not this check's
      ALTER TABLE $S.entries DISABLE TRIGGER ALL;
      ALTER TABLE $S.entries ENABLE TRIGGER USER;
      ALTER TABLE $S.accounts DISABLE TRIGGER ALL;
      ALTER TABLE $S.accounts ENABLE TRIGGER USER;
      ALTER TABLE $S.accounts ENABLE ALWAYS TRIGGER always_on;
      CREATE VIEW $S.accounts_view AS SELECT id FROM $S.accounts;
      CREATE FUNCTION $S.instead() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
      CREATE TRIGGER via_view INSTEAD OF INSERT ON $S.accounts_view FOR EACH ROW EXECUTE FUNCTION $S.instead();`);
    const disabledInternal = await query<{ n: string }>(
      db.url,
      `SELECT count(*)::text AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = '${s}'::regnamespace AND t.tgisinternal AND t.tgenabled = 'D'`,
    );
    expect(Number(disabledInternal[0]?.n)).toBeGreaterThanOrEqual(4);
    const { findings, result } = await run(s);
    expect(findings).toEqual([]);
    expect(result.status).toBe('passed');
    // The view's INSTEAD OF trigger is not counted: a view's triggers cannot be disabled.
    expect(result.note).toBe('examined 3 user triggers on 2 tables');
    // The schema left out above does hold a disabled trigger: it is found when audited.
    expect((await run(other)).findings.map(kindOf)).toEqual(['disabled:off_elsewhere']);
  });

  it('DISABLE TRIGGER ALL: each user trigger is reported once, naming the foreign keys it also switched off (left to orphan-rows)', async () => {
    const s = await scenario(`
      CREATE TABLE $S.sessions (id int PRIMARY KEY);
      CREATE TABLE $S.messages (id int PRIMARY KEY, session_id int CONSTRAINT messages_session_fk REFERENCES $S.sessions (id));
      CREATE TABLE $S.attachments (id int PRIMARY KEY, message_id int CONSTRAINT attachments_message_fk REFERENCES $S.messages (id));
      CREATE TRIGGER count_messages AFTER INSERT OR DELETE ON $S.messages FOR EACH ROW EXECUTE FUNCTION $S.touch();
      CREATE TRIGGER search_index AFTER INSERT OR UPDATE ON $S.messages FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.messages ADD CONSTRAINT messages_position_key UNIQUE (id, session_id) DEFERRABLE;
      ALTER TABLE $S.messages DISABLE TRIGGER ALL;`);
    const { findings } = await run(s);
    expect(findings.map((f) => [kindOf(f), f.object]).sort()).toEqual([
      ['disabled:count_messages', { schema: s, table: 'messages', trigger: 'count_messages' }],
      ['disabled:search_index', { schema: s, table: 'messages', trigger: 'search_index' }],
    ]);
    for (const f of findings) {
      // messages is the child of one key and the parent of another: both are off.
      expect(f.details?.alsoSwitchedOff).toEqual([
        { constraint: 'attachments_message_fk', kind: 'foreign key', schema: s, table: 'attachments' },
        { constraint: 'messages_session_fk', kind: 'foreign key', schema: s, table: 'messages' },
        { constraint: 'messages_position_key', kind: 'unique', schema: s, table: 'messages' },
      ]);
      expect(f.message).toMatch(
        /internal triggers are switched off too \(as DISABLE TRIGGER ALL does\): foreign keys attachments_message_fk \(on dt_\d+\.attachments\), messages_session_fk \(on dt_\d+\.messages\), which orphan-rows verifies, and the deferred check of unique constraint messages_position_key \(on dt_\d+\.messages\)$/,
      );
      // Only this trigger is enabled: the foreign keys are orphan-rows' repair.
      expect(f.fix?.steps.map((st) => st.sql)).toEqual([`ALTER TABLE "${s}"."messages" ENABLE TRIGGER "${String(f.details?.trigger)}";`]);
      expect(f.fix?.steps[0]?.decision).toMatch(/stay off \(orphan-rows' repair re-enables/);
    }
  });

  it('a constraint trigger is a user trigger', async () => {
    const s = await scenario(`
      CREATE TABLE $S.ledger (id int PRIMARY KEY, amount numeric);
      CREATE CONSTRAINT TRIGGER balanced AFTER INSERT OR UPDATE ON $S.ledger DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.ledger DISABLE TRIGGER balanced;`);
    const { findings } = await run(s);
    expect(findings.map(outline)).toEqual([
      {
        kind: 'disabled:balanced',
        severity: 'warning',
        object: { schema: s, table: 'ledger', trigger: 'balanced' },
        count: null,
        samples: [],
        fix: [['review', 'transaction', `ALTER TABLE "${s}"."ledger" ENABLE TRIGGER "balanced";`]],
      },
    ]);
    expect(findings[0]?.message).toMatch(/^constraint trigger balanced on table dt_\d+\.ledger \(AFTER INSERT OR UPDATE DEFERRABLE INITIALLY DEFERRED FOR EACH ROW, /);
    expect(findings[0]?.details?.constraintTrigger).toBe(true);
  });

  it('a trigger on a foreign table, and none on a table an extension owns', async () => {
    const s = await scenario(`
      CREATE FOREIGN DATA WRAPPER $S_fdw;
      CREATE SERVER $S_server FOREIGN DATA WRAPPER $S_fdw;
      CREATE FOREIGN TABLE $S.remote (id int) SERVER $S_server;
      CREATE TRIGGER remote_check BEFORE INSERT ON $S.remote FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER FOREIGN TABLE $S.remote DISABLE TRIGGER remote_check;
      CREATE TABLE $S.owned (id int);
      CREATE TRIGGER owned_trigger AFTER INSERT ON $S.owned FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.owned DISABLE TRIGGER owned_trigger;
      ALTER EXTENSION plpgsql ADD TABLE $S.owned;`);
    try {
      const { findings } = await run(s);
      expect(findings.map(outline)).toEqual([
        {
          kind: 'disabled:remote_check',
          severity: 'warning',
          object: { schema: s, table: 'remote', trigger: 'remote_check' },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER FOREIGN TABLE "${s}"."remote" ENABLE TRIGGER "remote_check";`]],
        },
      ]);
      expect(findings[0]?.message).toMatch(/ on foreign table /);
    } finally {
      await query(db.url, `ALTER EXTENSION plpgsql DROP TABLE ${s}.owned`);
    }
  });

  describe('partitioned tables', () => {
    const tree = `
      CREATE TABLE $S.events (id int, at date) PARTITION BY RANGE (at);
      CREATE TABLE $S.events_2025 PARTITION OF $S.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      CREATE TABLE $S.events_2026 PARTITION OF $S.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE TABLE $S.events_2027 PARTITION OF $S.events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
      CREATE TRIGGER fan_out AFTER INSERT ON $S.events FOR EACH ROW EXECUTE FUNCTION $S.touch();`;

    it('disabled on the partitioned table (and so on every clone): one finding, one recursive repair', async () => {
      const s = await scenario(`${tree}
        ALTER TABLE $S.events DISABLE TRIGGER fan_out;`);
      const { findings, result } = await run(s);
      expect(findings.map(outline)).toEqual([
        {
          kind: 'disabled:fan_out',
          severity: 'warning',
          object: { schema: s, table: 'events', trigger: 'fan_out' },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER TABLE "${s}"."events" ENABLE TRIGGER "fan_out";`]],
        },
      ]);
      expect(findings[0]?.message).toBe(
        `trigger fan_out on partitioned table ${s}.events (AFTER INSERT FOR EACH ROW, function ${s}.touch()) is disabled, and so are its clones on all 3 partitions (${s}.events_2025, ${s}.events_2026, ${s}.events_2027): for their rows it never fires; partitions created or attached from now on get it disabled too`,
      );
      expect(findings[0]?.details?.partitions).toEqual(['events_2025', 'events_2026', 'events_2027'].map((table) => ({ schema: s, table })));
      expect(result.note).toBe('examined 4 user triggers on 4 tables (3 of them clones on partitions)');
    });

    it('two levels of partitions disabled from the top: one finding, and its repair enables every level', async () => {
      const s = await scenario(`
        CREATE TABLE $S.events (id int, at date, region text) PARTITION BY RANGE (at);
        CREATE TABLE $S.events_2025 PARTITION OF $S.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY LIST (region);
        CREATE TABLE $S.events_2025_eu PARTITION OF $S.events_2025 FOR VALUES IN ('eu');
        CREATE TABLE $S.events_2025_us PARTITION OF $S.events_2025 FOR VALUES IN ('us');
        CREATE TABLE $S.events_2026 PARTITION OF $S.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        CREATE TRIGGER fan_out AFTER INSERT ON $S.events FOR EACH ROW EXECUTE FUNCTION $S.touch();
        ALTER TABLE $S.events DISABLE TRIGGER fan_out;`);
      const { findings } = await run(s);
      expect(findings.map((f) => [kindOf(f), f.object.table, f.fix?.steps.map((st) => st.sql)])).toEqual([
        ['disabled:fan_out', 'events', [`ALTER TABLE "${s}"."events" ENABLE TRIGGER "fan_out";`]],
      ]);
      expect(findings[0]?.message).toMatch(/so are its clones on all 4 partitions /);
      await query(db.url, findings[0]?.fix?.steps[0]?.sql ?? '');
      expect(await query(db.url, `SELECT DISTINCT tgenabled AS e FROM pg_trigger WHERE tgname = 'fan_out' AND tgrelid::regclass::text LIKE '${s}.%'`)).toEqual([{ e: 'O' }]);
      expect((await run(s)).findings).toEqual([]);
    });

    it('a clone disabled on one partition alone is a finding on that partition', async () => {
      const s = await scenario(`${tree}
        ALTER TABLE $S.events_2026 DISABLE TRIGGER fan_out;`);
      const { findings } = await run(s);
      expect(findings.map(outline)).toEqual([
        {
          kind: 'disabled:fan_out',
          severity: 'warning',
          object: { schema: s, table: 'events_2026', trigger: 'fan_out' },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER TABLE "${s}"."events_2026" ENABLE TRIGGER "fan_out";`]],
        },
      ]);
      expect(findings[0]?.message).toMatch(new RegExp(`^trigger fan_out on partition ${s}\\.events_2026 .* is disabled: it never fires; on this partition alone \\(on ${s}\\.events it is enabled\\)$`));
    });

    it('the partitioned table and one clone disabled, another clone ALWAYS, one REPLICA: ONLY on what the finding covers, the rest left alone', async () => {
      const s = await scenario(`${tree}
        ALTER TABLE $S.events_2025 DISABLE TRIGGER fan_out;
        ALTER TABLE ONLY $S.events DISABLE TRIGGER fan_out;
        ALTER TABLE $S.events_2026 ENABLE ALWAYS TRIGGER fan_out;
        ALTER TABLE $S.events_2027 ENABLE REPLICA TRIGGER fan_out;`);
      const { findings } = await run(s);
      expect(findings.map(outline)).toEqual([
        {
          kind: 'disabled:fan_out',
          severity: 'warning',
          object: { schema: s, table: 'events', trigger: 'fan_out' },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER TABLE ONLY "${s}"."events" ENABLE TRIGGER "fan_out";\nALTER TABLE ONLY "${s}"."events_2025" ENABLE TRIGGER "fan_out";`]],
        },
        {
          kind: 'replica-only:fan_out',
          severity: 'warning',
          object: { schema: s, table: 'events_2027', trigger: 'fan_out' },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER TABLE "${s}"."events_2027" ENABLE TRIGGER "fan_out";`]],
        },
      ]);
      expect(findings[0]?.message).toMatch(
        new RegExp(`clones on 1 of the 3 partitions \\(${s}\\.events_2025\\): .*; on ${s}\\.events_2026 \\(enabled ALWAYS\\), ${s}\\.events_2027 \\(enabled REPLICA only\\) it is not disabled$`),
      );
      expect(findings[0]?.details?.partitionsInOtherStates).toEqual([
        { schema: s, table: 'events_2026', enabled: 'A' },
        { schema: s, table: 'events_2027', enabled: 'R' },
      ]);
      // Applied, the repairs leave the ALWAYS clone as it was.
      for (const f of findings) for (const st of f.fix?.steps ?? []) await query(db.url, st.sql);
      expect((await run(s)).findings).toEqual([]);
      expect(await query(db.url, `SELECT tgrelid::regclass::text AS t, tgenabled AS e FROM pg_trigger WHERE tgname = 'fan_out' AND tgrelid::regclass::text LIKE '${s}.%' ORDER BY 1`)).toEqual([
        { t: `${s}.events`, e: 'O' },
        { t: `${s}.events_2025`, e: 'O' },
        { t: `${s}.events_2026`, e: 'A' },
        { t: `${s}.events_2027`, e: 'O' },
      ]);
    });

    it('disabled on the partitioned table alone: its clones fire, but new partitions would not', async () => {
      const s = await scenario(`${tree}
        ALTER TABLE ONLY $S.events DISABLE TRIGGER fan_out;`);
      const { findings } = await run(s);
      expect(findings.map((f) => [kindOf(f), f.object.table, f.fix?.steps.map((st) => st.sql)])).toEqual([
        ['disabled:fan_out', 'events', [`ALTER TABLE ONLY "${s}"."events" ENABLE TRIGGER "fan_out";`]],
      ]);
      expect(findings[0]?.message).toMatch(/is disabled on the partitioned table alone, not on its partitions: partitions created or attached from now on get it disabled too; on .* it is not disabled$/);
      await query(db.url, `CREATE TABLE ${s}.events_2028 PARTITION OF ${s}.events FOR VALUES FROM ('2028-01-01') TO ('2029-01-01')`);
      expect(await query(db.url, `SELECT tgenabled AS e FROM pg_trigger WHERE tgrelid = '${s}.events_2028'::regclass`)).toEqual([{ e: 'D' }]);
    });
  });

  describe('session_replication_role = replica set for sessions of this database', () => {
    const role = `integrity_dt_loader_${process.pid}`;
    afterAll(async () => {
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    });

    it('on a role: origin triggers are reported per table (not ALWAYS ones); a REPLICA trigger says it fires for those sessions', async () => {
      const s = await scenario(`
        CREATE TABLE $S.users (id int PRIMARY KEY);
        CREATE TRIGGER create_profile AFTER INSERT ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.touch();
        CREATE TRIGGER stamp BEFORE UPDATE ON $S.users FOR EACH ROW EXECUTE FUNCTION $S.touch();
        CREATE TABLE $S.audit_log (id int);
        CREATE TRIGGER always_audit AFTER INSERT ON $S.audit_log FOR EACH ROW EXECUTE FUNCTION $S.touch();
        ALTER TABLE $S.audit_log ENABLE ALWAYS TRIGGER always_audit;
        CREATE TABLE $S.replicated (id int);
        CREATE TRIGGER on_apply AFTER INSERT ON $S.replicated FOR EACH ROW EXECUTE FUNCTION $S.touch();
        ALTER TABLE $S.replicated ENABLE REPLICA TRIGGER on_apply;`);
      // The look-alike first: with no such setting, origin triggers are not reported.
      expect((await run(s)).findings.map(kindOf)).toEqual(['replica-only:on_apply']);
      await query(adminUrl(), `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN`);
      await query(adminUrl(), `ALTER ROLE ${role} IN DATABASE ${db.name} SET session_replication_role = replica`);
      try {
        const { findings } = await run(s);
        expect(findings.map(outline)).toEqual([
          { kind: 'replica-only:on_apply', severity: 'warning', object: { schema: s, table: 'replicated', trigger: 'on_apply' }, count: null, samples: [], fix: [['review', 'transaction', `ALTER TABLE "${s}"."replicated" ENABLE TRIGGER "on_apply";`]] },
          { kind: 'replica-sessions', severity: 'warning', object: { schema: s, table: 'users' }, count: null, samples: [], fix: null },
        ]);
        const place = `session_replication_role = replica is set for role ${ident(role)} in this database (ALTER ROLE ... SET)`;
        expect(findings[0]?.message).toMatch(new RegExp(`never for ordinary sessions \\(here: ${place.replace(/[.()]/g, '\\$&')}\\)$`));
        expect(findings[1]?.message).toBe(
          `trigger create_profile (AFTER INSERT FOR EACH ROW, function ${s}.touch()), trigger stamp (BEFORE UPDATE FOR EACH ROW, function ${s}.touch()) on table ${s}.users fire only in origin mode, so not for the sessions where ${place}: what they do is skipped for every row those sessions write`,
        );
        expect(findings[1]?.details).toEqual({
          triggers: [
            { trigger: 'create_profile', timing: 'AFTER', events: 'INSERT', function: { schema: s, name: 'touch' } },
            { trigger: 'stamp', timing: 'BEFORE', events: 'UPDATE', function: { schema: s, name: 'touch' } },
          ],
          replicationRole: [place],
        });
      } finally {
        await query(adminUrl(), `ALTER ROLE ${role} IN DATABASE ${db.name} RESET session_replication_role`);
      }
      expect((await run(s)).findings.map(kindOf)).toEqual(['replica-only:on_apply']);
    });

    it('on the database: a partitioned table is one finding, with its clones', async () => {
      const s = await scenario(`
        CREATE TABLE $S.events (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE $S.events_a PARTITION OF $S.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE $S.events_b PARTITION OF $S.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        CREATE TRIGGER fan_out AFTER INSERT ON $S.events FOR EACH ROW EXECUTE FUNCTION $S.touch();`);
      await query(adminUrl(), `ALTER DATABASE ${db.name} SET session_replication_role = replica`);
      try {
        const { findings } = await run(s);
        expect(findings.map((f) => [kindOf(f), f.object.table])).toEqual([['replica-sessions', 'events']]);
        expect(findings[0]?.message).toMatch(/^trigger fan_out \(AFTER INSERT FOR EACH ROW, function dt_\d+\.touch\(\), with its clones on 2 partitions\) on partitioned table .* set on this database \(ALTER DATABASE \.\.\. SET\): /);
      } finally {
        await query(adminUrl(), `ALTER DATABASE ${db.name} RESET session_replication_role`);
      }
      expect((await run(s)).findings).toEqual([]);
    });
  });

  it('a logical-replication subscription of this database is named in the REPLICA decision', async () => {
    const s = await scenario(`
      CREATE TABLE $S.mirrored (id int);
      CREATE TRIGGER on_apply AFTER INSERT ON $S.mirrored FOR EACH ROW EXECUTE FUNCTION $S.touch();
      ALTER TABLE $S.mirrored ENABLE REPLICA TRIGGER on_apply;`);
    const sub = `integrity_dt_sub_${process.pid}`;
    // Never connects: no publisher is needed for the catalog row.
    await query(db.url, `CREATE SUBSCRIPTION ${sub} CONNECTION 'host=127.0.0.1 dbname=none' PUBLICATION none WITH (connect = false)`);
    try {
      const { findings } = await run(s);
      expect(findings.map(kindOf)).toEqual(['replica-only:on_apply']);
      expect(findings[0]?.details?.subscriptions).toEqual([sub]);
      expect(findings[0]?.fix?.steps[0]?.decision).toContain(`this database has subscription ${sub}`);
    } finally {
      await query(db.url, `ALTER SUBSCRIPTION ${sub} SET (slot_name = NONE); DROP SUBSCRIPTION ${sub}`);
    }
  });

  it('a disabled event trigger is not reported, but named in the note', async () => {
    const s = await scenario(`CREATE TABLE $S.plain (id int);`);
    const evt = `integrity_dt_guard_${process.pid}`;
    await query(
      db.url,
      `CREATE FUNCTION ${s}.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$;
       CREATE EVENT TRIGGER ${evt} ON ddl_command_start EXECUTE FUNCTION ${s}.on_ddl();
       ALTER EVENT TRIGGER ${evt} DISABLE;`,
    );
    try {
      const { findings, result } = await run(s);
      expect(findings).toEqual([]);
      expect(result.note).toBe(`examined 0 user triggers on 0 tables; event trigger ${evt} (disabled) not reported (they act on DDL, not rows)`);
    } finally {
      await query(db.url, `DROP EVENT TRIGGER ${evt}`);
    }
  });

  describe.skipIf(!HAS_PSQL)('hostile names, and the repair round trip through the real fix script (needs psql)', () => {
    const schema = 'Billing Dept';
    const table = 'Invoice Line';
    const trigger = 'it\'s "on"\nreally; -- */';
    const partitioned = 'Ledger\nPart';

    /** The review statements, uncommented as a person who accepts them would. */
    function accepted(script: string): string {
      const out: string[] = [];
      let inReview = false;
      for (const line of script.split('\n')) {
        if (line === '-- Uncomment to run:') {
          inReview = true;
          out.push(line);
          continue;
        }
        if (inReview && line.startsWith('-- ')) out.push(line.slice(3));
        else {
          inReview = false;
          out.push(line);
        }
      }
      return out.join('\n');
    }

    async function triggerStates(): Promise<{ t: string; name: string; e: string; xmin: string }[]> {
      return query(
        db.url,
        `SELECT c.relname AS t, tg.tgname AS name, tg.tgenabled AS e, tg.xmin::text AS xmin FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
          WHERE c.relnamespace = $1::regnamespace AND NOT tg.tgisinternal ORDER BY c.relname::text COLLATE "C", tg.tgname::text COLLATE "C"`,
        [ident(schema)],
      );
    }

    it('quoted everywhere, no raw line end; fix writes it, the accepted script clears it, a second run changes nothing', async () => {
      const S = ident(schema);
      await query(
        db.url,
        `CREATE SCHEMA ${S};
         CREATE FUNCTION ${S}.${ident('sync "line"\nfn')}() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
         CREATE TABLE ${S}.${ident(table)} (id int PRIMARY KEY, ${ident('it"s')} int);
         CREATE TRIGGER ${ident(trigger)} AFTER UPDATE OF ${ident('it"s')} ON ${S}.${ident(table)} FOR EACH ROW EXECUTE FUNCTION ${S}.${ident('sync "line"\nfn')}();
         ALTER TABLE ${S}.${ident(table)} DISABLE TRIGGER ${ident(trigger)};
         CREATE TABLE ${S}.${ident(partitioned)} (id int, at int) PARTITION BY RANGE (at);
         CREATE TABLE ${S}.${ident('Ledger 1')} PARTITION OF ${S}.${ident(partitioned)} FOR VALUES FROM (0) TO (10);
         CREATE TABLE ${S}.${ident('Ledger 2')} PARTITION OF ${S}.${ident(partitioned)} FOR VALUES FROM (10) TO (20);
         CREATE TRIGGER ${ident(trigger)} AFTER INSERT ON ${S}.${ident(partitioned)} FOR EACH ROW EXECUTE FUNCTION ${S}.${ident('sync "line"\nfn')}();
         ALTER TABLE ${S}.${ident(partitioned)} ENABLE REPLICA TRIGGER ${ident(trigger)};
         ALTER TABLE ${S}.${ident('Ledger 2')} DISABLE TRIGGER ${ident(trigger)};`,
      );
      const { findings } = await run(schema);
      const escaped = `U&"it's ""on""\\000areally; -- */"`;
      expect(findings.map(outline)).toEqual([
        {
          kind: `disabled:${trigger}`,
          severity: 'warning',
          object: { schema, table, trigger },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER TABLE "Billing Dept"."Invoice Line" ENABLE TRIGGER ${escaped};`]],
        },
        {
          kind: `replica-only:${trigger}`,
          severity: 'warning',
          object: { schema, table: partitioned, trigger },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER TABLE ONLY "Billing Dept".U&"Ledger\\000aPart" ENABLE TRIGGER ${escaped};\nALTER TABLE ONLY "Billing Dept"."Ledger 1" ENABLE TRIGGER ${escaped};`]],
        },
        {
          kind: `disabled:${trigger}`,
          severity: 'warning',
          object: { schema, table: 'Ledger 2', trigger },
          count: null,
          samples: [],
          fix: [['review', 'transaction', `ALTER TABLE "Billing Dept"."Ledger 2" ENABLE TRIGGER ${escaped};`]],
        },
      ]);
      for (const f of findings) expect(f.message).not.toMatch(/[\n\r]/);
      expect(findings[0]?.message).toBe(
        `trigger ${escaped} on table "Billing Dept"."Invoice Line" (AFTER UPDATE OF "it""s" FOR EACH ROW, function "Billing Dept".U&"sync ""line""\\000afn"()) is disabled: it never fires`,
      );

      const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-dt-'));
      const file = path.join(dir, 'fix.sql');
      const fix = await runCli(['fix', '-d', db.url, '--check', CHECK, '--schema', schema, '--output', file]);
      expect(fix.stderr).toBe('');
      const script = readFileSync(file, 'utf8');
      await expectScriptRunsOnlyPlanned(script, await runAuditWithRepairs(auditOptions(db.url, { checks: [CHECK], schemas: [schema] })));
      // As written (review statements commented out) it runs and changes nothing.
      const before = await triggerStates();
      psqlFile(db.url, file);
      expect(await triggerStates()).toEqual(before);

      const acceptedFile = path.join(dir, 'accepted.sql');
      writeFileSync(acceptedFile, accepted(script));
      psqlFile(db.url, acceptedFile);
      expect((await run(schema)).findings).toEqual([]);
      const after = await triggerStates();
      expect(after.map((r) => [r.t, r.e])).toEqual([
        ['Invoice Line', 'O'],
        [partitioned, 'O'],
        ['Ledger 1', 'O'],
        ['Ledger 2', 'O'],
      ]);
      // A second run: ENABLE TRIGGER on an enabled trigger does not even rewrite its catalog row.
      psqlFile(db.url, acceptedFile);
      expect(await triggerStates()).toEqual(after);
    });
  });
});

describe('disabled-triggers on pagila (a real schema with last_updated triggers on most tables)', () => {
  const read = (file: string) => readFileSync(path.join(REAL, file), 'utf8');
  const db = useDatabase('dt_pagila', { sql: [read('pagila-schema.sql'), read('pagila-sample-data.sql')] });

  it('reports nothing as loaded, and exactly the trigger switched off afterwards', async () => {
    const report = await audit(db.url, { checks: [CHECK] });
    const result = checkResult(report, CHECK);
    expect(result.status).toBe('passed');
    expect(report.findings).toEqual([]);
    const triggers = await query<{ n: string }>(
      db.url,
      `SELECT count(*)::text AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace`,
    );
    expect(Number(triggers[0]?.n)).toBeGreaterThan(10);
    expect(result.note).toMatch(new RegExp(`^examined ${triggers[0]?.n} user triggers on \\d+ tables$`));

    await query(db.url, 'ALTER TABLE public.film DISABLE TRIGGER film_fulltext_trigger');
    try {
      const after = await audit(db.url, { checks: [CHECK] });
      expect(after.findings.map((f) => [kindOf(f), f.object])).toEqual([['disabled:film_fulltext_trigger', { schema: 'public', table: 'film', trigger: 'film_fulltext_trigger' }]]);
      expect(after.findings[0]?.message).toMatch(/^trigger film_fulltext_trigger on table public\.film \(BEFORE INSERT OR UPDATE FOR EACH ROW, function pg_catalog\.tsvector_update_trigger\(\)\) is disabled/);
    } finally {
      await query(db.url, 'ALTER TABLE public.film ENABLE TRIGGER film_fulltext_trigger');
    }
  });
});
