/**
 * Values read by a function at scrape time (client_python's `set_function`,
 * prom-client's `collect`): what a series reports when a function gives it.
 * A function that throws, gives something else than its metric's kind of
 * number, or does not settle in time fails its metric's family for that
 * scrape (logged once while it goes on), never the scrape.
 */

import { InvalidSampleError } from "../errors.ts";
import { describeValue } from "../_validation.ts";
import { isPromiseLike } from "./_timing.ts";

/**
 * A function a gauge or counter series is read by at scrape time: it
 * returns the value, or a promise of it.
 *
 * @example
 * ```ts
 * import type { ValueFunction } from "@pytheus/pytheus/types";
 * const queued: ValueFunction = () => 7;
 * ```
 */
export type ValueFunction = () => number | PromiseLike<number>;

/** How long a scrape waits for a function's promise. */
export const VALUE_FUNCTION_TIMEOUT_MS = 5_000;

/** How a function's promise settled. */
type Outcome = { readonly value: unknown } | { readonly error: unknown };

// The scrapes waiting for each promise a function gave: one reaction on the
// promise for all of them, so that a function giving the same promise that
// never settles, scrape after scrape, holds one waiter per scrape in flight,
// not one per scrape ever.
const waiting = new WeakMap<PromiseLike<unknown>, Set<(outcome: Outcome) => void>>();

/** The waiters of a promise, its one reaction attached at the first. */
function waitersOf(promise: PromiseLike<unknown>): Set<(outcome: Outcome) => void> {
  let waiters = waiting.get(promise);
  if (waiters !== undefined) return waiters;
  const settled = waiters = new Set();
  waiting.set(promise, settled);
  const settle = (outcome: Outcome): void => {
    waiting.delete(promise);
    for (const waiter of settled) waiter(outcome);
  };
  Promise.resolve(promise).then((value) => settle({ value }), (error) => settle({ error }));
  return settled;
}

/** The functions a metric's series are read by, and the first failure of a read. */
export class ValueFunctions<C> {
  readonly #metric: string;
  readonly #counter: boolean;
  readonly #functions = new Map<C, ValueFunction>();

  /**
   * @param metric The metric name, for errors.
   * @param counter Whether a value must be a counter's: finite, not negative.
   */
  constructor(metric: string, counter: boolean) {
    this.#metric = metric;
    this.#counter = counter;
  }

  /** Gives `child` its function, or takes it away (`null`). */
  set(child: C, fn: ValueFunction | null): void {
    if (fn === null) this.#functions.delete(child);
    else this.#functions.set(child, fn);
  }

  /** Forgets a removed child's function. */
  delete(child: C): void {
    this.#functions.delete(child);
  }

  /** The function of `child`, if it has one. */
  get(child: C): ValueFunction | undefined {
    return this.#functions.get(child);
  }

  /** How many series have one. */
  get size(): number {
    return this.#functions.size;
  }

  /**
   * Calls a function for a scrape. Never throws nor rejects: a failure is
   * given to `failed` (the first one fails the family) and reads as 0.
   *
   * @param fn The function.
   * @param failed Takes the failure.
   * @returns The value, or a promise of it.
   */
  call(fn: ValueFunction, failed: (error: InvalidSampleError) => void): number | Promise<number> {
    const fail = (problem: string, cause?: unknown): number => {
      failed(new InvalidSampleError(`the function of "${this.#metric}" ${problem}`, { cause }));
      return 0;
    };
    const check = (value: unknown): number =>
      typeof value !== "number"
        ? fail(`gave ${describeValue(value)}, not a number`)
        : this.#counter && !(value >= 0 && value < Infinity)
        ? fail(`gave ${value}, which a counter cannot be`)
        : value;
    let value: unknown;
    let pending: boolean;
    try {
      value = fn();
      // A `then` that throws is the function's failure, as a throw is.
      pending = isPromiseLike(value);
    } catch (error) {
      return fail("threw", error);
    }
    if (!pending) return check(value);
    return new Promise<number>((resolve) => {
      const waiter = (outcome: Outcome): void => {
        clearTimeout(timer);
        resolve("error" in outcome ? fail("rejected", outcome.error) : check(outcome.value));
      };
      const waiters = waitersOf(value as PromiseLike<unknown>);
      waiters.add(waiter);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        resolve(fail(`did not settle within ${VALUE_FUNCTION_TIMEOUT_MS} ms`));
      }, VALUE_FUNCTION_TIMEOUT_MS);
    });
  }
}
