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
    try {
      value = fn();
    } catch (error) {
      return fail("threw", error);
    }
    if (!isPromiseLike(value)) return check(value);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<number>((resolve) => {
      timer = setTimeout(
        () => resolve(fail(`did not settle within ${VALUE_FUNCTION_TIMEOUT_MS} ms`)),
        VALUE_FUNCTION_TIMEOUT_MS,
      );
    });
    const settled = Promise.resolve(value).then(check, (error) => fail("rejected", error));
    return Promise.race([settled, late]).finally(() => clearTimeout(timer));
  }
}
