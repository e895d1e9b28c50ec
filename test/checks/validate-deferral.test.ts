import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { CREATE_QUARANTINE_SCHEMA } from '../../src/fix/quarantine.js';
import { sessionPins } from '../../src/fix/script.js';
import type { AuditReport } from '../../src/findings.js';
import { audit, auditOptions, query, summarize, useDatabase } from '../helpers/db.js';

// SET CONSTRAINTS schema.name sets every constraint of that name in the schema. The VALIDATE block must
// not change the deferral of a constraint elsewhere that shares the name of one of the validated table's
// deferred constraints, and must not fail the script when it therefore meets events queued on the table.

const UNVALIDATED = 'unvalidated-checks';

/** Runs the statements in one transaction, as the script does; returns the NOTICEs of the script and of the probes. */
async function inOneTransaction(url: string, statements: string[]): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try {
    await c.query('BEGIN');
    for (const sql of statements) await c.query(sql);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  } finally {
    await c.end();
  }
  return notices.filter((n) => n.startsWith('integrity:') || n.startsWith('probe:'));
}

/**
 * Whether a foreign key is deferred at this point of the transaction: a row without its parent is
 * inserted, and the insert undone either way.
 */
const probe = (label: string, insert: string) => `DO $probe$ BEGIN
  BEGIN
    ${insert};
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN foreign_key_violation THEN RAISE NOTICE 'probe: % immediate', '${label}';
  WHEN raise_exception THEN RAISE NOTICE 'probe: % deferred', '${label}';
  END;
END $probe$`;

const NOT_NOW = /^integrity: not validated now: deferred trigger events are still queued on its table, .*; run it again after COMMIT: cannot ALTER TABLE "(\w+)" because it has pending trigger events$/;

