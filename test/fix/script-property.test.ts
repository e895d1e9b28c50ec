import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quoteIdent, quoteLiteral } from '../../src/db/quote.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { renderFixScript } from '../../src/fix/script.js';
import { auditOptions, query, useDatabase } from '../helpers/db.js';
import { HAS_PSQL } from '../helpers/psql.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';

const pwned = path.join(os.tmpdir(), `integrity-prop-pwned-${process.pid}`);

/** Pieces of text that break naive scripts: quotes, backslashes, every line end, psql meta-commands, dollar quotes, comment marks. */
const PIECES = [
  '"', "'", '\\', '\r', '\n', '\r\n', '\f', '\v', '\t', '\u2028', '\u2029', '\u0085', '\u001b[2J', ' ', ';',
  `\\! touch ${pwned}`, '\\gset', '\\q', '\\i /etc/passwd', '$$', '$x$', '--', '/*', '*/', ':v', ":'v'", 'é', '数', 'a', 'Z', '0', '_',
];

const hostile = fc
  .array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 6 })
  .map((ps) => ps.join(''))
  .filter((s) => Buffer.byteLength(s) <= 50 && s.trim() === s && s.length > 0);

describe('quoting refuses what PostgreSQL cannot hold', () => {
  it('a NUL byte in a name or a literal is an error, never a truncated string', () => {
    expect(() => quoteIdent('a\u0000b')).toThrow(/NUL/);
    expect(() => quoteLiteral('a\u0000b')).toThrow(/NUL/);
  });
});

describe('fix scripts under hostile names and data (property-based)', () => {
  const db = useDatabase('script_property');

  it('psql would run exactly the planned statements, and running them runs nothing else', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(hostile, { minLength: 4, maxLength: 4, selector: (s) => s.toLowerCase() }).map((a) => a as [string, string, string, string]), fc.array(hostile, { minLength: 2, maxLength: 3 }), async ([schemaName, parent, child, fk], values) => {
        const s = `${schemaName}${run++}`;
        const t = (name: string) => `${quoteIdent(s)}.${quoteIdent(name)}`;
        const models = values.map((v, i) => `(${quoteLiteral(`${v}${i}`)}, 'openai', '{"inputCostPerMillionTokens": 1, "outputCostPerMillionTokens": 2}')`);
        await query(
          db.url,
          `CREATE SCHEMA ${quoteIdent(s)};
           CREATE TABLE ${t(parent)} (id text PRIMARY KEY);
           CREATE TABLE ${t(child)} (id int PRIMARY KEY, ref text);
           INSERT INTO ${t(child)} VALUES ${values.map((v, i) => `(${i}, ${quoteLiteral(v)})`).join(', ')};
           ALTER TABLE ${t(child)} ADD CONSTRAINT ${quoteIdent(fk)} FOREIGN KEY (ref) REFERENCES ${t(parent)} NOT VALID;
           CREATE TABLE ${t('providers')} (id uuid PRIMARY KEY, name text NOT NULL UNIQUE);
           INSERT INTO ${t('providers')} VALUES ('bc091a10-d1bc-4a2d-89bc-5f9585e23ae5', 'openai');
           CREATE TABLE ${t('models')} (id text PRIMARY KEY, provider text NOT NULL, meta jsonb NOT NULL DEFAULT '{}');
           INSERT INTO ${t('models')} VALUES ${models.join(', ')};
           CREATE TABLE ${t('model_provider_pricing')} (id bigserial PRIMARY KEY, provider_id uuid NOT NULL, model_name text NOT NULL,
             input_price_per_1k numeric NOT NULL, output_price_per_1k numeric NOT NULL, is_active boolean NOT NULL DEFAULT true);`,
        );
        try {
          const args = {
            schemas: [s],
            checks: ['orphan-rows', 'models-without-pricing'],
            config: { checks: { 'models-without-pricing': { models: { schema: s, table: 'models' }, pricing: { schema: s, table: 'model_provider_pricing' } } } },
          };
          const outcome = await runAuditWithRepairs(auditOptions(db.url, args));
          expect(outcome.report.checks.filter((c) => c.status === 'error')).toEqual([]);
          expect(outcome.repairs.length).toBeGreaterThanOrEqual(2);
          const script = renderFixScript(outcome);
          await expectScriptRunsOnlyPlanned(script, outcome);
          if (HAS_PSQL) {
            rmSync(pwned, { force: true });
            const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'integrity-prop-')), 'fix.sql');
            writeFileSync(file, script);
            const psql = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, db.url], { encoding: 'utf8' });
            expect(psql.status, psql.stderr).toBe(0);
            expect(existsSync(pwned)).toBe(false);
            expect(await query(db.url, `SELECT count(*) AS n FROM ${t(child)}`)).toEqual([{ n: '0' }]);
            expect(await query(db.url, `SELECT count(*) AS n FROM ${t('model_provider_pricing')}`)).toEqual([{ n: String(values.length) }]);
          }
        } finally {
          await query(db.url, `DROP SCHEMA ${quoteIdent(s)} CASCADE`);
        }
      }),
      { numRuns: 15, seed: 20261201, endOnFailure: true },
    );
  }, 180_000);
});
