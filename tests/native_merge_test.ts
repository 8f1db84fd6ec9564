/**
 * Merging native histograms (src/metrics/_native_merge.ts): the schema rule
 * against client_golang's halving and against the bucket math, the zero
 * bucket, and, over random contributors that lower their resolution and
 * widen their zero buckets as they go, two properties: every merge is exact
 * (each observation in the bucket of the merged schema that holds it, or in
 * the zero bucket), and no merge reads as a counter reset after the one
 * before, by Prometheus 2.42's rules (`FloatHistogram.DetectReset`).
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { boundAtOrAbove, keyOf, upperBound } from "../src/metrics/_native_buckets.ts";
import { countOf, mergeNative, NativeParts, subtractNative } from "../src/metrics/_native_merge.ts";
import { NativeHistogram, nativeSettings } from "../src/metrics/_native_histogram.ts";
import { sharedSettings } from "../src/backends/_native_stores.ts";
import type { NativeHistogramState } from "../src/vocabulary.ts";
import { assertNoReset, populated as sorted } from "./_protobuf.ts";
import { mulberry32 } from "./_random.ts";
import { bucketize } from "./_native_oracle.ts";

/** client_golang's halving of a key (doubleBucketWidth): `if key > 0 { key++ }; key /= 2`, in Go's integers. */
function golangHalve(key: number): number {
  return Math.trunc((key > 0 ? key + 1 : key) / 2) + 0; // + 0: no -0
}

