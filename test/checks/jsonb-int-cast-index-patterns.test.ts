import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { integerOnlyPattern } from '../../checks/jsonb-int-cast-index.js';
import { query, useDatabase } from '../helpers/db.js';

/**
 * integerOnlyPattern against the real thing: PostgreSQL's regex engine decides what matches, and the
 * integer input functions decide what casts. Every text a proven pattern matches must cast without
 * 22P02; with the digits bounded to the type's range, without any error.
 */

const ALPHABET = ['0', '7', '9', '-', '+', '.', ' ', 'a', 'e', '\n', '١', '３'];
const TEXTS = (() => {
  const out = [''];
  let layer = [''];
  for (let n = 1; n <= 3; n++) {
    layer = layer.flatMap((p) => ALPHABET.map((c) => p + c));
    out.push(...layer);
  }
  return [
    ...out,
    ...['2147483647', '2147483648', '-2147483648', '-2147483649', '999999999', '-999999999', '9999999999', `${'0'.repeat(12)}1`],
    ...['12345678901234567890', '999999999999999999', '9999999999999999999', '32767', '32768', '99999', '٣٤', '１２', ' 12', '12 ', '1e3', '1.0', '+-1', '12\n', 'a\n12'],
  ];
})();

const PROVEN = [
  '^-?[0-9]+$',
  '^[0-9]+$',
  '^\\d+$',
  '^-?\\d+$',
  '^[[:digit:]]+$',
  '^[+-]?[0-9]+$',
  '^(-|\\+)?[0-9]+$',
  '\\A-?\\d+\\Z',
  '^(0|[1-9][0-9]*)$',
  '^[0-9]+$|^-[0-9]+$',
  '^[0-9]{1,9}$',
  '^-?[0-9]{1,9}$',
  '^[0-9][0-9]?$',
  '^-?[0-9]{1,4}$',
  '^-?[0-9]{1,18}$',
];

describe('integerOnlyPattern agrees with PostgreSQL', () => {
  const db = useDatabase('intcast_patterns', {
    sql: [
      `CREATE FUNCTION cast_error(s text, t regtype) RETURNS text LANGUAGE plpgsql AS $$
       BEGIN
         EXECUTE format('SELECT %L::%s', s, t);
         RETURN NULL;
       EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
       END $$;`,
    ],
  });

  /** The texts a pattern matches under a collation, with the error (or null) of each integer cast. */
  async function matches(pattern: string, collation: string) {
    return query<{ s: string; int2: string | null; int4: string | null; int8: string | null }>(
      db.url,
      `SELECT s, cast_error(s, 'int2') AS int2, cast_error(s, 'int4') AS int4, cast_error(s, 'int8') AS int8
         FROM unnest($1::text[]) AS s WHERE s ~ ($2 COLLATE "${collation}")`,
      [TEXTS, pattern],
    );
  }

  it.each(PROVEN)('%s: every text it matches (collation "C") casts without 22P02; within range when the digits are bounded', async (pattern) => {
    const proven = integerOnlyPattern(pattern, true);
    expect(proven).not.toBeNull();
    const rows = await matches(pattern, 'C');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((r) => [r.int2, r.int4, r.int8].includes('22P02')).map((r) => r.s)).toEqual([]);
    const maxDigits = proven?.maxDigits ?? null;
    const bounded = { int2: maxDigits !== null && maxDigits <= 4, int4: maxDigits !== null && maxDigits <= 9, int8: maxDigits !== null && maxDigits <= 18 };
    for (const type of ['int2', 'int4', 'int8'] as const) {
      if (bounded[type]) expect(rows.filter((r) => r[type] !== null).map((r) => [r.s, r[type]])).toEqual([]);
    }
  });

  it('an unbounded pattern does admit an out-of-range value (22003), so a guarded cast is still reported', async () => {
    const rows = await matches('^-?[0-9]+$', 'C');
    expect(rows.filter((r) => r.int4 === '22003').map((r) => r.s)).toContain('2147483648');
  });

  it.each([
    ['[0-9]+', '1.0'],
    ['^[0-9]+', '1.0'],
    ['[0-9]+$', '1.0'],
    ['^-?[0-9.]+$', '1.0'],
    ['^-?[0-9]*$', '-'],
    ['^[0-9]*$', ''],
    ['^[0-9]+$|a', 'a'],
    ['(?n)^[0-9]+$', 'a\n12'],
    ['^--?[0-9]+$', '--7'],
  ])('%s is not proven, and PostgreSQL matches %j with it, which the cast rejects (22P02)', async (pattern, text) => {
    expect(integerOnlyPattern(pattern, true)).toBeNull();
    const rows = await matches(pattern, 'C');
    expect(rows.find((r) => r.s === text)).toMatchObject({ int4: '22P02' });
  });

  it('under an ICU collation \\d and [[:digit:]] match Arabic-Indic digits, which the cast rejects: not proven there', async () => {
    const icu = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM pg_collation WHERE collname = 'und-x-icu'`);
    if (icu[0]?.n !== 1) return; // a server built without ICU has no such collation
    for (const pattern of ['^\\d+$', '^[[:digit:]]+$']) {
      expect(integerOnlyPattern(pattern, false)).toBeNull();
      const rows = await matches(pattern, 'und-x-icu');
      expect(rows.find((r) => r.s === '٣٤')).toMatchObject({ int4: '22P02' });
    }
    // [0-9] stays a code-point range: proven under ICU too, and nothing it matches there fails to parse.
    expect(integerOnlyPattern('^[0-9]+$', false)).not.toBeNull();
    expect((await matches('^[0-9]+$', 'und-x-icu')).filter((r) => r.int4 === '22P02')).toEqual([]);
  });

  it('random patterns built from anchors, digits, signs, dots, groups and quantifiers: whatever is proven holds in PostgreSQL', async () => {
    const token = fc.constantFrom('^', '$', '[0-9]', '\\d', '-', '\\+', '[+-]', '?', '*', '+', '{1,2}', '(', ')', '|', '.', 'a', '[0-9.]', '\\A', '\\Z');
    const patterns = fc.sample(fc.array(token, { minLength: 1, maxLength: 9 }).map((t) => t.join('')), { numRuns: 4000, seed: 20251122 });
    const proven = [...new Set(patterns)].filter((p) => integerOnlyPattern(p, true) !== null);
    // Enough of them to mean something (the generator is biased towards anchored digit runs by chance only).
    expect(proven.length).toBeGreaterThan(20);
    for (const pattern of proven) {
      let rows: Awaited<ReturnType<typeof matches>>;
      try {
        rows = await matches(pattern, 'C');
      } catch {
        continue; // PostgreSQL rejects the pattern: no index can hold it
      }
      expect({ pattern, failing: rows.filter((r) => r.int4 === '22P02').map((r) => r.s) }).toEqual({ pattern, failing: [] });
      const maxDigits = integerOnlyPattern(pattern, true)?.maxDigits ?? null;
      if (maxDigits !== null && maxDigits <= 9) expect({ pattern, failing: rows.filter((r) => r.int4 !== null).map((r) => r.s) }).toEqual({ pattern, failing: [] });
    }
  });
});
