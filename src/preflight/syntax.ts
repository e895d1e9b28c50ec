import { scanSync } from '@libpg-query/parser';
import { isNode, type MigrationStatement } from './statements.js';

/**
 * The parser is libpg_query's, of PostgreSQL 17: a statement it reads may use syntax an older server
 * rejects (42601). What is listed here is what is known and cheap to see; anything else is not flagged.
 */
export interface NewerSyntax {
  /** What it is, for a person: `numeric literals with underscores (1_000)`. */
  feature: string;
  /** server_version_num of the first release that accepts it. */
  since: number;
}

/** Parse-tree node types and the release that brought them. */
const NODE_SINCE: Record<string, { feature: string; since: number }> = {
  MergeStmt: { feature: 'MERGE', since: 150000 },
  JsonObjectConstructor: { feature: 'the SQL/JSON constructor JSON_OBJECT', since: 160000 },
  JsonArrayConstructor: { feature: 'the SQL/JSON constructor JSON_ARRAY', since: 160000 },
  JsonArrayQueryConstructor: { feature: 'the SQL/JSON constructor JSON_ARRAY(query)', since: 160000 },
  JsonObjectAgg: { feature: 'the SQL/JSON aggregate JSON_OBJECTAGG', since: 160000 },
  JsonArrayAgg: { feature: 'the SQL/JSON aggregate JSON_ARRAYAGG', since: 160000 },
  JsonIsPredicate: { feature: 'the IS JSON predicate', since: 160000 },
  JsonTable: { feature: 'JSON_TABLE', since: 170000 },
  JsonFuncExpr: { feature: 'the SQL/JSON query functions (JSON_QUERY, JSON_VALUE, JSON_EXISTS)', since: 170000 },
  JsonParseExpr: { feature: 'the SQL/JSON constructor JSON()', since: 170000 },
  JsonScalarExpr: { feature: 'the SQL/JSON constructor JSON_SCALAR', since: 170000 },
  JsonSerializeExpr: { feature: 'JSON_SERIALIZE', since: 170000 },
};

const releaseName = (num: number) => String(Math.floor(num / 10000));

/** What a statement's syntax needs that a server of `serverVersionNum` does not accept, in the order found. */
export function newerSyntax(s: MigrationStatement, serverVersionNum: number): NewerSyntax[] {
  if (!serverVersionNum) return [];
  const found = new Map<string, NewerSyntax>();
  const add = (feature: string, since: number) => {
    if (serverVersionNum < since && !found.has(feature)) found.set(feature, { feature, since });
  };
  for (const t of literalTokens(s.text)) {
    if (/^0[xXoObB]/.test(t)) add('non-decimal integer literals (0x1F, 0o17, 0b101)', 160000);
    else if (t.includes('_')) add('numeric literals with underscores (1_000)', 160000);
  }
  const walk = (n: unknown, key: string): void => {
    if (Array.isArray(n)) n.forEach((x) => walk(x, key));
    else if (isNode(n)) {
      const since = NODE_SINCE[key];
      if (since) add(since.feature, since.since);
      if (key === 'MergeStmt' && Array.isArray(n.returningList) && n.returningList.length > 0) add('MERGE ... RETURNING', 170000);
      if (key === 'MergeWhenClause' && n.matchKind === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE') add('MERGE ... WHEN NOT MATCHED BY SOURCE', 170000);
      if (key === 'AlterTableCmd' && n.subtype === 'AT_SetExpression') add('ALTER COLUMN ... SET EXPRESSION', 170000);
      if (key === 'Constraint' && n.nulls_not_distinct === true) add('UNIQUE NULLS NOT DISTINCT', 150000);
      for (const [k, v] of Object.entries(n)) walk(v, k);
    }
  };
  walk(s.node, s.kind);
  return [...found.values()];
}

/** The numeric literal tokens of a statement's text (the parser has already turned them into numbers). */
function literalTokens(text: string): string[] {
  try {
    return scanSync(text)
      .tokens.filter((t) => t.tokenName === 'ICONST' || t.tokenName === 'FCONST')
      .map((t) => t.text);
  } catch {
    // The text parsed as part of its file, so it scans; without the tokens no literal is flagged.
    return [];
  }
}

/** The sentence of a finding: `PostgreSQL 15 does not accept ... (new in PostgreSQL 16)`. */
export function newerSyntaxMessage(statement: string, found: NewerSyntax[], serverVersionNum: number): string {
  const what = found.map((f) => `${f.feature} (new in PostgreSQL ${releaseName(f.since)})`).join(', ');
  return `${statement} fails now (42601): PostgreSQL ${releaseName(serverVersionNum)} does not accept ${what}; preflight's parser is PostgreSQL 17's`;
}

/**
 * String literals whose text holds a backslash and whose meaning standard_conforming_strings decides
 * ('a\b' is a, backslash, b when it is on; with it off the backslash escapes). E'' strings and dollar
 * quotes read the same either way.
 */
export function hasBackslashLiteral(text: string): boolean {
  if (!text.includes('\\')) return false;
  try {
    return scanSync(text).tokens.some((t) => (t.tokenName === 'SCONST' || t.text.startsWith("U&'") || t.text.startsWith("u&'")) && /^(?:[nN]|[uU]&)?'/.test(t.text) && t.text.includes('\\'));
  } catch {
    // Not scanned: say it may hold one, so it is not judged on a reading that could be wrong.
    return true;
  }
}
