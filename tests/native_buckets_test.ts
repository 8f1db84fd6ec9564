/**
 * Native histograms' bucket math (src/metrics/_native_buckets.ts): schemas,
 * keys, spans and deltas, halving, against the worked cases of the issue and
 * client_golang, an independent high-precision oracle, and properties.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  boundsOf,
  halve,
  keyOf,
  MAX_SCHEMA,
  MIN_SCHEMA,
  schemaOf,
  spansOf,
  upperBound,
} from "../src/metrics/_native_buckets.ts";

/** The buckets of some observations (positive ones), by key. */
function bucketsOf(values: readonly number[], schema: number): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const value of values) {
    const key = keyOf(value, schema);
    buckets.set(key, (buckets.get(key) ?? 0) + 1);
  }
  return buckets;
}

/** The next double up. */
function nextUp(value: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

describe("Native histogram bucket math", () => {
  test("schemaOf() is -floor(log2(log2(factor))), clamped to -4..8", () => {
    assert.equal(schemaOf(1.1), 3);
    assert.equal(schemaOf(2), 0);
    assert.equal(schemaOf(4), -1);
    assert.equal(schemaOf(65536), -4);
    assert.equal(schemaOf(1e300), MIN_SCHEMA);
    assert.equal(schemaOf(1.0027), 8);
    assert.equal(schemaOf(1.000001), MAX_SCHEMA);
  });

  test("factor 1.1 and observations 1, 2, 3 give keys 0, 8, 13: spans {0,1},{7,1},{4,1}, deltas 1,0,0", () => {
    const schema = schemaOf(1.1);
    assert.deepEqual([1, 2, 3].map((v) => keyOf(v, schema)), [0, 8, 13]);
    assert.deepEqual(spansOf(bucketsOf([1, 2, 3], schema)), {
      spans: [[0, 1], [7, 1], [4, 1]],
      deltas: [1, 0, 0],
    });
  });

  test("the largest double and +Inf take the last keys at schemas -1, 0 and 2", () => {
    assert.deepEqual([keyOf(Number.MAX_VALUE, -1), keyOf(Infinity, -1)], [512, 513]);
    assert.deepEqual([keyOf(Number.MAX_VALUE, 0), keyOf(Infinity, 0)], [1024, 1025]);
    assert.deepEqual([keyOf(Number.MAX_VALUE, 2), keyOf(Infinity, 2)], [4096, 4097]);
  });

  test("buckets are upper-inclusive: a power of two ends the bucket below it", () => {
    for (let schema = MIN_SCHEMA; schema <= MAX_SCHEMA; schema++) {
      // (2^-1074, the least double, has no double below its bucket's bound to compare with.)
      for (const exponent of [-1022, -3, 0, 1, 10, 1023]) {
        const value = 2 ** exponent;
        const key = keyOf(value, schema);
        assert.ok(value <= upperBound(key, schema), `2^${exponent} at schema ${schema}`);
        assert.ok(value > upperBound(key - 1, schema), `2^${exponent} at schema ${schema}`);
      }
    }
    assert.equal(keyOf(1, 0), 0);
    assert.equal(keyOf(4, -1), 1);
    assert.equal(keyOf(5e-324, 0), -1074);
  });

  test("schema 3's bounds are the largest doubles not above 2^(i/8 - 1) (a 80-digit decimal oracle)", () => {
    assert.deepEqual(boundsOf(3), [
      0.5,
      0.5452538663326287,
      0.5946035575013605,
      0.6484197773255048,
      0.7071067811865475,
      0.7711054127039704,
      0.8408964152537145,
      0.9170040432046712,
    ]);
  });

  test("every bound of every schema closes its bucket: the bound is in it, the next double is not", () => {
    for (let schema = 1; schema <= MAX_SCHEMA; schema++) {
      const bounds = boundsOf(schema);
      assert.equal(bounds.length, 2 ** schema);
      bounds.forEach((bound, i) => {
        // bound·2 has significand `bound` and exponent 1: key i.
        assert.equal(keyOf(bound * 2, schema), i, `schema ${schema} bound ${i}`);
        assert.equal(keyOf(nextUp(bound) * 2, schema), i + 1, `schema ${schema} above ${i}`);
      });
    }
  });

  test("every value lies in its bucket: above the bound below, at most its own (10k values, every schema)", () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 10_000; i++) {
      const value = 2 ** ((random() - 0.5) * 200) * (1 + random());
      for (let schema = MIN_SCHEMA; schema <= MAX_SCHEMA; schema++) {
        const key = keyOf(value, schema);
        assert.ok(value <= upperBound(key, schema) && value > upperBound(key - 1, schema));
      }
    }
  });

  test("keyOf() agrees with a search of the exact bounds, 2 ulps either side of every bound", () => {
    const bits = new DataView(new ArrayBuffer(8));
    const step = (value: number, ulps: number): number => {
      bits.setFloat64(0, value);
      bits.setBigUint64(0, bits.getBigUint64(0) + BigInt(ulps));
      return bits.getFloat64(0);
    };
    for (let schema = MIN_SCHEMA; schema <= MAX_SCHEMA; schema++) {
      // Schema s from 0 up: the fraction's index among the bounds, then the exponent's keys.
      const split = Math.max(schema, 0);
      const bounds = split === 0 ? [0.5] : boundsOf(split);
      const expected = (value: number): number => {
        let exponent = Math.floor(Math.log2(value));
        while (2 ** exponent > value) exponent--;
        while (2 ** (exponent + 1) <= value) exponent++;
        const fraction = value / 2 ** (exponent + 1);
        const key = bounds.filter((bound) => bound < fraction).length + exponent * bounds.length;
        return Math.ceil(key / 2 ** (split - schema)) + 0; // (not -0)
      };
      for (const exponent of [-1022, -500, -30, -1, 0, 1, 7, 60, 1000]) {
        for (const bound of bounds) {
          for (let ulps = -2; ulps <= 2; ulps++) {
            const value = step(bound * 2 ** (exponent + 1), ulps);
            assert.equal(keyOf(value, schema), expected(value), `${value} at schema ${schema}`);
          }
        }
      }
    }
  });

  test("spansOf() fills a gap of up to 2 buckets with zero buckets, starts a new span past it", () => {
    assert.deepEqual(spansOf(new Map([[-2, 1], [1, 3], [5, 2]])), {
      spans: [[-2, 4], [3, 1]],
      deltas: [1, -1, 0, 3, -1],
    });
    assert.deepEqual(spansOf(new Map([[3, 0], [4, 2]])), { spans: [[4, 1]], deltas: [2] });
    assert.deepEqual(spansOf(new Map()), { spans: [], deltas: [] });
  });

  test("halve() merges each key k into ceil(k/2): the counts stay, the resolution halves", () => {
    const merged = halve(new Map([[-3, 1], [-2, 2], [-1, 4], [0, 8], [1, 16], [2, 32], [13, 64]]));
    assert.deepEqual([...merged].sort(([a], [b]) => a - b), [[-1, 3], [0, 12], [1, 48], [7, 64]]);
    // The same value is in the merged bucket one schema down.
    for (const value of [0.3, 1, 1.5, 7, 1e10]) {
      assert.equal(Math.ceil(keyOf(value, 3) / 2), keyOf(value, 2), `${value}`);
    }
  });
});
