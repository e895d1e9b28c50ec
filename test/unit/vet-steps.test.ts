import { describe, expect, it } from 'vitest';
import { vetPluginRepair } from '../../src/fix/vet-steps.js';
import { createQuarantineTable, moveToQuarantine, type Quarantine } from '../../src/fix/quarantine.js';
import { findingFix } from '../../src/fix/script.js';
import type { Repair, RepairStep } from '../../src/fix/types.js';
import type { Column, Table } from '../../src/db/catalog.js';
import type { Finding } from '../../src/findings.js';
import type { Queryable } from '../../src/db/session.js';

/** The catalog as the vetting sees it: which user triggers and rules an INSERT would fire. */
let firing: string[] = [];
const db: Queryable = { query: async <R>() => ({ rows: firing.map((what) => ({ what })) as R[] }) };

const step = (sql: string, safety: RepairStep['safety'] = 'safe'): RepairStep => ({ safety, phase: 'transaction', description: 'a plugin step', sql });
const vet = async (...steps: RepairStep[]) => (await vetPluginRepair({ order: 50, summary: 's', steps } satisfies Repair, 'acme/plugin.check.ts', db)).steps;

const column = { name: 'id', type: 'int4', baseType: 'int4', notNull: true, generated: '', identity: '' } as unknown as Column;
const table = { schema: 'Billing Dept', name: 'Invoice Line', columns: [column], primaryKey: ['id'] } as unknown as Table;
const quarantine: Quarantine = { name: '"integrity_quarantine"."invoice_line_0123"', relname: 'invoice_line_0123', columns: [column], meta: { at: 'integrity_quarantined_at', check: 'integrity_check', finding: 'integrity_finding' } };

