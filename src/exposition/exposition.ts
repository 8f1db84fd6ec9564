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
  return shared(registry, "text", options, async (format, created) => {
    const output = new Output(false);
    await expose(registry, format, created, output);
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
  return shared(registry, "bytes", options, async (format, created) => {
    if (format === "protobuf") {
      const writer = new ProtoWriter(protobufBytes.get(registry));
      const sink = new ProtobufSink(writer);
      await scrapeInto(registry, sink);
      sink.end();
      protobufBytes.set(registry, writer.length);
      return writer.finish();
    }
    const output = new Output(true, expectedBytes.get(registry));
    await expose(registry, format, created, output);
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

/**
 * The exposition a scrape asks for: the one being written for the same
 * registry, kind and options if there is one (written once for every
 * scrape that arrives meanwhile), else a new one.
 */
function shared<T>(
  registry: Registry,
  kind: "text" | "bytes",
  options: GenerateMetricsOptions,
  write: (format: ExpositionFormat, created: boolean) => Promise<T>,
): Promise<T> {
  let checked: { format: ExpositionFormat; created: boolean };
  try {
    registryOption("generateMetrics()", registry);
    checked = checkGenerateOptions(options, kind);
  } catch (error) {
    return Promise.reject(error);
  }
  const { format, created } = checked;
  const key = `${kind} ${format} ${created}`;
  let pending = inFlight.get(registry);
  if (pending === undefined) inFlight.set(registry, pending = new Map());
  const running = pending.get(key) as Promise<T> | undefined;
  // Bytes are a buffer a caller may change or transfer: each one who joins gets a copy.
  if (running !== undefined) {
    return kind === "bytes"
      ? running.then((bytes) => (bytes as Uint8Array<ArrayBuffer>).slice() as T)
      : running;
  }
  const started = write(format, created).finally(() => pending.delete(key));
  pending.set(key, started);
  return started;
}

/** The options of an exposition, checked, with their defaults. */
function checkGenerateOptions(
  options: GenerateMetricsOptions,
  kind: "text" | "bytes",
): { format: ExpositionFormat; created: boolean } {
  checkOptions("generateMetrics()", options, ["format", "created"]);
  const format = options.format ?? "text";
  const created = options.created ?? true;
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
  return { format, created };
}

/** Writes the exposition of a registry in the format asked for. */
async function expose(
  registry: Registry,
  format: ExpositionFormat,
  created: boolean,
  output: Output,
): Promise<void> {
  const sink = format === "text" ? new TextSink(output) : new OpenMetricsSink(output, created);
  await scrapeInto(registry, sink);
  sink.end();
}
