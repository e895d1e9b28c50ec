import { describe, expect, it } from 'vitest';
import { audit, checkResult, query, useDatabase } from '../helpers/db.js';

/**
 * "Casts that cannot fail": a cast that only integer text reaches is info at most, with the guard in
 * details; look-alikes that do not guard stay error. Every guard here is also exercised against the
 * server: what the check calls guarded accepts 1.38, what it calls an error rejects a real value.
 */
describe('jsonb-int-cast-index: guarded casts are info, look-alikes stay error', () => {
  const db = useDatabase('intcast_guards', {
    sql: [
      `CREATE TABLE g (id int PRIMARY KEY, meta jsonb, other jsonb);
       -- guarded: the partial-index predicate
       CREATE INDEX g_pred_signed ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^-?[0-9]+$';
       CREATE INDEX g_pred_digits ON g (((meta->>'k')::bigint)) WHERE (meta->>'k') ~ '^[0-9]+$';
       CREATE INDEX g_pred_and ON g (((meta->>'k')::int)) WHERE id > 0 AND (meta->>'k') ~ '^[+-]?[0-9]+$';
       CREATE INDEX g_pred_or_both ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^[0-9]+$' OR (meta->>'k') ~ '^-[0-9]+$';
       CREATE INDEX g_pred_c_digit ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ ('^\\d+$' COLLATE "C");
       CREATE INDEX g_pred_smallint5 ON g (((meta->>'k')::smallint)) WHERE (meta->>'k') ~ '^[0-9]{1,5}$';
       -- guarded: CASE
       CREATE INDEX g_case ON g ((CASE WHEN (meta->>'k') ~ '^-?[0-9]+$' THEN (meta->>'k')::int END));
       CREATE INDEX g_case_else ON g ((CASE WHEN (meta->>'k') !~ '^[0-9]+$' THEN NULL ELSE (meta->>'k')::int END));
       ALTER TABLE g ADD CONSTRAINT g_check_case CHECK (CASE WHEN (meta->>'n') ~ '^[0-9]+$' THEN (meta->>'n')::int > 0 ELSE true END);
       ALTER TABLE g ADD COLUMN g_gen int GENERATED ALWAYS AS (CASE WHEN (meta->>'g') ~ '^-?[0-9]+$' THEN (meta->>'g')::int END) STORED;
       -- cannot fail at all: the pattern bounds the digits to what integer holds
       CREATE INDEX g_bounded ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^-?[0-9]{1,9}$';
       -- look-alikes that do not guard
       CREATE INDEX g_unanchored ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '[0-9]+';
       CREATE INDEX g_start_only ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^[0-9]+';
       CREATE INDEX g_dot ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^-?[0-9.]+$';
       CREATE INDEX g_empty ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^[0-9]*$';
       CREATE INDEX g_other_key ON g (((meta->>'k')::int)) WHERE (meta->>'j') ~ '^[0-9]+$';
       CREATE INDEX g_other_column ON g (((meta->>'k')::int)) WHERE (other->>'k') ~ '^[0-9]+$';
       CREATE INDEX g_or ON g (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^[0-9]+$' OR id > 0;
       CREATE INDEX g_typeof ON g (((meta->>'k')::int)) WHERE jsonb_typeof(meta->'k') = 'number';
       CREATE INDEX g_same_conjunct ON g (id) WHERE (meta->>'k') ~ '^[0-9]+$' AND (meta->>'k')::int > 0;
       CREATE INDEX g_same_conjunct_after ON g (id) WHERE (meta->>'k')::int > 0 AND (meta->>'k') ~ '^[0-9]+$';
       CREATE INDEX g_case_other_key ON g ((CASE WHEN (meta->>'j') ~ '^[0-9]+$' THEN (meta->>'k')::int END));
       CREATE INDEX g_case_not_match ON g ((CASE WHEN (meta->>'k') !~ '^[0-9]+$' THEN (meta->>'k')::int END));
       CREATE INDEX g_case_varchar1 ON g ((CASE WHEN (meta->>'k') ~ '^-?[0-9]+$' THEN ((meta->>'k')::varchar(1))::int END));
       CREATE OPERATOR public.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_catalog.textregexne);
       CREATE INDEX g_user_operator ON g (((meta->>'k')::int)) WHERE (meta->>'k') OPERATOR(public.~) '^[0-9]+$';`,
    ],
  });

  const GUARDED: [string, string, 'predicate' | 'case', string, number | null][] = [
    ['index', 'g_case', 'case', '^-?[0-9]+$', null],
    ['index', 'g_case_else', 'case', '^[0-9]+$', null],
    ['index', 'g_pred_and', 'predicate', '^[+-]?[0-9]+$', null],
    ['index', 'g_pred_c_digit', 'predicate', '^\\d+$', null],
    ['index', 'g_pred_digits', 'predicate', '^[0-9]+$', null],
    ['index', 'g_pred_or_both', 'predicate', '^[0-9]+$', null],
    ['index', 'g_pred_signed', 'predicate', '^-?[0-9]+$', null],
    ['index', 'g_pred_smallint5', 'predicate', '^[0-9]{1,5}$', 5],
    ['constraint', 'g_check_case', 'case', '^[0-9]+$', null],
    ['column', 'g_gen', 'case', '^-?[0-9]+$', null],
  ];
  const LOOKALIKES = [
    'g_case_not_match',
    'g_case_other_key',
    'g_case_varchar1',
    'g_dot',
    'g_empty',
    'g_or',
    'g_other_column',
    'g_other_key',
    'g_same_conjunct',
    'g_same_conjunct_after',
    'g_start_only',
    'g_typeof',
    'g_unanchored',
    'g_user_operator',
  ];
  const name = (f: { object: { index?: string; constraint?: string; column?: string } }) => f.object.index ?? f.object.constraint ?? f.object.column;

  it('reports a guarded cast as info with its guard, never error; the look-alikes as error; a bounded pattern not at all', async () => {
    const report = await audit(db.url, { checks: ['jsonb-int-cast-index'] });
    expect(checkResult(report, 'jsonb-int-cast-index').status).toBe('failed');
    const info = report.findings.filter((f) => f.severity === 'info');
    expect(
      info.map((f) => [f.object.index ? 'index' : f.object.constraint ? 'constraint' : 'column', name(f), ...(f.details?.casts as { guard: { by: string; pattern: string; maxDigits: number | null } }[]).flatMap((c) => [c.guard.by, c.guard.pattern, c.guard.maxDigits])]).sort(),
    ).toEqual(GUARDED.map((g) => [...g]).sort());
    expect(info.every((f) => typeof f.details?.reason === 'string' && f.count === null && f.checkId === 'jsonb-int-cast-index')).toBe(true);
    const errors = report.findings.filter((f) => f.severity === 'error');
    expect(errors.map(name).sort()).toEqual(LOOKALIKES);
    expect(errors.flatMap((f) => (f.details?.casts as { guard?: unknown }[]).map((c) => c.guard ?? null))).toEqual(errors.map(() => null));
    expect(errors.every((f) => f.details?.reason === undefined)).toBe(true);
    expect(report.findings.map(name)).not.toContain('g_bounded');
    expect(report.findings).toHaveLength(GUARDED.length + LOOKALIKES.length);
  });

  it('is right about the server: the guarded indexes take 1.38; a huge integer still fails them (22003) unless the digits are bounded', async () => {
    // 1.38 is excluded by every guard (predicate false, or the CASE branch not taken); but it reaches
    // the look-alikes, so those are dropped first. Each look-alike rejects some value on its own.
    const rejects: [string, string][] = [
      ['g_case_not_match', '{"k": 1.38}'],
      ['g_case_other_key', '{"j": 1, "k": 1.38}'],
      ['g_case_varchar1', '{"k": -5}'],
      ['g_dot', '{"k": 1.38}'],
      ['g_empty', '{"k": ""}'],
      ['g_or', '{"k": 1.38}'],
      ['g_other_column', '{"k": 1.38}'],
      ['g_other_key', '{"j": 1, "k": 1.38}'],
      // AND's operands run in no promised order: written after the cast, the match guards nothing.
      ['g_same_conjunct', '{"k": 99999999999}'],
      ['g_same_conjunct_after', '{"k": 1.38}'],
      ['g_start_only', '{"k": 1.38}'],
      ['g_typeof', '{"k": 1.38}'],
      ['g_unanchored', '{"k": 1.38}'],
      ['g_user_operator', '{"k": 1.38}'],
    ];
    expect(rejects.map(([i]) => i)).toEqual(LOOKALIKES);
    const other = (index: string) => (index === 'g_other_column' ? `'{"k": 1}'` : 'NULL');
    const indexes = [...LOOKALIKES, ...GUARDED.filter((g) => g[0] === 'index').map((g) => g[1]), 'g_bounded'];
    for (const [index, meta] of rejects) {
      const keepOnly = `DROP INDEX ${indexes.filter((i) => i !== index).join(', ')}; ALTER TABLE g DROP CONSTRAINT g_check_case`;
      const attempt = `BEGIN; ${keepOnly}; INSERT INTO g (id, meta, other) VALUES (1, '${meta}', ${other(index)}); ROLLBACK;`;
      await expect(query(db.url, attempt), index).rejects.toMatchObject({ code: expect.stringMatching(/^(22P02|22003)$/) });
      // The same row goes in once that index is gone too.
      await query(db.url, `BEGIN; ${keepOnly}; DROP INDEX ${index}; INSERT INTO g (id, meta, other) VALUES (1, '${meta}', ${other(index)}); ROLLBACK;`);
    }
    // Without the look-alikes, every guarded index (and the CHECK and generated column) takes 1.38.
    const guardedOnly = `DROP INDEX ${LOOKALIKES.join(', ')}`;
    await query(db.url, `BEGIN; ${guardedOnly}; INSERT INTO g (id, meta) VALUES (1, '{"k": 1.38, "n": 1.38, "g": 1.38}'); ROLLBACK`);
    await query(db.url, `BEGIN; ${guardedOnly}; INSERT INTO g (id, meta) VALUES (1, '{"k": 42, "n": 7, "g": -3}'); ROLLBACK`);
    // Out of range still fails a guarded cast: why it is info, not nothing.
    await expect(query(db.url, `BEGIN; ${guardedOnly}; INSERT INTO g (id, meta) VALUES (1, '{"k": 99999999999}'); ROLLBACK`)).rejects.toMatchObject({ code: '22003' });
    // ... but not the bounded one, whose predicate leaves such a value out of the index.
    const boundedOnly = `DROP INDEX ${[...LOOKALIKES, ...GUARDED.filter((g) => g[0] === 'index').map((g) => g[1])].join(', ')}`;
    await query(db.url, `BEGIN; ${boundedOnly}; INSERT INTO g (id, meta) VALUES (1, '{"k": 99999999999}'); ROLLBACK`);
  });
});

