/** The store protocol: what a store is told, when it is read, and what the core does with its reading. */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, test } from "node:test";
import {
  type Backend,
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  InvalidOptionError,
  LabelValidationError,
  loadBackend,
  setLogger,
  SingleProcessBackend,
  type Store,
  type StoredMetric,
  type StoredSeries,
  type StoreReading,
} from "../mod.ts";
import { currentBackend } from "../src/backends/load_backend.ts";
import { SqliteStore } from "../examples/sqlite_store.ts";
import { capturingLogger, withLoggedErrors } from "./_serve.ts";
import { untyped } from "./_untyped.ts";

/** A store keeping numbers in a map, recording what it is told. */
class RecordingStore implements Store {
  readonly cells: StoredSeries[] = [];
  readonly reads: (readonly StoredMetric[])[] = [];
  readonly cleared: StoredMetric[] = [];
  readonly values = new Map<string, number>();
  /** What reads add to what the cells wrote: series of "other processes". */
  others: [metric: string, key: string, value: number][] = [];
  opened = 0;

  open(): void {
    this.opened++;
  }

  cell(series: StoredSeries): Backend {
    this.cells.push(series);
    const id = `${series.metric} ${series.key}`;
    const values = this.values;
    return {
      inc: (v) => void values.set(id, (values.get(id) ?? 0) + v),
      dec: (v) => void values.set(id, (values.get(id) ?? 0) - v),
      set: (v) => void values.set(id, v),
      get: () => -1, // never read: every number is in the reading
    };
  }

  async read(metrics: readonly StoredMetric[]): Promise<StoreReading> {
    this.reads.push(metrics);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const reading = new Map<string, Map<string, number>>();
    for (const { metric } of metrics) reading.set(metric, new Map());
    for (const [id, value] of this.values) {
      const [metric, key] = [id.slice(0, id.indexOf(" ")), id.slice(id.indexOf(" ") + 1)];
      reading.get(metric)?.set(key, value);
    }
    for (const [metric, key, value] of this.others) reading.get(metric)?.set(key, value);
    return reading;
  }

  clear(metric: StoredMetric): void {
    this.cleared.push(metric);
  }
}

