import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { query, useDatabase } from '../helpers/db.js';
import { findingsOf, preflightJson, repository } from './helpers.js';
import type { PreflightReport } from '../../src/preflight/report.js';

const SEED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/preflight/seed-003');

const PASSED = 'no row of today makes the expression raise (whether PostgreSQL accepts the expression itself, IMMUTABLE, is not judged)';

function outcomesAt(report: PreflightReport, file: string, line: number) {
  return report.preflight.statementsJudged.find((v) => v.location.file === file && v.location.line === line)?.outcomes;
}

describe('preflight: seed 003, its migration judged before its index exists', () => {
  // Seed 000's models, then Plan 208's fractional credits arrive (the seed's own example data), before the index.
  const db = useDatabase('preflight_seed_003', {
    incidents: ['000_models_without_pricing.sql'],
    sql: [`UPDATE models SET meta = '{"creditsPer1kTokens": 1.38, "inputCreditsPerK": 0.19, "outputCreditsPerK": 1.5}' WHERE id = 'gpt-5-chat'`],
  });

  it('says CREATE INDEX ((meta->>\'creditsPer1kTokens\')::int) fails on the 1.38 row, and the ::numeric fix passes', async () => {
    const { run, report } = await preflightJson(db.url, path.dirname(SEED), ['seed-003/20251112120000_credits_index/migration.sql', 'seed-003/20251122000000_fix_credits_index_for_decimals/migration.sql']);
    expect(run.code).toBe(1);
    expect(findingsOf(report, 'preflight/index-expressions')).toEqual([
      {
        rule: 'preflight/index-expressions', severity: 'error', at: 'seed-003/20251112120000_credits_index/migration.sql:2', count: 1, samples: ['gpt-5-chat'],
        object: { schema: 'public', table: 'models', index: 'idx_models_meta_credits_per_1k' },
      },
    ]);
    expect(report.findings.find((f) => f.checkId === 'preflight/index-expressions')?.message).toBe(
      'CREATE INDEX idx_models_meta_credits_per_1k fails now: its expression raises "invalid input syntax for type integer: "1.38"" [22P02] on 1 row of public.models (samples: primary key (id)). ' +
        'Write it so that it cannot raise on the data it will meet (a ::numeric cast instead of ::int for JSON numbers), or repair the rows first. ' +
        "Instead: cast to numeric, which takes 1.38 where an integer cast raises: CREATE INDEX idx_models_meta_credits_per_1k ON public.models USING btree ((CAST(meta ->> 'creditsPer1kTokens' AS numeric)));",
    );
    // The fix: DROP INDEX is not judged (listed); the ::numeric index passes.
    // Each file builds its index on models, which writes then wait for, with no lock_timeout set (a warning).
    expect(outcomesAt(report, 'seed-003/20251122000000_fix_credits_index_for_decimals/migration.sql', 5)).toEqual([
      { rule: 'preflight/index-expressions', status: 'passed', note: PASSED },
      { rule: 'preflight/json-int-casts', status: 'passed' },
      { rule: 'preflight/lock-timeouts', status: 'failed' },
    ]);
    expect(findingsOf(report, 'preflight/lock-timeouts').map((f) => [f.at, f.severity, f.count])).toEqual([
      ['seed-003/20251112120000_credits_index/migration.sql:2', 'warning', 1],
      ['seed-003/20251122000000_fix_credits_index_for_decimals/migration.sql:5', 'warning', 1],
    ]);
    expect(report.preflight.notJudged).toEqual([
      { file: 'seed-003/20251122000000_fix_credits_index_for_decimals/migration.sql', line: 2, statement: 'DROP', reason: 'preflight does not judge DROP statements' },
    ]);
    // Read-only: the index was never built.
    expect(await query(db.url, `SELECT indexname FROM pg_indexes WHERE indexname = 'idx_models_meta_credits_per_1k'`)).toEqual([]);
  });
});

