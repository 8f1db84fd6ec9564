/**
 * The sink of the Prometheus protobuf format: each family a length-delimited
 * `io.prometheus.client.MetricFamily` message (client_model's
 * `metrics.proto`), each series one `Metric` in it, its samples gathered: a
 * histogram's buckets, sum and count; a summary's quantiles, sum and count.
 */

import { SeriesSink } from "./_series_sink.ts";
import type {
  ExtraLabel,
  MetricType,
  NativeHistogramState,
  RecordedExemplar,
  Sample,
  SampleSeries,
  ScrapeSink,
} from "../vocabulary.ts";
import { familyName, sampleName } from "../registry/_family.ts";
import type { ProtoWriter } from "./_proto_writer.ts";
import { checkSample, givenExemplar, renderSampleLabels } from "./_sample_checks.ts";
import type { ExposedNames } from "./_names.ts";
import type { ConstLabels } from "./_const_labels.ts";
import { InvalidSampleError } from "../errors.ts";
import { describeValue } from "../_validation.ts";
import { spansOf } from "../metrics/_native_buckets.ts";
import { countOf } from "../metrics/_native_merge.ts";

// io.prometheus.client.MetricType.
const COUNTER = 0;
const GAUGE = 1;
const SUMMARY = 2;
const HISTOGRAM = 4;

/** A series being gathered: its labels, and the samples it got so far. */
interface Gathered {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
  exemplar: RecordedExemplar | undefined;
  /** When it was made (seconds since the epoch), for a counter, histogram or summary. */
  created: number | undefined;
  sum: number;
  count: number | undefined;
  /** A histogram's buckets (cumulative) or a summary's quantiles: bound, value, exemplar. */
  readonly points: [number, number, RecordedExemplar | undefined][];
  /** A histogram's native buckets, when it keeps them. */
  native: NativeHistogramState | undefined;
}

/**
 * Writes families as the registry reads them into a {@linkcode ProtoWriter}.
 * Info and enum families are gauges, as the format has no such types; an
 * info's family is named as its sample (`<name>_info`).
 */
export class ProtobufSink extends SeriesSink implements ScrapeSink {
  readonly #out: ProtoWriter;
  readonly #names: ExposedNames | undefined;
  readonly #constant: ConstLabels | undefined;
  #type: MetricType = "gauge";
  #name = "";
  #mark = 0;
  // The series being gathered: the one its samples came from, or the labels key of a given one.
  #series: SampleSeries | string | undefined;
  #gathered: Gathered | undefined;
  // The series of samples given whole, gathered across their family.
  #given: Map<string, Gathered> | undefined;

  /**
   * @param out Where the messages go.
   * @param names How names are written, when the registry's may fail the legacy pattern.
   * @param constant The registry's constant labels, when it has any.
   */
  constructor(out: ProtoWriter, names?: ExposedNames, constant?: ConstLabels) {
    super();
    this.#out = out;
    this.#names = names;
    this.#constant = constant;
  }

  family(given: string, description: string, type: MetricType, unit: string | undefined): void {
    const name = this.#names === undefined ? given : this.#names.family(given);
    this.#flush();
    this.#close();
    const out = this.#out;
    this.#mark = out.length;
    this.#type = type;
    this.#name = given;
    out.begin();
    // Named as the text format names it: a counter's and an info's family for its sample.
    out.string(
      1,
      type === "info" || type === "counter"
        ? sampleName(familyName(name, type), type, type === "info" ? "_info" : "")
        : name,
    );
    out.string(2, description);
    out.uint(3, protoType(type));
    if (unit !== undefined) out.string(5, unit);
  }

  protected override write(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra: ExtraLabel | undefined,
    exemplar: RecordedExemplar | undefined,
    created: boolean,
  ): void {
    this.#take(series, suffix, value, extra, exemplar, created ? series.created : undefined);
  }

