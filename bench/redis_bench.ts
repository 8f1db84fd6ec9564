/**
 * MultiProcessRedisBackend against a pytheus-style baseline, both on one
 * redis-server that this script starts on a free port of 127.0.0.1 (and
 * stops): `deno task bench` runs it on Deno, then on Bun.
 *
 * The baseline is what pytheus (Python) does, written here with ioredis: every
 * `inc()` is one `HINCRBYFLOAT` plus one `EXPIRE`, each awaited before the
 * next (pytheus is synchronous), and a scrape reads one `HGET` per stored
 * field, one after the other. pytheus-ts adds up changes in memory, writes
 * them in one script call per flush, and reads every metric of a scrape in
 * one round trip.
 *
 * Every case checks afterwards, by reading Redis, that the values landed
 * exactly. Without redis-server on PATH it prints a loud SKIPPED line.
 */

import { Redis } from "ioredis";
import process from "node:process";
import {
  CollectorRegistry,
  Counter,
  DEFAULT_BUCKETS,
  generateMetrics,
  Histogram,
  loadBackend,
  SingleProcessBackend,
} from "../mod.ts";
import type { CounterChild } from "../types.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { run, which } from "../tests/_process.ts";
import { type RedisServer, startRedis } from "../tests/_redis.ts";
import {
  fmt,
  loopOps,
  median,
  rerun,
  runtimeName,
  table,
  timeJobs,
  timeLoops,
} from "./_harness.ts";

const PREFIX = "bench";
const ROUNDS = 7;
// BENCH_SCALE=0.1 gives a quick smoke run of the same cases.
const scale = Number(process.env.BENCH_SCALE ?? 1);
const n = (count: number): number => Math.max(1, Math.round(count * scale));

const INC_OPS = n(5_000_000);
const LANDED_SERIES = 1000;
const LANDED_OPS = n(1_000_000);
const DISTINCT_SERIES = 10_000;
const BASELINE_OPS = n(2000);
const SCRAPE_ROUTES = 1000;
const SCRAPE_CODES = 10;
const HISTOGRAM_SERIES = 100;
const SCRAPE_RUNS = 15;
const SCRAPE_WARMUPS = 10;
// How many processes of its own each of our timings takes the median of.
const PROCESSES = 3;

/** One row of the table; `ratio` and `target` are already worded. */
interface Row {
  readonly name: string;
  readonly unit: string;
  readonly ours: number;
  readonly baseline: number;
  readonly ratio: string;
  readonly target: string;
}

/** The sum of a Redis hash's values, and how many fields it has. */
async function hashTotal(client: Redis, key: string): Promise<{ sum: number; fields: number }> {
  const hash = await client.hgetall(key);
  let sum = 0;
  for (const value of Object.values(hash)) sum += Number(value);
  return { sum, fields: Object.keys(hash).length };
}

function check(what: string, got: number, expected: number): void {
  if (got !== expected) throw new Error(`${what}: Redis holds ${got}, expected ${expected}`);
}

/** `value` passes when at least `min` (or, with `max`, at most). */
function verdict(value: number, bound: number, atMost = false): string {
  const ok = atMost ? value <= bound : value >= bound;
  return `${atMost ? "<=" : ">="} ${bound}x ${ok ? "PASS" : "MISS"}`;
}

/**
 * A row where pytheus-ts is `speedup` times faster than the baseline: a
 * target of at least `bound` times, or the reason there is none.
 */
function fasterRow(
  name: string,
  unit: string,
  ours: number,
  baseline: number,
  speedup: number,
  bound: number | string,
): Row {
  const target = typeof bound === "number" ? verdict(speedup, bound) : bound;
  return { name, unit, ours, baseline, ratio: `${fmt(speedup)}x faster`, target };
}