describe("a plugin's repair steps are held to the script's rules", () => {
  it.each([
    ['INSERT INTO public.pricing (model) VALUES ($$m$$)', 'safe'],
    ['ALTER TABLE public.t ADD CONSTRAINT c CHECK (a >= 0) NOT VALID', 'safe'],
    ['ALTER TABLE public.t VALIDATE CONSTRAINT c', 'safe'],
    ['CREATE TEMP TABLE x AS SELECT id FROM public.t FOR UPDATE', 'safe'],
    ['LOCK TABLE public.t IN SHARE ROW EXCLUSIVE MODE', 'safe'],
  ])('keeps a step that loses no row: %s', async (sql, safety) => {
    expect((await vet(step(sql)))[0]?.safety).toBe(safety);
  });

  it('a step that moves rows into the quarantine in one statement is at least destructive', async () => {
    const sql = moveToQuarantine(quarantine, 'ONLY "Billing Dept"."Invoice Line"', 't.id < 0', 'acme/x', 'f1');
    expect((await vet(step(sql, 'safe')))[0]?.safety).toBe('destructive');
    expect((await vet(step(sql, 'destructive')))[0]?.safety).toBe('destructive');
  });

  it('the quarantine table the public helper writes (with its DO guard) is not held for review', async () => {
    expect((await vet(step(createQuarantineTable(quarantine, table))))[0]?.safety).toBe('safe');
    expect((await vet(step('DO $$ BEGIN DELETE FROM public.t; END $$')))[0]?.safety).toBe('review');
  });

  it('an INSERT that fires a trigger or rule of the user\'s is held; one that fires none is not', async () => {
    firing = ['trigger "purge" on public.audit_log'];
    const [held] = await vet(step("INSERT INTO public.audit_log VALUES ('hello')"));
    expect(held?.safety).toBe('review');
    expect(held?.decision).toMatch(/fires trigger "purge" on public.audit_log/);
    firing = [];
    expect((await vet(step("INSERT INTO public.audit_log VALUES ('hello')")))[0]?.safety).toBe('safe');
    expect((await vet(step('ALTER TABLE public.child ADD CONSTRAINT f FOREIGN KEY (pid) REFERENCES public.parent (id) NOT VALID')))[0]?.safety).toBe('safe');
  });

  it('one step joining the quarantine table and the move (as placeholder-uuid writes it) stays destructive', async () => {
    const sql = `${createQuarantineTable(quarantine, table)}\n${moveToQuarantine(quarantine, 'ONLY "Billing Dept"."Invoice Line"', 't.id < 0', 'acme/x', 'f1')}`;
    expect((await vet(step(sql, 'destructive')))[0]?.safety).toBe('destructive');
    expect((await vet(step(`${createQuarantineTable(quarantine, table)}\nDELETE FROM public.t`, 'destructive')))[0]?.safety).toBe('review');
  });

  it.each([
    ['DELETE FROM public.t WHERE id < 0', /DELETE removes rows without copying them/],
    ['UPDATE public.t SET a = 0', /UPDATE changes rows/],
    ['TRUNCATE public.t', /TRUNCATE/],
    ['DROP TABLE public.t', /DROP/],
    ['COMMIT; DELETE FROM public.t', /transaction control/],
    ['SET session_replication_role = replica', /SET would change/],
    ['ALTER TABLE public.t DROP COLUMN a', /ALTER TABLE AT_DropColumn/],
    ['INSERT INTO public.t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 1', /ON CONFLICT DO UPDATE/],
    ['WITH d AS (DELETE FROM public.t RETURNING *) INSERT INTO public.archive SELECT * FROM d', /DELETE removes rows/],
    ['WITH d AS (DELETE FROM public.t RETURNING *) SELECT * FROM d', /DELETE removes rows/],
    ['CREATE TABLE public.snap AS WITH d AS (DELETE FROM public.t WHERE id = 5 RETURNING 1) SELECT count(*) AS n FROM d', /DELETE removes rows/],
    ['WITH d AS (DELETE FROM public.t WHERE id = 7 RETURNING id) INSERT INTO integrity_quarantine.hand (id) SELECT id FROM d WHERE false', /DELETE removes rows/],
    ['INSERT INTO public.log SELECT 1 FROM (WITH d AS (UPDATE public.t SET a = 1 RETURNING 1) SELECT * FROM d) AS x', /UPDATE changes rows/],
    ['SELECT public.purge_negative()', /runs code integrity cannot read.*function public\.purge_negative\(\)/],
    ['CREATE INDEX i ON public.t (public.imm_wrapper(id))', /runs code integrity cannot read.*function public\.imm_wrapper\(\)/],
    ['SELECT 1 WHERE 1 OPERATOR(public.===) 1', /runs code integrity cannot read.*operator OPERATOR\(public\.===\)/],
    ["SELECT pg_catalog.set_config('session_replication_role', 'replica', true)", /set_config\(\)/],
    ["SELECT query_to_xml('DELETE FROM public.t', true, true, '')", /query_to_xml\(\)/],
    ['ALTER TABLE public.child ADD CONSTRAINT f FOREIGN KEY (pid) REFERENCES public.parent (id) ON DELETE CASCADE NOT VALID', /CASCADE, SET NULL or SET DEFAULT/],
    ['ALTER TABLE public.child ADD CONSTRAINT f FOREIGN KEY (pid) REFERENCES public.parent (id) ON UPDATE SET NULL', /CASCADE, SET NULL or SET DEFAULT/],
    ['SELECT (ARRAY[10, 20, 30])[1:ROW_COUNT]', /psql would replace :ROW_COUNT/],
    ["SELECT :'DBNAME'", /psql would replace|does not parse/],
    ['SELECT 1;\n\\! rm -rf ~', /does not parse as PostgreSQL \(it may hold a psql meta-command\)/],
    ['CALL public.cleanup()', /CALL runs a procedure/],
  ])('holds for review, whatever the plugin claimed: %s', async (sql, reason) => {
    for (const claimed of ['safe', 'destructive'] as const) {
      const [vetted] = await vet(step(sql, claimed));
      expect(vetted?.safety).toBe('review');
      expect(vetted?.decision).toMatch(reason);
      expect(vetted?.decision).toContain('acme/plugin.check.ts');
    }
  });

  it('a held step is commented out in the script, meta-command and all', async () => {
    const steps = await vet(step('SELECT 1;\n\\! rm -rf ~\nDELETE FROM public.t'));
    const finding = { checkId: 'acme/x', severity: 'error', message: 'm', object: { schema: 'public', table: 't' }, count: 1, samples: [], fingerprint: 'f', fix: null } as Finding;
    const fix = findingFix(finding, { order: 50, summary: 's', steps });
    const lines = fix.sql.split('\n').filter((l) => /rm -rf|DELETE FROM/.test(l));
    expect(lines.length).toBe(2);
    for (const l of lines) expect(l.startsWith('--')).toBe(true);
  });

  it('a concurrent step of anything but an index build is held for review, in the transaction', async () => {
    const concurrent: RepairStep = { safety: 'safe', phase: 'concurrent', description: 'c', sql: 'x', statements: ['CREATE INDEX CONCURRENTLY i ON public.t (a)'], verifyStatements: ['CREATE INDEX i ON public.t (a)'] };
    expect((await vet(concurrent))[0]).toMatchObject({ safety: 'safe', phase: 'concurrent' });
    const dropping = { ...concurrent, statements: ['DROP TABLE public.t'] };
    expect((await vet(dropping))[0]).toMatchObject({ safety: 'review', phase: 'transaction' });
  });
});
