/**
 * The exposition text, read by two independent parsers: Prometheus' own
 * (`promtool check metrics`, which also lints) and Python's
 * `prometheus_client.parser` (and its OpenMetrics parser for the OpenMetrics
 * output), fed hostile label values, help text and special floats.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  CollectorRegistry,
  Counter,
  Gauge,
  generateMetrics,
  Histogram,
  loadBackend,
  SingleProcessBackend,
} from "../mod.ts";
import { run } from "./_process.ts";
import {
  HOSTILE,
  needsPromtool,
  needsPythonParser,
  type Parsed,
  promtoolCheck,
  pythonParse,
} from "./_parsers.ts";
import { RUNTIME } from "./_serve.ts";

const promtoolMissing = needsPromtool();
const pythonMissing = await needsPythonParser();

/** Python's reading of an exposition; fails the test when it cannot read it. */
async function parseWithPython(text: string, openMetrics = false): Promise<Parsed[]> {
  const parsed = await pythonParse(text, openMetrics);
  assert.ok(
    parsed.ok,
    `prometheus_client could not parse:\n${parsed.ok ? "" : parsed.error}\n${text}`,
  );
  return parsed.samples;
}

const HELP = 'Requests, with a backslash \\ and "quotes"\nand a second line.';

/** Builds the hostile registry; returns it with the samples expected, in order. */
async function hostileRegistry(): Promise<{ registry: CollectorRegistry; expected: Parsed[] }> {
  // Bun runs every test file in one process: do not inherit a backend another file loaded.
  await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  const registry = new CollectorRegistry({ prefix: "pt" });
  const expected: Parsed[] = [];

  const requests = new Counter({
    name: "requests_total",
    description: HELP,
    requiredLabels: ["path", "env"] as const,
    defaultLabels: { env: "prod" },
    registry,
  });
  HOSTILE.forEach((path, i) => {
    requests.labels({ path }).inc(i + 1);
    expected.push([
      "pt_requests",
      "counter",
      HELP,
      "pt_requests_total",
      { path, env: "prod" },
      i + 1,
    ]);
  });
  requests.labels({ path: "/", env: 'st"ag\\ing' }).inc(0.5);
  expected.push([
    "pt_requests",
    "counter",
    HELP,
    "pt_requests_total",
    { path: "/", env: 'st"ag\\ing' },
    0.5,
  ]);

  const events = new Counter({ name: "events_total", description: "Events.", registry });
  events.inc(0.1);
  events.inc(0.2);
  expected.push(["pt_events", "counter", "Events.", "pt_events_total", {}, 0.30000000000000004]);

  // A counter takes finite increments only: +Inf is a gauge's.
  const overflow = new Gauge({ name: "overflow", description: "∞.", registry });
  overflow.set(Infinity);
  expected.push(["pt_overflow", "gauge", "∞.", "pt_overflow", {}, "+Inf"]);

  const values = new Gauge({
    name: "sample_value",
    description: "Special floats.",
    requiredLabels: ["case"] as const,
    registry,
  });
  const floats: [string, number, number | string][] = [
    ["+Inf", Infinity, "+Inf"],
    ["-Inf", -Infinity, "-Inf"],
    ["NaN", NaN, "NaN"],
    // -0 keeps its sign: written "-0", read back as -0.
    ["-0", -0, -0],
    ["1e-9", 1e-9, 1e-9],
    ["1e21", 1e21, 1e21],
    ["0.1+0.2", 0.1 + 0.2, 0.30000000000000004],
    ["2^53", 2 ** 53, 9007199254740992],
    ["max", Number.MAX_VALUE, 1.7976931348623157e308],
    ["min", Number.MIN_VALUE, 5e-324],
    ["negative", -123456789.125, -123456789.125],
  ];
  for (const [name, value, seen] of floats) {
    values.labels({ case: name }).set(value);
    expected.push(["pt_sample_value", "gauge", "Special floats.", "pt_sample_value", {
      case: name,
    }, seen]);
  }

  const temperature = new Gauge({
    name: "temperature_celsius",
    description: "Temperature.",
    registry,
  });
  temperature.set(-273.15);
  expected.push([
    "pt_temperature_celsius",
    "gauge",
    "Temperature.",
    "pt_temperature_celsius",
    {},
    -273.15,
  ]);

  const latency = new Histogram({
    name: "latency_seconds",
    description: "Latency, \\ and \n.",
    buckets: [1e-9, 0.1, 1, 1e21],
    registry,
  });
  const observed = [0.1 + 0.2, 1e-9, -1, 5e20];
  for (const value of observed) latency.observe(value);
  const family = (name: string, labels: Record<string, string>, value: number): Parsed => [
    "pt_latency_seconds",
    "histogram",
    "Latency, \\ and \n.",
    name,
    labels,
    value,
  ];
  expected.push(
    family("pt_latency_seconds_bucket", { le: "1e-9" }, 2),
    family("pt_latency_seconds_bucket", { le: "0.1" }, 2),
    family("pt_latency_seconds_bucket", { le: "1" }, 3),
    family("pt_latency_seconds_bucket", { le: "1e+21" }, 4),
    family("pt_latency_seconds_bucket", { le: "+Inf" }, 4),
    family("pt_latency_seconds_sum", {}, 0 + (0.1 + 0.2) + 1e-9 + -1 + 5e20),
    family("pt_latency_seconds_count", {}, 4),
  );

  const payload = new Histogram({
    name: "payload_bytes",
    description: "Payload sizes.",
    requiredLabels: ["kind"] as const,
    buckets: [100, 1000],
    registry,
  });
  for (const kind of ['"}\n', "🚀"]) {
    payload.labels({ kind }).observe(100);
    payload.labels({ kind }).observe(512);
    const bytes = (name: string, labels: Record<string, string>, value: number): Parsed => [
      "pt_payload_bytes",
      "histogram",
      "Payload sizes.",
      name,
      labels,
      value,
    ];
    expected.push(
      bytes("pt_payload_bytes_bucket", { kind, le: "100" }, 1),
      bytes("pt_payload_bytes_bucket", { kind, le: "1000" }, 2),
      bytes("pt_payload_bytes_bucket", { kind, le: "+Inf" }, 2),
      bytes("pt_payload_bytes_sum", { kind }, 612),
      bytes("pt_payload_bytes_count", { kind }, 2),
    );
  }
  return { registry, expected };
}

