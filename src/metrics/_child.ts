/**
 * What the metric types' children share: the partial child's backend, and
 * reading and writing one sample.
 */

import type { Backend, BackendMetric, LabelledValue } from "../backends/backend.ts";
import type { StoredValue } from "../backends/store.ts";
import { sampleKey } from "../backends/_series_key.ts";
import { InvalidSampleError, UnobservableMetricError } from "../errors.ts";
import type { RecordedExemplar, SampleSink } from "../vocabulary.ts";
import type { ChildParent, MetricChild } from "./child.ts";
import { describeValue, own } from "../_validation.ts";

/**
 * The backend of a partial child: every call throws
 * {@linkcode UnobservableMetricError} naming the labels still missing.
 *
 * @param parent What the child reaches of its metric.
 * @param child The partial child.
 * @returns A backend that refuses every call.
 */
export function unobservable<L extends string, C>(
  parent: ChildParent<L, C>,
  child: BackendMetric,
): Backend {
  return new Unobservable(parent, child);
}

/** What backs a partial child: a backend whose every call throws. */
class Unobservable implements Backend {
  readonly #parent: ChildParent<string, unknown>;
  readonly #child: BackendMetric;

  constructor(parent: ChildParent<string, unknown>, child: BackendMetric) {
    this.#parent = parent;
    this.#child = child;
  }

  inc(): never {
    return this.#fail();
  }

  dec(): never {
    return this.#fail();
  }

  set(): never {
    return this.#fail();
  }

  get(): never {
    return this.#fail();
  }

  #fail(): never {
    const child = this.#child;
    const defaults = this.#parent.defaultLabels as Record<string, string | undefined>;
    const missing = this.#parent.requiredLabels.filter((n) =>
      own(child.labelValues, n) === undefined && own(defaults, n) === undefined
    );
    throw new UnobservableMetricError(
      `Cannot observe "${child.name}": label${missing.length > 1 ? "s" : ""} ${
        missing.map((n) => `"${n}"`).join(", ")
      } ha${missing.length > 1 ? "ve" : "s"} no value`,
    );
  }
}

/**
 * Throws {@linkcode UnobservableMetricError} when `backend` is a partial
 * child's: `countExceptions()` and `time()` call it before running the
 * function, so the mistake is reported before the work, and never in place
 * of the function's own error.
 *
 * @param backend The child's backend.
 */
export function assertObservable(backend: Backend): void {
  if (backend instanceof Unobservable) backend.get();
}

/**
 * Reads one number of a series: as its store's read found it, else from its cell.
 *
 * @param cell The number's cell.
 * @param stored What the store's read found of the metric, by key (when it reads).
 * @param key The series' key.
 * @param sample Which number of the series (see `StoredSeries.sample`).
 * @returns The value (asynchronously when the cell reads remotely), or the
 * values a store split by extra labels.
 */
export function readStored(
  cell: Backend,
  stored: ReadonlyMap<string, StoredValue> | undefined,
  key: string | undefined,
  sample: string,
): StoredValue | Promise<number> {
  return storedEntry(stored, key, sample) ?? cell.get();
}

/**
 * What a store's read found of one number of a series, counted as found
 * (see {@linkcode storedHits}).
 *
 * @param stored What the store's read found of the metric, by key (when it reads).
 * @param key The series' key.
 * @param sample Which number of the series (see `StoredSeries.sample`).
 * @returns What was found, or `undefined`.
 */
export function storedEntry(
  stored: ReadonlyMap<string, StoredValue> | undefined,
  key: string | undefined,
  sample: string,
): StoredValue | undefined {
  if (stored === undefined || key === undefined) return undefined;
  const found = stored.get(sampleKey(key, sample));
  if (found !== undefined) hits++;
  return found;
}

let hits = 0;

/**
 * How many numbers {@linkcode readStored} found in a reading since the last
 * call: a metric whose children took fewer than the reading holds has
 * series to make (other processes made them).
 *
 * @returns The count, which starts again from 0.
 */
export function storedHits(): number {
  const count = hits;
  hits = 0;
  return count;
}

/**
 * Writes the sample of a counter or gauge child: one, or one per entry the
 * backend split it into.
 *
 * @param child The child.
 * @param value What {@linkcode readStored} read (awaited).
 * @param sink Where the samples go.
 * @param created Whether the sample carries `_created` (a counter's does).
 * @param exemplar A counter's latest exemplar.
 */
export function writeSingle<L extends string, C>(
  child: MetricChild<L, C>,
  value: StoredValue,
  sink: SampleSink,
  created: boolean,
  exemplar?: RecordedExemplar,
): void {
  if (typeof value === "number") {
    if (created) sink.addCreated(child, "", value, exemplar);
    else sink.add(child, "", value);
    return;
  }
  if (!Array.isArray(value)) throw notAValue(child, value);
  for (const entry of value as unknown[]) {
    if (entry === null || typeof entry !== "object") throw notAValue(child, entry);
    const { labels: extra, value: v } = entry as LabelledValue;
    if (extra === null || typeof extra !== "object") throw notAValue(child, entry);
    // A sample given whole: the sink checks its labels and value as it writes them.
    sink.addSample({ suffix: "", labels: { ...child.labelValues, ...extra }, value: v });
  }
}

/**
 * The error of a backend that read something else than a number (or, from
 * a store's read, a list of labelled numbers): the scrape leaves the metric out.
 *
 * @param child The series read.
 * @param value What its backend gave.
 * @returns The error.
 */
export function notAValue<L extends string, C>(
  child: MetricChild<L, C>,
  value: unknown,
): InvalidSampleError {
  return new InvalidSampleError(
    `the backend of "${child.name}" read ${describeValue(value)}, not a number`,
  );
}

/**
 * The values a child read from its backends, awaited together when any is a
 * promise. (A number is never one: no `.then` lookup on it, slow on JavaScriptCore.)
 *
 * @param values The values, some maybe promises.
 * @returns The values, as a promise when one was.
 */
export function settled(
  values: (StoredValue | Promise<number>)[],
): number[] | Promise<number[]> {
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] !== "number") return Promise.all(values) as Promise<number[]>;
  }
  // A list a store gave for a bucket passes as it is: write refuses it.
  return values as number[];
}
