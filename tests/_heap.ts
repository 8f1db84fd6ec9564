/** Measuring the heap in tests: a full collection first, on Deno and on Bun. */

import process from "node:process";

/**
 * The heap in use after a full garbage collection: `deno test
 * --v8-flags=--expose-gc` (as `deno task test` runs) gives `gc`, Bun has `Bun.gc`.
 */
export function heapAfterGc(): number {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  const collect = g.gc ?? (g.Bun ? () => g.Bun!.gc(true) : undefined);
  if (collect === undefined) {
    throw new Error("run with --v8-flags=--expose-gc (as `deno task test` does)");
  }
  // Until it settles: one collection may leave what an earlier test dropped
  // (JavaScriptCore frees some of it a collection later).
  let used = Infinity;
  for (let round = 0; round < 5; round++) {
    collect();
    const now = process.memoryUsage().heapUsed;
    if (now >= used * 0.99) return now;
    used = now;
  }
  return used;
}
