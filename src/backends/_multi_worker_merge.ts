/**
 * Merging the numbers of several workers: each worker's entry of a series
 * as its payload holds it, added to what is merged as the metric's mode
 * says, then combined with this worker's own part.
 */

import type { LabelledValue } from "./backend.ts";
import type { StoredValue } from "./store.ts";
import { LATEST, MAX, MIN, PER_WORKER, SUM } from "./_multi_worker_settings.ts";
import type { MetricType, NativeHistogramState } from "../vocabulary.ts";
import { MAX_SCHEMA, MIN_SCHEMA } from "../metrics/_native_buckets.ts";

// The types whose values never go down: a scrape shows what the others know of them.
export const MONOTONE: ReadonlySet<MetricType> = new Set(["counter", "histogram", "summary"]);

/** What the other workers' payloads hold of one series, merged as its mode says. */
export class Merged {
  /** How many workers sent it. */
  count = 0;
  /** Per sample, their values merged: summed, the least, the greatest, or the latest. */
  readonly values: number[];
  /** When the latest value was set (a "latest" gauge's), and by which worker. */
  at = 0;
  by = "";
  /** Each worker's value (a "perWorker" gauge's). */
  split: [string, number][] | undefined;
  /** Each worker's native histogram (a native histogram's, its last sample). */
  natives: NativeHistogramState[] | undefined;

  constructor(samples: number) {
    this.values = new Array<number>(samples).fill(0);
  }
}

const NONE: readonly LabelledValue[] = Object.freeze([]);

/**
 * Adds one worker's entry of a series (its value, or its values per sample)
 * to what is merged.
 *
 * @returns Whether it could: `false` for an entry that is not numbers.
 */
export function addWorker(
  series: Merged,
  mode: number,
  id: string,
  value: unknown,
  native = false,
): boolean {
  const n = series.values.length;
  if (native) {
    // A native histogram's entry: its buckets and sum, then its native histogram.
    if (!Array.isArray(value) || value.length !== n) return false;
    const state = value[n - 1] === null ? null : decodeNative(value[n - 1]);
    if (state === undefined) return false;
    const decoded = value.slice(0, n - 1).map(decodeNumber);
    if (decoded.includes(undefined)) return false;
    const first = series.count++ === 0;
    for (let i = 0; i < n - 1; i++) addOne(series, i, mode, id, decoded[i]!, 0, first);
    if (state !== null) (series.natives ??= []).push(state);
    return true;
  }
  // An entry that is not numbers (another version's, or a bug's) is left out, never thrown:
  // one bad payload kept for a worker that left would fail every later scrape.
  if (n === 1) {
    const [number, at] = Array.isArray(value) ? [value[0], value[1] ?? 0] : [value, 0];
    const decoded = decodeNumber(number);
    const time = decodeNumber(at);
    if (decoded === undefined || time === undefined) return false;
    addOne(series, 0, mode, id, decoded, time, series.count++ === 0);
  } else if (Array.isArray(value) && value.length === n) {
    const decoded = value.map(decodeNumber);
    if (decoded.includes(undefined)) return false;
    const first = series.count++ === 0;
    for (let i = 0; i < n; i++) addOne(series, i, mode, id, decoded[i]!, 0, first);
  } else return false;
  return true;
}

function addOne(
  series: Merged,
  i: number,
  mode: number,
  id: string,
  value: number,
  at: number,
  first: boolean,
): void {
  const values = series.values;
  switch (mode) {
    case SUM:
      values[i]! += value;
      break;
    case MIN:
      values[i] = first ? value : Math.min(values[i]!, value);
      break;
    case MAX:
      values[i] = first ? value : Math.max(values[i]!, value);
      break;
    case LATEST:
      if (first || isLater(at, id, series.at, series.by)) {
        values[i] = value;
        series.at = at;
        series.by = id;
      }
      break;
    default:
      (series.split ??= []).push([id, value]);
  }
}

