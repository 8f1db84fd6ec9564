/**
 * The three HTTP histograms every instrumentation records (request duration,
 * request size, response size), created once per registry and names, and
 * the label values that keep what a client sends out of the labels.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import { familyNames } from "../registry/_family.ts";
import { registryOption } from "../_entry_options.ts";
import {
  checkMetricName,
  checkOptions,
  describeName,
  describeValue,
  type NameValidation,
} from "../_validation.ts";
import { DEFAULT_BUCKETS, Histogram } from "../metrics/histogram.ts";
import { sharedExemplar } from "../metrics/_exemplar.ts";
import { countDropped } from "../metrics/_dropped.ts";
import { getLogger, type Logger } from "../logger.ts";
import type { Registry } from "../registry/registry.ts";
import { RegistryProxy } from "../registry/default_registry.ts";
import type { Exemplar } from "../vocabulary.ts";

/** The labels of the three HTTP histograms. */
export type HttpLabel = "method" | "route" | "status_code";

/**
 * The `route` label of a request no route matched: without a `route` or
 * `routes` option, the label of every request.
 */
export const UNMATCHED_ROUTE = "(unmatched)";

/**
 * The `method` label of a request whose method is none of GET, HEAD, POST,
 * PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH (compared case-sensitively, as
 * HTTP does), as OpenTelemetry's HTTP semantic conventions label it.
 */
export const OTHER_METHOD = "_OTHER";

/** The names of the three HTTP histograms; each one left out keeps its default. */
export interface HttpMetricNames {
  /**
   * The name of the request duration histogram.
   *
   * @default {"http_request_duration_seconds"}
   */
  duration?: string;
  /**
   * The name of the request size histogram.
   *
   * @default {"http_request_size_bytes"}
   */
  requestSize?: string;
  /**
   * The name of the response size histogram.
   *
   * @default {"http_response_size_bytes"}
   */
  responseSize?: string;
}

/** Options of {@linkcode httpMetrics}: where the three histograms live, their names and buckets. */
export interface HttpMetricsOptions {
  /**
   * The registry the three histograms live in. They are created once per
   * registry and set of `names`, so instrumenting several handlers shares them.
   *
   * @default {REGISTRY}
   */
  registry?: Registry;
  /**
   * Other names for the three histograms, for an application that already
   * has metrics of the default names (which is an error otherwise). Each
   * name must be a valid metric name.
   *
   * @default {{ duration: "http_request_duration_seconds", requestSize: "http_request_size_bytes", responseSize: "http_response_size_bytes" }}
   */
  names?: HttpMetricNames;
  /**
   * Buckets of the duration histogram, used when the histograms are created
   * for the registry and names (the first call).
   *
   * @default {DEFAULT_BUCKETS}
   */
  durationBuckets?: readonly number[];
  /**
   * Buckets of the two size histograms, used when the histograms are created
   * for the registry and names (the first call).
   *
   * @default {[100, 1000, 10000, 100000, 1000000, 10000000, 100000000]}
   */
  sizeBuckets?: readonly number[];
}

/**
 * Options of the HTTP instrumentations (`instrumentHandler()`, and
 * `prometheus()` of `@pytheus/pytheus/hono`): those of
 * {@linkcode httpMetrics}, and where a request's exemplar comes from.
 */
export interface HttpInstrumentationOptions extends HttpMetricsOptions {
  /**
   * Gives a request its exemplar, such as the active trace's
   * `{ trace_id, span_id }` (with `@opentelemetry/api`: see the README). It
   * is called once for every request recorded, with the request as the
   * server passed it, when the handler has returned its response or thrown,
   * in the handler's async context: where the server's span (Deno.serve's
   * with `OTEL_DENO=true`) is still the active one. What it returns is the
   * exemplar of the request's three observations (duration, request size,
   * response size), each with its own value; `undefined` or `null` means
   * none (a request outside any sampled trace).
   *
   * It never costs the observation: when it throws, or returns something
   * that breaks the exemplar rules (label names, string values, at most 128
   * characters), the request is recorded without an exemplar, the drop is
   * counted in `pytheus_exemplars_dropped_total` for each of the three
   * histograms, and the mistake is logged once.
   *
   * @default {undefined (no exemplars, and no work for them)}
   */
  exemplar?: (request: Request) => Exemplar | null | undefined;
}

