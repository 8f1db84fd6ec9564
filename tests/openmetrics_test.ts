/** OpenMetrics 1.0 exposition: `generateMetrics(registry, { format: "openmetrics" })`. */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { accessSync } from "node:fs";
import {
  CollectorRegistry,
  Counter,
  Enum,
  Gauge,
  generateMetrics,
  type GenerateMetricsOptions,
  Histogram,
  Info,
  loadBackend,
  NameValidationError,
  PytheusError,
  setLogger,
  SingleProcessBackend,
  Summary,
} from "../mod.ts";
import { canonicalNumber } from "../src/exposition/_format.ts";
import { run } from "./_process.ts";
import { capturingLogger } from "./_serve.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const OM = { format: "openmetrics", created: false } as const;

/** Whether the registry passes a metric's unit on to the exposition. */
const REGISTRY_PASSES_UNIT = await (async () => {
  const registry = new CollectorRegistry();
  new Gauge({ name: "probe_seconds", description: "", unit: "seconds", registry });
  const [family] = await registry.collect();
  return (family as { unit?: string } | undefined)?.unit === "seconds";
})();
if (!REGISTRY_PASSES_UNIT) {
  console.warn(
    "\n*** SKIPPED: # UNIT test, CollectorRegistry.collect() does not pass `unit` on ***\n",
  );
}

