import { createHash } from 'node:crypto';
import { qualifiedName, quoteIdent, quoteLiteral } from '../db/quote.js';
import type { Column } from '../db/catalog.js';
import type { RepairStep } from './types.js';

export const QUARANTINE_SCHEMA = 'integrity_quarantine';

export const CREATE_QUARANTINE_SCHEMA = `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(QUARANTINE_SCHEMA)};`;

/**
 * One quarantine table per finding and source table: the table's name, cut to fit, then a hash of the
 * source's schema and name and of the finding, so that `a.notes` and `b.notes` never share one.
 */
export function quarantineTable(schema: string, table: string, fingerprint: string): string {
  let name = table;
  while (Buffer.byteLength(name) > 40) name = name.slice(0, -1);
  const hash = createHash('sha256').update(JSON.stringify([schema, table, fingerprint])).digest('hex').slice(0, 12);
  return qualifiedName(QUARANTINE_SCHEMA, `${name}__${hash}`);
}

/** Same columns as the table, after when, which check and which finding put the row there. */
export function createQuarantineTable(quarantine: string, source: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quarantine} AS
  SELECT now() AS integrity_quarantined_at, ''::text AS integrity_check, ''::text AS integrity_finding, t.*
    FROM ${source} AS t WITH NO DATA;`;
}

/** Copies the rows `where` selects (alias `t`) into the quarantine. */
export function copyToQuarantine(quarantine: string, source: string, where: string, checkId: string, fingerprint: string): string {
  return `INSERT INTO ${quarantine}
SELECT now(), ${literal(checkId)}, ${literal(fingerprint)}, t.* FROM ${source} AS t
 WHERE ${where};`;
}

/** Deletes the rows `where` selects (alias `t`) and keeps them in the quarantine, in one statement. */
export function moveToQuarantine(quarantine: string, source: string, where: string, checkId: string, fingerprint: string): string {
  return `WITH moved AS (DELETE FROM ${source} AS t WHERE ${where} RETURNING t.*)
INSERT INTO ${quarantine} SELECT now(), ${literal(checkId)}, ${literal(fingerprint)}, moved.* FROM moved;`;
}

export function restoreStatement(quarantine: string, source: string, columns: Column[], fingerprint: string): string {
  const cols = columns.filter((c) => c.generated === '').map((c) => quoteIdent(c.name)).join(', ');
  const overriding = columns.some((c) => c.identity === 'a') ? ' OVERRIDING SYSTEM VALUE' : '';
  return `INSERT INTO ${source} (${cols})${overriding} SELECT ${cols} FROM ${quarantine} WHERE integrity_finding = ${literal(fingerprint)};`;
}

/** A string literal safe under any setting; see quoteLiteral. */
export function literal(value: string): string {
  return quoteLiteral(value);
}

export function quarantineSteps(quarantine: string, source: string): RepairStep[] {
  return [
    { safety: 'safe', phase: 'transaction', description: `quarantine table for ${source}`, sql: createQuarantineTable(quarantine, source) },
  ];
}
