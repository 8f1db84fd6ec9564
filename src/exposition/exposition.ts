/**
 * What a scrape reads: the Prometheus text format 0.0.4, or OpenMetrics 1.0.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import { type Registry, scrapeInto } from "../registry/registry.ts";
import { REGISTRY } from "../registry/default_registry.ts";
import { Output } from "./_output.ts";
import { ProtoWriter } from "./_proto_writer.ts";
import { ProtobufSink } from "./_protobuf_sink.ts";
import { TextSink } from "./_text_sink.ts";
import { OpenMetricsSink } from "./_openmetrics_sink.ts";
import { ExposedNames } from "./_names.ts";
import { ConstLabels } from "./_const_labels.ts";
import { type Escaping, ESCAPINGS } from "./_escaping.ts";
import { registryOption } from "../_entry_options.ts";
import { checkOptions, describeName, describeValue } from "../_validation.ts";

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
 * The `Content-Type` of the Prometheus protobuf format: length-delimited
 * `io.prometheus.client.MetricFamily` messages ({@linkcode encodeMetrics}
 * with `{ format: "protobuf" }`).
 *
 * @example Serve the protobuf format by hand
 * ```ts
 * import { encodeMetrics, PROTOBUF_CONTENT_TYPE } from "@pytheus/pytheus";
 * const response = new Response(await encodeMetrics(undefined, { format: "protobuf" }), {
 *   headers: { "content-type": PROTOBUF_CONTENT_TYPE },
 * });
 * ```
 */
export const PROTOBUF_CONTENT_TYPE =
  "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/**
 * An exposition format: the Prometheus text format 0.0.4, OpenMetrics 1.0,
 * or (as bytes only, from {@linkcode encodeMetrics}) the Prometheus protobuf format.
 *
 * @example
 * ```ts
 * import type { ExpositionFormat } from "@pytheus/pytheus/types";
 * const format: ExpositionFormat = "openmetrics";
 * ```
 */
