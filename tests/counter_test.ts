import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  InvalidValueError,
  PytheusError,
  UnobservableMetricError,
} from "../mod.ts";
import { valueOf } from "./_timing.ts";

class TimeoutError extends Error {}
class NotFoundError extends Error {}

/** The one value of a metric without labels. */
function counter(requiredLabels: readonly string[] = []): Counter<string> {
  return new Counter({ name: "c_total", description: "C.", requiredLabels, registry: null });
}

describe("Counter", () => {
  test("Counter.inc() adds 1 by default and the given amount otherwise", async () => {
    const c = counter();
    assert.equal(await valueOf(c), 0);
    c.inc();
    assert.equal(await valueOf(c), 1);
    c.inc(2.5);
    assert.equal(await valueOf(c), 3.5);
    c.inc(0);
    assert.equal(await valueOf(c), 3.5);
  });

  test("Counter.inc() refuses Infinity with InvalidValueError and counts nothing", async () => {
    const c = counter();
    c.inc(2);
    assert.throws(() => c.inc(Infinity), {
      name: "InvalidValueError",
      message:
        'Cannot increment counter "c_total" by number Infinity: a counter only goes up, by a finite amount',
    });
    assert.equal(await valueOf(c), 2);
  });

  test("Counter.inc() rejects negative values with InvalidValueError naming the metric", async () => {
    const c = counter();
    assert.throws(() => c.inc(-1), (err: unknown) => {
      assert.ok(err instanceof InvalidValueError);
      assert.ok(err instanceof PytheusError);
      assert.equal(err.name, "InvalidValueError");
      assert.equal(
        err.message,
        'Cannot increment counter "c_total" by number -1: a counter only goes up, by a finite amount',
      );
      return true;
    });
    assert.throws(() => c.inc(-Infinity), InvalidValueError);
    assert.equal(await valueOf(c), 0);
  });

  test("Counter.inc() rejects NaN", async () => {
    const c = counter();
    assert.throws(() => c.inc(NaN), {
      name: "InvalidValueError",
      message:
        'Cannot increment counter "c_total" by number NaN: a counter only goes up, by a finite amount',
    });
    assert.equal(await valueOf(c), 0);
  });

  test("CounterChild.inc() rejects negative values too", () => {
    const c = counter(["a"]);
    assert.throws(() => c.labels({ a: "x" }).inc(-0.5), InvalidValueError);
  });

  test("Counter.inc() on a counter with required labels throws UnobservableMetricError", () => {
    const c = counter(["route"]);
    assert.throws(() => c.inc(), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "c_total": label "route" has no value',
    });
    assert.throws(() => c.countExceptions(() => 1), UnobservableMetricError);
  });

  test("Counter.countExceptions() returns what fn returns and counts nothing on success", async () => {
    const c = counter();
    assert.equal(c.countExceptions(() => 42), 42);
    assert.equal(await valueOf(c), 0);
  });

  test("Counter.countExceptions() counts a thrown error and rethrows the same error", async () => {
    const c = counter();
    const error = new Error("boom");
    assert.throws(
      () =>
        c.countExceptions(() => {
          throw error;
        }),
      (err) => err === error,
    );
    assert.equal(await valueOf(c), 1);
  });

  test("Counter.countExceptions() with errorTypes counts only matching errors", async () => {
    const c = counter();
    const types = [TimeoutError, NotFoundError];
    assert.throws(() =>
      c.countExceptions(() => {
        throw new TimeoutError("slow");
      }, types), TimeoutError);
    assert.throws(() =>
      c.countExceptions(() => {
        throw new NotFoundError("gone");
      }, types), NotFoundError);
    assert.throws(() =>
      c.countExceptions(() => {
        throw new TypeError("other");
      }, types), TypeError);
    assert.throws(() =>
      c.countExceptions(() => {
        throw "a string";
      }, types), (err) => err === "a string");
    assert.equal(await valueOf(c), 2);
  });

  test("Counter.countExceptions() with an empty errorTypes list counts nothing", async () => {
    const c = counter();
    assert.throws(() =>
      c.countExceptions(() => {
        throw new Error("x");
      }, []), Error);
    assert.equal(await valueOf(c), 0);
  });

  test("Counter.countExceptions() counts errors subclassing a listed type", async () => {
    const c = counter();
    class DeadlineError extends TimeoutError {}
    assert.throws(() =>
      c.countExceptions(() => {
        throw new DeadlineError("late");
      }, [TimeoutError]), DeadlineError);
    assert.equal(await valueOf(c), 1);
  });

  test("Counter.countExceptions() awaits an async fn and counts its rejection", async () => {
    const c = counter();
    const pending = c.countExceptions(async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new TimeoutError("slow");
    });
    assert.ok(pending instanceof Promise);
    assert.equal(await valueOf(c), 0, "not counted before the promise settles");
    await assert.rejects(pending, TimeoutError);
    assert.equal(await valueOf(c), 1);
  });

  test("Counter.countExceptions() resolves to the async result and counts nothing on success", async () => {
    const c = counter();
    assert.equal(await c.countExceptions(() => Promise.resolve("ok")), "ok");
    assert.equal(await valueOf(c), 0);
  });

  test("Counter.countExceptions() with errorTypes filters async rejections", async () => {
    const c = counter();
    await assert.rejects(
      c.countExceptions(() => Promise.reject(new NotFoundError("gone")), [TimeoutError]),
      NotFoundError,
    );
    await assert.rejects(
      c.countExceptions(() => Promise.reject(new TimeoutError("slow")), [TimeoutError]),
      TimeoutError,
    );
    assert.equal(await valueOf(c), 1);
  });

  test("Counter.wrap() returns a function that passes arguments and counts each failing call", async () => {
    const c = counter();
    const parse = c.wrap((text: string, radix: number): number => {
      const n = parseInt(text, radix);
      if (Number.isNaN(n)) throw new SyntaxError(`not a number: ${text}`);
      return n;
    }, [SyntaxError]);
    assert.equal(parse("ff", 16), 255);
    assert.throws(() => parse("zz", 10), SyntaxError);
    assert.throws(() => parse("", 10), SyntaxError);
    assert.equal(await valueOf(c), 2);
  });

  test("Counter.wrap() counts async rejections of the wrapped function", async () => {
    const c = counter();
    const fetchUser = c.wrap(async (id: number): Promise<string> => {
      await Promise.resolve();
      if (id < 0) throw new NotFoundError(`user ${id}`);
      return `user ${id}`;
    });
    assert.equal(await fetchUser(1), "user 1");
    await assert.rejects(fetchUser(-1), NotFoundError);
    assert.equal(await valueOf(c), 1);
  });

  test("CounterChild.countExceptions() and wrap() count on the child's series", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "errors_total",
      description: "Errors.",
      requiredLabels: ["job"],
      registry,
    });
    assert.throws(() =>
      c.labels({ job: "a" }).countExceptions(() => {
        throw new Error("x");
      }), Error);
    const wrapped = c.labels({ job: "b" }).wrap(() => {
      throw new Error("y");
    });
    assert.throws(wrapped, Error);
    assert.throws(wrapped, Error);
    assert.equal(
      await generateMetrics(registry),
      "# HELP errors_total Errors.\n# TYPE errors_total counter\n" +
        'errors_total{job="a"} 1\nerrors_total{job="b"} 2\n',
    );
  });

  test("Counter.collect() returns one sample with suffix, labels and value", async () => {
    const c = new Counter({
      name: "hits_total",
      description: "Hits.",
      requiredLabels: ["path"],
      registry: null,
    });
    c.labels({ path: "/a" }).inc(3);
    const samples = await c.collect();
    assert.equal(samples.length, 1);
    assert.equal(samples[0]!.suffix, "");
    assert.deepEqual({ ...samples[0]!.labels }, { path: "/a" });
    assert.equal(samples[0]!.value, 3);
  });

  test("Counter exposes its type as counter", async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "n_total", description: "N.", registry }).inc(7);
    assert.equal(
      await generateMetrics(registry),
      "# HELP n_total N.\n# TYPE n_total counter\nn_total 7\n",
    );
  });
});
