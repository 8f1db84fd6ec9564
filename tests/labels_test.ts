import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  Gauge,
  generateMetrics,
  Histogram,
  LabelValidationError,
  NameValidationError,
  PytheusError,
  UnobservableMetricError,
} from "../mod.ts";
import type { CounterChild } from "../types.ts";
import { compileLookup } from "../src/metrics/_fast_lookup.ts";
import { untyped } from "./_untyped.ts";

/** Asserts `fn` throws `type` with a message containing every one of `parts`. */
function throwsNaming(
  fn: () => unknown,
  type: new (...args: never[]) => Error,
  ...parts: string[]
): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.ok(err instanceof PytheusError);
    assert.equal(err.name, type.name);
    for (const part of parts) assert.ok(err.message.includes(part), `${err.message} ∌ ${part}`);
    return true;
  });
}

describe("metric and label names", () => {
  test("Counter accepts valid metric names", () => {
    for (const name of ["a", "_a", ":a", "a:b_c", "http_requests_total", "A9:_z"]) {
      assert.equal(new Counter({ name, description: "x", registry: null }).name, name);
    }
  });

  test("Counter rejects invalid metric names with NameValidationError quoting the name", () => {
    for (const name of ["", "1a", "a-b", "a b", "métrique", "a.b", "a{b}"]) {
      throwsNaming(
        () => new Counter({ name, description: "x", registry: null }),
        NameValidationError,
        JSON.stringify(name),
      );
    }
    throwsNaming(
      () => new Gauge({ name: 42 as unknown as string, description: "x", registry: null }),
      NameValidationError,
      "42",
    );
    throwsNaming(
      () => new Histogram({ name: "bad-name", description: "x", registry: null }),
      NameValidationError,
      '"bad-name"',
    );
  });

  test("Counter accepts valid label names", () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "_b", "C9", "snake_case"],
      registry: null,
    });
    assert.deepEqual([...c.requiredLabels], ["a", "_b", "C9", "snake_case"]);
  });

  test("Counter rejects invalid label names with LabelValidationError naming metric and label", () => {
    for (const label of ["", "1a", "a-b", "a:b", "a b", "ä"]) {
      throwsNaming(
        () => new Counter({ name: "m", description: "x", requiredLabels: [label], registry: null }),
        LabelValidationError,
        '"m"',
        JSON.stringify(label),
      );
    }
    throwsNaming(
      () =>
        new Counter({
          name: "m",
          description: "x",
          requiredLabels: [7 as unknown as string],
          registry: null,
        }),
      LabelValidationError,
      '"m"',
      "7",
    );
  });

  test("Gauge rejects label names starting with __", () => {
    throwsNaming(
      () => new Gauge({ name: "m", description: "x", requiredLabels: ["__x"], registry: null }),
      LabelValidationError,
      '"m"',
      '"__x"',
    );
    throwsNaming(
      () => new Gauge({ name: "m", description: "x", requiredLabels: ["__"], registry: null }),
      LabelValidationError,
      '"__"',
    );
    // One leading underscore is fine.
    new Gauge({ name: "m", description: "x", requiredLabels: ["_x"], registry: null });
  });

  test("Histogram rejects le; Counter and Gauge accept it", () => {
    throwsNaming(
      () => new Histogram({ name: "m", description: "x", requiredLabels: ["le"], registry: null }),
      LabelValidationError,
      '"m"',
      '"le"',
    );
    new Counter({ name: "m", description: "x", requiredLabels: ["le"], registry: null });
    new Gauge({ name: "m", description: "x", requiredLabels: ["le"], registry: null });
  });

  test("Counter rejects a label name required twice", () => {
    throwsNaming(
      () =>
        new Counter({
          name: "m",
          description: "x",
          requiredLabels: ["a", "b", "a"],
          registry: null,
        }),
      LabelValidationError,
      '"m"',
      '"a"',
    );
  });
});