describe('jsonb-int-cast-index: \\d depends on the collation of the match', () => {
  const db = useDatabase('intcast_guards_collation', {
    sql: [
      `CREATE TABLE h (id int PRIMARY KEY, meta jsonb);
       CREATE INDEX h_default ON h (((meta->>'k')::int)) WHERE (meta->>'k') ~ '^\\d+$';
       CREATE INDEX h_range ON h (((meta->>'k')::int)) WHERE (meta->>'k') ~ ('^[0-9]+$' COLLATE "C");
       DO $$ BEGIN
         IF EXISTS (SELECT FROM pg_collation WHERE collname = 'und-x-icu') THEN
           CREATE INDEX h_icu ON h (((meta->>'k')::int)) WHERE (meta->>'k') ~ ('^\\d+$' COLLATE "und-x-icu");
           CREATE INDEX h_icu_range ON h (((meta->>'k')::int)) WHERE (meta->>'k') ~ ('^[0-9]+$' COLLATE "und-x-icu");
         END IF;
       END $$;`,
    ],
  });

  it('under ICU, \\d is error (it matches ١٢, which the cast rejects) and [0-9] is info; under the libc default \\d is info', async () => {
    const [{ provider, icu }] = (await query<{ provider: string; icu: boolean }>(
      db.url,
      `SELECT datlocprovider::text AS provider, EXISTS (SELECT FROM pg_class WHERE relname = 'h_icu') AS icu FROM pg_database WHERE datname = current_database()`,
    )) as [{ provider: string; icu: boolean }];
    const report = await audit(db.url, { checks: ['jsonb-int-cast-index'] });
    const severities = Object.fromEntries(report.findings.map((f) => [f.object.index, f.severity]));
    expect(severities).toEqual({
      h_default: provider === 'c' ? 'info' : 'error',
      h_range: 'info',
      ...(icu ? { h_icu: 'error', h_icu_range: 'info' } : {}),
    });
    if (icu) {
      await expect(query(db.url, `BEGIN; DROP INDEX h_default; INSERT INTO h VALUES (1, '{"k": "١٢"}'); ROLLBACK`)).rejects.toMatchObject({ code: '22P02' });
      await query(db.url, `BEGIN; DROP INDEX h_icu; INSERT INTO h VALUES (1, '{"k": "١٢"}'); ROLLBACK`);
    }
  });
});
