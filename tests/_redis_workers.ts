/**
 * What tests/fixtures/redis_worker.ts records, seen from another process: its
 * metrics in a registry of this one, and the totals `workers` processes of
 * `ops` operations each must give.
 */

import assert from "node:assert/strict";
import {
  CollectorRegistry,
  type CollectorRegistryOptions,
  Counter,
  Gauge,
  Histogram,
} from "../mod.ts";

/** A registry holding the fixture's metrics, none of their series made here. */
export function workerRegistry(options: CollectorRegistryOptions = {}): CollectorRegistry {
  const registry = new CollectorRegistry(options);
  new Counter({
    name: "mp_jobs_total",
    description: "Jobs.",
    requiredLabels: ["worker", "kind"],
    registry,
  });
  new Gauge({ name: "mp_inflight", description: "In flight.", registry });
  new Gauge({
    name: "mp_last_op",
    description: "Last op.",
    requiredLabels: ["worker"],
    registry,
  });
  new Histogram({
    name: "mp_job_seconds",
    description: "Job time.",
    buckets: [0.25, 0.5, 1],
    registry,
  });
  new Counter({
    name: "mp_pairs_total",
    description: "Pairs.",
    requiredLabels: ["a", "b"],
    registry,
  });
  return registry;
}

/**
 * Asserts a scrape's totals of `workers` fixture processes of `ops` operations each.
 *
 * @param text The scrape.
 * @param workers How many processes ran.
 * @param ops How many operations each made.
 */
export function assertWorkerTotals(text: string, workers: number, ops: number): void {
  const sorted = (prefix: string): string[] =>
    text.split("\n").filter((l) => l.startsWith(prefix)).sort();
  const total = workers * ops;
  assert.deepEqual(
    sorted("mp_jobs_total{"),
    Array.from({ length: workers }, (_, i) => `mp_jobs_total{worker="w${i}",kind="a"} ${ops}`),
  );
  assert.deepEqual(sorted("mp_inflight"), [`mp_inflight ${total}`]);
  assert.deepEqual(
    sorted("mp_last_op{"),
    Array.from({ length: workers }, (_, i) => `mp_last_op{worker="w${i}"} ${ops}`),
  );
  assert.deepEqual(sorted("mp_job_seconds"), [
    `mp_job_seconds_bucket{le="+Inf"} ${total}`,
    `mp_job_seconds_bucket{le="0.25"} ${total / 2}`,
    `mp_job_seconds_bucket{le="0.5"} ${total * 3 / 4}`,
    `mp_job_seconds_bucket{le="1"} ${total * 3 / 4}`,
    `mp_job_seconds_count ${total}`,
    `mp_job_seconds_sum ${total / 4 * 2.875}`,
  ]);
  assert.deepEqual(sorted("mp_pairs_total{"), [
    `mp_pairs_total{a="p",b="q-r"} ${total / 4}`,
    `mp_pairs_total{a="p-q",b="r"} ${total / 4}`,
    `mp_pairs_total{a="x",b="y"} ${total / 4}`,
    `mp_pairs_total{a="y",b="x"} ${total / 4}`,
  ]);
}