describe("default labels", () => {
  test("Counter rejects defaultLabels that are not required labels", () => {
    throwsNaming(
      () =>
        new Counter({
          name: "m",
          description: "x",
          requiredLabels: ["a"],
          defaultLabels: untyped({ b: "1" }),
          registry: null,
        }),
      LabelValidationError,
      '"m"',
      '"b"',
    );
    throwsNaming(
      () =>
        new Counter({
          name: "m",
          description: "x",
          defaultLabels: untyped({ a: "1" }),
          registry: null,
        }),
      LabelValidationError,
      '"a"',
    );
  });

  test("Counter rejects non-string default label values", () => {
    throwsNaming(
      () =>
        new Counter({
          name: "m",
          description: "x",
          requiredLabels: ["a"],
          defaultLabels: untyped({ a: 1 }),
          registry: null,
        }),
      LabelValidationError,
      '"m"',
      '"a"',
      "number 1",
    );
  });

  test("Metric.labels() fills missing labels from defaultLabels, and a child can override them", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "requests_total",
      description: "Requests.",
      requiredLabels: ["method", "code"],
      defaultLabels: { method: "GET" },
      registry,
    });
    c.labels({ code: "200" }).inc();
    c.labels({ code: "200", method: "POST" }).inc(2);
    assert.deepEqual({ ...c.labels({ code: "404" }).labelValues }, { method: "GET", code: "404" });
    assert.equal(
      await generateMetrics(registry),
      "# HELP requests_total Requests.\n# TYPE requests_total counter\n" +
        'requests_total{method="GET",code="200"} 1\n' +
        'requests_total{method="GET",code="404"} 0\n' +
        'requests_total{method="POST",code="200"} 2\n',
    );
  });

  test("A metric whose required labels all have defaults is observable directly", async () => {
    const registry = new CollectorRegistry();
    const g = new Gauge({
      name: "temp",
      description: "Temperature.",
      requiredLabels: ["room", "unit"],
      defaultLabels: { room: "lab", unit: "celsius" },
      registry,
    });
    g.set(20);
    g.inc();
    assert.equal(g.labels({}), g.labels({ room: "lab", unit: "celsius" }));
    g.labels({ unit: "celsius" }).inc();
    g.labels({ room: "hall" }).set(5);
    assert.equal(
      await generateMetrics(registry),
      "# HELP temp Temperature.\n# TYPE temp gauge\n" +
        'temp{room="lab",unit="celsius"} 22\n' +
        'temp{room="hall",unit="celsius"} 5\n',
    );
  });

  test("A histogram whose labels all have defaults observes directly with them", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "h",
      description: "H.",
      buckets: [1],
      requiredLabels: ["a"],
      defaultLabels: { a: "d" },
      registry,
    });
    h.observe(0.5);
    assert.equal(
      await generateMetrics(registry),
      '# HELP h H.\n# TYPE h histogram\nh_bucket{a="d",le="1"} 1\nh_bucket{a="d",le="+Inf"} 1\n' +
        'h_sum{a="d"} 0.5\nh_count{a="d"} 1\n',
    );
  });
});

