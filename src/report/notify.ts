import type { AuditReport } from '../findings.js';
import { EXIT } from '../errors.js';
import { sampledReason } from './sampled.js';
import { slackEscape, visible } from '../escape.js';
import { comparisonDetails, comparisonLead, unacceptedWord, webhookComparison } from './compare.js';

export interface NotifyResult {
  delivered: boolean;
  attempts: number;
  error?: string;
}

/**
 * The webhook's Slack-compatible text from its lines: in each, every control character as a visible
 * escape (so a value can neither start a new line nor drive a terminal that prints the text), then `&`,
 * `<` and `>` as Slack asks. The lines are joined with line feeds, the only ones left.
 */
export function webhookText(lines: string[]): string {
  return lines.map((l) => slackEscape(visible(l))).join('\n');
}

/** The payload of a run that could not audit at all (no connection, bad config): `message` says why. */
export function errorNotification(message: string): Record<string, unknown> {
  return { tool: 'integrity', status: 'error', exitCode: EXIT.auditFailed, text: webhookText([`integrity could not run: ${message}`]) };
}

/**
 * The JSON a webhook receives; `text` makes it readable in Slack and compatible chat tools. `status` is
 * error, failed, sampled (exit 0, but some check found nothing only in the share it read) or passed.
 * `problems` are lines saying why the run exited 2 when no check errored (e.g. nothing was audited).
 */
export function notificationPayload(report: AuditReport, exitCode: number, problems: string[] = []): Record<string, unknown> {
  const sampled = report.checks.filter((c) => c.status === 'sampled');
  const status = exitCode === 2 ? 'error' : exitCode === 1 ? 'failed' : sampled.length > 0 ? 'sampled' : 'passed';
  const s = report.summary;
  const fresh = report.findings.filter((f) => !f.baselined && !f.ignored);
  const head = `integrity ${status} on ${report.database.name}: ${fresh.length} ${unacceptedWord(report)} finding(s) (${s.findings.error} error, ${s.findings.warning} warning, ${s.findings.info} info in all); checks ${s.checks.failed} failed, ${s.checks.error} errored${sampled.length > 0 ? `, ${sampled.length} sampled (not passed)` : ''}`;
  const lines = report.findings
    .filter((f) => !f.baselined && !f.ignored)
    .slice(0, 10)
    .map((f) => `• [${f.severity}] ${f.checkId}: ${f.message}`);
  const errors = report.checks.filter((c) => c.status === 'error').map((c) => `• [error] ${c.id} could not run: ${c.reason}`);
  const notPassed = sampled.map((c) => `• [sampled] ${c.id}: ${sampledReason(report, c)}`);
  return {
    tool: 'integrity',
    version: report.version,
    status,
    exitCode,
    database: { host: report.database.host, name: report.database.name },
    startedAt: report.startedAt,
    summary: report.summary,
    // At most 100, new ones first; the summary carries the totals.
    findings: [...fresh, ...report.findings.filter((f) => f.baselined || f.ignored)].slice(0, 100).map((f) => ({
      checkId: f.checkId,
      severity: f.severity,
      object: f.object,
      count: f.count,
      fingerprint: f.fingerprint,
      ...(f.baselined ? { baselined: true } : {}),
      ...(f.ignored ? { ignored: f.ignored } : {}),
      ...(f.change ? { change: f.change } : {}),
    })),
    ...webhookComparison(report),
    text: webhookText([...(report.comparison ? [comparisonLead(report) ?? '', ...comparisonDetails(report).map((l) => `• ${l}`)] : []), head, ...problems.map((p) => `• ${p}`), ...errors, ...notPassed, ...lines]),
  };
}

/** POSTs the payload; one retry on a network error or a 5xx. Never throws. */
export async function notifyWebhook(url: string, payload: unknown, timeoutMs = 10_000): Promise<NotifyResult> {
  let error = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'integrity' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.ok) return { delivered: true, attempts: attempt };
      error = `HTTP ${res.status}`;
      if (res.status < 500) return { delivered: false, attempts: attempt, error };
    } catch (err) {
      error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
  }
  return { delivered: false, attempts: 2, error };
}

/** The webhook's host only: its path often holds a token. */
export function webhookLabel(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the webhook';
  }
}
