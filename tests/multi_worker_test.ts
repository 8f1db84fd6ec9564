import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import {
  CollectorRegistry,
  Gauge,
  generateMetrics,
  LabelValidationError,
  loadBackend,
  MultiWorkerBackend,
  type MultiWorkerBackendConfig,
  PytheusError,
  SingleProcessBackend,
} from "../mod.ts";
import { freePort, needs, start, waitFor, which } from "./_process.ts";
import {
  gaugeModes,
  makeMetrics,
  makeOrders,
  type TestMetrics,
} from "./fixtures/multi_worker_metrics.ts";
import type { Op } from "./fixtures/multi_worker_worker.ts";
import { TestWorker } from "./_test_worker.ts";
import type { BusyOp } from "./fixtures/multi_worker_busy_worker.ts";
import { tick } from "./fixtures/multi_worker_busy_tick.ts";

const WORKER = new URL("./fixtures/multi_worker_worker.ts", import.meta.url);
const BUSY_WORKER = new URL("./fixtures/multi_worker_busy_worker.ts", import.meta.url);

let channels = 0;

/**
 * This thread ("main") and Web Workers (running `url`), all on a fresh
 * channel with metrics named `<prefix>...`.
 */
async function setup<O extends { op: string } = Op>(
  prefix: string,
  workerIds: string[],
  config: MultiWorkerBackendConfig = {},
  url: URL = WORKER,
): Promise<{
  registry: CollectorRegistry;
  metrics: TestMetrics;
  workers: TestWorker<O>[];
  config: MultiWorkerBackendConfig;
}> {
  const defaults: MultiWorkerBackendConfig = {
    channel: `pytheus-test-${Date.now()}-${channels++}`,
    timeoutMs: 3000,
    gaugeModes: gaugeModes(prefix),
  };
  const full: MultiWorkerBackendConfig = { ...defaults, ...config };
  const registry = new CollectorRegistry();
  await loadBackend({
    backendClass: MultiWorkerBackend,
    backendConfig: { ...full, workerId: "main", registry },
  });
  const metrics = makeMetrics(prefix, registry);
  const workers = workerIds.map(() => new TestWorker<O>(url));
  await Promise.all(
    workers.map((worker, i) =>
      worker.run({ op: "init", prefix, config: { ...full, workerId: workerIds[i]! } })
    ),
  );
  // Each has said hello; wait until this thread has heard every one.
  await waitFor("every worker's hello", async () => {
    const text = await generateMetrics(registry);
    return text.includes(`pytheus_multi_worker_workers{state="answered"} ${workerIds.length + 1}`);
  });
  return { registry, metrics, workers, config: full };
}

/** The lines of `text` that start with `prefix`, sorted if asked (workers create children in their own order). */
function lines(text: string, prefix: string, sorted = false): string {
  const found = text.split("\n").filter((line) => line.startsWith(prefix));
  return (sorted ? found.sort() : found).join("\n");
}

/**
 * The counter, histogram and summary series of a scrape (every one that must
 * never go down), by series: `<name>{<labels>}` to value.
 */
function monotoneSeries(text: string, prefix: string): Map<string, number> {
  const pattern = new RegExp(
    `^(${prefix}(?:jobs_total|job_seconds_(?:bucket|sum|count)|rtt_seconds_(?:sum|count))` +
      String.raw`(?:\{[^}]*\})?) (\S+)$`,
    "gm",
  );
  return new Map([...text.matchAll(pattern)].map((m) => [m[1]!, Number(m[2])]));
}

/**
 * Waits until the wall clock is past the current millisecond: a write after
 * it is later than every write before it to "latest" gauges and enums.
 */
async function nextMillisecond(): Promise<void> {
  const now = Date.now();
  while (Date.now() === now) await new Promise((resolve) => setTimeout(resolve, 0));
}

