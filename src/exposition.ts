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
  labelOpen,
  renderLabels,
} from "./_format.ts";
import { PytheusError } from "./errors.ts";
import { getLogger } from "./logger.ts";
import type { ExtraLabel, MetricChild, Sample } from "./metric.ts";
import type { MetricType } from "./backends/backend.ts";
import { type MetricFamilySamples, REGISTRY, type Registry, type ScrapeSink } from "./registry.ts";
import { scrapeInto } from "./_child.ts";

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
  if (options.format === "openmetrics") {
    return openMetrics(await registry.collect(), options.created ?? true);
  }
  if (options.format !== undefined && options.format !== "text") {
    throw new PytheusError(
      `Unknown exposition format ${JSON.stringify(options.format)}: use "text" or "openmetrics"`,
    );
  }
  const text = new TextSink();
  await scrapeInto(registry, text);
  return text.text();
}

/**
 * The text format 0.0.4, written as the registry reads: no sample object is
 * built for a metric's own series. Lines are appended with `+=` (a rope,
 * flattened once when the response encodes it), each of three pieces.
 */
class TextSink implements ScrapeSink {
  #text = "";
  #name = "";
  // The suffix of the last sample, and the name with it.
  #suffix = "";
  #prefix = "";
  // The series of the last sample with an extra label, and its name and labels opened for it.
  #series: MetricChild<string, unknown> | undefined;
  #open = "";

  family(name: string, description: string, familyType: MetricType): void {
    // The text format has no info or stateset: they are gauges there.
    const head = familyType === "info" ? name + "_info" : name;
    const type = familyType === "info" || familyType === "stateset" ? "gauge" : familyType;
    this.#text += `# HELP ${head} ${escapeHelp(description)}\n# TYPE ${head} ${type}\n`;
    this.#name = this.#prefix = name;
    this.#suffix = "";
    this.#series = undefined;
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
      this.#series = undefined;
    }
    if (extra === undefined) {
      this.#text += this.#prefix + series.labelText + valueText(value);
      return;
    }
    if (series !== this.#series) {
      this.#series = series;
      this.#open = this.#prefix + labelOpen(series.labelText);
    }
    this.#text += this.#open + extra.text + valueText(value);
  }

  addSample(sample: Sample): void {
    const labelText = sample.labelText ?? renderLabels(sample.labels);
    this.#text += this.#name + sample.suffix + labelText + valueText(sample.value);
  }

  text(): string {
    return this.#text;
  }
}

/** ` <value>\n`, short enough to be one flat string: a line is then three pieces. */
function valueText(value: number): string {
  return " " + formatValue(value) + "\n";
}

/** The sample names each OpenMetrics type reserves, after the family name. */
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  counter: ["_total", "_created"],
  histogram: ["_bucket", "_count", "_sum", "_created"],
  summary: ["_count", "_sum", "_created"],
  info: ["_info"],
};

/** A family as the registry reads it, with the unit when the registry passes it on. */
type Family = MetricFamilySamples & { readonly unit?: string | undefined };

/**
 * OpenMetrics 1.0: per family `# TYPE`, `# UNIT`, `# HELP`, then its
 * samples, each with its exemplar, then `# EOF`. A family whose name (or a
 * sample name it implies) an earlier family took is left out with a warning,
 * as OpenMetrics forbids both clashes and interleaving.
 */
function openMetrics(families: readonly Family[], created: boolean): string {
  let text = "";
  const taken = new Set<string>();
  for (const { name, description, type, unit, samples } of families) {
    const family = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
    const names = [family, ...(SUFFIXES[type] ?? []).map((suffix) => family + suffix)];
    const clash = names.find((n) => taken.has(n));
    if (clash !== undefined) {
      getLogger().warn(
        `Metric "${name}" left out of the OpenMetrics scrape: the name "${clash}" is already taken`,
      );
      continue;
    }
    for (const n of names) taken.add(n);
    text += `# TYPE ${family} ${type}\n`;
    if (unit) text += `# UNIT ${family} ${unit}\n`;
    text += `# HELP ${family} ${escapeHelpOpenMetrics(description)}\n`;
    const canonical = type === "histogram" || type === "summary";
    // OpenMetrics allows no _sum in a histogram with negative buckets.
    let negativeBuckets = false;
    let previousSuffix = "";
    for (const sample of samples) {
      const suffix = sample.suffix;
      if (type === "histogram") {
        if (suffix === "_bucket" && previousSuffix !== "_bucket") {
          negativeBuckets = Number(sample.labels.le) < 0;
        }
        previousSuffix = suffix;
        if (suffix === "_sum" && negativeBuckets) continue;
      }
      const labelText = canonical ? openMetricsLabels(sample, type) : sample.labelText ??
        renderLabels(sample.labels);
      text += (type === "counter" && suffix === "" ? family + "_total" : family + suffix) +
        labelText + " " + formatValue(sample.value);
      const exemplar = sample.exemplar;
      if (exemplar !== undefined) {
        text += " # " + exemplar.labelText + " " + formatValue(exemplar.value) + " " +
          formatValue(exemplar.timestamp);
      }
      text += "\n";
      if (created && sample.created !== undefined) {
        text += family + "_created" + labelText + " " + formatValue(sample.created) + "\n";
      }
    }
  }
  return text + "# EOF\n";
}

/** A histogram's or summary's labels, with `le` or `quantile` canonical. */
function openMetricsLabels(sample: Sample, type: string): string {
  if (sample.openMetricsLabelText !== undefined) return sample.openMetricsLabelText;
  const special = type === "histogram"
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
