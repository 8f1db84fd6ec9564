/**
 * The options of the Redis backend: ioredis' own, passed on, and this
 * backend's, checked once per configuration object.
 */

import { PytheusError } from "../errors.ts";
import type { BackendConfig } from "./backend.ts";

/**
 * Configuration of {@linkcode MultiProcessRedisBackend}: ioredis' connection
 * options (`host`, `port`, `password`, `db`, `tls`, `connectTimeout`,
 * `retryStrategy`, ...) plus this backend's own. `keyPrefix` is this
 * backend's (ioredis' key prefixing is not used); `enableOfflineQueue`,
 * `autoResendUnfulfilledCommands` and `maxRetriesPerRequest` are set by the
 * backend, which retries by itself.
 *
 * @example
 * ```ts
 * import type { RedisBackendConfig } from "@pytheus/pytheus/redis";
 * const config: RedisBackendConfig = { host: "redis.internal", port: 6379, keyPrefix: "shop" };
 * ```
 */
export interface RedisBackendConfig {
  /**
   * The Redis host.
   *
   * @default {"localhost"}
   */
  host?: string;
  /**
   * The Redis port.
   *
   * @default {6379}
   */
  port?: number;
  /**
   * A Unix socket to connect to instead of `host` and `port`.
   *
   * @default {undefined}
   */
  path?: string;
  /**
   * The ACL user name.
   *
   * @default {undefined}
   */
  username?: string;
  /**
   * The password.
   *
   * @default {undefined}
   */
  password?: string;
  /**
   * The database number.
   *
   * @default {0}
   */
  db?: number;
  /**
   * Every metric is one hash, named `<keyPrefix>:{<metric name>}` (the
   * braces make it a Redis Cluster hash tag); no `{` or `}` in it.
   *
   * @default {"pytheus"}
   */
  keyPrefix?: string;
  /**
   * The nodes of a Redis Cluster to start from (`[{ host, port }, ...]`):
   * given, the backend connects to the cluster (ioredis' `Cluster`), each
   * metric's keys in one hash slot; the other connection options apply to
   * each node. For Redis Sentinel, give ioredis' `sentinels` and `name`
   * instead, as to ioredis.
   *
   * @default {undefined}
   */
  cluster?: readonly { readonly host?: string; readonly port?: number }[];
  /**
   * ioredis' `Cluster` options (`scaleReads`, `natMap`, ...), with `cluster`.
   *
   * @default {{}}
   */
  clusterOptions?: Record<string, unknown>;
  /**
   * Seconds a metric's hash lives after its last write; every write
   * refreshes it (as pytheus does).
   *
   * @default {3600}
   */
  expireKeySeconds?: number;
  /**
   * Milliseconds between two flushes of this process' changes to Redis; a
   * scrape flushes first whatever is pending.
   *
   * @default {100}
   */
  flushIntervalMs?: number;
  /**
   * How many removals (`remove()`, `clear()`) may wait for an unreachable
   * Redis. One more is dropped, counted in `pytheus_redis_dropped_total`, and
   * its series stays in Redis until the key expires. Value changes are never
   * dropped: they add up in place, in the series they change.
   *
   * @default {100000}
   */
  maxPendingRemovals?: number;
  /**
   * Milliseconds a scrape (or a flush) waits for Redis before giving up; a
   * scrape then fails with {@linkcode BackendUnavailableError} (HTTP 503).
   *
   * @default {2000}
   */
  timeoutMs?: number;
  /**
   * Milliseconds {@linkcode MultiProcessRedisBackend.close} keeps trying to
   * write pending changes when Redis is unreachable.
   *
   * @default {5000}
   */
  closeTimeoutMs?: number;
  /**
   * Whether SIGINT and SIGTERM write what is pending before the process
   * ends: the backend exits after it (within a second) unless the
   * application listens for the signal itself through `process.on`. Turn it
   * off for an application that listens with `Deno.addSignalListener`, which
   * cannot be seen: it should then await `close()` in its own listener.
   *
   * @default {true}
   */
  handleSignals?: boolean;
  /** Any other ioredis option, passed on as given. */
  [option: string]: unknown;
}

