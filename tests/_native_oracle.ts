/** The buckets a native histogram must hold, computed apart from it. */

import { keyOf } from "../src/metrics/_native_buckets.ts";

/**
 * Observations bucketed at a schema and zero threshold by `keyOf()`, one by
 * one: what a native histogram (or an exact merge) must hold.
 */
export function bucketize(
  values: readonly number[],
  schema: number,
  zeroThreshold: number,
): { zeroCount: number; positive: Map<number, number>; negative: Map<number, number> } {
  const positive = new Map<number, number>();
  const negative = new Map<number, number>();
  let zeroCount = 0;
  for (const value of values) {
    const size = Math.abs(value);
    if (size <= zeroThreshold) {
      zeroCount++;
      continue;
    }
    const buckets = value > 0 ? positive : negative;
    const key = keyOf(size, schema);
    buckets.set(key, (buckets.get(key) ?? 0) + 1);
  }
  return { zeroCount, positive, negative };
}
