/**
 * The cell protocol: where one number of a metric lives (a series' value, a
 * histogram bucket, a sum). A `Store` hands cells out, or a
 * {@linkcode BackendClass} constructs them, one per number.
 *
 * @module
 */

import type { MetricType } from "../vocabulary.ts";

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
 * One stored number, a cell. `inc`, `dec` and `set` are called on the
 * application's hot path: they must return at once and never throw. `get`
 * reads the number at scrape time, unless its `Store` read it
 * already; it may be asynchronous, and a scrape calls `get` on every cell
 * before awaiting any of them.
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
  /** Forgets the number: called when its series is removed (`remove()`, `clear()`). */
  remove?(): void;
}

/**
 * One sample of a series a store's read split by labels of its own (see
 * `StoredValue`, one sample per worker): the labels
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

/**
 * A backend class in pytheus' form: a cell class, constructed once per
 * number, as `new BackendClass(config, series, histogramBucket)`, where
 * `histogramBucket` is the bucket's upper bound as written in `le`
 * (`"0.5"`, `"+Inf"`), `"sum"` or `"count"`, and absent for a counter's,
 * gauge's or enum's value (an enum's holds its state's index). Each number
 * reads with its `get()`; a store shared by processes, which reads
 * everything in one go at scrape time, is a `Store` instead.
 *
 * @example
 * ```ts
 * import { type BackendClass, SingleProcessBackend } from "@pytheus/pytheus";
 * const cls: BackendClass = SingleProcessBackend;
 * ```
 */
export interface BackendClass {
  /** Creates the cell of one number. */
  new (config: BackendConfig, metric: BackendMetric, histogramBucket?: string): Backend;
  /** Called once by `loadBackend()` before any cell is constructed (connect, check config). */
  initialize?(config: BackendConfig): void | Promise<void>;
}

/** Constructs the backend of one series (or bucket, or histogram sum). */
export type BackendFactory = (child: BackendMetric, histogramBucket?: string) => Backend;
