/**
 * Registries: the set of collectors a scrape reads, with an optional name
 * prefix, and `REGISTRY`, the default one, whose target can be swapped.
 *
 * @module
 */

import type { Store, StoredMetric, StoreReading } from "../backends/store.ts";
import { CustomCollector } from "./custom_collector.ts";
import { getLogger } from "../logger.ts";
import type {
  MetricCollector,
  MetricFamilySamples,
  MetricType,
  Sample,
  SampleSink,
  ScrapeSink,
} from "../vocabulary.ts";
import { SampleList } from "./_sample_list.ts";
import { isPromiseLike } from "../metrics/_timing.ts";
import {
  checkIdleSeconds,
  checkLabelNames,
  checkLabelValue,
  checkMaxSeries,
  checkMetricName,
  checkOptions,
  describeName,
  describeValue,
  type NameValidation,
} from "../_validation.ts";
import { InvalidOptionError, InvalidSampleError, PytheusError } from "../errors.ts";
import { escapeName, ESCAPINGS } from "../exposition/_escaping.ts";
import { familyName, familyNames } from "./_family.ts";
import { trustedOf, type Writer } from "./_trusted.ts";
import { checkCollector, checkStates } from "./_collector_checks.ts";
import { Slices } from "../_slices.ts";

/** Anything a registry accepts: a metric or a {@linkcode CustomCollector}. */
export type Collector = MetricCollector | CustomCollector;

/** What a registry does; {@linkcode CollectorRegistry} and {@linkcode REGISTRY} both do it. */
export interface Registry {
  /** Prepended as `<prefix>_` to every name at scrape time. */
  readonly prefix: string | undefined;
  /** The default `maxSeries` of metrics created with this registry. */
  readonly maxSeries?: number | undefined;
  /** Optional: the default `idleSeconds` of metrics created with this registry. */
  readonly idleSeconds?: number | undefined;
  /** Optional: which names its metrics may take (`"legacy"` when absent). */
  readonly nameValidation?: NameValidation | undefined;
  /** Optional: labels the expositions add to every series (none when absent). */
  readonly constLabels?: Readonly<Record<string, string>> | undefined;
  /** Adds a collector; keeps the first and warns when the name is taken. */
  register(collector: Collector): boolean;
  /** Removes a collector; returns whether it was registered. */
  unregister(collector: Collector): boolean;
  /**
   * Optional: whether a registered collector already exposes `name`, as its
   * metric name or as a sample name its type adds (a histogram's `_count`).
   */
  has?(name: string): boolean;
  /** Reads every registered collector. */
  collect(): Promise<MetricFamilySamples[]>;
  /**
   * Optional: reads every registered collector into `sink`, as `collect()`
   * does without building samples (both expositions use it when present).
   * @ignore
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
  /**
   * The default `idleSeconds` of metrics created with this registry: after
   * it, a series whose values have not changed is removed.
   *
   * @default {undefined (never)}
   */
  idleSeconds?: number;
  /**
   * Which metric and label names the registry takes: `"legacy"` ones
   * (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or, as Prometheus 3 does, any non-empty
   * `"utf-8"` string, such as `http.server.request.duration`. A scrape writes
   * the names that fail the legacy pattern as its escaping scheme says (see
   * `generateMetrics()`); names that would be one under some scheme (`a.b`
   * and `a_b` with underscores) are refused, as a clash.
   *
   * @default {"legacy"}
   */
  nameValidation?: NameValidation;
  /**
   * Labels added to every series the registry exposes (prom-client's
   * `setDefaultLabels`, client_golang's constant labels): `{ service: "api" }`.
   * The expositions add them at scrape time, after each series' own labels,
   * so recording never pays for them (`collect()` gives the series without
   * them). A series' own label of one of their names keeps its value, as
   * prom-client's does.
   *
   * @default {{}}
   */
  constLabels?: Readonly<Record<string, string>>;
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
  /** The default `idleSeconds` of metrics created with this registry. */
  readonly idleSeconds: number | undefined;
  /** Which names its metrics may take. */
  readonly nameValidation: NameValidation;
  #constLabels: Readonly<Record<string, string>>;
  readonly #collectors = new Map<string, Collector>();
  // Every name in use (collector names, and the metric names that custom
  // collectors yielded when registered), to the collector using it.
  readonly #names = new Map<string, Collector>();
  // The collectors whose metrics the last scrape left out (already logged):
  // when reading, and when writing each kind of sink (a family may fail in
  // OpenMetrics only, and a text scrape between two must not clear it).
  readonly #failing = new Map<unknown, Set<Collector>>();
  // The first half of the scrape in flight, which scrapes arriving meanwhile share.
  #reading: Promise<Reading> | undefined;

