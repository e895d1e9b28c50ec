import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/findings.js';
import { escapeData, escapeProperty, renderGithub } from '../../src/report/github.js';
import { renderJunit } from '../../src/report/junit.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderSarif } from '../../src/report/sarif.js';
import { CHECKS } from '../../checks/index.js';
import * as zod from 'zod';

/** A fixed result with every status, and names that break naive escaping. */
const report: AuditReport = {
  version: '0.1.0',
  tool: 'integrity',
  database: { host: 'db', port: 5432, name: 'app', user: 'auditor', serverVersion: '15.20' },
  startedAt: '2026-11-23T09:00:00.000Z',
  durationMs: 1234,
  options: { schemas: ['public', 'Billing Dept'], deep: false, failOn: 'error', samplePercent: null },
  scope: { tables: 3, partitions: 0 },
  summary: { checks: { passed: 1, sampled: 0, failed: 1, skipped: 1, error: 1 }, findings: { error: 1, warning: 1, info: 0 } },
  checks: [
    { id: 'jsonb-int-cast-index', title: 'JSON text cast', severity: 'error', status: 'passed', reason: null, note: null, durationMs: 5, findings: 0 },
    { id: 'orphan-rows', title: 'Orphans <&>', severity: 'error', status: 'failed', reason: null, note: 'verified 1', durationMs: 40, findings: 2 },
    { id: 'placeholder-uuid', title: 'Placeholders', severity: 'error', status: 'error', reason: 'permission denied for table "x" [42501]', note: null, durationMs: 3, findings: 0 },
    { id: 'users-without-profiles', title: 'Profiles', severity: 'error', status: 'skipped', reason: 'no table auth.users', note: null, durationMs: 0, findings: 0 },
  ],
  findings: [
    {
      checkId: 'orphan-rows',
      severity: 'error',
      message: '2 rows of "Billing Dept"."Invoice | Line" point at 100% nothing:\nsecond line, with a comma',
      object: { schema: 'Billing Dept', table: 'Invoice | Line', columns: ['Tenant', 'No'], constraint: 'fk <1>' },
      count: 2,
      samples: ['["acme", 9]', `it's & "quoted"`],
      fingerprint: '0123456789abcdef',
      fix: null,
    },
    {
      checkId: 'orphan-rows',
      severity: 'warning',
      message: 'warn',
      object: { schema: 'public', table: 't' },
      count: null,
      samples: [],
      fingerprint: 'fedcba9876543210',
      fix: null,
    },
  ],
};

describe('junit reporter', () => {
  const xml = renderJunit(report);
  const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(xml);

  it('parses back: one suite per check, one case per finding or passed check, skipped and errored as such', () => {
    const root = parsed.testsuites;
    expect([root.tests, root.failures, root.errors, root.skipped]).toEqual(['5', '2', '1', '1']);
    expect(root.testsuite.map((s: { name: string; tests: string }) => [s.name, s.tests])).toEqual([
      ['jsonb-int-cast-index', '1'],
      ['orphan-rows', '2'],
      ['placeholder-uuid', '1'],
      ['users-without-profiles', '1'],
    ]);
    const orphan = root.testsuite[1].testcase[0];
    expect(orphan.name).toBe('"Billing Dept"."Invoice | Line"("Tenant", "No") constraint "fk <1>"');
    expect(orphan.failure.message).toBe(report.findings[0]?.message);
    expect(orphan.failure['#text']).toContain(`samples: ["acme", 9], it's & "quoted"`);
    expect(root.testsuite[2].testcase[0].error.message).toBe('permission denied for table "x" [42501]');
    expect(root.testsuite[3].testcase[0].skipped.message).toBe('no table auth.users');
  });

  it('never writes a character XML cannot carry: controls are written as visible escapes', () => {
    const nasty = { ...report, findings: [{ ...report.findings[1]!, message: 'bell \u0007 here\uFFFE' }] };
    const xml = renderJunit(nasty);
    expect(xml).toContain('message="bell \\x07 here"');
    // eslint-disable-next-line no-control-regex -- the characters XML 1.0 forbids
    expect(xml).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/);
  });
});

