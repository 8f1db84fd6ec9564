/**
 * The Prometheus protobuf exposition, decoded by an independent decoder
 * (protobufjs, a dev dependency) with client_model's official schema
 * (tests/fixtures/metrics.proto, see ./_protobuf.ts), field by field.
 */

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
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
  loadBackend,
  makeHandler,
  PROTOBUF_CONTENT_TYPE,
  setLogger,
  SingleProcessBackend,
  Summary,
} from "../mod.ts";
import type { MetricCollector, MetricType, Sample } from "../mod.ts";
import { needs } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { capturingLogger, serve, type Served } from "./_serve.ts";
import { assertNativeExemplar, decode, timestamp } from "./_protobuf.ts";

test("encodeMetrics({ format: 'protobuf' }) writes a counter with its labels, exemplar and created timestamp", async () => {
  const registry = new CollectorRegistry();
  const c = new Counter({
    name: "http_requests_total",
    description: "Requests.",
    requiredLabels: ["method", "code"] as const,
    registry,
  });
  const child = c.labels({ method: "GET", code: "200" });
  child.inc(3, { trace_id: "abc" });
  const [sample] = await c.collect();
  const families = decode(await encodeMetrics(registry, { format: "protobuf" }));
  assert.deepEqual(families, [{
    name: "http_requests_total",
    help: "Requests.",
    type: "COUNTER",
    metric: [{
      label: [{ name: "method", value: "GET" }, { name: "code", value: "200" }],
      counter: {
        value: 3,
        exemplar: {
          label: [{ name: "trace_id", value: "abc" }],
          value: 3,
          timestamp: timestamp(sample!.exemplar!.timestamp),
        },
        created_timestamp: timestamp(sample!.created!),
      },
    }],
  }]);
});

test("encodeMetrics({ format: 'protobuf' }) writes gauges, histograms (cumulative, no +Inf bucket) and summaries", async () => {
  const registry = new CollectorRegistry({ prefix: "app" });
  new Gauge({ name: "temperature_celsius", description: "T.", unit: "celsius", registry }).set(
    -3.5,
  );
  const h = new Histogram({
    name: "latency_seconds",
    description: "L.",
    buckets: [0.1, 1],
    registry,
  });
  for (const v of [0.05, 0.5, 0.5, 7]) h.observe(v);
  const s = new Summary({ name: "size_bytes", description: "S.", quantiles: [0.5], registry });
  for (const v of [1, 2, 3]) s.observe(v);
  const created = (await h.collect()).find((x) => x.suffix === "_count")!.created!;
  const summaryCreated = (await s.collect()).find((x) => x.suffix === "_count")!.created!;
  const families = decode(await encodeMetrics(registry, { format: "protobuf" }));
  assert.deepEqual(families, [
    {
      name: "app_temperature_celsius",
      help: "T.",
      type: "GAUGE",
      unit: "celsius",
      metric: [{ gauge: { value: -3.5 } }],
    },
    {
      name: "app_latency_seconds",
      help: "L.",
      type: "HISTOGRAM",
      metric: [{
        histogram: {
          sample_count: 4,
          sample_sum: 8.05,
          bucket: [{ cumulative_count: 1, upper_bound: 0.1 }, {
            cumulative_count: 3,
            upper_bound: 1,
          }],
          created_timestamp: timestamp(created),
        },
      }],
    },
    {
      name: "app_size_bytes",
      help: "S.",
      type: "SUMMARY",
      metric: [{
        summary: {
          sample_count: 3,
          sample_sum: 6,
          quantile: [{ quantile: 0.5, value: 2 }],
          created_timestamp: timestamp(summaryCreated),
        },
      }],
    },
  ]);
});