/** The three histograms, as created for one registry. */
export interface HttpMetrics {
  /** The request duration (`http_request_duration_seconds`): from the call of the handler to the last response byte. */
  readonly duration: Histogram<HttpLabel>;
  /** The request size (`http_request_size_bytes`): `Content-Length`, or the body bytes the handler read. */
  readonly requestSize: Histogram<HttpLabel>;
  /** The response size (`http_response_size_bytes`): the body bytes handed to the server. */
  readonly responseSize: Histogram<HttpLabel>;
}

type Field = keyof HttpMetrics;
const FIELDS: readonly Field[] = ["duration", "requestSize", "responseSize"];
const DEFAULT_NAMES: Readonly<Record<Field, string>> = {
  duration: "http_request_duration_seconds",
  requestSize: "http_request_size_bytes",
  responseSize: "http_response_size_bytes",
};
const DESCRIPTIONS: Readonly<Record<Field, string>> = {
  duration: "Duration of HTTP requests in seconds, until the last response byte.",
  requestSize: "Size of HTTP request bodies in bytes.",
  responseSize: "Size of HTTP response bodies in bytes.",
};
const DEFAULT_SIZE_BUCKETS: readonly number[] = [100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
const LABELS = ["method", "route", "status_code"] as const;
/** The options `httpMetrics()` takes (`instrumentHandler()` takes more). */
export const METRICS_OPTIONS = ["registry", "names", "durationBuckets", "sizeBuckets"] as const;
/** The options every HTTP instrumentation takes (`instrumentHandler()` takes more). */
export const INSTRUMENTATION_OPTIONS = [...METRICS_OPTIONS, "exemplar"] as const;
/** The histograms of each registry, by their three names. */
const metricsByRegistry = new WeakMap<Registry, Map<string, HttpMetrics>>();
/** The registry each set of histograms counts what it drops in. */
const registryOfMetrics = new WeakMap<HttpMetrics, Registry>();

/**
 * Returns the HTTP histograms of a registry and set of names, creating them
 * on first use (the same registry and names give the same histograms).
 *
 * @param options The registry, the names and the buckets to create them with.
 * @returns The histograms.
 * @throws {InvalidOptionError} When a name the histograms need is taken in
 * the registry by a metric of the application (pass other `names`), or
 * `options` is not an object (`undefined` is the defaults), has an unknown
 * key, or holds a registry or `names` of the wrong kind.
 * @throws {NameValidationError} When one of `names` is not a valid metric name.
 * @throws {BucketError} When `durationBuckets` or `sizeBuckets` are not valid buckets.
 *
 * @example
 * ```ts
 * import { CollectorRegistry } from "@pytheus/pytheus";
 * import { httpMetrics } from "@pytheus/pytheus/http";
 * const registry = new CollectorRegistry();
 * console.assert(httpMetrics({ registry }) === httpMetrics({ registry }));
 * const api = httpMetrics({
 *   registry,
 *   names: {
 *     duration: "api_request_duration_seconds",
 *     requestSize: "api_request_size_bytes",
 *     responseSize: "api_response_size_bytes",
 *   },
 * });
 * console.assert(api.duration.name === "api_request_duration_seconds");
 * ```
 */
export function httpMetrics(options: HttpMetricsOptions = {}): HttpMetrics {
  checkOptions("httpMetrics()", options, METRICS_OPTIONS);
  return metricsFor(options, "httpMetrics() (the histograms of instrumentHandler)");
}

/** The histograms of the registry and names of `options`, whose keys are checked. */
export function metricsFor(options: HttpMetricsOptions, caller: string): HttpMetrics {
  let registry = registryOption(caller, options.registry);
  // The default registry's target can be swapped: key on the target in use now.
  if (registry instanceof RegistryProxy) registry = registry.registry;
  const names = metricNames(options.names, caller, registry.nameValidation ?? "legacy");
  const key = JSON.stringify([names.duration, names.requestSize, names.responseSize]);
  let byNames = metricsByRegistry.get(registry);
  let metrics = byNames?.get(key);
  if (metrics === undefined) {
    metrics = createMetrics(registry, names, options, caller);
    registryOfMetrics.set(metrics, registry);
    if (byNames === undefined) metricsByRegistry.set(registry, byNames = new Map());
    byNames.set(key, metrics);
  }
  return metrics;
}

/**
 * The three names, each checked as the registry takes names (a symbol would
 * break every string built from it).
 */
function metricNames(
  names: unknown,
  caller: string,
  validation: NameValidation,
): Record<Field, string> {
  if (names === undefined || names === null) return DEFAULT_NAMES;
  if (typeof names !== "object" || Array.isArray(names)) {
    throw new InvalidOptionError(
      `${caller}: names must be an object such as { duration: "..." }, got ${describeValue(names)}`,
    );
  }
  for (const key of Object.keys(names)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw new InvalidOptionError(
        `${caller}: names has no key ${
          describeName(key)
        }; the names are duration, requestSize, responseSize`,
      );
    }
  }
  const given = names as Readonly<Record<string, unknown>>;
  const name = (field: Field): string => {
    const value = given[field] ?? DEFAULT_NAMES[field];
    return checkMetricName(value, `${caller} names.${field}`, validation);
  };
  return {
    duration: name("duration"),
    requestSize: name("requestSize"),
    responseSize: name("responseSize"),
  };
}

