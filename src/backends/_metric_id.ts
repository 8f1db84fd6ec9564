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
