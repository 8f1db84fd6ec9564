/**
 * The backend protocol: where a metric's values live. A backend holds one
 * number for one series (or one histogram bucket, or a histogram's sum).
 *
 * @module
 */

/** The kind of a metric, as written after `# TYPE`. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "info" | "stateset";

/** Free-form backend configuration, as read from `PYTHEUS_BACKEND_CONFIG`. */
export type BackendConfig = Record<string, unknown>;

/** What a backend is told about the series it stores. */
export interface BackendMetric {
  /** The metric name, without any registry prefix. */
  readonly name: string;
  /**
   * The prefix of the registry the metric was created in (`""` for none, or
   * for `registry: null`): with the name, what tells two metrics apart in a
   * store shared by several registries.
   */
  readonly registryPrefix: string;

  /** The metric type. */
  readonly type: MetricType;
  /**
   * The complete label set of the series, in the metric's label order: a new
   * record at each access, so read it once, in the constructor.
   */
  readonly labelValues: Readonly<Record<string, string>>;
}

/**
 * One stored value. `inc`, `dec` and `set` are called on the application's
 * hot path: they must return at once and never throw. `get` is called at
 * scrape time and may be asynchronous; a scrape calls `get` on every backend
 * before awaiting any of them, so a backend living in another process can
 * gather all calls of one tick into a single round trip.
 *
 * @example An in-memory backend
 * ```ts
 * import type { Backend } from "@pytheus/pytheus";
 * class MyBackend implements Backend {
 *   #v = 0;
 *   inc(v: number): void { this.#v += v; }
 *   dec(v: number): void { this.#v -= v; }
 *   set(v: number): void { this.#v = v; }
 *   get(): number { return this.#v; }
 * }
 * ```
 */
export interface Backend {
  /** Adds `value` (never negative for counters). */
  inc(value: number): void;
  /** Subtracts `value`. */
  dec(value: number): void;
  /** Replaces the value. */
  set(value: number): void;
  /** Reads the value. */
  get(): number | Promise<number>;
  /** Forgets the series: called when its child is removed (`remove()`, `clear()`). */
  remove?(): void;
  /**
   * Optional, for counters and gauges: read at scrape time before `get()`.
   * `undefined` means "read `get()`"; an array exposes the series as one
   * sample per entry, the entry's labels added to the series' own (one sample
   * per worker, labelled `worker`), or hides it when empty.
   */
  getLabelled?(): readonly LabelledValue[] | undefined;
}

/**
 * One sample of a series split by {@linkcode Backend.getLabelled}: the labels
 * added to the series' own, and the value.
 *
 * @example
 * ```ts
 * import type { LabelledValue } from "@pytheus/pytheus";
 * const perWorker: LabelledValue = { labels: { worker: "a1b2" }, value: 3 };
 * ```
 */
export interface LabelledValue {
  /** Labels added to the series' labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** The value. */
  readonly value: number;
}

/** What the `prepareCollect` hook is told about each metric a scrape reads. */
export interface CollectedMetric {
  /** The metric name, without registry prefix. */
  readonly name: string;
  /**
   * The prefix of the registry the metric was created in (`""` for none, or
   * for `registry: null`): with the name, what tells two metrics apart in a
   * store shared by several registries.
   */
  readonly registryPrefix: string;

  /** The metric type. */
  readonly type: MetricType;
  /** The label names. */
  readonly requiredLabels: readonly string[];
  /** Creates (or finds) the child of a complete label set, e.g. one another process created. */
  labels(values: Readonly<Record<string, string>>): unknown;
}

/**
 * A backend class: constructed once per series, bucket and histogram sum,
 * as `new BackendClass(config, metric, histogramBucket)`, where
 * `histogramBucket` is the bucket's upper bound as written in `le`
 * (`"0.5"`, `"+Inf"`) or `"sum"`, and absent for counters and gauges.
 * Summaries pass `"sum"` and `"count"`; an enum has one backend, holding its state's index.
 *
 * @example
 * ```ts
 * import { type BackendClass, SingleProcessBackend } from "@pytheus/pytheus";
 * const cls: BackendClass = SingleProcessBackend;
 * ```
 */
export interface BackendClass {
  /** Creates the backend of one series (or bucket, or sum). */
  new (config: BackendConfig, metric: BackendMetric, histogramBucket?: string): Backend;
  /** Called once by `loadBackend()` before any backend is constructed (connect, check config). */
  initialize?(config: BackendConfig): void | Promise<void>;
  /**
   * Called once per scrape with every metric of this class the scrape is
   * about to read, before any `get()`: the place to fetch all values in one
   * round trip and to create the children of label sets that other processes
   * made (with `metric.labels()`).
   */
  prepareCollect?(metrics: readonly CollectedMetric[]): void | Promise<void>;
  /**
   * Called when a metric with labels is cleared (`metric.clear()`), after
   * each of its children's backends was told `remove()`: the place to forget
   * the series that only other processes made.
   */
  clear?(metric: {
    readonly name: string;
    readonly registryPrefix: string;
    readonly type: MetricType;
  }): void;
}
