/**
 * MultiWorkerBackend when a scrape cannot have every worker's newest values:
 * a peer's values cannot be read (they are left out, the rest merged), or a
 * worker does not answer in time (its last known values stand in for it).
 * This thread answers the scrapes; the other workers are real Web Workers
 * (tests/fixtures/multi_worker_worker.ts).
 *
 * No worker of this library sends values that are not numbers, so those come
 * from a foreign peer on the same channel (a raw `BroadcastChannel`, standing
 * for a worker of an incompatible version or a corrupted message).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BroadcastChannel as NodeChannel } from "node:worker_threads";
import {
  CollectorRegistry,
  generateMetrics,
  loadBackend,
  MultiWorkerBackend,
  type MultiWorkerBackendConfig,
  setLogger,
  SingleProcessBackend,
} from "../mod.ts";
import { waitFor } from "./_process.ts";
import { capturingLogger } from "./_serve.ts";
import { gaugeModes, makeMetrics, type TestMetrics } from "./fixtures/multi_worker_metrics.ts";
import { TestWorker } from "./_test_worker.ts";

let channels = 0;

/** This thread ("main") and Web Workers `w1`, `w2`, on a fresh channel, metrics named `<prefix>...`. */
async function setup(prefix: string, config: MultiWorkerBackendConfig): Promise<{
  registry: CollectorRegistry;
  metrics: TestMetrics;
  workers: [TestWorker, TestWorker];
  channel: string;
}> {
  const full: MultiWorkerBackendConfig = {
    channel: `pytheus-failed-merge-${Date.now()}-${channels++}`,
    gaugeModes: gaugeModes(prefix),
    ...config,
  };
  const registry = new CollectorRegistry();
  await loadBackend({
    backendClass: MultiWorkerBackend,
    backendConfig: { ...full, workerId: "main", registry },
  });
  const metrics = makeMetrics(prefix, registry);
  const workers: [TestWorker, TestWorker] = [new TestWorker(), new TestWorker()];
  started.push(...workers);
  await Promise.all(
    workers.map((worker, i) =>
      worker.run({ op: "init", prefix, config: { ...full, workerId: `w${i + 1}` } })
    ),
  );
  await waitFor("every worker's hello", async () => {
    const text = await generateMetrics(registry);
    return text.includes('pytheus_multi_worker_workers{state="answered"} 3');
  });
  return { registry, metrics, workers, channel: full.channel! };
}

/** The lines of `text` that start with `prefix`, sorted. */
function lines(text: string, prefix: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(prefix)).sort();
}

/** The lines of a histogram `job_seconds{queue=<queue>}` with these counts. */
function histogram(prefix: string, queue: string, le1: number, le2: number, sum: number) {
  return [
    `${prefix}job_seconds_bucket{queue="${queue}",le="+Inf"} ${le2}`,
    `${prefix}job_seconds_bucket{queue="${queue}",le="1"} ${le1}`,
    `${prefix}job_seconds_bucket{queue="${queue}",le="2"} ${le2}`,
    `${prefix}job_seconds_count{queue="${queue}"} ${le2}`,
    `${prefix}job_seconds_sum{queue="${queue}"} ${sum}`,
  ];
}

/**
 * The counter and histogram series that went down (or vanished) from one
 * scrape to the next, as `<series> <before> -> <after>`.
 */
function decreases(scrapes: readonly string[], prefix: string): string[] {
  const pattern = new RegExp(
    `^(${prefix}(?:jobs_total|job_seconds_(?:bucket|sum|count))\\{[^}]*\\}) (\\S+)$`,
    "gm",
  );
  const found: string[] = [];
  let previous = new Map<string, number>();
  for (const text of scrapes) {
    const values = new Map([...text.matchAll(pattern)].map((m) => [m[1]!, Number(m[2])]));
    for (const [series, before] of previous) {
      const after = values.get(series);
      if (after === undefined || after < before) found.push(`${series} ${before} -> ${after}`);
    }
    previous = values;
  }
  return found;
}

