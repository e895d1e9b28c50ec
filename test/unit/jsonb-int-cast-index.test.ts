import { describe, expect, it } from 'vitest';
import { findJsonIntCasts, integerOnlyPattern, oneLine, type GuardCatalog, type JsonIntCast } from '../../checks/jsonb-int-cast-index.js';
import type { JsonTextExtractors } from '../../src/db/catalog.js';
import { COLUMNS, TREES } from './pg-node-trees.js';

type TreeName = keyof typeof TREES;

/**
 * What loadJsonTextExtractors (src/db/catalog.ts) returns on PostgreSQL 15: the `->>` and `#>>`
 * operators on json/jsonb from pg_operator, and json(b)_extract_path_text plus the operators' oprcode
 * functions from pg_proc. Built-in OIDs, fixed across releases:
 *   op 3206 #>> (jsonb, text[])  -> oprcode 3940 jsonb_extract_path_text
 *   op 3477 ->> (jsonb, text)    -> oprcode 3214 jsonb_object_field_text
 *   op 3481 ->> (jsonb, integer) -> oprcode 3216 jsonb_array_element_text
 *   op 3963 ->> (json, text)     -> oprcode 3948 json_object_field_text
 *   op 3965 ->> (json, integer)  -> oprcode 3950 json_array_element_text
 *   op 3967 #>> (json, text[])   -> oprcode 3953 json_extract_path_text
 */
const OPERATORS: [string, string][] = [
  ['3206', '#>>'],
  ['3477', '->>'],
  ['3481', '->>'],
  ['3963', '->>'],
  ['3965', '->>'],
  ['3967', '#>>'],
];
const FUNCTIONS: [string, string][] = [
  ['3214', 'jsonb_object_field_text'],
  ['3216', 'jsonb_array_element_text'],
  ['3940', 'jsonb_extract_path_text'],
  ['3948', 'json_object_field_text'],
  ['3950', 'json_array_element_text'],
  ['3953', 'json_extract_path_text'],
];
const PATH_OPERATORS: [string, string][] = [
  ['3211', '->'],
  ['3212', '->'],
  ['3962', '->'],
  ['3964', '->'],
  ['3213', '#>'],
  ['3966', '#>'],
];
const EXTRACTORS: JsonTextExtractors = { operators: new Map(OPERATORS), functions: new Map(FUNCTIONS), pathOperators: new Map(PATH_OPERATORS) };

function casts(name: TreeName, extractors: JsonTextExtractors = EXTRACTORS, columns?: Map<number, string>): JsonIntCast[] {
  const captured = TREES[name];
  return findJsonIntCasts(captured.tree, extractors, columns ?? COLUMNS[captured.table]);
}

const cast = (castType: string, extractor: string, column: string | null, keys: string[] | null, expression: string): JsonIntCast => ({
  castType,
  extractor,
  column,
  keys,
  expression,
});

const LONG_KEY = `this_is_a_very_long_key_name_exceeding_one_hundred_twenty_seven_bytes_${'x'.repeat(67)}`;

