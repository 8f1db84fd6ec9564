/**
 * The Prometheus protobuf exposition, decoded by an independent decoder
 * (protobufjs, a dev dependency) with client_model's official schema
 * (tests/fixtures/metrics.proto), field by field.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import protobuf from "protobufjs";
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
  makeHandler,
  PROTOBUF_CONTENT_TYPE,
  Summary,
} from "../mod.ts";
import type { MetricCollector, Sample } from "../mod.ts";
import { needs } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { serve, type Served } from "./_serve.ts";

const root = new protobuf.Root();
protobuf.parse(
  'syntax = "proto3"; package google.protobuf; message Timestamp { int64 seconds = 1; int32 nanos = 2; }',
  root,
);
protobuf.parse(
  readFileSync(new URL("./fixtures/metrics.proto", import.meta.url), "utf8")
    .replace('import "google/protobuf/timestamp.proto";', ""),
  root,
  { keepCase: true },
);
const MetricFamily = root.lookupType("io.prometheus.client.MetricFamily");

/** Every MetricFamily of a length-delimited stream, as plain objects. */
function decode(bytes: Uint8Array): Record<string, unknown>[] {
  const reader = protobuf.Reader.create(bytes);
  const families: Record<string, unknown>[] = [];
  while (reader.pos < reader.len) {
    const message = MetricFamily.decodeDelimited(reader);
    families.push(MetricFamily.toObject(message, { longs: Number, enums: String }));
  }
  return families;
}

/** A time as the `Timestamp` the format carries. */
function timestamp(seconds: number): { seconds: number; nanos?: number } {
  const whole = Math.floor(seconds);
  const nanos = Math.round((seconds - whole) * 1e9);
  return nanos > 0 ? { seconds: whole, nanos } : { seconds: whole };
}

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

  test("every classic series arrives, read from protobuf", { timeout: 60_000 }, async () => {
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
    // Prometheus asked for protobuf, and got it.
    assert.ok(served.length > 0);
    assert.deepEqual([...new Set(served)], [PROTOBUF_CONTENT_TYPE]);
  });
});
