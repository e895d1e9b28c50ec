import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs, type RepairEntry } from '../../src/engine/runner.js';
import { verifyRepairs } from '../../src/fix/execute.js';
import { repairSafety } from '../../src/fix/types.js';
import { audit, auditOptions, query, useDatabase } from '../helpers/db.js';

/**
 * "The repair changes the index expression to ::numeric, so queries written with ::int stop using the
 * index": the rebuild is review, and its decision names the predicates to change. The claim is checked on
 * the planner: before the rebuild the ::int query uses the index, after it only the rewritten one does.
 */

async function repairsOf(url: string): Promise<RepairEntry[]> {
  const { repairs } = await runAuditWithRepairs(auditOptions(url, { checks: ['jsonb-int-cast-index'] }));
  return repairs;
}

/** Runs a concurrent step's statements one at a time, outside a transaction, as the fix script would. */
async function runStatements(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The indexes a query's plan reads, with sequential scans made as expensive as the planner allows. */
async function indexesUsed(url: string, sql: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET enable_seqscan = off');
    const plan = (await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`)).rows[0]?.['QUERY PLAN'];
    const out: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        const node = v as Record<string, unknown>;
        if (typeof node['Index Name'] === 'string') out.push(node['Index Name']);
        Object.values(node).forEach(walk);
      }
    };
    walk(plan);
    return out;
  } finally {
    await client.end();
  }
}

/** The `WHERE ... = $1 becomes WHERE ... = $1` pairs a decision names. */
function predicateChanges(decision: string | undefined): [string, string][] {
  return [...(decision ?? '').matchAll(/WHERE (.+?) = \$1 becomes WHERE (.+?) = \$1/g)].map((m) => [m[1] as string, m[2] as string]);
}

describe('jsonb-int-cast-index repair on seed 003 and the quoting fixture', () => {
  const db = useDatabase('intcast_repair_seed', {
    incidents: ['000_models_without_pricing.sql', '003_credits_index.sql', '005_quoting_and_lookalikes.sql'],
  });

  it('every index rebuild is review (no step safe), and names the predicates to change, from the indexed expression', async () => {
    const repairs = await repairsOf(db.url);
    const indexes = repairs.filter((r) => r.finding.object.index);
    expect(indexes.map((r) => r.finding.object.index).sort()).toEqual([
      'Invoice Line credits',
      'idx_model_versions_prioritised',
      'idx_model_versions_rank',
      'idx_models_meta_credits_per_1k',
    ]);
    for (const r of indexes) {
      expect(repairSafety(r.repair)).toBe('review');
      expect(r.repair.steps.map((s) => s.safety)).toEqual(r.repair.steps.map(() => 'review'));
      expect(r.repair.steps.every((s) => typeof s.decision === 'string')).toBe(true);
    }
    const byIndex = new Map(indexes.map((r) => [r.finding.object.index, r.repair.steps[0]?.decision]));
    expect(predicateChanges(byIndex.get('idx_models_meta_credits_per_1k'))).toEqual([
      [`(meta->>'creditsPer1kTokens')::int`, `(meta->>'creditsPer1kTokens')::numeric`],
    ]);
    expect(predicateChanges(byIndex.get('idx_model_versions_rank'))).toEqual([[`(meta#>>'{limits,rank}')::bigint`, `(meta#>>'{limits,rank}')::numeric`]]);
    expect(predicateChanges(byIndex.get('Invoice Line credits'))).toEqual([[`(meta->>'Credit''s "Per" Line')::int`, `(meta->>'Credit''s "Per" Line')::numeric`]]);
    // The cast is in the predicate only: the decision gives the new predicate, as PostgreSQL prints it.
    const [{ pred }] = (await query<{ pred: string }>(db.url, `SELECT pg_get_expr(indpred, indrelid) AS pred FROM pg_index WHERE indexrelid = 'idx_model_versions_prioritised'::regclass`)) as [{ pred: string }];
    expect(predicateChanges(byIndex.get('idx_model_versions_prioritised'))).toEqual([]);
    expect(byIndex.get('idx_model_versions_prioritised')).toContain(pred.replace('::integer', '::numeric'));
    // The report's fix says so too, and the script leaves the statements commented out.
    const report = await audit(db.url, { checks: ['jsonb-int-cast-index'] });
    const fixes = report.findings.filter((f) => f.object.index).map((f) => f.fix);
    expect(fixes.map((f) => f?.safety)).toEqual(fixes.map(() => 'review'));
    for (const f of fixes) expect(f?.sql.split('\n').filter((l) => /CREATE (UNIQUE )?INDEX/.test(l) && !l.startsWith('--'))).toEqual([]);
  });

  it('fix --verify runs none of them (review only) and leaves the findings', async () => {
    const verified = await verifyRepairs(auditOptions(db.url, { checks: ['jsonb-int-cast-index'] }));
    expect(verified.lines.filter((l) => l.object.index).map((l) => l.status)).toEqual(['review only', 'review only', 'review only', 'review only']);
  });
});