/**
 * One number as a scrape shows it: this worker's part (`undefined` when it
 * has none) and the other workers', merged as the mode says; `self` is this
 * worker's id, which labels its part of a "perWorker" gauge.
 */
export function combine(
  others: Merged | undefined,
  i: number,
  mode: number,
  workerLabel: string,
  part: number | undefined,
  at: number,
  hide: boolean,
  self: string,
): StoredValue {
  if (mode === PER_WORKER) {
    const values: [string, number][] = part === undefined ? [] : [[self, part]];
    if (others?.split) values.push(...others.split);
    values.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    return values.map(([id, value]) => ({ labels: { [workerLabel]: id }, value }));
  }
  if (others === undefined || others.count === 0) return part ?? (hide ? NONE : 0);
  const merged = others.values[i]!;
  if (part === undefined) return merged;
  switch (mode) {
    case SUM:
      return part + merged;
    case MIN:
      return Math.min(part, merged);
    case MAX:
      return Math.max(part, merged);
    default:
      return isLater(at, self, others.at, others.by) ? part : merged;
  }
}

/**
 * Whether a value set at `at` by worker `id` is later than one set at `than`
 * by worker `thanId`. Of two set at the same time the greater id's is: every
 * worker answering a scrape keeps the same, whatever order it merges them in.
 */
function isLater(at: number, id: string, than: number, thanId: string): boolean {
  return at > than || (at === than && id > thanId);
}

/**
 * A native histogram as a payload holds it: `[schema, zero threshold, zero
 * count, [key, count, ...], [key, count, ...]]`, the positive buckets then the
 * negative ones.
 */
export function encodeNative(state: NativeHistogramState): string {
  let text = `[${state.schema},${encodeNumber(state.zeroThreshold)},${state.zeroCount},[`;
  for (const buckets of [state.positive, state.negative]) {
    let first = true;
    for (const [key, count] of buckets) {
      text += `${first ? "" : ","}${key},${count}`;
      first = false;
    }
    text += buckets === state.positive ? "],[" : "]]";
  }
  return text;
}

/** A native histogram as `encodeNative` wrote it; `undefined` for anything else. */
export function decodeNative(value: unknown): NativeHistogramState | undefined {
  if (!Array.isArray(value) || value.length !== 5) return undefined;
  const [schema, threshold, zeroCount, positive, negative] = value as unknown[];
  const zeroThreshold = decodeNumber(threshold);
  if (
    typeof schema !== "number" || !Number.isInteger(schema) || schema < MIN_SCHEMA ||
    schema > MAX_SCHEMA || zeroThreshold === undefined || !(zeroThreshold >= 0) ||
    typeof zeroCount !== "number" || !(zeroCount >= 0)
  ) {
    return undefined;
  }
  const buckets = (flat: unknown): Map<number, number> | undefined => {
    if (!Array.isArray(flat) || flat.length % 2 !== 0) return undefined;
    const map = new Map<number, number>();
    for (let i = 0; i < flat.length; i += 2) {
      const key: unknown = flat[i];
      const count: unknown = flat[i + 1];
      if (!Number.isSafeInteger(key) || typeof count !== "number" || !(count >= 0)) {
        return undefined;
      }
      map.set(key as number, count);
    }
    return map;
  };
  const p = buckets(positive);
  const n = buckets(negative);
  if (p === undefined || n === undefined) return undefined;
  return { schema, zeroThreshold, zeroCount, positive: p, negative: n };
}

/** A number as a payload holds it: non-finite ones as strings. */
export function encodeNumber(value: number): string {
  return Number.isFinite(value) ? `${value}` : `"${value}"`;
}

/** A number as `encodeNumber` wrote it (non-finite ones as strings); `undefined` for anything else. */
export function decodeNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (value === "NaN" || value === "Infinity" || value === "-Infinity") return Number(value);
  return undefined;
}