test("encodeMetrics({ format: 'protobuf' }) writes info and enum as gauges, named as the text format names them", async () => {
  const registry = new CollectorRegistry();
  new Info({ name: "build", description: "Build.", registry }).set({ version: "1.2.3" });
  new Enum({ name: "status", description: "S.", states: ["up", "down"] as const, registry })
    .state("down");
  const families = decode(await encodeMetrics(registry, { format: "protobuf" }));
  assert.deepEqual(families, [
    {
      name: "build_info",
      help: "Build.",
      type: "GAUGE",
      metric: [{ label: [{ name: "version", value: "1.2.3" }], gauge: { value: 1 } }],
    },
    {
      name: "status",
      help: "S.",
      type: "GAUGE",
      metric: [
        { label: [{ name: "status", value: "up" }], gauge: { value: 0 } },
        { label: [{ name: "status", value: "down" }], gauge: { value: 1 } },
      ],
    },
  ]);
  // The text format names the same series.
  assert.match(await generateMetrics(registry), /^build_info\{version="1.2.3"\} 1$/m);
  assert.match(await generateMetrics(registry), /^status\{status="down"\} 1$/m);
});

test("encodeMetrics({ format: 'protobuf' }) writes a +Inf bucket for the exemplar it carries, and no other", async () => {
  const registry = new CollectorRegistry();
  const h = new Histogram({ name: "late_seconds", description: "L.", buckets: [1], registry });
  h.observe(0.5);
  h.observe(5, { trace_id: "slow" });
  const [family] = decode(await encodeMetrics(registry, { format: "protobuf" }));
  const histogram = (family!.metric as { histogram: { bucket: unknown[] } }[])[0]!.histogram;
  assert.deepEqual(
    histogram.bucket.map((b) => {
      const { exemplar, ...rest } = b as { exemplar?: { label: unknown } };
      return exemplar === undefined ? rest : { ...rest, exemplar: exemplar.label };
    }),
    [
      { cumulative_count: 1, upper_bound: 1 },
      {
        cumulative_count: 2,
        upper_bound: Infinity,
        exemplar: [{ name: "trace_id", value: "slow" }],
      },
    ],
  );
});

test("encodeMetrics({ format: 'protobuf' }) groups a custom collector's histogram samples by series", async () => {
  const registry = new CollectorRegistry();
  class Jobs extends CustomCollector {
    collect(): MetricCollector[] {
      const samples: Sample[] = [];
      for (const queue of ["a", "b"]) {
        samples.push(
          { suffix: "_bucket", labels: { queue, le: "1" }, value: 1 },
          { suffix: "_bucket", labels: { queue, le: "+Inf" }, value: 2 },
          { suffix: "_sum", labels: { queue }, value: 3.5 },
          { suffix: "_count", labels: { queue }, value: 2 },
        );
      }
      return [{
        name: "job_seconds",
        description: "Jobs.",
        type: "histogram",
        collect: () => Promise.resolve(samples),
      }];
    }
  }
  registry.register(new Jobs());
  const [family] = decode(await encodeMetrics(registry, { format: "protobuf" }));
  assert.deepEqual(
    family!.metric,
    ["a", "b"].map((queue) => ({
      label: [{ name: "queue", value: queue }],
      histogram: {
        sample_count: 2,
        sample_sum: 3.5,
        bucket: [{ cumulative_count: 1, upper_bound: 1 }],
      },
    })),
  );
});

test("encodeMetrics({ format: 'protobuf' }) writes 10k series in one family, every value read back", async () => {
  const registry = new CollectorRegistry();
  const c = new Counter({
    name: "many_total",
    description: "Many.",
    requiredLabels: ["id"] as const,
    registry,
  });
  for (let i = 0; i < 10_000; i++) c.labels({ id: `item-${i}-é` }).inc(i + 0.5);
  const [family] = decode(await encodeMetrics(registry, { format: "protobuf", created: false }));
  const metrics = family!.metric as { label: { value: string }[]; counter: { value: number } }[];
  assert.equal(metrics.length, 10_000);
  metrics.forEach((metric, i) => {
    assert.equal(metric.label[0]!.value, `item-${i}-é`);
    assert.equal(metric.counter.value, i + 0.5);
  });
});