describe('findJsonIntCasts: flagged', () => {
  const cases: { tree: TreeName; expected: JsonIntCast[] }[] = [
    // ->> with a text key, in every integer spelling
    { tree: 'textKey', expected: [cast('integer', '->>', 'meta', ['creditsPer1kTokens'], "meta->>'creditsPer1kTokens'")] },
    { tree: 'castInt4', expected: [cast('integer', '->>', 'meta', ['a'], "meta->>'a'")] },
    { tree: 'castInteger', expected: [cast('integer', '->>', 'meta', ['a'], "meta->>'a'")] },
    { tree: 'castAsBigint', expected: [cast('bigint', '->>', 'meta', ['a'], "meta->>'a'")] },
    { tree: 'castSmallint', expected: [cast('smallint', '->>', 'meta', ['a'], "meta->>'a'")] },
    // ->> with an integer (array index) key prints the number bare; a digits-only text key stays quoted
    { tree: 'intKey', expected: [cast('integer', '->>', 'meta', ['0'], 'meta->>0')] },
    { tree: 'negativeIntKey', expected: [cast('integer', '->>', 'meta', ['-1'], 'meta->>-1')] },
    { tree: 'digitsTextKey', expected: [cast('integer', '->>', 'meta', ['42'], "meta->>'42'")] },
    // key text decoded exactly and re-quoted as SQL
    { tree: 'quotedKey', expected: [cast('integer', '->>', 'meta', ['Crédit\'s "x"'], `meta->>'Crédit''s "x"'`)] },
    { tree: 'unicodeKey', expected: [cast('integer', '->>', 'meta', ['日本語🙂'], "meta->>'日本語🙂'")] },
    { tree: 'emptyKey', expected: [cast('integer', '->>', 'meta', [''], "meta->>''")] },
    { tree: 'longKey', expected: [cast('integer', '->>', 'meta', [LONG_KEY], `meta->>'${LONG_KEY}'`)] },
    // #>> with a text[] Const and with ARRAY[...]
    { tree: 'pathKey', expected: [cast('integer', '#>>', 'meta', ['limits', 'rank'], "meta#>>'{limits,rank}'")] },
    { tree: 'pathFiveKeys', expected: [cast('integer', '#>>', 'meta', ['a', 'bb', 'ccc', 'dddd', 'eeeee'], "meta#>>'{a,bb,ccc,dddd,eeeee}'")] },
    { tree: 'pathArrayExpr', expected: [cast('integer', '#>>', 'meta', ["it's", 'Crédit'], "meta#>>'{it''s,Crédit}'")] },
    { tree: 'pathLongElement', expected: [cast('integer', '#>>', 'meta', ['a', 'x'.repeat(200), 'b'], `meta#>>'{a,${'x'.repeat(200)},b}'`)] },
    // the extraction functions, called directly
    { tree: 'extractPathFn', expected: [cast('integer', 'jsonb_extract_path_text', 'meta', ['a', 'b'], "jsonb_extract_path_text(meta, 'a', 'b')")] },
    { tree: 'checkVariadicArray', expected: [cast('integer', 'jsonb_extract_path_text', 'meta', ['p', 'q'], "jsonb_extract_path_text(meta, 'p', 'q')")] },
    { tree: 'objectFieldFn', expected: [cast('integer', 'jsonb_object_field_text', 'meta', ['f'], "jsonb_object_field_text(meta, 'f')")] },
    // json (not jsonb) columns
    { tree: 'jsonColumn', expected: [cast('integer', '->>', 'j', ['a'], "j->>'a'")] },
    { tree: 'jsonIntKey', expected: [cast('integer', '->>', 'j', ['3'], 'j->>3')] },
    { tree: 'jsonPath', expected: [cast('bigint', '#>>', 'j', ['x', 'y'], "j#>>'{x,y}'")] },
    { tree: 'jsonExtractPathFn', expected: [cast('integer', 'json_extract_path_text', 'j', ['p'], "json_extract_path_text(j, 'p')")] },
    { tree: 'checkJsonFnSmallint', expected: [cast('smallint', 'json_extract_path_text', 'j', ['a', 'b'], "json_extract_path_text(j, 'a', 'b')")] },
    // through a cast to varchar, a varchar key and a nested extraction
    { tree: 'viaVarchar', expected: [cast('integer', '->>', 'meta', ['a'], "meta->>'a'")] },
    { tree: 'checkVarcharKey', expected: [cast('integer', '->>', 'meta', ['k'], "meta->>'k'")] },
    { tree: 'nestedArrow', expected: [cast('integer', '->>', 'meta', ['outer', 'inner'], "meta->'outer'->>'inner'")] },
    // keys that are not constants
    { tree: 'extractPathNonConst', expected: [cast('integer', 'jsonb_extract_path_text', 'meta', null, 'jsonb_extract_path_text(meta, ?)')] },
    { tree: 'checkNullKey', expected: [cast('integer', '->>', 'meta', null, 'meta->>?')] },
    // only the integer casts of a multi-column index
    {
      tree: 'multiColumn',
      expected: [cast('integer', '->>', 'meta', ['a'], "meta->>'a'"), cast('bigint', '->>', 'meta', ['c'], "meta->>'c'")],
    },
    // partial-index predicate, CHECK constraint, generated column
    { tree: 'partialPredicate', expected: [cast('integer', '->>', 'meta', ['tier'], "meta->>'tier'")] },
    { tree: 'predicateIntMax', expected: [cast('integer', '->>', 'meta', ['tier'], "meta->>'tier'")] },
    { tree: 'checkConstraint', expected: [cast('integer', '->>', 'meta', ['n'], "meta->>'n'")] },
    { tree: 'checkXml', expected: [cast('integer', '->>', 'meta', ['n'], "meta->>'n'")] },
    { tree: 'generatedColumn', expected: [cast('bigint', '#>>', 'meta', ['a', 'b'], "meta#>>'{a,b}'")] },
  ];
  it.each(cases)('$tree', ({ tree, expected }) => {
    expect(casts(tree)).toEqual(expected);
  });

  it.each([
    { tree: 'checkVarcharArray' as const, castType: 'integer', extractor: '#>>' },
    { tree: 'pathEmpty' as const, castType: 'integer', extractor: '#>>' },
    { tree: 'pathWithNull' as const, castType: 'integer', extractor: '#>>' },
  ])('$tree: flagged even when the path cannot be read', ({ tree, castType, extractor }) => {
    const found = casts(tree);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ castType, extractor, column: 'meta' });
  });

  // The keys are right (['with space', 'x,y', 'q"uote']) but the printed path is not a valid rendering of
  // them: '{with space,x,y,q"uote}' reads back as four keys (or fails to parse). PostgreSQL prints it as
  // '{"with space","x,y","q\"uote"}' (pg_get_indexdef).
  it('pathQuotedElements: keys with a comma, a space and a double quote', () => {
    const found = casts('pathQuotedElements');
    expect(found.map((c) => c.keys)).toEqual([['with space', 'x,y', 'q"uote']]);
    expect(found.map((c) => c.expression)).toEqual([`meta#>>'{"with space","x,y","q\\"uote"}'`]);
  });
});