  /**
   * Creates the registry.
   *
   * @param options The prefix and the default `maxSeries`.
   */
  constructor(options: CollectorRegistryOptions = {}) {
    checkOptions("CollectorRegistry", options, [
      "prefix",
      "maxSeries",
      "nameValidation",
      "constLabels",
      "idleSeconds",
    ]);
    const validation = options.nameValidation ?? "legacy";
    if (validation !== "legacy" && validation !== "utf-8") {
      throw new InvalidOptionError(
        `CollectorRegistry: nameValidation must be "legacy" or "utf-8", got ${
          describeValue(validation)
        }`,
      );
    }
    this.nameValidation = validation;
    this.prefix = options.prefix === undefined
      ? undefined
      : checkMetricName(options.prefix, "registry prefix", validation);
    this.maxSeries = options.maxSeries === undefined
      ? undefined
      : checkMaxSeries("the registry", options.maxSeries);
    this.#constLabels = checkConstLabels(options.constLabels ?? {}, validation);
    this.idleSeconds = checkIdleSeconds("the registry", options.idleSeconds);
  }

  /** The labels the expositions add to every series (see `CollectorRegistryOptions.constLabels`). */
  get constLabels(): Readonly<Record<string, string>> {
    return this.#constLabels;
  }

  /**
   * Replaces the labels the expositions add to every series, as
   * prom-client's `setDefaultLabels` does (see
   * `CollectorRegistryOptions.constLabels`).
   *
   * @param labels The labels: `{}` for none.
   * @throws {LabelValidationError} When a name or value is invalid.
   *
   * @example
   * ```ts
   * import { CollectorRegistry, Counter, generateMetrics } from "@pytheus/pytheus";
   * const registry = new CollectorRegistry();
   * new Counter({ name: "jobs_total", description: "Jobs.", registry }).inc();
   * registry.setConstLabels({ service: "billing" });
   * console.assert((await generateMetrics(registry)).includes('jobs_total{service="billing"} 1'));
   * ```
   */
  setConstLabels(labels: Readonly<Record<string, string>>): void {
    this.#constLabels = checkConstLabels(labels, this.nameValidation);
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
      ? [collector.name, ...(collector.metricNames() ?? []).map((name) => this.#prefixed(name))]
      : this.#familyNames(this.#checked(collector));
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
   * Whether a registered collector already exposes `name`: as its metric
   * name, or as a sample name its type adds (`x_count` of a histogram `x`).
   *
   * @param name A metric or sample name, without the registry prefix.
   * @returns Whether registering a metric of that name would be refused.
   *
   * @example
   * ```ts
   * import { CollectorRegistry, Histogram } from "@pytheus/pytheus";
   * const registry = new CollectorRegistry();
   * new Histogram({ name: "latency_seconds", description: "Latency.", registry });
   * console.assert(registry.has("latency_seconds_count"));
   * ```
   */
  has(name: string): boolean {
    return this.#names.has(this.#prefixed(name));
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
   * order, as {@linkcode CollectorRegistry.collect} lists them. A scrape
   * that starts while another one's values are being read shares that
   * reading (one round trip to a shared backend for both), and writes its
   * own sink.
   *
   * @param sink Where the families go.
   * @ignore
   */
  async collectInto(sink: ScrapeSink): Promise<void> {
    // Scrapes at once (two Prometheus servers, a text and an OpenMetrics
    // one) share the reading in flight: one round trip to a shared backend.
    const reading = this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    const { metrics, owners, writers } = await reading;
    const kind = sink.constructor;
    const failing = new Set<Collector>();
    const slices = new Slices();
    for (let i = 0; i < metrics.length; i++) {
      const metric = metrics[i]!;
      sink.family(this.#exposed(metric), metric.description, metric.type, metric.unit);
      try {
        const writing = writers[i]!(sink, slices);
        if (writing !== undefined) await writing;
        if (slices.due()) await slices.next();
      } catch (error) {
        // A bad value or label fails its own family only, where the sink can take it back.
        if (!(error instanceof InvalidSampleError) || sink.discard === undefined) throw error;
        sink.discard();
        this.#leftOut(owners[i]!, `"${metric.name}"`, error, failing);
      }
    }
    this.#failing.set(kind, failing);
  }

  /** The first half of a scrape: every metric (custom collectors expanded), and its values. */
  async #read(): Promise<Reading> {
    const failing = new Set<Collector>();
    const metrics: MetricCollector[] = [];
    const owners: Collector[] = [];
    const taken = new Set<string>();
    const add = (metric: MetricCollector, owner: Collector): void => {
      const names = this.#familyNames(metric);
      const clash = names.find((name) => taken.has(name));
      if (clash !== undefined) {
        getLogger().warn(`Metric "${metric.name}" left out of the scrape: "${clash}" is taken`);
        return;
      }
      for (const name of names) taken.add(name);
      metrics.push(metric);
      owners.push(owner);
    };
    for (const collector of this.#collectors.values()) {
      if (!(collector instanceof CustomCollector)) {
        add(collector, collector);
        continue;
      }
      let yielded: MetricCollector[];
      try {
        yielded = await collector.metrics();
      } catch (error) {
        if (!(error instanceof InvalidSampleError)) throw error;
        this.#leftOut(collector, "(all)", error, failing);
        continue;
      }
      for (const metric of yielded) {
        try {
          add(this.#checked(metric), collector);
        } catch (error) {
          if (!(error instanceof PytheusError)) throw error;
          const named = metric !== null && typeof metric === "object";
          this.#leftOut(
            collector,
            named ? describeName(metric.name) : describeValue(metric),
            error,
            failing,
          );
        }
      }
    }
    // Each metric notes the series removed from before its store is read
    // until it has read: those are not made again from the reading.
    const watched = new Map<MetricCollector, Set<string>>();
    for (const metric of metrics) {
      const trusted = trustedOf(metric);
      if (trusted !== undefined) watched.set(metric, trusted.watch());
    }
    let readings: ReadonlyMap<Store, StoreReading>;
    try {
      readings = await readStores(metrics);
    } catch (error) {
      for (const [metric, removed] of watched) trustedOf(metric)!.unwatch(removed);
      throw error;
    }
    // In slices: many series are read a few milliseconds at a time.
    const slices = new Slices();
    const read: (Writer | Promise<Writer>)[] = [];
    for (const metric of metrics) {
      const writer = readMetric(metric, readings, slices, watched.get(metric));
      // Handled now, awaited with the others: a rejection waits while the event loop runs.
      if (isPromiseLike(writer)) Promise.resolve(writer).catch(() => {});
      read.push(writer);
      if (slices.due()) await slices.next();
    }
    // The first read to fail fails the scrape at once.
    const writers = read.some(isPromiseLike) ? await Promise.all(read) : read as Writer[];
    this.#failing.set(READING, failing);
    return { metrics, owners, writers };
  }

  /** A collector that is not a custom one, checked for this registry. */
  #checked(metric: MetricCollector): MetricCollector {
    return checkStates(
      this.prefix,
      checkCollector(metric, this.nameValidation),
      this.nameValidation,
    );
  }

  /**
   * The names a metric takes in this registry ({@linkcode familyNames}), and,
   * where names may fail the legacy pattern, each of them as every escaping
   * scheme writes it: two metrics whose names one scheme writes alike clash.
   */
  #familyNames(metric: MetricCollector): string[] {
    const exposed = this.#exposed(metric);
    const names = familyNames(exposed, metric.type);
    if (this.nameValidation === "legacy") return names;
    // As the sinks name a family: its exposed name escaped, then the suffixes.
    return [
      ...names,
      ...ESCAPINGS.slice(1).flatMap((escaping) =>
        familyNames(escapeName(exposed, escaping), metric.type).map((name) =>
          `${name} (with ${escaping} escaping)`
        )
      ),
    ];
  }

  /** A name as this registry exposes it: with its prefix. */
  #prefixed(name: string): string {
    return this.prefix === undefined ? name : `${this.prefix}_${name}`;
  }

  /**
   * The name a metric is exposed by, which its family name and sample names
   * follow: prefixed, and for a counter always ending in `_total`, so that
   * its family is the prefix and its own family name (a counter `total` of
   * a registry prefixed `app` is the family `app_total`, as it is `total`
   * without a prefix).
   */
  #exposed(metric: MetricCollector): string {
    return this.#prefixed(
      metric.type === "counter" ? familyName(metric.name, "counter") + "_total" : metric.name,
    );
  }

  /**
   * Logs that a collector's metric was left out of a scrape: once, when the
   * collector starts failing, not at every scrape while it goes on.
   */
  #leftOut(
    owner: Collector,
    metric: string,
    error: Error,
    failing: Set<Collector>,
  ): void {
    // Logged once while it fails in any kind of scrape; a kind forgets it when it succeeds there.
    const logged = failing.has(owner) ||
      [...this.#failing.values()].some((failed) => failed.has(owner));
    failing.add(owner);
    if (logged) return;
    getLogger().error(
      `pytheus: metric ${metric} of collector "${owner.name}" left out of the scrape ` +
        "(logged once while it goes on)",
      error,
    );
  }
}

