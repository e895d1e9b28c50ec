import { confirm } from './confirm.js';
import type pg from 'pg';
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { listUserSchemas, loadCatalog, type Catalog } from '../db/catalog.js';
import { resolveConnection, type ConnectionTarget } from '../db/connection.js';
import { connect } from '../db/session.js';
import { describeError } from '../engine/runner.js';
import { EXIT, UsageError } from '../errors.js';
import { visible } from '../escape.js';
import { pinSession } from '../fix/execute.js';
import { QUARANTINE_SCHEMA, literal } from '../fix/quarantine.js';
import { quoteIdent } from '../db/quote.js';
import { inventory, sourceLabel, type HeldFinding } from '../quarantine/inventory.js';
import { RestoreRefused, assertRestorable, changeableColumns, dependencyOrder, restoreRows, type RestoredTable } from '../quarantine/restore.js';
import { loadProject } from '../registry.js';
import { errorLine, type CliIO } from './io.js';
import { integer, positiveNumber } from './audit-options.js';

interface ConnectionOptions {
  databaseUrl?: string;
  connectTimeout?: number;
  lockTimeout: number;
  statementTimeout: number;
}

interface ListOptions extends ConnectionOptions {
  format: 'pretty' | 'json';
}

interface RestoreOptions extends ConnectionOptions {
  finding: string;
  dryRun: boolean;
  format: 'pretty' | 'json';
}

interface PurgeOptions extends ConnectionOptions {
  olderThan: string;
  finding?: string;
  yes: boolean;
}

function connectionOptions(cmd: Command): Command {
  return cmd
    .option('-d, --database-url <url>', 'postgres:// URL or libpq "key=value" string (else DATABASE_URL, else PGSERVICE and the PG* variables)')
    .option('--connect-timeout <seconds>', 'give up connecting after this long (default: 10)', positiveNumber('--connect-timeout'))
    .option('--statement-timeout <ms>', 'cancel any statement running longer than this', integer('--statement-timeout', 1, 86_400_000), 60_000)
    .option('--lock-timeout <ms>', 'give up waiting for a lock after this long', integer('--lock-timeout', 1, 86_400_000), 5_000);
}

/** Registers `integrity quarantine list | restore | purge`. */
export function addQuarantineCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  const quarantine = program.command('quarantine').description(`Manage the rows repairs copied to ${QUARANTINE_SCHEMA}: list them, put them back, or delete old ones.`);
  connectionOptions(quarantine.command('list').description('What the quarantine holds: per table and finding, the rows and when they were copied (read-only).'))
    .addOption(new Option('--format <format>', 'output format').choices(['pretty', 'json']).default('pretty'))
    .action(async (opts: ListOptions) => done(await listCommand(opts, io)));
  connectionOptions(quarantine.command('restore').description('Put the rows of one finding back where they came from, parents first; refuses, changing nothing, when a row would now conflict.'))
    .requiredOption('--finding <fingerprint>', 'the finding whose rows to restore (integrity quarantine list shows them)')
    .option('--dry-run', 'restore inside a transaction, say what would happen, and roll back', false)
    .addOption(new Option('--format <format>', 'output format').choices(['pretty', 'json']).default('pretty'))
    .action(async (opts: RestoreOptions) => done(await restoreCommand(opts, io)));
  connectionOptions(quarantine.command('purge').description('Delete quarantined rows copied more than a while ago (asks on a terminal; elsewhere needs --yes).'))
    .requiredOption('--older-than <age>', 'rows copied longer ago than this: 30d, 12h, 2w')
    .option('--finding <fingerprint>', 'only this finding\'s rows')
    .option('-y, --yes', 'do not ask', false)
    .action(async (opts: PurgeOptions) => done(await purgeCommand(opts, io)));
}

