/**
 * What a scrape reads: the Prometheus text format 0.0.4, or OpenMetrics 1.0.
 *
 * @module
 */

import {
  canonicalNumber,
  escapeHelp,
  escapeHelpOpenMetrics,
  escapeLabelValue,
  formatValue,
  renderLabels,
} from "./_format.ts";
import { InvalidOptionError, InvalidSampleError } from "../errors.ts";
import { getLogger } from "../logger.ts";
import type {
  ExtraLabel,
  MetricType,
  RecordedExemplar,
  Sample,
  SampleSeries,
  ScrapeSink,
} from "../vocabulary.ts";
import { REGISTRY, type Registry, scrapeInto } from "../registry/registry.ts";
import { SeriesLabels } from "../registry/_sample_list.ts";
import { Output, type OutputMark } from "./_output.ts";
import { exemplarOf } from "../metrics/_exemplar.ts";
import { registryOption } from "../_entry_options.ts";
import { familyName, familyNames, sampleName } from "../registry/_family.ts";
import { checkOptions, describeName, describeValue, isLabelName } from "../_validation.ts";

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
 * An exposition format: the Prometheus text format 0.0.4, or OpenMetrics 1.0.
 *
 * @example
 * ```ts
 * import type { ExpositionFormat } from "@pytheus/pytheus/types";
 * const format: ExpositionFormat = "openmetrics";
 * ```
 */
export type ExpositionFormat = "text" | "openmetrics";

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
   * The format: `"text"` (Prometheus 0.0.4) or `"openmetrics"` (1.0.0, with
   * exemplars, units, `_created` and `# EOF`).
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
    const output = new Output(true, expectedBytes.get(registry));
    await expose(registry, format, created, output);
    const bytes = output.bytes();
    expectedBytes.set(registry, bytes.length);
    return bytes;
  });
}

