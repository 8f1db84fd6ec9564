/** Exemplars: `counter.inc(v, exemplar)` and `histogram.observe(v, exemplar)`, shown in OpenMetrics only. */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  LabelValidationError,
  loadBackend,
  makeHandler,
  SingleProcessBackend,
  UnobservableMetricError,
} from "../mod.ts";
import { needs, waitFor } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { serve, type Served } from "./_serve.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const OM = { format: "openmetrics", created: false } as const;

/** The exposition with each exemplar timestamp checked to lie in [from, to] and replaced by `T`. */
async function openMetrics(registry: CollectorRegistry, from: number): Promise<string> {
  const text = await generateMetrics(registry, OM);
  const to = Date.now() / 1000;
  return text.replace(/( # \{[^}]*\} \S+) (\S+)$/gm, (_m, head: string, ts: string) => {
    assert.ok(Number(ts) >= from && Number(ts) <= to, `exemplar time ${ts} in [${from}, ${to}]`);
    return `${head} T`;
  });
}

describe("Counter exemplars", () => {
  test("Counter.inc() with an exemplar shows it, value and time, after the _total sample", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const c = new Counter({ name: "requests_total", description: "Requests.", registry });
    c.inc(2, { trace_id: "abc" });
    c.inc(); // no exemplar: the last one stays
    assert.equal(
      await openMetrics(registry, from),
      '# TYPE requests counter\n# HELP requests Requests.\nrequests_total 3 # {trace_id="abc"} 2 T\n# EOF\n',
    );
  });

  test("Counter.inc() keeps one exemplar per child, the latest", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const c = new Counter({ name: "jobs", description: "Jobs.", requiredLabels: ["q"], registry });
    const mail = c.labels({ q: "mail" });
    mail.inc(1, { trace_id: "first" });
    mail.inc(0.5, { trace_id: "second", span_id: "s" });
    c.labels({ q: "sms" }).inc(4, { trace_id: "x" });
    c.labels({ q: "push" }).inc();
    assert.equal(
      await openMetrics(registry, from),
      "# TYPE jobs counter\n# HELP jobs Jobs.\n" +
        'jobs_total{q="mail"} 1.5 # {trace_id="second",span_id="s"} 0.5 T\n' +
        'jobs_total{q="sms"} 4 # {trace_id="x"} 4 T\n' +
        'jobs_total{q="push"} 1\n# EOF\n',
    );
  });

  test("Counter exemplars are not shown in the text format", async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "c_total", description: "C.", registry }).inc(1, { trace_id: "abc" });
    assert.equal(
      await generateMetrics(registry),
      "# HELP c_total C.\n# TYPE c_total counter\nc_total 1\n",
    );
  });

  test("Counter.inc() copies the exemplar: changing the object later changes nothing", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const exemplar: Record<string, string> = { trace_id: "abc" };
    new Counter({ name: "c", description: "C.", registry }).inc(1, exemplar);
    exemplar.trace_id = "changed";
    assert.match(await openMetrics(registry, from), /c_total 1 # \{trace_id="abc"\} 1 T\n/);
  });

  test("Counter.inc() accepts an exemplar without labels", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    new Counter({ name: "c", description: "C.", registry }).inc(1, {});
    assert.match(await openMetrics(registry, from), /\nc_total 1 # \{\} 1 T\n/);
  });
});

describe("Histogram exemplars", () => {
  test("Histogram.observe() keeps at most one exemplar per bucket, the latest", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const h = new Histogram({
      name: "latency_seconds",
      description: "Latency.",
      buckets: [0.1, 1],
      requiredLabels: ["route"],
      registry,
    });
    const child = h.labels({ route: "/" });
    child.observe(0.05, { trace_id: "a" });
    child.observe(0.07, { trace_id: "b" });
    child.observe(0.5);
    child.observe(3, { trace_id: "c" });
    assert.equal(
      await openMetrics(registry, from),
      "# TYPE latency_seconds histogram\n# HELP latency_seconds Latency.\n" +
        'latency_seconds_bucket{route="/",le="0.1"} 2 # {trace_id="b"} 0.07 T\n' +
        'latency_seconds_bucket{route="/",le="1.0"} 3\n' +
        'latency_seconds_bucket{route="/",le="+Inf"} 4 # {trace_id="c"} 3 T\n' +
        'latency_seconds_sum{route="/"} 3.62\nlatency_seconds_count{route="/"} 4\n# EOF\n',
    );
    assert.doesNotMatch(await generateMetrics(registry), /#.*trace_id/);
  });

  test("Histogram.observe() on the metric itself takes an exemplar too", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const h = new Histogram({ name: "size", description: "Size.", buckets: [10], registry });
    h.observe(10, { trace_id: "edge" });
    assert.match(
      await openMetrics(registry, from),
      /\nsize_bucket\{le="10.0"\} 1 # \{trace_id="edge"\} 10 T\n/,
    );
  });
});