const started: TestWorker[] = [];
const foreigns: BroadcastChannel[] = [];
// Starting Web Workers takes seconds on a loaded machine: past Bun's 5 s default.
const SLOW = { timeout: 30_000 };

describe("MultiWorkerBackend when a scrape cannot have every worker's newest values", () => {
  const { logger, messages } = capturingLogger();
  let previousLogger: ReturnType<typeof setLogger>;
  before(() => {
    previousLogger = setLogger(logger);
  });
  after(async () => {
    for (const worker of started) worker.terminate();
    for (const channel of foreigns) channel.close();
    await MultiWorkerBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    setLogger(previousLogger);
  });

  test(
    "A peer's entries that are not numbers are left out of the merge (warned about once): every other value is merged, nothing throws, nothing goes down",
    SLOW,
    async () => {
      const { registry, metrics, workers, channel } = await setup("fm_", { timeoutMs: 3000 });
      const [w1, w2] = workers;
      metrics.jobs.labels({ queue: "a" }).inc(1);
      metrics.gauges.sum.set(1);
      await w1.run({ op: "inc", queue: "a", value: 2 });
      await w1.run({ op: "inc", queue: "b", value: 5 });
      await w1.run({ op: "observe", queue: "a", value: 0.5 });
      await w2.run({ op: "inc", queue: "a", value: 4 });
      await w2.run({ op: "set", mode: "sum", value: 3 });
      const merged = await generateMetrics(registry);
      assert.deepEqual(lines(merged, "fm_jobs_total"), [
        'fm_jobs_total{queue="a"} 7',
        'fm_jobs_total{queue="b"} 5',
      ]);
      assert.deepEqual(lines(merged, "fm_g_sum"), ["fm_g_sum 4"]);
      assert.deepEqual(messages, []);

      // A foreign peer leaves with "last values" that hold, besides a good
      // number (e), an object whose conversion throws (a), a number spelt as
      // a string (f) and a histogram whose sum is not a number (a).
      const foreign = new NodeChannel(channel) as unknown as BroadcastChannel;
      foreigns.push(foreign);
      foreign.postMessage({
        t: "bye",
        from: "foreign",
        s: "foreign-session",
        n: 1,
        data: JSON.stringify({
          fm_jobs_total: ["counter", [
            '{"queue":"a"}',
            { valueOf: 0, toString: 0 },
            '{"queue":"e"}',
            11,
            '{"queue":"f"}',
            "12",
          ]],
          fm_job_seconds: ["histogram", ['{"queue":"a"}', [1, 1, 1, null]]],
        }),
      });
      const warned = "MultiWorkerBackend left out values of another worker that are not " +
        'numbers (first in "fm_jobs_total")';
      await waitFor("the foreign peer's values", async () => {
        const text = await generateMetrics(registry);
        return text.includes('fm_jobs_total{queue="e"} 11');
      });
      const withForeign = await generateMetrics(registry);
      assert.deepEqual(lines(withForeign, "fm_jobs_total"), [
        'fm_jobs_total{queue="a"} 7',
        'fm_jobs_total{queue="b"} 5',
        'fm_jobs_total{queue="e"} 11',
      ]);
      assert.deepEqual(lines(withForeign, "fm_job_seconds"), histogram("fm_", "a", 1, 1, 0.5));
      assert.deepEqual(messages, [warned]);

      // Every worker counts on: every scrape merges it, the bad entries still left out.
      metrics.jobs.labels({ queue: "a" }).inc(10);
      await w1.run({ op: "inc", queue: "a", value: 20 });
      await w1.run({ op: "observe", queue: "a", value: 1.5 });
      await w2.run({ op: "set", mode: "sum", value: 30 });
      const later = await generateMetrics(registry);
      assert.deepEqual(lines(later, "fm_jobs_total"), [
        'fm_jobs_total{queue="a"} 37',
        'fm_jobs_total{queue="b"} 5',
        'fm_jobs_total{queue="e"} 11',
      ]);
      assert.deepEqual(lines(later, "fm_g_sum"), ["fm_g_sum 31"]);
      assert.deepEqual(lines(later, "fm_job_seconds"), histogram("fm_", "a", 1, 2, 2));
      assert.deepEqual(messages, [warned]);
      assert.deepEqual(decreases([merged, withForeign, later], "fm_"), []);
    },
  );

  test(
    "A worker that does not answer in time is counted late, its last known counters, histograms and gauges stand in for it, and nothing is logged",
    SLOW,
    async () => {
      const timeoutMs = 300;
      const { registry, metrics, workers } = await setup("fl_", { timeoutMs, heartbeatMs: 2000 });
      const [w1, w2] = workers;
      messages.length = 0;
      metrics.jobs.labels({ queue: "a" }).inc(1);
      await w1.run({ op: "inc", queue: "a", value: 2 });
      await w2.run({ op: "inc", queue: "a", value: 4 });
      await w2.run({ op: "observe", queue: "a", value: 1.5 });
      await w2.run({ op: "set", mode: "sum", value: 5 });
      await w2.run({ op: "set", mode: "perWorker", value: 6 });
      const expected = (a: number, observed: [number, number, number], sum: number, own: number) =>
        [
          `fl_jobs_total{queue="a"} ${a}`,
          ...histogram("fl_", "a", ...observed),
          `fl_g_sum ${sum}`,
          // This worker's own (never set: 0) and w2's, not w1's (never set nor read there).
          'fl_g_perWorker{worker="main"} 0',
          `fl_g_perWorker{worker="w2"} ${own}`,
        ].sort();
      const shown = (text: string): string[] =>
        [
          ...lines(text, "fl_jobs_total"),
          ...lines(text, "fl_job_seconds"),
          ...lines(text, "fl_g_sum"),
          ...lines(text, "fl_g_perWorker"),
        ].sort();
      assert.deepEqual(shown(await generateMetrics(registry)), expected(7, [0, 1, 1.5], 5, 6));

      await w2.run({ op: "inc", queue: "a", value: 100 });
      await w2.run({ op: "observe", queue: "a", value: 0.5 });
      await w2.run({ op: "set", mode: "sum", value: 50 });
      await w2.run({ op: "set", mode: "perWorker", value: 60 });
      const { ended } = await w2.block(1500);
      const late = await generateMetrics(registry);
      assert.deepEqual(shown(late), expected(7, [0, 1, 1.5], 5, 6));
      assert.deepEqual(lines(late, "pytheus_multi_worker_workers"), [
        'pytheus_multi_worker_workers{state="answered"} 2',
        'pytheus_multi_worker_workers{state="gone"} 0',
        'pytheus_multi_worker_workers{state="late"} 1',
      ]);
      // The scrape waited for it the whole timeout (timers may fire up to a millisecond early).
      const gathered = Number(/^pytheus_multi_worker_gather_seconds (\S+)$/m.exec(late)?.[1]);
      assert.ok(gathered >= (timeoutMs - 2) / 1000 && gathered < 1.5, `gathered in ${gathered} s`);
      assert.deepEqual(messages, []);

      await ended;
      const caughtUp = await generateMetrics(registry);
      assert.deepEqual(shown(caughtUp), expected(107, [1, 2, 2], 50, 60));
      assert.deepEqual(lines(caughtUp, "pytheus_multi_worker_workers"), [
        'pytheus_multi_worker_workers{state="answered"} 3',
        'pytheus_multi_worker_workers{state="gone"} 0',
        'pytheus_multi_worker_workers{state="late"} 0',
      ]);
      assert.deepEqual(messages, []);
    },
  );
});
