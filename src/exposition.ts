/**
 * What a scrape reads: the Prometheus text format 0.0.4, or OpenMetrics 1.0.
 *
 * @module
 */

import {
  canonicalNumber,
  escapeHelp,
  escapeHelpOpenMetrics,
  formatValue,
  renderLabels,
} from "./_format.ts";
import { PytheusError } from "./errors.ts";
import { getLogger } from "./logger.ts";
import type { ExtraLabel, MetricChild, Sample, SampleSink } from "./metric.ts";
import type { MetricType } from "./backends/backend.ts";
import { REGISTRY, type Registry, type ScrapeSink } from "./registry.ts";
import type { RecordedExemplar } from "./exemplar.ts";
import { scrapeInto, SeriesLabels } from "./_child.ts";
import { Output } from "./_output.ts";

/** The `Content-Type` of the text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The `Content-Type` of OpenMetrics 1.0.0.
 *
 * @example Serve OpenMetrics by hand
 * ```ts
 * import { generateMetrics, OPENMETRICS_CONTENT_TYPE } from "@pytheus/pytheus";
 * const response = new Response(await generateMetrics(undefined, { format: "openmetrics" }), {
 *   headers: { "content-type": OPENMETRICS_CONTENT_TYPE },
 * });
 * ```
 */
export const OPENMETRICS_CONTENT_TYPE =
  "application/openmetrics-text; version=1.0.0; charset=utf-8";

/**
 * An exposition format: the Prometheus text format 0.0.4, or OpenMetrics 1.0.
 *
 * @example
 * ```ts
 * import type { ExpositionFormat } from "@pytheus/pytheus";
 * const format: ExpositionFormat = "openmetrics";
 * ```
 */
export type ExpositionFormat = "text" | "openmetrics";

/**
 * Options of {@linkcode generateMetrics}.
 *
 * @example
 * ```ts
 * import { generateMetrics, type GenerateMetricsOptions } from "@pytheus/pytheus";
 * const options: GenerateMetricsOptions = { format: "openmetrics", created: false };
 * const text = await generateMetrics(undefined, options);
 * ```
 */
export interface GenerateMetricsOptions {
  /**
   * The format: `"text"` (Prometheus 0.0.4) or `"openmetrics"` (1.0.0, with
   * exemplars, units, `_created` and `# EOF`).
   *
   * @default {"text"}
   */
  format?: ExpositionFormat;
  /**
   * OpenMetrics only: write `<name>_created` (the series' creation time) for
   * counters, histograms and summaries. Turn it off to spare Prometheus the
   * extra series.
   *
   * @default {true}
   */
  created?: boolean;
}

/**
 * Renders every metric of a registry in the text format 0.0.4: per family
 * `# HELP`, `# TYPE`, then its samples; label values and help text escaped,
 * `+Inf`, `-Inf` and `NaN` spelled as Prometheus reads them.
 *
 * With `{ format: "openmetrics" }`, renders OpenMetrics 1.0 instead: counters
 * as `<family>_total` (a counter named `x_total` or `x` is the family `x`),
 * `# UNIT` where a metric has a unit, `_created` samples (unless
 * `created: false`), exemplars, `info` and `stateset` types, canonical `le`
 * values, and `# EOF` last.
 *
 * @param registry The registry to render.
 * @param options The format, and whether OpenMetrics shows `_created`.
 * @returns The exposition text, ending with a line feed.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, Counter, generateMetrics } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * new Counter({ name: "up_total", description: "Ups.", registry }).inc();
 * console.assert(await generateMetrics(registry) ===
 *   "# HELP up_total Ups.\n# TYPE up_total counter\nup_total 1\n");
 * ```
 *
 * @example OpenMetrics, with an exemplar
 * ```ts
 * import { CollectorRegistry, Counter, generateMetrics } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * new Counter({ name: "up_total", description: "Ups.", registry }).inc(1, { trace_id: "abc" });
 * const text = await generateMetrics(registry, { format: "openmetrics", created: false });
 * // # TYPE up counter
 * // # HELP up Ups.
 * // up_total 1 # {trace_id="abc"} 1 1712345678.123
 * // # EOF
 * console.assert(text.startsWith('# TYPE up counter\n# HELP up Ups.\nup_total 1 # {trace_id="abc"} 1 '));
 * ```
 */
export async function generateMetrics(
  registry: Registry = REGISTRY,
  options: GenerateMetricsOptions = {},
): Promise<string> {
  const output = new Output(false);
  await expose(registry, options, output);
  return output.text();
}