describe("generateMetrics() in OpenMetrics", () => {
  test("generateMetrics() names a counter's family without _total and its sample with it", async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "requests_total", description: "Requests.", registry }).inc(2);
    new Counter({ name: "jobs", description: "Jobs.", registry }).inc(0.5);
    assert.equal(
      await generateMetrics(registry, OM),
      "# TYPE requests counter\n# HELP requests Requests.\nrequests_total 2\n" +
        "# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total 0.5\n# EOF\n",
    );
  });

  test("generateMetrics() writes _created after counters and histogram counts by default", async () => {
    const registry = new CollectorRegistry();
    const before = Date.now() / 1000;
    const counter = new Counter({
      name: "sent_total",
      description: "Sent.",
      requiredLabels: ["to"],
      registry,
    });
    counter.labels({ to: "a" }).inc();
    const histogram = new Histogram({ name: "wait", description: "Wait.", buckets: [1], registry });
    histogram.observe(0.5);
    new Gauge({ name: "level", description: "Level.", registry }).set(3);
    const after = Date.now() / 1000;
    const text = await generateMetrics(registry, { format: "openmetrics" });
    const created = [...text.matchAll(/^(\w+_created)(\{[^}]*\})? (\S+)$/gm)];
    assert.deepEqual(created.map((m) => [m[1], m[2]]), [
      ["sent_created", '{to="a"}'],
      ["wait_created", undefined],
    ]);
    for (const m of created) {
      const value = Number(m[3]);
      assert.ok(value >= before && value <= after, `${m[0]} within [${before}, ${after}]`);
    }
    assert.equal(counter.labels({ to: "a" }).created, Number(created[0]![3]));
    assert.equal(
      text.replace(/^(\w+_created(?:\{[^}]*\})?) \S+$/gm, "$1 T"),
      '# TYPE sent counter\n# HELP sent Sent.\nsent_total{to="a"} 1\nsent_created{to="a"} T\n' +
        "# TYPE wait histogram\n# HELP wait Wait.\n" +
        'wait_bucket{le="1.0"} 1\nwait_bucket{le="+Inf"} 1\nwait_sum 0.5\nwait_count 1\n' +
        "wait_created T\n" +
        "# TYPE level gauge\n# HELP level Level.\nlevel 3\n# EOF\n",
    );
  });

  test("generateMetrics() leaves _created out with created: false", async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "c_total", description: "C.", registry }).inc();
    new Histogram({ name: "h", description: "H.", registry }).observe(1);
    const text = await generateMetrics(registry, { format: "openmetrics", created: false });
    assert.doesNotMatch(text, /_created/);
    assert.match(await generateMetrics(registry, { format: "openmetrics" }), /c_created /);
    // From untyped JavaScript, null options mean the defaults, as in makeHandler().
    const nulls = { format: null, created: null } as unknown as GenerateMetricsOptions;
    assert.match(await generateMetrics(registry, nulls), /^c_total 1$/m);
    assert.match(
      await generateMetrics(registry, { format: "openmetrics", created: null } as never),
      /c_created /,
    );
  });

  test("generateMetrics() spells histogram le values canonically in OpenMetrics only", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "size_bytes",
      description: "Sizes.",
      buckets: [0.005, 1, 10, 100000, 1e6, 2.5e7],
      registry,
    });
    h.observe(3);
    assert.equal(
      await generateMetrics(registry, OM),
      "# TYPE size_bytes histogram\n# HELP size_bytes Sizes.\n" +
        'size_bytes_bucket{le="0.005"} 0\n' +
        'size_bytes_bucket{le="1.0"} 0\n' +
        'size_bytes_bucket{le="10.0"} 1\n' +
        'size_bytes_bucket{le="100000.0"} 1\n' +
        'size_bytes_bucket{le="1e+06"} 1\n' +
        'size_bytes_bucket{le="2.5e+07"} 1\n' +
        'size_bytes_bucket{le="+Inf"} 1\n' +
        "size_bytes_sum 3\nsize_bytes_count 1\n# EOF\n",
    );
    assert.match(await generateMetrics(registry), /size_bytes_bucket\{le="1000000"\} 1\n/);
  });

  test("canonicalNumber() follows the OpenMetrics examples (Go's %g, .0 added)", () => {
    const cases: [number, string][] = [
      [0, "0.0"],
      [0.001, "0.001"],
      [0.01, "0.01"],
      [0.9, "0.9"],
      [0.95, "0.95"],
      [0.999, "0.999"],
      [1, "1.0"],
      [1.7, "1.7"],
      [10, "10.0"],
      [1e-10, "1e-10"],
      [1e-9, "1e-09"],
      [1e-5, "1e-05"],
      [0.0001, "0.0001"],
      [100000, "100000.0"],
      [1e6, "1e+06"],
      [1e10, "1e+10"],
      [1234567, "1.234567e+06"],
      [-2.5, "-2.5"],
      [-3, "-3.0"],
      [1e100, "1e+100"],
      [Infinity, "+Inf"],
      [-Infinity, "-Inf"],
      [NaN, "NaN"],
    ];
    for (const [value, text] of cases) assert.equal(canonicalNumber(value), text, `${value}`);
  });

  test("generateMetrics() leaves _sum and _count out of a histogram with negative buckets", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "delta",
      description: "Delta.",
      buckets: [-1, 0, 1],
      requiredLabels: ["room"],
      registry,
    });
    h.labels({ room: "a" }).observe(-2);
    h.labels({ room: "b" }).observe(0.5);
    assert.equal(
      await generateMetrics(registry, OM),
      "# TYPE delta histogram\n# HELP delta Delta.\n" +
        'delta_bucket{room="a",le="-1.0"} 1\ndelta_bucket{room="a",le="0.0"} 1\n' +
        'delta_bucket{room="a",le="1.0"} 1\ndelta_bucket{room="a",le="+Inf"} 1\n' +
        'delta_bucket{room="b",le="-1.0"} 0\ndelta_bucket{room="b",le="0.0"} 0\n' +
        'delta_bucket{room="b",le="1.0"} 1\ndelta_bucket{room="b",le="+Inf"} 1\n# EOF\n',
    );
    // The text format writes everything.
    const text = await generateMetrics(registry);
    assert.match(text, /\ndelta_sum\{room="a"\} -2\ndelta_count\{room="a"\} 1\n/);
    assert.match(text, /\ndelta_sum\{room="b"\} 0.5\ndelta_count\{room="b"\} 1\n/);
  });

  test("generateMetrics() escapes help text and label values for OpenMetrics", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({
      name: "g",
      description: 'Say "hi"\\n\nnow',
      requiredLabels: ["path"],
      registry,
    });
    g.labels({ path: 'a"b\\c\nd' }).set(1);
    assert.equal(
      await generateMetrics(registry, OM),
      '# TYPE g gauge\n# HELP g Say \\"hi\\"\\\\n\\nnow\ng{path="a\\"b\\\\c\\nd"} 1\n# EOF\n',
    );
  });

  test("generateMetrics() writes info and stateset types in OpenMetrics, gauges in text", async () => {
    const registry = new CollectorRegistry();
    new Info({ name: "build", description: "Build.", registry }).set({ version: "1.2.3" });
    const e = new Enum({
      name: "phase",
      description: "Phase.",
      states: ["starting", "running"] as const,
      registry,
    });
    e.state("running");
    assert.equal(
      await generateMetrics(registry, OM),
      '# TYPE build info\n# HELP build Build.\nbuild_info{version="1.2.3"} 1\n' +
        '# TYPE phase stateset\n# HELP phase Phase.\nphase{phase="starting"} 0\nphase{phase="running"} 1\n' +
        "# EOF\n",
    );
    assert.equal(
      await generateMetrics(registry),
      '# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{version="1.2.3"} 1\n' +
        '# HELP phase Phase.\n# TYPE phase gauge\nphase{phase="starting"} 0\nphase{phase="running"} 1\n',
    );
  });

  test("generateMetrics() writes summaries with canonical quantiles in OpenMetrics", async () => {
    const registry = new CollectorRegistry();
    const s = new Summary({ name: "rtt_seconds", description: "RTT.", quantiles: [0.5], registry });
    s.observe(2);
    assert.equal(
      await generateMetrics(registry, OM),
      '# TYPE rtt_seconds summary\n# HELP rtt_seconds RTT.\nrtt_seconds{quantile="0.5"} 2\n' +
        "rtt_seconds_sum 2\nrtt_seconds_count 1\n# EOF\n",
    );
  });

  test("CollectorRegistry refuses, with a warning, a metric whose OpenMetrics family name is taken, in every format", async () => {
    const registry = new CollectorRegistry();
    const { logger, messages: warnings } = capturingLogger();
    const previous = setLogger(logger);
    try {
      new Counter({ name: "events_total", description: "Events.", registry }).inc();
      new Gauge({ name: "events", description: "Clash.", registry }).set(1);
      new Counter({ name: "events", description: "Same family.", registry }).inc(5);
      new Gauge({ name: "other", description: "Other.", registry }).set(2);
      assert.equal(
        await generateMetrics(registry, OM),
        "# TYPE events counter\n# HELP events Events.\nevents_total 1\n" +
          "# TYPE other gauge\n# HELP other Other.\nother 2\n# EOF\n",
      );
      // The text format serves the same families.
      assert.equal(
        await generateMetrics(registry),
        "# HELP events_total Events.\n# TYPE events_total counter\nevents_total 1\n" +
          "# HELP other Other.\n# TYPE other gauge\nother 2\n",
      );
    } finally {
      setLogger(previous);
    }
    assert.deepEqual(warnings, [
      'Collector "events" not registered: the name "events" is already registered',
      'Collector "events" not registered: the name "events" is already registered',
    ]);
  });

  test("generateMetrics() with an unknown format throws PytheusError", async () => {
    await assert.rejects(
      generateMetrics(new CollectorRegistry(), { format: "json" as never }),
      (error: unknown) =>
        error instanceof PytheusError &&
        error.message === 'Unknown exposition format "json": use "text" or "openmetrics"',
    );
  });

  test("generateMetrics() without options keeps the text format 0.0.4 byte for byte", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "hits_total", description: "Hits.", registry, unit: "" });
    c.inc(2, { trace_id: "abc" });
    new Histogram({
      name: "lat_seconds",
      description: "Lat.",
      buckets: [1],
      registry,
      unit: "seconds",
    })
      .observe(0.5, { trace_id: "def" });
    const expected = "# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total 2\n" +
      "# HELP lat_seconds Lat.\n# TYPE lat_seconds histogram\n" +
      'lat_seconds_bucket{le="1"} 1\nlat_seconds_bucket{le="+Inf"} 1\n' +
      "lat_seconds_sum 0.5\nlat_seconds_count 1\n";
    assert.equal(await generateMetrics(registry), expected);
    assert.equal(await generateMetrics(registry, { format: "text" }), expected);
  });
});

