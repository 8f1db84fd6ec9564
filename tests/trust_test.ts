/**
 * Nothing a caller passes, from typed or untyped JavaScript, can corrupt a
 * scrape: values that are not numbers, hostile label values, names that
 * break a format, exemplars that break the rules, collectors and backends
 * that hand over garbage. Each case is a mistake seen in real use.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type Backend,
  BucketError,
  CollectorRegistry,
  Counter,
  CustomCollector,
  Enum,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  InvalidOptionError,
  InvalidValueError,
  LabelValidationError,
  loadBackend,
  type LoadBackendOptions,
  makeHandler,
  type MetricCollector,
  NameValidationError,
  type Sample,
  setLogger,
  SingleProcessBackend,
  type Store,
  Summary,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { needs } from "./_process.ts";
import { needsPromtool, needsPythonParser, promtoolCheck, pythonParse } from "./_parsers.ts";
import { withRedisBackend } from "./_redis.ts";
import { capturingLogger } from "./_serve.ts";
import { untyped } from "./_untyped.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const NOT_NUMBERS: readonly unknown[] = [
  null,
  "5",
  "1\nevil_total 666",
  true,
  10n,
  Symbol("s"),
  { method: "GET" },
  [1],
  () => 1,
  new Date(0),
  Object.create(null),
];

describe("Values are numbers", () => {
  test("Gauge.set(), inc() and dec() refuse every non-number with InvalidValueError, quoting it", () => {
    const g = new Gauge({ name: "g", description: "G.", requiredLabels: ["a"], registry: null });
    const child = g.labels({ a: "x" });
    for (const value of NOT_NUMBERS) {
      for (const call of ["set", "inc", "dec"] as const) {
        assert.throws(
          () => child[call](untyped(value)),
          InvalidValueError,
          `${call}(${String(typeof value)})`,
        );
      }
    }
    assert.throws(() => child.set(untyped("5")), {
      name: "InvalidValueError",
      message: 'Cannot set gauge "g" to string "5": set() takes a number',
    });
    assert.throws(() => child.set(untyped(null)), {
      message: 'Cannot set gauge "g" to null: set() takes a number',
    });
    child.set(-0);
    child.inc(Infinity);
    child.set(NaN);
  });

  test("Counter.inc() refuses non-numbers, negatives, NaN and Infinity; a string never concatenates", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "jobs_total", description: "J.", registry });
    for (const value of [...NOT_NUMBERS, -1, NaN, Infinity, -Infinity]) {
      assert.throws(() => c.inc(untyped(value)), InvalidValueError);
    }
    assert.throws(() => c.inc(untyped("5")), {
      message: 'Cannot increment counter "jobs_total" by string "5": inc() takes a number',
    });
    assert.throws(() => c.inc(Infinity), {
      message:
        'Cannot increment counter "jobs_total" by number Infinity: a counter only goes up, by a finite amount',
    });
    c.inc(2);
    assert.equal(
      await generateMetrics(registry),
      "# HELP jobs_total J.\n# TYPE jobs_total counter\njobs_total 2\n",
    );
  });

  test("Counter.inc({ method }) says that labels go through labels()", () => {
    const c = new Counter({ name: "hits_total", description: "H.", registry: null });
    assert.throws(() => c.inc(untyped({ method: "GET" })), {
      name: "InvalidValueError",
      message:
        'Cannot increment counter "hits_total" by an object {"method":"GET"}: inc() takes a number; labels go through labels(): labels({ ... }).inc()',
    });
  });

  test("Histogram.observe() and Summary.observe() refuse non-numbers: no forged line reaches the scrape", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({ name: "h_seconds", description: "H.", buckets: [1], registry });
    const s = new Summary({ name: "s_seconds", description: "S.", registry });
    for (const value of NOT_NUMBERS) {
      assert.throws(() => h.observe(untyped(value)), InvalidValueError);
      assert.throws(() => s.observe(untyped(value)), InvalidValueError);
    }
    assert.throws(() => h.observe(untyped("1\nevil_total 666")), {
      message:
        'Cannot observe string "1\\nevil_total 666" in histogram "h_seconds": observe() takes a number',
    });
    const text = await generateMetrics(registry);
    assert.ok(!text.includes("evil"), text);
    assert.match(text, /^h_seconds_count 0$/m);
  });

  test("A child of any backend checks its values before the backend sees them", async () => {
    const seen: unknown[] = [];
    class Recording implements Backend {
      #v = 0;
      inc(v: number): void {
        seen.push(v);
        this.#v += v;
      }
      dec(v: number): void {
        seen.push(v);
        this.#v -= v;
      }
      set(v: number): void {
        seen.push(v);
        this.#v = v;
      }
      get(): number {
        return this.#v;
      }
    }
    await loadBackend({ backendClass: Recording });
    try {
      const c = new Counter({
        name: "c_total",
        description: "C.",
        requiredLabels: ["a"],
        registry: null,
      });
      const g = new Gauge({ name: "g", description: "G.", registry: null });
      const h = new Histogram({ name: "h", description: "H.", buckets: [1], registry: null });
      for (const value of NOT_NUMBERS) {
        assert.throws(() => c.labels({ a: "x" }).inc(untyped(value)), InvalidValueError);
        assert.throws(() => g.set(untyped(value)), InvalidValueError);
        assert.throws(() => g.inc(untyped(value)), InvalidValueError);
        assert.throws(() => h.observe(untyped(value)), InvalidValueError);
      }
      assert.throws(() => c.labels({ a: "x" }).inc(-1), InvalidValueError);
      assert.deepEqual(seen, []);
      g.set(3);
      assert.deepEqual(seen, [3]);
    } finally {
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });

  test("Gauge.set(-0) is written -0 in both formats", async () => {
    const registry = new CollectorRegistry();
    new Gauge({ name: "g", description: "G.", registry }).set(-0);
    assert.match(await generateMetrics(registry), /^g -0$/m);
    assert.match(await generateMetrics(registry, { format: "openmetrics" }), /^g -0$/m);
  });
});

/** A hand-made collector whose samples a test chooses. */
function given(
  name: string,
  samples: unknown,
  type: MetricCollector["type"] = "gauge",
): MetricCollector {
  return {
    name,
    description: "Given.",
    type,
    collect: () => Promise.resolve(samples as Sample[]),
  };
}

