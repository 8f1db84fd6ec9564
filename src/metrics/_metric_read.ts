/**
 * A metric's scrape, both halves: reading every child's values (and making
 * the children of the series only other processes made, which the store's
 * read reports), then writing them into a sink.
 */

import type { SampleSink } from "../vocabulary.ts";
import { isStoreReadingOfMetric } from "../backends/_store_views.ts";
import type { StoredValue, StoreReading } from "../backends/store.ts";
import { parseKey, seriesOfKey } from "../backends/_series_key.ts";
import { InvalidSampleError, LabelValidationError } from "../errors.ts";
import { inSlices, type Slices } from "../_slices.ts";
import { storedHits } from "./_child.ts";
import type { MetricChild } from "./child.ts";
import { isPromiseLike, thenOrNow } from "./_timing.ts";
import { describeValue } from "../_validation.ts";
import type { ValueFunctions } from "./_value_function.ts";

/** What reading a metric reaches of it (the metric makes one, over its private parts). */
export interface MetricAccess<C> {
  /** The metric's id in its store (see `StoredSeries.metric`). */
  readonly id: string;
  /** The metric name. */
  readonly name: string;
  /** The label names. */
  readonly requiredLabels: readonly string[];
  /** Every complete child, in slices when given a budget. */
  children(slices: Slices | undefined): C[] | Promise<C[]>;
  /** A child's key in the store. */
  keyOf(child: C): string;
  /** The key a label set would have, spelt as this library spells it. */
  keyOfLabels(labels: Readonly<Record<string, string>>): string;
  /** Whether `maxSeries` leaves room for one more series. */
  hasRoom(): boolean;
  /** Counts a series refused for `maxSeries`. */
  refuse(): void;
  /**
   * Makes (or finds) the child of a complete label set, whose key is `key`
   * (the reading's string, kept: lookups find it at once, and no copy is
   * made); throws `LabelValidationError` for a bad one.
   */
  make(labels: Readonly<Record<string, string>>, key: string): C;
  /** Warns, once, that a store holds a series that does not fit the metric. */
  warnUnfit(key: string, error?: Error): void;
  /** The functions its series are read by, when any has one. */
  functions(): ValueFunctions<C> | undefined;
}

/** What `readMetric()` read: the children, and each one's values. */
export interface Readings<C> {
  readonly children: readonly C[];
  readonly values: readonly unknown[];
  /**
   * Why the metric cannot be written: its store read something else than a
   * Map for it, or a function of one of its series failed.
   */
  readonly invalid?: InvalidSampleError;
}

/**
 * The first half of a scrape of a metric: reads the values of every complete child,
 * every cell before any is awaited. Given what the metric's store read
 * (`Store.read`), it first makes the children of the series only other
 * processes made, and uses the numbers read.
 */