describe("MultiWorkerBackend with Web Workers", () => {
  const started: { terminate(): void }[] = [];
  after(async () => {
    for (const worker of started) worker.terminate();
    await MultiWorkerBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  });

  test("MultiWorkerBackend sums counters and histograms of every worker, whichever answers", async () => {
    const { registry, metrics, workers } = await setup("t1_", ["w1", "w2"]);
    started.push(...workers);
    const [w1, w2] = workers as [TestWorker, TestWorker];
    metrics.jobs.labels({ queue: "a" }).inc(1);
    await w1.run({ op: "inc", queue: "a", value: 2 });
    await w1.run({ op: "inc", queue: "b", value: 5 });
    await w2.run({ op: "inc", queue: "c", value: 7 });
    metrics.seconds.labels({ queue: "a" }).observe(3);
    await w1.run({ op: "observe", queue: "a", value: 0.5 });
    await w2.run({ op: "observe", queue: "a", value: 1.5 });
    await w2.run({ op: "observe", queue: "c", value: 0.25 });

    const expected = [
      't1_jobs_total{queue="a"} 3',
      't1_jobs_total{queue="b"} 5',
      't1_jobs_total{queue="c"} 7',
    ].join("\n");
    const text = await generateMetrics(registry);
    assert.equal(lines(text, "t1_jobs_total", true), expected);
    assert.equal(
      lines(text, "t1_job_seconds"),
      [
        't1_job_seconds_bucket{queue="a",le="1"} 1',
        't1_job_seconds_bucket{queue="a",le="2"} 2',
        't1_job_seconds_bucket{queue="a",le="+Inf"} 3',
        't1_job_seconds_sum{queue="a"} 5',
        't1_job_seconds_count{queue="a"} 3',
        't1_job_seconds_bucket{queue="c",le="1"} 1',
        't1_job_seconds_bucket{queue="c",le="2"} 1',
        't1_job_seconds_bucket{queue="c",le="+Inf"} 1',
        't1_job_seconds_sum{queue="c"} 0.25',
        't1_job_seconds_count{queue="c"} 1',
      ].join("\n"),
    );
    // A Web Worker answering the scrape gathers the same totals (this thread's included).
    const fromW2 = await w2.run({ op: "scrape" }) as string;
    assert.equal(lines(fromW2, "t1_jobs_total", true), expected);
    assert.match(fromW2, /^pytheus_multi_worker_workers\{state="answered"\} 3$/m);
    // This worker's own part stays in memory: a second scrape adds nothing twice.
    assert.equal(lines(await generateMetrics(registry), "t1_jobs_total", true), expected);
  });

  test("MultiWorkerBackend merges each gauge by its mode: sum, min, max, latest, perWorker", async () => {
    const { registry, metrics, workers } = await setup("t2_", ["w1", "w2"]);
    started.push(...workers);
    const [w1, w2] = workers as [TestWorker, TestWorker];
    const values: [TestWorker | undefined, number][] = [[undefined, 5], [w1, -3], [w2, 4]];
    for (const [worker, value] of values) {
      await nextMillisecond();
      for (const mode of ["sum", "min", "max", "latest", "perWorker"] as const) {
        if (worker) await worker.run({ op: "set", mode, value });
        else metrics.gauges[mode].set(value);
      }
    }
    const text = await generateMetrics(registry);
    assert.equal(
      lines(text, "t2_g_"),
      [
        "t2_g_sum 6",
        "t2_g_min -3",
        "t2_g_max 5",
        "t2_g_latest 4",
        't2_g_perWorker{worker="main"} 5',
        't2_g_perWorker{worker="w1"} -3',
        't2_g_perWorker{worker="w2"} 4',
      ].join("\n"),
    );
    await nextMillisecond();
    metrics.gauges.latest.set(8);
    assert.match(await generateMetrics(registry), /^t2_g_latest 8$/m);
  });

  test("MultiWorkerBackend shows the latest gauge set last, though the workers' high-resolution clocks disagree", async () => {
    const { registry, metrics, workers } = await setup("t21_", ["w1", "w2"]);
    started.push(...workers);
    const [w1, w2] = workers as [TestWorker, TestWorker];
    // As threads started on either side of wall clock adjustments (NTP, a VM's time sync).
    await w1.run({ op: "skewClock", ms: 50 });
    await w2.run({ op: "skewClock", ms: -50 });
    const writes: [TestWorker | undefined, number][] = [[w1, 1], [undefined, 2], [w2, 3], [w1, 4]];
    for (const [worker, value] of writes) {
      await nextMillisecond();
      if (worker) await worker.run({ op: "set", mode: "latest", value });
      else metrics.gauges.latest.set(value);
      const expected = new RegExp(`^t21_g_latest ${value}$`, "m");
      assert.match(await generateMetrics(registry), expected);
      assert.match(await w2.run({ op: "scrape" }) as string, expected);
    }
  });

  test("MultiWorkerBackend sums a summary's count and sum over workers", async () => {
    const { registry, metrics, workers } = await setup("t9_", ["w1"]);
    started.push(...workers);
    const [w1] = workers as [TestWorker];
    metrics.rtt.observe(0.5);
    await w1.run({ op: "rtt", value: 0.25 });
    await w1.run({ op: "rtt", value: 1 });
    assert.equal(
      lines(await generateMetrics(registry), "t9_rtt_seconds"),
      ["t9_rtt_seconds_sum 1.75", "t9_rtt_seconds_count 3"].join("\n"),
    );
  });

  test("MultiWorkerBackend shows the state an enum was set to last, in any worker", async () => {
    const { registry, metrics, workers } = await setup("t8_", ["w1"]);
    started.push(...workers);
    const [w1] = workers as [TestWorker];
    metrics.phase.state("busy");
    await nextMillisecond();
    await w1.run({ op: "state", state: "done" });
    const expected = [
      't8_phase{t8_phase="idle"} 0',
      't8_phase{t8_phase="busy"} 0',
      't8_phase{t8_phase="done"} 1',
    ];
    assert.equal(lines(await generateMetrics(registry), "t8_phase{"), expected.join("\n"));
    assert.equal(lines(await w1.run({ op: "scrape" }) as string, "t8_phase{"), expected.join("\n"));
  });

  test("MultiWorkerBackend keeps a gone worker's counters and drops its gauges", async () => {
    const { registry, metrics, workers, config } = await setup("t3_", ["w1", "w2"], {
      heartbeatMs: 100,
      timeoutMs: 500,
    });
    started.push(...workers);
    const [w1, w2] = workers as [TestWorker, TestWorker];
    metrics.jobs.labels({ queue: "a" }).inc(1);
    await w1.run({ op: "inc", queue: "a", value: 10 });
    await w2.run({ op: "inc", queue: "b", value: 20 });
    await w2.run({ op: "queued", queue: "b", value: 4 });
    await w1.run({ op: "queued", queue: "a", value: 2 });
    await w2.run({ op: "set", mode: "sum", value: 30 });
    const before = await generateMetrics(registry);
    assert.equal(lines(before, "t3_g_sum"), "t3_g_sum 30");
    assert.equal(
      lines(before, "t3_queued", true),
      't3_queued{queue="a"} 2\nt3_queued{queue="b"} 4',
    );

    w2.terminate();
    await waitFor("w2 to be gone", async () => {
      return (await generateMetrics(registry)).includes(
        'pytheus_multi_worker_workers{state="gone"} 1',
      );
    });
    const text = await generateMetrics(registry);
    assert.equal(
      lines(text, "t3_jobs_total", true),
      't3_jobs_total{queue="a"} 11\nt3_jobs_total{queue="b"} 20',
    );
    assert.equal(lines(text, "t3_g_sum"), "t3_g_sum 0");
    assert.equal(lines(text, "t3_queued"), 't3_queued{queue="a"} 2');
    assert.match(text, /^pytheus_multi_worker_workers\{state="answered"\} 2$/m);
    assert.match(text, /^pytheus_multi_worker_workers\{state="late"\} 0$/m);

    // A worker started later learns the gone worker's counters from the others.
    const w3 = new TestWorker();
    started.push(w3);
    await w3.run({ op: "init", prefix: "t3_", config: { ...config, workerId: "w3" } });
    await waitFor("w3 to see the gone worker's counter", async () => {
      const fromW3 = await w3.run({ op: "scrape" }) as string;
      return lines(fromW3, "t3_jobs_total").includes('t3_jobs_total{queue="b"} 20');
    });
    assert.equal(
      lines(await w3.run({ op: "scrape" }) as string, "t3_jobs_total", true),
      't3_jobs_total{queue="a"} 11\nt3_jobs_total{queue="b"} 20',
    );
  });

  test("MultiWorkerBackend.close() hands a worker's last values to the others", async () => {
    const { registry, workers } = await setup("t4_", ["w1"]);
    started.push(...workers);
    const [w1] = workers as [TestWorker];
    await w1.run({ op: "inc", queue: "a", value: 3 });
    await w1.run({ op: "set", mode: "max", value: 9 });
    await w1.run({ op: "close" });
    await waitFor("w1's goodbye", async () => {
      return (await generateMetrics(registry)).includes(
        'pytheus_multi_worker_workers{state="gone"} 1',
      );
    });
    const text = await generateMetrics(registry);
    assert.equal(lines(text, "t4_jobs_total"), 't4_jobs_total{queue="a"} 3');
    assert.equal(lines(text, "t4_g_max"), "t4_g_max 0");
    assert.match(text, /^pytheus_multi_worker_workers\{state="answered"\} 1$/m);
  });

  test("MultiWorkerBackend counts a worker that does not answer in time as late and still answers", async () => {
    const { registry, metrics, workers } = await setup("t5_", ["w1", "w2"], {
      timeoutMs: 300,
      heartbeatMs: 2000,
    });
    started.push(...workers);
    const [w1, w2] = workers as [TestWorker, TestWorker];
    metrics.jobs.labels({ queue: "a" }).inc(1);
    await w1.run({ op: "inc", queue: "a", value: 2 });
    await w2.run({ op: "inc", queue: "a", value: 4 });
    assert.match(await generateMetrics(registry), /^t5_jobs_total\{queue="a"\} 7$/m);

    await w2.run({ op: "inc", queue: "a", value: 100 });
    const { ended } = await w2.block(1500);
    const text = await generateMetrics(registry);
    // w2's last known values stand in for it: the counter does not go down.
    assert.match(text, /^t5_jobs_total\{queue="a"\} 7$/m);
    assert.match(text, /^pytheus_multi_worker_workers\{state="answered"\} 2$/m);
    assert.match(text, /^pytheus_multi_worker_workers\{state="late"\} 1$/m);
    await ended;
    const later = await generateMetrics(registry);
    assert.match(later, /^t5_jobs_total\{queue="a"\} 107$/m);
    assert.match(later, /^pytheus_multi_worker_workers\{state="late"\} 0$/m);
  });

  test("MultiWorkerBackend compresses large payloads and still merges them exactly", async () => {
    const { registry, workers } = await setup("t7_", ["w1", "w2"], { compress: true });
    started.push(...workers);
    await Promise.all(workers.map((worker) => worker.run({ op: "incMany", count: 2000 })));
    const text = await generateMetrics(registry);
    const series = lines(text, "t7_jobs_total{").split("\n");
    assert.equal(series.length, 2000);
    assert.equal(series.reduce((n, line) => n + Number(line.split(" ")[1]), 0), 2 * 1999 * 1000);
    assert.match(text, /^t7_jobs_total\{queue="q1234"\} 2468$/m);
  });

  test("MultiWorkerBackend keeps two registries' metrics of one name apart by their prefixes", async () => {
    const { workers } = await setup("pf_", ["w1"]);
    started.push(...workers);
    const orders = makeOrders();
    orders.shop.inc(1);
    orders.admin.inc(10);
    await workers[0]!.run({ op: "orders", shop: 2, admin: 20 });
    const [shop, admin] = await workers[0]!.run({ op: "scrapeOrders" }) as [string, string];
    assert.match(shop, /^shop_orders_total 3$/m);
    assert.match(admin, /^admin_orders_total 30$/m);
    assert.match(await generateMetrics(orders.registries[0]), /^shop_orders_total 3$/m);
    assert.match(await generateMetrics(orders.registries[1]), /^admin_orders_total 30$/m);
  });

  test("MultiWorkerBackend hides a series once the only worker that had it removes it", async () => {
    const { registry, workers } = await setup("t6_", ["w1"]);
    started.push(...workers);
    const [w1] = workers as [TestWorker];
    await w1.run({ op: "queued", queue: "x", value: 5 });
    assert.equal(lines(await generateMetrics(registry), "t6_queued"), 't6_queued{queue="x"} 5');
    await w1.run({ op: "remove", queue: "x" });
    assert.equal(lines(await generateMetrics(registry), "t6_queued"), "");
  });

  test("MultiWorkerBackend shows a series nobody wrote at 0, whatever series of other metrics only other workers have", async () => {
    const { registry, metrics, workers } = await setup("t20_", ["w1"]);
    started.push(...workers);
    const [w1] = workers as [TestWorker];
    // Only w1 has t20_queued{queue="x"}: this thread's scrape makes it as another worker's.
    await w1.run({ op: "queued", queue: "x", value: 5 });
    await generateMetrics(registry);
    // A series of another metric with the same labels, made here and never written.
    metrics.jobs.labels({ queue: "x" });
    for (let i = 0; i < 3; i++) {
      const text = await generateMetrics(registry);
      assert.equal(lines(text, "t20_queued{"), 't20_queued{queue="x"} 5');
      assert.equal(lines(text, "t20_jobs_total{"), 't20_jobs_total{queue="x"} 0', `scrape ${i}`);
    }
  });

  test("MultiWorkerBackend counters never go down, whichever worker answers, while workers are busy and late", async () => {
    const timeoutMs = 150;
    const { registry, metrics, workers } = await setup<BusyOp>(
      "t10_",
      ["w1", "w2", "w3"],
      { timeoutMs },
      BUSY_WORKER,
    );
    started.push(...workers);
    // Every thread counts all the time, this one too (it answers every fourth scrape).
    let mainTicks = 0;
    const timer = setInterval(() => tick(metrics, "main", mainTicks++), 1);
    await Promise.all(workers.map((worker) => worker.run({ op: "start" })));
    // Scrapes answered in turn by w1, w2, w3 and main, every third one
    // together with another by the next of them (two gathers at once); a
    // worker stays busy (longer than timeoutMs) right after it answered, so
    // that it is late for the next scrapes, answered by other workers.
    const answerers = [...workers, undefined];
    const names = ["w1", "w2", "w3", "main"];
    const scrape = (i: number): Promise<string> => {
      const by = answerers[i];
      return by
        ? by.run({ op: "scrape", busyMs: 2.5 * timeoutMs }) as Promise<string>
        : generateMetrics(registry);
    };
    const decreases: string[] = [];
    let previous = new Map<string, number>();
    let scrapes = 0;
    let lateScrapes = 0;
    try {
      for (let round = 0; round < 16; round++) {
        const first = round % answerers.length;
        const group = round % 3 === 2 ? [first, (first + 1) % answerers.length] : [first];
        const texts = await Promise.all(group.map(scrape));
        const seen = new Map<string, number>();
        texts.forEach((text, k) => {
          scrapes++;
          if (!/^pytheus_multi_worker_workers\{state="late"\} 0$/m.test(text)) lateScrapes++;
          const values = monotoneSeries(text, "t10_");
          for (const [series, before] of previous) {
            // A series made after its worker last sent its values is shown at 0
            // by that worker, and not at all by another: not a decrease.
            const now = values.get(series) ?? (before === 0 ? 0 : undefined);
            if (now === undefined || now < before) {
              decreases.push(
                `round ${round}, by ${names[group[k]!]}: ${series} ${before} -> ${now}`,
              );
            }
          }
          for (const [series, value] of values) {
            seen.set(series, Math.max(value, seen.get(series) ?? value));
          }
        });
        // The next scrapes start after both: they must show no less than either.
        previous = seen;
      }
    } finally {
      clearInterval(timer);
    }
    // Each waits for its busy loop to end first.
    const ticks = await Promise.all(
      workers.map((worker) => worker.run({ op: "stop" })),
    ) as number[];
    assert.deepEqual(decreases, []);
    assert.ok(
      lateScrapes >= scrapes / 2,
      `only ${lateScrapes} of ${scrapes} scrapes had a late worker`,
    );

    // Everyone caught up: whoever answers, the totals are exact.
    const byWorker = ticks.map((t, i): [string, number] => [names[i]!, t]);
    byWorker.push(["main", mainTicks]);
    const total = byWorker.reduce((n, [, t]) => n + t, 0);
    const halves = (t: number) => Math.ceil(t / 2);
    const sum = (t: number) => 0.5 * Math.ceil(t / 2) + 1.5 * Math.floor(t / 2);
    const histogram = (queue: string, count: number, halfCount: number, total: number) => [
      `t10_job_seconds_bucket{queue="${queue}",le="1"} ${halfCount}`,
      `t10_job_seconds_bucket{queue="${queue}",le="2"} ${count}`,
      `t10_job_seconds_bucket{queue="${queue}",le="+Inf"} ${count}`,
      `t10_job_seconds_sum{queue="${queue}"} ${total}`,
      `t10_job_seconds_count{queue="${queue}"} ${count}`,
    ];
    const expected = [
      `t10_jobs_total{queue="all"} ${total}`,
      ...byWorker.map(([id, t]) => `t10_jobs_total{queue="${id}"} ${t}`),
      ...histogram(
        "all",
        total,
        byWorker.reduce((n, [, t]) => n + halves(t), 0),
        byWorker.reduce((n, [, t]) => n + sum(t), 0),
      ),
      ...byWorker.flatMap(([id, t]) => histogram(id, t, halves(t), sum(t))),
      `t10_rtt_seconds_sum ${0.25 * total}`,
      `t10_rtt_seconds_count ${total}`,
    ].sort().join("\n");
    for (const by of answerers) {
      const text = by ? await by.run({ op: "scrape" }) as string : await generateMetrics(registry);
      const found = [...monotoneSeries(text, "t10_")].map(([k, v]) => `${k} ${v}`).sort();
      assert.equal(found.join("\n"), expected);
      assert.match(text, /^pytheus_multi_worker_workers\{state="late"\} 0$/m);
    }
  });

  test("MultiWorkerBackend counters never go down when a worker answers right after being busy long enough to take the others for gone", async () => {
    const { registry, metrics, workers } = await setup<BusyOp>(
      "t12_",
      ["w1", "w2"],
      { timeoutMs: 150, heartbeatMs: 50 },
      BUSY_WORKER,
    );
    started.push(...workers);
    const [w1, w2] = workers as [TestWorker<BusyOp>, TestWorker<BusyOp>];
    let mainTicks = 0;
    const timer = setInterval(() => tick(metrics, "main", mainTicks++), 1);
    await Promise.all(workers.map((worker) => worker.run({ op: "start" })));
    const decreases: string[] = [];
    let previous = new Map<string, number>();
    try {
      for (let round = 0; round < 8; round++) {
        // The others count on and answer while w2 is busy (for 4 of its
        // heartbeat intervals, more than the 3 after which a worker is gone).
        const [text, by] = round % 2 === 0
          ? [await generateMetrics(registry), "main"]
          : round % 4 === 1
          ? [await w1.run({ op: "scrape" }) as string, "w1"]
          : [await w2.run({ op: "scrape", busyBeforeMs: 200 }) as string, "w2 (busy before)"];
        const values = monotoneSeries(text, "t12_");
        for (const [series, before] of previous) {
          const now = values.get(series) ?? (before === 0 ? 0 : undefined);
          if (now === undefined || now < before) {
            decreases.push(`round ${round}, by ${by}: ${series} ${before} -> ${now}`);
          }
        }
        previous = values;
      }
    } finally {
      clearInterval(timer);
    }
    await Promise.all(workers.map((worker) => worker.run({ op: "stop" })));
    assert.deepEqual(decreases, []);
  });

  test("MultiWorkerBackend keeps a worker's counters when it is started again under the same id", async () => {
    const { registry, workers, config } = await setup("t11_", ["w1", "w2"], { timeoutMs: 300 });
    started.push(...workers);
    const [w1, w2] = workers as [TestWorker, TestWorker];
    await w1.run({ op: "inc", queue: "a", value: 10 });
    await w1.run({ op: "set", mode: "perWorker", value: 3 });
    await w2.run({ op: "inc", queue: "a", value: 20 });
    // Several scrapes: the first w1 sends several payloads.
    for (let i = 0; i < 5; i++) {
      assert.match(await generateMetrics(registry), /^t11_jobs_total\{queue="a"\} 30$/m);
    }
    w1.terminate();
    const again = new TestWorker();
    started.push(again);
    await again.run({ op: "init", prefix: "t11_", config: { ...config, workerId: "w1" } });
    await again.run({ op: "inc", queue: "a", value: 5 });
    await again.run({ op: "set", mode: "perWorker", value: 4 });
    // Its counters start from 0 again: they add to those of the first w1, kept.
    for (let i = 0; i < 10; i++) {
      const text = await generateMetrics(registry);
      assert.equal(lines(text, "t11_jobs_total"), 't11_jobs_total{queue="a"} 35');
      // The first w1's gauges are gone: one series per worker id (w2, which
      // never set the gauge nor scraped, has made no series of it).
      assert.equal(
        lines(text, "t11_g_perWorker"),
        't11_g_perWorker{worker="main"} 0\nt11_g_perWorker{worker="w1"} 4',
      );
    }
    // The new w1 learns the first one's counters from the others.
    await waitFor("the new w1 to see the first one's counters", async () => {
      const text = await again.run({ op: "scrape" }) as string;
      return lines(text, "t11_jobs_total") === 't11_jobs_total{queue="a"} 35';
    });
  });
});

