import { describe, expect, it } from 'vitest';
import { audit, checkResult, query, summarize, useDatabase } from '../helpers/db.js';

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
