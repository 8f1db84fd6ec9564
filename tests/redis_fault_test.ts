import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  BackendUnavailableError,
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  loadBackend,
  makeHandler,
  setLogger,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { needs, waitFor } from "./_process.ts";
import { capturingLogger } from "./_serve.ts";
import { type RedisServer, startRedis } from "./_redis.ts";

const TIMEOUT_MS = 500;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The app under test: one request counted by path and observed in a histogram. */
function makeApp(name: string): { serve(path: string): void; registry: CollectorRegistry } {
  const registry = new CollectorRegistry();
  const requests = new Counter({
    name: `${name}_total`,
    description: "Requests.",
    requiredLabels: ["path"],
    registry,
  });
  const seconds = new Histogram({
    name: `${name}_seconds`,
    description: "Latency.",
    buckets: [1],
    registry,
  });
  return {
    registry,
    serve(path) {
      requests.labels({ path }).inc();
      seconds.observe(0.5);
    },
  };
}

/** What the app's registry shows after `a` requests to /a and `b` to /b. */
function expected(name: string, a: number, b: number): string {
  return `# HELP ${name}_total Requests.\n# TYPE ${name}_total counter\n` +
    `${name}_total{path="/b"} ${b}\n${name}_total{path="/a"} ${a}\n` +
    `# HELP ${name}_seconds Latency.\n# TYPE ${name}_seconds histogram\n` +
    `${name}_seconds_bucket{le="1"} ${a + b}\n${name}_seconds_bucket{le="+Inf"} ${a + b}\n` +
    `${name}_seconds_sum ${(a + b) / 2}\n${name}_seconds_count ${a + b}\n`;
}

