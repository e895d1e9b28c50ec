import { describe, expect, it } from 'vitest';
import { audit } from '../../src/audit.js';
import type { AuditReport, CheckResult, Finding } from '../../src/findings.js';
import { installMatchers, integrityMatchers } from '../../src/testing/index.js';
import { useDatabase } from '../helpers/db.js';
import { ORDERS_SCHEMA, alwaysErrors, ordersHaveLines } from './orders-check.js';

installMatchers(expect);

const check = (id: string, status: CheckResult['status'], reason: string | null = null): CheckResult => ({ id, title: id, severity: 'error', status, reason, note: null, durationMs: 1, findings: 0 });
const finding = (checkId: string, table: string, count: number): Finding => ({
  checkId,
  severity: 'error',
  message: 'prose the matchers never read',
  object: { schema: 'public', table, column: 'id' },
  count,
  samples: ['1'],
  fingerprint: '0123456789abcdef',
  fix: null,
});
const report = (checks: CheckResult[], findings: Finding[] = []): AuditReport => ({
  version: '0',
  tool: 'integrity',
  database: { host: 'h', port: 5432, name: 'db', user: 'u', serverVersion: '15' },
  startedAt: new Date(0).toISOString(),
  durationMs: 1,
  options: { schemas: ['public'], deep: false, failOn: 'error', samplePercent: null },
  scope: { tables: 1, partitions: 0 },
  summary: { checks: { passed: 0, sampled: 0, failed: 0, skipped: 0, error: 0 }, findings: { error: 0, warning: 0, info: 0 } },
  checks,
  findings,
});

describe('integrity matchers on reports', () => {
  const clean = report([check('a/one', 'passed'), check('a/two', 'skipped', 'not selected by --check')]);
  const failing = report([check('a/one', 'failed'), check('a/two', 'passed')], [finding('a/one', 'orders', 3)]);
  const errored = report([check('a/one', 'passed'), check('a/two', 'error', 'permission denied for table orders')]);

  it('toHaveNoFindings: passes on a clean report, a deselected check aside', () => {
    expect(clean).toHaveNoFindings();
    expect(clean).toHaveNoFindings('a/one');
    expect(failing).not.toHaveNoFindings();
    expect(failing).toHaveNoFindings('a/two');
    expect(() => expect(failing).toHaveNoFindings()).toThrow('expected no findings, but:\n  1 finding(s): a/one on public.orders.id (count 3)');
  });

  it('toHaveNoFindings: an errored, sampled or skipped check is not a pass', () => {
    expect(errored).not.toHaveNoFindings();
    expect(() => expect(errored).toHaveNoFindings()).toThrow('check a/two is error: permission denied for table orders');
    expect(errored).not.toHaveNoFindings('a/two');
    expect(() => expect(errored).toHaveNoFindings('a/two')).toThrow('expected check a/two to pass, but it is error: permission denied for table orders');
    expect(report([check('a/one', 'sampled', 'nothing found in the 10% read')])).not.toHaveNoFindings();
    expect(clean).not.toHaveNoFindings('a/two');
    expect(report([check('a/one', 'skipped', 'no table')])).not.toHaveNoFindings();
    expect(() => expect(clean).toHaveNoFindings('a/three')).toThrow('toHaveNoFindings: the report has no check a/three; checks: a/one, a/two');
  });

  it('toHaveFindings: the exact set, by checkId, object and count', () => {
    const expected = { checkId: 'a/one', object: { schema: 'public', table: 'orders', column: 'id' }, count: 3 };
    expect(failing).toHaveFindings([expected]);
    expect(failing).toHaveFindings([{ ...expected, severity: 'error', samples: ['1'], fingerprint: '0123456789abcdef' }]);
    expect(failing).not.toHaveFindings([{ ...expected, count: 4 }]);
    expect(failing).not.toHaveFindings([]);
    expect(failing).not.toHaveFindings([expected, { ...expected, object: { schema: 'public', table: 'lines' } }]);
    expect(clean).toHaveFindings([]);
    expect(() => expect(failing).toHaveFindings([{ ...expected, count: 4 }])).toThrow(
      [
        'expected 1 finding(s), got 1; 0 matched',
        '  expected, not found:',
        '    - {"checkId":"a/one","object":{"schema":"public","table":"orders","column":"id"},"count":4}',
        '  found, not expected:',
        '    + {"checkId":"a/one","severity":"error","object":{"schema":"public","table":"orders","column":"id"},"count":3,"samples":["1"],"fingerprint":"0123456789abcdef"}',
      ].join('\n'),
    );
  });

  it('toHaveFindings: an errored check fails it, even when the findings match', () => {
    expect(errored).not.toHaveFindings([]);
    expect(() => expect(errored).toHaveFindings([])).toThrow(/a check errored .*\n {2}check a\/two errored: permission denied/);
  });

  it('toPassCheck', () => {
    expect(failing).toPassCheck('a/two');
    expect(failing).not.toPassCheck('a/one');
    expect(clean).not.toPassCheck('a/two');
    expect(errored).not.toPassCheck('a/two');
    expect(() => expect(failing).toPassCheck('a/one')).toThrow('expected check a/one to pass, but it is failed: a/one on public.orders.id (count 3)');
  });

  it('refuses what is not a report or not an expectation, negated or not', () => {
    expect(() => expect({}).toHaveNoFindings()).toThrow(/expected an audit report/);
    expect(() => expect({}).not.toHaveNoFindings()).toThrow(/expected an audit report/);
    expect(() => expect(clean).not.toHaveFindings([{ object: { schema: 'public', table: 'x' }, count: 1 } as never])).toThrow(/expected\[0\]: "checkId" is required/);
    expect(() => expect(clean).toHaveFindings([{ checkId: 'a/one', message: 'x', object: { schema: 'public', table: 'x' }, count: 1 } as never])).toThrow(/"message" is never compared/);
  });

  it('is a plain object of matcher functions, for expect.extend in any framework', () => {
    expect(Object.keys(integrityMatchers).sort()).toEqual(['toHaveFindings', 'toHaveNoFindings', 'toPassCheck']);
    const result = integrityMatchers.toPassCheck.call({}, clean, 'a/one');
    expect(result.pass).toBe(true);
    expect(result.message()).toBe('expected check a/one not to pass, but it passed');
  });
});

