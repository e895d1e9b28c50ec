/**
 * pg_node_tree texts captured from PostgreSQL 15.20 (pg_index.indexprs / indpred, pg_constraint.conbin,
 * pg_attrdef.adbin), so the unit tests read exactly what the server stores without a database.
 *
 * Tables they were captured on (attnum in brackets):
 *   t (id int [1], meta jsonb [2], j json [3], code text [4], vc varchar(10) [5])
 *   u (meta jsonb [1], g bigint [2])
 *   v (meta jsonb [1], id8 bigint [2], s smallint [3], j json [4])
 *   w (meta jsonb [1], s smallint [2], c char(4) [3], vc varchar(20) [4])
 *   z (s smallint [1], b bigint [2])
 *   y (a text[] [1])
 */

export const COLUMNS = {
  t: new Map([[1, 'id'], [2, 'meta'], [3, 'j'], [4, 'code'], [5, 'vc']]),
  u: new Map([[1, 'meta'], [2, 'g']]),
  v: new Map([[1, 'meta'], [2, 'id8'], [3, 's'], [4, 'j']]),
  w: new Map([[1, 'meta'], [2, 's'], [3, 'c'], [4, 'vc']]),
  z: new Map([[1, 's'], [2, 'b']]),
  y: new Map([[1, 'a']]),
} satisfies Record<string, Map<number, string>>;

export interface CapturedTree {
  /** The statement the tree came from. */
  sql: string;
  table: keyof typeof COLUMNS;
  tree: string;
}