export function readMetric<C extends MetricChild<string, C>>(
  metric: MetricAccess<C>,
  reading: StoreReading | undefined,
  slices: Slices | undefined,
  removed: ReadonlySet<string> | undefined,
): Readings<C> | Promise<Readings<C>> {
  const stored = reading?.get(metric.id);
  if (stored !== undefined && !isStoreReadingOfMetric(stored)) {
    // Thrown when written: the scrape leaves this metric out, not the others.
    const invalid = new InvalidSampleError(
      `the store of "${metric.name}" read ${describeValue(stored)} for it, not a Map`,
    );
    return { children: [], values: [], invalid } satisfies Readings<C>;
  }
  const values: unknown[] = [];
  let pending = false;
  let hits = 0;
  // A series read by a function reports what it gives, not its stored number.
  const functions = metric.functions();
  let failed: InvalidSampleError | undefined;
  const fail = (error: InvalidSampleError): void => void (failed ??= error);
  const read = (child: C): void => {
    let value: unknown;
    const fn = functions?.get(child);
    if (fn !== undefined) value = functions!.call(fn, fail);
    else if (stored === undefined) value = child.read();
    else {
      storedHits();
      value = child.read(stored, metric.keyOf(child));
      hits += storedHits();
    }
    if (typeof value === "object" && isPromiseLike(value)) pending = true;
    values.push(value);
  };
  const readAll = (list: readonly C[], from: number, to: number): void => {
    for (let i = from; i < to; i++) read(list[i]!);
  };
  const readings = (children: C[], values: readonly unknown[]): Readings<C> =>
    failed === undefined ? { children, values } : { children, values, invalid: failed };
  const settle = (children: C[]): Readings<C> | Promise<Readings<C>> =>
    pending
      ? Promise.all(values).then((settled) => readings(children, settled))
      : readings(children, values);
  return thenOrNow(
    metric.children(slices),
    (children) =>
      thenOrNow(
        inSlices(children.length, (from, to) => readAll(children, from, to), slices),
        () => {
          // Numbers read that no child took: series other processes made, read after the others.
          if (stored === undefined || hits >= stored.size) return settle(children);
          return thenOrNow(adopt(metric, stored, children, slices, removed), (made) =>
            thenOrNow(
              inSlices(made.length, (from, to) => readAll(made, from, to), slices),
              () => {
                // One by one: spread, 200k series would overflow the stack.
                for (const child of made) children.push(child);
                return settle(children);
              },
            ));
        },
      ),
  );
}

/**
 * The second half of a scrape: writes the samples of what `readMetric()` read,
 * child by child, in slices when given a budget (a promise then, when the
 * event loop ran).
 */
export function writeReadings<C extends MetricChild<string, C>>(
  readings: Readings<C>,
  sink: SampleSink,
  slices: Slices | undefined,
): Promise<void> | undefined {
  const { children, values, invalid } = readings;
  if (invalid !== undefined) throw invalid;
  return inSlices(children.length, (from, to) => {
    for (let i = from; i < to; i++) children[i]!.write(values[i], sink);
  }, slices);
}

/**
 * Makes the children of the series a store read that this process has
 * none of (another process made them).
 *
 * @param stored The numbers read, by key.
 * @param children The children this process has.
 * @param slices The scrape's budget.
 * @param removed The series removed since the read of the store began.
 * @returns The children it made.
 */
function adopt<C extends MetricChild<string, C>>(
  metric: MetricAccess<C>,
  stored: ReadonlyMap<string, StoredValue>,
  children: readonly C[],
  slices: Slices | undefined,
  removed: ReadonlySet<string> | undefined,
): C[] | Promise<C[]> {
  const made: C[] = [];
  if (metric.requiredLabels.length === 0 || removed?.has("")) return made;
  // A series removed while the store was read is in the reading still: not made again.
  const known = new Set<string>(removed);
  const keys = stored.keys();
  let full = false;
  const adopt = (): void => {
    const key: unknown = keys.next().value;
    if (typeof key !== "string") return metric.warnUnfit(describeValue(key));
    const series = seriesOfKey(key);
    if (full || known.has(series)) return;
    known.add(series);
    const labels = parseKey(key)?.labels;
    if (labels === undefined || Object.keys(labels).length !== metric.requiredLabels.length) {
      return metric.warnUnfit(key);
    }
    // A key not spelled as this library spells it (spaces, names out of
    // order) names a series whose numbers no cell of it would find.
    if (metric.keyOfLabels(labels) !== series) {
      return metric.warnUnfit(key);
    }
    if (!metric.hasRoom()) {
      // Counted once per scrape that finds series it has no room for.
      metric.refuse();
      full = true;
      return;
    }
    try {
      made.push(metric.make(labels, series));
    } catch (error) {
      if (!(error instanceof LabelValidationError)) throw error;
      metric.warnUnfit(key, error);
    }
  };
  const listed = inSlices(children.length, (from, to) => {
    for (let i = from; i < to; i++) known.add(metric.keyOf(children[i]!));
  }, slices);
  const adoptAll = (from: number, to: number): void => {
    for (let i = from; i < to; i++) adopt();
  };
  return thenOrNow(listed, () => thenOrNow(inSlices(stored.size, adoptAll, slices), () => made));
}
