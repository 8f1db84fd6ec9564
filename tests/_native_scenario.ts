/**
 * The native histogram that 4 contributors (processes or workers) share in
 * the multi-process tests: each observes its values, round after round, at a
 * resolution of its own (one lowers its schema to -1, one widens its zero
 * bucket to 0.5 then lowers its schema, two keep the default), and every
 * scrape merges them exactly. The values are powers of two, so every sum is
 * exact and every bucket is counted here by hand.
 */

import assert from "node:assert/strict";
import { Histogram, type NativeHistogramOptions, type Registry } from "../mod.ts";
import { type DecodedNative, populated } from "./_protobuf.ts";

/** The metric the contributors share. */
export const NATIVE_METRIC = "mixed_seconds";

/** One contributor: its native options, and the values it observes each round. */
export interface Contributor {
  readonly native: NativeHistogramOptions;
  readonly values: readonly number[];
}

export const CONTRIBUTORS: readonly Contributor[] = [
  // Schema 3 (factor 1.1) throughout.
  { native: {}, values: [1, 2, 4, 0.25] },
  // Five buckets at schema 3 (keys 0, 8, 16, 24, 32): halved to schema -1 at the 8.
  { native: { maxBuckets: 3 }, values: [1, 2, 4, 8, 16] },
  // Its zero bucket widens to 0.25 at the 1, to 0.5 at the 2; at the 4 (a third bucket) it
  // may not widen to 1: halved to schema -1.
  { native: { maxBuckets: 2, maxZeroThreshold: 0.5 }, values: [0.25, 0.5, 1, 2, 4] },
  // Zero and negative values, schema 3.
  { native: {}, values: [0, -1, -2, -0.5, 1] },
];

/**
 * The histogram, as a contributor (its options) or as the reader (the
 * defaults: schema 3, zero threshold 2^-128).
 */
export function nativeHistogram(registry?: Registry | null, contributor?: number): Histogram {
  return new Histogram({
    name: NATIVE_METRIC,
    description: "Mixed resolutions.",
    buckets: [],
    native: contributor === undefined ? {} : CONTRIBUTORS[contributor]!.native,
    ...(registry === undefined ? {} : { registry }),
  });
}

/**
 * Observes a contributor's values `rounds` times, letting the event loop run
 * (flushes, messages) every `every` rounds.
 */
export async function observeRounds(
  histogram: Histogram,
  contributor: number,
  rounds: number,
  every = 10,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const value of CONTRIBUTORS[contributor]!.values) histogram.observe(value);
    if (round % every === every - 1) await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Asserts the merged histogram after `rounds` rounds of every contributor:
 * schema -1 (the lowest), zero threshold 1 (the widest, 0.5, up to the next
 * bucket boundary at schema -1, a power of 4), so that every value of at
 * most 1 is in the zero bucket; 2 and 4 in bucket 1 (1, 4], 8 and 16 in
 * bucket 2 (4, 16], -2 in negative bucket 1.
 */
export function assertMerged(decoded: DecodedNative, rounds: number): void {
  const n = rounds;
  const { created_timestamp: _, ...histogram } = decoded.histogram;
  assert.deepEqual(histogram, {
    sample_count: 19 * n,
    sample_sum: 43.5 * n,
    schema: -1,
    zero_threshold: 1,
    zero_count: 10 * n,
    negative_span: [{ offset: 1, length: 1 }],
    negative_delta: [n],
    positive_span: [{ offset: 1, length: 2 }],
    positive_delta: [6 * n, -4 * n],
  });
  assert.deepEqual(populated(decoded.positive), [[1, 6 * n], [2, 2 * n]]);
}
