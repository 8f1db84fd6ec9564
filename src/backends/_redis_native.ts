/**
 * Native histograms in Redis. Each bucket is a field of the metric's hash
 * that every process adds to (`HINCRBYFLOAT`, through the same cells, flushes
 * and restores as every other number): `<series key>|~p<schema>:<key>` and
 * `|~n<schema>:<key>` for the positive and negative buckets at the schema
 * they were counted at, `|~z<threshold>` for the zero bucket counted with
 * that threshold. A process that lowers its resolution or widens its zero
 * bucket writes its next observations to the fields of its new schema or
 * threshold; the fields written before keep their counts. A scrape reads
 * them all and the series merges them (`_native_merge.ts`): nothing is ever
 * subtracted, so no count goes down.
 */

import { type KeyTable, keyTableOf, MAX_SCHEMA, MIN_SCHEMA } from "../metrics/_native_buckets.ts";
import {
  type NativeCell,
  NativeHistogram,
  type NativeSettings,
} from "../metrics/_native_histogram.ts";
import { NativeParts } from "../metrics/_native_merge.ts";
import type { NativeHistogramState } from "../vocabulary.ts";
import type { StoredSeries, StoredValue } from "./store.ts";
import { sampleKey, seriesOfKey } from "./_series_key.ts";
import { sharedSettings } from "./_native_stores.ts";
import { IdleRedisCell, PrefixClear, queueRemoval, RedisCell, state } from "./_redis_state.ts";
import { formatNumber, hashOf } from "./_redis_wire.ts";
import type { IdleMark } from "./_idle_stores.ts";

/** Where every native field's sample starts (after the series' key and `|`). */
export const MARK = "~";

/** One series' native histogram in Redis: this process' share, and a cell per field it writes. */
export class RedisNative implements NativeCell {
  readonly #keyPrefix: string;
  readonly #series: StoredSeries;
  /** The series' key: its fields are `<key>|~...`. */
  readonly #key: string;
  /** This process' share, as a histogram in memory: it decides resolution and zero bucket. */
  readonly #local: NativeHistogram;
  /** The schema of the cells in `#positive` and `#negative` (the share's), and its key table. */
  #schema: number;
  #table: KeyTable;
  #positive = new Map<number, RedisCell>();
  #negative = new Map<number, RedisCell>();
  /** The zero bucket's cell, at the current threshold. */
  #zero: RedisCell | undefined;
  /** Every cell made, to forget them together. */
  #cells: RedisCell[] = [];
  /** The series' mark, for a metric with an idle time: its cells share it. */
  readonly #mark: IdleMark | undefined;

  /**
   * @param keyPrefix The backend's key prefix.
   * @param series The series (its sample `"native"`).
   * @param settings The histogram's native settings.
   * @param mark The series' mark, for a metric with an idle time.
   */
  constructor(
    keyPrefix: string,
    series: StoredSeries,
    settings: NativeSettings,
    mark?: IdleMark,
  ) {
    this.#keyPrefix = keyPrefix;
    this.#mark = mark;
    this.#series = series;
    this.#key = seriesOfKey(series.key);
    this.#local = new NativeHistogram(sharedSettings(settings));
    this.#schema = this.#local.schema;
    this.#table = keyTableOf(this.#schema);
  }

