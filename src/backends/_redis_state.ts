/**
 * What this process holds for Redis: its one connection and its settings,
 * every cell (one per stored number, with what it has not written yet), the
 * queue of removals, and the batch sent last; and how a failure is told.
 */

import { BackendUnavailableError } from "../errors.ts";
import type { Registry } from "../registry/registry.ts";
import type { Backend } from "./backend.ts";
import type { StoredSeries, StoredValue } from "./store.ts";
import { DEFAULTS } from "./_redis_settings.ts";
import { hashOf } from "./_redis_wire.ts";
import type { IdleMark, IdleMetric } from "./_idle_stores.ts";
import type { Slots } from "./_redis_mirror.ts";

/** A `metric.clear()` waiting to be written: deletes the whole hash. */
export class FamilyClear {
  constructor(readonly hash: string) {}
}

/**
 * A native histogram removed or reset, waiting to be written: deletes every
 * field of its hash that starts with `prefix` (`<series key>|~`), those
 * other processes wrote included.
 */
export class PrefixClear {
  constructor(readonly hash: string, readonly prefix: string) {}
}

/**
 * A series a scrape found idle, waiting to be written: its fields are
 * deleted only if each still holds what that scrape read (`null`: none), so
 * that an increment another process wrote since keeps the series; a native
 * histogram's fields (`prefix`) go with them.
 */
export class IdleRemoval {
  constructor(
    readonly hash: string,
    readonly fields: readonly (readonly [field: string, read: string | null])[],
    readonly prefix: string | undefined,
  ) {}
}

/**
 * A hash being read: through its mirror first (see `_redis_mirror.ts`),
 * else page by page: where its scan is, and what it read so far.
 */
export interface Scan {
  readonly hash: string;
  /** Read through the mirror: the first round trip of a scrape. */
  mirror: boolean;
  /** Read whole (HGETALL): a hash known to be small; else page by page (HSCAN). */
  readonly whole: boolean;
  cursor: string;
  /** What the pages read so far. */
  readonly values: Map<string, number>;
  /** What the mirror read, when it did. */
  read?: ReadonlyMap<string, number>;
}

/**
 * One answer of a scan: a page (the cursor of the next, `"0"` after the
 * last, and `[field, value, ...]`), or what the mirror read answered.
 */
export type Page = readonly [cursor: string, flat: string[]] | { readonly mirror: unknown };

/** Removed series by hash: their fields, or `true` for a hash cleared whole. */
export type Removed = Map<string, Set<string> | true>;

/**
 * A connection, by what this backend uses of it: ioredis' `Redis` (to one
 * Redis, maybe found through Sentinel) or `Cluster`. Typed by shape, so that
 * only redis.ts, which makes it, imports ioredis.
 */
export interface Client {
  /** `"ready"` once connected. */
  readonly status: string;
  readonly isCluster: boolean;
  /** Its options: a single Redis' address among them (a cluster's nodes are in the settings). */
  readonly options: object;
  /** Commands sent together; `exec()` answers each one's error or reply. */
  pipeline(): { exec(): Promise<[Error | null, unknown][] | null> };
}

/** One command of a round trip: the ioredis method, and its arguments. */
export type Call = readonly [method: string, ...args: (string | number)[]];

/** The changes of one script call (of one metric), kept as sent until Redis confirms them. */
export interface Chunk {
  readonly keys: string[];
  readonly argv: string[];
}

export type Pending = RedisCell | FamilyClear | PrefixClear | IdleRemoval;

// A cell's mode: adding to what it wrote; replacing it (a set() not yet
// written); adding to a value it set before (a gauge); removed.
export const MODE_INC = 0;
export const MODE_SET = 1;
export const MODE_REMOVED = 2;
export const MODE_INC_SET = 3;

/**
 * A cell's mode with its metric's hash: one object per metric and mode,
 * shared by every cell of the metric in that mode, so that a cell keeps
 * both in one field (on JavaScriptCore, whose objects come in sizes of 16
 * bytes, a cell of 48 bytes instead of 64).
 */
class HashMode {
  /**
   * @param hash The metric's hash.
   * @param mode The mode (`MODE_INC` ...).
   * @param modes The metric's modes, by number: where a cell's mode changes to.
   */
  constructor(
    readonly hash: string,
    readonly mode: number,
    readonly modes: readonly HashMode[],
  ) {}
}

// The modes of each metric's cells, by hash: its cells share the hash's string.
const hashModes = new Map<string, readonly HashMode[]>();

/** The modes of a metric's cells, made at its first cell. */
function modesOf(hash: string): readonly HashMode[] {
  let modes = hashModes.get(hash);
  if (modes === undefined) {
    const made: HashMode[] = [];
    for (const mode of [MODE_INC, MODE_SET, MODE_REMOVED, MODE_INC_SET]) {
      made[mode] = new HashMode(hash, mode, made);
    }
    hashModes.set(hash, modes = made);
  }
  return modes;
}

