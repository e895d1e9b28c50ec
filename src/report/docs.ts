import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { CheckDefinition } from '../check.js';

export function renderList(checks: readonly CheckDefinition[], format: 'pretty' | 'json', chalk: ChalkInstance): string {
  if (format === 'json') {
    return `${JSON.stringify(
      checks.map((c) => ({ id: c.id, severity: c.severity, title: c.title, description: c.description })),
      null,
      2,
    )}\n`;
  }
  const table = new Table({ head: ['id', 'severity', 'title'].map((h) => chalk.bold(h)), style: { head: [], border: [] } });
  for (const c of checks) table.push([c.id, c.severity, c.title]);
  return `${table.toString()}\n`;
}

export function renderExplain(check: CheckDefinition, chalk: ChalkInstance): string {
  const section = (title: string, body: string) => `${chalk.bold(title)}\n${indent(body)}\n`;
  return [
    `${chalk.bold(check.id)} · ${check.title} · default severity ${check.severity}\n`,
    section('What it finds', check.docs.finds),
    section('Why it matters', check.docs.why),
    section('How to fix', check.docs.fix),
    section('Instead of', check.docs.bad),
    section('Use', check.docs.good),
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
