/**
 * The base of the sinks that write a series' samples one way, told whether
 * OpenMetrics follows the sample with `_created`: `add()` and `addCreated()`
 * both come down to their `write()`.
 */

import type { ExtraLabel, RecordedExemplar, Sample, SampleSeries } from "../vocabulary.ts";

/** A sink whose `add()` and `addCreated()` are one `write()`. */
export abstract class SeriesSink {
  /**
   * Adds a sample of a series (see `SampleSink.add`).
   *
   * @param series The series.
   * @param suffix Appended to the metric name.
   * @param value The value.
   * @param extra A label added to the series' own.
   * @param exemplar The exemplar shown after the sample.
   */
  add(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra?: ExtraLabel,
    exemplar?: RecordedExemplar,
  ): void {
    this.write(series, suffix, value, extra, exemplar, false);
  }

  /**
   * Adds the sample OpenMetrics follows with `_created` (see `SampleSink.addCreated`).
   *
   * @param series The series.
   * @param suffix Appended to the metric name.
   * @param value The value.
   * @param exemplar The exemplar shown after the sample.
   */
  addCreated(
    series: SampleSeries,
    suffix: string,
    value: number,
    exemplar?: RecordedExemplar,
  ): void {
    this.write(series, suffix, value, undefined, exemplar, true);
  }

  /** Adds a sample given whole (see `SampleSink.addSample`). */
  abstract addSample(sample: Sample): void;

  /** Writes a sample of a series; `created` when `_created` follows it. */
  protected abstract write(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra: ExtraLabel | undefined,
    exemplar: RecordedExemplar | undefined,
    created: boolean,
  ): void;
}
