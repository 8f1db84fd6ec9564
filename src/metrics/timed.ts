/**
 * What gauges, histograms and summaries share: `time()` and `wrap()` measure
 * how long a function (or a `using` block) takes and record it, a gauge by
 * setting its value, a histogram or summary by observing it.
 *
 * @module
 */

import type { LabelValues } from "../vocabulary.ts";
import { Metric } from "./metric.ts";
import { MetricChild } from "./child.ts";
import type { Timer } from "./timer.ts";
import { measure, wrapWith } from "./_timing.ts";

/** The key of a timed child's recording, for its metric's `startTimer()`: no entry point exports it. */
const RECORD: unique symbol = Symbol("record");

/**
 * A child that records durations: the base of gauge, histogram and summary
 * children.
 *
 * @example
 * ```ts
 * import { Histogram } from "@pytheus/pytheus";
 * const h = new Histogram({ name: "job_seconds", description: "Jobs.", requiredLabels: ["queue"], registry: null });
 * await h.labels({ queue: "mail" }).time(async () => {});
 * ```
 */
export abstract class TimedChild<L extends string, C> extends MetricChild<L, C> {
  /**
   * Records a measured duration: a gauge sets it, a histogram or summary observes it.
   *
   * @param seconds The duration.
   */
  protected abstract record(seconds: number): void;

  /**
   * Throws {@linkcode UnobservableMetricError} for a partial child, before a
   * measured function runs.
   */
  protected abstract checkObservable(): void;

  /**
   * Starts a measurement and returns its handle: stop it with `stop()` or `using`.
   *
   * @returns The handle.
   */
  time(): Timer;
  /**
   * Records the seconds `fn` took (thrown or not; an async function until its
   * promise settles), and returns what it returned.
   *
   * @param fn The function to time.
   * @returns What `fn` returns.
   */
  time<T>(fn: () => T): T;
  time<T>(fn?: () => T): T | Timer {
    this.checkObservable();
    return measure((seconds) => this.record(seconds), fn);
  }

  /**
   * Records a duration measured elsewhere (its metric's `startTimer()`).
   *
   * @param seconds The duration.
   * @ignore
   */
  [RECORD](seconds: number): void {
    this.checkObservable();
    this.record(seconds);
  }

  /**
   * Wraps `fn` so that each call records its duration.
   *
   * @param fn The function to time.
   * @returns The wrapped function.
   */
  wrap<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T {
    return wrapWith(fn, (call) => this.time(call));
  }
}

/**
 * A metric whose own child records durations: the base of Gauge, Histogram
 * and Summary.
 *
 * @example
 * ```ts
 * import { Gauge } from "@pytheus/pytheus";
 * const g = new Gauge({ name: "last_job_seconds", description: "Last job.", registry: null });
 * const job = g.wrap(() => 42);
 * job();
 * ```
 */
export abstract class TimedMetric<L extends string, C extends TimedChild<L, C>>
  extends Metric<L, C> {
  /**
   * Starts a measurement and returns its handle: stop it with `stop()` or `using`.
   *
   * @returns The handle.
   */
  time(): Timer;
  /**
   * Records the seconds `fn` took (thrown or not; an async function until its
   * promise settles), and returns what it returned.
   *
   * @param fn The function to time.
   * @returns What `fn` returns.
   */
  time<T>(fn: () => T): T;
  time<T>(fn?: () => T): T | Timer {
    return fn === undefined ? this.own.time() : this.own.time(fn);
  }

  /**
   * Wraps `fn` so that each call records its duration.
   *
   * @param fn The function to time.
   * @returns The wrapped function.
   */
  wrap<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T {
    // The series is looked up at each call: clear() may have replaced it.
    return wrapWith(fn, (call) => this.time(call));
  }

  /**
   * Starts a measurement whose labels may come at its end, as prom-client's
   * `startTimer()` does: the function it returns records the seconds since
   * on the series of the labels given to it, over those given here, and
   * returns them. It records once; later calls return `NaN`.
   *
   * @param labels Labels known at the start.
   * @returns What ends the measurement.
   *
   * @example
   * ```ts
   * import { Histogram } from "@pytheus/pytheus";
   * const h = new Histogram({
   *   name: "http_seconds",
   *   description: "Requests.",
   *   requiredLabels: ["route", "code"] as const,
   *   registry: null,
   * });
   * const end = h.startTimer({ route: "/" });
   * const seconds = end({ code: "200" });
   * console.assert(seconds >= 0);
   * ```
   */
  startTimer(labels?: LabelValues<L>): (labels?: LabelValues<L>) => number {
    // Resolved now: labels that are not a record of label values are refused here, as labels() refuses them.
    const given = labels === undefined ? undefined : this.labels(labels);
    const start = performance.now();
    let ended = false;
    return (more) => {
      if (ended) return NaN;
      ended = true;
      const seconds = (performance.now() - start) / 1000;
      const child = more === undefined ? given ?? this.own : (given ?? this).labels(more);
      child[RECORD](seconds);
      return seconds;
    };
  }
}
