import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import {
  BackendUnavailableError,
  CollectorRegistry,
  Counter,
  Gauge,
  generateMetrics,
  Histogram,
  loadBackend,
  setLogger,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { FLUSH_SCRIPT } from "../src/backends/_redis_wire.ts";
import { mirrorKeys } from "../src/backends/_redis_mirror.ts";
import { needs } from "./_process.ts";
import { capturingLogger } from "./_serve.ts";
import { heapAfterGc } from "./_heap.ts";
import { type RedisServer, startRedis } from "./_redis.ts";

const skip = needs("redis-server");
const PREFIX = "rt";

describe("MultiProcessRedisBackend", { skip }, () => {
  let server: RedisServer;
  let redis: Redis;
  const config = (): Record<string, unknown> => ({
    port: server.port,
    keyPrefix: PREFIX,
    flushIntervalMs: 20,
  });

  before(async () => {
    server = await startRedis();
    redis = new Redis({ port: server.port, lazyConnect: true });
    await redis.connect();
    await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config() });
  });

  after(async () => {
    try {
      await MultiProcessRedisBackend.close();
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
      await redis?.quit();
    } finally {
      await server?.stop();
    }
  });

  const flush = (): Promise<void> => MultiProcessRedisBackend.flush();

  test("MultiProcessRedisBackend keeps a metric in one hash, a series per field, with expiry", async () => {
    const registry = new CollectorRegistry();
    const requests = new Counter({
      name: "layout_total",
      description: "Requests.",
      requiredLabels: ["path", "method"],
      registry,
    });
    requests.labels({ path: "/", method: "GET" }).inc(2);
    requests.labels({ method: "GET", path: "/" }).inc();
    requests.labels({ path: "/x", method: "POST" }).inc(0.5);
    assert.equal(
      await generateMetrics(registry),
      "# HELP layout_total Requests.\n# TYPE layout_total counter\n" +
        'layout_total{path="/",method="GET"} 3\nlayout_total{path="/x",method="POST"} 0.5\n',
    );
    assert.deepEqual(await redis.hgetall(`${PREFIX}:{layout_total}`), {
      '{"method":"GET","path":"/"}': "3",
      '{"method":"POST","path":"/x"}': "0.5",
    });
    // The mirror scrapes read: each field's slot, and the value of each slot as a double.
    const slots = await redis.hgetall(`${PREFIX}:{layout_total}:~slots`);
    assert.deepEqual(
      { ...slots, "#v": "<version>" },
      {
        '{"method":"GET","path":"/"}': "0",
        '{"method":"POST","path":"/x"}': "1",
        "#n": "2",
        "#v": "<version>",
      },
    );
    const values = await redis.getBuffer(`${PREFIX}:{layout_total}:~values`);
    assert.deepEqual([values!.readDoubleLE(0), values!.readDoubleLE(8)], [3, 0.5]);
    // The hash, its mirror, the generation key and this process' chunk number all expire.
    const keys = (await redis.keys(`${PREFIX}:{layout_total}*`)).sort();
    assert.deepEqual(keys.map((key) => key.replace(/:~chunk:.*/, ":~chunk:<process>")), [
      `${PREFIX}:{layout_total}`,
      `${PREFIX}:{layout_total}:~chunk:<process>`,
      `${PREFIX}:{layout_total}:~generation`,
      `${PREFIX}:{layout_total}:~slots`,
      `${PREFIX}:{layout_total}:~values`,
    ]);
    for (const key of keys) {
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 3590 && ttl <= 3600, `TTL of ${key}: ${ttl}`);
    }
  });

  test("The flush script gives a generation key it makes an expiry on every path, a skipped or refused chunk too", async () => {
    const hash = `${PREFIX}:{generation_probe}`;
    const keys = [
      `${hash}:~chunk:probe`,
      hash,
      `${hash}:~generation`,
      ...mirrorKeys(hash),
    ] as const;
    const run = (number: number, first: number, generation: string) =>
      redis.eval(FLUSH_SCRIPT, 6, ...keys, String(number), "600", generation, String(first));
    await redis.set(keys[0], "5");
    // A chunk applied already (its answer was lost): skipped.
    assert.deepEqual(await run(3, 3, "g1"), [0, 0, "g1"]);
    const skipped = await redis.ttl(keys[2]);
    assert.ok(skipped > 590 && skipped <= 600, `TTL ${skipped}`);
    // A chunk after a gap within its batch: refused.
    await redis.del(keys[2]);
    await assert.rejects(run(7, 6, "g2"), /chunk 6 missing/);
    const refused = await redis.ttl(keys[2]);
    assert.ok(refused > 590 && refused <= 600, `TTL ${refused}`);
    assert.equal(await redis.get(keys[2]), "g2");
    await redis.del(...keys);
  });

  test("MultiProcessRedisBackend keeps label sets apart that pytheus 0.0.5 mixes up", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "collide_total",
      description: "C.",
      requiredLabels: ["a", "b"],
      registry,
    });
    c.labels({ a: "x", b: "y" }).inc(1);
    c.labels({ a: "y", b: "x" }).inc(2);
    c.labels({ a: "p-q", b: "r" }).inc(3);
    c.labels({ a: "p", b: "q-r" }).inc(4);
    c.labels({ a: 'q"}|', b: "" }).inc(5);
    c.labels({ a: "q", b: '"}|' }).inc(6);
    await flush();
    assert.deepEqual(await redis.hgetall(`${PREFIX}:{collide_total}`), {
      '{"a":"x","b":"y"}': "1",
      '{"a":"y","b":"x"}': "2",
      '{"a":"p-q","b":"r"}': "3",
      '{"a":"p","b":"q-r"}': "4",
      '{"a":"q\\"}|","b":""}': "5",
      '{"a":"q","b":"\\"}|"}': "6",
    });
    // A process that never saw these label sets reads them back unchanged.
    const other = new CollectorRegistry();
    new Counter({
      name: "collide_total",
      description: "C.",
      requiredLabels: ["a", "b"],
      registry: other,
    });
    assert.equal(
      await generateMetrics(other),
      "# HELP collide_total C.\n# TYPE collide_total counter\n" +
        'collide_total{a="x",b="y"} 1\ncollide_total{a="y",b="x"} 2\n' +
        'collide_total{a="p-q",b="r"} 3\ncollide_total{a="p",b="q-r"} 4\n' +
        'collide_total{a="q\\"}|",b=""} 5\ncollide_total{a="q",b="\\"}|"} 6\n',
    );
  });

  test("MultiProcessRedisBackend writes one series whatever the order labels are declared in", async () => {
    const first = new CollectorRegistry();
    const second = new CollectorRegistry();
    const ab = new Counter({
      name: "order_total",
      description: "O.",
      requiredLabels: ["a", "b"],
      registry: first,
    });
    const ba = new Counter({
      name: "order_total",
      description: "O.",
      requiredLabels: ["b", "a"],
      registry: second,
    });
    ab.labels({ a: "1", b: "2" }).inc();
    ba.labels({ b: "2", a: "1" }).inc(2);
    await flush();
    assert.deepEqual(await redis.hgetall(`${PREFIX}:{order_total}`), { '{"a":"1","b":"2"}': "3" });
    assert.equal(
      await generateMetrics(first),
      '# HELP order_total O.\n# TYPE order_total counter\norder_total{a="1",b="2"} 3\n',
    );
    assert.equal(
      await generateMetrics(second),
      '# HELP order_total O.\n# TYPE order_total counter\norder_total{b="2",a="1"} 3\n',
    );
  });

  test("MultiProcessRedisBackend keeps the order of set and inc: set then inc is set+inc, inc then set is set", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({
      name: "order_gauge",
      description: "G.",
      requiredLabels: ["case"],
      registry,
    });
    g.labels({ case: "set-inc" }).set(5);
    g.labels({ case: "set-inc" }).inc(2);
    g.labels({ case: "inc-set" }).inc(3);
    g.labels({ case: "inc-set" }).set(4);
    g.labels({ case: "dec-set-dec" }).dec(1);
    g.labels({ case: "dec-set-dec" }).set(10);
    g.labels({ case: "dec-set-dec" }).dec(0.5);
    assert.equal(
      await generateMetrics(registry),
      "# HELP order_gauge G.\n# TYPE order_gauge gauge\n" +
        'order_gauge{case="set-inc"} 7\norder_gauge{case="inc-set"} 4\n' +
        'order_gauge{case="dec-set-dec"} 9.5\n',
    );
    assert.deepEqual(await redis.hgetall(`${PREFIX}:{order_gauge}`), {
      '{"case":"set-inc"}': "7",
      '{"case":"inc-set"}': "4",
      '{"case":"dec-set-dec"}': "9.5",
    });
    // Across flushes: a set, then another process' inc, then ours.
    g.labels({ case: "inc-set" }).set(100);
    await flush();
    await redis.hincrbyfloat(`${PREFIX}:{order_gauge}`, '{"case":"inc-set"}', 10);
    g.labels({ case: "inc-set" }).inc(1);
    const samples = await g.collect();
    assert.equal(samples.find((s) => s.labels.case === "inc-set")?.value, 111);
  });

  test("MultiProcessRedisBackend stores histogram buckets one by one and scrapes them cumulated", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({ name: "size", description: "S.", buckets: [1, 2], registry });
    for (const v of [0.5, 1.5, 1.5, 3]) h.observe(v);
    assert.equal(
      await generateMetrics(registry),
      "# HELP size S.\n# TYPE size histogram\n" +
        'size_bucket{le="1"} 1\nsize_bucket{le="2"} 3\nsize_bucket{le="+Inf"} 4\n' +
        "size_sum 6.5\nsize_count 4\n",
    );
    assert.deepEqual(await redis.hgetall(`${PREFIX}:{size}`), {
      "{}|1": "1",
      "{}|2": "2",
      "{}|+Inf": "1",
      "{}|sum": "6.5",
    });
  });

  test("MultiProcessRedisBackend reports series that only other processes created", async () => {
    const key = `${PREFIX}:{remote_seconds}`;
    await redis.hset(key, '{"worker":"w9"}|0.5', "2", '{"worker":"w9"}|sum', "0.5");
    await redis.hset(key, '{"worker":"w8"}|+Inf', "1", '{"worker":"w8"}|sum', "7");
    await redis.hset(`${PREFIX}:{remote_total}`, '{"worker":"w9"}', "5");
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "remote_seconds",
      description: "R.",
      requiredLabels: ["worker"],
      buckets: [0.5],
      registry,
    });
    const c = new Counter({
      name: "remote_total",
      description: "R.",
      requiredLabels: ["worker"],
      registry,
    });
    h.labels({ worker: "w1" }).observe(0.25);
    c.labels({ worker: "w1" }).inc();
    assert.equal(
      await generateMetrics(registry),
      "# HELP remote_seconds R.\n# TYPE remote_seconds histogram\n" +
        'remote_seconds_bucket{worker="w1",le="0.5"} 1\nremote_seconds_bucket{worker="w1",le="+Inf"} 1\n' +
        'remote_seconds_sum{worker="w1"} 0.25\nremote_seconds_count{worker="w1"} 1\n' +
        'remote_seconds_bucket{worker="w9",le="0.5"} 2\nremote_seconds_bucket{worker="w9",le="+Inf"} 2\n' +
        'remote_seconds_sum{worker="w9"} 0.5\nremote_seconds_count{worker="w9"} 2\n' +
        'remote_seconds_bucket{worker="w8",le="0.5"} 0\nremote_seconds_bucket{worker="w8",le="+Inf"} 1\n' +
        'remote_seconds_sum{worker="w8"} 7\nremote_seconds_count{worker="w8"} 1\n' +
        "# HELP remote_total R.\n# TYPE remote_total counter\n" +
        'remote_total{worker="w1"} 1\nremote_total{worker="w9"} 5\n',
    );
  });

  test("MultiProcessRedisBackend reads a metric of many series page by page: every one, once, exact", async () => {
    // 7,000 series another process wrote: the read takes several pages.
    const fields: string[] = [];
    for (let i = 0; i < 7000; i++) fields.push(`{"id":"u${i}"}`, String(i));
    await redis.hset(`${PREFIX}:{paged_total}`, ...fields);
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "paged_total",
      description: "P.",
      requiredLabels: ["id"],
      registry,
    });
    c.labels({ id: "u1" }).inc(0.5);
    const text = await generateMetrics(registry);
    const lines = text.split("\n").filter((line) => line.startsWith("paged_total{"));
    assert.equal(lines.length, 7000);
    assert.equal(new Set(lines).size, 7000);
    assert.ok(lines.includes('paged_total{id="u1"} 1.5'));
    assert.ok(lines.includes('paged_total{id="u6999"} 6999'));
  });

  test("MultiProcessRedisBackend keeps writing after Redis went back to older data (a snapshot restored)", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "rollback_total", description: "R.", registry });
    for (let i = 0; i < 3; i++) {
      c.inc();
      await MultiProcessRedisBackend.flush();
    }
    // Redis restarted from an older snapshot: this process' chunk number for the metric is older.
    const [numberKey] = await redis.keys(`${PREFIX}:{rollback_total}:~chunk:*`);
    assert.ok(numberKey, "the metric's chunk number is kept in Redis");
    await redis.set(numberKey, "1");
    c.inc(10);
    await MultiProcessRedisBackend.flush();
    assert.equal(await redis.hget(`${PREFIX}:{rollback_total}`, "{}"), "13");
    assert.match(await generateMetrics(registry), /^rollback_total 13$/m);
  });

  test("MultiProcessRedisBackend skips fields that do not fit the metric's labels", async () => {
    await redis.hset(
      `${PREFIX}:{misfit_total}`,
      '{"other":"x"}',
      "1",
      "not json",
      "2",
      '{"k":"v"}',
      "3",
    );
    const registry = new CollectorRegistry();
    new Counter({ name: "misfit_total", description: "M.", requiredLabels: ["k"], registry });
    const { logger, messages: warnings } = capturingLogger();
    const previous = setLogger(logger);
    try {
      assert.equal(
        await generateMetrics(registry),
        '# HELP misfit_total M.\n# TYPE misfit_total counter\nmisfit_total{k="v"} 3\n',
      );
      await generateMetrics(registry);
    } finally {
      setLogger(previous);
    }
    assert.deepEqual(warnings, [
      'pytheus: series "{\\"other\\":\\"x\\"}" of "misfit_total" in its store does not fit this process\' labels (k): not reported',
    ]);
  });

  test("MultiProcessRedisBackend deletes a removed series, and every series on clear(), in Redis", async () => {
    const key = `${PREFIX}:{sessions}`;
    const registry = new CollectorRegistry();
    const g = new Gauge({
      name: "sessions",
      description: "S.",
      requiredLabels: ["user"],
      registry,
    });
    g.labels({ user: "ann" }).set(1);
    g.labels({ user: "bob" }).set(2);
    await flush();
    await redis.hset(key, '{"user":"eve"}', "3");
    assert.equal(g.remove({ user: "ann" }), true);
    assert.equal(
      await generateMetrics(registry),
      '# HELP sessions S.\n# TYPE sessions gauge\nsessions{user="bob"} 2\nsessions{user="eve"} 3\n',
    );
    assert.deepEqual(await redis.hgetall(key), { '{"user":"bob"}': "2", '{"user":"eve"}': "3" });
    g.clear();
    assert.equal(await generateMetrics(registry), "# HELP sessions S.\n# TYPE sessions gauge\n");
    assert.equal(await redis.exists(key), 0);
    g.labels({ user: "ann" }).inc();
    assert.equal(
      await generateMetrics(registry),
      '# HELP sessions S.\n# TYPE sessions gauge\nsessions{user="ann"} 1\n',
    );
  });

  test("MultiProcessRedisBackend frees a removed series without a scrape: 200k create/remove cycles keep the heap flat", async () => {
    // A job runner: it writes to Redis and never serves /metrics.
    const jobs = new Counter({
      name: "runner_jobs_total",
      description: "J.",
      requiredLabels: ["job"],
      registry: null,
    });
    const cycle = (from: number, to: number): void => {
      for (let i = from; i < to; i++) {
        jobs.labels({ job: `job-${i}` }).inc();
        jobs.remove({ job: `job-${i}` });
      }
    };
    cycle(0, 10_000);
    await flush();
    const before = heapAfterGc();
    for (let round = 1; round < 20; round++) {
      cycle(round * 10_000, (round + 1) * 10_000);
      await flush();
    }
    const grown = heapAfterGc() - before;
    assert.ok(grown < 4_000_000, `heap grew ${grown} bytes over 190k removed series`);
    assert.equal(await redis.hlen(`${PREFIX}:{runner_jobs_total}`), 0);
  });

  test("MultiProcessRedisBackend does not bring back a series removed while a scrape's reply was on its way", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({
      name: "inflight_sessions",
      description: "S.",
      requiredLabels: ["user"],
      registry,
    });
    g.labels({ user: "ann" }).set(2);
    g.labels({ user: "bob" }).set(3);
    await flush();
    const scrape = generateMetrics(registry);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    g.remove({ user: "ann" });
    await scrape;
    assert.equal(
      await generateMetrics(registry),
      '# HELP inflight_sessions S.\n# TYPE inflight_sessions gauge\ninflight_sessions{user="bob"} 3\n',
    );
  });

  test("MultiProcessRedisBackend keeps two registries' metrics of one name apart by their prefixes", async () => {
    const shop = new CollectorRegistry({ prefix: "shop" });
    const admin = new CollectorRegistry({ prefix: "admin" });
    const bare = new CollectorRegistry();
    new Counter({ name: "orders_total", description: "O.", registry: shop }).inc(1);
    new Counter({ name: "orders_total", description: "O.", registry: admin }).inc(2);
    new Counter({ name: "orders_total", description: "O.", registry: bare }).inc(4);
    await flush();
    assert.match(await generateMetrics(shop), /^shop_orders_total 1$/m);
    assert.match(await generateMetrics(admin), /^admin_orders_total 2$/m);
    assert.match(await generateMetrics(bare), /^orders_total 4$/m);
    assert.deepEqual(
      [
        await redis.hget(`${PREFIX}:{shop/orders_total}`, "{}"),
        await redis.hget(`${PREFIX}:{admin/orders_total}`, "{}"),
        await redis.hget(`${PREFIX}:{orders_total}`, "{}"),
      ],
      ["1", "2", "4"],
    );
  });

  test("MultiProcessRedisBackend reads Redis when a metric is collected outside a scrape", async () => {
    const c = new Counter({ name: "direct_total", description: "D.", registry: null });
    c.inc(2);
    await flush();
    await redis.hincrbyfloat(`${PREFIX}:{direct_total}`, "{}", 40);
    c.inc();
    assert.deepEqual((await c.collect()).map((s) => s.value), [43]);
  });

  test("MultiProcessRedisBackend.stats() reports the connection and nothing pending after a scrape", async () => {
    const c = new Counter({ name: "stats_total", description: "S.", registry: null });
    c.inc();
    assert.equal(MultiProcessRedisBackend.stats().pendingSeries >= 1, true);
    await flush();
    assert.deepEqual(MultiProcessRedisBackend.stats(), {
      connected: true,
      pendingSeries: 0,
      dropped: 0,
      failedFlushes: 0,
      restores: 0,
    });
  });

  test("loadBackend(MultiProcessRedisBackend) refuses options of the wrong type with PytheusError", async () => {
    for (
      const [option, value] of [
        ["keyPrefix", 3],
        ["expireKeySeconds", 0.5],
        ["flushIntervalMs", -1],
        ["maxPendingRemovals", 0],
        ["flushIntervalMs", 0],
        ["timeoutMs", "1s"],
        ["keyPrefix", "shop{eu}"],
        ["cluster", "127.0.0.1:7000"],
        ["cluster", []],
        ["cluster", [null]],
        ["clusterOptions", null],
      ] as const
    ) {
      await assert.rejects(
        loadBackend({
          backendClass: MultiProcessRedisBackend,
          backendConfig: { port: server.port, [option]: value },
        }),
        { name: "PytheusError", message: new RegExp(`^Redis backend option "${option}" must be`) },
      );
    }
    assert.equal(MultiProcessRedisBackend.stats().connected, true);
  });

  test("loadBackend() selects MultiProcessRedisBackend from PYTHEUS_BACKEND_CLASS and PYTHEUS_BACKEND_CONFIG", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pytheus-env-"));
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ port: server.port, keyPrefix: "fromenv" }));
    const saved = [process.env.PYTHEUS_BACKEND_CLASS, process.env.PYTHEUS_BACKEND_CONFIG];
    process.env.PYTHEUS_BACKEND_CLASS = "MultiProcessRedisBackend";
    process.env.PYTHEUS_BACKEND_CONFIG = file;
    try {
      const loaded = await loadBackend();
      assert.equal(loaded.backendClass, MultiProcessRedisBackend);
      assert.deepEqual(loaded.backendConfig, { port: server.port, keyPrefix: "fromenv" });
      const registry = new CollectorRegistry();
      new Counter({ name: "env_total", description: "E.", registry }).inc(7);
      assert.equal(
        await generateMetrics(registry),
        "# HELP env_total E.\n# TYPE env_total counter\nenv_total 7\n",
      );
      assert.deepEqual(await redis.hgetall("fromenv:{env_total}"), { "{}": "7" });
    } finally {
      process.env.PYTHEUS_BACKEND_CLASS = saved[0] ?? "";
      process.env.PYTHEUS_BACKEND_CONFIG = saved[1] ?? "";
      if (saved[0] === undefined) delete process.env.PYTHEUS_BACKEND_CLASS;
      if (saved[1] === undefined) delete process.env.PYTHEUS_BACKEND_CONFIG;
      rmSync(dir, { recursive: true, force: true });
      await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config() });
    }
  });

  test("MultiProcessRedisBackend fails a scrape with BackendUnavailableError once closed", async () => {
    const c = new Counter({ name: "closed_total", description: "C.", registry: null });
    await MultiProcessRedisBackend.close();
    try {
      c.inc();
      await assert.rejects(c.collect(), (error: unknown) => {
        assert.ok(error instanceof BackendUnavailableError);
        assert.match(error.message, /^Cannot read metrics: the Redis backend is not connected/);
        return true;
      });
    } finally {
      await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config() });
    }
    assert.deepEqual((await c.collect()).map((s) => s.value), [1]);
  });
});