describe("Metric.labels()", () => {
  test("Metric.labels() with every label returns an observable child", async () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    const child = c.labels({ a: "1", b: "2" });
    child.inc(3);
    assert.deepEqual({ ...child.labelValues }, { a: "1", b: "2" });
    assert.equal(child.labelText, '{a="1",b="2"}');
    assert.equal(child.name, "m");
    assert.equal(child.type, "counter");
    assert.deepEqual((await c.collect()).map((s) => s.value), [3]);
  });

  test("Metric.labels() returns the same child for the same label values, whatever the key order", () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b", "c"],
      registry: null,
    });
    const child = c.labels({ a: "1", b: "2", c: "3" });
    assert.equal(c.labels({ c: "3", b: "2", a: "1" }), child);
    assert.equal(c.labels({ b: "2", a: "1", c: "3" }), child);
    assert.notEqual(c.labels({ a: "1", b: "2", c: "4" }), child);
  });

  test("Metric.labels() returns the same child whether a default is given explicitly or not", () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      defaultLabels: { a: "d" },
      registry: null,
    });
    const child = c.labels({ b: "2" });
    assert.equal(c.labels({ a: "d", b: "2" }), child);
    assert.equal(c.labels({ b: "2", a: "d" }), child);
    assert.equal(c.labels({ a: "d" }).labels({ b: "2" }), child);
  });

  test("Metric.labels() chains partial children into the cached complete child", async () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b", "c"],
      registry: null,
    });
    const partial = c.labels({ a: "1" });
    assert.deepEqual({ ...partial.labelValues }, { a: "1" });
    const fuller = partial.labels({ c: "3" });
    assert.deepEqual({ ...fuller.labelValues }, { a: "1", c: "3" });
    const complete = fuller.labels({ b: "2" });
    assert.equal(complete, c.labels({ a: "1", b: "2", c: "3" }));
    complete.inc();
    // The partial children are neither observable nor exposed.
    assert.deepEqual(
      (await c.collect()).map((s) => [{ ...s.labels }, s.value]),
      [[{ a: "1", b: "2", c: "3" }, 1]],
    );
  });

  test("MetricChild.labels() can override a value already set", () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    const partial = c.labels({ a: "1" });
    assert.equal(partial.labels({ a: "9", b: "2" }), c.labels({ a: "9", b: "2" }));
    const complete = c.labels({ a: "1", b: "2" });
    assert.equal(complete.labels({}), complete);
    assert.equal(complete.labels({ b: "3" }), c.labels({ a: "1", b: "3" }));
  });

  test("Observing an incomplete child throws UnobservableMetricError naming the missing label", () => {
    const c = new Counter({
      name: "jobs_total",
      description: "x",
      requiredLabels: ["queue", "kind"],
      registry: null,
    });
    const partial = c.labels({ queue: "mail" });
    assert.throws(() => partial.inc(), (err: unknown) => {
      assert.ok(err instanceof UnobservableMetricError);
      assert.ok(err instanceof PytheusError);
      assert.equal(err.message, 'Cannot observe "jobs_total": label "kind" has no value');
      return true;
    });
    assert.throws(() => c.inc(), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "jobs_total": labels "queue", "kind" have no value',
    });
    const g = new Gauge({
      name: "g",
      description: "x",
      requiredLabels: ["a", "b"],
      defaultLabels: { a: "d" },
      registry: null,
    });
    assert.throws(() => g.set(1), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "g": label "b" has no value',
    });
  });

  test("Metric.labels() rejects unknown label names with LabelValidationError", () => {
    const c = new Counter({
      name: "http_total",
      description: "x",
      requiredLabels: ["method", "code"],
      registry: null,
    });
    throwsNaming(
      () => c.labels(untyped({ methd: "GET", code: "200" })),
      LabelValidationError,
      '"http_total"',
      '"methd"',
    );
    throwsNaming(() => c.labels(untyped({ nope: "x" })), LabelValidationError, '"nope"');
    throwsNaming(
      () => c.labels({ method: "GET" }).labels(untyped({ extra: "1" })),
      LabelValidationError,
      '"extra"',
    );
    const plain = new Counter({ name: "plain", description: "x", registry: null });
    throwsNaming(() => plain.labels(untyped({ a: "1" })), LabelValidationError, '"plain"', '"a"');
  });

  test("Metric.labels() rejects non-string label values, naming metric, label and value", () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["code"],
      registry: null,
    });
    throwsNaming(
      () => c.labels(untyped({ code: 200 })),
      LabelValidationError,
      '"m"',
      '"code"',
      "200",
    );
    throwsNaming(() => c.labels(untyped({ code: null })), LabelValidationError, "null");
    throwsNaming(() => c.labels(untyped({ code: true })), LabelValidationError, "true");
    throwsNaming(() => c.labels(untyped({ code: {} })), LabelValidationError, "object");
  });

  test("Metric.labels() treats an undefined value as missing and the empty string as a value", async () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a"],
      registry: null,
    });
    assert.throws(() => c.labels(untyped({ a: undefined })).inc(), UnobservableMetricError);
    c.labels({ a: "" }).inc();
    assert.deepEqual((await c.collect()).map((s) => s.labelText ?? ""), ['{a=""}']);
  });

  test("Metric.labels() never lets two label sets share a child (no key collisions)", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry,
    });
    const pairs: [string, string][] = [
      ["x|", ""],
      ["x", "|"],
      ["x", ""],
      ["", "x"],
      ["x,b=y", ""],
      ["x", "b=y"],
      ["x\u0000", ""],
      ["x", "\u0000"],
      ['x"', ""],
      ["x", '"'],
    ];
    const children = pairs.map(([a, b]) => c.labels({ a, b }));
    assert.equal(new Set(children).size, pairs.length);
    children.forEach((child, i) => child.inc(i + 1));
    // Samples come grouped by the first label's value: compare them in one order.
    const byLabels = (x: unknown[], y: unknown[]) => JSON.stringify(x) < JSON.stringify(y) ? -1 : 1;
    const values = (await c.collect()).map((s) => [s.labels.a, s.labels.b, s.value]);
    assert.deepEqual(values.sort(byLabels), pairs.map(([a, b], i) => [a, b, i + 1]).sort(byLabels));
    const text = await generateMetrics(registry);
    assert.ok(text.includes('m_total{a="x|",b=""} 1\n'));
    assert.ok(text.includes('m_total{a="x",b="|"} 2\n'));
  });

  test("Metric.labels() finds each of 200k label sets again, and no other", () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    const n = 200_000;
    const made = Array.from({ length: n }, (_, i) => c.labels({ a: String(i), b: String(i % 7) }));
    assert.equal(new Set(made).size, n);
    for (let i = 0; i < n; i += 997) {
      assert.equal(c.labels({ a: String(i), b: String(i % 7) }), made[i]);
      assert.equal(c.remove({ a: String(i), b: String((i + 1) % 7) }), false);
    }
  });

  test("A label with thousands of values finds, removes and exposes each series (a wide level on Bun)", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "m", description: "x", requiredLabels: ["a", "b"], registry });
    const tricky = ["__proto__", "constructor", "", "0", "00", "4294967295", "1e3", "-1", "é😀"];
    const values = [
      ...Array.from({ length: 3000 }, (_, i) => i % 2 ? `r${i}` : String(10_000 + i)),
      ...tricky,
    ];
    // Two children under some values: their level splits below the wide one.
    const sets = values.flatMap((a, i) => i % 5 ? [{ a, b: "x" }] : [{ a, b: "x" }, { a, b: "y" }]);
    const children = sets.map((set) => c.labels(set));
    children.forEach((child, i) => child.inc(i + 1));
    assert.equal(new Set(children).size, sets.length);
    sets.forEach((set, i) => assert.equal(c.labels(set), children[i], JSON.stringify(set)));
    for (const a of tricky) assert.equal(c.remove({ a, b: "x" }), true, a);
    assert.equal(c.remove({ a: "__proto__", b: "x" }), false);
    assert.equal(c.remove({ a: "toString", b: "x" }), false);
    const kept = sets.filter((set) => !(tricky.includes(set.a) && set.b === "x"));
    const collected = (await c.collect()).map((s) => `${s.labels.a}|${s.labels.b}|${s.value}`);
    const expected = sets.flatMap((set, i) =>
      kept.includes(set) ? [`${set.a}|${set.b}|${i + 1}`] : []
    );
    assert.deepEqual(collected.sort(), expected.sort());
    c.labels({ a: "__proto__", b: "x" }).inc(0.5);
    const text = await generateMetrics(registry);
    assert.ok(text.includes('m_total{a="__proto__",b="x"} 0.5\n'));
    assert.ok(text.includes('m_total{a="10000",b="y"} 2\n'));
    assert.equal(text.split("\n").length, 2 + kept.length + 1 + 1);
  });

  test("labels() takes the same child and the same errors whether its compiled fast path or the general one answers", () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["class", "in", "default"],
      defaultLabels: { default: "d" },
      registry: null,
    });
    const child = c.labels({ class: "a", in: "b", default: "d" });
    // Past 16 calls, the metric compiles its lookup: every check below then meets it.
    for (let i = 0; i < 20; i++) {
      assert.equal(c.labels({ class: "a", in: "b", default: "d" }), child);
    }
    assert.equal(c.labels({ in: "b", class: "a" }), child, "a default fills the rest");
    assert.equal(c.labels(untyped({ class: "a", in: "b", default: undefined })), child);
    const inherited = Object.assign(Object.create({ class: "a" }), { in: "b", default: "d" });
    assert.equal(c.labels(inherited), child, "inherited values count, on either path");
    assert.notEqual(c.labels({ class: "a", in: "c", default: "d" }), child);
    throwsNaming(
      () => c.labels(untyped({ class: "a", in: "b", default: "d", extra: "x" })),
      LabelValidationError,
      '"extra"',
    );
    assert.equal(c.labels(untyped({ class: "a", in: "b", default: "d", extra: undefined })), child);
    const hidden = Object.defineProperty({ in: "b", default: "d", extra: "x" }, "class", {
      value: "a",
      enumerable: false,
    });
    throwsNaming(() => c.labels(untyped(hidden)), LabelValidationError, '"extra"');
    throwsNaming(
      () => c.labels(untyped({ class: "a", in: 7, default: "d" })),
      LabelValidationError,
      '"in"',
    );
  });

  test("An inherited label value makes the series it names, found again by an own value", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "m", description: "x", requiredLabels: ["a", "b"], registry });
    const child = c.labels(Object.assign(Object.create({ a: "x" }), { b: "y" }));
    assert.deepEqual(child.labelValues, { a: "x", b: "y" });
    assert.equal(c.labels({ a: "x", b: "y" }), child);
    child.inc();
    assert.equal(
      await generateMetrics(registry),
      '# HELP m_total x\n# TYPE m_total counter\nm_total{a="x",b="y"} 1\n',
    );
  });

  test("A metric's label names are frozen, and only identifiers are ever compiled", () => {
    const c = new Counter({ name: "m", description: "x", requiredLabels: ["a"], registry: null });
    assert.ok(Object.isFrozen(c.requiredLabels));
    assert.throws(
      () => (c.requiredLabels as string[])[0] = "b; globalThis.pwned = 1 //",
      TypeError,
    );
    assert.equal(compileLookup(["a", "b; globalThis.pwned = 1 //"]), undefined);
    assert.equal(compileLookup(["a", "1b"]), undefined);
    assert.equal((globalThis as { pwned?: number }).pwned, undefined);
  });

  test("labels() compiles its lookup once, after 16 calls, and the compiled lookup answers", async () => {
    const realFunction = globalThis.Function;
    let compiled = 0;
    globalThis.Function = function (...args: string[]) {
      compiled++;
      return realFunction(...args);
    } as unknown as FunctionConstructor;
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    let child: CounterChild<"a" | "b">;
    try {
      child = c.labels({ a: "1", b: "2" });
      for (let i = 0; i < 14; i++) c.labels({ a: "1", b: "2" });
      assert.equal(compiled, 0, "nothing compiled before the 16th call");
      for (let i = 0; i < 20; i++) assert.equal(c.labels({ a: "1", b: "2" }), child);
      assert.equal(compiled, 1, "compiled once");
    } finally {
      globalThis.Function = realFunction;
    }
    // What only the general path takes still goes there: a partial set, a default.
    assert.notEqual(c.labels({ a: "1" }), child);
    c.labels({ b: "2", a: "1" }).inc(2);
    assert.deepEqual((await c.collect()).map((s) => s.value), [2]);
  });

  test("labels() works where code generation is forbidden (a content security policy)", async () => {
    const realFunction = globalThis.Function;
    let attempts = 0;
    globalThis.Function = function () {
      attempts++;
      throw new EvalError("Code generation from strings disallowed for this context");
    } as unknown as FunctionConstructor;
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    let child: CounterChild<"a" | "b">;
    try {
      assert.equal(compileLookup(["a", "b"]), undefined);
      // Past 16 calls, the metric tries to compile its lookup, and cannot.
      child = c.labels({ a: "1", b: "2" });
      const tried = attempts;
      for (let i = 0; i < 20; i++) assert.equal(c.labels({ a: "1", b: "2" }), child);
      assert.equal(
        attempts - tried,
        1,
        "the metric tried to compile once, then kept the general path",
      );
    } finally {
      globalThis.Function = realFunction;
    }
    assert.equal(typeof compileLookup(["a", "b"]), "function");
    child.inc();
    assert.equal(c.labels({ b: "2", a: "1" }), child);
    throwsNaming(() => c.labels(untyped({ a: "1", b: "2", z: "" })), LabelValidationError, '"z"');
    assert.deepEqual((await c.collect()).map((s) => [s.labels, s.value]), [[
      { a: "1", b: "2" },
      1,
    ]]);
  });

  test("Labels named like Object.prototype members (constructor, toString) work", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["constructor", "toString"],
      defaultLabels: untyped({ toString: "d" }),
      registry,
    });
    assert.throws(() => c.inc(), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "m": label "constructor" has no value',
    });
    // (TypeScript sees Object's constructor and toString in these literals: cast.)
    c.labels(untyped({ constructor: "a" })).inc();
    assert.equal(
      c.labels(untyped({ constructor: "a", toString: "d" })),
      c.labels(untyped({ constructor: "a" })),
    );
    const g = new Gauge({
      name: "g",
      description: "x",
      requiredLabels: ["hasOwnProperty", "valueOf"],
      defaultLabels: { hasOwnProperty: "h", valueOf: "v" },
      registry,
    });
    g.set(1);
    assert.equal(
      await generateMetrics(registry),
      '# HELP m_total x\n# TYPE m_total counter\nm_total{constructor="a",toString="d"} 1\n' +
        '# HELP g x\n# TYPE g gauge\ng{hasOwnProperty="h",valueOf="v"} 1\n',
    );
  });

  test("Metric.labels({}) on a metric without labels returns its own series", async () => {
    const c = new Counter({ name: "m", description: "x", registry: null });
    c.labels({}).inc();
    c.inc();
    assert.deepEqual((await c.collect()).map((s) => s.value), [2]);
  });

  test("A child created by labels() is exposed with 0 before it is observed", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "m", description: "x", requiredLabels: ["a"], registry });
    c.labels({ a: "seen" });
    assert.equal(
      await generateMetrics(registry),
      '# HELP m_total x\n# TYPE m_total counter\nm_total{a="seen"} 0\n',
    );
  });
});

