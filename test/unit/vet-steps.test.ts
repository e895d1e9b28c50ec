import { describe, expect, it } from 'vitest';
import { vetPluginRepair } from '../../src/fix/vet-steps.js';
import { createQuarantineTable, moveToQuarantine, type Quarantine } from '../../src/fix/quarantine.js';
import { findingFix } from '../../src/fix/script.js';
import type { Repair, RepairStep } from '../../src/fix/types.js';
import type { Column, Table } from '../../src/db/catalog.js';
import type { Finding } from '../../src/findings.js';

const step = (sql: string, safety: RepairStep['safety'] = 'safe'): RepairStep => ({ safety, phase: 'transaction', description: 'a plugin step', sql });
const vet = async (...steps: RepairStep[]) => (await vetPluginRepair({ order: 50, summary: 's', steps } satisfies Repair, 'acme/plugin.check.ts')).steps;

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
