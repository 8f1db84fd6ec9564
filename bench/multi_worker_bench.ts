/**
 * What MultiWorkerBackend costs: this thread and 3 Web Workers (4 workers in
 * the backend's sense) hold the same 10k counter series (or 1k histogram
 * series), each written once per worker; this thread answers the scrapes.
 * Prints, per runtime, the answering worker's whole scrape and its gather
 * part (`pytheus_multi_worker_gather_seconds`: ask, wait, unpack, merge)
 * next to a SingleProcessBackend scrape of the same series in the same
 * process, and `inc()` against SingleProcessBackend. `deno task bench` runs it
 * on Deno, then on Bun.
 */

import process from "node:process";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  loadBackend,
  MultiWorkerBackend,
  type Registry,
  SingleProcessBackend,
} from "../mod.ts";
import { fmt, loopOps, median, runtimeName, table, timeLoops } from "./_harness.ts";

/** The series of one case. */
export type Kind = "counters" | "histograms";

const ROUTES = 1000;
const CODES = 10;
const HELPERS = 3;
const WARMUPS = 3;
const RUNS = 15;
const ROUNDS = 7;
// BENCH_SCALE=0.1 gives a quick smoke run of the same cases.
const scale = Number(process.env.BENCH_SCALE ?? 1);
const INC_OPS = Math.max(1, Math.round(5_000_000 * scale));

/**
 * Creates the benchmark's series (10k counter series, or 1k histogram
 * series) and writes each once; the main thread and every worker run it.
 *
 * @param kind Which series.
 * @param registry Where the metric is registered.
 */
export function makeSeries(kind: Kind, registry: Registry | null): void {
  if (kind === "counters") {
    const c = new Counter({
      name: "bench_requests_total",
      description: "Requests.",
      requiredLabels: ["route", "code"] as const,
      registry,
    });
    for (let r = 0; r < ROUTES; r++) {
      for (let k = 0; k < CODES; k++) {
        c.labels({ route: `/route/${r}`, code: String(200 + k) }).inc();
      }
    }
  } else {
    const h = new Histogram({
      name: "bench_seconds",
      description: "Latency.",
      requiredLabels: ["route"] as const,
      registry,
    });
    for (let r = 0; r < ROUTES; r++) h.labels({ route: `/route/${r}` }).observe(r / ROUTES);
  }
}

/** One row of the table. */
interface Row {
  readonly name: string;
  readonly unit: string;
  readonly ours: number;
  readonly baseline: number | undefined;
}

/** The value of an unlabelled sample line, or throws. */
function sampleValue(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  if (!match) throw new Error(`no ${name} sample in the scrape`);
  return Number(match[1]);
}

/** Checks that the scrape merged `workers` writes into every series. */
function checkMerged(text: string, kind: Kind, workers: number): void {
  const answered = /^pytheus_multi_worker_workers\{state="answered"\} (\S+)$/m.exec(text)?.[1];
  if (Number(answered) !== workers) {
    throw new Error(`${answered} workers answered, expected ${workers}`);
  }
  const prefix = kind === "counters" ? "bench_requests_total{" : "bench_seconds_count{";
  const series = kind === "counters" ? ROUTES * CODES : ROUTES;
  let found = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    found++;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (value !== workers) throw new Error(`${line}: expected ${workers}`);
  }
  if (found !== series) throw new Error(`scraped ${found} ${kind} series, expected ${series}`);
}

