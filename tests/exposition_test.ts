import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  CustomCollector,
  encodeMetrics,
  Gauge,
  generateMetrics,
  Histogram,
  type MetricCollector,
  PROMETHEUS_CONTENT_TYPE,
  REGISTRY,
  type Sample,
} from "../mod.ts";

/** The exposition of one gauge with no labels set to `value`. */
async function gaugeText(value: number): Promise<string> {
  const registry = new CollectorRegistry();
  new Gauge({ name: "g", description: "G.", registry }).set(value);
  const text = await generateMetrics(registry);
  const prefix = "# HELP g G.\n# TYPE g gauge\ng ";
  assert.ok(text.startsWith(prefix) && text.endsWith("\n"), text);
  return text.slice(prefix.length, -1);
}

/** A hand-written collector: samples without pre-rendered label text. */
class RawFamily implements MetricCollector {
  readonly name = "raw";
  readonly description = "Raw samples.";
  readonly type = "gauge" as const;
  constructor(readonly samples: Sample[]) {}
  collect(): Promise<Sample[]> {
    return Promise.resolve(this.samples);
  }
}

describe("generateMetrics()", () => {
  test("PROMETHEUS_CONTENT_TYPE is the text format 0.0.4 type", () => {
    assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
  });

  test("generateMetrics() of an empty registry is the empty string", async () => {
    assert.equal(await generateMetrics(new CollectorRegistry()), "");
  });

  test("generateMetrics() writes HELP and TYPE, then every sample of the family, grouped", async () => {
    const registry = new CollectorRegistry();
    const requests = new Counter({
      name: "http_requests_total",
      description: "HTTP requests served.",
      requiredLabels: ["method", "code"],
      registry,
    });
    const inFlight = new Gauge({ name: "in_flight", description: "Requests in flight.", registry });
    // Interleaved observations come out grouped by family, then by the first label's value
    // (label sets sharing it in creation order).
    requests.labels({ method: "GET", code: "200" }).inc(3);
    inFlight.set(2);
    requests.labels({ code: "500", method: "POST" }).inc();
    requests.labels({ method: "GET", code: "200" }).inc();
    requests.labels({ method: "GET", code: "404" }).inc();
    assert.equal(
      await generateMetrics(registry),
      "# HELP http_requests_total HTTP requests served.\n" +
        "# TYPE http_requests_total counter\n" +
        'http_requests_total{method="GET",code="200"} 4\n' +
        'http_requests_total{method="GET",code="404"} 1\n' +
        'http_requests_total{method="POST",code="500"} 1\n' +
        "# HELP in_flight Requests in flight.\n" +
        "# TYPE in_flight gauge\n" +
        "in_flight 2\n",
    );
  });

  test("generateMetrics() shows labels in requiredLabels order, whatever order they are given in", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "c_total",
      description: "C.",
      requiredLabels: ["zone", "app", "mode"],
      registry,
    });
    c.labels({ mode: "m", app: "a", zone: "z" }).inc();
    assert.equal(
      await generateMetrics(registry),
      '# HELP c_total C.\n# TYPE c_total counter\nc_total{zone="z",app="a",mode="m"} 1\n',
    );
  });

  test("generateMetrics() escapes backslash and line feed in HELP, nothing else", async () => {
    const registry = new CollectorRegistry();
    new Gauge({
      name: "g",
      description: 'Path C:\\temp\nsecond line "quoted" \t tab é ☃',
      registry,
    });
    assert.equal(
      await generateMetrics(registry),
      '# HELP g Path C:\\\\temp\\nsecond line "quoted" \t tab é ☃\n# TYPE g gauge\ng 0\n',
    );
  });

  test("generateMetrics() escapes backslash, double quote and line feed in label values", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({ name: "g", description: "G.", requiredLabels: ["v"], registry });
    g.labels({ v: "C:\\dir\\" }).set(1);
    g.labels({ v: 'say "hi"' }).set(2);
    g.labels({ v: "two\nlines" }).set(3);
    g.labels({ v: '\\"\n' }).set(4);
    g.labels({ v: '"} 1\nevil_metric{x="' }).set(5);
    g.labels({ v: "cr\rtab\t" }).set(6);
    assert.equal(
      await generateMetrics(registry),
      "# HELP g G.\n# TYPE g gauge\n" +
        'g{v="C:\\\\dir\\\\"} 1\n' +
        'g{v="say \\"hi\\""} 2\n' +
        'g{v="two\\nlines"} 3\n' +
        'g{v="\\\\\\"\\n"} 4\n' +
        'g{v="\\"} 1\\nevil_metric{x=\\""} 5\n' +
        'g{v="cr\rtab\t"} 6\n',
    );
  });

  test("generateMetrics() writes unicode label values as they are (UTF-8)", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({ name: "g", description: "G.", requiredLabels: ["city"], registry });
    g.labels({ city: "Zürich ☃ 東京 🎉" }).set(1);
    const text = await generateMetrics(registry);
    assert.equal(text, '# HELP g G.\n# TYPE g gauge\ng{city="Zürich ☃ 東京 🎉"} 1\n');
    assert.equal(new TextDecoder().decode(new TextEncoder().encode(text)), text);
  });

  test("generateMetrics() spells +Inf, -Inf and NaN exactly so", async () => {
    assert.equal(await gaugeText(Infinity), "+Inf");
    assert.equal(await gaugeText(-Infinity), "-Inf");
    assert.equal(await gaugeText(NaN), "NaN");
  });

  test("generateMetrics() writes integers without a decimal point", async () => {
    assert.equal(await gaugeText(0), "0");
    assert.equal(await gaugeText(-0), "-0"); // its sign kept, as Python's repr() and Go write it
    assert.equal(await gaugeText(3), "3");
    assert.equal(await gaugeText(-42), "-42");
    assert.equal(await gaugeText(2.0), "2");
    assert.equal(await gaugeText(1e15), "1000000000000000");
    assert.equal(await gaugeText(Number.MAX_SAFE_INTEGER), "9007199254740991");
  });

  test("generateMetrics() writes other numbers in their shortest round-trip form", async () => {
    const cases: [number, string][] = [
      [0.5, "0.5"],
      [-2.25, "-2.25"],
      [0.1 + 0.2, "0.30000000000000004"],
      [1 / 3, "0.3333333333333333"],
      [1e-7, "1e-7"],
      [1.5e-10, "1.5e-10"],
      [1e21, "1e+21"],
      [123456789.125, "123456789.125"],
      [Number.MIN_VALUE, "5e-324"],
      [Number.MAX_VALUE, "1.7976931348623157e+308"],
    ];
    for (const [value, spelled] of cases) {
      const text = await gaugeText(value);
      assert.equal(text, spelled);
      assert.equal(Number(text), value, `${text} reads back as ${value}`);
    }
  });

  test("generateMetrics() lays histograms out as ascending cumulative buckets, +Inf, _sum, _count", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "req_seconds",
      description: "Latency.",
      requiredLabels: ["route"],
      buckets: [0.1, 0.25, 1, 2.5],
      registry,
    });
    h.labels({ route: "/a" }).observe(0.1);
    h.labels({ route: "/a" }).observe(0.2);
    h.labels({ route: "/a" }).observe(3);
    h.labels({ route: "/b" }).observe(0.05);
    assert.equal(
      await generateMetrics(registry),
      [
        "# HELP req_seconds Latency.",
        "# TYPE req_seconds histogram",
        'req_seconds_bucket{route="/a",le="0.1"} 1',
        'req_seconds_bucket{route="/a",le="0.25"} 2',
        'req_seconds_bucket{route="/a",le="1"} 2',
        'req_seconds_bucket{route="/a",le="2.5"} 2',
        'req_seconds_bucket{route="/a",le="+Inf"} 3',
        'req_seconds_sum{route="/a"} 3.3',
        'req_seconds_count{route="/a"} 3',
        'req_seconds_bucket{route="/b",le="0.1"} 1',
        'req_seconds_bucket{route="/b",le="0.25"} 1',
        'req_seconds_bucket{route="/b",le="1"} 1',
        'req_seconds_bucket{route="/b",le="2.5"} 1',
        'req_seconds_bucket{route="/b",le="+Inf"} 1',
        'req_seconds_sum{route="/b"} 0.05',
        'req_seconds_count{route="/b"} 1',
        "",
      ].join("\n"),
    );
  });

  test("generateMetrics() writes histogram le bounds in shortest form, negatives included", async () => {
    const registry = new CollectorRegistry();
    new Histogram({ name: "h", description: "H.", buckets: [-1.5, 0, 1e-3, 1e21], registry });
    assert.equal(
      await generateMetrics(registry),
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="-1.5"} 0\nh_bucket{le="0"} 0\n' +
        'h_bucket{le="0.001"} 0\nh_bucket{le="1e+21"} 0\nh_bucket{le="+Inf"} 0\nh_sum 0\nh_count 0\n',
    );
  });

  test("generateMetrics() puts default labels on every sample, histogram buckets included", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "h",
      description: "H.",
      requiredLabels: ["service", "route"],
      defaultLabels: { service: "api", route: "/" },
      buckets: [1],
      registry,
    });
    h.observe(0.5);
    h.labels({ route: "/x" }).observe(2);
    const c = new Counter({
      name: "c_total",
      description: "C.",
      requiredLabels: ["service"],
      defaultLabels: { service: "api" },
      registry,
    });
    c.inc();
    assert.equal(
      await generateMetrics(registry),
      "# HELP h H.\n# TYPE h histogram\n" +
        'h_bucket{service="api",route="/",le="1"} 1\n' +
        'h_bucket{service="api",route="/",le="+Inf"} 1\n' +
        'h_sum{service="api",route="/"} 0.5\n' +
        'h_count{service="api",route="/"} 1\n' +
        'h_bucket{service="api",route="/x",le="1"} 0\n' +
        'h_bucket{service="api",route="/x",le="+Inf"} 1\n' +
        'h_sum{service="api",route="/x"} 2\n' +
        'h_count{service="api",route="/x"} 1\n' +
        "# HELP c_total C.\n# TYPE c_total counter\n" +
        'c_total{service="api"} 1\n',
    );
  });

  test("generateMetrics() writes a family with no samples yet as HELP and TYPE only", async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "c_total", description: "C.", requiredLabels: ["a"], registry });
    assert.equal(await generateMetrics(registry), "# HELP c_total C.\n# TYPE c_total counter\n");
  });

  test("generateMetrics() renders and escapes labels of samples that come without label text", async () => {
    const registry = new CollectorRegistry();
    registry.register(
      new RawFamily([
        { suffix: "", labels: {}, value: 1 },
        { suffix: "", labels: { a: 'q"\\\n', b: "ü" }, value: 2.5 },
      ]),
    );
    assert.equal(
      await generateMetrics(registry),
      '# HELP raw Raw samples.\n# TYPE raw gauge\nraw 1\nraw{a="q\\"\\\\\\n",b="ü"} 2.5\n',
    );
  });

  test("generateMetrics() includes custom collectors in registration order", async () => {
    class Temperatures extends CustomCollector {
      collect(): MetricCollector[] {
        const g = new Gauge({
          name: "temp_celsius",
          description: "Temperature.",
          requiredLabels: ["room"],
          registry: null,
        });
        g.labels({ room: "lab" }).set(21.5);
        return [g];
      }
    }
    const registry = new CollectorRegistry();
    new Counter({ name: "first_total", description: "First.", registry });
    registry.register(new Temperatures());
    new Counter({ name: "last_total", description: "Last.", registry });
    assert.equal(
      await generateMetrics(registry),
      "# HELP first_total First.\n# TYPE first_total counter\nfirst_total 0\n" +
        '# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\ntemp_celsius{room="lab"} 21.5\n' +
        "# HELP last_total Last.\n# TYPE last_total counter\nlast_total 0\n",
    );
  });

  test("generateMetrics() with no argument renders REGISTRY", async () => {
    const previous = REGISTRY.registry;
    const target = new CollectorRegistry({ prefix: "app" });
    REGISTRY.setRegistry(target);
    try {
      new Gauge({ name: "up", description: "Up." }).set(1);
      assert.equal(await generateMetrics(), "# HELP app_up Up.\n# TYPE app_up gauge\napp_up 1\n");
    } finally {
      REGISTRY.setRegistry(previous);
    }
  });

  test("generateMetrics() output always ends with exactly one line feed", async () => {
    const registry = new CollectorRegistry();
    new Gauge({ name: "g", description: "G.", registry });
    new Histogram({ name: "h", description: "H.", buckets: [1], registry });
    const text = await generateMetrics(registry);
    assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
    assert.ok(!text.includes("\n\n"));
  });
});