/**
 * `inc()` on a Redis-backed child against an in-memory child, each timed in
 * a fresh process of this runtime that uses only that backend, as an
 * application does: one process using both would make the call site
 * polymorphic and time neither case as it runs in practice. The median of
 * {@linkcode PROCESSES} processes each, taking turns, as the code an
 * engine makes for the same loop differs from one process to the next.
 */
async function incCost(client: Redis): Promise<Row> {
  const memory: number[] = [];
  const redis: number[] = [];
  let landed = 0;
  for (let i = 0; i < PROCESSES; i++) {
    memory.push((await incInProcess("memory")).ns);
    // Each from no series in Redis (the process checks what it reads back).
    await deleteKeys(client, `${PREFIX}:{bench_child_total}*`);
    const inRedis = await incInProcess("redis");
    redis.push(inRedis.ns);
    landed = inRedis.ops;
  }
  const field = JSON.stringify({ code: "200", method: "GET" });
  check(
    "Redis child",
    Number(await client.hget(`${PREFIX}:{bench_child_total}`, field)),
    landed,
  );
  const ours = median(redis);
  const baseline = median(memory);
  return {
    name: "child.inc(), Redis backend (baseline: in-memory child; each in its own process)",
    unit: "ns/op",
    ours,
    baseline,
    ratio: `${fmt(ours / baseline)}x the cost`,
    target: verdict(ours / baseline, 2, true),
  };
}

/** Deletes the keys matching a pattern (the bench's own, on its own server). */
async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  const keys = await client.keys(pattern);
  if (keys.length > 0) await client.del(...keys);
}

/**
 * Runs this script again with `env` (one of its sides: `BENCH_INC`,
 * `BENCH_SCRAPE`), against this bench's Redis.
 *
 * @returns What the side printed last, parsed.
 */
