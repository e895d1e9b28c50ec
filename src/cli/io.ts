import { visible } from '../escape.js';
import { accessSync, chmodSync, mkdirSync, closeSync, fchownSync, constants, fsyncSync, lstatSync, openSync, readlinkSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { UsageError } from '../errors.js';

export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface CliIO {
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * How an output path is written:
 * - `replace`: a regular file (or a symlink to one) is replaced whole, through a temporary file in the
 *   same directory and a rename, so a reader never sees half a report; `file` is the file itself (a
 *   symlink's final target), and the symlink stays.
 * - `create`: nothing is there (or a symlink points at nothing): `file` is created the same way.
 * - `stream`: a character device (/dev/null, /dev/stdout on a terminal), a FIFO or a pipe
 *   (/dev/fd/N from `>(...)`) is opened and written as it is; renaming over it would replace the device
 *   or the FIFO with a regular file.
 */
export type WriteMode = { mode: 'replace' | 'create'; file: string; stats?: Stats } | { mode: 'stream'; file: string };

const MAX_SYMLINKS = 40;

function fsCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch (err) {
    if (fsCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** The path a chain of symlinks ends at, when it ends at nothing (a dangling symlink): that file is created. */
function danglingTarget(link: string): string {
  let current = link;
  for (let hops = 0; hops < MAX_SYMLINKS; hops++) {
    const st = lstatOrNull(current);
    if (!st) return current;
    if (!st.isSymbolicLink()) return current;
    current = path.resolve(path.dirname(current), readlinkSync(current));
  }
  throw Object.assign(new Error(`too many levels of symbolic links at ${link}`), { code: 'ELOOP' });
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a file, a character device or a FIFO';
}

/**
 * How `target` (an absolute path) will be written. Throws a DestinationProblem (a short reason, without
 * the path) for what is never written: a directory, a block device, a socket; file-system errors as they are.
 */
export function writeModeOf(target: string): WriteMode {
  const link = lstatOrNull(target);
  let st: Stats | null = link;
  if (link?.isSymbolicLink()) {
    try {
      st = statSync(target);
    } catch (err) {
      if (fsCode(err) !== 'ENOENT') throw err;
      st = null;
    }
  }
  if (!st) {
    const file = link ? danglingTarget(target) : target;
    return { mode: 'create', file };
  }
  if (st.isFile()) {
    // A symlink (or /dev/fd/N on a regular file) is replaced at its final target, so the link stays a link.
    return { mode: 'replace', file: link?.isSymbolicLink() ? realpathSync(target) : target, stats: st };
  }
  if (st.isCharacterDevice() || st.isFIFO()) return { mode: 'stream', file: target };
  throw new DestinationProblem(`it is ${kindOf(st)}; give a file name`);
}

class DestinationProblem extends Error {}

function canAccess(file: string, mode: number): boolean {
  try {
    accessSync(file, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks, before the audit starts, that the report could be written to `file` afterwards, and returns its
 * absolute path; a UsageError (exit 2, one line) says why not. A directory, a block device or a socket is
 * refused; a FIFO or a character device must be writable; a regular file must be writable and so must its
 * directory (the rename happens there); a new file needs an existing, writable directory.
 */
export function assertWritableDestination(file: string, cwd: string, option = '--output'): string {
  const target = path.resolve(cwd, file);
  const fail = (why: string) => new UsageError(`cannot write ${option} ${file}: ${why}`);
  if (file.endsWith('/')) throw fail('it names a directory; give a file name');
  let how: WriteMode;
  try {
    how = writeModeOf(target);
  } catch (err) {
    if (err instanceof DestinationProblem) throw fail(err.message);
    throw fail(fsCode(err) === 'ELOOP' ? 'too many levels of symbolic links' : fsCode(err) === 'ENOTDIR' ? 'a part of the path is not a directory' : (err as Error).message);
  }
  if (how.mode === 'stream') {
    if (!canAccess(how.file, constants.W_OK)) throw fail('it cannot be written (permission denied)');
    return target;
  }
  const dir = path.dirname(how.file);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // missing, or not reachable: refused below
  }
  if (!isDir) {
    throw fail(`directory ${dir} does not exist; create it or choose another path`);
  }
  if (how.mode === 'replace' && !canAccess(how.file, constants.W_OK)) throw fail('the file is read-only');
  if (!canAccess(dir, constants.W_OK | constants.X_OK)) throw fail(`directory ${dir} is not writable`);
  return target;
}

/** Writes all of `content` into an existing character device or FIFO, as it is. */
function writeThrough(file: string, content: string): void {
  // No O_CREAT: a device or FIFO that vanished since the check is not replaced by a file. O_TRUNC does
  // nothing to either, and makes a regular file that took its place since hold exactly the content.
  // Opening a FIFO waits, as `echo > fifo` does, until a reader opens it.
  const fd = openSync(file, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeFileSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

/** Writes `content` to a new file in `file`'s directory and renames it over `file`, keeping its mode (and owner, where allowed). */
function replaceByRename(file: string, content: string, previous?: Stats): void {
  // Shortened, so that a long name plus the suffix stays within NAME_MAX.
  const tmp = path.join(path.dirname(file), `.${path.basename(file).slice(0, 200)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, previous ? previous.mode & 0o7777 : 0o666);
  try {
    try {
      writeFileSync(fd, content);
      // The new file keeps the old one's permissions (the umask applied to the open above).
      if (previous) {
        try {
          // Run as root, the report must not become root's file; elsewhere this is the same owner, or refused.
          fchownSync(fd, previous.uid, previous.gid);
        } catch {
          // not allowed: the file is the writer's, as any new file would be
        }
        chmodSync(tmp, previous.mode & 0o7777);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}

/**
 * Writes a report, script, baseline or config to `target` as its kind requires: a regular file (or a
 * symlink's regular target) through a temporary file and a rename, so a reader never sees half of it
 * and the symlink stays a symlink; a character device or a FIFO by opening and writing it as it is. A
 * directory (or anything else) throws.
 */
export function writeFileAtomic(target: string, content: string): void {
  const how = writeModeOf(target);
  if (how.mode === 'stream') return writeThrough(how.file, content);
  // init --output ci/integrity.config.json creates ci/ (the other commands check the directory first).
  if (how.mode === 'create') mkdirSync(path.dirname(how.file), { recursive: true });
  replaceByRename(how.file, content, how.mode === 'replace' ? how.stats : undefined);
}

/** One `integrity: ...` line on stderr, with anything from the database shown escaped, never raw. */
export function errorLine(io: Pick<CliIO, 'stderr'>): (text: string) => void {
  return (text) => {
    io.stderr.write(`integrity: ${visible(text)}\n`);
  };
}
