/**
 * pytheus for TypeScript: Prometheus metrics for Deno and Bun, with the same
 * API in one process and in many. Swap the value backend (in memory by
 * default, Redis from `@pytheus/pytheus/redis`) and nothing else changes.
 *
 * ```ts
 * import { Counter, generateMetrics, Histogram } from "@pytheus/pytheus";
 *
 * const requests = new Counter({
 *   name: "http_requests_total",
 *   description: "HTTP requests served.",
 *   requiredLabels: ["method", "code"] as const,
 * });
 * const latency = new Histogram({ name: "http_request_seconds", description: "Latency." });
 *
 * await latency.time(async () => {
 *   requests.labels({ method: "GET", code: "200" }).inc();
 * });
 * console.log(await generateMetrics());
 * ```
 *
 * @module
 */

// Metrics and their options. (The types one names only to annotate, such as
// the children `labels()` returns, are in `@pytheus/pytheus/types`.)
export { Counter, type CounterOptions } from "./src/metrics/counter.ts";
export { Gauge, type GaugeOptions } from "./src/metrics/gauge.ts";
export {
  DEFAULT_BUCKETS,
  exponentialBuckets,
  Histogram,
  type HistogramOptions,
  linearBuckets,
} from "./src/metrics/histogram.ts";
export type { NativeHistogramOptions } from "./src/metrics/_native_histogram.ts";
export { Summary, type SummaryOptions } from "./src/metrics/summary.ts";
export { Info, type InfoOptions } from "./src/metrics/info.ts";
export { Enum, type EnumOptions } from "./src/metrics/enum.ts";
export type { MetricOptions } from "./src/metrics/metric_options.ts";
export type { LabelValues, Sample } from "./src/vocabulary.ts";
export type { Exemplar } from "./src/vocabulary.ts";

// Registries and custom collectors.
export {
  type Collector,
  CollectorRegistry,
  type CollectorRegistryOptions,
  type Registry,
} from "./src/registry/registry.ts";
export { REGISTRY } from "./src/registry/default_registry.ts";
export { type MetricCollector } from "./src/vocabulary.ts";
export { CustomCollector } from "./src/registry/custom_collector.ts";

// Exposition and serving.
export {
  encodeMetrics,
  generateMetrics,
  type GenerateMetricsOptions,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  PROTOBUF_CONTENT_TYPE,
} from "./src/exposition/exposition.ts";
export { type FetchHandler, type HandlerOptions, makeHandler } from "./src/http/handler.ts";
export { instrumentHandler, type InstrumentHandlerOptions } from "./src/http/instrument_handler.ts";
export {
  collectDefaultMetrics,
  type DefaultMetricsOptions,
} from "./src/process/default_metrics.ts";
export {
  deleteFromGateway,
  type GatewayGroupOptions,
  pushAddToGateway,
  PushgatewayError,
  type PushOptions,
  pushToGateway,
} from "./src/push/pushgateway.ts";

// Backends: choosing one, and writing one.
export { loadBackend, type LoadBackendOptions } from "./src/backends/load_backend.ts";
export { SingleProcessBackend } from "./src/backends/single_process.ts";
export { MultiWorkerBackend, type MultiWorkerBackendConfig } from "./src/backends/multi_worker.ts";
export type {
  Backend,
  BackendClass,
  BackendConfig,
  BackendMetric,
  LabelledValue,
} from "./src/backends/backend.ts";
export type { MetricType } from "./src/vocabulary.ts";
export type {
  Store,
  StoreClass,
  StoredMetric,
  StoredSeries,
  StoredValue,
  StoreReading,
} from "./src/backends/store.ts";

// Errors and logging.
export {
  BackendUnavailableError,
  BucketError,
  InvalidOptionError,
  InvalidSampleError,
  InvalidValueError,
  LabelValidationError,
  NameValidationError,
  PytheusError,
  UnobservableMetricError,
} from "./src/errors.ts";
export { type Logger, setLogger } from "./src/logger.ts";
