import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  InvalidOptionError,
  REGISTRY,
  setLogger,
} from "../mod.ts";
import { capturingLogger } from "./_serve.ts";
import { heapAfterGc } from "./_heap.ts";

describe("maxSeries", () => {
  test("A metric observable through its defaults keeps its own series when maxSeries is reached, and gets it once a slot frees up", async () => {
    const { logger } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      const m = new Counter({
        name: "jobs_total",
        description: "J.",
        requiredLabels: ["env"] as const,
        defaultLabels: { env: "prod" },
        maxSeries: 1,
        registry,
      });
      m.labels({ env: "dev" }).inc();
      m.inc(3); // refused: no slot left, counted
      m.remove({ env: "dev" });
      m.inc(5);
      assert.match(await generateMetrics(registry), /^jobs_total\{env="prod"\} 5$/m);
      m.clear();
      m.inc(7);
      assert.match(await generateMetrics(registry), /^jobs_total\{env="prod"\} 7$/m);
    } finally {
      setLogger(previous);
    }
  });

  test("Metric maxSeries refuses new label sets, counts them and warns once", async () => {
    const { logger, messages: warnings } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const registry = new CollectorRegistry();
      const c = new Counter({
        name: "logins_total",
        description: "Logins.",
        requiredLabels: ["user"],
        maxSeries: 2,
        registry,
      });
      c.labels({ user: "ann" }).inc();
      c.labels({ user: "bob" }).inc(2);
      c.labels({ user: "eve" }).inc(5);
      c.labels({ user: "mal" }).inc(5);
      c.labels({ user: "ann" }).inc();
      assert.equal(
        await generateMetrics(registry),
        [
          "# HELP logins_total Logins.",
          "# TYPE logins_total counter",
          'logins_total{user="ann"} 2',
          'logins_total{user="bob"} 2',
          "# HELP pytheus_series_dropped_total Label sets refused because their metric reached its maxSeries.",
          "# TYPE pytheus_series_dropped_total counter",
          'pytheus_series_dropped_total{metric="logins_total"} 2',
          "",
        ].join("\n"),
      );
      assert.deepEqual(warnings, [
        'Metric "logins_total" reached maxSeries (2): new label sets are refused; ' +
        "counted in pytheus_series_dropped_total, warned about once",
      ]);
    } finally {
      setLogger(previous);
    }
  });

  test("CollectorRegistry maxSeries is the default of its metrics; a metric may override it", async () => {
    const previous = setLogger(capturingLogger().logger);
    try {
      const registry = new CollectorRegistry({ maxSeries: 1 });
      const h = new Histogram({
        name: "size_bytes",
        description: "Sizes.",
        requiredLabels: ["kind"],
        buckets: [10],
        registry,
      });
      const c = new Counter({
        name: "kinds_total",
        description: "Kinds.",
        requiredLabels: ["kind"],
        maxSeries: 3,
        registry,
      });
      for (const kind of ["a", "b", "c", "d"]) {
        h.labels({ kind }).observe(1);
        c.labels({ kind }).inc();
      }
      const text = await generateMetrics(registry);
      assert.match(text, /size_bytes_count\{kind="a"\} 1\n/);
      assert.doesNotMatch(text, /size_bytes_count\{kind="b"\}/);
      assert.match(text, /kinds_total\{kind="c"\} 1\n/);
      assert.doesNotMatch(text, /kinds_total\{kind="d"\}/);
      assert.match(text, /pytheus_series_dropped_total\{metric="size_bytes"\} 3\n/);
      assert.match(text, /pytheus_series_dropped_total\{metric="kinds_total"\} 1\n/);
    } finally {
      setLogger(previous);
    }
  });

  test("Metric maxSeries must be a whole number of at least 1, else InvalidOptionError", () => {
    for (const maxSeries of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => new Counter({ name: "x_total", description: "x", maxSeries, registry: null }),
        {
          name: "InvalidOptionError",
          message:
            `maxSeries of "x_total" must be a whole number of at least 1, got number ${maxSeries}`,
        },
      );
    }
    assert.throws(
      () => new Counter({ name: "x_total", description: "x", maxSeries: 0, registry: null }),
      InvalidOptionError,
    );
  });

  test("Metric maxSeries keeps memory bounded against 100k attacker-chosen label values", async () => {
    const previous = setLogger(capturingLogger().logger);
    try {
      const grow = (maxSeries: number | undefined): number => {
        const registry = new CollectorRegistry();
        const c = new Counter({
          name: "requests_total",
          description: "Requests.",
          requiredLabels: ["path"],
          registry,
          ...(maxSeries === undefined ? {} : { maxSeries }),
        });
        const before = heapAfterGc();
        for (let i = 0; i < 100_000; i++) c.labels({ path: `/item/${i}?q=${i * 7}` }).inc();
        const grown = heapAfterGc() - before;
        assert.ok(c.name);
        return grown;
      };
      const unlimited = grow(undefined);
      const limited = grow(1000);
      assert.ok(
        limited < unlimited / 10,
        `heap grew ${limited} bytes with maxSeries 1000, ${unlimited} bytes without`,
      );
      const registry = new CollectorRegistry({ maxSeries: 1000 });
      const c = new Counter({ name: "r_total", description: "r", requiredLabels: ["p"], registry });
      for (let i = 0; i < 100_000; i++) c.labels({ p: String(i) }).inc();
      const text = await generateMetrics(registry);
      assert.equal(text.split("\n").filter((l) => l.startsWith("r_total{")).length, 1000);
      assert.match(text, /pytheus_series_dropped_total\{metric="r_total"\} 99000\n/);
    } finally {
      setLogger(previous);
    }
  });
});

