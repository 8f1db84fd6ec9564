/**
 * Where pytheus reports what it survives (duplicate registrations, failing
 * collectors, backend faults): `console` by default, replaceable with
 * {@linkcode setLogger}.
 *
 * @module
 */

/** What pytheus needs of a logger; `console` fits. */
export interface Logger {
  /** Something was refused or ignored, and the application goes on. */
  warn(message: string, ...details: unknown[]): void;
  /** Something failed (a collector threw, a backend is unreachable). */
  error(message: string, ...details: unknown[]): void;
}

let current: Logger = console;

/**
 * Replaces the logger pytheus reports to. Returns the previous one.
 *
 * @param logger The new logger.
 * @returns The logger that was in use.
 *
 * @example Collect warnings in a test
 * ```ts
 * import { setLogger } from "@pytheus/pytheus";
 * const seen: string[] = [];
 * const previous = setLogger({ warn: (m) => seen.push(m), error: (m) => seen.push(m) });
 * setLogger(previous);
 * ```
 */
export function setLogger(logger: Logger): Logger {
  const previous = current;
  current = logger;
  return previous;
}

/**
 * The logger in use.
 *
 * @returns The current logger.
 *
 * @example
 * ```ts
 * import { getLogger } from "./logger.ts";
 * getLogger().warn("something odd");
 * ```
 */
export function getLogger(): Logger {
  return current;
}
