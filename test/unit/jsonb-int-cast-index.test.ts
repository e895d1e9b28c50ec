import { describe, expect, it } from 'vitest';
import { findJsonIntCasts, type JsonIntCast } from '../../checks/jsonb-int-cast-index.js';
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