/**
 * Renders a registry as {@linkcode generateMetrics} does, straight into the
 * UTF-8 bytes a response sends: faster than encoding the string, as each
 * chunk of text is encoded as soon as it is written. `makeHandler()` serves these.
 * The bytes are a view on a larger buffer: send the view, not its `buffer`.
 *
 * @param registry The registry to render.
 * @param options The format, and whether OpenMetrics shows `_created`.
 * @returns The exposition, UTF-8 encoded.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, Counter, encodeMetrics, PROMETHEUS_CONTENT_TYPE } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * new Counter({ name: "up_total", description: "Ups.", registry }).inc();
 * const response = new Response(await encodeMetrics(registry), {
 *   headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
 * });
 * console.assert((await response.text()).endsWith("up_total 1\n"));
 * ```
 */
export async function encodeMetrics(
  registry: Registry = REGISTRY,
  options: GenerateMetricsOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const output = new Output(true, expectedBytes.get(registry));
  await expose(registry, options, output);
  const bytes = output.bytes();
  expectedBytes.set(registry, bytes.length);
  return bytes;
}

// The size of each registry's last encoded exposition: the next one is about as long.
const expectedBytes = new WeakMap<Registry, number>();

/** Writes the exposition of a registry in the format asked for. */
async function expose(
  registry: Registry,
  options: GenerateMetricsOptions,
  output: Output,
): Promise<void> {
  const format = options.format ?? "text";
  const created = options.created ?? true;
  if (format !== "text" && format !== "openmetrics") {
    throw new PytheusError(
      `Unknown exposition format ${JSON.stringify(format)}: use "text" or "openmetrics"`,
    );
  }
  const sink = format === "text" ? new TextSink(output) : new OpenMetricsSink(output, created);
  await scrapeInto(registry, sink);
  sink.end();
}

/**
 * The text format 0.0.4, written as the registry reads: no sample object is
 * built for a metric's own series, and a series' labels are rendered once
 * for all of its samples.
 */
class TextSink implements ScrapeSink {
  readonly #out: Output;
  #name = "";
  // The suffix of the last sample, and the name with it.
  #suffix = "";
  #prefix = "";
  readonly #labels = new SeriesLabels();

  constructor(out: Output) {
    this.#out = out;
  }

  family(name: string, description: string, familyType: MetricType): void {
    // The text format has no info or stateset: they are gauges there.
    const head = familyType === "info" ? name + "_info" : name;
    const type = familyType === "info" || familyType === "stateset" ? "gauge" : familyType;
    this.#out.write(`# HELP ${head} ${escapeHelp(description)}\n# TYPE ${head} ${type}\n`);
    this.#name = this.#prefix = name;
    this.#suffix = "";
  }

  add(
    series: MetricChild<string, unknown>,
    suffix: string,
    value: number,
    extra?: ExtraLabel,
  ): void {
    if (suffix !== this.#suffix) {
      this.#suffix = suffix;
      this.#prefix = this.#name + suffix;
    }
    // One template a line: JavaScriptCore flattens one rope faster than a chain.
    this.#out.write(
      extra === undefined
        ? `${this.#prefix}${this.#labels.closed(series)} ${formatValue(value)}\n`
        : `${this.#prefix}${this.#labels.opened(series)}${extra.text} ${formatValue(value)}\n`,
    );
  }

  addSample(sample: Sample): void {
    const labelText = sample.labelText ?? renderLabels(sample.labels);
    this.#out.write(`${this.#name}${sample.suffix}${labelText} ${formatValue(sample.value)}\n`);
  }

  end(): void {}
}

/** The sample names each OpenMetrics type reserves, after the family name. */
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  counter: ["_total", "_created"],
  histogram: ["_bucket", "_count", "_sum", "_created"],
  summary: ["_count", "_sum", "_created"],
  info: ["_info"],
};

/**
 * OpenMetrics 1.0, written as the registry reads: per family `# TYPE`,
 * `# UNIT`, `# HELP`, then its samples, each with its exemplar and
 * `_created`, and `# EOF` at the end.
 * A family whose name (or a sample name it implies) an earlier family took is
 * left out with a warning, as OpenMetrics forbids both clashes and
 * interleaving. No sample object is built for a metric's own series.
 */
