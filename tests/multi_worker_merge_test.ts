/**
 * How MultiWorkerBackend merges the workers' numbers of a series, and when
 * it judges which are live, without workers.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { addWorker, combine, Merged } from "../src/backends/_multi_worker_merge.ts";
import { LATEST } from "../src/backends/_multi_worker_settings.ts";
import { beat, type Beats, heardAt } from "../src/backends/_multi_worker_channel.ts";

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

test("MultiWorkerBackend judges which workers are live as of before a stall of its own, for three heartbeats after it", () => {
  const hb = 50;
  const beats: Beats = { last: 1000, stalledFrom: 0, stalledTo: -Infinity };
  // On time: now.
  beat(beats, hb, 1050);
  assert.equal(heardAt(beats, hb, 1060), 1060);
  // Busy now, its heartbeat late: as of its last beat.
  assert.equal(heardAt(beats, hb, 1300), 1050);
  // The beat after the stall notes it; its messages of that time may still wait.
  beat(beats, hb, 1300);
  assert.deepEqual(beats, { last: 1300, stalledFrom: 1050, stalledTo: 1300 });
  assert.equal(heardAt(beats, hb, 1340), 1050);
  // Three heartbeats later, on time again: now.
  beat(beats, hb, 1350);
  beat(beats, hb, 1400);
  beat(beats, hb, 1450);
  assert.equal(heardAt(beats, hb, 1460), 1460);
  assert.deepEqual(beats, { last: 1450, stalledFrom: 1050, stalledTo: 1300 });
});