describe("Merging native histograms", () => {
  test("a key k at schema s goes to ceil(k / 2^(s - lowest)): client_golang's halving, and the bucket holding its upper bound", () => {
    for (let high = -3; high <= 8; high++) {
      for (let low = -4; low < high; low++) {
        for (let key = -70; key <= 70; key++) {
          let halved = key;
          for (let s = high; s > low; s--) halved = golangHalve(halved);
          const parts = new NativeParts();
          parts.buckets.push({ schema: high, positive: new Map([[key, 1]]), negative: new Map() });
          const merged = mergeNative(parts, { schema: high, zeroThreshold: 0 });
          // A lower schema among the contributors: the merge goes down to it.
          parts.buckets.push({ schema: low, positive: new Map(), negative: new Map([[0, 1]]) });
          const down = mergeNative(parts, { schema: high, zeroThreshold: 0 });
          assert.deepEqual(sorted(merged.positive), [[key, 1]]);
          assert.equal(down.schema, low);
          assert.deepEqual(sorted(down.positive), [[halved, 1]], `key ${key} ${high} → ${low}`);
          assert.equal(keyOf(upperBound(key, high), low), halved, `key ${key} ${high} → ${low}`);
        }
      }
    }
  });

  test("one contributor merged is itself: its zero bucket and a bucket reaching past its threshold stay", () => {
    const settings = nativeSettings("m", { bucketFactor: 1.1, zeroThreshold: 0.3 });
    const h = new NativeHistogram(settings);
    for (const v of [0, 0.2, -0.3, 0.31, 0.5, 1, 2, -7]) h.observe(v);
    const parts = new NativeParts();
    parts.add(h.state());
    const merged = mergeNative(parts, settings);
    assert.deepEqual(
      { ...merged, positive: sorted(merged.positive), negative: sorted(merged.negative) },
      {
        schema: 3,
        zeroThreshold: 0.3,
        zeroCount: 3,
        // 0.31 is in bucket -13, (0.297, 0.324]: past the threshold, and kept.
        positive: [[-13, 1], [-8, 1], [0, 1], [8, 1]],
        negative: [[23, 1]],
      },
    );
  });

  test("the widest zero threshold wins, rounded up to a power of two: the buckets below it join the zero bucket", () => {
    const parts = new NativeParts();
    // One contributor at schema 3 with the default threshold, one at schema 0 whose zero bucket widened to 0.3.
    parts.add({
      schema: 3,
      zeroThreshold: 2 ** -128,
      zeroCount: 1,
      positive: new Map([[-16, 2], [-13, 3], [-8, 4], [0, 5]]), // up to 0.25, 0.324, 0.5, 1
      negative: new Map([[-12, 6]]), // up to 0.354
    });
    parts.add({
      schema: 0,
      zeroThreshold: 0.3,
      zeroCount: 7,
      positive: new Map([[1, 8]]), // (1, 2]
      negative: new Map(),
    });
    const merged = mergeNative(parts, { schema: 3, zeroThreshold: 2 ** -128 });
    assert.equal(merged.schema, 0);
    assert.equal(merged.zeroThreshold, 0.5);
    assert.equal(merged.zeroCount, 1 + 7 + 2 + 3 + 4 + 6);
    assert.deepEqual(sorted(merged.positive), [[0, 5], [1, 8]]);
    assert.deepEqual(sorted(merged.negative), []);
    // At schema -1 the boundaries are powers of 4: 0.3 rounds up to 1.
    parts.buckets.push({ schema: -1, positive: new Map([[2, 1]]), negative: new Map() });
    const coarse = mergeNative(parts, { schema: 3, zeroThreshold: 2 ** -128 });
    assert.equal(coarse.zeroThreshold, 1);
    assert.deepEqual(sorted(coarse.positive), [[1, 8], [2, 1]]);
    assert.equal(coarse.zeroCount, 1 + 7 + 2 + 3 + 4 + 6 + 5);
  });

  test("boundAtOrAbove() is the least power of two (of 2^(2^-schema) below schema 0) at or above a value", () => {
    assert.equal(boundAtOrAbove(0.3, 3), 0.5);
    assert.equal(boundAtOrAbove(0.5, 3), 0.5);
    assert.equal(boundAtOrAbove(0.5000000000000001, 0), 1);
    assert.equal(boundAtOrAbove(2 ** -128, 8), 2 ** -128);
    assert.equal(boundAtOrAbove(3, -1), 4);
    assert.equal(boundAtOrAbove(5, -1), 16);
    assert.equal(boundAtOrAbove(2, -4), 65536);
    assert.equal(boundAtOrAbove(Number.MIN_VALUE, 0), Number.MIN_VALUE);
  });

  for (
    const style of [
      "whole states (the multi-worker store)",
      "fields by schema and threshold (Redis)",
    ]
  ) {
    test(`random contributors, ${style}: every merge is exact, and none reads as a counter reset`, () => {
      const next = mulberry32(style.length * 7919);
      const base = nativeSettings("m", { bucketFactor: 1.1, zeroThreshold: 2 ** -20 });
      // How many merges had a wider zero bucket, and a lower schema, than configured.
      let widened = 0;
      let lowered = 0;
      for (let round = 0; round < 30; round++) {
        const contributors = Array.from(
          { length: 1 + Math.floor(next() * 4) },
          () =>
            new NativeHistogram(sharedSettings(nativeSettings("m", {
              bucketFactor: 1.1,
              zeroThreshold: 2 ** -20,
              maxBuckets: 1 + Math.floor(next() * 12),
              maxZeroThreshold: next() < 0.5 ? 0 : 2 ** (Math.floor(next() * 8) - 6),
              minResetDurationSeconds: 60,
            }))),
        );
        // What a Redis store holds: counts by the schema and key, or the threshold, each was made at.
        const fields = new Map<string, number>();
        const values: number[] = [];
        let previous: NativeHistogramState | undefined;
        for (let step = 0; step < 25; step++) {
          for (const h of contributors) {
            for (let i = Math.floor(next() * 6); i > 0; i--) {
              const kind = next();
              const magnitude = kind < 0.1 ? 0 : kind < 0.3
                // Exactly on a bound of the contributor's schema.
                ? upperBound(Math.floor(next() * 40) - 20, h.schema)
                : 2 ** (next() * 40 - 20);
              const value = next() < 0.25 ? -magnitude : magnitude;
              values.push(value);
              const size = Math.abs(value);
              const at = size <= h.zeroThreshold
                ? `z ${h.zeroThreshold}`
                : `${value > 0 ? "p" : "n"} ${h.schema} ${keyOf(size, h.schema)}`;
              fields.set(at, (fields.get(at) ?? 0) + 1);
              const threshold = h.zeroThreshold;
              assert.equal(h.observe(value), false, "a shared series never resets");
              const widened = `z ${h.zeroThreshold}`;
              if (h.zeroThreshold !== threshold) fields.set(widened, fields.get(widened) ?? 0);
            }
          }
          const parts = new NativeParts();
          if (style.startsWith("whole")) {
            for (const h of contributors) parts.add(h.state());
          } else {
            const bySchema = new Map<
              number,
              { positive: Map<number, number>; negative: Map<number, number> }
            >();
            for (const [at, count] of fields) {
              const [kind, a, b] = at.split(" ");
              if (kind === "z") {
                parts.zeros.push([Number(a), count]);
                continue;
              }
              let buckets = bySchema.get(Number(a));
              if (!buckets) {
                bySchema.set(Number(a), buckets = { positive: new Map(), negative: new Map() });
              }
              (kind === "p" ? buckets.positive : buckets.negative).set(Number(b), count);
            }
            for (const [schema, buckets] of bySchema) parts.buckets.push({ schema, ...buckets });
          }
          const merged = mergeNative(parts, base);
          // The lowest schema among those that hold buckets.
          const schemas = style.startsWith("whole")
            ? contributors.filter((h) => h.state().positive.size + h.state().negative.size > 0)
              .map((h) => h.schema)
            : parts.buckets.map((b) => b.schema);
          assert.equal(merged.schema, Math.min(base.schema, ...schemas));
          const expected = bucketize(values, merged.schema, merged.zeroThreshold);
          assert.equal(merged.zeroCount, expected.zeroCount, `round ${round} step ${step}`);
          assert.deepEqual(sorted(merged.positive), sorted(expected.positive));
          assert.deepEqual(sorted(merged.negative), sorted(expected.negative));
          assert.equal(countOf(merged), values.length);
          if (previous !== undefined) assertNoReset(previous, merged);
          previous = merged;
          if (merged.zeroThreshold > base.zeroThreshold) widened++;
          if (merged.schema < base.schema) lowered++;
        }
      }
      assert.ok(widened > 50 && lowered > 50, `${widened} widened, ${lowered} lowered`);
    });
  }
  test("a share less an earlier state of itself is what it observed since, at its resolution, whatever it halved and widened in between", () => {
    const next = mulberry32(4243);
    let moved = 0;
    for (let round = 0; round < 300; round++) {
      const h = new NativeHistogram(sharedSettings(nativeSettings("m", {
        bucketFactor: 1.1,
        zeroThreshold: 2 ** -20,
        maxBuckets: 1 + Math.floor(next() * 12),
        maxZeroThreshold: next() < 0.5 ? 0 : 2 ** (Math.floor(next() * 8) - 6),
      })));
      const observe = (n: number): number[] => {
        const values: number[] = [];
        for (let i = 0; i < n; i++) {
          const magnitude = next() < 0.1 ? 0 : 2 ** (next() * 40 - 20);
          values.push(next() < 0.25 ? -magnitude : magnitude);
          h.observe(values.at(-1)!);
        }
        return values;
      };
      observe(Math.floor(next() * 30));
      const state = h.state();
      const earlier = {
        ...state,
        positive: new Map(state.positive),
        negative: new Map(state.negative),
      };
      const since = observe(Math.floor(next() * 30));
      const later = h.state();
      if (later.schema !== earlier.schema || later.zeroThreshold !== earlier.zeroThreshold) moved++;
      const left = subtractNative(later, earlier);
      const expected = bucketize(since, later.schema, later.zeroThreshold);
      assert.equal(left.schema, later.schema);
      assert.equal(left.zeroThreshold, later.zeroThreshold);
      assert.equal(left.zeroCount, expected.zeroCount, `round ${round}`);
      assert.deepEqual(sorted(left.positive), sorted(expected.positive), `round ${round}`);
      assert.deepEqual(sorted(left.negative), sorted(expected.negative), `round ${round}`);
      h.subtract(earlier);
      assert.equal(countOf(h.state()), since.length);
    }
    assert.ok(moved > 60, `${moved} of 300 changed resolution in between`);
  });
});
