/**
 * The sink `collect()` writes into, which keeps {@linkcode Sample} objects,
 * and the labels of the series a sink writes, rendered once per series.
 */

import { SeriesSink } from "../exposition/_series_sink.ts";
import { labelOpen } from "../exposition/_format.ts";
import type { ExposedNames } from "../exposition/_names.ts";
import type { ConstLabels } from "../exposition/_const_labels.ts";
import type {
  ExtraLabel,
  RecordedExemplar,
  Sample,
  SampleSeries,
  SampleSink,
} from "../vocabulary.ts";

/** The sink `collect()` writes into: it keeps {@linkcode Sample} objects. */
export class SampleList extends SeriesSink implements SampleSink {
  /** The samples, in the order written. */
  readonly samples: Sample[] = [];
  readonly #labels = new SeriesLabels();

  protected override write(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra: ExtraLabel | undefined,
    exemplar: RecordedExemplar | undefined,
    created: boolean,
  ): void {
    const labels = this.#labels.values(series);
    const labelText = this.#labels.closed(series);
    this.samples.push(
      extra === undefined
        ? {
          suffix,
          labels,
          value,
          labelText,
          created: created ? series.created : undefined,
          exemplar,
        }
        : new ExtraLabelSample(labels, labelText, suffix, value, extra, exemplar),
    );
  }

  addSample(sample: Sample): void {
    this.samples.push(sample);
  }
}

/**
 * The labels of the series a sink writes, read and rendered once for all its
 * samples (a histogram's buckets, `_count` and `_sum`).
 */
export class SeriesLabels {
  readonly #names: ExposedNames | undefined;
  readonly #constant: ConstLabels | undefined;
  // The label names of the family's series (every series has the same), and a state set's own.
  #own: string[] | undefined;
  #extra: string | undefined;
  #series: SampleSeries | undefined;
  #closed = "";
  #opened: string | undefined;
  #values: Readonly<Record<string, string>> | undefined;

  /**
   * @param names How the exposition writes names, when they may fail the
   *   legacy pattern: the labels are then written as it says.
   * @param constant The registry's constant labels, added to each series'.
   */
  constructor(names?: ExposedNames, constant?: ConstLabels) {
    this.#names = names;
    this.#constant = constant;
  }

  /** The series' labels rendered: `{a="x"}`, `""` for none. */
  closed(series: SampleSeries): string {
    if (series !== this.#series) {
      this.#series = series;
      this.#closed = this.#names === undefined && this.#constant === undefined
        ? series.labelText
        : this.#styled(series);
      this.#opened = undefined;
      this.#values = undefined;
    }
    return this.#closed;
  }

  /**
   * Starts a family.
   *
   * @param extra A label its samples carry beside the series' (a state set's), if any.
   */
  family(extra?: string): void {
    this.#own = undefined;
    this.#extra = extra;
    this.#series = undefined;
  }

  /** The labels with the constant ones, names as the exposition writes them, after the sample name. */
  #styled(series: SampleSeries): string {
    const names = this.#names;
    const own = names === undefined ? series.labelText : names.labels(series);
    let text = own;
    if (this.#constant !== undefined) {
      this.#own ??= [
        ...Object.keys(series.labelValues),
        ...(this.#extra === undefined ? [] : [this.#extra]),
      ];
      text = this.#constant.add(own, this.#own);
    }
    return names === undefined ? text : names.after(text);
  }

  /** The series' labels opened for one more: `{a="x",`, `{` for none. */
  opened(series: SampleSeries): string {
    const closed = this.closed(series);
    return this.#opened ??= labelOpen(closed);
  }

  /** The series' label values. */
  values(series: SampleSeries): Readonly<Record<string, string>> {
    this.closed(series);
    return this.#values ??= series.labelValues;
  }
}

/** A sample with one label more than its series; its label record is built only if asked for. */
class ExtraLabelSample implements Sample {
  readonly #labels: Readonly<Record<string, string>>;
  readonly #labelText: string;
  readonly #extra: ExtraLabel;
  readonly suffix: string;
  readonly value: number;
  readonly exemplar: RecordedExemplar | undefined;

  constructor(
    labels: Readonly<Record<string, string>>,
    labelText: string,
    suffix: string,
    value: number,
    extra: ExtraLabel,
    exemplar: RecordedExemplar | undefined,
  ) {
    this.#labels = labels;
    this.#labelText = labelText;
    this.#extra = extra;
    this.suffix = suffix;
    this.value = value;
    this.exemplar = exemplar;
  }

  get labels(): Readonly<Record<string, string>> {
    return { ...this.#labels, [this.#extra.name]: this.#extra.value };
  }

  get labelText(): string {
    return labelOpen(this.#labelText) + this.#extra.text;
  }

  get openMetricsLabelText(): string {
    return labelOpen(this.#labelText) + this.#extra.openMetricsText;
  }
}
