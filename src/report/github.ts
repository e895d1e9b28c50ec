import type { AuditReport, Severity } from '../findings.js';
import { describeObject } from '../object-names.js';
import { checkCounts, sampledReason } from './sampled.js';
import { visible, visibleLines } from '../escape.js';
import { withAcceptedFailures } from './suppress.js';
import { githubComparison, unacceptedWord } from './compare.js';

/** Escaping of a workflow command's message, as @actions/core does. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escaping of a workflow command's property value, as @actions/core does. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'notice'> = { error: 'error', warning: 'warning', info: 'notice' };

/**
 * GitHub Actions annotations. GitHub shows at most 10 of each kind per step, so the last line, a
 * notice, carries the totals.
 */
export function renderGithub(report: AuditReport): string {
  const lines: string[] = githubComparison(report, escapeProperty, escapeData);
  // New findings first, as errors and warnings; accepted ones (baseline, ignore) only as notices, so the
  // ten annotations GitHub shows per kind go to what is new.
  const fresh = report.findings.filter((f) => !f.baselined && !f.ignored);
  const accepted = report.findings.filter((f) => f.baselined || f.ignored);
  for (const f of fresh) {
    const title = `integrity ${f.checkId}: ${describeObject(f.object).replace(/\n/g, ' ')}`;
    const body = `${visibleLines(f.message)}${f.samples.length ? `\nsamples: ${f.samples.map(visible).join(', ')}` : ''}`;
    // With a migration to point at, the annotation sits on that line of the pull request's files.
    const where = f.source ? `file=${escapeProperty(visible(f.source.file))},line=${f.source.line},` : '';
    lines.push(`::${LEVEL[f.severity]} ${where}title=${escapeProperty(title)}::${escapeData(body)}`);
  }
  for (const e of report.baseline?.stale ?? []) {
    lines.push(`::warning title=${escapeProperty('integrity baseline')}::${escapeData(`${visible(e.checkId)} on ${visible(`${e.object.schema}.${e.object.table}`)} no longer occurs; shrink the baseline with --prune-baseline`)}`);
  }
  for (const e of report.expiredIgnores ?? []) {
    lines.push(`::warning title=${escapeProperty('integrity ignore expired')}::${escapeData(`${visible(e.check)} on ${visible(e.object)} expired on ${visible(e.until)} and no longer applies (${visible(e.reason)})`)}`);
  }
  for (const c of report.checks.filter((c) => c.status === 'error')) {
    lines.push(`::error title=${escapeProperty(`integrity ${c.id} could not run`)}::${escapeData(visible(c.reason ?? ''))}`);
  }
  // A check that found nothing in the share --sample-percent read did not pass: say so for each.
  for (const c of report.checks.filter((c) => c.status === 'sampled')) {
    lines.push(`::notice title=${escapeProperty(`integrity ${c.id} sampled, not passed`)}::${escapeData(visible(sampledReason(report, c)))}`);
  }
  const s = report.summary;
  lines.push(
    `::notice title=integrity::${escapeData(
      `${withAcceptedFailures(checkCounts(report), report)}; findings: ${s.findings.error} error, ${s.findings.warning} warning, ${s.findings.info} info; ${fresh.length} ${unacceptedWord(report)}, ${accepted.length} accepted (baseline or ignore)`,
    )}`,
  );
  return `${lines.join('\n')}\n`;
}
