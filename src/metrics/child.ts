/**
 * A metric's child: one label set, complete (a series) or partial, and what
 * it needs of its metric.
 *
 * @module
 */

import type {
  Exemplar,
  LabelValues,
  MetricType,
  RecordedExemplar,
  Sample,
  SampleSink,
} from "../vocabulary.ts";
import type { BackendFactory, BackendMetric } from "../backends/backend.ts";
import type { StoredValue } from "../backends/store.ts";
import { renderLabels } from "../exposition/_format.ts";
import { SampleList } from "../registry/_sample_list.ts";
import { exemplarOf } from "./_exemplar.ts";
import type { SeriesTable } from "./_series_table.ts";
import { isPromiseLike } from "./_timing.ts";
import { checkLabelRecord, describeValue, type NameValidation } from "../_validation.ts";
import { InvalidValueError } from "../errors.ts";
import type { ValueFunction } from "./_value_function.ts";
import type { NativeCells } from "./_cells.ts";

/**
 * Where a child's labels are: its row in its metric's series table, or, for
 * a child outside the table (partial, or refused by `maxSeries`), its label
 * values. Metrics pass it to the children they create; applications never
 * need it.
 */
export type SeriesRow = number | Readonly<Record<string, string>>;

/** What a child outside the table keeps itself (partial, refused, or removed). */
export interface Outside {
  readonly labels: Readonly<Record<string, string>>;
  createdMs: number;
  exemplar: RecordedExemplar | undefined;
}

/**
 * The keys of what a metric reaches of its children (the row, and letting go
 * of it): no entry point exports them, so no caller names them by mistake.
 */
export const ROW: unique symbol = Symbol("row");
/** See {@linkcode ROW}. */
export const DETACH: unique symbol = Symbol("detach");

/** What a child needs of the metric it belongs to. */
export interface ChildParent<L extends string, C> {
  /** The metric name. */
  readonly name: string;
  /** The prefix of the registry the metric was created in (`""` for none). */
  readonly registryPrefix: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The label names. */
  readonly requiredLabels: readonly L[];
  /** Which names its registry takes (an info's facts are label names too). */
  readonly nameValidation: NameValidation;
  /** The default label values. */
  readonly defaultLabels: LabelValues<L>;
  /** The label values, creation times and exemplars of the metric's series, by row. */
  readonly series: SeriesTable;
  /** Resolves a label set to a child. */
  labels(values: LabelValues<L>): C;
  /** Has a child read by a function at scrape time (`null`: by its stored value again). */
  readBy(child: C, fn: ValueFunction | null): void;
  /**
   * Reads what the metric's store holds of it, when the store reads at
   * scrape time: by key, every number of every series.
   */
  readStore(): Promise<ReadonlyMap<string, StoredValue> | undefined> | undefined;
  /**
   * The key of a child's series in the store (see `StoredSeries.key`).
   *
   * @param child The child.
   */
  keyOf(child: C): string;
  /**
   * Counts an exemplar dropped for breaking the rules (its observation was
   * recorded), and warns the first time.
   *
   * @param problem What was wrong with it.
   */
  dropExemplar(problem: string): void;
  /**
   * What makes a series' native histogram in the metric's store, once it is
   * bound to one that keeps them (`undefined` for the in-memory store, and
   * for a store that keeps none).
   */
  nativeCells(): NativeCells | undefined;
}

/**
 * One label set of a metric: observable when every required label has a
 * value, partial (and unobservable) otherwise.
 *
 * @example
 * ```ts
 * import { Counter } from "@pytheus/pytheus";
 * const c = new Counter({ name: "jobs", description: "Jobs.", requiredLabels: ["queue", "kind"], registry: null });
 * const partial = c.labels({ queue: "mail" });
 * partial.labels({ kind: "welcome" }).inc();
 * ```
 */
export abstract class MetricChild<L extends string, C> implements BackendMetric {
  readonly #parent: ChildParent<L, C>;
  #row: number | Outside;

  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent What the child reaches of its metric.
   * @param row The child's row in the metric's series table, or its label
   * values when it has none (a partial child, or the one a metric past
   * `maxSeries` gives).
   * @ignore
   */
  constructor(parent: ChildParent<L, C>, row: SeriesRow) {
    this.#parent = parent;
    this.#row = typeof row === "number"
      ? row
      : { labels: row, createdMs: Date.now(), exemplar: undefined };
  }

  /**
   * The child's row in its metric's series table, or what it keeps itself.
   *
   * @returns The row.
   * @ignore
   */
  [ROW](): number | Outside {
    return this.#row;
  }