test("generateMetrics() refuses the protobuf format, which is binary, with InvalidOptionError", async () => {
  await assert.rejects(generateMetrics(new CollectorRegistry(), { format: "protobuf" }), {
    name: "InvalidOptionError",
    message: 'The "protobuf" format is binary: use encodeMetrics() for it, not generateMetrics()',
  });
  await assert.rejects(encodeMetrics(new CollectorRegistry(), { format: "json" as never }), {
    name: "InvalidOptionError",
    message: 'Unknown exposition format "json": use "text" or "openmetrics", or "protobuf"',
  });
});

test("makeHandler() answers the protobuf format to the Accept header of a Prometheus scraping native histograms", async () => {
  const registry = new CollectorRegistry();
  new Gauge({ name: "up", description: "Up.", registry }).set(1);
  const handler = makeHandler({ registry });
  const response = await handler(
    new Request("http://localhost/metrics", {
      headers: {
        accept:
          "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
      },
    }),
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), PROTOBUF_CONTENT_TYPE);
  assert.deepEqual(decode(new Uint8Array(await response.arrayBuffer())), [
    { name: "up", help: "Up.", type: "GAUGE", metric: [{ gauge: { value: 1 } }] },
  ]);
  // A protobuf range of another message type or encoding is not ours.
  const other = await handler(
    new Request("http://localhost/metrics", {
      headers: { accept: "application/vnd.google.protobuf;proto=other.Message;encoding=text" },
    }),
  );
  assert.equal(
    other.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
});

describe("Prometheus 2.42 scraping the protobuf format (native histograms on)", {
  skip: needs("prometheus"),
}, () => {
  const registry = new CollectorRegistry({ prefix: "pb" });
  const orders = new Counter({
    name: "orders_total",
    description: "Orders.",
    requiredLabels: ["kind"] as const,
    registry,
  });
  const latency = new Histogram({
    name: "latency_seconds",
    description: "Latency.",
    buckets: [0.1, 1],
    registry,
  });
  const size = new Summary({ name: "size_bytes", description: "S.", quantiles: [0.5], registry });
  new Info({ name: "build", description: "Build.", registry }).set({ version: "1.2.3" });
  const native = new Histogram({
    name: "native_seconds",
    description: "Native.",
    buckets: [],
    native: {},
    registry,
  });
  for (let i = 1; i <= 100; i++) native.observe(i / 100);
  orders.labels({ kind: "book" }).inc(2);
  for (const v of [0.05, 0.5, 3]) latency.observe(v);
  for (const v of [10, 20, 30]) size.observe(v);
  const served: string[] = [];
  const handler = makeHandler({ registry });
  let server: Served | undefined;
  let prometheus: Prometheus | undefined;
  after(async () => {
    await prometheus?.stop();
    await server?.close();
  });

  test(
    "every classic series arrives, read from protobuf, and native histograms answer histogram_count(), histogram_sum() and histogram_quantile()",
    { timeout: 60_000 },
    async () => {
      server = serve(async (request) => {
        const response = await handler(request);
        served.push(response.headers.get("content-type") ?? "");
        return response;
      });
      prometheus = await startPrometheus(
        [{ job: "pb", target: `127.0.0.1:${server.port}` }],
        { features: ["native-histograms"] },
      );
      const value = async (promql: string): Promise<string | undefined> =>
        (await prometheus!.waitForQuery(promql, (samples) => samples.length > 0, 30_000))[0]?.value;
      assert.equal(await value('pb_orders_total{kind="book"}'), "2");
      assert.equal(await value('pb_latency_seconds_bucket{le="0.1"}'), "1");
      // Read from protobuf, Prometheus spells a whole bound as OpenMetrics does.
      assert.equal(await value('pb_latency_seconds_bucket{le="1.0"}'), "2");
      assert.equal(await value('pb_latency_seconds_bucket{le="+Inf"}'), "3");
      assert.equal(await value("pb_latency_seconds_count"), "3");
      assert.equal(await value("pb_latency_seconds_sum"), "3.55");
      assert.equal(await value('pb_size_bytes{quantile="0.5"}'), "20");
      assert.equal(await value("pb_size_bytes_count"), "3");
      assert.equal(await value('pb_build_info{version="1.2.3"}'), "1");
      // The native histogram is one series of native buckets.
      assert.equal(await value("histogram_count(pb_native_seconds)"), "100");
      assert.equal(Number(await value("histogram_sum(pb_native_seconds)")), 50.5);
      // The median of 0.01..1 is 0.5, within schema 3's relative error (2^(1/8) - 1, about 9%).
      const median = Number(await value("histogram_quantile(0.5, pb_native_seconds)"));
      assert.ok(Math.abs(median - 0.5) / 0.5 < 0.095, `median ${median}`);
      // Prometheus asked for protobuf, and got it.
      assert.ok(served.length > 0);
      assert.deepEqual([...new Set(served)], [PROTOBUF_CONTENT_TYPE]);
    },
  );
});