describe("MultiWorkerBackend configuration", () => {
  test("loadBackend() rejects an unknown gauge mode, a negative timeout and a bad worker label", async () => {
    for (
      const [config, message] of [
        [{ gaugeModes: { g: "median" } }, /gaugeModes\.g must be one of sum, min, max/],
        [{ timeoutMs: -1 }, /timeoutMs must be a number of milliseconds, 0 or more, got -1/],
        [{ workerLabel: "bad-label" }, /workerLabel must be a label name, got "bad-label"/],
        [{ channel: "" }, /channel must be a non-empty string/],
      ] as const
    ) {
      await assert.rejects(
        loadBackend({ backendClass: MultiWorkerBackend, backendConfig: config }),
        (error: unknown) => error instanceof PytheusError && message.test(error.message),
      );
    }
  });

  test("loadBackend() finds MultiWorkerBackend by its built-in name", async () => {
    const { backendClass } = await loadBackend({
      backendClass: "MultiWorkerBackend",
      backendConfig: { channel: "pytheus-test-by-name", registry: null },
    });
    assert.equal(backendClass, MultiWorkerBackend);
    await MultiWorkerBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  });

  test("a perWorker gauge with a label named like the worker label is refused", async () => {
    await loadBackend({
      backendClass: MultiWorkerBackend,
      backendConfig: {
        channel: "pytheus-test-label",
        registry: null,
        defaultGaugeMode: "perWorker",
      },
    });
    try {
      const gauge = new Gauge({
        name: "t7_by_worker",
        description: "x",
        requiredLabels: ["worker"],
        registry: null,
      });
      assert.throws(() => gauge.labels({ worker: "a" }), LabelValidationError);
    } finally {
      await MultiWorkerBackend.close();
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });
});

/** GET over a new connection (so the kernel may pick any worker); resolves with status, worker, body. */
function get(
  port: number,
  path: string,
): Promise<{ status: number; worker: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => body += chunk);
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            worker: String(res.headers["x-worker"]),
            body,
          }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("MultiWorkerBackend under deno serve --parallel", () => {
  const skip = needs("deno");
  test(
    "every scrape, whichever of 4 workers answers, reports the exact totals of 4000 requests",
    // Four Deno workers starting and 4000 requests: past Bun's 5 s default on a loaded machine.
    { skip, timeout: 60_000 },
    async () => {
      const port = await freePort();
      const app = new URL("./fixtures/multi_worker_app.ts", import.meta.url).pathname;
      const server = start(
        which("deno")!,
        ["serve", "--parallel", "--port", String(port), "--allow-all", app],
        { DENO_JOBS: "4", MW_CHANNEL: `pytheus-test-app-${port}` },
      );
      try {
        await waitFor(
          "deno serve",
          async () => (await get(port, "/metrics")).status === 200,
          30_000,
        );
        // Every worker has met the others before the load starts.
        await waitFor("4 workers to know each other", async () => {
          const { body } = await get(port, "/metrics");
          return body.includes('pytheus_multi_worker_workers{state="answered"} 4');
        }, 30_000);
        const paths = ["/a", "/b", "/c", "/d/e"];
        const servedBy = new Set<string>();
        let sent = 0;
        await Promise.all(Array.from({ length: 16 }, async () => {
          while (sent < 4000) {
            const path = paths[sent++ % paths.length]!;
            const res = await get(port, path);
            assert.equal(res.status, 200);
            servedBy.add(res.worker);
          }
        }));
        assert.ok(servedBy.size >= 2, `requests served by ${servedBy.size} worker(s) only`);

        const scrapedBy = new Set<string>();
        for (let i = 0; i < 10; i++) {
          const { status, worker, body } = await get(port, "/metrics");
          assert.equal(status, 200);
          scrapedBy.add(worker);
          assert.equal(
            lines(body, "app_requests_total", true),
            paths.map((p) => `app_requests_total{path="${p}"} 1000`).join("\n"),
          );
          assert.equal(
            lines(body, "app_request_size_sum", true),
            [250, 500, 2000, 1000].map((sum, j) =>
              `app_request_size_sum{path="${paths[j]}"} ${sum}`
            )
              .join("\n"),
          );
          assert.equal(
            lines(body, "app_request_size_count", true),
            paths.map((p) => `app_request_size_count{path="${p}"} 1000`).join("\n"),
          );
          assert.match(body, /^app_request_size_bucket\{path="\/c",le="1"\} 0$/m);
          assert.match(body, /^app_request_size_bucket\{path="\/c",le="\+Inf"\} 1000$/m);
          assert.match(body, /^app_requests_seen 4000$/m);
          const perWorker = lines(body, "app_requests_by_worker{").split("\n");
          assert.equal(perWorker.length, 4);
          assert.equal(perWorker.reduce((n, line) => n + Number(line.split(" ")[1]), 0), 4000);
          assert.match(body, /^pytheus_multi_worker_workers\{state="answered"\} 4$/m);
          assert.match(body, /^pytheus_multi_worker_workers\{state="late"\} 0$/m);
        }
        assert.ok(scrapedBy.size >= 2, `scrapes answered by ${scrapedBy.size} worker(s) only`);
      } catch (error) {
        throw new Error(`${error}\n--- deno serve output ---\n${server.output()}`, {
          cause: error,
        });
      } finally {
        await server.stop();
      }
    },
  );
});
