/**
 * A backend for several workers of one process (`deno serve --parallel`, Web
 * Workers), with no server: each worker keeps its values in memory, and the
 * worker answering a scrape gathers the others' over a `BroadcastChannel`
 * and merges them.
 *
 * @module
 */

import type { Backend, BackendConfig } from "./backend.ts";
import type { Store, StoredMetric, StoredSeries, StoredValue, StoreReading } from "./store.ts";
import { Gauge } from "../metrics/gauge.ts";
import { getLogger } from "../logger.ts";
import type { Registry } from "../registry/registry.ts";
import { unrefTimer } from "../_runtime.ts";
import { type Settings, settingsFor } from "./_multi_worker_settings.ts";
import {
  beat,
  type Beats,
  channelClass,
  type Gather,
  liveSessions,
  pack,
  type SelfMetrics,
  type State,
} from "./_multi_worker_channel.ts";

import {
  EMPTY,
  expireEverywhere,
  GATHER_METRIC,
  idleMetrics,
  lastRead,
  post,
  session,
  sleep,
  unpackAndEdit,
  worker,
  WorkerCell,
  WORKERS_METRIC,
} from "./_multi_worker_cell.ts";

import { WorkerNative } from "./_multi_worker_native.ts";
import { keepsNative } from "./_native_stores.ts";
import { handlesIdle } from "./_idle_stores.ts";

export type { GaugeMode, MultiWorkerBackendConfig } from "./_multi_worker_settings.ts";

/**
 * Keeps each value in the memory of the worker that writes it; the worker
 * answering a scrape asks every other worker for its values over a
 * `BroadcastChannel` and merges them, so every scrape, whichever worker
 * answers it, shows the totals of all workers. Counters and histograms are
 * summed (native histograms merged at the lowest resolution among the
 * workers); gauges are summed unless {@linkcode MultiWorkerBackendConfig.gaugeModes}
 * says otherwise. A worker that stops answering keeps its counters and
 * histograms at their last known values; its gauges are dropped.
 *
 * Counters, histograms and summaries never go down from one scrape to the
 * next, whichever workers answer them, and however late the others are: a
 * scrape shows of each worker, the answering one included, the values of
 * the newest payload it sent (not its live values, which no other worker
 * knows yet), and each worker keeps the newest payload of every other.
 *
 * A series of a metric with `idleSeconds` that a scrape finds idle expires in
 * every worker, and in what each keeps of the workers gone; a worker that
 * wrote it meanwhile keeps what it wrote after the values the scrape read,
 * from which the series starts again. `remove()` and `clear()` act on the
 * calling worker only.
 *
 * `inc`, `dec` and `set` only update fields in memory; the cost falls on
 * scrapes: each worker serializes its values once per scrape, and the
 * answering worker parses and merges them.
 *
 * @example With `deno serve --parallel`
 * ```ts ignore
 * import { Counter, loadBackend, makeHandler, MultiWorkerBackend } from "@pytheus/pytheus";
 *
 * await loadBackend({ backendClass: MultiWorkerBackend });
 * const requests = new Counter({
 *   name: "requests_total",
 *   description: "Requests served.",
 *   requiredLabels: ["path"] as const,
 * });
 * const metrics = makeHandler();
 *
 * export default {
 *   fetch(req: Request): Promise<Response> | Response {
 *     const path = new URL(req.url).pathname;
 *     if (path === "/metrics") return metrics(req);
 *     requests.labels({ path }).inc();
 *     return new Response("ok");
 *   },
 * };
 * ```
 */
export class MultiWorkerBackend implements Store {
  readonly #settings: Settings;

  /**
   * Checks the configuration; `loadBackend()` constructs it from
   * `backendConfig` and opens it.
   *
   * @param config A {@linkcode MultiWorkerBackendConfig}.
   * @throws {PytheusError} When the configuration is invalid.
   */
  constructor(config: BackendConfig = {}) {
    this.#settings = settingsFor(config);
    keepsNative(this, (series, settings) => new WorkerNative(series, settings));
    // A series a scrape finds idle expires in every worker (see _multi_worker_expiry.ts).
    handlesIdle(this, {
      track: (metric, idle) => void idleMetrics.set(metric.metric, idle),
      expire: (metric, keys) => expireEverywhere(metric, keys),
    });
  }

  /** This worker's id: the value of its worker label, and what other workers know it by. */
  static get workerId(): string {
    return worker.id;
  }

