/**
 * A native histogram's bucket counts (src/metrics/_native_counts.ts): a
 * dense array that grows around the keys, a Map for keys far off, against a
 * plain Map of the same operations.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BucketCounts, MAX_SPAN } from "../src/metrics/_native_counts.ts";

/** The counts sorted by key, to compare. */
function sorted(buckets: ReadonlyMap<number, number>): [number, number][] {
  return [...buckets].sort(([a], [b]) => a - b);
}

describe("Native bucket counts", () => {
  test("add() says when a bucket is new; toMap() and size hold what was added", () => {
    const counts = new BucketCounts();
    assert.deepEqual([counts.add(5), counts.add(5), counts.add(-3), counts.add(5)], [
      true,
      false,
      true,
      false,
    ]);
    assert.equal(counts.size, 2);
    assert.deepEqual(sorted(counts.toMap()), [[-3, 1], [5, 3]]);
    assert.equal(counts.lowest(), -3);
    assert.equal(new BucketCounts().lowest(), Infinity);
  });

  test("keys far apart (past the dense array's span) are counted, and move into it as it grows", () => {
    const counts = new BucketCounts();
    counts.add(0);
    counts.add(MAX_SPAN + 100);
    counts.add(-MAX_SPAN * 5);
    assert.equal(counts.take(0), 1);
    // The array, empty now, starts again around 600, then grows to take in the far key.
    counts.add(600);
    counts.add(1000);
    counts.add(MAX_SPAN + 100);
    assert.deepEqual(sorted(counts.toMap()), [[-MAX_SPAN * 5, 1], [600, 1], [1000, 1], [
      MAX_SPAN + 100,
      2,
    ]]);
    assert.equal(counts.size, 4);
    assert.equal(counts.lowest(), -MAX_SPAN * 5);
    assert.equal(counts.take(MAX_SPAN + 100), 2);
    assert.equal(counts.size, 3);
  });

  test("random adds, takes and counts match a Map, keys near and far", () => {
    let seed = 11;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let run = 0; run < 50; run++) {
      const counts = new BucketCounts();
      const model = new Map<number, number>();
      const spread = [8, 100, MAX_SPAN, 4 * MAX_SPAN][run % 4]!;
      for (let i = 0; i < 2000; i++) {
        const key = Math.round((random() - 0.5) * spread) + (random() < 0.02 ? 10 * MAX_SPAN : 0);
        const what = random();
        if (what < 0.05) {
          assert.equal(counts.take(key), model.get(key) ?? 0);
          model.delete(key);
        } else if (what < 0.1) {
          const many = 1 + Math.floor(random() * 5);
          assert.equal(counts.addCount(key, many), !model.has(key));
          model.set(key, (model.get(key) ?? 0) + many);
        } else {
          assert.equal(counts.add(key), !model.has(key));
          model.set(key, (model.get(key) ?? 0) + 1);
        }
        assert.equal(counts.size, model.size);
      }
      assert.deepEqual(sorted(counts.toMap()), sorted(model));
      assert.equal(counts.lowest(), model.size === 0 ? Infinity : Math.min(...model.keys()));
      assert.deepEqual(sorted(BucketCounts.from(model).toMap()), sorted(model));
    }
  });

  test("addCount() of 0 adds no bucket", () => {
    const counts = new BucketCounts();
    assert.equal(counts.addCount(3, 0), false);
    assert.equal(counts.size, 0);
    assert.deepEqual([...counts.toMap()], []);
  });
});
