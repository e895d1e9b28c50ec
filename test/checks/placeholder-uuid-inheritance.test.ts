import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { applyRepairs } from '../../src/fix/execute.js';
import { auditOptions, query, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';
const REAL = '10000000-0000-4000-8000-000000000001';

describe('placeholder-uuid with table inheritance and partitions', () => {
  const db = useDatabase('placeholder_inheritance', {
    sql: [
      `-- A placeholder parent row that lives in an inheritance child, which has a column of its own.
       CREATE TABLE node (id uuid PRIMARY KEY, label text);
       CREATE TABLE special_node (extra text NOT NULL, PRIMARY KEY (id)) INHERITS (node);
       INSERT INTO node VALUES ('${REAL}', 'real');
       INSERT INTO special_node VALUES ('${NIL}', 'placeholder', 'only the child has this');
       -- A foreign key on the parent covers the parent's own rows only (it is not inherited).
       CREATE TABLE owner (id uuid PRIMARY KEY);
       INSERT INTO owner VALUES ('${NIL}'), ('${REAL}');
       CREATE TABLE doc (id int PRIMARY KEY, owner_id uuid REFERENCES owner);
       CREATE TABLE archived_doc (archived_on date NOT NULL, PRIMARY KEY (id)) INHERITS (doc);
       INSERT INTO doc VALUES (1, '${NIL}'), (2, '${REAL}');
       INSERT INTO archived_doc VALUES (3, '${NIL}', '2024-01-31');
       -- A partitioned table is read through its parent, once.
       CREATE TABLE reading (id int, sensor_id uuid, taken_on date, PRIMARY KEY (id, taken_on)) PARTITION BY RANGE (taken_on);
       CREATE TABLE reading_2024 PARTITION OF reading FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
       CREATE TABLE reading_2025 PARTITION OF reading FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
       INSERT INTO reading VALUES (1, '${NIL}', '2024-03-01'), (2, '${REAL}', '2024-04-01'), (3, '${NIL}', '2025-03-01'), (4, '${REAL}', '2025-04-01');
       -- A foreign key of one partition only: a reference, but the repair may not reach the other partition.
       CREATE TABLE sensor (id uuid PRIMARY KEY);
       INSERT INTO sensor VALUES ('${NIL}'), ('${REAL}');
       ALTER TABLE reading_2025 ADD CONSTRAINT reading_2025_sensor_fkey FOREIGN KEY (sensor_id) REFERENCES sensor;`,
    ],
  });

  it('counts each placeholder once, on the table that holds it; repairs touch only that table and quarantine every column', async () => {
    const options = auditOptions(db.url, { checks: ['placeholder-uuid'] });
    const { report, repairs } = await runAuditWithRepairs(options);
    expect(report.findings.map((f) => [f.object.table, f.object.column, f.count, f.details?.role])).toEqual([
      ['archived_doc', 'owner_id', 1, 'value'],
      ['doc', 'owner_id', 1, 'reference'],
      ['owner', 'id', 1, 'parent'],
      ['reading', 'sensor_id', 2, 'reference'],
      ['sensor', 'id', 1, 'parent'],
      ['special_node', 'id', 1, 'parent'],
    ]);
    expect(repairs.map((r) => [r.finding.object.table, r.repair.steps.map((s) => s.safety)])).toEqual([
      ['archived_doc', ['review']],
      ['doc', ['safe', 'destructive']],
      ['reading', ['review']],
      ['owner', ['review']],
      ['sensor', ['review']],
      ['special_node', ['safe', 'destructive']],
    ]);

    await applyRepairs(options, repairs);
    // UPDATE ONLY doc: the archived row (no foreign key there) keeps its value until a person decides.
    expect(await query(db.url, 'SELECT id, owner_id::text AS o FROM doc ORDER BY id')).toEqual([
      { id: 1, o: null },
      { id: 2, o: REAL },
      { id: 3, o: NIL },
    ]);
    // DELETE FROM ONLY special_node: the parent's own row stays, and the copy holds the child's column.
    expect(await query(db.url, 'SELECT id::text AS id FROM node ORDER BY id')).toEqual([{ id: REAL }]);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM reading WHERE sensor_id IS NULL')).toEqual([{ n: 0 }]);
    const special = repairs.find((r) => r.finding.object.table === 'special_node');
    const quarantine = special?.repair.steps[0]?.sql.match(/"integrity_quarantine"\."([^"]+)"/)?.[1];
    expect(await query(db.url, `SELECT id::text AS id, label, extra FROM integrity_quarantine."${quarantine}"`)).toEqual([
      { id: NIL, label: 'placeholder', extra: 'only the child has this' },
    ]);
  });
});
