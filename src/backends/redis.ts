/**
 * The Redis backend: every process (or worker) of an application keeps its
 * metrics in one Redis server, and a scrape of any of them reports the totals
 * of all. Writes cost no network: they accumulate in memory and reach Redis in
 * one script per flush.
 *
 * ```ts ignore
 * import { Counter, loadBackend, makeHandler } from "@pytheus/pytheus";
 * import { MultiProcessRedisBackend } from "@pytheus/pytheus/redis";
 *
 * await loadBackend({
 *   backendClass: MultiProcessRedisBackend,
 *   backendConfig: { host: "127.0.0.1", port: 6379, keyPrefix: "shop" },
 * });
 * const orders = new Counter({ name: "orders_total", description: "Orders." });
 * orders.inc();
 * Deno.serve({ port: 8000 }, makeHandler());
 * ```
 *
 * @module
 */

import type { Cluster, Redis, RedisOptions } from "ioredis";
import { BackendUnavailableError } from "../errors.ts";
import { getLogger } from "../logger.ts";
import { closeOnSignals } from "./_shutdown.ts";
import { inSlices, Slices } from "../_slices.ts";
import type { MetricCollector, Sample } from "../vocabulary.ts";
import type { Registry } from "../registry/registry.ts";
import { REGISTRY } from "../registry/default_registry.ts";
import type { Backend, BackendConfig } from "./backend.ts";
import type { Store, StoredMetric, StoredSeries, StoreReading } from "./store.ts";
import { DEFAULTS, type Settings, settingsOf } from "./_redis_settings.ts";
import {
  FLUSH_SCRIPT,
  formatNumber,
  generationKey,
  hashOf,
  parseNumber,
  waitReady,
  withTimeout,
} from "./_redis_wire.ts";

export type { RedisBackendConfig } from "./_redis_settings.ts";

/** What {@linkcode MultiProcessRedisBackend.stats} reports about this process. */
export interface RedisBackendStats {
  /** Whether the connection to Redis is ready. */
  readonly connected: boolean;
  /** Series (and removals) whose changes are not yet confirmed written to Redis. */
  readonly pendingSeries: number;
  /** Removals this process dropped because `maxPendingRemovals` were waiting. */
  readonly dropped: number;
  /** Flushes that failed (Redis unreachable or too slow) and were retried. */
  readonly failedFlushes: number;
  /**
   * How often this process found that Redis had lost its data (restarted
   * empty) and wrote its share of every series again.
   */
  readonly restores: number;
}

/** A `metric.clear()` waiting to be written: deletes the whole hash. */
class FamilyClear {
  constructor(readonly hash: string) {}
}

/** A hash being read page by page: where its scan is, and what it read so far. */
interface Scan {
  readonly hash: string;
  /** Read whole (HGETALL): a hash known to be small; else page by page (HSCAN). */
  readonly whole: boolean;
  cursor: string;
  readonly values: Map<string, number>;
}

/** One page of a scan: the cursor of the next (`"0"` after the last), and `[field, value, ...]`. */
type Page = [cursor: string, flat: string[]];

/** Removed series by hash: their fields, or `true` for a hash cleared whole. */
type Removed = Map<string, Set<string> | true>;

/** A connection: to one Redis (maybe found through Sentinel), or to a Redis Cluster. */
type Client = Redis | Cluster;

/** One command of a round trip: the ioredis method, and its arguments. */
type Call = readonly [method: string, ...args: (string | number)[]];

/** The changes of one script call (of one metric), kept as sent until Redis confirms them. */
interface Chunk {
  readonly keys: string[];
  readonly argv: string[];
}

type Pending = RedisCell | FamilyClear;

// A cell's mode: adding to what it wrote; replacing it (a set() not yet
// written); adding to a value it set before (a gauge); removed.
const MODE_INC = 0;
const MODE_SET = 1;
const MODE_REMOVED = 2;
const MODE_INC_SET = 3;

/**
 * A hash of at most this many fields (at its last read) is read whole, in
 * one reply that parses in a few milliseconds; a bigger one page by page,
 * this many fields a page.
 */
const WHOLE_FIELDS = 10_000;
const PAGE_FIELDS = 5000;
/** Changes per script call: keeps each call short for Redis. */
const CHUNK_CHANGES = 2000;
const DROPPED_NAME = "pytheus_redis_dropped_total";
/** Identifies this process (or worker) to the script's duplicate check. */
const PROCESS_ID = crypto.randomUUID();

/** How long the exit on SIGINT or SIGTERM waits for the last flush, at most. */
const SIGNAL_CLOSE_MS = 900;

