import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaseMismatchError, CheckTester, CheckTesterError, type CheckTestCase } from '../../src/testing/index.js';
import { adminUrl, query } from '../helpers/db.js';
import { ORDERS_SCHEMA, alwaysErrors, ordersHaveLines } from './orders-check.js';

const ORDERS_ONE_WITHOUT_LINES = `${ORDERS_SCHEMA}
INSERT INTO public.orders VALUES (1), (2), (3);
INSERT INTO public.order_lines VALUES (10, 1), (11, 1), (12, 2);`;

const missingLines = (count: number, samples?: string[]) => ({
  kind: 'missing-lines',
  severity: 'error' as const,
  object: { schema: 'public', table: 'orders', references: { schema: 'public', table: 'order_lines', columns: ['order_id'] } },
  count,
  ...(samples ? { samples } : {}),
});

const TABLE: CheckTestCase[] = [
  { name: 'an order without lines', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [missingLines(1, ['3'])] },
  { name: 'every order has a line', fixture: `${ORDERS_SCHEMA} INSERT INTO public.orders VALUES (1); INSERT INTO public.order_lines VALUES (10, 1);`, findings: [] },
  { name: 'minLines from the config', fixture: ORDERS_ONE_WITHOUT_LINES, config: { checks: { 'test/orders-have-lines': { minLines: 2 } } }, findings: [missingLines(2, ['2', '3'])] },
  { name: 'severity from the config', fixture: ORDERS_ONE_WITHOUT_LINES, config: { checks: { 'test/orders-have-lines': { severity: 'warning' } } }, findings: [{ ...missingLines(1), severity: 'warning' }] },
  { name: 'skipped without its tables', fixture: 'CREATE TABLE public.other (id integer);', findings: [], status: 'skipped', reason: /no table public\.orders/ },
];

// The way a project uses it: one vitest test per case (vitest's globals are off here, so they are given).
new CheckTester({ databaseUrl: adminUrl(), describe, it }).run(ordersHaveLines, TABLE);

describe('CheckTester under a test framework', () => {
  it('registers one test per case under a describe named by the check, and a mismatch fails its test', async () => {
    const registered: { suite: string; name: string; body: () => Promise<void>; timeout: number | undefined }[] = [];
    let suite = '';
    const fakeDescribe = (name: string, body: () => void) => {
      suite = name;
      body();
    };
    const fakeIt = (name: string, body: () => Promise<void>, timeout?: number) => registered.push({ suite, name, body, timeout });
    const results = await new CheckTester({ databaseUrl: adminUrl(), describe: fakeDescribe, it: fakeIt, timeoutMs: 30_000 }).run(ordersHaveLines, [
      { name: 'right', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [missingLines(1)] },
      { name: 'wrong', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [] },
    ]);
    expect(results).toEqual([]);
    expect(registered.map((r) => [r.suite, r.name, r.timeout])).toEqual([
      ['test/orders-have-lines', 'right', 30_000],
      ['test/orders-have-lines', 'wrong', 30_000],
    ]);
    await expect(registered[0]?.body()).resolves.toBeUndefined();
    await expect(registered[1]?.body()).rejects.toThrow(/wrong: expected status passed, got failed/);
  });

  it('uses the global describe and it when they exist (jest, vitest with globals)', async () => {
    const names: string[] = [];
    const g = globalThis as { describe?: unknown; it?: unknown };
    g.describe = (_name: string, body: () => void) => body();
    g.it = (name: string) => names.push(name);
    try {
      await new CheckTester({ databaseUrl: adminUrl() }).run(ordersHaveLines, [{ name: 'registered', fixture: '', findings: [] }]);
    } finally {
      delete g.describe;
      delete g.it;
    }
    expect(names).toEqual(['registered']);
  });
});

