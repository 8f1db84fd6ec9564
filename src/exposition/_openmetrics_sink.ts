/** The sink of OpenMetrics 1.0. */

import { SeriesSink } from "./_series_sink.ts";
import { canonicalNumber, escapeHelpOpenMetrics, formatValue } from "./_format.ts";
import { getLogger } from "../logger.ts";
import type {
  ExtraLabel,
  MetricType,
  RecordedExemplar,
  Sample,
  SampleSeries,
  ScrapeSink,
} from "../vocabulary.ts";
import { SeriesLabels } from "../registry/_sample_list.ts";
import type { Output, OutputMark } from "./_output.ts";
import { familyNames, sampleName } from "../registry/_family.ts";
import {
  checkSample,
  countable,
  givenExemplar,
  refused,
  sampleLabelText,
  stateText,
} from "./_sample_checks.ts";
import type { ConstLabels } from "./_const_labels.ts";
import type { ExposedNames } from "./_names.ts";

/**
 * OpenMetrics 1.0, written as the registry reads: per family `# TYPE`,
 * `# UNIT`, `# HELP`, then its samples, each with its exemplar and
 * `_created`, and `# EOF` at the end.
 * A family whose name (or a sample name it implies) an earlier family took is
 * left out with a warning, as OpenMetrics forbids both clashes and
 * interleaving. No sample object is built for a metric's own series.
 *
 * OpenMetrics' histogram and summary `_sum` and `_count` are counters: never
 * negative or NaN. A series whose sum is negative or NaN (or a histogram with
 * a negative bucket bound, whose sum the format forbids) is written without
 * them (the `+Inf` bucket still counts), and a summary's negative quantiles
 * are left out, as the format forbids them too. The text format writes them all.
 */
export class OpenMetricsSink extends SeriesSink implements ScrapeSink {
  readonly #out: Output;
  readonly #created: boolean;
  readonly #names: ExposedNames | undefined;
  readonly #constant: ConstLabels | undefined;
  readonly #taken = new Set<string>();
  // The family name (a counter's without `_total`), and whether the family is left out.
  #family = "";
  #createdName = "";
  #skip = false;
  #type: MetricType = "gauge";
  // Histograms and summaries spell `le` and `quantile` canonically.
  #canonical = false;
  // The suffix of the last sample, and the sample name with it.
  #suffix = "";
  #prefix = "";
  readonly #labels: SeriesLabels;
  // Whether the histogram series being written has a negative bucket bound.
  #negativeBuckets = false;
  // Whether its `_sum` was written, and so its `_count` may be.
  #counted = true;
  #mark: OutputMark | undefined;
  // A state set's state label, when the registry's prefix renamed the family.
  #stateLabel: string | undefined;

  /**
   * @param out Where the text goes.
   * @param created Whether to write `_created` samples.
   * @param names How names are written, when the registry's may fail the legacy pattern.
   * @param constant The registry's constant labels, when it has any.
   */
  constructor(out: Output, created: boolean, names?: ExposedNames, constant?: ConstLabels) {
    super();
    this.#out = out;
    this.#created = created;
    this.#names = names;
    this.#constant = constant;
    this.#labels = new SeriesLabels(names, constant);
  }

