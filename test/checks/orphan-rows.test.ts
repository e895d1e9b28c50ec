import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { CREATE_QUARANTINE_SCHEMA } from '../../src/fix/quarantine.js';
import { sessionPins } from '../../src/fix/script.js';
import { audit, auditOptions, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

const relations = {
  relations: [
    { table: 'llm_call', columns: ['prompt_file_id'], references: { table: 'stored_file', columns: ['id'] } },
    { table: 'llm_call', columns: ['response_file_id'], references: { table: 'stored_file', columns: ['id'] } },
  ],
};

const untrusted = [
  {
    checkId: 'orphan-rows',
    severity: 'error',
    object: {
      schema: 'Billing Dept',
      table: 'Invoice Line',
      columns: ['Tenant', 'Invoice No'],
      constraint: 'Invoice Line → Invoice',
      references: { schema: 'Billing Dept', table: 'Invoice', columns: ['Tenant', 'Invoice No'] },
    },
    count: 2,
    samples: ['["acme", 9]', '["globex", 7]'],
  },
  {
    checkId: 'orphan-rows',
    severity: 'error',
    object: {
      schema: 'public',
      table: 'AssistantChatMessage',
      column: 'sessionId',
      constraint: 'AssistantChatMessage_sessionId_fkey',
      references: { schema: 'public', table: 'AssistantChatSession', columns: ['id'] },
    },
    count: 2,
    samples: ['ses_lost_a'],
  },
  {
    checkId: 'orphan-rows',
    severity: 'error',
    object: {
      schema: 'public',
      table: 'AssistantChatSession',
      column: 'userId',
      constraint: 'AssistantChatSession_userId_fkey',
      references: { schema: 'public', table: 'User', columns: ['id'] },
    },
    count: 2,
    samples: ['api-user-7f3a', 'api-user-9c21'],
  },
  {
    checkId: 'orphan-rows',
    severity: 'error',
    object: {
      schema: 'public',
      table: 'chat_conversations',
      column: 'user_id',
      constraint: 'chat_conversations_user_id_fkey',
      references: { schema: 'public', table: 'user_profiles', columns: ['id'] },
    },
    count: 1,
    samples: ['d78a04ae-a852-4bd8-9ed6-aa927276d190'],
  },
  {
    checkId: 'orphan-rows',
    severity: 'error',
    object: {
      schema: 'public',
      table: 'token_usage_ledger',
      column: 'provider_id',
      constraint: 'token_usage_ledger_provider_id_fkey',
      references: { schema: 'public', table: 'providers', columns: ['id'] },
    },
    count: 1,
    samples: ['a3f5c2e1-9b8d-4e7f-a6c5-b4d3e2f1a0b9'],
  },
];

const declared = {
  checkId: 'orphan-rows',
  severity: 'error',
  object: {
    schema: 'public',
    table: 'llm_call',
    column: 'prompt_file_id',
    references: { schema: 'public', table: 'stored_file', columns: ['id'] },
  },
  count: 1,
  samples: ['cd8a034d-3467-4e4e-9218-e547495b3503'],
};

const replicaLoaded = {
  checkId: 'orphan-rows',
  severity: 'error',
  object: {
    schema: 'public',
    table: 'stored_file',
    column: 'llm_call_id',
    constraint: 'fk_stored_file_llm_call_id',
    references: { schema: 'public', table: 'llm_call', columns: ['id'] },
  },
  count: 2,
  samples: ['6fa38678-4997-4ef1-a79e-8d30426b35eb'],
};

describe('orphan-rows on the incident fixtures', () => {
  const db = useDatabase('orphans', { incidents: 'all' });

  it('verifies NOT VALID constraints and constraints with disabled RI triggers, and nothing trusted', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(checkResult(report, 'orphan-rows').status).toBe('failed');
    expect(summarize(report, 'orphan-rows')).toEqual(untrusted);
    const reasons = report.findings.map((f) => f.details?.reasons);
    expect(reasons).toEqual([
      ['NOT VALID'],
      ['RI triggers disabled on public."AssistantChatMessage"'],
      ['NOT VALID'],
      ['NOT VALID'],
      ['NOT VALID'],
    ]);
  });

  it('verifies relations declared in the config file', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'], config: relations });
    expect(summarize(report, 'orphan-rows')).toEqual([...untrusted.slice(0, 4), declared, untrusted[4]]);
  });

  it('with --deep verifies every foreign key, finding rows loaded with triggers off', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'], config: relations, deep: true });
    expect(summarize(report, 'orphan-rows')).toEqual([...untrusted.slice(0, 4), declared, replicaLoaded, untrusted[4]]);
    expect(report.findings.find((f) => f.object.table === 'stored_file')?.details?.reasons).toEqual(['verified by --deep']);
  });

  it('errors with the reason when a declared relation names a column that does not exist', async () => {
    const report = await audit(db.url, {
      checks: ['orphan-rows'],
      config: { relations: [{ table: 'llm_call', columns: ['nope'], references: { table: 'stored_file', columns: ['id'] } }] },
    });
    const result = checkResult(report, 'orphan-rows');
    expect(result.status).toBe('error');
    expect(result.reason).toContain('column nope not found in public.llm_call');
  });
});

