import { describe, expect, it } from 'vitest';
import type { AuditReport, CheckResult, Finding } from '../../src/findings.js';
import { comparisonLead, compareWithPrevious, exitCodeForNew, parsePreviousReport, otherDatabaseWarning, type PreviousReport } from '../../src/report/compare.js';
import { renderGithub } from '../../src/report/github.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { notificationPayload } from '../../src/report/notify.js';
import { renderPretty } from '../../src/report/pretty.js';
import { makeChalk } from '../../src/report/color.js';

function check(id: string, status: CheckResult['status']): CheckResult {
  return { id, title: id, severity: 'error', status, reason: null, note: null, durationMs: 1, findings: 0 };
}

function finding(checkId: string, table: string, count: number | null, fingerprint: string, schema = 'public'): Finding {
  return { checkId, severity: 'error', message: `${count} in ${table}`, object: { schema, table }, count, samples: [], fingerprint, fix: null };
}

function report(findings: Finding[], checks: CheckResult[], options: Partial<AuditReport['options']> = {}): AuditReport {
  return {
    version: '0.1.0',
    tool: 'integrity',
    database: { host: 'db', port: 5432, name: 'app', user: 'a', serverVersion: '15', systemIdentifier: '1' },
    startedAt: '2026-12-01T03:15:00.000Z',
    durationMs: 1,
    options: { schemas: ['public', 'billing'], deep: false, failOn: 'error', samplePercent: null, ...options },
    scope: { tables: 3, partitions: 0 },
    summary: { checks: { passed: 0, sampled: 0, failed: 0, skipped: 0, error: 0 }, findings: { error: findings.length, warning: 0, info: 0 } },
    checks,
    findings,
  };
}

/** An earlier report as --compare reads it: the JSON the tool wrote, parsed back. */
function previousOf(r: AuditReport): { file: string; data: PreviousReport } {
  return { file: 'prev.json', data: parsePreviousReport(JSON.stringify({ ...r, startedAt: '2026-11-30T03:15:00.000Z' }), 'prev.json') };
}

const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
const C = 'cccccccccccccccc';

