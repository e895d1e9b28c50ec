/**
 * Exit codes for a run stopped by a signal: 128 + the signal's number, as shells report it. SIGHUP (the
 * terminal closed, or a supervisor's reload) stops the audit as SIGTERM does: its queries are cancelled on
 * the server and no report is written, rather than Node's default of dying with the queries still running.
 */
export const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** While `work` runs, SIGHUP, SIGINT and SIGTERM abort `controller` instead of killing the process outright. */
export async function withSignals<T>(controller: AbortController, work: () => Promise<T>): Promise<T> {
  const handlers = Object.keys(SIGNAL_EXIT).map((signal) => {
    const handler = () => controller.abort(signal);
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  try {
    return await work();
  } finally {
    for (const remove of handlers) remove();
  }
}
