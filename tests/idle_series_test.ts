/**
 * Idle series (`idleSeconds`): a series whose values no scrape saw change for
 * the idle time is removed, in memory and in Redis (a dead process' series
 * too), on a clock the test moves (`performance.now()`).
 */

import assert from "node:assert/strict";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  encodeMetrics,
  Enum,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  InvalidOptionError,
  loadBackend,
  type MultiWorkerBackendConfig,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { FLUSH_SCRIPT } from "../src/backends/_redis_wire.ts";
import { mirrorKeys } from "../src/backends/_redis_mirror.ts";
import { Redis } from "ioredis";
import { needs, run, waitFor } from "./_process.ts";
import { startWorkers, type TestWorker } from "./_test_worker.ts";
import type { IdleOp } from "./fixtures/idle_worker.ts";
import { idleMetrics, writeJob } from "./fixtures/idle_metrics.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import { workerRegistry } from "./_redis_workers.ts";
import { script } from "./_serve.ts";
import { heapAfterGc } from "./_heap.ts";
import { nativeOf } from "./_protobuf.ts";
import { withClock } from "./_timing.ts";
import { untyped } from "./_untyped.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The label values of a metric's series in a scrape, in order. */
function seriesOf(text: string, name: string): string[] {
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, "gm"))].map((m) =>
    `${m[1]} ${m[2]}`
  );
}

describe("idleSeconds", () => {
  test("a series no scrape saw change for idleSeconds is removed; one that changed stays", () =>
    withClock(async (clock) => {
      const registry = new CollectorRegistry();
      const c = new Counter({
        name: "jobs_total",
        description: "J.",
        requiredLabels: ["user"],
        idleSeconds: 60,
        registry,
      });
      c.labels({ user: "ann" }).inc();
      c.labels({ user: "bob" }).inc();
      assert.deepEqual(seriesOf(await generateMetrics(registry), "jobs_total"), [
        'user="ann" 1',
        'user="bob" 1',
      ]);
      clock.ms += 30_000;
      c.labels({ user: "ann" }).inc();
      assert.equal(seriesOf(await generateMetrics(registry), "jobs_total").length, 2);
      clock.ms += 30_000;
      // bob has not changed for 60 s: gone; ann changed 30 s ago.
      assert.deepEqual(seriesOf(await generateMetrics(registry), "jobs_total"), ['user="ann" 2']);
      clock.ms += 60_000;
      assert.deepEqual(seriesOf(await generateMetrics(registry), "jobs_total"), []);
      // Written again, a series starts anew.
      c.labels({ user: "bob" }).inc(5);
      assert.deepEqual(seriesOf(await generateMetrics(registry), "jobs_total"), ['user="bob" 5']);
    }));

  test("a histogram idles when its count stops, a gauge when its value does; the registry gives the default", () =>
    withClock(async (clock) => {
      const registry = new CollectorRegistry({ idleSeconds: 10 });
      const h = new Histogram({
        name: "lat",
        description: "L.",
        requiredLabels: ["route"],
        buckets: [1],
        registry,
      });
      const g = new Gauge({
        name: "temp",
        description: "T.",
        requiredLabels: ["room"],
        idleSeconds: 100,
        registry,
      });
      h.labels({ route: "/a" }).observe(0.5);
      g.labels({ room: "lab" }).set(20);
      await generateMetrics(registry);
      clock.ms += 10_000;
      g.labels({ room: "lab" }).set(20); // the same value: no change
      const text = await generateMetrics(registry);
      assert.equal(text.includes("lat_bucket"), false, text);
      assert.match(text, /\ntemp\{room="lab"\} 20\n/);
      clock.ms += 90_000;
      assert.equal((await generateMetrics(registry)).includes("temp{"), false);
    }));

  test("a metric without labels, and a defaulted metric's own series, are never removed", () =>
    withClock(async (clock) => {
      const registry = new CollectorRegistry();
      new Gauge({ name: "up", description: "U.", idleSeconds: 1, registry }).set(1);
      new Counter({
        name: "hits_total",
        description: "H.",
        requiredLabels: ["path"],
        defaultLabels: { path: "/" },
        idleSeconds: 1,
        registry,
      }).inc();
      await generateMetrics(registry);
      clock.ms += 5_000;
      const text = await generateMetrics(registry);
      assert.match(text, /\nup 1\n/);
      assert.match(text, /\nhits_total\{path="\/"\} 1\n/);
    }));

  test("a series read by a function never idles; Info and Enum take no idleSeconds, nor the registry's", () =>
    withClock(async (clock) => {
      const registry = new CollectorRegistry({ idleSeconds: 10 });
      const pools = new Gauge({
        name: "pool_size",
        description: "P.",
        requiredLabels: ["pool"],
        registry,
      });
      pools.labels({ pool: "db" }).setFunction(() => 10);
      new Info({ name: "build", description: "B.", requiredLabels: ["host"], registry })
        .labels({ host: "a" }).set({ version: "1" });
      new Enum({
        name: "door",
        description: "D.",
        requiredLabels: ["room"],
        states: ["open", "closed"],
        registry,
      })
        .labels({ room: "lab" }).state("closed");
      await generateMetrics(registry);
      clock.ms += 60_000;
      const text = await generateMetrics(registry);
      assert.match(text, /\npool_size\{pool="db"\} 10\n/);
      assert.match(text, /\nbuild_info\{host="a",version="1"\} 1\n/);
      assert.match(text, /\ndoor\{room="lab",door="closed"\} 1\n/);
      assert.throws(
        () => new Info({ name: "i", description: "I.", idleSeconds: 5, registry: null }),
        InvalidOptionError,
      );
      assert.throws(
        () =>
          new Enum({ name: "e", description: "E.", states: ["a"], idleSeconds: 5, registry: null }),
        InvalidOptionError,
      );
    }));

  test("idleSeconds must be a number of seconds above 0", () => {
    for (const bad of [0, -1, Infinity, NaN, "60"]) {
      assert.throws(
        () =>
          new Counter({
            name: "x_total",
            description: "X.",
            idleSeconds: untyped(bad),
            registry: null,
          }),
        InvalidOptionError,
      );
      assert.throws(() => new CollectorRegistry({ idleSeconds: untyped(bad) }), InvalidOptionError);
    }
  });
});

