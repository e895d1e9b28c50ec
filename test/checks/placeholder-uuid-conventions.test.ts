import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../checks/index.js';
import { CONSTANT_MIN_ROWS, CONSTANT_SHARE, KNOWN_CONVENTIONS } from '../../checks/placeholder-uuid.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { repairSafety } from '../../src/fix/types.js';
import { renderExplain } from '../../src/report/docs.js';
import { makeChalk } from '../../src/report/color.js';
import { audit, auditOptions, checkResult, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';

/** [table, column, severity, role, kind of repair] for each placeholder-uuid finding. */
async function outcomes(url: string, config: unknown = {}) {
  const { report, repairs } = await runAuditWithRepairs(auditOptions(url, { checks: ['placeholder-uuid'], config }));
  const safety = new Map(repairs.map((r) => [r.finding, repairSafety(r.repair)]));
  return {
    report,
    rows: report.findings.map((f) => [f.object.table, f.object.column, f.severity, f.details?.role ?? null, safety.get(f) ?? null]),
  };
}

describe('placeholder-uuid: placeholders that are conventions, not defects', () => {
  // 40 documents: tenant_id is a foreign key to the one (placeholder) tenant, in every row; org_id holds the
  // nil UUID in every row and workspace_id in 39 of 40, and nothing refers to either; mixed_id in 30 of 40.
  const db = useDatabase('placeholder_conventions', {
    sql: [
      `CREATE TABLE tenant (id uuid PRIMARY KEY);
       INSERT INTO tenant VALUES ('${NIL}');
       CREATE TABLE doc (id int PRIMARY KEY, tenant_id uuid REFERENCES tenant, org_id uuid, workspace_id uuid, mixed_id uuid, note text);
       INSERT INTO doc SELECT g, '${NIL}', '${NIL}',
                              CASE WHEN g = 40 THEN '20000000-0000-4000-8000-000000000040'::uuid ELSE '${NIL}' END,
                              CASE WHEN g <= 30 THEN '${NIL}'::uuid ELSE ('30000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid END,
                              'n' || g
         FROM generate_series(1, 40) g;
       -- Every row, but too few rows to tell a constant from a handful of broken inserts.
       CREATE TABLE small (id int PRIMARY KEY, site_id uuid);
       INSERT INTO small SELECT g, '${NIL}' FROM generate_series(1, ${CONSTANT_MIN_ROWS - 1}) g;
       -- Every row of a column that a declared relation (config) makes a reference.
       CREATE TABLE account (id uuid PRIMARY KEY);
       CREATE TABLE event (id int PRIMARY KEY, account_id uuid);
       INSERT INTO event SELECT g, '${NIL}' FROM generate_series(1, 20) g;
       -- A unique key that a foreign key points at.
       CREATE TABLE region (id int PRIMARY KEY, code_id uuid UNIQUE);
       INSERT INTO region VALUES (1, '${NIL}'), (2, '40000000-0000-4000-8000-000000000002');
       CREATE TABLE shop (id int PRIMARY KEY, region_code uuid REFERENCES region (code_id));
       -- Supabase's own tables: a convention by the built-in list, even below the row threshold; the same
       -- column name elsewhere is not.
       CREATE SCHEMA auth;
       CREATE TABLE auth.users (instance_id uuid, id uuid PRIMARY KEY);
       INSERT INTO auth.users VALUES ('${NIL}', '50000000-0000-4000-8000-000000000001'), ('${NIL}', '50000000-0000-4000-8000-000000000002');
       CREATE TABLE auth.other (instance_id uuid, id uuid PRIMARY KEY);
       INSERT INTO auth.other VALUES ('${NIL}', '60000000-0000-4000-8000-000000000001'), ('${NIL}', '60000000-0000-4000-8000-000000000002');`,
    ],
  });
  const relations = [{ table: 'event', columns: ['account_id'], references: { table: 'account', columns: ['id'] } }];

  it('keeps references and referenced keys errors; reports a constant nothing refers to as info without a repair; set-NULL of a non-FK column is review', async () => {
    const { report, rows } = await outcomes(db.url, { relations });
    expect(rows).toEqual([
      ['other', 'instance_id', 'error', 'value', 'review'],
      ['doc', 'tenant_id', 'error', 'reference', 'destructive'],
      ['doc', 'mixed_id', 'error', 'value', 'review'],
      ['event', 'account_id', 'error', 'reference', 'review'],
      ['region', 'code_id', 'error', 'referenced-key', 'review'],
      ['small', 'site_id', 'error', 'value', 'review'],
      ['tenant', 'id', 'error', 'parent', 'review'],
      ['doc', 'org_id', 'info', 'constant', null],
      ['doc', 'workspace_id', 'info', 'constant', null],
    ]);
    const workspace = report.findings.find((f) => f.object.column === 'workspace_id');
    expect(workspace?.count).toBe(39);
    expect(workspace?.details?.constant).toEqual({ share: 0.975, nonNullRows: 40 });
    expect(workspace?.fix).toBeNull();
    expect(report.findings.filter((f) => f.object.schema === 'auth').map((f) => f.object.table)).toEqual(['other']);
  });

  it('takes more conventions from the config, as globs; a convention on a foreign key does not hide it', async () => {
    const conventions = ['public.*.mixed_id', 'public.small.site_?d', 'public.doc.tenant_id', 'public.event.account_id', 'auth.*.instance_id'];
    const { report, rows } = await outcomes(db.url, { relations, checks: { 'placeholder-uuid': { conventions } } });
    expect(rows).toEqual([
      ['doc', 'tenant_id', 'error', 'reference', 'destructive'],
      ['event', 'account_id', 'error', 'reference', 'review'],
      ['region', 'code_id', 'error', 'referenced-key', 'review'],
      ['tenant', 'id', 'error', 'parent', 'review'],
      ['doc', 'org_id', 'info', 'constant', null],
      ['doc', 'workspace_id', 'info', 'constant', null],
    ]);
    expect(report.findings.slice(0, 2).map((f) => f.details?.convention)).toEqual(['public.doc.tenant_id', 'public.event.account_id']);
    expect(checkResult(report, 'placeholder-uuid').status).toBe('failed');
  });

  it('the threshold is the documented one: 95% of at least 10 non-null rows', () => {
    expect([CONSTANT_SHARE, CONSTANT_MIN_ROWS]).toEqual([0.95, 10]);
  });

  it('ships the Supabase conventions, and explain lists every one', () => {
    expect(KNOWN_CONVENTIONS.map((c) => c.column)).toEqual([
      'auth.users.instance_id',
      'auth.refresh_tokens.instance_id',
      'auth.audit_log_entries.instance_id',
      'auth.webauthn_credentials.aaguid',
      'auth.mfa_factors.web_authn_aaguid',
    ]);
    const check = CHECKS.find((c) => c.id === 'placeholder-uuid');
    if (!check) throw new Error('no placeholder-uuid check');
    const text = renderExplain(check, makeChalk(0));
    for (const convention of KNOWN_CONVENTIONS) expect(text).toContain(convention.column);
  });

  it('rejects a convention that is not a string', async () => {
    await expect(audit(db.url, { checks: ['placeholder-uuid'], config: { checks: { 'placeholder-uuid': { conventions: [3] } } } })).rejects.toThrow(
      /checks\.placeholder-uuid\.conventions\.0/,
    );
  });
});
