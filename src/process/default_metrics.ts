/**
 * Process and runtime metrics (CPU, memory, start time, file descriptors,
 * event-loop lag, runtime version) for Deno and Bun, read at scrape time.
 *
 * @module
 */

import { familyNames } from "../registry/_family.ts";
import { CustomCollector } from "../registry/custom_collector.ts";
import { getLogger } from "../logger.ts";
import type { MetricCollector, Sample } from "../vocabulary.ts";
import type { Registry } from "../registry/registry.ts";
import { millisecondsOption, registryOption } from "../_entry_options.ts";
import { checkMetricName, checkOptions } from "../_validation.ts";
import {
  type CpuUsage,
  cpuUsage,
  isLinux,
  type MemoryUsage,
  memoryUsage,
  type ProcReader,
  procReader,
  runtimeInfo,
  unrefTimer,
} from "../_runtime.ts";

/** Options of {@linkcode collectDefaultMetrics}. */
export interface DefaultMetricsOptions {
  /**
   * The registry to register the collector with (not `null`).
   *
   * @default {REGISTRY}
   */
  registry?: Registry;
  /**
   * Prepended as `<prefix>_` to every metric name (on top of the registry's prefix).
   *
   * @default {undefined}
   */
  prefix?: string;
  /**
   * How often, in milliseconds, the event-loop lag is measured: more than 0,
   * at most 2147483647 (a timer's longest delay). The timer never keeps the
   * process alive.
   *
   * @default {500}
   */
  eventLoopLagIntervalMs?: number;
}

// Linux reports process times in clock ticks of 1/USER_HZ s, which is 100 on
// every architecture Deno and Bun run on (client_golang assumes the same).
const CLOCK_TICKS_PER_SECOND = 100;
const OPTIONS = ["registry", "prefix", "eventLoopLagIntervalMs"] as const;

/** The options of {@linkcode DefaultMetrics}, checked, with their defaults. */
function checkDefaultMetricsOptions(
  what: string,
  options: DefaultMetricsOptions,
): { prefix: string | undefined; intervalMs: number; registry: Registry } {
  checkOptions(what, options, OPTIONS);
  const prefix = options.prefix ?? undefined;
  if (prefix !== undefined) checkMetricName(prefix, "default metrics prefix");
  return {
    prefix,
    intervalMs: millisecondsOption(
      what,
      "eventLoopLagIntervalMs",
      options.eventLoopLagIntervalMs,
      500,
    ),
    registry: registryOption(what, options.registry),
  };
}

/** One family as the registry reads it; its value is read when the scrape asks. */
class ScrapedMetric implements MetricCollector {
  readonly name: string;
  readonly description: string;
  readonly type: "counter" | "gauge";
  readonly #read: () => Sample[] | undefined;

  constructor(
    name: string,
    description: string,
    type: "counter" | "gauge",
    read: () => Sample[] | undefined,
  ) {
    this.name = name;
    this.description = description;
    this.type = type;
    this.#read = read;
  }

  /** The samples; left out of the scrape when `undefined`. */
  read(): Sample[] | undefined {
    return this.#read();
  }

  collect(): Promise<Sample[]> {
    return Promise.resolve(this.read() ?? []);
  }
}

/** Wraps a single number as the one sample of a family without labels. */
function one(value: number | undefined): Sample[] | undefined {
  return value === undefined ? undefined : [{ suffix: "", labels: {}, value, labelText: "" }];
}

/**
 * The collector {@linkcode collectDefaultMetrics} registers. Every value is
 * read when a scrape asks for it; only the event-loop lag is measured in the
 * background, by an unreferenced timer that `stop()` ends.
 *
 * Families: `process_cpu_seconds_total` (user plus system, as client_golang),
 * `process_cpu_user_seconds_total`, `process_cpu_system_seconds_total`,
 * `process_resident_memory_bytes`, `process_heap_bytes` (the JavaScript
 * heap), `process_start_time_seconds`, and on Linux
 * `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`;
 * then `<runtime>_eventloop_lag_seconds` (the largest lag a timer measured
 * since the previous scrape) and `<runtime>_info{version=...} 1`,
 * `<runtime>` being `deno` or `bun`.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, collectDefaultMetrics, generateMetrics } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * const defaults = collectDefaultMetrics({ registry });
 * console.assert((await generateMetrics(registry)).includes("process_cpu_seconds_total"));
 * defaults.stop();
 * ```
 */
export class DefaultMetrics extends CustomCollector {
  readonly #prefix: string;
  readonly #families: ScrapedMetric[];
  readonly #reader: ProcReader | undefined;
  readonly #registry: Registry;
  #readFailed = false;
  // The latest lag measured, and the largest since the previous scrape.
  #lagLast = 0;
  #lagMax: number | undefined;
  #timer: unknown;
  // Read once per scrape, so that total, user and system CPU agree.
  #cpu: CpuUsage | undefined;
  #memory: MemoryUsage | undefined;

