import { describe, expect, it } from 'vitest';
import { constText, isNode, parseNodeTree, walkNodes, type TreeNode, type TreeValue } from '../../src/db/node-tree.js';
import { TREES } from './pg-node-trees.js';

type TreeName = keyof typeof TREES;

function nodes(name: TreeName): TreeNode[] {
  return [...walkNodes(parseNodeTree(TREES[name].tree))];
}

/** constText of every CONST in the tree, in walk order. */
function constTexts(name: TreeName): (string[] | null)[] {
  return nodes(name)
    .filter((n) => n.type === 'CONST')
    .map((n) => constText(n));
}

function node(value: TreeValue | undefined): TreeNode {
  if (!isNode(value)) throw new Error(`expected a node, got ${JSON.stringify(value)}`);
  return value;
}

const LONG_KEY = `this_is_a_very_long_key_name_exceeding_one_hundred_twenty_seven_bytes_${'x'.repeat(67)}`;

describe('parseNodeTree: token grammar', () => {
  const cases: { name: string; text: string; expected: TreeValue }[] = [
    { name: 'empty marker <> is null', text: '<>', expected: null },
    { name: 'a bare token', text: 'abc', expected: 'abc' },
    { name: 'an empty list', text: '()', expected: [] },
    { name: 'a list of bare tokens (a Bitmapset)', text: '(b 1 2)', expected: ['b', '1', '2'] },
    { name: 'a node with scalar fields', text: '{VAR :varno 1 :varattno 2}', expected: { type: 'VAR', fields: { varno: '1', varattno: '2' } } },
    { name: 'a field followed by another field has no value', text: '{A :x :y 2}', expected: { type: 'A', fields: { x: null, y: '2' } } },
    { name: 'a last field with no value', text: '{A :x}', expected: { type: 'A', fields: { x: null } } },
    { name: 'a field whose value is <>', text: '{A :args <> :b 1}', expected: { type: 'A', fields: { args: null, b: '1' } } },
    {
      name: 'quoted String nodes in a list',
      text: '("abc" "a_x0022_b" "")',
      expected: ['abc', 'a_x0022_b', ''],
    },
    { name: 'backslash escapes in a quoted string', text: '("d\\ e\\(f\\)")', expected: ['d e(f)'] },
    { name: 'backslash escapes in a bare token', text: '{A :name a\\ b\\{c\\}}', expected: { type: 'A', fields: { name: 'a b{c}' } } },
    { name: 'an escaped leading digit stays text', text: '{A :name \\1x}', expected: { type: 'A', fields: { name: '1x' } } },
    {
      name: 'a Datum: length and unsigned bytes',
      text: '{CONST :constvalue 4 [ 1 0 0 0 0 0 0 0 ]}',
      expected: { type: 'CONST', fields: { constvalue: { length: 4, bytes: [1, 0, 0, 0, 0, 0, 0, 0] } } },
    },
    {
      name: 'a Datum: signed chars become bytes 0..255',
      text: '{CONST :constvalue 3 [ -1 -128 127 ]}',
      expected: { type: 'CONST', fields: { constvalue: { length: 3, bytes: [255, 128, 127] } } },
    },
    {
      name: 'nested nodes and lists',
      text: '({A :args ({B :x 1} {C :y <>})} {D})',
      expected: [
        {
          type: 'A',
          fields: {
            args: [
              { type: 'B', fields: { x: '1' } },
              { type: 'C', fields: { y: null } },
            ],
          },
        },
        { type: 'D', fields: {} },
      ],
    },
    {
      name: 'a value without a field name gets a positional key',
      text: '{INTEGER 5}',
      expected: { type: 'INTEGER', fields: { _0: '5' } },
    },
    {
      name: 'newlines and tabs are whitespace',
      text: '{A\n\t:x\r\n1}',
      expected: { type: 'A', fields: { x: '1' } },
    },
  ];
  it.each(cases)('$name', ({ text, expected }) => {
    expect(parseNodeTree(text)).toEqual(expected);
  });

  it('throws on an empty text', () => {
    expect(() => parseNodeTree('')).toThrow('unexpected end of node tree');
    expect(() => parseNodeTree('   ')).toThrow('unexpected end of node tree');
  });
});