describe('CheckTester in throw mode', () => {
  const tester = () => new CheckTester({ databaseUrl: adminUrl(), mode: 'throw' });

  it('runs a passing table and resolves to each case with its report', async () => {
    const results = await tester().run(ordersHaveLines, TABLE);
    expect(results.map((r) => [r.name, r.status, r.findings.length])).toEqual([
      ['an order without lines', 'failed', 1],
      ['every order has a line', 'passed', 0],
      ['minLines from the config', 'failed', 1],
      ['severity from the config', 'failed', 1],
      ['skipped without its tables', 'skipped', 0],
    ]);
    expect(results[0]?.report.tool).toBe('integrity');
  });

  it('rejects a wrong count, showing the expected and the actual finding', async () => {
    const run = tester().run(ordersHaveLines, [{ name: 'wrong count', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [missingLines(2)] }]);
    await expect(run).rejects.toBeInstanceOf(CaseMismatchError);
    await expect(run).rejects.toThrow(
      [
        'test/orders-have-lines › wrong count: expected 1 finding(s), got 1; 0 matched',
        '  expected, not found:',
        '    - {"kind":"missing-lines","severity":"error","object":{"schema":"public","table":"orders","references":{"schema":"public","table":"order_lines","columns":["order_id"]}},"count":2}',
        '  found, not expected:',
        '    + {"severity":"error","object":{"schema":"public","table":"orders","references":{"schema":"public","table":"order_lines","columns":["order_id"]}},"count":1,"samples":["3"],"fingerprint":',
      ].join('\n'),
    );
  });

  it('stops at the first case that differs', async () => {
    const ran: string[] = [];
    const run = tester().run(ordersHaveLines, [
      { name: 'first, wrong', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [] },
      { name: 'second', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [missingLines(1)] },
    ]);
    await run.catch((err: CaseMismatchError) => ran.push(err.result.name));
    expect(ran).toEqual(['first, wrong']);
    await expect(run).rejects.toThrow(/first, wrong: expected status passed, got failed\nexpected 0 finding\(s\), got 1; 0 matched\n {2}found, not expected:/);
  });

  it('compares the kind through the fingerprint, and samples as a set', async () => {
    await expect(tester().run(ordersHaveLines, [{ name: 'samples in another order', fixture: ORDERS_ONE_WITHOUT_LINES, config: { checks: { 'test/orders-have-lines': { minLines: 2 } } }, findings: [missingLines(2, ['3', '2'])] }])).resolves.toHaveLength(1);
    await expect(tester().run(ordersHaveLines, [{ name: 'wrong kind', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [{ ...missingLines(1), kind: 'other' }] }])).rejects.toThrow(/wrong kind: expected 1 finding\(s\), got 1; 0 matched/);
    await expect(tester().run(ordersHaveLines, [{ name: 'wrong samples', fixture: ORDERS_ONE_WITHOUT_LINES, findings: [missingLines(1, ['1'])] }])).rejects.toThrow(/0 matched/);
  });

  it('an errored check does not pass a case that expects no findings', async () => {
    await expect(tester().run(alwaysErrors, [{ name: 'errors', fixture: '', findings: [] }])).rejects.toThrow(/errors: expected status passed, got error \(.*division by zero/);
    await expect(tester().run(alwaysErrors, [{ name: 'expected to error', fixture: '', findings: [], status: 'error', reason: 'division by zero' }])).resolves.toHaveLength(1);
  });

  it('names a fixture that fails to load', async () => {
    await expect(tester().run(ordersHaveLines, [{ name: 'bad fixture', fixture: 'CREATE TABLE oops (', findings: [] }])).rejects.toThrow(/bad fixture: the fixture failed: syntax error/);
  });

  it('runs a built-in check named by id, and one from a plugin in its config', async () => {
    await expect(tester().run('orphan-rows', [{ name: 'nothing to orphan', fixture: 'CREATE TABLE t (id integer PRIMARY KEY);', findings: [] }])).resolves.toHaveLength(1);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-tester-plugin-'));
    writeFileSync(
      path.join(dir, 'always.check.mjs'),
      `export default { id: 'tmp/always', title: 'Always one', severity: 'warning', description: 'One finding on public.t.',
         async run(ctx) { return [ctx.finding({ kind: 'always', message: 'always', object: { schema: 'public', table: 't' }, count: 1 })]; } };\n`,
    );
    const withPlugin = new CheckTester({ databaseUrl: adminUrl(), mode: 'throw', config: { plugins: ['./'] }, cwd: dir });
    await expect(withPlugin.run('tmp/always', [{ name: 'one', fixture: 'CREATE TABLE t (id integer);', findings: [{ kind: 'always', severity: 'warning', object: { schema: 'public', table: 't' }, count: 1 }] }])).resolves.toHaveLength(1);
    await expect(withPlugin.run('tmp/nope', [{ name: 'one', fixture: '', findings: [] }])).rejects.toThrow(/unknown check "tmp\/nope"; known checks: .*tmp\/always/);
  });

  it('drops every database it created', async () => {
    await tester().run(ordersHaveLines, [{ name: 'cleanup', fixture: ORDERS_SCHEMA, findings: [] }]);
    const left = await query<{ datname: string }>(adminUrl(), `SELECT datname FROM pg_database WHERE datname LIKE $1`, [`integrity_test_%_${process.pid}_%`]);
    expect(left).toEqual([]);
  });
});

describe('CheckTester refuses a table it cannot judge', () => {
  const tester = new CheckTester({ databaseUrl: 'postgres://never-connected.invalid/x', mode: 'throw' });

  it('a case without findings', () => {
    expect(() => tester.run(ordersHaveLines, [{ name: 'no findings', fixture: '' } as unknown as CheckTestCase])).toThrow(
      new CheckTesterError('test/orders-have-lines: case 0 ("no findings") has no "findings": list every finding the check must report, or [] for a case where it must pass'),
    );
  });

  it('duplicate case names', () => {
    expect(() =>
      tester.run(ordersHaveLines, [
        { name: 'twice', fixture: '', findings: [] },
        { name: 'twice', fixture: 'SELECT 1', findings: [] },
      ]),
    ).toThrow('test/orders-have-lines: duplicate case name "twice": every case needs its own');
  });

  it('an unknown check id, an invalid check object, and an empty table', () => {
    expect(() => tester.run('no-such-check', [{ name: 'x', fixture: '', findings: [] }])).toThrow(/^unknown check "no-such-check"; known checks: .*jsonb-int-cast-index, models-without-pricing, orphan-rows, placeholder-uuid, .*users-without-profiles/);
    expect(() => tester.run({ ...ordersHaveLines, id: 'bare-id' }, [{ name: 'x', fixture: '', findings: [] }])).toThrow(/^not a check: CheckTester: check "bare-id" is not a valid check: id must be namespaced/);
    expect(() => tester.run(ordersHaveLines, [])).toThrow('test/orders-have-lines: expected a non-empty array of cases');
  });

  it('expected findings that compare prose, miss a count, or contradict the status', () => {
    const run = (c: Partial<CheckTestCase> & Record<string, unknown>) => () => tester.run(ordersHaveLines, [{ name: 'c', fixture: '', findings: [], ...c } as CheckTestCase]);
    expect(run({ findings: [{ ...missingLines(1), message: '1 order' } as never] })).toThrow(/findings\[0\]: "message" is never compared/);
    expect(run({ findings: [{ object: { schema: 'public', table: 'orders' } } as never] })).toThrow(/findings\[0\]: "count" is required/);
    expect(run({ findings: [{ object: { schema: 'public', table: 'orders', colum: 'id' }, count: 1 } as never] })).toThrow(/unknown object field "colum"/);
    expect(run({ findings: [{ ...missingLines(1), checkId: 'other/check' }] })).toThrow(/checkId "other\/check" is not the check under test/);
    expect(run({ status: 'failed' })).toThrow(/status "failed" needs the findings/);
    expect(run({ status: 'passed', findings: [missingLines(1)] })).toThrow(/status "passed" with findings cannot both hold/);
    expect(run({ reason: /x/ })).toThrow(/"reason" goes with status skipped, error or sampled/);
  });
});