describe("The exposition writes numbers only, whatever a collector or backend hands over", () => {
  test("A collector giving a value that is not a number is left out, logged once naming it; the rest is served", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      new Gauge({ name: "before", description: "B.", registry }).set(1);
      registry.register(given("bad", [{ suffix: "", labels: {}, value: "1\nevil_total 666" }]));
      new Gauge({ name: "after", description: "A.", registry }).set(2);
      const handler = makeHandler({ registry });
      for (let i = 0; i < 3; i++) {
        const response = await handler(new Request("http://localhost/metrics"));
        assert.equal(response.status, 200);
        const text = await response.text();
        assert.equal(
          text,
          "# HELP before B.\n# TYPE before gauge\nbefore 1\n# HELP after A.\n# TYPE after gauge\nafter 2\n",
        );
      }
      assert.deepEqual(messages, [
        'pytheus: metric "bad" of collector "bad" left out of the scrape (logged once while it goes on)',
      ]);
    } finally {
      setLogger(previous);
    }
  });

  test("Samples with forged suffixes, label names, label values or exemplars are refused", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      const bad: unknown[] = [
        [{ suffix: " 1\nevil", labels: {}, value: 1 }],
        [{ suffix: "", labels: { 'a"} 1\nevil': "x" }, value: 1 }],
        [{ suffix: "", labels: { __name__: "evil" }, value: 1 }],
        [{ suffix: "", labels: { a: 5 }, value: 1 }],
        [{ suffix: "", labels: { a: "\ud800" }, value: 1 }],
        [{ suffix: "", labels: {}, value: 1, labelText: '{a="x"} 1\nevil 2' }],
        [null],
        "not samples",
        [{ suffix: "", labels: {}, value: null }],
        undefined,
      ];
      bad.forEach((samples, i) => registry.register(given(`bad${i}`, samples)));
      registry.register(given("forged_exemplar", [{
        suffix: "",
        labels: {},
        value: 1,
        exemplar: {
          labels: { 'x"} 1\nevil': "1" },
          labelText: "{} 1\nevil 2",
          value: 1,
          timestamp: 1,
        },
      }], "counter"));
      new Gauge({ name: "kept", description: "K.", registry }).set(1);
      const text = await generateMetrics(registry);
      // The text format shows no exemplar: there, that sample is a good one.
      assert.equal(
        text.replace(/^# .*\n/gm, ""),
        "bad5 1\nforged_exemplar_total 1\nkept 1\n",
      );
      const om = await generateMetrics(registry, { format: "openmetrics" });
      assert.ok(!om.includes("evil"), om);
      assert.match(om, /^kept 1$/m);
      // bad5 is fine; forged_exemplar fails in OpenMetrics only; each is logged once.
      assert.equal(messages.length, bad.length, messages.join("\n"));
    } finally {
      setLogger(previous);
    }
  });

  test("A backend whose get() answers something else than a number leaves its metric out", async () => {
    class Lying implements Backend {
      inc(): void {}
      dec(): void {}
      set(): void {}
      get(): number {
        return untyped("5\nevil 1");
      }
    }
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    await loadBackend({ backendClass: Lying });
    try {
      const registry = new CollectorRegistry();
      // Its first series binds it to the backend in force.
      new Gauge({ name: "lies", description: "L.", registry }).set(1);
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
      new Gauge({ name: "truth", description: "T.", registry }).set(1);
      assert.equal(
        await generateMetrics(registry),
        "# HELP truth T.\n# TYPE truth gauge\ntruth 1\n",
      );
      const leftOut = messages.filter((message) => message.includes("left out"));
      assert.equal(leftOut.length, 1);
      assert.match(leftOut[0]!, /metric "lies" of collector "lies" left out/);
    } finally {
      setLogger(previous);
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });

  test("A CustomCollector yielding something else than metrics is left out; a recovered one is logged again when it fails again", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      let broken = true;
      class Flaky extends CustomCollector {
        collect(): MetricCollector[] {
          const g = new Gauge({ name: "flaky", description: "F.", registry: null });
          g.set(1);
          return broken ? untyped([g, null]) : [g];
        }
      }
      const registry = new CollectorRegistry();
      registry.register(new Flaky());
      assert.match(await generateMetrics(registry), /^flaky 1$/m);
      assert.match(await generateMetrics(registry), /^flaky 1$/m);
      assert.equal(messages.length, 1);
      assert.match(messages[0]!, /metric null of collector "flaky" left out/);
      broken = false;
      await generateMetrics(registry);
      broken = true;
      await generateMetrics(registry);
      assert.equal(messages.length, 2);
    } finally {
      setLogger(previous);
    }
  });

  test("A collector that throws fails the scrape at once; another's later rejected read is handled, not left to kill the process", async () => {
    const registry = new CollectorRegistry();
    let slowFailed = false;
    registry.register({
      ...given("a", []),
      collect: () =>
        new Promise((_, reject) =>
          setTimeout(() => {
            slowFailed = true;
            reject(new Error("x"));
          }, 20)
        ),
    } as MetricCollector);
    registry.register({
      ...given("b", []),
      collect: () => {
        throw new Error("y");
      },
    } as MetricCollector);
    // The first read to fail fails the scrape: it waits for no other.
    await assert.rejects(generateMetrics(registry), { message: "y" });
    assert.equal(slowFailed, false);
    // An unhandled rejection would fail this test run on both runtimes: give it a turn to surface.
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(slowFailed, true);
  });

  test("A backend reading a bigint, a string or a malformed labelled list leaves its metric out, not the scrape", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    const backend = (get: () => unknown) =>
      class implements Backend {
        inc(): void {}
        dec(): void {}
        set(): void {}
        get(): number {
          return untyped(get());
        }
      };
    // A store whose read gives `value` for every number of the metrics it reads.
    const reading = (value: unknown): Store => ({
      cell: () => new SingleProcessBackend(),
      read: (metrics) =>
        new Map(
          metrics.map((
            m,
          ) => [m.metric, untyped(value === "no map" ? value : new Map([["{}", value]]))]),
        ),
    });
    const registry = new CollectorRegistry();
    try {
      const cases: [string, LoadBackendOptions, "gauge" | "histogram"][] = [
        ["bigint", { backendClass: backend(() => 1n) }, "gauge"],
        ["text", { backendClass: backend(() => "1") }, "gauge"],
        ["empty", { backendClass: backend(() => "") }, "gauge"],
        ["record", { store: reading({}) }, "gauge"],
        ["holes", { store: reading([null]) }, "gauge"],
        ["no_map", { store: reading("no map") }, "gauge"],
        ["buckets", { backendClass: backend(() => 1n) }, "histogram"],
      ];
      for (const [name, options, type] of cases) {
        await loadBackend(options);
        // Each metric's first series binds it to the backend in force.
        if (type === "gauge") new Gauge({ name, description: "B.", registry }).set(1);
        else new Histogram({ name, description: "B.", buckets: [1], registry }).observe(1);
      }
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
      new Gauge({ name: "fine", description: "F.", registry }).set(1);
      const response = await makeHandler({ registry })(new Request("http://localhost/metrics"));
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "# HELP fine F.\n# TYPE fine gauge\nfine 1\n");
      const leftOut = messages.filter((message) => message.includes("left out"));
      assert.equal(leftOut.length, cases.length, messages.join("\n"));
    } finally {
      setLogger(previous);
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });

  test("A collector whose unit is not a unit is refused, or left out when a custom collector yields it: no line is injected after # UNIT", async () => {
    for (const unit of ["seconds\n# EOF\nforged 1", 5, {}]) {
      const metric = { ...given("g_seconds", [{ suffix: "", labels: {}, value: 1 }]), unit };
      assert.throws(() => new CollectorRegistry().register(metric as never), NameValidationError);
      const registry = new CollectorRegistry();
      registry.register(
        new (class Yields extends CustomCollector {
          collect(): MetricCollector[] {
            return [metric as never];
          }
        })(),
      );
      const { logger, messages } = capturingLogger();
      const previous = setLogger(logger);
      try {
        assert.equal(await generateMetrics(registry, { format: "openmetrics" }), "# EOF\n");
        assert.match(messages.join("\n"), /metric "g_seconds" of collector "yields" left out/);
      } finally {
        setLogger(previous);
      }
    }
  });

  test("A hand-made collector's read() and write() are never called: its samples come from collect(), checked", async () => {
    const registry = new CollectorRegistry();
    const forge = (sink: { add(...args: unknown[]): void }) =>
      sink.add({ labelText: '{a="1"} 1\nforged_total{job="x"} 999\nm' }, "", 1);
    registry.register({
      ...given("m", []),
      read: () => forge,
      write(_value: unknown, sink: { add(...args: unknown[]): void }) {
        forge(sink);
      },
    } as MetricCollector);
    assert.equal(await generateMetrics(registry), "# HELP m Given.\n# TYPE m gauge\n");
  });

  test("An async CustomCollector.collect() works; one that rejects fails the scrape and is not left unhandled", async () => {
    let fail = false;
    class Db extends CustomCollector {
      override async collect(): Promise<Gauge[]> {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (fail) throw new Error("db down");
        const rows = new Gauge({ name: "db_rows", description: "R.", registry: null });
        rows.set(3);
        return [rows];
      }
    }
    const registry = new CollectorRegistry();
    registry.register(new Db());
    assert.match(await generateMetrics(registry), /^db_rows 3$/m);
    fail = true;
    await assert.rejects(generateMetrics(registry), { message: "db down" });
    // An unhandled rejection would fail this test run on both runtimes: give it a turn to surface.
    await new Promise((resolve) => setTimeout(resolve, 10));
  });

  test("Hand-made histogram, summary, info and state-set samples that the formats cannot carry are left out", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      const bad: [MetricCollector["type"], unknown][] = [
        ["histogram", [{ suffix: "_bucket", labels: { le: "abc" }, value: 1 }]],
        ["histogram", [{ suffix: "_bucket", labels: { le: " 1" }, value: 1 }]],
        ["histogram", [{ suffix: "_bucket", labels: {}, value: 1 }]],
        ["summary", [{ suffix: "", labels: { quantile: "abc" }, value: 1 }]],
        ["summary", [{ suffix: "", labels: { quantile: "1.5" }, value: 1 }]],
      ];
      bad.forEach(([type, samples], i) => registry.register(given(`text${i}`, samples, type)));
      const openMetricsOnly: [MetricCollector["type"], unknown][] = [
        ["counter", [{ suffix: "", labels: {}, value: -1 }]],
        ["counter", [{ suffix: "", labels: {}, value: NaN }]],
        ["histogram", [{ suffix: "_bucket", labels: { le: "+Inf" }, value: 0.5 }]],
        ["info", [{ suffix: "_info", labels: {}, value: 2 }]],
        ["stateset", [{ suffix: "", labels: { om3: "a" }, value: 5 }]],
        ["gauge", [{
          suffix: "",
          labels: {},
          value: 1,
          exemplar: { labels: { a: "b" }, labelText: '{a="b"}', value: 1, timestamp: 1 },
        }]],
        ["counter", [{
          suffix: "",
          labels: {},
          value: 1,
          exemplar: { labels: { a: "x".repeat(200) }, labelText: "{}", value: 1, timestamp: 1 },
        }]],
        ["counter", [{
          suffix: "",
          labels: {},
          value: 1,
          exemplar: { labels: {}, labelText: "{}", value: 1, timestamp: NaN },
        }]],
      ];
      openMetricsOnly.forEach(([type, samples], i) =>
        registry.register(given(`om${i}`, samples, type))
      );
      new Gauge({ name: "kept", description: "K.", registry }).set(1);
      const text = await generateMetrics(registry);
      assert.ok(!/^text\d/m.test(text), text);
      assert.match(text, /^kept 1$/m);
      const om = await generateMetrics(registry, { format: "openmetrics" });
      assert.equal(om.replace(/^# .*\n/gm, ""), "kept 1\n");
      assert.equal(messages.length, bad.length + openMetricsOnly.length, messages.join("\n"));
      const checked = await promtoolCheck(text);
      assert.ok(checked.ok, checked.output);
      const parsed = await pythonParse(om, true);
      assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
    } finally {
      setLogger(previous);
    }
  });

  test("A family failing in OpenMetrics only is logged once while text and OpenMetrics scrapes alternate", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      registry.register(given("minus", [{ suffix: "", labels: {}, value: -1 }], "counter"));
      for (let i = 0; i < 5; i++) {
        assert.match(await generateMetrics(registry), /^minus_total -1$/m);
        await generateMetrics(registry, { format: "openmetrics" });
      }
      assert.equal(messages.length, 1, messages.join("\n"));
    } finally {
      setLogger(previous);
    }
  });

  test("register() refuses a hand-made collector with an invalid name, type or help", () => {
    const registry = new CollectorRegistry();
    assert.throws(() => registry.register(given("bad name", [])), NameValidationError);
    assert.throws(
      () => registry.register({ ...given("x", []), type: untyped("evil\n") }),
      InvalidOptionError,
    );
    assert.throws(
      () => registry.register({ ...given("x", []), description: untyped(undefined) }),
      InvalidOptionError,
    );
    assert.throws(() => registry.register(untyped(null)), InvalidOptionError);
    assert.throws(
      () => registry.register(untyped({ name: "x", description: "X.", type: "gauge" })),
      { name: "InvalidOptionError", message: 'Collector "x" has no collect() function' },
    );
  });
});

