/**
 * The README's performance table, rendered from bench/results.json (npm run docs writes it between the
 * <!-- bench:start --> and <!-- bench:end --> markers; a unit test keeps the two equal).
 */
export interface ResultsShape {
  date: string;
  machine: { cpu: string; cores: number; memoryGb: number; node: string };
  server: { embedded: boolean; version: string; settings: Record<string, string> };
  options: { runs: number; jobs: number };
  scales: {
    scale: number;
    auditMs: number;
    floorMs: number;
    auditOverFloor: number;
    naivePeer?: string;
    naiveOverAudit: number;
    peers?: Record<string, { ms: number; queries: number; overAudit: number }>;
    maxRssMb: number;
    countsExact: boolean;
  }[];
  rssSpreadPercent: number;
  wide: {
    tables: number;
    catalog: { medianMs: number; queries: number };
    catalogTenth: { tables: number; medianMs: number; queries: number };
    auditMs: number;
    maxRssMb: number;
  } | null;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function renderBenchMarkdown(r: ResultsShape): string {
  const peers = Object.keys(r.scales[0]?.peers ?? {});
  const head = ['scale', 'audit `--deep`', 'floor', 'audit / floor', ...peers.flatMap((p) => [p, `${p} / audit`]), 'client peak RSS', 'counts'];
  const rows = r.scales.map((s) => [
    String(s.scale),
    seconds(s.auditMs),
    seconds(s.floorMs),
    s.auditOverFloor.toFixed(2),
    ...peers.flatMap((p) => {
      const f = s.peers?.[p];
      return f ? [seconds(f.ms), f.overAudit.toFixed(2)] : ['', ''];
    }),
    `${s.maxRssMb} MB`,
    s.countsExact ? 'exact' : 'WRONG',
  ]);
  const settings = Object.entries(r.server.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const lines = [
    `From \`bench/results.json\` (${r.date.slice(0, 10)}; medians of ${r.options.runs} interleaved runs, \`--jobs ${r.options.jobs}\` for everyone): ` +
      `${r.server.embedded ? 'embedded ' : ''}PostgreSQL ${r.server.version} (${settings}) on ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memoryGb} GB, Node ${r.machine.node.replace(/^v/, '')}.`,
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    `Peak RSS differs by ${r.rssSpreadPercent}% between the scales.` +
      (r.wide
        ? ` Wide schema: the catalog of ${r.wide.tables.toLocaleString('en-US')} tables loads in ${seconds(r.wide.catalog.medianMs)} in ${r.wide.catalog.queries} queries ` +
          `(${r.wide.catalogTenth.tables.toLocaleString('en-US')} tables: ${seconds(r.wide.catalogTenth.medianMs)}, ${r.wide.catalogTenth.queries} queries); ` +
          `a full non-deep audit of them takes ${seconds(r.wide.auditMs)} with a peak RSS of ${r.wide.maxRssMb} MB.`
        : ''),
  ];
  return lines.join('\n');
}
