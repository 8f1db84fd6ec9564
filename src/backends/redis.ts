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
import type { MetricCollector, Sample } from "../vocabulary.ts";
import { REGISTRY } from "../registry/default_registry.ts";
import type { Backend, BackendConfig } from "./backend.ts";
import type { Store, StoredMetric, StoredSeries, StoreReading } from "./store.ts";
import { type Settings, settingsOf } from "./_redis_settings.ts";
import { FLUSH_SCRIPT, hashOf, waitReady } from "./_redis_wire.ts";
import { READ_SCRIPT } from "./_redis_mirror.ts";
import {
  DROPPED_NAME,
  IdleRedisCell,
  pendingSeries,
  RedisCell,
  state,
  where,
} from "./_redis_state.ts";
import { exchange, flushAll, flushTick } from "./_redis_flush.ts";
import { clearMetric, expireIdle, readMetrics } from "./_redis_read.ts";
import { RedisNative } from "./_redis_native.ts";
import { keepsNative } from "./_native_stores.ts";
import { handlesIdle } from "./_idle_stores.ts";
import { addBuiltIn } from "./_built_ins.ts";

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

/** How long the exit on SIGINT or SIGTERM waits for the last flush, at most. */
const SIGNAL_CLOSE_MS = 900;

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
 * A series of a metric with `idleSeconds` that a scrape finds idle is deleted
 * from Redis; a process also forgets (in its memory only, at the flush that
 * finds it) a series it took no change of for that long, unless its own
 * scrapes follow it, so that a process that never serves `/metrics` does not grow.
 *
 * Each metric is one hash, `<keyPrefix>:{<metric name>}` (or
 * `<keyPrefix>:{<registry prefix>/<metric name>}` for a metric of a prefixed
 * registry, so that two registries never share a series; the braces keep a
 * metric's keys in one slot of a Redis Cluster); each field is one
 * series: its labels as a JSON object with sorted names
 * (`{"method":"GET","path":"/"}`), followed by `|<le>` for a histogram
 * bucket and `|sum` for a histogram's sum (buckets are stored one by one,
 * not cumulated); a native histogram's buckets are fields `|~p<schema>:<key>`,
 * `|~n<schema>:<key>` and `|~z<threshold>` every process adds to, merged by
 * the scrape.
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
    const settings = this.#settings = settingsOf(config);
    keepsNative(
      this,
      (series, native, mark) => new RedisNative(settings.keyPrefix, series, native, mark),
    );
    // A series no flush took a change of for its idle time is forgotten here (see takeBatch).
    handlesIdle(this, {
      track: (metric, idle) => void state.idleMetrics.set(metric.metric, idle),
      cell: (series, mark) => new IdleRedisCell(settings.keyPrefix, series, mark),
      // A series found idle is deleted only if no process wrote to it since.
      expire: (metric, keys) => expireIdle(settings.keyPrefix, metric, keys),
    });
  }

  /**
   * Connects to Redis (ioredis is imported here, and only here). Does not
   * fail when Redis is down: it warns, keeps the metrics in memory and keeps
   * reconnecting. Registers `pytheus_redis_dropped_total` and
   * `pytheus_redis_restores_total` on `REGISTRY`.
   */
  open(): Promise<void> {
    return connect(this.#settings);
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
    return readMetrics(this.#settings.keyPrefix, metrics);
  }

  /**
   * Deletes the metric's whole hash (at the next flush), series of other
   * processes included: `metric.clear()` calls it.
   *
   * @param metric The cleared metric.
   */
  clear(metric: StoredMetric): void {
    clearMetric(this.#settings.keyPrefix, metric);
  }

  /**
   * Writes this process' pending changes now, as {@linkcode MultiProcessRedisBackend.flush}.
   *
   * @returns A promise that resolves once Redis took them.
   */
  flush(): Promise<void> {
    return flushAll();
  }

  /**
   * Writes every pending change and disconnects, as {@linkcode MultiProcessRedisBackend.close}.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    return disconnect();
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
    return disconnect();
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
    return flushAll();
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
    return statsOf();
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

// loadBackend() by name finds the class wherever this module is, in a bundle
// too, where the module beside the loader that it would import is not.
addBuiltIn("MultiProcessRedisBackend", MultiProcessRedisBackend);

/** Connects to Redis (see `MultiProcessRedisBackend.open`). */
async function connect(settings: Settings): Promise<void> {
  if (state.client !== undefined) {
    await disconnect().catch((error) =>
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
  const client: Redis | Cluster = settings.cluster === undefined
    ? new Redis(options)
    : new Cluster([...settings.cluster], {
      ...settings.clusterOptions,
      redisOptions: options,
      enableOfflineQueue: false,
      lazyConnect: false,
    });
  // EVALSHA, loading the script where a node lacks it.
  client.defineCommand("pytheusFlush", { numberOfKeys: 6, lua: FLUSH_SCRIPT });
  client.defineCommand("pytheusRead", { numberOfKeys: 4, lua: READ_SCRIPT });
  state.client = client;
  state.settings = settings;
  // Another connection, maybe another Redis: its data's generations are learnt anew.
  state.generations.clear();
  state.mirrors.clear();
  // SIGINT and SIGTERM write what is pending first (see closeOnSignals).
  if (settings.handleSignals) {
    state.unlisten ??= closeOnSignals(
      () => disconnect(),
      Math.min(settings.closeTimeoutMs, SIGNAL_CLOSE_MS),
    );
  }
  state.outage = false;
  state.lastError = "";
  const dropped = state.dropped;
  if (dropped === undefined || dropped.hash() !== hashOf(settings.keyPrefix, DROPPED_NAME)) {
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
    flushTick();
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
  state.timer = setInterval(() => flushTick(), settings.flushIntervalMs);
}

/** Writes what is pending and disconnects (see `MultiProcessRedisBackend.close`). */
function disconnect(): Promise<void> {
  return state.closed ??= closeOnce().finally(() => {
    state.closed = undefined;
  });
}

async function closeOnce(): Promise<void> {
  // The connection connect() made: ioredis' own.
  const client = state.client as Redis | Cluster | undefined;
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
    while (pendingSeries() > 0) {
      if (client.status === "ready") {
        try {
          await exchange([], "write pending changes");
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
  const series = pendingSeries();
  if (series > 0 && failure !== undefined) {
    throw new BackendUnavailableError(
      `Cannot write the changes of ${series} series to Redis at ${where(client)} before ` +
        `closing: ${state.lastError || client.status}`,
      failure instanceof Error ? { cause: failure } : undefined,
    );
  }
}

/** This process' view (see `MultiProcessRedisBackend.stats`). */
function statsOf(): RedisBackendStats {
  return {
    connected: state.client?.status === "ready",
    pendingSeries: pendingSeries(),
    dropped: state.droppedChanges,
    failedFlushes: state.failedFlushes,
    restores: state.restores,
  };
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
