import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { AuditPlan } from '../../src/engine/plan.js';
import type { AuditReport } from '../../src/findings.js';
import { makeChalk } from '../../src/report/color.js';
import { slackEscape, visible, visibleLines } from '../../src/escape.js';
import { renderReport } from '../../src/report/formats.js';
import { renderGithub } from '../../src/report/github.js';
import { renderJson } from '../../src/report/json.js';
import { renderJunit } from '../../src/report/junit.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { errorNotification, notificationPayload } from '../../src/report/notify.js';
import { renderPlanPretty } from '../../src/report/plan.js';
import { renderPretty } from '../../src/report/pretty.js';
import { describeObject } from '../../src/object-names.js';
import { renderSarif } from '../../src/report/sarif.js';

/**
 * A value that, printed raw, clears the screen, homes the cursor, returns to the start of the line, draws a
 * fake verdict on a line of its own, rings the bell, and uses a C1 CSI, NEL, the Unicode separators and
 * bidi overrides and isolates.
 */
const HOSTILE = 'x\u001b[2J\u001b[H\r\nFAKE all checks passed\u0007\u009b2J\u0085\u2028\u2029\u202a\u202e\u2066\u2069\u007fy';
/** Characters no human format may carry raw (line feeds aside: the formats lay out their own lines). */
// eslint-disable-next-line no-control-regex -- these are what the test looks for
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** SGR colour sequences the reporters write themselves at colour levels above 0. */
// eslint-disable-next-line no-control-regex -- ESC [ ... m
const SGR = /\u001b\[[0-9;]*m/g;

const hostileReport: AuditReport = {
  version: '0.1.0',
  tool: 'integrity',
  database: { host: `h${HOSTILE}`, port: 5432, name: `app${HOSTILE}`, user: `u${HOSTILE}`, serverVersion: '15.20' },
  startedAt: '2026-11-23T09:00:00.000Z',
  durationMs: 12,
  options: { schemas: ['public', HOSTILE], deep: false, failOn: 'error', samplePercent: null },
  scope: { tables: 3, partitions: 0 },
  summary: { checks: { passed: 0, sampled: 1, failed: 1, skipped: 0, error: 1 }, findings: { error: 2, warning: 0, info: 0 } },
  checks: [
    { id: 'orphan-rows', title: 'Orphans', severity: 'error', status: 'failed', reason: null, note: `note ${HOSTILE}`, durationMs: 4, findings: 2 },
    { id: 'placeholder-uuid', title: 'Placeholders', severity: 'error', status: 'error', reason: `relation ${HOSTILE} does not exist`, note: null, durationMs: 1, findings: 0 },
    { id: 'users-without-profiles', title: 'Profiles', severity: 'error', status: 'sampled', reason: `sampled ${HOSTILE}`, note: null, durationMs: 1, findings: 0 },
  ],
  findings: [
    {
      checkId: 'orphan-rows',
      severity: 'error',
      message: `2 rows point at nothing: <!channel> & ${HOSTILE}`,
      object: { schema: HOSTILE, table: `t${HOSTILE}`, columns: [`c${HOSTILE}`, 'd'], constraint: `fk${HOSTILE}`, references: { schema: 'public', table: `p${HOSTILE}`, columns: [`id${HOSTILE}`] } },
      count: 2,
      samples: [HOSTILE, `\u0000 ${HOSTILE}`],
      fingerprint: '0123456789abcdef',
      fix: null,
      source: { file: `db/${HOSTILE}.sql`, line: 3 },
    },
    {
      checkId: 'orphan-rows',
      severity: 'error',
      message: `accepted ${HOSTILE}`,
      object: { schema: 'public', table: 'q', index: `i${HOSTILE}` },
      count: 1,
      samples: [HOSTILE],
      fingerprint: 'fedcba9876543210',
      fix: null,
      ignored: { reason: `legacy ${HOSTILE}`, until: null },
    },
  ],
  baseline: { file: `base${HOSTILE}.json`, accepted: 0, stale: [{ fingerprint: 'aaaaaaaaaaaaaaaa', checkId: 'orphan-rows', object: { schema: HOSTILE, table: HOSTILE }, count: 1 }] },
  expiredIgnores: [{ check: 'orphan-rows', object: `public.${HOSTILE}*`, reason: `old ${HOSTILE}`, until: '2020-01-01' }],
};

/** What every human format must satisfy: no raw control, and no line a value started (it would draw a fake verdict). */
function expectSafe(text: string): void {
  expect(text.replace(SGR, '')).not.toMatch(RAW_CONTROL);
  for (const line of text.split('\n')) expect(line.replace(SGR, '')).not.toMatch(/^\W*FAKE/);
  // The characters are still there for a person to see, as escapes.
  expect(text).toContain('\\x1b[2J');
  expect(text).toContain('\\u202e');
}

describe('visible(): the one escaping every human format prints data through', () => {
  it('writes each control as a visible escape and leaves everything else alone', () => {
    expect(visible('\u001b[31m')).toBe('\\x1b[31m');
    expect(visible('a\rb\nc\td')).toBe('a\\rb\\nc\\td');
    expect(visible('\u0000\u0007\u007f\u0085\u009b')).toBe('\\x00\\x07\\x7f\\x85\\x9b');
    expect(visible('\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069')).toBe(
      '\\u2028\\u2029\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069',
    );
    const harmless = 'plain é 日本 😀 \\x1b "quoted" <&> \u200b';
    expect(visible(harmless)).toBe(harmless);
    expect(visibleLines('a\nb\u001bc\rd')).toBe('a\nb\\x1bc\\rd');
    expect(visible(HOSTILE)).not.toMatch(RAW_CONTROL);
    expect(visible(HOSTILE)).not.toContain('\n');
  });

  it('escapes what Slack asks for', () => {
    expect(slackEscape('<!here> a & b > c')).toBe('&lt;!here&gt; a &amp; b &gt; c');
  });
});

describe('every human format escapes control characters from data, names and the config', () => {
  it.each([0, 1, 3] as const)('pretty, colour level %i', (level) => {
    const text = renderPretty(hostileReport, { chalk: makeChalk(level), width: 120 });
    expectSafe(text);
    if (level === 0) expect(text).not.toContain('\u001b');
  });

  it("pretty: a check's id, title, reason and note (from a config's SQL check or a plugin) are escaped too", () => {
    const titled: AuditReport = {
      ...hostileReport,
      checks: hostileReport.checks.map((c, i) => ({ ...c, id: `acme/c${i}${HOSTILE}`, title: `Title ${HOSTILE}`, ...(c.status === 'sampled' ? {} : { reason: `why ${HOSTILE}` }), note: `note ${HOSTILE}` })),
      findings: hostileReport.findings.map((f) => ({ ...f, checkId: `acme/c0${HOSTILE}` })),
    };
    for (const level of [0, 3] as const) {
      // Wide enough that the id and title, long with the hostile text, stay on one line to compare.
      const text = renderPretty(titled, { chalk: makeChalk(level), width: 1000 });
      expectSafe(text);
      expect(text.replace(SGR, '')).toContain(`acme/c0${visible(HOSTILE)} Title ${visible(HOSTILE)} ·`);
    }
  });

  it('markdown (the GitHub step summary and pull-request comments)', () => {
    expectSafe(renderMarkdown(hostileReport));
  });

  it('github annotations', () => {
    const text = renderGithub(hostileReport);
    expectSafe(text);
    // One workflow command per line: a value cannot start another.
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^::(error|warning|notice) /);
  });

  it('junit: the text and the attributes, parsed back', () => {
    const xml = renderJunit(hostileReport);
    expect(xml).not.toMatch(RAW_CONTROL);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
    const suites = [parsed.testsuites.testsuite].flat();
    const orphan = suites.find((s: { name: string }) => s.name === 'orphan-rows');
    const cases = [orphan.testcase].flat();
    const failure = cases[0].failure;
    for (const text of [failure.message, failure['#text'], cases[1].skipped.message]) {
      expect(text).not.toMatch(RAW_CONTROL);
      expect(text).toContain('\\x1b[2J');
    }
    // Names are quoted as SQL would (U&"...\001b..."), bidi controls escaped the same way (\202e).
    expect(cases[0].name).not.toMatch(RAW_CONTROL);
    expect(cases[0].name).toContain('\\202e');
    expect(suites.find((s: { name: string }) => s.name === 'placeholder-uuid').testcase.error.message).toContain('\\u202e');
  });

  it("the webhook's Slack-compatible text: controls escaped, & < > as entities, one line per entry", () => {
    const payload = notificationPayload(hostileReport, 1, [`problem ${HOSTILE}`]);
    const text = String(payload.text);
    expectSafe(text);
    expect(text).not.toMatch(/[<>]/);
    expect(text).not.toMatch(/&(?!amp;|lt;|gt;)/);
    expect(text).toContain('&lt;!channel&gt; &amp;');
    // head, the problem, the errored check, the sampled check, the one new finding
    expect(text.split('\n')).toHaveLength(5);
    // The structured fields stay exact: JSON carries them as they are.
    expect((payload.findings as { object: { schema: string } }[])[0]?.object.schema).toBe(HOSTILE);

    const failed = String(errorNotification(`cannot connect to <${HOSTILE}> & more`).text);
    expect(failed.split('\n')).toHaveLength(1);
    expect(failed).not.toMatch(RAW_CONTROL);
    expect(failed).not.toMatch(/[<>]/);
    expect(failed).toContain('\\x1b[2J');
  });

  it('check --plan, pretty', () => {
    const plan: AuditPlan = {
      checks: [
        {
          id: 'orphan-rows',
          title: 'Orphans',
          status: 'planned',
          reason: null,
          queries: [{ object: HOSTILE, cost: 1, sql: 'SELECT 1', strategy: `one scan of ${HOSTILE}`, pages: 1, scans: [{ schema: HOSTILE, relation: `r${HOSTILE}`, method: 'Seq Scan', index: `i${HOSTILE}`, reads: `r${HOSTILE}`, rows: 1, lookup: false }] }],
        },
        { id: 'placeholder-uuid', title: 'Placeholders', status: 'error', reason: `cannot plan ${HOSTILE}`, queries: [] },
      ],
      relations: [{ schema: HOSTILE, relation: `r${HOSTILE}`, pages: 1, bytes: 8192, estimatedRows: 1 }],
      totals: { queries: 1, pages: 1, bytes: 8192, cost: 1 },
      rowSecurity: [{ schema: HOSTILE, table: HOSTILE, forced: false, readableWhole: false }],
      role: `role${HOSTILE}`,
    };
    for (const level of [0, 3] as const) expectSafe(renderPlanPretty(plan, makeChalk(level), 200));
  });

  it('object names (also what fix --verify and --apply print): one line per part, whatever the names hold', () => {
    const o = hostileReport.findings[0]!.object;
    const text = describeObject(o);
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text.split('\n')).toHaveLength(3); // the columns, the constraint, the reference
    expect(describeObject({ schema: 'public', table: 'a\u202eb' })).toBe('public.U&"a\\202eb"');
    // A preflight statement about no table (CREATE FUNCTION) names none, rather than printing "".""
    expect(describeObject({ schema: '', table: '' })).toBe('(no table)');
    expect(describeObject({ schema: '', table: 'x' })).toBe('"".x');
  });
});

describe('JSON and SARIF stay exact', () => {
  it('json carries every value as it is (JSON escaping covers the controls)', () => {
    const json = renderJson(hostileReport);
    expect(json).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/u); // eslint-disable-line no-control-regex -- JSON escapes these
    expect(JSON.parse(json)).toEqual(hostileReport);
  });

  it('sarif carries the message and samples as they are', () => {
    const log = JSON.parse(renderSarif(hostileReport)) as { runs: { results: { message: { text: string } }[] }[] };
    expect(log.runs[0]?.results[0]?.message.text).toContain(`2 rows point at nothing: <!channel> & ${HOSTILE}`);
    expect(log.runs[0]?.results[0]?.message.text).toContain(`\u0000 ${HOSTILE}`);
  });

  it('renderReport routes every format: the human ones escaped, the machine ones exact', () => {
    for (const format of ['pretty', 'markdown', 'github'] as const) expectSafe(renderReport(format, hostileReport, { chalk: makeChalk(0), width: 100 }));
    for (const format of ['json', 'sarif'] as const) expect(renderReport(format, hostileReport, { chalk: makeChalk(0), width: 100 })).toContain('\\u001b[2J');
  });
});