/** The backend's options, checked, with their defaults. */
export interface Settings {
  readonly keyPrefix: string;
  readonly expireKeySeconds: number;
  readonly flushIntervalMs: number;
  readonly maxPendingRemovals: number;
  readonly timeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly handleSignals: boolean;
  /** The ioredis options, passed on as given. */
  readonly redis: Readonly<Record<string, unknown>>;
  readonly cluster: readonly { readonly host?: string; readonly port?: number }[] | undefined;
  readonly clusterOptions: Record<string, unknown>;
}

/** The defaults of {@linkcode RedisBackendConfig}'s own options. */
export const DEFAULTS: Settings = {
  keyPrefix: "pytheus",
  expireKeySeconds: 3600,
  flushIntervalMs: 100,
  maxPendingRemovals: 100_000,
  timeoutMs: 2000,
  closeTimeoutMs: 5000,
  handleSignals: true,
  redis: {},
  cluster: undefined,
  clusterOptions: {},
};

const settingsCache = new WeakMap<BackendConfig, Settings>();

/**
 * Checks a configuration and fills in the defaults (once per configuration object).
 *
 * @param config The configuration, as `loadBackend()` got it.
 * @returns The settings.
 * @throws {PytheusError} When an option of the backend's own has the wrong type or range.
 */
export function settingsOf(config: BackendConfig): Settings {
  const cached = settingsCache.get(config);
  if (cached !== undefined) return cached;
  const {
    keyPrefix = DEFAULTS.keyPrefix,
    expireKeySeconds = DEFAULTS.expireKeySeconds,
    flushIntervalMs = DEFAULTS.flushIntervalMs,
    maxPendingRemovals = DEFAULTS.maxPendingRemovals,
    timeoutMs = DEFAULTS.timeoutMs,
    closeTimeoutMs = DEFAULTS.closeTimeoutMs,
    handleSignals = DEFAULTS.handleSignals,
    cluster = DEFAULTS.cluster,
    clusterOptions = DEFAULTS.clusterOptions,
    ...redis
  } = config as RedisBackendConfig & BackendConfig;
  if (
    cluster !== undefined &&
    (!Array.isArray(cluster) || cluster.length === 0 ||
      !cluster.every((node) => typeof node === "object" && node !== null))
  ) {
    throw badOption("cluster", cluster, "a list of { host, port } nodes");
  }
  if (typeof clusterOptions !== "object" || clusterOptions === null) {
    throw badOption("clusterOptions", clusterOptions, "an object");
  }
  if (typeof handleSignals !== "boolean") {
    throw badOption("handleSignals", handleSignals, "true or false");
  }
  if (typeof keyPrefix !== "string" || /[{}]/.test(keyPrefix)) {
    throw badOption("keyPrefix", keyPrefix, "a string without { or }");
  }
  checkNumber("expireKeySeconds", expireKeySeconds, 1, true);
  checkNumber("flushIntervalMs", flushIntervalMs, 1, false);
  checkNumber("maxPendingRemovals", maxPendingRemovals, 1, true);
  checkNumber("timeoutMs", timeoutMs, 1, false);
  checkNumber("closeTimeoutMs", closeTimeoutMs, 0, false);
  const settings: Settings = {
    keyPrefix,
    expireKeySeconds,
    flushIntervalMs,
    maxPendingRemovals,
    timeoutMs,
    closeTimeoutMs,
    handleSignals,
    redis,
    cluster,
    clusterOptions,
  };
  settingsCache.set(config, settings);
  return settings;
}

function checkNumber(name: string, value: unknown, min: number, integer: boolean): void {
  if (
    typeof value !== "number" || !(value >= min) || !Number.isFinite(value) ||
    (integer && !Number.isInteger(value))
  ) {
    throw badOption(name, value, `${integer ? "an integer" : "a number"} ≥ ${min}`);
  }
}

function badOption(name: string, value: unknown, expected: string): PytheusError {
  return new PytheusError(
    `Redis backend option "${name}" must be ${expected}, not ${JSON.stringify(value)}`,
  );
}
