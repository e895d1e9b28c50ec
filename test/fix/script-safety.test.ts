import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { adminUrl, auditOptions, query, useDatabase } from '../helpers/db.js';
import { expectScriptRunsOnlyPlanned } from '../helpers/script-statements.js';
import { runAuditWithRepairs } from '../../src/engine/runner.js';
import { HAS_PSQL } from '../helpers/psql.js';

// The fix script is run by people with `psql -f`: nothing a table name or a data value holds may end a
// comment, end a literal, or start a psql meta-command. Each case plants such text and runs the script.

const pwned = path.join(os.tmpdir(), `integrity-pwned-${process.pid}`);

function psql(url: string, file: string, vars: string[] = []): { code: number; stderr: string } {
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...vars.flatMap((v) => ['-v', v]), '-f', file, url], { encoding: 'utf8' });
  return { code: r.status ?? -1, stderr: r.stderr };
}

const MODELS = `CREATE TABLE providers (id uuid PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO providers VALUES ('bc091a10-d1bc-4a2d-89bc-5f9585e23ae5', 'openai');
CREATE TABLE models (id text PRIMARY KEY, provider text NOT NULL, meta jsonb NOT NULL DEFAULT '{}');
CREATE TABLE model_provider_pricing (
  id bigserial PRIMARY KEY, provider_id uuid NOT NULL REFERENCES providers (id), model_name text NOT NULL REFERENCES models (id),
  input_price_per_1k numeric(12, 6) NOT NULL, output_price_per_1k numeric(12, 6) NOT NULL,
  effective_from timestamptz NOT NULL DEFAULT now(), effective_until timestamptz, is_active boolean NOT NULL DEFAULT true);
CREATE TABLE victim (id int);`;

