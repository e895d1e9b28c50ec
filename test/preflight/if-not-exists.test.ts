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