/**
 * Checks constant labels: names the registry takes (not `__` ones, nor `le`
 * and `quantile`, which buckets and quantiles carry), values strings.
 */
function checkConstLabels(
  labels: unknown,
  validation: NameValidation,
): Readonly<Record<string, string>> {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    throw new InvalidOptionError(
      `constLabels must be a record of label values by name, got ${describeValue(labels)}`,
    );
  }
  const record = labels as Record<string, unknown>;
  const names = checkLabelNames(
    "the registry's constLabels",
    Object.keys(record),
    ["le", "quantile"],
    validation,
  );
  const checked: Record<string, string> = {};
  for (const name of names) checked[name] = checkLabelValue("constLabels", name, record[name]);
  return Object.freeze(checked);
}

/** What the first half of a scrape read, for each sink to write. */
interface Reading {
  /** The metrics, in registration order (custom collectors expanded). */
  readonly metrics: readonly MetricCollector[];
  /** Who gave each metric: itself, or the custom collector that yielded it. */
  readonly owners: readonly Collector[];
  /** What writes each metric's values or samples, as read, into a sink. */
  readonly writers: readonly Writer[];
}

/** The key of what a scrape's reading left out, beside each kind of sink's. */
const READING = Symbol("reading");

/** Writes the samples a collector without writer gave: each is checked as it is written. */
function writeGiven(samples: unknown, sink: SampleSink): void {
  if (samples == null || typeof (samples as Iterable<Sample>)[Symbol.iterator] !== "function") {
    throw new InvalidSampleError(`collect() gave ${describeValue(samples)}, not a list of samples`);
  }
  for (const sample of samples as Iterable<Sample>) sink.addSample(sample);
}

