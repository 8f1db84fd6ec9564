/**
 * Runs the same workloads on pytheus, prom-client 15 and @prometheus-io/client
 * side by side and prints one table per runtime with ratios against the
 * faster peer: `deno task bench` runs it on Deno, then on Bun.
 *
 * Every library gets its own loop functions (separate function literals), so
 * no engine shares type feedback between them: pytheus' are here, each
 * peer's in its own instance of `_peer_suite.ts`. Each hot case runs in
 * processes of its own, the libraries taking turns in each, so that no case
 * weighs on another: on JavaScriptCore, the first metric a process observes
 * through is the only one whose loop it compiles free of the call that made
 * the metric's own series, and so hoists its loads (the classic
 * histogram's then took 4.8 ns, a second one's 7.3 ns).
 */

import * as pytheus from "../mod.ts";
import promClient from "prom-client";
import * as io from "@prometheus-io/client";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PeerLibrary } from "./_peer_suite.ts";
import {
  type Adapter,
  CODES,
  HISTOGRAM_ROUTES,
  METHODS,
  type Render,
  RENDER_COUNTERS,
  RENDER_HISTOGRAMS,
  RENDER_ROUTES,
  VALUES,
} from "./_workload.ts";
import {
  fmt,
  heapUsed,
  loopOps,
  median,
  rerun,
  runtimeName,
  table,
  timeJobs,
  timeLoops,
} from "./_harness.ts";

const LIBS = ["pytheus", "prom-client", "@prometheus-io/client"] as const;
type Lib = typeof LIBS[number];
const RENDER_RUNS = 30;
const HEAP_SERIES = 200_000;
const HEAP_REPS = 3;
const HEAP_PROBE = "--heap-probe";
const HOT_PROBE = "--hot-probe";
const HOT_PROCESSES = 3;

// One module instance per peer: separate function literals, separate type feedback.
const { peerAdapter: promClientAdapter } = await import("./_peer_suite.ts?prom-client");
const { peerAdapter: ioAdapter } = await import("./_peer_suite.ts?prometheus-io");

const adapters: Record<Lib, Adapter> = {
  pytheus: {
    childInc() {
      const c = new pytheus.Counter({
        name: "bench_child_total",
        description: "Bench.",
        requiredLabels: ["method", "code"] as const,
        registry: new pytheus.CollectorRegistry(),
      });
      const child = c.labels({ method: "GET", code: "200" });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) child.inc();
        },
        count: () => pytheusCount(c),
      };
    },
    labelsInc() {
      const c = new pytheus.Counter({
        name: "bench_labels_total",
        description: "Bench.",
        requiredLabels: ["method", "code"] as const,
        registry: new pytheus.CollectorRegistry(),
      });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) {
            c.labels({ method: METHODS[i & 3]!, code: CODES[(i >> 2) & 3]! }).inc();
          }
        },
        count: () => pytheusCount(c),
      };
    },
    observe() {
      const h = new pytheus.Histogram({
        name: "bench_seconds",
        description: "Bench.",
        registry: new pytheus.CollectorRegistry(),
      });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) h.observe(VALUES[i & 1023]!);
        },
        count: () => pytheusCount(h, "_count"),
      };
    },
    nativeObserve() {
      const h = new pytheus.Histogram({
        name: "bench_native_seconds",
        description: "Bench.",
        native: {},
        registry: new pytheus.CollectorRegistry(),
      });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) h.observe(VALUES[i & 1023]!);
        },
        count: () => pytheusCount(h, "_count"),
      };
    },
    render() {
      const registry = new pytheus.CollectorRegistry();
      for (let k = 0; k < RENDER_COUNTERS; k++) {
        const c = new pytheus.Counter({
          name: `bench_requests_${k}_total`,
          description: "Requests served.",
          requiredLabels: ["route", "method"] as const,
          registry,
        });
        RENDER_ROUTES.forEach((route, j) => c.labels({ route, method: "GET" }).inc(j + 1));
      }
      for (let k = 0; k < RENDER_HISTOGRAMS; k++) {
        const h = new pytheus.Histogram({
          name: `bench_latency_${k}_seconds`,
          description: "Latency.",
          requiredLabels: ["route"] as const,
          registry,
        });
        HISTOGRAM_ROUTES.forEach((route, j) => {
          const child = h.labels({ route });
          for (let v = 0; v < 3; v++) child.observe(VALUES[(j * 3 + v) & 1023]!);
        });
      }
      return {
        text: () => pytheus.generateMetrics(registry),
        bytes: () => pytheus.encodeMetrics(registry),
        protobuf: () => pytheus.encodeMetrics(registry, { format: "protobuf" }),
      };
    },
    series(routes) {
      const registry = new pytheus.CollectorRegistry();
      const c = new pytheus.Counter({
        name: "bench_series_total",
        description: "Bench.",
        requiredLabels: ["route", "method"] as const,
        registry,
      });
      for (let i = 0; i < routes.length; i++) {
        c.labels({ route: routes[i]!, method: "GET" }).inc(0.5);
      }
      return registry;
    },
  },

  "prom-client": promClientAdapter(promClient),
  // The same API as prom-client's, typed apart.
  "@prometheus-io/client": ioAdapter(io as unknown as PeerLibrary),
};