describe("Exemplars never cost the observation", () => {
  test("registry.reset() zeroes the drop counters but does not warn again", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      const c = new Counter({ name: "r_total", description: "R.", registry });
      c.inc(1, untyped({ trace_id: 1 }));
      registry.reset();
      c.inc(1, untyped({ trace_id: 1 }));
      assert.equal(messages.length, 1);
      assert.match(
        await generateMetrics(registry),
        /^pytheus_exemplars_dropped_total\{metric="r_total"\} 1$/m,
      );
    } finally {
      setLogger(previous);
    }
  });

  test("A missing, non-string, long or badly named exemplar is dropped and counted; the value is recorded", async () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      const h = new Histogram({ name: "req_seconds", description: "R.", buckets: [1], registry });
      const c = new Counter({ name: "req_total", description: "R.", registry });
      const header: string | null = null;
      h.observe(0.1, untyped({ trace_id: header }));
      h.observe(0.2, { trace_id: "x".repeat(200) });
      h.observe(0.3, { "trace-id": "abc" });
      h.observe(0.4, { trace_id: "\udc00" });
      h.observe(0.5, untyped("abc"));
      c.inc(1, untyped({ trace_id: 42 }));
      c.inc(1, null);
      const text = await generateMetrics(registry, { format: "openmetrics", created: false });
      assert.match(text, /^req_seconds_count 5$/m);
      assert.match(text, /^req_seconds_sum 1\.5$/m);
      assert.match(text, /^req_total 2$/m);
      assert.ok(!text.includes(" # {"), text);
      assert.match(text, /^pytheus_exemplars_dropped_total\{metric="req_seconds"\} 5$/m);
      assert.match(text, /^pytheus_exemplars_dropped_total\{metric="req_total"\} 1$/m);
      assert.deepEqual(messages, [
        'Exemplar dropped on "req_seconds" (its value was recorded): label "trace_id" must be a string, got null; counted in pytheus_exemplars_dropped_total, warned about once',
        'Exemplar dropped on "req_total" (its value was recorded): label "trace_id" must be a string, got number 42; counted in pytheus_exemplars_dropped_total, warned about once',
      ]);
    } finally {
      setLogger(previous);
    }
  });
});

