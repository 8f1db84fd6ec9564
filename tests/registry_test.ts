import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  CustomCollector,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  type MetricCollector,
  NameValidationError,
  REGISTRY,
  type Registry,
  setLogger,
} from "../mod.ts";

/** Runs `fn` with a logger that records messages; the previous logger is restored after. */
async function withLog<T>(
  fn: (log: { warn: string[]; error: string[] }) => T | Promise<T>,
): Promise<T> {
  const log = { warn: [] as string[], error: [] as string[] };
  const previous = setLogger({
    warn: (message) => log.warn.push(message),
    error: (message) => log.error.push(message),
  });
  try {
    return await fn(log);
  } finally {
    setLogger(previous);
  }
}

/** Runs `fn` with REGISTRY pointed at a fresh registry; the previous target is restored after. */
async function withDefaultRegistry<T>(fn: (target: CollectorRegistry) => Promise<T>): Promise<T> {
  const previous = REGISTRY.registry;
  const target = new CollectorRegistry();
  REGISTRY.setRegistry(target);
  try {
    return await fn(target);
  } finally {
    REGISTRY.setRegistry(previous);
  }
}

function gaugeSet(name: string, value: number): Gauge {
  const g = new Gauge({ name, description: `${name} help.`, registry: null });
  g.set(value);
  return g;
}

class QueueCollector extends CustomCollector {
  depth = 7;
  collect(): MetricCollector[] {
    return [gaugeSet("queue_depth", this.depth), gaugeSet("queue_workers", 2)];
  }
}

class AsyncDbCollector extends CustomCollector {
  async *collect(): AsyncGenerator<MetricCollector> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    yield gaugeSet("db_rows", 100);
    await Promise.resolve();
    const c = new Counter({
      name: "db_queries_total",
      description: "Queries.",
      requiredLabels: ["table"],
      registry: null,
    });
    c.labels({ table: "users" }).inc(3);
    yield c;
  }
}

class ClashingCollector extends CustomCollector {
  collect(): MetricCollector[] {
    return [gaugeSet("taken", 1)];
  }
}

class AsyncClashingCollector extends CustomCollector {
  async *collect(): AsyncGenerator<MetricCollector> {
    yield gaugeSet("taken", 2);
    yield gaugeSet("free_name", 3);
  }
}

describe("CollectorRegistry", () => {
  test("CollectorRegistry prefix is prepended as <prefix>_<name> to every family", async () => {
    const registry = new CollectorRegistry({ prefix: "shop" });
    assert.equal(registry.prefix, "shop");
    new Counter({ name: "orders_total", description: "Orders.", registry }).inc();
    new Histogram({ name: "cart_items", description: "Items.", buckets: [5], registry }).observe(2);
    assert.equal(
      await generateMetrics(registry),
      "# HELP shop_orders_total Orders.\n# TYPE shop_orders_total counter\nshop_orders_total 1\n" +
        "# HELP shop_cart_items Items.\n# TYPE shop_cart_items histogram\n" +
        'shop_cart_items_bucket{le="5"} 1\nshop_cart_items_bucket{le="+Inf"} 1\n' +
        "shop_cart_items_sum 2\nshop_cart_items_count 1\n",
    );
    const [family] = await registry.collect();
    assert.equal(family!.name, "shop_orders_total");
  });

  test("CollectorRegistry without prefix leaves names alone", async () => {
    const registry = new CollectorRegistry();
    assert.equal(registry.prefix, undefined);
    new Counter({ name: "a_total", description: "A.", registry });
    assert.deepEqual((await registry.collect()).map((f) => f.name), ["a_total"]);
  });

  test("CollectorRegistry rejects an invalid prefix with NameValidationError", () => {
    for (const prefix of ["", "1shop", "my-shop", "a b"]) {
      assert.throws(() => new CollectorRegistry({ prefix }), (err: unknown) => {
        assert.ok(err instanceof NameValidationError);
        assert.ok(err.message.includes(JSON.stringify(prefix)), err.message);
        assert.ok(err.message.includes("prefix"), err.message);
        return true;
      });
    }
  });

  test("CollectorRegistry.register() and unregister() add and remove a metric", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "c_total", description: "C.", registry: null });
    assert.equal(await generateMetrics(registry), "");
    assert.equal(registry.register(c), true);
    assert.equal(
      await generateMetrics(registry),
      "# HELP c_total C.\n# TYPE c_total counter\nc_total 0\n",
    );
    assert.equal(registry.unregister(c), true);
    assert.equal(registry.unregister(c), false);
    assert.equal(await generateMetrics(registry), "");
    assert.equal(registry.register(c), true, "can be registered again");
  });

  test("CollectorRegistry.unregister() of a different collector with the same name removes nothing", async () => {
    const registry = new CollectorRegistry();
    const first = new Counter({ name: "c_total", description: "C.", registry });
    const other = new Counter({ name: "c_total", description: "Other.", registry: null });
    assert.equal(registry.unregister(other), false);
    assert.deepEqual((await registry.collect()).map((f) => f.description), ["C."]);
    assert.equal(registry.unregister(first), true);
  });

  test("CollectorRegistry.register() keeps the first of two same-named metrics and warns", async () => {
    await withLog(async (log) => {
      const registry = new CollectorRegistry();
      const first = new Counter({ name: "dup", description: "First.", registry });
      first.inc();
      const second = new Gauge({ name: "dup", description: "Second.", registry });
      second.set(9);
      assert.equal(registry.register(second), false);
      assert.equal(log.warn.length, 2);
      assert.ok(log.warn[0]!.includes('"dup"'), log.warn[0]);
      assert.deepEqual(log.error, []);
      assert.equal(
        await generateMetrics(registry),
        "# HELP dup_total First.\n# TYPE dup_total counter\ndup_total 1\n",
      );
    });
  });

  test("CollectorRegistry.register() refuses a metric whose samples another metric's would mix with", async () => {
    await withLog(async (log) => {
      const registry = new CollectorRegistry();
      new Histogram({ name: "latency", description: "L.", buckets: [1], registry });
      new Info({ name: "build", description: "B.", registry });
      const count = new Counter({ name: "latency_count", description: "C.", registry });
      const gauge = new Gauge({ name: "build_info", description: "G.", registry });
      new Histogram({ name: "other", description: "O.", registry });
      new Counter({ name: "other_sum", description: "S.", registry });
      assert.equal(registry.register(count), false);
      assert.equal(registry.register(gauge), false);
      assert.equal(log.warn.length, 5);
      assert.ok(log.warn[0]!.includes('"latency_count"'), log.warn[0]);
      assert.ok(log.warn[1]!.includes('"build_info"'), log.warn[1]);
      assert.ok(log.warn[2]!.includes('"other_sum"'), log.warn[2]);
      assert.deepEqual(
        (await registry.collect()).map((f) => f.name),
        ["latency", "build", "other"],
      );
    });
  });

  test("CollectorRegistry.collect() lists families in registration order", async () => {
    const registry = new CollectorRegistry();
    for (const name of ["zeta", "alpha", "mid"]) new Gauge({ name, description: "x", registry });
    assert.deepEqual((await registry.collect()).map((f) => f.name), ["zeta", "alpha", "mid"]);
  });

  test("Metric options registry: null creates an unregistered metric", async () => {
    await withDefaultRegistry(async (target) => {
      const c = new Counter({ name: "lonely_total", description: "x", registry: null });
      c.inc();
      assert.equal(await generateMetrics(target), "");
      assert.equal(await generateMetrics(), "");
    });
  });
});

