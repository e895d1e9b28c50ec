import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const SCHEMA = `CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);
  CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, 9);
  ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES p NOT VALID;`;

const tmp = (label: string) => mkdtempSync(path.join(os.tmpdir(), `integrity-out-${label}-`));
/** The fix script without its header's timestamp, to compare two runs byte for byte. */
const untimed = (script: string) => script.replace(/ at \d{4}-\d\d-\d\dT[\d:.]+Z/g, ' at <time>');

/** Reads a FIFO to its end (the writer closing it); the open waits for the writer in libuv's thread pool. */
function drain(fifo: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    createReadStream(fifo, { encoding: 'utf8' })
      .on('data', (d) => (text += String(d)))
      .on('end', () => resolve(text))
      .on('error', reject);
  });
}

function canMakeDevices(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = tmp('mknod-probe');
  try {
    execFileSync('mknod', [path.join(dir, 'null'), 'c', '1', '3'], { stdio: 'ignore' });
    writeFileSync(path.join(dir, 'null'), 'probe');
    return statSync(path.join(dir, 'null')).isCharacterDevice();
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const DEVICES = canMakeDevices();
const ROOT = process.getuid?.() === 0;

describe('output files: devices, FIFOs and symlinks are written as they are, regular files replaced atomically', () => {
  const db = useDatabase('output_files', { sql: [SCHEMA] });

  it('/dev/null stays the character device it is (--output, --fix-sql, --report)', async () => {
    const before = statSync('/dev/null');
    try {
      const run = await runCli(['check', '-d', db.url, '--output', '/dev/null', '--fix-sql', '/dev/null', '--report', 'junit=/dev/null', '--report', 'sarif=/dev/null', '--quiet']);
      expect(run).toEqual({ code: 1, stdout: '', stderr: '' });
      const fix = await runCli(['fix', '-d', db.url, '--output', '/dev/null']);
      expect(fix).toEqual({ code: 0, stdout: '', stderr: '' });
      const baseline = await runCli(['baseline', '-d', db.url, '--output', '/dev/null']);
      expect(baseline.code).toBe(0);
      const after = statSync('/dev/null');
      expect(after.isCharacterDevice()).toBe(true);
      expect(after.rdev).toBe(before.rdev);
    } finally {
      // Should this regress while running as root, give the machine its /dev/null back.
      if (ROOT && !statSync('/dev/null').isCharacterDevice()) {
        rmSync('/dev/null', { force: true });
        execFileSync('mknod', ['-m', '666', '/dev/null', 'c', '1', '3']);
      }
    }
  });

  it.skipIf(!DEVICES)('a character device of its own (mknod c 1 3) is written into, never replaced', async () => {
    const cwd = tmp('chardev');
    execFileSync('mknod', [path.join(cwd, 'sink'), 'c', '1', '3']);
    const rdev = statSync(path.join(cwd, 'sink')).rdev;
    const run = await runCli(['check', '-d', db.url, '--output', 'sink', '--fix-sql', 'sink', '--report', 'markdown=sink', '--quiet'], { cwd });
    expect(run).toEqual({ code: 1, stdout: '', stderr: '' });
    expect((await runCli(['fix', '-d', db.url, '--output', 'sink'], { cwd })).code).toBe(0);
    expect((await runCli(['baseline', '-d', db.url, '--output', 'sink'], { cwd })).code).toBe(0);
    expect((await runCli(['init', '-d', db.url, '--output', 'sink', '--force'], { cwd })).code).toBe(0);
    const st = lstatSync(path.join(cwd, 'sink'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(rdev);
    expect(readdirSync(cwd)).toEqual(['sink']);
  });

  it('a FIFO receives the bytes stdout would have, and stays a FIFO (check --output, --fix-sql, fix, baseline)', async () => {
    const cwd = tmp('fifo');
    const fifo = path.join(cwd, 'pipe');
    execFileSync('mkfifo', [fifo]);

    const toStdout = await runCli(['check', '-d', db.url, '--format', 'json', '--quiet'], { cwd });
    const [received, run] = await Promise.all([drain(fifo), runCli(['check', '-d', db.url, '--format', 'json', '--quiet', '--output', 'pipe'], { cwd })]);
    expect(run).toEqual({ code: 1, stdout: '', stderr: '' });
    const strip = (json: string) => ({ ...JSON.parse(json), startedAt: null, durationMs: null, checks: null });
    expect(strip(received)).toEqual(strip(toStdout.stdout));

    const script = await runCli(['check', '-d', db.url, '--fix-sql', '-', '--quiet'], { cwd });
    const [scriptReceived, scriptRun] = await Promise.all([drain(fifo), runCli(['check', '-d', db.url, '--fix-sql', 'pipe', '--quiet', '--output', 'report.txt'], { cwd })]);
    expect(scriptRun.code).toBe(1);
    expect(untimed(scriptReceived)).toBe(untimed(script.stdout));
    expect(scriptReceived.length).toBeGreaterThan(100);

    const [fixReceived, fixRun] = await Promise.all([drain(fifo), runCli(['fix', '-d', db.url, '--output', 'pipe'], { cwd })]);
    expect(fixRun.code).toBe(0);
    expect(untimed(fixReceived)).toBe(untimed(script.stdout));

    const [baselineReceived, baselineRun] = await Promise.all([drain(fifo), runCli(['baseline', '-d', db.url, '--output', 'pipe'], { cwd })]);
    expect(baselineRun.code).toBe(0);
    expect(JSON.parse(baselineReceived).findings).toHaveLength(1);

    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(cwd).sort()).toEqual(['pipe', 'report.txt']);
  });

  it('a symlink stays a symlink: its regular target is replaced by a rename in the target directory, keeping its mode', async () => {
    const cwd = tmp('symlink');
    const elsewhere = tmp('symlink-target');
    const target = path.join(elsewhere, 'fix.sql');
    writeFileSync(target, 'old contents\n');
    chmodSync(target, 0o640);
    const inode = statSync(target).ino;
    symlinkSync(path.relative(cwd, target), path.join(cwd, 'fix.sql'));
    symlinkSync(path.relative(cwd, target), path.join(cwd, 'report.json'));

    const script = await runCli(['check', '-d', db.url, '--fix-sql', '-', '--quiet'], { cwd });
    const run = await runCli(['check', '-d', db.url, '--fix-sql', 'fix.sql', '--output', 'ignored.txt', '--quiet'], { cwd });
    expect(run.code).toBe(1);
    expect(lstatSync(path.join(cwd, 'fix.sql')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(cwd, 'fix.sql'))).toBe(path.relative(cwd, target));
    expect(untimed(readFileSync(target, 'utf8'))).toBe(untimed(script.stdout));
    const after = statSync(target);
    expect(after.ino).not.toBe(inode); // replaced whole by a rename, never rewritten in place
    expect(after.mode & 0o777).toBe(0o640);
    expect(readdirSync(elsewhere)).toEqual(['fix.sql']); // no temporary file left behind
    expect(readdirSync(cwd).sort()).toEqual(['fix.sql', 'ignored.txt', 'report.json']);

    const fix = await runCli(['fix', '-d', db.url, '--output', 'report.json'], { cwd });
    expect(fix.code).toBe(0);
    expect(lstatSync(path.join(cwd, 'report.json')).isSymbolicLink()).toBe(true);
    expect(untimed(readFileSync(target, 'utf8'))).toBe(untimed(script.stdout));

    const init = await runCli(['init', '-d', db.url, '--output', 'report.json', '--force'], { cwd });
    expect(init.code).toBe(0);
    expect(lstatSync(path.join(cwd, 'report.json')).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toMatch(/^\/\/ integrity\.config\.json/);
    expect(readdirSync(elsewhere)).toEqual(['fix.sql']);
  });

  it('a symlink to nothing creates its target, and stays a symlink', async () => {
    const cwd = tmp('dangling');
    const elsewhere = tmp('dangling-target');
    symlinkSync(path.join(elsewhere, 'new.json'), path.join(cwd, 'base.json'));
    const run = await runCli(['baseline', '-d', db.url, '--output', 'base.json'], { cwd });
    expect(run.code).toBe(0);
    expect(lstatSync(path.join(cwd, 'base.json')).isSymbolicLink()).toBe(true);
    expect(lstatSync(path.join(elsewhere, 'new.json')).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(path.join(elsewhere, 'new.json'), 'utf8')).findings).toHaveLength(1);
  });

  it('a regular file is still replaced atomically: a new inode, the old mode, no temporary file left', async () => {
    const cwd = tmp('regular');
    const file = path.join(cwd, 'report.json');
    writeFileSync(file, 'old');
    chmodSync(file, 0o600);
    // Run as root, the replaced file keeps its owner rather than becoming root's.
    if (ROOT) chownSync(file, 12345, 12345);
    const inode = statSync(file).ino;
    const run = await runCli(['check', '-d', db.url, '--format', 'json', '--output', 'report.json', '--quiet'], { cwd });
    expect(run.code).toBe(1);
    expect(JSON.parse(readFileSync(file, 'utf8')).findings).toHaveLength(1);
    const after = lstatSync(file);
    expect(after.isFile()).toBe(true);
    expect(after.ino).not.toBe(inode);
    expect(after.mode & 0o777).toBe(0o600);
    if (ROOT) expect([after.uid, after.gid]).toEqual([12345, 12345]);
    expect(readdirSync(cwd)).toEqual(['report.json']);
  });
});

describe('output files that cannot be written: exit 2, one line, before connecting', () => {
  const servers: net.Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  /** A TCP server that counts the connections made to it: the database the audit would have read. */
  async function countingServer(): Promise<{ url: string; connections: () => number }> {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    return { url: `postgres://auditor@127.0.0.1:${port}/app`, connections: () => connections };
  }

  const cwd = tmp('refused');
  mkdirSync(path.join(cwd, 'adir'));
  writeFileSync(path.join(cwd, 'afile'), 'x');
  writeFileSync(path.join(cwd, 'base.json'), JSON.stringify({ tool: 'integrity', formatVersion: 1, createdAt: '2026-01-01T00:00:00.000Z', findings: [] }));
  symlinkSync('adir', path.join(cwd, 'link-to-dir'));
  symlinkSync('nowhere/file.json', path.join(cwd, 'link-to-missing-dir'));
  const cases: [string, string[]][] = [
    ['check --output DIR', ['check', '--output', 'adir']],
    ['check --output DIR/ (trailing slash, not there)', ['check', '--output', 'newdir/']],
    ['check --output SYMLINK-TO-DIR', ['check', '--output', 'link-to-dir']],
    ['check --output in a missing directory', ['check', '--output', 'missing/report.txt']],
    ['check --output under a regular file', ['check', '--output', 'afile/report.txt']],
    ['check --output SYMLINK into a missing directory', ['check', '--output', 'link-to-missing-dir']],
    ['check --fix-sql DIR', ['check', '--fix-sql', 'adir']],
    ['check --report junit=DIR', ['check', '--report', 'junit=adir']],
    ['check --report json=FILE --report sarif=DIR (the second is checked too)', ['check', '--report', 'json=ok.json', '--report', 'sarif=adir']],
    ['check --plan --output DIR', ['check', '--plan', '--output', 'adir']],
    ['fix --output DIR', ['fix', '--output', 'adir']],
    ['baseline --output DIR', ['baseline', '--output', 'adir']],
  ];

  it.each(cases)('%s', async (_label, args) => {
    const server = await countingServer();
    const run = await runCli([...args, '-d', server.url, '--connect-timeout', '2'], { cwd });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')).toHaveLength(2); // one line and its line feed
    expect(server.connections()).toBe(0);
    expect(statSync(path.join(cwd, 'adir')).isDirectory()).toBe(true);
    expect(readdirSync(cwd).sort()).toEqual(['adir', 'afile', 'base.json', 'link-to-dir', 'link-to-missing-dir']);
    expect(existsSync(path.join(cwd, 'adir', 'report.txt'))).toBe(false);
  });

  it.skipIf(ROOT)('a read-only file and a read-only directory are refused before connecting (not as root)', async () => {
    const ro = tmp('readonly');
    writeFileSync(path.join(ro, 'locked.json'), 'x');
    chmodSync(path.join(ro, 'locked.json'), 0o444);
    mkdirSync(path.join(ro, 'sealed'));
    chmodSync(path.join(ro, 'sealed'), 0o555);
    writeFileSync(path.join(ro, 'base.json'), JSON.stringify({ tool: 'integrity', formatVersion: 1, createdAt: '2026-01-01T00:00:00.000Z', findings: [] }));
    chmodSync(path.join(ro, 'base.json'), 0o444);
    for (const args of [['--output', 'locked.json'], ['--fix-sql', 'sealed/fix.sql'], ['--baseline', 'base.json', '--prune-baseline']]) {
      const server = await countingServer();
      const run = await runCli(['check', ...args, '-d', server.url], { cwd: ro });
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')).toHaveLength(2);
      expect(server.connections()).toBe(0);
    }
    expect(readFileSync(path.join(ro, 'locked.json'), 'utf8')).toBe('x');
  });
});
