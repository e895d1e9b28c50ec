import { describe, expect, it } from 'vitest';
import { rewriteJsonIntCasts } from '../../checks/support/rewrite-cast.js';
import { comment, renderFixScript } from '../../src/fix/script.js';
import { quoteIdent, quoteLiteral } from '../../src/db/quote.js';
import { repairSafety, type Repair } from '../../src/fix/types.js';
import type { AuditReport, Finding } from '../../src/findings.js';

describe('rewriteJsonIntCasts', () => {
  it.each([
    [
      `CREATE INDEX i ON public.models USING btree ((((meta ->> 'creditsPer1kTokens'::text))::integer))`,
      `CREATE INDEX i ON public.models USING btree ((((meta ->> 'creditsPer1kTokens'::text))::numeric))`,
    ],
    [
      `CREATE UNIQUE INDEX "Ünïcode idx" ON "Billing Dept"."Invoice Line" USING btree (((("méta" ->> 'Crédit''s "x"'::text))::bigint), id) INCLUDE (a) WITH (fillfactor='70') WHERE (((("méta" #>> '{a,b}'::text[]))::smallint > 0) AND ((code)::integer > 1))`,
      `CREATE UNIQUE INDEX "Ünïcode idx" ON "Billing Dept"."Invoice Line" USING btree (((("méta" ->> 'Crédit''s "x"'::text))::numeric), id) INCLUDE (a) WITH (fillfactor='70') WHERE (((("méta" #>> '{a,b}'::text[]))::numeric > 0) AND ((code)::integer > 1))`,
    ],
    [
      `CREATE INDEX j ON t USING btree (((jsonb_extract_path_text(meta, VARIADIC ARRAY['a'::text, 'b'::text]))::integer))`,
      `CREATE INDEX j ON t USING btree (((jsonb_extract_path_text(meta, VARIADIC ARRAY['a'::text, 'b'::text]))::numeric))`,
    ],
    [`CREATE INDEX k ON t USING btree ((((meta ->> 'x'::text))::numeric))`, `CREATE INDEX k ON t USING btree ((((meta ->> 'x'::text))::numeric))`],
    [`CREATE INDEX k ON t USING btree (((((meta ->> 'x'::text))::character varying(5))::integer))`, `CREATE INDEX k ON t USING btree (((((meta ->> 'x'::text))::character varying(5))::numeric))`],
  ])('rewrites exactly the integer casts of JSON text: %s', async (input, expected) => {
    expect((await rewriteJsonIntCasts(input)).sql).toBe(expected);
  });

  it('leaves integer casts of other expressions alone and counts what it changed', async () => {
    expect(await rewriteJsonIntCasts(`SELECT (code)::integer, (meta ->> 'a')::int4`)).toEqual({ sql: `SELECT (code)::integer, (meta ->> 'a')::numeric`, rewritten: 1 });
  });
});

const finding = (checkId: string, fingerprint: string): Finding => ({
  checkId,
  severity: 'error',
  message: 'm',
  object: { schema: 'public', table: 't', column: 'c' },
  count: 2,
  samples: [],
  fingerprint,
  fix: null,
});

const report = {
  version: '0.0.0',
  tool: 'integrity',
  database: { host: 'h', port: 5432, name: 'd', user: 'u', serverVersion: '15' },
  startedAt: '2026-01-01T00:00:00.000Z',
} as AuditReport;

describe('renderFixScript', () => {
  const repairs: { finding: Finding; repair: Repair }[] = [
    {
      finding: finding('users-without-profiles', 'aaaaaaaaaaaaaaaa'),
      repair: {
        order: 10,
        summary: 'restore parents',
        steps: [
          { safety: 'safe', phase: 'transaction', description: 'insert', sql: 'INSERT INTO p SELECT 1;' },
          { safety: 'review', phase: 'transaction', description: 'trigger', decision: 'decide this', sql: 'CREATE TRIGGER x\n  AFTER INSERT ON u;' },
        ],
      },
    },
    {
      finding: finding('jsonb-int-cast-index', 'bbbbbbbbbbbbbbbb'),
      repair: {
        order: 50,
        summary: 'rebuild',
        steps: [{ safety: 'safe', phase: 'concurrent', description: 'rebuild', guard: 'SELECT true', sql: 'CREATE INDEX CONCURRENTLY i ON t (a);' }],
      },
    },
  ];
  const script = renderFixScript({ report, repairs });

  it('puts safe statements inside BEGIN/COMMIT and concurrent ones after, guarded', () => {
    const begin = script.indexOf('\nBEGIN;');
    const commit = script.indexOf('\nCOMMIT;');
    expect(begin).toBeGreaterThan(0);
    expect(script.indexOf('\nINSERT INTO p SELECT 1;')).toBeGreaterThan(begin);
    expect(script.indexOf('\nINSERT INTO p SELECT 1;')).toBeLessThan(commit);
    expect(script.indexOf('CREATE INDEX CONCURRENTLY')).toBeGreaterThan(commit);
    expect(script).toContain('SELECT (SELECT true) AS integrity_todo_1 \\gset\n\\if :integrity_todo_1\nCREATE INDEX CONCURRENTLY i ON t (a);\n\\endif');
  });

  it('writes review statements commented out, with the decision', () => {
    expect(script).toContain('-- REVIEW: trigger\n-- Decide: decide this\n-- Uncomment to run:\n-- CREATE TRIGGER x\n--   AFTER INSERT ON u;');
    expect(script.split('\n').filter((l) => !l.startsWith('--') && l.includes('CREATE TRIGGER'))).toEqual([]);
  });

  it('has a header naming the database, the tool and what it fixes, and stops on the first error', () => {
    expect(script).toMatch(/^-- integrity fix script, written by integrity 0\.0\.0/);
    expect(script).toContain('-- database: u@h:5432/d (PostgreSQL 15)');
    expect(script).toContain('-- fixes 2 findings: 1 safe, 1 need review, 0 destructive');
    expect(script).toContain('\\set ON_ERROR_STOP on');
  });

  it('rates a repair by its most dangerous step', () => {
    expect(repairs.map((r) => repairSafety(r.repair))).toEqual(['review', 'safe']);
  });
});

describe('bidirectional controls in names and values (Trojan Source)', () => {
  // U+202E RIGHT-TO-LEFT OVERRIDE and U+2066 LEFT-TO-RIGHT ISOLATE make a viewer show text in another order.
  const name = 'inv\u202eoice\u2066';

  it('are escaped in identifiers and literals, so the SQL text never carries them raw', () => {
    expect(quoteIdent(name)).toBe('U&"inv\\202eoice\\2066"');
    expect(quoteLiteral(name)).toBe("E'inv\\u202eoice\\u2066'");
  });

  it('are made visible in a script comment', () => {
    expect(comment(`table ${name}`)).toBe('-- table inv\\u202eoice\\u2066');
  });
});
