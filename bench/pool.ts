import pg from 'pg';

/** Runs queries on `jobs` connections, each taking the next from one queue: the parallelism the audit has. */
export async function runOnConnections(url: string, jobs: number, queries: string[]): Promise<Record<string, unknown>[][]> {
  const clients = await Promise.all(
    Array.from({ length: jobs }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  const results: Record<string, unknown>[][] = new Array(queries.length);
  let next = 0;
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (let i = next++; i < queries.length; i = next++) {
          results[i] = (await client.query(queries[i] as string)).rows;
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  return results;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}
