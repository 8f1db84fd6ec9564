/**
 * Redis restarted empty: every live process notices (the generation of
 * Redis' data is gone), writes its share of every series again within a
 * flush interval, counts it, and logs it once.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
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
import { needs, type Running, start, waitFor, which } from "./_process.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import { capturingLogger, RUNTIME } from "./_serve.ts";

const APP = fileURLToPath(new URL("./fixtures/redis_signal_app.ts", import.meta.url));
const PREFIX = "restore";

describe(
  "MultiProcessRedisBackend when Redis restarts empty",
  { skip: needs("redis-server") },
  () => {
    let server: RedisServer;
    let other: Running | undefined;
    const { logger, messages } = capturingLogger();
    let previous: ReturnType<typeof setLogger>;
    before(async () => {
      previous = setLogger(logger);
      server = await startRedis(); // no persistence: a restart comes back empty
      await loadBackend({
        backendClass: MultiProcessRedisBackend,
        backendConfig: { port: server.port, keyPrefix: PREFIX, flushIntervalMs: 20 },
      });
    });
    after(async () => {
      try {
        other?.child.kill("SIGKILL");
        await MultiProcessRedisBackend.close().catch(() => {});
        await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
      } finally {
        setLogger(previous);
        await server?.stop();
      }
    });

    /** A field of a hash in Redis, as a number (0 when absent). */
    const field = async (key: string, name: string): Promise<number> => {
      const reply = await server.command("HGET", `${PREFIX}:{${key}}`, name);
      const match = /^\$\d+\r\n([^\r]*)/.exec(reply);
      return match ? Number(match[1]) : 0;
    };

    test("Every live process writes its counters, gauges and histograms again, within a flush interval", async () => {
      // Another live process, sharing the counter: 50 jobs.
      const program = which(RUNTIME)!;
      other = start(program, RUNTIME === "bun" ? [APP] : ["run", "--allow-all", APP], {
        REDIS_PORT: String(server.port),
        REDIS_PREFIX: PREFIX,
        COUNT: "50",
        FLUSH_MS: "20",
      });
      await waitFor("the other process ready", () => other!.output().includes("ready"), 20_000);
      const registry = new CollectorRegistry();
      const jobs = new Counter({ name: "signal_jobs_total", description: "Jobs.", registry });
      const level = new Gauge({ name: "restore_level", description: "L.", registry });
      const seconds = new Histogram({
        name: "restore_seconds",
        description: "S.",
        buckets: [1],
        registry,
      });
      jobs.inc(30);
      level.set(7);
      level.inc(2);
      seconds.observe(0.5);
      await waitFor(
        "both processes' jobs in Redis",
        async () => await field("signal_jobs_total", "{}") === 80,
      );
      await server.kill();
      // It comes back empty (no persistence): the live processes may write
      // their shares again at once, so emptiness is proven by restores below.
      await server.restart();
      const restarted = performance.now();
      jobs.inc(1); // a change after the restart counts on top
      await waitFor(
        "every share written again",
        async () =>
          await field("signal_jobs_total", "{}") === 81 &&
          await field("restore_level", "{}") === 9 &&
          await field("restore_seconds", "{}|1") === 1 &&
          await field("restore_seconds", "{}|sum") === 0.5,
        5_000,
      );
      const took = performance.now() - restarted;
      assert.ok(took < 2000, `written again ${took.toFixed(0)} ms after the restart`);
      assert.equal(MultiProcessRedisBackend.stats().restores, 1);
      assert.match(await generateMetrics(), /^pytheus_redis_restores_total 1$/m);
      assert.equal(
        messages.filter((m) => m.includes("lost the data of")).length,
        1,
        messages.join("\n"),
      );
      // Stable: nothing is written twice.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(await field("signal_jobs_total", "{}"), 81);
      assert.equal(await field("restore_level", "{}"), 9);
    });
  },
);
