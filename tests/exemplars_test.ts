/** Exemplars: `counter.inc(v, exemplar)` and `histogram.observe(v, exemplar)`, shown in OpenMetrics only. */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  loadBackend,
  makeHandler,
  setLogger,
  SingleProcessBackend,
  UnobservableMetricError,
} from "../mod.ts";
import { needs, waitFor } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { capturingLogger, serve, type Served } from "./_serve.ts";

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
  /** A counter or a histogram in a registry of its own, where the exemplars it drops are counted. */
  function checked(): { registry: CollectorRegistry; c: Counter } {
    const registry = new CollectorRegistry();
    return { registry, c: new Counter({ name: "checked_total", description: "C.", registry }) };
  }
  function checkedHistogram(): { registry: CollectorRegistry; h: Histogram } {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "checked_seconds",
      description: "H.",
      buckets: [1],
      registry,
    });
    return { registry, h };
  }

  /** What `fn` logs. */
  function warningsOf(fn: () => void): string[] {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      fn();
    } finally {
      setLogger(previous);
    }
    return messages;
  }

  const DROPPED = "# HELP pytheus_exemplars_dropped_total " +
    "Exemplars dropped for breaking the rules; their observations were recorded.\n" +
    "# TYPE pytheus_exemplars_dropped_total counter\n";

  function dropWarning(metric: string, problem: string): string {
    return `Exemplar dropped on "${metric}" (its value was recorded): ${problem}; ` +
      "counted in pytheus_exemplars_dropped_total, warned about once";
  }

  test("Counter.inc() accepts 128 characters of names and values, counted in code points", async () => {
    const { registry, c } = checked();
    const from = Date.now() / 1000;
    const warnings = warningsOf(() => {
      c.inc(1, { trace_id: "x".repeat(120) }); // 8 + 120
      c.inc(1, { t: "😀".repeat(127) }); // 1 + 127 characters (254 UTF-16 units)
    });
    assert.deepEqual(warnings, []);
    assert.equal(
      await openMetrics(registry, from),
      "# TYPE checked counter\n# HELP checked C.\n" +
        `checked_total 2 # {t="${"😀".repeat(127)}"} 1 T\n# EOF\n`,
    );
    const histogram = checkedHistogram();
    assert.deepEqual(
      warningsOf(() => histogram.h.observe(1, { a: "é".repeat(64), b: "z".repeat(62) })),
      [],
    );
    assert.match(
      await openMetrics(histogram.registry, from),
      /\nchecked_seconds_bucket\{le="1.0"\} 1 # \{a="é+",b="z+"\} 1 T\n/,
    );
    assert.doesNotMatch(await generateMetrics(histogram.registry), /pytheus_exemplars_dropped/);
  });

  test("Counter.inc() counts the increment but drops an exemplar over 128 characters, counting the drop", async () => {
    const { registry, c } = checked();
    const warnings = warningsOf(() => c.inc(1, { trace_id: "x".repeat(121) }));
    assert.deepEqual(warnings, [
      dropWarning("checked_total", "its label names and values have more than 128 characters"),
    ]);
    assert.equal(
      await generateMetrics(registry, OM),
      "# TYPE checked counter\n# HELP checked C.\nchecked_total 1\n" +
        "# TYPE pytheus_exemplars_dropped counter\n" +
        "# HELP pytheus_exemplars_dropped " +
        "Exemplars dropped for breaking the rules; their observations were recorded.\n" +
        'pytheus_exemplars_dropped_total{metric="checked_total"} 1\n# EOF\n',
    );
    // 1 + 64 + 1 + 63 code points: warned about once per metric, counted every time.
    assert.deepEqual(warningsOf(() => c.inc(2, { a: "😀".repeat(64), b: "😀".repeat(63) })), []);
    assert.equal(
      await generateMetrics(registry),
      "# HELP checked_total C.\n# TYPE checked_total counter\nchecked_total 3\n" + DROPPED +
        'pytheus_exemplars_dropped_total{metric="checked_total"} 2\n',
    );
  });

  test("Histogram.observe() records the observation but drops an exemplar over 128 characters, counting the drop", async () => {
    const { registry, h } = checkedHistogram();
    const warnings = warningsOf(() => h.observe(0.5, { trace_id: "x".repeat(200) }));
    assert.deepEqual(warnings, [
      dropWarning("checked_seconds", "its label names and values have more than 128 characters"),
    ]);
    assert.equal(
      await generateMetrics(registry, OM),
      "# TYPE checked_seconds histogram\n# HELP checked_seconds H.\n" +
        'checked_seconds_bucket{le="1.0"} 1\nchecked_seconds_bucket{le="+Inf"} 1\n' +
        "checked_seconds_sum 0.5\nchecked_seconds_count 1\n" +
        "# TYPE pytheus_exemplars_dropped counter\n" +
        "# HELP pytheus_exemplars_dropped " +
        "Exemplars dropped for breaking the rules; their observations were recorded.\n" +
        'pytheus_exemplars_dropped_total{metric="checked_seconds"} 1\n# EOF\n',
    );
  });

  test("Counter.inc() and Histogram.observe() drop exemplars with invalid label names or non-string values, and record the values", async () => {
    const { registry, c } = checked();
    const warnings = warningsOf(() => {
      c.inc(1, { "trace-id": "x" });
      c.inc(1, { "1st": "x" });
      c.inc(1, { trace_id: 42 } as never);
    });
    assert.deepEqual(warnings, [
      dropWarning(
        "checked_total",
        'invalid label name "trace-id", must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"',
      ),
    ]);
    assert.equal(
      await generateMetrics(registry, OM),
      "# TYPE checked counter\n# HELP checked C.\nchecked_total 3\n" +
        "# TYPE pytheus_exemplars_dropped counter\n" +
        "# HELP pytheus_exemplars_dropped " +
        "Exemplars dropped for breaking the rules; their observations were recorded.\n" +
        'pytheus_exemplars_dropped_total{metric="checked_total"} 3\n# EOF\n',
    );
    const labelValue = checked();
    assert.deepEqual(warningsOf(() => labelValue.c.inc(1, { trace_id: 42 } as never)), [
      dropWarning("checked_total", 'label "trace_id" must be a string, got number 42'),
    ]);
    assert.match(
      await generateMetrics(labelValue.registry),
      /\nchecked_total 1\n[^]*\npytheus_exemplars_dropped_total\{metric="checked_total"\} 1\n$/,
    );
    const histogram = checkedHistogram();
    assert.deepEqual(warningsOf(() => histogram.h.observe(2, "abc" as never)), [
      dropWarning("checked_seconds", 'expected a record of label values, got string "abc"'),
    ]);
    assert.equal(
      await generateMetrics(histogram.registry),
      "# HELP checked_seconds H.\n# TYPE checked_seconds histogram\n" +
        'checked_seconds_bucket{le="1"} 0\nchecked_seconds_bucket{le="+Inf"} 1\n' +
        "checked_seconds_sum 2\nchecked_seconds_count 1\n" + DROPPED +
        'pytheus_exemplars_dropped_total{metric="checked_seconds"} 1\n',
    );
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