describe('parseNodeTree: real pg_index.indexprs', () => {
  it("reads ((meta->>'creditsPer1kTokens')::int) into its nodes", () => {
    const tree = parseNodeTree(TREES.textKey.tree);
    expect(Array.isArray(tree)).toBe(true);
    const list = tree as TreeValue[];
    expect(list).toHaveLength(1);
    const cast = node(list[0]);
    expect(cast.type).toBe('COERCEVIAIO');
    expect(cast.fields.resulttype).toBe('23');
    expect(cast.fields.resultcollid).toBe('0');
    expect(cast.fields.coerceformat).toBe('1');
    expect(cast.fields.location).toBe('62');
    const op = node(cast.fields.arg);
    expect(op.type).toBe('OPEXPR');
    expect(op.fields).toMatchObject({ opno: '3477', opfuncid: '3214', opresulttype: '25', opretset: 'false', opcollid: '100' });
    const args = op.fields.args as TreeValue[];
    expect(args).toHaveLength(2);
    expect(node(args[0])).toEqual({
      type: 'VAR',
      fields: {
        varno: '1',
        varattno: '2',
        vartype: '3802',
        vartypmod: '-1',
        varcollid: '0',
        varlevelsup: '0',
        varnosyn: '1',
        varattnosyn: '2',
        location: '34',
      },
    });
    const key = node(args[1]);
    expect(key.type).toBe('CONST');
    expect(key.fields).toMatchObject({ consttype: '25', constlen: '-1', constbyval: 'false', constisnull: 'false' });
    const datum = key.fields.constvalue as { length: number; bytes: number[] };
    expect(datum.length).toBe(22);
    expect(datum.bytes).toHaveLength(22);
    expect(datum.bytes.slice(0, 4)).toEqual([88, 0, 0, 0]);
  });

  it('reads a NULL Const (:constvalue <>) as null', () => {
    const c = nodes('checkNullKey').find((n) => n.type === 'CONST' && n.fields.constisnull === 'true');
    expect(c?.fields.constvalue).toBeNull();
    expect(c?.fields.consttype).toBe('25');
  });

  it('reads a multi-column index as one list entry per column', () => {
    const tree = parseNodeTree(TREES.multiColumn.tree) as TreeValue[];
    expect(tree.map((v) => node(v).type)).toEqual(['COERCEVIAIO', 'COERCEVIAIO', 'COERCEVIAIO']);
    expect(tree.map((v) => node(v).fields.resulttype)).toEqual(['23', '1700', '20']);
  });

  it('reads a predicate (pg_index.indpred) as a single node, not a list', () => {
    const tree = parseNodeTree(TREES.partialPredicate.tree);
    expect(node(tree).type).toBe('OPEXPR');
    expect(node(tree).fields.opno).toBe('521');
  });

  it('reads the String list of an XMLEXPR (pg_constraint.conbin)', () => {
    const xml = nodes('checkXml').find((n) => n.type === 'XMLEXPR');
    expect(xml?.fields.name).toBe('x');
    expect(xml?.fields.arg_names).toEqual(['a_x0022_b']);
    expect(xml?.fields.args).toBeNull();
  });
});

