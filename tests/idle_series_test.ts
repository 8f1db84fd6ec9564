/**
 * Idle series (`idleSeconds`): a series whose values no scrape saw change for
 * the idle time is removed, in memory and in Redis (a dead process' series
 * too), on a clock the test moves (`performance.now()`).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  Enum,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  InvalidOptionError,
  loadBackend,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { needs, run } from "./_process.ts";
import { startRedis } from "./_redis.ts";
import { workerRegistry } from "./_redis_workers.ts";
import { IS_BUN } from "./_serve.ts";
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

describe("idleSeconds with the Redis backend", { skip: needs("redis-server") }, () => {
  test("the series of a process that died expire in Redis too", { timeout: 60_000 }, async () => {
    const server = await startRedis();
    const prefix = "idle";
    try {
      const fixture = join(ROOT, "tests", "fixtures", "redis_worker.ts");
      const [command, args] = IS_BUN
        ? ["bun", ["run", fixture]]
        : ["deno", ["run", "--allow-all", "--config", join(ROOT, "deno.json"), fixture]];
      const written = await run(command, args, {
        env: { REDIS_PORT: String(server.port), REDIS_PREFIX: prefix, WORKER: "w0", OPS: "10" },
      });
      assert.equal(written.stdout, "done\n", written.stderr);
      await loadBackend({
        backendClass: MultiProcessRedisBackend,
        backendConfig: { port: server.port, keyPrefix: prefix, flushIntervalMs: 20 },
      });
      const scrape = (idleSeconds?: number) => {
        const registry = workerRegistry(idleSeconds === undefined ? {} : { idleSeconds });
        return { text: () => generateMetrics(registry) };
      };
      await withClock(async (clock) => {
        const idle = scrape(60);
        assert.deepEqual(seriesOf(await idle.text(), "mp_jobs_total"), ['worker="w0",kind="a" 10']);
        clock.ms += 61_000;
        assert.deepEqual(seriesOf(await idle.text(), "mp_jobs_total"), []);
      });
      await MultiProcessRedisBackend.flush();
      // A registry of another process (without idleSeconds) finds nothing left in Redis.
      assert.deepEqual(seriesOf(await scrape().text(), "mp_jobs_total"), []);
    } finally {
      await MultiProcessRedisBackend.close();
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
      await server.stop();
    }
  });
});