describe("REGISTRY", () => {
  test("REGISTRY is where metrics register by default", async () => {
    await withDefaultRegistry(async (target) => {
      new Counter({ name: "default_total", description: "D." }).inc(2);
      assert.equal(REGISTRY.registry, target);
      assert.equal(
        await generateMetrics(target),
        "# HELP default_total D.\n# TYPE default_total counter\ndefault_total 2\n",
      );
      assert.equal(await generateMetrics(REGISTRY), await generateMetrics(target));
      assert.equal(await generateMetrics(), await generateMetrics(target));
    });
  });

  test("REGISTRY.setRegistry() sends metrics created afterwards to the new target", async () => {
    await withDefaultRegistry(async (first) => {
      new Counter({ name: "before_total", description: "B." });
      const second = new CollectorRegistry({ prefix: "app" });
      REGISTRY.setRegistry(second);
      assert.equal(REGISTRY.registry, second);
      assert.equal(REGISTRY.prefix, "app");
      new Counter({ name: "after_total", description: "A." });
      assert.deepEqual((await first.collect()).map((f) => f.name), ["before_total"]);
      assert.deepEqual((await second.collect()).map((f) => f.name), ["app_after_total"]);
      assert.deepEqual((await REGISTRY.collect()).map((f) => f.name), ["app_after_total"]);
    });
  });

  test("REGISTRY.register() and unregister() act on the current target", async () => {
    await withDefaultRegistry(async (target) => {
      const g = new Gauge({ name: "g", description: "G.", registry: null });
      assert.equal(REGISTRY.register(g), true);
      assert.deepEqual((await target.collect()).map((f) => f.name), ["g"]);
      assert.equal(REGISTRY.unregister(g), true);
      assert.deepEqual(await target.collect(), []);
    });
  });

  test("REGISTRY.setRegistry() accepts any Registry implementation", () => {
    const previous = REGISTRY.registry;
    const seen: string[] = [];
    const recording: Registry = {
      prefix: undefined,
      register: (collector) => seen.push(collector.name) > 0,
      unregister: () => false,
      collect: () => Promise.resolve([]),
      reset: () => {},
    };
    REGISTRY.setRegistry(recording);
    try {
      new Counter({ name: "seen_total", description: "x" });
    } finally {
      REGISTRY.setRegistry(previous);
    }
    assert.deepEqual(seen, ["seen_total"]);
  });
});

