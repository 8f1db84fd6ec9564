/**
 * A custom collector: metrics computed when Prometheus scrapes, from state
 * the application already keeps (here, a job queue), instead of being
 * updated as things happen.
 *
 *     deno run examples/custom_collector.ts      # or: bun examples/custom_collector.ts
 *
 * It prints the exposition text a scrape would read.
 *
 * @module
 */

import { CollectorRegistry, CustomCollector, Gauge, generateMetrics } from "../mod.ts";

/** A job waiting in a queue. */
interface Job {
  readonly queue: string;
  readonly enqueuedAt: number;
}

/** The application's own state: the jobs waiting. */
const jobs: Job[] = [];

/** Reads the queue at every scrape: how many jobs wait, and for how long the oldest has. */
class QueueCollector extends CustomCollector {
  readonly #jobs: readonly Job[];
  readonly #now: () => number;

  constructor(jobs: readonly Job[], now: () => number = Date.now) {
    super();
    this.#jobs = jobs;
    this.#now = now;
  }

  *collect(): Iterable<Gauge<"queue">> {
    // Metrics of a collector are created with `registry: null`, fresh at
    // every scrape, so a queue that empties disappears from the output.
    const depth = new Gauge({
      name: "queue_jobs_waiting",
      description: "Jobs waiting in each queue.",
      requiredLabels: ["queue"],
      registry: null,
    });
    const oldest = new Gauge({
      name: "queue_oldest_job_age_seconds",
      description: "Age of the oldest job waiting in each queue.",
      requiredLabels: ["queue"],
      registry: null,
    });
    const now = this.#now();
    const waiting = new Map<string, { count: number; oldest: number }>();
    for (const { queue, enqueuedAt } of this.#jobs) {
      const seen = waiting.get(queue);
      if (seen === undefined) waiting.set(queue, { count: 1, oldest: enqueuedAt });
      else {
        seen.count++;
        seen.oldest = Math.min(seen.oldest, enqueuedAt);
      }
    }
    for (const [queue, { count, oldest: enqueuedAt }] of waiting) {
      depth.labels({ queue }).set(count);
      oldest.labels({ queue }).set((now - enqueuedAt) / 1000);
    }
    yield depth;
    yield oldest;
  }
}

const registry = new CollectorRegistry({ prefix: "worker" });
// Its name is its class name, lowercased: "queuecollector". The clock is
// fixed here so that the output below is always the same.
registry.register(new QueueCollector(jobs, () => 10_000));

jobs.push({ queue: "mail", enqueuedAt: 1_000 });
jobs.push({ queue: "mail", enqueuedAt: 4_000 });
jobs.push({ queue: "thumbnails", enqueuedAt: 8_500 });

console.log((await generateMetrics(registry)).trimEnd());
