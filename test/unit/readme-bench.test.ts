import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderBenchMarkdown, type ResultsShape } from '../../bench/readme-table.js';

describe('the README\'s performance section', () => {
  it('is the table rendered from bench/results.json (npm run docs rewrites it)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const results = JSON.parse(readFileSync(new URL('../../bench/results.json', import.meta.url), 'utf8')) as ResultsShape;
    const section = readme.split('<!-- bench:start -->\n')[1]?.split('\n<!-- bench:end -->')[0];
    expect(section).toBe(renderBenchMarkdown(results));
    // It names the machine and the server it was measured on.
    expect(section).toContain(`${results.machine.cores} cores`);
    expect(section).toContain(`PostgreSQL ${results.server.version}`);
  });
});
