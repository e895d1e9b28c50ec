import { execFileSync } from 'node:child_process';

/** psql runs the fix scripts as a user would; tests that need it skip, saying so, where it is missing. */
export const HAS_PSQL = (() => {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export function psqlFile(url: string, file: string): void {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, url], { stdio: 'ignore' });
}
