/** Measuring the heap in tests: a full collection first, on Deno and on Bun. */

import process from "node:process";

/**
 * The heap in use after a full garbage collection: `deno test
 * --v8-flags=--expose-gc` (as `deno task test` runs) gives `gc`, Bun has `Bun.gc`.
 */
export function heapAfterGc(): number {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.gc) g.gc();
  else if (g.Bun) g.Bun.gc(true);
  else throw new Error("run with --v8-flags=--expose-gc (as `deno task test` does)");
  return process.memoryUsage().heapUsed;
}