describe('orphan-rows semantics', () => {
  const db = useDatabase('orphan_semantics', {
    sql: [
      `CREATE TABLE parent (a int, b int, PRIMARY KEY (a, b));
       INSERT INTO parent VALUES (1, 1), (1, 2);
       CREATE TABLE child_simple (id int PRIMARY KEY, a int, b int);
       INSERT INTO child_simple VALUES (1, 1, 1), (2, 1, 3), (3, NULL, 3), (4, 9, NULL), (5, 2, 2);
       ALTER TABLE child_simple ADD FOREIGN KEY (a, b) REFERENCES parent NOT VALID;
       CREATE TABLE child_full (id int PRIMARY KEY, a int, b int);
       INSERT INTO child_full VALUES (1, 1, 1), (2, 1, 3), (3, NULL, 3), (4, NULL, NULL);
       ALTER TABLE child_full ADD FOREIGN KEY (a, b) REFERENCES parent MATCH FULL NOT VALID;
       CREATE TABLE clean_child (id int PRIMARY KEY, a int, b int);
       INSERT INTO clean_child VALUES (1, 1, 2);
       ALTER TABLE clean_child ADD FOREIGN KEY (a, b) REFERENCES parent NOT VALID;
       CREATE TABLE trusted_child (id int PRIMARY KEY, a int, b int, FOREIGN KEY (a, b) REFERENCES parent);`,
    ],
  });

  it('MATCH SIMPLE skips keys with a NULL part; MATCH FULL flags partly-NULL keys', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(summarize(report, 'orphan-rows').map((f) => [f.object.table, f.count, f.samples])).toEqual([
      ['child_full', 2, ['[1, 3]', '[null, 3]']],
      ['child_simple', 2, ['[1, 3]', '[2, 2]']],
    ]);
  });

  it('says which references it verified and how many foreign keys it trusted', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'], schemas: ['public'] });
    expect(checkResult(report, 'orphan-rows').note).toMatch(/^verified 3 references; 1 foreign key trusted/);
    const deep = await audit(db.url, { checks: ['orphan-rows'], deep: true });
    expect(checkResult(deep, 'orphan-rows').note).toMatch(/^verified 4 references \(--deep/);
  });
});

describe('orphan-rows on PostgreSQL 18 NOT ENFORCED constraints', () => {
  const db = useDatabase('orphan_not_enforced');

  it('verifies NOT ENFORCED foreign keys (skipped before PostgreSQL 18)', async (ctx) => {
    const [row] = await query<{ v: string }>(db.url, `SELECT current_setting('server_version_num') AS v`);
    if (Number(row?.v) < 180000) ctx.skip();
    await query(
      db.url,
      `CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
       CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p NOT ENFORCED);
       INSERT INTO c VALUES (1, 1), (2, 2), (3, 3);`,
    );
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(summarize(report, 'orphan-rows').map((f) => [f.object.table, f.count, f.samples])).toEqual([['c', 2, ['2', '3']]]);
    expect(report.findings[0]?.details?.reasons).toEqual(['NOT ENFORCED']);
  });
});