describe('findJsonIntCasts: not flagged', () => {
  it.each([
    'castNumeric',
    'castBoolean',
    'plainText',
    'textColumnInt',
    'varcharColumnInt',
    'checkBoolean',
    'predicateBigint',
    'checkBpchar',
    'checkVarcharConst',
    'checkInt2Int8',
    'checkTwoDimArray',
  ] as TreeName[])('%s', (tree) => {
    expect(casts(tree)).toEqual([]);
  });
});

describe('findJsonIntCasts: driven by the catalog OIDs', () => {
  it('flags nothing when the database reports no extractors', () => {
    const none: JsonTextExtractors = { operators: new Map(), functions: new Map(), pathOperators: new Map() };
    for (const tree of ['textKey', 'pathKey', 'extractPathFn', 'jsonColumn', 'checkConstraint'] as TreeName[]) {
      expect(casts(tree, none)).toEqual([]);
    }
  });

  it('matches OPEXPR by opno and FUNCEXPR by funcid, not the operator function', () => {
    const functionsOnly: JsonTextExtractors = { operators: new Map(), functions: new Map(FUNCTIONS), pathOperators: new Map() };
    expect(casts('textKey', functionsOnly)).toEqual([]);
    expect(casts('extractPathFn', functionsOnly)).toEqual([
      cast('integer', 'jsonb_extract_path_text', 'meta', ['a', 'b'], "jsonb_extract_path_text(meta, 'a', 'b')"),
    ]);
    const operatorsOnly: JsonTextExtractors = { operators: new Map(OPERATORS), functions: new Map(), pathOperators: new Map() };
    expect(casts('textKey', operatorsOnly)).toEqual([cast('integer', '->>', 'meta', ['creditsPer1kTokens'], "meta->>'creditsPer1kTokens'")]);
    expect(casts('extractPathFn', operatorsOnly)).toEqual([]);
  });

  it('counts only the OIDs the catalog lists', () => {
    const jsonbTextKeyOnly: JsonTextExtractors = { operators: new Map([['3477', '->>']]), functions: new Map(), pathOperators: new Map() };
    expect(casts('jsonColumn', jsonbTextKeyOnly)).toEqual([]);
    expect(casts('intKey', jsonbTextKeyOnly)).toEqual([]);
    expect(casts('castAsBigint', jsonbTextKeyOnly)).toEqual([cast('bigint', '->>', 'meta', ['a'], "meta->>'a'")]);
  });

  it('reports a function by the name the catalog gives it', () => {
    const renamed: JsonTextExtractors = { operators: new Map(), functions: new Map([['3940', 'my_path']]), pathOperators: new Map() };
    expect(casts('extractPathFn', renamed)).toEqual([cast('integer', 'my_path', 'meta', ['a', 'b'], "my_path(meta, 'a', 'b')")]);
  });
});

