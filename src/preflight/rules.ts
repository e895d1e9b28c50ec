import type { Severity } from '../findings.js';

/** What `integrity preflight` judges, one rule per kind of failure: the report's "checks". */
export interface PreflightRule {
  id: string;
  title: string;
  severity: Severity;
  description: string;
}

export const PREFLIGHT_RULES = [
  {
    id: 'preflight/already-exists',
    title: 'CREATE TABLE of a table that exists',
    severity: 'error',
    description: 'A CREATE TABLE without IF NOT EXISTS of a table the database already has fails with 42P07.',
  },
  {
    id: 'preflight/orphans',
    title: 'Foreign keys that rows of today break',
    severity: 'error',
    description: 'ADD FOREIGN KEY (without NOT VALID) and VALIDATE CONSTRAINT fail with 23503 when a row references nothing, as PostgreSQL\'s own check sees it.',
  },
  {
    id: 'preflight/duplicates',
    title: 'Unique keys that rows of today break',
    severity: 'error',
    description: 'ADD UNIQUE, ADD PRIMARY KEY and CREATE UNIQUE INDEX fail with 23505 on duplicate keys; a primary key also fails with 23502 on a NULL.',
  },
  {
    id: 'preflight/nulls',
    title: 'NOT NULL that rows of today break',
    severity: 'error',
    description: 'SET NOT NULL, and ADD COLUMN ... NOT NULL without a default on a table with rows, fail with 23502.',
  },
  {
    id: 'preflight/check-violations',
    title: 'CHECK constraints that rows of today break',
    severity: 'error',
    description: 'ADD CHECK (without NOT VALID) fails with 23514 when a row violates it.',
  },
  {
    id: 'preflight/index-expressions',
    title: 'Index expressions that rows of today make raise',
    severity: 'error',
    description: "CREATE INDEX on an expression fails when the expression raises on a row, e.g. (meta->>'k')::int over a row holding 1.38 (22P02).",
  },
  {
    id: 'preflight/type-changes',
    title: 'Column type changes that rows of today do not survive',
    severity: 'error',
    description: 'ALTER COLUMN ... TYPE (with or without USING) fails when a value does not convert (e.g. text to integer), or when there is no assignment cast and no USING.',
  },
  {
    id: 'preflight/json-int-casts',
    title: 'JSON text cast to an integer in an index, CHECK or generated column',
    severity: 'error',
    description: 'The statement adds a cast of JSON text to smallint, integer or bigint that every later write evaluates: the first fractional value (1.38) makes writes fail with 22P02, whatever today\'s rows hold, as an expression index on a JSON field once did in production when 1.38 arrived.',
  },
  {
    id: 'preflight/placeholder-defaults',
    title: 'A placeholder UUID as a column DEFAULT',
    severity: 'warning',
    description: "The statement gives an id column a placeholder DEFAULT (the nil UUID, or placeholder-uuid's values): every insert that omits it will write a fake id, as a ledger once did when a pricing lookup fell back to the nil UUID.",
  },
  {
    id: 'preflight/unvalidated-foreign-keys',
    title: 'Foreign keys added NOT VALID and never validated',
    severity: 'warning',
    description: 'A foreign key added NOT VALID that no later migration of the run validates: PostgreSQL never checks the rows that were there, so orphans stay.',
  },
  {
    id: 'preflight/disabled-triggers',
    title: 'Triggers disabled and not enabled again',
    severity: 'warning',
    description: 'ALTER TABLE ... DISABLE TRIGGER with no ENABLE later in the run: whatever the trigger kept true (an audit row, a foreign key with ALL) stops being kept.',
  },
  {
    id: 'preflight/transaction-block',
    title: 'Statements that cannot run inside a transaction block',
    severity: 'error',
    description: 'CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY, VACUUM and a few others fail with 25001 inside BEGIN ... COMMIT, or in a file the migration tool runs as one transaction (preflight.transactionPerFile).',
  },
  {
    id: 'preflight/table-rewrites',
    title: 'Table rewrites of a large table',
    severity: 'warning',
    description: 'ALTER COLUMN ... TYPE that is not binary-coercible, ADD COLUMN with a volatile default (or a serial, identity or stored generated column), SET LOGGED/UNLOGGED, SET ACCESS METHOD, VACUUM FULL and CLUSTER rewrite the whole table under an ACCESS EXCLUSIVE lock: no read or write of it runs until they finish.',
  },
  {
    id: 'preflight/blocking-scans',
    title: 'Locks that block writes while a large table is read',
    severity: 'warning',
    description: 'SET NOT NULL and ADD CHECK scan the table under ACCESS EXCLUSIVE, ADD FOREIGN KEY under SHARE ROW EXCLUSIVE on both tables, ADD PRIMARY KEY / UNIQUE builds its index under ACCESS EXCLUSIVE: on a large table, writes (and for ACCESS EXCLUSIVE, reads) wait for the whole scan. Each has a form that does not.',
  },
  {
    id: 'preflight/blocking-index-builds',
    title: 'Index builds that block writes to a large table',
    severity: 'warning',
    description: 'CREATE INDEX without CONCURRENTLY holds a SHARE lock for the whole build, and REINDEX without CONCURRENTLY an ACCESS EXCLUSIVE lock on the index: writes to a large table wait until it finishes.',
  },
  {
    id: 'preflight/access-exclusive-locks',
    title: 'ACCESS EXCLUSIVE locks on a large table',
    severity: 'warning',
    description: 'A statement that takes ACCESS EXCLUSIVE on a large table (ADD or DROP COLUMN, RENAME, DROP, TRUNCATE, LOCK TABLE), even for an instant, first waits for every query running on it, and every query after it waits in turn: run it with a short lock_timeout and a retry.',
  },
  {
    id: 'preflight/lock-timeouts',
    title: 'Blocking locks taken without a lock_timeout',
    severity: 'warning',
    description: 'A statement that takes a lock conflicting with writes waits behind any long query on the table, and while it waits every later query on the table waits behind it. Without SET lock_timeout before it (and none set for the role or database), a migration can stall the application.',
  },
  {
    id: 'preflight/not-judged',
    title: 'Statements preflight did not judge',
    severity: 'info',
    description: 'Statements (or parts of them) preflight cannot judge, each named with why: they are not passed, only not looked at.',
  },
  {
    id: 'preflight/partition-keys',
    title: 'Unique keys on a partitioned table without its partition key',
    severity: 'error',
    description: 'ADD PRIMARY KEY, ADD UNIQUE and CREATE UNIQUE INDEX on a partitioned table fail with 0A000 unless the key includes every column of the partition key, whatever the rows.',
  },
  {
    id: 'preflight/names-taken',
    title: 'Constraint and index names that are taken',
    severity: 'error',
    description: 'ADD CONSTRAINT with a name the table already has for a constraint fails with 42710; CREATE INDEX (without IF NOT EXISTS), ADD PRIMARY KEY and ADD UNIQUE with a name a relation of the schema already has fail with 42P07. Names made earlier in the run count.',
  },
  {
    id: 'preflight/not-immutable',
    title: 'Index and generated-column expressions that are not IMMUTABLE',
    severity: 'error',
    description: 'CREATE INDEX whose expression or WHERE calls a function that is not IMMUTABLE (now(), random(), to_char of a timestamp), and a stored generated column whose expression does, fail with 42P17 whatever the rows.',
  },
  {
    id: 'preflight/key-collations',
    title: 'Foreign keys between columns of incompatible collations',
    severity: 'error',
    description: 'From PostgreSQL 18, ADD FOREIGN KEY fails with 42P21 when a key column and the column it references have different collations and either is nondeterministic. (Up to 17 it is accepted, and rows are compared with the referenced column\'s collation.)',
  },
  {
    id: 'preflight/syntax',
    title: 'Syntax newer than the server',
    severity: 'error',
    description: "Preflight's parser is PostgreSQL 17's: a statement written with syntax an older server lacks (numeric literals with underscores, 0x/0o/0b integers, SQL/JSON constructors and IS JSON from 16; JSON_TABLE, MERGE ... RETURNING, SET EXPRESSION from 17) fails there with 42601. Only syntax preflight knows the release of is flagged.",
  },
  {
    id: 'preflight/default-casts',
    title: 'Type changes whose column DEFAULT does not convert',
    severity: 'error',
    description: "ALTER COLUMN ... TYPE converts the column's DEFAULT by assignment whatever USING says: with no assignment cast from the old type (text to integer), it fails with 42804 on any data unless the same statement drops the default.",
  },
  {
    id: 'preflight/domain-constraints',
    title: 'Columns added of a domain that rows of today break',
    severity: 'error',
    description: "ADD COLUMN of a domain type on a table with rows fills every row with the DEFAULT (the column's, else the domain's, else NULL) and checks it: a NOT NULL domain fails with 23502 on NULL, a CHECK the value does not pass with 23514. A domain whose constraints call anything outside pg_catalog is not evaluated.",
  },
  {
    id: 'preflight/invalid-references',
    title: 'Expressions naming a table the statement does not',
    severity: 'error',
    description: "A CHECK or index expression may qualify a column only with its own table's name: another table's fails with 42P01 (missing FROM-clause entry), whatever the rows.",
  },
] as const satisfies readonly PreflightRule[];

export type PreflightRuleId = (typeof PREFLIGHT_RULES)[number]['id'];

export const PREFLIGHT_RULE_IDS: readonly string[] = PREFLIGHT_RULES.map((r) => r.id);
