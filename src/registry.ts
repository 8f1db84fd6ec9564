/**
 * Registries: the set of collectors a scrape reads, with an optional name
 * prefix, and `REGISTRY`, the default one, whose target can be swapped.
 *
 * @module
 */

import type { BackendClass, CollectedMetric, MetricType } from "./backends/backend.ts";
import { CustomCollector } from "./custom_collector.ts";
import { getLogger } from "./logger.ts";
import type { Sample, SampleSink } from "./metric.ts";
import { SampleList, scrapeInto } from "./_child.ts";
import { isPromiseLike } from "./_timing.ts";
import { checkMetricName } from "./_validation.ts";

/** What a registry reads from a metric: `Counter`, `Gauge` and `Histogram` are such. */
export interface MetricCollector {
  /** The metric name, without prefix. */
  readonly name: string;
  /** The help text. */
  readonly description: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The unit (OpenMetrics `# UNIT`), when given. */
  readonly unit?: string | undefined;
  /** The backend class, whose `prepareCollect` hook a scrape calls first. */
  readonly backendClass?: BackendClass;
  /** Reads the samples. */
  collect(): Promise<Sample[]>;
  /**
   * Optional, with `writeSamples`: reads the values without building
   * samples, the first half of a scrape (a promise when a backend is remote).
   * Metrics have it; a registry calls `collect()` when it is absent.
   */
  readValues?(): unknown;
  /**
   * Optional, with `readValues`: writes the samples of what `readValues()`
   * returned (awaited) into `sink`.
   */
  writeSamples?(values: unknown, sink: SampleSink): void;
  /** Sets every value back to zero (`registry.reset()` calls it when present). */
  reset?(): void;
}

/** Anything a registry accepts: a metric or a {@linkcode CustomCollector}. */
export type Collector = MetricCollector | CustomCollector;

/** One metric family as scraped: name (with the registry prefix) and samples. */
export interface MetricFamilySamples {
  /** The full name, `<prefix>_<name>` when the registry has a prefix. */
  readonly name: string;
  /** The help text. */
  readonly description: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The unit (OpenMetrics `# UNIT`), when given. */
  readonly unit?: string | undefined;
  /** The samples, grouped by series. */
  readonly samples: readonly Sample[];
}

/**
 * Where a registry writes a scrape: each family's head, then its samples.
 *
 * @example A sink listing the family names
 * ```ts
 * import { CollectorRegistry, Gauge, type ScrapeSink } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * new Gauge({ name: "temp", description: "Temperature.", registry });
 * const names: string[] = [];
 * const sink: ScrapeSink = { family: (name) => names.push(name), add() {}, addSample() {} };
 * await registry.collectInto(sink);
 * console.assert(names[0] === "temp");
 * ```
 */
export interface ScrapeSink extends SampleSink {
  /**
   * Starts a family: the samples added next are its own.
   *
   * @param name The full name, `<prefix>_<name>` when the registry has a prefix.
   * @param description The help text.
   * @param type The metric type.
   * @param unit The unit (OpenMetrics `# UNIT`), when given.
   */
  family(name: string, description: string, type: MetricType, unit: string | undefined): void;
}

/** What a registry does; {@linkcode CollectorRegistry} and {@linkcode REGISTRY} both do it. */
export interface Registry {
  /** Prepended as `<prefix>_` to every name at scrape time. */
  readonly prefix: string | undefined;
  /** The default `maxSeries` of metrics created with this registry. */
  readonly maxSeries?: number | undefined;
  /** Adds a collector; keeps the first and warns when the name is taken. */
  register(collector: Collector): boolean;
  /** Removes a collector; returns whether it was registered. */
  unregister(collector: Collector): boolean;
  /** Reads every registered collector. */
  collect(): Promise<MetricFamilySamples[]>;
  /**
   * Optional: reads every registered collector into `sink`, as `collect()`
   * does without building samples (both expositions use it when present).
   */
  collectInto?(sink: ScrapeSink): Promise<void>;
  /** Sets every value of every registered metric back to zero. */
  reset(): void;
}

/** Options of {@linkcode CollectorRegistry}. */
export interface CollectorRegistryOptions {
  /**
   * Prepended as `<prefix>_` to every metric name at scrape time.
   *
   * @default {undefined}
   */
  prefix?: string;
  /**
   * The default `maxSeries` of metrics created with this registry.
   *
   * @default {undefined (unlimited)}
   */
  maxSeries?: number;
}

