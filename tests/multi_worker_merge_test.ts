/** How MultiWorkerBackend merges the workers' numbers of a series, without workers. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { addWorker, combine, Merged } from "../src/backends/_multi_worker_merge.ts";
import { LATEST } from "../src/backends/_multi_worker_settings.ts";

test('MultiWorkerBackend shows the same of "latest" values set at the same time, whichever worker merges them, in whatever order', () => {
  const at = 1_800_000_000_000.5;
  const parts: [id: string, value: number][] = [["main", 1], ["w1", 2], ["w2", 3]];
  for (const [self, own] of parts) {
    const others = parts.filter(([id]) => id !== self);
    for (const order of [others, [...others].reverse()]) {
      const merged = new Merged(1);
      for (const [id, value] of order) assert.ok(addWorker(merged, LATEST, id, [value, at]));
      const shown = combine(merged, 0, LATEST, "worker", own, at, true, self);
      assert.equal(shown, 3, `answered by ${self}, merging ${order.map(([id]) => id)}`);
    }
  }
});
