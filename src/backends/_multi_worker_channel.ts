/**
 * The multi-worker backend's channel: the messages workers exchange on it,
 * payloads packed (compressed when large) and unpacked, the newest payload
 * kept of each other session, and which sessions are live.
 */

import type { MetricType } from "../vocabulary.ts";
import type { Registry } from "../registry/registry.ts";
import type { Gauge } from "../metrics/gauge.ts";
import type { Settings } from "./_multi_worker_settings.ts";
import type { Expiry } from "./_multi_worker_expiry.ts";

/**
 * Messages on the channel. `from` is the sender's worker id, `s` its session
 * (one per module instance: a worker started again under the same id is a
 * new session, whose counters start from 0 again, so the last values of the
 * old one are kept beside it). `n` numbers the payloads of one session, so
 * the newest wins: a session's counters only grow, so its newest payload
 * holds the greatest values.
 */
export type Message =
  | { t: "hello"; from: string; s: string }
  | { t: "here"; from: string; s: string; gone: [s: string, id: string, n: number, data: Data][] }
  | { t: "beat"; from: string; s: string }
  | { t: "req"; from: string; s: string; seq: number; n: number; data: Data }
  | { t: "rep"; from: string; s: string; to: string; seq: number; n: number; data: Data }
  | { t: "bye"; from: string; s: string; n: number; data: Data }
  | {
    t: "idle";
    from: string;
    s: string;
    /** The expiry's number in its session, and the sender's last payload before it. */
    id: number;
    n: number;
    metric: string;
    type: MetricType;
    /** Each series' key, and what the scrape read of each session's part of it. */
    cuts: [key: string, parts: [s: string, entry: unknown][]][];
  }
  | { t: "idled"; from: string; s: string; id: string; n: number };

/** A payload as sent: JSON text, or that text compressed (`deflate-raw`). */
export type Data = string | Uint8Array;

/**
 * A worker's values as sent: JSON `{"<name>":["<type>",[key, value, ...]]}`,
 * where `key` is the series' key (see `StoredSeries.key`), and `value` a number
 * (a string for non-finite ones), a histogram's `[bucket..., sum]`, or a
 * "latest" gauge's `[value, time]` (see `writeTime`).
 */
export type Payload = Record<string, [type: MetricType, flat: unknown[]]>;

/** The newest payload heard from another session, parsed when a scrape needs it. */
export interface Stored {
  /** The worker id of the session. */
  readonly id: string;
  readonly n: number;
  /** As sent, or as edited (`edited`: written again when handed over). */
  data: Data;
  parsed?: Payload | undefined;
  /** Expiries whose cut it may hold, to take away once it is parsed. */
  edits?: Expiry[] | undefined;
  /** Whether an expiry changed `parsed` since `data` was written. */
  edited?: boolean;
}

/** A payload a merge read, and its session. */
export interface Merging {
  readonly s: string;
  readonly id: string;
  readonly live: boolean;
  readonly payload: Payload;
}

/** Another session heard of: its worker id, and when it was last heard. */
export interface Peer {
  readonly id: string;
  seen: number;
}

/** A scrape waiting for replies (from sessions). */
export interface Gather {
  readonly waiting: Set<string>;
  readonly answered: Set<string>;
  done?: () => void;
}

/** The per-worker state of an initialized backend. */
export interface State {
  readonly settings: Settings;
  /** This worker's session (see {@linkcode Message}). */
  readonly session: string;
  readonly channel: BroadcastChannel;
  readonly heartbeat: unknown;
  /** When this worker's own heartbeats ran (see {@linkcode heardAt}). */
  readonly beats: Beats;
  /** By session. */
  readonly peers: Map<string, Peer>;
  /** By session. */
  readonly stored: Map<string, Stored>;
  readonly gathers: Map<number, Gather>;
  readonly self: SelfMetrics | undefined;
  seq: number;
  /** Whether this worker has answered a scrape (since it joined the channel). */
  scraped: boolean;
  /** The other sessions' payloads the last merge read: an expiry's cut (see `_multi_worker_expiry.ts`). */
  merged: readonly Merging[];
  /** The expiries heard of that some session's payload may still hold the cut of, by id. */
  readonly expiries: Map<string, Expiry>;
  /** Acknowledgements of expiries not heard of yet: by id, when, and each session's payload then. */
  readonly acks: Map<string, { at: number; n: Map<string, number> }>;
  /** How many expiries this worker sent. */
  expired: number;
  /** Parses the stored payloads not parsed yet, and takes the expiries' cuts away from them. */
  unpack?: () => void;
}

