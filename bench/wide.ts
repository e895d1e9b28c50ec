import pg from 'pg';
import { listUserSchemas, loadCatalog } from '../src/db/catalog.js';
import type { Queryable } from '../src/db/session.js';
import { median, timed } from './pool.js';

/** `schemas` schemas of `tables` empty tables, each with a key, an index, a uuid column and a foreign key. */
export async function generateWide(db: pg.Client, schemas: number, tables: number): Promise<void> {
  for (let s = 1; s <= schemas; s++) {
    const schema = `wide_${String(s).padStart(3, '0')}`;
    const statements = [`DROP SCHEMA IF EXISTS ${schema} CASCADE`, `CREATE SCHEMA ${schema}`];
    for (let t = 1; t <= tables; t++) {
      const name = `${schema}.t_${String(t).padStart(3, '0')}`;
      const parent = t > 1 ? `${schema}.t_${String(t - 1).padStart(3, '0')}` : null;
      statements.push(
        `CREATE TABLE ${name} (id bigint PRIMARY KEY, ${parent ? `parent_id bigint REFERENCES ${parent} (id),` : ''} owner_id uuid, label text NOT NULL)`,
        `CREATE INDEX ON ${name} (label)`,
      );
    }
    await db.query(statements.join(';\n'));
  }
}

/** Counts the queries a Queryable is asked to run. */
function counting(client: pg.Client): { db: Queryable; count: () => number } {
  let n = 0;
  return {
    db: {
      query: async <R>(sql: string, params?: unknown[]) => {
        n++;
        return (await client.query(sql, params)) as unknown as { rows: R[] };
      },
    },
    count: () => n,
  };
}

export interface CatalogFigures {
  tables: number;
  medianMs: number;
  queries: number;
}

/** Loads the catalog of the given schemas `runs` times; the median time and the number of queries one load took. */
export async function measureCatalog(url: string, onlySchemas: (schemas: string[]) => string[], runs: number): Promise<CatalogFigures> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const times: number[] = [];
    let queries = 0;
    let tables = 0;
    for (let i = 0; i < runs; i++) {
      const { db, count } = counting(client);
      const { ms, value } = await timed(async () => {
        const available = await listUserSchemas(db);
        return loadCatalog(db, onlySchemas(available), available);
      });
      times.push(ms);
      queries = count();
      tables = value.tables.length;
    }
    return { tables, medianMs: median(times), queries };
  } finally {
    await client.end();
  }
}
