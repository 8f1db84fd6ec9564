/**
 * Sync or async alike: runs a function and calls back when it has finished,
 * thrown or not; goes on from a value now, or once it settled.
 */

import { Timer } from "./timer.ts";

/** True for a promise or any thenable. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/**
 * `next(value)` now, or once `value` settled when it is a promise.
 *
 * @param value A value, or a promise of one.
 * @param next What to do with it.
 * @returns What `next` returns, as a promise when `value` was one.
 */
export function thenOrNow<T, U>(
  value: T | Promise<T>,
  next: (value: T) => U | Promise<U>,
): U | Promise<U> {
  return isPromiseLike(value) ? Promise.resolve(value).then(next) : next(value as T);
}

/** Called when a run ends: `threw` tells whether it threw (or rejected), with what. */
export type Done = (threw: boolean, error: unknown) => void;

/**
 * Calls `fn()`; calls `done` once it returns, throws, or (for a promise)
 * settles; gives back what `fn` gave, rethrowing its error.
 */
export function runAndThen<T>(fn: () => T, done: Done): T {
  let result: T;
  try {
    result = fn();
  } catch (error) {
    done(true, error);
    throw error;
  }
  if (!isPromiseLike(result)) {
    done(false, undefined);
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      done(false, undefined);
      return value;
    },
    (error) => {
      done(true, error);
      throw error;
    },
  ) as T;
}

/**
 * Measures seconds until `fn` finishes (thrown or not) and hands them to
 * `record`; without `fn`, returns a {@linkcode Timer} to stop by hand or `using`.
 */
export function measure<T>(record: (seconds: number) => void, fn?: () => T): T | Timer {
  const start = performance.now();
  const stop = (): number => {
    const elapsed = (performance.now() - start) / 1000;
    record(elapsed);
    return elapsed;
  };
  return fn === undefined ? new Timer(stop) : runAndThen(fn, stop);
}

/**
 * Wraps `fn` so that each call goes through `run` (which times it or counts
 * its errors), with `this` and the arguments passed on: a wrapped method
 * still sees its object.
 */
export function wrapWith<A extends unknown[], T>(
  fn: (...args: A) => T,
  run: (call: () => T) => T,
): (...args: A) => T {
  return function (this: unknown, ...args: A): T {
    return run(() => fn.apply(this, args));
  };
}
