import type { Finding, FindingObject } from './findings.js';
import { displayName } from './db/quote.js';
import { visible } from './escape.js';

/** The names an ignore's glob is matched against: `schema.table` and `schema.table.column` for each column. */
export function objectNames(f: Finding): string[] {
  const base = `${f.object.schema}.${f.object.table}`;
  const columns = f.object.column ? [f.object.column] : (f.object.columns ?? []);
  return [base, ...columns.map((c) => `${base}.${c}`)];
}

/**
 * An object's name for a person, over up to three lines (the object, its index or constraint, what it
 * references). Each name is passed through `visible`, so the only line feeds are these separators.
 */
export function describeObject(o: FindingObject): string {
  const name = (...parts: string[]) => visible(displayName(...parts));
  const cols = o.column ? [o.column] : (o.columns ?? []);
  // A finding about no table (a preflight statement such as CREATE FUNCTION) has empty names, not `"".""`.
  let text = o.schema === '' && o.table === '' ? '(no table)' : name(o.schema, o.table);
  if (cols.length === 1) text += `.${name(cols[0] as string)}`;
  else if (cols.length > 1) text += `(${cols.map((c) => name(c)).join(', ')})`;
  if (o.index) text += `\nindex ${name(o.index)}`;
  if (o.constraint) text += `\nconstraint ${name(o.constraint)}`;
  if (o.trigger) text += `\ntrigger ${name(o.trigger)}`;
  if (o.sequence) text += `\nsequence ${name(o.sequenceSchema ?? o.schema, o.sequence)}`;
  if (o.references) {
    text += `\n→ ${name(o.references.schema, o.references.table)}(${o.references.columns.map((c) => name(c)).join(', ')})`;
  }
  return text;
}
