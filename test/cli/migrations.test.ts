import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';
import { fixturesDir } from '../../src/demo/fixtures.js';

interface SarifResult {
  ruleId: string;
  locations: { physicalLocation: { artifactLocation: { uri: string; uriBaseId: string }; region: { startLine: number } }; logicalLocations: { fullyQualifiedName: string }[] }[];
}

describe('a config that names the migrations folder', () => {
  const db = useDatabase('cli_migrations', { incidents: 'all' });

  /** A repository: the incident SQL as its migrations, the config beside them, run from its root. */
  function repository(): string {
    const root = mkdtempSync(path.join(os.tmpdir(), 'integrity-repo-'));
    cpSync(fixturesDir(), path.join(root, 'db', 'migrations'), { recursive: true, filter: (src) => !src.endsWith('.json') });
    const config = JSON.parse(readFileSync(path.join(fixturesDir(), 'integrity.config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(root, 'integrity.config.json'), JSON.stringify({ ...config, $schema: undefined, migrations: 'db/migrations' }));
    return root;
  }

  it('points each SARIF result and GitHub annotation at the line of the migration that created the object', async () => {
    const root = repository();
    const sarifRun = await runCli(['check', '-d', db.url, '--format', 'sarif', '--report', `github=${path.join(root, 'annotations.txt')}`], { cwd: root });
    expect(sarifRun.code).toBe(1);
    const results = (JSON.parse(sarifRun.stdout) as { runs: { results: SarifResult[] }[] }).runs[0]?.results ?? [];
    expect(results.length).toBeGreaterThan(10);
    for (const r of results) {
      const { artifactLocation, region } = r.locations[0]?.physicalLocation ?? { artifactLocation: { uri: '', uriBaseId: '' }, region: { startLine: 0 } };
      expect(artifactLocation.uriBaseId).toBe('%SRCROOT%');
      expect(artifactLocation.uri).toMatch(/^db\/migrations\/00\d_[a-z_]+\.sql$/);
      // The line named is where the object is created.
      const line = readFileSync(path.join(root, artifactLocation.uri), 'utf8').split('\n')[region.startLine - 1] ?? '';
      expect(line).toMatch(/CREATE|CONSTRAINT/i);
    }
    const invoiceIndex = results.find((r) => r.ruleId === 'jsonb-int-cast-index' && r.locations[0]?.logicalLocations[0]?.fullyQualifiedName.startsWith('Billing Dept.Invoice Line'));
    expect(invoiceIndex?.locations[0]?.physicalLocation).toEqual({
      artifactLocation: { uri: 'db/migrations/005_quoting_and_lookalikes.sql', uriBaseId: '%SRCROOT%' },
      region: { startLine: 31 },
    });
    const annotations = readFileSync(path.join(root, 'annotations.txt'), 'utf8');
    expect(annotations).toContain('::error file=db/migrations/005_quoting_and_lookalikes.sql,line=31,title=integrity jsonb-int-cast-index');
  });

  it('fails at once, exit 2, when the folder does not exist', async () => {
    const root = repository();
    writeFileSync(path.join(root, 'integrity.config.json'), JSON.stringify({ migrations: 'nope/migrations' }));
    const run = await runCli(['check', '-d', db.url], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `integrity: migrations folder ${path.join(root, 'nope', 'migrations')} does not exist; set "migrations" in the config to the folder holding your .sql migrations\n`,
    );
  });
});