/**
 * A set of collectors, read together by a scrape.
 *
 * @example A registry with a prefix
 * ```ts
 * import { CollectorRegistry, Counter, generateMetrics } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry({ prefix: "shop" });
 * new Counter({ name: "orders_total", description: "Orders.", registry }).inc();
 * const text = await generateMetrics(registry);
 * console.assert(text.includes("shop_orders_total 1"));
 * ```
 */
export class CollectorRegistry implements Registry {
  /** Prepended as `<prefix>_` to every name. */
  readonly prefix: string | undefined;
  /** The default `maxSeries` of metrics created with this registry. */
  readonly maxSeries: number | undefined;
  readonly #collectors = new Map<string, Collector>();
  // Every name in use (collector names, and the metric names that custom
  // collectors yielded when registered), to the collector using it.
  readonly #names = new Map<string, Collector>();

  /**
   * Creates the registry.
   *
   * @param options The prefix and the default `maxSeries`.
   */
  constructor(options: CollectorRegistryOptions = {}) {
    this.prefix = options.prefix === undefined
      ? undefined
      : checkMetricName(options.prefix, "registry prefix");
    this.maxSeries = options.maxSeries;
  }

  /**
   * Adds a collector. A name already taken (by a collector, or by a metric a
   * custom collector yields) is refused with a warning; the first stays.
   *
   * @param collector A metric or a custom collector.
   * @returns Whether it was added.
   */
  register(collector: Collector): boolean {
    const names = collector instanceof CustomCollector
      ? [collector.name, ...collector.metricNames() ?? []]
      : exposedNames(collector);
    const clash = names.find((name) => this.#names.has(name));
    if (clash !== undefined) {
      getLogger().warn(
        `Collector "${collector.name}" not registered: the name "${clash}" is already registered`,
      );
      return false;
    }
    this.#collectors.set(collector.name, collector);
    for (const name of names) this.#names.set(name, collector);
    return true;
  }

  /**
   * Removes a collector.
   *
   * @param collector The collector to remove.
   * @returns Whether it was registered.
   */
  unregister(collector: Collector): boolean {
    if (this.#collectors.get(collector.name) !== collector) return false;
    for (const [name, owner] of this.#names) if (owner === collector) this.#names.delete(name);
    return this.#collectors.delete(collector.name);
  }

  /**
   * Sets every value of every registered metric back to zero; the label sets
   * stay. For tests: with a shared backend it resets the shared values too.
   *
   * @example
   * ```ts
   * import { CollectorRegistry, Counter, generateMetrics } from "@pytheus/pytheus";
   * const registry = new CollectorRegistry();
   * new Counter({ name: "jobs_total", description: "Jobs.", registry }).inc(5);
   * registry.reset();
   * console.assert((await generateMetrics(registry)).includes("jobs_total 0"));
   * ```
   */
  reset(): void {
    for (const collector of this.#collectors.values()) {
      if (!(collector instanceof CustomCollector)) collector.reset?.();
    }
  }

  /**
   * Reads every collector: all backends are read before any is awaited.
   * A family whose name an earlier one took (possible only with collectors
   * that yield asynchronously) is left out with a warning.
   *
   * @returns The families, in registration order.
   */
  async collect(): Promise<MetricFamilySamples[]> {
    const families = new FamilyList();
    await this.collectInto(families);
    return families.families;
  }

  /**
   * Reads every collector into `sink`, family by family, in registration
   * order, as {@linkcode CollectorRegistry.collect} lists them.
   *
   * @param sink Where the families go.
   */
  async collectInto(sink: ScrapeSink): Promise<void> {
    const metrics: MetricCollector[] = [];
    for (const collector of this.#collectors.values()) {
      if (collector instanceof CustomCollector) metrics.push(...await collector.metrics());
      else metrics.push(collector);
    }
    const seen = new Set<string>();
    const unique = metrics.filter((metric) => {
      if (!seen.has(metric.name)) return seen.add(metric.name);
      getLogger().warn(`Metric "${metric.name}" left out of the scrape: the name is already taken`);
      return false;
    });
    await prepareCollect(unique);
    const read = unique.map(readMetric);
    const values = read.some(isPromiseLike) ? await Promise.all(read) : read;
    const prefix = this.prefix === undefined ? "" : this.prefix + "_";
    for (let i = 0; i < unique.length; i++) {
      const metric = unique[i]!;
      sink.family(prefix + metric.name, metric.description, metric.type, metric.unit);
      if (hasWriter(metric)) metric.writeSamples(values[i], sink);
      else for (const sample of values[i] as Sample[]) sink.addSample(sample);
    }
  }
}

/** The first half of a scrape of one metric: its values, or its samples when it has no writer. */
function readMetric(metric: MetricCollector): unknown {
  return hasWriter(metric) ? metric.readValues() : metric.collect();
}

function hasWriter(
  metric: MetricCollector,
): metric is MetricCollector & Required<Pick<MetricCollector, "readValues" | "writeSamples">> {
  return metric.readValues !== undefined && metric.writeSamples !== undefined;
}

/** The sink `collect()` writes into: families of {@linkcode Sample} objects. */
class FamilyList implements ScrapeSink {
  readonly families: MetricFamilySamples[] = [];
  #samples = new SampleList();

  family(name: string, description: string, type: MetricType, unit: string | undefined): void {
    this.#samples = new SampleList();
    this.families.push({ name, description, type, unit, samples: this.#samples.samples });
  }

  add(...args: Parameters<SampleSink["add"]>): void {
    this.#samples.add(...args);
  }

  addSample(sample: Sample): void {
    this.#samples.addSample(sample);
  }
}

// The sample names a type adds to its metric name in the text format: a
// histogram "x" and a counter "x_count" would mix their samples up.
const SAMPLE_SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["_sum", "_count"],
  info: ["_info"],
};

/** The metric's name and the sample names its type adds to it. */
function exposedNames({ name, type }: MetricCollector): string[] {
  return [name, ...(SAMPLE_SUFFIXES[type] ?? []).map((suffix) => name + suffix)];
}

/** Calls each backend class' `prepareCollect` hook once, with its metrics. */
async function prepareCollect(metrics: readonly MetricCollector[]): Promise<void> {
  const byClass = new Map<BackendClass, CollectedMetric[]>();
  for (const metric of metrics) {
    const cls = metric.backendClass;
    if (cls?.prepareCollect === undefined || !isCollectedMetric(metric)) continue;
    const list = byClass.get(cls);
    if (list) list.push(metric);
    else byClass.set(cls, [metric]);
  }
  await Promise.all([...byClass].map(([cls, list]) => cls.prepareCollect!(list)));
}

function isCollectedMetric(metric: MetricCollector): metric is MetricCollector & CollectedMetric {
  const candidate = metric as Partial<CollectedMetric>;
  return Array.isArray(candidate.requiredLabels) && typeof candidate.labels === "function";
}

/**
 * The default registry, delegating to a target that `setRegistry()` replaces.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, REGISTRY } from "@pytheus/pytheus";
 * const previous = REGISTRY.registry;
 * REGISTRY.setRegistry(new CollectorRegistry({ prefix: "app" }));
 * REGISTRY.setRegistry(previous);
 * ```
 */
export class RegistryProxy implements Registry {
  #target: Registry;

  /**
   * Creates a proxy delegating to `target`.
   *
   * @param target The registry to start with.
   */
  constructor(target: Registry) {
    this.#target = target;
  }

  /** The registry currently delegated to. */
  get registry(): Registry {
    return this.#target;
  }

  /**
   * Replaces the registry delegated to; metrics created afterwards register there.
   *
   * @param registry The new target.
   */
  setRegistry(registry: Registry): void {
    this.#target = registry;
  }

  /** The target's prefix. */
  get prefix(): string | undefined {
    return this.#target.prefix;
  }

  /** The target's default `maxSeries`. */
  get maxSeries(): number | undefined {
    return this.#target.maxSeries;
  }

  /**
   * Registers with the target.
   *
   * @param collector A metric or a custom collector.
   * @returns Whether it was added.
   */
  register(collector: Collector): boolean {
    return this.#target.register(collector);
  }

  /**
   * Unregisters from the target.
   *
   * @param collector The collector to remove.
   * @returns Whether it was registered.
   */
  unregister(collector: Collector): boolean {
    return this.#target.unregister(collector);
  }

  /** Resets the target's metrics. */
  reset(): void {
    this.#target.reset();
  }

  /**
   * Reads the target.
   *
   * @returns The families.
   */
  collect(): Promise<MetricFamilySamples[]> {
    return this.#target.collect();
  }

  /**
   * Reads the target into `sink` (through `collect()` when the target cannot).
   *
   * @param sink Where the families go.
   */
  collectInto(sink: ScrapeSink): Promise<void> {
    return scrapeInto(this.#target, sink);
  }
}

/**
 * The default registry: metrics register here unless given another.
 *
 * @example
 * ```ts
 * import { generateMetrics, REGISTRY } from "@pytheus/pytheus";
 * const text = await generateMetrics(REGISTRY);
 * ```
 */
export const REGISTRY: RegistryProxy = new RegistryProxy(new CollectorRegistry());