/**
 * Runs `fn` with the Redis backend loaded on a redis-server of its own (keys
 * prefixed `prefix`), then loads the in-memory store again.
 */
async function withRedis(
  prefix: string,
  fn: (server: RedisServer) => Promise<void>,
  flushIntervalMs = 20,
): Promise<void> {
  const server = await startRedis();
  try {
    const backendConfig = { port: server.port, keyPrefix: prefix, flushIntervalMs };
    await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig });
    await fn(server);
  } finally {
    await MultiProcessRedisBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    await server.stop();
  }
}

/** Runs a fixture of tests/fixtures with the runtime under test, given Redis' port and prefix. */
function runFixture(
  name: string,
  server: RedisServer,
  prefix: string,
  env: Record<string, string> = {},
): ReturnType<typeof run> {
  const [command, args] = script(join(ROOT, "tests", "fixtures", name));
  return run(command, args, {
    env: { REDIS_PORT: String(server.port), REDIS_PREFIX: prefix, ...env },
  });
}

describe("idleSeconds with the Redis backend", { skip: needs("redis-server") }, () => {
  test(
    "the series of a process that died expire in Redis too",
    { timeout: 60_000 },
    () =>
      withRedis("idle", async (server) => {
        const written = await runFixture("redis_worker.ts", server, "idle", {
          WORKER: "w0",
          OPS: "10",
        });
        assert.equal(written.stdout, "done\n", written.stderr);
        const scrape = (idleSeconds?: number) => {
          const registry = workerRegistry(idleSeconds === undefined ? {} : { idleSeconds });
          return { text: () => generateMetrics(registry) };
        };
        await withClock(async (clock) => {
          const idle = scrape(60);
          assert.deepEqual(seriesOf(await idle.text(), "mp_jobs_total"), [
            'worker="w0",kind="a" 10',
          ]);
          clock.ms += 61_000;
          assert.deepEqual(seriesOf(await idle.text(), "mp_jobs_total"), []);
        });
        await MultiProcessRedisBackend.flush();
        // A registry of another process (without idleSeconds) finds nothing left in Redis.
        assert.deepEqual(seriesOf(await scrape().text(), "mp_jobs_total"), []);
      }),
  );

  test(
    "a writer that never scrapes forgets its idle series at flush time: 200k create-write-idle cycles keep its heap flat, and another process reads exact totals",
    { timeout: 120_000 },
    () =>
      withRedis("runner", async (server) => {
        // A job runner: ids in its labels, registered nowhere, never scraped.
        const counter = (name: string, label: string) =>
          new Counter({
            name,
            description: "R.",
            requiredLabels: [label],
            idleSeconds: 60,
            registry: null,
          });
        const jobs = counter("runner_jobs_total", "job");
        const kinds = counter("runner_kinds_total", "kind");
        await withClock(async (clock) => {
          // Each round: 10k jobs, each its own series, and 10 kinds made anew
          // (the round before forgot them), then an idle time with two flushes.
          const round = async (from: number): Promise<void> => {
            for (let i = from; i < from + 10_000; i++) {
              jobs.labels({ job: `job-${i}` }).inc();
              kinds.labels({ kind: `k${i % 10}` }).inc(2);
            }
            await MultiProcessRedisBackend.flush();
            clock.ms += 60_000;
            await MultiProcessRedisBackend.flush();
          };
          const first = jobs.labels({ job: "job-0" });
          await round(0);
          assert.notEqual(jobs.labels({ job: "job-0" }), first, "forgotten, made anew");
          const before = heapAfterGc();
          for (let r = 1; r < 20; r++) await round(r * 10_000);
          const grown = heapAfterGc() - before;
          if (process.env.PYTHEUS_DEBUG_HEAP) {
            console.log(`heap grew ${grown} bytes over 190k idle series`);
          }
          assert.ok(grown < 4_000_000, `heap grew ${grown} bytes over 190k idle series`);
        });
        const read = await runFixture("redis_idle_reader.ts", server, "runner");
        assert.equal(read.code, 0, read.stderr);
        // Its fields stay in Redis (a scrape decides when they are idle), each
        // kind counted whole across the 20 series it was made as.
        const kindTotals = Object.fromEntries(
          Array.from({ length: 10 }, (_, k) => [`k${k}`, 20 * 1000 * 2]),
        );
        assert.deepEqual(JSON.parse(read.stdout), {
          jobs: 200_000,
          total: 200_000,
          kinds: kindTotals,
        });
      }),
  );

  test("a series changed in any of its cells is not idle; one this process' scrapes follow is left to them", () =>
    withRedis("cells", async (server) => {
      const registry = new CollectorRegistry({ idleSeconds: 10 });
      const h = new Histogram({
        name: "runs",
        description: "R.",
        requiredLabels: ["job"],
        buckets: [1],
        registry: null,
        idleSeconds: 10,
      });
      const scraped = new Counter({
        name: "scraped_total",
        description: "S.",
        requiredLabels: ["job"],
        registry,
      });
      await withClock(async (clock) => {
        const run = h.labels({ job: "a" });
        run.observe(5); // +Inf and the sum; the le="1" bucket never changes
        const seen = scraped.labels({ job: "a" });
        seen.inc();
        await generateMetrics(registry);
        for (let i = 0; i < 3; i++) {
          clock.ms += 6_000;
          run.observe(5);
          await MultiProcessRedisBackend.flush();
        }
        assert.equal(h.labels({ job: "a" }), run);
        // Idle 18 s for the flushes, but the scrapes follow it: left to them.
        assert.equal(scraped.labels({ job: "a" }), seen);
        clock.ms += 10_000;
        // The histogram is idle too now: forgotten here, its fields left in Redis.
        await MultiProcessRedisBackend.flush();
        assert.notEqual(h.labels({ job: "a" }), run);
        assert.equal(await server.command("HLEN", "cells:{runs}"), ":2\r\n"); // +Inf and the sum
        assert.equal(scraped.labels({ job: "a" }), seen);
        // The next scrape removes the counter, in Redis too.
        assert.equal(seriesOf(await generateMetrics(registry), "scraped_total").length, 0);
        await MultiProcessRedisBackend.flush();
        assert.equal(await server.command("HLEN", "cells:{scraped_total}"), ":0\r\n");
      });
    }));

  test("a series another process wrote to after the scrape that found it idle stays in Redis, a histogram's buckets too", () =>
    // Flushed by hand only: the write below lands between that scrape and the flush deleting.
    withRedis("race", async (server) => {
      const registry = new CollectorRegistry({ idleSeconds: 60 });
      const jobs = new Counter({
        name: "race_total",
        description: "R.",
        requiredLabels: ["job"],
        registry,
      });
      const times = new Histogram({
        name: "race_seconds",
        description: "T.",
        requiredLabels: ["job"],
        buckets: [1],
        registry,
      });
      await withClock(async (clock) => {
        for (const job of ["kept", "gone"]) {
          jobs.labels({ job }).inc();
          times.labels({ job }).observe(0.5);
        }
        await generateMetrics(registry);
        clock.ms += 61_000;
        // Idle: out of this scrape, forgotten here, and to be deleted in Redis.
        const idle = await generateMetrics(registry);
        assert.deepEqual(seriesOf(idle, "race_total"), []);
        assert.deepEqual(seriesOf(idle, "race_seconds_count"), []);
        // Another process writes to the "kept" series meanwhile (its flush script, as pytheus
        // sends it): the +Inf bucket is a new field.
        const other = new Redis({ port: server.port });
        try {
          for (
            const [hash, field, by] of [
              ["race:{race_total}", '{"job":"kept"}', "2"],
              ["race:{race_seconds}", '{"job":"kept"}|+Inf', "1"],
            ] as const
          ) {
            const keys = [`${hash}:~chunk:other`, hash, `${hash}:~generation`, ...mirrorKeys(hash)];
            await other.eval(FLUSH_SCRIPT, 6, ...keys, "1", "3600", "g", "1", "i", field, by);
          }
        } finally {
          other.disconnect();
        }
        await MultiProcessRedisBackend.flush();
        const text = await generateMetrics(registry);
        assert.deepEqual(seriesOf(text, "race_total"), ['job="kept" 3']);
        assert.deepEqual(seriesOf(text, "race_seconds_count"), ['job="kept" 2']);
        assert.equal(await server.command("HLEN", "race:{race_total}"), ":1\r\n");
        assert.equal(await server.command("HLEN", "race:{race_seconds}"), ":3\r\n");
      });
    }, 3_600_000));
});

