/**
 * The collectors whose samples the exposition writes without checking them
 * again: this library's metrics, whose values and labels were checked where
 * they came in. Any other collector's samples go through `collect()` and are
 * checked as they are written. A scrape also learns from here which store
 * each metric reads from.
 */

import type { Store, StoredMetric } from "./backends/store.ts";

/** What a scrape needs of a metric's store. */
export interface StoreAccess {
  /** What the store is told of the metric. */
  readonly stored: StoredMetric;
  /** The store in force for the metric (it binds at its first series). */
  store(): Store;
}

const trusted = new WeakMap<object, StoreAccess>();

/**
 * Marks a metric of this library as one whose `writeSamples()` a scrape calls.
 *
 * @param metric The metric.
 * @param access Its store.
 */
export function trust(metric: object, access: StoreAccess): void {
  trusted.set(metric, access);
}

/** Whether a scrape may call the collector's `readValues()` and `writeSamples()`. */
export function isTrusted(collector: object): boolean {
  return trusted.has(collector);
}

/**
 * The store of a metric of this library.
 *
 * @param collector The collector.
 * @returns Its store access, `undefined` for any other collector.
 */
export function storeAccess(collector: object): StoreAccess | undefined {
  return trusted.get(collector);
}
