import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkResult, useDatabase } from '../helpers/db.js';
import { defineSqlCheck, sqlCheckFromFile } from '../../src/plugins/sql-check.js';
import { PLUGIN_DIR, SCHEMA_SQL, auditProject, loadError, writeProject } from './sql-check-helpers.js';

const NEGATIVE = 'SELECT id FROM public.invoice WHERE amount_cents < 0';

function inline(spec: Record<string, unknown>) {
  return { id: 'acme/neg', title: 'Invoice amounts are never negative', object: 'public.invoice', query: NEGATIVE, ...spec };
}

describe('SQL checks find what their query returns', () => {
  const db = useDatabase('sql_checks', { sql: [SCHEMA_SQL] });

  it('an inline check: exact count, samples by primary key, the default message, its origin', async () => {
    const { file } = writeProject({ sqlChecks: [inline({})] });
    const { report } = await auditProject(db.url, file, ['acme/neg']);
    expect(checkResult(report, 'acme/neg')).toMatchObject({ status: 'failed', severity: 'error', findings: 1 });
    expect(report.findings).toHaveLength(1);
    const f = report.findings[0];
    expect(f).toMatchObject({ checkId: 'acme/neg', severity: 'error', count: 10, object: { schema: 'public', table: 'invoice' } });
    expect(f?.samples).toEqual(['10', '20', '30', '40', '50']);
    expect(f?.message).toBe('10 rows of public.invoice fail: Invoice amounts are never negative');
    expect(f?.details).toMatchObject({ sampleKey: ['id'], origin: `${file}: sqlChecks[0]` });
    expect(f?.fix).toBeNull();
  });

  it('.sql files in a plugin folder: the header sets object column, message, thresholds; names that need quoting work', async () => {
    const { file } = writeProject({ plugins: [PLUGIN_DIR] });
    const { report } = await auditProject(db.url, file, ['acme/no-negative-amounts', 'acme/negative-lines']);
    const amounts = report.findings.find((f) => f.checkId === 'acme/no-negative-amounts');
    expect(amounts).toMatchObject({
      severity: 'error', // errorIf > 5%: 10 of 100
      count: 10,
      object: { schema: 'public', table: 'invoice', column: 'amount_cents' },
      message: '10 invoices with a negative amount in public.invoice.amount_cents (10%)',
      samples: ['10', '20', '30', '40', '50'],
      details: { threshold: 'errorIf > 5%', tableRows: 100, percent: 10, origin: path.join(PLUGIN_DIR, 'no-negative-amounts.sql') },
    });
    const lines = report.findings.find((f) => f.checkId === 'acme/negative-lines');
    expect(lines).toMatchObject({ count: 2, object: { schema: 'Billing Dept', table: 'Invoice Line' }, samples: ['[1, 2]', '[3, 1]'] });
    expect(lines?.message).toBe('2 rows of "Billing Dept"."Invoice Line" fail: Invoice lines are never negative');
    const def = sqlCheckFromFile(path.join(PLUGIN_DIR, 'no-negative-amounts.sql'));
    expect(def.description).toBe('An invoice with a negative amount is a refund booked as an invoice; refunds have a table of their own.');
    expect(def.origin).toBe(path.join(PLUGIN_DIR, 'no-negative-amounts.sql'));
  });

  it('a key of its own: samples carry it (a JSON array for several columns), pushed into SQL as LIMIT', async () => {
    const { file } = writeProject({
      sampleSize: 2,
      sqlChecks: [inline({ key: ['customer', 'id'], query: 'SELECT customer, id FROM public.invoice WHERE amount_cents < 0' })],
    });
    const { report } = await auditProject(db.url, file, ['acme/neg']);
    expect(report.findings[0]?.samples).toEqual(['["c0", 70]', '["c1", 50]']);
  });

  it('a table without a primary key and no key: the finding carries no samples and the note says why', async () => {
    const { file } = writeProject({ sqlChecks: [inline({ object: 'public.event_log', query: 'SELECT * FROM public.event_log WHERE kind IS NULL', repair: 'quarantine' })] });
    const { report, repairs } = await auditProject(db.url, file, ['acme/neg']);
    expect(report.findings[0]).toMatchObject({ count: 2, samples: [] });
    expect(checkResult(report, 'acme/neg').note).toMatch(/has no primary key and the check names no key, so findings carry no samples and no quarantine repair/);
    expect(report.findings[0]?.details?.fixError).toMatch(/no primary key .* no quarantine repair/);
    expect(repairs[0]?.repair.error).toBeTruthy();
  });

  describe('thresholds', () => {
    const cases: [string, Record<string, string>, 'error' | 'warning' | null][] = [
      ['count above errorIf', { errorIf: '> 5', warnIf: '> 0' }, 'error'],
      ['errorIf is checked before warnIf', { errorIf: '>= 10', warnIf: '>= 10' }, 'error'],
      ['count below errorIf, above warnIf', { errorIf: '> 20', warnIf: '!= 0' }, 'warning'],
      ['percent above errorIf', { errorIf: '> 5%' }, 'error'],
      ['percent below errorIf, warnIf by count', { errorIf: '> 50%', warnIf: '>= 10' }, 'warning'],
      ['neither matches', { errorIf: '> 50%', warnIf: '> 10' }, null],
      ['only errorIf, not reached', { errorIf: '= 11' }, null],
    ];
    it.each(cases)('%s', async (_name, thresholds, severity) => {
      const { file } = writeProject({ sqlChecks: [inline({ severity: 'info', ...thresholds })] });
      const { report } = await auditProject(db.url, file, ['acme/neg']);
      const result = checkResult(report, 'acme/neg');
      if (severity === null) {
        expect(result.status).toBe('passed');
        expect(report.findings).toEqual([]);
        expect(result.note).toMatch(/^the query returned 10 rows.*; no threshold matched \((errorIf [^)]*)\)/);
      } else {
        expect(result.status).toBe('failed');
        expect(report.findings.map((f) => [f.severity, f.count])).toEqual([[severity, 10]]);
      }
    });

    it('the percentage is of the object table\'s own rows, counted in the same snapshot', async () => {
      const { file } = writeProject({ sqlChecks: [inline({ errorIf: '> 9.5%', message: '{count} of {object}: {percent}' })] });
      const { report } = await auditProject(db.url, file, ['acme/neg']);
      expect(report.findings[0]).toMatchObject({ severity: 'error', message: '10 of public.invoice: 10%', details: { tableRows: 100, percent: 10 } });
    });

    it('no rows is never a finding, whatever the thresholds', async () => {
      const { file } = writeProject({ sqlChecks: [inline({ query: 'SELECT id FROM public.invoice WHERE false', warnIf: '>= 0' })] });
      const { report } = await auditProject(db.url, file, ['acme/neg']);
      expect(checkResult(report, 'acme/neg').status).toBe('passed');
    });
  });

  it('the config overrides thresholds, severity and enabled under checks.<id>', async () => {
    const base = inline({ errorIf: '> 5%', warnIf: '> 0' });
    const raised = writeProject({ sqlChecks: [base], checks: { 'acme/neg': { errorIf: '> 50%' } } });
    expect((await auditProject(db.url, raised.file, ['acme/neg'])).report.findings[0]?.severity).toBe('warning');
    const cleared = writeProject({ sqlChecks: [base], checks: { 'acme/neg': { errorIf: null, warnIf: '> 10' } } });
    expect(checkResult((await auditProject(db.url, cleared.file, ['acme/neg'])).report, 'acme/neg').status).toBe('passed');
    const severity = writeProject({ sqlChecks: [inline({})], checks: { 'acme/neg': { severity: 'warning' } } });
    expect((await auditProject(db.url, severity.file, ['acme/neg'])).report.findings[0]?.severity).toBe('warning');
    const disabled = writeProject({ sqlChecks: [inline({})], checks: { 'acme/neg': { enabled: false } } });
    const off = await auditProject(db.url, disabled.file, ['acme/neg']);
    expect(checkResult(off.report, 'acme/neg')).toMatchObject({ status: 'skipped', reason: 'disabled in the config file (checks.acme/neg.enabled)' });
    expect(await loadError(writeProject({ sqlChecks: [base], checks: { 'acme/neg': { errorIf: 'lots' } } }).file)).toMatch(/checks\.acme\/neg\.errorIf: write a comparison/);
  });

  it('a syntax error, an unknown table or column: that check is error with the message and the line and column; the others run', async () => {
    const { file } = writeProject({
      sqlChecks: [
        inline({ id: 'acme/syntax', query: 'SELECT id\n  FROM public.invoice\n WHER amount_cents < 0' }),
        inline({ id: 'acme/unqualified', query: 'SELECT id\nFROM invoice WHERE amount_cents < 0' }),
        inline({ id: 'acme/column', query: 'SELECT id FROM public.invoice\nWHERE  amount < 0' }),
        inline({ id: 'acme/fine' }),
      ],
      plugins: ['./checks'],
    }, {
      'checks/broken.sql': '-- id: acme/broken-file\n-- title: A file whose query names no table that exists\n-- object: public.invoice\n\nSELECT id\n  FROM public.nothing_here\n',
    });
    const { report } = await auditProject(db.url, file, ['acme/syntax', 'acme/unqualified', 'acme/column', 'acme/fine', 'acme/broken-file']);
    const where = (i: number) => `of the query of ${file}: sqlChecks[${i}]`;
    expect(checkResult(report, 'acme/syntax')).toMatchObject({ status: 'error' });
    expect(checkResult(report, 'acme/syntax').reason).toBe(`syntax error at or near "amount_cents" at line 3, column 7 ${where(0)} [42601]`);
    expect(checkResult(report, 'acme/unqualified').reason).toBe(
      `relation "invoice" does not exist at line 2, column 6 ${where(1)} (name its schema, as public.invoice: the audit's search_path is pg_catalog, pg_temp, so every table must be qualified) [42P01]`,
    );
    expect(checkResult(report, 'acme/column').reason).toMatch(new RegExp(`^column "amount" does not exist at line 2, column 8 ${where(2).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    expect(checkResult(report, 'acme/broken-file').reason).toBe(
      `relation "public.nothing_here" does not exist at line 6, column 8 of ${path.join(path.dirname(file), 'checks', 'broken.sql')} [42P01]`,
    );
    expect(checkResult(report, 'acme/fine')).toMatchObject({ status: 'failed', findings: 1 });
  });

  it('its object must exist: a missing table or column is error, a schema outside --schema is skipped', async () => {
    const { file } = writeProject({
      sqlChecks: [inline({ id: 'acme/no-table', object: 'public.invoices' }), inline({ id: 'acme/no-column', object: 'public.invoice.amount' })],
    });
    const { report } = await auditProject(db.url, file, ['acme/no-table', 'acme/no-column']);
    expect(checkResult(report, 'acme/no-table')).toMatchObject({ status: 'error' });
    expect(checkResult(report, 'acme/no-table').reason).toMatch(/its object public\.invoices does not exist/);
    expect(checkResult(report, 'acme/no-column').reason).toMatch(/names column amount, which public\.invoice does not have/);
    const scoped = await auditProject(db.url, writeProject({ sqlChecks: [inline({})] }).file, ['acme/neg'], { schemas: ['Billing Dept'] });
    expect(checkResult(scoped.report, 'acme/neg')).toMatchObject({ status: 'skipped' });
    expect(checkResult(scoped.report, 'acme/neg').reason).toMatch(/not audited \(add --schema public\)/);
  });

  it('a key the query does not return: refused at load when the SELECT list says so, else error when it runs', async () => {
    expect(await loadError(writeProject({ sqlChecks: [inline({ key: 'customer' })] }).file)).toMatch(/sqlChecks\[0\]: key: "customer" is not a column the query returns \(it returns "id"\)/);
    const { file } = writeProject({ sqlChecks: [inline({ query: 'SELECT amount_cents + 0 FROM public.invoice WHERE amount_cents < 0' })] });
    const { report } = await auditProject(db.url, file, ['acme/neg']);
    expect(checkResult(report, 'acme/neg').reason).toMatch(/the key \(id\) must be columns the query returns/);
  });
});

describe('SQL checks are validated when they load', () => {
  const file = (header: string, query = NEGATIVE) => writeProject({ plugins: ['./checks'] }, { 'checks/c.sql': `${header}\n${query}\n` });
  const header = (fields: Record<string, string>) =>
    Object.entries({ id: 'acme/c', title: 'A title', object: 'public.invoice', ...fields })
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `-- ${k}: ${v}`)
      .join('\n');

  const cases: [string, string, string, RegExp][] = [
    ['a missing id', header({ id: '' }), NEGATIVE, /id: is required: a namespaced id/],
    ['a missing title', header({ title: '' }), NEGATIVE, /title: is required/],
    ['a missing object', header({ object: '' }), NEGATIVE, /object: is required: the table the failing rows belong to/],
    ['an id without a namespace', header({ id: 'no-negative' }), NEGATIVE, /id: must be namespaced, as "acme\/no-negative-amounts"/],
    ['two statements', header({}), `${NEGATIVE};\nSELECT 1`, /query: holds 2 statements: write exactly one SELECT/],
    ['an INSERT', header({}), 'INSERT INTO public.invoice VALUES (1000, -1, \'x\')', /query: is an INSERT, not a SELECT: a check only reads/],
    ['a DELETE in a CTE', header({}), 'WITH d AS (DELETE FROM public.invoice RETURNING id) SELECT id FROM d', /query: has a DELETE in its WITH clause/],
    ['SELECT INTO', header({}), 'SELECT id INTO public.copy FROM public.invoice', /query: is a SELECT INTO/],
    ['FOR UPDATE', header({}), `${NEGATIVE} FOR UPDATE`, /query: locks rows/],
    ['an unknown field', `${header({})}\n-- severty: warning`, NEGATIVE, /line 4: severty: unknown field; the header's fields are/],
    ['a field in the wrong case', `${header({})}\n-- warnif: > 0`, NEGATIVE, /warnif: unknown field \(did you mean warnIf\?\)/],
    ['a bad severity', header({ severity: 'fatal' }), NEGATIVE, /line 4: severity: must be one of error, warning, info/],
    ['a bad threshold', header({ warnIf: 'more than 5' }), NEGATIVE, /warnIf: write a comparison and a number/],
    ['a percentage over 100', header({ errorIf: '> 150%' }), NEGATIVE, /errorIf: a percentage is at most 100%/],
    ['an unknown placeholder', header({ message: '{count} rows in {table}' }), NEGATIVE, /message: uses an unknown placeholder; write \{count\}, \{object\}, \{percent\}/],
    ['a bad repair', header({ repair: 'delete' }), NEGATIVE, /repair: write "quarantine"/],
    ['a bad object', header({ object: 'invoice' }), NEGATIVE, /object: "invoice" is not schema.table/],
    ['no query', header({}), '', /query: the file has no query after its header/],
    ['prose in the header', `${header({})}\n-- This finds invoices`, NEGATIVE, /line 4: expected "-- field: value" in the header/],
  ];
  it.each(cases)('%s: exit 2 naming the file and the field', async (_name, head, query, expected) => {
    const { dir, file: config } = file(head, query);
    const message = await loadError(config);
    expect(message).toContain(path.join(dir, 'checks', 'c.sql'));
    expect(message).toMatch(expected);
  });

  it('inline: the config entry and the field are named; unknown fields are refused', async () => {
    expect(await loadError(writeProject({ sqlChecks: [inline({ id: 'Neg' })] }).file)).toMatch(/invalid SQL check .*integrity\.config\.json: sqlChecks\[0\]: id: must be namespaced/);
    expect(await loadError(writeProject({ sqlChecks: [inline({}), inline({ sql: 'x' })] }).file)).toMatch(/sqlChecks\[1\]: sql: unknown field; the fields are id, title/);
    expect(await loadError(writeProject({ sqlChecks: [inline({ query: 'UPDATE public.invoice SET amount_cents = 0' })] }).file)).toMatch(/sqlChecks\[0\]: query: is an UPDATE, not a SELECT/);
    expect(await loadError(writeProject({ sqlChecks: [inline({}), inline({})] }).file)).toMatch(/check id "acme\/neg" is defined twice/);
  });

  it('one trailing semicolon is allowed, and a trailing comment', () => {
    const def = defineSqlCheck({ id: 'acme/x', title: 'x', object: 'public.invoice', query: `WITH n AS (${NEGATIVE}) SELECT id FROM n; -- the negative ones` });
    expect(def.id).toBe('acme/x');
    expect(() => defineSqlCheck({ id: 'acme/x', title: 'x', object: 'public.invoice', query: `${NEGATIVE};;` })).toThrow(/more than one semicolon/);
    expect(defineSqlCheck({ id: 'acme/x', title: 'x', object: '"Billing Dept"."Invoice Line"."Amount"', query: 'VALUES (1)', key: 'column1' }).origin).toBe('sqlChecks');
  });
});