describe('findJsonIntCasts: column names', () => {
  it('quotes a column name that needs quoting', () => {
    expect(casts('textKey', EXTRACTORS, new Map([[2, 'Meta Data']]))).toEqual([
      cast('integer', '->>', 'Meta Data', ['creditsPer1kTokens'], `"Meta Data"->>'creditsPer1kTokens'`),
    ]);
    expect(casts('pathKey', EXTRACTORS, new Map([[2, 'Meta']]))).toEqual([cast('integer', '#>>', 'Meta', ['limits', 'rank'], `"Meta"#>>'{limits,rank}'`)]);
  });

  it('reports (expression) when the attnum is unknown', () => {
    expect(casts('textKey', EXTRACTORS, new Map())).toEqual([
      cast('integer', '->>', null, ['creditsPer1kTokens'], "(expression)->>'creditsPer1kTokens'"),
    ]);
    expect(casts('extractPathFn', EXTRACTORS, new Map())).toEqual([
      cast('integer', 'jsonb_extract_path_text', null, ['a', 'b'], "jsonb_extract_path_text((expression), 'a', 'b')"),
    ]);
  });
});

describe('findJsonIntCasts: synthetic trees', () => {
  const meta = '{VAR :varno 1 :varattno 2 :vartype 3802}';
  const key = '{CONST :consttype 25 :constisnull false :constvalue 5 [ 20 0 0 0 97 ]}';
  const arrow = `{OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :args (${meta} ${key})}`;
  const cases: { name: string; tree: string; expected: JsonIntCast[] }[] = [
    {
      name: 'COLLATE between the extraction and the cast',
      tree: `({COERCEVIAIO :arg {COLLATEEXPR :arg ${arrow} :collOid 950} :resulttype 23})`,
      expected: [cast('integer', '->>', 'meta', ['a'], "meta->>'a'")],
    },
    {
      name: 'a cast through text (COERCEVIAIO to 25) then to bigint',
      tree: `({COERCEVIAIO :arg {COERCEVIAIO :arg ${arrow} :resulttype 25} :resulttype 20})`,
      expected: [cast('bigint', '->>', 'meta', ['a'], "meta->>'a'")],
    },
    {
      name: 'a cast through bpchar (COERCEVIAIO to 1042) then to smallint',
      tree: `({COERCEVIAIO :arg {RELABELTYPE :arg {COERCEVIAIO :arg ${arrow} :resulttype 1042} :resulttype 25} :resulttype 21})`,
      expected: [cast('smallint', '->>', 'meta', ['a'], "meta->>'a'")],
    },
    {
      name: 'a cast to numeric then to integer is the numeric cast (not COERCEVIAIO)',
      tree: `({FUNCEXPR :funcid 1744 :args ({COERCEVIAIO :arg ${arrow} :resulttype 1700})})`,
      expected: [],
    },
    {
      name: 'a cast to oid (26) is not an integer type here',
      tree: `({COERCEVIAIO :arg ${arrow} :resulttype 26})`,
      expected: [],
    },
    {
      name: 'an extraction with no arguments',
      tree: '({COERCEVIAIO :arg {FUNCEXPR :funcid 3940 :args <>} :resulttype 23})',
      expected: [cast('integer', 'jsonb_extract_path_text', null, null, 'jsonb_extract_path_text((expression), ?)')],
    },
    {
      name: 'a COERCEVIAIO without an argument',
      tree: '({COERCEVIAIO :arg <> :resulttype 23})',
      expected: [],
    },
  ];
  it.each(cases)('$name', ({ tree, expected }) => {
    expect(findJsonIntCasts(tree, EXTRACTORS, COLUMNS.t)).toEqual(expected);
  });
});

