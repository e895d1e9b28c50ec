import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blankCommentsAndStrings, indexMigrations, type ScanMeter } from '../../src/report/migrations.js';

/** The scanner as it was (one regular expression), for inputs where every quote and comment is closed. */
function previous(sql: string): string {
  return sql.replace(
    /--[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"]|"")*"|(?<![\w$])[Ee]'(?:[^'\\]|\\[\s\S]|'')*'|'(?:[^']|'')*'|\$([A-Za-z_][A-Za-z_0-9]*)?\$[\s\S]*?\$\1\$/g,
    (m) => (m.startsWith('$') || m.startsWith('"') ? m : m.replace(/[^\n]/g, ' ')),
  );
}

const BOUND_MS = 1_000; // a linear scan of these inputs takes milliseconds; the quadratic one took seconds to minutes

/** Openings that are never closed, each of a different kind where the kind allows, about 1 MB in all. */
const ADVERSARIAL: [string, string][] = [
  ['$tag$ openings with no close, each tag different', Array.from({ length: 30_000 }, (_, i) => `$t${i}$ x `).join('')],
  ['$$ after $a$ that never closes', `$a$ ${'$$ '.repeat(100_000)}`],
  ['/* openings with no close', '/* '.repeat(100_000)],
  ['/* nested ever deeper', `${'/* /* '.repeat(50_000)}*/`],
  ["' then doubled quotes, never closed", `'${"'' ".repeat(100_000)}`],
  ["E' with backslash escapes, never closed", `E'${"\\' ".repeat(100_000)}`],
  ['" then doubled quotes, never closed', `"${'"" '.repeat(100_000)}`],
  ['-- without a line end', `--${' x'.repeat(150_000)}`],
  ['long $tag$ names opened and not closed', `$${'a'.repeat(3_000)}$ ${`$${'a'.repeat(2_999)} `.repeat(100)}`],
  ['$ inside names (a$b$), never a quote', 'a$b$c '.repeat(50_000)],
];

describe('the migrations scanner is linear in the file size', () => {
  // First, on a small input: the scanner counts its steps. A scanner that does not (the regular
  // expression it replaced) would take minutes on the inputs below, so they are not run then.
  let counts = false;
  it('counts the characters it examines', () => {
    const sql = "SELECT 'a' /* b */ $$ c $$ -- d";
    const meter: ScanMeter = { steps: 0 };
    blankCommentsAndStrings(sql, meter);
    expect(meter.steps).toBeGreaterThanOrEqual(sql.length);
    expect(meter.steps).toBeLessThanOrEqual(3 * sql.length);
    counts = true;
  });

  it.each(ADVERSARIAL)('%s: a bounded number of steps per character', (_label, sql) => {
    if (!counts) throw new Error('the scanner does not count its steps; not running an input that could take minutes');
    const meter: ScanMeter = { steps: 0 };
    const start = performance.now();
    const out = blankCommentsAndStrings(sql, meter);
    const ms = performance.now() - start;
    expect(out).toHaveLength(sql.length);
    expect(meter.steps).toBeLessThanOrEqual(3 * sql.length + 10);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('indexing a folder of such files (the CREATE patterns included) stays within a few seconds', () => {
    if (!counts) throw new Error('the scanner does not count its steps; not running an input that could take minutes');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-migrations-linear-'));
    ADVERSARIAL.forEach(([, sql], i) => writeFileSync(path.join(dir, `${String(i).padStart(3, '0')}.sql`), `CREATE TABLE before_${i} (id int);\n${sql}`));
    writeFileSync(path.join(dir, 'zzz.sql'), `CREATE TABLE after_all (id int);\n${'CREATE TABLE "'.repeat(20_000)}\n${'CONSTRAINT '.repeat(50_000)}`);
    const start = performance.now();
    const index = indexMigrations('.', dir);
    const ms = performance.now() - start;
    expect(ms).toBeLessThan(BOUND_MS * 5);
    // What precedes an unclosed opening is still found, and so is the next file.
    for (let i = 0; i < ADVERSARIAL.length; i++) expect(index.unqualifiedTables.get(`before_${i}`)).toEqual({ file: `${String(i).padStart(3, '0')}.sql`, line: 1 });
    expect(index.unqualifiedTables.get('after_all')).toEqual({ file: 'zzz.sql', line: 1 });
  });
});

describe('the scanner still reads SQL as PostgreSQL does', () => {
  it('an opening never closed runs to the end of the file and is blanked: nothing after it was created', () => {
    for (const opening of ["'", "E'", '/*', '"', '$body$']) {
      const sql = `CREATE TABLE kept (id int);\n${opening} CREATE TABLE lost (id int);\n-- x`;
      const out = blankCommentsAndStrings(sql);
      expect([opening, out.includes('kept'), out.includes('lost')]).toEqual([opening, true, false]);
      expect(out.split('\n').length).toBe(sql.split('\n').length);
    }
  });

  it('block comments nest; a $ inside a name opens no dollar quote', () => {
    expect(blankCommentsAndStrings('/* a /* b */ CREATE TABLE x (id int); */ y')).toMatch(/^ +y$/);
    const out = blankCommentsAndStrings("SELECT a$b$ FROM t; 'gone' $b$ kept $b$");
    expect(out).toContain('a$b$ FROM t;');
    expect(out).not.toContain('gone');
    expect(out).toContain('$b$ kept $b$');
  });

  it('agrees with the previous scanner wherever every quote and comment is closed and comments do not nest (property)', () => {
    const token = fc.oneof(
      fc.constantFrom('CREATE TABLE t (id int);', ' ', '\n', 'x', 'E', 'e', '1', ';', '$1', 'a$b', '*', '/', '-'),
      fc.string({ unit: fc.constantFrom('a', ' ', '\n', "''", '"', '$', '*', '/', '-', '\\\\'), maxLength: 6 }).map((s) => `'${s}'`),
      fc.string({ unit: fc.constantFrom('a', ' ', "'", '""', '$', '-'), maxLength: 6 }).map((s) => `"${s || 'n'}"`),
      fc.string({ unit: fc.constantFrom('a', ' ', "'", '"', '-', '\n', '$'), maxLength: 6 }).map((s) => `/*${s}*/`),
      fc.string({ unit: fc.constantFrom('a', ' ', "'", '"', '\n', '/', '*'), maxLength: 6 }).map((s) => `--${s.replace(/\n/g, '')}\n`),
      fc.string({ unit: fc.constantFrom('a', ' ', "'", '"', '\n', '-', '/*', '*/'), maxLength: 6 }).map((s) => `$q$${s}$q$`),
      fc.string({ unit: fc.constantFrom('a', ' ', "\\'", "''", '\\\\', '"'), maxLength: 6 }).map((s) => ` E'${s}'`),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), (tokens) => {
        const sql = tokens.join(' ');
        expect(blankCommentsAndStrings(sql)).toBe(previous(sql));
      }),
      { numRuns: 3_000 },
    );
  });
});
