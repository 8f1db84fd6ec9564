/**
 * Custom collectors: compute metrics at scrape time (from a database, a
 * queue, another system) instead of observing them as they happen.
 *
 * @module
 */

import type { MetricCollector } from "./registry.ts";

/**
 * Subclass it and implement `collect()`, returning (or async-yielding)
 * metrics created with `registry: null`. Its name is its lowercased class
 * name. Registering is refused with a warning when a metric it yields
 * (synchronously) has a name already registered.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, CustomCollector, Gauge, generateMetrics } from "@pytheus/pytheus";
 * class QueueCollector extends CustomCollector {
 *   collect(): Gauge[] {
 *     const depth = new Gauge({ name: "queue_depth", description: "Jobs queued.", registry: null });
 *     depth.set(7);
 *     return [depth];
 *   }
 * }
 * const registry = new CollectorRegistry();
 * registry.register(new QueueCollector());
 * console.assert((await generateMetrics(registry)).includes("queue_depth 7"));
 * ```
 */
export abstract class CustomCollector {
  /** The collector's name: its class name, lowercased. */
  get name(): string {
    return this.constructor.name.toLowerCase();
  }

  /**
   * Produces the metrics to expose, at every scrape.
   *
   * @returns Metrics, as an iterable or an async iterable.
   */
  abstract collect(): Iterable<MetricCollector> | AsyncIterable<MetricCollector>;

  /**
   * The names of the metrics `collect()` yields, when it yields them synchronously.
   *
   * @returns The names, or `undefined` for an async collector.
   */
  metricNames(): string[] | undefined {
    const metrics = this.collect();
    return Symbol.iterator in metrics ? [...metrics].map((metric) => metric.name) : undefined;
  }

  /**
   * Runs `collect()` and gathers what it yields.
   *
   * @returns The metrics.
   */
  async metrics(): Promise<MetricCollector[]> {
    const metrics = this.collect();
    if (Symbol.iterator in metrics) return [...metrics];
    const out: MetricCollector[] = [];
    for await (const metric of metrics) out.push(metric);
    return out;
  }
}
