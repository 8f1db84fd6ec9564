/**
 * One worker's side of the multi-worker backend: its cells (one per number,
 * with what it last sent of each), what it is and did (its id, payloads,
 * channel), and how it answers the others: encoding its values, receiving
 * their messages, merging their payloads with its own values.
 */

import type { Backend } from "./backend.ts";
import type { MetricType, NativeHistogramState } from "../vocabulary.ts";
import { NativeParts } from "../metrics/_native_merge.ts";
import type { StoredMetric, StoredSeries, StoredValue, StoreReading } from "./store.ts";
import { LabelValidationError } from "../errors.ts";
import { getLogger } from "../logger.ts";
import { sampleKey, seriesOfKey } from "./_series_key.ts";
import { LATEST, modeOf, PER_WORKER, type Settings } from "./_multi_worker_settings.ts";
import { addWorker, combine, encodeNumber, Merged } from "./_multi_worker_merge.ts";
import {
  type Data,
  isLive,
  isMessage,
  type Message,
  pack,
  type Payload,
  type State,
  store,
} from "./_multi_worker_channel.ts";

/** What a series' native histogram gives a payload and a scrape (see `_multi_worker_native.ts`). */
export interface SeriesNative {
  /**
   * Its entry in payload `n` (after the buckets and sum), kept as payload
   * `n`'s (see `WorkerCell.#keep`).
   */
  entry(n: number): string;
  /**
   * This worker's part for a scrape: once this worker has answered one, the
   * histogram it last sent; `undefined` when it has no part in it.
   */
  part(scraped: boolean): NativeHistogramState | undefined;
}

/** One series of this worker: its cells (one, or a histogram's buckets then sum). */
export class Series {
  /** The metric (see `StoredSeries.metric`). */
  readonly metric: string;
  /** The series' key (see `StoredSeries.key`, without the sample). */
  readonly key: string;
  readonly cells: WorkerCell[] = [];
  /** The sample of each cell, in the order of `StoredMetric.samples`. */
  readonly samples: string[] = [];
  /** `"<key as JSON string>",`: the start of this series' entry in a payload. */
  readonly head: string;
  /** A native histogram's, after its buckets and sum. */
  native: SeriesNative | undefined;

  constructor(metric: string, key: string) {
    this.metric = metric;
    this.key = key;
    this.head = JSON.stringify(key) + ",";
  }
}

/** This worker's series by metric identity (see `StoredSeries.metric`), then by key. */
export interface LocalMetric {
  readonly type: MetricType;
  readonly series: Map<string, Series>;
}

export const WORKERS_METRIC = "pytheus_multi_worker_workers";
/** The sample of a native histogram's buckets (see `StoredMetric.samples`). */
export const NATIVE = "native";
export const GATHER_METRIC = "pytheus_multi_worker_gather_seconds";
// The self-metrics describe the scrape of the worker answering it: never merged.
export const LOCAL_ONLY = new Set([WORKERS_METRIC, GATHER_METRIC]);
export const EMPTY: StoreReading = new Map();
// The types whose values never go down: a scrape shows what the others know of them.
export const MONOTONE: ReadonlySet<MetricType> = new Set(["counter", "histogram", "summary"]);

export const index = new Map<string, LocalMetric>();
// By metric, the keys of the series the last read of it found in other
// workers only: the scrape makes their cells next, which are not this
// worker's own until it writes to them.
export const foreignKeys = new Map<string, Set<string>>();
// By metric, what the last read merged: what a read that fails shows, so
// that no counter goes down.
export const lastRead = new Map<string, Map<string, StoredValue>>();
/** This worker: what it is, and what it did, as the backend's parts share it. */
export const worker = {
  /** Its id (`workerId` in the configuration, else a random one). */
  id: randomId(),
  /** Its channel and what it heard on it, while open. */
  state: undefined as State | undefined,
  /** How many payloads it encoded. */
  payloads: 0,
  /**
   * The number of its newest payload sent: scrapes show no newer values of
   * its counters, histograms and summaries (see `#shown`).
   */
  sent: 0,
  /** The channel closing, while it does. */
  closing: undefined as Promise<void> | undefined,
  /** Whether values of another worker that are not numbers were warned about (once a process). */
  warnedUnreadable: false,
};

