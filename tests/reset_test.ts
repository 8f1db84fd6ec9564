import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  Enum,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  loadBackend,
  REGISTRY,
  SingleProcessBackend,
  Summary,
} from "../mod.ts";

describe("reset", () => {
  test("CollectorRegistry.reset() sets every value of every metric type back to zero, keeping label sets", async () => {
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "jobs_total",
      description: "Jobs.",
      requiredLabels: ["q"],
      registry,
    });
    const g = new Gauge({ name: "depth", description: "Depth.", registry });
    const h = new Histogram({ name: "size", description: "Size.", buckets: [1], registry });
    const s = new Summary({ name: "rtt", description: "RTT.", quantiles: [0.5], registry });
    const e = new Enum({ name: "phase", description: "Phase.", states: ["a", "b"], registry });
    const i = new Info({ name: "build", description: "Build.", registry });
    c.labels({ q: "mail" }).inc(3, { trace_id: "t1" });
    g.set(7);
    h.observe(0.5);
    h.observe(5);
    s.observe(2);
    e.state("b");
    i.set({ version: "1.2.3" });
    registry.reset();
    assert.equal(
      await generateMetrics(registry),
      [
        "# HELP jobs_total Jobs.",
        "# TYPE jobs_total counter",
        'jobs_total{q="mail"} 0',
        "# HELP depth Depth.",
        "# TYPE depth gauge",
        "depth 0",
        "# HELP size Size.",
        "# TYPE size histogram",
        'size_bucket{le="1"} 0',
        'size_bucket{le="+Inf"} 0',
        "size_sum 0",
        "size_count 0",
        "# HELP rtt RTT.",
        "# TYPE rtt summary",
        'rtt{quantile="0.5"} NaN',
        "rtt_sum 0",
        "rtt_count 0",
        "# HELP phase Phase.",
        "# TYPE phase gauge",
        'phase{phase="a"} 1',
        'phase{phase="b"} 0',
        "# HELP build_info Build.",
        "# TYPE build_info gauge",
        "build_info 1",
        "",
      ].join("\n"),
    );
    const om = await generateMetrics(registry, { format: "openmetrics" });
    assert.doesNotMatch(om, /trace_id/);
    c.labels({ q: "mail" }).inc();
    s.observe(4);
    assert.match(
      await generateMetrics(registry),
      /jobs_total\{q="mail"\} 1\n[^]*rtt\{quantile="0.5"\} 4\n/,
    );
  });

  test("MetricChild.reset() restarts the _created time", async () => {
    const c = new Counter({ name: "c_total", description: "c", registry: null });
    const [before] = await c.collect();
    await new Promise((r) => setTimeout(r, 20));
    c.reset();
    const [after] = await c.collect();
    assert.ok(
      after!.created! - before!.created! >= 0.015,
      `${before!.created} -> ${after!.created}`,
    );
  });

  test("REGISTRY.reset() resets the registry it delegates to", async () => {
    const previous = REGISTRY.registry;
    const target = new CollectorRegistry();
    REGISTRY.setRegistry(target);
    try {
      new Gauge({ name: "temperature", description: "T." }).set(21);
      REGISTRY.reset();
      assert.match(await generateMetrics(target), /^temperature 0$/m);
    } finally {
      REGISTRY.setRegistry(previous);
    }
  });
});
