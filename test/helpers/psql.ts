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

/**
 * What a person who accepts the reviewed index rebuilds runs: each concurrent `review` step, under its
 * guard, as the script shows it commented out.
 */
export function acceptedConcurrentReviews(repairs: { repair: { steps: { safety: string; phase: string; guard?: string; sql: string }[] } }[]): string {
  const blocks = repairs
    .flatMap((r) => r.repair.steps)
    .filter((s) => s.safety === 'review' && s.phase === 'concurrent')
    .map((s, i) => (s.guard ? `SELECT (${s.guard}) AS accepted_${i} \\gset\n\\if :accepted_${i}\n${s.sql}\n\\endif` : s.sql));
  return `\\set ON_ERROR_STOP on\n${blocks.join('\n')}\n`;
}
