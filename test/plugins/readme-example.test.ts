import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const root = packageRoot();
const example = path.join(root, 'test', 'fixtures', 'readme', 'invoice-has-lines.check.ts');
// Inside the repository, so that `from 'integrity'` resolves to the built tool (the package's self-reference).
const project = path.join(root, 'test', '.scratch', `readme-${process.pid}`);

describe("the README's TypeScript check", () => {
  const db = useDatabase('readme_example', {
    sql: [
      `CREATE TABLE public.invoice (id bigint PRIMARY KEY);
       CREATE TABLE public.invoice_line (id serial PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES public.invoice (id));
       INSERT INTO public.invoice VALUES (1), (2), (3);
       INSERT INTO public.invoice_line (invoice_id) VALUES (1), (1), (3);`,
    ],
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('is the file this test runs, word for word', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toContain(`\`\`\`ts\n${readFileSync(example, 'utf8')}\`\`\``);
  });

  it('runs as the README says: a folder in plugins, found by list and check', async () => {
    mkdirSync(path.join(project, 'integrity', 'checks'), { recursive: true });
    copyFileSync(example, path.join(project, 'integrity', 'checks', 'invoice-has-lines.check.ts'));
    writeFileSync(path.join(project, 'integrity.config.json'), JSON.stringify({ plugins: ['./integrity/checks'] }));
    const list = await runCli(['list'], { cwd: project });
    expect(list.stdout).toContain('acme/invoice-has-lines');
    const run = await runCli(['check', '-d', db.url, '--check', 'acme/invoice-has-lines', '--format', 'json'], { cwd: project });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { findings: { checkId: string; count: number; samples: string[]; object: unknown }[] };
    expect(report.findings.map((f) => [f.checkId, f.object, f.count, f.samples])).toEqual([['acme/invoice-has-lines', { schema: 'public', table: 'invoice' }, 1, ['2']]]);
  });
});
