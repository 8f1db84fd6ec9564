/**
 * Gauges and counters read by a function at scrape time (client_python's
 * `set_function`, prom-client's `collect`): sync and async, per series,
 * failures that leave the family out (logged once) and never the scrape.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  Gauge,
  generateMetrics,
  InvalidValueError,
  loadBackend,
  SingleProcessBackend,
  UnobservableMetricError,
} from "../mod.ts";
import { needs } from "./_process.ts";
import { withRedisBackend } from "./_redis.ts";
import { untyped } from "./_untyped.ts";
import { withLoggedErrors } from "./_serve.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

describe("setFunction()", () => {
  test("Gauge.setFunction() reads the value at each scrape, sync or async, per series", async () => {
    const registry = new CollectorRegistry();
    const queue = ["a", "b"];
    const g = new Gauge({
      name: "queue_length",
      description: "Q.",
      requiredLabels: ["queue"],
      registry,
    });
    g.labels({ queue: "mail" }).setFunction(() => queue.length);
    g.labels({ queue: "sms" }).setFunction(async () => await Promise.resolve(4.5));
    g.labels({ queue: "push" }).set(1);
    assert.equal(
      await generateMetrics(registry),
      '# HELP queue_length Q.\n# TYPE queue_length gauge\nqueue_length{queue="mail"} 2\nqueue_length{queue="sms"} 4.5\nqueue_length{queue="push"} 1\n',
    );
    queue.push("c");
    assert.match(await generateMetrics(registry), /queue_length\{queue="mail"\} 3\n/);
  });

  test("Counter.setFunction() reads a total kept elsewhere; null goes back to the counted value", async () => {
    const registry = new CollectorRegistry();
    const pool = { evictions: 12 };
    const c = new Counter({ name: "evictions_total", description: "E.", registry });
    c.inc(2);
    c.setFunction(() => pool.evictions);
    assert.match(await generateMetrics(registry), /\nevictions_total 12\n/);
    c.setFunction(null);
    assert.match(await generateMetrics(registry), /\nevictions_total 2\n/);
  });

  test("a function that throws, rejects or gives no number leaves its family out, logged once; others stay", async () => {
    await withLoggedErrors(async (messages) => {
      const registry = new CollectorRegistry();
      const bad = new Gauge({ name: "bad", description: "B.", requiredLabels: ["k"], registry });
      new Gauge({ name: "good", description: "G.", registry }).set(1);
      bad.labels({ k: "ok" }).setFunction(() => 1);
      const failing = bad.labels({ k: "failing" });
      for (
        const [fn, problem] of [
          [() => {
            throw new Error("boom");
          }, /threw \(Error: boom\)/],
          [() => Promise.reject(new Error("later")), /rejected \(Error: later\)/],
          [() => "5", /gave string "5", not a number/],
          [async () => await Promise.resolve(undefined), /gave undefined, not a number/],
        ] as const
      ) {
        messages.length = 0;
        failing.setFunction(untyped(fn));
        for (let scrape = 0; scrape < 2; scrape++) {
          assert.equal(
            await generateMetrics(registry),
            "# HELP good G.\n# TYPE good gauge\ngood 1\n",
          );
        }
        assert.equal(messages.length, 1, messages.join("\n"));
        assert.match(messages[0]!, /metric "bad" .* left out of the scrape/);
        assert.match(messages[0]!, problem);
        failing.setFunction(() => 2);
        assert.match(await generateMetrics(registry), /\nbad\{k="failing"\} 2\n/);
      }
    });
  });

  test("a value whose then throws is the function's failure, not the scrape's", async () => {
    await withLoggedErrors(async (messages) => {
      const registry = new CollectorRegistry();
      new Gauge({ name: "odd", description: "O.", registry }).setFunction(untyped(() => ({
        get then() {
          throw new Error("boom");
        },
      })));
      new Gauge({ name: "fine", description: "F.", registry }).set(1);
      assert.equal(await generateMetrics(registry), "# HELP fine F.\n# TYPE fine gauge\nfine 1\n");
      assert.match(messages[0]!, /the function of "odd" threw \(Error: boom\)/);
    });
  });

  test("a counter's function must give a finite number of at least 0", async () => {
    await withLoggedErrors(async (messages) => {
      for (const value of [-1, NaN, Infinity]) {
        const registry = new CollectorRegistry();
        new Counter({ name: "odd_total", description: "O.", registry }).setFunction(() => value);
        assert.equal(await generateMetrics(registry), "");
        assert.match(messages.at(-1)!, /which a counter cannot be/);
      }
      const registry = new CollectorRegistry();
      new Gauge({ name: "odd", description: "O.", registry }).setFunction(() => NaN);
      assert.match(await generateMetrics(registry), /\nodd NaN\n/);
    });
  });

  test("a function that does not settle in 5 s fails its family, and the scrape answers", {
    timeout: 20_000,
  }, async () => {
    await withLoggedErrors(async (messages) => {
      const registry = new CollectorRegistry();
      new Gauge({ name: "hung", description: "H.", registry }).setFunction(() =>
        new Promise(() => {})
      );
      const started = Date.now();
      assert.equal(await generateMetrics(registry), "");
      const waited = Date.now() - started;
      assert.ok(waited >= 4_900 && waited < 8_000, `${waited} ms`);
      assert.match(messages[0]!, /did not settle within 5000 ms/);
    });
  });

  test("setFunction() refuses what is not a function, and a partial child", () => {
    const g = new Gauge({
      name: "g",
      description: "G.",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    assert.throws(() => g.labels({ a: "1", b: "2" }).setFunction(untyped(5)), InvalidValueError);
    assert.throws(() => g.labels({ a: "1" }).setFunction(() => 1), UnobservableMetricError);
    const c = new Counter({ name: "c_total", description: "C.", registry: null });
    assert.throws(() => c.setFunction(untyped("fn")), InvalidValueError);
  });

  test("a removed series' held child takes no function: it is exposed no more", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({ name: "held", description: "H.", requiredLabels: ["k"], registry });
    const child = g.labels({ k: "a" });
    g.remove({ k: "a" });
    child.setFunction(() => 5);
    assert.equal(await generateMetrics(registry), "# HELP held H.\n# TYPE held gauge\n");
  });

  test("a removed series forgets its function", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({
      name: "sessions",
      description: "S.",
      requiredLabels: ["user"],
      registry,
    });
    g.labels({ user: "ann" }).setFunction(() => 9);
    g.remove({ user: "ann" });
    g.labels({ user: "ann" });
    assert.match(await generateMetrics(registry), /\nsessions\{user="ann"\} 0\n/);
  });
});

describe("setFunction() with the Redis backend", { skip: needs("redis-server") }, () => {
  withRedisBackend("value-function");

  test("the scraping process reports its function's value; the stored value stays in Redis", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({ name: "local_queue", description: "L.", registry });
    g.set(3);
    g.setFunction(() => 11);
    assert.match(await generateMetrics(registry), /\nlocal_queue 11\n/);
    g.setFunction(null);
    assert.match(await generateMetrics(registry), /\nlocal_queue 3\n/);
  });
});
