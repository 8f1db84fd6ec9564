/**
 * Histogram: counts observations (request durations, response sizes) in
 * buckets, with their sum and count.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { BucketError, InvalidOptionError } from "../errors.ts";
import { IN_MEMORY } from "../backends/_in_memory.ts";
import {
  type NativeCell,
  NativeHistogram,
  type NativeHistogramOptions,
  type NativeSettings,
  nativeSettings,
} from "./_native_histogram.ts";
import { mergeNative, NativeParts } from "./_native_merge.ts";
import { canonicalNumber, formatValue } from "../exposition/_format.ts";
import type { MetricOptions } from "./metric_options.ts";
import type { ChildParent, SeriesRow } from "./child.ts";
import type { NativeCells } from "./_cells.ts";
import type { BackendFactory } from "../backends/backend.ts";
import type {
  Exemplar,
  ExtraLabel,
  NativeHistogramState,
  RecordedExemplar,
  SampleSink,
} from "../vocabulary.ts";
import {
  assertObservable,
  notAValue,
  readStored,
  settled,
  storedEntry,
  unobservable,
} from "./_child.ts";
import type { StoredValue } from "../backends/store.ts";
import { TimedChild, TimedMetric } from "./timed.ts";
import { metricOptions } from "./metric_options.ts";
import { describeValue, observation } from "../_validation.ts";

/** The default bucket upper bounds, in seconds (`+Inf` is appended). */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
]);

/**
 * `count` bucket bounds `width` apart, from `start`: `linearBuckets(10, 10, 3)`
 * is `[10, 20, 30]` (each bound computed from `start`, not added up, so no
 * rounding accumulates).
 *
 * @param start The first bound.
 * @param width The distance between bounds, above 0.
 * @param count How many bounds, a whole number from 1.
 * @returns The bounds, for `buckets`.
 * @throws {BucketError} When a parameter is out of its range.
 *
 * @example
 * ```ts
 * import { Histogram, linearBuckets } from "@pytheus/pytheus";
 * new Histogram({ name: "queue_depth", description: "Depth.", buckets: linearBuckets(10, 10, 5), registry: null });
 * ```
 */
export function linearBuckets(start: number, width: number, count: number): number[] {
  checkSeries("linearBuckets", start, width > 0 && width < Infinity, "width", width, count);
  return Array.from({ length: count }, (_, i) => start + i * width);
}

/**
 * `count` bucket bounds each `factor` times the one before, from `start`:
 * `exponentialBuckets(1, 2, 4)` is `[1, 2, 4, 8]`.
 *
 * @param start The first bound, above 0.
 * @param factor The ratio of a bound to the one before it, above 1.
 * @param count How many bounds, a whole number from 1.
 * @returns The bounds, for `buckets`.
 * @throws {BucketError} When a parameter is out of its range.
 *
 * @example
 * ```ts
 * import { exponentialBuckets, Histogram } from "@pytheus/pytheus";
 * new Histogram({ name: "size_bytes", description: "Sizes.", buckets: exponentialBuckets(100, 10, 5), registry: null });
 * ```
 */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  checkSeries(
    "exponentialBuckets",
    start,
    factor > 1 && factor < Infinity,
    "factor",
    factor,
    count,
  );
  if (!(start > 0)) {
    throw new BucketError(
      `exponentialBuckets() needs a start above 0, got ${describeValue(start)}`,
    );
  }
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

/** Checks the parameters of a bucket series. */
function checkSeries(
  caller: string,
  start: number,
  stepValid: boolean,
  stepName: string,
  step: unknown,
  count: number,
): void {
  if (typeof start !== "number" || !Number.isFinite(start)) {
    throw new BucketError(`${caller}() needs a finite start, got ${describeValue(start)}`);
  }
  if (typeof step !== "number" || !stepValid) {
    throw new BucketError(`${caller}() got ${stepName} ${describeValue(step)}: out of range`);
  }
  if (!Number.isInteger(count) || count < 1 || count > 10_000) {
    throw new BucketError(`${caller}() needs a count from 1 to 10000, got ${describeValue(count)}`);
  }
}