describe('integerOnlyPattern: patterns that admit only integer literals', () => {
  it.each([
    ['^-?[0-9]+$', null],
    ['^[0-9]+$', null],
    ['^\\d+$', null],
    ['^-?\\d+$', null],
    ['^[[:digit:]]+$', null],
    ['^[+-]?[0-9]+$', null],
    ['^[-+]?[0-9]+$', null],
    ['^(-|\\+)?[0-9]+$', null],
    ['^(?:-)?[0-9]+$', null],
    ['\\A-?\\d+\\Z', null],
    ['^[0-9]+?$', null],
    ['^([0-9])+$', null],
    ['^(0|[1-9][0-9]*)$', null],
    ['^[0-9]+$|^-[0-9]+$', null],
    ['^[\\d]+$', null],
    ['^[0-9]{1,9}$', 9],
    ['^-?[0-9]{1,9}$', 9],
    ['^[0-9]{3}$', 3],
    ['^[0-9][0-9]?$', 2],
    ['^[1-9][0-9]{0,3}$', 4],
    ['^-?[0-9]{1,18}$', 18],
    ['^[0-9]{2,}$', null],
    ['^([0-9]{1,2}){1,3}$', 6],
  ])('%s (at most %s digits)', (pattern, maxDigits) => {
    expect(integerOnlyPattern(pattern, true)).toEqual({ maxDigits });
  });

  it('a pattern that can match nothing admits no non-integer text', () => {
    expect(integerOnlyPattern('^[0-9]+$x', true)).toEqual({ maxDigits: 0 });
  });
});

