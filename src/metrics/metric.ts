/**
 * What every metric type shares: validated names, required and default
 * labels, and the children, one per complete label set, found without
 * collision and created once.
 *
 * @module
 */

import type { LabelValues, MetricType, Sample } from "../vocabulary.ts";
import type { BackendFactory, BackendMetric } from "../backends/backend.ts";
import { currentBackend, noteBound } from "../backends/load_backend.ts";
import type { Store, StoredMetric, StoredValue } from "../backends/store.ts";
import { metricId, parseKey } from "../backends/_series_key.ts";
import { type IdleMetric, idleStoreOf } from "../backends/_idle_stores.ts";
import { getLogger } from "../logger.ts";
import { countDropped } from "./_dropped.ts";
import { type ChildFactory, type ChildParent, DETACH, type MetricChild, ROW } from "./child.ts";
import { type ValueFunction, ValueFunctions } from "./_value_function.ts";
import { IdleSeries } from "./_idle_series.ts";
import { InvalidOptionError } from "../errors.ts";
import { SampleList } from "../registry/_sample_list.ts";
import type { Slices } from "../_slices.ts";
import { IN_MEMORY, IN_MEMORY_STORE } from "../backends/_in_memory.ts";
import { SeriesTable } from "./_series_table.ts";
import { trust, type Writer } from "../registry/_trusted.ts";
import { nameValidationOf, registryOption } from "../_entry_options.ts";
import { isPromiseLike, thenOrNow } from "./_timing.ts";
import { LabelIndex } from "./_label_index.ts";
import { cellsIn, marksOf, type NativeCells, nativeIn } from "./_cells.ts";
import { type MetricAccess, type Readings, readMetric, writeReadings } from "./_metric_read.ts";
import { SeriesKeys } from "./_series_keys.ts";
import {
  checkDefaults,
  labelValue,
  type MetricOptions,
  stringsOf,
  unknownLabel,
} from "./metric_options.ts";
import {
  checkFamilyName,
  checkHelp,
  checkIdleSeconds,
  checkLabelNames,
  checkLabelRecord,
  checkLabelValue,
  checkMaxSeries,
  checkMetricName,
  checkUnit,
  own,
} from "../_validation.ts";
import type { Registry } from "../registry/registry.ts";
import { REGISTRY, RegistryProxy } from "../registry/default_registry.ts";

/** The store a metric is bound to, and what makes its series' cells and native histograms there. */
interface Bound {
  readonly store: Store;
  readonly of: BackendFactory;
  readonly native: NativeCells | undefined;
}

/** Common part of Counter, Gauge and Histogram: identity, labels and children. */
export abstract class Metric<L extends string, C extends MetricChild<L, C>> {
  /** The metric name, without registry prefix. */
  readonly name: string;
  /**
   * The prefix of the registry the metric was created in (`""` for none, and
   * for `registry: null`): a store shared by several registries keeps
   * `shop_orders_total` and `admin_orders_total` apart by it.
   */
  readonly registryPrefix: string;
  /** The help text. */
  readonly description: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The unit (`# UNIT` in OpenMetrics), if given. */
  readonly unit: string | undefined;
  /** The label names, in the order samples show them. */
  readonly requiredLabels: readonly L[];
  /** The default label values. */
  readonly defaultLabels: LabelValues<L>;
  readonly #make: ChildFactory<L, C>;
  // What the children reach of this metric, and what its scrape does.
  readonly #parent: ChildParent<L, C>;
  readonly #access: MetricAccess<C>;
  // The store of this metric's series: the one in force when it made its
  // first series (not when it was made), fixed from then on.
  #backend: Bound | undefined;
  // What a store is told of this metric.
  readonly #stored: StoredMetric;
  // The store keys of the series, by row.
  readonly #keys: SeriesKeys;
  // The child observed by calling the metric itself, made at its first use.
  #own: C | undefined;
  // Whether every label has a default: the metric's own child is a series.
  readonly #defaulted: boolean;
  readonly #maxSeries: number;
  readonly #registry: Registry;
  #overflow: C | undefined;
  #warnedUnfit = false;
  // The notes of removals, one per read of the store in progress (see #watch).
  #watching: Set<Set<string>> | undefined;
  // The label values and creation times of the complete children, by row.
  readonly #series: SeriesTable;
  // The complete children, by label values.
  readonly #index: LabelIndex<C>;
  // The children read by a function at scrape time, when any is.
  #functions: ValueFunctions<C> | undefined;
  // When each series last changed, for a metric with an idle time; what its
  // store is told of it, when the store handles idle series itself.
  readonly #idle: IdleSeries<C> | undefined;
  readonly #idleMetric: IdleMetric | undefined;

