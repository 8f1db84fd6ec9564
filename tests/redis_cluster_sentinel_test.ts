/**
 * MultiProcessRedisBackend on a real Redis Cluster of three masters, started
 * by the test (`redis-server --cluster-enabled yes` ×3, `redis-cli --cluster
 * create`): processes writing at once, a fifth reading the exact totals.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  loadBackend,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { needs, run } from "./_process.ts";
import { script } from "./_serve.ts";
import {
  type RedisCluster,
  type RedisSentinel,
  sendCommand,
  startRedisCluster,
  startRedisSentinel,
} from "./_redis.ts";
import { assertWorkerTotals, workerRegistry } from "./_redis_workers.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURE = join(ROOT, "tests", "fixtures", "redis_worker.ts");
const SLOW = { timeout: 90_000 };

describe("MultiProcessRedisBackend on a Redis Cluster", {
  skip: needs("redis-server", "redis-cli"),
}, () => {
  // Made by the first test that needs it, within that test's time: creating a cluster takes
  // seconds on a loaded machine, past Bun's 5 s for hooks, whose timeout option Bun ignores.
  let made: Promise<RedisCluster> | undefined;
  const started = (): Promise<RedisCluster> => made ??= startRedisCluster(3);
  /** Loads the Redis backend on the cluster, under a key prefix of its own; returns the cluster. */
  const loadOnCluster = async (keyPrefix: string): Promise<RedisCluster> => {
    const cluster = await started();
    await loadBackend({
      backendClass: MultiProcessRedisBackend,
      backendConfig: { cluster: cluster.nodes, keyPrefix, handleSignals: false },
    });
    return cluster;
  };
  after(async () => {
    const cluster = await made?.catch(() => undefined);
    await MultiProcessRedisBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    await cluster?.stop();
  });

  test(
    "4 processes writing at once give a fifth the exact totals; the metrics spread over the masters",
    SLOW,
    async () => {
      const cluster = await started();
      const workers = 4;
      const ops = 2000;
      const config = { cluster: cluster.nodes, keyPrefix: "cl", handleSignals: false };
      const [command, args] = script(FIXTURE);
      const results = await Promise.all(
        Array.from({ length: workers }, (_, i) =>
          run(command, args, {
            env: { REDIS_CONFIG: JSON.stringify(config), WORKER: `w${i}`, OPS: String(ops) },
          })),
      );
      for (const result of results) {
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "done\n", result.stderr);
      }
      await loadBackend({ backendClass: MultiProcessRedisBackend, backendConfig: config });
      assertWorkerTotals(await generateMetrics(workerRegistry()), workers, ops);
      // Five metrics, each one hash and one chunk number per process, in their slots:
      // more than one master holds some.
      const keys = await cluster.keysPerNode();
      assert.ok(keys.filter((count) => count > 0).length >= 2, `keys per master: ${keys}`);
    },
  );

  test(
    "A master restarted empty: only its metrics are written again, the others' counts stay exact",
    SLOW,
    async () => {
      const cluster = await loadOnCluster("lost");
      const registry = new CollectorRegistry();
      const counters = Array.from(
        { length: 9 },
        (_, i) => new Counter({ name: `lost${i}_total`, description: "L.", registry }),
      );
      for (const counter of counters) counter.inc(5);
      const values = async (): Promise<string[]> =>
        (await generateMetrics(registry)).split("\n").filter((line) => /^lost\d_total /.test(line));
      assert.deepEqual(await values(), counters.map((_, i) => `lost${i}_total 5`));
      // One master loses its data (FLUSHALL stands for a restart without persistence).
      const restores = MultiProcessRedisBackend.stats().restores;
      const keys = await cluster.keysPerNode();
      const emptied = keys.findIndex((count) => count > 0);
      await sendCommand(cluster.nodes[emptied]!.port, ["FLUSHALL"]);
      assert.equal((await cluster.keysPerNode())[emptied], 0);
      // The next scrape finds it (a flush would too) and the one after shows every count back.
      await generateMetrics(registry);
      await MultiProcessRedisBackend.flush();
      assert.deepEqual(await values(), counters.map((_, i) => `lost${i}_total 5`));
      assert.equal(MultiProcessRedisBackend.stats().restores, restores + 1);
      await MultiProcessRedisBackend.close();
    },
  );

  test(
    "A metric of many series is read page by page from its master, and clear() reaches it",
    SLOW,
    async () => {
      await loadOnCluster("many");
      const registry = new CollectorRegistry();
      const c = new Counter({
        name: "cl_many_total",
        description: "M.",
        requiredLabels: ["id"],
        registry,
      });
      for (let i = 0; i < 5000; i++) c.labels({ id: `u${i}` }).inc(2);
      let text = await generateMetrics(registry);
      assert.equal(text.split("\n").filter((line) => line.endsWith("} 2")).length, 5000);
      c.clear();
      await MultiProcessRedisBackend.flush();
      text = await generateMetrics(registry);
      assert.equal(text, "# HELP cl_many_total M.\n# TYPE cl_many_total counter\n");
    },
  );
});

describe("MultiProcessRedisBackend through Redis Sentinel", { skip: needs("redis-server") }, () => {
  // Made as the cluster is (see above).
  let made: Promise<RedisSentinel> | undefined;
  const started = (): Promise<RedisSentinel> => made ??= startRedisSentinel();
  after(async () => {
    const sentinel = await made?.catch(() => undefined);
    await MultiProcessRedisBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    await sentinel?.stop();
  });

  test(
    "ioredis' sentinels and name find the master: writes land there, scrapes read them",
    SLOW,
    async () => {
      const sentinel = await started();
      await loadBackend({
        backendClass: MultiProcessRedisBackend,
        backendConfig: {
          sentinels: sentinel.sentinels,
          name: "mymaster",
          keyPrefix: "sn",
          handleSignals: false,
        },
      });
      const registry = new CollectorRegistry();
      const c = new Counter({
        name: "sn_jobs_total",
        description: "J.",
        requiredLabels: ["q"],
        registry,
      });
      c.labels({ q: "mail" }).inc(3);
      await MultiProcessRedisBackend.flush();
      assert.equal(
        await sentinel.master.command("HGET", "sn:{sn_jobs_total}", '{"q":"mail"}'),
        "$1\r\n3\r\n",
      );
      assert.equal(
        await generateMetrics(registry),
        '# HELP sn_jobs_total J.\n# TYPE sn_jobs_total counter\nsn_jobs_total{q="mail"} 3\n',
      );
    },
  );
});