/** Requests in the background, a few every millisecond, until stopped; never awaited on Redis. */
function backgroundLoad(serve: (path: string) => void): { stop(): Promise<[number, number]> } {
  let running = true;
  const counts: [number, number] = [0, 0];
  const done = (async () => {
    while (running) {
      for (let i = 0; i < 5; i++) {
        const n = counts[0] + counts[1];
        serve(n % 3 === 0 ? "/b" : "/a");
        counts[n % 3 === 0 ? 1 : 0]++;
      }
      await sleep(1);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return counts;
    },
  };
}

/** Waits until the registry scrapes as expected; shows the difference if it never does. */
async function eventually(
  registry: CollectorRegistry,
  text: string | undefined,
  check = (scraped: string): boolean => scraped === text,
): Promise<void> {
  let last: unknown;
  try {
    await waitFor("the expected scrape", async () => {
      last = await generateMetrics(registry).catch((error) => error);
      return typeof last === "string" && check(last);
    });
  } catch {
    assert.equal(last, text);
  }
}

describe("MultiProcessRedisBackend when Redis fails", { skip: needs("redis-server") }, () => {
  let server: RedisServer;
  const { logger, messages: warnings } = capturingLogger();
  let previousLogger: ReturnType<typeof setLogger>;
  const config = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    host: "127.0.0.1",
    port: server.port,
    keyPrefix: "fault",
    flushIntervalMs: 20,
    timeoutMs: TIMEOUT_MS,
    closeTimeoutMs: 1000,
    ...extra,
  });

  before(async () => {
    previousLogger = setLogger(logger);
    server = await startRedis({ persistent: true });
    await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config() });
  });

  after(async () => {
    try {
      await MultiProcessRedisBackend.close().catch(() => {});
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    } finally {
      setLogger(previousLogger);
      await server?.stop();
    }
  });

  test("MultiProcessRedisBackend keeps serving while Redis is killed and restarted mid-load, and loses nothing", async () => {
    const app = makeApp("killed");
    const handler = makeHandler({ registry: app.registry });
    const load = backgroundLoad(app.serve);
    await sleep(150);
    await server.kill();
    await sleep(100);
    // The app keeps serving; a scrape answers 503, quickly, without the address (logged).
    const started = Date.now();
    const response = await handler(new Request("http://localhost/metrics"));
    const elapsed = Date.now() - started;
    assert.equal(response.status, 503);
    assert.equal(
      await response.text(),
      "Service Unavailable: the metrics store could not be read (see the server log)\n",
    );
    assert.ok(elapsed < TIMEOUT_MS + 1000, `503 after ${elapsed} ms`);
    await sleep(200);
    await server.restart();
    await sleep(150);
    const [a, b] = await load.stop();
    assert.ok(a + b > 100, `only ${a + b} requests served`);
    await eventually(app.registry, expected("killed", a, b));
    assert.equal(MultiProcessRedisBackend.stats().dropped, 0);
    assert.ok(warnings.some((w) => w.includes(`Redis at 127.0.0.1:${server.port} is unreachable`)));
    assert.ok(warnings.includes(`pytheus: Redis at 127.0.0.1:${server.port} is reachable again`));
  });

  test("MultiProcessRedisBackend answers 503 within its timeout while Redis is frozen, and writes everything exactly once after it thaws", async () => {
    const app = makeApp("frozen");
    const handler = makeHandler({ registry: app.registry });
    const load = backgroundLoad(app.serve);
    await sleep(100);
    server.pause();
    try {
      await sleep(TIMEOUT_MS * 2);
      const started = Date.now();
      const response = await handler(new Request("http://localhost/metrics"));
      const elapsed = Date.now() - started;
      assert.equal(response.status, 503);
      assert.equal(
        await response.text(),
        "Service Unavailable: the metrics store could not be read (see the server log)\n",
      );
      assert.ok(elapsed < TIMEOUT_MS + 1000, `503 after ${elapsed} ms`);
    } finally {
      server.resume();
    }
    await sleep(100);
    const [a, b] = await load.stop();
    assert.ok(MultiProcessRedisBackend.stats().failedFlushes > 0);
    await eventually(app.registry, expected("frozen", a, b));
    // Stable: the batches re-sent while frozen were applied once.
    await sleep(100);
    assert.equal(await generateMetrics(app.registry), expected("frozen", a, b));
  });

  test("MultiProcessRedisBackend keeps every value change through an outage, drops removals beyond maxPendingRemovals and counts them in pytheus_redis_dropped_total", async () => {
    await loadBackend({
      backendClass: MultiProcessRedisBackend,
      backendConfig: config({ maxPendingRemovals: 5 }),
    });
    const registry = new CollectorRegistry();
    registry.register(MultiProcessRedisBackend.selfCollector());
    const users = new Counter({
      name: "bounded_total",
      description: "B.",
      requiredLabels: ["user"],
      registry,
    });
    for (let i = 0; i < 10; i++) users.labels({ user: `u${i}` }).inc();
    await MultiProcessRedisBackend.flush();
    await server.kill();
    // 20 000 series changed during the outage: all kept, in place.
    for (let i = 0; i < 20_000; i++) users.labels({ user: `new${i % 20_000}` }).inc(i < 10 ? 2 : 1);
    for (let i = 0; i < 10; i++) users.remove({ user: `u${i}` });
    assert.equal(MultiProcessRedisBackend.stats().dropped, 5);
    await server.restart();
    const dropped = "# HELP pytheus_redis_dropped_total Series removals dropped because too " +
      "many waited for an unreachable Redis.\n# TYPE pytheus_redis_dropped_total counter\n" +
      "pytheus_redis_dropped_total 5\n";
    await eventually(registry, undefined, (text) => text.startsWith(dropped));
    const lines = (await generateMetrics(registry)).split("\n");
    // The five removals that were dropped leave their series in Redis.
    assert.deepEqual(
      lines.filter((l) => l.startsWith('bounded_total{user="u')).sort(),
      [5, 6, 7, 8, 9].map((i) => `bounded_total{user="u${i}"} 1`),
    );
    const added = lines.filter((l) => l.startsWith('bounded_total{user="new'));
    assert.equal(added.length, 20_000);
    assert.equal(added[0], 'bounded_total{user="new0"} 2');
    assert.equal(added[19_999], 'bounded_total{user="new19999"} 1');
    // Another process reads the same count from Redis.
    assert.deepEqual(
      await server.command("HGET", "fault:{pytheus_redis_dropped_total}", "{}"),
      "$1\r\n5\r\n",
    );
    users.clear();
    await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config() });
  });

  test("MultiProcessRedisBackend.close() throws BackendUnavailableError when Redis stays down", async () => {
    const c = new Counter({ name: "unwritten_total", description: "U.", registry: null });
    await MultiProcessRedisBackend.flush();
    await server.kill();
    c.inc();
    const started = Date.now();
    await assert.rejects(MultiProcessRedisBackend.close(), (error: unknown) => {
      assert.ok(error instanceof BackendUnavailableError);
      assert.match(
        error.message,
        new RegExp(
          `^Cannot write the changes of 1 series to Redis at 127\\.0\\.0\\.1:${server.port} before closing: `,
        ),
      );
      return true;
    });
    assert.ok(Date.now() - started < 3000);
    // Still in memory: written once a connection is back.
    await server.restart();
    await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config() });
    assert.deepEqual((await c.collect()).map((s) => s.value), [1]);
    assert.equal(await server.command("HGET", "fault:{unwritten_total}", "{}"), "$1\r\n1\r\n");
  });

  test("loadBackend() with MultiProcessRedisBackend succeeds while Redis is down, and the changes land when it starts", async () => {
    await MultiProcessRedisBackend.close();
    await server.kill();
    warnings.length = 0;
    await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config() });
    assert.equal(MultiProcessRedisBackend.stats().connected, false);
    assert.ok(
      warnings.some((w) => w.includes("is not reachable yet") || w.includes("is unreachable")),
    );
    const c = new Counter({ name: "early_total", description: "E.", registry: null });
    c.inc(3);
    await server.restart();
    await waitFor(
      "the early change in Redis",
      async () => (await server.command("HGET", "fault:{early_total}", "{}")) === "$1\r\n3\r\n",
    );
  });
});