describe('github reporter', () => {
  it('escapes as the Actions toolkit does', () => {
    expect(escapeData('100%\r\nnext')).toBe('100%25%0D%0Anext');
    expect(escapeProperty('a: b, c')).toBe('a%3A b%2C c');
  });

  it('writes one annotation per finding and errored check, and a notice with the totals last', () => {
    expect(renderGithub(report).split('\n').filter(Boolean)).toEqual([
      '::error title=integrity orphan-rows%3A "Billing Dept"."Invoice | Line"("Tenant"%2C "No") constraint "fk <1>"::2 rows of "Billing Dept"."Invoice | Line" point at 100%25 nothing:%0Asecond line, with a comma%0Asamples: ["acme", 9], it\'s & "quoted"',
      '::warning title=integrity orphan-rows%3A public.t::warn',
      '::error title=integrity placeholder-uuid could not run::permission denied for table "x" [42501]',
      '::notice title=integrity::4 checks: 1 passed, 1 failed, 1 skipped, 1 errored; findings: 1 error, 1 warning, 0 info; 2 new, 0 accepted (baseline or ignore)',
    ]);
  });

  it('annotates only new findings; accepted ones count in the notice; stale and expired entries are warnings', () => {
    const withAccepted: AuditReport = {
      ...report,
      findings: [{ ...report.findings[0]!, baselined: true }, report.findings[1]!],
      baseline: { file: 'b.json', accepted: 1, stale: [{ fingerprint: 'aaaaaaaaaaaaaaaa', checkId: 'orphan-rows', object: { schema: 'public', table: 'gone' }, count: 1 }] },
      expiredIgnores: [{ check: 'placeholder-uuid', object: 'public.*', reason: 'old', until: '2020-01-01' }],
    };
    const lines = renderGithub(withAccepted).split('\n').filter(Boolean);
    expect(lines.filter((l) => l.startsWith('::error title=integrity orphan-rows'))).toEqual([]);
    expect(lines).toContain('::warning title=integrity baseline::orphan-rows on public.gone no longer occurs; shrink the baseline with --prune-baseline');
    expect(lines).toContain('::warning title=integrity ignore expired::placeholder-uuid on public.* expired on 2020-01-01 and no longer applies (old)');
    expect(lines.at(-1)).toMatch(/; 1 new, 1 accepted \(baseline or ignore\)$/);
    expect(renderJunit(withAccepted)).toContain('<skipped message="accepted in the baseline: 2 rows of');
    expect(renderMarkdown(withAccepted)).toMatch(/^### integrity: 1 error, 1 warning, 0 info \(1 new, 1 accepted\)/);
    expect(renderMarkdown(withAccepted)).toContain('| error (baselined) |');
  });
});

describe('markdown reporter', () => {
  it('summarises checks and findings in tables, escaping pipes and line breaks', () => {
    const md = renderMarkdown(report);
    expect(md).toMatch(/^### integrity: 1 error, 1 warning, 0 info\n/);
    expect(md).toContain('| `placeholder-uuid` | ⚠️ error | 0 | permission denied for table "x" \\[42501\\] |');
    expect(md).toContain('| `users-without-profiles` | ⏭️ skipped | 0 | no table auth.users |');
    expect(md).toContain('| error | `orphan-rows` | "Billing Dept"."Invoice \\| Line"("Tenant", "No")<br>constraint "fk &lt;1&gt;" | 2 | 2 rows of "Billing Dept"."Invoice \\| Line" point at 100% nothing:<br>second line, with a comma |');
  });
});

describe('sarif reporter', () => {
  const { z } = zod;
  const text = z.strictObject({ text: z.string().min(1) });
  // The parts of SARIF 2.1.0 that GitHub code scanning reads, checked strictly where we write them.
  const sarif = z.object({
    $schema: z.literal('https://json.schemastore.org/sarif-2.1.0.json'),
    version: z.literal('2.1.0'),
    runs: z
      .array(
        z.object({
          tool: z.object({
            driver: z.object({
              name: z.literal('integrity'),
              version: z.string(),
              rules: z.array(z.object({ id: z.string(), shortDescription: text, fullDescription: text, help: z.object({ text: z.string(), markdown: z.string() }) })),
            }),
          }),
          automationDetails: z.object({ id: z.string().regex(/\/$/) }),
          results: z.array(
            z.object({
              ruleId: z.string(),
              ruleIndex: z.number().int().min(0),
              level: z.enum(['error', 'warning', 'note']),
              message: text,
              locations: z
                .array(z.object({ physicalLocation: z.object({ artifactLocation: z.object({ uri: z.string() }), region: z.object({ startLine: z.number().int().min(1) }) }) }))
                .length(1),
              partialFingerprints: z.record(z.string(), z.string()),
            }),
          ),
        }),
      )
      .length(1),
  });

  it('has one rule per check, one located result per finding, fingerprints, suppressions and the category', () => {
    const withBaseline = { ...report, findings: [{ ...report.findings[0]!, baselined: true as const }, report.findings[1]!] };
    const log = sarif.parse(JSON.parse(renderSarif(withBaseline, 'integrity-nightly', CHECKS)));
    const run = log.runs[0]!;
    // One rule per check the audit reports (built-ins, plugins and SQL checks alike), in the report's order.
    expect(run.tool.driver.rules.map((r) => r.id)).toEqual(report.checks.map((c) => c.id));
    expect(run.automationDetails.id).toBe('integrity-nightly/');
    expect(run.results.map((r) => [r.ruleId, r.level, r.locations[0]?.physicalLocation.artifactLocation.uri, r.partialFingerprints['integrity/v1']])).toEqual([
      ['orphan-rows', 'error', 'db/Billing%20Dept/Invoice%20%7C%20Line.sql', '0123456789abcdef'],
      ['orphan-rows', 'warning', 'db/public/t.sql', 'fedcba9876543210'],
    ]);
    const raw = JSON.parse(renderSarif(withBaseline)) as { runs: { results: { suppressions?: unknown }[] }[] };
    expect(raw.runs[0]?.results.map((r) => r.suppressions)).toEqual([[{ kind: 'external', justification: 'accepted in the baseline' }], undefined]);
  });
});

describe('sarif reporter against the official SARIF 2.1.0 JSON schema', () => {
  it('validates (schema rtm.5, as shipped in @microsoft/jest-sarif)', async () => {
    const { readFileSync } = await import('node:fs');
    const { createRequire } = await import('node:module');
    const { Ajv } = await import('ajv');
    const require = createRequire(import.meta.url);
    const schemaPath = require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
    // The schema is written for draft-04 (`id`, `$schema`); its keywords otherwise mean the same to Ajv 8.
    delete schema.$schema;
    delete schema.id;
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, unicodeRegExp: false });
    const validate = ajv.compile(schema);
    const withSuppression = { ...report, findings: [{ ...report.findings[0]!, ignored: { reason: 'legacy', until: null } }, report.findings[1]!] };
    for (const r of [report, withSuppression, { ...report, findings: [] }]) {
      const ok = validate(JSON.parse(renderSarif(r)));
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    }
    // The validator is live: a result without a message is rejected.
    const broken = JSON.parse(renderSarif(report)) as { runs: { results: Record<string, unknown>[] }[] };
    delete broken.runs[0]?.results[0]?.message;
    expect(validate(broken)).toBe(false);
  });
});

