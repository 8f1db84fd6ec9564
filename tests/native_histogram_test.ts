/**
 * One series' native histogram in memory (src/metrics/_native_histogram.ts):
 * its observe() against the bucket math at every schema, on its common path
 * and off it (zero bucket, subnormal and negative values, schemas below 0).
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { keyOf, MAX_SCHEMA, MIN_SCHEMA } from "../src/metrics/_native_buckets.ts";
import { NativeHistogram, nativeSettings } from "../src/metrics/_native_histogram.ts";
import { populated as sorted } from "./_protobuf.ts";
import { mulberry32 } from "./_random.ts";

/** A bucket factor whose schema is `schema` (a hair above 2^(2^-schema), so that no rounding lowers it). */
function factorOf(schema: number): number {
  return 2 ** (2 ** -schema) * (1 + 1e-12);
}

describe("A native histogram in memory", () => {
  test("observe() counts every value where keyOf() puts it, at every schema and zero threshold", () => {
    const next = mulberry32(13);
    const values: number[] = [0, -0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MAX_VALUE];
    for (let i = 0; i < 2000; i++) {
      // Subnormal to huge, either sign, and the powers of two (bucket bounds at every schema).
      const exponent = Math.floor(next() * 2100) - 1074;
      const value = next() < 0.2 ? 2 ** Math.max(exponent, -1074) : 2 ** exponent * (1 + next());
      values.push(next() < 0.3 ? -value : value);
    }
    for (let schema = MIN_SCHEMA; schema <= MAX_SCHEMA; schema++) {
      for (const zeroThreshold of [0, 2 ** -1060, 2 ** -128, 0.75]) {
        const settings = nativeSettings("m", {
          bucketFactor: factorOf(schema),
          zeroThreshold,
          maxBuckets: 1e6,
        });
        assert.equal(settings.schema, schema);
        const h = new NativeHistogram(settings);
        const positive = new Map<number, number>();
        const negative = new Map<number, number>();
        let zeroCount = 0;
        for (const value of values) {
          assert.equal(h.observe(value), false);
          const size = Math.abs(value);
          if (size <= zeroThreshold) {
            zeroCount++;
            continue;
          }
          const buckets = value > 0 ? positive : negative;
          const key = keyOf(size, schema);
          buckets.set(key, (buckets.get(key) ?? 0) + 1);
        }
        const state = h.state();
        const where = `schema ${schema}, zero threshold ${zeroThreshold}`;
        assert.equal(state.schema, schema, where);
        assert.equal(state.zeroCount, zeroCount, where);
        assert.deepEqual(sorted(state.positive), sorted(positive), where);
        assert.deepEqual(sorted(state.negative), sorted(negative), where);
      }
    }
  });
});