describe('orphan-rows on partitions, replica-only triggers and differently spelled types', () => {
  const db = useDatabase('orphan_partitions', {
    sql: [
      `CREATE TABLE evp (id int PRIMARY KEY);
       INSERT INTO evp VALUES (1);
       CREATE TABLE evc (id int, tenant text, p int REFERENCES evp) PARTITION BY LIST (tenant);
       CREATE TABLE evc_a PARTITION OF evc FOR VALUES IN ('a');
       CREATE TABLE evc_b PARTITION OF evc FOR VALUES IN ('b');
       ALTER TABLE evc_a DISABLE TRIGGER ALL;
       INSERT INTO evc VALUES (1, 'a', 42), (2, 'a', 1);
       ALTER TABLE evc_a ENABLE TRIGGER ALL;
       ALTER TABLE evc_a DISABLE TRIGGER ALL;

       CREATE TABLE rp (id int PRIMARY KEY);
       CREATE TABLE rc (id int PRIMARY KEY, rp_id int REFERENCES rp);
       SET session_replication_role = replica;
       INSERT INTO rc VALUES (1, 7);
       RESET session_replication_role;
       DO $$ DECLARE t text; BEGIN
         FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'rc'::regclass AND tgisinternal LOOP
           EXECUTE format('ALTER TABLE rc ENABLE REPLICA TRIGGER %I', t);
         END LOOP;
       END $$;

       CREATE TABLE money_parent (amount numeric(12, 0) PRIMARY KEY);
       CREATE TABLE money_child (id int PRIMARY KEY, amount numeric(12, 2) REFERENCES money_parent);
       INSERT INTO money_parent VALUES (2), (3);
       INSERT INTO money_child VALUES (1, 2.00), (2, 3);
       CREATE TABLE ts_parent (at timestamptz PRIMARY KEY);
       CREATE TABLE ts_child (id int PRIMARY KEY, at timestamp REFERENCES ts_parent);
       INSERT INTO ts_parent VALUES ('2026-01-01 00:00:00+00');
       INSERT INTO ts_child VALUES (1, '2026-01-01 00:00:00');`,
    ],
  });

  it('distrusts keys whose RI triggers are disabled on a partition or fire only in replica mode', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(summarize(report).map((f) => [f.object.table, f.object.constraint, f.count, f.samples])).toEqual([
      ['evc', 'evc_p_fkey', 1, ['42']],
      ['rc', 'rc_rp_id_fkey', 1, ['7']],
    ]);
    expect(report.findings.map((f) => f.details?.reasons)).toEqual([
      ['RI triggers disabled on public.evc_a'],
      ['RI triggers disabled on public.rc'],
    ]);
  });

  it('compares keys natively, so 2.00 matches 2 and timestamp matches timestamptz (--deep)', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'], deep: true });
    expect(summarize(report).map((f) => f.object.table)).toEqual(['evc', 'rc']);
  });
});

/** Runs the statements in one transaction, as the script does, committing unless `rollback`; returns the NOTICEs. */
async function inOneTransaction(url: string, statements: string[], rollback = false): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try {
    await c.query('BEGIN');
    for (const sql of statements) await c.query(sql);
    await c.query(rollback ? 'ROLLBACK' : 'COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  } finally {
    await c.end();
  }
  return notices.filter((n) => n.startsWith('integrity:'));
}

