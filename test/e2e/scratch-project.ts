import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const EXAMPLE = path.join(REPO, 'examples/acme-integrity-checks');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program and collects its output; never rejects (a non-zero exit is a result). */
export function run(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? cleanEnv(), maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * The environment a user's shell would give npm: without what `npm test` adds (npm_lifecycle_*, npm_package_*,
 * npm_config_* of this repository's run), which would make the scratch install behave as part of this package.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => keep.has(k.toLowerCase()) || !/^(npm_|init_cwd$)/i.test(k)));
}

/** What integrity itself sees: no DATABASE_URL or PG* from the developer's shell, no colours. */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...extra };
}

function npm(args: string[], cwd: string, timeoutMs = 300_000): Promise<Run> {
  return run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd, env: cleanEnv(), timeoutMs });
}

async function pack(dir: string, into: string): Promise<string> {
  // --ignore-scripts: `prepare` would run tsc again; `npm test` has just built dist/.
  const res = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', into], dir);
  if (res.code !== 0) throw new Error(`npm pack in ${dir} failed (${res.code}):\n${res.stderr}`);
  const [info] = JSON.parse(res.stdout) as { filename: string }[];
  if (!info) throw new Error(`npm pack in ${dir} printed no file:\n${res.stdout}`);
  return path.join(into, info.filename);
}

export interface Packed {
  /** The folder holding package.json and node_modules (shared by the runs with the same tarballs). */
  install: string;
  /** The repository's tarball: its file list is what the installed tool runs with. */
  tarball: string;
  files: string[];
  /** Whether the install was reused from an earlier run (same tarballs, same node and npm). */
  cached: boolean;
  /** What `npm install` printed (stdout, then stderr), kept with the install for the runs that reuse it. */
  installOutput: string;
}

/** The file in an install folder holding what its `npm install` printed. */
const INSTALL_OUTPUT = 'npm-install-output.txt';

const CACHE_ROOT = path.join(os.tmpdir(), 'integrity-e2e-installs');
const LAYOUT = 'v2';
const SCRATCH_PACKAGE = { name: 'acme-billing', version: '1.0.0', private: true, type: 'module' };

/**
 * Packs the repository (as built) and the example plugin, and installs both tarballs in a project
 * outside the repository, as a user adds them: `npm install -D <tarballs>`, nothing else. The install is kept under the temp folder,
 * keyed by both tarballs' hashes: CI's second run of the suite (the embedded server) reuses it.
 */
export async function packAndInstall(): Promise<Packed> {
  if (!existsSync(path.join(REPO, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run npm run build (npm test does) before the e2e test');
  const tarballs = mkdtempSync(path.join(os.tmpdir(), 'integrity-e2e-pack-'));
  const [tool, plugin] = await Promise.all([pack(REPO, tarballs), pack(EXAMPLE, tarballs)]);
  const files = await tarFiles(tool);
  const hash = createHash('sha256');
  hash.update(`${LAYOUT}\0${process.version}\0${(await npm(['--version'], tarballs)).stdout.trim()}\0`);
  for (const t of [tool, plugin]) hash.update(readFileSync(t));
  const key = hash.digest('hex').slice(0, 16);
  mkdirSync(CACHE_ROOT, { recursive: true });
  pruneCache(key);
  const install = path.join(CACHE_ROOT, key);
  if (existsSync(path.join(install, 'node_modules/.bin/integrity')) && existsSync(path.join(install, INSTALL_OUTPUT))) {
    rmSync(tarballs, { recursive: true, force: true });
    return { install, tarball: path.join(install, path.basename(tool)), files, cached: true, installOutput: readFileSync(path.join(install, INSTALL_OUTPUT), 'utf8') };
  }

  // Installed in a folder of its own, then renamed into place: a half-done install is never reused.
  const staging = mkdtempSync(path.join(CACHE_ROOT, `${key}-staging-`));
  for (const t of [tool, plugin]) renameSync(t, path.join(staging, path.basename(t)));
  writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify(SCRATCH_PACKAGE, null, 2)}\n`);
  const res = await npm(
    ['install', '--save-dev', '--no-audit', '--no-fund', '--prefer-offline', `./${path.basename(tool)}`, `./${path.basename(plugin)}`],
    staging,
  );
  if (res.code !== 0) throw new Error(`npm install of the tarballs failed (${res.code}):\n${res.stderr}`);
  const installOutput = `${res.stdout}${res.stderr}`;
  writeFileSync(path.join(staging, INSTALL_OUTPUT), installOutput);
  try {
    renameSync(staging, install);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another run got there first: use its install
  }
  rmSync(tarballs, { recursive: true, force: true });
  return { install, tarball: path.join(install, path.basename(tool)), files, cached: false, installOutput };
}

/** Installs of other tarballs older than a day are removed; the newest few stay. */
function pruneCache(current: string): void {
  const dayAgo = Date.now() - 24 * 3600_000;
  const entries = readdirSync(CACHE_ROOT)
    .filter((e) => e !== current)
    .map((e) => ({ e, mtime: statSync(path.join(CACHE_ROOT, e)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  entries.forEach(({ e, mtime }, i) => {
    if (mtime < dayAgo || i >= 3) rmSync(path.join(CACHE_ROOT, e), { recursive: true, force: true });
  });
}

async function tarFiles(tarball: string): Promise<string[]> {
  const res = await run('tar', ['-tzf', tarball], { cwd: path.dirname(tarball) });
  if (res.code !== 0) throw new Error(`tar -tzf ${tarball} failed: ${res.stderr}`);
  return res.stdout
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''));
}

/**
 * A project of this run's own, outside the repository: the installed package.json and node_modules
 * (linked from the shared install), and whatever files the test writes.
 */
export function scratchProject(packed: Packed): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'integrity-e2e-project-'));
  writeFileSync(path.join(dir, 'package.json'), readFileSync(path.join(packed.install, 'package.json')));
  symlinkSync(path.join(packed.install, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}
