/**
 * Logs a failure that repeats (a scrape every few seconds, a flush every
 * tick) once per outage instead of once per attempt, and logs again when the
 * kind of failure changes and when it works again.
 *
 * @module
 */

import { getLogger } from "./logger.ts";

/**
 * The state of one thing that is tried again and again: working, or in an
 * outage since its first failure.
 *
 * - {@linkcode Outage.failed} logs an error (with the error itself as the
 *   detail: its message, stack and cause) on the first failure of an outage,
 *   and again whenever the kind of failure (the error's class) changes during
 *   it, so that a second fault is not hidden behind the first. Other failures
 *   are only counted.
 * - {@linkcode Outage.succeeded} logs a warning once when an outage ends,
 *   with the number of failures it lasted, and nothing otherwise.
 *
 * @example One per endpoint
 * ```ts ignore
 * const outage = new Outage("scraping metrics", "scrape");
 * try {
 *   await scrape();
 *   outage.succeeded(); // "pytheus: scraping metrics works again after 5 failed scrapes"
 * } catch (error) {
 *   outage.failed(error); // "pytheus: scraping metrics failed ...", error
 * }
 * ```
 */
export class Outage {
  readonly #what: string;
  readonly #attempt: string;
  #failures = 0;
  #kind: string | undefined;

  /**
   * Creates the tracker of one thing, working until it fails.
   *
   * @param what What is tried, as a gerund phrase: `"scraping metrics"`.
   * @param attempt One try, as a regular noun (an `s` makes the plural):
   * `"scrape"`.
   */
  constructor(what: string, attempt: string) {
    this.#what = what;
    this.#attempt = attempt;
  }

  /**
   * Records a failure; logs it (an error) if it starts an outage or is of
   * another kind than the previous one.
   *
   * @param error What was thrown, passed to the logger as it is.
   */
  failed(error: unknown): void {
    const kind = kindOf(error);
    const before = this.#failures++;
    if (before > 0 && kind === this.#kind) return;
    this.#kind = kind;
    const quiet = `further failures of this kind (${kind}) are not logged until it works again`;
    getLogger().error(
      before === 0
        ? `pytheus: ${this.#what} failed; ${quiet}`
        : `pytheus: ${this.#what} failed differently after ${this.#count(before)}; ${quiet}`,
      error,
    );
  }

  /** Records a success; logs the end of the outage (a warning) if one was on. */
  succeeded(): void {
    if (this.#failures === 0) return;
    const failures = this.#failures;
    this.#failures = 0;
    this.#kind = undefined;
    getLogger().warn(`pytheus: ${this.#what} works again after ${this.#count(failures)}`);
  }

  #count(n: number): string {
    return `${n} failed ${this.#attempt}${n === 1 ? "" : "s"}`;
  }
}

/** The kind of a failure: the class of what was thrown, or its type. */
function kindOf(error: unknown): string {
  if (typeof error !== "object" || error === null) return typeof error;
  const name: unknown = error.constructor?.name;
  return typeof name === "string" && name !== "" ? name : "Object";
}