describe("Names that every format can write", () => {
  test("In a prefixed registry, a counter named total is the family app_total, and a gauge named created keeps its place", async () => {
    const registry = new CollectorRegistry({ prefix: "app" });
    new Counter({ name: "total", description: "T.", registry }).inc();
    new Gauge({ name: "created", description: "C.", registry }).set(7);
    assert.equal(
      await generateMetrics(registry),
      "# HELP app_total_total T.\n# TYPE app_total_total counter\napp_total_total 1\n" +
        "# HELP app_created C.\n# TYPE app_created gauge\napp_created 7\n",
    );
    const om = await generateMetrics(registry, { format: "openmetrics", created: false });
    assert.equal(
      om,
      "# TYPE app_total counter\n# HELP app_total T.\napp_total_total 1\n" +
        "# TYPE app_created gauge\n# HELP app_created C.\napp_created 7\n# EOF\n",
    );
  });

  test("A CustomCollector's counter x keeps a gauge x_total out at register()", () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      class Jobs extends CustomCollector {
        collect(): Counter[] {
          return [new Counter({ name: "x", description: "X.", registry: null })];
        }
      }
      const registry = new CollectorRegistry();
      assert.equal(registry.register(new Jobs()), true);
      const gauge = new Gauge({ name: "x_total", description: "X.", registry: null });
      assert.equal(registry.register(gauge), false);
      assert.deepEqual(messages, [
        'Collector "x_total" not registered: the name "x_total" is already registered',
      ]);
    } finally {
      setLogger(previous);
    }
  });

  test("A counter named _total is refused: it names no family", () => {
    assert.throws(() => new Counter({ name: "_total", description: "x", registry: null }), {
      name: "NameValidationError",
      message: 'Invalid counter name "_total": without its "_total" suffix it names no family',
    });
  });

  test("A counter named jobs is the series jobs_total in every format", async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "jobs", description: "Jobs.", registry }).inc();
    assert.equal(
      await generateMetrics(registry),
      "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 1\n",
    );
    assert.equal(
      await generateMetrics(registry, { format: "openmetrics", created: false }),
      "# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total 1\n# EOF\n",
    );
  });

  test("A gauge named like a counter's sample clashes with it at register()", () => {
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      new Counter({ name: "jobs", description: "J.", registry });
      const g = new Gauge({ name: "jobs_total", description: "J.", registry });
      assert.equal(registry.register(g), false);
      assert.equal(messages.length, 2);
      assert.match(messages[0]!, /Collector "jobs_total" not registered: the name "jobs_total"/);
    } finally {
      setLogger(previous);
    }
  });
});

