import { describe, expect, it } from 'vitest';
import { useDatabase } from '../helpers/db.js';
import { cli, preflightJson, repository } from './helpers.js';

describe('what preflight\'s report may say', () => {
  const db = useDatabase('preflight_report_text', {
    sql: [`CREATE TABLE people (id int PRIMARY KEY, ssn text)`, `INSERT INTO people VALUES (1, '078-05-1120'), (2, '12')`, 'CREATE TABLE odd (id int PRIMARY KEY, "v\nx" int)', 'INSERT INTO odd VALUES (1, NULL)'],
  });

  it('under --samples 0, the server\'s message (which quotes the value that raised) is withheld; by default it is shown', async () => {
    const root = repository({ 'db/a.sql': 'ALTER TABLE people ADD CONSTRAINT ssn_num CHECK (ssn::int > 0);\nCREATE INDEX people_ssn ON people ((ssn::int));\n' });
    const shown = await preflightJson(db.url, root, ['db/a.sql']);
    expect(JSON.stringify(shown.report.findings)).toContain('078-05-1120');
    const withheld = await preflightJson(db.url, root, ['db/a.sql'], ['--samples', '0']);
    expect(withheld.report.findings.filter((f) => f.checkId !== 'preflight/not-judged').map((f) => f.count)).toEqual([1, 1]);
    expect(JSON.stringify(withheld.report)).not.toContain('078-05-1120');
    expect(withheld.report.findings.map((f) => f.message).join('\n')).toContain("the server's message is withheld");
  });

  it('a name holding a line feed stays on one line of the pretty report', async () => {
    const root = repository({ 'db/b.sql': 'ALTER TABLE odd ALTER COLUMN "v\nx" SET NOT NULL;\n' });
    const run = await cli(['preflight', '-d', db.url, 'db/b.sql'], root);
    expect(run.stdout).toContain('ALTER COLUMN v\\nx SET NOT NULL fails now');
    expect(run.stdout.split('\n').some((l) => /│\s*x SET NOT NULL/.test(l))).toBe(false);
  });
});
