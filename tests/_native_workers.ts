/**
 * This thread and Web Workers running tests/fixtures/native_worker.ts, all
 * on a fresh MultiWorkerBackend channel: the native histogram tests of the
 * multi-worker backend.
 */

import { startWorkers, type Workers } from "./_test_worker.ts";
import type { NativeOp } from "./fixtures/native_worker.ts";

const WORKER = new URL("./fixtures/native_worker.ts", import.meta.url);

/** The workers of one test, and this thread's registry (it answers the scrapes). */
export type NativeWorkers = Workers<NativeOp>;

/**
 * Loads MultiWorkerBackend here (worker "main") and in `count` Web Workers,
 * makes each worker's histogram with `define`, and waits until this thread
 * has heard every worker.
 *
 * @param name Names the channel.
 * @param count How many workers.
 * @param timeoutMs How long a scrape waits for the workers.
 * @param define The operation that makes worker `i`'s histogram.
 */
export function startNativeWorkers(
  name: string,
  count: number,
  timeoutMs: number,
  define: (i: number) => NativeOp,
): Promise<NativeWorkers> {
  const config = { channel: `pytheus-${name}-${Date.now()}`, timeoutMs };
  return startWorkers<NativeOp>(WORKER, count, config, "", (worker, i) => worker.run(define(i)));
}