/** [severity, schema.table, constraint, count, samples] of a check's findings, sorted. */
function rows(report: AuditReport, checkId: string) {
  return report.findings
    .filter((f) => f.checkId === checkId)
    .map((f) => [f.severity, `${f.object.schema}.${f.object.table}`, f.object.constraint ?? null, f.count, f.samples] as const)
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

const validated = async (url: string, names: string[]) =>
  query<{ c: string; v: boolean }>(url, `SELECT conname AS c, convalidated AS v FROM pg_constraint WHERE conname = ANY ($1) AND contype IN ('c', 'f') ORDER BY 1`, [names]);

describe('unvalidated-checks VALIDATE, a deferred constraint sharing its name with one that is not deferrable', () => {
  const db = useDatabase('validate_deferral_not_deferrable', {
    sql: [
      `CREATE SCHEMA s;
       CREATE TABLE s.parents (id int PRIMARY KEY);
       INSERT INTO s.parents VALUES (1), (2);
       -- Each with a deferred foreign key whose name a CHECK of another table of the schema also has.
       CREATE TABLE s.clean (id int PRIMARY KEY, n int, parent_id int, CONSTRAINT shared_fk FOREIGN KEY (parent_id) REFERENCES s.parents DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO s.clean VALUES (1, 1, 1);
       CREATE TABLE s.bad (id int PRIMARY KEY, n int, parent_id int, CONSTRAINT bad_fk FOREIGN KEY (parent_id) REFERENCES s.parents DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO s.bad VALUES (1, -1, 1), (2, 5, 1);
       CREATE TABLE s.other (id int, n int, CONSTRAINT shared_fk CHECK (n > 0), CONSTRAINT bad_fk CHECK (n > 0));
       -- The look-alike: its deferred foreign key's name is its own.
       CREATE TABLE s.plain (id int PRIMARY KEY, n int, parent_id int, CONSTRAINT plain_fk FOREIGN KEY (parent_id) REFERENCES s.parents DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO s.plain VALUES (1, 1, 1);`,
      // Apart: the inserts' deferred checks are queued until their transaction ends, and ALTER TABLE waits for none.
      `ALTER TABLE s.clean ADD CONSTRAINT clean_positive CHECK (n > 0) NOT VALID;
       ALTER TABLE s.bad ADD CONSTRAINT bad_positive CHECK (n > 0) NOT VALID;
       ALTER TABLE s.plain ADD CONSTRAINT plain_positive CHECK (n > 0) NOT VALID;`,
    ],
  });
  const names = ['bad_positive', 'clean_positive', 'plain_positive'];

  it('leaves it out of SET CONSTRAINTS, and a VALIDATE meeting its queued events is a NOTICE, not a failed script', async () => {
    const report = await audit(db.url, { checks: [UNVALIDATED] });
    expect(rows(report, UNVALIDATED)).toEqual([
      ['error', 's.bad', 'bad_positive', 1, ['1']],
      ['info', 's.clean', 'clean_positive', null, []],
      ['info', 's.plain', 'plain_positive', null, []],
    ]);
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [UNVALIDATED] }));
    const steps = (table: string) => outcome.repairs.find((r) => r.finding.object.table === table)?.repair.steps ?? [];
    expect(steps('clean').map((st) => st.safety)).toEqual(['safe']);
    expect(steps('plain').map((st) => st.safety)).toEqual(['safe']);
    // The move is for review by default; accepted here, as a person would after reading it.
    expect(steps('bad').map((st) => st.safety)).toEqual(['review', 'review']);
    const script = ['bad', 'clean', 'plain'].flatMap((t) => steps(t).map((st) => st.sql));

    // Earlier steps queue each table's deferred checks on it (their parents exist: they pass at COMMIT).
    const earlier = ['UPDATE s.clean SET parent_id = 2', 'UPDATE s.bad SET parent_id = 2 WHERE n > 0', 'UPDATE s.plain SET parent_id = 2'];
    // What the fixture holds: SET CONSTRAINTS ... DEFERRED refuses a name a CHECK shares, and a bare VALIDATE meets the events.
    await expect(inOneTransaction(db.url, ['SET CONSTRAINTS s.shared_fk DEFERRED'])).rejects.toMatchObject({ code: '42809' });
    await expect(inOneTransaction(db.url, [...earlier, 'ALTER TABLE s.clean VALIDATE CONSTRAINT clean_positive'])).rejects.toMatchObject({ code: '55006' });

    const notices = await inOneTransaction(db.url, [
      ...sessionPins(),
      CREATE_QUARANTINE_SCHEMA,
      ...earlier,
      ...script,
      probe('shared_fk', 'INSERT INTO s.clean VALUES (9, 1, 999)'),
      probe('bad_fk', 'INSERT INTO s.bad VALUES (9, 1, 999)'),
      probe('plain_fk', 'INSERT INTO s.plain VALUES (9, 1, 999)'),
    ]);
    expect(notices.map((n) => NOT_NOW.exec(n)?.[1] ?? n)).toEqual(['bad', 'clean', 'probe: shared_fk deferred', 'probe: bad_fk deferred', 'probe: plain_fk deferred']);
    // plain's own name is still made IMMEDIATE for its VALIDATE (its events run), and DEFERRED after it.
    expect(await validated(db.url, names)).toEqual([
      { c: 'bad_positive', v: false },
      { c: 'clean_positive', v: false },
      { c: 'plain_positive', v: true },
    ]);
    expect(await query(db.url, 'SELECT id, n, parent_id FROM s.bad ORDER BY 1')).toEqual([{ id: 2, n: 5, parent_id: 2 }]);

    // After COMMIT, the same script: nothing queued, nothing left to move, and both are validated.
    expect(await inOneTransaction(db.url, [...sessionPins(), CREATE_QUARANTINE_SCHEMA, ...script])).toEqual([]);
    expect(await validated(db.url, names)).toEqual([
      { c: 'bad_positive', v: true },
      { c: 'clean_positive', v: true },
      { c: 'plain_positive', v: true },
    ]);
    expect(await query(db.url, 'SELECT id, n, parent_id FROM s.bad ORDER BY 1')).toEqual([{ id: 2, n: 5, parent_id: 2 }]);
    expect(rows(await audit(db.url, { checks: [UNVALIDATED] }), UNVALIDATED)).toEqual([]);
    expect((await runAuditWithRepairs(auditOptions(db.url, { checks: [UNVALIDATED] }))).repairs).toEqual([]);
  });
});