describe("Native histograms in the protobuf format", () => {
  /** The `histogram` of the first series of the first family. */
  async function histogramOf(registry: CollectorRegistry): Promise<Record<string, unknown>> {
    const [family] = decode(await encodeMetrics(registry, { format: "protobuf" }));
    return ((family!.metric as Record<string, unknown>[])[0]!.histogram) as Record<
      string,
      unknown
    >;
  }

  test("Histogram({ native }) of 0, 1, 2, 3: schema 3, zero count 1, spans {0,1},{7,1},{4,1}, deltas 1,0,0", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "native_seconds",
      description: "N.",
      buckets: [],
      native: { bucketFactor: 1.1 },
      registry,
    });
    for (const v of [0, 1, 2, 3]) h.observe(v);
    const { created_timestamp: _, ...histogram } = await histogramOf(registry);
    assert.deepEqual(histogram, {
      sample_count: 4,
      sample_sum: 6,
      schema: 3,
      zero_threshold: 2 ** -128,
      zero_count: 1,
      positive_span: [{ offset: 0, length: 1 }, { offset: 7, length: 1 }, { offset: 4, length: 1 }],
      positive_delta: [1, 0, 0],
    });
    // The text formats show the classic buckets: here only +Inf.
    assert.match(await generateMetrics(registry), /^native_seconds_bucket\{le="\+Inf"\} 4$/m);
  });

  test("a native histogram carries its exemplars, each with its time, beside its buckets", async () => {
    assert.equal((await assertNativeExemplar()).bucket, undefined);
  });

  test("negative observations go to negative buckets; classic buckets stay beside the native ones", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "delta",
      description: "D.",
      buckets: [0],
      native: { bucketFactor: 2 },
      registry,
    });
    for (const v of [-1, -2, -2, 4]) h.observe(v);
    const { created_timestamp: _, ...histogram } = await histogramOf(registry);
    assert.deepEqual(histogram, {
      sample_count: 4,
      sample_sum: -1,
      bucket: [{ cumulative_count: 3, upper_bound: 0 }],
      schema: 0,
      zero_threshold: 2 ** -128,
      zero_count: 0,
      // -1 and -2: keys 0 and 1 of the negative side; 4: key 2.
      negative_span: [{ offset: 0, length: 2 }],
      negative_delta: [1, 1],
      positive_span: [{ offset: 2, length: 1 }],
      positive_delta: [1],
    });
  });

  test("with a zero threshold of 0, subnormal observations of either sign take their own buckets, 0 the zero bucket", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "tiny",
      description: "T.",
      buckets: [],
      native: { bucketFactor: 2, zeroThreshold: 0 },
      registry,
    });
    // Schema 0: the key of 2^e is e, so 2^-1074 (the least double) is key -1074.
    for (const v of [0, 2 ** -1074, 2 ** -1074, 2 ** -1023, -(2 ** -1060), 2 ** -1022]) {
      h.observe(v);
    }
    const { created_timestamp: _, sample_sum: __, ...histogram } = await histogramOf(registry);
    assert.deepEqual(histogram, {
      sample_count: 6,
      schema: 0,
      zero_threshold: 0,
      zero_count: 1,
      negative_span: [{ offset: -1060, length: 1 }],
      negative_delta: [1],
      positive_span: [{ offset: -1074, length: 1 }, { offset: 50, length: 2 }],
      positive_delta: [2, -1, 0],
    });
  });

  test("an empty native histogram with a zero threshold of 0 carries the no-op span {0,0}", async () => {
    const registry = new CollectorRegistry();
    new Histogram({
      name: "empty",
      description: "E.",
      buckets: [],
      native: { zeroThreshold: 0 },
      registry,
    });
    const { created_timestamp: _, ...histogram } = await histogramOf(registry);
    assert.deepEqual(histogram, {
      sample_count: 0,
      sample_sum: 0,
      schema: 3,
      zero_threshold: 0,
      zero_count: 0,
      positive_span: [{ offset: 0, length: 0 }],
    });
  });

  test("past maxBuckets the resolution halves, down to what fits", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "wide",
      description: "W.",
      buckets: [],
      native: { maxBuckets: 2 },
      registry,
    });
    // Keys 0, 8 and 16 at schema 3: three buckets, halved until two are left (schema -1).
    for (const v of [1, 2, 4]) h.observe(v);
    const histogram = await histogramOf(registry);
    assert.equal(histogram.schema, -1);
    assert.deepEqual(histogram.positive_span, [{ offset: 0, length: 2 }]);
    assert.deepEqual(histogram.positive_delta, [1, 1]);
  });

  test("past maxBuckets the zero bucket widens first, up to maxZeroThreshold", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "zeroed",
      description: "Z.",
      buckets: [],
      native: { maxBuckets: 2, maxZeroThreshold: 1 },
      registry,
    });
    // 0.5 is bucket -8 (up to 0.5): it joins the zero bucket, whose threshold becomes 0.5.
    for (const v of [0.5, 1, 4]) h.observe(v);
    const histogram = await histogramOf(registry);
    assert.equal(histogram.schema, 3);
    assert.equal(histogram.zero_threshold, 0.5);
    assert.equal(histogram.zero_count, 1);
    assert.deepEqual(histogram.positive_span, [{ offset: 0, length: 1 }, {
      offset: 15,
      length: 1,
    }]);
  });

  test("past maxBuckets, minResetDurationSeconds after the last reset, the histogram resets", async () => {
    const registry = new CollectorRegistry();
    const now = Date.now;
    let clock = now();
    Date.now = () => clock;
    try {
      const h = new Histogram({
        name: "resetting",
        description: "R.",
        buckets: [],
        native: { maxBuckets: 2, minResetDurationSeconds: 60 },
        registry,
      });
      for (const v of [1, 2, 4]) h.observe(v); // within the minute: halved instead
      assert.equal((await histogramOf(registry)).schema, -1);
      clock += 61_000;
      // 8 is a third bucket: the whole series resets, and keeps 8 (key 24 at schema 3).
      h.observe(8);
      const histogram = await histogramOf(registry);
      assert.equal(histogram.schema, 3);
      assert.equal(histogram.sample_count, 1);
      assert.equal(histogram.sample_sum, 8);
      assert.deepEqual(histogram.positive_span, [{ offset: 24, length: 1 }]);
      assert.deepEqual(histogram.positive_delta, [1]);
      assert.equal(
        (histogram.created_timestamp as { seconds: number }).seconds,
        Math.floor(clock / 1000),
      );
    } finally {
      Date.now = now;
    }
  });

  test("a native histogram refuses options of the wrong kind and a store that keeps classic ones only", async () => {
    for (
      const native of [{ bucketFactor: 1 }, { maxBuckets: 0 }, { zeroThreshold: -1 }, {
        bucketFactr: 2,
      }]
    ) {
      assert.throws(
        () =>
          new Histogram({
            name: "bad",
            description: "B.",
            native: native as never,
            registry: null,
          }),
        InvalidOptionError,
      );
    }
    await loadBackend({
      store: { cell: () => ({ inc() {}, dec() {}, set() {}, get: () => 0 }) },
    });
    try {
      const h = new Histogram({ name: "remote", description: "R.", native: {}, registry: null });
      assert.throws(() => h.observe(1), InvalidOptionError);
    } finally {
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });
});

