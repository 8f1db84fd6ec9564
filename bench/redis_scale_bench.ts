/**
 * The Redis backend at scale: 100k and 1M counter series in one process,
 * each size in a process of its own, on a redis-server this script starts
 * on a free port of 127.0.0.1 (and stops). Reports the scrape time
 * (`encodeMetrics()`: flush, one round trip, rendering), the longest stall
 * of the event loop during that scrape (a 1 ms timer's worst lateness), the
 * application's heap per series against the same series in memory, and
 * Redis' memory per series. `deno task bench` runs it on Deno, then on Bun.
 *
 *     deno run -A --v8-flags=--expose-gc bench/redis_scale_bench.ts   # or: bun bench/redis_scale_bench.ts
 */

import process from "node:process";
import {
  CollectorRegistry,
  Counter,
  encodeMetrics,
  loadBackend,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { run, which } from "../tests/_process.ts";
import { startRedis } from "../tests/_redis.ts";
import { fmt, heapUsed, rerun, runtimeName, table } from "./_harness.ts";

const scale = Number(process.env.BENCH_SCALE ?? 1);
const SIZES = [100_000, 1_000_000].map((n) => Math.max(1000, Math.round(n * scale)));
const SCRAPES = 3;

/** What one size measures, in its own process. */
interface Figures {
  series: number;
  scrapeMs: number;
  stallMs: number;
  heapRedis: number;
  heapMemory: number;
  redisBytes: number;
}

/**
 * The heap once `settle` is done and the event loop has had its turn: a
 * Redis flush resolves inside the socket callback that read Redis' reply,
 * and until that callback returns, Bun's collector still finds the reply's
 * ioredis command, and with it the arguments of the whole batch just
 * written (at 100k series, 25 B per series that the next turn frees).
 */
async function settledHeap(settle: () => Promise<void>): Promise<number> {
  await settle();
  await new Promise((resolve) => setImmediate(resolve));
  return heapUsed();
}

/**
 * Makes `n` counter series and increments each once; returns the heap they
 * take once written (`settle`: the Redis flush, whose batch is transient),
 * per series.
 */
async function makeSeries(
  n: number,
  registry: CollectorRegistry,
  settle: () => Promise<void>,
): Promise<{ heap: number; counter: Counter<"id"> }> {
  const before = await settledHeap(settle);
  const counter = new Counter({
    name: "requests_total",
    description: "Requests.",
    requiredLabels: ["id"],
    registry,
  });
  for (let i = 0; i < n; i++) counter.labels({ id: `user-${i}` }).inc();
  return { heap: (await settledHeap(settle) - before) / n, counter };
}

/** The longest a 1 ms timer ran late while `job` ran: the event loop's longest stall. */
async function longestStall<T>(job: () => Promise<T>): Promise<{ result: T; stall: number }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last - 1);
    last = now;
  }, 1);
  try {
    const result = await job();
    const now = performance.now();
    stall = Math.max(stall, now - last - 1);
    return { result, stall };
  } finally {
    clearInterval(timer);
  }
}

async function measure(n: number, port: number): Promise<Figures> {
  const memory = await makeSeries(n, new CollectorRegistry(), () => Promise.resolve());
  const heapMemory = memory.heap;
  memory.counter.clear();
  await loadBackend({
    backendClass: MultiProcessRedisBackend,
    backendConfig: { port, keyPrefix: "scale", handleSignals: false, timeoutMs: 60_000 },
  });
  const registry = new CollectorRegistry();
  const redis = await makeSeries(n, registry, () => MultiProcessRedisBackend.flush());
  const times: number[] = [];
  let stallMs = 0;
  for (let i = 0; i < SCRAPES; i++) {
    const started = performance.now();
    const { result, stall } = await longestStall(() => encodeMetrics(registry));
    times.push(performance.now() - started);
    stallMs = Math.max(stallMs, stall);
    if (result.length < n * 20) throw new Error(`scrape too short: ${result.length} bytes`);
  }
  const heapRedis = redis.heap;
  await MultiProcessRedisBackend.close();
  await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  times.sort((a, b) => a - b);
  return {
    series: n,
    scrapeMs: times[times.length >> 1]!,
    stallMs,
    heapRedis,
    heapMemory,
    redisBytes: 0,
  };
}

if (process.argv[2] === "--child") {
  const figures = await measure(Number(process.argv[3]), Number(process.argv[4]));
  console.log(JSON.stringify(figures));
  process.exit(0);
}

if (which("redis-server") === undefined) {
  console.log("\n*** SKIPPED Redis scale bench: redis-server not installed ***\n");
} else {
  const rows: string[][] = [];
  for (const n of SIZES) {
    const server = await startRedis();
    try {
      const usedMemory = async (): Promise<number> =>
        Number(/used_memory:(\d+)/.exec(await server.command("INFO", "memory"))?.[1]);
      const empty = await usedMemory();
      const [command, ...args] = rerun(new URL(import.meta.url).pathname, [
        "--child",
        String(n),
        String(server.port),
      ]);
      const { code, stdout, stderr } = await run(command!, args);
      if (code !== 0) throw new Error(`child failed: ${stderr}`);
      const figures = JSON.parse(stdout.trim().split("\n").at(-1)!) as Figures;
      figures.redisBytes = (await usedMemory() - empty) / n;
      rows.push([
        `${fmt(n / 1000)}k counter series`,
        fmt(figures.scrapeMs),
        fmt(figures.stallMs),
        fmt(figures.heapRedis),
        fmt(figures.heapMemory),
        `${fmt(figures.heapRedis / figures.heapMemory)}x`,
        fmt(figures.redisBytes),
      ]);
    } finally {
      await server.stop();
    }
  }
  console.log(`\n## Redis backend at scale, ${runtimeName()}\n`);
  console.log(table([
    "case",
    "scrape (ms)",
    "longest event-loop stall in a scrape (ms)",
    "app heap per series, Redis (B)",
    "app heap per series, in memory (B)",
    "Redis / in memory",
    "Redis memory per series (B)",
  ], rows));
  console.log(
    `\n(scrape = encodeMetrics(): flush, one round trip, rendering; median of ${SCRAPES}; stall = worst lateness of a 1 ms timer during the scrapes; each size in its own process)`,
  );
}
