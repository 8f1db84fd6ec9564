/**
 * Merging the native histograms of one series that several contributors
 * (processes, workers, or the resolutions a store kept them at) hold into
 * one, exactly, as Prometheus adds histograms:
 *
 * - the schema is the lowest among the contributors that have buckets: a
 *   key `k` at schema `s` goes to `ceil(k / 2^(s - lowest))`, the bucket
 *   that contains it (client_golang halves its resolution the same way);
 * - the zero bucket is the widest: when the thresholds differ, it reaches
 *   to the first bucket boundary at or above the widest threshold that
 *   Prometheus spells exactly as this library does (a power of two, or above
 *   schema 0 any boundary: Prometheus' table of the bounds between powers of
 *   two is one ulp off ours at about half of them), and every bucket below
 *   that boundary joins it, so that no bucket lies partly inside it (as
 *   Prometheus' `zeroCountForLargerThreshold` requires of histograms it
 *   adds or compares). When they are all the same, nothing moves: one
 *   contributor merged is itself.
 *
 * Merged again later from contributors that only grew (counts up, schemas
 * down, zero buckets wider), the result only grows in the same sense, so
 * Prometheus never reads a counter reset into it.
 */

import type { NativeHistogramState } from "../vocabulary.ts";
import { boundAtOrAbove, upperBound } from "./_native_buckets.ts";

/** One contributor's buckets at one schema, by key. */
export interface NativeBuckets {
  readonly schema: number;
  readonly positive: ReadonlyMap<number, number>;
  readonly negative: ReadonlyMap<number, number>;
}

/** The resolution a series is configured with: what the merge starts from. */
export interface NativeBase {
  readonly schema: number;
  readonly zeroThreshold: number;
}

/**
 * What a shared store read of one series' native histogram, not merged yet:
 * the zero buckets (each with the threshold it was counted with) and the
 * buckets (each set at the schema it was counted at). The series merges
 * them with its own settings (see {@linkcode mergeNative}).
 */
export class NativeParts {
  /** Zero buckets: the threshold each was counted with, and its count. */
  readonly zeros: [threshold: number, count: number][] = [];
  /** Buckets, each set at its schema. */
  readonly buckets: NativeBuckets[] = [];

  /**
   * Adds one contributor's whole histogram.
   *
   * @param state Its zero bucket and buckets.
   */
  add(state: NativeHistogramState): void {
    this.zeros.push([state.zeroThreshold, state.zeroCount]);
    this.buckets.push(state);
  }
}

/**
 * Merges what contributors hold of one series (see the module's notes).
 *
 * @param parts The zero buckets and buckets of every contributor.
 * @param base The series' configured schema and zero threshold.
 * @returns The merged histogram.
 */
export function mergeNative(parts: NativeParts, base: NativeBase): NativeHistogramState {
  let schema = base.schema;
  for (const { schema: s, positive, negative } of parts.buckets) {
    if (s < schema && (positive.size > 0 || negative.size > 0)) schema = s;
  }
  let threshold = base.zeroThreshold;
  let zeroCount = 0;
  let differ = false;
  for (const [t, count] of parts.zeros) {
    zeroCount += count;
    if (t !== base.zeroThreshold) differ = true;
    if (t > threshold) threshold = t;
  }
  const positive = new Map<number, number>();
  const negative = new Map<number, number>();
  for (const part of parts.buckets) {
    addAt(positive, part.positive, part.schema - schema);
    addAt(negative, part.negative, part.schema - schema);
  }
  if (!differ) {
    return { schema, zeroThreshold: base.zeroThreshold, zeroCount, positive, negative };
  }
  const widest = boundAtOrAbove(threshold, schema);
  for (const buckets of [positive, negative]) {
    for (const [key, count] of buckets) {
      if (upperBound(key, schema) > widest) continue;
      zeroCount += count;
      buckets.delete(key);
    }
  }
  return { schema, zeroThreshold: widest, zeroCount, positive, negative };
}

/** Adds buckets `shift` schemas above `into`'s, each to the bucket that contains it. */
function addAt(
  into: Map<number, number>,
  from: ReadonlyMap<number, number>,
  shift: number,
): void {
  const scale = 2 ** shift;
  for (const [key, count] of from) {
    if (!(count > 0)) continue;
    // Exact: a whole number divided by a power of two.
    const to = shift === 0 ? key : Math.ceil(key / scale);
    into.set(to, (into.get(to) ?? 0) + count);
  }
}

/**
 * What a share holds beyond an earlier state of itself (an idle expiry's
 * cut): `later` minus `earlier`, at `later`'s schema and zero threshold.
 * `earlier`'s buckets are moved as the share moved them since: each to the
 * bucket that holds it at the lower schema, and into the zero bucket when it
 * lies below the wider threshold (exact: the share widened its zero bucket
 * to a boundary of a schema at most `earlier`'s). No count goes below 0.
 *
 * @param later The share now.
 * @param earlier The share as it was (or one that is no earlier state of it:
 * then `later` when it holds more observations, else nothing).
 * @returns The observations since, at `later`'s resolution.
 */
export function subtractNative(
  later: NativeHistogramState,
  earlier: NativeHistogramState,
): NativeHistogramState {
  const { schema, zeroThreshold } = later;
  const positive = new Map(later.positive);
  const negative = new Map(later.negative);
  const shift = earlier.schema - schema;
  if (shift < 0 || earlier.zeroThreshold > zeroThreshold) {
    if (countOf(later) > countOf(earlier)) return { ...later, positive, negative };
    return { schema, zeroThreshold, zeroCount: 0, positive: new Map(), negative: new Map() };
  }
  const widened = zeroThreshold > earlier.zeroThreshold;
  let zeroCount = later.zeroCount - earlier.zeroCount;
  const take = (into: Map<number, number>, from: ReadonlyMap<number, number>): void => {
    for (const [key, count] of from) {
      if (widened && upperBound(key, earlier.schema) <= zeroThreshold) {
        zeroCount -= count;
        continue;
      }
      const to = shift === 0 ? key : Math.ceil(key / 2 ** shift);
      const left = (into.get(to) ?? 0) - count;
      if (left > 0) into.set(to, left);
      else into.delete(to);
    }
  };
  take(positive, earlier.positive);
  take(negative, earlier.negative);
  return { schema, zeroThreshold, zeroCount: Math.max(0, zeroCount), positive, negative };
}

/**
 * How many observations a native histogram holds: its zero bucket and
 * every bucket.
 *
 * @param state The histogram.
 * @returns The count.
 */
export function countOf(state: NativeHistogramState): number {
  let count = state.zeroCount;
  for (const value of state.positive.values()) count += value;
  for (const value of state.negative.values()) count += value;
  return count;
}
