/** Scrapes in slices: a scrape of many series lets the event loop run while it works. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CollectorRegistry, Counter, generateMetrics, Histogram } from "../mod.ts";
import { needs } from "./_process.ts";
import { withRedisBackend } from "./_redis.ts";

/** How many times a 0 ms timer ran while `job` ran: 0 if the job held the event loop throughout. */
async function timerRunsDuring(job: () => Promise<unknown>): Promise<number> {
  let runs = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    runs++;
    setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  try {
    await job();
  } finally {
    done = true;
  }
  return runs;
}

function manySeries(registry: CollectorRegistry, n: number): void {
  const c = new Counter({
    name: "hits_total",
    description: "H.",
    requiredLabels: ["id"],
    registry,
  });
  const h = new Histogram({
    name: "size_bytes",
    description: "S.",
    requiredLabels: ["id"],
    buckets: [10, 100],
    registry,
  });
  for (let i = 0; i < n; i++) {
    c.labels({ id: `u${i}` }).inc();
    if (i % 10 === 0) h.labels({ id: `u${i}` }).observe(i);
  }
}

describe("Scrapes in slices", () => {
  test("The event loop runs while 200k series in memory are scraped, and the text is the same", async () => {
    const registry = new CollectorRegistry();
    manySeries(registry, 200_000);
    let text = "";
    const runs = await timerRunsDuring(async () => {
      text = await generateMetrics(registry);
    });
    assert.ok(runs > 0, "a timer ran during the scrape");
    const lines = text.split("\n");
    assert.equal(lines.filter((line) => line.startsWith("hits_total{")).length, 200_000);
    assert.equal(lines.filter((line) => line.startsWith("size_bytes_count{")).length, 20_000);
    // A scrape started after is the same, line for line: nothing skipped or repeated.
    assert.equal(await generateMetrics(registry), text);
  });
});

describe("Scrapes in slices, with Redis", { skip: needs("redis-server") }, () => {
  withRedisBackend("slices");
  test("The event loop runs while 50k Redis series are read and scraped", async () => {
    const registry = new CollectorRegistry();
    manySeries(registry, 50_000);
    let text = "";
    const runs = await timerRunsDuring(async () => {
      text = await generateMetrics(registry);
    });
    assert.ok(runs > 0, "a timer ran during the scrape");
    assert.equal(text.split("\n").filter((line) => line.startsWith("hits_total{")).length, 50_000);
  });
});
