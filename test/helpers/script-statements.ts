import { parse } from '@libpg-query/parser';
import { expect } from 'vitest';
import type { AuditReport } from '../../src/findings.js';
import { quoteLiteral } from '../../src/db/quote.js';
import { CREATE_QUARANTINE_SCHEMA, QUARANTINE_SCHEMA } from '../../src/fix/quarantine.js';
import { sessionPins } from '../../src/fix/script.js';
import type { Repair } from '../../src/fix/types.js';

/** Parse trees without source positions, so that the same statement written elsewhere compares equal. */
function stripLocations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripLocations);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== 'location' && k !== 'stmt_location' && k !== 'stmt_len') out[k] = stripLocations(v);
    return out;
  }
  return value;
}

async function statements(sql: string): Promise<unknown[]> {
  const tree = (await parse(sql)) as { stmts?: { stmt: unknown }[] };
  return (tree.stmts ?? []).map((s) => stripLocations(s.stmt));
}

/**
 * What psql would send to the server when it runs the script: the lines that are psql meta-commands are
 * ours alone (a test asserts no user text starts a line), `\gset` ends the statement before it, and the
 * rest is SQL, which PostgreSQL's own parser (libpg_query) splits into statements, comments dropped.
 */
export async function statementsPsqlWouldRun(script: string): Promise<unknown[]> {
  const sql = script
    .split('\n')
    .filter((line) => !/^\\(set|if|elif|else|endif)\b/.test(line))
    .map((line) => line.replace(/ \\gset$/, ';'))
    .join('\n');
  return statements(sql);
}

/** The statements the repairs plan, in the script's order: set up, the runnable steps, commit, then the concurrent ones. */
export async function plannedStatements(report: AuditReport, repairs: { repair: Repair }[]): Promise<unknown[]> {
  const db = report.database;
  const runnable = repairs.flatMap((r) => r.repair.steps.filter((s) => s.safety !== 'review'));
  const quarantine = runnable.some((s) => s.sql.includes(QUARANTINE_SCHEMA));
  const guard = `SELECT pg_catalog.current_database() OPERATOR(pg_catalog.=) ${quoteLiteral(db.name)}${
    db.systemIdentifier ? ` AND (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() AS s) = ${quoteLiteral(db.systemIdentifier)}` : ''
  } AS integrity_same_database`;
  let n = 0;
  const concurrent = repairs
    .flatMap((r) => r.repair.steps.filter((s) => s.phase === 'concurrent'))
    .flatMap((s) => {
      n++;
      if (s.safety === 'review') return [];
      return [...(s.guard ? [`SELECT (${s.guard}) AS integrity_todo_${n}`] : []), s.sql];
    });
  const parts = [
    ...sessionPins(),
    guard,
    "DO $integrity$ BEGIN RAISE EXCEPTION 'integrity: this script was written for another database (see its header); run it there, or pass -v integrity_any_database=1'; END $integrity$",
    'BEGIN',
    ...(quarantine ? [CREATE_QUARANTINE_SCHEMA] : []),
    ...runnable.filter((s) => s.phase === 'transaction').map((s) => s.sql),
    'COMMIT',
    ...concurrent,
  ];
  const out: unknown[] = [];
  for (const part of parts) out.push(...(await statements(part)));
  return out;
}

/** Asserts that psql would run exactly the planned statements: nothing user text smuggled in, nothing hidden. */
export async function expectScriptRunsOnlyPlanned(script: string, outcome: { report: AuditReport; repairs: { repair: Repair }[] }): Promise<void> {
  // Only our own lines start with a backslash, and no line end but our \n is in the text.
  const meta = script.split('\n').filter((l) => l.startsWith('\\'));
  for (const line of meta) expect(line).toMatch(/^\\(set ON_ERROR_STOP on|if :\{\?integrity_any_database\}|if :integrity_todo_\d+|elif :integrity_same_database|else|endif)$/);
  // eslint-disable-next-line no-control-regex
  expect(script).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  expect(await statementsPsqlWouldRun(script)).toEqual(await plannedStatements(outcome.report, outcome.repairs));
}