describe('jsonb-int-cast-index repair: what the application must change, checked on the planner', () => {
  const db = useDatabase('intcast_repair_planner', {
    sql: [
      `CREATE TABLE p (id int PRIMARY KEY, meta jsonb);
       INSERT INTO p SELECT i, jsonb_build_object('k', i % 100, 'q', i % 7, 'c', i % 50) FROM generate_series(1, 2000) i;
       CREATE INDEX p_key ON p (((meta->>'k')::int));
       CREATE INDEX p_case ON p ((CASE WHEN (meta->>'c') ~ '^[0-9]+$' THEN (meta->>'c')::int END));
       CREATE INDEX p_pred ON p (id) WHERE (meta->>'q')::int > 3;
       ANALYZE p;`,
    ],
  });

  it('before: the ::int queries use the indexes; after the rebuild only the rewritten ones do', async () => {
    const repairs = await repairsOf(db.url);
    const step = (index: string) => repairs.find((r) => r.finding.object.index === index)?.repair.steps[0];
    for (const index of ['p_key', 'p_case', 'p_pred']) expect(step(index)?.safety).toBe('review');

    // The bare key: the decision's own predicates.
    const [[before, after]] = predicateChanges(step('p_key')?.decision) as [[string, string]];
    expect([before, after]).toEqual([`(meta->>'k')::int`, `(meta->>'k')::numeric`]);
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${before} = 5`)).toEqual(['p_key']);

    // The CASE key: the decision quotes the old and the new key expression (as PostgreSQL prints them, on one line).
    const keyChange = /the key expression (.+?) becomes (.+?), and a query must use the new one/.exec(step('p_case')?.decision ?? '');
    const [key, newKey] = [keyChange?.[1] as string, keyChange?.[2] as string];
    expect(key).toMatch(/^\(CASE WHEN .*\(\(meta ->> 'c'::text\)\)::integer ELSE NULL::integer END\)$/);
    expect(newKey).toBe(key.replace(`((meta ->> 'c'::text))::integer`, `((meta ->> 'c'::text))::numeric`));
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${key} = 5`)).toEqual(['p_case']);

    // The predicate: the decision gives the new one.
    const [{ pred }] = (await query<{ pred: string }>(db.url, `SELECT pg_get_expr(indpred, indrelid) AS pred FROM pg_index WHERE indexrelid = 'p_pred'::regclass`)) as [{ pred: string }];
    const newPred = pred.replace('::integer', '::numeric');
    expect(step('p_pred')?.decision).toContain(`the partial-index predicate ${pred} becomes ${newPred}`);
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${pred} AND id < 10`)).toEqual(['p_pred']);

    for (const index of ['p_key', 'p_case', 'p_pred']) await runStatements(db.url, step(index)?.statements ?? []);

    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${before} = 5`)).toEqual([]);
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${after} = 5`)).toEqual(['p_key']);
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${key} = 5`)).toEqual([]);
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${newKey} = 5`)).toEqual(['p_case']);
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${pred} AND id < 10`)).not.toContain('p_pred');
    expect(await indexesUsed(db.url, `SELECT id FROM p WHERE ${newPred} AND id < 10`)).toEqual(['p_pred']);
    // And the defect is gone: 1.38 goes in, and the check has nothing left to say.
    await query(db.url, `INSERT INTO p VALUES (0, '{"k": 1.38, "q": 1.38, "c": 1.38}')`);
    expect((await audit(db.url, { checks: ['jsonb-int-cast-index'] })).findings).toEqual([]);
  });
});

describe('jsonb-int-cast-index repair: the recipes that were already review say the same', () => {
  const db = useDatabase('intcast_repair_recipes', {
    sql: [
      `CREATE TABLE ev (id int, part text, meta jsonb) PARTITION BY LIST (part);
       CREATE TABLE ev_a PARTITION OF ev FOR VALUES IN ('a');
       CREATE INDEX ev_all ON ev (((meta->>'k')::int));
       CREATE TABLE u (id int PRIMARY KEY, meta jsonb);
       CREATE UNIQUE INDEX u_k ON u (((meta->>'k')::bigint));`,
    ],
  });

  it('a partitioned table and a unique index: review, with the predicates to change', async () => {
    const repairs = await repairsOf(db.url);
    const decision = (index: string) => repairs.find((r) => r.finding.object.index === index)?.repair.steps[0]?.decision;
    expect(repairs.map((r) => [r.finding.object.index, repairSafety(r.repair)]).sort()).toEqual([
      ['ev_all', 'review'],
      ['u_k', 'review'],
    ]);
    expect(predicateChanges(decision('ev_all'))).toEqual([[`(meta->>'k')::int`, `(meta->>'k')::numeric`]]);
    expect(predicateChanges(decision('u_k'))).toEqual([[`(meta->>'k')::bigint`, `(meta->>'k')::numeric`]]);
    expect(decision('u_k')).toContain('1 and 1.0');
  });
});