describe('what --compare calls fixed, and what it cannot', () => {
  const earlier = report([finding('orphan-rows', 'a', 3, A), finding('orphan-rows', 'b', 2, B, 'billing')], [check('orphan-rows', 'failed')], { deep: true });

  it('nothing is fixed when this run reads less: without the --deep the earlier run had, or a sample, or not that schema', () => {
    const shallow = compareWithPrevious(report([], [check('orphan-rows', 'passed')]), previousOf(earlier)).comparison;
    expect(shallow?.fixed).toEqual([]);
    expect(shallow?.notRechecked.map((p) => p.reason)).toEqual(['the earlier run had --deep and this one does not', 'the earlier run had --deep and this one does not']);

    const sampled = compareWithPrevious(report([], [check('orphan-rows', 'failed')], { deep: true, samplePercent: 10 }), previousOf(earlier)).comparison;
    expect(sampled?.notRechecked.map((p) => p.reason)).toEqual(['this run read only 10% of the rows (--sample-percent)', 'this run read only 10% of the rows (--sample-percent)']);

    const onePublic = compareWithPrevious(report([], [check('orphan-rows', 'passed')], { deep: true, schemas: ['public'] }), previousOf(earlier)).comparison;
    expect([onePublic?.fixed.map((p) => p.object.table), onePublic?.notRechecked.map((p) => [p.object.table, p.reason])]).toEqual([['a'], [['b', 'schema billing was not audited']]]);

    const sampledCheck = compareWithPrevious(report([], [check('orphan-rows', 'sampled')], { deep: true }), previousOf(earlier)).comparison;
    expect(sampledCheck?.notRechecked.map((p) => p.reason)).toEqual(['check orphan-rows only sampled the tables', 'check orphan-rows only sampled the tables']);

    const gone = compareWithPrevious(report([], [check('unique', 'passed')], { deep: true }), previousOf(earlier)).comparison;
    expect(gone?.notRechecked.map((p) => p.reason)).toEqual(['check orphan-rows is not in this run', 'check orphan-rows is not in this run']);
  });

  it('a new finding the earlier run could not have seen is new but says so, and still fails --fail-on-new', () => {
    const before = report([], [check('orphan-rows', 'error')]);
    const now = compareWithPrevious(report([finding('orphan-rows', 'a', 1, A), finding('orphan-rows', 'c', 2, C)], [check('orphan-rows', 'failed')]), previousOf(before));
    expect(now.findings.map((f) => f.change)).toEqual([
      { status: 'new', uncheckedBefore: true },
      { status: 'new', uncheckedBefore: true },
    ]);
    expect(comparisonLead(now)).toBe('2 new findings (2 not looked for then) since 2026-11-30');
    expect(exitCodeForNew(now, 'error')).toBe(1);
  });

  it('counts: a schema-level finding (no count) is unchanged; shrunk and unchanged do not fail --fail-on-new', () => {
    const before = report([finding('orphan-rows', 'a', 3, A), finding('invalid-indexes', 'b', null, B)], [check('orphan-rows', 'failed'), check('invalid-indexes', 'failed')]);
    const now = compareWithPrevious(
      report([finding('orphan-rows', 'a', 1, A), finding('invalid-indexes', 'b', null, B)], [check('orphan-rows', 'failed'), check('invalid-indexes', 'failed')]),
      previousOf(before),
    );
    expect(now.findings.map((f) => f.change)).toEqual([
      { status: 'shrunk', previousCount: 3 },
      { status: 'unchanged', previousCount: null },
    ]);
    expect(exitCodeForNew(now, 'info')).toBe(0);
    expect(comparisonLead(now)).toBe('orphan-rows in public.a shrank from 3 to 1 since 2026-11-30');
    // A run with an errored check is still exit 2 under --fail-on-new.
    expect(exitCodeForNew({ ...now, checks: [...now.checks, check('unique', 'error')] }, 'error')).toBe(2);
  });

  it('names the first three that grew and counts the rest, largest growth first', () => {
    const tables = ['a', 'b', 'c', 'd', 'e'];
    const fp = (i: number) => String(i).repeat(16);
    const before = report(tables.map((t, i) => finding('orphan-rows', t, 1, fp(i))), [check('orphan-rows', 'failed')]);
    const now = compareWithPrevious(report(tables.map((t, i) => finding('orphan-rows', t, 2 + i, fp(i))), [check('orphan-rows', 'failed')]), previousOf(before));
    expect(comparisonLead(now)).toBe('orphan-rows in public.e grew from 1 to 6, orphan-rows in public.d grew from 1 to 5, orphan-rows in public.c grew from 1 to 4, 2 more grew since 2026-11-30');
  });

  it('another cluster, or another database name, is one warning line', () => {
    const before = report([], [check('orphan-rows', 'passed')]);
    const otherCluster = { ...before, database: { ...before.database, systemIdentifier: '2' } };
    const now = compareWithPrevious(report([], [check('orphan-rows', 'passed')]), previousOf(otherCluster));
    expect(otherDatabaseWarning(now)).toBe('warning: --compare prev.json is a report of database app (system 2), not of app (system 1): what it calls new or fixed may mean nothing');
    const same = compareWithPrevious(report([], [check('orphan-rows', 'passed')]), previousOf(before));
    expect([same.comparison?.otherDatabase, otherDatabaseWarning(same)]).toEqual([false, null]);
    expect(comparisonLead(same)).toBe('no change since 2026-11-30 (no finding then or now)');
  });

  it('names from the earlier file are escaped in every human format', () => {
    const hostile = finding('orphan-rows', 'x\u001b[2J\ny', 1, A);
    const before = report([hostile], [check('orphan-rows', 'failed')]);
    const now = compareWithPrevious(report([], [check('orphan-rows', 'passed')]), previousOf(before));
    const markdown = renderMarkdown(now);
    const github = renderGithub(now);
    const text = String(notificationPayload(now, 0).text);
    const pretty = renderPretty(now, { chalk: makeChalk(0), width: 120 });
    for (const out of [markdown, github, text, pretty]) expect(out).not.toContain('\u001b');
    expect(pretty.split('\n').slice(2, 5)).toEqual(['1 fixed since 2026-11-30', '  fixed: orphan-rows in public.U&"x\\001b[2J\\000ay" (was 1)', '']);
    // The name is written as psql would quote it (U&"..." for the control characters), then escaped for the format.
    expect(markdown).toContain('- fixed: orphan-rows in public.U&amp;"x\\\\001b\\[2J\\\\000ay" (was 1)');
    expect(github.split('\n')[0]).toBe('::notice title=integrity%3A what changed::1 fixed since 2026-11-30%0Afixed: orphan-rows in public.U&"x\\001b[2J\\000ay" (was 1)');
    expect(text.split('\n')[1]).toBe('• fixed: orphan-rows in public.U&amp;"x\\001b[2J\\000ay" (was 1)');
  });
});