describe('orphan-rows validates its foreign key inside a script that relies on deferred constraints', () => {
  const db = useDatabase('orphan_deferred', {
    sql: [
      `CREATE TABLE public.parent (id int PRIMARY KEY);
       INSERT INTO public.parent VALUES (1), (2);
       CREATE TABLE public.child (id int PRIMARY KEY, parent_id int);
       INSERT INTO public.child VALUES (1, 1), (2, 99), (3, 2), (4, 98);
       ALTER TABLE public.child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES public.parent NOT VALID;
       -- A deferred key referencing the child, from a row that is no orphan: the orphans' delete queues its
       -- checks on child until COMMIT, and ALTER TABLE refuses a table with events queued (55006).
       CREATE TABLE public.child_note (id int PRIMARY KEY, child_id int REFERENCES public.child DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO public.child_note VALUES (1, 1);
       -- The look-alike: NOT VALID, but every row has its parent.
       CREATE TABLE public.clean_child (id int PRIMARY KEY, parent_id int);
       INSERT INTO public.clean_child VALUES (1, 2);
       ALTER TABLE public.clean_child ADD CONSTRAINT clean_child_parent_fk FOREIGN KEY (parent_id) REFERENCES public.parent NOT VALID;
       -- Tables no repair of this check touches, with a deferred foreign key of their own.
       CREATE TABLE public.a (id int PRIMARY KEY);
       CREATE TABLE public.b (id int PRIMARY KEY, a_id int REFERENCES public.a DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO public.a VALUES (1); INSERT INTO public.b VALUES (1, 1);`,
    ],
  });

  const validated = async () =>
    query<{ c: string; v: boolean }>(db.url, `SELECT conname AS c, convalidated AS v FROM pg_constraint WHERE conname IN ('child_parent_fk', 'clean_child_parent_fk') ORDER BY 1`);
  const tables = async () => ({
    a: await query(db.url, 'SELECT id FROM public.a ORDER BY 1'),
    b: await query(db.url, 'SELECT id, a_id FROM public.b ORDER BY 1'),
    child: await query(db.url, 'SELECT id, parent_id FROM public.child ORDER BY 1'),
    child_note: await query(db.url, 'SELECT id, child_id FROM public.child_note ORDER BY 1'),
  });
  const quarantined = async () => {
    const names = await query<{ t: string }>(db.url, `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'integrity_quarantine' ORDER BY 1`);
    return Promise.all(names.map(async ({ t }) => [t.replace(/__.*/, ''), await query(db.url, `SELECT id, parent_id, integrity_check FROM integrity_quarantine."${t}" ORDER BY id`)]));
  };

  it('runs only the child\'s own deferred checks for its VALIDATE, and leaves every deferred constraint deferred after it', async () => {
    const report = await audit(db.url, { checks: ['orphan-rows'] });
    expect(summarize(report, 'orphan-rows')).toEqual([
      {
        checkId: 'orphan-rows',
        severity: 'error',
        object: { schema: 'public', table: 'child', column: 'parent_id', constraint: 'child_parent_fk', references: { schema: 'public', table: 'parent', columns: ['id'] } },
        count: 2,
        samples: ['98', '99'],
      },
    ]);
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    expect(outcome.repairs.map((r) => r.finding.object.table)).toEqual(['child']);
    const steps = outcome.repairs[0]?.repair.steps ?? [];
    // Lock, quarantine table, move, validate: child_note references no orphan, so nothing blocks the delete.
    expect(steps.map((st) => st.safety)).toEqual(['safe', 'safe', 'destructive', 'safe']);
    for (const st of steps) expect(st.sql).not.toMatch(/SET CONSTRAINTS ALL/);
    const script = steps.map((st) => st.sql);
    const validate = script[3] as string;
    expect(validate).toMatch(/^DO \$integrity_validate\$\n/);
    expect(validate).toContain('ALTER TABLE "public"."child" VALIDATE CONSTRAINT "child_parent_fk";');

    // What the fixture holds: after the move, a bare VALIDATE meets child_note's queued checks on child,
    // and the old SET CONSTRAINTS ALL IMMEDIATE first ran b's, queued by a step that a later one resolves.
    const move = [...sessionPins(), CREATE_QUARANTINE_SCHEMA, ...script.slice(0, 3)];
    await expect(inOneTransaction(db.url, [...move, 'ALTER TABLE public.child VALIDATE CONSTRAINT child_parent_fk'], true)).rejects.toMatchObject({ code: '55006' });
    await expect(
      inOneTransaction(db.url, ['DELETE FROM public.a WHERE id = 1', ...move, 'SET CONSTRAINTS ALL IMMEDIATE', 'ALTER TABLE public.child VALIDATE CONSTRAINT child_parent_fk'], true),
    ).rejects.toMatchObject({ code: '23503', constraint: 'b_a_id_fkey' });

    // A script whose earlier step leaves child_note's deferred key violated until a later step: validating
    // child would have to run that check now, so it is not validated and the script goes on.
    const held = await inOneTransaction(
      db.url,
      [...sessionPins(), CREATE_QUARANTINE_SCHEMA, 'INSERT INTO public.child_note VALUES (2, 500)', ...script, 'INSERT INTO public.child VALUES (500, 1)', 'SELECT 1'],
      true,
    );
    expect(held).toEqual([
      expect.stringMatching(/^integrity: not validated now: the deferred checks queued on its table fail at this point of the script \(they run again at COMMIT\): insert or update on table "child_note" violates foreign key constraint "child_note_child_id_fkey"/),
    ]);
    expect(await validated()).toEqual([
      { c: 'child_parent_fk', v: false },
      { c: 'clean_child_parent_fk', v: false },
    ]);

    // The whole repair between steps that rely on deferral: one before it deletes a row of a that b still
    // references, one after it inserts a b whose a comes later; each resolved by a later statement.
    const quiet = await inOneTransaction(db.url, [
      ...sessionPins(),
      CREATE_QUARANTINE_SCHEMA,
      'DELETE FROM public.a WHERE id = 1',
      ...script,
      'INSERT INTO public.b VALUES (2, 7)',
      'INSERT INTO public.a VALUES (7)',
      'DELETE FROM public.b WHERE a_id = 1',
    ]);
    expect(quiet).toEqual([]);
    expect(await validated()).toEqual([
      { c: 'child_parent_fk', v: true },
      { c: 'clean_child_parent_fk', v: false },
    ]);
    const after = await tables();
    expect(after).toEqual({
      a: [{ id: 7 }],
      b: [{ id: 2, a_id: 7 }],
      child: [
        { id: 1, parent_id: 1 },
        { id: 3, parent_id: 2 },
      ],
      child_note: [{ id: 1, child_id: 1 }],
    });
    const copies = [
      [
        'child',
        [
          { id: 2, parent_id: 99, integrity_check: 'orphan-rows' },
          { id: 4, parent_id: 98, integrity_check: 'orphan-rows' },
        ],
      ],
    ];
    expect(await quarantined()).toEqual(copies);
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] }), 'orphan-rows')).toEqual([]);
    expect((await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }))).repairs).toEqual([]);

    // The same script again, in a transaction with child_note's checks queued on child (a child row
    // added and deleted before it): nothing left to move, the VALIDATE's guard skips it, and no row changes.
    const second = await inOneTransaction(db.url, [...sessionPins(), CREATE_QUARANTINE_SCHEMA, 'INSERT INTO public.child VALUES (9, 1)', 'DELETE FROM public.child WHERE id = 9', ...script]);
    expect(second).toEqual([]);
    expect(await tables()).toEqual(after);
    expect(await quarantined()).toEqual(copies);
  });
});

