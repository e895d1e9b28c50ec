import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { checkResult, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL, psqlFile } from '../helpers/psql.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';
import { applyRepairs, runnableSteps, verifyRepairs } from '../../src/fix/execute.js';
import { CREATE_QUARANTINE_SCHEMA } from '../../src/fix/quarantine.js';
import { renderFixScript, sessionPins } from '../../src/fix/script.js';
import { PLUGIN_DIR, SCHEMA_SQL, auditProject, projectOptions, writeProject } from './sql-check-helpers.js';

const pwned = path.join(os.tmpdir(), `integrity-sql-pwned-${process.pid}`);

/** Every row of a table, as text, in key order: to compare before and after exactly. */
async function rowsOf(url: string, table: string, order: string): Promise<string[]> {
  return (await query<{ r: string }>(url, `SELECT t::text AS r FROM ${table} AS t ORDER BY ${order}`)).map((r) => r.r);
}

/** The rows a finding's quarantine table holds (its own columns dropped), in key order. */
async function quarantined(url: string, prefix: string, columns: string): Promise<string[]> {
  const tables = await query<{ name: string }>(
    url,
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'integrity_quarantine' AND c.relname LIKE $1 || '\\_\\_%' ORDER BY 1`,
    [prefix],
  );
  const out: string[] = [];
  for (const t of tables) out.push(...(await query<{ r: string }>(url, `SELECT (${columns})::text AS r FROM integrity_quarantine."${t.name}" ORDER BY 1`)).map((r) => r.r));
  return out.sort();
}

function scriptFile(script: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-sqlfix-')), 'fix.sql');
  writeFileSync(file, script);
  return file;
}

const IDS = ['acme/no-negative-amounts', 'acme/negative-lines'];

describe.skipIf(!HAS_PSQL)('the quarantine repair of a SQL check, round trip', () => {
  const db = useDatabase('sql_fix_roundtrip', { sql: [SCHEMA_SQL] });

  it('--verify clears it and changes nothing; psql moves exactly the failing rows; a second run is a no-op; restore puts them back', async () => {
    const { file } = writeProject({ plugins: [PLUGIN_DIR] });
    const invoicesBefore = await rowsOf(db.url, 'public.invoice', 'id');
    const linesBefore = await rowsOf(db.url, '"Billing Dept"."Invoice Line"', 't."Invoice Id", t."Line No"');

    const verified = await verifyRepairs(await projectOptions(db.url, file, IDS));
    expect(verified.lines.map((l) => [l.checkId, l.status, l.countBefore, l.countAfter])).toEqual([
      ['acme/negative-lines', 'cleared', 2, 0],
      ['acme/no-negative-amounts', 'cleared', 10, 0],
    ]);
    expect(verified.created).toEqual([]);
    expect(await rowsOf(db.url, 'public.invoice', 'id')).toEqual(invoicesBefore);

    const outcome = await auditProject(db.url, file, IDS);
    const amounts = outcome.repairs.find((r) => r.finding.checkId === 'acme/no-negative-amounts');
    expect(amounts?.repair.steps.map((s) => s.safety)).toEqual(['safe', 'safe', 'destructive']);
    expect(amounts?.finding.fix?.safety).toBe('destructive');
    expect(amounts?.repair.restore?.[0]).toMatch(/^INSERT INTO "public"\."invoice" \("id", "amount_cents", "customer"\) SELECT "id", "amount_cents", "customer" FROM "integrity_quarantine"\."invoice__/);
    // The rows are chosen by running the query again (as a string literal the script executes), never by the sampled keys.
    expect(amounts?.repair.steps[0]?.sql).toContain(" WHERE amount_cents < 0 ");
    expect(amounts?.repair.steps[0]?.sql).not.toMatch(/\b40\b|\b50\b/);
    const script = renderFixScript(outcome);
    await expectScriptRunsOnlyPlanned(script, outcome);
    expect(script).toContain('-- To put quarantined rows back');

    const fix = scriptFile(script);
    psqlFile(db.url, fix);
    expect(await rowsOf(db.url, 'public.invoice', 'id')).toEqual(invoicesBefore.filter((r) => !/^\(\d+,-/.test(r)));
    expect(await quarantined(db.url, 'invoice', 'id, amount_cents, customer')).toEqual(invoicesBefore.filter((r) => /^\(\d+,-/.test(r)).sort());
    expect(await rowsOf(db.url, '"Billing Dept"."Invoice Line"', 't."Invoice Id", t."Line No"')).toEqual([linesBefore[0], linesBefore[2]]);
    // The memo holding a CR, a quote, a psql meta-command and a dollar-quote tag is kept exactly.
    expect(await quarantined(db.url, 'Invoice Line', '"Invoice Id", "Line No", "Amount", memo')).toEqual([linesBefore[1], linesBefore[3]].sort());

    // A second run finds nothing to move and changes nothing.
    psqlFile(db.url, fix);
    expect((await rowsOf(db.url, 'public.invoice', 'id')).length).toBe(90);
    expect((await quarantined(db.url, 'invoice', 'id')).length).toBe(10);
    const after = await auditProject(db.url, file, IDS);
    expect(IDS.map((id) => checkResult(after.report, id).status)).toEqual(['passed', 'passed']);

    for (const entry of outcome.repairs) for (const statement of entry.repair.restore ?? []) await query(db.url, statement);
    expect(await rowsOf(db.url, 'public.invoice', 'id')).toEqual(invoicesBefore);
    expect(await rowsOf(db.url, '"Billing Dept"."Invoice Line"', 't."Invoice Id", t."Line No"')).toEqual(linesBefore);
  });
});

describe('fix --apply of a SQL check', () => {
  const db = useDatabase('sql_fix_apply', { sql: [SCHEMA_SQL] });

  it('applies the quarantine repair and audits clean; applying again moves nothing', async () => {
    const { file } = writeProject({ plugins: [PLUGIN_DIR] });
    const options = await projectOptions(db.url, file, ['acme/no-negative-amounts']);
    const outcome = await auditProject(db.url, file, ['acme/no-negative-amounts']);
    expect((await applyRepairs(options, outcome.repairs)).applied).toBe(1);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM public.invoice WHERE amount_cents < 0')).toEqual([{ n: 0 }]);
    expect((await quarantined(db.url, 'invoice', 'id')).length).toBe(10);
    await applyRepairs(options, outcome.repairs);
    expect((await quarantined(db.url, 'invoice', 'id')).length).toBe(10);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM public.invoice')).toEqual([{ n: 90 }]);
  });
});

describe('writers while the repair runs', () => {
  const db = useDatabase('sql_fix_writers', { sql: [SCHEMA_SQL] });

  it('a locked failing row cannot be changed in between; a failing row written after the lock is left; every removed row has its copy', async () => {
    const { file } = writeProject({ plugins: [PLUGIN_DIR] });
    const outcome = await auditProject(db.url, file, ['acme/no-negative-amounts']);
    const steps = runnableSteps(outcome.repairs[0] as NonNullable<(typeof outcome.repairs)[0]>);
    const repairer = new pg.Client({ connectionString: db.url });
    const writer = new pg.Client({ connectionString: db.url });
    await repairer.connect();
    await writer.connect();
    try {
      await repairer.query('BEGIN');
      for (const pin of sessionPins()) await repairer.query(pin);
      await repairer.query(CREATE_QUARANTINE_SCHEMA);
      await repairer.query((steps[0] as { sql: string }).sql);
      await writer.query(`SET lock_timeout = '20s'`);
      await writer.query(`INSERT INTO public.invoice VALUES (1000, -7, 'late')`);
      const updated = writer.query(`UPDATE public.invoice SET amount_cents = 20 WHERE id = 20`).then((r) => r.rowCount);
      await new Promise((r) => setTimeout(r, 300));
      for (const step of steps.slice(1)) await repairer.query(step.sql);
      await repairer.query('COMMIT');
      // The update waited for the lock, then found its row gone (into the quarantine).
      expect(await updated).toBe(0);
    } finally {
      await repairer.end();
      await writer.end();
    }
    expect(await query(db.url, 'SELECT id FROM public.invoice WHERE amount_cents < 0 ORDER BY id')).toEqual([{ id: 1000 }]);
    expect(await quarantined(db.url, 'invoice', 'id')).toEqual(['10', '100', '20', '30', '40', '50', '60', '70', '80', '90']);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM public.invoice')).toEqual([{ n: 91 }]);
  });
});

describe('when the quarantine repair is not offered', () => {
  const db = useDatabase('sql_fix_refused', {
    sql: [
      SCHEMA_SQL,
      `CREATE TABLE public.payment (id int PRIMARY KEY, invoice_id int NOT NULL REFERENCES public.invoice (id) ON DELETE CASCADE);
       INSERT INTO public.payment VALUES (1, 10);
       CREATE TABLE public.audited (id int PRIMARY KEY, bad boolean NOT NULL);
       INSERT INTO public.audited VALUES (1, true), (2, false);
       CREATE FUNCTION public.log_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
       CREATE TRIGGER audited_delete BEFORE DELETE ON public.audited FOR EACH ROW EXECUTE FUNCTION public.log_delete();
       CREATE FUNCTION public.is_bad(int) RETURNS boolean LANGUAGE sql AS 'SELECT $1 < 0';
       CREATE VIEW public.negative_invoice AS SELECT id FROM public.invoice WHERE amount_cents < 0;`,
    ],
  });

  it('a key that is not unique: no repair, and fixError says why', async () => {
    const { file } = writeProject({
      sqlChecks: [{ id: 'acme/by-customer', title: 'Customers with a negative invoice', object: 'public.invoice', key: 'customer', query: 'SELECT DISTINCT customer FROM public.invoice WHERE amount_cents < 0', repair: 'quarantine' }],
    });
    const { report, repairs } = await auditProject(db.url, file, ['acme/by-customer']);
    expect(report.findings[0]?.fix).toBeNull();
    expect(report.findings[0]?.details?.fixError).toMatch(/the key \(customer\) is neither the primary key nor a unique constraint of public\.invoice/);
    expect(renderFixScript({ report, repairs })).toMatch(/NOT REPAIRED: the key \(customer\)/);
  });

  it('a delete that would cascade, or fire a trigger of the user\'s: the move is left for review', async () => {
    const { file } = writeProject({
      sqlChecks: [
        { id: 'acme/neg', title: 'Negative invoices', object: 'public.invoice', query: 'SELECT id FROM public.invoice WHERE amount_cents < 0', repair: 'quarantine' },
        { id: 'acme/bad', title: 'Bad rows', object: 'public.audited', query: 'SELECT id FROM public.audited WHERE bad', repair: 'quarantine' },
      ],
    });
    const { repairs } = await auditProject(db.url, file, ['acme/neg', 'acme/bad']);
    const neg = repairs.find((r) => r.finding.checkId === 'acme/neg');
    expect(neg?.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(neg?.repair.steps[0]?.decision).toMatch(/cascade to the rows of public\.payment \(constraint payment_invoice_id_fkey\)/);
    const bad = repairs.find((r) => r.finding.checkId === 'acme/bad');
    expect(bad?.repair.steps[0]?.decision).toMatch(/would fire trigger audited_delete on public\.audited/);
  });

  it('a query that runs code of the user\'s (a function, a view) would run it again outside READ ONLY: review', async () => {
    const { file } = writeProject({
      sqlChecks: [
        { id: 'acme/fn', title: 'By function', object: 'public.event_log', key: 'happened_at', query: 'SELECT happened_at FROM public.event_log WHERE public.is_bad(-1) AND kind IS NULL', repair: 'quarantine' },
        { id: 'acme/view', title: 'By view', object: 'public.audited', query: 'SELECT a.id FROM public.audited AS a JOIN public.negative_invoice AS n ON n.id = a.id OR true WHERE a.bad', repair: 'quarantine' },
      ],
    });
    const { repairs } = await auditProject(db.url, file, ['acme/fn', 'acme/view']);
    // event_log has no unique key on happened_at: no repair at all.
    expect(repairs.find((r) => r.finding.checkId === 'acme/fn')?.repair.error).toMatch(/neither the primary key nor a unique constraint/);
    const view = repairs.find((r) => r.finding.checkId === 'acme/view');
    expect(view?.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(view?.repair.steps[0]?.decision).toMatch(/the query reads view public\.negative_invoice, whose code the repair would run again/);
  });

  it('a function of the user\'s in the query: review', async () => {
    const { file } = writeProject({
      sqlChecks: [{ id: 'acme/fn', title: 'By function', object: 'public.invoice', query: 'SELECT id FROM public.invoice WHERE public.is_bad(amount_cents)', repair: 'quarantine' }],
    });
    const { repairs } = await auditProject(db.url, file, ['acme/fn']);
    expect(repairs[0]?.finding.count).toBe(10);
    expect(repairs[0]?.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(repairs[0]?.repair.steps[0]?.decision).toMatch(/the query runs function public\.is_bad\(\)/);
  });
});

describe.skipIf(!HAS_PSQL)('user text in a SQL check cannot escape a comment or a statement', () => {
  const db = useDatabase('sql_fix_hostile', { sql: [SCHEMA_SQL] });
  const eols = ['\r', '\n', '\r\n', '\u2028', '\u0085'];
  const hostile = (i: number) => `x${eols[i % eols.length]}\\! touch ${pwned}${eols[(i + 1) % eols.length]}*/ $$ ' ; --`;
  // The same, as a block comment may hold it: the SQL stays valid, and only its text is hostile.
  const inComment = (i: number) => `x${eols[i % eols.length]}\\! touch ${pwned}${eols[(i + 1) % eols.length]} $$ ' ; -- $integrity_sql$ :integrity_same_database`;

  it('titles, descriptions, messages, queries and repair SQL holding line ends and meta-commands: the script runs only what it plans', async () => {
    rmSync(pwned, { force: true });
    const hostileQuery = [
      `SELECT l."Invoice Id", l."Line No" /* ${inComment(0)} */`,
      `  FROM "Billing Dept"."Invoice Line" AS l -- a comment \\! touch ${pwned} */ $$ ' ;`,
      ` WHERE l."Amount" < 0`,
      `   AND l.memo IS DISTINCT FROM E'\\r\\\\! touch ${pwned}\\n'`,
      `   AND 'tab\there' <> $tag$ $integrity_sql$ \r\\! touch ${pwned}\n :integrity_same_database $tag$`,
      `   AND l.memo IS DISTINCT FROM 'raw\r\\! touch ${pwned}\u2028'`,
    ].join('\n');
    const { file } = writeProject({
      sqlChecks: [
        {
          id: 'acme/hostile',
          title: `Lines ${hostile(2)}`,
          description: `About ${hostile(3)}`,
          object: '"Billing Dept"."Invoice Line"',
          message: `{count} in {object} ${hostile(4)}`,
          query: hostileQuery,
          repair: 'quarantine',
        },
        {
          id: 'acme/own-repair',
          title: `Own ${hostile(0)}`,
          object: 'public.invoice',
          query: 'SELECT id FROM public.invoice WHERE amount_cents < 0',
          repair: { sql: `UPDATE public.invoice SET amount_cents = 0 WHERE amount_cents < 0; /* ${inComment(1)} */`, description: `flip ${hostile(2)}` },
        },
      ],
    });
    const outcome = await auditProject(db.url, file, ['acme/hostile', 'acme/own-repair']);
    expect(outcome.report.findings.map((f) => [f.checkId, f.count])).toEqual([
      ['acme/hostile', 2],
      ['acme/own-repair', 10],
    ]);
    const own = outcome.repairs.find((r) => r.finding.checkId === 'acme/own-repair');
    expect(own?.repair.steps.map((s) => s.safety)).toEqual(['review']);
    const script = renderFixScript(outcome);
    await expectScriptRunsOnlyPlanned(script, outcome);
    psqlFile(db.url, scriptFile(script));
    expect(existsSync(pwned)).toBe(false);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM "Billing Dept"."Invoice Line"')).toEqual([{ n: 2 }]);
    // The review step was shown, not run.
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM public.invoice WHERE amount_cents < 0')).toEqual([{ n: 10 }]);
    const verified = await verifyRepairs(await projectOptions(db.url, file, ['acme/hostile', 'acme/own-repair']));
    expect(verified.lines.map((l) => [l.checkId, l.status])).toEqual([['acme/own-repair', 'review only']]);
    expect(existsSync(pwned)).toBe(false);
  });
});
