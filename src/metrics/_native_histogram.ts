/**
 * One series' native histogram: exponential buckets chosen at run time (see
 * `_native_buckets.ts`), a zero bucket, and the limits client_golang keeps:
 * past `maxBuckets`, the histogram is reset if `minResetDurationSeconds`
 * passed since the last reset, else its zero bucket widens up to
 * `maxZeroThreshold`, else its resolution halves (down to schema -4).
 */

import type { NativeHistogramState } from "../vocabulary.ts";
import { InvalidOptionError } from "../errors.ts";
import {
  boundAtOrAbove,
  halve,
  type KeyTable,
  keyTableOf,
  LARGEST_SUBNORMAL,
  MIN_SCHEMA,
  schemaOf,
  upperBound,
} from "./_native_buckets.ts";
import { BucketCounts, MAX_SPAN } from "./_native_counts.ts";
import { checkOptions, describeValue } from "../_validation.ts";
import { subtractNative } from "./_native_merge.ts";

/** Options of a native histogram (`new Histogram({ native: { ... } })`). */
export interface NativeHistogramOptions {
  /**
   * The greatest ratio of a bucket's upper to its lower bound: the schema
   * is the finest whose buckets are no wider (1.1 gives schema 3, 8 buckets
   * per power of two).
   *
   * @default {1.1}
   */
  bucketFactor?: number;
  /**
   * Observations whose absolute value is at most this go in the zero bucket.
   *
   * @default {2^-128}
   */
  zeroThreshold?: number;
  /**
   * How wide the zero bucket may grow to stay within `maxBuckets` (0: never).
   *
   * @default {0}
   */
  maxZeroThreshold?: number;
  /**
   * The most buckets a series keeps (positive and negative, the zero bucket
   * apart) before it resets, widens its zero bucket or halves its resolution.
   *
   * @default {160}
   */
  maxBuckets?: number;
  /**
   * How long after a reset a series may reset again to stay within
   * `maxBuckets` (0: never reset). In memory only: a series that several
   * processes share (Redis, workers) never resets, as one process' reset
   * would make the merged counts fall; it lowers its resolution instead.
   *
   * @default {0}
   */
  minResetDurationSeconds?: number;
}

/** The options of a native histogram, checked, with their defaults. */
export interface NativeSettings {
  readonly schema: number;
  readonly zeroThreshold: number;
  readonly maxZeroThreshold: number;
  readonly maxBuckets: number;
  readonly minResetMs: number;
}

const OPTIONS = [
  "bucketFactor",
  "zeroThreshold",
  "maxZeroThreshold",
  "maxBuckets",
  "minResetDurationSeconds",
] as const;

/**
 * Checks a histogram's `native` option.
 *
 * @param metric The histogram's name, for errors.
 * @param options The option as given.
 * @returns The settings.
 * @throws {InvalidOptionError} When an option has the wrong type or range.
 */
export function nativeSettings(metric: string, options: NativeHistogramOptions): NativeSettings {
  checkOptions(`The native option of "${metric}"`, options, OPTIONS);
  const check = (
    name: keyof NativeHistogramOptions,
    fallback: number,
    valid: (value: number) => boolean,
  ): number => {
    const value: unknown = options[name] ?? fallback;
    if (typeof value !== "number" || !valid(value)) {
      throw new InvalidOptionError(
        `native.${name} of "${metric}" cannot be ${
          describeValue(value)
        } (see NativeHistogramOptions)`,
      );
    }
    return value;
  };
  const finite = (value: number): boolean => value >= 0 && value < Infinity;
  return {
    schema: schemaOf(check("bucketFactor", 1.1, (value) => value > 1 && value < Infinity)),
    zeroThreshold: check("zeroThreshold", 2 ** -128, finite),
    maxZeroThreshold: check("maxZeroThreshold", 0, finite),
    maxBuckets: check("maxBuckets", 160, (value) => Number.isInteger(value) && value >= 1),
    minResetMs: 1000 * check("minResetDurationSeconds", 0, finite),
  };
}

/**
 * Where a series keeps its native histogram: a {@linkcode NativeHistogram}
 * in this process' memory, or a shared store's cell, which keeps one too
 * (this process' share) and writes or sends it.
 */
export interface NativeCell {
  /**
   * Counts one observation in its bucket.
   *
   * @param value The observation (a number, not NaN).
   * @returns Whether the series must reset (see {@linkcode NativeHistogram.observe}).
   */
  observe(value: number): boolean;
  /** This process' buckets: what a scrape writes when its store read none. */
  state(): NativeHistogramState;
  /** Forgets every observation (`reset()`). */
  reset(): void;
  /** Forgets the series (`remove()`, `clear()`). */
  remove?(): void;
}

/**
 * How many slots a histogram's positive counts start with: for the keys of
 * 16 powers of two either side of the first value (2 KiB at schema 3),
 * which few series outgrow (see `_native_counts.ts`); the negative counts
 * start with none.
 *
 * @param schema The schema.
 */
function firstSlots(schema: number): number {
  return Math.min(MAX_SPAN, 32 << Math.max(0, schema));
}

/** The native buckets of one series, kept in this process' memory. */
export class NativeHistogram implements NativeCell {
  // What observe() reads first (engines keep an object's first fields closest).
  // Above the zero bucket and the subnormal values: the common path's one compare.
  // Infinity below schema 0, whose keys are merged off the common path.
  #commonFloor = 0;
  #table: KeyTable;
  #positive: BucketCounts;
  readonly #settings: NativeSettings;
  #schema: number;
  #zeroThreshold = 0;
  #zeroCount = 0;
  #negative = new BucketCounts();
  #resetAt = Date.now();

