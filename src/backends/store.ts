/**
 * The store protocol: a backend as one object that hands out a value cell
 * per stored number and reads everything back once per scrape. A shared
 * store (a database, another process) implements it in a page; see
 * `examples/sqlite_store.ts`.
 *
 * @module
 */

import type { Backend, BackendConfig, LabelledValue } from "./backend.ts";
import type { MetricType } from "../vocabulary.ts";

/**
 * One number a store keeps, named completely and canonically: the cells of
 * a metric (same name, same registry prefix) get the same `key` exactly
 * when they hold the same number, whichever process or label order made
 * them.
 *
 * @example
 * ```ts
 * import type { StoredSeries } from "@pytheus/pytheus";
 * const bucket: StoredSeries = {
 *   metric: "shop/latency_seconds",
 *   key: '{"route":"/"}|0.5',
 *   registryPrefix: "shop",
 *   name: "latency_seconds",
 *   type: "histogram",
 *   labelValues: { route: "/" },
 *   sample: "0.5",
 * };
 * ```
 */
export interface StoredSeries {
  /**
   * The metric: its name, or `<registry prefix>/<name>` for a metric of a
   * prefixed registry (no metric name holds a `/`).
   */
  readonly metric: string;
  /**
   * The number within the metric: the series' labels as JSON with sorted
   * names (`{"code":"200","method":"GET"}`), then `|<sample>` unless
   * `sample` is `""`.
   */
  readonly key: string;
  /** The prefix of the registry the metric was made in (`""` for none). */
  readonly registryPrefix: string;
  /** The metric name, without registry prefix. */
  readonly name: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The series' labels, in the metric's label order. */
  readonly labelValues: Readonly<Record<string, string>>;
  /**
   * Which number of the series: `""` for a counter's, gauge's or enum's
   * value (an enum's is its state's index), a histogram bucket's upper bound
   * as `le` writes it (`"0.5"`, `"+Inf"`; buckets are kept one by one, not
   * cumulated), or `"sum"` and `"count"` (a summary's).
   */
  readonly sample: string;
}

/** What {@linkcode Store.read} is told about each metric a scrape reads. */
export interface StoredMetric {
  /** The metric, as {@linkcode StoredSeries.metric} names it. */
  readonly metric: string;
  /** The prefix of the registry the metric was made in (`""` for none). */
  readonly registryPrefix: string;
  /** The metric name, without registry prefix. */
  readonly name: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The label names, in the metric's order. */
  readonly labelNames: readonly string[];
  /**
   * The samples each series holds, as {@linkcode StoredSeries.sample} names
   * them; a native histogram's end with `"native"`, its native buckets, which
   * only the built-in shared stores keep (they are no cell of yours).
   */
  readonly samples: readonly string[];
}

/**
 * What a read found of one number: its value, or (for a gauge split by
 * store-specific labels, such as one sample per worker) a value per label
 * set added to the series' own; an empty list hides the series.
 */
export type StoredValue = number | readonly LabelledValue[];

/**
 * What {@linkcode Store.read} found, by metric (as
 * {@linkcode StoredSeries.metric} names it) and then by key: every number
 * the store holds of those metrics, those other processes made included.
 * The scrape shows a series of the reading that this process never made
 * (its cells are made first), and reads a cell missing from the reading
 * with its `get()`.
 */
export type StoreReading = ReadonlyMap<string, ReadonlyMap<string, StoredValue>>;

/**
 * A backend as one object: where every metric bound to it keeps its
 * numbers. Hand it to `loadBackend({ store })`, or name a class whose
 * instances are stores in `loadBackend({ backendClass })` or
 * `PYTHEUS_BACKEND_CLASS` (it is constructed once, with the configuration).
 *
 * `cell()` is called when a series is made, and the cell's `inc`, `dec` and
 * `set` on the application's hot path: they must return at once and never
 * throw. A store shared by several processes writes them later, in
 * batches, and answers a scrape from {@linkcode Store.read}.
 *
 * @example A store keeping numbers in a map (a database would batch writes)
 * ```ts
 * import { type Backend, loadBackend, type Store, type StoredSeries } from "@pytheus/pytheus";
 * class MapStore implements Store {
 *   readonly values = new Map<string, number>();
 *   cell(series: StoredSeries): Backend {
 *     const id = `${series.metric} ${series.key}`;
 *     const values = this.values;
 *     return {
 *       inc: (v) => void values.set(id, (values.get(id) ?? 0) + v),
 *       dec: (v) => void values.set(id, (values.get(id) ?? 0) - v),
 *       set: (v) => void values.set(id, v),
 *       get: () => values.get(id) ?? 0,
 *       remove: () => void values.delete(id),
 *     };
 *   }
 * }
 * await loadBackend({ store: new MapStore() });
 * ```
 */
export interface Store {
  /**
   * Makes the cell of one number. Its `remove()`, if any, is called when
   * the series is removed (`metric.remove()`, `metric.clear()`); its `get()`
   * reads it when the store has no `read()`, or when a reading lacks it.
   *
   * @param series What the cell holds.
   * @returns The cell.
   */
  cell(series: StoredSeries): Backend;
  /**
   * Called by `loadBackend()` before the store is in force: connect, check
   * the configuration. A store that fails here is not loaded.
   */
  open?(): void | Promise<void>;
  /**
   * Reads every number of these metrics, once per scrape of a registry
   * (concurrent scrapes of it share one read; `metric.collect()` reads its
   * metric alone): write what is pending first, so that the reading holds
   * this process' changes. A rejection fails the scrape (a
   * `BackendUnavailableError` answers 503).
   *
   * @param metrics The metrics the scrape reads.
   * @returns What the store holds of them.
   */
  read?(metrics: readonly StoredMetric[]): StoreReading | Promise<StoreReading>;
  /**
   * Forgets every series of a metric, other processes' too: called by
   * `metric.clear()` after each of this process' cells was told `remove()`.
   *
   * @param metric The metric.
   */
  clear?(metric: StoredMetric): void;
  /** Writes what is pending. */
  flush?(): Promise<void>;
  /** Writes what is pending and lets go of connections; metrics bound to the store stop sharing. */
  close?(): Promise<void>;
}

/**
 * A class whose instances are stores, as `loadBackend({ backendClass })` and
 * `PYTHEUS_BACKEND_CLASS` take it: constructed once, with the
 * configuration (`PYTHEUS_BACKEND_CONFIG`), then opened. `loadBackend()`
 * tells it from a {@linkcode BackendClass} by the `cell` method of its
 * instances.
 *
 * @example
 * ```ts ignore
 * import { loadBackend } from "@pytheus/pytheus";
 * import { SqliteStore } from "./examples/sqlite_store.ts";
 * await loadBackend({ backendClass: SqliteStore, backendConfig: { path: "metrics.db" } });
 * ```
 */
export interface StoreClass {
  /** Creates the store. */
  new (config: BackendConfig): Store;
}