/** Options of {@linkcode Histogram}. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /**
   * Bucket upper bounds, strictly increasing; `+Inf` is appended. With
   * `native`, `[]` keeps no classic buckets (but `+Inf`).
   *
   * @default {DEFAULT_BUCKETS}
   */
  buckets?: readonly number[];
  /**
   * Keeps a native histogram beside the classic buckets: exponential
   * buckets chosen at run time, exposed in the protobuf format only (the text
   * formats show the classic buckets). Kept in memory, in Redis
   * (`MultiProcessRedisBackend`) or by every worker (`MultiWorkerBackend`),
   * whose scrapes merge every process' share; with a store of one's own,
   * the first series is refused.
   *
   * @default {undefined (no native histogram)}
   */
  native?: NativeHistogramOptions;
}

/** Bucket bounds and their `le` labels, shared by every child. */
interface Layout {
  readonly bounds: readonly number[];
  readonly search: Float64Array;
  readonly le: readonly ExtraLabel[];
}

/**
 * One label set of a {@linkcode Histogram}. Each observation increments one
 * bucket (found by binary search) and the sum; buckets are cumulated only
 * when collected.
 *
 * @example
 * ```ts
 * import { Histogram } from "@pytheus/pytheus";
 * const h = new Histogram({ name: "size_bytes", description: "Sizes.", requiredLabels: ["kind"], buckets: [100, 1000], registry: null });
 * h.labels({ kind: "image" }).observe(512);
 * ```
 */
export class HistogramChild<L extends string> extends TimedChild<L, HistogramChild<L>> {
  readonly #layout: Layout;
  readonly #buckets: readonly Backend[];
  readonly #sum: Backend;
  // At most one per bucket, the latest; in this process only, whatever the backend.
  #exemplars: (RecordedExemplar | undefined)[] | undefined;

  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The histogram.
   * @param row The child's row in the metric's series table (its label values while partial).
   * @param backendOf Creates its backends; absent for a partial child.
   * @param layout The buckets.
   * @ignore
   */
  constructor(
    parent: ChildParent<L, HistogramChild<L>>,
    row: SeriesRow,
    backendOf: BackendFactory | undefined,
    layout: Layout,
  ) {
    super(parent, row);
    this.#layout = layout;
    if (backendOf) {
      this.#buckets = layout.le.map((le) => backendOf(this, le.value));
      this.#sum = backendOf(this, "sum");
    } else {
      this.#sum = unobservable(parent, this);
      this.#buckets = layout.le.map(() => this.#sum);
    }
  }

  /**
   * Records one observation, optionally with an exemplar (kept for the
   * observation's bucket, latest wins, shown in OpenMetrics output).
   *
   * @param value The observed value.
   * @param exemplar Labels linking this observation to a trace, such as
   * `{ trace_id: "abc" }`. One that breaks the rules (a value not a string,
   * more than 128 characters) is dropped and counted in
   * `pytheus_exemplars_dropped_total`; the observation is recorded all the same.
   * @throws {InvalidValueError} When `value` is not a number, or is NaN.
   */
  observe(value: number, exemplar?: Exemplar | null): void {
    const bucket = this.countClassic(value);
    if (exemplar != null) this.keepExemplar(bucket, value, exemplar);
  }

  /**
   * Checks an observation and counts it in its classic bucket and the sum.
   *
   * @param value The observation.
   * @returns Its bucket's index.
   * @ignore
   */
  protected countClassic(value: number): number {
    observation(value, this);
    const bounds = this.#layout.search;
    let lo = 0;
    let hi = bounds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value <= bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    this.#buckets[lo]!.inc(1);
    this.#sum.inc(value);
    return lo;
  }