describe("encodeMetrics()", () => {
  /** A registry whose exposition spans many 16 KiB chunks, with 1- to 4-byte characters. */
  function bigRegistry(): CollectorRegistry {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "hits_total",
      description: "Hits, ü.",
      requiredLabels: ["path", "who"],
      registry,
    });
    const h = new Histogram({ name: "t", description: "T.", requiredLabels: ["path"], registry });
    for (let i = 0; i < 3000; i++) {
      c.labels({ path: `/p/${i}`, who: i % 7 === 0 ? 'é"\\€\n😀' : "ascii" }).inc(i + 0.5, {
        trace_id: `t${i}`,
      });
      h.labels({ path: `/€/${i % 300}` }).observe(i / 1000);
    }
    // One write longer than a chunk, of 4-byte characters.
    new Gauge({ name: "long", description: "🦕".repeat(20_000), registry }).set(1);
    return registry;
  }

  test("encodeMetrics() gives the UTF-8 bytes of generateMetrics(), text and OpenMetrics", async () => {
    const registry = bigRegistry();
    for (const options of [{}, { format: "openmetrics", created: false }] as const) {
      const text = await generateMetrics(registry, options);
      assert.ok(text.length > 200_000, "spans many chunks");
      const bytes = await encodeMetrics(registry, options);
      assert.deepEqual(bytes, new TextEncoder().encode(text));
    }
  });

  test("encodeMetrics() stays exact when a registry outgrows its last scrape, and when it shrinks", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "c", description: "C.", requiredLabels: ["k"], registry });
    const same = async () =>
      assert.deepEqual(
        await encodeMetrics(registry),
        new TextEncoder().encode(await generateMetrics(registry)),
      );
    c.labels({ k: "first" }).inc();
    await same();
    for (let i = 0; i < 20_000; i++) c.labels({ k: `key-${i}-é` }).inc(i);
    await same();
    await same();
    c.clear();
    await same();
  });

  test("encodeMetrics() of an empty registry is empty; OpenMetrics' is # EOF", async () => {
    const registry = new CollectorRegistry();
    assert.equal((await encodeMetrics(registry)).length, 0);
    assert.equal(
      new TextDecoder().decode(await encodeMetrics(registry, { format: "openmetrics" })),
      "# EOF\n",
    );
  });

  test("encodeMetrics() refuses an unknown format", async () => {
    await assert.rejects(
      encodeMetrics(new CollectorRegistry(), { format: "json" as never }),
      /Unknown exposition format "json"/,
    );
  });
});
