/**
 * The collectors whose samples the exposition writes without checking them
 * again: this library's metrics, whose values and labels were checked where
 * they came in. Any other collector's samples go through `collect()` and are
 * checked as they are written.
 */

const trusted = new WeakSet<object>();

/** Marks a metric of this library as one whose `writeSamples()` a scrape calls. */
export function trust(metric: object): void {
  trusted.add(metric);
}

/** Whether a scrape may call the collector's `readValues()` and `writeSamples()`. */
export function isTrusted(collector: object): boolean {
  return trusted.has(collector);
}
