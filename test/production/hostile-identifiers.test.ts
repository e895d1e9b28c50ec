import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/db/quote.js';
import { audit, auditOptions, query, useDatabase } from '../helpers/db.js';
import { verifyRepairs } from '../../src/fix/execute.js';
import { renderFixScript } from '../../src/fix/script.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { HAS_PSQL, psqlFile } from '../helpers/psql.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NASTY = ['"', "'", ' ', '.', ';', '-', '$', '\\', 'é', 'Ω', '数', 'A', 'Z', 'a', 'z', '0', '_', '(', ')', ',', '%', '?'];
const RESERVED = ['select', 'table', 'user', 'order', 'from', 'group', 'Primary', 'NULL', 'check', 'references'];

/** Identifiers PostgreSQL accepts (1..63 bytes, no NUL) built to break naive quoting. */
const identifier = fc.oneof(
  fc.constantFrom(...RESERVED),
  fc.array(fc.constantFrom(...NASTY), { minLength: 1, maxLength: 12 }).map((cs) => cs.join('')),
).filter((s) => s.trim() === s && s.length > 0 && Buffer.byteLength(s) <= 40);

type Eight = [string, string, string, string, string, string, string, string];
const names = fc
  .uniqueArray(identifier, { minLength: 8, maxLength: 8, selector: (s) => s.toLowerCase() })
  .map((a) => a as Eight);

const q = quoteIdent;
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