async function runSide(what: string, env: Record<string, string>): Promise<unknown> {
  const [command, ...args] = rerun(new URL(import.meta.url).pathname, []);
  const { code, stdout, stderr } = await run(command!, args, {
    env: { ...env, BENCH_REDIS_PORT: String(redisPort) },
  });
  if (code !== 0) throw new Error(`${what} failed:\n${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

/** Runs this script as `BENCH_INC=<backend>`: it times `child.inc()` and prints the figures. */
async function incInProcess(backend: "memory" | "redis"): Promise<{ ns: number; ops: number }> {
  return await runSide(`inc() timing (${backend})`, { BENCH_INC: backend }) as {
    ns: number;
    ops: number;
  };
}

/** The `BENCH_INC` side of {@linkcode incInProcess}. */
async function timeInc(backend: string): Promise<void> {
  if (backend === "redis") await loadRedis();
  const counter = new Counter({
    name: backend === "redis" ? "bench_child_total" : "bench_memory_total",
    description: "Bench.",
    requiredLabels: ["method", "code"] as const,
    registry: null,
  });
  const child = counter.labels({ method: "GET", code: "200" });
  const ns = timeLoops(
    new Map([[backend, (count: number) => {
      for (let i = 0; i < count; i++) child.inc();
    }]]),
    INC_OPS,
    ROUNDS,
  ).get(backend)!;
  const ops = loopOps(INC_OPS, ROUNDS);
  check(`${backend} child`, (await counter.collect())[0]!.value, ops);
  await MultiProcessRedisBackend.close().catch(() => {});
  console.log(JSON.stringify({ ns, ops }));
}

/**
 * Operations landed in Redis per second: ours is `inc()` calls then
 * `flush()`, timed until Redis confirmed; the baseline is two awaited round
 * trips per operation.
 */
async function landed(client: Redis): Promise<Row[]> {
  const coalesced = new Counter({
    name: "bench_landed_total",
    description: "Bench.",
    requiredLabels: ["route"] as const,
    registry: null,
  });
  const coalescedChildren: CounterChild<"route">[] = [];
  for (let i = 0; i < LANDED_SERIES; i++) {
    coalescedChildren.push(coalesced.labels({ route: `/r/${i}` }));
  }
  const distinct = new Counter({
    name: "bench_distinct_total",
    description: "Bench.",
    requiredLabels: ["route"] as const,
    registry: null,
  });
  const distinctChildren: CounterChild<"route">[] = [];
  for (let i = 0; i < DISTINCT_SERIES; i++) {
    distinctChildren.push(distinct.labels({ route: `/r/${i}` }));
  }
  const baselineKey = `${PREFIX}:baseline_landed_total`;
  const baselineFields = Array.from(
    { length: LANDED_SERIES },
    (_, i) => JSON.stringify({ route: `/r/${i}` }),
  );
  await MultiProcessRedisBackend.flush();

  const jobs = new Map<string, () => Promise<unknown>>([
    ["coalesced", async () => {
      const children = coalescedChildren;
      for (let i = 0; i < LANDED_OPS; i++) children[i % LANDED_SERIES]!.inc();
      await MultiProcessRedisBackend.flush();
    }],
    ["distinct", async () => {
      for (const child of distinctChildren) child.inc();
      await MultiProcessRedisBackend.flush();
    }],
    ["baseline", async () => {
      for (let i = 0; i < BASELINE_OPS; i++) {
        await client.hincrbyfloat(baselineKey, baselineFields[i % LANDED_SERIES]!, 1);
        await client.expire(baselineKey, 3600);
      }
    }],
  ]);
  const warmup = 1;
  const ms = await timeJobs(jobs, ROUNDS, warmup);
  const runs = warmup + ROUNDS;
  const ours = await hashTotal(client, `${PREFIX}:{bench_landed_total}`);
  check("coalesced inc() total", ours.sum, runs * LANDED_OPS);
  const spread = await hashTotal(client, `${PREFIX}:{bench_distinct_total}`);
  check("distinct inc() total", spread.sum, runs * DISTINCT_SERIES);
  check("distinct series", spread.fields, DISTINCT_SERIES);
  check("baseline total", (await hashTotal(client, baselineKey)).sum, runs * BASELINE_OPS);

  const baselineRate = BASELINE_OPS / (ms.get("baseline")! / 1000);
  const coalescedRate = LANDED_OPS / (ms.get("coalesced")! / 1000);
  const distinctRate = DISTINCT_SERIES / (ms.get("distinct")! / 1000);
  const baselineName = `baseline: ${BASELINE_OPS} x awaited HINCRBYFLOAT + EXPIRE`;
  return [
    fasterRow(
      `ops landed in Redis: ${LANDED_OPS / 1000}k inc() over ${
        LANDED_SERIES / 1000
      }k series + flush() (${baselineName})`,
      "ops/s",
      coalescedRate,
      baselineRate,
      coalescedRate / baselineRate,
      100,
    ),
    fasterRow(
      `ops landed in Redis: 1 inc() on each of ${
        DISTINCT_SERIES / 1000
      }k series + flush(), nothing coalesces (same baseline)`,
      "ops/s",
      distinctRate,
      baselineRate,
      distinctRate / baselineRate,
      "- (worst case, no target)",
    ),
  ];
}

/** The series of a scrape, made and written to Redis by this process. */
async function scrapeRegistry(
  withHistograms: boolean,
): Promise<{ registry: CollectorRegistry; counterName: string }> {
  const registry = new CollectorRegistry();
  const counterName = `bench_scrape${withHistograms ? "_h" : ""}_total`;
  const counter = new Counter({
    name: counterName,
    description: "Requests.",
    requiredLabels: ["route", "code"] as const,
    registry,
  });
  for (let r = 0; r < SCRAPE_ROUTES; r++) {
    for (let k = 0; k < SCRAPE_CODES; k++) {
      counter.labels({ route: `/api/v1/items/${r}`, code: String(200 + k) }).inc(r + k + 1);
    }
  }
  if (withHistograms) {
    const histogram = new Histogram({
      name: "bench_scrape_seconds",
      description: "Latency.",
      requiredLabels: ["route"] as const,
      registry,
    });
    for (let r = 0; r < HISTOGRAM_SERIES; r++) {
      const child = histogram.labels({ route: `/api/v1/items/${r}` });
      for (let v = 0; v < 3; v++) child.observe(0.001 * (r + 1) * (v + 1));
    }
  }
  await MultiProcessRedisBackend.flush();
  return { registry, counterName };
}

/** The fields a pytheus-style scrape reads: every series' field, stored or not. */
async function baselineFields(client: Redis, withHistograms: boolean): Promise<[string, string][]> {
  const counterKey = `${PREFIX}:{bench_scrape${withHistograms ? "_h" : ""}_total}`;
  // One per counter series...
  const fields: [string, string][] = (await client.hkeys(counterKey)).map((f) => [counterKey, f]);
  check("counter series in Redis", fields.length, SCRAPE_ROUTES * SCRAPE_CODES);
  if (withHistograms) {
    // ... and, per histogram series, one per bucket (empty ones too) and one for the sum.
    const histogramKey = `${PREFIX}:{bench_scrape_seconds}`;
    const samples = [...DEFAULT_BUCKETS.map(String), "+Inf", "sum"];
    for (let r = 0; r < HISTOGRAM_SERIES; r++) {
      const series = JSON.stringify({ route: `/api/v1/items/${r}` });
      for (const sample of samples) fields.push([histogramKey, `${series}|${sample}`]);
    }
  }
  return fields;
}

/**
 * Runs this script as `BENCH_SCRAPE=<case>` in {@linkcode PROCESSES}
 * processes, one after the other, each timing the scrape: the median of
 * their medians (an engine's code for the same scrape differs from one
 * process to the next: 4.8 to 7.7 ms on Deno). Each starts from no
 * scrape series in Redis; the last one's stay, for the baseline to read.
 */
async function scrapeInProcess(client: Redis, withHistograms: boolean): Promise<number> {
  const medians: number[] = [];
  for (let i = 0; i < PROCESSES; i++) {
    await deleteKeys(client, `${PREFIX}:{bench_scrape*`);
    const side = { BENCH_SCRAPE: withHistograms ? "histograms" : "counters" };
    medians.push((await runSide("scrape timing", side) as { ms: number }).ms);
  }
  return median(medians);
}

/**
 * The `BENCH_SCRAPE` side of {@linkcode scrapeInProcess}: an application's
 * process, which makes its series, writes them and serves its scrapes.
 */
async function timeScrape(withHistograms: boolean): Promise<void> {
  await loadRedis();
  const { registry, counterName } = await scrapeRegistry(withHistograms);
  let expectedTotal = 0;
  for (let r = 0; r < SCRAPE_ROUTES; r++) {
    for (let k = 0; k < SCRAPE_CODES; k++) expectedTotal += r + k + 1;
  }
  // A histogram series: its buckets (+Inf included), its sum and its count.
  const samples = SCRAPE_ROUTES * SCRAPE_CODES +
    (withHistograms ? HISTOGRAM_SERIES * (DEFAULT_BUCKETS.length + 3) : 0);
  const read = readScrape(await generateMetrics(registry), counterName);
  check("scraped sample lines", read.lines, samples);
  check("scraped counter total", read.total, expectedTotal);
  // A scraped server's steady state: its compiler has seen many scrapes (Python has none to warm).
  const ms = await timeJobs(
    new Map([["ours", () => generateMetrics(registry)]]),
    SCRAPE_RUNS,
    SCRAPE_WARMUPS,
  );
  await MultiProcessRedisBackend.close();
  console.log(JSON.stringify({ ms: ms.get("ours")! }));
}

/** Counts the sample lines of a rendering and sums the counter's values. */
function readScrape(text: string, counterName: string): { lines: number; total: number } {
  let lines = 0;
  let total = 0;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    lines++;
    if (line.startsWith(counterName + "{")) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return { lines, total };
}

/**
 * A scrape: ours is `generateMetrics()` in a process of its own, which made
 * and wrote the series (an application's); the baseline reads one field per
 * `HGET`, in this process, afterwards.
 */
async function scrape(client: Redis, withHistograms: boolean): Promise<Row[]> {
  const ours = await scrapeInProcess(client, withHistograms);
  const fields = await baselineFields(client, withHistograms);

  let sink = 0;
  const jobs = new Map<string, () => Promise<unknown>>([
    ["sequential", async () => {
      for (const [key, field] of fields) sink += Number(await client.hget(key, field));
    }],
    ["pipelined", async () => {
      const pipeline = client.pipeline();
      for (const [key, field] of fields) pipeline.hget(key, field);
      for (const [, value] of (await pipeline.exec())!) sink += Number(value);
    }],
  ]);
  const ms = await timeJobs(jobs, SCRAPE_RUNS, 2);
  if (Number.isNaN(sink)) throw new Error("the baseline read a value that is not a number");
  const sequential = ms.get("sequential")!;
  const pipelined = ms.get("pipelined")!;
  const what = withHistograms
    ? `scrape ${
      SCRAPE_ROUTES * SCRAPE_CODES / 1000
    }k counter + ${HISTOGRAM_SERIES} histogram series`
    : `scrape ${SCRAPE_ROUTES * SCRAPE_CODES / 1000}k counter series`;
  return [
    fasterRow(
      `${what} (baseline: ${fields.length} sequential HGETs)`,
      "ms",
      ours,
      sequential,
      sequential / ours,
      10,
    ),
    fasterRow(
      `${what} (baseline: ${fields.length} HGETs in one pipeline)`,
      "ms",
      ours,
      pipelined,
      pipelined / ours,
      "- (fairness, no target)",
    ),
  ];
}

/** Debian's Python, where python3-redis installs (another python3 may come first on PATH). */
const PYTHON = "/usr/bin/python3";

/** What bench/pytheus_py_bench.py measured of real pytheus. */
interface RealPytheus {
  readonly python: string;
  readonly scrapeMs: number;
  readonly scrapeHistogramsMs: number;
  readonly landedPerSecond: number;
}

/** Runs bench/pytheus_py_bench.py against real pytheus, when PYTHEUS_PY_SOURCE names its source. */
async function realPytheus(port: number): Promise<RealPytheus | undefined> {
  const source = process.env.PYTHEUS_PY_SOURCE;
  if (!source) return undefined;
  const script = new URL("./pytheus_py_bench.py", import.meta.url).pathname;
  const python = await run(PYTHON, ["--version"]);
  const result = await run(PYTHON, [
    script,
    String(port),
    String(SCRAPE_RUNS),
    String(BASELINE_OPS),
  ], {
    env: { PYTHONPATH: source },
  });
  if (result.code !== 0) throw new Error(`real pytheus failed: ${result.stderr}`);
  return { python: python.stdout.trim().replace("Python ", ""), ...JSON.parse(result.stdout) };
}

/** The rows of pytheus-ts against real pytheus, from the rows measured already. */
function againstReal(rows: readonly Row[], real: RealPytheus): Row[] {
  const ours = (start: string): number => rows.find((row) => row.name.startsWith(start))!.ours;
  const scrape = ours("scrape 10k counter series");
  const scrapeHistograms = ours("scrape 10k counter + 100 histogram series");
  const landedRate = ours("ops landed in Redis: 1000k");
  return [
    fasterRow(
      "scrape 10k counter series (baseline: real pytheus 0.6.1, Python)",
      "ms",
      scrape,
      real.scrapeMs,
      real.scrapeMs / scrape,
      10,
    ),
    fasterRow(
      "scrape 10k counter + 100 histogram series (baseline: real pytheus 0.6.1)",
      "ms",
      scrapeHistograms,
      real.scrapeHistogramsMs,
      real.scrapeHistogramsMs / scrapeHistograms,
      10,
    ),
    fasterRow(
      "ops landed in Redis per second (baseline: real pytheus 0.6.1 inc() over 1k series)",
      "ops/s",
      landedRate,
      real.landedPerSecond,
      landedRate / real.landedPerSecond,
      100,
    ),
  ];
}

let redisPort = 0;

function loadRedis(): Promise<unknown> {
  return loadBackend({
    backendClass: MultiProcessRedisBackend,
    backendConfig: { host: "127.0.0.1", port: redisPort, keyPrefix: PREFIX },
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`\n## Redis backend, ${runtimeName()}\n`);
  if (which("redis-server") === undefined) {
    console.log(
      "\n*** SKIPPED: the Redis benchmark needs redis-server on PATH " +
        "(apt-get install redis-server) ***\n",
    );
    return;
  }
  let server: RedisServer | undefined;
  let client: Redis | undefined;
  try {
    server = await startRedis();
    redisPort = server.port;
    client = new Redis({ host: "127.0.0.1", port: server.port, lazyConnect: true });
    await client.connect();
    const rows: Row[] = [];
    rows.push(await incCost(client));
    await loadRedis();
    rows.push(...await landed(client));
    rows.push(...await scrape(client, false));
    rows.push(...await scrape(client, true));
    const real = await realPytheus(server.port);
    if (real !== undefined) rows.push(...againstReal(rows, real));
    const version = /redis_version:(\S+)/.exec(await client.info("server"))?.[1] ?? "?";

    console.log(table(
      ["case", "unit", "pytheus-ts", "baseline", "ratio", "target"],
      rows.map((row) => [
        row.name,
        row.unit,
        fmt(row.ours),
        fmt(row.baseline),
        row.ratio,
        row.target,
      ]),
    ));
    const perOp = 1e6 / (rows[1]!.baseline);
    console.log(
      `\n(redis-server ${version} on 127.0.0.1, same server for both; baseline = pytheus-style ` +
        `backend written in this benchmark with ioredis: one awaited HINCRBYFLOAT + EXPIRE per ` +
        `operation (${fmt(perOp)} µs each here), one awaited HGET per series field at a scrape ` +
        `(a histogram's: every bucket and the sum), no rendering. Ours: scrape = generateMetrics() (flush + one round trip + rendering), ` +
        `in a process of its own that made and wrote the series. ` +
        `inc() median of ${ROUNDS} rounds x ${INC_OPS} ops in each of ${PROCESSES} processes; landed median of ${ROUNDS} runs; ` +
        `scrape median of ${SCRAPE_RUNS} after ${SCRAPE_WARMUPS} warm-ups in each of ${PROCESSES} processes (the baselines and real pytheus: 2); ` +
        `every value verified in Redis; ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    console.log(
      real === undefined
        ? "\n*** Real pytheus NOT run: set PYTHEUS_PY_SOURCE to a pytheus source tree (the " +
          "directory holding pytheus/) and install python3-redis to measure it side by side ***"
        : `\n(real pytheus: ${process.env.PYTHEUS_PY_SOURCE}, Python ${real.python}, its ` +
          "MultiProcessRedisBackend on the same redis-server: generate_metrics(), inc() written " +
          "as it writes them; same workloads, same median counts)",
    );
  } finally {
    await MultiProcessRedisBackend.close().catch(() => {});
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    await client?.quit().catch(() => client?.disconnect());
    await server?.stop();
  }
}

if (process.env.BENCH_INC) {
  redisPort = Number(process.env.BENCH_REDIS_PORT);
  await timeInc(process.env.BENCH_INC);
} else if (process.env.BENCH_SCRAPE) {
  redisPort = Number(process.env.BENCH_REDIS_PORT);
  await timeScrape(process.env.BENCH_SCRAPE === "histograms");
} else {
  await main();
}