  /**
   * @param settings The histogram's native settings.
   */
  constructor(settings: NativeSettings) {
    this.#settings = settings;
    this.#schema = settings.schema;
    // Made now: schema 8's bounds take a few tens of milliseconds.
    this.#table = keyTableOf(settings.schema);
    this.#positive = new BucketCounts(firstSlots(settings.schema));
    this.#setZeroThreshold(settings.zeroThreshold);
  }

  /**
   * Counts one observation in its bucket.
   *
   * @param value The observation (a number, not NaN).
   * @returns Whether the series must reset (past `maxBuckets`, and
   * `minResetDurationSeconds` after the last reset): all of it, its count
   * and sum too, then record the observation again.
   */
  observe(value: number): boolean {
    // A call only past maxBuckets (checked here first), none in tail position: see
    // `_native_counts.ts`.
    if (value > this.#commonFloor) {
      const added = this.#positive.add(this.#table.normalKey(value));
      const over = added && this.#positive.size + this.#negative.size > this.#settings.maxBuckets;
      if (over && this.#limit()) return true;
      return false;
    }
    if (this.#observeRest(value)) return true;
    return false;
  }

  /**
   * {@linkcode NativeHistogram.observe} of a value in the zero bucket,
   * subnormal or negative, or of any value below schema 0.
   */
  #observeRest(value: number): boolean {
    const size = Math.abs(value);
    if (size <= this.#zeroThreshold) {
      this.#zeroCount++;
      return false;
    }
    if (this.count(value > 0, this.#table.key(size))) return true;
    return false;
  }

  #setZeroThreshold(threshold: number): void {
    this.#zeroThreshold = threshold;
    this.#setFloor();
  }

  #setFloor(): void {
    this.#commonFloor = this.#schema >= 0
      ? Math.max(this.#zeroThreshold, LARGEST_SUBNORMAL)
      : Infinity;
  }

  /**
   * Counts one observation outside the zero bucket, its key known.
   *
   * @param positive Whether it is above zero.
   * @param key Its bucket's key at the current {@linkcode NativeHistogram.schema}.
   * @returns Whether the series must reset (see {@linkcode NativeHistogram.observe}).
   */
  count(positive: boolean, key: number): boolean {
    // The limits are only checked when a bucket appears.
    if ((positive ? this.#positive : this.#negative).add(key) && this.#limit()) return true;
    return false;
  }

  /** The current schema (it goes down past `maxBuckets`). */
  get schema(): number {
    return this.#schema;
  }

  /** The current zero threshold (it widens past `maxBuckets`, up to `maxZeroThreshold`). */
  get zeroThreshold(): number {
    return this.#zeroThreshold;
  }

  /** What a scrape writes: the current buckets (a copy). */
  state(): NativeHistogramState {
    return {
      schema: this.#schema,
      zeroThreshold: this.#zeroThreshold,
      zeroCount: this.#zeroCount,
      positive: this.#positive.toMap(),
      negative: this.#negative.toMap(),
    };
  }

  /**
   * Forgets the observations an earlier state of it held (an idle expiry's
   * cut), keeping those since, at its resolution (see `subtractNative`).
   *
   * @param earlier The histogram as it was.
   */
  subtract(earlier: NativeHistogramState): void {
    const left = subtractNative(this.state(), earlier);
    this.#zeroCount = left.zeroCount;
    this.#positive = BucketCounts.from(left.positive);
    this.#negative = BucketCounts.from(left.negative);
  }

  /** Forgets every observation (`reset()`), back to the configured resolution. */
  reset(): void {
    this.#schema = this.#settings.schema;
    this.#table = keyTableOf(this.#schema);
    this.#setZeroThreshold(this.#settings.zeroThreshold);
    this.#zeroCount = 0;
    this.#positive = new BucketCounts(firstSlots(this.#schema));
    this.#negative = new BucketCounts();
    this.#resetAt = Date.now();
  }

  /**
   * Keeps the buckets within `maxBuckets`, as client_golang does.
   *
   * @returns Whether the series must reset instead.
   */
  #limit(): boolean {
    const { maxBuckets, minResetMs, maxZeroThreshold } = this.#settings;
    if (this.#positive.size + this.#negative.size <= maxBuckets) return false;
    // A reset starts the counts again (a counter reset to Prometheus), fine-grained again.
    if (minResetMs > 0 && Date.now() - this.#resetAt >= minResetMs) return true;
    while (this.#positive.size + this.#negative.size > maxBuckets) {
      if (this.#widenZero(maxZeroThreshold)) continue;
      if (this.#schema <= MIN_SCHEMA) return false;
      this.#positive = BucketCounts.from(halve(this.#positive.toMap()));
      this.#negative = BucketCounts.from(halve(this.#negative.toMap()));
      this.#table = keyTableOf(--this.#schema);
      this.#setFloor();
    }
    return false;
  }

  /**
   * Widens the zero bucket past the lowest bucket (of either sign), to the
   * first bucket boundary at or above that bucket's upper bound that
   * Prometheus spells as this library does (what a shared store's merge
   * widens a process' threshold to: see `mergeNative`), if it stays at most
   * `max`. Every bucket up to it joins the zero bucket.
   *
   * @returns Whether it could.
   */
  #widenZero(max: number): boolean {
    const schema = this.#schema;
    const lowest = (): number => Math.min(this.#positive.lowest(), this.#negative.lowest());
    let key = lowest();
    if (key === Infinity) return false;
    const threshold = boundAtOrAbove(upperBound(key, schema), schema);
    if (!(threshold <= max)) return false;
    this.#setZeroThreshold(threshold);
    for (; key !== Infinity && upperBound(key, schema) <= threshold; key = lowest()) {
      this.#zeroCount += this.#positive.take(key) + this.#negative.take(key);
    }
    return true;
  }
}
