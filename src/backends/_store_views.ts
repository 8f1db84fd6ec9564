/**
 * The built-in stores' own views of a reading: objects that read like a
 * `Map` without being one (the Redis mirror's values by slot), which the
 * core takes where it takes a store's reading of a metric. A store of
 * one's own hands over a `Map`: its reading is checked as untrusted input.
 */

const views = new WeakSet<object>();

/**
 * Marks a view as one of a built-in store's.
 *
 * @param view The view.
 * @returns The view.
 */
export function markStoreView<T extends object>(view: T): T {
  views.add(view);
  return view;
}

/**
 * Whether a reading of a metric is a `Map`, or a built-in store's view.
 *
 * @param value What a store read for a metric.
 * @returns Whether the core may read it as a map.
 */
export function isStoreReadingOfMetric(value: unknown): boolean {
  return value instanceof Map || (typeof value === "object" && value !== null && views.has(value));
}
