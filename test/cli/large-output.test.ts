import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';
import { reportSchema } from '../helpers/report-schema.js';

describe('a large report on a pipe', () => {
  const db = useDatabase('large_output', {
    sql: [
      `DO $$ BEGIN
         FOR i IN 1..300 LOOP
           EXECUTE format('CREATE TABLE t%s (meta jsonb); CREATE INDEX ON t%s (((meta->>''k'')::int))', i, i);
         END LOOP;
       END $$;`,
    ],
  });

  it('arrives whole: stdout is drained before the process exits (json | jq always works)', async () => {
    for (const format of ['json', 'sarif', 'github']) {
      const run = await runCli(['check', '-d', db.url, '--format', format, '--quiet']);
      expect(run.code).toBe(1);
      expect(run.stdout.length).toBeGreaterThan(70_000); // past the 64 KiB a pipe holds
      if (format === 'json') expect(reportSchema.parse(JSON.parse(run.stdout)).findings).toHaveLength(300);
      if (format === 'sarif') expect(JSON.parse(run.stdout).runs[0].results).toHaveLength(300);
      if (format === 'github') expect(run.stdout.trimEnd().split('\n').at(-1)).toMatch(/^::notice title=integrity::/);
    }
  });
});