describe("Exemplar validation", () => {
  const c = new Counter({ name: "checked_total", description: "C.", registry: null });
  const h = new Histogram({ name: "checked_seconds", description: "H.", registry: null });

  async function total(): Promise<number> {
    return (await c.collect())[0]!.value;
  }

  test("Counter.inc() accepts 128 characters of names and values, counted in code points", async () => {
    c.inc(1, { trace_id: "x".repeat(120) }); // 8 + 120
    c.inc(1, { t: "😀".repeat(127) }); // 1 + 127 characters (254 UTF-16 units)
    h.observe(1, { a: "é".repeat(64), b: "z".repeat(62) });
    assert.equal(await total(), 2);
  });

  test("Counter.inc() rejects an exemplar over 128 characters and counts nothing", async () => {
    const before = await total();
    assert.throws(() => c.inc(1, { trace_id: "x".repeat(121) }), {
      name: "LabelValidationError",
      message:
        'Cannot record exemplar on "checked_total": its label names and values have 129 characters, more than 128',
    });
    assert.throws(() => c.inc(1, { a: "😀".repeat(64), b: "😀".repeat(63) }), LabelValidationError);
    assert.equal(await total(), before);
  });

  test("Histogram.observe() rejects an exemplar over 128 characters and observes nothing", async () => {
    const before = (await h.collect()).at(-1)!.value;
    assert.throws(() => h.observe(1, { trace_id: "x".repeat(200) }), {
      name: "LabelValidationError",
      message:
        'Cannot record exemplar on "checked_seconds": its label names and values have 208 characters, more than 128',
    });
    assert.equal((await h.collect()).at(-1)!.value, before);
  });

  test("Counter.inc() rejects invalid exemplar label names and non-string values", () => {
    assert.throws(() => c.inc(1, { "trace-id": "x" }), {
      name: "LabelValidationError",
      message:
        'Cannot record exemplar on "checked_total": invalid label name "trace-id", must match [a-zA-Z_][a-zA-Z0-9_]*',
    });
    assert.throws(() => c.inc(1, { "1st": "x" }), LabelValidationError);
    assert.throws(() => c.inc(1, { trace_id: 42 } as never), {
      name: "LabelValidationError",
      message:
        'Cannot record exemplar on "checked_total": label "trace_id" must be a string, got number',
    });
    assert.throws(() => h.observe(1, "abc" as never), {
      name: "LabelValidationError",
      message:
        'Cannot record exemplar on "checked_seconds": expected a record of label values, got string',
    });
  });

  test("Counter.inc() with an exemplar on a partial child throws UnobservableMetricError", () => {
    const labelled = new Counter({
      name: "partial_total",
      description: "P.",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    assert.throws(
      () => labelled.labels({ a: "x" }).inc(1, { trace_id: "t" }),
      UnobservableMetricError,
    );
  });
});

// A real Prometheus with exemplar storage reads them back.
const skip = needs("prometheus");

describe("Prometheus exemplar storage", { skip }, () => {
  const registry = new CollectorRegistry();
  const requests = new Counter({
    name: "shop_orders_total",
    description: "Orders.",
    requiredLabels: ["kind"],
    registry,
  });
  const latency = new Histogram({
    name: "shop_latency_seconds",
    description: "Latency.",
    buckets: [0.1, 1],
    registry,
  });
  requests.labels({ kind: "book" }).inc(2, { trace_id: "4bf92f3577b34da6" });
  latency.observe(0.25, { trace_id: "00f067aa0ba902b7" });
  let server: Served | undefined;
  let prometheus: Prometheus | undefined;
  // Started by the test, not in `before`: Bun gives hooks 5 s whatever their options say.
  let started: Promise<Prometheus> | undefined;
  const setup = (): Promise<Prometheus> =>
    started ??= (async () => {
      server = serve(makeHandler({ registry }));
      return prometheus = await startPrometheus(
        [{ job: "pytheus", target: `127.0.0.1:${server.port}` }],
        { features: ["exemplar-storage"] },
      );
    })();

  after(async () => {
    await prometheus?.stop();
    await server?.close();
  });

  test("/api/v1/query_exemplars returns the counter's and the histogram's exemplars", {
    timeout: 60_000,
  }, async () => {
    const { url } = await setup();
    type Answer = {
      seriesLabels: Record<string, string>;
      exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
    }[];
    const query = async (promql: string): Promise<Answer> => {
      const now = Date.now() / 1000;
      const response = await fetch(
        `${url}/api/v1/query_exemplars?query=${encodeURIComponent(promql)}&start=${now - 600}&end=${
          now + 60
        }`,
      );
      return (await response.json() as { data: Answer }).data;
    };
    let counter: Answer = [];
    let histogram: Answer = [];
    await waitFor("exemplars in Prometheus", async () => {
      counter = await query("shop_orders_total");
      histogram = await query("shop_latency_seconds_bucket");
      return counter.length > 0 && histogram.length > 0;
    }, 30_000);
    assert.deepEqual(
      counter.map((s) => [s.seriesLabels, s.exemplars.map((e) => [e.labels, e.value])]),
      [[
        {
          __name__: "shop_orders_total",
          instance: `127.0.0.1:${server!.port}`,
          job: "pytheus",
          kind: "book",
        },
        [[{ trace_id: "4bf92f3577b34da6" }, "2"]],
      ]],
    );
    assert.deepEqual(
      histogram.map((s) => [s.seriesLabels, s.exemplars.map((e) => [e.labels, e.value])]),
      [[
        {
          __name__: "shop_latency_seconds_bucket",
          instance: `127.0.0.1:${server!.port}`,
          job: "pytheus",
          le: "1.0",
        },
        [[{ trace_id: "00f067aa0ba902b7" }, "0.25"]],
      ]],
    );
  });
});
