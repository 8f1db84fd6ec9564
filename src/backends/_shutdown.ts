/**
 * Writing what is pending when the process is asked to stop (SIGINT,
 * SIGTERM), on Deno and Bun alike: a listener replaces the runtime's own
 * exit, so when the application has no listener of its own for the signal,
 * pytheus exits itself, once the last flush is done (or after `limitMs`);
 * when the application listens too (registered before or after pytheus',
 * `once` included), the exit is left to the application. A listener added
 * with `Deno.addSignalListener` cannot be seen from here: such an application
 * turns this off (`handleSignals: false`) and closes the backend itself.
 */

import process from "node:process";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
type Signal = (typeof SIGNALS)[number];
// What a shell reports for a process ended by the signal: 128 + its number.
const EXIT_CODES: Readonly<Record<Signal, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Calls `close` on SIGINT and SIGTERM, and exits after it (within `limitMs`)
 * unless the application has listened for that signal itself.
 *
 * @param close Writes what is pending and disconnects.
 * @param limitMs How long an exit may wait for `close`.
 * @returns Removes the listeners.
 */
export function closeOnSignals(close: () => Promise<void>, limitMs: number): () => void {
  // Whether the application listened for each signal: already, or since.
  const heard: Record<Signal, boolean> = {
    SIGINT: process.listenerCount("SIGINT") > 0,
    SIGTERM: process.listenerCount("SIGTERM") > 0,
  };
  const ours = new Set<unknown>();
  const onNewListener = (event: unknown, listener: unknown): void => {
    if ((event === "SIGINT" || event === "SIGTERM") && !ours.has(listener)) heard[event] = true;
  };
  process.on("newListener", onNewListener);
  const listeners = SIGNALS.map((signal) => {
    const listener = (): void => {
      const closed = close().catch(() => {});
      if (heard[signal] || process.listenerCount(signal) > 1) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<void>((resolve) => timer = setTimeout(resolve, limitMs));
      void Promise.race([closed, limit]).then(() => {
        clearTimeout(timer);
        process.exit(EXIT_CODES[signal]);
      });
    };
    ours.add(listener);
    process.on(signal, listener);
    return { signal, listener };
  });
  return () => {
    process.off("newListener", onNewListener);
    for (const { signal, listener } of listeners) process.off(signal, listener);
  };
}