  /**
   * Joins the channel: says hello (so that the others know whom to wait
   * for) and starts the heartbeat. Called by `loadBackend()`; a second
   * store opened leaves the previous one's channel.
   *
   * @returns A promise that resolves once the channel is open.
   */
  async open(): Promise<void> {
    const settings = this.#settings;
    const Channel = await channelClass();
    await worker.closing;
    const previous = worker.state;
    if (previous) {
      WorkerCell.leave(previous);
      setTimeout(() => previous.channel.close(), 10);
    }
    if (settings.workerId !== undefined) worker.id = settings.workerId;
    const channel = new Channel(settings.channel);
    const beats: Beats = { last: Date.now(), stalledFrom: 0, stalledTo: -Infinity };
    const heartbeat = setInterval(() => {
      beat(beats, settings.heartbeatMs, Date.now());
      post({ t: "beat", from: worker.id, s: session });
    }, settings.heartbeatMs);
    unrefTimer(heartbeat);
    // A listened channel keeps the process alive (and `deno serve` from
    // stopping on SIGTERM) unless unref'd.
    (channel as { unref?: () => void }).unref?.();
    const current: State = {
      settings,
      session,
      channel,
      heartbeat,
      beats,
      peers: new Map(),
      stored: new Map(),
      gathers: new Map(),
      self: settings.registry ? selfMetrics(settings.registry) : undefined,
      seq: 0,
      scraped: false,
      merged: [],
      expiries: new Map(),
      acks: new Map(),
      expired: 0,
      unpack: () => void unpackAndEdit(current),
    };
    worker.state = current;
    channel.onmessage = (event) => {
      try {
        WorkerCell.receive(current, event.data);
      } catch (error) {
        getLogger().error(`MultiWorkerBackend could not handle a message: ${error}`);
      }
    };
    post({ t: "hello", from: worker.id, s: session });
  }

  /**
   * Makes the cell of one number, kept in this worker's memory.
   *
   * @param series What the cell holds.
   * @returns The cell.
   * @throws {LabelValidationError} When a `"perWorker"` gauge already has the worker label.
   */
  cell(series: StoredSeries): Backend {
    return new WorkerCell(this.#settings, series);
  }

  /**
   * The scrape's read: asks every other worker for its values, waits for the
   * live ones (at most `timeoutMs`), and merges what it has of every worker
   * ever heard of. Never rejects: on a failure (logged) a metric shows what
   * the last read that merged it found, so that no counter goes down.
   *
   * @param metrics The metrics the scrape reads.
   * @returns The merged values.
   */
  async read(metrics: readonly StoredMetric[]): Promise<StoreReading> {
    const current = worker.state;
    if (!current) return EMPTY;
    const started = performance.now();
    current.scraped = true;
    try {
      const seq = ++current.seq;
      // Judged as of before a stall of this worker's: it waits for those
      // then live, whose newest payloads may still wait in its queue.
      const waiting = liveSessions(current);
      const gather: Gather = { waiting, answered: new Set() };
      current.gathers.set(seq, gather);
      const n = ++worker.payloads;
      const data = await pack(WorkerCell.encode(n), current.settings.compress);
      if (post({ t: "req", from: worker.id, s: session, seq, n, data })) {
        worker.sent = Math.max(worker.sent, n);
      }
      if (waiting.size > 0) {
        let timer: unknown;
        await new Promise<void>((resolve) => {
          gather.done = resolve;
          timer = setTimeout(resolve, current.settings.timeoutMs);
        });
        clearTimeout(timer as number);
      }
      current.gathers.delete(seq);
      await unpackAndEdit(current);
      const { reading, gone } = WorkerCell.merge(current, metrics, Date.now());
      if (current.self) {
        const { workers, gatherSeconds } = current.self;
        workers.labels({ state: "answered" }).set(gather.answered.size + 1);
        workers.labels({ state: "late" }).set(gather.waiting.size);
        workers.labels({ state: "gone" }).set(gone);
        gatherSeconds.set((performance.now() - started) / 1000);
      }
      return reading;
    } catch (error) {
      getLogger().error(`MultiWorkerBackend could not merge the other workers' values: ${error}`);
      const reading = new Map<string, ReadonlyMap<string, StoredValue>>();
      for (const { metric } of metrics) {
        const last = lastRead.get(metric);
        if (last !== undefined) reading.set(metric, last);
      }
      return reading;
    }
  }

  /**
   * Leaves the channel, as {@linkcode MultiWorkerBackend.close} does.
   *
   * @returns A promise that resolves when the channel is closed.
   */
  close(): Promise<void> {
    return MultiWorkerBackend.close();
  }

  /**
   * Sends this worker's final values to the others (so they keep its
   * counters) and leaves the channel. Call it when a worker stops on purpose;
   * metrics keep working, in this worker only.
   *
   * @returns A promise that resolves when the channel is closed.
   *
   * @example
   * ```ts ignore
   * import { MultiWorkerBackend } from "@pytheus/pytheus";
   * await MultiWorkerBackend.close();
   * ```
   */
  static close(): Promise<void> {
    const current = worker.state;
    if (!current) return worker.closing ?? Promise.resolve();
    worker.state = undefined;
    WorkerCell.leave(current);
    return worker.closing = (async () => {
      // Let the goodbye leave before the channel closes; then let the
      // channel finish closing: Deno breaks a channel opened in the same
      // tick as the last one closes.
      await sleep(10);
      current.channel.close();
      await sleep(10);
      worker.closing = undefined;
    })();
  }
}

function selfMetrics(registry: Registry): SelfMetrics {
  const workers = new Gauge({
    name: WORKERS_METRIC,
    description:
      "Workers merged by the last scrape: answered (this worker included), late (did not answer in time, last values used), gone (not heard of; counters and histograms kept, gauges dropped).",
    requiredLabels: ["state"],
    registry: null,
  });
  const gatherSeconds = new Gauge({
    name: GATHER_METRIC,
    description: "Seconds the last scrape spent gathering and merging the other workers' values.",
    registry: null,
  });
  registry.register(workers);
  registry.register(gatherSeconds);
  return { registry, workers, gatherSeconds };
}