const pythonMissing = await needsPythonParser();
const promtoolMissing = needsPromtool();

describe("OpenMetrics histograms and summaries with negative observations", {
  skip: pythonMissing || promtoolMissing,
}, () => {
  test("Every exposition of negative, infinite and mixed observations passes promtool and both Python parsers", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "delta",
      description: "D.",
      requiredLabels: ["case"],
      buckets: [0, 1],
      registry,
    });
    const negative = new Histogram({
      name: "below",
      description: "B.",
      requiredLabels: ["case"],
      buckets: [-1, 1],
      registry,
    });
    const s = new Summary({
      name: "spread",
      description: "S.",
      requiredLabels: ["case"],
      quantiles: [0.5, 0.9],
      registry,
    });
    for (const m of [h, negative, s]) {
      m.labels({ case: "minus5" }).observe(-5);
      m.labels({ case: "minus_inf" }).observe(-Infinity);
      m.labels({ case: "inf_then_minus_inf" }).observe(Infinity);
      m.labels({ case: "inf_then_minus_inf" }).observe(-Infinity);
      m.labels({ case: "positive" }).observe(2);
      m.labels({ case: "mixed" }).observe(3);
      m.labels({ case: "mixed" }).observe(-1);
    }
    const text = await generateMetrics(registry);
    const om = await generateMetrics(registry, { format: "openmetrics" });
    const checked = await promtoolCheck(text);
    assert.ok(checked.ok, checked.output);
    const parsed = await pythonParse(text);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
    const openMetrics = await pythonParse(om, true);
    assert.ok(openMetrics.ok, `${openMetrics.ok ? "" : openMetrics.error}\n${om}`);
    // The text format keeps every sum; OpenMetrics keeps those that are counters.
    assert.match(text, /^delta_sum\{case="minus5"\} -5$/m);
    assert.match(om, /^delta_sum\{case="positive"\} 2$/m);
    assert.match(om, /^delta_count\{case="positive"\} 1$/m);
    assert.match(om, /^delta_sum\{case="mixed"\} 2$/m);
    assert.ok(!/^delta_(sum|count)\{case="(minus5|minus_inf|inf_then_minus_inf)"\}/m.test(om), om);
    assert.ok(!/^below_(sum|count)\{/m.test(om), om);
    assert.match(om, /^below_bucket\{case="minus5",le="-1\.0"\} 1$/m);
    assert.match(om, /^spread_created\{case="minus5"\} /m);
    assert.ok(!/^spread\{[^}]*\} -/m.test(om), om);
  });
});

