/**
 * What bench/bench.ts measures on every library: the workloads' inputs,
 * created before any measurement, and what each library implements.
 */

import type { Loop } from "./_harness.ts";

/** A registry's exposition, as text and as the bytes a response sends. */
export interface Render {
  text(): Promise<string>;
  bytes(): Promise<Uint8Array>;
  /** The protobuf exposition; the peers have none: their text's bytes. */
  protobuf(): Promise<Uint8Array>;
}

export const ENCODER = new TextEncoder();

/** A hot loop and a read-back of what it recorded, to check every library did the work. */
export interface Workload {
  readonly loop: Loop;
  /** The total of the counter, or the histogram's observation count. */
  count(): Promise<number>;
}

/** What each library implements, with its own idiom. */
export interface Adapter {
  /** `inc()` on a child resolved once. */
  childInc(): Workload;
  /** A two-label lookup plus `inc()` on every call. */
  labelsInc(): Workload;
  /** `observe(v)` on an unlabelled histogram with the default buckets. */
  observe(): Workload;
  /**
   * `observe(v)` on a native histogram (default buckets beside it); the
   * peers have none: their classic `observe(v)`.
   */
  nativeObserve(): Workload;
  /** Fills a fresh registry with the rendering workload; returns the render call. */
  render(): Render;
  /**
   * Creates `routes.length` counter series in a fresh registry, each
   * incremented by 0.5 (a fraction, as seconds or ratios are: an engine may
   * store whole numbers more compactly); returns what keeps them alive.
   */
  series(routes: readonly string[]): unknown;
}

// Workload inputs, shared by all libraries and created before any measurement.
export const METHODS = ["GET", "POST", "PUT", "DELETE"] as const;
export const CODES = ["200", "201", "404", "500"] as const;
export const VALUES = observedValues(1024);
export const RENDER_COUNTERS = 10;
export const RENDER_ROUTES = Array.from({ length: 1000 }, (_, i) => `/api/v1/items/${i}`);
export const RENDER_HISTOGRAMS = 10;
export const HISTOGRAM_ROUTES = RENDER_ROUTES.slice(0, 100);

/** Values spread log-uniformly over 0.001..20, so every default bucket gets some. */
function observedValues(n: number): Float64Array {
  const out = new Float64Array(n);
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out[i] = 0.001 * Math.pow(20_000, seed / 2 ** 32);
  }
  return out;
}
