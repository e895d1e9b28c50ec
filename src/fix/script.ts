import type { AuditReport, Finding, FindingFix } from '../findings.js';
import { describeObject } from '../object-names.js';
import { CREATE_QUARANTINE_SCHEMA, QUARANTINE_SCHEMA, literal } from './quarantine.js';
import { repairSafety, type Repair, type RepairStep } from './types.js';

/**
 * Characters that must never reach a script raw from user text: every one psql's or the server's lexer
 * treats as a line end (CR, LF), the other C0/C1 controls and DEL (terminal escapes), the Unicode line
 * and paragraph separators (editors and viewers break lines there), and the bidirectional overrides and
 * isolates (a viewer would show a comment's text in another order).
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Shows an unprintable character as `\xHH` / `\uHHHH`, so a comment line can only end where we end it. */
export function visibleText(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A `--` comment: one line per `\n` of ours; anything else that could end a line is made visible. */
export function comment(text: string, prefix = '-- '): string {
  return text
    .split('\n')
    .map((l) => `${prefix}${visibleText(l)}`.trimEnd())
    .join('\n');
}

function objectLine(finding: Finding): string {
  return describeObject(finding.object).replace(/\n/g, ' · ');
}

function renderTransactionStep(step: RepairStep): string {
  if (step.safety === 'review') {
    const head = [`REVIEW: ${step.description}`, ...(step.decision ? [`Decide: ${step.decision}`] : []), 'Uncomment to run:'];
    return `${comment(head.join('\n'))}\n${comment(step.sql, '-- ')}`;
  }
  return `${comment(`${step.safety === 'destructive' ? 'DESTRUCTIVE (rows are quarantined first): ' : ''}${step.description}`)}\n${step.sql}`;
}

/** A concurrent step runs only while its guard says there is work left, so a second run changes nothing. */
function renderConcurrentStep(step: RepairStep, n: number): string {
  const body = step.guard
    ? `SELECT (${step.guard}) AS integrity_todo_${n} \\gset\n\\if :integrity_todo_${n}\n${step.sql}\n\\endif`
    : step.sql;
  if (step.safety === 'review') {
    const head = [`REVIEW: ${step.description}`, ...(step.decision ? [`Decide: ${step.decision}`] : []), 'Uncomment to run:'];
    return `${comment(head.join('\n'))}\n${comment(body)}`;
  }
  return `${comment(step.description)}\n${body}`;
}

function header(finding: Finding, repair: Repair, index: number, total: number): string {
  return comment(
    [
      `[${index}/${total}] ${finding.checkId} · ${objectLine(finding)}`,
      `count: ${finding.count ?? '—'} · safety: ${repairSafety(repair)} · fingerprint: ${finding.fingerprint}`,
      repair.summary,
      ...(repair.restore?.length ? ["To put quarantined rows back (the rows they referred to must exist again; the table's INSERT and UPDATE triggers fire again):", ...repair.restore.map((r) => `  ${r}`)] : []),
    ].join('\n'),
  );
}

/** The finding's own block, as it appears in the script (for the JSON report's `fix.sql`). */
export function findingFix(finding: Finding, repair: Repair): FindingFix {
  const tx = repair.steps.filter((s) => s.phase === 'transaction');
  const cc = repair.steps.filter((s) => s.phase === 'concurrent');
  const parts = [header(finding, repair, 1, 1), ...tx.map(renderTransactionStep)];
  if (cc.length > 0) parts.push(comment('after COMMIT (cannot run in a transaction):'), ...cc.map((s, i) => renderConcurrentStep(s, i + 1)));
  return {
    safety: repairSafety(repair),
    summary: repair.summary,
    sql: parts.join('\n'),
    steps: repair.steps.map((s) => ({
      safety: s.safety,
      phase: s.phase,
      description: s.description,
      ...(s.decision ? { decision: s.decision } : {}),
      sql: s.sql,
    })),
  };
}

export interface ScriptContext {
  report: AuditReport;
  repairs: { finding: Finding; repair: Repair }[];
  /** Repairs `fix --safety safe` left out: named in the header, so the script says what it does not do. */
  leftOut?: { finding: Finding; repair: Repair }[];
}

/**
 * Settings the script relies on, pinned as pg_dump pins its restore session: literals mean what they say
 * whatever the server's default (`standard_conforming_strings`), no object a user created is found by an
 * unqualified name (`search_path`), a copy sees every row the delete removes or fails (`row_security`).
 */
export function sessionPins(): string[] {
  return [
    "SET client_encoding = 'UTF8';",
    'SET standard_conforming_strings = on;',
    "SET search_path = pg_catalog, pg_temp;",
    'SET row_security = off;',
    'SET check_function_bodies = false;',
    // As pg_dump pins them: a constant the audit deparsed (a date, an interval, a float in a condition) reads back as the same value.
    "SET DateStyle = 'ISO, MDY';",
    "SET IntervalStyle = 'postgres';",
    'SET extra_float_digits = 3;',
    "SET lock_timeout = '10s';",
    // Only a superuser may set it, so it is checked rather than set: under `replica` no foreign key
    // cascades, and the deletes would leave orphans behind.
    `DO $integrity_role$ BEGIN IF pg_catalog.current_setting('session_replication_role') OPERATOR(pg_catalog.<>) 'origin' THEN RAISE EXCEPTION ${"'"}integrity: session_replication_role is not origin in this session, so foreign keys would neither cascade nor be checked: run the script as a role without that setting${"'"}; END IF; END $integrity_role$;`,
  ];
}

/** Refuses to run against another database than the audited one, unless `psql -v integrity_any_database=1`. */
function databaseGuard(report: AuditReport): string[] {
  const db = report.database;
  const sameCluster = db.systemIdentifier ? ` AND (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() AS s) = ${literal(db.systemIdentifier)}` : '';
  return [
    comment(`Written for database ${db.name}${db.systemIdentifier ? ` of the cluster with system identifier ${db.systemIdentifier}` : ''}; anywhere else it stops here.`),
    comment('To run it elsewhere on purpose (a restored copy, say): psql -v integrity_any_database=1 ...'),
    `SELECT pg_catalog.current_database() OPERATOR(pg_catalog.=) ${literal(db.name)}${sameCluster} AS integrity_same_database \\gset`,
    '\\if :{?integrity_any_database}',
    '\\elif :integrity_same_database',
    '\\else',
    "DO $integrity$ BEGIN RAISE EXCEPTION 'integrity: this script was written for another database (see its header); run it there, or pass -v integrity_any_database=1'; END $integrity$;",
    '\\endif',
  ];
}

/** The whole fix script: `psql -v ON_ERROR_STOP=1 -f FILE` runs it; running it twice changes nothing more. */
export function renderFixScript({ report, repairs, leftOut = [] }: ScriptContext): string {
  const db = report.database;
  const counts = { safe: 0, review: 0, destructive: 0 };
  const failed = repairs.filter((r) => r.repair.error).length;
  for (const r of repairs) if (!r.repair.error) counts[repairSafety(r.repair)]++;
  const usesQuarantine = repairs.some((r) => r.repair.steps.some((s) => s.safety !== 'review' && s.sql.includes(QUARANTINE_SCHEMA)));
  const lines: string[] = [
    comment(
      [
        `integrity fix script, written by ${report.tool} ${report.version} at ${new Date().toISOString()}`,
        `database: ${db.user}@${db.host}${db.host.startsWith('socket:') ? '' : `:${db.port}`}/${db.name} (PostgreSQL ${db.serverVersion}), audited at ${report.startedAt}`,
        `fixes ${repairs.length - failed} finding${repairs.length - failed === 1 ? '' : 's'}: ${counts.safe} safe, ${counts.review} need review, ${counts.destructive} destructive${failed ? `; ${failed} could not be written (see NOT REPAIRED)` : ''}`,
        ...(leftOut.length > 0
          ? [
              `--safety safe left out ${leftOut.length} repair${leftOut.length === 1 ? '' : 's'} that remove or change rows (integrity fix without --safety writes them):`,
              ...leftOut.map((e) => `  ${e.finding.checkId} · ${objectLine(e.finding)} · fingerprint ${e.finding.fingerprint}`),
            ]
          : []),
        '',
        'Run it with: psql -v ON_ERROR_STOP=1 -f <this file> "<connection URL>"',
        'Check it first with: integrity fix --verify (same options as the audit); nothing is changed.',
        'safe: no row is removed or changed in meaning. destructive: rows leave their table or change, and are',
        `copied to the ${QUARANTINE_SCHEMA} schema first. REVIEW statements are commented out: read the decision,`,
        'then uncomment them. Running the script a second time succeeds and changes nothing.',
      ].join('\n'),
    ),
    '',
    '\\set ON_ERROR_STOP on',
    ...sessionPins(),
    '',
    ...databaseGuard(report),
    '',
    'BEGIN;',
  ];
  if (usesQuarantine) lines.push('', comment('Rows are copied here before they are deleted or changed.'), CREATE_QUARANTINE_SCHEMA);
  const concurrent: { finding: Finding; steps: RepairStep[] }[] = [];
  repairs.forEach(({ finding, repair }, i) => {
    lines.push('', header(finding, repair, i + 1, repairs.length));
    const tx = repair.steps.filter((s) => s.phase === 'transaction');
    for (const step of tx) lines.push(renderTransactionStep(step));
    if (repair.error) lines.push(comment(`NOT REPAIRED: ${repair.error}; audit again when it can be read, or repair by hand`));
    else if (tx.length === 0) lines.push(comment('(nothing inside the transaction; see after COMMIT)'));
    const cc = repair.steps.filter((s) => s.phase === 'concurrent');
    if (cc.length > 0) concurrent.push({ finding, steps: cc });
  });
  lines.push('', 'COMMIT;');
  if (concurrent.length > 0) {
    lines.push(
      '',
      comment(
        [
          '==== Outside the transaction: (RE)INDEX CONCURRENTLY cannot run inside one, and setval() cannot be rolled back. ====',
          'Run in this order; each block does its work only while the old definition is still in place.',
        ].join('\n'),
      ),
    );
    let n = 0;
    for (const { finding, steps } of concurrent) {
      lines.push('', comment(`${finding.checkId} · ${objectLine(finding)} · fingerprint ${finding.fingerprint}`));
      for (const step of steps) lines.push(renderConcurrentStep(step, ++n));
    }
  }
  return `${lines.join('\n')}\n`;
}
