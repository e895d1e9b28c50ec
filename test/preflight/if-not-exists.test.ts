import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { findingsOf, preflightJson, repository } from './helpers.js';

const SETUP = [
  'CREATE TABLE t (id int PRIMARY KEY, s text, n int)',
  `INSERT INTO t VALUES (1, 'a', NULL), (2, 'a', NULL)`,
  'CREATE INDEX t_s_existing ON t (s)',
];

describe('IF NOT EXISTS of what exists today: PostgreSQL skips the statement, so nothing fails', () => {
  const db = useDatabase('preflight_if_not_exists', { sql: SETUP });

  it('CREATE UNIQUE INDEX IF NOT EXISTS and ADD COLUMN IF NOT EXISTS pass; without IF NOT EXISTS they are judged', async () => {
    const root = repository({
      'db/a.sql': [
        'CREATE UNIQUE INDEX IF NOT EXISTS t_s_existing ON t (s);',
        'ALTER TABLE t ADD COLUMN IF NOT EXISTS n int NOT NULL;',
        'CREATE UNIQUE INDEX IF NOT EXISTS t_s_new ON t (s);',
        'ALTER TABLE t ADD COLUMN IF NOT EXISTS m int NOT NULL;',
        '',
      ].join('\n'),
    });
    const { run, report } = await preflightJson(db.url, root, ['db/a.sql']);
    expect(run.stderr).toContain('4 statements in 1 file; 4 judged, 0 not judged');
    expect(findingsOf(report).filter((f) => f.rule !== 'preflight/not-judged').map((f) => [f.rule, f.at, f.count])).toEqual([
      ['preflight/duplicates', 'db/a.sql:3', 2],
      ['preflight/nulls', 'db/a.sql:4', 2],
    ]);
  });
});

describe('subcommands of one ALTER TABLE', () => {
  const db = useDatabase('preflight_subcommands', { sql: ['CREATE TABLE u (id int PRIMARY KEY, x int)', 'INSERT INTO u VALUES (1, NULL), (2, NULL), (3, 5)'] });

  it('after an ALTER COLUMN ... TYPE of the same statement, today\'s values do not answer: not judged; alone, SET NOT NULL is', async () => {
    const root = repository({
      'db/b.sql': 'ALTER TABLE u ALTER COLUMN x SET NOT NULL;\nALTER TABLE u ALTER COLUMN x TYPE int8 USING coalesce(x, 0), ALTER COLUMN x SET NOT NULL;\n',
    });
    const { report } = await preflightJson(db.url, root, ['db/b.sql']);
    const found = findingsOf(report).map((f) => [f.rule, f.at, f.count]);
    expect(found.filter((f) => f[0] === 'preflight/nulls')).toEqual([['preflight/nulls', 'db/b.sql:1', 2]]);
    expect(report.findings.find((f) => f.location.line === 2 && f.checkId === 'preflight/not-judged')?.message).toMatch(/an earlier part of this statement \(ALTER COLUMN x TYPE\) converts/);
  });
});
