/**
 * The default backend: a plain number in this process' memory.
 *
 * @module
 */

import type { Backend, BackendConfig, BackendMetric } from "./backend.ts";

/**
 * Keeps the value in memory. Fast and exact in one process; each process
 * (or `deno serve --parallel` worker) has its own values.
 *
 * @example
 * ```ts
 * import { loadBackend, SingleProcessBackend } from "@pytheus/pytheus";
 * await loadBackend({ backendClass: SingleProcessBackend });
 * ```
 */
export class SingleProcessBackend implements Backend {
  #value = 0;

  /**
   * Creates the backend of one value.
   *
   * @param _config Unused.
   * @param _metric Unused.
   * @param _histogramBucket Unused.
   */
  constructor(_config?: BackendConfig, _metric?: BackendMetric, _histogramBucket?: string) {}

  /**
   * Adds to the value.
   *
   * @param value The amount.
   */
  inc(value: number): void {
    this.#value += value;
  }

  /**
   * Subtracts from the value.
   *
   * @param value The amount.
   */
  dec(value: number): void {
    this.#value -= value;
  }

  /**
   * Replaces the value.
   *
   * @param value The new value.
   */
  set(value: number): void {
    this.#value = value;
  }

  /**
   * Reads the value.
   *
   * @returns The value.
   */
  get(): number {
    return this.#value;
  }
}
