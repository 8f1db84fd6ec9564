/**
 * Writing what is pending when the process is asked to stop (SIGINT,
 * SIGTERM), on Deno and Bun alike: a listener replaces the runtime's own
 * exit, so when pytheus' listener is the only one it exits itself, once the
 * last flush is done (or after `limitMs`); when the application listens
 * too, exiting is left to the application.
 */

import process from "node:process";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
// What a shell reports for a process ended by the signal: 128 + its number.
const EXIT_CODES: Readonly<Record<(typeof SIGNALS)[number], number>> = {
  SIGINT: 130,
  SIGTERM: 143,
};

/**
 * Calls `close` on SIGINT and SIGTERM, and exits after it (within `limitMs`)
 * unless the application has a listener of its own for that signal.
 *
 * @param close Writes what is pending and disconnects.
 * @param limitMs How long an exit may wait for `close`.
 * @returns Removes the listeners.
 */
export function closeOnSignals(close: () => Promise<void>, limitMs: number): () => void {
  const listeners = SIGNALS.map((signal) => {
    const listener = (): void => {
      const alone = process.listenerCount(signal) === 1;
      const closed = close().catch(() => {});
      if (!alone) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<void>((resolve) => timer = setTimeout(resolve, limitMs));
      void Promise.race([closed, limit]).then(() => {
        clearTimeout(timer);
        process.exit(EXIT_CODES[signal]);
      });
    };
    process.on(signal, listener);
    return { signal, listener };
  });
  return () => {
    for (const { signal, listener } of listeners) process.off(signal, listener);
  };
}
