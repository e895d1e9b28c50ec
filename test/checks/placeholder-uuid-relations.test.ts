import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { auditOptions, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';

// A placeholder parent row is deleted only while nothing references it: a relation declared in the config
// is a reference too, though PostgreSQL knows nothing of it.
describe('placeholder-uuid: a placeholder parent referenced only through a declared relation', () => {
  const db = useDatabase('placeholder_relation_parent', {
    sql: [
      `CREATE TABLE account (id uuid PRIMARY KEY, name text);
       INSERT INTO account VALUES ('${NIL}', 'unknown'), ('10000000-0000-4000-8000-000000000001', 'real');
       CREATE TABLE event (id int PRIMARY KEY, account_ref uuid);
       INSERT INTO event VALUES (1, '${NIL}'), (2, '10000000-0000-4000-8000-000000000001');`,
    ],
  });
  const config = { relations: [{ table: 'event', columns: ['account_ref'], references: { table: 'account', columns: ['id'] } }] };

  it('is left for review while a row refers to it by the relation; deleted (quarantined) once none does', async () => {
    const held = await runAuditWithRepairs(auditOptions(db.url, { checks: ['placeholder-uuid'], config }));
    const parent = held.repairs.find((r) => r.finding.object.table === 'account');
    expect(parent?.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(parent?.repair.steps[0]?.decision).toMatch(/event/);
    const free = await runAuditWithRepairs(auditOptions(db.url, { checks: ['placeholder-uuid'] }));
    expect(free.repairs.find((r) => r.finding.object.table === 'account')?.repair.steps.some((s) => s.safety === 'destructive')).toBe(true);
  });
});

describe('placeholder-uuid: a placeholder parent referenced through another unique column', () => {
  const db = useDatabase('placeholder_other_key', {
    sql: [
      `CREATE TABLE provider (id uuid PRIMARY KEY, slug text UNIQUE NOT NULL);
       CREATE TABLE usage_row (id int PRIMARY KEY, provider_slug text REFERENCES provider (slug) ON DELETE CASCADE);
       INSERT INTO provider VALUES ('${NIL}', 'unknown'), ('11111111-1111-1111-1111-111111111111', 'openai');
       INSERT INTO usage_row VALUES (1, 'unknown'), (2, 'openai');`,
    ],
  });

  it('is left for review: deleting it would cascade to the rows that name it by slug', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['placeholder-uuid'] }));
    const parent = outcome.repairs.find((r) => r.finding.object.table === 'provider');
    expect(parent?.repair.steps.map((s) => s.safety)).toEqual(['review']);
    expect(parent?.repair.steps[0]?.decision).toMatch(/usage_row/);
  });
});
