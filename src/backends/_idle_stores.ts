/**
 * Idle series in the built-in shared stores (no public protocol; a store of
 * one's own gets what `remove()` does). A metric with an idle time tells its
 * store how to forget one of its series in this process only (its child
 * leaves the metric; its cells are released, which the store makes local
 * while it asks). The Redis store forgets, at flush time, the series whose
 * cells took no change for the idle time, in a process whose scrapes do not
 * follow them; the multi-worker store expires the series a scrape found
 * idle in every worker.
 */

import type { Backend } from "./backend.ts";
import type { StoredMetric, StoredSeries } from "./store.ts";

/** What a metric with an idle time gives its store. */
export interface IdleMetric {
  /** The idle time, in milliseconds. */
  readonly idleMs: number;
  /**
   * Forgets the series of `key` in this process only.
   *
   * @param key The series' key.
   * @param unlessScraped Leave it if this process' scrapes follow it (they decide).
   * @returns Whether it was forgotten.
   */
  forget(key: string, unlessScraped: boolean): boolean;
}

/**
 * One series of a metric with an idle time, as the Redis store sees it:
 * every cell of the series shares it, and each flush that takes a change of
 * one stamps it.
 */
export class IdleMark {
  /** When a flush last took a change of the series (or it was made), as `performance.now()`. */
  changed: number = performance.now();

  /**
   * @param metric Its metric.
   * @param key The series' key.
   */
  constructor(readonly metric: IdleMetric, readonly key: string) {}
}

/** What a store that handles idle series itself does with them. */
export interface IdleStore {
  /** Learns of a metric with an idle time (when it binds to the store). */
  track?(metric: StoredMetric, idle: IdleMetric): void;
  /** Makes a cell of a series of such a metric, with the series' mark. */
  cell?(series: StoredSeries, mark: IdleMark): Backend;
  /**
   * Expires the series a scrape found idle (instead of removing them).
   *
   * @param metric Their metric.
   * @param keys Their keys.
   */
  expire?(metric: StoredMetric, keys: readonly string[]): void;
}

const stores = new WeakMap<object, IdleStore>();

/**
 * Says that a store handles idle series itself, and how.
 *
 * @param store The store.
 * @param idle How.
 */
export function handlesIdle(store: object, idle: IdleStore): void {
  stores.set(store, idle);
}

/**
 * How a store handles idle series, if it does.
 *
 * @param store The store.
 * @returns How, or `undefined`.
 */
export function idleStoreOf(store: object): IdleStore | undefined {
  return stores.get(store);
}