describe("Enums in a prefixed registry", { skip: pythonMissing || promtoolMissing }, () => {
  test("An enum's states are labelled with its prefixed name, in both formats, which the parsers accept", async () => {
    const registry = new CollectorRegistry({ prefix: "shop" });
    new Enum({ name: "status", description: "S.", states: ["up", "down"], registry }).state("down");
    const text = await generateMetrics(registry);
    const om = await generateMetrics(registry, { format: "openmetrics" });
    assert.equal(
      text,
      '# HELP shop_status S.\n# TYPE shop_status gauge\nshop_status{shop_status="up"} 0\nshop_status{shop_status="down"} 1\n',
    );
    assert.match(om, /^shop_status\{shop_status="down"\} 1$/m);
    assert.ok((await promtoolCheck(text)).ok);
    const parsed = await pythonParse(om, true);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  });

  test("An enum cannot join a registry whose prefix holds a colon: its states could not be labelled", () => {
    const registry = new CollectorRegistry({ prefix: "a:b" });
    assert.throws(
      () => new Enum({ name: "st", description: "S.", states: ["x"], registry }),
      NameValidationError,
    );
  });
});

describe("Label values, help text, exemplars and info values of whole characters", () => {
  test("labels() refuses a lone surrogate with LabelValidationError; distinct pairs stay distinct", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({ name: "g", description: "G.", requiredLabels: ["a"], registry });
    for (const value of [JSON.parse('"\\ud800"'), "\udfff", "x\ud83d", "\ud83dx"]) {
      assert.throws(() => g.labels({ a: value }), LabelValidationError);
    }
    const full = new Gauge({
      name: "f",
      description: "F.",
      requiredLabels: ["a"],
      maxSeries: 1,
      registry: null,
    });
    full.labels({ a: "x" }).set(1);
    // Past maxSeries too: a refused label set is checked as a new one is.
    assert.throws(() => full.labels({ a: "\udc00" }), LabelValidationError);
    const partial = new Gauge({
      name: "p",
      description: "P.",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    assert.throws(() => partial.labels({ a: "ok\ud800" }), LabelValidationError);
    g.labels({ a: "😀" }).set(1);
    g.labels({ a: "😁" }).set(2);
    assert.equal(
      await generateMetrics(registry),
      '# HELP g G.\n# TYPE g gauge\ng{a="😀"} 1\ng{a="😁"} 2\n',
    );
  });

  test("Help text, default labels, info values and enum states refuse lone surrogates", () => {
    assert.throws(
      () => new Gauge({ name: "g", description: "\ud800", registry: null }),
      InvalidOptionError,
    );
    assert.throws(
      () =>
        new Gauge({
          name: "g",
          description: "G.",
          requiredLabels: ["a"],
          defaultLabels: { a: "\ud800" },
          registry: null,
        }),
      LabelValidationError,
    );
    const info = new Info({ name: "build", description: "B.", registry: null });
    assert.throws(() => info.set({ version: "1.\ud800" }), LabelValidationError);
    assert.throws(
      () => new Enum({ name: "e", description: "E.", states: ["a", "\udc00"], registry: null }),
      LabelValidationError,
    );
  });
});

describe("Mistakes get the error a newcomer needs", () => {
  test("labels() given a string says it takes a record of label values", () => {
    const c = new Counter({
      name: "c_total",
      description: "C.",
      requiredLabels: ["method"],
      registry: null,
    });
    for (let i = 0; i < 20; i++) c.labels({ method: "GET" });
    for (const values of ["GET", null, undefined, 5, ["GET"]]) {
      assert.throws(() => c.labels(untyped(values)), LabelValidationError);
    }
    assert.throws(() => c.labels(untyped("GET")), {
      message:
        'labels() of "c_total" takes a record of label values by name (method), got string "GET"',
    });
  });

  test("A partial child's labels() refuses what is not a record as its metric does, null and numbers included", async () => {
    const c = new Counter({
      name: "c_total",
      description: "C.",
      requiredLabels: ["method", "code"],
      registry: null,
    });
    const partial = c.labels({ method: "GET" });
    for (const values of ["200", null, undefined, 5, NaN, ["200"]]) {
      assert.throws(() => partial.labels(untyped(values)), LabelValidationError);
    }
    assert.throws(() => partial.labels(untyped(null)), {
      message:
        'labels() of "c_total" takes a record of label values by name (method, code), got null',
    });
    partial.labels({ code: "200" }).inc();
    const [sample] = await c.labels({ method: "GET", code: "200" }).collect();
    assert.equal(sample!.value, 1);
  });

  test("A missing description, and prom-client's option names, throw InvalidOptionError naming the option to use", async () => {
    assert.throws(() => new Counter(untyped({ name: "c_total" })), {
      name: "InvalidOptionError",
      message: 'Metric "c_total" needs a description (its help text), a string: got undefined',
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ help: "x" }, 'Counter "c_total" has no option "help": use "description"'],
      [
        { description: "x", labelNames: ["a"] },
        'Counter "c_total" has no option "labelNames": use "requiredLabels"',
      ],
      [
        { description: "x", registers: [] },
        'Counter "c_total" has no option "registers": use "registry"',
      ],
      [
        { description: "x", requiredLabel: ["a"] },
        'Counter "c_total" has no option "requiredLabel": it takes name, description, requiredLabels, defaultLabels, registry, unit, maxSeries, idleSeconds',
      ],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => new Counter(untyped({ name: "c_total", ...options })), {
        name: "InvalidOptionError",
        message,
      });
    }
    assert.throws(() => new Summary(untyped({ name: "s", description: "x", percentiles: [0.5] })), {
      message: 'Summary "s" has no option "percentiles": use "quantiles"',
    });
    assert.throws(() => new Gauge(untyped(undefined)), InvalidOptionError);
    assert.throws(
      () => new Gauge(untyped({ name: "g", description: "G.", registry: 5 })),
      InvalidOptionError,
    );
    await assert.rejects(generateMetrics(untyped(5)), InvalidOptionError);
    assert.throws(() => new Histogram(untyped("h")), InvalidOptionError);
  });

  test("Histogram with buckets: [] (or only +Inf) is refused with BucketError", () => {
    for (const buckets of [[], [Infinity]]) {
      assert.throws(
        () => new Histogram({ name: "h", description: "x", buckets, registry: null }),
        BucketError,
      );
    }
  });
});

describe("A gauge set to -0 reads -0 back from Redis", { skip: needs("redis-server") }, () => {
  withRedisBackend("trust");

  test("MultiProcessRedisBackend keeps -0, and refuses a string before it is sent", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({ name: "minus_zero", description: "M.", registry });
    g.set(-0);
    assert.throws(() => g.set(untyped("5")), InvalidValueError);
    await MultiProcessRedisBackend.flush();
    assert.match(await generateMetrics(registry), /^minus_zero -0$/m);
  });
});