describe("Metric unit", () => {
  test("new Gauge() with a unit its name does not end with throws NameValidationError", () => {
    assert.throws(
      () => new Gauge({ name: "temperature", description: "T.", unit: "celsius", registry: null }),
      {
        name: "NameValidationError",
        message:
          'Metric "temperature" cannot have unit "celsius": OpenMetrics needs the name to end with "_celsius"',
      },
    );
  });

  test("new Counter() checks the unit against the name without _total", () => {
    const c = new Counter({
      name: "cpu_seconds_total",
      description: "CPU.",
      unit: "seconds",
      registry: null,
    });
    assert.equal(c.unit, "seconds");
    assert.throws(
      () => new Counter({ name: "cpu_total", description: "CPU.", unit: "total", registry: null }),
      {
        name: "NameValidationError",
        message:
          'Metric "cpu_total" cannot have unit "total": OpenMetrics needs the name (without _total) to end with "_total"',
      },
    );
  });

  test("new Gauge() refuses a unit with characters a metric name cannot hold", () => {
    assert.throws(
      () => new Gauge({ name: "x_s", description: "X.", unit: "s-1" as string, registry: null }),
      (error: unknown) =>
        error instanceof NameValidationError &&
        error.message === 'Invalid unit "s-1" for "x_s": must match [a-zA-Z0-9_:]+',
    );
  });

  test("new Info() and new Enum() refuse a unit", () => {
    assert.throws(
      () => new Info({ name: "build_x", description: "B.", unit: "x", registry: null }),
      { name: "NameValidationError", message: 'Metric "build_x" of type info cannot have a unit' },
    );
    assert.throws(
      () =>
        new Enum({
          name: "phase_x",
          description: "P.",
          states: ["a"],
          unit: "x",
          registry: null,
        }),
      {
        name: "NameValidationError",
        message: 'Metric "phase_x" of type stateset cannot have a unit',
      },
    );
  });

  test("generateMetrics() writes # UNIT in OpenMetrics only", {
    skip: REGISTRY_PASSES_UNIT ? false : "needs CollectorRegistry.collect() to pass `unit` on",
  }, async () => {
    const registry = new CollectorRegistry({ prefix: "app" });
    new Gauge({ name: "temp_celsius", description: "T.", unit: "celsius", registry }).set(20);
    new Counter({ name: "cpu_seconds_total", description: "C.", unit: "seconds", registry }).inc();
    assert.equal(
      await generateMetrics(registry, OM),
      "# TYPE app_temp_celsius gauge\n# UNIT app_temp_celsius celsius\n# HELP app_temp_celsius T.\n" +
        "app_temp_celsius 20\n" +
        "# TYPE app_cpu_seconds counter\n# UNIT app_cpu_seconds seconds\n# HELP app_cpu_seconds C.\n" +
        "app_cpu_seconds_total 1\n# EOF\n",
    );
    assert.doesNotMatch(await generateMetrics(registry), /UNIT/);
  });
});

