import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { AuditReport, CheckResult, Finding, Severity } from '../findings.js';
import { checkCounts, sampledReason } from './sampled.js';
import { visible, visibleLines } from '../escape.js';
import { describeObject } from '../object-names.js';
import { displayWidth, wrapParts, wrapText } from './wrap.js';
import { withAcceptedFailures } from './suppress.js';
import { changeNote, prettyComparison } from './compare.js';

export interface PrettyOptions {
  chalk: ChalkInstance;
  /** Terminal width (see terminalWidth): every line, tables included, is wrapped to fit. */
  width: number;
}

/**
 * The width to lay the report out for: the terminal's when stdout is one, else COLUMNS when it holds a
 * width (the user's say for a pipe or a file), else 120.
 */
export function terminalWidth(stdout: { isTTY?: boolean; columns?: number }, env: NodeJS.ProcessEnv): number {
  if (stdout.isTTY && stdout.columns !== undefined && Number.isInteger(stdout.columns) && stdout.columns > 0) return stdout.columns;
  const columns = env.COLUMNS?.trim() ?? '';
  if (/^[1-9][0-9]{0,4}$/.test(columns)) return Number(columns);
  return 120;
}

type SeverityColors = Record<Severity, (s: string) => string>;

/** Continuation lines of a wrapped line start here, under the text rather than under the mark. */
const INDENT = '  ';
/** Below this a table of four columns leaves too little room for names and messages: a list instead. */
const TABLE_MIN_WIDTH = 60;
/** cli-table3's padding: one space each side of a cell. */
const PADDING = 2;
const SEVERITY_COLUMN = 'severity'.length + PADDING;
const MIN_FINDING_COLUMN = 20;
const MAX_COUNT_COLUMN = 12;

const STATUS_MARK: Record<CheckResult['status'], string> = { passed: '✔', sampled: '◐', failed: '✖', skipped: '○', error: '!' };

export function renderPretty(report: AuditReport, { chalk, width }: PrettyOptions): string {
  const severityColor: SeverityColors = {
    error: (s) => chalk.red.bold(s),
    warning: (s) => chalk.yellow(s),
    info: (s) => chalk.cyan(s),
  };
  const statusColor: Record<CheckResult['status'], (s: string) => string> = {
    passed: (s) => chalk.green(s),
    sampled: (s) => chalk.yellow(s),
    failed: (s) => chalk.red(s),
    skipped: (s) => chalk.gray(s),
    error: (s) => chalk.magenta.bold(s),
  };
  const lines: string[] = [];
  const db = report.database;
  const gray = (text: string) => chalk.gray(text);
  lines.push(
    wrapParts(
      [
        chalk.bold(`${report.tool} ${report.version}`),
        gray(visible(`${db.user}@${db.host}${db.host.startsWith('socket:') ? '' : `:${db.port}`}/${db.name}`)),
        gray(`PostgreSQL ${visible(db.serverVersion)}`),
        gray(`schemas: ${visible(report.options.schemas.join(', ')) || 'none'}`),
        ...(report.options.deep ? [gray('--deep')] : []),
        ...(report.options.samplePercent !== null ? [gray(`--sample-percent ${report.options.samplePercent} (counts are estimates)`)] : []),
      ],
      width,
      INDENT,
      ' · ',
      gray,
    ),
  );
  lines.push('');
  lines.push(...prettyComparison(report, chalk, width));

  const byCheck = new Map<string, Finding[]>();
  for (const f of report.findings) byCheck.set(f.checkId, [...(byCheck.get(f.checkId) ?? []), f]);

  for (const check of report.checks) {
    // The id and title come from the config or a plugin, as the reason and note do: escaped like data.
    const mark = statusColor[check.status](`${STATUS_MARK[check.status]} ${visible(check.id)}`);
    const count = check.status === 'failed' ? `${check.findings} finding${check.findings === 1 ? '' : 's'}` : check.status;
    lines.push(wrapParts([`${mark}${gray(` ${visible(check.title)}`)}`, statusColor[check.status](count), gray(`${check.durationMs} ms`)], width, INDENT, ' · ', gray));
    if (check.status === 'sampled') lines.push(wrapText(`  ${statusColor.sampled('not a pass:')} ${visible(sampledReason(report, check))}`, width, INDENT));
    else if (check.reason) lines.push(wrapText(`  ${statusColor[check.status](`${check.status === 'error' ? 'error' : 'reason'}:`)} ${visible(check.reason)}`, width, INDENT));
    if (check.note) lines.push(chalk.gray(wrapText(`  ${visible(check.note)}`, width, INDENT)));
    const findings = byCheck.get(check.id) ?? [];
    if (findings.length > 0) lines.push(width >= TABLE_MIN_WIDTH ? findingsTable(findings, chalk, severityColor, width) : findingsList(findings, chalk, severityColor, width));
    lines.push('');
  }

  const s = report.summary;
  const checksPart = withAcceptedFailures(checkCounts(report), report);
  const findingsPart = `findings: ${s.findings.error} error, ${s.findings.warning} warning, ${s.findings.info} info`;
  const summaryColor = s.checks.error > 0 ? chalk.magenta.bold : s.checks.failed > 0 ? chalk.red.bold : s.checks.sampled > 0 ? chalk.yellow.bold : chalk.green.bold;
  if (report.baseline && report.baseline.stale.length > 0) {
    lines.push(wrapText(chalk.yellow(`baseline ${visible(report.baseline.file)}: ${report.baseline.stale.length} entr${report.baseline.stale.length === 1 ? 'y no longer occurs' : 'ies no longer occur'}; shrink it with --prune-baseline`), width, INDENT));
  }
  for (const e of report.expiredIgnores ?? []) {
    lines.push(wrapText(chalk.yellow(`ignore for ${visible(e.check)} on ${visible(e.object)} expired on ${visible(e.until)} and no longer applies (${visible(e.reason)})`), width, INDENT));
  }
  const accepted = report.findings.filter((f) => f.baselined || f.ignored).length;
  lines.push(wrapParts([summaryColor(checksPart), `${findingsPart}${accepted ? ` (${accepted} baselined or ignored)` : ''}`, `${report.durationMs} ms`], width, INDENT));
  return `${lines.join('\n')}\n`;
}