describe('integerOnlyPattern: patterns that do not prove an integer', () => {
  it.each([
    ['[0-9]+', 'unanchored'],
    ['^[0-9]+', 'no end anchor: 12.5 matches'],
    ['[0-9]+$', 'no start anchor'],
    ['^-?[0-9.]+$', "admits '.'"],
    ['^-?[0-9]+(\\.[0-9]+)?$', 'admits a fraction'],
    ['^-?[0-9]*$', "admits '' and '-'"],
    ['^[0-9]*$', "admits ''"],
    ['^$', "only ''"],
    ['^[+-]$', 'a sign alone'],
    ['^--?[0-9]+$', "admits '--1'"],
    ['^[0-9]+-$', "admits '1-'"],
    ['^.+$', 'any character'],
    ['^[^a-z]+$', 'a negated set'],
    ['^[0-9a]+$', "admits 'a'"],
    ['^[+--]?[0-9]+$', "a range that includes ','"],
    ['^[٠-٩]+$', 'non-ASCII digits'],
    ['^\\s*[0-9]+\\s*$', '\\s is not read'],
    ['^[0-9]+$|x', 'an unanchored branch'],
    ['^([0-9]+|x)$', "a branch admitting 'x'"],
    ['(?n)^[0-9]+$', 'embedded options: ^ and $ at newlines'],
    ['***=^[0-9]+$', 'a literal pattern'],
    ['***:^[0-9]+$', 'a director'],
    ['^([0-9]+)\\1$', 'a back reference'],
    ['^[0-9]+(?=x)$', 'a lookahead'],
    ['^[0-9]{2,1}$', 'an invalid bound'],
    ['^[0-9]{256}$', 'a bound over RE_DUP_MAX'],
    ['^[0-9]**$', 'a doubled quantifier'],
    ['^*[0-9]$', 'a quantified anchor'],
    ['^[0-9]+\\', 'a trailing backslash'],
    ['^[0-9+$', 'an unterminated bracket'],
    ['^([0-9]+$', 'an unclosed group'],
    ['^[[:alnum:]]+$', 'a class other than digit'],
    ['^[[.0.]]+$', 'a collating element'],
    ['^\\x30+$', 'a character entry'],
    ['^\\w+$', 'a word class'],
    ['^([0-9]{1,255}){1,255}$', 'too large to expand'],
  ])('%s (%s)', (pattern) => {
    expect(integerOnlyPattern(pattern, true)).toBeNull();
  });

  it.each(['^\\d+$', '^[[:digit:]]+$', '^[\\d]+$', '^-?\\d{1,9}$'])('%s under a collation whose digit class is not ASCII-only (ICU)', (pattern) => {
    expect(integerOnlyPattern(pattern, false)).toBeNull();
  });

  it('[0-9] is a code-point range under any collation', () => {
    expect(integerOnlyPattern('^[0-9]+$', false)).toEqual({ maxDigits: null });
  });
});

