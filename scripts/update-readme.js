// Rewrites the README's checks table from the checks' own metadata, and its performance table from
// bench/results.json (run: npm run docs).
import { readFileSync, writeFileSync } from 'node:fs';
import { CHECKS } from '../dist/checks/index.js';
import { renderChecksMarkdown } from '../dist/src/report/docs.js';
import { renderBenchMarkdown } from '../dist/bench/readme-table.js';

const file = new URL('../README.md', import.meta.url);
let readme = readFileSync(file, 'utf8');

function replaceBetween(text, name, body) {
  const [before, rest] = text.split(`<!-- ${name}:start -->`);
  const after = rest?.split(`<!-- ${name}:end -->`)[1];
  if (before === undefined || after === undefined) throw new Error(`README.md lacks the <!-- ${name}:start --> / <!-- ${name}:end --> markers`);
  return `${before}<!-- ${name}:start -->\n${body}\n<!-- ${name}:end -->${after}`;
}

readme = replaceBetween(readme, 'checks', renderChecksMarkdown(CHECKS));
const results = JSON.parse(readFileSync(new URL('../bench/results.json', import.meta.url), 'utf8'));
readme = replaceBetween(readme, 'bench', renderBenchMarkdown(results));
writeFileSync(file, readme);