test("encodeMetrics({ format: 'protobuf' }) leaves out, as OpenMetrics does, a family it cannot carry: a summary count that is not a whole number, an exemplar whose time is not one, a sample of no such kind, a value that is not a number", async () => {
  const family = (name: string, type: MetricType, samples: unknown[]): MetricCollector => ({
    name,
    description: "O.",
    type,
    collect: () => Promise.resolve(samples as Sample[]),
  });
  const families = [
    family("odd", "summary", [{ suffix: "_sum", labels: {}, value: 1 }, {
      suffix: "_count",
      labels: {},
      value: Infinity,
    }]),
    family("timeless_total", "counter", [{
      suffix: "_total",
      labels: {},
      value: 1,
      exemplar: { labels: { a: "b" }, labelText: '{a="b"}', value: 1, timestamp: Infinity },
    }]),
    family("g", "gauge", [{ suffix: "_max", labels: {}, value: 1 }]),
    family("s", "gauge", [{ suffix: "", labels: {}, value: "5" }]),
    family("kept", "gauge", [{ suffix: "", labels: {}, value: 2 }]),
  ];
  const registry = new CollectorRegistry();
  for (const [i, metric] of families.entries()) {
    registry.register(
      new (class extends CustomCollector {
        override get name(): string {
          return `c${i}`;
        }
        collect(): MetricCollector[] {
          return [metric];
        }
      })(),
    );
  }
  const { logger, messages } = capturingLogger();
  const previous = setLogger(logger);
  try {
    assert.deepEqual(decode(await encodeMetrics(registry, { format: "protobuf" })), [
      { name: "kept", help: "O.", type: "GAUGE", metric: [{ gauge: { value: 2 } }] },
    ]);
    assert.equal(messages.length, 4);
    // The text format leaves out the families it cannot write either.
    const text = await generateMetrics(registry, { format: "openmetrics" });
    assert.match(text, /^kept 2$/m);
    assert.doesNotMatch(text, /^timeless_total/m);
  } finally {
    setLogger(previous);
  }
});