  /**
   * Counts one observation in this process' share and in its field.
   *
   * @param value The observation.
   * @returns `false`: a shared series never resets.
   */
  observe(value: number): boolean {
    const local = this.#local;
    const size = Math.abs(value);
    if (size <= local.zeroThreshold) {
      (this.#zero ??= this.#cell(`z${formatNumber(local.zeroThreshold)}`)).inc(1);
      local.observe(value);
      return false;
    }
    const positive = value > 0;
    const key = this.#table.key(size);
    const cells = positive ? this.#positive : this.#negative;
    let cell = cells.get(key);
    if (cell === undefined) {
      cells.set(key, cell = this.#cell(`${positive ? "p" : "n"}${local.schema}:${key}`));
    }
    cell.inc(1);
    const threshold = local.zeroThreshold;
    local.count(positive, key);
    if (local.schema !== this.#schema) {
      // Lower: the next observations go to the fields of the new schema.
      this.#schema = local.schema;
      this.#table = keyTableOf(this.#schema);
      this.#positive = new Map();
      this.#negative = new Map();
    }
    if (local.zeroThreshold !== threshold) {
      // Wider: written at once (with 0), so that scrapes know of the threshold.
      this.#zero = this.#cell(`z${formatNumber(local.zeroThreshold)}`);
      this.#zero.inc(0);
    }
    return false;
  }

  /** This process' share: what a scrape shows when Redis' reading holds none. */
  state(): NativeHistogramState {
    return this.#local.state();
  }

  /** Forgets every observation, in Redis too (every process' share): `reset()`. */
  reset(): void {
    this.remove();
    this.#local.reset();
    this.#schema = this.#local.schema;
    this.#table = keyTableOf(this.#schema);
  }

  /**
   * Deletes the series' native fields from Redis, those of other processes
   * included; forgets them in this process only when the store forgets the
   * series (see `state.forgetting`).
   */
  remove(): void {
    for (const cell of this.#cells) cell.drop();
    this.#cells = [];
    this.#positive = new Map();
    this.#negative = new Map();
    this.#zero = undefined;
    if (state.forgetting) return;
    queueRemoval(
      new PrefixClear(hashOf(this.#keyPrefix, this.#series.metric), `${this.#key}|${MARK}`),
    );
  }

  #cell(sample: string): RedisCell {
    const key = sampleKey(this.#key, MARK + sample);
    const series = { ...this.#series, key, sample: MARK + sample };
    const cell = this.#mark === undefined
      ? new RedisCell(this.#keyPrefix, series)
      : new IdleRedisCell(this.#keyPrefix, series, this.#mark);
    this.#cells.push(cell);
    return cell;
  }
}

/**
 * Gathers the native fields a scrape read of one hash into one entry per
 * series, `<series key>|native`, holding them unmerged (the series merges
 * them with its settings); fields that do not parse are left out.
 *
 * @param values The hash's fields, by name: changed in place.
 * @param gone What was removed while the read ran (`<series key>|~` for a native histogram).
 */
export function gatherNative(
  values: Map<string, StoredValue>,
  gone: ReadonlySet<string> | undefined,
): void {
  const gathered = new Map<string, Gathered>();
  for (const [field, value] of values) {
    const series = seriesOfKey(field);
    if (field.charCodeAt(series.length + 1) !== 126 || field[series.length] !== "|") continue;
    values.delete(field);
    if (typeof value !== "number" || !(value >= 0) || gone?.has(`${series}|${MARK}`)) continue;
    let entry = gathered.get(series);
    if (entry === undefined) gathered.set(series, entry = { zeros: [], bySchema: new Map() });
    addField(entry, field.slice(series.length + 2), value);
  }
  for (const [series, { zeros, bySchema }] of gathered) {
    const parts = new NativeParts();
    parts.zeros.push(...zeros);
    for (const [schema, buckets] of bySchema) parts.buckets.push({ schema, ...buckets });
    // Not a number: only a native histogram's series reads it (see HistogramChild.read).
    values.set(sampleKey(series, "native"), parts as unknown as StoredValue);
  }
}

/** One series' native fields as read, by kind. */
interface Gathered {
  readonly zeros: [threshold: number, count: number][];
  readonly bySchema: Map<number, { positive: Map<number, number>; negative: Map<number, number> }>;
}

/** Adds one field (`p3:-5`, `n0:2`, `z2.9e-39`) to its series' entry. */
function addField(entry: Gathered, sample: string, count: number): void {
  const kind = sample[0];
  if (kind === "z") {
    const threshold = Number(sample.slice(1));
    if (threshold >= 0 && threshold < Infinity) entry.zeros.push([threshold, count]);
    return;
  }
  if (kind !== "p" && kind !== "n") return;
  const colon = sample.indexOf(":");
  if (colon < 2) return;
  const schema = Number(sample.slice(1, colon));
  const key = Number(sample.slice(colon + 1));
  if (!Number.isInteger(schema) || schema < MIN_SCHEMA || schema > MAX_SCHEMA) return;
  if (!Number.isSafeInteger(key) || colon + 1 === sample.length) return;
  let buckets = entry.bySchema.get(schema);
  if (buckets === undefined) {
    entry.bySchema.set(schema, buckets = { positive: new Map(), negative: new Map() });
  }
  const into = kind === "p" ? buckets.positive : buckets.negative;
  into.set(key, (into.get(key) ?? 0) + count);
}