describe('integrity matchers on a real audit', () => {
  const db = useDatabase('matchers', { sql: [`${ORDERS_SCHEMA} INSERT INTO public.orders VALUES (1), (2); INSERT INTO public.order_lines VALUES (10, 1);`] });

  it('reads what audit() returns', async () => {
    const found = await audit({ databaseUrl: db.url, config: {}, extraChecks: [ordersHaveLines], checks: ['test/orders-have-lines'] });
    expect(found).toHaveFindings([
      { checkId: 'test/orders-have-lines', kind: 'missing-lines', object: { schema: 'public', table: 'orders', references: { schema: 'public', table: 'order_lines', columns: ['order_id'] } }, count: 1, samples: ['2'] },
    ]);
    expect(found).not.toPassCheck('test/orders-have-lines');
    expect(found).not.toHaveNoFindings();
    const clean = await audit({ databaseUrl: db.url, config: {}, checks: ['orphan-rows'] });
    expect(clean).toHaveNoFindings();
    expect(clean).toPassCheck('orphan-rows');
  });

  it('an errored check fails toHaveNoFindings', async () => {
    const errored = await audit({ databaseUrl: db.url, config: {}, extraChecks: [alwaysErrors], checks: ['test/always-errors'] });
    expect(errored.checks.find((c) => c.id === 'test/always-errors')?.status).toBe('error');
    expect(errored.findings).toEqual([]);
    expect(errored).not.toHaveNoFindings();
    expect(errored).not.toHaveNoFindings('test/always-errors');
    expect(() => expect(errored).toHaveNoFindings()).toThrow(/check test\/always-errors is error: .*division by zero/);
  });
});
