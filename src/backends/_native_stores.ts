/**
 * The stores that keep native histograms: the built-in shared ones register
 * here when they are made (no public protocol: a store of one's own keeps
 * classic histograms only, and its native series are refused).
 */

import type { StoredSeries } from "./store.ts";
import type { NativeCell, NativeSettings } from "../metrics/_native_histogram.ts";
import type { IdleMark } from "./_idle_stores.ts";

/**
 * Makes the native histogram of one series in a store.
 *
 * @param series The series (its sample `"native"`).
 * @param settings The histogram's native settings.
 * @param mark The series' mark, in a store that finds idle series at flush time.
 * @returns The cell.
 */
export type NativeFactory = (
  series: StoredSeries,
  settings: NativeSettings,
  mark?: IdleMark,
) => NativeCell;

const factories = new WeakMap<object, NativeFactory>();

/**
 * Says that a store keeps native histograms, and how.
 *
 * @param store The store.
 * @param factory What makes a series' native histogram in it.
 */
export function keepsNative(store: object, factory: NativeFactory): void {
  factories.set(store, factory);
}

/**
 * How a store keeps native histograms, if it does.
 *
 * @param store The store.
 * @returns What makes a series' native histogram in it, or `undefined`.
 */
export function nativeFactoryOf(store: object): NativeFactory | undefined {
  return factories.get(store);
}

/**
 * A native histogram's settings for a shared store: it never resets
 * (`minResetDurationSeconds` is ignored), as a series every process adds to
 * cannot start again from one process' decision without making the others'
 * counts fall; past `maxBuckets` it widens its zero bucket or lowers its
 * resolution instead.
 *
 * @param settings The histogram's native settings.
 * @returns The same without resets.
 */
export function sharedSettings(settings: NativeSettings): NativeSettings {
  return settings.minResetMs === 0 ? settings : { ...settings, minResetMs: 0 };
}
