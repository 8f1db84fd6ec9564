/**
 * This thread and Web Workers running tests/fixtures/native_worker.ts, all
 * on a fresh MultiWorkerBackend channel: the native histogram tests of the
 * multi-worker backend.
 */

import {
  CollectorRegistry,
  generateMetrics,
  loadBackend,
  MultiWorkerBackend,
  SingleProcessBackend,
} from "../mod.ts";
import { waitFor } from "./_process.ts";
import { TestWorker } from "./_test_worker.ts";
import type { NativeOp } from "./fixtures/native_worker.ts";

const WORKER = new URL("./fixtures/native_worker.ts", import.meta.url);

/** The workers of one test, and this thread's registry (it answers the scrapes). */
export interface NativeWorkers {
  readonly registry: CollectorRegistry;
  readonly workers: TestWorker<NativeOp>[];
  /** Terminates the workers and loads the in-memory store again. */
  stop(): Promise<void>;
}

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
export async function startNativeWorkers(
  name: string,
  count: number,
  timeoutMs: number,
  define: (i: number) => NativeOp,
): Promise<NativeWorkers> {
  const config = { channel: `pytheus-${name}-${Date.now()}`, timeoutMs };
  const registry = new CollectorRegistry();
  await loadBackend({
    backendClass: MultiWorkerBackend,
    backendConfig: { ...config, workerId: "main", registry },
  });
  const workers = Array.from({ length: count }, () => new TestWorker<NativeOp>(WORKER));
  const stop = async (): Promise<void> => {
    for (const worker of workers) worker.terminate();
    await MultiWorkerBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  };
  try {
    await Promise.all(workers.map(async (worker, i) => {
      await worker.run({ op: "init", prefix: "", config: { ...config, workerId: `w${i}` } });
      await worker.run(define(i));
    }));
    const answered = `pytheus_multi_worker_workers{state="answered"} ${count + 1}`;
    await waitFor(
      "every worker's hello",
      async () => (await generateMetrics(registry)).includes(answered),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { registry, workers, stop };
}