describe('walkNodes', () => {
  it('visits parents before children, in field order', () => {
    expect(nodes('partialPredicate').map((n) => n.type)).toEqual(['OPEXPR', 'COERCEVIAIO', 'OPEXPR', 'VAR', 'CONST', 'CONST']);
    expect(nodes('extractPathFn').map((n) => n.type)).toEqual(['COERCEVIAIO', 'FUNCEXPR', 'VAR', 'ARRAYEXPR', 'CONST', 'CONST']);
    expect(nodes('nestedArrow').map((n) => `${n.type}${n.type === 'OPEXPR' ? `:${String(n.fields.opno)}` : ''}`)).toEqual([
      'COERCEVIAIO',
      'OPEXPR:3477',
      'OPEXPR:3211',
      'VAR',
      'CONST',
      'CONST',
    ]);
  });

  it('yields nothing for null, undefined, strings and datums', () => {
    expect([...walkNodes(null)]).toEqual([]);
    expect([...walkNodes(undefined)]).toEqual([]);
    expect([...walkNodes('COERCEVIAIO')]).toEqual([]);
    expect([...walkNodes({ length: 1, bytes: [1] })]).toEqual([]);
    expect([...walkNodes([])]).toEqual([]);
  });

  it('walks every element of a top-level list', () => {
    expect(nodes('multiColumn').filter((n) => n.type === 'VAR')).toHaveLength(3);
  });

  const coercions: { tree: TreeName; resulttypes: string[] }[] = [
    { tree: 'textKey', resulttypes: ['23'] },
    { tree: 'intKey', resulttypes: ['23'] },
    { tree: 'castInt4', resulttypes: ['23'] },
    { tree: 'castInteger', resulttypes: ['23'] },
    { tree: 'castAsBigint', resulttypes: ['20'] },
    { tree: 'castSmallint', resulttypes: ['21'] },
    { tree: 'castNumeric', resulttypes: ['1700'] },
    { tree: 'castBoolean', resulttypes: ['16'] },
    { tree: 'plainText', resulttypes: [] },
    { tree: 'partialPredicate', resulttypes: ['23'] },
    { tree: 'generatedColumn', resulttypes: ['20'] },
    { tree: 'checkJsonFnSmallint', resulttypes: ['21'] },
    { tree: 'multiColumn', resulttypes: ['23', '1700', '20'] },
    { tree: 'textColumnInt', resulttypes: ['23'] },
  ];
  it.each(coercions)('finds the COERCEVIAIO result types in $tree', ({ tree, resulttypes }) => {
    expect(
      nodes(tree)
        .filter((n) => n.type === 'COERCEVIAIO')
        .map((n) => n.fields.resulttype),
    ).toEqual(resulttypes);
  });

  it('finds the operator and function OIDs', () => {
    expect(nodes('pathKey').find((n) => n.type === 'OPEXPR')?.fields.opno).toBe('3206');
    expect(nodes('jsonColumn').find((n) => n.type === 'OPEXPR')?.fields.opno).toBe('3963');
    expect(nodes('jsonIntKey').find((n) => n.type === 'OPEXPR')?.fields.opno).toBe('3965');
    expect(nodes('extractPathFn').find((n) => n.type === 'FUNCEXPR')?.fields.funcid).toBe('3940');
    expect(nodes('jsonExtractPathFn').find((n) => n.type === 'FUNCEXPR')?.fields.funcid).toBe('3953');
    expect(nodes('objectFieldFn').find((n) => n.type === 'FUNCEXPR')?.fields.funcid).toBe('3214');
  });
});

describe('constText on real Consts', () => {
  const cases: { tree: TreeName; expected: (string[] | null)[] }[] = [
    { tree: 'textKey', expected: [['creditsPer1kTokens']] },
    { tree: 'intKey', expected: [['0']] },
    { tree: 'negativeIntKey', expected: [['-1']] },
    { tree: 'jsonIntKey', expected: [['3']] },
    { tree: 'digitsTextKey', expected: [['42']] },
    { tree: 'pathKey', expected: [['limits', 'rank']] },
    { tree: 'pathFiveKeys', expected: [['a', 'bb', 'ccc', 'dddd', 'eeeee']] },
    { tree: 'generatedColumn', expected: [['a', 'b']] },
    { tree: 'jsonPath', expected: [['x', 'y']] },
    { tree: 'extractPathFn', expected: [['a'], ['b']] },
    { tree: 'pathArrayExpr', expected: [["it's"], ['Crédit']] },
    { tree: 'quotedKey', expected: [['Crédit\'s "x"']] },
    { tree: 'unicodeKey', expected: [['日本語🙂']] },
    { tree: 'emptyKey', expected: [['']] },
    { tree: 'longKey', expected: [[LONG_KEY]] },
    { tree: 'pathLongElement', expected: [['a', 'x'.repeat(200), 'b']] },
    { tree: 'pathQuotedElements', expected: [['with space', 'x,y', 'q"uote']] },
    { tree: 'partialPredicate', expected: [['tier'], ['2']] },
    { tree: 'predicateIntMax', expected: [['tier'], ['2147483647']] },
    { tree: 'checkConstraint', expected: [['n'], ['0']] },
    { tree: 'checkNullKey', expected: [null, ['0']] },
    { tree: 'checkVarcharKey', expected: [['k'], ['0']] },
    { tree: 'checkVarcharConst', expected: [['héllo']] },
    { tree: 'checkVarcharArray', expected: [['a', 'b'], ['0']] },
    // char(4) literal, then bpchar's typmod argument (8 = 4 + VARHDRSZ) and its boolean isExplicit argument.
    { tree: 'checkBpchar', expected: [['ab'], ['8'], null] },
    // A text[] with a NULL element cannot be returned as strings.
    { tree: 'pathWithNull', expected: [null] },
    // Two-dimensional arrays are not key paths.
    { tree: 'checkTwoDimArray', expected: [null] },
  ];
  it.each(cases)('$tree', ({ tree, expected }) => {
    expect(constTexts(tree)).toEqual(expected);
  });

  it('decodes smallint Consts (consttype 21), negative and positive', () => {
    // CHECK (s <> '-300' AND s <> '300' AND b <> '-5000000000'): the first two Consts are int2.
    const int2 = nodes('checkInt2Int8').filter((n) => n.type === 'CONST' && n.fields.consttype === '21');
    expect(int2.map((n) => constText(n))).toEqual([['-300'], ['300']]);
  });

  // constText claims bigint (consttype 20) but reads only the low 32 bits of the 8-byte Datum.
  it('decodes a bigint Const above 2^31 (partial index WHERE id8 > 5000000000)', () => {
    const int8 = nodes('predicateBigint').filter((n) => n.type === 'CONST');
    expect(int8.map((n) => n.fields.consttype)).toEqual(['20']);
    expect(int8.map((n) => constText(n))).toEqual([['5000000000']]);
  });

  it("decodes a negative bigint Const below -2^31 (CHECK b <> '-5000000000')", () => {
    const int8 = nodes('checkInt2Int8').filter((n) => n.type === 'CONST' && n.fields.consttype === '20');
    expect(int8.map((n) => constText(n))).toEqual([['-5000000000']]);
  });
});

