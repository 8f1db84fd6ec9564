/**
 * Idle series with the multi-worker backend: a scrape that finds a series
 * idle expires it in every worker, and in what every worker keeps of the
 * others' payloads (those of workers gone too).
 *
 * The expiry carries its **cut**: what the scrape read of each worker's part
 * of each series (its entry in the payload merged, or the answering worker's
 * own part). Every worker takes the cut away from what it holds:
 *
 * - its own part: what it counted since the cut is kept (counters,
 *   histograms and summaries lose the cut, a gauge set since keeps its
 *   value); a part with nothing since is forgotten, its child leaving the
 *   metric;
 * - the payloads it keeps of the other sessions: an entry with nothing since
 *   the cut is dropped, one with something keeps only that, as long as the
 *   session may not have taken the cut away itself. A session acknowledges
 *   an expiry with the number of its last payload before it; its later
 *   payloads (on the channel, after the acknowledgement) hold no cut.
 *
 * So a series written somewhere while it expires starts again from what
 * was written since the cut, in every worker alike; nothing written after
 * what the scrape read is lost, and no series that is not idle is touched.
 */

import type { MetricType, NativeHistogramState } from "../vocabulary.ts";
import { countOf, subtractNative } from "../metrics/_native_merge.ts";
import { decodeNative, decodeNumber, encodeNative, MONOTONE } from "./_multi_worker_merge.ts";
import { isLive, type Payload, type State, type Stored } from "./_multi_worker_channel.ts";

/** One expiry, as every worker that heard of it keeps it while some session may hold its cut. */
export interface Expiry {
  /** `<session of the scrape that found the series idle>:<its number there>`. */
  readonly id: string;
  /** The metric (see `StoredSeries.metric`) and its type. */
  readonly metric: string;
  readonly type: MetricType;
  /** By series key, each session's part as the scrape read it (a payload entry). */
  readonly cuts: ReadonlyMap<string, ReadonlyMap<string, unknown>>;
  /**
   * The other sessions that had a part, until their payloads hold the cut no
   * more: `undefined` until the session acknowledged, then the number of its
   * last payload before.
   */
  readonly pending: Map<string, number | undefined>;
}

/** How long an acknowledgement of an expiry not heard of yet is kept, at least. */
const EARLY_ACK_MS = 60_000;

/**
 * Takes note of an expiry (this worker's own part taken care of already):
 * which sessions may still hold its cut, and the payloads of theirs kept here.
 *
 * @param current The channel's state.
 * @param expiry The expiry.
 * @param sender The session that found the series idle, and its last payload before.
 */
export function noteExpiry(
  current: State,
  expiry: Expiry,
  sender?: { s: string; n: number },
): void {
  const early = current.acks.get(expiry.id);
  current.acks.delete(expiry.id);
  let parse = false;
  for (const parts of expiry.cuts.values()) {
    for (const s of parts.keys()) {
      if (s === current.session || expiry.pending.has(s)) continue;
      expiry.pending.set(s, s === sender?.s ? sender.n : early?.n.get(s));
    }
  }
  for (const [s, acked] of expiry.pending) {
    const stored = current.stored.get(s);
    if (stored === undefined || (acked !== undefined && stored.n > acked)) continue;
    (stored.edits ??= []).push(expiry);
    if (stored.parsed !== undefined) applyEdits(stored, s);
    else parse = true;
  }
  if (expiry.pending.size > 0) current.expiries.set(expiry.id, expiry);
  // Parsed soon rather than at the next scrape: a newcomer is handed what is kept of the gone.
  if (parse) current.unpack?.();
}

/**
 * Takes note of a session's acknowledgement of an expiry.
 *
 * @param current The channel's state.
 * @param id The expiry.
 * @param s The session.
 * @param n The number of its last payload before it took the cut away.
 */
export function noteAck(current: State, id: string, s: string, n: number): void {
  const expiry = current.expiries.get(id);
  if (expiry !== undefined) {
    if (expiry.pending.has(s)) expiry.pending.set(s, n);
    return;
  }
  // The expiry is still on its way here (messages from two senders come in any order).
  let early = current.acks.get(id);
  if (early === undefined) current.acks.set(id, early = { at: Date.now(), n: new Map() });
  early.n.set(s, n);
}

/**
 * The expiries whose cut a payload a session just sent may hold.
 *
 * @param current The channel's state.
 * @param s The session.
 * @param n The payload's number.
 * @returns Them, or `undefined`.
 */
export function editsFor(current: State, s: string, n: number): Expiry[] | undefined {
  let edits: Expiry[] | undefined;
  for (const expiry of current.expiries.values()) {
    if (!expiry.pending.has(s)) continue;
    const acked = expiry.pending.get(s);
    if (acked === undefined || n <= acked) (edits ??= []).push(expiry);
  }
  return edits;
}

/**
 * Takes the cuts of the expiries noted on a parsed payload away from it.
 *
 * @param stored The payload kept.
 * @param s Its session.
 */