describe('preflight: expressions that raise, and values that do not convert', () => {
  const db = useDatabase('preflight_raises', {
    sql: [
      'CREATE TABLE plans (id int PRIMARY KEY, meta jsonb)',
      // 1.38, text, and a number beyond int4 raise; ' 7 ' (spaces) and a missing key (NULL) do not.
      `INSERT INTO plans VALUES (1, '{"n": "5"}'), (2, '{"n": 1.38}'), (3, '{"n": "abc"}'), (4, '{}'), (5, '{"n": " 7 "}'), (6, '{"n": 99999999999}'), (7, '{"n": -2147483648}')`,
      'CREATE TABLE codes (id int PRIMARY KEY, code text, amount numeric)',
      `INSERT INTO codes VALUES (1, '1', 1), (2, '2', 2.5), (3, 'x12', 3), (4, NULL, 123456), (5, '3.5', 5)`,
      'CREATE TABLE clean_codes (id int PRIMARY KEY, code text)',
      `INSERT INTO clean_codes VALUES (1, '10'), (2, '-3'), (3, NULL)`,
    ],
  });

  it('CREATE INDEX on an expression: the rows it raises on, counted exactly when every row reaches the cast', async () => {
    const root = repository({
      'idx.sql': [
        "CREATE INDEX plans_n ON plans (((meta->>'n')::int));",
        "CREATE INDEX plans_n_big ON plans (((meta->>'n')::bigint));",
        "CREATE INDEX plans_n_case ON plans ((CASE WHEN meta ? 'n' THEN (meta->>'n')::int END));",
        "CREATE INDEX plans_n_text ON plans ((meta->>'n'));",
        "CREATE INDEX plans_n_part ON plans (((meta->>'n')::int)) WHERE id < 3;",
        "CREATE INDEX plans_user ON plans ((public.f(meta)));",
        '',
      ].join('\n'),
    });
    const { run, report } = await preflightJson(db.url, root, ['idx.sql']);
    expect(run.code).toBe(1);
    const plans = (index: string) => ({ schema: 'public', table: 'plans', index });
    expect(findingsOf(report, 'preflight/index-expressions')).toEqual([
      { rule: 'preflight/index-expressions', severity: 'error', at: 'idx.sql:1', count: 3, samples: ['2', '3', '6'], object: plans('plans_n') },
      // bigint reads 99999999999: 1.38 and abc remain.
      { rule: 'preflight/index-expressions', severity: 'error', at: 'idx.sql:2', count: 2, samples: ['2', '3'], object: plans('plans_n_big') },
      // Under a CASE the cast is not reached for every row: it raises, but how many rows is not told.
      { rule: 'preflight/index-expressions', severity: 'error', at: 'idx.sql:3', count: null, samples: [], object: plans('plans_n_case') },
      // A partial index evaluates only the rows of its WHERE: id 1 and 2.
      { rule: 'preflight/index-expressions', severity: 'error', at: 'idx.sql:5', count: 1, samples: ['2'], object: plans('plans_n_part') },
    ]);
    expect(outcomesAt(report, 'idx.sql', 4)).toEqual([
      { rule: 'preflight/index-expressions', status: 'passed', note: PASSED },
      { rule: 'preflight/json-int-casts', status: 'passed' },
    ]);
    expect(outcomesAt(report, 'idx.sql', 6)).toEqual([{ rule: 'preflight/index-expressions', status: 'not-judged', reason: 'not judged: the index expression calls function public.f()' }]);
  });

  it('ALTER COLUMN ... TYPE: the values that do not convert; without USING and without an assignment cast it fails on any data', async () => {
    const root = repository({
      'a.sql': 'ALTER TABLE codes ALTER COLUMN code TYPE integer USING code::integer;\n',
      'b.sql': 'ALTER TABLE codes ALTER COLUMN code TYPE integer;\n',
      'c.sql': 'ALTER TABLE codes ALTER COLUMN amount TYPE numeric(5,2);\n',
      'd.sql': 'ALTER TABLE clean_codes ALTER COLUMN code TYPE bigint USING code::bigint;\n',
      'e.sql': 'ALTER TABLE codes ALTER COLUMN amount TYPE int;\nALTER TABLE codes ALTER COLUMN amount SET NOT NULL;\n',
    });
    const judge = async (file: string) => (await preflightJson(db.url, root, [file])).report;
    const codes = (column: string) => ({ schema: 'public', table: 'codes', column });
    expect(findingsOf(await judge('a.sql'), 'preflight/type-changes')).toEqual([
      { rule: 'preflight/type-changes', severity: 'error', at: 'a.sql:1', count: 2, samples: ['3', '5'], object: codes('code') },
    ]);
    const b = await judge('b.sql');
    expect(findingsOf(b, 'preflight/type-changes')).toEqual([{ rule: 'preflight/type-changes', severity: 'error', at: 'b.sql:1', count: null, samples: [], object: codes('code') }]);
    expect(b.findings[0]?.message).toBe('ALTER COLUMN code TYPE int4 fails now (42804): there is no assignment cast from text to int4, so PostgreSQL will not convert the column without USING (e.g. USING code::int4). Instead: convert it explicitly: ALTER TABLE public.codes ALTER COLUMN code TYPE int USING code::int;');
    // 123456 does not fit numeric(5,2): a numeric overflow, rows not counted (not an integer cast).
    expect(findingsOf(await judge('c.sql'), 'preflight/type-changes')).toEqual([{ rule: 'preflight/type-changes', severity: 'error', at: 'c.sql:1', count: null, samples: [], object: codes('amount') }]);
    // The look-alike converts: every value is an integer.
    const d = await judge('d.sql');
    expect(d.findings).toEqual([]);
    expect(outcomesAt(d, 'd.sql', 1)).toEqual([{ rule: 'preflight/type-changes', status: 'passed' }]);
    // numeric to int rounds (an assignment cast exists, nothing raises); the values changed, so what follows on codes is not judged.
    const e = await judge('e.sql');
    expect(outcomesAt(e, 'e.sql', 1)).toEqual([{ rule: 'preflight/type-changes', status: 'passed' }]);
    expect(outcomesAt(e, 'e.sql', 2)).toEqual([{ rule: 'preflight/nulls', status: 'not-judged', reason: 'the ALTER TABLE at e.sql:1 changes public.codes before this runs' }]);
    // Nothing was converted.
    expect(await query(db.url, `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'codes'::regclass AND attname IN ('code', 'amount') ORDER BY attname`)).toEqual([{ t: 'numeric' }, { t: 'text' }]);
  });
});

