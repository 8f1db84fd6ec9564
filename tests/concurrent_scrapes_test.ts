/**
 * Scrapes that arrive together (several Prometheus servers, a text and an
 * OpenMetrics scraper, a burst of retries) share one collection in flight:
 * one read of the backends, one rendering per format.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  encodeMetrics,
  Gauge,
  generateMetrics,
  loadBackend,
  makeHandler,
  type MetricCollector,
  type Sample,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { needs } from "./_process.ts";
import { withRedisBackend } from "./_redis.ts";
import { serve } from "./_serve.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

/** A collector that counts how often it is read, and answers after a turn of the event loop. */
function countingCollector(): MetricCollector & { reads: number } {
  const collector = {
    name: "reads",
    description: "Reads.",
    type: "gauge" as const,
    reads: 0,
    async collect(): Promise<Sample[]> {
      const value = ++collector.reads;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return [{ suffix: "", labels: {}, value }];
    },
  };
  return collector;
}

describe("Concurrent scrapes", () => {
  test("16 generateMetrics() at once read the registry once and get the same text", async () => {
    const registry = new CollectorRegistry();
    const collector = countingCollector();
    registry.register(collector);
    const texts = await Promise.all(Array.from({ length: 16 }, () => generateMetrics(registry)));
    assert.equal(collector.reads, 1);
    assert.deepEqual(
      new Set(texts),
      new Set(["# HELP reads Reads.\n# TYPE reads gauge\nreads 1\n"]),
    );
  });

  test("A text and an OpenMetrics scrape at once share the reading, each in its format", async () => {
    const registry = new CollectorRegistry();
    const collector = countingCollector();
    registry.register(collector);
    const [text, om, bytes] = await Promise.all([
      generateMetrics(registry),
      generateMetrics(registry, { format: "openmetrics" }),
      encodeMetrics(registry),
    ]);
    assert.equal(collector.reads, 1);
    assert.equal(text, "# HELP reads Reads.\n# TYPE reads gauge\nreads 1\n");
    assert.equal(om, "# TYPE reads gauge\n# HELP reads Reads.\nreads 1\n# EOF\n");
    assert.equal(new TextDecoder().decode(bytes), text);
  });

  test("encodeMetrics() at once gives each caller bytes of its own, equal", async () => {
    const registry = new CollectorRegistry();
    registry.register(countingCollector());
    const [a, b] = await Promise.all([encodeMetrics(registry), encodeMetrics(registry)]);
    assert.notEqual(a, b);
    assert.deepEqual(a, b);
    a[0] = 0x58;
    assert.equal(new TextDecoder().decode(b), "# HELP reads Reads.\n# TYPE reads gauge\nreads 1\n");
  });

  test("A scrape after the one in flight settled reads again: nothing is cached", async () => {
    const registry = new CollectorRegistry();
    const collector = countingCollector();
    registry.register(collector);
    const c = new Counter({ name: "jobs_total", description: "J.", registry });
    c.inc();
    assert.match(await generateMetrics(registry), /^jobs_total 1$/m);
    c.inc();
    assert.match(await generateMetrics(registry), /^jobs_total 2$/m);
    assert.equal(collector.reads, 2);
  });

  test("A scrape that fails fails every scrape sharing it; the next one reads again", async () => {
    const registry = new CollectorRegistry();
    let fail = true;
    registry.register({
      name: "flaky",
      description: "F.",
      type: "gauge",
      async collect(): Promise<Sample[]> {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (fail) throw new Error("down");
        return [{ suffix: "", labels: {}, value: 1 }];
      },
    });
    const results = await Promise.allSettled([
      generateMetrics(registry),
      generateMetrics(registry),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    fail = false;
    assert.match(await generateMetrics(registry), /^flaky 1$/m);
  });

  test("makeHandler() answers 16 requests at once with one reading, each body whole", async () => {
    const registry = new CollectorRegistry();
    const collector = countingCollector();
    registry.register(collector);
    const g = new Gauge({ name: "series", description: "S.", requiredLabels: ["i"], registry });
    for (let i = 0; i < 2000; i++) g.labels({ i: String(i) }).set(i);
    const expected = await generateMetrics(registry);
    const handler = makeHandler({ registry, gzip: false });
    const responses = await Promise.all(
      Array.from({ length: 16 }, () => handler(new Request("http://localhost/metrics"))),
    );
    const bodies = await Promise.all(responses.map((r) => r.text()));
    assert.equal(collector.reads, 2);
    for (const body of bodies) assert.equal(body, expected.replace("reads 1", "reads 2"));
  });
});

describe("Concurrent scrapes of a Redis-backed registry", { skip: needs("redis-server") }, () => {
  withRedisBackend("concurrent");

  test("16 clients scraping 100k Redis series at once over HTTP all get 200 and the same numbers", async () => {
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "hits_total",
      description: "H.",
      requiredLabels: ["id"],
      registry,
    });
    for (let i = 0; i < 100_000; i++) c.labels({ id: String(i) }).inc(i % 7);
    await MultiProcessRedisBackend.flush();
    const served = serve(makeHandler({ registry, gzip: false }));
    try {
      const responses = await Promise.all(Array.from({ length: 16 }, () => fetch(served.url)));
      assert.deepEqual(responses.map((r) => r.status), new Array(16).fill(200));
      const bodies = await Promise.all(responses.map((r) => r.text()));
      const total = (body: string): number =>
        body.split("\n").filter((line) => line.startsWith("hits_total{")).reduce(
          (sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)),
          0,
        );
      let expected = 0;
      for (let i = 0; i < 100_000; i++) expected += i % 7;
      for (const body of bodies) assert.equal(total(body), expected);
    } finally {
      await served.close();
    }
  });
});
