/**
 * The collectors whose samples the exposition writes without checking them
 * again: this library's metrics, whose values and labels were checked where
 * they came in. Any other collector's samples go through `collect()` and are
 * checked as they are written. A scrape also learns from here which store
 * each metric reads from.
 */

import type { Store, StoredMetric, StoreReading } from "../backends/store.ts";
import type { SampleSink } from "../vocabulary.ts";
import type { Slices } from "../_slices.ts";

/** What a scrape reaches of a metric of this library. */
export interface Trusted {
  /** What the store is told of the metric. */
  readonly stored: StoredMetric;
  /** The store in force for the metric (it binds at its first series). */
  store(): Store;
  /**
   * Starts noting the series removed from now on, before its store is read.
   *
   * @returns The note, for `read` (or `unwatch` when the store's read failed).
   */
  watch(): Set<string>;
  /** Stops a note `watch` started. */
  unwatch(removed: Set<string>): void;
  /**
   * The first half of a scrape: reads its values, in slices of the scrape's
   * budget, making no series that the note says was removed; then stops the
   * note.
   *
   * @returns What writes the values read, as a promise when they are not read yet.
   */
  read(
    reading: StoreReading | undefined,
    slices: Slices,
    removed: Set<string>,
  ): Writer | Promise<Writer>;
}

/**
 * The second half of a scrape of one metric: writes what its read found into
 * a sink (each scrape sharing the read writes its own), in slices of the
 * scrape's budget.
 *
 * @returns A promise when the event loop ran before every sample was written.
 */
export type Writer = (sink: SampleSink, slices: Slices | undefined) => Promise<void> | undefined;

const trusted = new WeakMap<object, Trusted>();

/**
 * Marks a metric of this library as one a scrape reads and writes by parts.
 *
 * @param metric The metric.
 * @param access What a scrape reaches of it.
 */
export function trust(metric: object, access: Trusted): void {
  trusted.set(metric, access);
}

/**
 * What a scrape reaches of a metric of this library.
 *
 * @param collector The collector.
 * @returns Its access, `undefined` for any other collector.
 */
export function trustedOf(collector: object): Trusted | undefined {
  return trusted.get(collector);
}
