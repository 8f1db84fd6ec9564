import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CollectorRegistry, Counter, Gauge, generateMetrics, Histogram, Summary } from "../mod.ts";

describe("wrap()", () => {
  test("wrap() passes `this` on, so a wrapped method still sees its object", () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "errors_total", description: "E.", registry });
    const g = new Gauge({ name: "last_seconds", description: "L.", registry });
    const h = new Histogram({ name: "job_seconds", description: "J.", registry });
    const s = new Summary({ name: "rtt_seconds", description: "R.", registry });
    class Service {
      n = 41;
      run(add: number): number {
        return this.n + add;
      }
    }
    for (const wrap of [c.wrap.bind(c), g.wrap.bind(g), h.wrap.bind(h), s.wrap.bind(s)]) {
      const service = new Service();
      service.run = wrap(service.run);
      assert.equal(service.run(1), 42);
    }
    const child = new Histogram({
      name: "q_seconds",
      description: "Q.",
      requiredLabels: ["q"],
      registry,
    }).labels({ q: "a" });
    const service = new Service();
    service.run = child.wrap(service.run);
    assert.equal(service.run(2), 43);
  });

  test("Metric.wrap() records into the metric's series of the moment, after clear() too", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "job_seconds",
      description: "J.",
      requiredLabels: ["queue"],
      defaultLabels: { queue: "main" },
      buckets: [1],
      registry,
    });
    const c = new Counter({
      name: "errors_total",
      description: "E.",
      requiredLabels: ["queue"],
      defaultLabels: { queue: "main" },
      registry,
    });
    const job = h.wrap(() => 1);
    const risky = c.wrap(() => {
      throw new Error("x");
    });
    job();
    assert.throws(risky);
    h.clear();
    c.clear();
    job();
    assert.throws(risky);
    h.observe(0.5);
    c.inc(10);
    const text = await generateMetrics(registry);
    assert.match(text, /^job_seconds_count\{queue="main"\} 2$/m);
    assert.match(text, /^errors_total\{queue="main"\} 11$/m);
  });
});
