/**
 * Gauge: a value that goes up and down (queue length, temperature,
 * requests in progress).
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { MetricOptions } from "./metric_options.ts";
import type { ChildParent, SeriesRow } from "./child.ts";
import type { BackendFactory } from "../backends/backend.ts";
import type { SampleSink } from "../vocabulary.ts";
import { assertObservable, readStored, unobservable, writeSingle } from "./_child.ts";
import { IN_MEMORY } from "../backends/_in_memory.ts";
import type { StoredValue } from "../backends/store.ts";
import type { Timer } from "./timer.ts";
import { TimedChild, TimedMetric } from "./timed.ts";
import { metricOptions } from "./metric_options.ts";
import { measure } from "./_timing.ts";
import { numeric } from "../_validation.ts";
import type { ValueFunction } from "./_value_function.ts";

/** Options of {@linkcode Gauge}. */
export interface GaugeOptions<L extends string> extends MetricOptions<L> {}

/**
 * One label set of a {@linkcode Gauge}.
 *
 * @example
 * ```ts
 * import { Gauge } from "@pytheus/pytheus";
 * const g = new Gauge({ name: "queue_length", description: "Jobs waiting.", requiredLabels: ["queue"], registry: null });
 * g.labels({ queue: "mail" }).set(3);
 * ```
 */
export abstract class GaugeChild<L extends string> extends TimedChild<L, GaugeChild<L>> {
  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The gauge.
   * @param row The child's row in the metric's series table (its label
   * values while partial, or for the child a metric past `maxSeries` gives).
   * @ignore
   */
  constructor(parent: ChildParent<L, GaugeChild<L>>, row: SeriesRow) {
    super(parent, row);
  }

  /**
   * Adds `value` (default 1).
   *
   * @param value The amount.
   * @throws {InvalidValueError} When `value` is not a number.
   */
  abstract inc(value?: number): void;

  /**
   * Subtracts `value` (default 1).
   *
   * @param value The amount.
   * @throws {InvalidValueError} When `value` is not a number.
   */
  abstract dec(value?: number): void;

  /**
   * Sets the value.
   *
   * @param value The new value.
   * @throws {InvalidValueError} When `value` is not a number.
   */
  abstract set(value: number): void;

  /** Sets the value to the current Unix time in seconds. */
  setToCurrentTime(): void {
    this.set(Date.now() / 1000);
  }

  /**
   * Has the series read by `fn` at each scrape (client_python's
   * `set_function`): what it returns, or resolves to within 5 seconds, is
   * the value; `null` goes back to the value set. Read in the process that
   * answers the scrape, never stored in a shared backend. A function that
   * throws, gives something else than a number, or is late fails the
   * gauge's family for that scrape (logged once while it goes on).
   *
   * @param fn The function, sync or async, or `null`.
   * @throws {InvalidValueError} When `fn` is neither a function nor `null`.
   * @throws {UnobservableMetricError} On a partial child.
   */
  setFunction(fn: ValueFunction | null): void {
    this.checkObservable();
    this.readBy(fn);
  }

  /**
   * Starts a measurement and returns its handle: stop it with `stop()` or `using`.
   *
   * @returns The handle.
   */
  trackInprogress(): Timer;
  /**
   * Adds one while `fn` runs (until its promise settles); without `fn`,
   * adds one now and returns a {@linkcode Timer} whose `stop()` (or `using`) subtracts it.
   *
   * @param fn The function to run now.
   * @returns What `fn` returns.
   */
  trackInprogress<T>(fn: () => T): T;
  trackInprogress<T>(fn?: () => T): T | Timer {
    this.inc();
    return measure(() => this.dec(), fn);
  }

  /**
   * Records a measured duration: the gauge is set to it.
   *
   * @param seconds The duration.
   */
  protected record(seconds: number): void {
    this.set(seconds);
  }

  /** Throws for a partial child, before a timed function runs; a complete one does nothing. */
  protected checkObservable(): void {}

  /**
   * Writes the sample of the value read.
   *
   * @param value What `read()` returned (awaited).
   * @param sink Where the sample goes.
   * @ignore
   */
  write(value: StoredValue, sink: SampleSink): void {
    writeSingle(this, value, sink, false);
  }

  /** Sets the series' value to zero. */
  protected zero(): void {
    this.set(0);
  }

  /** Tells the backend to forget the series; an in-memory value has none. */
  release(): void {}
}

/** A gauge's child that keeps its value in a field of its own (the in-memory store). */
class MemoryGaugeChild<L extends string> extends GaugeChild<L> {
  #value = 0;

