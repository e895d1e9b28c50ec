import { mkdirSync, renameSync, writeFileSync, existsSync, statSync } from 'node:fs';
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

/** Fails before the audit starts when the report could not be written afterwards. */
export function assertWritableDestination(file: string, cwd: string, option = '--output'): string {
  const target = path.resolve(cwd, file);
  const dir = path.dirname(target);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`cannot write ${option} ${file}: directory ${dir} does not exist; create it or choose another path`);
  }
  if (existsSync(target) && statSync(target).isDirectory()) {
    throw new UsageError(`cannot write ${option} ${file}: it is a directory; give a file name`);
  }
  return target;
}

/** Writes through a temporary file and a rename, so a reader never sees half a report. */
export function writeFileAtomic(target: string, content: string): void {
  mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, target);
}
