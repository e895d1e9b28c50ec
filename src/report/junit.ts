import type { AuditReport, Finding } from '../findings.js';
import { describeObject } from '../object-names.js';
import { sampledReason } from './sampled.js';
import { visible, visibleLines } from '../escape.js';

/**
 * XML 1.0 text: control characters as visible escapes (line feeds kept: the body's own lines), the two
 * non-characters XML cannot carry removed, markup escaped.
 */
export function xmlEscape(text: string): string {
  return visibleLines(text)
    .replace(/[\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function findingBody(f: Finding): string {
  return [visibleLines(f.message), f.count === null ? '' : `count: ${f.estimated ? '~' : ''}${f.count}`, f.samples.length ? `samples: ${f.samples.map(visible).join(', ')}` : '', `fingerprint: ${f.fingerprint}`]
    .filter(Boolean)
    .join('\n');
}

/**
 * JUnit XML as GitLab and Jenkins read it: one testsuite per check; one failing testcase per finding,
 * one passing testcase for a check without findings; skipped and errored checks as such. A `sampled`
 * check (nothing found in the share --sample-percent read) is a skipped testcase: never a passing one.
 */
export function renderJunit(report: AuditReport): string {
  const suites: string[] = [];
  const totals = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const check of report.checks) {
    const findings = report.findings.filter((f) => f.checkId === check.id);
    const cases: string[] = [];
    const counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
    const name = xmlEscape(check.title);
    if (check.status === 'skipped') {
      counts.tests++;
      counts.skipped++;
      cases.push(`    <testcase classname="integrity.${xmlEscape(check.id)}" name="${name}" time="0.000">\n      <skipped message="${xmlEscape(visible(check.reason ?? ''))}"/>\n    </testcase>`);
    } else if (check.status === 'sampled') {
      counts.tests++;
      counts.skipped++;
      cases.push(`    <testcase classname="integrity.${xmlEscape(check.id)}" name="${name}" time="${seconds(check.durationMs)}">\n      <skipped message="${xmlEscape(visible(sampledReason(report, check)))}"/>\n    </testcase>`);
    } else if (check.status === 'error') {
      counts.tests++;
      counts.errors++;
      cases.push(
        `    <testcase classname="integrity.${xmlEscape(check.id)}" name="${name}" time="${seconds(check.durationMs)}">\n      <error message="${xmlEscape(visible(check.reason ?? ''))}" type="error">${xmlEscape(visible(check.reason ?? ''))}</error>\n    </testcase>`,
      );
    } else if (findings.length === 0) {
      counts.tests++;
      cases.push(`    <testcase classname="integrity.${xmlEscape(check.id)}" name="${name}" time="${seconds(check.durationMs)}"/>`);
    }
    for (const f of findings) {
      counts.tests++;
      const name = `    <testcase classname="integrity.${xmlEscape(check.id)}" name="${xmlEscape(describeObject(f.object).replace(/\n/g, ' '))}" time="0.000">`;
      if (f.baselined || f.ignored) {
        // Accepted findings are not failures: shown as skipped, with why.
        counts.skipped++;
        const why = f.ignored ? `ignored: ${visible(f.ignored.reason)}` : 'accepted in the baseline';
        cases.push(`${name}\n      <skipped message="${xmlEscape(`${why}: ${visibleLines(f.message)}`)}"/>\n    </testcase>`);
        continue;
      }
      counts.failures++;
      cases.push(`${name}\n      <failure message="${xmlEscape(f.message)}" type="${f.severity}">${xmlEscape(findingBody(f))}</failure>\n    </testcase>`);
    }
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += counts[k];
    suites.push(
      `  <testsuite name="${xmlEscape(check.id)}" tests="${counts.tests}" failures="${counts.failures}" errors="${counts.errors}" skipped="${counts.skipped}" time="${seconds(check.durationMs)}" timestamp="${report.startedAt}">\n${cases.join('\n')}\n  </testsuite>`,
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="integrity" tests="${totals.tests}" failures="${totals.failures}" errors="${totals.errors}" skipped="${totals.skipped}" time="${seconds(report.durationMs)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