/** The fields of a page of a hash read page by page (see `WHOLE_FIELDS`). */
export const PAGE_FIELDS = 5000;
/** Changes per script call: keeps each call short for Redis. */
export const CHUNK_CHANGES = 2000;
export const DROPPED_NAME = "pytheus_redis_dropped_total";
/** Identifies this process (or worker) to the script's duplicate check. */
export const PROCESS_ID = crypto.randomUUID();

/** Everything this process shares between its backends. */
export const state = {
  client: undefined as Client | undefined,
  settings: DEFAULTS,
  /** Every live series: a flush sends those with a change (see `changed`). */
  series: [] as RedisCell[],
  /** The generation of each metric's data last seen (see `FLUSH_SCRIPT`). */
  generations: new Map<string, string>(),
  /** The cells whose changes since the last batch add up to 0 (see `changed`). */
  touched: new Set<RedisCell>(),
  /** The metrics with an idle time, by `StoredMetric.metric`. */
  idleMetrics: new Map<string, IdleMetric>(),
  /** What the last scrape read of each hash: what an idle series' removal expects. */
  lastRead: new Map<string, ReadonlyMap<string, StoredValue>>(),
  /** What this process knows of each hash's mirror (see `_redis_mirror.ts`). */
  mirrors: new Map<string, Slots>(),
  /** How many fields each hash had at its last read (see `WHOLE_FIELDS`). */
  sizes: new Map<string, number>(),
  /** What was removed while each read in progress ran, one note per read (see `read`). */
  reads: new Set<Removed>(),
  /** The gauges a restore set again, and the value: written only where missing (HSETNX). */
  restoredSets: new Map<RedisCell, number>(),
  /** Whether a batch is looking at `series` (which must then keep its order). */
  scanning: false,
  /** The changes the batch being taken holds so far (not yet queued). */
  taking: 0,
  /** How many of `series` were removed since they were last dropped from it. */
  removedSeries: 0,
  /**
   * Whether the store is forgetting a series in this process only (an idle
   * one, see `takeBatch`): the removal its cells are told of deletes nothing in Redis.
   */
  forgetting: false,
  /** Removed series and cleared metrics, to delete before the next changes are written. */
  removals: [] as Pending[],
  /** The batch sent last, until Redis confirms it; no new batch is taken meanwhile. */
  queued: undefined as Chunk[] | undefined,
  queuedSeries: 0,
  /** The number of the last chunk taken for each metric's hash (see `FLUSH_SCRIPT`). */
  chunkNumbers: new Map<string, number>(),
  timer: undefined as ReturnType<typeof setInterval> | undefined,
  flushing: false,
  /** After failed flushes, no new attempt before this time (ms since the epoch). */
  retryAt: 0,
  closing: false,
  closed: undefined as Promise<void> | undefined,
  /**
   * Every Redis exchange runs after the previous one, so changes land in
   * order: the last one queued, whether it went through, and how many are
   * queued or running.
   */
  tail: Promise.resolve(true) as Promise<boolean>,
  inFlight: 0,
  /**
   * Whether the connection came (back) since the generations were read,
   * and how often data was found lost.
   */
  connected: false,
  restores: 0,
  /**
   * What the batch being written adds to each series (increments only, the
   * first `size` entries): what already landed when the round trip that
   * wrote it finds Redis emptied. Cleared once the batch is written.
   */
  landed: { cells: [] as RedisCell[], deltas: [] as number[], size: 0 },
  /** Removes the SIGINT and SIGTERM listeners, while connected. */
  unlisten: undefined as (() => void) | undefined,
  failures: 0,
  failedFlushes: 0,
  droppedChanges: 0,
  refusedChanges: 0,
  dropped: undefined as RedisCell | undefined,
  /** `pytheus_redis_dropped_total` as the last read found it in Redis. */
  droppedRead: undefined as number | undefined,
  outage: false,
  lastError: "",
  registeredOn: undefined as Registry | undefined,
};

/** One number in Redis: a field of its metric's hash, and this process' changes to it. */
export class RedisCell implements Backend {
  /** The number's field in its metric's hash. */
  readonly field: string;
  // Its metric's hash and its mode (see HashMode). Read through methods:
  // an accessor on the class would make JavaScriptCore give every cell 16
  // bytes more.
  #mode: HashMode;
  // What this process changed since its last flush took the cell: an
  // increment (`delta`), or a set (MODE_SET, the value in `delta`); see
  // `changed()`. No flag of its own: the hot path only adds.
  delta = 0;
  // This process' share of the series as written (or being written): the
  // sum of its increments, or the value it set last plus its increments
  // since (MODE_INC_SET). What it writes again when Redis lost its data.
  total = 0;

