import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { AuditPlan } from '../engine/plan.js';
import { describeRowSecurity } from '../db/catalog.js';
import { visible } from '../escape.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

const count = (n: number) => n.toLocaleString('en-US');

/** `check --plan` for a person: per check, each query's reads with the planner's estimates; then the totals. */
export function renderPlanPretty(plan: AuditPlan, chalk: ChalkInstance, width: number): string {
  const out: string[] = [];
  const sizes = new Map(plan.relations.map((r) => [`${r.schema}.${r.relation}`, r]));
  for (const check of plan.checks) {
    const head = `${chalk.bold(check.id)}  ${check.title}`;
    if (check.status !== 'planned') {
      out.push(`${head}\n  ${check.status}: ${visible(check.reason ?? '')}\n`);
      continue;
    }
    if (check.queries.length === 0) {
      out.push(`${head}\n  reads the catalog only\n`);
      continue;
    }
    const table = new Table({ head: ['query', 'reads', 'how', 'rows out', 'pages', 'size'], style: { head: [], border: [] }, wordWrap: true, colWidths: [7, Math.max(24, width - 70), 22, 13, 11, 11] });
    check.queries.forEach((q, i) => {
      for (const [j, s] of q.scans.entries()) {
        const size = sizes.get(`${s.schema}.${s.reads}`);
        table.push([
          j === 0 ? String(i + 1) : '',
          visible(`${s.schema}.${s.relation}${s.index ? ` (${s.index})` : ''}`),
          visible(s.method),
          count(s.rows),
          size ? count(size.pages) : '',
          size ? formatBytes(size.bytes) : '',
        ]);
      }
    });
    const strategies = check.queries.map((q, i) => `  query ${i + 1}: ${visible(q.strategy)}; about ${count(q.pages)} pages (${formatBytes(q.pages * 8192)})`);
    const spills = check.queries.flatMap((q, i) => (q.spills ?? []).map((sp) => `  query ${i + 1}: its ${sp.node.toLowerCase()} of about ${formatBytes(sp.bytes)} exceeds the ${formatBytes(sp.limitBytes)} it may use${sp.node === 'Hash' ? ` (work_mem x hash_mem_multiplier): ${sp.batches} batches` : ' (work_mem): it sorts on disk'}; a larger --work-mem keeps it in memory`));
    out.push(`${head}  ${chalk.dim(`${check.queries.length} quer${check.queries.length === 1 ? 'y' : 'ies'}`)}\n${table.toString()}\n${strategies.join('\n')}\n${spills.length ? `${chalk.yellow(spills.join('\n'))}\n` : ''}`);
  }
  out.push(
    `${plan.totals.queries} queries would read about ${count(plan.totals.pages)} pages (${formatBytes(plan.totals.bytes)}); planner cost ${count(plan.totals.cost)}.\n` +
      'Rows out are the planner\'s estimates, pages and sizes the relations\' current sizes: a scan reads its relation whole, a lookup about a page per row. Nothing was read.\n',
  );
  const rls = visible(describeRowSecurity(plan.rowSecurity, plan.role));
  out.push(`${plan.rowSecurity.some((e) => !e.readableWhole) ? chalk.yellow(rls) : rls}\n`);
  return out.join('\n');
}

export function renderPlanJson(plan: AuditPlan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}
