/**
 * Summary: counts observations and sums them, and estimates chosen quantiles
 * (median, 99th percentile) over a sliding time window.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { BucketError } from "../errors.ts";
import { canonicalNumber, formatValue } from "../exposition/_format.ts";
import type { MetricOptions } from "./metric.ts";
import type { ChildParent, SeriesRow } from "./child.ts";
import type { BackendFactory } from "../backends/backend.ts";
import type { ExtraLabel, SampleSink } from "../vocabulary.ts";
import { assertObservable, readStored, settled, unobservable } from "./_child.ts";
import type { StoredValue } from "../backends/store.ts";
import { TimedChild, TimedMetric } from "./timed.ts";
import { metricOptions } from "./_metric_checks.ts";
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

// Observations are buffered, then sorted and merged into every stream at once.
const BUFFER_SIZE = 256;

/**
 * The sliding window: `ageBuckets` streams that all receive every
 * observation; at the start of each period the oldest is emptied, and queries
 * read the one emptied longest ago (it covers the whole window).
 */
class QuantileWindow {
  readonly #layout: Layout;
  readonly #streams: QuantileStream[];
  readonly #buffer = new Float64Array(BUFFER_SIZE);
  #buffered = 0;
  readonly #start = performance.now();
  #period = 0;
  #periodEnd: number;

