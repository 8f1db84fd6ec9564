/**
 * Custom collectors: compute metrics at scrape time (from a database, a
 * queue, another system) instead of observing them as they happen.
 *
 * @module
 */

import { InvalidSampleError } from "../errors.ts";
import type { MetricCollector } from "../vocabulary.ts";
import { describeValue } from "../_validation.ts";
import { familyNames } from "./_family.ts";
import { isPromiseLike } from "../metrics/_timing.ts";

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
   * @returns Metrics, as an iterable, an async iterable, or a promise of an
   * iterable (an `async collect()`).
   */
  abstract collect():
    | Iterable<MetricCollector>
    | AsyncIterable<MetricCollector>
    | Promise<Iterable<MetricCollector>>;

  /**
   * The names the metrics `collect()` yields take, when it yields them
   * synchronously: each one's name and the sample names its type adds (a
   * counter `x` takes `x`, `x_total` and `x_created`), which the registry
   * keeps from other metrics.
   *
   * @returns The names, or `undefined` for an async collector.
   */
  metricNames(): string[] | undefined {
    const metrics: unknown = this.collect();
    if (isPromiseLike(metrics)) {
      // An async collect(): read at the scrape, where its failure is reported.
      metrics.then(undefined, () => {});
      return undefined;
    }
    if (metrics === null || typeof metrics !== "object" || !(Symbol.iterator in metrics)) {
      return undefined;
    }
    // What is not a metric is refused at the scrape, where it is reported.
    return [...(metrics as Iterable<MetricCollector | null>)].flatMap((metric) =>
      typeof metric?.name === "string" ? familyNames(metric.name, metric.type) : []
    );
  }

  /**
   * Runs `collect()` and gathers what it yields.
   *
   * @returns The metrics.
   */
  async metrics(): Promise<MetricCollector[]> {
    const metrics: unknown = await this.collect();
    if (metrics !== null && typeof metrics === "object") {
      if (Symbol.iterator in metrics) return [...(metrics as Iterable<MetricCollector>)];
      if (Symbol.asyncIterator in metrics) {
        const out: MetricCollector[] = [];
        for await (const metric of metrics as AsyncIterable<MetricCollector>) out.push(metric);
        return out;
      }
    }
    throw new InvalidSampleError(
      `collect() of "${this.name}" gave ${describeValue(metrics)}, not an iterable of metrics`,
    );
  }
}
