import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditReport, Finding } from '../../src/findings.js';
import { makeChalk } from '../../src/report/color.js';
import { describeObject } from '../../src/object-names.js';
import { renderPretty, terminalWidth } from '../../src/report/pretty.js';
import { displayWidth, wrapText } from '../../src/report/wrap.js';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const OBJECT_NAME = 'public.token_usage_ledger.provider_id_reference';

function finding(over: Partial<Finding> = {}): Finding {
  return {
    checkId: 'placeholder-uuid',
    severity: 'error',
    message: '12 rows of public.token_usage_ledger hold the placeholder UUID in provider_id_reference instead of a real reference',
    object: { schema: 'public', table: 'token_usage_ledger', column: 'provider_id_reference' },
    count: 12,
    samples: [NIL_UUID, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
    fingerprint: '0123456789abcdef',
    fix: null,
    ...over,
  };
}

function report(findings: Finding[]): AuditReport {
  return {
    version: '0.1.0',
    tool: 'integrity',
    database: { host: 'db.internal.example.com', port: 5432, name: 'production_app', user: 'auditor', serverVersion: '15.20' },
    startedAt: '2026-11-23T09:00:00.000Z',
    durationMs: 1234,
    options: { schemas: ['public', 'billing'], deep: false, failOn: 'error', samplePercent: null },
    scope: { tables: 3, partitions: 0 },
    summary: { checks: { passed: 0, sampled: 0, failed: 1, skipped: 0, error: 0 }, findings: { error: findings.length, warning: 0, info: 0 } },
    checks: [
      { id: 'placeholder-uuid', title: 'Placeholder UUIDs stored where a real reference belongs', severity: 'error', status: 'failed', reason: null, note: null, durationMs: 5, findings: findings.length },
    ],
    findings,
  };
}

const render = (r: AuditReport, width: number) => renderPretty(r, { chalk: makeChalk(0), width });

/** The text of one table column (0-based, between the │ borders), top to bottom, whitespace removed. */
function column(text: string, index: number): string {
  return text
    .split('\n')
    .filter((l) => l.startsWith('│'))
    .map((l) => l.split('│')[index + 1] ?? '')
    .join('')
    .replace(/\s+/g, '');
}

describe('pretty output fits the width and cuts nothing', () => {
  it.each([60, 80, 200])('at %i columns: no line is wider, the object name and the nil UUID are whole', (width) => {
    const text = render(report([finding()]), width);
    const widths = text.split('\n').map(displayWidth);
    expect(Math.max(...widths)).toBeLessThanOrEqual(width);
    expect(text).not.toContain('…');
    // Broken only where a line ends: with the whitespace gone, the column reads the whole name.
    expect(column(text, 1)).toBe(`object${OBJECT_NAME}`);
    expect(column(text, 3)).toContain(`samples:${NIL_UUID},a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`);
    expect(column(text, 3)).toContain('12rowsofpublic.token_usage_ledgerholdtheplaceholderUUIDinprovider_id_referenceinsteadofarealreference');
  });

  it('at 200 columns the name and the UUID are each on one line, and the table is no wider than its content', () => {
    const text = render(report([finding()]), 200);
    expect(text).toContain(`│ ${OBJECT_NAME} │`);
    expect(text).toContain(`samples: ${NIL_UUID}, a0eebc99`);
    expect(Math.max(...text.split('\n').filter((l) => l.startsWith('│')).map(displayWidth))).toBeLessThan(200);
  });

  it('below 60 columns a table would not fit: each finding is a list of lines, still whole and within the width', () => {
    const text = render(report([finding()]), 40);
    expect(Math.max(...text.split('\n').map(displayWidth))).toBeLessThanOrEqual(40);
    expect(text).not.toContain('│');
    const flat = text.replace(/\s+/g, '');
    expect(flat).toContain(`error·count12${OBJECT_NAME}12rowsof`);
    expect(flat).toContain(`samples:${NIL_UUID},`);
  });

  it('keeps hostile text escaped while wrapping it', () => {
    const hostile = finding({ object: { schema: 'public', table: 'evil\u001b[2J\u202etable_with_a_very_long_name_that_must_wrap' }, samples: ['x\ry'], message: 'bad\u0007 row' });
    for (const width of [40, 60, 80]) {
      const text = render(report([hostile]), width);
      // eslint-disable-next-line no-control-regex -- no raw control character may reach the terminal
      expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e]/);
      const flat = width < 60 ? text.replace(/\s+/g, '') : column(text, 1) + column(text, 3);
      // The name as describeObject writes it (a U&"..." identifier, its controls as \\XXXX), whole.
      expect(describeObject(hostile.object)).toBe('public.U&"evil\\001b[2J\\202etable_with_a_very_long_name_that_must_wrap"');
      expect(flat).toContain(describeObject(hostile.object));
      expect(flat).toContain('x\\ry');
      expect(flat).toContain('bad\\x07');
    }
  });

  it("a count with --compare's note wraps in its own narrow column, the names keep their room", () => {
    const noted = finding({ count: 123456, change: { status: 'new', previousCount: null, uncheckedBefore: true } });
    for (const width of [60, 80]) {
      const text = render(report([noted]), width);
      expect(Math.max(...text.split('\n').map(displayWidth))).toBeLessThanOrEqual(width);
      expect(column(text, 2)).toBe('count123456(new,notlookedforthen)');
      expect(column(text, 1)).toBe(`object${OBJECT_NAME}`);
    }
  });

  it('in colour too: the codes take no room, every line fits, and the text is the same as without colour', () => {
    const accepted = finding({ baselined: true, fingerprint: 'fedcba9876543210' });
    for (const width of [60, 80]) {
      const coloured = renderPretty(report([finding(), accepted]), { chalk: makeChalk(3), width });
      expect(coloured).toContain('\u001b[');
      expect(Math.max(...coloured.split('\n').map(displayWidth))).toBeLessThanOrEqual(width);
      // eslint-disable-next-line no-control-regex -- removing the colour codes to compare the text
      expect(coloured.replace(/\u001b\[[0-9;]*m/g, '')).toBe(render(report([finding(), accepted]), width));
    }
  });

  it('measures wide characters as two cells', () => {
    const wide = finding({ object: { schema: 'public', table: '請求書明細テーブル名前がとても長い' } });
    expect(displayWidth('請求書')).toBe(6);
    for (const width of [60, 80]) {
      const text = render(report([wide]), width);
      expect(Math.max(...text.split('\n').map(displayWidth))).toBeLessThanOrEqual(width);
      expect(column(text, 1)).toBe('objectpublic."請求書明細テーブル名前がとても長い"');
    }
  });

  it('wrapText: any text at any width keeps every character and no line is wider', () => {
    fc.assert(
      fc.property(
        // Wide characters and runs of spaces too; a line of one cell cannot hold a wide character, so from 2.
        fc.array(fc.stringMatching(/^[a-z0-9_.\-請書 ]{0,70}$/), { maxLength: 12 }),
        fc.integer({ min: 2, max: 120 }),
        (words, width) => {
          const text = words.join(' ');
          const wrapped = wrapText(text, width, width > 4 ? '  ' : '');
          expect(wrapped.replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
          for (const line of wrapped.split('\n')) expect(displayWidth(line)).toBeLessThanOrEqual(width);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('wrapText ignores colour codes when measuring, and keeps them', () => {
    const red = '\u001b[31mred words here\u001b[39m';
    expect(wrapText(red, 9)).toBe('\u001b[31mred words\nhere\u001b[39m');
    expect(displayWidth(red)).toBe(14);
  });
});

describe('the width: the terminal, else COLUMNS, else 120', () => {
  it('uses the terminal width on a terminal, COLUMNS when piped, 120 otherwise', () => {
    expect(terminalWidth({ isTTY: true, columns: 93 }, { COLUMNS: '70' })).toBe(93);
    expect(terminalWidth({ isTTY: false }, { COLUMNS: '70' })).toBe(70);
    expect(terminalWidth({}, { COLUMNS: ' 200 ' })).toBe(200);
    expect(terminalWidth({}, {})).toBe(120);
    for (const bad of ['', 'wide', '0', '-5', '80.5', '1e3']) expect(terminalWidth({}, { COLUMNS: bad })).toBe(120);
  });

  describe('check, piped', () => {
    const db = useDatabase('pretty_width', {
      sql: [
        `CREATE TABLE token_usage_ledger_parents (id int PRIMARY KEY);
         CREATE TABLE token_usage_ledger (id int PRIMARY KEY, provider_reference_identifier int);
         INSERT INTO token_usage_ledger VALUES (1, 4242);
         ALTER TABLE token_usage_ledger ADD CONSTRAINT ledger_provider_fk FOREIGN KEY (provider_reference_identifier) REFERENCES token_usage_ledger_parents NOT VALID;`,
      ],
    });

    it.each([['64', 64], [undefined, 120]])('COLUMNS=%s: lines fit %i columns, the names whole', async (columns, width) => {
      const run = await runCli(['check', '-d', db.url, '--check', 'orphan-rows'], { env: columns ? { COLUMNS: columns } : {} });
      expect(run.code).toBe(1);
      const lines = run.stdout.split('\n');
      expect(Math.max(...lines.map(displayWidth))).toBeLessThanOrEqual(width);
      expect(column(run.stdout, 1)).toBe('objectpublic.token_usage_ledger.provider_reference_identifierconstraintledger_provider_fk→public.token_usage_ledger_parents(id)');
      if (width === 120) expect(run.stdout).toContain('│ public.token_usage_ledger.provider_reference_identifier');
    });
  });
});
