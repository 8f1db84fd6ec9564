/**
 * A backend for several workers of one process (`deno serve --parallel`, Web
 * Workers), with no server: each worker keeps its values in memory, and the
 * worker answering a scrape gathers the others' over a `BroadcastChannel`
 * and merges them.
 *
 * @module
 */

import type { Backend, BackendConfig } from "./backend.ts";
import type { MetricType } from "../vocabulary.ts";
import type { Store, StoredMetric, StoredSeries, StoredValue, StoreReading } from "./store.ts";
import { LabelValidationError } from "../errors.ts";
import { Gauge } from "../metrics/gauge.ts";
import { getLogger } from "../logger.ts";
import type { Registry } from "../registry/registry.ts";
import { unrefTimer } from "../_runtime.ts";
import { sampleKey, seriesOfKey } from "./_series_key.ts";
import {
  LATEST,
  modeOf,
  PER_WORKER,
  type Settings,
  settingsFor,
} from "./_multi_worker_settings.ts";
import { addWorker, combine, encodeNumber, Merged } from "./_multi_worker_merge.ts";
import {
  channelClass,
  type Data,
  type Gather,
  isLive,
  isMessage,
  liveSessions,
  type Message,
  pack,
  type Payload,
  type SelfMetrics,
  type State,
  store,
  unpackAll,
} from "./_multi_worker_channel.ts";

export type { GaugeMode, MultiWorkerBackendConfig } from "./_multi_worker_settings.ts";

/** One series of this worker: its cells (one, or a histogram's buckets then sum). */
class Series {
  /** The metric (see `StoredSeries.metric`). */
  readonly metric: string;
  /** The series' key (see `StoredSeries.key`, without the sample). */
  readonly key: string;
  readonly cells: WorkerCell[] = [];
  /** The sample of each cell, in the order of `StoredMetric.samples`. */
  readonly samples: string[] = [];
  /** `"<key as JSON string>",`: the start of this series' entry in a payload. */
  readonly head: string;

  constructor(metric: string, key: string) {
    this.metric = metric;
    this.key = key;
    this.head = JSON.stringify(key) + ",";
  }
}

/** This worker's series by metric identity (see `StoredSeries.metric`), then by key. */
interface LocalMetric {
  readonly type: MetricType;
  readonly series: Map<string, Series>;
}

const WORKERS_METRIC = "pytheus_multi_worker_workers";
const GATHER_METRIC = "pytheus_multi_worker_gather_seconds";
// The self-metrics describe the scrape of the worker answering it: never merged.
const LOCAL_ONLY = new Set([WORKERS_METRIC, GATHER_METRIC]);
const EMPTY: StoreReading = new Map();
// The types whose values never go down: a scrape shows what the others know of them.
const MONOTONE: ReadonlySet<MetricType> = new Set(["counter", "histogram", "summary"]);

const index = new Map<string, LocalMetric>();
let workerId = randomId();
const session = crypto.randomUUID();
let state: State | undefined;
let payloads = 0;
// The number of the newest payload of this worker sent: scrapes show no newer values
// of its counters, histograms and summaries (see `#shown`).
let sent = 0;
// By metric, the keys of the series the last read of it found in other
// workers only: the scrape makes their cells next, which are not this
// worker's own until it writes to them.
const foreignKeys = new Map<string, Set<string>>();
// By metric, what the last read merged: what a read that fails shows, so
// that no counter goes down.
const lastRead = new Map<string, Map<string, StoredValue>>();
let closing: Promise<void> | undefined;
// Whether values of another worker that are not numbers were warned about (once a process).
let warnedUnreadable = false;

