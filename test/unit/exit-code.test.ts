import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import type { CheckResult, CheckStatus, FailOn, Finding, Severity } from '../../src/findings.js';
import { exitCodeFor, nothingAudited } from '../../src/report/exit-code.js';

function check(id: string, status: CheckStatus): CheckResult {
  return { id, title: id, severity: 'error', status, reason: null, note: null, durationMs: 1, findings: 0 };
}

function finding(severity: Severity): Finding {
  return {
    checkId: 'orphan-rows',
    severity,
    message: 'm',
    object: { schema: 'public', table: 't' },
    count: 1,
    samples: [],
    fingerprint: '0000000000000000',
    fix: null,
  };
}

const passed = [check('a', 'passed')];
const failed = [check('a', 'failed')];

describe('exit codes', () => {
  it('are 0, 1 and 2', () => {
    expect(EXIT).toEqual({ ok: 0, findings: 1, auditFailed: 2 });
  });
});

describe('exitCodeFor', () => {
  const cases: { name: string; checks: CheckResult[]; findings: Severity[]; failOn: FailOn; expected: number }[] = [
    { name: 'nothing found', checks: passed, findings: [], failOn: 'error', expected: 0 },
    { name: 'an error finding, fail on error', checks: failed, findings: ['error'], failOn: 'error', expected: 1 },
    { name: 'a warning finding, fail on error', checks: failed, findings: ['warning'], failOn: 'error', expected: 0 },
    { name: 'an info finding, fail on error', checks: failed, findings: ['info'], failOn: 'error', expected: 0 },
    { name: 'an error finding, fail on warning', checks: failed, findings: ['error'], failOn: 'warning', expected: 1 },
    { name: 'a warning finding, fail on warning', checks: failed, findings: ['warning'], failOn: 'warning', expected: 1 },
    { name: 'an info finding, fail on warning', checks: failed, findings: ['info'], failOn: 'warning', expected: 0 },
    { name: 'an info finding, fail on info', checks: failed, findings: ['info'], failOn: 'info', expected: 1 },
    { name: 'a warning finding, fail on info', checks: failed, findings: ['warning'], failOn: 'info', expected: 1 },
    { name: 'mixed findings below and at the threshold', checks: failed, findings: ['info', 'warning', 'info'], failOn: 'warning', expected: 1 },
    { name: 'only findings below the threshold', checks: failed, findings: ['info', 'warning', 'info'], failOn: 'error', expected: 0 },
    { name: 'an error finding, fail on never', checks: failed, findings: ['error'], failOn: 'never', expected: 0 },
    { name: 'a check errored', checks: [check('a', 'passed'), check('b', 'error')], findings: [], failOn: 'error', expected: 2 },
    { name: 'a check errored, fail on never', checks: [check('b', 'error')], findings: [], failOn: 'never', expected: 2 },
    { name: 'a check errored beside error findings', checks: [check('a', 'failed'), check('b', 'error')], findings: ['error'], failOn: 'error', expected: 2 },
    { name: 'some checks skipped, one ran', checks: [check('a', 'skipped'), check('b', 'passed')], findings: [], failOn: 'info', expected: 0 },
    { name: 'a sampled check is not a finding', checks: [check('a', 'sampled'), check('b', 'skipped')], findings: [], failOn: 'info', expected: 0 },
  ];
  it.each(cases)('$name -> $expected', ({ checks, findings, failOn, expected }) => {
    expect(exitCodeFor({ checks, findings: findings.map(finding), scope: SCOPE, options: OPTIONS }, failOn)).toBe(expected);
  });
});

const SCOPE = { tables: 3, partitions: 0 };
const OPTIONS = { schemas: ['public'], deep: false, failOn: 'error' as const, samplePercent: null };

describe('no silent pass: an audit that covered nothing exits 2 unless --allow-empty', () => {
  const cases: { name: string; checks: CheckResult[]; scope: { tables: number; partitions: number }; expected: number; allowed: number }[] = [
    { name: 'no table in the audited schemas', checks: passed, scope: { tables: 0, partitions: 0 }, expected: 2, allowed: 0 },
    { name: 'partitions only count as tables', checks: passed, scope: { tables: 0, partitions: 2 }, expected: 0, allowed: 0 },
    { name: 'every check skipped or deselected', checks: [check('a', 'skipped'), check('b', 'skipped')], scope: SCOPE, expected: 2, allowed: 0 },
    { name: 'no check at all', checks: [], scope: SCOPE, expected: 2, allowed: 0 },
    { name: 'only sampled checks ran', checks: [check('a', 'sampled'), check('b', 'skipped')], scope: SCOPE, expected: 0, allowed: 0 },
    { name: 'an errored check is exit 2 either way', checks: [check('a', 'error')], scope: { tables: 0, partitions: 0 }, expected: 2, allowed: 2 },
  ];
  it.each(cases)('$name -> $expected, with --allow-empty $allowed', ({ checks, scope, expected, allowed }) => {
    const report = { checks, findings: [], scope, options: OPTIONS };
    expect(exitCodeFor(report, 'error')).toBe(expected);
    expect(exitCodeFor(report, 'never')).toBe(expected);
    expect(exitCodeFor(report, 'error', { allowEmpty: true })).toBe(allowed);
  });

  it('says why in one line, and says nothing when something was audited', () => {
    expect(nothingAudited({ checks: passed, scope: { tables: 0, partitions: 0 }, options: OPTIONS })).toMatch(/^nothing was audited: schema public holds no table .*--allow-empty[^\n]*$/);
    expect(nothingAudited({ checks: [check('a', 'skipped')], scope: SCOPE, options: OPTIONS })).toMatch(/^nothing was audited: no check ran .*--allow-empty[^\n]*$/);
    expect(nothingAudited({ checks: passed, scope: SCOPE, options: OPTIONS })).toBeNull();
  });
});