/** Everything this process shares between its backends. */
const state = {
  client: undefined as Client | undefined,
  settings: DEFAULTS,
  /** Every live series: a flush sends those marked dirty. */
  series: [] as RedisCell[],
  /** The generation of each metric's data last seen (see `FLUSH_SCRIPT`). */
  generations: new Map<string, string>(),
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

/**
 * Keeps metric values in Redis, shared by every process and worker that uses
 * the same server and `keyPrefix`: counters and histograms add up, a gauge's
 * `set` is the last write of any process.
 *
 * `inc()`, `set()` and `observe()` never touch the network: changes add up
 * per series in memory and are written in one Lua script call per flush
 * (every `flushIntervalMs`), exactly once and in order. While Redis is down
 * or slow nothing throws or waits; the changes keep adding up in place (no
 * memory grows but a queue of removals, bounded by `maxPendingRemovals`, the
 * overflow counted in `pytheus_redis_dropped_total`) and are written when
 * Redis answers again. A scrape flushes this process'
 * changes and reads every metric in one round trip, reporting the series
 * of every process; when Redis cannot answer within `timeoutMs` it fails
 * with {@linkcode BackendUnavailableError}, which the handler turns into a 503.
 *
 * Each metric is one hash, `<keyPrefix>:{<metric name>}` (or
 * `<keyPrefix>:{<registry prefix>/<metric name>}` for a metric of a prefixed
 * registry, so that two registries never share a series; the braces keep a
 * metric's keys in one slot of a Redis Cluster); each field is one
 * series: its labels as a JSON object with sorted names
 * (`{"method":"GET","path":"/"}`), followed by `|<le>` for a histogram
 * bucket and `|sum` for a histogram's sum (buckets are stored one by one,
 * not cumulated).
 *
 * @example From code
 * ```ts ignore
 * import { Counter, loadBackend } from "@pytheus/pytheus";
 * import { MultiProcessRedisBackend } from "@pytheus/pytheus/redis";
 *
 * await loadBackend({
 *   backendClass: MultiProcessRedisBackend,
 *   backendConfig: { host: "127.0.0.1", port: 6379, expireKeySeconds: 86400 },
 * });
 * new Counter({ name: "jobs_total", description: "Jobs done." }).inc();
 * await MultiProcessRedisBackend.close(); // on shutdown: writes what is pending
 * ```
 *
 * @example From the environment
 * ```sh
 * echo '{"host": "127.0.0.1", "port": 6379}' > redis.json
 * PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend PYTHEUS_BACKEND_CONFIG=redis.json deno run -A app.ts
 * ```
 */
export class MultiProcessRedisBackend implements Store {
  readonly #settings: Settings;

  /**
   * Checks the configuration; `loadBackend()` constructs the store from
   * `backendConfig` and opens it.
   *
   * @param config The configuration ({@linkcode RedisBackendConfig}).
   * @throws {PytheusError} When an option has the wrong type or range.
   */
  constructor(config: BackendConfig = {}) {
    this.#settings = settingsOf(config);
  }

  /**
   * Connects to Redis (ioredis is imported here, and only here). Does not
   * fail when Redis is down: it warns, keeps the metrics in memory and keeps
   * reconnecting. Registers `pytheus_redis_dropped_total` and
   * `pytheus_redis_restores_total` on `REGISTRY`.
   */
  open(): Promise<void> {
    return RedisCell.open(this.#settings);
  }

  /**
   * Makes the cell of one number: a field of the metric's hash.
   *
   * @param series What the cell holds.
   * @returns The cell.
   */
  cell(series: StoredSeries): Backend {
    return new RedisCell(this.#settings.keyPrefix, series);
  }

  /**
   * The scrape's read: flushes this process' changes and reads every
   * metric's hash, in one round trip.
   *
   * @param metrics The metrics the scrape reads.
   * @returns Every field of their hashes.
   * @throws {BackendUnavailableError} When Redis is unreachable or does not
   * answer within `timeoutMs`.
   */
  read(metrics: readonly StoredMetric[]): Promise<StoreReading> {
    return RedisCell.read(this.#settings.keyPrefix, metrics);
  }

  /**
   * Deletes the metric's whole hash (at the next flush), series of other
   * processes included: `metric.clear()` calls it.
   *
   * @param metric The cleared metric.
   */
  clear(metric: StoredMetric): void {
    RedisCell.clear(this.#settings.keyPrefix, metric);
  }

  /**
   * Writes this process' pending changes now, as {@linkcode MultiProcessRedisBackend.flush}.
   *
   * @returns A promise that resolves once Redis took them.
   */
  flush(): Promise<void> {
    return RedisCell.flush();
  }

  /**
   * Writes every pending change and disconnects, as {@linkcode MultiProcessRedisBackend.close}.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    return RedisCell.close();
  }

  /**
   * Writes every pending change, then disconnects, and stops listening for
   * SIGINT and SIGTERM. While connected, the backend answers either signal
   * by closing and then exiting (130 or 143), within a second; when the
   * application listens for the signal too, it closes but leaves the exit to
   * the application, whose listener should await this first. Changes made
   * afterwards wait in memory until `loadBackend()` connects again. Calls
   * made while closing share the first one's result.
   *
   * @returns A promise that resolves once closed.
   * @throws {BackendUnavailableError} When Redis stays unreachable for
   * `closeTimeoutMs`: the connection is closed anyway, and the message says
   * how many series could not be written.
   *
   * @example An application that stops by itself on SIGTERM
   * ```ts ignore
   * import process from "node:process";
   * import { MultiProcessRedisBackend } from "@pytheus/pytheus/redis";
   * process.once("SIGTERM", async () => {
   *   await MultiProcessRedisBackend.close(); // the last flush
   *   process.exit(0);
   * });
   * ```
   */
  static close(): Promise<void> {
    return RedisCell.close();
  }

  /**
   * Writes this process' pending changes now, without waiting for the next
   * flush (a scrape does this by itself).
   *
   * @returns A promise that resolves once Redis took them.
   * @throws {BackendUnavailableError} When Redis is unreachable or does not
   * answer within `timeoutMs`; the changes stay pending.
   *
   * @example
   * ```ts ignore
   * import { MultiProcessRedisBackend } from "@pytheus/pytheus/redis";
   * await MultiProcessRedisBackend.flush();
   * ```
   */
  static flush(): Promise<void> {
    return RedisCell.flush();
  }

  /**
   * This process' view of the backend, for health checks and tests.
   *
   * @returns The connection state and the counts of pending, dropped and failed writes.
   *
   * @example
   * ```ts ignore
   * import { MultiProcessRedisBackend } from "@pytheus/pytheus/redis";
   * const { connected, pendingSeries } = MultiProcessRedisBackend.stats();
   * ```
   */
  static stats(): RedisBackendStats {
    return RedisCell.stats();
  }

  /**
   * The collector of `pytheus_redis_dropped_total` (changes every process
   * dropped while Redis was unreachable, kept in Redis itself). `open()`
   * registers it on `REGISTRY`; register it on your own registry if you use one.
   *
   * @returns The collector.
   *
   * @example
   * ```ts ignore
   * import { CollectorRegistry } from "@pytheus/pytheus";
   * import { MultiProcessRedisBackend } from "@pytheus/pytheus/redis";
   * new CollectorRegistry().register(MultiProcessRedisBackend.selfCollector());
   * ```
   */
  static selfCollector(): MetricCollector {
    return selfCollector;
  }
}

/** One number in Redis: a field of its metric's hash, and this process' changes to it. */
class RedisCell implements Backend {
  /** The metric's hash, `<keyPrefix>:<metric>`, and the number's field in it. */
  readonly #hash: string;
  readonly #field: string;
  #delta = 0;
  #mode = MODE_INC;
  // Set by every change, cleared by the flush that takes it: the hot path
  // only stores, never tests or queues.
  #dirty = false;
  // This process' share of the series as written (or being written): the
  // sum of its increments, or the value it set last plus its increments
  // since (MODE_INC_SET). What it writes again when Redis lost its data.
  #total = 0;

  constructor(keyPrefix: string, series: StoredSeries) {
    this.#hash = hashOf(keyPrefix, series.metric);
    this.#field = series.key;
    state.series.push(this);
  }

  /**
   * Adds to the value (in memory now, in Redis at the next flush).
   *
   * @param value The amount.
   */
  inc(value: number): void {
    this.#delta += value;
    this.#dirty = true;
  }

  /**
   * Subtracts from the value (in memory now, in Redis at the next flush).
   *
   * @param value The amount.
   */
  dec(value: number): void {
    this.#delta -= value;
    this.#dirty = true;
  }

  /**
   * Replaces the value; changes made after it in this process add to it.
   *
   * @param value The new value.
   */
  set(value: number): void {
    if (this.#mode === MODE_REMOVED) return;
    this.#mode = MODE_SET;
    this.#dirty = true;
    this.#delta = value;
  }

  /**
   * This process' own share of the number (what it wrote, or set last, and
   * its changes since): a scrape reads the number from Redis, and this only
   * for a number Redis does not hold.
   *
   * @returns The value.
   */
  get(): number {
    const mode = this.#mode;
    if (mode === MODE_SET) return this.#delta;
    if (mode === MODE_REMOVED) return 0;
    // Not `#total + 0`: a gauge set to -0 must read -0.
    return this.#delta === 0 ? this.#total : this.#total + this.#delta;
  }

  /**
   * Deletes the series from Redis (before the next changes are written);
   * later changes to this backend are ignored.
   */
  remove(): void {
    if (this.#mode === MODE_REMOVED) return;
    // Forgotten now, not at the next scrape: a process that never serves
    // /metrics (a job runner) must not keep every series it removed.
    this.#mode = MODE_REMOVED;
    this.#delta = 0;
    this.#dirty = false;
    state.restoredSets.delete(this);
    // Left in `state.series` until the next batch (or once they are half of it) drops them.
    if (
      ++state.removedSeries > 1024 && state.removedSeries * 2 > state.series.length &&
      !state.scanning
    ) {
      RedisCell.#dropRemoved();
    }
    RedisCell.#queueRemoval(this);
  }

  /** Queues a deletion, or drops (and counts) it when too many wait already. */
  static #queueRemoval(removal: Pending): void {
    for (const removed of state.reads) noteRemoval(removed, removal);
    if (state.removals.length < state.settings.maxPendingRemovals) {
      state.removals.push(removal);
      return;
    }
    state.droppedChanges++;
    const dropped = state.dropped;
    if (dropped !== undefined && dropped.#mode !== MODE_REMOVED) {
      dropped.#delta += 1;
      dropped.#dirty = true;
    }
  }

  /** The cell's hash and field, for the notes of removals. */
  get where(): { hash: string; field: string } {
    return { hash: this.#hash, field: this.#field };
  }

  /** Drops the removed series from `state.series`, keeping the order of the others. */
  static #dropRemoved(): void {
    const series = state.series;
    let kept = 0;
    for (let i = 0; i < series.length; i++) {
      const cell = series[i]!;
      if (cell.#mode !== MODE_REMOVED) series[kept++] = cell;
    }
    series.length = kept;
    state.removedSeries = 0;
  }

  /** Whether anything waits to be written (a scan of every series). */
  static #pendingSeries(): number {
    let count = state.queuedSeries + state.removals.length + state.taking;
    for (const series of state.series) if (series.#dirty) count++;
    return count;
  }

  /** Connects to Redis (see `MultiProcessRedisBackend.open`). */
  static async open(settings: Settings): Promise<void> {
    if (state.client !== undefined) {
      await RedisCell.close().catch((error) =>
        getLogger().error("pytheus: closing the previous Redis connection failed", error)
      );
    }
    const { Cluster, Redis } = await import("ioredis");
    const options: RedisOptions = {
      connectionName: "pytheus",
      commandTimeout: settings.timeoutMs,
      ...settings.redis,
      // The backend retries by itself, exactly once and in order: ioredis must
      // neither queue commands while disconnected nor resend them.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      lazyConnect: false,
    };
    const client: Client = settings.cluster === undefined
      ? new Redis(options)
      : new Cluster([...settings.cluster], {
        ...settings.clusterOptions,
        redisOptions: options,
        enableOfflineQueue: false,
        lazyConnect: false,
      });
    // EVALSHA, loading the script where a node lacks it.
    client.defineCommand("pytheusFlush", { numberOfKeys: 3, lua: FLUSH_SCRIPT });
    state.client = client;
    state.settings = settings;
    // Another connection, maybe another Redis: its data's generations are learnt anew.
    state.generations.clear();
    // SIGINT and SIGTERM write what is pending first (see closeOnSignals).
    if (settings.handleSignals) {
      state.unlisten ??= closeOnSignals(
        () => RedisCell.close(),
        Math.min(settings.closeTimeoutMs, SIGNAL_CLOSE_MS),
      );
    }
    state.outage = false;
    state.lastError = "";
    const dropped = state.dropped;
    if (dropped === undefined || dropped.#hash !== hashOf(settings.keyPrefix, DROPPED_NAME)) {
      dropped?.remove();
      state.dropped = new RedisCell(settings.keyPrefix, {
        metric: DROPPED_NAME,
        key: "{}",
        registryPrefix: "",
        name: DROPPED_NAME,
        type: "counter",
        labelValues: {},
        sample: "",
      });
      state.droppedRead = undefined;
    }
    const failed = (error: Error): void => {
      if (state.client !== client) return;
      state.lastError = error.message;
      if (state.outage) return;
      state.outage = true;
      getLogger().warn(
        `pytheus: Redis at ${where(client)} is unreachable (${error.message}); ` +
          "metrics are kept in memory and written when it is back",
      );
    };
    client.on("error", failed);
    // A cluster reports a node that fails as "node error".
    client.on("node error", failed);
    client.on("ready", () => {
      if (state.client !== client) return;
      state.connected = true;
      state.failures = 0;
      state.retryAt = 0;
      if (state.outage) {
        state.outage = false;
        getLogger().warn(`pytheus: Redis at ${where(client)} is reachable again`);
      }
      RedisCell.#flushTick();
    });
    if (state.registeredOn === undefined && REGISTRY.register(selfCollector)) {
      state.registeredOn = REGISTRY.registry;
      REGISTRY.register(restoresCollector);
    }
    await waitReady(client, settings.timeoutMs);
    if (client.status !== "ready" && !state.outage) {
      state.outage = true;
      getLogger().warn(
        `pytheus: Redis at ${where(client)} is not reachable yet (${client.status}); ` +
          "metrics are kept in memory and written when it is",
      );
    }
    clearInterval(state.timer);
    state.timer = setInterval(() => RedisCell.#flushTick(), settings.flushIntervalMs);
  }

  /** The scrape's read (see `MultiProcessRedisBackend.read`). */
  static async read(keyPrefix: string, metrics: readonly StoredMetric[]): Promise<StoreReading> {
    const byHash = new Map<string, StoredMetric[]>();
    for (const metric of metrics) {
      const hash = hashOf(keyPrefix, metric.metric);
      const list = byHash.get(hash);
      if (list) list.push(metric);
      else byHash.set(hash, [metric]);
    }
    // A hash read whole last time with few enough fields is read whole again.
    const scan = (hash: string): Scan => ({
      hash,
      whole: (state.sizes.get(hash) ?? Infinity) <= WHOLE_FIELDS,
      cursor: "0",
      values: new Map(),
    });
    const scans: Scan[] = [...byHash.keys()].map(scan);
    // pytheus_redis_dropped_total is read along: its collector shows it.
    const dropped = state.dropped === undefined ? undefined : state.dropped.#hash;
    if (dropped !== undefined) scans.push(scan(dropped));
    // Paged until a read says how big it is: a hash that grew past what one
    // reply brings in time is not asked for whole again and again.
    for (const { hash, whole } of scans) if (whole) state.sizes.delete(hash);
    const removed: Removed = new Map();
    state.reads.add(removed);
    try {
      // A small hash whole, a big one page by page (HSCAN), every hash's next
      // page in one round trip: a reply parses in a few milliseconds at most,
      // and the reading is filled a few milliseconds at a time.
      let open = scans;
      while (open.length > 0) {
        // The first round trip writes what is pending first; the next ones only read.
        const pages = await RedisCell.#exchange(open, "read metrics", open === scans);
        // The event loop ran while Redis answered: a new slice.
        const slices = new Slices();
        const next: Scan[] = [];
        for (let i = 0; i < open.length; i++) {
          const scan = open[i]!;
          const [cursor, flat] = pages[i]!;
          const values = scan.values;
          await inSlices(flat.length >> 1, (from, to) => {
            for (let j = from; j < to; j++) values.set(flat[2 * j]!, parseNumber(flat[2 * j + 1]!));
          }, slices);
          scan.cursor = cursor;
          if (cursor !== "0") next.push(scan);
        }
        open = next;
      }
      if (dropped !== undefined) state.droppedRead = scans.at(-1)!.values.get("{}") ?? 0;
      for (const { hash, values } of scans) state.sizes.set(hash, values.size);
      // A series removed while the read ran may be in a page read before its
      // deletion was written: it must not be made again from the reading.
      for (const removal of state.removals) noteRemoval(removed, removal);
      const reading = new Map<string, ReadonlyMap<string, number>>();
      for (const { hash, values } of scans) {
        const gone = removed.get(hash);
        if (gone === true) values.clear();
        else if (gone !== undefined) { for (const field of gone) values.delete(field); }
        for (const metric of byHash.get(hash) ?? []) reading.set(metric.metric, values);
      }
      return reading;
    } finally {
      state.reads.delete(removed);
    }
  }

  /** Deletes a metric's hash (see `MultiProcessRedisBackend.clear`). */
  static clear(keyPrefix: string, metric: StoredMetric): void {
    RedisCell.#queueRemoval(new FamilyClear(hashOf(keyPrefix, metric.metric)));
  }

  /** Writes what is pending and disconnects (see `MultiProcessRedisBackend.close`). */
  static close(): Promise<void> {
    return state.closed ??= RedisCell.#close().finally(() => {
      state.closed = undefined;
    });
  }

  static async #close(): Promise<void> {
    const client = state.client;
    if (client === undefined) return;
    state.closing = true;
    clearInterval(state.timer);
    state.timer = undefined;
    // A round trip in flight (a flush taking its batch) ends first: what it took counts as pending.
    await state.tail;
    const deadline = Date.now() + state.settings.closeTimeoutMs;
    // Changes keep coming while the application runs: stop at the deadline,
    // and fail only if Redis did not take what was pending.
    let failure: unknown = "not connected";
    try {
      while (RedisCell.#pendingSeries() > 0) {
        if (client.status === "ready") {
          try {
            await RedisCell.#exchange([], "write pending changes");
            failure = undefined;
          } catch (error) {
            failure = error;
          }
        }
        if (Date.now() >= deadline) break;
        if (failure !== undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      state.unlisten?.();
      state.unlisten = undefined;
      state.client = undefined;
      state.closing = false;
      if (state.registeredOn !== undefined) {
        state.registeredOn.unregister(selfCollector);
        state.registeredOn.unregister(restoresCollector);
        state.registeredOn = undefined;
      }
      if (client.status === "ready") await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    }
    const series = RedisCell.#pendingSeries();
    if (series > 0 && failure !== undefined) {
      throw new BackendUnavailableError(
        `Cannot write the changes of ${series} series to Redis at ${where(client)} before ` +
          `closing: ${state.lastError || client.status}`,
        failure instanceof Error ? { cause: failure } : undefined,
      );
    }
  }

  /** Writes what is pending (see `MultiProcessRedisBackend.flush`). */
  static async flush(): Promise<void> {
    // A batch sent before (and unconfirmed) goes first, alone.
    const resend = state.queued !== undefined;
    await RedisCell.#exchange([], "write metrics");
    if (resend) await RedisCell.#exchange([], "write metrics");
  }

  /** This process' view (see `MultiProcessRedisBackend.stats`). */
  static stats(): RedisBackendStats {
    return {
      connected: state.client?.status === "ready",
      pendingSeries: RedisCell.#pendingSeries(),
      dropped: state.droppedChanges,
      failedFlushes: state.failedFlushes,
      restores: state.restores,
    };
  }

  /** Takes the changes to send: the unconfirmed batch again, or a new one. */
  static async #batch(): Promise<Chunk[] | undefined> {
    if (state.queued !== undefined) return state.queued;
    const expiry = String(state.settings.expireKeySeconds);
    const chunks: Chunk[] = [];
    // The chunk being filled of each hash: a script call changes one metric.
    const filling = new Map<string, Chunk>();
    let count = 0;
    const add = (hash: string, op: string, field: string, value: string): void => {
      let chunk = filling.get(hash);
      if (chunk === undefined || chunk.argv.length >= 4 + 3 * CHUNK_CHANGES) {
        const number = String(nextChunk(hash));
        chunk = {
          keys: [`${hash}:~chunk:${PROCESS_ID}`, hash, generationKey(hash)],
          // The first number of this hash in the batch: where a gap counts.
          argv: [number, expiry, crypto.randomUUID(), chunk?.argv[3] ?? number],
        };
        chunks.push(chunk);
        filling.set(hash, chunk);
      }
      chunk.argv.push(op, field, value);
      count++;
      state.taking++;
    };
    // Deletions first: a series removed then made again is deleted, then written.
    for (const item of state.removals) {
      if (item instanceof FamilyClear) add(item.hash, "k", "", "");
      else add(item.#hash, "d", item.#field, "");
    }
    state.removals = [];
    const landed = state.landed;
    if (state.removedSeries > 0) RedisCell.#dropRemoved();
    // Every series is looked at, a few milliseconds at a time: a million of
    // them do not hold the event loop at each flush. Those made meanwhile
    // wait for the next batch (after a removal this one does not carry yet).
    const all = state.series;
    const scan = (series: RedisCell): void => {
      if (!series.#dirty) return;
      const mode = series.#mode;
      const set = mode === MODE_SET;
      // A gauge written again after a loss does not overwrite what another process set since.
      const restored = set && state.restoredSets.get(series) === series.#delta;
      state.restoredSets.delete(series);
      add(
        series.#hash,
        restored ? "n" : set ? "s" : "i",
        series.#field,
        formatNumber(series.#delta),
      );
      if (set) {
        series.#total = series.#delta;
        series.#mode = MODE_INC_SET;
      } else {
        series.#total += series.#delta;
        landed.cells[landed.size] = series;
        landed.deltas[landed.size++] = series.#delta;
      }
      series.#delta = 0;
      series.#dirty = false;
    };
    state.scanning = true;
    try {
      await inSlices(all.length, (from, to) => {
        for (let i = from; i < to; i++) scan(all[i]!);
      }, new Slices());
    } finally {
      state.scanning = false;
      state.taking = 0;
    }
    if (count === 0) return undefined;
    state.queued = chunks;
    state.queuedSeries = count;
    return chunks;
  }

  /**
   * One round trip, after the previous one: the pending changes, then a
   * page of each hash scanned (HSCAN). Fails (the changes staying queued) unless Redis
   * answers within `timeoutMs` of the round trip's start: waiting behind the
   * round trips before it is not Redis being slow, so a healthy Redis never
   * fails a scrape that queued. When the one before failed, this one fails
   * at once rather than wait `timeoutMs` more for a Redis that just did not
   * answer.
   */
  static #exchange(scans: readonly Scan[], what: string, write = true): Promise<Page[]> {
    const queued = state.inFlight++ > 0;
    const run = state.tail.then((wentThrough) =>
      wentThrough || !queued
        ? RedisCell.#roundTrip(scans, what, write)
        : Promise.reject(unavailable(what, "the round trip it waited for failed"))
    ).finally(() => state.inFlight--);
    state.tail = run.then(() => true, () => false);
    return run;
  }

  static async #roundTrip(
    scans: readonly Scan[],
    what: string,
    write: boolean,
  ): Promise<Page[]> {
    const client = state.client;
    if (client === undefined || client.status !== "ready") throw unavailable(what);
    if (!write) {
      return RedisCell.#pages(await RedisCell.#send(client, [], scans, what), 0, scans, what);
    }
    const chunks = await RedisCell.#batch();
    // After each (re)connection, the generations are read even with nothing to write.
    const reconnected = state.connected;
    if (chunks === undefined && scans.length === 0 && !reconnected) return [];
    const calls: Call[] = [];
    for (const chunk of chunks ?? []) calls.push(["pytheusFlush", ...chunk.keys, ...chunk.argv]);
    // Which data Redis holds, metric by metric: the generations of those
    // read (and after a reconnection of all those known), gone if a Redis
    // (a master of a cluster) restarted empty.
    const probed = reconnected
      ? [...new Set([...state.generations.keys(), ...scans.map((scan) => scan.hash)])]
      : scans.map((scan) => scan.hash);
    for (const hash of probed) calls.push(["get", generationKey(hash)]);
    const results = await RedisCell.#send(client, calls, scans, what);
    const written = chunks?.length ?? 0;
    const generations: [hash: string, generation: unknown][] = [];
    for (let i = 0; i < written; i++) {
      const [error, reply] = results[i]!;
      if (error) throw unavailable(what, error);
      const [, refused, generation] = Array.isArray(reply) ? reply : [];
      generations.push([chunks![i]!.keys[1]!, generation]);
      if (Number(refused) > 0) {
        state.refusedChanges += Number(refused);
        getLogger().warn(
          `pytheus: Redis refused ${refused} metric change(s) (a value that is not a number)`,
        );
      }
    }
    for (let i = 0; i < probed.length; i++) {
      const [error, reply] = results[written + i]!;
      if (error) throw unavailable(what, error);
      generations.push([probed[i]!, reply]);
    }
    // Taken only once every reply is in: a round trip that failed above sees the loss again.
    if (reconnected) state.connected = false;
    const lost = new Set<string>();
    for (const [hash, generation] of generations) {
      const known = state.generations.get(hash);
      if (typeof generation === "string") state.generations.set(hash, generation);
      else state.generations.delete(hash);
      if (known !== undefined && generation !== known) lost.add(hash);
    }
    if (chunks !== undefined) {
      state.queued = undefined;
      state.queuedSeries = 0;
    }
    if (lost.size > 0) RedisCell.#restore(client, lost, chunks !== undefined);
    // The batch is written: what it added is no longer needed (and may be large).
    if (chunks !== undefined) state.landed = { cells: [], deltas: [], size: 0 };
    const first = written + probed.length;
    return RedisCell.#pages(results, first, scans, what);
  }

  /**
   * Sends `calls`, then a page of each scan, within `timeoutMs`: in one
   * pipeline, or to a cluster each to its node (no pipeline spans slots;
   * ioredis writes the commands of one tick to a node together).
   */
  static async #send(
    client: Client,
    calls: readonly Call[],
    scans: readonly Scan[],
    what: string,
  ): Promise<[Error | null, unknown][]> {
    const all: Call[] = [...calls];
    for (const { hash, whole, cursor } of scans) {
      // HGETALL by name: the flat [field, value, ...] reply, without the object ioredis builds.
      all.push(whole ? ["call", "HGETALL", hash] : ["hscan", hash, cursor, "COUNT", PAGE_FIELDS]);
    }
    type Commands = Record<string, (...args: (string | number)[]) => Promise<unknown>>;
    let sent: Promise<[Error | null, unknown][] | null>;
    if (client.isCluster) {
      const commands = client as unknown as Commands;
      sent = Promise.all(
        all.map(([method, ...args]): Promise<[Error | null, unknown]> =>
          commands[method]!.call(client, ...args).then(
            (reply) => [null, reply],
            (error: Error) => [error, undefined],
          )
        ),
      );
    } else {
      const pipeline = client.pipeline();
      const commands = pipeline as unknown as Commands;
      for (const [method, ...args] of all) commands[method]!.call(pipeline, ...args);
      sent = pipeline.exec();
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await withTimeout(
        sent,
        state.settings.timeoutMs,
        () => unavailable(what, `no answer within ${state.settings.timeoutMs} ms`),
      );
    } catch (error) {
      throw error instanceof BackendUnavailableError ? error : unavailable(what, error);
    }
    if (results === null) throw unavailable(what, "the transaction was aborted");
    return results;
  }

  /** The pages of a scan from the results, from `first` on. */
  static #pages(
    results: [Error | null, unknown][],
    first: number,
    scans: readonly Scan[],
    what: string,
  ): Page[] {
    const pages: Page[] = [];
    for (let i = first; i < results.length; i++) {
      const [error, reply] = results[i]!;
      if (error) throw unavailable(what, error);
      // HGETALL answers [field, value, ...] (see `#send`): the only page.
      const [cursor, flat] = scans[i - first]!.whole ? ["0", reply] : reply as [unknown, unknown];
      if (typeof cursor !== "string" || !Array.isArray(flat)) {
        throw unavailable(what, `HSCAN answered ${typeof reply}`);
      }
      pages.push([cursor, flat as string[]]);
    }
    return pages;
  }

  /**
   * Redis lost its data (it restarted empty): writes this process' share of
   * every series again at the next flush, on top of what was written since.
   * What processes that ended before wrote cannot come back.
   *
   * @param client The connection, for the log.
   * @param withBatch Whether the round trip that found it wrote a batch (its
   * increments landed in the empty Redis already).
   */
  static #restore(client: Client, lost: ReadonlySet<string>, withBatch: boolean): void {
    state.restores++;
    getLogger().warn(
      `pytheus: Redis at ${where(client)} lost the data of ${lost.size} metric(s) (restarted ` +
        "empty?): this process writes its share of their series again; what ended processes " +
        "wrote is lost",
    );
    // The increments of the batch written in the same round trip landed in the emptied Redis.
    const landed = new Map<RedisCell, number>();
    const { cells, deltas, size } = state.landed;
    if (withBatch) { for (let i = 0; i < size; i++) landed.set(cells[i]!, deltas[i]!); }
    for (const series of state.series) {
      if (!lost.has(series.#hash)) continue;
      let mode = series.#mode;
      if (mode === MODE_INC_SET) {
        // A gauge: its value, as this process last made it, then its changes since.
        series.#delta = series.#total + series.#delta;
        mode = MODE_SET;
        state.restoredSets.set(series, series.#delta);
      } else if (mode === MODE_INC) {
        // What landed stays counted as written; the rest is written again.
        const written = landed.get(series) ?? 0;
        series.#delta += series.#total - written;
        series.#total = written;
      }
      series.#mode = mode;
      series.#dirty = series.#delta !== 0 || mode === MODE_SET;
    }
  }

  /** Writes the pending changes (from the timer); on failure, retries later. */
  static #flushTick(): void {
    const client = state.client;
    if (client === undefined || client.status !== "ready" || state.flushing) return;
    if (state.closing || Date.now() < state.retryAt) return;
    state.flushing = true;
    RedisCell.#exchange([], "write metrics").then(
      () => {
        state.failures = 0;
      },
      (error: unknown) => {
        // Redis is slow or went away: back off, up to 2 s between attempts.
        const interval = state.settings.flushIntervalMs;
        state.failures++;
        state.failedFlushes++;
        state.lastError = error instanceof Error ? error.message : String(error);
        state.retryAt = Date.now() +
          Math.min(interval * 2 ** state.failures, Math.max(interval, 2000));
      },
    ).finally(() => {
      state.flushing = false;
    });
  }
}

/** The collector of `pytheus_redis_dropped_total`; its value lives in Redis. */
const selfCollector: MetricCollector = {
  name: DROPPED_NAME,
  description: "Series removals dropped because too many waited for an unreachable Redis.",
  type: "counter",
  collect(): Promise<Sample[]> {
    // Every process' drops, as the scrape's read found them; this process' before any read.
    const value = state.droppedRead ?? state.droppedChanges;
    return Promise.resolve([{ suffix: "", labels: {}, value, labelText: "" }]);
  },
};

/**
 * The collector of `pytheus_redis_restores_total`: how often this process
 * found Redis' data lost and wrote its share again (its own count).
 */
const restoresCollector: MetricCollector = {
  name: "pytheus_redis_restores_total",
  description: "Times this process found Redis had lost its data and wrote its share again.",
  type: "counter",
  collect: () => Promise.resolve([{ suffix: "", labels: {}, value: state.restores }]),
};

/** Notes a removal, by hash. */
function noteRemoval(removed: Removed, removal: Pending): void {
  if (removal instanceof FamilyClear) {
    removed.set(removal.hash, true);
    return;
  }
  const { hash, field } = removal.where;
  const fields = removed.get(hash);
  if (fields === undefined) removed.set(hash, new Set([field]));
  else if (fields !== true) fields.add(field);
}

/** The number of the next chunk of a metric's changes: 1, 2, ... per metric's hash. */
function nextChunk(hash: string): number {
  const number = (state.chunkNumbers.get(hash) ?? 0) + 1;
  state.chunkNumbers.set(hash, number);
  return number;
}

// The hash names in use, one string for all the cells of a metric.

function where(client: Client): string {
  if (client.isCluster) {
    const nodes = state.settings.cluster ?? [];
    return `cluster ${nodes.map((node) => `${node.host ?? "localhost"}:${node.port ?? 6379}`)}`;
  }
  const { path, host, port } = (client as Redis).options;
  return path ? path : `${host ?? "localhost"}:${port ?? 6379}`;
}

function unavailable(what: string, cause?: unknown): BackendUnavailableError {
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