describe('unvalidated-checks VALIDATE, a deferred constraint sharing its name with one DEFERRABLE INITIALLY IMMEDIATE', () => {
  const db = useDatabase('validate_deferral_initially_immediate', {
    sql: [
      `CREATE SCHEMA s;
       CREATE TABLE s.parents (id int PRIMARY KEY);
       INSERT INTO s.parents VALUES (1), (2);
       CREATE TABLE s.kid (id int PRIMARY KEY, n int, parent_id int, CONSTRAINT shared_fk FOREIGN KEY (parent_id) REFERENCES s.parents DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO s.kid VALUES (1, 1, 1);
       CREATE TABLE s.imm (id int PRIMARY KEY, parent_id int, CONSTRAINT shared_fk FOREIGN KEY (parent_id) REFERENCES s.parents DEFERRABLE INITIALLY IMMEDIATE);`,
      'ALTER TABLE s.kid ADD CONSTRAINT kid_positive CHECK (n > 0) NOT VALID',
    ],
  });
  const probes = [probe('kid', 'INSERT INTO s.kid VALUES (9, 1, 999)'), probe('imm', 'INSERT INTO s.imm VALUES (9, 999)')];

  it('leaves both as they were after the block: the other immediate, the table\'s own deferred', async () => {
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: [UNVALIDATED] }));
    expect(outcome.repairs.map((r) => [r.finding.object.table, r.finding.object.constraint, r.repair.steps.map((st) => st.safety)])).toEqual([['kid', 'kid_positive', ['safe']]]);
    const script = outcome.repairs.flatMap((r) => r.repair.steps.map((st) => st.sql));
    // What the fixture holds: the name's two holders start in different states.
    expect(await inOneTransaction(db.url, probes)).toEqual(['probe: kid deferred', 'probe: imm immediate']);

    // kid's deferred checks queued by an earlier step: they cannot be run without making imm's key
    // immediate (it is) and then deferred (it is not): not validated now, and both keep their state.
    const queued = await inOneTransaction(db.url, [...sessionPins(), 'UPDATE s.kid SET parent_id = 2', ...script, ...probes]);
    expect(queued.map((n) => NOT_NOW.exec(n)?.[1] ?? n)).toEqual(['kid', 'probe: kid deferred', 'probe: imm immediate']);
    expect(await validated(db.url, ['kid_positive'])).toEqual([{ c: 'kid_positive', v: false }]);

    // Nothing queued (after COMMIT): validated, and both still as they were.
    expect(await inOneTransaction(db.url, [...sessionPins(), ...script, ...probes])).toEqual(['probe: kid deferred', 'probe: imm immediate']);
    expect(await validated(db.url, ['kid_positive'])).toEqual([{ c: 'kid_positive', v: true }]);
    expect(await query(db.url, 'SELECT id, n, parent_id FROM s.kid ORDER BY 1')).toEqual([{ id: 1, n: 1, parent_id: 2 }]);
    expect(await query(db.url, 'SELECT id FROM s.imm')).toEqual([]);
    expect(rows(await audit(db.url, { checks: [UNVALIDATED] }), UNVALIDATED)).toEqual([]);
    expect((await runAuditWithRepairs(auditOptions(db.url, { checks: [UNVALIDATED] }))).repairs).toEqual([]);
  });
});

describe('orphan-rows VALIDATE, a deferred key referencing the child whose name a CHECK of the schema shares', () => {
  const db = useDatabase('validate_deferral_orphans', {
    sql: [
      `CREATE SCHEMA s;
       CREATE TABLE s.parent (id int PRIMARY KEY);
       INSERT INTO s.parent VALUES (1), (2);
       CREATE TABLE s.child (id int PRIMARY KEY, parent_id int);
       INSERT INTO s.child VALUES (1, 1), (2, 99), (3, 2);
       ALTER TABLE s.child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES s.parent NOT VALID;
       -- The orphan's delete queues note_fk's checks on child (no note references the orphan: they pass).
       CREATE TABLE s.child_note (id int PRIMARY KEY, child_id int, CONSTRAINT note_fk FOREIGN KEY (child_id) REFERENCES s.child DEFERRABLE INITIALLY DEFERRED);
       INSERT INTO s.child_note VALUES (1, 1);
       CREATE TABLE s.other (id int, n int, CONSTRAINT note_fk CHECK (n > 0));`,
    ],
  });

  it('moves the orphans, and its safe VALIDATE meeting the queued events is a NOTICE; after COMMIT the script validates it', async () => {
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] }), 'orphan-rows')).toEqual([
      {
        checkId: 'orphan-rows',
        severity: 'error',
        object: { schema: 's', table: 'child', column: 'parent_id', constraint: 'child_parent_fk', references: { schema: 's', table: 'parent', columns: ['id'] } },
        count: 1,
        samples: ['99'],
      },
    ]);
    const outcome = await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }));
    const steps = outcome.repairs[0]?.repair.steps ?? [];
    expect(steps.map((st) => st.safety)).toEqual(['safe', 'safe', 'destructive', 'safe']);
    const script = [...sessionPins(), CREATE_QUARANTINE_SCHEMA, ...steps.map((st) => st.sql)];

    const notices = await inOneTransaction(db.url, [...script, probe('note_fk', 'INSERT INTO s.child_note VALUES (9, 999)')]);
    expect(notices.map((n) => NOT_NOW.exec(n)?.[1] ?? n)).toEqual(['child', 'probe: note_fk deferred']);
    const fk = async () => query(db.url, `SELECT convalidated AS v FROM pg_constraint WHERE conname = 'child_parent_fk'`);
    expect(await fk()).toEqual([{ v: false }]);
    expect(await query(db.url, 'SELECT id, parent_id FROM s.child ORDER BY 1')).toEqual([
      { id: 1, parent_id: 1 },
      { id: 3, parent_id: 2 },
    ]);

    expect(await inOneTransaction(db.url, script)).toEqual([]);
    expect(await fk()).toEqual([{ v: true }]);
    expect(await query(db.url, 'SELECT id, parent_id FROM s.child ORDER BY 1')).toEqual([
      { id: 1, parent_id: 1 },
      { id: 3, parent_id: 2 },
    ]);
    expect(summarize(await audit(db.url, { checks: ['orphan-rows'] }), 'orphan-rows')).toEqual([]);
    expect((await runAuditWithRepairs(auditOptions(db.url, { checks: ['orphan-rows'] }))).repairs).toEqual([]);
  });
});
