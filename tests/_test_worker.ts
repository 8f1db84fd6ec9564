/** A Web Worker running a MultiWorkerBackend test fixture, driven by messages. */

import type { Op } from "./fixtures/multi_worker_worker.ts";

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

  /** Starts a busy loop of `ms` in the worker; resolves once it runs, with its end. */
  block(ms: number): Promise<{ ended: Promise<unknown> }> {
    const id = this.#next++;
    return new Promise((started) => {
      const ended = new Promise((resolve) => {
        this.#pending.set(id, (data) => {
          if (data.blocking) return started({ ended });
          this.#pending.delete(id);
          resolve(undefined);
        });
      });
      this.#worker.postMessage({ id, op: "block", ms });
    });
  }

  /** Stops the worker. */
  terminate(): void {
    this.#worker.terminate();
  }
}
