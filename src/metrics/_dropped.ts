/**
 * Counting what a metric refuses without failing the call that brought it:
 * label sets past `maxSeries`, exemplars that break the rules. Each kind is a
 * counter of its own in the registry where the metric is exposed, labelled
 * by metric, and warned about once per metric.
 */

import { renderLabels } from "../exposition/_format.ts";
import { getLogger } from "../logger.ts";
import type { MetricCollector, Sample } from "../vocabulary.ts";
import type { Registry } from "../registry/registry.ts";

/** What is counted, and the counter that counts it. */
const KINDS = {
  series: {
    name: "pytheus_series_dropped_total",
    description: "Label sets refused because their metric reached its maxSeries.",
  },
  exemplars: {
    name: "pytheus_exemplars_dropped_total",
    description: "Exemplars dropped for breaking the rules; their observations were recorded.",
  },
} as const;

/** What a metric can refuse: a label set (`series`), or an exemplar. */
export type DropKind = keyof typeof KINDS;

/** One kind's counter, `{metric="<name>"}`, in this process' memory. */
class DroppedCounter implements MetricCollector {
  readonly name: string;
  readonly description: string;
  readonly type = "counter";
  readonly #counts = new Map<string, number>();

  constructor(kind: DropKind) {
    this.name = KINDS[kind].name;
    this.description = KINDS[kind].description;
  }

  /**
   * Counts one refusal.
   *
   * @returns Whether it is the metric's first (`reset()` zeroes the counts,
   * and the metric stays known: it is not the first again).
   */
  add(metric: string): boolean {
    const count = this.#counts.get(metric);
    this.#counts.set(metric, (count ?? 0) + 1);
    return count === undefined;
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

const counters = new WeakMap<Registry, Partial<Record<DropKind, DroppedCounter>>>();

/**
 * Counts that `metric` refused something of `kind`; warns the first time.
 *
 * @param registry Where the metric is exposed.
 * @param kind What was refused.
 * @param metric The metric's name.
 * @param warning The warning, made only the first time; none when the
 * caller logs the refusal itself.
 */
export function countDropped(
  registry: Registry,
  kind: DropKind,
  metric: string,
  warning?: () => string,
): void {
  let kinds = counters.get(registry);
  if (kinds === undefined) counters.set(registry, kinds = {});
  let counter = kinds[kind];
  if (counter === undefined) {
    counter = kinds[kind] = new DroppedCounter(kind);
    registry.register(counter);
  }
  if (counter.add(metric) && warning !== undefined) {
    getLogger().warn(`${warning()}; counted in ${counter.name}, warned about once`);
  }
}
