/**
 * Native histograms with MultiWorkerBackend: 4 real Web Workers
 * (tests/fixtures/native_worker.ts) observe one histogram at resolutions of
 * their own (tests/_native_scenario.ts); this thread, which observes
 * nothing, answers the scrapes. Every scrape is the exact merge of what
 * the workers sent, none reads as a counter reset after the one before, a
 * worker answering a scrape gives the same, and a worker gone keeps its share.
 */

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { encodeMetrics } from "../mod.ts";
import { type NativeWorkers, startNativeWorkers } from "./_native_workers.ts";
import { assertNoReset, type DecodedNative, nativeOf } from "./_protobuf.ts";
import { assertMerged, CONTRIBUTORS, NATIVE_METRIC, nativeHistogram } from "./_native_scenario.ts";

describe("Native histograms with MultiWorkerBackend and Web Workers", () => {
  let started: NativeWorkers | undefined;
  after(() => started?.stop());

  test(
    "4 workers at different resolutions: every scrape is the exact merged protobuf Histogram, and none reads as a counter reset",
    { timeout: 60_000 },
    async () => {
      started = await startNativeWorkers(
        "native",
        CONTRIBUTORS.length,
        1500,
        (i) => ({ op: "native", contributor: i }),
      );
      const { registry, workers } = started;
      nativeHistogram(registry);
      const scrape = async (): Promise<DecodedNative> =>
        nativeOf(await encodeMetrics(registry, { format: "protobuf" }), NATIVE_METRIC);
      // Rounds in steps, every worker's, a scrape after each (and one while they observe).
      let previous = await scrape();
      let rounds = 0;
      for (const step of [1, 1, 3, 25, 70]) {
        const observing = Promise.all(workers.map((w) => w.run({ op: "observe", rounds: step })));
        const during = await scrape();
        assertNoReset(previous, during, `while observing round ${rounds}`);
        await observing;
        rounds += step;
        const current = await scrape();
        assertNoReset(during, current, `after round ${rounds}`);
        assertMerged(current, rounds);
        previous = current;
      }
      // A worker answering a scrape merges the same (this thread's part is empty).
      const fromWorker = nativeOf(
        await workers[2]!.run({ op: "scrape" }) as Uint8Array,
        NATIVE_METRIC,
      );
      assertMerged(fromWorker, rounds);
      // A worker gone (terminated, no goodbye) keeps its share: its histogram never goes down.
      workers[1]!.terminate();
      await workers[0]!.run({ op: "values", values: [2] });
      const after = await scrape();
      assertNoReset(previous, after, "after a worker was gone");
      assert.equal(after.count, 19 * rounds + 1);
    },
  );
});