  constructor(layout: Layout) {
    this.#layout = layout;
    this.#streams = Array.from(
      { length: layout.ageBuckets },
      () => new QuantileStream(layout.quantiles, layout.errors),
    );
    this.#periodEnd = this.#start + layout.period;
  }

  observe(value: number): void {
    const now = performance.now();
    if (now >= this.#periodEnd) this.#rotate(now);
    this.#buffer[this.#buffered++] = value;
    if (this.#buffered === BUFFER_SIZE) this.#flush();
  }

  /** Forgets every observation. */
  clear(): void {
    this.#buffered = 0;
    for (const stream of this.#streams) stream.reset();
  }

  query(): number[] {
    const now = performance.now();
    if (now >= this.#periodEnd) this.#rotate(now);
    this.#flush();
    const { quantiles, ageBuckets } = this.#layout;
    const head = this.#streams[(this.#period + 1) % ageBuckets]!;
    return quantiles.map((_, i) => head.query(i));
  }

  #rotate(now: number): void {
    // The buffer holds observations of the period now ending.
    this.#flush();
    const { period, ageBuckets } = this.#layout;
    const current = Math.max(Math.floor((now - this.#start) / period), this.#period + 1);
    const last = Math.min(current, this.#period + ageBuckets);
    for (let p = this.#period + 1; p <= last; p++) this.#streams[p % ageBuckets]!.reset();
    this.#period = current;
    this.#periodEnd = this.#start + (current + 1) * period;
  }

  #flush(): void {
    if (this.#buffered === 0) return;
    const sorted = this.#buffer.subarray(0, this.#buffered).sort();
    for (const stream of this.#streams) stream.insertSorted(sorted);
    this.#buffered = 0;
  }
}

/**
 * Targeted quantiles over a stream (after Cormode, Korn, Muthukrishnan and
 * Srivastava, "Effective computation of biased quantiles over data
 * streams", 2005), with an invariant chosen so that the bound of
 * {@linkcode SummaryOptions.quantiles} holds.
 *
 * Tuple i keeps a value v, g (its rank minus the previous tuple's lowest
 * possible rank) and Δ (the uncertainty of its rank): its true rank lies in
 * [rmin, rmin + Δ], rmin = g0 + … + gi. The tuple "spans" the ranks
 * [rmin − g, rmin + Δ]. Invariant: every span is at most 1 long or at most
 * F(span) = min over targets φ of the least value, over r in the span, of
 * 2ε·max(r / φ, (n − r) / (1 − φ)), which is 2εn where the span holds φn.
 * F never shrinks as values arrive, so the invariant survives insertions.
 * A query for φ returns a tuple with rmin ≥ φn − e and rmax ≤ φn + a, where
 * e = max(εn, 1) and a = max(εn, ⌈φn⌉ − φn), the one whose rank range is
 * centred nearest ⌈φn⌉. One exists: take j, the last tuple with rmax ≤ φn + a
 * (the first tuple, exact at rank 1, is such); the span of the tuple after
 * it starts at rmin_j, so if rmin_j < φn − e that span holds φn and is
 * longer than a + e ≥ max(2εn, 1) ≥ max(F, 1), which the invariant forbids
 * (and the last tuple, exact at rank n, has rmin ≥ φn − e).
 */
class QuantileStream {
  readonly #targets: readonly number[];
  readonly #errors: readonly number[];
  #n = 0;
  #size = 0;
  #v = new Float64Array(16);
  #g = new Float64Array(16);
  #d = new Float64Array(16);

  constructor(targets: readonly number[], errors: readonly number[]) {
    this.#targets = targets;
    this.#errors = errors;
  }

  reset(): void {
    this.#n = 0;
    this.#size = 0;
  }

  /** Inserts ascending values: each one before the first tuple greater than it. */
  insertSorted(values: Float64Array): void {
    const size = this.#size;
    const { v: v2, g: g2, d: d2 } = scratch(size + values.length);
    const v = this.#v, g = this.#g, d = this.#d;
    let i = 0;
    let out = 0;
    for (let k = 0; k < values.length; k++) {
      const value = values[k]!;
      while (i < size && v[i]! <= value) {
        v2[out] = v[i]!;
        g2[out] = g[i]!;
        d2[out++] = d[i++]!;
      }
      // A new minimum or maximum has an exact rank; otherwise the rank is as
      // uncertain as the successor's span allows.
      d2[out] = out === 0 || i === size ? 0 : g[i]! + d[i]! - 1;
      v2[out] = value;
      g2[out++] = 1;
    }
    while (i < size) {
      v2[out] = v[i]!;
      g2[out] = g[i]!;
      d2[out++] = d[i++]!;
    }
    this.#n += values.length;
    const kept = this.#compress(v2, g2, d2, out);
    if (this.#v.length < kept) {
      const capacity = Math.max(kept, this.#v.length * 2);
      this.#v = new Float64Array(capacity);
      this.#g = new Float64Array(capacity);
      this.#d = new Float64Array(capacity);
    }
    this.#v.set(v2.subarray(0, kept));
    this.#g.set(g2.subarray(0, kept));
    this.#d.set(d2.subarray(0, kept));
    this.#size = kept;
  }

  /** The estimate of target `t`, `NaN` when empty. */
  query(t: number): number {
    const size = this.#size;
    if (size === 0) return NaN;
    const n = this.#n;
    const at = this.#targets[t]! * n;
    const eps = this.#errors[t]! * n;
    // Aim at the nearest rank, so that small counts are exact; accept any
    // tuple whose whole rank range is within the bound.
    const target = Math.max(Math.ceil(at), 1);
    const high = Math.max(at + eps, target);
    const low = at - Math.max(eps, 1);
    const g = this.#g, d = this.#d;
    let best = -1;
    let bestDistance = Infinity;
    let last = 0;
    let rmin = 0;
    for (let i = 0; i < size; i++) {
      rmin += g[i]!;
      if (rmin > high) break;
      if (rmin + d[i]! > high) continue;
      last = i;
      const distance = Math.abs(rmin + d[i]! / 2 - target);
      if (rmin >= low && distance < bestDistance) {
        best = i;
        bestDistance = distance;
      }
    }
    // The invariant guarantees a best; `last` only guards against rounding.
    return this.#v[best >= 0 ? best : last]!;
  }

  /**
   * Merges neighbours while their joint span respects the invariant; keeps
   * the minimum. Works in place; returns the new size.
   */
  #compress(v: Float64Array, g: Float64Array, d: Float64Array, size: number): number {
    if (size < 3) return size;
    let out = 1;
    let low = g[0]!; // where the pending tuple's span starts
    let pv = v[1]!;
    let pg = g[1]!;
    let pd = d[1]!;
    for (let i = 2; i < size; i++) {
      const high = low + pg + g[i]! + d[i]!;
      if (high - low <= this.#allowed(low, high)) {
        pv = v[i]!;
        pg += g[i]!;
        pd = d[i]!;
      } else {
        v[out] = pv;
        g[out] = pg;
        d[out++] = pd;
        low += pg;
        pv = v[i]!;
        pg = g[i]!;
        pd = d[i]!;
      }
    }
    v[out] = pv;
    g[out] = pg;
    d[out++] = pd;
    return out;
  }

  /** F of the span [low, high]. */
  #allowed(low: number, high: number): number {
    const n = this.#n;
    let allowed = Infinity;
    for (let t = 0; t < this.#targets.length; t++) {
      const phi = this.#targets[t]!;
      const twoEps = 2 * this.#errors[t]!;
      const at = phi * n;
      const f = high < at
        ? twoEps * (n - high) / (1 - phi)
        : low > at
        ? twoEps * low / phi
        : twoEps * n;
      if (f < allowed) allowed = f;
    }
    return allowed;
  }
}

// Every stream merges into these, then copies the compressed result back:
// one set for the whole process keeps each stream as small as its tuples.
let scratchV = new Float64Array(1024);
let scratchG = new Float64Array(1024);
let scratchD = new Float64Array(1024);

function scratch(size: number): { v: Float64Array; g: Float64Array; d: Float64Array } {
  if (scratchV.length < size) {
    const capacity = Math.max(size, scratchV.length * 2);
    scratchV = new Float64Array(capacity);
    scratchG = new Float64Array(capacity);
    scratchD = new Float64Array(capacity);
  }
  return { v: scratchV, g: scratchG, d: scratchD };
}