  constructor(keyPrefix: string, series: StoredSeries) {
    this.field = series.key;
    this.#mode = modesOf(hashOf(keyPrefix, series.metric))[MODE_INC]!;
    state.series.push(this);
  }

  /**
   * The metric's hash.
   *
   * @returns `<keyPrefix>:{<metric>}`.
   */
  hash(): string {
    return this.#mode.hash;
  }

  /**
   * What the cell holds.
   *
   * @returns `MODE_INC`, `MODE_SET`, `MODE_REMOVED` or `MODE_INC_SET`.
   */
  mode(): number {
    return this.#mode.mode;
  }

  /**
   * Changes what the cell holds.
   *
   * @param mode `MODE_INC`, `MODE_SET`, `MODE_REMOVED` or `MODE_INC_SET`.
   */
  setMode(mode: number): void {
    this.#mode = this.#mode.modes[mode]!;
  }

  /**
   * The series' mark, for a metric with an idle time (an {@linkcode IdleRedisCell}):
   * stamped by each flush that takes a change. None here: a cell of any other
   * metric carries no field for it.
   */
  idleMark(): IdleMark | undefined {
    return undefined;
  }

  /**
   * Adds to the value (in memory now, in Redis at the next flush).
   *
   * @param value The amount.
   */
  inc(value: number): void {
    const before = this.delta;
    this.delta = before + value;
    // Only a change that is not positive can bring the delta back to 0 (see
    // `crossing`). A constant positive amount (`inc()`) drops the check: the
    // loop an engine makes of it has no branch.
    if (!(value > 0)) crossing(this, before);
  }

  /**
   * Subtracts from the value (in memory now, in Redis at the next flush).
   *
   * @param value The amount.
   */
  dec(value: number): void {
    const before = this.delta;
    this.delta = before - value;
    if (!(value < 0)) crossing(this, before);
  }

  /**
   * Replaces the value; changes made after it in this process add to it.
   *
   * @param value The new value.
   */
  set(value: number): void {
    if (this.mode() === MODE_REMOVED) return;
    this.setMode(MODE_SET);
    this.delta = value;
  }

  /**
   * This process' own share of the number (what it wrote, or set last, and
   * its changes since): a scrape reads the number from Redis, and this only
   * for a number Redis does not hold.
   *
   * @returns The value.
   */
  get(): number {
    const mode = this.mode();
    if (mode === MODE_SET) return this.delta;
    if (mode === MODE_REMOVED) return 0;
    // Not `total + 0`: a gauge set to -0 must read -0.
    return this.delta === 0 ? this.total : this.total + this.delta;
  }

  /**
   * Deletes the series from Redis (before the next changes are written);
   * later changes to this backend are ignored. While the store forgets an
   * idle series (`state.forgetting`), only forgets it in this process.
   */
  remove(): void {
    if (this.mode() === MODE_REMOVED) return;
    this.drop();
    if (!state.forgetting) queueRemoval(this);
  }

  /**
   * Forgets the series in this process, without deleting it from Redis
   * (what deletes it is queued apart); later changes to this backend are ignored.
   */
  drop(): void {
    if (this.mode() === MODE_REMOVED) return;
    // Forgotten now, not at the next scrape: a process that never serves
    // /metrics (a job runner) must not keep every series it removed.
    this.setMode(MODE_REMOVED);
    this.delta = 0;
    state.touched.delete(this);
    state.restoredSets.delete(this);
    // Left in `state.series` until the next batch (or once they are half of it) drops them.
    if (
      ++state.removedSeries > 1024 && state.removedSeries * 2 > state.series.length &&
      !state.scanning
    ) {
      dropRemoved();
    }
  }
}

/** A cell of a metric with an idle time: it keeps its series' mark (see `takeBatch`). */
export class IdleRedisCell extends RedisCell {
  readonly #mark: IdleMark;

  constructor(keyPrefix: string, series: StoredSeries, mark: IdleMark) {
    super(keyPrefix, series);
    this.#mark = mark;
  }

  override idleMark(): IdleMark {
    return this.#mark;
  }
}

/**
 * Forgets a series of a metric with an idle time in this process only: its
 * cells, released, delete nothing in Redis.
 *
 * @param metric The metric.
 * @param key The series' key.
 * @param unlessScraped Leave it if this process' scrapes follow it.
 */
export function forgetHere(metric: IdleMetric, key: string, unlessScraped: boolean): void {
  state.forgetting = true;
  try {
    metric.forget(key, unlessScraped);
  } finally {
    state.forgetting = false;
  }
}

