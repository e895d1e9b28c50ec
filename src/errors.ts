/** Exit codes are part of the interface: CI gates and cron jobs branch on them. */
export const EXIT = {
  ok: 0,
  findings: 1,
  auditFailed: 2,
} as const;

/**
 * An error in what the user asked for (option, config file, connection): reported as one line
 * that says what to do, and the audit exits with 2 before touching anything.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
