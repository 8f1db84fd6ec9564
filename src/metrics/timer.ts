/**
 * The handle returned by `time()` and `trackInprogress()` when called
 * without a function: stop it by hand or with `using`.
 *
 * @module
 */

/**
 * A running measurement. `stop()` (or leaving a `using` block) ends it and
 * records it once; later calls do nothing.
 *
 * @example With `using`
 * ```ts
 * import { Histogram } from "@pytheus/pytheus";
 * const h = new Histogram({ name: "work_seconds", description: "Work.", registry: null });
 * {
 *   using _timer = h.time();
 *   // ... work ...
 * }
 * ```
 */
export class Timer implements Disposable {
  #stop: (() => number) | undefined;

  /**
   * Wraps the function that records the measurement.
   *
   * @param stop Records the measurement and returns it.
   */
  constructor(stop: () => number) {
    this.#stop = stop;
  }

  /**
   * Ends the measurement (the first call only).
   *
   * @returns What was recorded (seconds, for timers), or `NaN` when already stopped.
   */
  stop(): number {
    const stop = this.#stop;
    this.#stop = undefined;
    return stop ? stop() : NaN;
  }

  /** Same as `stop()`, for `using`. */
  [Symbol.dispose](): void {
    this.stop();
  }
}