function collision(caller: string, names: Record<Field, string>, field: Field, exposed: string) {
  const histogram = names[field];
  return new InvalidOptionError(
    `${caller}: the registry already has a metric named "${exposed}", which the histogram ` +
      `"${histogram}" needs; pass names: { ${field}: "<another name>" } to use another name`,
  );
}

/**
 * Creates the three histograms in `registry`, all or none: the names are
 * checked before any is created, and a histogram whose creation fails
 * (a bad name, bad buckets) takes the ones created before it away.
 */
function createMetrics(
  registry: Registry,
  names: Record<Field, string>,
  options: HttpMetricsOptions,
  caller: string,
): HttpMetrics {
  const owner = new Map<string, Field>();
  for (const field of FIELDS) {
    for (const exposed of familyNames(names[field], "histogram")) {
      const other = owner.get(exposed);
      if (other !== undefined) {
        throw new InvalidOptionError(
          `${caller}: names.${other} and names.${field} both expose "${exposed}"; pass distinct names`,
        );
      }
      owner.set(exposed, field);
      if (registry.has?.(exposed)) throw collision(caller, names, field, exposed);
    }
  }
  const sizeBuckets = options.sizeBuckets ?? DEFAULT_SIZE_BUCKETS;
  const created: Histogram<HttpLabel>[] = [];
  try {
    for (const field of FIELDS) {
      created.push(
        new Histogram({
          name: names[field],
          description: DESCRIPTIONS[field],
          requiredLabels: LABELS,
          buckets: field === "duration" ? options.durationBuckets ?? DEFAULT_BUCKETS : sizeBuckets,
          registry,
        }),
      );
    }
  } catch (error) {
    for (const histogram of created) registry.unregister(histogram);
    throw error;
  }
  if (registry.has === undefined) {
    // The registry could not say which names are taken: ask whether it took
    // each histogram (unregister() answers whether it was registered), and
    // register them back only when it took all three.
    const refused = created.map((histogram) => !registry.unregister(histogram)).indexOf(true);
    if (refused !== -1) {
      const field = FIELDS[refused]!;
      throw collision(caller, names, field, names[field]);
    }
    for (const histogram of created) registry.register(histogram);
  }
  const [duration, requestSize, responseSize] = created as [
    Histogram<HttpLabel>,
    Histogram<HttpLabel>,
    Histogram<HttpLabel>,
  ];
  return { duration, requestSize, responseSize };
}

const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

/**
 * The `method` label of a request: its method when it is one of HTTP's,
 * else {@linkcode OTHER_METHOD} (a client may send any token).
 *
 * @param method The request's method.
 * @returns The label value.
 */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : OTHER_METHOD;
}

