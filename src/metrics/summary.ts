/**
 * Summary: counts observations and sums them, and estimates chosen quantiles
 * (median, 99th percentile) over a sliding time window.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { BucketError } from "../errors.ts";
import { canonicalNumber, formatValue } from "../exposition/_format.ts";
import type { MetricOptions } from "./metric_options.ts";
import type { ChildParent, SeriesRow } from "./child.ts";
import type { BackendFactory } from "../backends/backend.ts";
import type { ExtraLabel, SampleSink } from "../vocabulary.ts";
import { assertObservable, readStored, settled, unobservable } from "./_child.ts";
import type { StoredValue } from "../backends/store.ts";
import { TimedChild, TimedMetric } from "./timed.ts";
import { QuantileWindow } from "./_quantiles.ts";
import { metricOptions } from "./metric_options.ts";
import { describeValue, observation } from "../_validation.ts";

/** Options of {@linkcode Summary}. */
export interface SummaryOptions<L extends string> extends MetricOptions<L> {
  /**
   * The quantiles to estimate, each strictly between 0 and 1. The reported
   * φ-quantile is an observation whose rank among the `n` observations of the
   * window is within `max(ε·n, 1)` of `φ·n`, where
   * `ε = min(0.01, φ / 10, (1 − φ) / 10)`: 1% for the median, 0.1% for 0.99.
   * None by default: the summary then only counts and sums.
   *
   * @default {[]}
   */
  quantiles?: readonly number[];
  /**
   * How far back, in seconds, the quantiles look.
   *
   * @default {600}
   */
  maxAgeSeconds?: number;
  /**
   * How many buckets the window rotates through: every
   * `maxAgeSeconds / ageBuckets` seconds the oldest bucket is dropped, so the
   * quantiles cover between `(ageBuckets − 1) / ageBuckets` of the window and
   * all of it. At most 1000: every child keeps one quantile stream per bucket.
   *
   * @default {5}
   */
  ageBuckets?: number;
}

/** The quantiles and window of a summary, shared by every child. */
interface Layout {
  readonly quantiles: readonly number[];
  /** Allowed rank error of each quantile, as a fraction of the count. */
  readonly errors: readonly number[];
  /** Each quantile's `quantile` label. */
  readonly labels: readonly ExtraLabel[];
  /** Milliseconds per age bucket. */
  readonly period: number;
  readonly ageBuckets: number;
}

/**
 * One label set of a {@linkcode Summary}. The count and the sum live in the
 * backend (shared between processes with a multi-process backend); the
 * quantile estimates live in this process.
 *
 * @example
 * ```ts
 * import { Summary } from "@pytheus/pytheus";
 * const s = new Summary({ name: "payload_bytes", description: "Sizes.", requiredLabels: ["kind"], quantiles: [0.5], registry: null });
 * s.labels({ kind: "image" }).observe(512);
 * ```
 */
export class SummaryChild<L extends string> extends TimedChild<L, SummaryChild<L>> {
  readonly #count: Backend;
  readonly #sum: Backend;
  readonly #window: QuantileWindow | undefined;
  readonly #quantileLabels: readonly ExtraLabel[];

  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The summary.
   * @param row The child's row in the metric's series table (its label values while partial).
   * @param backendOf Creates its backends; absent for a partial child.
   * @param layout The quantiles and window.
   * @ignore
   */
  constructor(
    parent: ChildParent<L, SummaryChild<L>>,
    row: SeriesRow,
    backendOf: BackendFactory | undefined,
    layout: Layout,
  ) {
    super(parent, row);
    if (backendOf) {
      // In the order of the metric's samples (see `StoredMetric.samples`).
      this.#sum = backendOf(this, "sum");
      this.#count = backendOf(this, "count");
      this.#window = layout.quantiles.length > 0 ? new QuantileWindow(layout) : undefined;
    } else {
      this.#count = this.#sum = unobservable(parent, this);
    }
    this.#quantileLabels = layout.labels;
  }