  /**
   * Creates the collector and starts the lag timer; {@linkcode collectDefaultMetrics}
   * also registers it.
   *
   * @param options The registry, name prefix and lag interval.
   * @throws {NameValidationError} When `prefix` is not a valid metric name.
   * @throws {InvalidOptionError} When `options` is not an object (`undefined`
   *   is the defaults) or has an unknown key, `registry` is not a registry,
   *   or `eventLoopLagIntervalMs` is not a number of milliseconds in range.
   */
  constructor(options: DefaultMetricsOptions = {}) {
    super();
    const { prefix, intervalMs, registry } = checkDefaultMetricsOptions("DefaultMetrics", options);
    this.#prefix = prefix === undefined ? "" : prefix + "_";
    this.#registry = registry;
    const linux = isLinux();
    this.#reader = linux ? procReader() : undefined;
    this.#families = this.#define(linux);
    this.#startLagTimer(intervalMs);
  }

  /** The collector's name, made unique per prefix. */
  override get name(): string {
    return "defaultmetrics" + (this.#prefix ? ":" + this.#prefix : "");
  }

  /**
   * The names the families this collector may yield take (see
   * {@linkcode CustomCollector.metricNames}).
   *
   * @returns The names, prefix included.
   */
  override metricNames(): string[] {
    return this.#families.flatMap((family) => familyNames(family.name, family.type));
  }

  /**
   * Reads every value now; families that cannot be read are left out.
   *
   * @returns The families.
   */
  collect(): Iterable<MetricCollector> {
    this.#cpu = cpuUsage();
    this.#memory = memoryUsage();
    const out: MetricCollector[] = [];
    for (const family of this.#families) {
      const samples = family.read();
      if (samples !== undefined) {
        out.push(new ScrapedMetric(family.name, family.description, family.type, () => samples));
      }
    }
    return out;
  }

  /** Stops the event-loop lag timer and unregisters the collector. */
  stop(): void {
    clearTimeout(this.#timer as number);
    this.#timer = undefined;
    this.#registry.unregister(this);
  }

  #define(linux: boolean): ScrapedMetric[] {
    const p = this.#prefix;
    const runtime = runtimeInfo();
    const reader = this.#reader;
    const cannotRead: string[] = [];
    // Tried once now, so that a missing permission costs one warning, not one per scrape.
    // Deno is asked first (it never prompts then), because reading could prompt.
    const needs = (path: string, probe: (reader: ProcReader) => unknown): boolean => {
      if (!linux) return false;
      try {
        if (reader?.mayRead(path)) {
          probe(reader);
          return true;
        }
      } catch {
        // not readable: reported below
      }
      cannotRead.push(path);
      return false;
    };
    const text = (path: string) => (r: ProcReader) => r.readText(path);
    const hasStat = needs("/proc/self/stat", text("/proc/self/stat")) &&
      needs("/proc/stat", text("/proc/stat"));
    const hasFd = needs("/proc/self/fd", (r) => r.readDir("/proc/self/fd"));
    const hasLimits = needs("/proc/self/limits", text("/proc/self/limits"));
    const families: ScrapedMetric[] = [];
    const add = (
      name: string,
      description: string,
      type: "counter" | "gauge",
      read: () => Sample[] | undefined,
    ): void => {
      families.push(new ScrapedMetric(p + name, description, type, read));
    };
    const cpu = (pick: (usage: CpuUsage) => number) => () => {
      const usage = this.#cpu;
      return one(usage === undefined ? undefined : pick(usage) / 1e6);
    };
    add(
      "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.",
      "counter",
      cpu((u) => u.user + u.system),
    );
    add(
      "process_cpu_user_seconds_total",
      "Total user CPU time spent in seconds.",
      "counter",
      cpu((u) => u.user),
    );
    add(
      "process_cpu_system_seconds_total",
      "Total system CPU time spent in seconds.",
      "counter",
      cpu((u) => u.system),
    );
    add(
      "process_resident_memory_bytes",
      "Resident memory size in bytes.",
      "gauge",
      () => one(this.#memory?.rss),
    );
    add(
      "process_heap_bytes",
      "Size of the JavaScript heap in bytes.",
      "gauge",
      () => one(this.#memory?.heapTotal),
    );
    // Without /proc, the runtime's time origin is the start time, within milliseconds.
    const fallbackStart = performance.timeOrigin / 1000;
    add(
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.",
      "gauge",
      () => one(hasStat ? this.#startTime() ?? fallbackStart : fallbackStart),
    );
    if (hasStat) {
      add(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        "gauge",
        () => one(this.#statField(20)),
      );
    }
    if (hasFd) {
      add(
        "process_open_fds",
        "Number of open file descriptors.",
        "gauge",
        () => one(this.#tryRead((r) => r.readDir("/proc/self/fd").length - 1)),
      );
    }
    if (hasLimits) {
      add(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        "gauge",
        () => one(this.#tryRead((r) => maxOpenFiles(r.readText("/proc/self/limits")))),
      );
    }
    add(
      `${runtime.name}_eventloop_lag_seconds`,
      `Largest lag of the ${runtime.name} event loop measured by a timer since the previous scrape, in seconds.`,
      "gauge",
      () => {
        const lag = this.#lagMax ?? this.#lagLast;
        this.#lagMax = undefined;
        return one(lag);
      },
    );
    const infoLabels = runtime.labels;
    add(
      `${runtime.name}_info`,
      `${runtime.name} runtime information.`,
      "gauge",
      () => [{ suffix: "", labels: infoLabels, value: 1 }],
    );
    if (cannotRead.length > 0) {
      getLogger().warn(
        `pytheus: cannot read ${
          cannotRead.join(", ")
        }: the default metrics read from there are left out or estimated (Deno reads /proc only with --allow-all)`,
      );
    }
    return families;
  }

  #tryRead(read: (reader: ProcReader) => number | undefined): number | undefined {
    if (this.#reader === undefined) return undefined;
    try {
      return read(this.#reader);
    } catch (error) {
      if (!this.#readFailed) {
        this.#readFailed = true;
        getLogger().warn("pytheus: reading /proc for the default metrics failed", error);
      }
      return undefined;
    }
  }

  /** A field of `/proc/self/stat`, counted from the state (field 3) as 0. */
  #statField(index: number): number | undefined {
    return this.#tryRead((reader) => {
      const stat = reader.readText("/proc/self/stat");
      // The command name (field 2) may hold spaces and parentheses: skip past its last ")".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const value = Number(fields[index]);
      return Number.isFinite(value) ? value : undefined;
    });
  }

  #startTime(): number | undefined {
    const ticks = this.#statField(19);
    const boot = this.#tryRead((reader) => {
      const match = /^btime (\d+)$/m.exec(reader.readText("/proc/stat"));
      return match ? Number(match[1]) : undefined;
    });
    return ticks === undefined || boot === undefined
      ? undefined
      : boot + ticks / CLOCK_TICKS_PER_SECOND;
  }

  #startLagTimer(intervalMs: number): void {
    const tick = (): void => {
      const expected = performance.now() + intervalMs;
      this.#timer = setTimeout(() => {
        const lag = Math.max(0, performance.now() - expected) / 1000;
        this.#lagLast = lag;
        if (this.#lagMax === undefined || lag > this.#lagMax) this.#lagMax = lag;
        if (this.#timer !== undefined) tick();
      }, intervalMs);
      unrefTimer(this.#timer);
    };
    tick();
  }
}

/** The soft limit of "Max open files" in `/proc/self/limits`. */
function maxOpenFiles(limits: string): number | undefined {
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  if (!match) return undefined;
  return match[1] === "unlimited" ? Infinity : Number(match[1]);
}

/**
 * Registers the process and runtime metrics (CPU time, memory, start time,
 * open and maximum file descriptors on Linux, event-loop lag, runtime
 * version) with a registry. Values are read at scrape time. On Deno, reading
 * `/proc` needs `--allow-all` (Deno 2 refuses `/proc` to `--allow-read`);
 * without it the `/proc` metrics are left out (the start time then comes
 * from `performance.timeOrigin`) and one warning is logged. Registering twice with the same registry and
 * prefix is refused with a warning, and the refused collector is stopped.
 *
 * @param options The registry, name prefix and lag interval.
 * @returns The collector; call `stop()` to end its timer and unregister it.
 * @throws {NameValidationError} When `prefix` is not a valid metric name.
 * @throws {InvalidOptionError} When `options` is not an object (`undefined`
 *   is the defaults) or has an unknown key (prom-client's `labels`,
 *   `gcDurationBuckets`), `registry` is not a registry, or
 *   `eventLoopLagIntervalMs` is not a number of milliseconds in range.
 *
 * @example
 * ```ts
 * import { collectDefaultMetrics, generateMetrics, CollectorRegistry } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * const defaults = collectDefaultMetrics({ registry, prefix: "app" });
 * const text = await generateMetrics(registry);
 * console.assert(text.includes("app_process_resident_memory_bytes"));
 * defaults.stop();
 * ```
 */
export function collectDefaultMetrics(options: DefaultMetricsOptions = {}): DefaultMetrics {
  // Checked here first, so that a mistake names the function called.
  const { registry } = checkDefaultMetricsOptions("collectDefaultMetrics()", options);
  const collector = new DefaultMetrics(options);
  if (!registry.register(collector)) collector.stop();
  return collector;
}
