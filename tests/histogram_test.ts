import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BucketError,
  CollectorRegistry,
  DEFAULT_BUCKETS,
  generateMetrics,
  Histogram,
  InvalidValueError,
  LabelValidationError,
  type Sample,
  UnobservableMetricError,
} from "../mod.ts";
import { TOOK, TOOK_MS, turn, withClock } from "./_timing.ts";

/** The samples of a histogram without labels, as `suffix{le} -> value`. */
async function table<L extends string>(h: Histogram<L>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of await h.collect()) {
    out[s.suffix + (s.labels.le === undefined ? "" : `{${s.labels.le}}`)] = s.value;
  }
  return out;
}

function histogram(buckets?: number[]): Histogram {
  return new Histogram({
    name: "h",
    description: "H.",
    registry: null,
    ...(buckets ? { buckets } : {}),
  });
}

/** Sum and count of a histogram without labels. */
async function sumCount<L extends string>(h: Histogram<L>): Promise<[number, number]> {
  const samples: Sample[] = await h.collect();
  const sum = samples.find((s) => s.suffix === "_sum")!.value;
  const count = samples.find((s) => s.suffix === "_count")!.value;
  return [sum, count];
}

describe("Histogram", () => {
  test("Histogram uses the default buckets, +Inf appended", () => {
    assert.deepEqual(
      [...DEFAULT_BUCKETS],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
    assert.deepEqual(
      [...histogram().buckets],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity],
    );
  });

  test("Histogram with default buckets renders every bucket, then _sum and _count", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({ name: "latency_seconds", description: "Latency.", registry });
    h.observe(0.03);
    h.observe(7);
    assert.equal(
      await generateMetrics(registry),
      [
        "# HELP latency_seconds Latency.",
        "# TYPE latency_seconds histogram",
        'latency_seconds_bucket{le="0.005"} 0',
        'latency_seconds_bucket{le="0.01"} 0',
        'latency_seconds_bucket{le="0.025"} 0',
        'latency_seconds_bucket{le="0.05"} 1',
        'latency_seconds_bucket{le="0.1"} 1',
        'latency_seconds_bucket{le="0.25"} 1',
        'latency_seconds_bucket{le="0.5"} 1',
        'latency_seconds_bucket{le="1"} 1',
        'latency_seconds_bucket{le="2.5"} 1',
        'latency_seconds_bucket{le="5"} 1',
        'latency_seconds_bucket{le="10"} 2',
        'latency_seconds_bucket{le="+Inf"} 2',
        "latency_seconds_sum 7.03",
        "latency_seconds_count 2",
        "",
      ].join("\n"),
    );
  });

  test("Histogram.observe() puts a value equal to a bound in that bound's bucket", async () => {
    const h = histogram([1, 2, 5]);
    h.observe(1);
    h.observe(2);
    h.observe(5);
    assert.deepEqual(await table(h), {
      "_bucket{1}": 1,
      "_bucket{2}": 2,
      "_bucket{5}": 3,
      "_bucket{+Inf}": 3,
      "_sum": 8,
      "_count": 3,
    });
  });

  test("Histogram.observe() puts a value just above a bound in the next bucket", async () => {
    const h = histogram([1, 2, 5]);
    h.observe(1.000001);
    h.observe(5.5);
    assert.deepEqual(await table(h), {
      "_bucket{1}": 0,
      "_bucket{2}": 1,
      "_bucket{5}": 1,
      "_bucket{+Inf}": 2,
      "_sum": 6.500001,
      "_count": 2,
    });
  });

  test("Histogram.observe() counts values above every bound, and Infinity, only in +Inf", async () => {
    const h = histogram([1]);
    h.observe(1e9);
    h.observe(Infinity);
    assert.deepEqual(await table(h), {
      "_bucket{1}": 0,
      "_bucket{+Inf}": 2,
      "_sum": Infinity,
      "_count": 2,
    });
  });

  test("Histogram.observe() puts negative values in the first bucket and in the sum", async () => {
    const h = histogram([0, 1]);
    h.observe(-3);
    h.observe(0);
    h.observe(-Infinity);
    assert.deepEqual(await table(h), {
      "_bucket{0}": 3,
      "_bucket{1}": 3,
      "_bucket{+Inf}": 3,
      "_sum": -Infinity,
      "_count": 3,
    });
  });

  test("Histogram with negative bucket bounds places values between them", async () => {
    const h = histogram([-10, -1, 0]);
    h.observe(-5);
    h.observe(-10);
    h.observe(-0.5);
    h.observe(3);
    assert.deepEqual(await table(h), {
      "_bucket{-10}": 1,
      "_bucket{-1}": 2,
      "_bucket{0}": 3,
      "_bucket{+Inf}": 4,
      "_sum": -12.5,
      "_count": 4,
    });
  });

  test("Histogram.observe(NaN) throws InvalidValueError and records nothing", async () => {
    const h = histogram([1]);
    assert.throws(() => h.observe(NaN), (err: unknown) => {
      assert.ok(err instanceof InvalidValueError);
      assert.equal(
        err.message,
        'Cannot observe number NaN in histogram "h": NaN is not an observation',
      );
      return true;
    });
    assert.deepEqual(await table(h), {
      "_bucket{1}": 0,
      "_bucket{+Inf}": 0,
      "_sum": 0,
      "_count": 0,
    });
  });

  test("Histogram buckets are cumulative in the output, +Inf equal to _count", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "size_bytes",
      description: "Sizes.",
      buckets: [10, 100, 1000],
      requiredLabels: ["kind"],
      registry,
    });
    for (const v of [5, 50, 50, 500, 5000, 1]) h.labels({ kind: "img" }).observe(v);
    assert.equal(
      await generateMetrics(registry),
      "# HELP size_bytes Sizes.\n# TYPE size_bytes histogram\n" +
        'size_bytes_bucket{kind="img",le="10"} 2\n' +
        'size_bytes_bucket{kind="img",le="100"} 4\n' +
        'size_bytes_bucket{kind="img",le="1000"} 5\n' +
        'size_bytes_bucket{kind="img",le="+Inf"} 6\n' +
        'size_bytes_sum{kind="img"} 5606\n' +
        'size_bytes_count{kind="img"} 6\n',
    );
  });

  test("Histogram bucket samples carry the child's labels plus le", async () => {
    const h = new Histogram({
      name: "h",
      description: "H.",
      buckets: [1],
      requiredLabels: ["a"],
      registry: null,
    });
    h.labels({ a: "x" }).observe(0.5);
    const samples = await h.collect();
    assert.deepEqual(
      samples.map((s) => [s.suffix, { ...s.labels }, s.value]),
      [
        ["_bucket", { a: "x", le: "1" }, 1],
        ["_bucket", { a: "x", le: "+Inf" }, 1],
        ["_sum", { a: "x" }, 0.5],
        ["_count", { a: "x" }, 1],
      ],
    );
  });

  test("Histogram custom buckets are kept in order, +Inf appended", () => {
    assert.deepEqual([...histogram([0.1, 0.2, 0.4]).buckets], [0.1, 0.2, 0.4, Infinity]);
  });

  test("Histogram appends +Inf only once when the buckets already end with it", async () => {
    const h = histogram([1, Infinity]);
    assert.deepEqual([...h.buckets], [1, Infinity]);
    assert.deepEqual(Object.keys(await table(h)), [
      "_bucket{1}",
      "_bucket{+Inf}",
      "_sum",
      "_count",
    ]);
  });

  test("Histogram does not change the buckets array it was given", () => {
    const buckets = [1, 2];
    histogram(buckets);
    assert.deepEqual(buckets, [1, 2]);
  });

  test("Histogram rejects unsorted buckets with BucketError", () => {
    assert.throws(() => histogram([1, 3, 2]), (err: unknown) => {
      assert.ok(err instanceof BucketError);
      assert.equal(err.message, 'Buckets of "h" must be strictly increasing: 3 then 2');
      return true;
    });
  });

  test("Histogram rejects duplicate buckets with BucketError", () => {
    assert.throws(() => histogram([1, 1, 2]), BucketError);
    assert.throws(() => histogram([1, Infinity, Infinity]), BucketError);
  });

  test("Histogram rejects NaN, -Infinity, +Inf in the middle and non-numbers with BucketError", () => {
    assert.throws(() => histogram([1, NaN]), {
      name: "BucketError",
      message: 'Bucket NaN of "h" is not a number',
    });
    assert.throws(() => histogram([NaN]), BucketError);
    assert.throws(() => histogram([-Infinity, 1]), BucketError);
    assert.throws(() => histogram([1, Infinity, 2]), BucketError);
    assert.throws(() => histogram(["1" as unknown as number]), {
      name: "BucketError",
      message: 'Bucket string "1" of "h" is not a number',
    });
    assert.throws(() => histogram([null as unknown as number]), {
      name: "BucketError",
      message: 'Bucket null of "h" is not a number',
    });
    assert.throws(() => histogram("1,2" as unknown as number[]), BucketError);
  });

  test("Histogram reserves the label name le", () => {
    assert.throws(
      () =>
        new Histogram({
          name: "h",
          description: "H.",
          requiredLabels: ["route", "le"],
          registry: null,
        }),
      (err: unknown) => {
        assert.ok(err instanceof LabelValidationError);
        assert.match(err.message, /"le"/);
        assert.match(err.message, /"h"/);
        return true;
      },
    );
  });

  test("Histogram.time(fn) observes the duration of a sync fn and returns its result", () =>
    withClock(async (clock) => {
      const h = histogram([TOOK / 2, TOOK, 2 * TOOK]);
      assert.equal(
        h.time(() => {
          clock.ms += TOOK_MS;
          return "r";
        }),
        "r",
      );
      assert.deepEqual(await sumCount(h), [TOOK, 1]);
      // Upper-inclusive: the duration falls in the bucket it equals.
      const buckets = await table(h);
      assert.equal(buckets[`_bucket{${TOOK / 2}}`], 0);
      assert.equal(buckets[`_bucket{${TOOK}}`], 1);
    }));

  test("Histogram.time(fn) observes an async fn when its promise settles", () =>
    withClock(async (clock) => {
      const h = histogram();
      const pending = h.time(async () => {
        await turn();
        clock.ms += TOOK_MS;
        return 5;
      });
      assert.deepEqual(await sumCount(h), [0, 0], "nothing observed before it settles");
      assert.equal(await pending, 5);
      assert.deepEqual(await sumCount(h), [TOOK, 1]);
    }));

  test("Histogram.time(fn) still observes when fn throws, and rethrows the error", () =>
    withClock(async (clock) => {
      const h = histogram();
      const error = new Error("sync failure");
      assert.throws(() =>
        h.time(() => {
          clock.ms += TOOK_MS;
          throw error;
        }), (err) => err === error);
      assert.deepEqual(await sumCount(h), [TOOK, 1]);
    }));

  test("Histogram.time(fn) still observes when the promise rejects, and rethrows", () =>
    withClock(async (clock) => {
      const h = histogram();
      await assert.rejects(
        h.time(async () => {
          await turn();
          clock.ms += TOOK_MS;
          throw new RangeError("async failure");
        }),
        RangeError,
      );
      assert.deepEqual(await sumCount(h), [TOOK, 1]);
    }));

  test("Histogram.time() with using observes the block once", () =>
    withClock(async (clock) => {
      const h = histogram();
      {
        using _timer = h.time();
        clock.ms += TOOK_MS;
      }
      assert.deepEqual(await sumCount(h), [TOOK, 1]);
    }));

  test("Histogram.time() handle: stop() returns the observed seconds; later stops do nothing", () =>
    withClock(async (clock) => {
      const h = histogram();
      const timer = h.time();
      clock.ms += TOOK_MS;
      assert.equal(timer.stop(), TOOK);
      clock.ms += TOOK_MS;
      assert.ok(Number.isNaN(timer.stop()));
      {
        using _again = timer;
      }
      assert.deepEqual(await sumCount(h), [TOOK, 1]);
    }));

  test("Histogram.wrap() observes each call, passing arguments and results through", () =>
    withClock(async (clock) => {
      const h = histogram();
      const double = h.wrap((n: number): number => n * 2);
      const later = h.wrap(async (n: number): Promise<number> => {
        await turn();
        clock.ms += TOOK_MS;
        return n + 1;
      });
      const failing = h.wrap((): never => {
        clock.ms += TOOK_MS;
        throw new SyntaxError("nope");
      });
      assert.equal(double(21), 42);
      assert.equal(await later(1), 2);
      assert.throws(failing, SyntaxError);
      // 0 s, then 20 ms twice.
      assert.deepEqual(await sumCount(h), [2 * TOOK, 3]);
    }));

  test("Histogram.time() measures on the real clock too", async () => {
    const h = histogram();
    await h.time(() => new Promise((resolve) => setTimeout(resolve, 20)));
    const [sum, count] = await sumCount(h);
    assert.equal(count, 1);
    // Timers may fire a hair early on some runtimes.
    assert.ok(sum >= 0.018, `measured ${sum} s`);
  });

  test("HistogramChild.time() and observe() act on the child's series", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "job_seconds",
      description: "Jobs.",
      buckets: [100],
      requiredLabels: ["job"],
      registry,
    });
    h.labels({ job: "a" }).time(() => undefined);
    h.labels({ job: "b" }).observe(1);
    h.labels({ job: "b" }).observe(2);
    const text = await generateMetrics(registry);
    assert.match(text, /^job_seconds_count\{job="a"\} 1$/m);
    assert.match(text, /^job_seconds_bucket\{job="b",le="100"\} 2$/m);
    assert.match(text, /^job_seconds_sum\{job="b"\} 3$/m);
  });

  test("Histogram methods on an incomplete histogram throw UnobservableMetricError before running fn", () => {
    const h = new Histogram({
      name: "h",
      description: "H.",
      requiredLabels: ["route"],
      registry: null,
    });
    let ran = false;
    const fn = (): void => {
      ran = true;
    };
    assert.throws(() => h.observe(1), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "h": label "route" has no value',
    });
    assert.throws(() => h.time(fn), UnobservableMetricError);
    assert.throws(() => h.time(), UnobservableMetricError);
    assert.throws(() => h.wrap(fn)(), UnobservableMetricError);
    assert.equal(ran, false);
  });
});
