/**
 * What both expositions check of what they are handed: a sample given whole
 * (its suffix, bound, labels), a value OpenMetrics cannot carry, and an enum
 * state's label, named for its family.
 */

import { escapeLabelValue, renderLabels } from "./_format.ts";
import { InvalidSampleError } from "../errors.ts";
import type { ExtraLabel, MetricType, RecordedExemplar, Sample } from "../vocabulary.ts";
import { exemplarOf } from "../metrics/_exemplar.ts";
import { describeName, describeValue, isLabelName } from "../_validation.ts";
import type { ExposedNames } from "./_names.ts";
import type { ConstLabels } from "./_const_labels.ts";

/**
 * Whether OpenMetrics can carry a counter's value (a count, when `whole`);
 * throws when it cannot: a backend or collector that gave a negative, NaN or
 * fractional count left the family unwritable.
 */
export function countable(value: number, whole: boolean, sample: string): boolean {
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
export function refused(sample: string, value: unknown, rule: string): never {
  throw new InvalidSampleError(
    `${sample} cannot be ${describeValue(value)} in OpenMetrics: ${rule}`,
  );
}

/**
 * A state set's state label, named for its family as OpenMetrics wants it
 * (`shop_status="up"` for an enum `status` in a registry prefixed `shop`),
 * in every format, so that the series does not depend on the format.
 */
export function stateText(family: string, state: ExtraLabel): string {
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
export function checkSample(sample: Sample, type: MetricType): string {
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
 * `labelText` is not trusted, as nothing checked it. With `names` (a
 * registry whose names may fail the legacy pattern), label names are UTF-8
 * and written as the exposition's escaping says.
 *
 * @throws {InvalidSampleError} When a label name or value is not valid, or
 *   two names are written alike.
 */
export function renderSampleLabels(
  labels: Readonly<Record<string, string>> | undefined,
  names?: ExposedNames,
): string {
  if (labels === undefined) return "";
  if (labels === null || typeof labels !== "object") {
    throw new InvalidSampleError(`a sample's labels are ${describeValue(labels)}, not a record`);
  }
  const written = names === undefined ? undefined : new Set<string>();
  for (const name of Object.keys(labels)) {
    if (!isLabelName(name, names === undefined ? "legacy" : "utf-8")) {
      throw new InvalidSampleError(
        `a sample's label name ${describeName(name)} is not valid: it must ${
          names === undefined ? "match [a-zA-Z_][a-zA-Z0-9_]* and " : "be a string and "
        }not start with "__"`,
      );
    }
    if (written !== undefined) {
      const as = names!.label(name);
      if (written.has(as) || as.startsWith("__")) {
        throw new InvalidSampleError(
          `a sample's label name ${describeName(name)} is written ${as}, ${
            written.has(as) ? "as another label is" : "a name Prometheus reserves"
          }`,
        );
      }
      written.add(as);
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
  return names === undefined ? renderLabels(labels) : names.render(labels);
}

/**
 * The labels of a sample given whole as a text sink writes them after the
 * sample name: checked, with the registry's constant labels, names as the
 * exposition writes them.
 *
 * @throws {InvalidSampleError} When a label is not valid, or has a constant label's name.
 */
export function sampleLabelText(
  labels: Readonly<Record<string, string>> | undefined,
  names: ExposedNames | undefined,
  constant: ConstLabels | undefined,
): string {
  const all = constant === undefined ? labels : constant.merge(labels);
  return names === undefined
    ? renderSampleLabels(all)
    : names.after(renderSampleLabels(all, names));
}

/**
 * An exemplar given whole, checked as one recorded by a metric is (its
 * labelText is not trusted: it is rendered again), and where the formats
 * allow one: on a counter's sample or a histogram bucket.
 *
 * @param given The exemplar, as the sample holds it.
 * @param type The family's type.
 * @param suffix The sample's suffix.
 * @param sample The sample's name, for errors.
 * @returns The exemplar, checked.
 * @throws {InvalidSampleError} When it breaks a rule or is where none may be.
 */
export function givenExemplar(
  given: RecordedExemplar,
  type: MetricType,
  suffix: string,
  sample: string,
): RecordedExemplar {
  const where = type === "counter"
    ? suffix === "" || suffix === "_total"
    : type === "histogram" && suffix === "_bucket";
  if (!where) {
    throw new InvalidSampleError(
      `${sample} carries an exemplar: the formats allow one on counters and histogram buckets only`,
    );
  }
  const checked = given !== null && typeof given === "object"
    ? exemplarOf(given.labels, given.value)
    : `it is ${describeValue(given)}`;
  if (typeof checked === "string") {
    throw new InvalidSampleError(`${sample} carries an exemplar that breaks the rules: ${checked}`);
  }
  if (typeof given.value !== "number" || !Number.isFinite(given.timestamp)) {
    throw new InvalidSampleError(
      `${sample} carries an exemplar whose value or time is not a finite number`,
    );
  }
  return { ...checked, timestamp: given.timestamp };
}