export function applyEdits(stored: Stored, s: string): void {
  const { edits, parsed } = stored;
  if (edits === undefined || parsed === undefined) return;
  stored.edits = undefined;
  for (const expiry of edits) {
    if (cutFrom(parsed, expiry, s)) stored.edited = true;
  }
}

/** Takes an expiry's cut of session `s` away from its payload; returns whether it changed. */
function cutFrom(payload: Payload, expiry: Expiry, s: string): boolean {
  const entry = payload[expiry.metric];
  if (!Array.isArray(entry) || entry[0] !== expiry.type || !Array.isArray(entry[1])) return false;
  const flat = entry[1];
  const kept: unknown[] = [];
  let changed = false;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const key = flat[i];
    const cut = typeof key === "string" ? expiry.cuts.get(key)?.get(s) : undefined;
    if (cut === undefined) {
      kept.push(key, flat[i + 1]);
      continue;
    }
    changed = true;
    const left = since(expiry.type, flat[i + 1], cut);
    if (left !== undefined) kept.push(key, left);
  }
  if (!changed) return false;
  if (kept.length === 0) delete payload[expiry.metric];
  else payload[expiry.metric] = [expiry.type, kept];
  return true;
}

/**
 * What a payload entry holds beyond a cut of it: for a counter, histogram or
 * summary the difference (a native histogram's too); for a gauge the entry
 * when its value is another. `undefined` when nothing: the entry goes.
 *
 * @param type The metric's type.
 * @param entry The entry now.
 * @param cut The entry as the expiry's scrape read it.
 * @returns What is left of it, as a payload entry, or `undefined`.
 */
export function since(type: MetricType, entry: unknown, cut: unknown): unknown {
  if (!MONOTONE.has(type)) {
    // A gauge (a "latest" one's entry is [value, time]).
    const value = decodeNumber(Array.isArray(entry) ? entry[0] : entry);
    const was = decodeNumber(Array.isArray(cut) ? cut[0] : cut);
    return value !== undefined && was !== undefined && Object.is(value, was) ? undefined : entry;
  }
  if (!Array.isArray(entry)) {
    const left = difference(entry, cut);
    return left === undefined ? entry : left === 0 ? undefined : numberEntry(left);
  }
  if (!Array.isArray(cut) || cut.length !== entry.length) return entry;
  let any = false;
  const left = entry.map((value, i) => {
    if (Array.isArray(value) || value === null) {
      // A native histogram's, after the buckets and sum.
      const now = value === null ? undefined : decodeNative(value);
      const was = cut[i] === null ? undefined : decodeNative(cut[i]);
      if (now === undefined) return value;
      const rest = was === undefined ? now : subtractNative(now, was);
      if (countOf(rest) > 0) any = true;
      return nativeEntry(rest);
    }
    const rest = difference(value, cut[i]);
    if (rest === undefined) return value;
    if (rest !== 0) any = true;
    return numberEntry(rest);
  });
  return any ? left : undefined;
}

/** A number minus a number, as payloads hold them; `undefined` when either is none. */
function difference(value: unknown, cut: unknown): number | undefined {
  const now = decodeNumber(value);
  const was = decodeNumber(cut);
  if (now === undefined || was === undefined) return undefined;
  return Object.is(now, was) ? 0 : now - was;
}

/** A number as a parsed payload holds it (non-finite ones as strings). */
function numberEntry(value: number): number | string {
  return Number.isFinite(value) ? value : String(value);
}

/**
 * A native histogram as a parsed payload holds it.
 *
 * @param state The histogram.
 * @returns Its payload entry.
 */
export function nativeEntry(state: NativeHistogramState): unknown {
  return JSON.parse(encodeNative(state));
}

/**
 * Forgets what no session holds any more: expiries every session took care
 * of (or that are gone, their kept payload edited), acknowledgements of
 * expiries that never came, and the payloads of gone sessions with nothing
 * left (their gauges are dropped first: no scrape shows a gone worker's).
 *
 * @param current The channel's state.
 * @param now `Date.now()`.
 */
export function tidy(current: State, now: number): void {
  for (const [id, expiry] of current.expiries) {
    for (const [s, acked] of expiry.pending) {
      const stored = current.stored.get(s);
      // Its payloads hold the cut no more, or it is gone and the one kept was edited.
      const past = acked !== undefined && (stored === undefined || stored.n > acked);
      if (past || (!isLive(current, s, now) && stored?.edits === undefined)) {
        expiry.pending.delete(s);
      }
    }
    if (expiry.pending.size === 0) current.expiries.delete(id);
  }
  const keep = Math.max(EARLY_ACK_MS, 10 * current.settings.heartbeatMs);
  for (const [id, { at }] of current.acks) if (now - at > keep) current.acks.delete(id);
  for (const [s, stored] of current.stored) {
    const parsed = stored.parsed;
    if (parsed === undefined || stored.edits !== undefined || isLive(current, s, now)) continue;
    for (const [name, entry] of Object.entries(parsed)) {
      if (Array.isArray(entry) && entry[0] === "gauge") {
        delete parsed[name];
        stored.edited = true;
      }
    }
    if (Object.keys(parsed).length === 0) {
      current.stored.delete(s);
      current.peers.delete(s);
    }
  }
}
