/**
 * Native histograms with the multi-worker backend: each worker keeps its
 * share of a series whole (a histogram in its memory, which lowers its
 * resolution and widens its zero bucket as one in memory does, but never
 * resets), sends it in its payloads after the series' buckets and sum, and
 * the worker answering a scrape merges every worker's (`_native_merge.ts`).
 */

import {
  type NativeCell,
  NativeHistogram,
  type NativeSettings,
} from "../metrics/_native_histogram.ts";
import type { NativeHistogramState } from "../vocabulary.ts";
import type { StoredSeries } from "./store.ts";
import { sampleKey, seriesOfKey } from "./_series_key.ts";
import { sharedSettings } from "./_native_stores.ts";
import { encodeNative } from "./_multi_worker_merge.ts";
import { nativeEntry } from "./_multi_worker_expiry.ts";
import { countOf, subtractNative } from "../metrics/_native_merge.ts";
import {
  foreignKeys,
  lastRead,
  NATIVE,
  type Series,
  seriesFor,
  type SeriesNative,
  worker,
} from "./_multi_worker_cell.ts";

const EMPTY: NativeHistogramState = {
  schema: 0,
  zeroThreshold: 0,
  zeroCount: 0,
  positive: new Map(),
  negative: new Map(),
};

/** One series' native histogram in this worker: its share, and what it sent of it. */
export class WorkerNative implements NativeCell, SeriesNative {
  readonly #local: NativeHistogram;
  readonly #series: Series;
  // Whether this worker made or wrote the series (see WorkerCell.#own).
  #own: boolean;
  // The histogram in the newest payload encoded (number #lastN), and in one
  // sent before it: what scrapes show, the first once that payload is sent.
  #lastN = 0;
  #last: NativeHistogramState = EMPTY;
  #before: NativeHistogramState = EMPTY;
  // The part the last merge read (see part()): an expiry's cut of it.
  #merged: NativeHistogramState | undefined;

  /**
   * @param stored The series (its sample `"native"`).
   * @param settings The histogram's native settings.
   */
  constructor(stored: StoredSeries, settings: NativeSettings) {
    const key = seriesOfKey(stored.key);
    this.#local = new NativeHistogram(sharedSettings(settings));
    this.#own = foreignKeys.get(stored.metric)?.has(key) !== true;
    // The series its buckets and sum were just made in.
    this.#series = seriesFor(stored, key);
    this.#series.native = this;
  }

  /**
   * Counts one observation in this worker's share.
   *
   * @param value The observation.
   * @returns `false`: a shared series never resets.
   */
  observe(value: number): boolean {
    this.#own = true;
    this.#local.observe(value);
    return false;
  }

  /** This worker's share, as it is now. */
  state(): NativeHistogramState {
    return this.#local.state();
  }

  /** Forgets this worker's share (the other workers keep theirs). */
  reset(): void {
    this.#own = true;
    this.#local.reset();
  }

  /** Forgets the series in this worker: a read that fails shows it no more. */
  remove(): void {
    lastRead.get(this.#series.metric)?.delete(sampleKey(this.#series.key, NATIVE));
  }

  entry(n: number): string {
    // A copy (state() makes one): the live histogram goes on counting.
    const state = this.#local.state();
    if (this.#lastN <= worker.sent) this.#before = this.#last;
    this.#lastN = n;
    this.#last = state;
    return encodeNative(state);
  }

  part(scraped: boolean): NativeHistogramState | undefined {
    return this.#merged = this.#shown(scraped);
  }

  #shown(scraped: boolean): NativeHistogramState | undefined {
    if (!this.#own) return undefined;
    if (!scraped) return this.#local.state();
    const shown = this.#lastN <= worker.sent ? this.#last : this.#before;
    // Nothing sent yet: no part (an empty histogram would bring a schema and threshold).
    return shown === EMPTY ? undefined : shown;
  }

  cut(): unknown {
    return this.#merged === undefined ? null : nativeEntry(this.#merged);
  }

  changedSince(cut: NativeHistogramState | undefined): boolean {
    if (cut === undefined) return this.#own;
    return countOf(this.#local.state()) !== countOf(cut);
  }

  cutAway(cut: NativeHistogramState): void {
    this.#local.subtract(cut);
    if (this.#last !== EMPTY) this.#last = subtractNative(this.#last, cut);
    if (this.#before !== EMPTY) this.#before = subtractNative(this.#before, cut);
  }

  disown(): void {
    this.#own = false;
    this.#local.reset();
    this.#last = this.#before = EMPTY;
    this.#merged = undefined;
  }
}