describe('constText on synthetic Consts', () => {
  const constNode = (fields: Record<string, TreeValue>): TreeNode => ({ type: 'CONST', fields });
  const cases: { name: string; node: TreeNode; expected: string[] | null }[] = [
    {
      name: 'text with a 1-byte (short) varlena header',
      node: constNode({ consttype: '25', constisnull: 'false', constvalue: { length: 6, bytes: [13, 104, 101, 108, 108, 111] } }),
      expected: ['hello'],
    },
    {
      name: 'bpchar with a 4-byte header',
      node: constNode({ consttype: '1042', constisnull: 'false', constvalue: { length: 6, bytes: [24, 0, 0, 0, 111, 107] } }),
      expected: ['ok'],
    },
    {
      name: 'a NULL Const',
      node: constNode({ consttype: '25', constisnull: 'true', constvalue: null }),
      expected: null,
    },
    {
      name: 'a Const without a datum',
      node: constNode({ consttype: '25', constisnull: 'false', constvalue: null }),
      expected: null,
    },
    {
      name: 'a Const whose value is a list, not a datum',
      node: constNode({ consttype: '25', constisnull: 'false', constvalue: ['1'] }),
      expected: null,
    },
    {
      name: 'a boolean Const',
      node: constNode({ consttype: '16', constisnull: 'false', constvalue: { length: 1, bytes: [1, 0, 0, 0, 0, 0, 0, 0] } }),
      expected: null,
    },
    {
      name: 'a numeric Const',
      node: constNode({ consttype: '1700', constisnull: 'false', constvalue: { length: 8, bytes: [32, 0, 0, 0, 0, 128, 1, 0] } }),
      expected: null,
    },
    {
      name: 'an external TOAST pointer header',
      node: constNode({ consttype: '25', constisnull: 'false', constvalue: { length: 2, bytes: [1, 18] } }),
      expected: null,
    },
    {
      name: 'a compressed inline header',
      node: constNode({ consttype: '25', constisnull: 'false', constvalue: { length: 4, bytes: [2, 0, 0, 0] } }),
      expected: null,
    },
    {
      name: 'an empty datum',
      node: constNode({ consttype: '25', constisnull: 'false', constvalue: { length: 0, bytes: [] } }),
      expected: null,
    },
    {
      name: 'a node that is not a CONST',
      node: { type: 'VAR', fields: { varattno: '2', vartype: '25' } },
      expected: null,
    },
  ];
  it.each(cases)('$name', ({ node: n, expected }) => {
    expect(constText(n)).toEqual(expected);
  });
});

describe('isNode', () => {
  it.each([
    { value: { type: 'VAR', fields: {} }, expected: true },
    { value: { length: 1, bytes: [1] }, expected: false },
    { value: ['x'], expected: false },
    { value: 'VAR', expected: false },
    { value: null, expected: false },
    { value: undefined, expected: false },
  ] as { value: TreeValue | undefined; expected: boolean }[])('$value -> $expected', ({ value, expected }) => {
    expect(isNode(value)).toBe(expected);
  });
});