  /**
   * Records one observation.
   *
   * @param value The observed value.
   * @throws {InvalidValueError} When `value` is not a number, or is NaN.
   */
  observe(value: number): void {
    observation(value, this);
    this.#count.inc(1);
    this.#sum.inc(value);
    this.#window?.observe(value);
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
   * Reads the quantile estimates (`NaN` while the window is empty), then the
   * sum and the count from the backends (the first half of a scrape).
   *
   * @param stored What the store's read found (see `MetricChild.read`).
   * @param key The series' key there.
   * @returns The values, asynchronously when a cell reads remotely.
   * @ignore
   */
  read(
    stored?: ReadonlyMap<string, StoredValue>,
    key?: string,
  ): number[] | Promise<number[]> {
    const values: (StoredValue | Promise<number>)[] = this.#window?.query() ?? [];
    values.push(
      readStored(this.#sum, stored, key, "sum"),
      readStored(this.#count, stored, key, "count"),
    );
    return settled(values);
  }

  /**
   * Writes the quantile estimates, the sum and the count.
   *
   * @param values What `read()` returned (awaited).
   * @param sink Where the samples go.
   * @ignore
   */
  write(values: readonly number[], sink: SampleSink): void {
    const n = values.length - 2;
    for (let i = 0; i < n; i++) sink.add(this, "", values[i]!, this.#quantileLabels[i]);
    sink.add(this, "_sum", values[n]!);
    sink.addCreated(this, "_count", values[n + 1]!);
  }

  /** Sets the count and the sum to zero and empties the quantile window. */
  protected zero(): void {
    this.#count.set(0);
    this.#sum.set(0);
    this.#window?.clear();
  }

  /** Tells the backends to forget the series. */
  release(): void {
    this.#sum.remove?.();
    this.#count.remove?.();
  }
}

/**
 * A summary. Observe it directly when it has no labels (or only defaulted
 * ones), else through `labels()`.
 *
 * Quantiles are estimated in this process over the last `maxAgeSeconds`
 * (see {@linkcode SummaryOptions.quantiles} for the error bound); with a
 * multi-process backend the count and sum are shared by all processes, the
 * quantiles are those of the process that serves the scrape.
 *
 * @example
 * ```ts
 * import { Summary } from "@pytheus/pytheus";
 * const latency = new Summary({
 *   name: "request_seconds",
 *   description: "Request latency.",
 *   quantiles: [0.5, 0.9, 0.99],
 *   maxAgeSeconds: 300,
 *   registry: null,
 * });
 * latency.observe(0.3);
 * const answer = await latency.time(async () => 42);
 * ```
 */
export class Summary<const L extends string = never> extends TimedMetric<L, SummaryChild<L>> {
  /** The estimated quantiles, ascending. */
  readonly quantiles: readonly number[];
  /** How far back, in seconds, the quantiles look. */
  readonly maxAgeSeconds: number;
  /** How many buckets the window rotates through. */
  readonly ageBuckets: number;

  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The summary's name, description, labels, quantiles, window and registry.
   * @throws {BucketError} When `quantiles` is not an array, a quantile is not
   *   a number strictly between 0 and 1 or is repeated, `maxAgeSeconds` is
   *   not a positive finite number, or `ageBuckets` is not an integer from 1 to 1000.
   * @throws {InvalidOptionError} When `options` is not an object or has an
   *   unknown key (prom-client's `percentiles`: use `quantiles`).
   * @throws {NameValidationError} When `name` is not a valid metric name.
   */
  constructor(options: SummaryOptions<L>) {
    metricOptions("Summary", options, ["quantiles", "maxAgeSeconds", "ageBuckets"]);
    const layout = summaryLayout(options);
    super(
      options,
      "summary",
      ["quantile"],
      (parent, row, backendOf) => new SummaryChild(parent, row, backendOf, layout),
      ["sum", "count"],
    );
    this.quantiles = layout.quantiles;
    this.maxAgeSeconds = (layout.period * layout.ageBuckets) / 1000;
    this.ageBuckets = layout.ageBuckets;
  }

  /**
   * Records one observation.
   *
   * @param value The observed value.
   * @throws {InvalidValueError} When `value` is not a number, or is NaN.
   */
  observe(value: number): void {
    this.own.observe(value);
  }
}

/** The most age buckets a window rotates through: each child keeps one quantile stream per bucket. */
const MAX_AGE_BUCKETS = 1000;

function summaryLayout<L extends string>(options: SummaryOptions<L>): Layout {
  const name = options.name;
  const given: unknown = options.quantiles ?? [];
  if (!Array.isArray(given)) {
    throw new BucketError(
      `Quantiles of "${name}" must be an array of numbers, got ${describeValue(given)}`,
    );
  }
  // Every one checked before sorting: a comparator cannot take a symbol or a bigint.
  const quantiles: number[] = [];
  for (const q of given as unknown[]) {
    if (typeof q !== "number" || !(q > 0 && q < 1)) {
      throw new BucketError(
        `Quantile ${describeValue(q)} of "${name}" must be a number strictly between 0 and 1`,
      );
    }
    quantiles.push(q);
  }
  quantiles.sort((a, b) => a - b);
  quantiles.forEach((q, i) => {
    if (i > 0 && q === quantiles[i - 1]) {
      throw new BucketError(`Quantile ${q} of "${name}" is given twice`);
    }
  });
  const maxAge: unknown = options.maxAgeSeconds ?? 600;
  if (typeof maxAge !== "number" || !(maxAge > 0 && maxAge < Infinity)) {
    throw new BucketError(
      `maxAgeSeconds of "${name}" must be a positive number of seconds, got ${
        describeValue(maxAge)
      }`,
    );
  }
  const ageBuckets: unknown = options.ageBuckets ?? 5;
  if (typeof ageBuckets !== "number" || !Number.isInteger(ageBuckets) || ageBuckets < 1) {
    throw new BucketError(
      `ageBuckets of "${name}" must be a positive integer, got ${describeValue(ageBuckets)}`,
    );
  }
  if (ageBuckets > MAX_AGE_BUCKETS) {
    // Each child keeps one stream per bucket: 2 ** 32 of them cannot even be allocated.
    throw new BucketError(
      `ageBuckets of "${name}" must be at most ${MAX_AGE_BUCKETS}, got ${
        describeValue(ageBuckets)
      }`,
    );
  }
  const qs = quantiles;
  return Object.freeze({
    quantiles: Object.freeze(qs),
    errors: qs.map((q) => Math.min(0.01, q / 10, (1 - q) / 10)),
    labels: qs.map((q): ExtraLabel => {
      const value = formatValue(q);
      const text = `quantile="${value}"}`;
      return {
        name: "quantile",
        value,
        text,
        openMetricsText: `quantile="${canonicalNumber(q)}"}`,
      };
    }),
    period: (maxAge * 1000) / ageBuckets,
    ageBuckets,
  });
}
