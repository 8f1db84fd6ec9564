/**
 * The words every part of pytheus speaks: metric types, label values,
 * exemplars, samples, collectors, and the sinks a scrape writes into. It
 * imports nothing, so that every other module may import it.
 *
 * @module
 */

/** The kind of a metric, as written after `# TYPE`. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "info" | "stateset";

/**
 * A label set, complete or partial, keyed by label name. A metric without
 * labels takes only `{}`.
 */
export type LabelValues<L extends string> = [L] extends [never] ? { readonly [name: string]: never }
  : { readonly [K in L]?: string };

/**
 * The labels of an exemplar, linking an observation to a trace:
 * `{ trace_id: "4bf92f3577b34da6" }`. Names follow label name rules; names
 * and values together hold at most 128 characters (code points).
 * Exemplars live in the process that recorded them, whatever the backend.
 *
 * @example
 * ```ts
 * import { Counter, type Exemplar } from "@pytheus/pytheus";
 * const c = new Counter({ name: "orders_total", description: "Orders.", registry: null });
 * const exemplar: Exemplar = { trace_id: "4bf92f3577b34da6" };
 * c.inc(1, exemplar);
 * ```
 */
export type Exemplar = { readonly [name: string]: string };

/**
 * An exemplar as recorded with an observation, as a sample carries it.
 *
 * @example
 * ```ts
 * import { Counter } from "@pytheus/pytheus";
 * const c = new Counter({ name: "orders_total", description: "Orders.", registry: null });
 * c.inc(2, { trace_id: "abc" });
 * const [sample] = await c.collect();
 * console.assert(sample?.exemplar?.labelText === '{trace_id="abc"}');
 * ```
 */
export interface RecordedExemplar {
  /** The exemplar's labels (a copy of those given). */
  readonly labels: Exemplar;
  /** The labels rendered as `{trace_id="abc"}`. */
  readonly labelText: string;
  /** The observed value (a counter's increment, a histogram's observation). */
  readonly value: number;
  /** When it was recorded, in seconds since the epoch. */
  readonly timestamp: number;
}

/** One sample of a metric: `<name><suffix>{<labels>} <value>`. */
export interface Sample {
  /** Appended to the metric name: `""`, `"_bucket"`, `"_sum"`, `"_count"`. */
  readonly suffix: string;
  /** The sample's labels, `le` included for histogram buckets. */
  readonly labels: Readonly<Record<string, string>>;
  /** The value. */
  readonly value: number;
  /**
   * The labels already rendered as `{a="x"}` (`""` for none), when known: for
   * readers of `collect()`. The exposition renders the labels of a sample a
   * collector gives it from `labels`, checked, and never trusts this.
   */
  readonly labelText?: string;
  /**
   * The labels as OpenMetrics renders them, when that differs from
   * `labelText` (a histogram bucket's canonical `le="1.0"`).
   */
  readonly openMetricsLabelText?: string;
  /**
   * The series' creation time in seconds since the epoch, on the sample that
   * OpenMetrics follows with `<name>_created` (a counter's value, a
   * histogram's or summary's `_count`).
   */
  readonly created?: number | undefined;
  /** The exemplar OpenMetrics shows after this sample. */
  readonly exemplar?: RecordedExemplar | undefined;
}

/**
 * A label some samples add to their series' labels: a histogram bucket's
 * `le`, a summary's `quantile`, an enum's state. One object serves every
 * series of a metric.
 *
 * @example
 * ```ts
 * import type { ExtraLabel } from "./vocabulary.ts";
 * const le: ExtraLabel = { name: "le", value: "1", text: 'le="1"}', openMetricsText: 'le="1.0"}' };
 * ```
 */
export interface ExtraLabel {
  /** The label name. */
  readonly name: string;
  /** The label value. */
  readonly value: string;
  /** The label rendered as `name="value"}`: it closes the series' label set. */
  readonly text: string;
  /** The same, as OpenMetrics spells it (a bucket's canonical `le="1.0"}`). */
  readonly openMetricsText: string;
}

/**
 * What a sink reads of the series a sample belongs to (a metric's child is
 * one): its labels, rendered once, and its creation time.
 */
export interface SampleSeries {
  /** The series' label values. */
  readonly labelValues: Readonly<Record<string, string>>;
  /** The labels rendered as `{a="x"}`, `""` for none. */
  readonly labelText: string;
  /** When the series was made (or last reset), in seconds since the epoch. */
  readonly created: number;
}

/** A series' native histogram as a scrape reads it: its schema, zero bucket and buckets. */
export interface NativeHistogramState {
  /** The schema (-4 to 8): each power of two split into 2^schema buckets. */
  readonly schema: number;
  /** Observations of at most this absolute value are in the zero bucket. */
  readonly zeroThreshold: number;
  /** How many observations the zero bucket holds. */
  readonly zeroCount: number;
  /** Counts of the positive buckets, by key (bucket `k` ends at 2^(k/2^schema)). */
  readonly positive: ReadonlyMap<number, number>;
  /** Counts of the negative buckets, by key of their absolute values. */
  readonly negative: ReadonlyMap<number, number>;
}