test("encodeMetrics({ format: 'protobuf' }) gathers a series given whole by its labels, in any order: _created into its timestamp, a missing count from +Inf", async () => {
  const registry = new CollectorRegistry();
  registry.register(
    new (class Given extends CustomCollector {
      collect(): MetricCollector[] {
        return [{
          name: "h",
          description: "H.",
          type: "histogram",
          collect: () =>
            Promise.resolve([
              { suffix: "_created", labels: { b: "2", a: "1" }, value: 1000 },
              { suffix: "_bucket", labels: { a: "1", b: "2", le: "1" }, value: 2 },
              { suffix: "_bucket", labels: { a: "9", b: "2", le: "+Inf" }, value: 1 },
              { suffix: "_bucket", labels: { b: "2", a: "1", le: "+Inf" }, value: 5 },
              { suffix: "_sum", labels: { a: "1", b: "2" }, value: 7 },
            ]),
        }];
      }
    })(),
  );
  const [family] = decode(await encodeMetrics(registry, { format: "protobuf" }));
  assert.deepEqual(family!.metric, [
    {
      label: [{ name: "b", value: "2" }, { name: "a", value: "1" }],
      histogram: {
        sample_count: 5,
        sample_sum: 7,
        bucket: [{ cumulative_count: 2, upper_bound: 1 }],
        created_timestamp: { seconds: 1000 },
      },
    },
    {
      label: [{ name: "a", value: "9" }, { name: "b", value: "2" }],
      histogram: { sample_count: 1, sample_sum: 0 },
    },
  ]);
});
