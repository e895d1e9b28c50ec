import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';

const root = packageRoot();

function files(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((f) => {
    const rel = path.join(dir, f);
    return statSync(path.join(root, rel)).isDirectory() ? files(rel) : rel.endsWith('.ts') ? [rel] : [];
  });
}

/** The modules a file imports at run time (type-only imports are erased and do not count), relative to the root. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^'"]*?from\s+'(\.[^']+)'/gm)) {
    if (m[1]) continue;
    out.push(path.normalize(path.join(path.dirname(file), m[2] as string)));
  }
  for (const m of text.matchAll(/import\('(\.[^']+)'\)/g)) out.push(path.normalize(path.join(path.dirname(file), m[1] as string)));
  return out;
}

/** Data flows one way: db and the shared helpers at the bottom, then engine and fix, reporters beside them, the cli on top. */
const FORBIDDEN: [string, RegExp, string][] = [
  ['src/db/', /^src\/(engine|fix|report|cli|plugins|demo|testing)\//, 'the database layer depends on nothing above it'],
  ['src/engine/', /^src\/(report|cli|demo|testing)\//, 'the engine does not import reporters or the command line'],
  ['src/fix/', /^src\/(report|cli|demo|testing)\//, 'the fix writer does not import reporters or the command line'],
  ['src/report/', /^(src\/(engine|fix|cli|plugins|demo|testing)\/|checks\/)/, 'reporters are pure functions of the result'],
  ['src/plugins/', /^src\/(report|cli|demo|testing)\//, 'plugin loading does not import reporters or the command line'],
  ['src/config/', /^src\/(engine|fix|report|cli|demo|testing)\//, 'the config is read before anything runs'],
];

describe('dependencies run one way', () => {
  const all = [...files('src'), ...files('checks')];

  it.each(FORBIDDEN)('%s: %s', (dir, forbidden) => {
    const offenders = all
      .filter((f) => f.startsWith(dir))
      .flatMap((f) => runtimeImports(f).filter((i) => forbidden.test(i)).map((i) => `${f} -> ${i}`));
    expect(offenders).toEqual([]);
  });

  it('the shared helpers below everything import only the database layer and each other', () => {
    const bottom = ['src/glob.ts', 'src/escape.ts', 'src/object-names.ts', 'src/findings.ts', 'src/errors.ts'];
    const offenders = bottom.flatMap((f) => runtimeImports(f).filter((i) => !/^src\/(db\/|glob|escape|object-names|findings|errors)/.test(i)).map((i) => `${f} -> ${i}`));
    expect(offenders).toEqual([]);
  });

  it('built-in checks import from src/ only through the public API, as a plugin does', () => {
    const offenders = files('checks').flatMap((f) => {
      const text = readFileSync(path.join(root, f), 'utf8');
      return [...text.matchAll(/from\s+'(\.[^']+)'/g)]
        .map((m) => path.normalize(path.join(path.dirname(f), m[1] as string)))
        .filter((i) => i.startsWith('src/') && i !== 'src/index.js')
        .map((i) => `${f} -> ${i}`);
    });
    expect(offenders).toEqual([]);
    expect(files('checks').filter((f) => !f.startsWith('checks/support/') && f !== 'checks/index.ts').length).toBeGreaterThanOrEqual(5);
  });
});