describe.skipIf(!HAS_PSQL)('the fix script runs exactly the statements it shows', () => {
  const lineEnds = ['\r', '\n', '\r\n', '\f', '\v', '\u2028', '\u2029', '\u0085'];
  const db = useDatabase('script_safety', {
    sql: [
      MODELS,
      // A model whose price can be derived (a runnable INSERT carries its id) and one whose cannot (a
      // commented-out template carries it); the ids hold every line end, a psql meta-command and quotes.
      ...lineEnds.map(
        (eol, i) => `INSERT INTO models VALUES
           (${lit(`m${i}${eol}\\! touch ${pwned}${eol}`)}, 'openai', '{"inputCostPerMillionTokens": 1, "outputCostPerMillionTokens": 2}'),
           (${lit(`t${i}${eol}\\! touch ${pwned} ;' $$ \\' ; DROP TABLE victim; --`)}, 'nobody', '{}');`,
      ),
      // A table whose name holds a line end and a meta-command, with an orphan to repair.
      `CREATE TABLE parent (id int PRIMARY KEY);
       CREATE TABLE ${ident(`orders\r\\! touch ${pwned}\n`)} (id int PRIMARY KEY, parent_id int);
       INSERT INTO ${ident(`orders\r\\! touch ${pwned}\n`)} VALUES (1, 7);
       ALTER TABLE ${ident(`orders\r\\! touch ${pwned}\n`)} ADD CONSTRAINT ${ident(`fk\r\\! touch ${pwned}`)} FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;`,
    ],
  });

  it('no line end in a name or a value ends a comment or starts a meta-command; the script runs and repairs', async () => {
    rmSync(pwned, { force: true });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-safety-'));
    const file = path.join(dir, 'fix.sql');
    const run = await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--check', 'orphan-rows', '--output', file]);
    expect(run.code).toBe(0);
    const script = readFileSync(file, 'utf8');
    // Only our own line feeds: no CR, no other control character, no U+2028/2029/0085 anywhere in the text.
    // eslint-disable-next-line no-control-regex
    expect(script).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/);
    // Every line that starts with a backslash is one of ours.
    const metaLines = script.split('\n').filter((l) => l.startsWith('\\'));
    expect(new Set(metaLines.map((l) => l.split(' ')[0]))).toEqual(new Set(['\\set', '\\if', '\\elif', '\\else', '\\endif']));
    // What psql would run is exactly what the repairs plan (parsed by libpg_query).
    await expectScriptRunsOnlyPlanned(script, await runAuditWithRepairs(auditOptions(db.url, { checks: ['models-without-pricing', 'orphan-rows'] })));
    expect(psql(db.url, file)).toMatchObject({ code: 0 });
    expect(existsSync(pwned)).toBe(false);
    expect(await query(db.url, `SELECT to_regclass('public.victim') IS NOT NULL AS there`)).toEqual([{ there: true }]);
    // The runnable repairs ran: every derivable model is priced, the orphan is gone.
    const priced = await query<{ n: string }>(db.url, `SELECT count(DISTINCT model_name) AS n FROM model_provider_pricing`);
    expect(priced).toEqual([{ n: String(lineEnds.length) }]);
    const left = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM ${ident(`orders\r\\! touch ${pwned}\n`)}`);
    expect(left).toEqual([{ n: '0' }]);
  });

  it('is refused by another database unless told otherwise', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-safety-'));
    const file = path.join(dir, 'fix.sql');
    // The first case validated the key; a row that slips past it (replication role) needs --deep.
    await query(db.url, `SET session_replication_role = replica; INSERT INTO ${ident(`orders\r\\! touch ${pwned}\n`)} VALUES (2, 8)`);
    expect((await runCli(['fix', '-d', db.url, '--deep', '--check', 'orphan-rows', '--output', file])).code).toBe(0);
    const other = `${db.name}_other`;
    await query(adminUrl(), `DROP DATABASE IF EXISTS ${other}`);
    await query(adminUrl(), `CREATE DATABASE ${other} TEMPLATE ${db.name}`);
    try {
      const otherUrl = db.url.replace(new RegExp(`/${db.name}$`), `/${other}`);
      const refused = psql(otherUrl, file);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/written for another database/);
      expect(await query(otherUrl, `SELECT count(*) AS n FROM ${ident(`orders\r\\! touch ${pwned}\n`)}`)).toEqual([{ n: '1' }]);
      expect(psql(otherUrl, file, ['integrity_any_database=1'])).toMatchObject({ code: 0 });
      expect(await query(otherUrl, `SELECT count(*) AS n FROM ${ident(`orders\r\\! touch ${pwned}\n`)}`)).toEqual([{ n: '0' }]);
    } finally {
      await query(adminUrl(), `DROP DATABASE IF EXISTS ${other}`);
    }
  });
});

describe('literals under standard_conforming_strings = off', () => {
  const db = useDatabase('script_scs_off', {
    sql: [
      MODELS,
      `INSERT INTO models VALUES (${lit(`x\\'; DROP TABLE victim; --`)}, 'openai', '{"inputCostPerMillionTokens": 1, "outputCostPerMillionTokens": 2}');`,
    ],
  });

  it('mean the same to psql, --verify and --apply: the value is inserted, nothing else runs', async () => {
    await query(adminUrl(), `ALTER DATABASE ${db.name} SET standard_conforming_strings = off`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-scs-'));
    const file = path.join(dir, 'fix.sql');
    expect((await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--output', file])).code).toBe(0);
    const verify = await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--verify']);
    expect(verify.code).toBe(0);
    expect(await query(db.url, `SELECT count(*) AS n FROM model_provider_pricing`)).toEqual([{ n: '0' }]);
    if (HAS_PSQL) {
      expect(psql(db.url, file)).toMatchObject({ code: 0 });
      expect(await query(db.url, `SELECT model_name FROM model_provider_pricing`)).toEqual([{ model_name: `x\\'; DROP TABLE victim; --` }]);
      await query(db.url, 'DELETE FROM model_provider_pricing');
    }
    const apply = await runCli(['fix', '-d', db.url, '--check', 'models-without-pricing', '--apply', '--yes']);
    expect(apply.code).toBe(0);
    expect(await query(db.url, `SELECT model_name FROM model_provider_pricing`)).toEqual([{ model_name: `x\\'; DROP TABLE victim; --` }]);
    expect(await query(db.url, `SELECT to_regclass('public.victim') IS NOT NULL AS there`)).toEqual([{ there: true }]);
  });
});

/** Fixture SQL of our own, written as the tests' setup connection (standard_conforming_strings on) reads it. */
function lit(s: string): string {
  return `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\f/g, '\\f').replace(/\v/g, '\\x0b')}'`;
}

function ident(s: string): string {
  return `U&"${s.replace(/"/g, '""').replace(/\\/g, '\\\\').replace(/[\r\n]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}
