/**
 * A registry's constant labels (prom-client's `setDefaultLabels`): added by
 * every exposition at scrape time, never kept by the metrics.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  CustomCollector,
  encodeMetrics,
  Enum,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  InvalidOptionError,
  LabelValidationError,
  loadBackend,
  REGISTRY,
  SingleProcessBackend,
} from "../mod.ts";
import type { MetricCollector } from "../mod.ts";
import { needsPromtool, needsPythonParser, promtoolCheck, pythonParse } from "./_parsers.ts";
import { decode } from "./_protobuf.ts";
import { untyped } from "./_untyped.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

/** A registry with constant labels and one metric of each kind. */
function registry(): CollectorRegistry {
  const r = new CollectorRegistry({ constLabels: { service: "api", region: "eu" } });
  new Counter({ name: "jobs_total", description: "J.", requiredLabels: ["queue"], registry: r })
    .labels({ queue: "a" }).inc();
  new Histogram({ name: "lat", description: "L.", buckets: [1], registry: r }).observe(0.5);
  new Enum({ name: "state", description: "S.", states: ["up"], registry: r });
  new Info({ name: "build", description: "B.", registry: r }).set({ version: "1" });
  return r;
}

describe("constLabels", () => {
  test("the text format adds them after each series' labels, before le", async () => {
    assert.equal(
      await generateMetrics(registry()),
      [
        "# HELP jobs_total J.",
        "# TYPE jobs_total counter",
        'jobs_total{queue="a",service="api",region="eu"} 1',
        "# HELP lat L.",
        "# TYPE lat histogram",
        'lat_bucket{service="api",region="eu",le="1"} 1',
        'lat_bucket{service="api",region="eu",le="+Inf"} 1',
        'lat_sum{service="api",region="eu"} 0.5',
        'lat_count{service="api",region="eu"} 1',
        "# HELP state S.",
        "# TYPE state gauge",
        'state{service="api",region="eu",state="up"} 1',
        "# HELP build_info B.",
        "# TYPE build_info gauge",
        'build_info{version="1",service="api",region="eu"} 1',
        "",
      ].join("\n"),
    );
  });

  test("OpenMetrics adds them to samples and _created alike", async () => {
    const text = await generateMetrics(registry(), { format: "openmetrics" });
    assert.match(text, /\njobs_total\{queue="a",service="api",region="eu"\} 1\n/);
    assert.match(text, /\njobs_created\{queue="a",service="api",region="eu"\} \d/);
    assert.match(text, /\nlat_bucket\{service="api",region="eu",le="1\.0"\} 1\n/);
  });

  test("protobuf adds them to every Metric's labels", async () => {
    const families = decode(await encodeMetrics(registry(), { format: "protobuf" }));
    const labels = families.map((family) =>
      (family.metric as { label: { name: string; value: string }[] }[]).map((m) =>
        m.label.map((l) => `${l.name}=${l.value}`).join(",")
      )
    );
    assert.deepEqual(labels, [
      ["queue=a,service=api,region=eu"],
      ["service=api,region=eu"],
      // A label set, in any order: a state set's state first here.
      ["state=up,service=api,region=eu"],
      ["version=1,service=api,region=eu"],
    ]);
  });

  test("setConstLabels() replaces them; {} takes them away; collect() never has them", async () => {
    const r = new CollectorRegistry();
    new Gauge({ name: "g", description: "G.", registry: r }).set(1);
    r.setConstLabels({ service: "billing" });
    assert.deepEqual(r.constLabels, { service: "billing" });
    assert.match(await generateMetrics(r), /\ng\{service="billing"\} 1\n/);
    assert.deepEqual((await r.collect())[0]!.samples[0]!.labels, {});
    r.setConstLabels({});
    assert.match(await generateMetrics(r), /\ng 1\n/);
  });

  test("REGISTRY gives its target's", async () => {
    const previous = REGISTRY.registry;
    const target = new CollectorRegistry({ constLabels: { service: "x" } });
    REGISTRY.setRegistry(target);
    try {
      assert.deepEqual(REGISTRY.constLabels, { service: "x" });
      new Gauge({ name: "proxied", description: "P." }).set(2);
      assert.match(await generateMetrics(), /\nproxied\{service="x"\} 2\n/);
    } finally {
      REGISTRY.setRegistry(previous);
    }
  });

  test("a series' own label of a constant label's name keeps its value, in every format", async () => {
    const r = new CollectorRegistry({ constLabels: { service: "api", version: "1.4.0" } });
    new Counter({ name: "a_total", description: "A.", requiredLabels: ["service"], registry: r })
      .labels({ service: "mine" }).inc();
    new Enum({ name: "service", description: "S.", states: ["up"], registry: r });
    new Info({ name: "build", description: "B.", registry: r }).set({ version: "2.0" });
    const text = await generateMetrics(r);
    assert.match(text, /\na_total\{service="mine",version="1\.4\.0"\} 1\n/);
    assert.match(text, /\nservice\{version="1\.4\.0",service="up"\} 1\n/);
    assert.match(text, /\nbuild_info\{version="2\.0",service="api"\} 1\n/);
    const om = await generateMetrics(r, { format: "openmetrics" });
    assert.match(om, /\na_total\{service="mine",version="1\.4\.0"\} 1\n/);
    const labels = decode(await encodeMetrics(r, { format: "protobuf" })).map((family) =>
      (family.metric as { label: { name: string; value: string }[] }[])[0]!.label
        .map((l) => `${l.name}=${l.value}`).join(",")
    );
    assert.deepEqual(labels, [
      "service=mine,version=1.4.0",
      "service=up,version=1.4.0",
      "version=2.0,service=api",
    ]);
  });

  test("REGISTRY.setConstLabels() sets its target's", () => {
    const previous = REGISTRY.registry;
    const target = new CollectorRegistry();
    REGISTRY.setRegistry(target);
    try {
      REGISTRY.setConstLabels({ zone: "a" });
      assert.deepEqual(target.constLabels, { zone: "a" });
    } finally {
      REGISTRY.setRegistry(previous);
    }
  });

  test("a custom collector's samples keep their own label of a constant label's name; le and quantile stay last", async () => {
    class Given extends CustomCollector {
      collect(): MetricCollector[] {
        return [{
          name: "given",
          description: "G.",
          type: "histogram",
          collect: () =>
            Promise.resolve([
              { suffix: "_bucket", labels: { service: "mine", le: "1" }, value: 1, labelText: "" },
              {
                suffix: "_bucket",
                labels: { service: "mine", le: "+Inf" },
                value: 1,
                labelText: "",
              },
              { suffix: "_sum", labels: { service: "mine" }, value: 0.5, labelText: "" },
              { suffix: "_count", labels: { service: "mine" }, value: 1, labelText: "" },
            ]),
        }];
      }
    }
    const r = new CollectorRegistry({ constLabels: { service: "api", zone: "a" } });
    r.register(new Given());
    assert.match(
      await generateMetrics(r),
      /\ngiven_bucket\{service="mine",zone="a",le="1"\} 1\n/,
    );
  });

  test("a scrape after setConstLabels() never gets the one in flight before it", async () => {
    const r = new CollectorRegistry();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    new Gauge({ name: "slow", description: "S.", registry: r }).setFunction(async () => {
      await gate;
      return 1;
    });
    const before = generateMetrics(r);
    r.setConstLabels({ zone: "b" });
    const afterSet = generateMetrics(r);
    release();
    assert.match(await before, /\nslow 1\n/);
    assert.match(await afterSet, /\nslow\{zone="b"\} 1\n/);
  });

  test("names and values are checked: le, quantile and __ names, non-strings, lone surrogates", () => {
    for (const bad of [{ le: "1" }, { quantile: "0.5" }, { __x: "1" }, { "a.b": "1" }]) {
      assert.throws(() => new CollectorRegistry({ constLabels: bad }), LabelValidationError);
    }
    for (const bad of [{ a: 1 }, { a: "\uD800" }]) {
      assert.throws(
        () => new CollectorRegistry({ constLabels: untyped(bad) }),
        LabelValidationError,
      );
    }
    for (const bad of ["service=api", ["a"], 5]) {
      assert.throws(() => new CollectorRegistry({ constLabels: untyped(bad) }), InvalidOptionError);
    }
  });

  test("in a utf-8 registry, a label some scheme writes as a constant one's name keeps its value there", async () => {
    const r = new CollectorRegistry({
      nameValidation: "utf-8",
      constLabels: { "service.name": "api" },
    });
    new Gauge({ name: "g", description: "G.", requiredLabels: ["service_name"], registry: r })
      .labels({ service_name: "mine" }).set(1);
    assert.match(await generateMetrics(r), /\ng\{service_name="mine"\} 1\n/);
    assert.match(
      await generateMetrics(r, { escaping: "allow-utf-8", version: "1.0.0" }),
      /\ng\{service_name="mine","service\.name"="api"\} 1\n/,
    );
  });

  test(
    "promtool and Python's parsers read the labels",
    { skip: needsPromtool() || false },
    async () => {
      const text = await generateMetrics(registry());
      const checked = await promtoolCheck(text);
      assert.ok(checked.ok, checked.output);
      if (await needsPythonParser()) return;
      const parsed = await pythonParse(text);
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.samples[0]![4], { queue: "a", service: "api", region: "eu" });
    },
  );
});