export const TREES = {
  textKey: {
    sql: "CREATE INDEX ON t (((meta->>'creditsPer1kTokens')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 34} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 41 :constvalue 22 [ 88 0 0 0 99 114 101 100 105 116 115 80 101 114 49 107 84 111 107 101 110 115 ]}) :location 38} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 62})",
  },
  intKey: {
    sql: "CREATE INDEX ON t (((meta->>0)::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3481 :opfuncid 3216 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 33} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 40 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 37} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 42})",
  },
  pathKey: {
    sql: "CREATE INDEX ON t (((meta#>>'{limits,rank}')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 30} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 37 :constvalue 44 [ -80 0 0 0 1 0 0 0 0 0 0 0 25 0 0 0 2 0 0 0 1 0 0 0 40 0 0 0 108 105 109 105 116 115 0 0 32 0 0 0 114 97 110 107 ]}) :location 34} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 53})",
  },
  extractPathFn: {
    sql: "CREATE INDEX ON t ((jsonb_extract_path_text(meta,'a','b')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {FUNCEXPR :funcid 3940 :funcresulttype 25 :funcretset false :funcvariadic true :funcformat 0 :funccollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 51} {ARRAYEXPR :array_typeid 1009 :array_collid 100 :element_typeid 25 :elements ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 56 :constvalue 5 [ 20 0 0 0 97 ]} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 60 :constvalue 5 [ 20 0 0 0 98 ]}) :multidims false :location 56}) :location 27} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 64})",
  },
  quotedKey: {
    sql: "CREATE INDEX ON t (((meta->>'Crédit''s \"x\"')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 32} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 39 :constvalue 17 [ 68 0 0 0 67 114 -61 -87 100 105 116 39 115 32 34 120 34 ]}) :location 36} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 56})",
  },
  partialPredicate: {
    sql: "CREATE INDEX ON t (id) WHERE (meta->>'tier')::int > 2  -- pg_index.indpred",
    table: 't',
    tree: "{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 42} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 49 :constvalue 8 [ 32 0 0 0 116 105 101 114 ]}) :location 46} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 56} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 64 :constvalue 4 [ 2 0 0 0 0 0 0 0 ]}) :location 62}",
  },
  castInt4: {
    sql: "CREATE INDEX ON t (((meta->>'a')::int4))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 30} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 37 :constvalue 5 [ 20 0 0 0 97 ]}) :location 34} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 41})",
  },
  castInteger: {
    sql: "CREATE INDEX ON t (((meta->>'a')::integer))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 33} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 40 :constvalue 5 [ 20 0 0 0 97 ]}) :location 37} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 44})",
  },
  castAsBigint: {
    sql: "CREATE INDEX ON t ((CAST(meta->>'a' AS bigint)))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 41} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 48 :constvalue 5 [ 20 0 0 0 97 ]}) :location 45} :resulttype 20 :resultcollid 0 :coerceformat 1 :location 36})",
  },
  castSmallint: {
    sql: "CREATE INDEX ON t (((meta->>'a')::smallint))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 34} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 41 :constvalue 5 [ 20 0 0 0 97 ]}) :location 38} :resulttype 21 :resultcollid 0 :coerceformat 1 :location 45})",
  },
  jsonColumn: {
    sql: "CREATE INDEX ON t (((j->>'a')::int))  -- j is json, not jsonb",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3963 :opfuncid 3948 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 3 :vartype 114 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 3 :location 34} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 38 :constvalue 5 [ 20 0 0 0 97 ]}) :location 35} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 42})",
  },
  jsonPath: {
    sql: "CREATE INDEX ON t (((j#>>'{x,y}')::bigint))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3967 :opfuncid 3953 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 3 :vartype 114 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 3 :location 35} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 39 :constvalue 40 [ -96 0 0 0 1 0 0 0 0 0 0 0 25 0 0 0 2 0 0 0 1 0 0 0 20 0 0 0 120 0 0 0 20 0 0 0 121 0 0 0 ]}) :location 36} :resulttype 20 :resultcollid 0 :coerceformat 1 :location 47})",
  },
  jsonExtractPathFn: {
    sql: "CREATE INDEX ON t ((json_extract_path_text(j,'p')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {FUNCEXPR :funcid 3953 :funcresulttype 25 :funcretset false :funcvariadic true :funcformat 0 :funccollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 3 :vartype 114 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 3 :location 55} {ARRAYEXPR :array_typeid 1009 :array_collid 100 :element_typeid 25 :elements ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 57 :constvalue 5 [ 20 0 0 0 112 ]}) :multidims false :location 57}) :location 32} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 61})",
  },
  castNumeric: {
    sql: "CREATE INDEX ON t (((meta->>'a')::numeric))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 33} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 40 :constvalue 5 [ 20 0 0 0 97 ]}) :location 37} :resulttype 1700 :resultcollid 0 :coerceformat 1 :location 44})",
  },
  castBoolean: {
    sql: "CREATE INDEX ON t (((meta->>'a')::boolean))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 33} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 40 :constvalue 5 [ 20 0 0 0 97 ]}) :location 37} :resulttype 16 :resultcollid 0 :coerceformat 1 :location 44})",
  },
  plainText: {
    sql: "CREATE INDEX ON t ((meta->>'x'))",
    table: 't',
    tree: "({OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 30} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 37 :constvalue 5 [ 20 0 0 0 120 ]}) :location 34})",
  },
  textColumnInt: {
    sql: "CREATE INDEX ON t ((code::int))  -- code is text",
    table: 't',
    tree: "({COERCEVIAIO :arg {VAR :varno 1 :varattno 4 :vartype 25 :vartypmod -1 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 4 :location 33} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 37})",
  },
  multiColumn: {
    sql: "CREATE INDEX ON t (((meta->>'a')::int), ((meta->>'b')::numeric), ((meta->>'c')::bigint))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 31} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 38 :constvalue 5 [ 20 0 0 0 97 ]}) :location 35} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 42} {COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 52} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 59 :constvalue 5 [ 20 0 0 0 98 ]}) :location 56} :resulttype 1700 :resultcollid 0 :coerceformat 1 :location 63} {COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 77} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 84 :constvalue 5 [ 20 0 0 0 99 ]}) :location 81} :resulttype 20 :resultcollid 0 :coerceformat 1 :location 88})",
  },
  viaVarchar: {
    sql: "CREATE INDEX ON t ((((meta->>'a')::varchar)::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {RELABELTYPE :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 34} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 41 :constvalue 5 [ 20 0 0 0 97 ]}) :location 38} :resulttype 1043 :resulttypmod -1 :resultcollid 100 :relabelformat 1 :location 45} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 55})",
  },
  nestedArrow: {
    sql: "CREATE INDEX ON t ((((meta->'outer')->>'inner')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({OPEXPR :opno 3211 :opfuncid 3478 :opresulttype 3802 :opretset false :opcollid 0 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 33} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 39 :constvalue 9 [ 36 0 0 0 111 117 116 101 114 ]}) :location 37} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 50 :constvalue 9 [ 36 0 0 0 105 110 110 101 114 ]}) :location 47} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 58})",
  },
  varcharColumnInt: {
    sql: "CREATE INDEX ON t ((vc::int))  -- vc is varchar(10)",
    table: 't',
    tree: "({COERCEVIAIO :arg {VAR :varno 1 :varattno 5 :vartype 1043 :vartypmod 14 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 5 :location 31} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 33})",
  },
  emptyKey: {
    sql: "CREATE INDEX ON t (((meta->>'')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 35} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 42 :constvalue 4 [ 16 0 0 0 ]}) :location 39} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 45})",
  },
  negativeIntKey: {
    sql: "CREATE INDEX ON t (((meta->>-1)::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3481 :opfuncid 3216 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 33} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 40 :constvalue 4 [ -1 -1 -1 -1 -1 -1 -1 -1 ]}) :location 37} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 43})",
  },
  digitsTextKey: {
    sql: "CREATE INDEX ON t (((meta->>'42')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 37} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 44 :constvalue 6 [ 24 0 0 0 52 50 ]}) :location 41} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 49})",
  },
  pathArrayExpr: {
    sql: "CREATE INDEX ON t (((meta#>>ARRAY['it''s','Crédit'])::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 36} {ARRAYEXPR :array_typeid 1009 :array_collid 100 :element_typeid 25 :elements ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 49 :constvalue 8 [ 32 0 0 0 105 116 39 115 ]} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 57 :constvalue 11 [ 44 0 0 0 67 114 -61 -87 100 105 116 ]}) :multidims false :location 43}) :location 40} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 68})",
  },
  pathFiveKeys: {
    sql: "CREATE INDEX ON t (((meta#>>'{a,bb,ccc,dddd,eeeee}')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 35} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 42 :constvalue 68 [ 16 1 0 0 1 0 0 0 0 0 0 0 25 0 0 0 5 0 0 0 1 0 0 0 20 0 0 0 97 0 0 0 24 0 0 0 98 98 0 0 28 0 0 0 99 99 99 0 32 0 0 0 100 100 100 100 36 0 0 0 101 101 101 101 101 0 0 0 ]}) :location 39} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 66})",
  },
  extractPathNonConst: {
    sql: "CREATE INDEX ON t ((jsonb_extract_path_text(meta, code)::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {FUNCEXPR :funcid 3940 :funcresulttype 25 :funcretset false :funcvariadic true :funcformat 0 :funccollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 60} {ARRAYEXPR :array_typeid 1009 :array_collid 100 :element_typeid 25 :elements ({VAR :varno 1 :varattno 4 :vartype 25 :vartypmod -1 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 4 :location 66}) :multidims false :location 66}) :location 36} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 71})",
  },
  longKey: {
    sql: "CREATE INDEX ON t (((meta->>'this_is_a_very_long_key_name_exceeding_one_hundred_twenty_seven_bytes_xxx…')::int))  -- the key is that prefix and 67 x: 137 bytes",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 34} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 41 :constvalue 141 [ 52 2 0 0 116 104 105 115 95 105 115 95 97 95 118 101 114 121 95 108 111 110 103 95 107 101 121 95 110 97 109 101 95 101 120 99 101 101 100 105 110 103 95 111 110 101 95 104 117 110 100 114 101 100 95 116 119 101 110 116 121 95 115 101 118 101 110 95 98 121 116 101 115 95 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 ]}) :location 38} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 181})",
  },
  jsonIntKey: {
    sql: "CREATE INDEX ON t (((j->>3)::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3965 :opfuncid 3950 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 0 :args ({VAR :varno 1 :varattno 3 :vartype 114 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 3 :location 38} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 42 :constvalue 4 [ 3 0 0 0 0 0 0 0 ]}) :location 39} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 44})",
  },
  objectFieldFn: {
    sql: "CREATE INDEX ON t ((jsonb_object_field_text(meta,'f')::int))",
    table: 't',
    tree: "({COERCEVIAIO :arg {FUNCEXPR :funcid 3214 :funcresulttype 25 :funcretset false :funcvariadic false :funcformat 0 :funccollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 2 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 64} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 69 :constvalue 5 [ 20 0 0 0 102 ]}) :location 40} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 73})",
  },
  checkConstraint: {
    sql: "CREATE TABLE u (meta jsonb, CONSTRAINT c1 CHECK ((meta->>'n')::int > 0), ...)  -- pg_constraint.conbin",
    table: 'u',
    tree: "{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 54} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 61 :constvalue 5 [ 20 0 0 0 110 ]}) :location 58} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 65} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 73 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 71}",
  },
  generatedColumn: {
    sql: "CREATE TABLE u (meta jsonb, ..., g bigint GENERATED ALWAYS AS ((meta#>>'{a,b}')::bigint) STORED)  -- pg_attrdef.adbin",
    table: 'u',
    tree: "{COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 108} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 115 :constvalue 40 [ -96 0 0 0 1 0 0 0 0 0 0 0 25 0 0 0 2 0 0 0 1 0 0 0 20 0 0 0 97 0 0 0 20 0 0 0 98 0 0 0 ]}) :location 112} :resulttype 20 :resultcollid 0 :coerceformat 1 :location 123}",
  },
  checkNullKey: {
    sql: "CHECK ((meta->>NULL::text)::int > 0)",
    table: 'v',
    tree: "{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 92} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull true :location 99 :constvalue <>}) :location 96} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 110} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 118 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 116}",
  },
  checkVarcharKey: {
    sql: "CHECK ((meta->>'k'::varchar)::int > 0)",
    table: 'v',
    tree: "{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 157} {RELABELTYPE :arg {CONST :consttype 1043 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 164 :constvalue 5 [ 20 0 0 0 107 ]} :resulttype 25 :resulttypmod -1 :resultcollid 100 :relabelformat 2 :location -1}) :location 161} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 177} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 185 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 183}",
  },
  checkXml: {
    sql: "CHECK (xmlelement(name x, xmlattributes(1 as \"a\"\"b\")) IS NOT NULL AND (meta->>'n')::int > 0)",
    table: 'v',
    tree: "{BOOLEXPR :boolop and :args ({NULLTEST :arg {XMLEXPR :op 1 :name x :named_args ({CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 387 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]}) :arg_names (\"a_x0022_b\") :args <> :xmloption 0 :type 142 :typmod -1 :location 354} :nulltesttype 1 :argisrow false :location 401} {OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 418} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 425 :constvalue 5 [ 20 0 0 0 110 ]}) :location 422} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 429} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 437 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 435}) :location 413}",
  },
  checkVariadicArray: {
    sql: "CHECK (jsonb_extract_path_text(meta, VARIADIC ARRAY['p','q'])::int > 0)",
    table: 'v',
    tree: "{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {FUNCEXPR :funcid 3940 :funcresulttype 25 :funcretset false :funcvariadic true :funcformat 0 :funccollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 499} {ARRAYEXPR :array_typeid 1009 :array_collid 100 :element_typeid 25 :elements ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 520 :constvalue 5 [ 20 0 0 0 112 ]} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 524 :constvalue 5 [ 20 0 0 0 113 ]}) :multidims false :location 514}) :location 475} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 529} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 537 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 535}",
  },
  checkJsonFnSmallint: {
    sql: "CHECK (json_extract_path_text(j, 'a', 'b')::smallint > 0)",
    table: 'v',
    tree: "{OPEXPR :opno 536 :opfuncid 162 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {FUNCEXPR :funcid 3953 :funcresulttype 25 :funcretset false :funcvariadic true :funcformat 0 :funccollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 4 :vartype 114 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 4 :location 594} {ARRAYEXPR :array_typeid 1009 :array_collid 100 :element_typeid 25 :elements ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 597 :constvalue 5 [ 20 0 0 0 97 ]} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 602 :constvalue 5 [ 20 0 0 0 98 ]}) :multidims false :location 597}) :location 571} :resulttype 21 :resultcollid 0 :coerceformat 1 :location 606} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 619 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 617}",
  },
  checkBoolean: {
    sql: "CHECK ((meta->>'flag')::boolean)",
    table: 'v',
    tree: "{COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 651} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 658 :constvalue 8 [ 32 0 0 0 102 108 97 103 ]}) :location 655} :resulttype 16 :resultcollid 0 :coerceformat 1 :location 665}",
  },
  predicateBigint: {
    sql: "CREATE INDEX ON v (s) WHERE id8 > 5000000000",
    table: 'v',
    tree: "{OPEXPR :opno 413 :opfuncid 470 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 34} {CONST :consttype 20 :consttypmod -1 :constcollid 0 :constlen 8 :constbyval true :constisnull false :location 40 :constvalue 8 [ 0 -14 5 42 1 0 0 0 ]}) :location 38}",
  },
  predicateIntMax: {
    sql: "CREATE INDEX ON v (id8) WHERE (meta->>'tier')::int = 2147483647",
    table: 'v',
    tree: "{OPEXPR :opno 96 :opfuncid 65 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 37} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 44 :constvalue 8 [ 32 0 0 0 116 105 101 114 ]}) :location 41} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 51} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 59 :constvalue 4 [ -1 -1 -1 127 0 0 0 0 ]}) :location 57}",
  },
  pathWithNull: {
    sql: "CREATE INDEX ON v (((meta#>>'{a,NULL,b}')::int))",
    table: 'v',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 31} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 38 :constvalue 48 [ -64 0 0 0 1 0 0 0 32 0 0 0 25 0 0 0 3 0 0 0 1 0 0 0 5 0 0 0 0 0 0 0 20 0 0 0 97 0 0 0 20 0 0 0 98 0 0 0 ]}) :location 35} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 51})",
  },
  pathEmpty: {
    sql: "CREATE INDEX ON v (((meta#>>'{}')::int))",
    table: 'v',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 32} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 39 :constvalue 16 [ 64 0 0 0 0 0 0 0 0 0 0 0 25 0 0 0 ]}) :location 36} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 44})",
  },
  unicodeKey: {
    sql: "CREATE INDEX ON v (((meta->>'日本語🙂')::int))",
    table: 'v',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3477 :opfuncid 3214 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 31} {CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 38 :constvalue 17 [ 68 0 0 0 -26 -105 -91 -26 -100 -84 -24 -86 -98 -16 -97 -103 -126 ]}) :location 35} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 54})",
  },
  pathLongElement: {
    sql: "CREATE INDEX ON w (((meta#>>'{a,<200 x>,b}')::int))",
    table: 'w',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 31} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 38 :constvalue 244 [ -48 3 0 0 1 0 0 0 0 0 0 0 25 0 0 0 3 0 0 0 1 0 0 0 20 0 0 0 97 0 0 0 48 3 0 0 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 120 20 0 0 0 98 0 0 0 ]}) :location 35} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 247})",
  },
  pathQuotedElements: {
    sql: "CREATE INDEX ON w (((meta#>>'{\"with space\",\"x,y\",\"q\\\"uote\"}')::int))",
    table: 'w',
    tree: "({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 33} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 40 :constvalue 60 [ -16 0 0 0 1 0 0 0 0 0 0 0 25 0 0 0 3 0 0 0 1 0 0 0 56 0 0 0 119 105 116 104 32 115 112 97 99 101 0 0 28 0 0 0 120 44 121 0 40 0 0 0 113 34 117 111 116 101 0 0 ]}) :location 37} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 73})",
  },
  checkVarcharArray: {
    sql: "CHECK ((meta #>> '{a,b}'::varchar[])::int > 0)",
    table: 'w',
    tree: "{OPEXPR :opno 521 :opfuncid 147 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({COERCEVIAIO :arg {OPEXPR :opno 3206 :opfuncid 3940 :opresulttype 25 :opretset false :opcollid 100 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 3802 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 100} {ARRAYCOERCEEXPR :arg {CONST :consttype 1015 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 109 :constvalue 40 [ -96 0 0 0 1 0 0 0 0 0 0 0 19 4 0 0 2 0 0 0 1 0 0 0 20 0 0 0 97 0 0 0 20 0 0 0 98 0 0 0 ]} :elemexpr {RELABELTYPE :arg {CASETESTEXPR :typeId 1043 :typeMod -1 :collation 0} :resulttype 25 :resulttypmod -1 :resultcollid 100 :relabelformat 2 :location -1} :resulttype 1009 :resulttypmod -1 :resultcollid 100 :coerceformat 2 :location -1}) :location 105} :resulttype 23 :resultcollid 0 :coerceformat 1 :location 128} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 136 :constvalue 4 [ 0 0 0 0 0 0 0 0 ]}) :location 134}",
  },
  checkBpchar: {
    sql: "CHECK (c = 'ab'::char(4))  -- c is char(4)",
    table: 'w',
    tree: "{OPEXPR :opno 1054 :opfuncid 1048 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({VAR :varno 1 :varattno 3 :vartype 1042 :vartypmod 8 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 3 :location 169} {FUNCEXPR :funcid 668 :funcresulttype 1042 :funcretset false :funcvariadic false :funcformat 1 :funccollid 100 :inputcollid 100 :args ({CONST :consttype 1042 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 173 :constvalue 6 [ 24 0 0 0 97 98 ]} {CONST :consttype 23 :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location -1 :constvalue 4 [ 8 0 0 0 0 0 0 0 ]} {CONST :consttype 16 :consttypmod -1 :constcollid 0 :constlen 1 :constbyval true :constisnull false :location -1 :constvalue 1 [ 1 0 0 0 0 0 0 0 ]}) :location 177}) :location 171}",
  },
  checkVarcharConst: {
    sql: "CHECK (vc <> 'héllo'::varchar)  -- vc is varchar(20)",
    table: 'w',
    tree: "{OPEXPR :opno 531 :opfuncid 157 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({RELABELTYPE :arg {VAR :varno 1 :varattno 4 :vartype 1043 :vartypmod 24 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 4 :location 214} :resulttype 25 :resulttypmod -1 :resultcollid 100 :relabelformat 2 :location -1} {RELABELTYPE :arg {CONST :consttype 1043 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 220 :constvalue 10 [ 40 0 0 0 104 -61 -87 108 108 111 ]} :resulttype 25 :resulttypmod -1 :resultcollid 100 :relabelformat 2 :location -1}) :location 217}",
  },
  checkTwoDimArray: {
    sql: "CHECK (a <> '{{a},{b}}'::text[])  -- a is text[]",
    table: 'y',
    tree: "{OPEXPR :opno 1071 :opfuncid 390 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 100 :args ({VAR :varno 1 :varattno 1 :vartype 1009 :vartypmod -1 :varcollid 100 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 51} {CONST :consttype 1009 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 56 :constvalue 48 [ -64 0 0 0 2 0 0 0 0 0 0 0 25 0 0 0 2 0 0 0 1 0 0 0 1 0 0 0 1 0 0 0 20 0 0 0 97 0 0 0 20 0 0 0 98 0 0 0 ]}) :location 53}",
  },
  checkInt2Int8: {
    sql: "CHECK (s <> '-300' AND s <> '300' AND b <> '-5000000000')  -- s smallint, b bigint",
    table: 'z',
    tree: "{BOOLEXPR :boolop and :args ({OPEXPR :opno 519 :opfuncid 145 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 21 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 63} {CONST :consttype 21 :consttypmod -1 :constcollid 0 :constlen 2 :constbyval true :constisnull false :location 68 :constvalue 2 [ -44 -2 -1 -1 -1 -1 -1 -1 ]}) :location 65} {OPEXPR :opno 519 :opfuncid 145 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 1 :vartype 21 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 1 :location 79} {CONST :consttype 21 :consttypmod -1 :constcollid 0 :constlen 2 :constbyval true :constisnull false :location 84 :constvalue 2 [ 44 1 0 0 0 0 0 0 ]}) :location 81} {OPEXPR :opno 411 :opfuncid 468 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 20 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 94} {CONST :consttype 20 :consttypmod -1 :constcollid 0 :constlen 8 :constbyval true :constisnull false :location 99 :constvalue 8 [ 0 14 -6 -43 -2 -1 -1 -1 ]}) :location 96}) :location 75}",
  },
} satisfies Record<string, CapturedTree>;
