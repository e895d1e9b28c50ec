import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { auditOptions, query, useDatabase } from '../helpers/db.js';

const NIL = '00000000-0000-0000-0000-000000000000';
const MAX = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
const REAL = '10000000-0000-4000-8000-000000000001';

describe('placeholder-uuid in uuid[] and citext columns, and in the other text spellings of a UUID', () => {
  // citext lives in its own schema, as on Supabase: the audit's search_path (pg_catalog) does not reach it.
  const db = useDatabase('placeholder_spellings', {
    sql: [
      `CREATE SCHEMA extensions;
       CREATE EXTENSION citext SCHEMA extensions;
       CREATE DOMAIN id_list AS uuid[];
       CREATE TABLE item (
         id int PRIMARY KEY,
         ext_id text,
         legacy_id varchar(40),
         owner_id extensions.citext,
         tag_ids uuid[],
         member_ids id_list,
         label text
       );
       INSERT INTO item VALUES
         (1, '{${NIL}}', '${NIL.replace(/-/g, '')}', '${NIL}', ARRAY['${NIL}', '${NIL}', '${MAX}', '${REAL}']::uuid[], ARRAY['${REAL}']::uuid[], 'a'),
         (2, '{${MAX.toUpperCase()}}', 'x', '${MAX.toUpperCase()}', ARRAY['${REAL}']::uuid[], ARRAY['${MAX}', NULL]::uuid[], 'b'),
         (3, 'x', '{${NIL.replace(/-/g, '')}}', 'someone', NULL, NULL, 'c'),
         (4, '${NIL}-', '${NIL}', NULL, ARRAY[['${MAX}', '${REAL}'], ['${REAL}', '${REAL}']]::uuid[], '{}', 'd'),
         (5, NULL, NULL, 'x', '{}', NULL, 'e');`,
    ],
  });

  it('finds every spelling and every array element, counting each row once per column', async () => {
    const { report, repairs } = await runAuditWithRepairs(auditOptions(db.url, { checks: ['placeholder-uuid'] }));
    expect(report.checks.find((c) => c.id === 'placeholder-uuid')?.status).toBe('failed');
    expect(report.findings.map((f) => [f.object.column, f.count, f.samples, f.details?.byValue])).toEqual([
      ['ext_id', 2, ['1', '2'], { [`{${NIL}}`]: 1, [`{${MAX}}`]: 1 }],
      ['legacy_id', 3, ['1', '3', '4'], { [NIL]: 1, [NIL.replace(/-/g, '')]: 1, [`{${NIL.replace(/-/g, '')}}`]: 1 }],
      ['member_ids', 1, ['2'], { [MAX]: 1 }],
      ['owner_id', 2, ['1', '2'], { [NIL]: 1, [MAX]: 1 }],
      // Row 1 holds the nil UUID twice and the max UUID once: one row; row 4's array is two-dimensional.
      ['tag_ids', 2, ['1', '4'], { [NIL]: 1, [MAX]: 2 }],
    ]);
    expect(report.findings.every((f) => f.severity === 'error')).toBe(true);

    // An array's repair removes the placeholder elements and keeps the real ones (review: no foreign key);
    // a two-dimensional array keeps its shape, with NULL where the placeholder was.
    const tags = repairs.find((r) => r.finding.object.column === 'tag_ids');
    expect(tags?.repair.steps.map((s) => s.safety)).toEqual(['review']);
    await query(db.url, 'CREATE SCHEMA IF NOT EXISTS integrity_quarantine');
    await query(db.url, `BEGIN; ${tags?.repair.steps[0]?.sql ?? 'SELECT 1/0'}; COMMIT;`).catch(async (err: unknown) => {
      await query(db.url, 'ROLLBACK');
      throw err;
    });
    expect(await query(db.url, 'SELECT id, tag_ids::text AS tags FROM item ORDER BY id')).toEqual([
      { id: 1, tags: `{${REAL}}` },
      { id: 2, tags: `{${REAL}}` },
      { id: 3, tags: null },
      { id: 4, tags: `{{NULL,${REAL}},{${REAL},${REAL}}}` },
      { id: 5, tags: '{}' },
    ]);
    expect(await query(db.url, `SELECT count(*)::int AS n FROM integrity_quarantine."${tags?.repair.steps[0]?.sql.match(/integrity_quarantine"\."([^"]+)"/)?.[1]}"`)).toEqual([{ n: 2 }]);
  });
});