describe('preflight: JSON text cast to an integer, which fails later writes whatever today holds', () => {
  // Seed 000 as it was before Plan 208: every creditsPer1kTokens an integer. This is when seed 003's migration passed review and CI.
  const db = useDatabase('preflight_json_int_casts', { incidents: ['000_models_without_pricing.sql'], sql: ['CREATE TABLE codes (id int PRIMARY KEY, code text)'] });

  it("seed 003's migration on integer-only data: no row raises today, and it is still reported, with the ::numeric statement to write instead", async () => {
    const { run, report } = await preflightJson(db.url, path.dirname(SEED), ['seed-003/20251112120000_credits_index/migration.sql', 'seed-003/20251122000000_fix_credits_index_for_decimals/migration.sql']);
    expect(run.code).toBe(1);
    expect(findingsOf(report, 'preflight/index-expressions')).toEqual([]);
    expect(findingsOf(report, 'preflight/json-int-casts')).toEqual([
      {
        rule: 'preflight/json-int-casts', severity: 'error', at: 'seed-003/20251112120000_credits_index/migration.sql:2', count: null, samples: [],
        object: { schema: 'public', table: 'models', column: 'meta', index: 'idx_models_meta_credits_per_1k' },
      },
    ]);
    const f = report.findings.find((x) => x.checkId === 'preflight/json-int-casts');
    expect(f?.details).toEqual({
      casts: [{ expression: "CAST(meta ->> 'creditsPer1kTokens' AS int)", castType: 'integer', column: 'meta', where: 'index key' }],
      instead: "CREATE INDEX idx_models_meta_credits_per_1k ON models USING btree ((CAST(meta ->> 'creditsPer1kTokens' AS numeric)))",
    });
    expect(f?.message).toMatch(/^CAST\(meta ->> 'creditsPer1kTokens' AS int\) \(integer\) in the index key: a JSON number with a fraction \(1\.38\) .* \(an index like this once failed in production the day a price of 1\.38 arrived\)\. Cast to numeric instead: CREATE INDEX/);
    expect(outcomesAt(report, 'seed-003/20251112120000_credits_index/migration.sql', 2)).toEqual([
      { rule: 'preflight/index-expressions', status: 'passed', note: PASSED },
      { rule: 'preflight/json-int-casts', status: 'failed' },
      { rule: 'preflight/lock-timeouts', status: 'failed' },
    ]);
  });

  it('in a CHECK and a generated column of a new table; not for a text column, a numeric cast, or JSON not extracted as text; a CASE is not judged', async () => {
    const root = repository({
      'j.sql': [
        "CREATE TABLE wallets (id int PRIMARY KEY, meta jsonb, credits int GENERATED ALWAYS AS ((meta->>'credits')::int) STORED, CHECK (CAST(meta #>> '{limits,max}' AS bigint) > 0));",
        'CREATE INDEX codes_int ON codes ((code::int));',
        "CREATE INDEX wallets_num ON wallets (((meta->>'credits')::numeric));",
        "CREATE INDEX wallets_case ON wallets ((CASE WHEN meta->>'k' ~ '^[0-9]+$' THEN (meta->>'k')::int END));",
        "ALTER TABLE wallets ADD CONSTRAINT wallets_small CHECK (jsonb_extract_path_text(meta, 'tier')::smallint < 10) NOT VALID;",
        '',
      ].join('\n'),
    });
    const { report } = await preflightJson(db.url, root, ['j.sql']);
    expect(findingsOf(report, 'preflight/json-int-casts').map((f) => [f.at, f.object])).toEqual([
      ['j.sql:1', { schema: 'public', table: 'wallets', column: 'meta' }],
      ['j.sql:5', { schema: 'public', table: 'wallets', column: 'meta' }],
    ]);
    expect(report.findings.find((f) => f.checkId === 'preflight/json-int-casts')?.details?.casts).toEqual([
      { expression: "CAST(meta ->> 'credits' AS int)", castType: 'integer', column: 'meta', where: 'generated column credits' },
      { expression: "CAST(meta #>> '{limits,max}' AS bigint)", castType: 'bigint', column: 'meta', where: 'CHECK' },
    ]);
    // codes.code is text, not JSON: no JSON extraction, nothing to say.
    expect(outcomesAt(report, 'j.sql', 2)).toEqual([{ rule: 'preflight/index-expressions', status: 'passed', note: PASSED }]);
    expect(outcomesAt(report, 'j.sql', 3)).toEqual([
      { rule: 'preflight/index-expressions', status: 'passed', note: 'public.wallets is created at j.sql:3 in this run: empty when this runs, no row to evaluate' },
      { rule: 'preflight/json-int-casts', status: 'passed' },
    ]);
    expect(outcomesAt(report, 'j.sql', 4)?.find((o) => o.rule === 'preflight/json-int-casts')).toEqual({
      rule: 'preflight/json-int-casts',
      status: 'not-judged',
      reason: "CAST(meta ->> 'k' AS int) in the index key is under a CASE: whether only integer text reaches it is not judged (integrity check's jsonb-int-cast-index reads such guards once the object exists)",
    });
  });
});