/**
 * The `exemplar` option made safe: a function that calls it and returns a
 * checked copy of what it gave, or `undefined` (none, or dropped: counted
 * for each histogram and logged once). `undefined` without the option, so
 * that a request then does no work for exemplars.
 *
 * @param options The options, whose `exemplar` is checked now.
 * @param metrics The histograms the exemplars go to.
 * @param caller Who asks, for messages: `"instrumentHandler()"`.
 * @returns The function, or `undefined`.
 * @throws {InvalidOptionError} When `exemplar` is given and is not a function.
 */
export function exemplarSource(
  options: HttpInstrumentationOptions,
  metrics: HttpMetrics,
  caller: string,
): ((request: Request) => Exemplar | undefined) | undefined {
  // null is absent, as for every option.
  const source = options.exemplar ?? undefined;
  if (source === undefined) return undefined;
  if (typeof source !== "function") {
    throw new InvalidOptionError(
      `${caller}: exemplar must be a function (request) => exemplar | undefined, got ${
        describeValue(source)
      }`,
    );
  }
  const registry = registryOfMetrics.get(metrics)!;
  return guarded<Exemplar | undefined>(
    source,
    (given, refuse) => {
      if (given === undefined || given === null) return undefined;
      const checked = sharedExemplar(given);
      return typeof checked === "string" ? refuse(`returned a bad exemplar: ${checked}`) : checked;
    },
    () => {
      for (const field of FIELDS) countDropped(registry, "exemplars", metrics[field].name);
      return undefined;
    },
    "warn",
    (problem) =>
      `pytheus: ${caller}'s exemplar() ${problem}: such requests are recorded without an ` +
      "exemplar, counted in pytheus_exemplars_dropped_total (logged once)",
  );
}

/**
 * An application's per-request function (the `route` and `exemplar`
 * options) made safe: what it returns goes through `accept`, which gives the
 * result or refuses it with what is wrong; what it throws is refused too. A
 * refusal gives `refused()`, and the first one is logged.
 *
 * @param fn The application's function.
 * @param accept Checks what `fn` returned: the result, or `refuse(problem)`.
 * @param refused What a refused call gives (and does: counting it).
 * @param level Which of the logger's methods logs the first refusal.
 * @param message The log message, from the problem.
 * @returns The function that never throws.
 */
export function guarded<T>(
  fn: (request: Request) => unknown,
  accept: (given: unknown, refuse: (problem: string) => T) => T,
  refused: () => T,
  level: keyof Logger,
  message: (problem: string) => string,
): (request: Request) => T {
  let logged = false;
  const refuse = (problem: string, ...details: unknown[]): T => {
    if (!logged) {
      logged = true;
      getLogger()[level](message(problem), ...details);
    }
    return refused();
  };
  return (request) => {
    let given: unknown;
    try {
      given = fn(request);
    } catch (error) {
      return refuse("threw", error);
    }
    return accept(given, refuse);
  };
}

/**
 * What records one exchange in the three histograms: its duration since
 * `start`, its request and response sizes, with the exemplar of the
 * request if it has one. It never throws (it runs inside a body stream,
 * where a failure would break the response): a recording that fails (a
 * backend that throws) is logged once per recorder, not per request.
 *
 * @param metrics The histograms.
 * @param owner What records, for the log: `"instrumented handler"`.
 * @returns The recorder.
 */
export function recorder(
  metrics: HttpMetrics,
  owner: string,
): (
  labels: Record<HttpLabel, string>,
  start: number,
  requestBytes: number,
  responseBytes: number,
  exemplar: Exemplar | undefined,
) => void {
  let failed = false;
  return (labels, start, requestBytes, responseBytes, exemplar) => {
    try {
      metrics.duration.labels(labels).observe((performance.now() - start) / 1000, exemplar);
      metrics.requestSize.labels(labels).observe(requestBytes, exemplar);
      metrics.responseSize.labels(labels).observe(responseBytes, exemplar);
    } catch (error) {
      if (failed) return;
      failed = true;
      getLogger().error(`pytheus: recording HTTP metrics failed (logged once per ${owner})`, error);
    }
  };
}