/**
 * The first half of a scrape of one metric: reads it, and gives what writes
 * it. One that throws is a rejected promise, so that the reads made before
 * it are awaited (and their rejections handled) with it.
 */
function readMetric(
  metric: MetricCollector,
  readings: ReadonlyMap<Store, StoreReading>,
  slices: Slices,
  removed: Set<string> | undefined,
): Writer | Promise<Writer> {
  try {
    // Only this library's metrics are read and written by parts: a sink's
    // add() trusts the series it is given. Any other collector's samples
    // are checked as they are written.
    const trusted = trustedOf(metric);
    if (trusted !== undefined && removed !== undefined) {
      return trusted.read(readings.get(trusted.store()), slices, removed);
    }
    return Promise.resolve(metric.collect()).then((samples): Writer => (sink) => {
      writeGiven(samples, sink);
      return undefined;
    });
  } catch (error) {
    return Promise.reject(error);
  }
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

  addCreated(...args: Parameters<SampleSink["addCreated"]>): void {
    this.#samples.addCreated(...args);
  }

  addSample(sample: Sample): void {
    this.#samples.addSample(sample);
  }

  discard(): void {
    this.families.pop();
  }
}

/**
 * Reads each store that reads at scrape time once, with all its metrics the
 * scrape reads.
 *
 * @returns What each store read.
 */
async function readStores(
  metrics: readonly MetricCollector[],
): Promise<ReadonlyMap<Store, StoreReading>> {
  const byStore = new Map<Store, StoredMetric[]>();
  for (const metric of metrics) {
    const access = trustedOf(metric);
    const store = access?.store();
    if (store?.read === undefined) continue;
    const list = byStore.get(store);
    if (list) list.push(access!.stored);
    else byStore.set(store, [access!.stored]);
  }
  const readings = new Map<Store, StoreReading>();
  await Promise.all(
    [...byStore].map(async ([store, list]) => {
      const reading: unknown = await store.read!(list);
      if (!(reading instanceof Map)) {
        throw new PytheusError(`A store's read() gave ${describeValue(reading)}, not a Map`);
      }
      readings.set(store, reading);
    }),
  );
  return readings;
}

/**
 * Reads a registry into a sink: through its `collectInto` when it has one,
 * else from what its `collect()` returns.
 *
 * @param registry The registry.
 * @param sink Where the families go.
 */
export async function scrapeInto(registry: Registry, sink: ScrapeSink): Promise<void> {
  if (registry.collectInto !== undefined) return registry.collectInto(sink);
  for (const { name, description, type, unit, samples } of await registry.collect()) {
    sink.family(name, description, type, unit);
    for (const sample of samples) sink.addSample(sample);
  }
}
