/** A Web Worker running a MultiWorkerBackend test fixture, driven by messages. */

import {
  CollectorRegistry,
  generateMetrics,
  loadBackend,
  MultiWorkerBackend,
  type MultiWorkerBackendConfig,
  SingleProcessBackend,
} from "../mod.ts";
import type { Op } from "./fixtures/multi_worker_worker.ts";
import { waitFor } from "./_process.ts";

const WORKER = new URL("./fixtures/multi_worker_worker.ts", import.meta.url);

/**
 * A Web Worker running tests/fixtures/multi_worker_worker.ts (or another
 * fixture taking operations `O`), driven by messages.
 */
export class TestWorker<O extends { op: string } = Op> {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (data: Record<string, unknown>) => void>();
  #next = 0;

  constructor(url: URL = WORKER) {
    this.#worker = new Worker(url, { type: "module" });
    this.#worker.onmessage = (event: MessageEvent) => {
      const data = event.data as Record<string, unknown>;
      this.#pending.get(data.id as number)?.(data);
    };
  }

  /** Runs an operation in the worker (every fixture takes the same "init"); resolves with its result. */
  run(op: O | Extract<Op, { op: "init" }>): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (data) => {
        this.#pending.delete(id);
        if ("error" in data) reject(new Error(String(data.error)));
        else resolve(data.result);
      });
      this.#worker.postMessage({ id, ...op });
    });
  }

  /**
   * Starts a busy loop of `ms` in the worker (with what else the fixture's
   * "block" takes); resolves once it runs, with its end.
   */
  block(ms: number, more: Record<string, unknown> = {}): Promise<{ ended: Promise<unknown> }> {
    const id = this.#next++;
    return new Promise((started) => {
      const ended = new Promise((resolve) => {
        this.#pending.set(id, (data) => {
          if (data.blocking) return started({ ended });
          this.#pending.delete(id);
          resolve(undefined);
        });
      });
      this.#worker.postMessage({ ...more, id, op: "block", ms });
    });
  }

  /** Stops the worker. */
  terminate(): void {
    this.#worker.terminate();
  }
}

/** The workers of one test, and this thread's registry. */
export interface Workers<O extends { op: string }> {
  readonly registry: CollectorRegistry;
  readonly workers: TestWorker<O>[];
  /** Terminates the workers and loads the in-memory store again. */
  stop(): Promise<void>;
}

/**
 * Loads MultiWorkerBackend here (worker "main") and in `count` Web Workers
 * running `url` (worker `w<i>`, after `prepare` ran in each), and waits until
 * this thread has heard every worker.
 *
 * @param url The fixture.
 * @param count How many workers.
 * @param config Their configuration (and this thread's).
 * @param prefix What the fixture names its metrics with.
 * @param prepare Runs in each worker after its "init".
 */
export async function startWorkers<O extends { op: string }>(
  url: URL,
  count: number,
  config: MultiWorkerBackendConfig,
  prefix = "",
  prepare?: (worker: TestWorker<O>, i: number) => Promise<unknown>,
): Promise<Workers<O>> {
  const registry = new CollectorRegistry();
  await loadBackend({
    backendClass: MultiWorkerBackend,
    backendConfig: { ...config, workerId: "main", registry },
  });
  const workers = Array.from({ length: count }, () => new TestWorker<O>(url));
  const stop = async (): Promise<void> => {
    for (const worker of workers) worker.terminate();
    await MultiWorkerBackend.close();
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  };
  try {
    await Promise.all(workers.map(async (worker, i) => {
      await worker.run({ op: "init", prefix, config: { ...config, workerId: `w${i}` } });
      await prepare?.(worker, i);
    }));
    const answered = `pytheus_multi_worker_workers{state="answered"} ${count + 1}`;
    await waitFor("every worker", async () => (await generateMetrics(registry)).includes(answered));
  } catch (error) {
    await stop();
    throw error;
  }
  return { registry, workers, stop };
}