/**
 * Keeps each value in the memory of the worker that writes it; the worker
 * answering a scrape asks every other worker for its values over a
 * `BroadcastChannel` and merges them, so every scrape, whichever worker
 * answers it, shows the totals of all workers. Counters and histograms are
 * summed; gauges are summed unless {@linkcode MultiWorkerBackendConfig.gaugeModes}
 * says otherwise. A worker that stops answering keeps its counters and
 * histograms at their last known values; its gauges are dropped.
 *
 * Counters, histograms and summaries never go down from one scrape to the
 * next, whichever workers answer them, and however late the others are: a
 * scrape shows of each worker, the answering one included, the values of
 * the newest payload it sent (not its live values, which no other worker
 * knows yet), and each worker keeps the newest payload of every other.
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
  }

  /** This worker's id: the value of its worker label, and what other workers know it by. */
  static get workerId(): string {
    return workerId;
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
    await closing;
    const previous = state;
    if (previous) {
      WorkerCell.leave(previous);
      setTimeout(() => previous.channel.close(), 10);
    }
    if (settings.workerId !== undefined) workerId = settings.workerId;
    const channel = new Channel(settings.channel);
    const heartbeat = setInterval(
      () => post({ t: "beat", from: workerId, s: session }),
      settings.heartbeatMs,
    );
    unrefTimer(heartbeat);
    // A listened channel keeps the process alive (and `deno serve` from
    // stopping on SIGTERM) unless unref'd.
    (channel as { unref?: () => void }).unref?.();
    const current: State = {
      settings,
      session,
      channel,
      heartbeat,
      peers: new Map(),
      stored: new Map(),
      gathers: new Map(),
      self: settings.registry ? selfMetrics(settings.registry) : undefined,
      seq: 0,
      scraped: false,
    };
    state = current;
    channel.onmessage = (event: MessageEvent) => {
      try {
        WorkerCell.receive(current, event.data);
      } catch (error) {
        getLogger().error(`MultiWorkerBackend could not handle a message: ${error}`);
      }
    };
    post({ t: "hello", from: workerId, s: session });
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
    const current = state;
    if (!current) return EMPTY;
    const started = performance.now();
    current.scraped = true;
    try {
      const seq = ++current.seq;
      let waiting = liveSessions(current);
      if (waiting.size === 0 && current.peers.size + current.stored.size > 0) {
        // Nobody of those heard of seems live: maybe this worker was busy for
        // three heartbeats, the others' messages waiting in its queue. Let
        // them in first, or it would not ask the others, and show less of
        // them than they did.
        await sleep(0);
        waiting = liveSessions(current);
      }
      const gather: Gather = { waiting, answered: new Set() };
      current.gathers.set(seq, gather);
      const n = ++payloads;
      const data = await pack(WorkerCell.encode(n), current.settings.compress);
      if (post({ t: "req", from: workerId, s: session, seq, n, data })) sent = Math.max(sent, n);
      if (waiting.size > 0) {
        let timer: unknown;
        await new Promise<void>((resolve) => {
          gather.done = resolve;
          timer = setTimeout(resolve, current.settings.timeoutMs);
        });
        clearTimeout(timer as number);
      }
      current.gathers.delete(seq);
      await unpackAll(current);
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
    const current = state;
    if (!current) return closing ?? Promise.resolve();
    state = undefined;
    WorkerCell.leave(current);
    return closing = (async () => {
      // Let the goodbye leave before the channel closes; then let the
      // channel finish closing: Deno breaks a channel opened in the same
      // tick as the last one closes.
      await sleep(10);
      current.channel.close();
      await sleep(10);
      closing = undefined;
    })();
  }
}

/** One number of this worker: its value, and what it sent of it. */
class WorkerCell implements Backend {
  #value = 0;
  // Whether this worker made or wrote the series (a scrape may make it only to show others').
  #own: boolean;
  readonly #stamped: boolean;
  // A counter's, histogram's or summary's: scrapes show `#shown()`, not `#value`.
  readonly #monotone: boolean;
  // The value in the newest payload encoded (number `#lastN`), and in one
  // sent before it: what scrapes show, the first once that payload is sent.
  #lastN = 0;
  #last = 0;
  #before = 0;
  #at = 0;
  readonly #series: Series | undefined;

  constructor(settings: Settings, stored: StoredSeries) {
    const key = seriesOfKey(stored.key);
    this.#own = foreignKeys.get(stored.metric)?.has(key) !== true;
    const mode = modeOf(settings, stored.type, stored.name);
    this.#stamped = mode === LATEST;
    this.#monotone = MONOTONE.has(stored.type);
    if (mode === PER_WORKER && Object.hasOwn(stored.labelValues, settings.workerLabel)) {
      throw new LabelValidationError(
        `Gauge "${stored.name}" cannot use the "perWorker" mode: it has a label "${settings.workerLabel}" already (set workerLabel to another name)`,
      );
    }
    this.#series = LOCAL_ONLY.has(stored.name) ? undefined : seriesFor(stored, key);
    this.#series?.cells.push(this);
    this.#series?.samples.push(stored.sample);
  }

