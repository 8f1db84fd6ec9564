/**
 * The store protocol with a store it was not built for: the SQLite store of
 * `examples/sqlite_store.ts`, shared by several real processes.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  Gauge,
  generateMetrics,
  Histogram,
  loadBackend,
  SingleProcessBackend,
} from "../mod.ts";
import { SqliteStore } from "../examples/sqlite_store.ts";
import { run } from "./_process.ts";
import { IS_BUN } from "./_serve.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "pytheus-sqlite-"));
let files = 0;
const dbPath = (): string => join(dir, `metrics-${++files}.db`);

/** The metrics of tests/fixtures/sqlite_writer.ts, in a registry of this process. */
function writerMetrics(registry: CollectorRegistry) {
  return {
    requests: new Counter({
      name: "requests_total",
      description: "Requests.",
      requiredLabels: ["worker"],
      registry,
    }),
    jobs: new Counter({ name: "jobs_total", description: "Jobs.", registry }),
    latency: new Histogram({
      name: "latency_seconds",
      description: "Latency.",
      buckets: [0.1, 1],
      requiredLabels: ["route"],
      registry,
    }),
    depth: new Gauge({
      name: "queue_depth",
      description: "Depth.",
      requiredLabels: ["worker"],
      registry,
    }),
  };
}

describe("A store in a page: SQLite shared by processes", () => {
  after(async () => {
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    rmSync(dir, { recursive: true, force: true });
  });

  test("4 processes writing at once: a fifth sees the exact totals, and every series they made", async () => {
    const path = dbPath();
    const count = 3000;
    const fixture = join(ROOT, "tests", "fixtures", "sqlite_writer.ts");
    const [command, args] = IS_BUN
      ? ["bun", ["run", fixture]]
      : ["deno", ["run", "--allow-all", "--config", join(ROOT, "deno.json"), fixture]];
    const results = await Promise.all(
      [0, 1, 2, 3].map((worker) => run(command, [...args, path, `w${worker}`, String(count)])),
    );
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const store = new SqliteStore({ path });
    await loadBackend({ store });
    const registry = new CollectorRegistry();
    writerMetrics(registry);
    try {
      assert.equal(
        await generateMetrics(registry),
        "# HELP requests_total Requests.\n# TYPE requests_total counter\n" +
          [0, 1, 2, 3].map((w) => `requests_total{worker="w${w}"} ${count}\n`).join("") +
          "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\n" +
          `jobs_total ${4 * count * 0.5}\n` +
          "# HELP latency_seconds Latency.\n# TYPE latency_seconds histogram\n" +
          `latency_seconds_bucket{route="/users/:id",le="0.1"} ${4 * count / 2}\n` +
          `latency_seconds_bucket{route="/users/:id",le="1"} ${4 * count}\n` +
          `latency_seconds_bucket{route="/users/:id",le="+Inf"} ${4 * count}\n` +
          `latency_seconds_sum{route="/users/:id"} ${4 * (count / 2) * (0.0625 + 0.5)}\n` +
          `latency_seconds_count{route="/users/:id"} ${4 * count}\n` +
          "# HELP queue_depth Depth.\n# TYPE queue_depth gauge\n" +
          [0, 1, 2, 3].map((w) => `queue_depth{worker="w${w}"} ${count - 1}\n`).join(""),
      );
    } finally {
      await store.close();
    }
  });

  test("Two registries' metrics of one name stay two series; remove() and clear() reach the file", async () => {
    const path = dbPath();
    const store = new SqliteStore({ path });
    await loadBackend({ store });
    const shop = new CollectorRegistry({ prefix: "shop" });
    const admin = new CollectorRegistry({ prefix: "admin" });
    const orders = (registry: CollectorRegistry) =>
      new Counter({
        name: "orders_total",
        description: "Orders.",
        requiredLabels: ["k"],
        registry,
      });
    orders(shop).labels({ k: "a" }).inc(1);
    const adminOrders = orders(admin);
    adminOrders.labels({ k: "a" }).inc(2);
    adminOrders.labels({ k: "b" }).inc(3);
    // A second store on the same file stands for another process.
    const other = new SqliteStore({ path });
    try {
      assert.equal(
        await generateMetrics(shop),
        '# HELP shop_orders_total Orders.\n# TYPE shop_orders_total counter\nshop_orders_total{k="a"} 1\n',
      );
      assert.equal(
        await generateMetrics(admin),
        "# HELP admin_orders_total Orders.\n# TYPE admin_orders_total counter\n" +
          'admin_orders_total{k="a"} 2\nadmin_orders_total{k="b"} 3\n',
      );
      const read = () =>
        other.read([{
          metric: "admin/orders_total",
          registryPrefix: "admin",
          name: "orders_total",
          type: "counter",
          labelNames: ["k"],
          samples: [""],
        }]).get("admin/orders_total");
      adminOrders.remove({ k: "a" });
      await generateMetrics(admin);
      assert.deepEqual([...read()!], [['{"k":"b"}', 3]]);
      adminOrders.clear();
      // Written with the next flush: a scrape's read writes first.
      await generateMetrics(admin);
      assert.deepEqual([...read()!], []);
      assert.equal(
        await generateMetrics(admin),
        "# HELP admin_orders_total Orders.\n# TYPE admin_orders_total counter\n",
      );
    } finally {
      await other.close();
      await store.close();
    }
  });
});