describe('hostile identifiers (property-based)', () => {
  const db = useDatabase('hostile_names');

  it('every check runs without an SQL error and finds exactly what was planted', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(names, identifier, async ([schema, parent, child, models, pricing, users, profiles, col], key) => {
        const s = `${schema} ${run++}`;
        const t = (name: string) => `${q(s)}.${q(name)}`;
        const idCol = `${col}_id`;
        await query(
          db.url,
          `CREATE SCHEMA ${q(s)};
           CREATE TABLE ${t(parent)} (${q(col)} uuid PRIMARY KEY, meta jsonb NOT NULL DEFAULT '{}');
           CREATE INDEX ON ${t(parent)} (((meta->>${lit(key)})::int));
           CREATE TABLE ${t(child)} (id serial PRIMARY KEY, ${q(col)} uuid, ${q(idCol)} text);
           INSERT INTO ${t(parent)} (${q(col)}) VALUES ('10000000-0000-4000-8000-000000000001');
           INSERT INTO ${t(child)} VALUES
             (1, '10000000-0000-4000-8000-000000000001', 'a'),
             (2, '20000000-0000-4000-8000-000000000002', '00000000-0000-0000-0000-000000000000'),
             (3, '20000000-0000-4000-8000-000000000003', NULL),
             (4, '00000000-0000-0000-0000-000000000000', 'b'),
             (5, NULL, NULL);
           ALTER TABLE ${t(child)} ADD CONSTRAINT ${q(`${child} → ${parent}`)} FOREIGN KEY (${q(col)}) REFERENCES ${t(parent)} NOT VALID;
           -- The family (issue 13): the ids above were written explicitly, so the serial's sequence is behind
           -- them; a CHECK added NOT VALID that row 5 breaks; a trigger switched off and left off.
           ALTER TABLE ${t(child)} ADD CONSTRAINT ${q(`${child} ok`)} CHECK (id < 5) NOT VALID;
           CREATE FUNCTION ${t(`${key} fn`)}() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
           CREATE TRIGGER ${q(key)} AFTER INSERT ON ${t(child)} FOR EACH ROW EXECUTE FUNCTION ${t(`${key} fn`)}();
           ALTER TABLE ${t(child)} DISABLE TRIGGER ${q(key)};
           CREATE TABLE ${t(models)} (${q(col)} text PRIMARY KEY);
           CREATE TABLE ${t(pricing)} (${q(idCol)} text, is_active boolean);
           INSERT INTO ${t(models)} VALUES ('m1'), ('m2');
           INSERT INTO ${t(pricing)} VALUES ('m1', true), ('m2', false);
           CREATE TABLE ${t(users)} (${q(col)} int PRIMARY KEY);
           CREATE TABLE ${t(profiles)} (${q(idCol)} int);
           INSERT INTO ${t(users)} VALUES (1), (2), (3);
           INSERT INTO ${t(profiles)} VALUES (2);`,
        );
        // A unique index built CONCURRENTLY over keys that repeat (id % 2 over ids 1..5): it fails, and stays invalid.
        const failed = await query(db.url, `CREATE UNIQUE INDEX CONCURRENTLY ${q(`${key} idx`)} ON ${t(child)} ((id OPERATOR(pg_catalog.%) 2))`).then(
          () => null,
          (err: { code?: string }) => err.code,
        );
        expect(failed).toBe('23505');
        try {
          const args = {
            schemas: [s],
            config: {
              checks: {
                'models-without-pricing': { models: { schema: s, table: models, key: col }, pricing: { schema: s, table: pricing, column: idCol } },
                'users-without-profiles': { users: { schema: s, table: users, key: col }, profiles: { schema: s, table: profiles, column: idCol } },
                // One rule per generic-rule check, naming the hostile tables and columns, and quoting them in its expressions.
                'required-child': {
                  rules: [{ name: `${models} priced`, parent: { schema: s, table: models, key: [col], where: `${q(col)} IS NOT NULL` }, child: { schema: s, table: pricing, columns: [idCol], where: 'is_active' } }],
                },
                'accepted-values': { rules: [{ schema: s, table: child, column: idCol, values: ['a', 'b'], where: `${q(col)} IS NOT NULL` }] },
                unique: { rules: [{ schema: s, table: child, columns: [idCol], nullsDistinct: false, where: `${q(col)} IS DISTINCT FROM '00000000-0000-0000-0000-000000000000'` }] },
                'row-condition': { rules: [{ name: `${col} is set`, schema: s, table: child, condition: `${q(col)} IS NOT NULL` }] },
              },
            },
          };
          const report = await audit(db.url, args);
          expect(report.checks.filter((c) => c.status === 'error' || c.status === 'skipped' || c.objectErrors !== undefined)).toEqual([]);
          expect(report.checks).toHaveLength(16);
          const found = report.findings.map((f) => [f.checkId, f.object.table, f.object.column ?? f.object.index ?? null, f.count]);
          expect(found).toEqual(
            expect.arrayContaining([
              ['models-without-pricing', models, col, 1],
              ['orphan-rows', child, col, 3],
              ['placeholder-uuid', child, col, 1],
              ['placeholder-uuid', child, idCol, 1],
              ['users-without-profiles', users, col, 2],
              ['sequence-behind-data', child, 'id', 5],
              ['invalid-indexes', child, `${key} idx`, 5],
            ]),
          );
          const family = report.findings.filter((f) => ['unvalidated-checks', 'disabled-triggers'].includes(f.checkId));
          expect(family.map((f) => [f.checkId, f.object.table, f.object.constraint ?? f.object.trigger, f.count])).toEqual([
            ['disabled-triggers', child, key, null],
            ['unvalidated-checks', child, `${child} ok`, 1],
          ]);
          const casts = report.findings.filter((f) => f.checkId === 'jsonb-int-cast-index');
          expect(casts.map((f) => [f.object.table, f.details?.casts])).toEqual([
            [parent, [expect.objectContaining({ keys: [key], castType: 'integer', column: 'meta' })]],
          ]);
          // The rules: m2's only pricing row is inactive; the placeholder is not an accepted value of idCol (row 2);
          // rows 3 and 5 share a NULL idCol (NULLs equal); row 5 has no col.
          const generic = new Set(['accepted-values', 'required-child', 'row-condition', 'unique']);
          expect(report.findings.filter((f) => generic.has(f.checkId)).map((f) => [f.checkId, f.object.table, f.object.column ?? null, f.count, f.samples])).toEqual([
            ['accepted-values', child, idCol, 1, ['00000000-0000-0000-0000-000000000000']],
            ['required-child', models, col, 1, ['m2']],
            ['row-condition', child, null, 1, ['5']],
            ['unique', child, idCol, 2, ['NULL']],
          ]);
          // Exactly these, plus the warning that no trigger writes the profile table. undeclared-references may
          // guess a reference from a generated name (it reports guesses, at info or warning): not counted here.
          expect(report.findings.filter((f) => f.checkId !== 'undeclared-references')).toHaveLength(15);
          // Every repair applies cleanly (inside a rolled-back transaction) and clears what it repairs.
          const verified = await verifyRepairs(auditOptions(db.url, args));
          expect(verified.lines.filter((l) => l.status === 'failed' || l.status === 'not cleared')).toEqual([]);
          // orphans, the placeholder in the foreign key, the missing profiles (the text placeholder and the
          // index rebuild are review now: nothing says the application does not rely on them).
          expect(verified.lines.filter((l) => l.status === 'cleared').length).toBeGreaterThanOrEqual(3);
          // And the rendered script is what it claims, runs under psql, twice, and clears them for real.
          const outcome = await runAuditWithRepairs(auditOptions(db.url, args));
          const script = renderFixScript(outcome);
          await expectScriptRunsOnlyPlanned(script, outcome);
          const file = join(mkdtempSync(join(tmpdir(), 'integrity-hostile-')), 'fix.sql');
          writeFileSync(file, script);
          if (HAS_PSQL) {
            for (let i = 0; i < 2; i++) psqlFile(db.url, file);
            const after = await audit(db.url, args);
            const cleared = new Set(verified.lines.filter((l) => l.status === 'cleared').map((l) => l.fingerprint));
            expect(after.findings.filter((f) => cleared.has(f.fingerprint))).toEqual([]);
          }
        } finally {
          await query(db.url, `DROP SCHEMA ${q(s)} CASCADE`);
        }
      }),
      { numRuns: 12, seed: 20261123, endOnFailure: true },
    );
  }, 120_000);
});