describe("Metric.remove() and Metric.clear()", () => {
  test("Metric.remove() drops one child; labels() then starts it again from zero", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "m", description: "x", requiredLabels: ["a", "b"], registry });
    const removed = c.labels({ a: "1", b: "1" });
    removed.inc(5);
    c.labels({ a: "1", b: "2" }).inc(2);
    assert.equal(c.remove({ b: "1", a: "1" }), true);
    assert.equal(c.remove({ a: "1", b: "1" }), false);
    assert.equal(c.remove({ a: "no", b: "such" }), false);
    assert.equal(c.remove({ a: "1" }), false, "a partial label set removes nothing");
    assert.equal(
      await generateMetrics(registry),
      '# HELP m_total x\n# TYPE m_total counter\nm_total{a="1",b="2"} 2\n',
    );
    const again = c.labels({ a: "1", b: "1" });
    assert.notEqual(again, removed);
    again.inc();
    assert.equal(
      await generateMetrics(registry),
      '# HELP m_total x\n# TYPE m_total counter\nm_total{a="1",b="2"} 2\nm_total{a="1",b="1"} 1\n',
    );
  });

  test("A removed child keeps its labels and its own count; the label set reusing its place does not see them", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "m", description: "x", requiredLabels: ["a"], registry });
    const removed = c.labels({ a: "old" });
    removed.inc(5, { trace_id: "t1" });
    const created = removed.created;
    assert.equal(c.remove({ a: "old" }), true);
    assert.equal(removed.created, created, "a removed child keeps its creation time");
    assert.deepEqual(
      (await removed.collect())[0]?.exemplar?.labels,
      { trace_id: "t1" },
      "and its exemplar",
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const fresh = c.labels({ a: "new" });
    removed.inc(100);
    fresh.inc();
    assert.deepEqual(removed.labelValues, { a: "old" });
    assert.equal(removed.labelText, '{a="old"}');
    assert.deepEqual(fresh.labelValues, { a: "new" });
    assert.ok(fresh.created > created, "the new series has its own _created");
    const [sample] = await c.collect();
    assert.deepEqual(sample?.labels, { a: "new" });
    assert.equal(sample?.value, 1);
    assert.equal(sample?.exemplar, undefined, "the removed series' exemplar is not inherited");
    assert.equal(
      await generateMetrics(registry),
      '# HELP m_total x\n# TYPE m_total counter\nm_total{a="new"} 1\n',
    );
    removed.reset();
    assert.ok(removed.created > created, "reset() restarts a removed child's creation time");
    assert.equal(fresh.created > created, true);
  });

  test("Label values are escaped once any series needs it, including series made before, and after it is removed", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "m", description: "x", requiredLabels: ["a", "b"], registry });
    c.labels({ a: "plain", b: "1" }).inc();
    c.labels({ a: 'q"\\\n', b: "2" }).inc();
    c.labels({ a: "after", b: "3" }).inc();
    const head = "# HELP m_total x\n# TYPE m_total counter\n";
    assert.equal(
      await generateMetrics(registry),
      head +
        'm_total{a="plain",b="1"} 1\nm_total{a="q\\"\\\\\\n",b="2"} 1\nm_total{a="after",b="3"} 1\n',
    );
    assert.equal(c.remove({ a: 'q"\\\n', b: "2" }), true);
    c.labels({ a: "reuse", b: "4" }).inc();
    assert.equal(
      await generateMetrics(registry),
      head + 'm_total{a="plain",b="1"} 1\nm_total{a="after",b="3"} 1\nm_total{a="reuse",b="4"} 1\n',
    );
  });

  test("Removing and adding 10k label sets in turn keeps every series exact", async () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    const kept = c.labels({ a: "kept", b: "x" });
    for (let i = 0; i < 10_000; i++) {
      c.labels({ a: `s${i}`, b: String(i % 3) }).inc(i);
      if (i > 0) assert.equal(c.remove({ a: `s${i - 1}`, b: String((i - 1) % 3) }), true);
      kept.inc();
    }
    assert.deepEqual(
      (await c.collect()).map((s) => [s.labels, s.value]),
      [[{ a: "kept", b: "x" }, 10_000], [{ a: "s9999", b: "0" }, 9999]],
    );
  });

  test("Series past the table's first chunks keep their labels, creation times and exemplars", async () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    const before = Date.now() / 1000;
    const children = Array.from({ length: 3000 }, (_, i) => c.labels({ a: `a${i}`, b: `b${i}` }));
    const after = Date.now() / 1000;
    for (const i of [0, 1023, 1024, 2047, 2048, 2999]) {
      assert.deepEqual(children[i]!.labelValues, { a: `a${i}`, b: `b${i}` });
      assert.ok(children[i]!.created >= before && children[i]!.created <= after);
    }
    children[2500]!.inc(1, { trace_id: "t2500" });
    for (const i of [10, 1500, 2999]) assert.equal(c.remove({ a: `a${i}`, b: `b${i}` }), true);
    const reused = [c.labels({ a: "new1", b: "x" }), c.labels({ a: "new2", b: "y" })];
    assert.deepEqual(reused.map((child) => child.labelValues), [
      { a: "new1", b: "x" },
      { a: "new2", b: "y" },
    ]);
    assert.deepEqual(children[1500]!.labelValues, { a: "a1500", b: "b1500" });
    const samples = await c.collect();
    assert.equal(samples.length, 2999);
    assert.deepEqual(samples.find((s) => s.labels.a === "a2500")?.exemplar?.labels, {
      trace_id: "t2500",
    });
    assert.equal(samples.filter((s) => s.exemplar !== undefined).length, 1);
  });

  test("Creation times stay exact past the 49.7 days a 4-byte offset reaches, and when the clock goes back", () => {
    const realNow = Date.now;
    const start = 1_800_000_000_123;
    let now = start;
    Date.now = () => now;
    try {
      const c = new Counter({ name: "m", description: "x", requiredLabels: ["a"], registry: null });
      const first = c.labels({ a: "first" });
      now = start + 2 ** 32 - 1;
      const edge = c.labels({ a: "edge" });
      now = start + 2 ** 32 + 7;
      const late = c.labels({ a: "late" });
      now = start - 5_000;
      const early = c.labels({ a: "early" });
      assert.deepEqual(
        [first, edge, late, early].map((child) => child.created * 1000),
        [start, start + 2 ** 32 - 1, start + 2 ** 32 + 7, start - 5_000],
      );
      const back = new Counter({
        name: "b",
        description: "x",
        requiredLabels: ["a"],
        registry: null,
      });
      now = start - 1;
      assert.equal(back.labels({ a: "x" }).created * 1000, start - 1);
      // Emptied after the switch to 8 bytes: the table starts again at 4.
      c.clear();
      const again = Array.from({ length: 10 }, (_, i) => {
        now = start + 2 ** 33 + i;
        return c.labels({ a: `again${i}` });
      });
      assert.deepEqual(
        again.map((child) => child.created * 1000),
        again.map((_, i) => start + 2 ** 33 + i),
      );
      now = 0;
      const zero = new Counter({
        name: "z",
        description: "x",
        requiredLabels: ["a"],
        registry: null,
      });
      const atZero = zero.labels({ a: "zero" });
      now = start;
      assert.deepEqual([atZero.created, zero.labels({ a: "now" }).created], [0, start / 1000]);
    } finally {
      Date.now = realNow;
    }
  });

  test("Metric.remove() applies default labels", async () => {
    const g = new Gauge({
      name: "g",
      description: "x",
      requiredLabels: ["a", "b"],
      defaultLabels: { a: "d" },
      registry: null,
    });
    g.labels({ b: "1" }).set(1);
    assert.equal(g.remove({ b: "1" }), true);
    assert.deepEqual(await g.collect(), []);
  });

  test("Metric.clear() drops every child of a labelled metric", async () => {
    const registry = new CollectorRegistry();
    const h = new Histogram({
      name: "h",
      description: "x",
      requiredLabels: ["a"],
      buckets: [1],
      registry,
    });
    h.labels({ a: "1" }).observe(1);
    h.labels({ a: "2" }).observe(2);
    h.clear();
    assert.equal(await generateMetrics(registry), "# HELP h x\n# TYPE h histogram\n");
    h.labels({ a: "1" }).observe(0.5);
    assert.match(await generateMetrics(registry), /^h_count\{a="1"\} 1$/m);
  });

  test("Metric.clear() of thousands of series starts the metric afresh; the removed children keep their labels", async () => {
    const c = new Counter({
      name: "m",
      description: "x",
      requiredLabels: ["a", "b"],
      registry: null,
    });
    const old = Array.from({ length: 3000 }, (_, i) => c.labels({ a: `a${i}`, b: String(i % 3) }));
    old[2999]!.inc(5);
    c.clear();
    assert.deepEqual(await c.collect(), []);
    assert.deepEqual(old[2999]!.labelValues, { a: "a2999", b: "2" });
    assert.deepEqual((await old[2999]!.collect()).map((s) => s.value), [5]);
    const fresh = Array.from({ length: 1500 }, (_, i) => c.labels({ a: `a${i}`, b: "new" }));
    assert.equal(new Set([...old, ...fresh]).size, 4500, "no removed child comes back");
    fresh.forEach((child, i) => child.inc(i));
    const samples = await c.collect();
    assert.equal(samples.length, 1500);
    assert.deepEqual([samples[1499]!.labels, samples[1499]!.value], [
      { a: "a1499", b: "new" },
      1499,
    ]);
    assert.equal(c.labels({ a: "a7", b: "new" }), fresh[7]);
  });

  test("Metric.clear() on a metric with every label defaulted leaves one fresh series", async () => {
    const g = new Gauge({
      name: "g",
      description: "x",
      requiredLabels: ["a"],
      defaultLabels: { a: "d" },
      registry: null,
    });
    g.set(3);
    g.labels({ a: "other" }).set(4);
    g.clear();
    assert.deepEqual((await g.collect()).map((s) => [s.labels.a, s.value]), [["d", 0]]);
    g.inc();
    assert.deepEqual((await g.collect()).map((s) => [s.labels.a, s.value]), [["d", 1]]);
    assert.equal(g.remove({}), true);
    g.inc(2);
    assert.deepEqual((await g.collect()).map((s) => [s.labels.a, s.value]), [["d", 2]]);
  });

  test("Metric.clear() keeps the one series of a metric without labels", async () => {
    const c = new Counter({ name: "m", description: "x", registry: null });
    c.inc(2);
    c.clear();
    assert.equal((await c.collect()).length, 1);
  });
});