/** This module instance's session (see `Message`). */
export const session: string = crypto.randomUUID();

/** One number of this worker: its value, and what it sent of it. */
export class WorkerCell implements Backend {
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
    if (series.native !== undefined) values += "," + series.native.entry(n);
    return series.head + values + "]";
  }

  /** Keeps `value`, in payload `n`, the newest encoded: shown once it is sent. */
  #keep(n: number, value: number): void {
    if (this.#lastN <= worker.sent) this.#before = this.#last;
    this.#lastN = n;
    this.#last = value;
  }

  /**
   * The value scrapes show: that of the newest payload encoded if it is sent,
   * else (it is still being compressed) that of one sent before. Either is
   * known to every other worker (or a later one), so none can show less.
   */
  #shown(): number {
    return this.#lastN <= worker.sent ? this.#last : this.#before;
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
    if (!isMessage(message) || message.from === worker.id || message.s === session) return;
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
        post({ t: "here", from: worker.id, s: session, gone });
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
        const n = ++worker.payloads;
        const { seq } = message;
        pack(WorkerCell.encode(n), current.settings.compress).then(
          (data) => {
            if (post({ t: "rep", from: worker.id, s: session, to: s, seq, n, data })) {
              worker.sent = Math.max(worker.sent, n);
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
      // A native histogram's last sample is its native histogram, merged apart.
      const native = samples.at(-1) === NATIVE;
      const numbers = native ? samples.length - 1 : samples.length;
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
          if (!addWorker(series, mode, other.id, flat[i + 1], native) && !worker.warnedUnreadable) {
            worker.warnedUnreadable = true;
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
                worker.id,
              ),
            );
          }
          if (native) {
            setNative(values, series.key, others, series.native?.part(current.scraped));
          }
        }
      }
      const foreign = new Set<string>();
      for (const [key, others] of merged) {
        foreign.add(key);
        for (let i = 0; i < numbers; i++) {
          values.set(
            sampleKey(key, samples[i]!),
            combine(others, i, mode, workerLabel, undefined, 0, hide, worker.id),
          );
        }
        if (native) setNative(values, key, others, undefined);
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
      const n = ++worker.payloads;
      current.channel.postMessage(
        {
          t: "bye",
          from: worker.id,
          s: session,
          n,
          data: WorkerCell.encode(n),
        } satisfies Message,
      );
      worker.sent = Math.max(worker.sent, n);
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

/**
 * Puts a native histogram's parts in a reading: the other workers' and this
 * worker's own, unmerged (the series merges them with its settings).
 */
function setNative(
  values: Map<string, StoredValue>,
  key: string,
  others: Merged | undefined,
  own: NativeHistogramState | undefined,
): void {
  const parts = new NativeParts();
  for (const state of others?.natives ?? []) parts.add(state);
  if (own !== undefined) parts.add(own);
  if (parts.zeros.length === 0) return;
  // Not a number: only a native histogram's series reads it (see HistogramChild.read).
  values.set(sampleKey(key, NATIVE), parts as unknown as StoredValue);
}

/** Sends a message; returns whether it was sent. */
export function post(message: Message): boolean {
  if (!worker.state) return false;
  try {
    worker.state.channel.postMessage(message);
    return true;
  } catch (error) {
    getLogger().error(`MultiWorkerBackend could not send a message: ${error}`);
    return false;
  }
}

export function seriesFor(stored: StoredSeries, key: string): Series {
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function randomId(): string {
  return crypto.randomUUID().slice(0, 8);
}
