// Rewrites the README's checks table from the checks' own metadata (run: npm run docs).
import { readFileSync, writeFileSync } from 'node:fs';
import { CHECKS } from '../dist/checks/index.js';
import { renderChecksMarkdown } from '../dist/src/report/docs.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const [before, rest] = readme.split('<!-- checks:start -->');
const after = rest?.split('<!-- checks:end -->')[1];
if (before === undefined || after === undefined) throw new Error('README.md lacks the <!-- checks:start --> / <!-- checks:end --> markers');
writeFileSync(file, `${before}<!-- checks:start -->\n${renderChecksMarkdown(CHECKS)}\n<!-- checks:end -->${after}`);