describe("The store protocol", () => {
  afterEach(async () => {
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  });

  test("loadBackend({ store }) opens the store and puts it in force, for metrics defined before too", async () => {
    const registry = new CollectorRegistry();
    const early = new Counter({ name: "early_total", description: "E.", registry });
    const store = new RecordingStore();
    const loaded = await loadBackend({ store });
    assert.equal(store.opened, 1);
    assert.equal(loaded.store, store);
    assert.equal(currentBackend().store, store);
    assert.equal(loaded.backendClass, undefined);
    early.inc(2);
    assert.equal(store.cells.length, 1);
    assert.equal(
      await generateMetrics(registry),
      "# HELP early_total E.\n# TYPE early_total counter\nearly_total 2\n",
    );
  });

  test("Each cell is named completely: registry prefix, name, type, labels, sample, canonical key", async () => {
    const store = new RecordingStore();
    await loadBackend({ store });
    const registry = new CollectorRegistry({ prefix: "shop" });
    const h = new Histogram({
      name: "latency_seconds",
      description: "L.",
      requiredLabels: ["route", "method"],
      buckets: [0.5],
      registry,
    });
    h.labels({ method: "GET", route: "/" }).observe(0.25);
    const key = '{"method":"GET","route":"/"}';
    assert.deepEqual(
      store.cells,
      ["0.5", "+Inf", "sum"].map((sample) => ({
        metric: "shop/latency_seconds",
        key: `${key}|${sample}`,
        registryPrefix: "shop",
        name: "latency_seconds",
        type: "histogram",
        labelValues: { route: "/", method: "GET" },
        sample,
      })),
    );
  });

  test("A scrape reads the store once, with all its metrics; two scrapes at once share that read", async () => {
    const store = new RecordingStore();
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    new Counter({ name: "a_total", description: "A.", requiredLabels: ["k"], registry });
    new Histogram({ name: "b_seconds", description: "B.", buckets: [1], registry }).observe(2);
    const [first, second] = await Promise.all([
      generateMetrics(registry),
      generateMetrics(registry),
    ]);
    assert.equal(first, second);
    assert.deepEqual(store.reads, [[
      {
        metric: "a_total",
        registryPrefix: "",
        name: "a_total",
        type: "counter",
        labelNames: ["k"],
        samples: [""],
      },
      {
        metric: "b_seconds",
        registryPrefix: "",
        name: "b_seconds",
        type: "histogram",
        labelNames: [],
        samples: ["1", "+Inf", "sum"],
      },
    ]]);
  });

  test("The core makes the children of series only the store knows of, once; misfits are left out", async () => {
    const store = new RecordingStore();
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "jobs_total",
      description: "J.",
      requiredLabels: ["queue"],
      registry,
    });
    c.labels({ queue: "mail" }).inc();
    store.others = [
      ["jobs_total", '{"queue":"sms"}', 5],
      ["jobs_total", '{"other":"x"}', 7],
      ["jobs_total", "not a key", 8],
      // A lone surrogate, escaped as JSON writes it: no label value may hold one.
      ["jobs_total", '{"queue":"\\ud800"}', 9],
    ];
    const expected = "# HELP jobs_total J.\n# TYPE jobs_total counter\n" +
      'jobs_total{queue="mail"} 1\njobs_total{queue="sms"} 5\n';
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      assert.equal(await generateMetrics(registry), expected);
      assert.equal(await generateMetrics(registry), expected);
    } finally {
      setLogger(previous);
    }
    assert.equal(messages.length, 1, "one warning for the metric, not one per scrape or series");
    assert.match(
      messages[0]!,
      /series "\{\\"other\\":\\"x\\"\}" of "jobs_total" in its store does not fit/,
    );
    assert.deepEqual(store.cells.map((cell) => cell.key), ['{"queue":"mail"}', '{"queue":"sms"}']);
    // The child made for the store's series is the one labels() gives.
    c.labels({ queue: "sms" }).inc(2);
    assert.equal(store.values.get('jobs_total {"queue":"sms"}'), 2);
  });

  test("A number the reading lacks is read from its cell; clear() tells the store", async () => {
    const store = new RecordingStore();
    store.read = () => Promise.resolve(new Map([["gone_total", new Map()]]));
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "gone_total",
      description: "G.",
      requiredLabels: ["k"],
      registry,
    });
    c.labels({ k: "v" }).inc();
    assert.equal(
      await generateMetrics(registry),
      '# HELP gone_total G.\n# TYPE gone_total counter\ngone_total{k="v"} -1\n',
    );
    c.clear();
    assert.deepEqual(store.cleared.map((m) => m.metric), ["gone_total"]);
  });

  test("A series a store refuses leaves nothing behind: the next series on its row has its own key", async () => {
    const store = new RecordingStore();
    const cell = store.cell.bind(store);
    store.cell = (series) => {
      if (series.labelValues.k === "bad") throw new LabelValidationError("refused");
      return cell(series);
    };
    await loadBackend({ store });
    const c = new Counter({
      name: "k_total",
      description: "K.",
      requiredLabels: ["k"],
      registry: null,
    });
    assert.throws(() => c.labels({ k: "bad" }), LabelValidationError);
    c.labels({ k: "good" }).inc();
    assert.deepEqual(store.cells.map((series) => series.key), ['{"k":"good"}']);
    assert.deepEqual([...store.values.keys()], ['k_total {"k":"good"}']);
  });

  test("Series a store reports past maxSeries are counted as dropped, once per scrape", async () => {
    const store = new RecordingStore();
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    new Counter({
      name: "m_total",
      description: "M.",
      requiredLabels: ["k"],
      maxSeries: 1,
      registry,
    });
    store.others = [["m_total", '{"k":"a"}', 1], ["m_total", '{"k":"b"}', 2], [
      "m_total",
      '{"k":"c"}',
      3,
    ]];
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      await generateMetrics(registry);
      const text = await generateMetrics(registry);
      assert.match(text, /m_total\{k="a"\} 1\n/);
      assert.doesNotMatch(text, /k="b"|k="c"/);
      assert.match(text, /pytheus_series_dropped_total\{metric="m_total"\} 2\n/);
    } finally {
      setLogger(previous);
    }
    assert.equal(messages.filter((m) => m.includes("maxSeries")).length, 1);
  });

  test("A scrape that makes children reads every cell once, promises included, and awaits them all", async () => {
    let gets = 0;
    const store: Store = {
      cell: () => ({
        inc() {},
        dec() {},
        set() {},
        get: () => (gets++, Promise.resolve(4)),
      }),
      read: (metrics) => new Map(metrics.map((m) => [m.metric, new Map([['{"k":"theirs"}', 9]])])),
    };
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "p_total", description: "P.", requiredLabels: ["k"], registry });
    c.labels({ k: "mine" });
    assert.equal(
      await generateMetrics(registry),
      '# HELP p_total P.\n# TYPE p_total counter\np_total{k="mine"} 4\np_total{k="theirs"} 9\n',
    );
    assert.equal(gets, 1);
  });

  test("A key not spelled canonically is not taken for a series: warned about, not shown", async () => {
    const store = new RecordingStore();
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "s_total",
      description: "S.",
      requiredLabels: ["a", "b"],
      registry,
    });
    c.labels({ a: "1", b: "2" }).inc();
    store.others = [["s_total", '{"b":"2","a":"1"}', 50], ["s_total", '{"a": "3","b":"4"}', 60]];
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      const expected = '# HELP s_total S.\n# TYPE s_total counter\ns_total{a="1",b="2"} 1\n';
      assert.equal(await generateMetrics(registry), expected);
      assert.equal(await generateMetrics(registry), expected);
    } finally {
      setLogger(previous);
    }
    assert.equal(messages.length, 1);
    assert.match(messages[0]!, /does not fit/);
  });

  test("A series removed (or a metric cleared) while its store is read is not made again from that reading", async () => {
    const store = new RecordingStore();
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    const c = new Counter({ name: "r_total", description: "R.", requiredLabels: ["k"], registry });
    const read = store.read.bind(store);
    let during = (): void => {};
    // The reading is taken first; the application removes while it is on its way.
    store.read = async (metrics) => {
      const reading = await read(metrics);
      during();
      return reading;
    };
    c.labels({ k: "gone" }).inc();
    c.labels({ k: "kept" }).inc();
    store.others = [["r_total", '{"k":"theirs"}', 4]];
    during = () => c.remove({ k: "gone" });
    assert.equal(
      await generateMetrics(registry),
      '# HELP r_total R.\n# TYPE r_total counter\nr_total{k="kept"} 1\nr_total{k="theirs"} 4\n',
    );
    during = () => c.clear();
    for (const scrape of [() => generateMetrics(registry), () => c.collect()]) {
      c.labels({ k: "kept" }).inc();
      await scrape();
      // Nothing of the reading taken before clear() came back.
      const remade = store.cells.map((cell) => cell.key).slice(3);
      assert.deepEqual(remade.filter((key) => key !== '{"k":"kept"}'), [], String(scrape));
    }
  });

  test("A store's cell that is not a cell is refused where the series is made, leaving no series", async () => {
    for (const bad of [null, "cell", 5, { inc() {}, dec() {}, set() {} }]) {
      await loadBackend({ store: { cell: () => untyped(bad) } });
      const c = new Counter({
        name: "c_total",
        description: "C.",
        requiredLabels: ["k"],
        registry: null,
      });
      assert.throws(() => c.labels({ k: "v" }), {
        name: "InvalidOptionError",
        message:
          /^The store of "c_total" made .* for a cell: cell\(\) must return an object with inc, dec, set and get methods$/,
      });
      assert.deepEqual(await c.collect(), []);
    }
  });

  test("A metric's reading that is not a Map (a plain object, or an object that only reads like one) leaves that metric out, not the others", async () => {
    // Not a Map: one whose keys() gives no iterator would fail the whole scrape if taken for one.
    const lookalike = {
      get: () => 4,
      has: () => true,
      keys: () => 5,
      size: 1,
    };
    await loadBackend({
      store: {
        cell: () => new SingleProcessBackend(),
        read: (metrics) =>
          new Map(metrics.map((m) => [
            m.metric,
            m.metric === "map_total"
              ? new Map([['{"k":"v"}', 4]])
              : untyped(m.metric === "object_total" ? {} : lookalike),
          ])),
      },
    });
    const registry = new CollectorRegistry();
    for (const name of ["map_total", "object_total", "lookalike_total"]) {
      new Counter({ name, description: "V.", requiredLabels: ["k"], registry });
    }
    await withLoggedErrors(async (messages) => {
      assert.equal(
        await generateMetrics(registry),
        '# HELP map_total V.\n# TYPE map_total counter\nmap_total{k="v"} 4\n',
      );
      assert.match(messages.join("\n"), /the store of "object_total" read an object \{\} for it/);
      assert.match(messages.join("\n"), /the store of "lookalike_total" read an object/);
    });
  });

  test("Keys of a reading that are not strings are warned about, not taken for series", async () => {
    const reading = new Map<unknown, number>([[7, 1], [Symbol("s"), 2], ['{"k":"v"}', 3]]);
    await loadBackend({
      store: {
        cell: () => new SingleProcessBackend(),
        read: (metrics) => new Map(metrics.map((m) => [m.metric, untyped(reading)])),
      },
    });
    const registry = new CollectorRegistry();
    new Counter({ name: "n_total", description: "N.", requiredLabels: ["k"], registry });
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      assert.equal(
        await generateMetrics(registry),
        '# HELP n_total N.\n# TYPE n_total counter\nn_total{k="v"} 3\n',
      );
    } finally {
      setLogger(previous);
    }
    assert.equal(messages.length, 1);
  });

  test("loadBackend() refuses what is not a store, and a store given with a class, changing nothing", async () => {
    for (
      const [store, message] of [
        [null, /store must be an object with a cell\(\) method, got null/],
        [{}, /store must have a cell\(\) method/],
        [{ cell: () => undefined, read: 5 }, /the store's read must be a function, got number 5/],
      ] as const
    ) {
      await assert.rejects(loadBackend({ store: store as never }), {
        name: "InvalidOptionError",
        message,
      });
    }
    await assert.rejects(
      loadBackend({ store: new RecordingStore(), backendClass: SingleProcessBackend }),
      InvalidOptionError,
    );
    assert.equal(currentBackend().backendClass, SingleProcessBackend);
  });

  test("A store class loads by name, constructed once with backendConfig and opened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pytheus-store-"));
    try {
      const loaded = await loadBackend({
        backendClass: "./examples/sqlite_store.ts#SqliteStore",
        backendConfig: { path: join(dir, "m.db") },
      });
      assert.ok(loaded.store instanceof SqliteStore);
      const registry = new CollectorRegistry();
      new Counter({ name: "n_total", description: "N.", registry }).inc(3);
      assert.equal(
        await generateMetrics(registry),
        "# HELP n_total N.\n# TYPE n_total counter\nn_total 3\n",
      );
      await loaded.store.close?.();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
