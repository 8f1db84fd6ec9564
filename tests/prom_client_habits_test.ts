/** What a prom-client user reaches for: startTimer() whose end takes labels, bucket helpers. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BucketError,
  CollectorRegistry,
  exponentialBuckets,
  Gauge,
  Histogram,
  LabelValidationError,
  linearBuckets,
  Summary,
  UnobservableMetricError,
} from "../mod.ts";
import { withClock } from "./_timing.ts";

describe("Coming from prom-client", () => {
  test("startTimer() records on the series of the labels its end gets, over those given at the start, and returns the seconds", () =>
    withClock(async (clock) => {
      const registry = new CollectorRegistry();
      const h = new Histogram({
        name: "http_seconds",
        description: "Requests.",
        requiredLabels: ["route", "code"] as const,
        buckets: [0.1, 1],
        registry,
      });
      const end = h.startTimer({ route: "/users" });
      clock.ms += 250;
      assert.equal(end({ code: "200" }), 0.25);
      assert.ok(Number.isNaN(end({ code: "500" })), "an end records once");
      const samples = await h.labels({ route: "/users", code: "200" }).collect();
      assert.deepEqual(
        samples.filter((s) => s.suffix !== "_bucket").map((s) => [s.suffix, s.value]),
        [["_sum", 0.25], ["_count", 1]],
      );
      assert.deepEqual(
        (await h.labels({ route: "/users", code: "500" }).collect()).at(-1)?.value,
        0,
      );
    }));

  test("startTimer() without labels records on the metric's own series; a gauge sets it, a summary observes it", () =>
    withClock(async (clock) => {
      const g = new Gauge({ name: "last_job_seconds", description: "Last.", registry: null });
      const s = new Summary({ name: "job_seconds", description: "Jobs.", registry: null });
      const endGauge = g.startTimer();
      const endSummary = s.startTimer();
      clock.ms += 1500;
      assert.equal(endGauge(), 1.5);
      assert.equal(endSummary(), 1.5);
      assert.equal((await g.collect())[0]!.value, 1.5);
      assert.deepEqual((await s.collect()).map((x) => x.value), [1.5, 1]);
    }));

  test("startTimer() and its end refuse what is not a record of label values, as labels() does, where they are called", () => {
    const h = new Histogram({
      name: "untyped_seconds",
      description: "U.",
      requiredLabels: ["route"] as const,
      registry: null,
    });
    for (const bad of [null, "route", NaN, 5, ["/"]]) {
      assert.throws(() => h.startTimer(bad as never), LabelValidationError, String(bad));
      const end = h.startTimer({ route: "/" });
      assert.throws(() => end(bad as never), LabelValidationError, String(bad));
    }
    assert.throws(() => h.startTimer({ route: 5 } as never), LabelValidationError);
    assert.throws(() => h.startTimer({ route: "\uD800" }), LabelValidationError);
    assert.throws(() => h.startTimer({ path: "/" } as never), LabelValidationError);
  });

  test("startTimer()'s end with labels still missing throws UnobservableMetricError", () => {
    const h = new Histogram({
      name: "partial_seconds",
      description: "P.",
      requiredLabels: ["route", "code"] as const,
      registry: null,
    });
    assert.throws(() => h.startTimer({ route: "/" })(), UnobservableMetricError);
  });

  test("linearBuckets() and exponentialBuckets() give the bounds, and refuse what is out of range", () => {
    assert.deepEqual(linearBuckets(10, 10, 3), [10, 20, 30]);
    assert.deepEqual(linearBuckets(-1, 0.5, 5), [-1, -0.5, 0, 0.5, 1]);
    assert.deepEqual(exponentialBuckets(1, 2, 4), [1, 2, 4, 8]);
    assert.deepEqual(exponentialBuckets(100, 10, 3), [100, 1000, 10000]);
    for (
      const call of [
        () => linearBuckets(0, 0, 3),
        () => linearBuckets(0, 1, 0),
        () => linearBuckets(Number.NaN, 1, 3),
        () => linearBuckets(0, 1, 1.5),
        () => exponentialBuckets(0, 2, 3),
        () => exponentialBuckets(1, 1, 3),
        () => exponentialBuckets(1, 2, 10_001),
        () => linearBuckets("1" as never, 1, 3),
      ]
    ) {
      assert.throws(call, BucketError);
    }
  });
});
