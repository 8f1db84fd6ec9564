/**
 * Counter: a value that only goes up (requests served, errors seen).
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { Metric } from "./metric.ts";
import type { MetricOptions } from "./metric_options.ts";
import { metricOptions } from "./metric_options.ts";
import { type ChildParent, MetricChild, type SeriesRow } from "./child.ts";
import type { BackendFactory } from "../backends/backend.ts";
import type { Exemplar, SampleSink } from "../vocabulary.ts";
import { assertObservable, readStored, unobservable, writeSingle } from "./_child.ts";
import { IN_MEMORY } from "../backends/_in_memory.ts";
import type { StoredValue } from "../backends/store.ts";
import { runAndThen, wrapWith } from "./_timing.ts";
import { increment } from "../_validation.ts";
import type { ValueFunction } from "./_value_function.ts";

/** Options of {@linkcode Counter}. */
export interface CounterOptions<L extends string> extends MetricOptions<L> {}

/** Error classes `countExceptions` counts; all errors when omitted. */
export type ErrorTypes = readonly (abstract new (...args: never[]) => unknown)[];

/**
 * One label set of a {@linkcode Counter}.
 *
 * @example
 * ```ts
 * import { Counter } from "@pytheus/pytheus";
 * const c = new Counter({ name: "sent_total", description: "Sent.", requiredLabels: ["to"], registry: null });
 * const child = c.labels({ to: "a@example.com" });
 * child.inc();
 * ```
 */
export abstract class CounterChild<L extends string> extends MetricChild<L, CounterChild<L>> {
  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The counter.
   * @param row The child's row in the metric's series table (its label
   * values while partial, or for the child a metric past `maxSeries` gives).
   * @ignore
   */
  constructor(parent: ChildParent<L, CounterChild<L>>, row: SeriesRow) {
    super(parent, row);
  }

  /**
   * Adds `value` (default 1), optionally with an exemplar (shown in
   * OpenMetrics output until the next one replaces it).
   *
   * @param value A finite number, 0 or more.
   * @param exemplar Labels linking this increment to a trace, such as
   * `{ trace_id: "abc" }`. One that breaks the rules (a value not a string,
   * more than 128 characters) is dropped and counted in
   * `pytheus_exemplars_dropped_total`; the increment is counted all the same.
   * @throws {InvalidValueError} When `value` is not a number, or is
   * negative, NaN or infinite.
   */
  abstract inc(value?: number, exemplar?: Exemplar | null): void;

  /**
   * Keeps the exemplar of an increment just counted, unless it breaks the
   * rules: in this process only, whatever the backend.
   *
   * @param exemplar The exemplar's labels.
   * @param value The increment.
   */
  protected keepExemplar(exemplar: Exemplar, value: number): void {
    const recorded = this.recordExemplar(exemplar, value);
    if (recorded !== undefined) this.exemplar = recorded;
  }

  /**
   * Runs `fn` now and counts one if it throws (or its promise rejects) an
   * error of one of `errorTypes` (any error when omitted); the error is rethrown.
   *
   * @param fn The function to run.
   * @param errorTypes The error classes to count.
   * @returns What `fn` returns.
   */
  countExceptions<T>(fn: () => T, errorTypes?: ErrorTypes): T {
    this.checkObservable();
    return runAndThen(fn, (threw, error) => {
      if (threw && matches(error, errorTypes)) this.inc();
    });
  }

  /**
   * Wraps `fn` so that every call counts its errors as {@linkcode countExceptions} does.
   *
   * @param fn The function to wrap.
   * @param errorTypes The error classes to count.
   * @returns The wrapped function.
   */
  wrap<A extends unknown[], T>(fn: (...args: A) => T, errorTypes?: ErrorTypes): (...args: A) => T {
    return wrapWith(fn, (call) => this.countExceptions(call, errorTypes));
  }

  /** Throws for a partial child, before a function runs; a complete one does nothing. */
  protected checkObservable(): void {}

  /**
   * Has the series read by `fn` at each scrape (a total kept elsewhere,
   * such as a library's own count): what it returns, or resolves to within 5
   * seconds, is the value; `null` goes back to the counted one. Read in the
   * process that answers the scrape, never stored in a shared backend. A
   * function that throws, is late, or gives something else than a finite
   * number of at least 0 fails the counter's family for that scrape (logged
   * once while it goes on).
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
   * Writes the sample of the value read.
   *
   * @param value What `read()` returned (awaited).
   * @param sink Where the sample goes.
   * @ignore
   */
  write(value: StoredValue, sink: SampleSink): void {
    writeSingle(this, value, sink, true, this.exemplar);
  }

  /** Tells the backend to forget the series; an in-memory value has none. */
  release(): void {}
}

/** A counter's child that keeps its value in a field of its own (the in-memory store). */
class MemoryCounterChild<L extends string> extends CounterChild<L> {
  #value = 0;

