/**
 * Histogram: counts observations (request durations, response sizes) in
 * buckets, with their sum and count.
 *
 * @module
 */

import type { Backend } from "./backends/backend.ts";
import { BucketError, InvalidValueError } from "./errors.ts";
import { formatValue } from "./_format.ts";
import {
  type BackendFactory,
  type ChildParent,
  Metric,
  MetricChild,
  type MetricOptions,
  type Sample,
  unobservable,
} from "./metric.ts";
import type { Timer } from "./timer.ts";
import { isPromiseLike, measure } from "./_timing.ts";

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

/** Options of {@linkcode Histogram}. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /**
   * Bucket upper bounds, strictly increasing; `+Inf` is appended.
   *
   * @default {DEFAULT_BUCKETS}
   */
  buckets?: readonly number[];
}

/** Bucket bounds and their pre-rendered `le` parts, shared by every child. */
interface Layout {
  readonly bounds: readonly number[];
  readonly le: readonly string[];
  readonly leText: readonly string[];
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
export class HistogramChild<L extends string> extends MetricChild<L, HistogramChild<L>> {
  readonly #layout: Layout;
  readonly #buckets: readonly Backend[];
  readonly #sum: Backend;
  readonly #bucketOpen: string;

  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The histogram.
   * @param labelValues The child's label values.
   * @param backendOf Creates its backends; absent for a partial child.
   * @param layout The buckets.
   */
  constructor(
    parent: ChildParent<L, HistogramChild<L>>,
    labelValues: Readonly<Record<string, string>>,
    backendOf: BackendFactory | undefined,
    layout: Layout,
  ) {
    super(parent, labelValues);
    this.#layout = layout;
    if (backendOf) {
      this.#buckets = layout.le.map((le) => backendOf(this, le));
      this.#sum = backendOf(this, "sum");
    } else {
      this.#sum = unobservable(parent, this);
      this.#buckets = layout.le.map(() => this.#sum);
    }
    this.#bucketOpen = this.labelText ? this.labelText.slice(0, -1) + "," : "{";
  }

  /**
   * Records one observation.
   *
   * @param value The observed value.
   * @throws {InvalidValueError} When `value` is NaN.
   */
  observe(value: number): void {
    if (value !== value) {
      throw new InvalidValueError(`Cannot observe NaN in histogram "${this.name}"`);
    }
    const bounds = this.#layout.bounds;
    let lo = 0;
    let hi = bounds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value <= bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    this.#buckets[lo]!.inc(1);
    this.#sum.inc(value);
  }

  /**
   * Starts a measurement and returns its handle: stop it with `stop()` or `using`.
   *
   * @returns The handle.
   */
  time(): Timer;
  /**
   * Observes the seconds `fn` took (thrown or not); without `fn`, returns a
   * {@linkcode Timer} to stop by hand or with `using`.
   *
   * @param fn The function to time.
   * @returns What `fn` returns.
   */
  time<T>(fn: () => T): T;
  time<T>(fn?: () => T): T | Timer {
    return measure((seconds) => this.observe(seconds), fn);
  }

  /**
   * Wraps `fn` so that each call observes its duration.
   *
   * @param fn The function to time.
   * @returns The wrapped function.
   */
  wrap<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T {
    return (...args) => this.time(() => fn(...args));
  }

  /**
   * Reads the cumulative buckets, the sum and the count.
   *
   * @returns The samples, asynchronously when the backend is remote.
   */
  collect(): Sample[] | Promise<Sample[]> {
    const values: (number | Promise<number>)[] = this.#buckets.map((b) => b.get());
    values.push(this.#sum.get());
    return values.some(isPromiseLike)
      ? Promise.all(values).then((v) => this.#samples(v))
      : this.#samples(values as number[]);
  }

  /** Tells the backends to forget the series. */
  release(): void {
    for (const bucket of this.#buckets) bucket.remove?.();
    this.#sum.remove?.();
  }

  #samples(values: readonly number[]): Sample[] {
    const { le, leText } = this.#layout;
    const samples: Sample[] = [];
    let count = 0;
    for (let i = 0; i < le.length; i++) {
      count += values[i]!;
      samples.push(new BucketSample(this.labelValues, le[i]!, count, this.#bucketOpen + leText[i]));
    }
    const labels = this.labelValues;
    const labelText = this.labelText;
    samples.push({ suffix: "_sum", labels, value: values[le.length]!, labelText });
    samples.push({ suffix: "_count", labels, value: count, labelText });
    return samples;
  }
}

/** A bucket sample; its label record (with `le`) is built only if asked for. */
class BucketSample implements Sample {
  readonly suffix = "_bucket";
  readonly #labels: Readonly<Record<string, string>>;
  readonly #le: string;
  readonly value: number;
  readonly labelText: string;

  constructor(
    labels: Readonly<Record<string, string>>,
    le: string,
    value: number,
    labelText: string,
  ) {
    this.#labels = labels;
    this.#le = le;
    this.value = value;
    this.labelText = labelText;
  }

  get labels(): Readonly<Record<string, string>> {
    return { ...this.#labels, le: this.#le };
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
export class Histogram<const L extends string = never> extends Metric<L, HistogramChild<L>> {
  /** The bucket upper bounds, `+Inf` last. */
  readonly buckets: readonly number[];

  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The histogram's name, description, labels, buckets and registry.
   */
  constructor(options: HistogramOptions<L>) {
    const layout = bucketLayout(options.name, options.buckets ?? DEFAULT_BUCKETS);
    super(
      options,
      "histogram",
      ["le"],
      (parent, labels, backendOf) => new HistogramChild(parent, labels, backendOf, layout),
    );
    this.buckets = layout.bounds;
  }

  /**
   * Records one observation.
   *
   * @param value The observed value.
   * @throws {InvalidValueError} When `value` is NaN.
   */
  observe(value: number): void {
    this.own.observe(value);
  }

  /**
   * Starts a measurement and returns its handle: stop it with `stop()` or `using`.
   *
   * @returns The handle.
   */
  time(): Timer;
  /**
   * Observes the seconds `fn` took; without `fn`, returns a {@linkcode Timer}.
   *
   * @param fn The function to time.
   * @returns What `fn` returns.
   */
  time<T>(fn: () => T): T;
  time<T>(fn?: () => T): T | Timer {
    return fn === undefined ? this.own.time() : this.own.time(fn);
  }

  /**
   * Wraps `fn` so that each call observes its duration.
   *
   * @param fn The function to time.
   * @returns The wrapped function.
   */
  wrap<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T {
    return this.own.wrap(fn);
  }
}

function bucketLayout(metric: string, buckets: readonly number[]): Layout {
  if (!Array.isArray(buckets)) {
    throw new BucketError(`Buckets of "${metric}" must be an array of numbers`);
  }
  const bounds = [...buckets];
  if (bounds.at(-1) !== Infinity) bounds.push(Infinity);
  bounds.forEach((bound, i) => {
    if (typeof bound !== "number" || Number.isNaN(bound) || bound === -Infinity) {
      throw new BucketError(`Bucket ${JSON.stringify(bound)} of "${metric}" is not a number`);
    }
    if (i > 0 && !(bound > bounds[i - 1]!)) {
      throw new BucketError(
        `Buckets of "${metric}" must be strictly increasing: ${bounds[i - 1]} then ${bound}`,
      );
    }
  });
  const le = bounds.map(formatValue);
  return Object.freeze({ bounds: Object.freeze(bounds), le, leText: le.map((v) => `le="${v}"}`) });
}
