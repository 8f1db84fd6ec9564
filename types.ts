/**
 * The types of pytheus' public API that one names only to annotate: the
 * children `labels()` returns, their base classes, what `time()` returns,
 * what a registry's `collect()` lists. Everything one constructs or calls is
 * in the root module.
 *
 * ```ts
 * import { Counter } from "@pytheus/pytheus";
 * import type { CounterChild } from "@pytheus/pytheus/types";
 *
 * const requests = new Counter({
 *   name: "requests_total",
 *   description: "Requests.",
 *   requiredLabels: ["route"] as const,
 * });
 * const home: CounterChild<"route"> = requests.labels({ route: "/" });
 * home.inc();
 * ```
 *
 * @module
 */

export type { Metric } from "./src/metrics/metric.ts";
export type { MetricChild } from "./src/metrics/child.ts";
export type { TimedChild, TimedMetric } from "./src/metrics/timed.ts";
export type { Timer } from "./src/metrics/timer.ts";
export type { CounterChild, ErrorTypes } from "./src/metrics/counter.ts";
export type { GaugeChild } from "./src/metrics/gauge.ts";
export type { HistogramChild } from "./src/metrics/histogram.ts";
export type { SummaryChild } from "./src/metrics/summary.ts";
export type { InfoChild, InfoValues } from "./src/metrics/info.ts";
export type { EnumChild } from "./src/metrics/enum.ts";
export type { RecordedExemplar } from "./src/vocabulary.ts";
export type { RegistryProxy } from "./src/registry/default_registry.ts";
export type { MetricFamilySamples } from "./src/vocabulary.ts";
export type { ExpositionFormat } from "./src/exposition/exposition.ts";
export type { DefaultMetrics } from "./src/process/default_metrics.ts";
export type { LoadedBackend } from "./src/backends/load_backend.ts";
export type { GaugeMode } from "./src/backends/multi_worker.ts";
export type { NameValidation } from "./src/_validation.ts";
export type { Escaping } from "./src/exposition/_escaping.ts";
export type { ValueFunction } from "./src/metrics/_value_function.ts";
