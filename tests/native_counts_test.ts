/**
 * A native histogram's bucket counts (src/metrics/_native_counts.ts): a
 * dense array around a pivot key, a Map for keys far off, against a plain
 * Map of the same operations.
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

  test("keys MAX_SPAN/2 or more from the first are counted apart; emptied, it starts again", () => {
    const half = MAX_SPAN / 2;
    const counts = new BucketCounts(8);
    const keys = [1000, 1000 + half - 1, 1000 + half, 1000 - half, 1000 - half - 1];
    assert.deepEqual(keys.map((key) => counts.add(key)), [true, true, true, true, true]);
    counts.add(1000 + half);
    assert.deepEqual(sorted(counts.toMap()), [
      [1000 - half - 1, 1],
      [1000 - half, 1],
      [1000, 1],
      [1000 + half - 1, 1],
      [1000 + half, 2],
    ]);
    assert.equal(counts.size, 5);
    assert.equal(counts.lowest(), 1000 - half - 1);
    assert.equal(counts.take(1000 + half), 2);
    assert.equal(counts.size, 4);
    for (const key of keys) counts.take(key);
    assert.equal(counts.size, 0);
    // Empty, its slots are around the next key, however far.
    counts.add(-10 * MAX_SPAN);
    counts.add(-10 * MAX_SPAN + half - 1);
    assert.deepEqual(sorted(counts.toMap()), [[-10 * MAX_SPAN, 1], [-10 * MAX_SPAN + half - 1, 1]]);
    assert.equal(counts.lowest(), -10 * MAX_SPAN);
  });

  test("random adds, takes and counts match a Map, keys near and far", () => {
    let seed = 11;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let run = 0; run < 50; run++) {
      const counts = new BucketCounts([0, 8, 256][run % 3]);
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