  /**
   * Keeps an exemplar for a bucket (latest wins).
   *
   * @param bucket The bucket's index.
   * @param value The observation.
   * @param exemplar Its labels.
   * @ignore
   */
  protected keepExemplar(bucket: number, value: number, exemplar: Exemplar): void {
    const recorded = this.recordExemplar(exemplar, value);
    if (recorded !== undefined) (this.#exemplars ??= [])[bucket] = recorded;
  }

  /**
   * Records a measured duration.
   *
   * @param seconds The duration.
   */
  protected record(seconds: number): void {
    this.observe(seconds);
  }

  /** Throws for a partial child, before a timed function runs. */
  protected checkObservable(): void {
    assertObservable(this.#sum);
  }

  /**
   * Reads every bucket and the sum (the first half of a scrape).
   *
   * @param stored What the store's read found (see `MetricChild.read`).
   * @param key The series' key there.
   * @returns The per-bucket counts then the sum, asynchronously when a cell reads remotely.
   * @ignore
   */
  read(
    stored?: ReadonlyMap<string, StoredValue>,
    key?: string,
  ): number[] | Promise<number[]> {
    const buckets = this.#buckets;
    const le = this.#layout.le;
    const values: (StoredValue | Promise<number>)[] = [];
    for (let i = 0; i < buckets.length; i++) {
      values.push(readStored(buckets[i]!, stored, key, le[i]!.value));
    }
    values.push(readStored(this.#sum, stored, key, "sum"));
    return settled(values);
  }

  /**
   * Writes the cumulative buckets, the sum and the count.
   *
   * @param values What `read()` returned (awaited).
   * @param sink Where the samples go.
   * @ignore
   */
  write(values: readonly number[], sink: SampleSink): void {
    const le = this.#layout.le;
    const n = le.length;
    const exemplars = this.#exemplars;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const value = values[i];
      if (typeof value !== "number") throw notAValue(this, value);
      count += value;
      sink.add(this, "_bucket", count, le[i], exemplars?.[i]);
    }
    sink.add(this, "_sum", values[n]!);
    sink.addCreated(this, "_count", count);
  }

  /** Sets every bucket and the sum to zero and forgets the exemplars. */
  protected zero(): void {
    for (const bucket of this.#buckets) bucket.set(0);
    this.#sum.set(0);
    this.#exemplars = undefined;
  }

  /** Tells the backends to forget the series. */
  release(): void {
    for (const bucket of this.#buckets) bucket.remove?.();
    this.#sum.remove?.();
  }
}

/**
 * A series of a histogram with a native histogram beside its classic
 * buckets. A class of its own, so that a classic series' `observe()` never
 * meets native code and engines optimize each for what it holds.
 */
class NativeHistogramChild<L extends string> extends HistogramChild<L> {
  readonly #settings: NativeSettings;
  readonly #native: NativeCell;
  // Where read() puts the merged native histogram: after the buckets and the sum.
  readonly #readAt: number;

  /**
   * @param parent The histogram.
   * @param row The child's row in the metric's series table.
   * @param backendOf Creates its classic cells.
   * @param layout The buckets.
   * @param settings The native histogram's settings.
   * @param cells Creates its native cell (a shared store's), absent in memory.
   */
  constructor(
    parent: ChildParent<L, HistogramChild<L>>,
    row: SeriesRow,
    backendOf: BackendFactory,
    layout: Layout,
    settings: NativeSettings,
    cells: NativeCells | undefined,
  ) {
    // The series' cells are made in order: its buckets, its sum, then its native histogram.
    super(parent, row, backendOf, layout);
    this.#settings = settings;
    this.#readAt = layout.le.length + 1;
    this.#native = cells === undefined ? new NativeHistogram(settings) : cells(this, settings);
  }

  /** See {@linkcode HistogramChild.observe}. */
  override observe(value: number, exemplar?: Exemplar | null): void {
    const bucket = this.countClassic(value);
    // Past its limits a native histogram resets: the whole series, which keeps this observation.
    if (this.#native.observe(value)) {
      this.reset();
      this.countClassic(value);
      this.#native.observe(value);
    }
    if (exemplar != null) this.keepExemplar(bucket, value, exemplar);
  }

  /** See {@linkcode HistogramChild.read}; the merged native histogram comes after the sum. */
  override read(
    stored?: ReadonlyMap<string, StoredValue>,
    key?: string,
  ): number[] | Promise<number[]> {
    const read = super.read(stored, key);
    const found: unknown = storedEntry(stored, key, "native");
    if (!(found instanceof NativeParts)) return read;
    const native = mergeNative(found, this.#settings);
    const add = (numbers: number[]): number[] => {
      (numbers as unknown[]).push(native);
      return numbers;
    };
    return Array.isArray(read) ? add(read) : read.then(add);
  }

  /** See {@linkcode HistogramChild.write}; then the native histogram, to a sink that takes it. */
  override write(values: readonly number[], sink: SampleSink): void {
    super.write(values, sink);
    if (sink.native !== undefined) {
      // What the store read (every process' share, merged), else this process' own.
      const read = (values as readonly unknown[])[this.#readAt] as
        | NativeHistogramState
        | undefined;
      sink.native(this, read ?? this.#native.state());
    }
  }

  /** See {@linkcode HistogramChild.zero}. */
  protected override zero(): void {
    super.zero();
    this.#native.reset();
  }

  /** See {@linkcode HistogramChild.release}. */
  override release(): void {
    super.release();
    this.#native.remove?.();
  }
}

/**
 * A histogram. Observe it directly when it has no labels (or only defaulted
 * ones), else through `labels()`.
 *
 * @example
 * ```ts
 * import { Histogram } from "@pytheus/pytheus";
 * const latency = new Histogram({
 *   name: "request_seconds",
 *   description: "Request latency.",
 *   buckets: [0.1, 0.5, 1],
 *   registry: null,
 * });
 * latency.observe(0.3);
 * const answer = await latency.time(async () => 42);
 * ```
 */
export class Histogram<const L extends string = never> extends TimedMetric<L, HistogramChild<L>> {
  /** The bucket upper bounds, `+Inf` last. */
  readonly buckets: readonly number[];

  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The histogram's name, description, labels, buckets and registry.
   */
  constructor(options: HistogramOptions<L>) {
    metricOptions("Histogram", options, ["buckets", "native"]);
    const native = options.native == null
      ? undefined
      : nativeSettings(options.name, options.native);
    const layout = bucketLayout(
      options.name,
      options.buckets ?? DEFAULT_BUCKETS,
      native !== undefined,
    );
    super(
      options,
      "histogram",
      ["le"],
      (parent, row, backendOf) =>
        backendOf === undefined || native === undefined
          ? new HistogramChild(parent, row, backendOf, layout)
          : nativeChild(parent, row, backendOf, layout, native),
      [...layout.le.map((le) => le.value), "sum", ...(native === undefined ? [] : ["native"])],
    );
    this.buckets = layout.bounds;
  }

  /**
   * Records one observation, optionally with an exemplar (shown in
   * OpenMetrics output).
   *
   * @param value The observed value.
   * @param exemplar Labels linking this observation to a trace, such as
   * `{ trace_id: "abc" }` (dropped and counted when it breaks the rules).
   * @throws {InvalidValueError} When `value` is not a number, or is NaN.
   */
  observe(value: number, exemplar?: Exemplar | null): void {
    this.own.observe(value, exemplar);
  }
}

/** A native series, in memory or in the store's cells; refused by a store that keeps none. */
function nativeChild<L extends string>(
  parent: ChildParent<L, HistogramChild<L>>,
  row: SeriesRow,
  backendOf: BackendFactory,
  layout: Layout,
  settings: NativeSettings,
): HistogramChild<L> {
  // Asked first: a store that keeps no native histogram is told of no cell either.
  const cells = backendOf === IN_MEMORY ? undefined : parent.nativeCells();
  if (backendOf !== IN_MEMORY && cells === undefined) {
    throw new InvalidOptionError(
      `Native histogram "${parent.name}" needs the in-memory, Redis or multi-worker store: ` +
        "its store (loadBackend()) keeps classic histograms only",
    );
  }
  return new NativeHistogramChild(parent, row, backendOf, layout, settings, cells);
}

function bucketLayout(
  metric: string,
  buckets: readonly number[],
  native: boolean,
): Layout {
  if (!Array.isArray(buckets)) {
    throw new BucketError(`Buckets of "${metric}" must be an array of numbers`);
  }
  // -0 is 0: its `le` would read "-0".
  const bounds = buckets.map((bound) => bound === 0 ? 0 : bound);
  if (bounds.at(-1) !== Infinity) bounds.push(Infinity);
  if (bounds.length === 1 && !native) {
    throw new BucketError(
      `Histogram "${metric}" needs at least one bucket bound besides +Inf: buckets: [] keeps none`,
    );
  }
  bounds.forEach((bound, i) => {
    if (typeof bound !== "number" || Number.isNaN(bound) || bound === -Infinity) {
      throw new BucketError(
        `Bucket ${
          typeof bound === "number" ? bound : describeValue(bound)
        } of "${metric}" is not a number`,
      );
    }
    if (i > 0 && !(bound > bounds[i - 1]!)) {
      throw new BucketError(
        `Buckets of "${metric}" must be strictly increasing: ${bounds[i - 1]} then ${bound}`,
      );
    }
  });
  return Object.freeze({
    bounds: Object.freeze(bounds),
    search: Float64Array.from(bounds),
    le: bounds.map((bound): ExtraLabel => {
      const value = formatValue(bound);
      const text = `le="${value}"}`;
      return { name: "le", value, text, openMetricsText: `le="${canonicalNumber(bound)}"}` };
    }),
  });
}