  /**
   * Takes along what the table kept of the child, which was removed: its row
   * goes to the next series.
   *
   * @ignore
   */
  [DETACH](): void {
    const row = this.#row;
    if (typeof row !== "number") return;
    const series = this.#parent.series;
    this.#row = {
      labels: series.labelValues(row),
      createdMs: series.created(row) * 1000,
      exemplar: series.exemplar(row),
    };
  }

  /**
   * The label values this child carries (only the given ones while partial):
   * a new record at each access, as the metric keeps them by column.
   */
  get labelValues(): Readonly<Record<string, string>> {
    const row = this.#row;
    return typeof row === "number" ? this.#parent.series.labelValues(row) : row.labels;
  }

  /**
   * The label set rendered as `{a="x"}`, `""` when the metric has no labels:
   * rendered at each access (a scrape does it once per series).
   */
  get labelText(): string {
    const row = this.#row;
    return typeof row === "number" ? this.#parent.series.labelText(row) : renderLabels(row.labels);
  }

  /**
   * Checks an exemplar and stamps it with the current time; counters and
   * histograms call it after recording the observation it came with. One
   * that breaks the rules (a label name invalid, a value not a string, names
   * and values over 128 characters) is dropped and counted, never thrown:
   * the observation is what matters.
   *
   * @param labels The exemplar's labels.
   * @param value The observed value.
   * @returns The recorded exemplar, or `undefined` when it was dropped.
   * @ignore
   */
  protected recordExemplar(labels: Exemplar, value: number): RecordedExemplar | undefined {
    const recorded = exemplarOf(labels, value);
    if (typeof recorded !== "string") return recorded;
    this.#parent.dropExemplar(recorded);
    return undefined;
  }

  /**
   * When the series was created (or last reset), in seconds since the epoch:
   * OpenMetrics' `<name>_created` for counters, histograms and summaries.
   */
  get created(): number {
    const row = this.#row;
    return typeof row === "number" ? this.#parent.series.created(row) : row.createdMs / 1000;
  }

  /**
   * The series' latest exemplar, kept in the metric's table rather than in
   * the child (most series never get one).
   */
  protected get exemplar(): RecordedExemplar | undefined {
    const row = this.#row;
    return typeof row === "number" ? this.#parent.series.exemplar(row) : row.exemplar;
  }

  protected set exemplar(exemplar: RecordedExemplar | undefined) {
    const row = this.#row;
    if (typeof row === "number") this.#parent.series.setExemplar(row, exemplar);
    else row.exemplar = exemplar;
  }

  /**
   * Has the series read by `fn` at scrape time, or by its stored value
   * again (`null`); checked as a function first.
   *
   * @param fn The function, or `null`.
   * @ignore
   */
  protected readBy(fn: ValueFunction | null): void {
    if (fn !== null && typeof fn !== "function") {
      throw new InvalidValueError(
        `setFunction() of "${this.#parent.name}" takes a function or null, got ${
          describeValue(fn)
        }`,
      );
    }
    this.#parent.readBy(this as unknown as C, fn);
  }

  /** Sets every value of the series back to zero and restarts its `_created` time. */
  reset(): void {
    const row = this.#row;
    if (typeof row === "number") this.#parent.series.restart(row);
    else row.createdMs = Date.now();
    this.zero();
  }

  /** Sets the series' backend values to zero and forgets its exemplars. */
  protected abstract zero(): void;

  /** The metric name. */
  get name(): string {
    return this.#parent.name;
  }

  /** The prefix of the registry the metric was created in (`""` for none). */
  get registryPrefix(): string {
    return this.#parent.registryPrefix;
  }

  /** The metric type. */
  get type(): MetricType {
    return this.#parent.type;
  }

  /**
   * Sets more label values (or overrides some) and returns that child.
   *
   * @param values Label values.
   * @returns The child for the merged label set.
   */
  labels(values: LabelValues<L>): C {
    const parent = this.#parent;
    const more = checkLabelRecord(parent.name, parent.requiredLabels, values);
    return parent.labels({ ...this.labelValues, ...more } as LabelValues<L>);
  }

  /**
   * Reads this child's samples.
   *
   * @returns The samples, asynchronously when the backend is remote.
   */
  collect(): Sample[] | Promise<Sample[]> {
    const stored = this.#parent.readStore();
    if (stored === undefined) return this.#samples(this.read());
    return stored.then((values) =>
      this.#samples(this.read(values, values && this.#parent.keyOf(this as unknown as C)))
    );
  }

  #samples(values: unknown): Sample[] | Promise<Sample[]> {
    return typeof values === "object" && isPromiseLike(values)
      ? Promise.resolve(values).then((v) => samplesOf(this, v))
      : samplesOf(this, values);
  }

  /**
   * Reads the series' values from its cells, the first half of a scrape:
   * no sample is built yet.
   *
   * @param stored What the store's read found of the metric, by key, when
   * its store reads at scrape time: a number found there is used, else the
   * cell's `get()`.
   * @param key The series' key in `stored`.
   * @returns What {@linkcode MetricChild.write} takes, as a promise
   * when a cell reads remotely.
   * @ignore
   */
  abstract read(stored?: ReadonlyMap<string, StoredValue>, key?: string): unknown;

  /**
   * Writes the samples of the values {@linkcode MetricChild.read} read
   * (once its promise, if any, settled), the second half of a scrape.
   *
   * @param values What `read()` returned (awaited).
   * @param sink Where the samples go.
   * @ignore
   */
  abstract write(values: unknown, sink: SampleSink): void;

  /** Tells this child's backends to forget the series (the child was removed). */
  abstract release(): void;
}

/** Creates a child; `backendOf` is absent for a partial (unobservable) child. */
export type ChildFactory<L extends string, C> = (
  parent: ChildParent<L, C>,
  row: SeriesRow,
  backendOf: BackendFactory | undefined,
) => C;

/** The samples of a child's values, as objects. */
function samplesOf<L extends string, C>(child: MetricChild<L, C>, values: unknown): Sample[] {
  const list = new SampleList();
  child.write(values, list);
  return list.samples;
}
