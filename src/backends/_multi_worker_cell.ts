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
import {
  addWorker,
  combine,
  decodeNative,
  decodeNumber,
  encodeNumber,
  Merged,
  MONOTONE,
} from "./_multi_worker_merge.ts";
import {
  applyEdits,
  editsFor,
  type Expiry,
  noteAck,
  noteExpiry,
  tidy,
} from "./_multi_worker_expiry.ts";
import type { IdleMetric } from "./_idle_stores.ts";
import { writeTime } from "./_multi_worker_clock.ts";
import {
  type Data,
  isLive,
  isMessage,
  type Merging,
  type Message,
  pack,
  type State,
  store,
  unpackAll,
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
  /** The part the last merge read (see `part`), as a payload entry; `null` for none. */
  cut(): unknown;
  /** Whether it counted anything since an expiry's cut (`undefined`: the scrape read no part). */
  changedSince(cut: NativeHistogramState | undefined): boolean;
  /** Takes an expiry's cut away: what is left is what it counted since. */
  cutAway(cut: NativeHistogramState): void;
  /** Forgets this worker's part: the series stays, with no part here until observed. */
  disown(): void;
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

export const index = new Map<string, LocalMetric>();
// By metric, the keys of the series the last read of it found in other
// workers only: the scrape makes their cells next, which are not this
// worker's own until it writes to them.
export const foreignKeys = new Map<string, Set<string>>();
// By metric, what the last read merged: what a read that fails shows, so
// that no counter goes down.
export const lastRead = new Map<string, Map<string, StoredValue>>();
// The metrics with an idle time, by identity: what forgets a series an expiry leaves nothing of.
export const idleMetrics = new Map<string, IdleMetric>();
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
  // The part the last merge read (see #part): an expiry's cut of it.
  #merged: number | undefined;
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
    if (this.#stamped) this.#at = writeTime();
  }

  dec(value: number): void {
    this.#value -= value;
    this.#own = true;
    if (this.#stamped) this.#at = writeTime();
  }

  set(value: number): void {
    this.#value = value;
    this.#own = true;
    if (this.#stamped) this.#at = writeTime();
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
    return this.#merged = !this.#own
      ? undefined
      : this.#monotone && scraped
      ? this.#shown()
      : this.#value;
  }

  /**
   * What the last merge read of this worker's part of a series, as a payload
   * entry: an expiry's cut of it; `undefined` when it read none.
   */
  static cutOf(series: Series): unknown {
    const { cells, native } = series;
    const nativeCut = native?.cut() ?? null;
    if (nativeCut === null && cells.every((cell) => cell.#merged === undefined)) return undefined;
    if (cells.length === 1 && native === undefined) return cells[0]!.#merged;
    const entry: unknown[] = cells.map((cell) => cell.#merged ?? 0);
    if (native !== undefined) entry.push(nativeCut);
    return entry;
  }

  /**
   * Takes an expiry's cut away from this worker's part of a series: what a
   * counter, histogram or summary counted since is kept (and what it last
   * sent, less the cut, is what scrapes show of it), a gauge keeps its value
   * if it is another.
   *
   * @param series The series.
   * @param cut What the expiry's scrape read of this worker's part (a
   * payload entry), `undefined` when it read none.
   * @returns Whether anything is left since the cut (else the caller forgets it).
   */
  static cutAway(series: Series, cut: unknown): boolean {
    const { cells, native } = series;
    if (cut === undefined) {
      // No part was read here: whatever it holds came since.
      return cells.some((cell) => cell.#own) || native?.changedSince(undefined) === true;
    }
    const whole = Array.isArray(cut) && (cells.length > 1 || native !== undefined);
    const numbers = whole
      ? cells.map((_, i) => decodeNumber(cut[i]))
      : [decodeNumber(Array.isArray(cut) ? cut[0] : cut)];
    const nativeCut = whole && native !== undefined && cut[cells.length] !== null
      ? decodeNative(cut[cells.length])
      : undefined;
    // An entry this version cannot read: everything is kept.
    if (numbers.length !== cells.length || numbers.includes(undefined)) return true;
    let left = native?.changedSince(nativeCut) === true;
    for (let i = 0; i < cells.length; i++) {
      if (!Object.is(cells[i]!.#value, numbers[i])) left = true;
    }
    if (!left || !cells[0]!.#monotone) return left;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i]!;
      const was = numbers[i]!;
      cell.#value -= was;
      cell.#last -= was;
      // One sent before the cut is shown while a newer one is compressed: no count below 0.
      cell.#before = series.samples[i] === "sum"
        ? cell.#before - was
        : Math.max(0, cell.#before - was);
    }
    if (nativeCut !== undefined) native!.cutAway(nativeCut);
    return true;
  }

  /** Forgets this worker's part of a series, which stays, with no part here until written. */
  static disown(series: Series): void {
    for (const cell of series.cells) {
      cell.#own = false;
      cell.#value = cell.#last = cell.#before = 0;
      cell.#merged = undefined;
    }
    series.native?.disown();
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
            if (stored.edited && stored.parsed !== undefined) {
              // Expiries took series out of it: handed over as it is now.
              stored.data = JSON.stringify(stored.parsed);
              stored.edited = false;
            }
            gone.push([other, stored.id, stored.n, stored.data]);
          }
        }
        post({ t: "here", from: worker.id, s: session, gone });
        break;
      }
      case "here":
        for (const entry of message.gone) {
          // As the worker answering kept it: what expiries it heard of are taken away already.
          if (Array.isArray(entry) && entry[0] !== session) store(current, ...entry);
        }
        break;
      case "req": {
        keep(current, s, from, message.n, message.data);
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
        keep(current, s, from, message.n, message.data);
        if (message.to !== session) break;
        const gather = current.gathers.get(message.seq);
        if (!gather) break;
        gather.answered.add(s);
        gather.waiting.delete(s);
        if (gather.waiting.size === 0) gather.done?.();
        break;
      }
      case "bye":
        keep(current, s, from, message.n, message.data);
        current.peers.delete(s);
        break;
      case "idle":
        WorkerCell.#heard(current, message);
        break;
      case "idled":
        if (typeof message.id === "string" && typeof message.n === "number") {
          noteAck(current, message.id, s, message.n);
        }
        break;
    }
  }

  /** Another worker's scrape found series idle: takes its cut away here, and acknowledges it. */
  static #heard(current: State, message: Extract<Message, { t: "idle" }>): void {
    const { s, id, n, metric, type, cuts } = message;
    if (typeof id !== "number" || typeof n !== "number" || !Array.isArray(cuts)) return;
    if (typeof metric !== "string" || typeof type !== "string") return;
    const byKey = new Map<string, Map<string, unknown>>();
    for (const entry of cuts) {
      if (!Array.isArray(entry) || typeof entry[0] !== "string" || !Array.isArray(entry[1])) {
        continue;
      }
      const parts = new Map<string, unknown>();
      for (const part of entry[1]) {
        if (Array.isArray(part) && typeof part[0] === "string") parts.set(part[0], part[1]);
      }
      byKey.set(entry[0], parts);
    }
    const expiry: Expiry = { id: `${s}:${id}`, metric, type, cuts: byKey, pending: new Map() };
    const had = WorkerCell.expireHere(expiry);
    noteExpiry(current, expiry, { s, n });
    // Numbered before any payload of this worker's without the cut.
    if (had) post({ t: "idled", from: worker.id, s: session, id: expiry.id, n: worker.payloads });
  }

  /**
   * Takes an expiry's cut away from this worker's own parts: a series left
   * with nothing since is forgotten (its child leaves the metric).
   *
   * @returns Whether this worker had a part in the cut.
   */
  static expireHere(expiry: Expiry): boolean {
    const local = index.get(expiry.metric);
    const last = lastRead.get(expiry.metric);
    let had = false;
    for (const [key, parts] of expiry.cuts) {
      const cut = parts.get(session);
      if (cut !== undefined) had = true;
      const series = local?.type === expiry.type ? local.series.get(key) : undefined;
      if (series === undefined) continue;
      // A read that fails shows the last merged values: not this series' any more.
      for (const sample of series.samples) last?.delete(sampleKey(key, sample));
      last?.delete(sampleKey(key, NATIVE));
      if (WorkerCell.cutAway(series, cut)) continue;
      idleMetrics.get(expiry.metric)?.forget(key, false);
      // A series no metric here forgets (its own, or one without an idle time) stays, empty.
      if (local!.series.get(key) === series) WorkerCell.disown(series);
    }
    return had;
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
    tidy(current, now);
    const others: Merging[] = [];
    let gone = 0;
    for (const [s, stored] of current.stored) {
      const live = isLive(current, s, now);
      if (!live) gone++;
      if (stored.parsed !== undefined) {
        others.push({ s, id: stored.id, live, payload: stored.parsed });
      }
    }
    // What an expiry found by this scrape cuts of each (see _multi_worker_expiry.ts).
    current.merged = others;
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

/** Keeps another session's payload (see `store`), with the expiries whose cut it may hold. */
function keep(current: State, s: unknown, id: unknown, n: unknown, data: unknown): void {
  const kept = store(current, s, id, n, data);
  if (kept !== undefined) kept.edits = editsFor(current, s as string, kept.n);
}

/** Parses the payloads kept not parsed yet, and takes the expiries' cuts away from them. */
export async function unpackAndEdit(current: State): Promise<void> {
  await unpackAll(current);
  for (const [s, stored] of current.stored) applyEdits(stored, s);
}

/**
 * Expires series a scrape of this worker found idle, in every worker: takes
 * what the scrape read of each part away here, and tells the others what it
 * read (see `_multi_worker_expiry.ts`).
 *
 * @param metric Their metric.
 * @param keys Their keys.
 */
export function expireEverywhere(metric: StoredMetric, keys: readonly string[]): void {
  const current = worker.state;
  const cuts = new Map<string, Map<string, unknown>>();
  for (const key of keys) cuts.set(key, new Map());
  const local = index.get(metric.metric);
  for (const [key, parts] of cuts) {
    const series = local?.type === metric.type ? local.series.get(key) : undefined;
    const cut = series === undefined ? undefined : WorkerCell.cutOf(series);
    if (cut !== undefined) parts.set(session, cut);
  }
  for (const other of current?.merged ?? []) {
    const entry = other.payload[metric.metric];
    if (!Array.isArray(entry) || entry[0] !== metric.type || !Array.isArray(entry[1])) continue;
    const flat = entry[1];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      if (typeof flat[i] === "string") cuts.get(flat[i] as string)?.set(other.s, flat[i + 1]);
    }
  }
  const id = current === undefined ? 0 : ++current.expired;
  const { type } = metric;
  const expiry: Expiry = {
    id: `${session}:${id}`,
    metric: metric.metric,
    type,
    cuts,
    pending: new Map(),
  };
  WorkerCell.expireHere(expiry);
  if (current === undefined) return;
  noteExpiry(current, expiry);
  const parts = [...cuts].map(([key, parts]): [string, [string, unknown][]] => [key, [...parts]]);
  post({
    t: "idle",
    from: worker.id,
    s: session,
    id,
    n: worker.payloads,
    metric: metric.metric,
    type,
    cuts: parts,
  });
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

export function randomId(): string {
  return crypto.randomUUID().slice(0, 8);
}
