/**
 * The configuration of the multi-worker backend, checked once per
 * configuration object, and how a metric's numbers of several workers merge.
 */

import type { BackendConfig } from "./backend.ts";
import type { MetricType } from "../vocabulary.ts";
import { PytheusError } from "../errors.ts";
import type { Registry } from "../registry/registry.ts";
import { REGISTRY } from "../registry/default_registry.ts";
import { LABEL_NAME } from "../_validation.ts";

/**
 * How the values of one gauge in several workers become one value:
 * `"sum"` adds them, `"min"` and `"max"` keep the least and greatest,
 * `"latest"` keeps the one set last by the wall clock (of writes in several
 * workers, those a millisecond or more apart always keep their order), and
 * `"perWorker"` keeps one series per worker, labelled `worker` (see
 * {@linkcode MultiWorkerBackendConfig.workerLabel}).
 *
 * @example
 * ```ts
 * import type { GaugeMode } from "@pytheus/pytheus/types";
 * const mode: GaugeMode = "max";
 * ```
 */
export type GaugeMode = "sum" | "min" | "max" | "latest" | "perWorker";

/**
 * Configuration of {@linkcode MultiWorkerBackend}, given as `backendConfig`
 * to `loadBackend` (every worker should pass the same).
 *
 * @example
 * ```ts
 * import type { MultiWorkerBackendConfig } from "@pytheus/pytheus";
 * const config: MultiWorkerBackendConfig = {
 *   timeoutMs: 500,
 *   gaugeModes: { queue_length: "max", memory_bytes: "perWorker" },
 * };
 * ```
 */
export interface MultiWorkerBackendConfig {
  /**
   * The `BroadcastChannel` name the workers talk on; workers sharing it are
   * merged.
   *
   * @default {"pytheus"}
   */
  channel?: string;
  /**
   * How long a scrape waits for the other workers' values, in milliseconds.
   * It ends as soon as every live worker has answered; a worker that has not
   * is counted as `late` and its last known values are used.
   *
   * @default {200}
   */
  timeoutMs?: number;
  /**
   * How often each worker tells the others it is alive, in milliseconds. A
   * worker not heard of for three intervals is `gone`: its counters and
   * histograms are kept at their last values, its gauges are dropped.
   *
   * @default {1000}
   */
  heartbeatMs?: number;
  /**
   * The merge mode of a gauge, by metric name (without registry prefix).
   *
   * @default {{}}
   */
  gaugeModes?: Readonly<Record<string, GaugeMode>>;
  /**
   * The merge mode of the gauges not in `gaugeModes`.
   *
   * @default {"sum"}
   */
  defaultGaugeMode?: GaugeMode;
  /**
   * The label naming the worker in the `"perWorker"` gauge mode.
   *
   * @default {"worker"}
   */
  workerLabel?: string;
  /**
   * This worker's name, the value of the worker label. Give each worker its
   * own; the default is random.
   *
   * @default {a random 8-character id}
   */
  workerId?: string;
  /**
   * Where the self-metrics `pytheus_multi_worker_workers{state}` and
   * `pytheus_multi_worker_gather_seconds` are registered; `null` for none.
   *
   * @default {REGISTRY}
   */
  registry?: Registry | null;
  /**
   * Whether payloads of 8 KB and more are compressed (`deflate-raw`) before
   * they are sent. Deno's `BroadcastChannel` copies messages slowly (about
   * 0.15 ms per KB and receiver), so compressing 5x is a gain there; Bun's
   * is fast, so compressing is a loss.
   *
   * @default {true on Deno, false elsewhere}
   */
  compress?: boolean;
}

/** The configuration with every default applied. */
export interface Settings {
  readonly channel: string;
  readonly timeoutMs: number;
  readonly heartbeatMs: number;
  readonly gaugeModes: Readonly<Record<string, GaugeMode>>;
  readonly defaultGaugeMode: GaugeMode;
  readonly workerLabel: string;
  readonly workerId: string | undefined;
  readonly registry: Registry | null;
  readonly compress: boolean;
}

