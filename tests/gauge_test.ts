import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CollectorRegistry, Gauge, generateMetrics, UnobservableMetricError } from "../mod.ts";
import { Timer } from "../src/metrics/timer.ts";
import { TOOK, TOOK_MS, turn, valueOf, withClock } from "./_timing.ts";

function gauge(requiredLabels: readonly string[] = []): Gauge<string> {
  return new Gauge({ name: "g", description: "G.", requiredLabels, registry: null });
}

describe("Gauge", () => {
  test("Gauge starts at 0; inc() and dec() default to 1 and take amounts", async () => {
    const g = gauge();
    assert.equal(await valueOf(g), 0);
    g.inc();
    assert.equal(await valueOf(g), 1);
    g.inc(4.5);
    assert.equal(await valueOf(g), 5.5);
    g.dec();
    assert.equal(await valueOf(g), 4.5);
    g.dec(10);
    assert.equal(await valueOf(g), -5.5);
    g.inc(-0.5);
    assert.equal(await valueOf(g), -6);
  });

  test("Gauge.set() replaces the value, including non-finite values", async () => {
    const g = gauge();
    g.set(42);
    assert.equal(await valueOf(g), 42);
    g.set(-3.25);
    assert.equal(await valueOf(g), -3.25);
    g.set(Infinity);
    assert.equal(await valueOf(g), Infinity);
    g.set(NaN);
    assert.ok(Number.isNaN(await valueOf(g)));
  });

  test("Gauge.setToCurrentTime() sets Unix seconds", async () => {
    const g = gauge();
    const before = Date.now() / 1000;
    g.setToCurrentTime();
    const after = Date.now() / 1000;
    const value = await valueOf(g);
    assert.ok(value >= before && value <= after, `${before} <= ${value} <= ${after}`);
  });

  test("Gauge.trackInprogress(fn) adds one while a sync fn runs and returns its result", async () => {
    const g = gauge();
    let during = NaN;
    const result = g.trackInprogress(() => {
      // The in-memory backend reads synchronously: look at the value mid-run.
      const samples = g.labels({}).collect();
      assert.ok(Array.isArray(samples));
      during = samples[0]!.value;
      return "done";
    });
    assert.equal(result, "done");
    assert.equal(during, 1);
    assert.equal(await valueOf(g), 0);
  });

  test("Gauge.trackInprogress(fn) counts concurrent async calls until each settles", async () => {
    const g = gauge();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const a = g.trackInprogress(async () => {
      await gate;
      return 1;
    });
    const b = g.trackInprogress(async () => {
      await gate;
      return 2;
    });
    assert.equal(await valueOf(g), 2);
    release();
    assert.deepEqual(await Promise.all([a, b]), [1, 2]);
    assert.equal(await valueOf(g), 0);
  });

  test("Gauge.trackInprogress(fn) subtracts again when fn throws or rejects, and rethrows", async () => {
    const g = gauge();
    const error = new Error("sync");
    assert.throws(() =>
      g.trackInprogress(() => {
        throw error;
      }), (err) => err === error);
    assert.equal(await valueOf(g), 0);
    const pending = g.trackInprogress(async () => {
      await turn();
      throw new RangeError("async");
    });
    assert.equal(await valueOf(g), 1);
    await assert.rejects(pending, RangeError);
    assert.equal(await valueOf(g), 0);
  });

  test("Gauge.trackInprogress() with using adds one for the block", async () => {
    const g = gauge();
    {
      using _inProgress = g.trackInprogress();
      assert.equal(await valueOf(g), 1);
      {
        using _nested = g.trackInprogress();
        assert.equal(await valueOf(g), 2);
      }
      assert.equal(await valueOf(g), 1);
    }
    assert.equal(await valueOf(g), 0);
  });

  test("Gauge.trackInprogress() handle subtracts once even if stopped twice", async () => {
    const g = gauge();
    const handle = g.trackInprogress();
    assert.ok(handle instanceof Timer);
    assert.equal(await valueOf(g), 1);
    handle.stop();
    handle.stop();
    handle[Symbol.dispose]();
    assert.equal(await valueOf(g), 0);
  });

  test("Gauge.time(fn) sets the duration of a sync fn and returns its result", () =>
    withClock(async (clock) => {
      const g = gauge();
      const result = g.time(() => {
        clock.ms += TOOK_MS;
        return 7;
      });
      assert.equal(result, 7);
      assert.equal(await valueOf(g), TOOK);
    }));

  test("Gauge.time(fn) sets the duration of an async fn once its promise settles", () =>
    withClock(async (clock) => {
      const g = gauge();
      g.set(-1);
      const pending = g.time(async () => {
        await turn();
        clock.ms += TOOK_MS;
        return "ok";
      });
      assert.equal(await valueOf(g), -1, "not set before the promise settles");
      assert.equal(await pending, "ok");
      assert.equal(await valueOf(g), TOOK);
    }));

  test("Gauge.time(fn) still sets the duration when fn throws, and rethrows", () =>
    withClock(async (clock) => {
      const g = gauge();
      g.set(-1);
      assert.throws(() =>
        g.time(() => {
          clock.ms += TOOK_MS;
          throw new TypeError("bad");
        }), TypeError);
      assert.equal(await valueOf(g), TOOK);
    }));

  test("Gauge.time(fn) still sets the duration when the promise rejects, and rethrows", () =>
    withClock(async (clock) => {
      const g = gauge();
      g.set(-1);
      await assert.rejects(
        g.time(async () => {
          await turn();
          clock.ms += TOOK_MS;
          throw new TypeError("bad");
        }),
        TypeError,
      );
      assert.equal(await valueOf(g), TOOK);
    }));

  test("Gauge.time() with using sets the duration of the block", () =>
    withClock(async (clock) => {
      const g = gauge();
      g.set(-1);
      {
        using _timer = g.time();
        clock.ms += TOOK_MS;
        assert.equal(await valueOf(g), -1);
      }
      assert.equal(await valueOf(g), TOOK);
    }));

  test("Gauge.time() handle: stop() returns the seconds it set, and only the first call counts", () =>
    withClock(async (clock) => {
      const g = gauge();
      const timer = g.time();
      clock.ms += TOOK_MS;
      assert.equal(timer.stop(), TOOK);
      assert.equal(await valueOf(g), TOOK);
      clock.ms += 5;
      assert.ok(Number.isNaN(timer.stop()));
      assert.equal(await valueOf(g), TOOK);
    }));

  test("Gauge.wrap() sets the duration of every call, sync and async", () =>
    withClock(async (clock) => {
      const g = gauge();
      const add = g.wrap((a: number, b: number): number => a + b);
      // Set apart from any duration: the call must replace it.
      g.set(-1);
      assert.equal(add(2, 3), 5);
      assert.equal(await valueOf(g), 0);
      const slow = g.wrap(async (ms: number): Promise<number> => {
        await turn();
        clock.ms += ms;
        return ms;
      });
      assert.equal(await slow(TOOK_MS), TOOK_MS);
      assert.equal(await valueOf(g), TOOK);
    }));

  test("Gauge.time() measures on the real clock too", async () => {
    const g = gauge();
    await g.time(() => new Promise((resolve) => setTimeout(resolve, 20)));
    // Timers may fire a hair early on some runtimes.
    assert.ok(await valueOf(g) >= 0.018, `measured ${await valueOf(g)} s`);
  });

  test("GaugeChild methods act on the child's series only", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({
      name: "queue_length",
      description: "Jobs waiting.",
      requiredLabels: ["queue"],
      registry,
    });
    g.labels({ queue: "mail" }).set(3);
    g.labels({ queue: "mail" }).inc(2);
    g.labels({ queue: "sms" }).dec();
    await g.labels({ queue: "push" }).trackInprogress(() => Promise.resolve());
    assert.equal(
      await generateMetrics(registry),
      "# HELP queue_length Jobs waiting.\n# TYPE queue_length gauge\n" +
        'queue_length{queue="mail"} 5\nqueue_length{queue="sms"} -1\nqueue_length{queue="push"} 0\n',
    );
  });

  test("Gauge methods on an incomplete gauge throw UnobservableMetricError before running fn", () => {
    const g = gauge(["queue"]);
    let ran = false;
    const fn = (): void => {
      ran = true;
    };
    assert.throws(() => g.inc(), UnobservableMetricError);
    assert.throws(() => g.dec(), UnobservableMetricError);
    assert.throws(() => g.set(1), UnobservableMetricError);
    assert.throws(() => g.setToCurrentTime(), UnobservableMetricError);
    assert.throws(() => g.trackInprogress(fn), UnobservableMetricError);
    assert.throws(() => g.trackInprogress(), UnobservableMetricError);
    assert.throws(() => g.time(fn), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "g": label "queue" has no value',
    });
    assert.throws(() => g.time(), UnobservableMetricError);
    assert.throws(() => g.wrap(fn)(), UnobservableMetricError);
    assert.equal(ran, false);
  });
});