class OpenMetricsSink implements ScrapeSink {
  readonly #out: Output;
  readonly #created: boolean;
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
  readonly #labels = new SeriesLabels();
  // OpenMetrics allows no _sum in a histogram whose first bucket is negative.
  #negativeBuckets = false;
  // Whether the samples with the current suffix are left out (such a `_sum`).
  #skipSuffix = false;

  constructor(out: Output, created: boolean) {
    this.#out = out;
    this.#created = created;
  }

  family(name: string, description: string, type: MetricType, unit: string | undefined): void {
    const family = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
    const names = [family, ...(SUFFIXES[type] ?? []).map((suffix) => family + suffix)];
    const clash = names.find((n) => this.#taken.has(n));
    this.#skip = clash !== undefined;
    if (clash !== undefined) {
      getLogger().warn(
        `Metric "${name}" left out of the OpenMetrics scrape: the name "${clash}" is already taken`,
      );
      return;
    }
    for (const n of names) this.#taken.add(n);
    this.#out.write(
      `# TYPE ${family} ${type}\n${unit ? `# UNIT ${family} ${unit}\n` : ""}# HELP ${family} ${
        escapeHelpOpenMetrics(description)
      }\n`,
    );
    this.#family = family;
    this.#createdName = family + "_created";
    this.#type = type;
    this.#canonical = type === "histogram" || type === "summary";
    this.#suffix = "";
    this.#prefix = type === "counter" ? family + "_total" : family;
    this.#negativeBuckets = false;
    this.#skipSuffix = false;
  }

  add(...[series, suffix, value, extra, exemplar, created]: Parameters<SampleSink["add"]>): void {
    if (this.#skip) return;
    if (
      suffix !== this.#suffix
        ? this.#next(
          suffix,
          suffix !== "_bucket"
            ? undefined
            : extra?.name === "le"
            ? extra.value
            : series.labelValues.le,
        )
        : this.#skipSuffix
    ) return;
    const labelText = extra === undefined
      ? this.#labels.closed(series)
      : this.#labels.opened(series) + (this.#canonical ? extra.openMetricsText : extra.text);
    this.#line(
      labelText,
      value,
      exemplar,
      created && this.#created && extra === undefined ? series.created : undefined,
    );
  }

  addSample(sample: Sample): void {
    if (this.#skip) return;
    const suffix = sample.suffix;
    if (suffix !== this.#suffix ? this.#next(suffix, sample.labels.le) : this.#skipSuffix) return;
    this.#line(this.#labelText(sample), sample.value, sample.exemplar, sample.created);
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
   * @returns Whether those samples are left out (a `_sum` after negative buckets).
   */
  #next(suffix: string, le: string | undefined): boolean {
    if (this.#type === "histogram" && suffix === "_bucket" && this.#suffix !== "_bucket") {
      this.#negativeBuckets = Number(le) < 0;
    }
    this.#suffix = suffix;
    this.#prefix = this.#type === "counter" && suffix === ""
      ? this.#family + "_total"
      : this.#family + suffix;
    this.#skipSuffix = this.#type === "histogram" && suffix === "_sum" && this.#negativeBuckets;
    return this.#skipSuffix;
  }

  /** Appends a sample line, its exemplar, and its `_created` line when shown. */
  #line(
    labelText: string,
    value: number,
    exemplar: RecordedExemplar | undefined,
    created: number | undefined,
  ): void {
    let line = this.#prefix + labelText + " " + formatValue(value);
    if (exemplar !== undefined) {
      line += " # " + exemplar.labelText + " " + formatValue(exemplar.value) + " " +
        formatValue(exemplar.timestamp);
    }
    if (this.#created && created !== undefined) {
      line += "\n" + this.#createdName + labelText + " " + formatValue(created);
    }
    this.#out.write(line + "\n");
  }

  /** A whole sample's labels; a histogram's or summary's with `le` or `quantile` canonical. */
  #labelText(sample: Sample): string {
    if (!this.#canonical) return sample.labelText ?? renderLabels(sample.labels);
    if (sample.openMetricsLabelText !== undefined) return sample.openMetricsLabelText;
    const special = this.#type === "histogram"
      ? (sample.suffix === "_bucket" ? "le" : undefined)
      : (sample.suffix === "" ? "quantile" : undefined);
    if (special === undefined) return sample.labelText ?? renderLabels(sample.labels);
    const labels = { ...sample.labels };
    const value = labels[special];
    if (value !== undefined && value.trim() !== "" && !Number.isNaN(Number(value))) {
      labels[special] = canonicalNumber(Number(value));
    }
    return renderLabels(labels);
  }
}