/** Queues a deletion, or drops (and counts) it when too many wait already. */
export function queueRemoval(removal: Pending): void {
  for (const removed of state.reads) noteRemoval(removed, removal);
  if (state.removals.length < state.settings.maxPendingRemovals) {
    state.removals.push(removal);
    return;
  }
  state.droppedChanges++;
  const dropped = state.dropped;
  if (dropped !== undefined && dropped.mode() !== MODE_REMOVED) dropped.delta += 1;
}

/** Drops the removed series from `state.series`, keeping the order of the others. */
export function dropRemoved(): void {
  const series = state.series;
  let kept = 0;
  for (let i = 0; i < series.length; i++) {
    const cell = series[i]!;
    if (cell.mode() !== MODE_REMOVED) series[kept++] = cell;
  }
  series.length = kept;
  state.removedSeries = 0;
}

/**
 * Whether a cell holds a change to write: an increment, a set, or changes
 * that add up to 0 (an `inc(0)`, a gauge's `inc()` then `dec()`), which
 * write 0 (making its field: every process shows the series).
 *
 * @param cell The cell.
 * @param touched The cells whose changes add up to 0 (`state.touched`, or the batch's).
 */
export function changed(cell: RedisCell, touched: ReadonlySet<RedisCell>): boolean {
  if (cell.delta !== 0 || cell.mode() === MODE_SET) return true;
  // A cell removed since it was touched writes nothing (its deletion is queued).
  return touched.size > 0 && cell.mode() !== MODE_REMOVED && touched.has(cell);
}

/**
 * After a change that is not positive, notes the cell if its changes may
 * now add up to 0 (an `inc(0)`, a gauge's `inc()` then `dec()`): with
 * nothing to add, it still writes 0, so every process shows the series.
 *
 * That is when the change took the delta from 0 or more to 0 or less.
 * Every cell whose delta ends at 0 is noted: positive changes never lower
 * the delta, so after the last change that is not positive it was at or
 * below 0, and it got there, from the 0 it restarts at after each flush,
 * through such a crossing. A delta that stays below 0 is not noted again.
 *
 * @param cell The cell.
 * @param before Its delta before the change.
 */
function crossing(cell: RedisCell, before: number): void {
  if (before >= 0 && cell.delta <= 0 && cell.mode() !== MODE_REMOVED) state.touched.add(cell);
}

/** Whether anything waits to be written (a scan of every series). */
export function pendingSeries(): number {
  let count = state.queuedSeries + state.removals.length + state.taking;
  for (const series of state.series) if (changed(series, state.touched)) count++;
  return count;
}

/** Notes a removal, by hash. */
export function noteRemoval(removed: Removed, removal: Pending): void {
  if (removal instanceof FamilyClear) {
    removed.set(removal.hash, true);
    return;
  }
  if (removal instanceof IdleRemoval) {
    const { hash, fields, prefix } = removal;
    for (const [field] of fields) noteField(removed, hash, field);
    if (prefix !== undefined) noteField(removed, hash, prefix);
    return;
  }
  if (removal instanceof PrefixClear) noteField(removed, removal.hash, removal.prefix);
  else noteField(removed, removal.hash(), removal.field);
}

function noteField(removed: Removed, hash: string, field: string): void {
  const fields = removed.get(hash);
  if (fields === undefined) removed.set(hash, new Set([field]));
  else if (fields !== true) fields.add(field);
}

/** The number of the next chunk of a metric's changes: 1, 2, ... per metric's hash. */
export function nextChunk(hash: string): number {
  const number = (state.chunkNumbers.get(hash) ?? 0) + 1;
  state.chunkNumbers.set(hash, number);
  return number;
}

export function where(client: Client): string {
  if (client.isCluster) {
    const nodes = state.settings.cluster ?? [];
    return `cluster ${nodes.map((node) => `${node.host ?? "localhost"}:${node.port ?? 6379}`)}`;
  }
  const { path, host, port } = client.options as { path?: string; host?: string; port?: number };
  return path ? path : `${host ?? "localhost"}:${port ?? 6379}`;
}

export function unavailable(what: string, cause?: unknown): BackendUnavailableError {
  const client = state.client;
  if (client === undefined) {
    return new BackendUnavailableError(
      `Cannot ${what}: the Redis backend is not connected (loadBackend() was not called, ` +
        "or MultiProcessRedisBackend.close() was)",
      { cause },
    );
  }
  const silent = `no answer within ${state.settings.timeoutMs} ms`;
  const reason = typeof cause === "string"
    ? cause
    : cause instanceof Error
    ? (cause.message === "Command timed out" ? silent : cause.message)
    : client.status === "ready"
    ? silent
    : `${client.status}${state.lastError ? `: ${state.lastError}` : ""}`;
  return new BackendUnavailableError(
    `Cannot ${what}: Redis at ${where(client)} is unreachable (${reason})`,
    cause instanceof Error ? { cause } : undefined,
  );
}