describe('orphan-rows validates a foreign key that is itself deferred', () => {
  const db = useDatabase('orphan_deferred_own', {
    sql: [
      `CREATE TABLE public.dp (id int PRIMARY KEY);
       INSERT INTO public.dp VALUES (1), (2);
       CREATE TABLE public.dc (id int PRIMARY KEY, dp_id int);
       INSERT INTO public.dc VALUES (1, 1), (2, 99);
       ALTER TABLE public.dc ADD CONSTRAINT dc_dp_fk FOREIGN KEY (dp_id) REFERENCES public.dp DEFERRABLE INITIALLY DEFERRED NOT VALID;`,
    ],
  });

  it('runs the key\'s own checks queued on the child for its VALIDATE, and defers the key again after it', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    expect(outcome.repairs.map((r) => [r.finding.object.table, r.finding.count, r.finding.samples])).toEqual([['dc', 1, ['99']]]);
    const script = (outcome.repairs[0]?.repair.steps ?? []).map((st) => st.sql);
    expect(script).toHaveLength(4);
    // An earlier step inserts a row whose deferred check is queued on dc (its parent exists: it passes).
    const before = ['INSERT INTO public.dp VALUES (5)', 'INSERT INTO public.dc VALUES (3, 5)'];
    const move = [...sessionPins(), CREATE_QUARANTINE_SCHEMA, ...before, ...script.slice(0, 3)];
    await expect(inOneTransaction(db.url, [...move, 'ALTER TABLE public.dc VALIDATE CONSTRAINT dc_dp_fk'], true)).rejects.toMatchObject({ code: '55006' });
    // A later step relies on the key being deferred again: a row whose parent comes after it.
    const notices = await inOneTransaction(db.url, [...move, script[3] as string, 'INSERT INTO public.dc VALUES (4, 6)', 'INSERT INTO public.dp VALUES (6)']);
    expect(notices).toEqual([]);
    expect(await query(db.url, `SELECT convalidated AS v FROM pg_constraint WHERE conname = 'dc_dp_fk'`)).toEqual([{ v: true }]);
    expect(await query(db.url, 'SELECT id, dp_id FROM public.dc ORDER BY 1')).toEqual([
      { id: 1, dp_id: 1 },
      { id: 3, dp_id: 5 },
      { id: 4, dp_id: 6 },
    ]);
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] }), 'orphan-rows')).toEqual([]);
  });
});