// The size of each registry's last encoded exposition: the next one is about as long.
const expectedBytes = new WeakMap<Registry, number>();

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
    checked = checkGenerateOptions(options);
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
): { format: ExpositionFormat; created: boolean } {
  checkOptions("generateMetrics()", options, ["format", "created"]);
  const format = options.format ?? "text";
  const created = options.created ?? true;
  if (format !== "text" && format !== "openmetrics") {
    throw new InvalidOptionError(
      `Unknown exposition format ${describeName(format)}: use "text" or "openmetrics"`,
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

/**
 * The text format 0.0.4, written as the registry reads: no sample object is
 * built for a metric's own series, and a series' labels are rendered once
 * for all of its samples.
 */
class TextSink implements ScrapeSink {
  readonly #out: Output;
  #family = "";
  #type: MetricType = "gauge";
  // The suffix of the last sample, and the sample name with it.
  #suffix = "";
  #prefix = "";
  readonly #labels = new SeriesLabels();
  #mark: OutputMark | undefined;
  // A state set's state label, when the registry's prefix renamed the family.
  #stateLabel: string | undefined;

  constructor(out: Output) {
    this.#out = out;
  }

  family(name: string, description: string, familyType: MetricType): void {
    this.#mark = this.#out.mark();
    this.#family = familyName(name, familyType);
    this.#type = familyType;
    // The text format has no info or stateset: they are gauges there. A
    // counter's family is named for its sample, `<family>_total`.
    const head = familyType === "info" || familyType === "counter"
      ? sampleName(this.#family, familyType, familyType === "info" ? "_info" : "")
      : name;
    const type = familyType === "info" || familyType === "stateset" ? "gauge" : familyType;
    this.#out.write(`# HELP ${head} ${escapeHelp(description)}\n# TYPE ${head} ${type}\n`);
    this.#stateLabel = familyType === "stateset" ? name : undefined;
    this.#next("");
  }

  add(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra?: ExtraLabel,
  ): void {
    if (suffix !== this.#suffix) this.#next(suffix);
    // One template a line: JavaScriptCore flattens one rope faster than a chain.
    this.#out.write(
      extra === undefined
        ? `${this.#prefix}${this.#labels.closed(series)} ${formatValue(value)}\n`
        : `${this.#prefix}${this.#labels.opened(series)}${
          this.#stateLabel === undefined ? extra.text : stateText(this.#stateLabel, extra)
        } ${formatValue(value)}\n`,
    );
  }

  addCreated(series: SampleSeries, suffix: string, value: number): void {
    // The text format has no `_created` lines, nor exemplars.
    this.add(series, suffix, value);
  }

  addSample(sample: Sample): void {
    const suffix = checkSample(sample, this.#type);
    if (suffix !== this.#suffix) this.#next(suffix);
    const labelText = renderSampleLabels(sample.labels);
    this.#out.write(`${this.#prefix}${labelText} ${formatValue(sample.value)}\n`);
  }

  discard(): void {
    if (this.#mark !== undefined) this.#out.rollback(this.#mark);
  }

  end(): void {}

  #next(suffix: string): void {
    this.#suffix = suffix;
    this.#prefix = sampleName(this.#family, this.#type, suffix);
  }
}

/**
 * Whether OpenMetrics can carry a counter's value (a count, when `whole`);
 * throws when it cannot: a backend or collector that gave a negative, NaN or
 * fractional count left the family unwritable.
 */
function countable(value: number, whole: boolean, sample: string): boolean {
  if (value >= 0 && value < Infinity ? !whole || Number.isInteger(value) : value === Infinity) {
    return true;
  }
  return refused(
    sample,
    value,
    whole ? "a count is a whole number, 0 or more" : "a counter is 0 or more",
  );
}

/** Throws the error of a value OpenMetrics cannot carry in that sample. */
function refused(sample: string, value: unknown, rule: string): never {
  throw new InvalidSampleError(
    `${sample} cannot be ${describeValue(value)} in OpenMetrics: ${rule}`,
  );
}

/**
 * A state set's state label, named for its family as OpenMetrics wants it
 * (`shop_status="up"` for an enum `status` in a registry prefixed `shop`),
 * in every format, so that the series does not depend on the format.
 */
function stateText(family: string, state: ExtraLabel): string {
  return family === state.name ? state.text : `${family}="${escapeLabelValue(state.value)}"}`;
}

const SUFFIX = /^[a-zA-Z0-9_:]*$/;

/**
 * Checks a sample given whole (by a custom collector, say) before any of it
 * is written: an object, with a suffix that keeps the sample name a name.
 *
 * @returns Its suffix.
 * @throws {InvalidSampleError} When it is not such a sample.
 */
function checkSample(sample: Sample, type: MetricType): string {
  if (sample === null || typeof sample !== "object") {
    throw new InvalidSampleError(`a sample is ${describeValue(sample)}, not a sample object`);
  }
  const suffix: unknown = sample.suffix ?? "";
  if (typeof suffix !== "string" || !SUFFIX.test(suffix)) {
    throw new InvalidSampleError(
      `a sample's suffix is ${describeValue(suffix)}: it must match [a-zA-Z0-9_:]*`,
    );
  }
  // A bucket's bound and a quantile are numbers, which parsers read back.
  const bound = type === "histogram" && suffix === "_bucket"
    ? "le"
    : type === "summary" && suffix === ""
    ? "quantile"
    : undefined;
  if (bound !== undefined) {
    const value: unknown = sample.labels?.[bound];
    if (
      typeof value !== "string" || !BOUND.test(value) ||
      (bound === "quantile" && !(Number(value) >= 0 && Number(value) <= 1))
    ) {
      throw new InvalidSampleError(
        `a sample's ${bound} label is ${describeValue(value)}, not ${
          bound === "le" ? "a bound (a number or +Inf)" : "a number from 0 to 1"
        }`,
      );
    }
  }
  return suffix;
}

// A number as Go's ParseFloat and Python's float() read it alike, or an infinity.
const BOUND = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf)$/;

/**
 * Renders the labels of a sample given whole, checking each: its own
 * `labelText` is not trusted, as nothing checked it.
 *
 * @throws {InvalidSampleError} When a label name or value is not valid.
 */
function renderSampleLabels(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return "";
  if (labels === null || typeof labels !== "object") {
    throw new InvalidSampleError(`a sample's labels are ${describeValue(labels)}, not a record`);
  }
  for (const name of Object.keys(labels)) {
    if (!isLabelName(name)) {
      throw new InvalidSampleError(
        `a sample's label name ${
          describeName(name)
        } is not valid: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"`,
      );
    }
    const value: unknown = labels[name];
    if (typeof value !== "string" || !value.isWellFormed()) {
      throw new InvalidSampleError(
        `a sample's label "${name}" is ${
          describeValue(value)
        }: it must be a string of whole characters`,
      );
    }
  }
  return renderLabels(labels);
}

/**
 * OpenMetrics 1.0, written as the registry reads: per family `# TYPE`,
 * `# UNIT`, `# HELP`, then its samples, each with its exemplar and
 * `_created`, and `# EOF` at the end.
 * A family whose name (or a sample name it implies) an earlier family took is
 * left out with a warning, as OpenMetrics forbids both clashes and
 * interleaving. No sample object is built for a metric's own series.
 *
 * OpenMetrics' histogram and summary `_sum` and `_count` are counters: never
 * negative or NaN. A series whose sum is negative or NaN (or a histogram with
 * a negative bucket bound, whose sum the format forbids) is written without
 * them (the `+Inf` bucket still counts), and a summary's negative quantiles
 * are left out, as the format forbids them too. The text format writes them all.
 */
class OpenMetricsSink implements ScrapeSink {
  readonly #out: Output;
  readonly #created: boolean;
  readonly #taken = new Set<string>();
  // The family name (a counter's without `_total`), and whether the family is left out.
  #family = "";
  #createdName = "";
  #skip = false;
  #type: MetricType = "gauge";
  // Histograms and summaries spell `le` and `quantile` canonically.
  #canonical = false;
  // The suffix of the last sample, and the sample name with it.
  #suffix = "";
  #prefix = "";
  readonly #labels = new SeriesLabels();
  // Whether the histogram series being written has a negative bucket bound.
  #negativeBuckets = false;
  // Whether its `_sum` was written, and so its `_count` may be.
  #counted = true;
  #mark: OutputMark | undefined;
  // A state set's state label, when the registry's prefix renamed the family.
  #stateLabel: string | undefined;

  constructor(out: Output, created: boolean) {
    this.#out = out;
    this.#created = created;
  }

  family(name: string, description: string, type: MetricType, unit: string | undefined): void {
    const names = familyNames(name, type);
    const clash = names.find((n) => this.#taken.has(n));
    this.#skip = clash !== undefined;
    if (clash !== undefined) {
      getLogger().warn(
        `Metric "${name}" left out of the OpenMetrics scrape: the name "${clash}" is already taken`,
      );
      return;
    }
    for (const n of names) this.#taken.add(n);
    this.#mark = this.#out.mark();
    const family = names[0]!;
    this.#out.write(
      `# TYPE ${family} ${type}\n${unit ? `# UNIT ${family} ${unit}\n` : ""}# HELP ${family} ${
        escapeHelpOpenMetrics(description)
      }\n`,
    );
    this.#family = family;
    this.#createdName = family + "_created";
    this.#type = type;
    this.#canonical = type === "histogram" || type === "summary";
    this.#stateLabel = type === "stateset" ? name : undefined;
    this.#next("", undefined);
    this.#negativeBuckets = false;
    this.#counted = true;
  }

  add(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra?: ExtraLabel,
    exemplar?: RecordedExemplar,
  ): void {
    this.#add(series, suffix, value, extra, exemplar, false);
  }

  addCreated(
    series: SampleSeries,
    suffix: string,
    value: number,
    exemplar?: RecordedExemplar,
  ): void {
    this.#add(series, suffix, value, undefined, exemplar, true);
  }

  #add(
    series: SampleSeries,
    suffix: string,
    value: number,
    extra: ExtraLabel | undefined,
    exemplar: RecordedExemplar | undefined,
    created: boolean,
  ): void {
    if (this.#skip) return;
    if (suffix !== this.#suffix) {
      this.#next(suffix, suffix === "_bucket" && extra?.name === "le" ? extra.value : undefined);
    }
    const labelText = extra === undefined
      ? this.#labels.closed(series)
      : this.#labels.opened(series) +
        (this.#canonical
          ? extra.openMetricsText
          : this.#stateLabel === undefined
          ? extra.text
          : stateText(this.#stateLabel, extra));
    this.#line(
      labelText,
      value,
      exemplar === undefined ? undefined : exemplar.labelText,
      exemplar,
      created && this.#created && extra === undefined ? series.created : undefined,
    );
  }

  addSample(sample: Sample): void {
    if (this.#skip) return;
    const suffix = checkSample(sample, this.#type);
    if (suffix !== this.#suffix) this.#next(suffix, sample.labels?.le);
    const exemplar = sample.exemplar == null ? undefined : this.#givenExemplar(sample.exemplar);
    this.#line(
      this.#labelText(sample),
      sample.value,
      exemplar?.labelText,
      exemplar,
      sample.created,
    );
  }

  discard(): void {
    if (this.#mark !== undefined) this.#out.rollback(this.#mark);
  }

  /**
   * An exemplar given whole, checked as one recorded by a metric is (its
   * labelText is not trusted: it is rendered again), and where OpenMetrics
   * allows one: on a counter's sample or a histogram bucket.
   */
  #givenExemplar(given: RecordedExemplar): RecordedExemplar {
    const where = this.#type === "counter"
      ? this.#suffix === "" || this.#suffix === "_total"
      : this.#type === "histogram" && this.#suffix === "_bucket";
    if (!where) {
      throw new InvalidSampleError(
        `${this.#prefix} carries an exemplar: OpenMetrics allows one on counters and histogram buckets only`,
      );
    }
    const checked = given !== null && typeof given === "object"
      ? exemplarOf(given.labels, given.value)
      : `it is ${describeValue(given)}`;
    if (typeof checked === "string") {
      throw new InvalidSampleError(
        `${this.#prefix} carries an exemplar that breaks the rules: ${checked}`,
      );
    }
    if (typeof given.value !== "number" || !Number.isFinite(given.timestamp)) {
      throw new InvalidSampleError(
        `${this.#prefix} carries an exemplar whose value or time is not a finite number`,
      );
    }
    return { ...checked, timestamp: given.timestamp };
  }

  /** Writes `# EOF`. */
  end(): void {
    this.#out.write("# EOF\n");
  }

  /**
   * Moves on to the samples with another suffix.
   *
   * @param suffix The new suffix.
   * @param le The `le` label of the first sample with it.
   */
  #next(suffix: string, le: string | undefined): void {
    if (this.#type === "histogram" && suffix === "_bucket" && this.#suffix !== "_bucket") {
      this.#negativeBuckets = Number(le) < 0;
    }
    this.#suffix = suffix;
    this.#prefix = sampleName(this.#family, this.#type, suffix);
  }

  /**
   * Whether OpenMetrics can carry a histogram's or summary's sample of this
   * value (see the class): a `_sum` that is a counter, the `_count` after it
   * only if it was, a summary's quantile that is not negative.
   */
  #carries(value: number): boolean {
    const suffix = this.#suffix;
    switch (this.#type) {
      case "counter":
        return countable(value, false, this.#prefix);
      case "histogram":
        if (suffix === "_sum") return this.#counted = value >= 0 && !this.#negativeBuckets;
        if (suffix === "_count") return this.#counted && countable(value, true, this.#prefix);
        return suffix !== "_bucket" || countable(value, true, this.#prefix);
      case "summary":
        if (suffix === "_sum") return this.#counted = value >= 0;
        if (suffix === "_count") return this.#counted && countable(value, true, this.#prefix);
        return !(suffix === "" && value < 0);
      case "info":
        return value === 1 || refused(this.#prefix, value, "an info's value is 1");
      case "stateset":
        return value === 0 || value === 1 ||
          refused(this.#prefix, value, "a state's value is 0 or 1");
    }
    return true;
  }

  /**
   * Appends a sample line, its exemplar, and its `_created` line when shown
   * (that one even when the sample itself cannot be: see the class).
   */
  #line(
    labelText: string,
    value: number,
    exemplarLabels: string | undefined,
    exemplar: RecordedExemplar | undefined,
    created: number | undefined,
  ): void {
    const shown = this.#carries(value);
    let line = shown ? this.#prefix + labelText + " " + formatValue(value) : "";
    if (shown && exemplar !== undefined) {
      line += " # " + exemplarLabels + " " + formatValue(exemplar.value) + " " +
        formatValue(exemplar.timestamp);
    }
    if (this.#created && created !== undefined) {
      line += (shown ? "\n" : "") + this.#createdName + labelText + " " + formatValue(created);
    }
    if (line !== "") this.#out.write(line + "\n");
  }

  /** A whole sample's labels; a histogram's or summary's with `le` or `quantile` canonical. */
  #labelText(sample: Sample): string {
    const special = !this.#canonical
      ? undefined
      : this.#type === "histogram"
      ? (this.#suffix === "_bucket" ? "le" : undefined)
      : (this.#suffix === "" ? "quantile" : undefined);
    const value = special === undefined ? undefined : sample.labels?.[special];
    if (typeof value !== "string" || value.trim() === "" || Number.isNaN(Number(value))) {
      return renderSampleLabels(sample.labels);
    }
    return renderSampleLabels({ ...sample.labels, [special!]: canonicalNumber(Number(value)) });
  }
}