describe("maxSeries and the default registry", () => {
  test("refusals of a REGISTRY metric are counted in the registry REGISTRY pointed to", async () => {
    const { logger } = capturingLogger();
    const previousLogger = setLogger(logger);
    const previous = REGISTRY.registry;
    const a = new CollectorRegistry();
    const b = new CollectorRegistry();
    try {
      REGISTRY.setRegistry(a);
      const c1 = new Counter({ name: "c1", description: "c", requiredLabels: ["x"], maxSeries: 1 });
      c1.labels({ x: "1" }).inc();
      c1.labels({ x: "2" }).inc();
      REGISTRY.setRegistry(b);
      const c2 = new Counter({ name: "c2", description: "c", requiredLabels: ["x"], maxSeries: 1 });
      c2.labels({ x: "1" }).inc();
      c2.labels({ x: "2" }).inc();
      c2.labels({ x: "3" }).inc();
      assert.match(await generateMetrics(b), /^pytheus_series_dropped_total\{metric="c2"\} 2$/m);
      assert.doesNotMatch(await generateMetrics(b), /metric="c1"/);
      assert.match(await generateMetrics(a), /^pytheus_series_dropped_total\{metric="c1"\} 1$/m);
      assert.doesNotMatch(await generateMetrics(a), /metric="c2"/);
    } finally {
      REGISTRY.setRegistry(previous);
      setLogger(previousLogger);
    }
  });

  test("CollectorRegistry.reset() also zeroes pytheus_series_dropped_total", async () => {
    const previousLogger = setLogger(capturingLogger().logger);
    try {
      const registry = new CollectorRegistry();
      const c = new Counter({
        name: "c_total",
        description: "c",
        requiredLabels: ["x"],
        maxSeries: 1,
        registry,
      });
      c.labels({ x: "1" }).inc();
      c.labels({ x: "2" }).inc();
      registry.reset();
      assert.match(
        await generateMetrics(registry),
        /^pytheus_series_dropped_total\{metric="c_total"\} 0$/m,
      );
    } finally {
      setLogger(previousLogger);
    }
  });
});