export type ExpositionFormat = "text" | "openmetrics" | "protobuf";

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
   * The format: `"text"` (Prometheus 0.0.4), `"openmetrics"` (1.0.0, with
   * exemplars, units, `_created` and `# EOF`), or, for
   * {@linkcode encodeMetrics} only, `"protobuf"` (the Prometheus protobuf
   * format: created timestamps and exemplars too).
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
  /**
   * How names outside the legacy character set are written, in a registry
   * made with `nameValidation: "utf-8"` (a legacy registry has none):
   * `"allow-utf-8"` as they are (a metric name quoted inside the braces,
   * `{"http.server.request.duration",le="0.1"} 3`; text format 1.0.0,
   * OpenMetrics or protobuf only), `"underscores"`
   * (`http_server_request_duration`), `"dots"`
   * (`http_dot_server_dot_request_dot_duration`) or `"values"`
   * (`U__http_2e_server_2e_request_2e_duration`), as the Prometheus
   * escaping schemes define them. Label values are never escaped.
   *
   * @default {"underscores"}
   */
  escaping?: Escaping;
  /**
   * The version of the text format: `"0.0.4"`, or `"1.0.0"`, the same lines
   * where names may be quoted (`escaping: "allow-utf-8"`). Text format only.
   *
   * @default {"0.0.4"}
   */
  version?: "0.0.4" | "1.0.0";
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
export function generateMetrics(
  registry: Registry = REGISTRY,
  options: GenerateMetricsOptions = {},
): Promise<string> {
  return shared(registry, "text", options, async (exposition) => {
    const output = new Output(false);
    await expose(registry, exposition, output);
    return output.text();
  });
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
export function encodeMetrics(
  registry: Registry = REGISTRY,
  options: GenerateMetricsOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  return shared(registry, "bytes", options, async (exposition) => {
    if (exposition.format === "protobuf") {
      const writer = new ProtoWriter(protobufBytes.get(registry));
      const names = namesOf(registry, exposition.escaping);
      const sink = new ProtobufSink(writer, names, constLabelsOf(registry, names));
      await scrapeInto(registry, sink);
      sink.end();
      protobufBytes.set(registry, writer.length);
      return writer.finish();
    }
    const output = new Output(true, expectedBytes.get(registry));
    await expose(registry, exposition, output);
    const bytes = output.bytes();
    expectedBytes.set(registry, bytes.length);
    return bytes;
  });
}

// The size of each registry's last encoded exposition: the next one is about as long.
const expectedBytes = new WeakMap<Registry, number>();
const protobufBytes = new WeakMap<Registry, number>();

// The expositions being written, by registry and kind: scrapes that arrive
// meanwhile get the same one instead of rendering it again.
const inFlight = new WeakMap<Registry, Map<string, Promise<unknown>>>();

/** An exposition's options, checked, with their defaults. */
interface Exposition {
  readonly format: ExpositionFormat;
  readonly created: boolean;
  readonly escaping: Escaping;
}

/**
 * The exposition a scrape asks for: the one being written for the same
 * registry, kind and options if there is one (written once for every
 * scrape that arrives meanwhile), else a new one.
 */
function shared<T>(
  registry: Registry,
  kind: "text" | "bytes",
  options: GenerateMetricsOptions,
  write: (exposition: Exposition) => Promise<T>,
): Promise<T> {
  let exposition: Exposition;
  try {
    registryOption("generateMetrics()", registry);
    exposition = checkGenerateOptions(options, kind);
  } catch (error) {
    return Promise.reject(error);
  }
  // Constant labels set meanwhile make another exposition: not the one in flight.
  const key = `${kind} ${exposition.format} ${exposition.created} ${exposition.escaping} ${
    JSON.stringify(registry.constLabels ?? {})
  }`;
  let pending = inFlight.get(registry);
  if (pending === undefined) inFlight.set(registry, pending = new Map());
  const running = pending.get(key) as Promise<T> | undefined;
  // Bytes are a buffer a caller may change or transfer: each one who joins gets a copy.
  if (running !== undefined) {
    return kind === "bytes"
      ? running.then((bytes) => (bytes as Uint8Array<ArrayBuffer>).slice() as T)
      : running;
  }
  const started = write(exposition).finally(() => pending.delete(key));
  pending.set(key, started);
  return started;
}

/** The options of an exposition, checked, with their defaults. */
function checkGenerateOptions(
  options: GenerateMetricsOptions,
  kind: "text" | "bytes",
): Exposition {
  checkOptions("generateMetrics()", options, ["format", "created", "escaping", "version"]);
  const format = options.format ?? "text";
  const created = options.created ?? true;
  const escaping = options.escaping ?? "underscores";
  if (format !== "text" && format !== "openmetrics" && format !== "protobuf") {
    throw new InvalidOptionError(
      `Unknown exposition format ${describeName(format)}: use "text" or "openmetrics"${
        kind === "bytes" ? ', or "protobuf"' : ""
      }`,
    );
  }
  if (format === "protobuf" && kind === "text") {
    throw new InvalidOptionError(
      'The "protobuf" format is binary: use encodeMetrics() for it, not generateMetrics()',
    );
  }
  if (typeof created !== "boolean") {
    throw new InvalidOptionError(`created must be true or false, got ${describeValue(created)}`);
  }
  if (!ESCAPINGS.includes(escaping)) {
    throw new InvalidOptionError(
      `Unknown escaping ${describeName(escaping)}: use one of ${
        ESCAPINGS.map((name) => `"${name}"`).join(", ")
      }`,
    );
  }
  const version = options.version;
  if (
    version !== undefined && (format !== "text" || (version !== "0.0.4" && version !== "1.0.0"))
  ) {
    throw new InvalidOptionError(
      `version ${describeName(version)}: the text format has versions "0.0.4" and "1.0.0"${
        format === "text" ? "" : `, the ${format} format none to choose`
      }`,
    );
  }
  if (format === "text" && escaping === "allow-utf-8" && version !== "1.0.0") {
    throw new InvalidOptionError(
      'escaping "allow-utf-8" quotes names, which the text format writes from version "1.0.0" on: ' +
        'pass version: "1.0.0"',
    );
  }
  return { format, created, escaping };
}

/** How an exposition writes names: as they are in a legacy registry, else by `escaping`. */
function namesOf(registry: Registry, escaping: Escaping): ExposedNames | undefined {
  return registry.nameValidation === "utf-8" ? new ExposedNames(escaping) : undefined;
}

/** A registry's constant labels, rendered for an exposition; none when it has none. */
function constLabelsOf(
  registry: Registry,
  names: ExposedNames | undefined,
): ConstLabels | undefined {
  const labels = registry.constLabels;
  return labels === undefined || Object.keys(labels).length === 0
    ? undefined
    : new ConstLabels(labels, names);
}

/** Writes the exposition of a registry in the format asked for. */
async function expose(registry: Registry, exposition: Exposition, output: Output): Promise<void> {
  const names = namesOf(registry, exposition.escaping);
  const constant = constLabelsOf(registry, names);
  const sink = exposition.format === "text"
    ? new TextSink(output, names, constant)
    : new OpenMetricsSink(output, exposition.created, names, constant);
  await scrapeInto(registry, sink);
  sink.end();
}