describe("CustomCollector", () => {
  test("CustomCollector name is its lowercased class name", () => {
    assert.equal(new QueueCollector().name, "queuecollector");
    assert.equal(new AsyncDbCollector().name, "asyncdbcollector");
  });

  test("CustomCollector with a sync collect() is read at every scrape", async () => {
    const registry = new CollectorRegistry({ prefix: "svc" });
    const collector = new QueueCollector();
    assert.equal(registry.register(collector), true);
    new Counter({ name: "jobs_total", description: "Jobs.", registry }).inc();
    const expected = (depth: number): string =>
      `# HELP svc_queue_depth queue_depth help.\n# TYPE svc_queue_depth gauge\nsvc_queue_depth ${depth}\n` +
      "# HELP svc_queue_workers queue_workers help.\n# TYPE svc_queue_workers gauge\nsvc_queue_workers 2\n" +
      "# HELP svc_jobs_total Jobs.\n# TYPE svc_jobs_total counter\nsvc_jobs_total 1\n";
    assert.equal(await generateMetrics(registry), expected(7));
    collector.depth = 8;
    assert.equal(await generateMetrics(registry), expected(8));
  });

  test("CustomCollector with an async generator collect() is awaited at scrape", async () => {
    const registry = new CollectorRegistry();
    assert.equal(registry.register(new AsyncDbCollector()), true);
    assert.equal(
      await generateMetrics(registry),
      "# HELP db_rows db_rows help.\n# TYPE db_rows gauge\ndb_rows 100\n" +
        '# HELP db_queries_total Queries.\n# TYPE db_queries_total counter\ndb_queries_total{table="users"} 3\n',
    );
  });

  test("CustomCollector yielding an already registered name is refused with a warning", async () => {
    await withLog(async (log) => {
      const registry = new CollectorRegistry();
      new Counter({ name: "taken", description: "Mine.", registry }).inc();
      assert.equal(registry.register(new ClashingCollector()), false);
      assert.equal(log.warn.length, 1);
      assert.ok(log.warn[0]!.includes('"clashingcollector"'), log.warn[0]);
      assert.ok(log.warn[0]!.includes('"taken"'), log.warn[0]);
      assert.equal(
        await generateMetrics(registry),
        "# HELP taken_total Mine.\n# TYPE taken_total counter\ntaken_total 1\n",
      );
    });
  });

  test("A metric named like one a registered CustomCollector yields is refused with a warning", async () => {
    await withLog(async (log) => {
      const registry = new CollectorRegistry();
      registry.register(new ClashingCollector());
      const late = new Counter({ name: "taken", description: "Late.", registry });
      late.inc();
      assert.equal(log.warn.length, 1);
      assert.ok(log.warn[0]!.includes('"taken"'));
      assert.equal(
        await generateMetrics(registry),
        "# HELP taken taken help.\n# TYPE taken gauge\ntaken 1\n",
      );
    });
  });

  test("A second CustomCollector of the same class is refused with a warning", async () => {
    await withLog((log) => {
      const registry = new CollectorRegistry();
      assert.equal(registry.register(new QueueCollector()), true);
      assert.equal(registry.register(new QueueCollector()), false);
      assert.equal(log.warn.length, 1);
      assert.ok(log.warn[0]!.includes('"queuecollector"'));
    });
  });

  test("CollectorRegistry.unregister() of a CustomCollector frees the names it yielded", async () => {
    await withLog(async (log) => {
      const registry = new CollectorRegistry();
      const collector = new ClashingCollector();
      registry.register(collector);
      assert.equal(registry.unregister(collector), true);
      new Counter({ name: "taken", description: "Now mine.", registry }).inc();
      assert.deepEqual(log.warn, []);
      assert.equal(
        await generateMetrics(registry),
        "# HELP taken_total Now mine.\n# TYPE taken_total counter\ntaken_total 1\n",
      );
    });
  });

  test("An async CustomCollector's clashing family is left out of the scrape with a warning", async () => {
    await withLog(async (log) => {
      const registry = new CollectorRegistry();
      new Counter({ name: "taken", description: "Mine.", registry }).inc();
      // Its names are unknown until it runs, so registering succeeds...
      assert.equal(registry.register(new AsyncClashingCollector()), true);
      // ...and the scrape keeps the first "taken" and warns about the second.
      assert.equal(
        await generateMetrics(registry),
        "# HELP taken_total Mine.\n# TYPE taken_total counter\ntaken_total 1\n" +
          "# HELP free_name free_name help.\n# TYPE free_name gauge\nfree_name 3\n",
      );
      assert.deepEqual(log.warn, ['Metric "taken" left out of the scrape: "taken" is taken']);
    });
  });

  test("CustomCollector.metrics() gathers sync and async collectors alike", async () => {
    assert.deepEqual(
      (await new QueueCollector().metrics()).map((m) => m.name),
      ["queue_depth", "queue_workers"],
    );
    assert.deepEqual(
      (await new AsyncDbCollector().metrics()).map((m) => m.name),
      ["db_rows", "db_queries_total"],
    );
  });
});