function target(opts: ConnectionOptions, io: CliIO): ConnectionTarget {
  const t = resolveConnection({ databaseUrl: opts.databaseUrl, env: io.env, connectTimeoutSec: opts.connectTimeout, applicationName: 'integrity' });
  for (const warning of t.warnings ?? []) io.stderr.write(`integrity: warning: ${warning}\n`);
  return t;
}

/** One transaction with the repair script's pinned settings; read-only unless `write`. Rolled back unless `work` says commit. */
async function inTransaction<T>(t: ConnectionTarget, opts: ConnectionOptions, write: boolean, work: (client: pg.Client, catalog: Catalog) => Promise<{ value: T; commit: boolean }>): Promise<T> {
  const client = await connect(t);
  try {
    await client.query(write ? 'BEGIN' : 'BEGIN READ ONLY');
    await pinSession(client, true);
    await client.query(`SELECT pg_catalog.set_config('statement_timeout', $1, true), pg_catalog.set_config('lock_timeout', $2, true)`, [`${opts.statementTimeout}ms`, `${opts.lockTimeout}ms`]);
    const available = await listUserSchemas(client);
    const catalog = await loadCatalog(client, available.filter((s) => s !== QUARANTINE_SCHEMA), available);
    const { value, commit } = await work(client, catalog);
    await client.query(commit ? 'COMMIT' : 'ROLLBACK');
    return value;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function fail(err: unknown, io: CliIO, t: ConnectionTarget | undefined): number {
  const errLine = errorLine(io);
  if (err instanceof UsageError) {
    errLine(err.message);
    return EXIT.auditFailed;
  }
  if (err instanceof RestoreRefused) {
    errLine(`restore refused, nothing was changed: ${err.message}`);
    return EXIT.findings;
  }
  errLine(`quarantine: ${describeError(err, { password: t?.password })}`);
  return EXIT.auditFailed;
}

export async function listCommand(opts: ListOptions, io: CliIO): Promise<number> {
  let t: ConnectionTarget | undefined;
  try {
    t = target(opts, io);
    const held = await inTransaction(t, opts, false, async (client, catalog) => ({ value: await inventory(client, catalog), commit: false }));
    if (opts.format === 'json') {
      io.stdout.write(`${JSON.stringify(held.map(jsonOf), null, 2)}\n`);
      return EXIT.ok;
    }
    if (held.length === 0) {
      io.stdout.write(`The quarantine (${QUARANTINE_SCHEMA}) holds no rows.\n`);
      return EXIT.ok;
    }
    const table = new Table({ head: ['table', 'check', 'finding', 'rows', 'first copied', 'last copied', 'quarantine table'], style: { head: [], border: [] }, wordWrap: true });
    for (const h of held) table.push([sourceLabel(h), h.checkId, h.fingerprint, String(h.rows), h.first, h.last, h.table.relname].map((v) => visible(v)));
    io.stdout.write(`${table.toString()}\n`);
    const rows = held.reduce((n, h) => n + h.rows, 0);
    const findings = new Set(held.map((h) => h.fingerprint)).size;
    io.stdout.write(`${rows} row${rows === 1 ? '' : 's'} of ${findings} finding${findings === 1 ? '' : 's'} in ${new Set(held.map((h) => h.table.relname)).size} table(s). Put one finding's rows back with: integrity quarantine restore --finding FINGERPRINT\n`);
    return EXIT.ok;
  } catch (err) {
    return fail(err, io, t);
  }
}

function jsonOf(h: HeldFinding) {
  return {
    source: h.source ? { schema: h.source.schema, table: h.source.name } : null,
    checkId: h.checkId,
    fingerprint: h.fingerprint,
    rows: h.rows,
    firstCopiedAt: h.first || null,
    lastCopiedAt: h.last || null,
    quarantineTable: { schema: QUARANTINE_SCHEMA, table: h.table.relname },
    ours: !h.table.foreign,
  };
}

export async function restoreCommand(opts: RestoreOptions, io: CliIO): Promise<number> {
  let t: ConnectionTarget | undefined;
  try {
    t = target(opts, io);
    const relations = await configRelations(io);
    const restored = await inTransaction(t, opts, true, async (client, catalog) => {
      const found = (await inventory(client, catalog)).filter((h) => h.fingerprint === opts.finding);
      assertRestorable(found, opts.finding);
      // Held until COMMIT: a repair writing to the same quarantine table, another restore or a purge waits,
      // so the rows read are exactly the rows deleted after. Then read again, under the lock.
      for (const name of new Set(found.map((h) => h.table.name))) await client.query(`LOCK TABLE ONLY ${name} IN SHARE ROW EXCLUSIVE MODE`);
      const held = (await inventory(client, catalog)).filter((h) => h.fingerprint === opts.finding);
      assertRestorable(held, opts.finding);
      // A deferred foreign key would only object at COMMIT, after the savepoints: have it object at once.
      await client.query('SET CONSTRAINTS ALL IMMEDIATE');
      const out: RestoredTable[] = [];
      for (const h of dependencyOrder(held, catalog)) {
        await client.query('SAVEPOINT integrity_restore');
        try {
          out.push(await restoreRows(client, h, changeableColumns(h.checkId, h.source as NonNullable<typeof h.source>, catalog, relations)));
          await client.query('RELEASE SAVEPOINT integrity_restore');
        } catch (err) {
          await client.query('ROLLBACK TO SAVEPOINT integrity_restore');
          if (err instanceof RestoreRefused) throw err;
          // PostgreSQL's own constraint refused a row: its message names the constraint (and the key).
          const code = typeof err === 'object' && err !== null && 'code' in err ? ` [${String((err as { code: unknown }).code)}]` : '';
          throw new RestoreRefused(`a row of ${sourceLabel(h)} would conflict: ${err instanceof Error ? err.message : String(err)}${code}`);
        }
      }
      return { value: out, commit: !opts.dryRun };
    });
    if (opts.format === 'json') {
      io.stdout.write(`${JSON.stringify({ finding: opts.finding, dryRun: opts.dryRun, restored }, null, 2)}\n`);
      return EXIT.ok;
    }
    for (const r of restored) {
      io.stdout.write(`${visible(r.table)}: ${r.inserted} row${r.inserted === 1 ? '' : 's'} inserted again, ${r.updated} row${r.updated === 1 ? '' : 's'} given back the values the repair set to NULL\n`);
    }
    io.stdout.write(opts.dryRun ? 'Dry run: rolled back, nothing was changed.\n' : `Restored, and removed from ${QUARANTINE_SCHEMA}.\n`);
    return EXIT.ok;
  } catch (err) {
    return fail(err, io, t);
  }
}

/** The config's declared relations (a repair of orphan-rows may have set their columns to NULL); none without a config. */
async function configRelations(io: CliIO): Promise<{ schema?: string; table: string; columns: string[] }[]> {
  try {
    return (await loadProject(undefined, io.cwd)).config.relations;
  } catch {
    return [];
  }
}

/** `30d`, `12h`, `2w`, `90m` as a PostgreSQL interval literal. */
export function parseAge(text: string): string {
  const m = /^(\d+)(m|h|d|w)$/.exec(text.trim());
  if (!m) throw new UsageError(`--older-than ${text}: expected a number and a unit, e.g. 30d, 12h, 2w or 90m`);
  const unit = { m: 'minutes', h: 'hours', d: 'days', w: 'weeks' }[m[2] as 'm'];
  return `${Number(m[1])} ${unit}`;
}


export async function purgeCommand(opts: PurgeOptions, io: CliIO): Promise<number> {
  let t: ConnectionTarget | undefined;
  try {
    const age = parseAge(opts.olderThan);
    if (!opts.yes && !process.stdin.isTTY) throw new UsageError('refusing to delete quarantined rows without a terminal to confirm on: pass --yes (integrity quarantine list shows what would go)');
    t = target(opts, io);
    const conn = t;
    // Counted first, in its own read-only transaction, so the question names what will go.
    // The cutoff is fixed when the rows are counted: what is deleted after the question is what it named.
    const counted = await inTransaction(conn, opts, false, async (client, catalog) => {
      const cutoff = (await client.query<{ c: string }>(`SELECT (pg_catalog.now() OPERATOR(pg_catalog.-) ${literal(age)}::pg_catalog.interval)::pg_catalog.text AS c`)).rows[0]?.c ?? '';
      return { value: { cutoff, tables: await purgeable(client, await inventory(client, catalog), cutoff, opts.finding) }, commit: false };
    });
    const total = counted.tables.reduce((n, c) => n + c.rows, 0);
    if (total === 0) {
      io.stdout.write(`Nothing to purge: no quarantined row was copied more than ${opts.olderThan} ago.\n`);
      return EXIT.ok;
    }
    if (!opts.yes && !(await confirm(`Delete ${total} quarantined row(s) from ${new Set(counted.tables.map((c) => c.h.table.relname)).size} table(s) of ${QUARANTINE_SCHEMA}, for good? [y/N] `))) {
      io.stdout.write('Nothing was deleted.\n');
      return EXIT.ok;
    }
    const deleted = await inTransaction(conn, opts, true, async (client, catalog) => {
      const held = await inventory(client, catalog);
      let n = 0;
      const named = new Set(counted.tables.map((c) => c.h.table.relname));
      for (const table of new Map(held.filter((h) => !h.table.foreign && named.has(h.table.relname)).map((h) => [h.table.relname, h.table])).values()) {
        // Locked first: a repair writing to it meanwhile waits, so the table is never dropped with its new rows.
        await client.query(`LOCK TABLE ONLY ${table.name} IN ACCESS EXCLUSIVE MODE`);
        const res = await client.query(
          `DELETE FROM ONLY ${table.name} AS q WHERE q.${quoteIdent(table.meta.at)} OPERATOR(pg_catalog.<) ${literal(counted.cutoff)}::pg_catalog.timestamptz${opts.finding ? ` AND q.${quoteIdent(table.meta.finding)} OPERATOR(pg_catalog.=) ${literal(opts.finding)}` : ''}`,
        );
        n += res.rowCount ?? 0;
        // A quarantine table left empty goes too; the next repair that needs it creates it again.
        const left = await client.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ONLY ${table.name}) AS any`);
        if (left.rows[0]?.any === false) await client.query(`DROP TABLE ${table.name}`);
      }
      return { value: n, commit: true };
    });
    io.stdout.write(`Deleted ${deleted} quarantined row${deleted === 1 ? '' : 's'} copied more than ${visible(opts.olderThan)} ago.\n`);
    return EXIT.ok;
  } catch (err) {
    return fail(err, io, t);
  }
}

async function purgeable(client: pg.Client, held: HeldFinding[], cutoff: string, finding: string | undefined): Promise<{ h: HeldFinding; rows: number }[]> {
  const out: { h: HeldFinding; rows: number }[] = [];
  for (const h of held) {
    if (h.table.foreign || (finding && h.fingerprint !== finding)) continue;
    const res = await client.query<{ n: string }>(
      `SELECT pg_catalog.count(*)::pg_catalog.text AS n FROM ONLY ${h.table.name} AS q WHERE q.${quoteIdent(h.table.meta.finding)} OPERATOR(pg_catalog.=) ${literal(h.fingerprint)} AND q.${quoteIdent(h.table.meta.at)} OPERATOR(pg_catalog.<) ${literal(cutoff)}::pg_catalog.timestamptz`,
    );
    const rows = Number(res.rows[0]?.n ?? 0);
    if (rows > 0) out.push({ h, rows });
  }
  return out;
}