describe("generateMetrics() output read by promtool", { skip: promtoolMissing }, () => {
  test("generateMetrics() with hostile labels, help and special floats passes promtool check metrics", async () => {
    const text = await generateMetrics((await hostileRegistry()).registry);
    const { code, output } = await promtoolCheck(text);
    assert.equal(output, "");
    assert.equal(code, 0, text);
  });

  test("promtool check metrics rejects a broken exposition (the check is real)", async () => {
    const { code, output } = await promtoolCheck('# TYPE x_total counter\nx_total{a="b} 1\n');
    assert.notEqual(code, 0);
    assert.match(output, /error while linting/);
  });

  for (const file of ["custom_collector.ts", "custom_backend.ts"]) {
    test(`examples/${file} prints an exposition that passes promtool check metrics`, async () => {
      const path = fileURLToPath(new URL(`../examples/${file}`, import.meta.url));
      const program = RUNTIME === "bun"
        ? ["bun", [path]] as const
        : ["deno", ["run", path]] as const;
      const ran = await run(program[0], [...program[1]]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stdout, /^# HELP /);
      const { code, output } = await promtoolCheck(ran.stdout);
      assert.equal(output, "");
      assert.equal(code, 0, ran.stdout);
    });
  }
});

describe(
  "generateMetrics() output read by Python's prometheus_client",
  { skip: pythonMissing },
  () => {
    test("generateMetrics() round-trips hostile labels, help and special floats, value for value", async () => {
      const { registry, expected } = await hostileRegistry();
      const parsed = await parseWithPython(await generateMetrics(registry));
      assert.deepEqual(parsed, expected);
    });
  },
);

describe("OpenMetrics output read by Python's prometheus_client", { skip: pythonMissing }, () => {
  test('generateMetrics({ format: "openmetrics" }) round-trips hostile labels, help and special floats', async () => {
    const { registry, expected } = await hostileRegistry();
    const text = await generateMetrics(registry, { format: "openmetrics", created: false });
    const parsed = await parseWithPython(text, true);
    // OpenMetrics writes `le` canonically, as a float.
    const canonical: Record<string, string> = {
      "1e-9": "1e-09",
      "1": "1.0",
      "100": "100.0",
      "1000": "1000.0",
    };
    const withCanonicalLe = expected.map(([family, type, help, name, labels, value]): Parsed => [
      family,
      type,
      help,
      name,
      labels.le === undefined ? labels : { ...labels, le: canonical[labels.le] ?? labels.le },
      // The OpenMetrics parser reads "-0" with int(): the integer 0, its sign lost.
      labels.case === "-0" ? 0 : value,
    ]);
    assert.deepEqual(parsed, withCanonicalLe);
  });
});
