/** The sink of the Prometheus text format 0.0.4. */

import { escapeHelp, formatValue } from "./_format.ts";
import type { ExtraLabel, MetricType, Sample, SampleSeries, ScrapeSink } from "../vocabulary.ts";
import { SeriesLabels } from "../registry/_sample_list.ts";
import type { Output, OutputMark } from "./_output.ts";
import { familyName, sampleName } from "../registry/_family.ts";
import { checkSample, sampleLabelText, stateText } from "./_sample_checks.ts";
import type { ConstLabels } from "./_const_labels.ts";
import type { ExposedNames } from "./_names.ts";

/**
 * The text format 0.0.4 (and 1.0.0, the same lines where names may be
 * quoted), written as the registry reads: no sample object is built for a
 * metric's own series, and a series' labels are rendered once for all of its
 * samples. Names pass through `names` when the registry's may fail the
 * legacy pattern.
 */
export class TextSink implements ScrapeSink {
  readonly #out: Output;
  readonly #names: ExposedNames | undefined;
  readonly #constant: ConstLabels | undefined;
  #family = "";
  #type: MetricType = "gauge";
  // The suffix of the last sample, and the sample name with it.
  #suffix = "";
  #prefix = "";
  readonly #labels: SeriesLabels;
  #mark: OutputMark | undefined;
  // A state set's state label, when the registry's prefix renamed the family.
  #stateLabel: string | undefined;

  /**
   * @param out Where the text goes.
   * @param names How names are written, when the registry's may fail the legacy pattern.
   * @param constant The registry's constant labels, when it has any.
   */
  constructor(out: Output, names?: ExposedNames, constant?: ConstLabels) {
    this.#out = out;
    this.#names = names;
    this.#constant = constant;
    this.#labels = new SeriesLabels(names, constant);
  }

  family(given: string, description: string, familyType: MetricType): void {
    this.#mark = this.#out.mark();
    const names = this.#names;
    const name = names === undefined ? given : names.family(given);
    this.#family = familyName(name, familyType);
    this.#type = familyType;
    // The text format has no info or stateset: they are gauges there. A
    // counter's family is named for its sample, `<family>_total`.
    const head = familyType === "info" || familyType === "counter"
      ? sampleName(this.#family, familyType, familyType === "info" ? "_info" : "")
      : name;
    const type = familyType === "info" || familyType === "stateset" ? "gauge" : familyType;
    const shown = names === undefined ? head : names.head(head);
    this.#out.write(`# HELP ${shown} ${escapeHelp(description)}\n# TYPE ${shown} ${type}\n`);
    this.#labels.family(familyType === "stateset" ? given : undefined);
    this.#stateLabel = familyType !== "stateset"
      ? undefined
      : names === undefined
      ? given
      : names.label(given);
    this.#next("");
  }

  add(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra?: ExtraLabel,
  ): void {
    if (suffix !== this.#suffix) this.#next(suffix);
    // One template a line: JavaScriptCore flattens one rope faster than a chain.
    this.#out.write(
      extra === undefined
        ? `${this.#prefix}${this.#labels.closed(series)} ${formatValue(value)}\n`
        : `${this.#prefix}${this.#labels.opened(series)}${
          this.#stateLabel === undefined ? extra.text : stateText(this.#stateLabel, extra)
        } ${formatValue(value)}\n`,
    );
  }

  addCreated(series: SampleSeries, suffix: string, value: number): void {
    // The text format has no `_created` lines, nor exemplars.
    this.add(series, suffix, value);
  }

  addSample(sample: Sample): void {
    const suffix = checkSample(sample, this.#type);
    if (suffix !== this.#suffix) this.#next(suffix);
    const labelText = sampleLabelText(sample.labels, this.#names, this.#constant);
    this.#out.write(`${this.#prefix}${labelText} ${formatValue(sample.value)}\n`);
  }

  discard(): void {
    if (this.#mark !== undefined) this.#out.rollback(this.#mark);
  }

  end(): void {}

  #next(suffix: string): void {
    this.#suffix = suffix;
    const name = sampleName(this.#family, this.#type, suffix);
    this.#prefix = this.#names === undefined ? name : this.#names.sample(name);
  }
}
