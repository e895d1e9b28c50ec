import { describe, expect, it } from 'vitest';
import { audit, summarize, useDatabase } from '../helpers/db.js';

describe('jsonb-int-cast-index on seed 003 and the quoting fixture', () => {
  const db = useDatabase('intcast', {
    incidents: ['000_models_without_pricing.sql', '003_credits_index.sql', '005_quoting_and_lookalikes.sql'],
  });

  it('reports every integer cast of JSON text in indexes, predicates, CHECKs and generated columns, and no look-alike', async () => {
    const report = await audit(db.url, { checks: ['jsonb-int-cast-index'] });
    expect(summarize(report).map((f) => ({ object: f.object, count: f.count, severity: f.severity }))).toEqual([
      { object: { schema: 'Billing Dept', table: 'Invoice Line', index: 'Invoice Line credits', column: 'meta' }, count: null, severity: 'error' },
      { object: { schema: 'public', table: 'model_versions', column: 'credits_int' }, count: null, severity: 'error' },
      { object: { schema: 'public', table: 'model_versions', index: 'idx_model_versions_prioritised', column: 'meta' }, count: null, severity: 'error' },
      { object: { schema: 'public', table: 'model_versions', index: 'idx_model_versions_rank', column: 'meta' }, count: null, severity: 'error' },
      { object: { schema: 'public', table: 'model_versions', constraint: 'model_versions_max_tokens_positive', column: 'meta' }, count: null, severity: 'error' },
      { object: { schema: 'public', table: 'models', index: 'idx_models_meta_credits_per_1k', column: 'meta' }, count: null, severity: 'error' },
    ]);
    const seed = report.findings.find((f) => f.object.index === 'idx_models_meta_credits_per_1k');
    expect(seed?.message).toContain(`meta->>'creditsPer1kTokens' to integer`);
    expect(seed?.message).toContain('a value such as 1.38 makes INSERT and UPDATE fail with 22P02');
    expect(report.findings.map((f) => f.details?.casts)).toEqual([
      [{ expression: `meta->>'Credit''s "Per" Line'`, castType: 'integer', keys: [`Credit's "Per" Line`], column: 'meta' }],
      [{ expression: `meta->>'credits'`, castType: 'integer', keys: ['credits'], column: 'meta' }],
      [{ expression: `jsonb_extract_path_text(meta, 'priority')`, castType: 'integer', keys: ['priority'], column: 'meta' }],
      [{ expression: `meta#>>'{limits,rank}'`, castType: 'bigint', keys: ['limits', 'rank'], column: 'meta' }],
      [{ expression: `meta->>'maxTokens'`, castType: 'smallint', keys: ['maxTokens'], column: 'meta' }],
      [{ expression: `meta->>'creditsPer1kTokens'`, castType: 'integer', keys: ['creditsPer1kTokens'], column: 'meta' }],
    ]);
  });

  it('is right about what fails: the flagged index rejects 1.38 and the numeric look-alike does not', async () => {
    const { query } = await import('../helpers/db.js');
    await expect(
      query(db.url, `INSERT INTO models (id, provider, meta) VALUES ('m-frac', 'openai', '{"creditsPer1kTokens": 1.38}')`),
    ).rejects.toMatchObject({ code: '22P02' });
  });
});

describe('jsonb-int-cast-index on json columns and unusual spellings', () => {
  const db = useDatabase('intcast_json', {
    sql: [
      `CREATE TABLE docs (id int PRIMARY KEY, body json, tags jsonb, code text);
       CREATE INDEX docs_json_int ON docs (((body->>'n')::int8));
       CREATE INDEX docs_elem_int ON docs (((tags->>0)::int));
       CREATE INDEX docs_via_varchar ON docs ((((tags->>'v')::varchar)::int));
       CREATE INDEX docs_via_varchar5 ON docs ((((tags->>'w')::varchar(5))::int));
       CREATE INDEX docs_code_int ON docs ((code::int));
       CREATE INDEX docs_numeric_then_int ON docs ((((tags->>'v')::numeric)::int));`,
    ],
  });

  it('flags json as well as jsonb, array-element keys and casts through varchar; not numeric-then-int', async () => {
    const report = await audit(db.url, { checks: ['jsonb-int-cast-index'] });
    expect(report.findings.map((f) => [f.object.index, f.details?.casts])).toEqual([
      ['docs_elem_int', [{ expression: 'tags->>0', castType: 'integer', keys: ['0'], column: 'tags' }]],
      ['docs_json_int', [{ expression: `body->>'n'`, castType: 'bigint', keys: ['n'], column: 'body' }]],
      ['docs_via_varchar', [{ expression: `tags->>'v'`, castType: 'integer', keys: ['v'], column: 'tags' }]],
      ['docs_via_varchar5', [{ expression: `tags->>'w'`, castType: 'integer', keys: ['w'], column: 'tags' }]],
    ]);
  });
});

describe('jsonb-int-cast-index on partitions and path chains', () => {
  const db = useDatabase('intcast_partitions', {
    sql: [
      `CREATE TABLE ev (id int, part text, meta jsonb) PARTITION BY LIST (part);
       CREATE TABLE ev_a PARTITION OF ev FOR VALUES IN ('a');
       CREATE TABLE ev_b PARTITION OF ev FOR VALUES IN ('b');
       CREATE INDEX ev_a_only ON ev_a (((meta->>'n')::int));
       ALTER TABLE ev_b ADD CONSTRAINT ev_b_m CHECK (((meta->>'m')::int) > 0);
       CREATE INDEX ev_all ON ev (((meta->>'k')::int));
       CREATE INDEX ev_chain ON ev_b ((((meta->'x'->'y')->>'z')::bigint));`,
    ],
  });

  it('reports indexes and CHECKs that exist only on a partition once, and the whole path of a chain', async () => {
    const report = await audit(db.url, { checks: ['jsonb-int-cast-index'] });
    expect(report.findings.map((f) => [f.object.table, f.object.index ?? f.object.constraint, f.details?.casts])).toEqual([
      ['ev', 'ev_all', [{ expression: `meta->>'k'`, castType: 'integer', keys: ['k'], column: 'meta' }]],
      ['ev_a', 'ev_a_only', [{ expression: `meta->>'n'`, castType: 'integer', keys: ['n'], column: 'meta' }]],
      ['ev_b', 'ev_b_m', [{ expression: `meta->>'m'`, castType: 'integer', keys: ['m'], column: 'meta' }]],
      ['ev_b', 'ev_chain', [{ expression: `meta->'x'->'y'->>'z'`, castType: 'bigint', keys: ['x', 'y', 'z'], column: 'meta' }]],
    ]);
  });
});