const IDLE_WORKER = new URL("./fixtures/idle_worker.ts", import.meta.url);
let channels = 0;

/**
 * MultiWorkerBackend here (worker "main", which answers the scrapes on the
 * moved clock) and in `count` Web Workers, the metrics of
 * tests/fixtures/idle_metrics.ts (named `<prefix>...`) in each.
 */
async function startIdleWorkers(prefix: string, count: number, config: MultiWorkerBackendConfig) {
  const full = { channel: `pytheus-idle-${Date.now()}-${channels++}`, ...config };
  const started = await startWorkers<IdleOp>(IDLE_WORKER, count, full, prefix);
  return { ...started, metrics: idleMetrics(started.registry, prefix) };
}

/** The jobs' counts and observation counts of a scrape, one line each, sorted. */
function jobsOf(text: string, prefix: string): string[] {
  return [
    ...seriesOf(text, `${prefix}jobs_total`),
    ...seriesOf(text, `${prefix}job_seconds_count`).map((line) => `count ${line}`),
  ].sort();
}

describe("idleSeconds with MultiWorkerBackend", () => {
  test(
    "an idle series expires in every worker and in what a gone worker left, and stays gone; a series written stays",
    { timeout: 60_000 },
    async () => {
      const jobs = (text: string) => jobsOf(text, "t1_");
      const { registry, metrics, workers, stop } = await startIdleWorkers("t1_", 3, {
        heartbeatMs: 100,
        timeoutMs: 3000,
      });
      const [w0, w1, w2] = workers as [TestWorker<IdleOp>, TestWorker<IdleOp>, TestWorker<IdleOp>];
      try {
        await withClock(async (clock) => {
          await w2.run({ op: "write", job: "solo", value: 3 });
          for (const [i, worker] of workers.entries()) {
            await worker.run({ op: "write", job: "shared", value: i + 1 });
          }
          writeJob(metrics, "shared", 4);
          const busy = async (n: number): Promise<string[]> => {
            await w0.run({ op: "write", job: "busy", value: 1 });
            return [`count job="busy" ${n}`, `job="busy" ${n}`];
          };
          const idle = [
            'count job="shared" 4',
            'count job="solo" 1',
            'job="shared" 10',
            'job="solo" 3',
          ];
          assert.deepEqual(jobs(await generateMetrics(registry)), idle);
          // w2 stops: what it counted stays counted.
          w2.terminate();
          await waitFor(
            "w2 gone",
            async () =>
              (await generateMetrics(registry)).includes(
                'pytheus_multi_worker_workers{state="gone"} 1',
              ),
          );
          clock.ms += 30_000;
          let expected = [...idle, ...(await busy(1))].sort();
          assert.deepEqual(jobs(await generateMetrics(registry)), expected);
          // 60 s after the scrape that last saw them change: solo and shared expire.
          clock.ms += 30_000;
          expected = (await busy(2)).sort();
          assert.deepEqual(jobs(await generateMetrics(registry)), expected);
          for (let round = 3; round < 6; round++) {
            expected = (await busy(round)).sort();
            for (
              const scrape of [() => generateMetrics(registry), () => w0.run({ op: "scrape" })]
            ) {
              assert.deepEqual(jobs(await scrape() as string), expected, `round ${round}`);
            }
            assert.deepEqual(jobs(await w1.run({ op: "scrape" }) as string), expected);
            clock.ms += 30_000;
          }
          // Nothing is left of w2: its share is dropped.
          assert.match(
            await generateMetrics(registry),
            /^pytheus_multi_worker_workers\{state="gone"\} 0$/m,
          );
        });
      } finally {
        await stop();
      }
    },
  );
  test(
    "a series written in one worker while another expires it starts again from what was written since the scrape read it, in every worker",
    { timeout: 60_000 },
    async () => {
      const jobs = (text: string) => jobsOf(text, "t2_");
      const { registry, metrics, workers, stop } = await startIdleWorkers("t2_", 2, {
        timeoutMs: 300,
      });
      const [writer, other] = workers as [TestWorker<IdleOp>, TestWorker<IdleOp>];
      const scrapes = [
        () => generateMetrics(registry),
        async () => await writer.run({ op: "scrape" }) as string,
        async () => await other.run({ op: "scrape" }) as string,
      ];
      const nativeCount = async (): Promise<number> =>
        nativeOf(await encodeMetrics(registry, { format: "protobuf" }), "t2_job_seconds").count;
      try {
        await withClock(async (clock) => {
          writeJob(metrics, "race", 1);
          await writer.run({ op: "write", job: "race", value: 2 });
          assert.deepEqual(jobs(await generateMetrics(registry)), [
            'count job="race" 2',
            'job="race" 3',
          ]);
          clock.ms += 60_000;
          // The writer writes 5 after the payload this scrape reads of it (it
          // is busy, late: the one it sent before), and before it hears of
          // the expiry this scrape sends.
          const { ended } = await writer.block(1000, { job: "race", value: 5 });
          assert.deepEqual(jobs(await generateMetrics(registry)), []);
          await ended;
          // Every worker shows what was written since: 5, one observation (the
          // native histogram's too); nothing written before comes back.
          for (let round = 0; round < 3; round++) {
            for (const scrape of scrapes) {
              assert.deepEqual(jobs(await scrape()), ['count job="race" 1', 'job="race" 5']);
            }
          }
          assert.equal(await nativeCount(), 1);
          await writer.run({ op: "write", job: "race", value: 1 });
          for (const scrape of scrapes) {
            assert.deepEqual(jobs(await scrape()), ['count job="race" 2', 'job="race" 6']);
          }
          assert.equal(await nativeCount(), 2);
        });
      } finally {
        await stop();
      }
    },
  );
});