/** Sums the values of a pytheus metric's samples (those with `suffix` only). */
async function pytheusCount(
  metric: { collect(): Promise<readonly pytheus.Sample[]> },
  suffix = "",
): Promise<number> {
  let total = 0;
  for (const sample of await metric.collect()) if (sample.suffix === suffix) total += sample.value;
  return total;
}

/** The floor: a bare field increment, read back afterwards so it cannot be dropped. */
const floorTarget = { v: 0 };
let sink = 0;
function floorLoop(n: number): void {
  const o = floorTarget;
  for (let i = 0; i < n; i++) o.v += 1;
  sink += o.v;
}

// ---------------------------------------------------------------------------

interface Row {
  readonly name: string;
  readonly unit: string;
  readonly values: ReadonlyMap<Lib, number>;
  /** Required peer/pytheus ratio, or undefined for no target. */
  readonly target?: number;
  /** Only pytheus' own figure is shown (the floor). */
  readonly ownOnly?: boolean;
  /** Whether this is a time per operation (gets a distance from the floor). */
  readonly perOp: boolean;
}

const ROUNDS = 7;
const CLASSIC_OBSERVE = "histogram.observe(v)";
const NATIVE_OBSERVE = "native histogram.observe(v) (peers: classic)";
// BENCH_SCALE=0.1 gives a quick smoke run of the same cases.
const scale = Number(process.env.BENCH_SCALE ?? 1);
const n = (count: number): number => Math.round(count * scale);

/**
 * Runs this script again in a process of its own, as one of its probes.
 *
 * @param what The probe, for an error.
 * @param args The probe's flag and arguments.
 * @returns What it printed.
 */
