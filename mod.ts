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

export * from "./src/errors.ts";
export * from "./src/logger.ts";
export * from "./src/metrics/metric.ts";
export * from "./src/metrics/counter.ts";
export * from "./src/metrics/gauge.ts";
export * from "./src/metrics/histogram.ts";
export * from "./src/metrics/timer.ts";
export * from "./src/registry/registry.ts";
export * from "./src/registry/custom_collector.ts";
export * from "./src/exposition/exposition.ts";
export * from "./src/http/handler.ts";
export * from "./src/backends/backend.ts";
export * from "./src/backends/store.ts";
export * from "./src/backends/single_process.ts";
export * from "./src/backends/load_backend.ts";
export * from "./src/process/default_metrics.ts";
export * from "./src/http/instrument_handler.ts";
export * from "./src/push/pushgateway.ts";
export * from "./src/backends/multi_worker.ts";
export * from "./src/metrics/summary.ts";
export * from "./src/metrics/info.ts";
export * from "./src/metrics/enum.ts";
export * from "./src/metrics/exemplar.ts";
export * from "./src/metrics/timed.ts";