  inc(value?: number, exemplar?: Exemplar | null): void {
    // No value is 1, and needs no check: the common call stays a bare `+= 1`.
    this.#value += value === undefined ? 1 : increment(value, this);
    if (exemplar != null) this.keepExemplar(exemplar, value ?? 1);
  }

  read(): StoredValue {
    return this.#value;
  }

  protected zero(): void {
    this.#value = 0;
    this.exemplar = undefined;
  }
}

/**
 * A counter's child whose value a store's cell keeps (shared with other
 * processes), or a partial child, whose cell refuses every call.
 */
class BackedCounterChild<L extends string> extends CounterChild<L> {
  readonly #backend: Backend;

  constructor(
    parent: ChildParent<L, CounterChild<L>>,
    row: SeriesRow,
    backendOf: BackendFactory | undefined,
  ) {
    super(parent, row);
    this.#backend = backendOf ? backendOf(this) : unobservable(parent, this);
  }

  inc(value?: number, exemplar?: Exemplar | null): void {
    this.#backend.inc(value === undefined ? 1 : increment(value, this));
    if (exemplar != null) this.keepExemplar(exemplar, value ?? 1);
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

  protected zero(): void {
    this.#backend.set(0);
    this.exemplar = undefined;
  }

  override release(): void {
    this.#backend.remove?.();
  }
}

/**
 * A counter. Observe it directly when it has no labels (or only defaulted
 * ones), else through `labels()`.
 *
 * @example
 * ```ts
 * import { Counter } from "@pytheus/pytheus";
 * const requests = new Counter({
 *   name: "http_requests_total",
 *   description: "HTTP requests served.",
 *   requiredLabels: ["method", "code"] as const,
 *   defaultLabels: { method: "GET" },
 *   registry: null,
 * });
 * requests.labels({ code: "200" }).inc();
 * requests.labels({ method: "POST", code: "201" }).inc(2);
 * ```
 */
export class Counter<const L extends string = never> extends Metric<L, CounterChild<L>> {
  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The counter's name, description, labels and registry.
   */
  constructor(options: CounterOptions<L>) {
    super(
      metricOptions("Counter", options),
      "counter",
      [],
      (parent, row, backendOf) =>
        backendOf === IN_MEMORY
          ? new MemoryCounterChild(parent, row)
          : new BackedCounterChild(parent, row, backendOf),
    );
  }

  /**
   * Adds `value` (default 1) to the counter's own series, optionally with
   * an exemplar (shown in OpenMetrics output).
   *
   * @param value A finite number, 0 or more.
   * @param exemplar Labels linking this increment to a trace, such as
   * `{ trace_id: "abc" }` (dropped and counted when it breaks the rules).
   * @throws {InvalidValueError} When `value` is not a number, or is
   * negative, NaN or infinite.
   * @throws {UnobservableMetricError} When a required label has no default.
   */
  inc(value?: number, exemplar?: Exemplar | null): void {
    this.own.inc(value, exemplar);
  }

  /**
   * Runs `fn` now, counting its errors of `errorTypes` (all when omitted); rethrows.
   *
   * @param fn The function to run.
   * @param errorTypes The error classes to count.
   * @returns What `fn` returns.
   */
  countExceptions<T>(fn: () => T, errorTypes?: ErrorTypes): T {
    return this.own.countExceptions(fn, errorTypes);
  }

  /**
   * Wraps `fn` so that each call counts its errors of `errorTypes`.
   *
   * @param fn The function to wrap.
   * @param errorTypes The error classes to count.
   * @returns The wrapped function.
   */
  wrap<A extends unknown[], T>(fn: (...args: A) => T, errorTypes?: ErrorTypes): (...args: A) => T {
    // The series is looked up at each call: clear() may have replaced it.
    return wrapWith(fn, (call) => this.countExceptions(call, errorTypes));
  }

  /**
   * Has the counter read by `fn` at each scrape (see `CounterChild.setFunction`).
   *
   * @param fn The function, sync or async, or `null` to go back to the counted value.
   *
   * @example A total another library keeps, read when Prometheus scrapes
   * ```ts
   * import { CollectorRegistry, Counter, generateMetrics } from "@pytheus/pytheus";
   * const registry = new CollectorRegistry();
   * const pool = { evictions: 12 };
   * new Counter({ name: "pool_evictions_total", description: "Evictions.", registry })
   *   .setFunction(() => pool.evictions);
   * console.assert((await generateMetrics(registry)).includes("pool_evictions_total 12"));
   * ```
   */
  setFunction(fn: ValueFunction | null): void {
    this.own.setFunction(fn);
  }
}

function matches(error: unknown, types: ErrorTypes | undefined): boolean {
  return types === undefined || types.some((type) => error instanceof type);
}