/** What a finding shows, as plain text (names and data already made visible): colour is added per part. */
interface FindingText {
  severity: Severity;
  object: string;
  count: string;
  message: string;
  samples: string | null;
  accepted: string | null;
}

function findingText(f: Finding): FindingText {
  const accepted = f.baselined ? 'baselined' : f.ignored ? `ignored: ${visible(f.ignored.reason)}${f.ignored.until ? ` (until ${visible(f.ignored.until)})` : ''}` : null;
  return {
    severity: f.severity,
    object: describeObject(f.object),
    count: `${f.count === null ? '—' : `${f.estimated ? '~' : ''}${f.count}`}${changeNote(f)}`,
    message: visibleLines(f.message),
    samples: f.samples.length > 0 ? `samples: ${f.samples.map(visible).join(', ')}` : null,
    accepted: accepted ? `(${accepted}: does not fail the run)` : null,
  };
}

/** Text whose every line starts with `prefix`, wrapped to `width` with the same prefix on the lines a break makes. */
function wrapIndented(text: string, width: number, prefix: string): string {
  return wrapText(text.split('\n').map((l) => `${prefix}${l}`).join('\n'), width, prefix);
}

/** The finding's message, samples and acceptance, each wrapped to `width` and then coloured. */
function findingBody(t: FindingText, chalk: ChalkInstance, width: number, prefix = ''): string {
  const parts = [wrapIndented(t.message, width, prefix)];
  if (t.samples) parts.push(chalk.gray(wrapIndented(t.samples, width, prefix)));
  if (t.accepted) parts.push(chalk.gray(wrapIndented(t.accepted, width, prefix)));
  return parts.join('\n');
}

function widest(text: string): number {
  return Math.max(0, ...text.split('\n').map(displayWidth));
}

/**
 * How wide the object and finding columns are (padding included), out of `room`: each gets what it needs
 * when both fit; else the object, the point of the finding, gets what it needs as long as the finding keeps
 * 40% of the room (a message wraps well at its spaces, a name does not), and the finding the rest. Both
 * are wrapped to their width, never cut.
 */
function splitRoom(room: number, objectNeeds: number, findingNeeds: number): [number, number] {
  if (objectNeeds + findingNeeds <= room) return [objectNeeds, findingNeeds];
  const findingKeeps = Math.min(findingNeeds, Math.max(MIN_FINDING_COLUMN, Math.floor(room * 0.4)));
  const object = Math.min(objectNeeds, room - findingKeeps);
  return [object, room - object];
}

function findingsTable(findings: Finding[], chalk: ChalkInstance, severityColor: SeverityColors, width: number): string {
  const texts = findings.map(findingText);
  // A count with a note (--compare's "(was 3)") wraps within a narrow column rather than take the names' room.
  const countColumn = Math.min(Math.max('count'.length, ...texts.map((t) => displayWidth(t.count))), MAX_COUNT_COLUMN) + PADDING;
  // Five borders: one left of each of the four columns and one at the right end.
  const room = width - 5 - SEVERITY_COLUMN - countColumn;
  const [objectColumn, findingColumn] = splitRoom(
    room,
    Math.max('object'.length, ...texts.map((t) => widest(t.object))) + PADDING,
    Math.max('finding'.length, ...texts.map((t) => widest([t.message, t.samples ?? '', t.accepted ?? ''].join('\n')))) + PADDING,
  );
  const table = new Table({
    head: ['severity', 'object', 'count', 'finding'].map((h) => chalk.bold(h)),
    colWidths: [SEVERITY_COLUMN, objectColumn, countColumn, findingColumn],
    // Every cell is wrapped here to its column, so cli-table3 has nothing to cut or re-wrap.
    wordWrap: false,
    style: { head: [], border: [] },
  });
  for (const t of texts) {
    const row = [
      t.accepted ? chalk.gray(t.severity) : severityColor[t.severity](t.severity),
      wrapText(t.object, objectColumn - PADDING),
      wrapText(t.count, countColumn - PADDING),
      findingBody(t, chalk, findingColumn - PADDING),
    ];
    table.push(t.accepted ? row.map((c) => chalk.dim(c)) : row);
  }
  return table.toString();
}

/** On a terminal too narrow for a table: each finding as a few indented lines, wrapped to the width. */
function findingsList(findings: Finding[], chalk: ChalkInstance, severityColor: SeverityColors, width: number): string {
  const deeper = `${INDENT}${INDENT}`;
  return findings
    .map((f) => {
      const t = findingText(f);
      const severity = t.accepted ? chalk.gray(t.severity) : severityColor[t.severity](t.severity);
      const block = [
        wrapText(`${INDENT}${severity} · count ${t.count}`, width, deeper),
        wrapIndented(t.object, width, deeper),
        findingBody(t, chalk, width, deeper),
      ].join('\n');
      return t.accepted ? chalk.dim(block) : block;
    })
    .join('\n');
}