  inc(value?: number): void {
    // No value is 1, and needs no check: the common call stays a bare `+= 1`.
    this.#value += value === undefined ? 1 : numeric(value, this, "inc");
  }

  dec(value?: number): void {
    this.#value -= value === undefined ? 1 : numeric(value, this, "dec");
  }

  set(value: number): void {
    this.#value = numeric(value, this, "set");
  }

  read(): StoredValue {
    return this.#value;
  }
}

/**
 * A gauge's child whose value a store's cell keeps (shared with other
 * processes), or a partial child, whose cell refuses every call.
 */
class BackedGaugeChild<L extends string> extends GaugeChild<L> {
  readonly #backend: Backend;

  constructor(
    parent: ChildParent<L, GaugeChild<L>>,
    row: SeriesRow,
    backendOf: BackendFactory | undefined,
  ) {
    super(parent, row);
    this.#backend = backendOf ? backendOf(this) : unobservable(parent, this);
  }

  inc(value?: number): void {
    this.#backend.inc(value === undefined ? 1 : numeric(value, this, "inc"));
  }

  dec(value?: number): void {
    this.#backend.dec(value === undefined ? 1 : numeric(value, this, "dec"));
  }

  set(value: number): void {
    this.#backend.set(numeric(value, this, "set"));
  }

  protected override checkObservable(): void {
    assertObservable(this.#backend);
  }

  read(
    stored?: ReadonlyMap<string, StoredValue>,
    key?: string,
  ): StoredValue | Promise<number> {
    return readStored(this.#backend, stored, key, "");
  }

  override release(): void {
    this.#backend.remove?.();
  }
}

/**
 * A gauge. Observe it directly when it has no labels (or only defaulted
 * ones), else through `labels()`.
 *
 * @example
 * ```ts
 * import { Gauge } from "@pytheus/pytheus";
 * const inFlight = new Gauge({ name: "jobs_in_progress", description: "Jobs running.", registry: null });
 * await inFlight.trackInprogress(async () => {
 *   // ... work ...
 * });
 * inFlight.set(0);
 * ```
 */
export class Gauge<const L extends string = never> extends TimedMetric<L, GaugeChild<L>> {
  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The gauge's name, description, labels and registry.
   */
  constructor(options: GaugeOptions<L>) {
    super(
      metricOptions("Gauge", options),
      "gauge",
      [],
      (parent, row, backendOf) =>
        backendOf === IN_MEMORY
          ? new MemoryGaugeChild(parent, row)
          : new BackedGaugeChild(parent, row, backendOf),
    );
  }

  /**
   * Adds `value` (default 1).
   *
   * @param value The amount.
   * @throws {InvalidValueError} When `value` is not a number.
   */
  inc(value?: number): void {
    this.own.inc(value);
  }

  /**
   * Subtracts `value` (default 1).
   *
   * @param value The amount.
   * @throws {InvalidValueError} When `value` is not a number.
   */
  dec(value?: number): void {
    this.own.dec(value);
  }

  /**
   * Sets the value.
   *
   * @param value The new value.
   * @throws {InvalidValueError} When `value` is not a number.
   */
  set(value: number): void {
    this.own.set(value);
  }

  /** Sets the value to the current Unix time in seconds. */
  setToCurrentTime(): void {
    this.own.setToCurrentTime();
  }

  /**
   * Has the gauge read by `fn` at each scrape (see `GaugeChild.setFunction`).
   *
   * @param fn The function, sync or async, or `null` to go back to the value set.
   *
   * @example A value a function reads when Prometheus scrapes
   * ```ts
   * import { CollectorRegistry, Gauge, generateMetrics } from "@pytheus/pytheus";
   * const registry = new CollectorRegistry();
   * const queue: string[] = ["a", "b"];
   * new Gauge({ name: "queue_length", description: "Jobs waiting.", registry })
   *   .setFunction(() => queue.length);
   * console.assert((await generateMetrics(registry)).includes("queue_length 2"));
   * ```
   */
  setFunction(fn: ValueFunction | null): void {
    this.own.setFunction(fn);
  }

  /**
   * Starts a measurement and returns its handle: stop it with `stop()` or `using`.
   *
   * @returns The handle.
   */
  trackInprogress(): Timer;
  /**
   * Adds one while `fn` runs; without `fn`, returns a handle that subtracts it when stopped.
   *
   * @param fn The function to run now.
   * @returns What `fn` returns.
   */
  trackInprogress<T>(fn: () => T): T;
  trackInprogress<T>(fn?: () => T): T | Timer {
    return fn === undefined ? this.own.trackInprogress() : this.own.trackInprogress(fn);
  }
}
