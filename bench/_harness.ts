/** Timing, GC and table helpers shared by the benchmark cases; runtime globals are found by shape. */

import process from "node:process";

/** A hot loop: runs the measured operation `n` times. */
export type Loop = (n: number) => void;

/** The runtime running the benchmark, read from its globals. */
export function runtimeName(): string {
  const g = globalThis as {
    Deno?: { version: { deno: string; v8: string } };
    Bun?: { version: string; revision?: string };
  };
  if (g.Deno) return `Deno ${g.Deno.version.deno} (V8 ${g.Deno.version.v8})`;
  if (g.Bun) return `Bun ${g.Bun.version} (JavaScriptCore)`;
  return `unknown runtime (${process.version})`;
}

/** Forces a full collection, or throws when the runtime does not let us. */
export function fullGc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else if (typeof g.gc === "function") {
    g.gc();
    g.gc();
  } else {
    throw new Error("No GC hook: run Deno with --v8-flags=--expose-gc");
  }
}

/**
 * Live heap bytes after a full collection, with what V8 keeps outside its
 * heap (typed arrays' storage). JavaScriptCore counts string characters and
 * typed arrays in `heapUsed` already.
 */
export function heapUsed(): number {
  fullGc();
  const { heapUsed, external } = process.memoryUsage();
  return (globalThis as { Bun?: unknown }).Bun ? heapUsed : heapUsed + external;
}

/**
 * The command that runs `script` again with this runtime, in a new process.
 *
 * @param script The script's path.
 * @param args Its arguments.
 */
export function rerun(script: string, args: readonly string[]): string[] {
  return (globalThis as { Bun?: unknown }).Bun
    ? [process.execPath, script, ...args]
    : [process.execPath, "run", "--allow-all", "--v8-flags=--expose-gc", script, ...args];
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const WARMUPS = 4;

/** How many operations {@linkcode timeLoops} runs per loop, warm-up included. */
export function loopOps(n: number, rounds: number): number {
  return WARMUPS * Math.ceil(n / WARMUPS) + rounds * n;
}

/**
 * Times each loop `rounds` times at `n` operations, the libraries taking turns
 * within a round so that noise from other processes falls on all of them;
 * warms each loop up first so every engine has reached its top tier. Each
 * timed loop starts on a collected heap: none pays for the garbage the loop
 * before it left (a peer's allocations once cost pytheus' native observe()
 * 40%, collected during its loop); a loop that allocates still collects
 * its own garbage within its time.
 *
 * @returns Median nanoseconds per operation, by library.
 */
export function timeLoops(
  loops: ReadonlyMap<string, Loop>,
  n: number,
  rounds: number,
): Map<string, number> {
  for (const loop of loops.values()) {
    for (let i = 0; i < WARMUPS; i++) loop(Math.ceil(n / WARMUPS));
  }
  const samples = new Map<string, number[]>([...loops.keys()].map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, loop] of loops) {
      fullGc();
      const t0 = performance.now();
      loop(n);
      const t1 = performance.now();
      samples.get(name)!.push(((t1 - t0) * 1e6) / n);
    }
  }
  return new Map([...samples].map(([k, v]) => [k, median(v)]));
}

/**
 * Times an async job `runs` times after `warmup` untimed runs, the libraries
 * taking turns. Not on a collected heap, unlike {@linkcode timeLoops}: a
 * render's garbage is its own cost, and a full collection before each run
 * made every render slower than a server's are (ours up to 2.5x).
 *
 * @returns Median milliseconds per run, by library.
 */
export async function timeJobs(
  jobs: ReadonlyMap<string, () => Promise<unknown>>,
  runs: number,
  warmup: number,
): Promise<Map<string, number>> {
  for (const job of jobs.values()) for (let i = 0; i < warmup; i++) await job();
  const samples = new Map<string, number[]>([...jobs.keys()].map((k) => [k, []]));
  for (let r = 0; r < runs; r++) {
    for (const [name, job] of jobs) {
      const t0 = performance.now();
      await job();
      samples.get(name)!.push(performance.now() - t0);
    }
  }
  return new Map([...samples].map(([k, v]) => [k, median(v)]));
}

/** Renders a Markdown table, columns padded for the terminal. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    "| " + cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** A number with three significant digits (`0.412`, `41.2`, `41200`). */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}
