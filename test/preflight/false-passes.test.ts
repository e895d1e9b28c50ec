import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { findingsOf, preflightJson, repository } from './helpers.js';
import type { PreflightReport } from '../../src/preflight/report.js';

/**
 * Statements PostgreSQL rejects that preflight once reported as passed (issue 14, an adversarial
 * review). Each was run for real inside BEGIN ... ROLLBACK on PostgreSQL 15 and 18 first; the SQLSTATE
 * in each test is the one PostgreSQL gave.
 */
const SETUP = [
  // A8: a function shadowing pg_catalog.lower by an exact match on a domain; it raises if ever called.
  'CREATE DOMAIN public.d AS text',
  `CREATE FUNCTION public.lower(public.d) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'LOWER TRAP RAN'; END $$`,
  'CREATE TABLE a8 (id int PRIMARY KEY, col public.d, n int)',
  `INSERT INTO a8 VALUES (1, 'A', NULL)`,
];

/** The lead's operational judges (locks, rewrites) are not what these tests are about. */
const OPERATIONAL = new Set(['preflight/transaction-block', 'preflight/table-rewrites', 'preflight/blocking-scans', 'preflight/blocking-index-builds', 'preflight/lock-timeouts']);

function outcomesAt(report: PreflightReport, line: number) {
  return report.preflight.statementsJudged.find((v) => v.location.line === line)?.outcomes.filter((o) => !OPERATIONAL.has(o.rule));
}

function failuresOf(report: PreflightReport) {
  return findingsOf(report).filter((f) => !OPERATIONAL.has(f.rule) && f.rule !== 'preflight/not-judged');
}

function messageAt(report: PreflightReport, line: number, rule: string): string | undefined {
  return report.findings.find((f) => f.location.line === line && f.checkId === rule)?.message;
}

describe('preflight: statements PostgreSQL rejects are not passed (issue 14)', () => {
  const db = useDatabase('preflight_false_passes', { sql: SETUP });

  it('A8: a bare name that a user function shadows by overload is user code: not evaluated, and a barrier', async () => {
    const root = repository({
      'db/a8.sql': "ALTER TABLE a8 ADD CHECK (lower(col) <> '');\nALTER TABLE a8 ALTER COLUMN n SET NOT NULL;\nCREATE INDEX ON a8 (lower(col));\n",
    });
    const { run, report } = await preflightJson(db.url, root, ['db/a8.sql']);
    expect(JSON.stringify(report)).not.toContain('LOWER TRAP RAN');
    expect(run.stderr).not.toContain('LOWER TRAP RAN');
    expect(outcomesAt(report, 1)).toEqual([
      {
        rule: 'preflight/check-violations',
        status: 'not-judged',
        reason: 'not judged: the CHECK expression uses a name that public.lower() also has, outside pg_catalog: the one the migration resolves to may be user code',
      },
    ]);
    // The NULL in a8.n would fail SET NOT NULL today, but public.lower may write before it runs.
    expect(outcomesAt(report, 2)).toEqual([
      {
        rule: 'preflight/nulls',
        status: 'not-judged',
        reason: "the ALTER TABLE at db/a8.sql:1 may change any table's rows before this runs (it calls lower() (public.lower() has the name too, outside pg_catalog), which may write to any table)",
      },
    ]);
    expect(outcomesAt(report, 3)?.map((o) => o.status)).toEqual(['not-judged']);
    expect(failuresOf(report)).toEqual([]);
  });
});