describe('findJsonIntCasts: guards, on trees captured from PostgreSQL 15', () => {
  // CREATE TABLE t (id int, meta jsonb); the operators: 641 ~(text,text), 642 !~(text,text); collation 100 the default.
  const GUARDS: GuardCatalog = { match: new Set(['641']), noMatch: new Set(['642']), asciiDigitCollations: new Set(['100', '950']) };
  const col = new Map([[1, 'id'], [2, 'meta']]);
  const k = (key: string) =>
    `{OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 32} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 39 :constvalue ${key.length + 4} [ ${(key.length + 4) * 4} 0 0 0 ${[...Buffer.from(key)].join(' ')} ]}) :location 36}`;
  const text = (s: string) => {
    const b = [...Buffer.from(s)];
    return `{CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 46 :constvalue ${b.length + 4} [ ${(b.length + 4) * 4} 0 0 0 ${b.join(' ')} ]}`;
  };
  const re = (key: string, pattern: string, opno = '641', coll = '100') =>
    `{OPEXPR :opno ${opno} :opfuncid 1254 :opresulttype 16 :opretset false :opcollid 0 :inputcollid ${coll} :args (${k(key)} ${text(pattern)}) :location 44}`;
  const int = (key: string) => `{COERCEVIAIO :arg ${k(key)} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 72}`;
  const caseOf = (whens: [string, string][], otherwise = '{CONST :consttype 23 :constisnull true :constvalue <>}') =>
    `{CASEEXPR :casetype 23 :casecollid 0 :arg <> :args (${whens.map(([c, r]) => `{CASEWHEN :expr ${c} :result ${r} :location 27}`).join(' ')}) :defresult ${otherwise} :location 22}`;
  const bool = (op: 'and' | 'or' | 'not', ...args: string[]) => `{BOOLEXPR :boolop ${op} :args (${args.join(' ')}) :location -1}`;
  const guards = (tree: string, predicate?: string) => findJsonIntCasts(tree, EXTRACTORS, col, { catalog: GUARDS, predicate: predicate ?? null }).map((c) => c.guard ?? null);
  const INT = '^-?[0-9]+$';

  it('reads the captured CASE tree the way PostgreSQL stores it', () => {
    // CREATE INDEX ON t ((CASE WHEN (meta->>'k') ~ '^\d+$' THEN (meta->>'k')::int END))
    const captured =
      "({CASEEXPR :casetype 23 :casecollid 0 :arg <> :args ({CASEWHEN :expr {OPEXPR :opno 641 :opfuncid 1254 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 33} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 40 :constvalue 5 [ 20 0 0 0 107 ]}) :location 37} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 47 :constvalue 9 [ 36 0 0 0 94 92 100 43 36 ]}) :location 45} :result {COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 61} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 68 :constvalue 5 [ 20 0 0 0 107 ]}) :location 65} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 72} :location 27}) :defresult {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull true :location -1 :constvalue <>} :location 22})";
    expect(findJsonIntCasts(captured, EXTRACTORS, col, { catalog: GUARDS })).toEqual([
      { ...cast('integer', '->>', 'meta', ['k'], "meta->>'k'"), guard: { by: 'case', pattern: '^\\d+$', maxDigits: null } },
    ]);
    // Without the guard catalog, the same cast is unguarded.
    expect(findJsonIntCasts(captured, EXTRACTORS, col).map((c) => c.guard)).toEqual([undefined]);
  });

  it.each([
    { name: 'a CASE branch on the same key', tree: caseOf([[re('k', INT), int('k')]]), expected: [{ by: 'case', pattern: INT, maxDigits: null }] },
    { name: 'the ELSE after WHEN x !~ ...', tree: caseOf([[re('k', INT, '642'), text('x')]], int('k')), expected: [{ by: 'case', pattern: INT, maxDigits: null }] },
    { name: 'the ELSE after WHEN NOT (x ~ ...)', tree: caseOf([[bool('not', re('k', INT)), text('x')]], int('k')), expected: [{ by: 'case', pattern: INT, maxDigits: null }] },
    { name: 'an AND with the match', tree: caseOf([[bool('and', text('t'), re('k', INT)), int('k')]]), expected: [{ by: 'case', pattern: INT, maxDigits: null }] },
    { name: 'an OR where both sides match', tree: caseOf([[bool('or', re('k', '^[0-9]+$'), re('k', '^-[0-9]{1,3}$')), int('k')]]), expected: [{ by: 'case', pattern: '^[0-9]+$', maxDigits: null }] },
    { name: 'the tighter of two patterns', tree: caseOf([[bool('and', re('k', INT), re('k', '^[0-9]{1,5}$')), int('k')]]), expected: [{ by: 'case', pattern: '^[0-9]{1,5}$', maxDigits: 5 }] },
    { name: 'under the C collation (950)', tree: caseOf([[re('k', '^\\d+$', '641', '950'), int('k')]]), expected: [{ by: 'case', pattern: '^\\d+$', maxDigits: null }] },
  ])('guarded: $name', ({ tree, expected }) => {
    expect(guards(tree)).toEqual(expected);
  });

  it.each([
    { name: 'a guard on another key', tree: caseOf([[re('j', INT), int('k')]]) },
    { name: 'an OR with another condition', tree: caseOf([[bool('or', re('k', INT), text('t')), int('k')]]) },
    { name: 'the ELSE after WHEN x ~ ...', tree: caseOf([[re('k', INT), text('x')]], int('k')) },
    { name: 'a branch under WHEN x !~ ...', tree: caseOf([[re('k', INT, '642'), int('k')]]) },
    { name: 'the ELSE after an AND of !~ and something else', tree: caseOf([[bool('and', re('k', INT, '642'), text('t')), text('x')]], int('k')) },
    { name: 'an operator that is not pg_catalog.~ (another OID)', tree: caseOf([[re('k', INT, '99999'), int('k')]]) },
    { name: '\\d under a collation not known to be libc (an ICU one)', tree: caseOf([[re('k', '^\\d+$', '641', '12345'), int('k')]]) },
    { name: 'a pattern that admits a fraction', tree: caseOf([[re('k', '^[0-9.]+$'), int('k')]]) },
  ])('not guarded: $name', ({ tree }) => {
    expect(guards(tree)).toEqual([null]);
  });

  it('a cast in the WHEN condition itself is not guarded by that condition, but is by an earlier branch not taken', () => {
    const inCondition = caseOf([[bool('and', re('k', INT), `{OPEXPR :opno 521 :args (${int('k')} {CONST :consttype 23 :constisnull false :constvalue 4 [ 0 0 0 0 0 0 0 0 ]})}`), text('x')]]);
    expect(guards(inCondition)).toEqual([null]);
    const afterNotTaken = caseOf([
      [re('k', INT, '642'), text('x')],
      [`{OPEXPR :opno 521 :args (${int('k')} {CONST :consttype 23 :constisnull false :constvalue 4 [ 0 0 0 0 0 0 0 0 ]})}`, text('y')],
    ]);
    expect(guards(afterNotTaken)).toEqual([{ by: 'case', pattern: INT, maxDigits: null }]);
  });

  it('the partial-index predicate guards the key expressions, unless the match is OR-ed', () => {
    expect(guards(`(${int('k')})`, re('k', INT))).toEqual([{ by: 'predicate', pattern: INT, maxDigits: null }]);
    expect(guards(`(${int('k')})`, bool('and', text('t'), re('k', INT)))).toEqual([{ by: 'predicate', pattern: INT, maxDigits: null }]);
    expect(guards(`(${int('k')})`, `(${text('t')} ${re('k', INT)})`)).toEqual([{ by: 'predicate', pattern: INT, maxDigits: null }]);
    expect(guards(`(${int('k')})`, bool('or', re('k', INT), text('t')))).toEqual([null]);
    expect(guards(`(${int('k')})`, re('j', INT))).toEqual([null]);
  });

  it('a cast through ::varchar(1) is not guarded: the text cast is not the text matched', () => {
    const varchar1 = `{COERCEVIAIO :arg {FUNCEXPR :funcid 669 :funcresulttype 1043 :funcretset false :funcvariadic false :funcformat 2 :args ({RELABELTYPE :arg ${k('k')} :resulttype 1043} {CONST :consttype 23 :constisnull false :constvalue 4 [ 5 0 0 0 0 0 0 0 ]} {CONST :consttype 16 :constisnull false :constvalue 1 [ 1 0 0 0 0 0 0 0 ]})} :resulttype 23}`;
    expect(findJsonIntCasts(caseOf([[re('k', INT), varchar1]]), EXTRACTORS, col, { catalog: GUARDS })).toEqual([cast('integer', '->>', 'meta', ['k'], "meta->>'k'")]);
    const relabelled = `{COERCEVIAIO :arg {RELABELTYPE :arg ${k('k')} :resulttype 1043} :resulttype 23}`;
    expect(guards(caseOf([[re('k', INT), relabelled]]))).toEqual([{ by: 'case', pattern: INT, maxDigits: null }]);
  });
});

describe('oneLine: a deparsed expression on one line for a decision', () => {
  it('joins the lines of a CASE and keeps line breaks inside literals and identifiers', () => {
    expect(oneLine("(\nCASE\n    WHEN ((meta ->> 'k'::text) ~ '^[0-9]+$'::text) THEN ((meta ->> 'k'::text))::integer\n    ELSE NULL::integer\nEND)")).toBe(
      "(CASE WHEN ((meta ->> 'k'::text) ~ '^[0-9]+$'::text) THEN ((meta ->> 'k'::text))::integer ELSE NULL::integer END)",
    );
    expect(oneLine(`(meta ->> 'a\n  b''c'::text) = "x\n  y"\n  AND true`)).toBe(`(meta ->> 'a\n  b''c'::text) = "x\n  y" AND true`);
  });
});
