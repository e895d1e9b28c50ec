import type { CheckDefinition } from '../check.js';
import type { AuditReport, Finding, Severity } from '../findings.js';
import { sampledReason } from './sampled.js';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };

/** A stable path per object, for findings no migration places: GitHub shows no result without a physical location. */
export function objectPath(f: Finding): string {
  return `db/${encodeURIComponent(f.object.schema)}/${encodeURIComponent(f.object.table)}.sql`;
}

/**
 * SARIF 2.1.0: one rule per check with its help text, one result per finding with the finding's
 * fingerprint; baselined and ignored findings carry a suppression. `category` becomes
 * runAutomationDetails.id, so the nightly run and the gate stay apart in code scanning.
 */
export function renderSarif(report: AuditReport, category = 'integrity', definitions: readonly CheckDefinition[] = []): string {
  // One rule per check the audit knew of (built-ins, plugins, SQL checks), with its docs when given.
  const ruleIds = [...new Set([...report.checks.map((c) => c.id), ...report.findings.map((f) => f.checkId)])];
  const rules = ruleIds.map((id) => {
    const c = definitions.find((d) => d.id === id);
    const result = report.checks.find((r) => r.id === id);
    const title = c?.title ?? result?.title ?? id;
    const docs = c?.docs ?? {};
    const finds = docs.finds ?? c?.description ?? title;
    const parts = [finds, docs.why ? `Why: ${docs.why}` : '', docs.fix ? `Fix: ${docs.fix}` : ''].filter(Boolean);
    const markdown = [
      finds,
      docs.why ? `**Why it matters.** ${docs.why}` : '',
      docs.fix ? `**How to fix.** ${docs.fix}` : '',
      docs.bad ? `Instead of:\n\n\`\`\`sql\n${docs.bad}\n\`\`\`` : '',
      docs.good ? `Use:\n\n\`\`\`sql\n${docs.good}\n\`\`\`` : '',
    ].filter(Boolean);
    return {
      id,
      name: id.replace(/(^|[-/])(\w)/g, (_m, _d, ch: string) => ch.toUpperCase()),
      shortDescription: { text: title },
      fullDescription: { text: c?.description ?? title },
      help: { text: parts.join('\n\n'), markdown: markdown.join('\n\n') },
      defaultConfiguration: { level: LEVEL[c?.severity ?? result?.severity ?? 'error'] },
      properties: { tags: ['data-integrity', 'postgresql'] },
    };
  });
  const results = report.findings.map((f) => {
    const columns = f.object.column ? [f.object.column] : (f.object.columns ?? []);
    const name = [f.object.schema, f.object.table, ...(columns.length === 1 ? columns : [])].join('.');
    return {
      ruleId: f.checkId,
      ruleIndex: Math.max(0, ruleIds.indexOf(f.checkId)),
      level: LEVEL[f.severity],
      message: { text: `${f.message}${f.samples.length ? ` (samples: ${f.samples.join(', ')})` : ''}` },
      locations: [
        {
          physicalLocation: f.source
            ? { artifactLocation: { uri: f.source.file, uriBaseId: '%SRCROOT%' }, region: { startLine: f.source.line } }
            : { artifactLocation: { uri: objectPath(f), uriBaseId: 'DATABASE' }, region: { startLine: 1 } },
          // A preflight statement about no table has no object in the database to name.
          ...(f.object.schema === '' && f.object.table === '' ? {} : { logicalLocations: [{ fullyQualifiedName: name, kind: columns.length === 1 ? 'member' : 'type' }] }),
        },
      ],
      partialFingerprints: { 'integrity/v1': f.fingerprint },
      ...(f.baselined || f.ignored
        ? { suppressions: [{ kind: 'external', justification: f.ignored ? f.ignored.reason : 'accepted in the baseline' }] }
        : {}),
      properties: { count: f.count, ...(f.estimated ? { estimated: true } : {}) },
    };
  });
  const errors = report.checks.filter((c) => c.status === 'error');
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'integrity', version: report.version, semanticVersion: report.version, rules } },
        // Exactly the category (GitHub's upload keeps an id the run already has): stable across renames.
        automationDetails: { id: `${category}/` },
        originalUriBaseIds: {
          DATABASE: { description: { text: `database ${report.database.name}` } },
          '%SRCROOT%': { description: { text: 'the directory integrity ran in (the repository root in CI)' } },
        },
        invocations: [
          {
            executionSuccessful: errors.length === 0,
            startTimeUtc: report.startedAt,
            toolExecutionNotifications: [
              ...errors.map((c) => ({ level: 'error', message: { text: `${c.id}: ${c.reason ?? 'error'}` } })),
              // SARIF has results only for what was found; a check that found nothing in a sample is not a clean pass.
              ...report.checks
                .filter((c) => c.status === 'sampled')
                .map((c) => ({ level: 'note', message: { text: `${c.id}: ${sampledReason(report, c)} (sampled, not passed)` } })),
            ],
          },
        ],
        results,
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