  family(given: string, description: string, type: MetricType, unit: string | undefined): void {
    const name = this.#names === undefined ? given : this.#names.family(given);
    const names = familyNames(name, type);
    const clash = names.find((n) => this.#taken.has(n));
    this.#skip = clash !== undefined;
    if (clash !== undefined) {
      getLogger().warn(
        `Metric "${name}" left out of the OpenMetrics scrape: the name "${clash}" is already taken`,
      );
      return;
    }
    for (const n of names) this.#taken.add(n);
    this.#mark = this.#out.mark();
    const family = names[0]!;
    const head = this.#names === undefined ? family : this.#names.head(family);
    this.#out.write(
      `# TYPE ${head} ${type}\n${unit ? `# UNIT ${head} ${unit}\n` : ""}# HELP ${head} ${
        escapeHelpOpenMetrics(description)
      }\n`,
    );
    this.#family = family;
    this.#createdName = this.#sampleName(family + "_created");
    this.#type = type;
    this.#canonical = type === "histogram" || type === "summary";
    this.#labels.family(type === "stateset" ? given : undefined);
    this.#stateLabel = type !== "stateset"
      ? undefined
      : this.#names === undefined
      ? given
      : this.#names.label(given);
    this.#next("", undefined);
    this.#negativeBuckets = false;
    this.#counted = true;
  }

  protected override write(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra: ExtraLabel | undefined,
    exemplar: RecordedExemplar | undefined,
    created: boolean,
  ): void {
    if (this.#skip) return;
    if (suffix !== this.#suffix) {
      this.#next(suffix, suffix === "_bucket" && extra?.name === "le" ? extra.value : undefined);
    }
    const labelText = extra === undefined
      ? this.#labels.closed(series)
      : this.#labels.opened(series) +
        (this.#canonical
          ? extra.openMetricsText
          : this.#stateLabel === undefined
          ? extra.text
          : stateText(this.#stateLabel, extra));
    this.#line(
      labelText,
      value,
      exemplar === undefined ? undefined : exemplar.labelText,
      exemplar,
      created && this.#created && extra === undefined ? series.created : undefined,
    );
  }

  addSample(sample: Sample): void {
    if (this.#skip) return;
    const suffix = checkSample(sample, this.#type);
    if (suffix !== this.#suffix) this.#next(suffix, sample.labels?.le);
    const exemplar = sample.exemplar == null
      ? undefined
      : givenExemplar(sample.exemplar, this.#type, this.#suffix, this.#prefix);
    this.#line(
      this.#labelText(sample),
      sample.value,
      exemplar?.labelText,
      exemplar,
      sample.created,
    );
  }

  discard(): void {
    if (this.#mark !== undefined) this.#out.rollback(this.#mark);
  }

  /** Writes `# EOF`. */
  end(): void {
    this.#out.write("# EOF\n");
  }

  /**
   * Moves on to the samples with another suffix.
   *
   * @param suffix The new suffix.
   * @param le The `le` label of the first sample with it.
   */
  #next(suffix: string, le: string | undefined): void {
    if (this.#type === "histogram" && suffix === "_bucket" && this.#suffix !== "_bucket") {
      this.#negativeBuckets = Number(le) < 0;
    }
    this.#suffix = suffix;
    this.#prefix = this.#sampleName(sampleName(this.#family, this.#type, suffix));
  }

  /** What opens a line of a sample of this name. */
  #sampleName(name: string): string {
    return this.#names === undefined ? name : this.#names.sample(name);
  }

  /**
   * Whether OpenMetrics can carry a histogram's or summary's sample of this
   * value (see the class): a `_sum` that is a counter, the `_count` after it
   * only if it was, a summary's quantile that is not negative.
   */
  #carries(value: number): boolean {
    const suffix = this.#suffix;
    switch (this.#type) {
      case "counter":
        return countable(value, false, this.#prefix);
      case "histogram":
        if (suffix === "_sum") return this.#counted = value >= 0 && !this.#negativeBuckets;
        if (suffix === "_count") return this.#counted && countable(value, true, this.#prefix);
        return suffix !== "_bucket" || countable(value, true, this.#prefix);
      case "summary":
        if (suffix === "_sum") return this.#counted = value >= 0;
        if (suffix === "_count") return this.#counted && countable(value, true, this.#prefix);
        return !(suffix === "" && value < 0);
      case "info":
        return value === 1 || refused(this.#prefix, value, "an info's value is 1");
      case "stateset":
        return value === 0 || value === 1 ||
          refused(this.#prefix, value, "a state's value is 0 or 1");
    }
    return true;
  }

  /**
   * Appends a sample line, its exemplar, and its `_created` line when shown
   * (that one even when the sample itself cannot be: see the class).
   */
  #line(
    labelText: string,
    value: number,
    exemplarLabels: string | undefined,
    exemplar: RecordedExemplar | undefined,
    created: number | undefined,
  ): void {
    const shown = this.#carries(value);
    let line = shown ? this.#prefix + labelText + " " + formatValue(value) : "";
    if (shown && exemplar !== undefined) {
      line += " # " + exemplarLabels + " " + formatValue(exemplar.value) + " " +
        formatValue(exemplar.timestamp);
    }
    if (this.#created && created !== undefined) {
      line += (shown ? "\n" : "") + this.#createdName + labelText + " " + formatValue(created);
    }
    if (line !== "") this.#out.write(line + "\n");
  }

  /** A whole sample's labels; a histogram's or summary's with `le` or `quantile` canonical. */
  #labelText(sample: Sample): string {
    const special = !this.#canonical
      ? undefined
      : this.#type === "histogram"
      ? (this.#suffix === "_bucket" ? "le" : undefined)
      : (this.#suffix === "" ? "quantile" : undefined);
    const value = special === undefined ? undefined : sample.labels?.[special];
    const labels = typeof value !== "string" || value.trim() === "" || Number.isNaN(Number(value))
      ? sample.labels
      : { ...sample.labels, [special!]: canonicalNumber(Number(value)) };
    return sampleLabelText(labels, this.#names, this.#constant);
  }
}
