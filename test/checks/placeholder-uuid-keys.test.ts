import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { applyRepairs } from '../../src/fix/execute.js';
import { auditOptions, query, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';
const REAL_TEAM = '10000000-0000-4000-8000-000000000001';

describe('placeholder-uuid on columns that are both part of a primary key and a foreign key', () => {
  // team_member is a join table: (team_id, person_id) is its primary key and each column a foreign key.
  // Two memberships point at the placeholder team; tenant_setting's composite key includes a placeholder
  // that no foreign key involves.
  const db = useDatabase('placeholder_keys', {
    sql: [
      `CREATE TABLE team (id uuid PRIMARY KEY, name text);
       INSERT INTO team VALUES ('${NIL}', 'no team'), ('${REAL_TEAM}', 'core');
       CREATE TABLE person (id uuid PRIMARY KEY);
       INSERT INTO person VALUES ('20000000-0000-4000-8000-000000000001'), ('20000000-0000-4000-8000-000000000002');
       CREATE TABLE team_member (
         team_id uuid REFERENCES team,
         person_id uuid REFERENCES person,
         PRIMARY KEY (team_id, person_id)
       );
       INSERT INTO team_member VALUES
         ('${NIL}', '20000000-0000-4000-8000-000000000001'),
         ('${NIL}', '20000000-0000-4000-8000-000000000002'),
         ('${REAL_TEAM}', '20000000-0000-4000-8000-000000000001');
       CREATE TABLE tenant_setting (tenant_id uuid, key text, value text, PRIMARY KEY (tenant_id, key));
       INSERT INTO tenant_setting VALUES ('${NIL}', 'a', '1'), ('${NIL}', 'b', '2'),
         ('30000000-0000-4000-8000-000000000001', 'a', '3'), ('30000000-0000-4000-8000-000000000002', 'a', '4');`,
    ],
  });

  it('labels the join table rows as references (children), not placeholder parents, and leaves them for review', async () => {
    const options = auditOptions(db.url, { checks: ['placeholder-uuid'] });
    const { report, repairs } = await runAuditWithRepairs(options);
    expect(
      report.findings.map((f) => [f.object.table, f.object.column, f.object.constraint ?? null, f.count, f.severity, f.details?.role, f.details?.primaryKey]),
    ).toEqual([
      ['team', 'id', null, 1, 'error', 'parent', true],
      ['team_member', 'team_id', 'team_member_team_id_fkey', 2, 'error', 'reference', true],
      ['tenant_setting', 'tenant_id', null, 2, 'error', 'value', true],
    ]);
    // The placeholder parent is team's row; the memberships are children, and no step may delete them.
    expect(repairs.map((r) => [r.finding.object.table, r.repair.order, r.repair.steps.map((s) => s.safety)])).toEqual([
      ['team_member', 30, ['review']],
      ['tenant_setting', 30, ['review']],
      // Still referenced by the two memberships: review, never the "delete while unreferenced" path.
      ['team', 45, ['review']],
    ]);
    await applyRepairs(options, repairs);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM team_member')).toEqual([{ n: 3 }]);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM tenant_setting')).toEqual([{ n: 4 }]);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM team')).toEqual([{ n: 2 }]);
  });
});