  /**
   * The store this metric's series keep their numbers in: the one in force
   * (`loadBackend()`) when it made its first series, or, before it made any,
   * the one in force now. A metric defined at a module's top level, before
   * the application loads its backend, uses that backend.
   */
  get #store(): Store {
    return this.#backend?.store ?? currentBackend().store;
  }

  /** The child observed by calling the metric itself (unobservable if labels are missing). */
  protected get own(): C {
    return this.#own ?? this.#makeOwn();
  }

  /** Makes the metric's own child; one refused by `maxSeries` is not kept, as a slot may free up. */
  #makeOwn(): C {
    const child = this.requiredLabels.length === 0 ? this.#create({}) : this.labels({});
    if (child !== this.#overflow) this.#own = child;
    return child;
  }

  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The metric options.
   * @param type The metric type.
   * @param reservedLabels Label names this type forbids.
   * @param make Creates a child.
   * @param samples The numbers a series keeps in its store (see
   * `StoredSeries.sample`), in the order its child makes their cells.
   */
  constructor(
    options: MetricOptions<L>,
    type: MetricType,
    reservedLabels: readonly string[],
    make: ChildFactory<L, C>,
    samples: readonly string[] = [""],
  ) {
    const validation = nameValidationOf(options.registry);
    this.name = checkFamilyName(checkMetricName(options.name, "metric name", validation), type);
    this.description = checkHelp(this.name, options.description);
    this.type = type;
    this.unit = checkUnit(this.name, type, options.unit);
    this.requiredLabels = checkLabelNames(
      this.name,
      options.requiredLabels ?? [],
      reservedLabels,
      validation,
    ) as readonly L[];
    this.defaultLabels = checkDefaults(this.name, this.requiredLabels, options.defaultLabels ?? {});
    this.#series = new SeriesTable(this.requiredLabels);
    this.#index = new LabelIndex(this.requiredLabels, this.#series);
    this.#defaulted = this.requiredLabels.length > 0 &&
      this.requiredLabels.every((name) => own(this.defaultLabels, name) !== undefined);
    this.#make = make;
    const registry = options.registry === null
      ? null
      : registryOption(`Metric "${this.name}"`, options.registry);
    // What this metric drops is counted in its registry; a metric without one
    // (yielded by a custom collector) counts it in REGISTRY's target of now.
    this.#registry = registry instanceof RegistryProxy
      ? registry.registry
      : registry ?? REGISTRY.registry;
    this.registryPrefix = registry?.prefix ?? "";
    this.#stored = {
      metric: metricId(this),
      registryPrefix: this.registryPrefix,
      name: this.name,
      type,
      labelNames: this.requiredLabels,
      samples,
    };
    this.#keys = new SeriesKeys(this.requiredLabels, this.#series);
    this.#parent = {
      name: this.name,
      registryPrefix: this.registryPrefix,
      type,
      requiredLabels: this.requiredLabels,
      nameValidation: validation,
      defaultLabels: this.defaultLabels,
      series: this.#series,
      labels: (values) => this.labels(values),
      readBy: (child, fn) => this.#readBy(child, fn),
      readStore: () => this.#readStore(),
      keyOf: (child) => this.#keyOf(child),
      dropExemplar: (problem) => this.#dropExemplar(problem),
      nativeCells: () => this.#backend?.native,
    };
    this.#access = {
      id: this.#stored.metric,
      name: this.name,
      requiredLabels: this.requiredLabels,
      children: (slices) => this.#children(slices),
      keyOf: (child) => this.#keyOf(child),
      keyOfLabels: (labels) => this.#keys.of({ labels }),
      hasRoom: () => this.#index.size < this.#maxSeries,
      refuse: () => void this.#refuse(),
      make: (labels, key) => {
        const child = this.#resolve(labels as LabelValues<L>, true)!;
        const row = child[ROW]();
        if (typeof row === "number") this.#keys.keep(row, key);
        return child;
      },
      warnUnfit: (key, error) => this.#warnUnfit(key, error),
      functions: () => this.#functions,
    };
    this.#maxSeries = checkMaxSeries(`"${this.name}"`, options.maxSeries ?? registry?.maxSeries);
    const idleSeconds = checkIdleSeconds(
      `"${this.name}"`,
      options.idleSeconds ?? registry?.idleSeconds,
    );
    // A metric without labels has one series, its own: never idle. An info's
    // and a state set's series hold facts that do not change: not idle either.
    const holdsFacts = type === "info" || type === "stateset";
    if (holdsFacts && options.idleSeconds !== undefined) {
      throw new InvalidOptionError(
        `idleSeconds of "${this.name}": an ${
          type === "info" ? "Info" : "Enum"
        }'s series hold facts, which do not change: none idles`,
      );
    }
    this.#idle = idleSeconds === undefined || this.requiredLabels.length === 0 || holdsFacts
      ? undefined
      : new IdleSeries(idleSeconds);
    this.#idleMetric = this.#idle === undefined ? undefined : {
      idleMs: idleSeconds! * 1000,
      forget: (key, unlessScraped) => this.#forgetIdle(key, unlessScraped),
    };
    trust(this, {
      stored: this.#stored,
      store: () => this.#store,
      watch: () => this.#watch(),
      unwatch: (log) => this.#unwatch(log),
      read: (reading, slices, removed) => {
        let read: Readings<C> | Promise<Readings<C>>;
        try {
          read = readMetric(this.#access, reading, slices, removed);
          const idle = this.#idle;
          if (idle !== undefined) {
            read = thenOrNow(read, (readings) => {
              const expired: C[] = [];
              return thenOrNow(
                idle.expire(
                  readings,
                  (child) =>
                    child !== this.#own && typeof child[ROW]() === "number" &&
                    this.#functions?.get(child) === undefined,
                  (c) => expired.push(c),
                  slices,
                ),
                (kept) => {
                  this.#expire(expired);
                  return kept;
                },
              );
            });
          }
        } catch (error) {
          this.#unwatch(removed);
          throw error;
        }
        const writer = (readings: Readings<C>): Writer => (sink, slices) =>
          writeReadings(readings, sink, slices);
        if (!isPromiseLike(read)) {
          this.#unwatch(removed);
          return writer(read);
        }
        return Promise.resolve(read).then(writer).finally(() => this.#unwatch(removed));
      },
    });
    registry?.register(this);
  }

  /**
   * Returns the child for a label set. A complete set (given values plus
   * defaults) gives the same cached child every time; an incomplete one gives
   * a partial child to complete with `.labels()`.
   *
   * @param values Label values, by name.
   * @returns The child.
   *
   * @example
   * ```ts
   * import { Counter } from "@pytheus/pytheus";
   * const c = new Counter({ name: "hits", description: "Hits.", requiredLabels: ["path"] as const, registry: null });
   * c.labels({ path: "/" }).inc();
   * ```
   */
  labels(values: LabelValues<L>): C {
    return this.#index.lookup(values) ?? this.#resolve(values, true)!;
  }

  /** Finds the child of a label set; creates it only when `create` is set. */
  #resolve(values: LabelValues<L>, create: boolean): C | undefined {
    const names = this.requiredLabels;
    const given = checkLabelRecord(this.name, names, values);
    const defaults = this.defaultLabels as Record<string, string | undefined>;
    const index = this.#index;
    let node: unknown = index.root;
    let complete = names.length > 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      let value = labelValue(given, name);
      if (value !== undefined) {
        if (typeof value !== "string") checkLabelValue(this.name, name, value);
      } else {
        value = own(defaults, name);
        if (value === undefined) {
          complete = false;
          continue;
        }
      }
      if (node !== undefined) node = index.step(node, value as string, i);
    }
    for (const key in given) {
      if (given[key] !== undefined && !names.includes(key as L)) {
        throw unknownLabel(this.name, names, key);
      }
    }
    if (names.length === 0) return this.own;
    if (!complete) {
      return create ? this.#make(this.#parent, stringsOf(this.name, given), undefined) : undefined;
    }
    if (node !== undefined) return node as C;
    return create ? this.#create(given) : undefined;
  }

  /**
   * Reads every sample of every complete child. All backends are read before
   * any is awaited, so a remote backend can batch one scrape into one round trip.
   *
   * @returns The samples.
   *
   * @example
   * ```ts
   * import { Gauge } from "@pytheus/pytheus";
   * const g = new Gauge({ name: "temp", description: "Temperature.", registry: null });
   * g.set(21.5);
   * const [sample] = await g.collect();
   * console.assert(sample?.value === 21.5);
   * ```
   */
  async collect(): Promise<Sample[]> {
    const list = new SampleList();
    const store = this.#store;
    const removed = this.#watch();
    try {
      const reading = store.read === undefined ? undefined : await store.read([this.#stored]);
      writeReadings(await readMetric(this.#access, reading, undefined, removed), list, undefined);
    } finally {
      this.#unwatch(removed);
    }
    return list.samples;
  }

  /**
   * Starts noting the keys of the series removed from now on: a read of the
   * store started now may still hold them, and must not make them again.
   *
   * @returns The note, until {@linkcode Metric.#unwatch}.
   */
  #watch(): Set<string> {
    const removed = new Set<string>();
    (this.#watching ??= new Set()).add(removed);
    return removed;
  }

  #unwatch(removed: Set<string>): void {
    this.#watching?.delete(removed);
  }

  /**
   * Reads what the metric's store holds of it, when the store reads at
   * scrape time (a child's `collect()` calls it).
   *
   * @returns Every number of every series, by key, or `undefined`.
   */
  #readStore(): Promise<ReadonlyMap<string, StoredValue> | undefined> | undefined {
    const store = this.#store;
    if (store.read === undefined) return undefined;
    const stored = this.#stored;
    return Promise.resolve(store.read([stored])).then((reading) => reading.get(stored.metric));
  }

  /**
   * The key of a child's series in the store: its labels as JSON with sorted
   * names (see `StoredSeries.key`).
   *
   * @param child The child.
   * @returns The key.
   */
  #keyOf(child: C): string {
    return this.#keys.of(child[ROW]());
  }

  /**
   * Removes the child of a complete label set: it is no longer exposed, and
   * its backend forgets it (in Redis too).
   *
   * @param values The label values (defaults fill the rest).
   * @returns Whether such a child existed.
   *
   * @example
   * ```ts
   * import { Gauge } from "@pytheus/pytheus";
   * const g = new Gauge({ name: "user_sessions", description: "Sessions.", requiredLabels: ["user"], registry: null });
   * g.labels({ user: "ann" }).set(2);
   * console.assert(g.remove({ user: "ann" }));
   * ```
   */
  remove(values: LabelValues<L>): boolean {
    // Looked up, never created: removing an unknown label set must not make a series.
    const child = this.#resolve(values, false);
    if (child === undefined || this.requiredLabels.length === 0) return false;
    this.#forget(child);
    return true;
  }

  /**
   * Removes every child (a metric without labels keeps its one series).
   *
   * @example
   * ```ts
   * import { Counter } from "@pytheus/pytheus";
   * const c = new Counter({ name: "hits", description: "Hits.", requiredLabels: ["path"], registry: null });
   * c.labels({ path: "/" }).inc();
   * c.clear();
   * ```
   */
  clear(): void {
    // A snapshot: forgetting a defaulted metric's own child adds its fresh one.
    for (const child of this.#childList()) this.#forget(child);
    // A shared store also holds series other processes made: it forgets them,
    // and a read of it in progress makes none of them again ("" notes a clear).
    if (this.requiredLabels.length > 0) {
      this.#store.clear?.(this.#stored);
      for (const removed of this.#watching ?? []) removed.add("");
    }
  }

  /**
   * Sets every series back to zero (the label sets stay), forgets exemplars
   * and restarts `_created`: for tests, and for `registry.reset()`.
   *
   * @example
   * ```ts
   * import { Counter } from "@pytheus/pytheus";
   * const c = new Counter({ name: "jobs_total", description: "Jobs.", registry: null });
   * c.inc(3);
   * c.reset();
   * ```
   */
  reset(): void {
    for (const child of this.#childList()) child.reset();
  }

  /** Every complete child: the tree's leaves, grouped by their first label's value. */
  #childList(): C[] {
    return this.#children(undefined) as C[];
  }

  /** Every complete child, listed in slices when given a budget (a promise then, if the event loop ran). */
  #children(slices: Slices | undefined): C[] | Promise<C[]> {
    if (this.requiredLabels.length === 0) return [this.own];
    // A metric observable through its defaults shows its own series (at 0)
    // from the start, if maxSeries leaves it a slot.
    if (this.#own === undefined && this.#defaulted && this.#index.size < this.#maxSeries) {
      void this.own;
    }
    return this.#index.children(slices);
  }

  /** Has a child read by a function at scrape time; the table of them is made at the first. */
  #readBy(child: C, fn: ValueFunction | null): void {
    // A removed series (or the one past maxSeries) is exposed no more: its function would never run.
    if (typeof child[ROW]() !== "number" || (fn === null && this.#functions === undefined)) return;
    (this.#functions ??= new ValueFunctions(this.name, this.type === "counter")).set(child, fn);
  }

  /**
   * Removes the series a scrape found idle, as `remove()` does, unless the
   * store expires them itself.
   */
  #expire(children: readonly C[]): void {
    if (children.length === 0) return;
    const bound = this.#backend;
    const expire = bound === undefined ? undefined : idleStoreOf(bound.store)?.expire;
    if (expire === undefined) {
      for (const child of children) this.#forget(child);
      return;
    }
    expire(this.#stored, children.map((child) => this.#keyOf(child)));
  }

  /**
   * Forgets a series in this process only, when its store asks (see
   * `IdleMetric.forget`): never the metric's own.
   */
  #forgetIdle(key: string, unlessScraped: boolean): boolean {
    const labels = parseKey(key)?.labels;
    if (labels === undefined) return false;
    let child: C | undefined;
    try {
      child = this.#resolve(labels as LabelValues<L>, false);
    } catch {
      return false;
    }
    if (child === undefined || child === this.#own) return false;
    if (unlessScraped && this.#idle?.follows(child)) return false;
    this.#forget(child);
    return true;
  }

  #forget(child: C): void {
    if (this.requiredLabels.length === 0) return;
    this.#functions?.delete(child);
    this.#idle?.delete(child);
    const row = child[ROW]() as number;
    this.#index.delete(child);
    if (this.#watching !== undefined && this.#watching.size > 0) {
      const key = this.#keyOf(child);
      for (const removed of this.#watching) removed.add(key);
    }
    child.release();
    child[DETACH]();
    this.#keys.forget(row);
    this.#series.free(row);
    // A metric observable through its defaults keeps a (fresh) series of its own.
    if (child === this.#own) this.#own = this.labels({});
  }

  /** Binds this metric to the store in force: at its first series. */
  #bind(): Bound {
    const { store } = currentBackend();
    noteBound(store);
    if (store === IN_MEMORY_STORE) return { store, of: IN_MEMORY, native: undefined };
    const keyOf = (child: BackendMetric): string => this.#keyOf(child as C);
    const idle = this.#idleMetric;
    const hooks = idle === undefined ? undefined : idleStoreOf(store);
    hooks?.track?.(this.#stored, idle!);
    const cell = hooks?.cell;
    const marks = cell === undefined ? undefined : marksOf(idle!, keyOf);
    return {
      store,
      of: cellsIn(store, this.#stored, keyOf, cell && marks && { marks, cell }),
      native: nativeIn(store, this.#stored, keyOf, marks),
    };
  }

  /** Warns, once, that a store holds a series that does not fit this metric's labels. */
  #warnUnfit(key: string, error?: Error): void {
    if (this.#warnedUnfit) return;
    this.#warnedUnfit = true;
    getLogger().warn(
      `pytheus: series ${JSON.stringify(key)} of "${this.name}" in its store does not fit this ` +
        `process' labels (${this.requiredLabels.join(", ") || "none"}): not reported`,
      ...(error ? [error] : []),
    );
  }

  /** A refused label set gets the one sink child: observable, never collected. */
  #refuse(): C {
    countDropped(
      this.#registry,
      "series",
      this.name,
      () =>
        `Metric "${this.name}" reached maxSeries (${this.#maxSeries}): new label sets are refused`,
    );
    return this.#overflow ??= this.#make(this.#parent, {}, IN_MEMORY);
  }

  /**
   * Counts an exemplar dropped for breaking the rules, in
   * `pytheus_exemplars_dropped_total{metric="<name>"}`, and warns the first time.
   *
   * @param problem What was wrong with it.
   */
  #dropExemplar(problem: string): void {
    countDropped(
      this.#registry,
      "exemplars",
      this.name,
      () => `Exemplar dropped on "${this.name}" (its value was recorded): ${problem}`,
    );
  }

  #create(given: Record<string, unknown>): C {
    const names = this.requiredLabels;
    const labelValues: Record<string, string> = {};
    for (const name of names) {
      const value = labelValue(given, name) ?? own(this.defaultLabels, name);
      // Checked once, when the series is made (or refused, past maxSeries):
      // a lookup that finds it never needs to.
      labelValues[name] = checkLabelValue(this.name, name, value);
    }
    if (this.#index.size >= this.#maxSeries) return this.#refuse();
    const row = this.#series.add(labelValues);
    let child: C;
    try {
      child = this.#make(this.#parent, row, (this.#backend ??= this.#bind()).of);
    } catch (error) {
      // A backend that refused the series (a bad label for it) leaves no row behind.
      this.#keys.forget(row);
      this.#series.free(row);
      throw error;
    }
    if (names.length > 0) this.#index.insert(child);
    return child;
  }
}
