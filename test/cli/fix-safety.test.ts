import { describe, expect, it } from 'vitest';
import { query, useDatabase } from '../helpers/db.js';
import { cli, repository } from '../preflight/helpers.js';

// A safe repair (setval of a sequence behind its data) next to a destructive one (orphans deleted).
const SETUP = [
  'CREATE TABLE customers (id int PRIMARY KEY)',
  'INSERT INTO customers VALUES (1)',
  'CREATE TABLE orders (id serial PRIMARY KEY, customer_id int)',
  'INSERT INTO orders (id, customer_id) VALUES (1, 1), (2, 99), (50, 1)',
  'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID',
];

describe('fix --safety safe: only the repairs that remove or change no row', () => {
  const db = useDatabase('cli_fix_safety', { sql: SETUP });
  const args = () => ['-d', db.url, '--check', 'orphan-rows', '--check', 'sequence-behind-data'];

  it('the script holds the safe repairs and names the ones it leaves out; without --safety it holds both', async () => {
    const root = repository({});
    const safe = await cli(['fix', ...args(), '--safety', 'safe'], root);
    expect(safe.code, safe.stderr).toBe(0);
    expect(safe.stdout).toMatch(/-- fixes 1 finding: 1 safe, 0 need review, 0 destructive\n-- --safety safe left out 1 repair that remove or change rows \(integrity fix without --safety writes them\):\n-- {3}orphan-rows · public\.orders/);
    expect(safe.stdout).toContain('setval');
    expect(safe.stdout).not.toContain('DELETE FROM');
    const all = await cli(['fix', ...args()], root);
    expect(all.stdout).toMatch(/-- fixes 2 findings: 1 safe, 0 need review, 1 destructive\n/);
    expect(all.stdout).toContain('DELETE FROM');
    expect(all.stdout).not.toContain('--safety safe left out');
    const bad = await cli(['fix', ...args(), '--safety', 'careful'], root);
    expect(bad.code).toBe(2);
  });

  it('--verify and --apply run only the safe ones: the orphan stays, the sequence catches up', async () => {
    const root = repository({});
    const verified = await cli(['fix', ...args(), '--safety', 'safe', '--verify', '--format', 'json'], root);
    expect(verified.code, verified.stderr).toBe(0);
    expect((JSON.parse(verified.stdout) as { lines: { checkId: string; status: string }[] }).lines.map((l) => [l.checkId, l.status])).toEqual([['sequence-behind-data', 'cleared']]);
    const applied = await cli(['fix', ...args(), '--safety', 'safe', '--apply', '--yes'], root);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('--safety safe left out 1 repair(s) that remove or change rows');
    expect(await query(db.url, 'SELECT id FROM orders ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }, { id: 50 }]);
    expect(await query(db.url, "SELECT last_value::int AS v FROM orders_id_seq")).toEqual([{ v: 50 }]);
  });
});
