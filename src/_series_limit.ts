/** Counting the label sets refused because a metric reached its `maxSeries`. */

import { renderLabels } from "./_format.ts";
import { getLogger } from "./logger.ts";
import type { Sample } from "./metric.ts";
import type { MetricCollector, Registry } from "./registry.ts";

/** `pytheus_series_dropped_total{metric="<name>"}`, one per registry, in this process' memory. */
class DroppedSeries implements MetricCollector {
  readonly name = "pytheus_series_dropped_total";
  readonly description = "Label sets refused because their metric reached its maxSeries.";
  readonly type = "counter";
  readonly #counts = new Map<string, number>();

  /** Counts one refusal; returns the metric's count so far. */
  add(metric: string): number {
    const count = (this.#counts.get(metric) ?? 0) + 1;
    this.#counts.set(metric, count);
    return count;
  }

  reset(): void {
    for (const metric of this.#counts.keys()) this.#counts.set(metric, 0);
  }

  collect(): Promise<Sample[]> {
    return Promise.resolve([...this.#counts].map(([metric, value]) => {
      const labels = { metric };
      return { suffix: "", labels, value, labelText: renderLabels(labels) };
    }));
  }
}

const counters = new WeakMap<Registry, DroppedSeries>();

/** Records that `metric` refused a new label set; warns the first time. */
export function seriesDropped(registry: Registry, metric: string, maxSeries: number): void {
  let dropped = counters.get(registry);
  if (dropped === undefined) {
    dropped = new DroppedSeries();
    registry.register(dropped);
    counters.set(registry, dropped);
  }
  if (dropped.add(metric) === 1) {
    getLogger().warn(
      `Metric "${metric}" reached maxSeries (${maxSeries}): new label sets are refused ` +
        `and counted in pytheus_series_dropped_total`,
    );
  }
}
