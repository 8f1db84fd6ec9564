/**
 * The public surface: what each module exports at run time. A name added or
 * lost here is a change of the published API, made on purpose or not at all.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

const ROOT = [
  "BackendUnavailableError",
  "BucketError",
  "CollectorRegistry",
  "Counter",
  "CustomCollector",
  "DEFAULT_BUCKETS",
  "Enum",
  "Gauge",
  "Histogram",
  "Info",
  "InvalidOptionError",
  "InvalidSampleError",
  "InvalidValueError",
  "LabelValidationError",
  "MultiWorkerBackend",
  "NameValidationError",
  "OPENMETRICS_CONTENT_TYPE",
  "PROMETHEUS_CONTENT_TYPE",
  "PROTOBUF_CONTENT_TYPE",
  "PushgatewayError",
  "PytheusError",
  "REGISTRY",
  "SingleProcessBackend",
  "Summary",
  "UnobservableMetricError",
  "collectDefaultMetrics",
  "deleteFromGateway",
  "encodeMetrics",
  "exponentialBuckets",
  "generateMetrics",
  "instrumentHandler",
  "linearBuckets",
  "loadBackend",
  "makeHandler",
  "pushAddToGateway",
  "pushToGateway",
  "setLogger",
];

const exportsOf = async (path: string): Promise<string[]> => Object.keys(await import(path)).sort();

test("mod.ts exports exactly the values one constructs or calls", async () => {
  assert.deepEqual(await exportsOf("../mod.ts"), ROOT);
});

test("types.ts exports types only (nothing at run time)", async () => {
  assert.deepEqual(await exportsOf("../types.ts"), []);
});

test("http.ts exports the parts of instrumentHandler", async () => {
  assert.deepEqual(await exportsOf("../http.ts"), [
    "OTHER_METHOD",
    "UNMATCHED_ROUTE",
    "httpMetrics",
  ]);
});

test("hono.ts exports the middleware only", async () => {
  assert.deepEqual(await exportsOf("../src/hono.ts"), ["prometheus"]);
});

test("redis.ts exports the Redis backend only", async () => {
  assert.deepEqual(await exportsOf("../src/backends/redis.ts"), ["MultiProcessRedisBackend"]);
});