function probe(what: string, args: readonly string[]): string {
  const [command, ...rest] = rerun(fileURLToPath(import.meta.url), args);
  const out = spawnSync(command!, rest, { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`${what} failed: ${out.stderr}`);
  return out.stdout;
}

/** The hot cases: the workloads timed per operation. */
type HotCase = "childInc" | "labelsInc" | "observe" | "nativeObserve";

/**
 * Times the hot cases, each in processes of its own (see the module's
 * notes): the median of {@linkcode HOT_PROCESSES}, as an engine's code for
 * the same loop differs from one process to the next (a classic observe()
 * took 7 to 11 ns on Deno in five processes in a row). The cases take turns,
 * so that a slower spell of the machine falls on all of them.
 *
 * @param cases Each case and its operations per loop.
 * @returns Nanoseconds per operation, by case and library.
 */
function hotCases(cases: ReadonlyMap<HotCase, number>): Map<HotCase, Map<Lib, number>> {
  const samples = new Map([...cases.keys()].map((name) => [
    name,
    new Map<Lib, number[]>(LIBS.map((lib) => [lib, []])),
  ]));
  for (let run = 0; run < HOT_PROCESSES; run++) {
    for (const [name, ops] of cases) {
      const nanoseconds = JSON.parse(
        probe(`hot case ${name}`, [HOT_PROBE, name, `${ops}`]),
      ) as Record<Lib, number>;
      for (const lib of LIBS) samples.get(name)!.get(lib)!.push(nanoseconds[lib]);
    }
  }
  return new Map([...samples].map(([name, byLib]) => [
    name,
    new Map([...byLib].map(([lib, values]) => [lib, median(values)])),
  ]));
}

/**
 * In the hot case's process: times its workload for each library, checks
 * that each recorded exactly the operations it was timed for (so no engine
 * can have dropped the work), prints the nanoseconds per operation by library.
 */
async function probeHot(name: HotCase, ops: number): Promise<void> {
  const work = new Map(LIBS.map((lib) => [lib, adapters[lib][name]()]));
  const result = timeLoops(new Map([...work].map(([lib, w]) => [lib, w.loop])), ops, ROUNDS);
  for (const [lib, w] of work) {
    const counted = await w.count();
    const expected = loopOps(ops, ROUNDS);
    if (counted !== expected) throw new Error(`${lib} recorded ${counted}, expected ${expected}`);
  }
  console.log(JSON.stringify(Object.fromEntries(byLib(result))));
}

function byLib(values: ReadonlyMap<string, number>): Map<Lib, number> {
  return new Map(LIBS.map((lib) => [lib, values.get(lib)!]));
}

async function checkRenderings(renders: ReadonlyMap<string, Render>): Promise<void> {
  const expected = RENDER_COUNTERS * RENDER_ROUTES.length +
    RENDER_HISTOGRAMS * HISTOGRAM_ROUTES.length * (pytheus.DEFAULT_BUCKETS.length + 3);
  for (const [lib, render] of renders) {
    const text = await render.text();
    if (new TextDecoder().decode(await render.bytes()) !== text) {
      throw new Error(`${lib}'s bytes are not its text`);
    }
    const samples = text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
    if (samples !== expected) {
      throw new Error(`${lib} rendered ${samples} samples, expected ${expected}`);
    }
  }
}

/**
 * Heap per series, each library measured in a process of its own (so that
 * no library's garbage or type feedback weighs on another's figure): the
 * growth of the heap, with what V8 keeps outside it, after a full GC. The
 * label value strings exist beforehand, so only what the library keeps is
 * counted (prom-client's key strings and stored label objects included).
 */
function heapPerSeries(): Map<Lib, number> {
  const samples = new Map<Lib, number[]>(LIBS.map((lib) => [lib, []]));
  for (let rep = 0; rep < HEAP_REPS; rep++) {
    for (const lib of LIBS) {
      const printed = probe(`heap probe of ${lib}`, [HEAP_PROBE, lib]);
      const bytes = Number(printed);
      if (!Number.isFinite(bytes)) throw new Error(`heap probe of ${lib} printed ${printed}`);
      samples.get(lib)!.push(bytes);
    }
  }
  return new Map([...samples].map(([k, v]) => [k, median(v)]));
}

/** In the probe's process: creates one library's series, prints the bytes per series. */
function probeHeap(lib: Lib): void {
  const routes = Array.from({ length: HEAP_SERIES }, (_, i) => `/api/v1/items/${i}`);
  const before = heapUsed();
  const kept = adapters[lib].series(routes);
  const after = heapUsed();
  if (kept === undefined) throw new Error(`${lib} kept nothing`);
  console.log((after - before) / HEAP_SERIES);
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`\n## ${runtimeName()}\n`);

  const floorNs = timeLoops(new Map([["floor", floorLoop]]), n(20_000_000), ROUNDS).get("floor")!;
  const hot = hotCases(
    new Map<HotCase, number>([
      ["childInc", n(5_000_000)],
      ["labelsInc", n(2_000_000)],
      ["observe", n(3_000_000)],
      ["nativeObserve", n(3_000_000)],
    ]),
  );
  const rows: Row[] = [];
  rows.push({
    name: "floor: o.v += 1",
    unit: "ns/op",
    values: new Map(LIBS.map((lib) => [lib, floorNs])),
    perOp: true,
    ownOnly: true,
  });
  rows.push({
    name: "child.inc()",
    unit: "ns/op",
    values: hot.get("childInc")!,
    target: 10,
    perOp: true,
  });
  rows.push({
    name: "labels({method, code}).inc()",
    unit: "ns/op",
    values: hot.get("labelsInc")!,
    target: 3,
    perOp: true,
  });
  rows.push({
    name: CLASSIC_OBSERVE,
    unit: "ns/op",
    values: hot.get("observe")!,
    target: 4,
    perOp: true,
  });
  rows.push({
    name: NATIVE_OBSERVE,
    unit: "ns/op",
    values: hot.get("nativeObserve")!,
    target: 1,
    perOp: true,
  });

  const renders = new Map(LIBS.map((lib) => [lib, adapters[lib].render()]));
  // Renders are short and make megabytes of garbage: many runs steady the median.
  await checkRenderings(renders);
  rows.push({
    name: "render 10k counter + 1k histogram series",
    unit: "ms",
    values: byLib(
      await timeJobs(new Map([...renders].map(([lib, r]) => [lib, r.text])), RENDER_RUNS, 5),
    ),
    target: 3,
    perOp: false,
  });
  // What a scrape sends: pytheus encodes its text chunk by chunk as it
  // writes it (what makeHandler() serves); the peers' strings are encoded whole.
  rows.push({
    name: "render + UTF-8 encode (bytes a scrape sends)",
    unit: "ms",
    values: byLib(
      await timeJobs(new Map([...renders].map(([lib, r]) => [lib, r.bytes])), RENDER_RUNS, 5),
    ),
    target: 3,
    perOp: false,
  });
  rows.push({
    name: "protobuf encode (peers: text + UTF-8 encode)",
    unit: "ms",
    values: byLib(
      await timeJobs(new Map([...renders].map(([lib, r]) => [lib, r.protobuf])), RENDER_RUNS, 5),
    ),
    target: 1,
    perOp: false,
  });
  renders.clear();

  rows.push({
    name: `heap per counter series (${HEAP_SERIES / 1000}k)`,
    unit: "bytes",
    values: heapPerSeries(),
    target: 1,
    perOp: false,
  });

  const header = [
    "case",
    "unit",
    ...LIBS,
    "ratio (faster peer / pytheus)",
    "pytheus / floor",
    "target",
  ];
  const body = rows.map((row) => {
    const own = row.values.get("pytheus")!;
    const peer = Math.min(row.values.get("prom-client")!, row.values.get("@prometheus-io/client")!);
    const ratio = peer / own;
    const isFloor = row.ownOnly === true;
    return [
      row.name,
      row.unit,
      fmt(own),
      isFloor ? "-" : fmt(row.values.get("prom-client")!),
      isFloor ? "-" : fmt(row.values.get("@prometheus-io/client")!),
      isFloor ? "-" : `${fmt(ratio)}x`,
      row.perOp ? `${fmt(own / floorNs)}x` : "-",
      row.target === undefined
        ? "-"
        : `${row.unit === "bytes" ? "<= peers" : `>= ${row.target}x`} ${
          ratio >= row.target ? "PASS" : "MISS"
        }`,
    ];
  });
  console.log(table(header, body));
  const classic = rows.find((row) => row.name === CLASSIC_OBSERVE)!.values.get("pytheus")!;
  const native = rows.find((row) => row.name === NATIVE_OBSERVE)!.values.get("pytheus")!;
  const slower = native / classic;
  console.log(
    `\npytheus' native observe() / its classic observe(): ${fmt(slower)}x ` +
      `(target <= 2x ${slower <= 2 ? "PASS" : "MISS"})`,
  );
  console.log(
    `\n(${ROUNDS} rounds per hot case in each of ${HOT_PROCESSES} processes, median; render median of ${RENDER_RUNS} after 5 warm-ups; ` +
      `heap median of ${HEAP_REPS}, each in its own process; ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s)`,
  );
  if (sink < 0) console.log(sink);
}

const heapProbe = process.argv.indexOf(HEAP_PROBE);
const hotProbe = process.argv.indexOf(HOT_PROBE);
if (heapProbe >= 0) probeHeap(process.argv[heapProbe + 1] as Lib);
else if (hotProbe >= 0) {
  await probeHot(process.argv[hotProbe + 1] as HotCase, Number(process.argv[hotProbe + 2]));
} else await main();