describe('json and pretty reporters on the fixed result', () => {
  it('json is the result itself, two-space indented', async () => {
    const { renderJson } = await import('../../src/report/json.js');
    expect(JSON.parse(renderJson(report))).toEqual(report);
    expect(renderJson(report)).toMatch(/^\{\n {2}"version": "0\.1\.0",/);
  });

  it('pretty shows every status, the reasons and the identifiers quoted, without colour at level 0', async () => {
    const { renderPretty } = await import('../../src/report/pretty.js');
    const { makeChalk } = await import('../../src/report/color.js');
    const text = renderPretty(report, { chalk: makeChalk(0), width: 120 });
    expect(text).not.toContain('\u001b[');
    expect(text).toContain('✔ jsonb-int-cast-index');
    expect(text).toContain('✖ orphan-rows');
    expect(text).toMatch(/! placeholder-uuid .*\n {2}error: permission denied for table "x" \[42501\]/);
    expect(text).toMatch(/○ users-without-profiles .*\n {2}reason: no table auth\.users/);
    expect(text).toContain('"Billing Dept"."Invoice | Line"');
    expect(text).toMatch(/4 checks: 1 passed, 1 failed, 1 skipped, 1 errored · findings: 1 error, 1 warning, 0 info · 1234 ms\n$/);
  });
});

describe('every reporter on the fixed result, against its snapshot', () => {
  // One finding placed by a migrations folder, so both kinds of SARIF location are in the snapshots.
  const snapshotReport: AuditReport = {
    ...report,
    findings: report.findings.map((f, i) => (i === 0 ? { ...f, source: { file: 'db/migrations/001_init.sql', line: 12 } } : f)),
  };
  it.each([
    ['pretty', 'txt'],
    ['json', 'json'],
    ['junit', 'xml'],
    ['sarif', 'sarif'],
    ['github', 'txt'],
    ['markdown', 'md'],
  ] as const)('%s', async (format, ext) => {
    const { renderReport } = await import('../../src/report/formats.js');
    const { makeChalk } = await import('../../src/report/color.js');
    const text = renderReport(format, snapshotReport, { chalk: makeChalk(0), width: 120, sarifCategory: 'integrity/gate', checks: CHECKS });
    await expect(text).toMatchFileSnapshot(`./__snapshots__/report.${format}.${ext}`);
  });
});

describe('no silent pass: a check that found nothing under --sample-percent is "sampled" in every format, never passed', () => {
  const REASON = 'nothing found in the 10% read';
  const sampledReport: AuditReport = {
    ...report,
    options: { ...report.options, samplePercent: 10 },
    summary: { checks: { passed: 1, sampled: 1, failed: 1, skipped: 1, error: 0 }, findings: { error: 1, warning: 1, info: 0 } },
    checks: [
      report.checks[0]!,
      report.checks[1]!,
      { id: 'placeholder-uuid', title: 'Placeholders', severity: 'error', status: 'sampled', reason: REASON, note: null, durationMs: 3, findings: 0 },
      report.checks[3]!,
    ],
  };

  it('pretty: the sampled mark and the reason, and the summary counts it apart from passed', async () => {
    const { renderPretty } = await import('../../src/report/pretty.js');
    const { makeChalk } = await import('../../src/report/color.js');
    const text = renderPretty(sampledReport, { chalk: makeChalk(0), width: 120 });
    expect(text).toMatch(/◐ placeholder-uuid .*· sampled · 3 ms\n {2}not a pass: nothing found in the 10% read\n/);
    expect(text).toContain('--sample-percent 10 (counts are estimates)');
    expect(text).toMatch(/4 checks: 1 passed, 1 sampled \(nothing found in the share read\), 1 failed, 1 skipped, 0 errored/);
  });

  it('json: status sampled with the reason', async () => {
    const { renderJson } = await import('../../src/report/json.js');
    const json = JSON.parse(renderJson(sampledReport)) as AuditReport;
    expect(json.checks.find((c) => c.id === 'placeholder-uuid')).toMatchObject({ status: 'sampled', reason: REASON });
    expect(json.summary.checks).toMatchObject({ passed: 1, sampled: 1 });
  });

  it('junit: a skipped testcase with the reason, not a passing one', () => {
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(renderJunit(sampledReport));
    const suite = parsed.testsuites.testsuite.find((s: { name: string }) => s.name === 'placeholder-uuid');
    expect([suite.tests, suite.skipped, suite.failures, suite.errors]).toEqual(['1', '1', '0', '0']);
    expect(suite.testcase[0].skipped.message).toBe(REASON);
    expect(parsed.testsuites.skipped).toBe('2');
  });

  it('sarif: a notification naming the check and the reason, still valid SARIF', () => {
    const log = JSON.parse(renderSarif(sampledReport)) as { runs: { invocations: { executionSuccessful: boolean; toolExecutionNotifications: { level: string; message: { text: string } }[] }[] }[] };
    const invocation = log.runs[0]!.invocations[0]!;
    expect(invocation.toolExecutionNotifications).toEqual([{ level: 'note', message: { text: `placeholder-uuid: ${REASON} (sampled, not passed)` } }]);
  });

  it('github: an annotation for the check, and the totals count it as sampled', () => {
    const lines = renderGithub(sampledReport).split('\n').filter(Boolean);
    expect(lines).toContain('::notice title=integrity placeholder-uuid sampled%2C not passed::nothing found in the 10%25 read');
    expect(lines.at(-1)).toMatch(/^::notice title=integrity::4 checks: 1 passed, 1 sampled \(nothing found in the share read\), 1 failed/);
  });

  it('markdown (and the GitHub step summary): the row says sampled, with the reason', () => {
    const md = renderMarkdown(sampledReport);
    expect(md).toContain(`| \`placeholder-uuid\` | ◐ sampled, not a pass | 0 | ${REASON} |`);
    expect(md).toContain('4 checks: 1 passed, 1 sampled (nothing found in the share read), 1 failed');
  });

  it('webhook: status sampled on exit 0 (never passed), and a line for the check', async () => {
    const { notificationPayload } = await import('../../src/report/notify.js');
    const clean = { ...sampledReport, findings: [], checks: sampledReport.checks.filter((c) => c.status !== 'failed') };
    const payload = notificationPayload(clean, 0);
    expect(payload.status).toBe('sampled');
    expect(String(payload.text).split('\n')).toContain(`• [sampled] placeholder-uuid: ${REASON}`);
    expect(notificationPayload({ ...clean, checks: clean.checks.filter((c) => c.status !== 'sampled') }, 0).status).toBe('passed');
  });
});