// The second, independent parser: the Python client's OpenMetrics parser.
const PYTHON = "/usr/bin/python3";
const PARSE = `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation, "unit": f.unit,
        "samples": [[s.name, s.labels, repr(float(s.value)),
            None if s.exemplar is None else [s.exemplar.labels, repr(float(s.exemplar.value))]]
            for s in f.samples]})
print(json.dumps(out))
`;

function pythonClient(): string | false {
  try {
    accessSync("/usr/lib/python3/dist-packages/prometheus_client/openmetrics/parser.py");
    return false;
  } catch {
    return "SKIPPED: python3-prometheus-client not installed (apt-get install python3-prometheus-client)";
  }
}

describe("OpenMetrics output read by prometheus_client's parser", { skip: pythonClient() }, () => {
  test("generateMetrics() output parses back to the exact values, labels and exemplars", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "http_requests_total",
      description: 'Requests "served".',
      requiredLabels: ["code"],
      registry,
    });
    c.labels({ code: "200" }).inc(3, { trace_id: "abc123" });
    c.labels({ code: 'a"b\\c\nd' }).inc(0.1);
    const h = new Histogram({
      name: "latency_seconds",
      description: "Latency.",
      buckets: [0.1, 1, 2.5],
      registry,
    });
    h.observe(0.05, { trace_id: "t1", span_id: "s1" });
    h.observe(2);
    h.observe(7);
    new Gauge({ name: "temp", description: "Temp.", registry }).set(-Infinity);
    new Info({ name: "build", description: "Build.", registry }).set({ version: "1.2.3" });
    new Enum({ name: "phase", description: "Phase.", states: ["a", "b"], registry }).state("b");
    new Summary({ name: "rtt", description: "RTT.", quantiles: [0.5, 0.9], registry }).observe(1.5);
    const text = await generateMetrics(registry, { format: "openmetrics" });
    const { code, stdout, stderr } = await run(PYTHON, ["-c", PARSE], { input: text });
    assert.equal(code, 0, `parser refused:\n${stderr}\n${text}`);
    const families = JSON.parse(stdout) as {
      name: string;
      type: string;
      help: string;
      samples: [string, Record<string, string>, string, unknown][];
    }[];
    const withoutCreated = families.map((f) => ({
      ...f,
      samples: f.samples.filter(([name]) => !name.endsWith("_created")),
    }));
    assert.deepEqual(withoutCreated, [
      {
        name: "http_requests",
        type: "counter",
        help: 'Requests "served".',
        unit: "",
        samples: [
          ["http_requests_total", { code: "200" }, "3.0", [{ trace_id: "abc123" }, "3.0"]],
          ["http_requests_total", { code: 'a"b\\c\nd' }, "0.1", null],
        ],
      },
      {
        name: "latency_seconds",
        type: "histogram",
        help: "Latency.",
        unit: "",
        samples: [
          ["latency_seconds_bucket", { le: "0.1" }, "1.0", [
            { trace_id: "t1", span_id: "s1" },
            "0.05",
          ]],
          ["latency_seconds_bucket", { le: "1.0" }, "1.0", null],
          ["latency_seconds_bucket", { le: "2.5" }, "2.0", null],
          ["latency_seconds_bucket", { le: "+Inf" }, "3.0", null],
          ["latency_seconds_sum", {}, "9.05", null],
          ["latency_seconds_count", {}, "3.0", null],
        ],
      },
      {
        name: "temp",
        type: "gauge",
        help: "Temp.",
        unit: "",
        samples: [["temp", {}, "-inf", null]],
      },
      {
        name: "build",
        type: "info",
        help: "Build.",
        unit: "",
        samples: [["build_info", { version: "1.2.3" }, "1.0", null]],
      },
      {
        name: "phase",
        type: "stateset",
        help: "Phase.",
        unit: "",
        samples: [["phase", { phase: "a" }, "0.0", null], ["phase", { phase: "b" }, "1.0", null]],
      },
      {
        name: "rtt",
        type: "summary",
        help: "RTT.",
        unit: "",
        samples: [
          ["rtt", { quantile: "0.5" }, "1.5", null],
          ["rtt", { quantile: "0.9" }, "1.5", null],
          ["rtt_sum", {}, "1.5", null],
          ["rtt_count", {}, "1.0", null],
        ],
      },
    ]);
    const created = families.flatMap((f) => f.samples.filter(([n]) => n.endsWith("_created")));
    assert.deepEqual(created.map(([name, labels]) => [name, labels]), [
      ["http_requests_created", { code: "200" }],
      ["http_requests_created", { code: 'a"b\\c\nd' }],
      ["latency_seconds_created", {}],
      ["rtt_created", {}],
    ]);
  });
});
