/**
 * The canonical names of stored numbers (see `StoredSeries`): a metric's id
 * and, within it, the key of one number of one series.
 *
 * @module
 */

/**
 * A metric's identity in a store that several registries share: its name, or
 * `<registry prefix>/<name>` for a metric of a prefixed registry. No metric
 * name holds a `/`, so the `orders_total` of a registry prefixed `shop` and
 * of one prefixed `admin` are two metrics, and neither is a bare
 * `shop_orders_total`.
 *
 * @param metric The metric (a series of it).
 * @returns Its identity.
 */
export function metricId(
  metric: { readonly name: string; readonly registryPrefix: string },
): string {
  return metric.registryPrefix === "" ? metric.name : `${metric.registryPrefix}/${metric.name}`;
}

/**
 * The key of one number of a series: the series' key, then `|<sample>`
 * unless `sample` is `""`.
 *
 * @param series The series' key.
 * @param sample `""`, a bucket's `le`, `"sum"` or `"count"`.
 * @returns The key.
 */
export function sampleKey(series: string, sample: string): string {
  return sample === "" ? series : `${series}|${sample}`;
}

/** A key read back: the series' key and labels, and the sample. */
export interface ParsedKey {
  /** The series' key (the key without its sample). */
  readonly series: string;
  /** The series' labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** The sample, `""` for the series' value. */
  readonly sample: string;
}

/**
 * The series' key within a number's key (the key without its sample): no
 * sample holds a `}`, so the labels' JSON ends at the last one.
 *
 * @param key A number's key.
 * @returns The series' key.
 */
export function seriesOfKey(key: string): string {
  const end = key.lastIndexOf("}") + 1;
  return end === key.length ? key : key.slice(0, end);
}

/**
 * Reads a key back (one another process wrote, maybe garbage).
 *
 * @param key The key.
 * @returns What it names, or `undefined` when it is not a key.
 */
export function parseKey(key: string): ParsedKey | undefined {
  const series = seriesOfKey(key);
  const rest = key.slice(series.length);
  if (rest !== "" && !rest.startsWith("|")) return undefined;
  let labels: unknown;
  try {
    labels = JSON.parse(series);
  } catch {
    return undefined;
  }
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) return undefined;
  if (!Object.values(labels).every((value) => typeof value === "string")) return undefined;
  return {
    series,
    labels: labels as Record<string, string>,
    sample: rest.slice(1),
  };
}
