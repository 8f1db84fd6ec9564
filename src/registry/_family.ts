/**
 * Which names a metric family takes: its family name, and the sample names
 * its type adds. One table serves the registry, which refuses a metric whose
 * names another one takes, and both text expositions, which write them.
 */

import type { MetricType } from "../vocabulary.ts";

/** The sample names each type adds to its family name, in any format. */
const SAMPLE_SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  counter: ["_total", "_created"],
  gauge: [],
  histogram: ["_bucket", "_sum", "_count", "_created"],
  summary: ["_sum", "_count", "_created"],
  info: ["_info"],
  stateset: [],
};

/**
 * The family name of a metric: a counter's without `_total` (OpenMetrics
 * names the family `x` and its sample `x_total`), any other's as given.
 *
 * @param name The metric name (with the registry prefix, if any).
 * @param type The metric type.
 * @returns The family name.
 */
export function familyName(name: string, type: MetricType): string {
  return type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
}

/**
 * Every name a metric family takes: the family name, and each sample name
 * its type adds (`x_total` and `x_created` of a counter `x`).
 *
 * @param name The metric name (with the registry prefix, if any).
 * @param type The metric type.
 * @returns The names.
 */
export function familyNames(name: string, type: MetricType): string[] {
  const family = familyName(name, type);
  return [family, ...(SAMPLE_SUFFIXES[type] ?? []).map((suffix) => family + suffix)];
}

/**
 * The name of a sample: the family name and the sample's suffix, where a
 * counter's own sample is `<family>_total` in every format (as
 * client_python writes it), so the series' name never depends on what a
 * scrape negotiated.
 *
 * @param family The family name ({@linkcode familyName}).
 * @param type The metric type.
 * @param suffix The sample's suffix: `""`, `"_bucket"`, `"_sum"`, ...
 * @returns The sample name.
 */
export function sampleName(family: string, type: MetricType, suffix: string): string {
  return type === "counter" && suffix === "" ? family + "_total" : family + suffix;
}
