/**
 * The public API of `integrity` (the package's "." export). Built-in checks import from here and from
 * nowhere else in src/, exactly as a plugin does; what is not exported here is internal and may change
 * in any release. See "Writing checks" in the README, and its semver note for what is stable.
 *
 * Only re-exports: the checks import this module while it is still loading (the engine imports the
 * built-in checks), and a re-export is bound to its source module, which has loaded by then.
 */

// Defining a check. Plugins take zod from here, so that their options schemas and the config's are one zod.
export { z } from 'zod';
export { defineCheck, scaleCount, tableSample } from './check.js';
export type { CheckContext, CheckDefinition, CheckDocs, FindingInput } from './check.js';
export { defineSqlCheck, sqlCheckFromFile } from './plugins/sql-check.js';
export type { SqlCheckSpec } from './plugins/sql-check.js';

// What a check returns, and what an audit reports.
export { SEVERITIES, fingerprintOf } from './findings.js';
export type {
  AuditReport,
  CheckResult,
  CheckStatus,
  DatabaseInfo,
  FailOn,
  Finding,
  FindingFix,
  FindingFixStep,
  FindingObject,
  FixSafety,
  ObjectReference,
  Severity,
} from './findings.js';
export type { Repair, RepairStep } from './fix/types.js';

// The database handle and the catalog snapshot a check reads.
export type { PlanMethod, Queryable, QueryOptions, QueryResultLike } from './db/session.js';
export { btreeIndexLeading, findColumn, indexesOf, findTable, locateTable, mostlyAllVisible, tableKey, tablesNamed } from './db/catalog.js';
export type {
  Catalog,
  CheckConstraint,
  Column,
  ForeignKey,
  Index,
  JsonTextExtractors,
  KeyEquality,
  MatchType,
  ReferentialAction,
  Table,
  TableLookup,
  Trigger,
  TriggerEvent,
  UniqueConstraint,
} from './db/catalog.js';
export type { Relation } from './config/relations.js';
export { constText, isNode, parseNodeTree, walkNodes } from './db/node-tree.js';
export type { TreeNode, TreeValue } from './db/node-tree.js';

// Writing SQL: quoting, qualified names, comparisons that call no user operator.
export { displayName, qualifiedName, quoteIdent, quoteLiteral, relationOid, relationOidLiteral } from './db/quote.js';
export { allNotNull, equalsExpr, ownRows, sampleKeyExpr } from './db/sql.js';
export { globMatcher, globToRegExp } from './glob.js';

// Writing repairs that cannot lose a row.
export {
  QUARANTINE_SCHEMA,
  copyToQuarantine,
  createQuarantineTable,
  literal,
  moveToQuarantine,
  quarantineFor,
  restoreStatement,
  restoreValuesStatement,
} from './fix/quarantine.js';
export type { Quarantine } from './fix/quarantine.js';
export { userCodeFiredBy } from './fix/side-effects.js';

// pg_catalog functions that may run code beyond PostgreSQL's own (the audit's guard refuses them in any query).
export { QUERY_RUNNING_FUNCTIONS, TYPE_IO_FUNCTIONS } from './db/acting-functions.js';

// Running an audit from code.
export { audit } from './audit.js';
export type { AuditCallOptions } from './audit.js';
