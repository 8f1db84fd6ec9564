/**
 * One series' native histogram in memory (src/metrics/_native_histogram.ts):
 * its observe() against the bucket math at every schema, on its common path
 * and off it (zero bucket, subnormal and negative values, schemas below 0),
 * and the zero bucket it widens to past `maxBuckets`.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_SCHEMA, MIN_SCHEMA } from "../src/metrics/_native_buckets.ts";
import { NativeHistogram, nativeSettings } from "../src/metrics/_native_histogram.ts";
import { mergeNative, NativeParts } from "../src/metrics/_native_merge.ts";
import type { NativeHistogramState } from "../src/vocabulary.ts";
import { populated as sorted } from "./_protobuf.ts";
import { mulberry32 } from "./_random.ts";
import { bucketize } from "./_native_oracle.ts";

/** A histogram's state with its buckets in key order, for comparing. */
function plain(state: NativeHistogramState): object {
  return { ...state, positive: sorted(state.positive), negative: sorted(state.negative) };
}

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
        for (const value of values) assert.equal(h.observe(value), false);
        const { zeroCount, positive, negative } = bucketize(values, schema, zeroThreshold);
        const state = h.state();
        const where = `schema ${schema}, zero threshold ${zeroThreshold}`;
        assert.equal(state.schema, schema, where);
        assert.equal(state.zeroCount, zeroCount, where);
        assert.deepEqual(sorted(state.positive), sorted(positive), where);
        assert.deepEqual(sorted(state.negative), sorted(negative), where);
      }
    }
  });

  test("past maxBuckets the zero bucket widens to the power of two at or above the lowest bucket's upper bound: every bucket up to it joins", () => {
    const h = new NativeHistogram(
      nativeSettings("m", { bucketFactor: 1.1, maxBuckets: 3, maxZeroThreshold: 4 }),
    );
    // Keys -4, -1, 5 and 13 at schema 3: bucket -4 ends at 2^-0.5 (not a bound Prometheus
    // spells as this library does), so the zero bucket reaches 1, and bucket -1 (up to 0.917) joins.
    for (const value of [0.7, 0.9, 1.5, 3]) assert.equal(h.observe(value), false);
    assert.deepEqual(plain(h.state()), {
      schema: 3,
      zeroThreshold: 1,
      zeroCount: 2,
      positive: [[5, 1], [13, 1]],
      negative: [],
    });
  });

  test("its zero bucket is the one a shared store's merge shows of a process holding the same (random settings and values)", () => {
    const next = mulberry32(29);
    const pick = <T>(choices: readonly T[]): T => choices[Math.floor(next() * choices.length)]!;
    let compared = 0;
    let widened = 0;
    for (let round = 0; round < 300; round++) {
      const settings = nativeSettings("m", {
        bucketFactor: pick([1.01, 1.1, 1.5, 2, 5]),
        maxBuckets: 3 + Math.floor(next() * 30),
        maxZeroThreshold: pick([0.01, 0.3, 1, 100]),
      });
      const h = new NativeHistogram(settings);
      for (let i = 0; i < 60; i++) {
        const value = 2 ** (next() * 12 - 6);
        h.observe(next() < 0.3 ? -value : value);
      }
      const state = h.state();
      // Lowered below schema 0, whose boundaries are sparser, a threshold may lie inside a
      // bucket: a merge widens it on to the next boundary (the share widened where it could).
      if (state.schema < 0 && state.schema !== settings.schema) continue;
      const parts = new NativeParts();
      parts.add(state);
      assert.deepEqual(plain(mergeNative(parts, settings)), plain(state), `round ${round}`);
      compared++;
      if (state.zeroThreshold !== settings.zeroThreshold) widened++;
    }
    assert.ok(compared > 200 && widened > 100, `${compared} compared, ${widened} widened`);
  });
});