  inc(value: number): void {
    this.#value += value;
    this.#own = true;
    if (this.#stamped) this.#at = now();
  }

  dec(value: number): void {
    this.#value -= value;
    this.#own = true;
    if (this.#stamped) this.#at = now();
  }

  set(value: number): void {
    this.#value = value;
    this.#own = true;
    if (this.#stamped) this.#at = now();
  }

  /** This worker's value: what a scrape reads of a self-metric, never merged. */
  get(): number {
    return this.#value;
  }

  /** Forgets the series in this worker (other workers keep theirs). */
  remove(): void {
    const series = this.#series;
    if (!series) return;
    const local = index.get(series.metric);
    if (local?.series.get(series.key) === series) local.series.delete(series.key);
    // A read that fails shows the last merged values: not this series' any more.
    const last = lastRead.get(series.metric);
    if (last !== undefined) {
      for (const sample of series.samples) last.delete(sampleKey(series.key, sample));
    }
  }

  /**
   * This worker's part of the value for a scrape: for a counter, histogram
   * or summary, once this worker has answered a scrape, the value it last
   * sent to the others (when it asked them, or answered one of them), so
   * that no other worker answering a later scrape shows less; `undefined`
   * when this worker has no part in it.
   */
  #part(scraped: boolean): number | undefined {
    if (!this.#own) return undefined;
    return this.#monotone && scraped ? this.#shown() : this.#value;
  }

  /**
   * This series' entry in payload `n`, `""` when this worker has no part in
   * it; a counter's, histogram's or summary's values are kept as payload `n`'s.
   */
  static #entry(series: Series, n: number, monotone: boolean): string {
    const cells = series.cells;
    const first = cells[0]!;
    if (cells.length === 1) {
      if (!first.#own) return "";
      const value = first.#value;
      if (monotone) first.#keep(n, value);
      const text = encodeNumber(value);
      return series.head + (first.#stamped ? `[${text},${first.#at}]` : text);
    }
    let own = false;
    for (let i = 0; i < cells.length; i++) if (cells[i]!.#own) own = true;
    if (!own) return "";
    let values = "";
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i]!;
      const value = cell.#value;
      if (monotone) cell.#keep(n, value);
      values += (i === 0 ? "[" : ",") + encodeNumber(value);
    }
    return series.head + values + "]";
  }

  /** Keeps `value`, in payload `n`, the newest encoded: shown once it is sent. */
  #keep(n: number, value: number): void {
    if (this.#lastN <= sent) this.#before = this.#last;
    this.#lastN = n;
    this.#last = value;
  }

  /**
   * The value scrapes show: that of the newest payload encoded if it is sent,
   * else (it is still being compressed) that of one sent before. Either is
   * known to every other worker (or a later one), so none can show less.
   */
  #shown(): number {
    return this.#lastN <= sent ? this.#last : this.#before;
  }

  /** This worker's payload number `n`. */
  static encode(n: number): string {
    let text = "";
    for (const [name, local] of index) {
      let body = "";
      const monotone = MONOTONE.has(local.type);
      for (const series of local.series.values()) {
        const entry = WorkerCell.#entry(series, n, monotone);
        if (entry !== "") body += body === "" ? entry : "," + entry;
      }
      if (body === "") continue;
      text += `${text === "" ? "{" : ","}${JSON.stringify(name)}:["${local.type}",[${body}]]`;
    }
    return text === "" ? "{}" : text + "}";
  }
  static receive(current: State, message: unknown): void {
    if (!isMessage(message) || message.from === workerId || message.s === session) return;
    const { from, s } = message;
    const now = Date.now();
    const peer = current.peers.get(s);
    if (peer !== undefined && peer.id === from) peer.seen = now;
    else {
      // A session not heard of: a worker started again under the same id
      // replaces its previous session, gone (its gauges dropped, its counters kept).
      for (const [other, { id }] of current.peers) if (id === from) current.peers.delete(other);
      current.peers.set(s, { id: from, seen: now });
    }
    switch (message.t) {
      case "hello": {
        // Tell the newcomer who is here, and hand it the values of the sessions gone.
        const gone: [string, string, number, Data][] = [];
        for (const [other, stored] of current.stored) {
          if (other !== s && !isLive(current, other, now)) {
            gone.push([other, stored.id, stored.n, stored.data]);
          }
        }
        post({ t: "here", from: workerId, s: session, gone });
        break;
      }
      case "here":
        for (const entry of message.gone) {
          if (Array.isArray(entry) && entry[0] !== session) store(current, ...entry);
        }
        break;
      case "req": {
        store(current, s, from, message.n, message.data);
        // Numbered when the values are read, so the newest stays newest
        // even if compressions finish out of order.
        const n = ++payloads;
        const { seq } = message;
        pack(WorkerCell.encode(n), current.settings.compress).then(
          (data) => {
            if (post({ t: "rep", from: workerId, s: session, to: s, seq, n, data })) {
              sent = Math.max(sent, n);
            }
          },
          (error) => getLogger().error(`MultiWorkerBackend could not answer a scrape: ${error}`),
        );
        break;
      }
      case "rep": {
        // Every worker keeps every answer, to whomever, and late ones too.
        store(current, s, from, message.n, message.data);
        if (message.to !== session) break;
        const gather = current.gathers.get(message.seq);
        if (!gather) break;
        gather.answered.add(s);
        gather.waiting.delete(s);
        if (gather.waiting.size === 0) gather.done?.();
        break;
      }
      case "bye":
        store(current, s, from, message.n, message.data);
        current.peers.delete(s);
        break;
    }
  }

  /**
   * Merges the other workers' newest payloads with this worker's values:
   * the reading of a scrape. A gone worker's gauges are no longer true; its
   * counters and histograms stay counted.
   */
  static merge(
    current: State,
    metrics: readonly StoredMetric[],
    now: number,
  ): { reading: StoreReading; gone: number } {
    const others: { id: string; live: boolean; payload: Payload }[] = [];
    let gone = 0;
    for (const [s, stored] of current.stored) {
      const live = isLive(current, s, now);
      if (!live) gone++;
      if (stored.parsed !== undefined) others.push({ id: stored.id, live, payload: stored.parsed });
    }
    const { workerLabel } = current.settings;
    const reading = new Map<string, Map<string, StoredValue>>();
    for (const metric of metrics) {
      const samples = metric.samples;
      if (LOCAL_ONLY.has(metric.name) || samples.length === 0) continue;
      const mode = modeOf(current.settings, metric.type, metric.name);
      const merged = new Map<string, Merged>();
      for (const other of others) {
        if (!other.live && metric.type === "gauge") continue;
        const entry = other.payload[metric.metric];
        if (!Array.isArray(entry) || entry[0] !== metric.type || !Array.isArray(entry[1])) continue;
        const flat = entry[1];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const key = flat[i];
          if (typeof key !== "string") continue;
          let series = merged.get(key);
          if (series === undefined) merged.set(key, series = new Merged(samples.length));
          if (!addWorker(series, mode, other.id, flat[i + 1]) && !warnedUnreadable) {
            warnedUnreadable = true;
            getLogger().warn(
              "MultiWorkerBackend left out values of another worker that are not numbers " +
                `(first in ${JSON.stringify(metric.name)})`,
            );
          }
        }
      }
      // A counter or gauge no worker has a part in is hidden.
      const hide = metric.type === "counter" || metric.type === "gauge";
      const values = new Map<string, StoredValue>();
      const local = index.get(metric.metric);
      if (local !== undefined && local.type === metric.type) {
        for (const series of local.series.values()) {
          const others = merged.get(series.key);
          merged.delete(series.key);
          for (let i = 0; i < series.cells.length; i++) {
            const cell = series.cells[i]!;
            values.set(
              sampleKey(series.key, series.samples[i]!),
              combine(
                others,
                i,
                mode,
                workerLabel,
                cell.#part(current.scraped),
                cell.#at,
                hide,
                workerId,
              ),
            );
          }
        }
      }
      const foreign = new Set<string>();
      for (const [key, others] of merged) {
        foreign.add(key);
        for (let i = 0; i < samples.length; i++) {
          values.set(
            sampleKey(key, samples[i]!),
            combine(others, i, mode, workerLabel, undefined, 0, hide, workerId),
          );
        }
      }
      reading.set(metric.metric, values);
      lastRead.set(metric.metric, values);
      foreignKeys.set(metric.metric, foreign);
    }
    return { reading, gone };
  }

  static leave(current: State): void {
    clearInterval(current.heartbeat as number);
    current.channel.onmessage = null;
    try {
      const n = ++payloads;
      current.channel.postMessage(
        {
          t: "bye",
          from: workerId,
          s: session,
          n,
          data: WorkerCell.encode(n),
        } satisfies Message,
      );
      sent = Math.max(sent, n);
    } catch {
      // the channel is closed already
    }
    for (const gather of current.gathers.values()) gather.done?.();
    if (current.self) {
      current.self.registry.unregister(current.self.workers);
      current.self.registry.unregister(current.self.gatherSeconds);
    }
  }
}

/** Sends a message; returns whether it was sent. */
function post(message: Message): boolean {
  if (!state) return false;
  try {
    state.channel.postMessage(message);
    return true;
  } catch (error) {
    getLogger().error(`MultiWorkerBackend could not send a message: ${error}`);
    return false;
  }
}

function seriesFor(stored: StoredSeries, key: string): Series {
  let local = index.get(stored.metric);
  if (local === undefined || local.type !== stored.type) {
    index.set(stored.metric, local = { type: stored.type, series: new Map() });
  }
  let series = local.series.get(key);
  // A histogram's buckets and sum join their child's series; a number the
  // series holds already belongs to a new child of the same labels (after
  // remove(), or a metric made again): a new series.
  if (series === undefined || series.samples.includes(stored.sample)) {
    series = new Series(stored.metric, key);
    local.series.set(key, series);
  }
  return series;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function randomId(): string {
  return crypto.randomUUID().slice(0, 8);
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