// Merge modes, as numbers for a cheap switch; counters and histograms are SUM.
export const SUM = 0;
export const MIN = 1;
export const MAX = 2;
export const LATEST = 3;
export const PER_WORKER = 4;
const MODES: Readonly<Record<GaugeMode, number>> = {
  sum: SUM,
  min: MIN,
  max: MAX,
  latest: LATEST,
  perWorker: PER_WORKER,
};

/** The merge mode of a metric's numbers: a gauge's as configured, an enum's the latest, else summed. */
export function modeOf(settings: Settings, type: MetricType, name: string): number {
  // An enum's value is a state's index: adding indices of workers would name another state.
  if (type === "stateset") return LATEST;
  if (type !== "gauge") return SUM;
  const modes = settings.gaugeModes;
  return MODES[Object.hasOwn(modes, name) ? modes[name]! : settings.defaultGaugeMode];
}

const settingsOf = new WeakMap<BackendConfig, Settings>();

/**
 * The settings of a configuration, checked the first time.
 *
 * @param config The configuration, as `loadBackend()` got it.
 * @returns The settings.
 * @throws {PytheusError} When an option has the wrong type or range.
 */
export function settingsFor(config: BackendConfig): Settings {
  let settings = settingsOf.get(config);
  if (settings === undefined) settingsOf.set(config, settings = checkConfig(config));
  return settings;
}

function checkConfig(config: BackendConfig): Settings {
  const c = config as MultiWorkerBackendConfig;
  const fail = (what: string, value: unknown): never => {
    throw new PytheusError(`Invalid MultiWorkerBackend config: ${what}, got ${show(value)}`);
  };
  const channel = c.channel ?? "pytheus";
  if (typeof channel !== "string" || channel === "") {
    fail("channel must be a non-empty string", channel);
  }
  const timeoutMs = c.timeoutMs ?? 200;
  if (typeof timeoutMs !== "number" || !(timeoutMs >= 0) || timeoutMs === Infinity) {
    fail("timeoutMs must be a number of milliseconds, 0 or more", timeoutMs);
  }
  const heartbeatMs = c.heartbeatMs ?? 1000;
  if (typeof heartbeatMs !== "number" || !(heartbeatMs > 0) || heartbeatMs === Infinity) {
    fail("heartbeatMs must be a number of milliseconds, more than 0", heartbeatMs);
  }
  const gaugeModes = c.gaugeModes ?? {};
  if (typeof gaugeModes !== "object" || gaugeModes === null || Array.isArray(gaugeModes)) {
    fail("gaugeModes must be an object of metric name to mode", gaugeModes);
  }
  for (const name in gaugeModes) {
    if (!Object.hasOwn(MODES, gaugeModes[name]!)) {
      fail(`gaugeModes.${name} must be one of ${Object.keys(MODES).join(", ")}`, gaugeModes[name]);
    }
  }
  const defaultGaugeMode = c.defaultGaugeMode ?? "sum";
  if (!Object.hasOwn(MODES, defaultGaugeMode)) {
    fail(`defaultGaugeMode must be one of ${Object.keys(MODES).join(", ")}`, defaultGaugeMode);
  }
  const workerLabel = c.workerLabel ?? "worker";
  if (typeof workerLabel !== "string" || !LABEL_NAME.test(workerLabel)) {
    fail("workerLabel must be a label name", workerLabel);
  }
  const id = c.workerId;
  if (id !== undefined && (typeof id !== "string" || id === "")) {
    fail("workerId must be a non-empty string", id);
  }
  const registry = c.registry === undefined ? REGISTRY : c.registry;
  if (registry !== null && typeof registry?.register !== "function") {
    fail("registry must be a registry or null", registry);
  }
  const compress = c.compress ?? typeof (globalThis as { Deno?: unknown }).Deno === "object";
  if (typeof compress !== "boolean") fail("compress must be true or false", compress);
  return {
    compress,
    channel,
    timeoutMs,
    heartbeatMs,
    gaugeModes,
    defaultGaugeMode,
    workerLabel,
    workerId: id,
    registry,
  };
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
