import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { CheckDefinition } from '../check.js';
import { visible, visibleLines } from '../escape.js';

export function renderList(checks: readonly CheckDefinition[], format: 'pretty' | 'json', chalk: ChalkInstance): string {
  if (format === 'json') {
    return `${JSON.stringify(
      checks.map((c) => ({ id: c.id, severity: c.severity, title: c.title, description: c.description, origin: c.origin ?? 'built-in' })),
      null,
      2,
    )}\n`;
  }
  const table = new Table({ head: ['id', 'severity', 'title', 'from'].map((h) => chalk.bold(h)), style: { head: [], border: [] } });
  for (const c of checks) table.push([visible(c.id), c.severity, visible(c.title), visible(c.origin ?? 'built-in')]);
  return `${table.toString()}\n`;
}

export function renderExplain(check: CheckDefinition, chalk: ChalkInstance): string {
  const section = (title: string, body: string) => `${chalk.bold(title)}\n${indent(body)}\n`;
  const docs = check.docs ?? {};
  const sections: [string, string | undefined][] = [
    ['What it finds', docs.finds ?? check.description],
    ['Why it matters', docs.why],
    ['How to fix', docs.fix],
    ['Instead of', docs.bad],
    ['Use', docs.good],
  ];
  return [
    `${chalk.bold(visible(check.id))} · ${visible(check.title)} · default severity ${check.severity}${check.origin ? ` · from ${visible(check.origin)}` : ''}\n`,
    ...sections.filter(([, body]) => body && body.trim() !== '').map(([title, body]) => section(title, visibleLines(body as string))),
  ].join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** The README's checks table, generated from the checks' own metadata. */
export function renderChecksMarkdown(checks: readonly CheckDefinition[]): string {
  const rows = checks.map((c) => `| \`${c.id}\` | ${c.severity} | ${c.description} |`);
  return ['| id | default severity | what it finds |', '| --- | --- | --- |', ...rows].join('\n');
}