  native(series: SampleSeries, state: NativeHistogramState): void {
    if (series === this.#series && this.#gathered !== undefined) this.#gathered.native = state;
  }

  addSample(sample: Sample): void {
    const type = this.#type;
    const suffix = checkSample(sample, type);
    const value: unknown = sample.value;
    if (typeof value !== "number") {
      throw new InvalidSampleError(`a sample's value is ${describeValue(value)}, not a number`);
    }
    if (!SUFFIXES[type].includes(suffix)) {
      throw new InvalidSampleError(
        `a ${type} has no ${JSON.stringify(suffix)} sample the protobuf format can carry`,
      );
    }
    // A bucket's `le` and a quantile's `quantile` name the point, not the series.
    const bound = type === "histogram" && suffix === "_bucket"
      ? "le"
      : type === "summary" && suffix === ""
      ? "quantile"
      : undefined;
    const labels = { ...this.#constant?.merge(sample.labels) ?? sample.labels };
    let extra: ExtraLabel | undefined;
    if (bound !== undefined) {
      extra = { name: bound, value: labels[bound]!, text: "", openMetricsText: "" };
      delete labels[bound];
    }
    const exemplar = sample.exemplar == null
      ? undefined
      : givenExemplar(sample.exemplar, type, suffix, "a sample");
    // One series whatever the order of its samples or of its labels: by the labels, sorted.
    const key = renderSampleLabels(
      Object.fromEntries(Object.entries(labels).sort()),
      this.#names,
    );
    this.#flush();
    const given = this.#given ??= new Map();
    let gathered = given.get(key);
    if (gathered === undefined) given.set(key, gathered = newGathered(labels));
    take(gathered, type, suffix, value, extra, exemplar, sample.created ?? undefined);
  }

  /** Takes back the family written last (a sample of it could not be written). */
  discard(): void {
    this.#series = undefined;
    this.#gathered = undefined;
    this.#given = undefined;
    this.#out.truncate(this.#mark);
  }

  /** Writes what is gathered and closes the last family. */
  end(): void {
    this.#flush();
    this.#close();
  }

  #take(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra: ExtraLabel | undefined,
    exemplar: RecordedExemplar | undefined,
    created: number | undefined,
  ): void {
    const type = this.#type;
    // A state set's states are series of their own, named for its family as in the text formats.
    if (type === "stateset" || series !== this.#series) {
      this.#flush();
      this.#series = series;
      // Read once a series: a new record at each read.
      const own = type === "stateset" && extra !== undefined
        ? { ...series.labelValues, [this.#name]: extra.value }
        : series.labelValues;
      this.#gathered = newGathered(this.#constant?.merge(own) ?? own);
    }
    take(this.#gathered!, type, suffix, value, extra, exemplar, created);
  }

  /** Writes the series of this library's metric being gathered. */
  #flush(): void {
    const gathered = this.#gathered;
    if (gathered === undefined) return;
    this.#gathered = undefined;
    this.#series = undefined;
    this.#write(gathered);
  }

  /** Writes a series gathered as one `Metric`. */
  #write(gathered: Gathered): void {
    const out = this.#out;
    out.begin(4);
    const names = this.#names;
    for (const name in gathered.labels) {
      out.begin(1);
      out.string(1, names === undefined ? name : names.labelName(name));
      out.string(2, gathered.labels[name]!);
      out.end();
    }
    switch (this.#type) {
      case "counter":
        out.begin(3);
        out.double(1, gathered.value);
        if (gathered.exemplar !== undefined) writeExemplar(out, 2, gathered.exemplar);
        if (gathered.created !== undefined) writeTimestamp(out, 3, gathered.created);
        out.end();
        break;
      case "histogram":
        out.begin(7);
        // A native histogram counts its buckets (a shared store merged them apart from
        // the classic ones); without a count given, the +Inf bucket's (or the last one's).
        writeCount(
          out,
          1,
          4,
          gathered.native === undefined
            ? gathered.count ?? gathered.points.at(-1)?.[1] ?? 0
            : countOf(gathered.native),
        );
        out.double(2, gathered.sum);
        for (const [upper, count, exemplar] of gathered.points) {
          // The +Inf bucket is the count: the format leaves it out, but for its exemplar
          // (a native histogram carries its exemplars apart).
          if (upper === Infinity && (exemplar === undefined || gathered.native !== undefined)) {
            continue;
          }
          out.begin(3);
          writeCount(out, 1, 4, count);
          out.double(2, upper);
          if (exemplar !== undefined) writeExemplar(out, 3, exemplar);
          out.end();
        }
        if (gathered.created !== undefined) writeTimestamp(out, 15, gathered.created);
        if (gathered.native !== undefined) {
          writeNative(out, gathered.native);
          // A native histogram's exemplars, each with its time, as the format requires.
          for (const [, , exemplar] of gathered.points) {
            if (exemplar !== undefined) writeExemplar(out, 16, exemplar);
          }
        }
        out.end();
        break;
      case "summary":
        out.begin(4);
        writeCount(out, 1, 0, gathered.count ?? 0);
        out.double(2, gathered.sum);
        for (const [quantile, value] of gathered.points) {
          out.begin(3);
          out.double(1, quantile);
          out.double(2, value);
          out.end();
        }
        if (gathered.created !== undefined) writeTimestamp(out, 4, gathered.created);
        out.end();
        break;
      default:
        out.begin(2);
        out.double(1, gathered.value);
        out.end();
    }
    out.end();
  }

  /** Closes the family being written, if any, with the series given whole it gathered. */
  #close(): void {
    const given = this.#given;
    this.#given = undefined;
    if (given !== undefined) { for (const gathered of given.values()) this.#write(gathered); }
    if (this.#out.length > this.#mark) this.#out.end();
    this.#mark = this.#out.length;
  }
}

/** The samples of each type the format carries, by suffix. */
const SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  counter: ["", "_total", "_created"],
  gauge: [""],
  histogram: ["_bucket", "_sum", "_count", "_created"],
  summary: ["", "_sum", "_count", "_created"],
  info: ["", "_info"],
  stateset: [""],
};

function newGathered(labels: Readonly<Record<string, string>>): Gathered {
  return {
    labels,
    value: 0,
    exemplar: undefined,
    created: undefined,
    sum: 0,
    count: undefined,
    points: [],
    native: undefined,
  };
}

/** Adds a sample to its series. */
function take(
  gathered: Gathered,
  type: MetricType,
  suffix: string,
  value: number,
  extra: ExtraLabel | undefined,
  exemplar: RecordedExemplar | undefined,
  created: number | undefined,
): void {
  if (created !== undefined) gathered.created = created;
  if (suffix === "_created") gathered.created = value;
  else if (suffix === "_sum") gathered.sum = value;
  else if (suffix === "_count") {
    // Checked as it comes, so that its family is the one left out: a summary's
    // count is a uint64 (a histogram's has a double beside it).
    if (type === "summary" && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new InvalidSampleError(
        `a summary's count cannot be ${
          describeValue(value)
        } in the protobuf format: a whole number, 0 or more`,
      );
    }
    gathered.count = value;
  } else if (extra !== undefined && (type === "histogram" || type === "summary")) {
    gathered.points.push([bound(extra.value), value, exemplar]);
  } else {
    gathered.value = value;
    gathered.exemplar = exemplar;
  }
}

function protoType(type: MetricType): number {
  switch (type) {
    case "counter":
      return COUNTER;
    case "histogram":
      return HISTOGRAM;
    case "summary":
      return SUMMARY;
    default:
      return GAUGE;
  }
}

/** A bucket's bound or a quantile, as its label spells it. */
function bound(label: string): number {
  return label === "+Inf" ? Infinity : label === "-Inf" ? -Infinity : Number(label);
}

/**
 * A count: as `uint64` when whole, else (a backend's fractional or infinite
 * count) as the `double` field beside it, when the message has one
 * (`floatField` > 0; a summary's count was checked as it came).
 */
function writeCount(out: ProtoWriter, field: number, floatField: number, count: number): void {
  if (floatField > 0 && !(Number.isSafeInteger(count) && count >= 0)) out.double(floatField, count);
  else out.uint(field, count);
}

/** A `google.protobuf.Timestamp` of a time in seconds since the epoch (none for a time that is not one). */
function writeTimestamp(out: ProtoWriter, field: number, seconds: number): void {
  if (!(Math.abs(seconds) < 2 ** 52)) return;
  const whole = Math.floor(seconds);
  out.begin(field);
  out.int64(1, whole);
  const nanos = Math.round((seconds - whole) * 1e9);
  if (nanos > 0) out.uint(2, Math.min(nanos, 999_999_999));
  out.end();
}

function writeExemplar(out: ProtoWriter, field: number, exemplar: RecordedExemplar): void {
  out.begin(field);
  for (const name in exemplar.labels) {
    out.begin(1);
    out.string(1, name);
    out.string(2, exemplar.labels[name]!);
    out.end();
  }
  out.double(2, exemplar.value);
  writeTimestamp(out, 3, exemplar.timestamp);
  out.end();
}

/** A histogram's native buckets: schema, zero bucket, spans and deltas of each sign. */
function writeNative(out: ProtoWriter, state: NativeHistogramState): void {
  out.sint(5, state.schema);
  out.double(6, state.zeroThreshold);
  out.uint(7, state.zeroCount);
  const negative = spansOf(state.negative);
  const positive = spansOf(state.positive);
  writeSpans(out, 9, 10, negative.spans, negative.deltas);
  // With no bucket and no zero bucket it would read as a classic histogram:
  // a span of no bucket says it is native.
  const spans = positive.spans.length === 0 && negative.spans.length === 0 &&
      state.zeroThreshold === 0
    ? [[0, 0] as [number, number]]
    : positive.spans;
  writeSpans(out, 12, 13, spans, positive.deltas);
}

function writeSpans(
  out: ProtoWriter,
  spanField: number,
  deltaField: number,
  spans: readonly [number, number][],
  deltas: readonly number[],
): void {
  for (const [offset, length] of spans) {
    out.begin(spanField);
    out.sint(1, offset);
    out.uint(2, length);
    out.end();
  }
  for (const delta of deltas) out.sint(deltaField, delta);
}
