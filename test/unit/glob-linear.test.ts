import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditReport, Finding } from '../../src/findings.js';
import { applySuppressions } from '../../src/report/suppress.js';
import { globMatch, globMatcher, globToRegExp, type GlobMeter } from '../../src/glob.js';

/** The translation the globs had before, with `s` and `u` so that it means exactly what globMatch means. */
function reference(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'su');
}

/** A name of 10 kB that matches every star but fails at the very end: the worst case for backtracking. */
const HOSTILE_TEXT = `public.${'a'.repeat(10_000)}`;
const HOSTILE_GLOB = `${'*a'.repeat(16)}*b`; // 17 stars, never matches
const BOUND_MS = 1_000; // the linear matcher takes about a millisecond; the old one took minutes

/**
 * Runs `regex.exec(text)` in a worker and gives up after `deadlineMs`: a regular expression that
 * backtracks cannot be interrupted on the test's own thread, so it would hang the run instead of failing.
 */
function execWithDeadline(regex: RegExp, text: string, deadlineMs: number): Promise<{ finished: boolean; matched?: boolean; ms: number }> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const re = new RegExp(workerData.source, workerData.flags);
    const start = performance.now();
    const matched = re.exec(workerData.text) !== null;
    parentPort.postMessage({ matched, ms: performance.now() - start });`;
  const worker = new Worker(code, { eval: true, workerData: { source: regex.source, flags: regex.flags, text } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve({ finished: false, ms: deadlineMs });
    }, deadlineMs);
    worker.once('message', (m: { matched: boolean; ms: number }) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve({ finished: true, ...m });
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function timed<T>(work: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = work();
  return { value, ms: performance.now() - start };
}

describe('config globs match in linear time', () => {
  // First: should matching regress to backtracking, this case fails in seconds, while the hostile ones
  // below would hang the run for hours (they are skipped then).
  let moderateCasePassed = false;
  it('a moderately hostile glob (the old translation took seconds here) is well under a second', () => {
    const glob = `${'*a'.repeat(6)}*b`;
    const text = 'a'.repeat(60);
    for (const match of [() => globToRegExp(glob).test(text), () => globMatch(glob, text), () => globMatcher(glob).test(text)]) {
      const { value, ms } = timed(match);
      expect(value).toBe(false);
      expect(ms).toBeLessThan(BOUND_MS);
    }
    moderateCasePassed = true;
  });

  it('globMatch takes at most (|text| + 1) x (|glob| + 1) steps, however many stars', () => {
    if (!moderateCasePassed) throw new Error('the moderate case failed; not running the hostile ones, which would take hours');
    for (const glob of [HOSTILE_GLOB, '*'.repeat(64), `${'*?'.repeat(30)}b`, '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a', 'public.*']) {
      for (const text of [HOSTILE_TEXT, 'a'.repeat(3_000), `${'ab'.repeat(2_000)}c`]) {
        const meter: GlobMeter = { steps: 0 };
        globMatch(glob, text, meter);
        expect(meter.steps).toBeLessThanOrEqual((Array.from(text).length + 1) * (Array.from(glob).length + 1));
      }
    }
    // And far fewer on the common shapes: one pass for a prefix glob.
    const meter: GlobMeter = { steps: 0 };
    expect(globMatch('public.*', HOSTILE_TEXT, meter)).toBe(true);
    expect(meter.steps).toBeLessThanOrEqual(HOSTILE_TEXT.length + 1);
  });

  it('the RegExp that globToRegExp returns cannot backtrack either: exec on its pattern, in a worker with a deadline', async () => {
    const regex = globToRegExp(HOSTILE_GLOB);
    const run = await execWithDeadline(regex, HOSTILE_TEXT, 5_000);
    expect(run.finished).toBe(true);
    expect(run.matched).toBe(false);
    expect(run.ms).toBeLessThan(BOUND_MS);
    // The same pattern where it does match, found at once too.
    const hit = await execWithDeadline(globToRegExp(`${'*a'.repeat(16)}*`), HOSTILE_TEXT, 5_000);
    expect(hit).toMatchObject({ finished: true, matched: true });
  });

  it('16 stars against a hostile 10 kB name, as runner.ts (samples.exclude) and ignore entries use them, in well under a second', () => {
    if (!moderateCasePassed) throw new Error('the moderate case failed; not running the hostile one, which would take hours');
    const regex = globToRegExp(HOSTILE_GLOB);
    expect(timed(() => regex.test(HOSTILE_TEXT)).ms).toBeLessThan(BOUND_MS);
    expect(timed(() => globMatcher(HOSTILE_GLOB).test(HOSTILE_TEXT)).ms).toBeLessThan(BOUND_MS);
    expect(timed(() => HOSTILE_TEXT.match(regex)).ms).toBeLessThan(BOUND_MS);

    // applySuppressions matches each ignore entry against `schema.table` and `schema.table.column`.
    const finding: Finding = {
      checkId: 'orphan-rows',
      severity: 'error',
      message: 'm',
      object: { schema: 'public', table: 'a'.repeat(10_000), column: 'a'.repeat(100) },
      count: 1,
      samples: [],
      fingerprint: '0123456789abcdef',
      fix: null,
    };
    const report = { findings: [finding], checks: [], options: { schemas: ['public'] } } as unknown as AuditReport;
    const ignore = Array.from({ length: 8 }, (_, i) => ({ check: 'orphan-rows', object: `${HOSTILE_GLOB}${i}`, reason: 'r' }));
    const { value, ms } = timed(() => applySuppressions(report, { ignore, today: '2026-01-01' }));
    expect(ms).toBeLessThan(BOUND_MS);
    expect(value.findings[0]?.ignored).toBeUndefined();
    expect(applySuppressions(report, { ignore: [{ check: 'orphan-rows', object: 'public.*a', reason: 'r' }], today: '2026-01-01' }).findings[0]?.ignored).toEqual({ reason: 'r', until: null });
  });
});

describe('config globs keep their meaning', () => {
  it('* is any run, ? one character, everything else literal, case-sensitive', () => {
    const cases: [string, string, boolean][] = [
      ['public.*', 'public.users', true],
      ['public.*', 'public.', true],
      ['public.*', 'Public.users', false],
      ['PUBLIC.*', 'public.users', false],
      ['*.users', 'auth.users', true],
      ['auth.user?', 'auth.users', true],
      ['auth.user?', 'auth.user', false],
      ['a.b', 'aXb', false],
      ['a+b(c)|[d]{2}^$\\', 'a+b(c)|[d]{2}^$\\', true],
      ['*', '', true],
      ['?', '', false],
      ['?', '😀', true],
      ['a*', 'a\nb', true],
      ['*x*y*z', 'xxyyzzy', false],
      ['*x*y*z', 'xxyyz', true],
      ['', '', true],
      ['', 'a', false],
    ];
    for (const [glob, text, expected] of cases) {
      expect([glob, text, globMatch(glob, text)]).toEqual([glob, text, expected]);
      expect([glob, text, globToRegExp(glob).test(text)]).toEqual([glob, text, expected]);
      expect([glob, text, globToRegExp(glob).exec(text) !== null]).toEqual([glob, text, expected]);
    }
  });

  it('agrees with the old translation on every small glob and name (property)', () => {
    const glob = fc.string({ unit: fc.constantFrom('a', 'b', '*', '?', '.', '\\', '[', '\n', '😀'), maxLength: 8 });
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '.', '\\', '[', '\n', '😀', 'A'), maxLength: 12 });
    fc.assert(
      fc.property(glob, text, (g, t) => {
        const expected = reference(g).test(t);
        expect(globMatch(g, t)).toBe(expected);
        expect(globToRegExp(g).test(t)).toBe(expected);
        expect(globToRegExp(g).exec(t) !== null).toBe(expected);
      }),
      { numRuns: 3_000 },
    );
  });

  it('globToRegExp still returns a RegExp, as runner.ts expects', () => {
    const regex = globToRegExp('public.*');
    expect(regex).toBeInstanceOf(RegExp);
    expect(['public.a', 'auth.a'].filter((n) => regex.test(n))).toEqual(['public.a']);
    expect('x'.split(regex)).toEqual(['x']);
  });
});