/** The self-metrics a worker registers. */
export interface SelfMetrics {
  readonly registry: Registry;
  readonly workers: Gauge<"state">;
  readonly gatherSeconds: Gauge;
}

// Payloads this large are compressed where the channel is slow (`compress`).
const COMPRESS_FROM = 8192;

/**
 * The `BroadcastChannel` of `node:worker_threads` where there is one (Deno,
 * Bun, Node): the same channel as the web one, with `unref()`. Deno's web
 * `BroadcastChannel` has none, and would keep the process alive.
 */
export async function channelClass(): Promise<typeof BroadcastChannel> {
  try {
    const threads = await import("node:worker_threads");
    if (typeof threads.BroadcastChannel === "function") {
      return threads.BroadcastChannel as unknown as typeof BroadcastChannel;
    }
  } catch {
    // no node:worker_threads: the web one it is
  }
  return BroadcastChannel;
}

/** The payload as sent: compressed when worth it. */
export async function pack(text: string, compress: boolean): Promise<Data> {
  if (!compress || text.length < COMPRESS_FROM) return text;
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Parses every stored payload not parsed yet; one that cannot be read counts as empty. */
export async function unpackAll(current: State): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const stored of current.stored.values()) {
    if (stored.parsed !== undefined) continue;
    pending.push((async () => {
      try {
        const { data } = stored;
        const text = typeof data === "string" ? data : await new Response(
          new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
            new DecompressionStream("deflate-raw"),
          ),
        ).text();
        const payload: unknown = JSON.parse(text);
        // Parsed by another call meanwhile (and maybe edited since): that one stays.
        stored.parsed ??= typeof payload === "object" && payload !== null ? payload as Payload : {};
      } catch {
        stored.parsed ??= {};
      }
    })());
  }
  await Promise.all(pending);
}

/**
 * Keeps payload `n` of session `s` (worker `id`) unless a newer one is kept already.
 *
 * @returns What it keeps, when it kept it.
 */
export function store(
  current: State,
  s: unknown,
  id: unknown,
  n: unknown,
  data: unknown,
): Stored | undefined {
  if (typeof s !== "string" || s === current.session || typeof id !== "string") return;
  if (typeof n !== "number" || (typeof data !== "string" && !(data instanceof Uint8Array))) return;
  const stored = current.stored.get(s);
  if (stored !== undefined && n <= stored.n) return;
  const kept: Stored = { id, n, data };
  current.stored.set(s, kept);
  return kept;
}

// A worker not heard from for this many heartbeats is gone.
const LIVE_BEATS = 3;
// A worker whose own heartbeat ran this many intervals late was busy (a stall).
const STALL_BEATS = 2;

export function isLive(current: State, s: string, now: number): boolean {
  const peer = current.peers.get(s);
  return peer !== undefined && now - peer.seen <= LIVE_BEATS * current.settings.heartbeatMs;
}

/** When this worker's heartbeat last ran, and its last stall: from when to when it did not. */
export interface Beats {
  last: number;
  stalledFrom: number;
  stalledTo: number;
}

/**
 * Notes that this worker's heartbeat runs now: after more than two
 * intervals without, the worker was busy (a stall).
 */
export function beat(beats: Beats, heartbeatMs: number, now: number): void {
  if (now - beats.last > STALL_BEATS * heartbeatMs) {
    beats.stalledFrom = beats.last;
    beats.stalledTo = now;
  }
  beats.last = now;
}

/**
 * The time at which to judge which sessions are live. A worker that was
 * busy (its own heartbeat late), or was until less than three heartbeats
 * ago, has the others' messages of that time still waiting in its queue
 * (the runtime may run a timer before them): their silence then says
 * nothing, so it judges them as of when its stall began.
 */
export function heardAt(beats: Beats, heartbeatMs: number, now: number): number {
  if (now - beats.last > STALL_BEATS * heartbeatMs) return beats.last;
  return now - beats.stalledTo <= LIVE_BEATS * heartbeatMs ? beats.stalledFrom : now;
}

/** The sessions heard of in the last three heartbeats (before a stall of this worker's). */
export function liveSessions(current: State): Set<string> {
  const at = heardAt(current.beats, current.settings.heartbeatMs, Date.now());
  const live = new Set<string>();
  for (const s of current.peers.keys()) if (isLive(current, s, at)) live.add(s);
  return live;
}

export function isMessage(data: unknown): data is Message {
  return typeof data === "object" && data !== null &&
    typeof (data as { t?: unknown }).t === "string" &&
    typeof (data as { from?: unknown }).from === "string" &&
    typeof (data as { s?: unknown }).s === "string";
}