/** Scrapes `workers` workers' series, taking turns with a single-process scrape of the same. */
async function scrapeCost(kind: Kind, helpers: number): Promise<Row[]> {
  const single = new CollectorRegistry();
  await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  makeSeries(kind, single);

  const channel = `bench-${kind}-${helpers}-${Date.now()}`;
  const registry = new CollectorRegistry();
  await loadBackend({
    backendClass: MultiWorkerBackend,
    backendConfig: { channel, registry, timeoutMs: 5000 },
  });
  makeSeries(kind, registry);
  const started = Array.from(
    { length: helpers },
    () =>
      new Worker(new URL("./_multi_worker_bench_worker.ts", import.meta.url), { type: "module" }),
  );
  try {
    await Promise.all(started.map((worker) =>
      new Promise((resolve, reject) => {
        worker.onmessage = resolve;
        worker.onerror = reject;
        worker.postMessage({ channel, kind });
      })
    ));
    // Let every hello and its answer go round before the first scrape.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const workers = helpers + 1;
    checkMerged(await generateMetrics(registry), kind, workers);

    const totals: number[] = [];
    const gathers: number[] = [];
    const singles: number[] = [];
    let text = "";
    for (let run = -WARMUPS; run < RUNS; run++) {
      const t0 = performance.now();
      text = await generateMetrics(registry);
      const t1 = performance.now();
      await generateMetrics(single);
      const t2 = performance.now();
      if (run < 0) continue;
      totals.push(t1 - t0);
      singles.push(t2 - t1);
      gathers.push(sampleValue(text, "pytheus_multi_worker_gather_seconds") * 1000);
    }
    checkMerged(text, kind, workers);
    const what = kind === "counters"
      ? `${ROUTES * CODES / 1000}k counter series`
      : `${ROUTES / 1000}k histogram series`;
    const who = helpers === 0 ? "1 worker alone" : `${workers} workers (main + ${helpers})`;
    return [
      {
        name: `scrape ${what}, ${who}: whole scrape`,
        unit: "ms",
        ours: median(totals),
        baseline: median(singles),
      },
      {
        name: `scrape ${what}, ${who}: gather part (ask, wait, unpack, merge)`,
        unit: "ms",
        ours: median(gathers),
        baseline: undefined,
      },
    ];
  } finally {
    for (const worker of started) worker.terminate();
    await MultiWorkerBackend.close();
  }
}

/** `inc()` on a MultiWorkerBackend child against a SingleProcessBackend child. */
async function incCost(): Promise<Row> {
  await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  const single = new Counter({
    name: "inc_single_total",
    description: "Bench.",
    requiredLabels: ["method", "code"] as const,
    registry: null,
  });
  const singleChild = single.labels({ method: "GET", code: "200" });
  await loadBackend({
    backendClass: MultiWorkerBackend,
    backendConfig: { channel: `bench-inc-${Date.now()}`, registry: null },
  });
  const multi = new Counter({
    name: "inc_multi_total",
    description: "Bench.",
    requiredLabels: ["method", "code"] as const,
    registry: null,
  });
  const multiChild = multi.labels({ method: "GET", code: "200" });
  try {
    // Separate function literals: no engine shares type feedback between them.
    const ns = timeLoops(
      new Map([
        ["single", (count: number) => {
          for (let i = 0; i < count; i++) singleChild.inc();
        }],
        ["multi", (count: number) => {
          for (let i = 0; i < count; i++) multiChild.inc();
        }],
      ]),
      INC_OPS,
      ROUNDS,
    );
    const expected = loopOps(INC_OPS, ROUNDS);
    for (const counter of [single, multi]) {
      const value = (await counter.collect())[0]!.value;
      if (value !== expected) throw new Error(`${counter.name} holds ${value}, not ${expected}`);
    }
    return {
      name: "child.inc() (baseline: SingleProcessBackend child, same process)",
      unit: "ns/op",
      ours: ns.get("multi")!,
      baseline: ns.get("single")!,
    };
  } finally {
    await MultiWorkerBackend.close();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`\n## MultiWorkerBackend, ${runtimeName()}\n`);
  const rows: Row[] = [];
  try {
    // First: the scrapes make more classes reach the metrics' call sites.
    const inc = await incCost();
    rows.push(...await scrapeCost("counters", HELPERS));
    rows.push(...await scrapeCost("counters", 0));
    rows.push(...await scrapeCost("histograms", HELPERS));
    rows.push(inc);
  } finally {
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  }
  console.log(table(
    ["case", "unit", "pytheus-ts MultiWorker", "SingleProcessBackend", "ratio"],
    rows.map((row) => [
      row.name,
      row.unit,
      fmt(row.ours),
      row.baseline === undefined ? "-" : fmt(row.baseline),
      row.baseline === undefined ? "-" : `${fmt(row.ours / row.baseline)}x the cost`,
    ]),
  ));
  console.log(
    `\n(Web Workers in one process; this thread answers the scrapes, the other workers hold ` +
      `the same series, each written once per worker, every merged value verified; ` +
      `SingleProcessBackend = the same series in one registry of this thread, no merging. ` +
      `Scrapes: median of ${RUNS} after ${WARMUPS} warm-ups, the two taking turns; inc(): ` +
      `median of ${ROUNDS} rounds x ${INC_OPS} ops; ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}

if (import.meta.main) await main();
