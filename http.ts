/**
 * The parts `instrumentHandler` is built from, for a middleware of another
 * framework: the three HTTP histograms, and the label values that keep
 * what a client sends out of the labels.
 *
 * ```ts
 * import { CollectorRegistry } from "@pytheus/pytheus";
 * import { httpMetrics, UNMATCHED_ROUTE } from "@pytheus/pytheus/http";
 *
 * const http = httpMetrics({ registry: new CollectorRegistry() });
 * console.assert(UNMATCHED_ROUTE === "(unmatched)");
 * console.assert(http.duration.name === "http_request_duration_seconds");
 * ```
 *
 * @module
 */

export {
  type HttpInstrumentationOptions,
  type HttpLabel,
  type HttpMetricNames,
  type HttpMetrics,
  httpMetrics,
  type HttpMetricsOptions,
  OTHER_METHOD,
  UNMATCHED_ROUTE,
} from "./src/http/http_metrics.ts";