/**
 * Where a scrape writes the samples it read, in order. The text exposition
 * appends lines straight away; `collect()` keeps {@linkcode Sample} objects.
 *
 * @example A sink counting samples
 * ```ts
 * import { CollectorRegistry, Counter, type Sample } from "@pytheus/pytheus";
 * import type { ScrapeSink } from "./vocabulary.ts";
 * class Count implements ScrapeSink {
 *   n = 0;
 *   family(): void {}
 *   add(): void { this.n++; }
 *   addCreated(): void { this.n++; }
 *   addSample(_sample: Sample): void { this.n++; }
 * }
 * const registry = new CollectorRegistry();
 * new Counter({ name: "jobs_total", description: "Jobs.", registry }).inc();
 * const sink = new Count();
 * await registry.collectInto(sink);
 * console.assert(sink.n === 1);
 * ```
 */
export interface SampleSink {
  /**
   * Adds a sample of a series: `<name><suffix>{<series labels>[,<extra>]} <value>`.
   *
   * @param series The series the sample belongs to (a metric's child).
   * @param suffix Appended to the metric name: `""`, `"_bucket"`, `"_sum"`, `"_count"`.
   * @param value The value.
   * @param extra A label added to the series' own (`le`, `quantile`, an enum state).
   * @param exemplar The exemplar OpenMetrics shows after the sample.
   */
  add(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra?: ExtraLabel,
    exemplar?: RecordedExemplar,
  ): void;
  /**
   * Adds the sample that OpenMetrics follows with `<name>_created`, the
   * series' creation time: a counter's value, a histogram's or summary's `_count`.
   *
   * @param series The series the sample belongs to (a metric's child).
   * @param suffix Appended to the metric name: `""` or `"_count"`.
   * @param value The value.
   * @param exemplar The exemplar OpenMetrics shows after the sample.
   */
  addCreated(
    series: SampleSeries,
    suffix: string,
    value: number,
    exemplar?: RecordedExemplar,
  ): void;
  /**
   * Optional: takes a histogram series' native buckets (only the protobuf
   * format carries them), after its classic samples.
   *
   * @param series The series.
   * @param state Its native buckets.
   */
  native?(series: SampleSeries, state: NativeHistogramState): void;
  /**
   * Adds a sample given whole (one a custom collector made, a per-worker
   * sample, an info's facts).
   *
   * @param sample The sample.
   */
  addSample(sample: Sample): void;
}

/** What a registry reads from a metric: `Counter`, `Gauge` and `Histogram` are such. */
export interface MetricCollector {
  /** The metric name, without prefix. */
  readonly name: string;
  /** The help text. */
  readonly description: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The unit (OpenMetrics `# UNIT`), when given. */
  readonly unit?: string | undefined;
  /**
   * Reads the samples. (A scrape reads this library's metrics by parts,
   * their values then their samples; any other collector's samples come from
   * here and are checked as they are written.)
   */
  collect(): Promise<Sample[]>;
  /** Sets every value back to zero (`registry.reset()` calls it when present). */
  reset?(): void;
}

/** One metric family as scraped: name (with the registry prefix) and samples. */
export interface MetricFamilySamples {
  /** The full name, `<prefix>_<name>` when the registry has a prefix. */
  readonly name: string;
  /** The help text. */
  readonly description: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The unit (OpenMetrics `# UNIT`), when given. */
  readonly unit?: string | undefined;
  /** The samples, grouped by series. */
  readonly samples: readonly Sample[];
}

/**
 * Where a registry writes a scrape: each family's head, then its samples.
 *
 * @example A sink listing the family names
 * ```ts
 * import { CollectorRegistry, Gauge } from "@pytheus/pytheus";
 * import type { ScrapeSink } from "./vocabulary.ts";
 * const registry = new CollectorRegistry();
 * new Gauge({ name: "temp", description: "Temperature.", registry });
 * const names: string[] = [];
 * const sink: ScrapeSink = {
 *   family: (name) => names.push(name),
 *   add() {},
 *   addCreated() {},
 *   addSample() {},
 * };
 * await registry.collectInto(sink);
 * console.assert(names[0] === "temp");
 * ```
 */
export interface ScrapeSink extends SampleSink {
  /**
   * Starts a family: the samples added next are its own.
   *
   * @param name The full name, `<prefix>_<name>` when the registry has a prefix.
   * @param description The help text.
   * @param type The metric type.
   * @param unit The unit (OpenMetrics `# UNIT`), when given.
   */
  family(name: string, description: string, type: MetricType, unit: string | undefined): void;
  /**
   * Optional: forgets the family started last, whose samples could not all
   * be written ({@linkcode InvalidSampleError}: a value that is not a number,
   * a label that is not valid). Without it, such a scrape fails whole.
   */
  discard?(): void;
}
