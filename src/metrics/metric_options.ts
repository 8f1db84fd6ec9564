/**
 * The options every metric takes, and the checks of what a metric is made
 * with and looked up by: its options, unit and default labels, and the label
 * values `labels()` is given.
 *
 * @module
 */

import type { LabelValues } from "../vocabulary.ts";
import { InvalidOptionError, LabelValidationError } from "../errors.ts";
import type { Registry } from "../registry/registry.ts";
import { nameValidationOf } from "../_entry_options.ts";
import {
  checkLabelValue,
  checkMetricName,
  checkOptions,
  describeValue,
  own,
} from "../_validation.ts";

/** Options every metric takes. */
export interface MetricOptions<L extends string> {
  /**
   * The metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*` (any non-empty string in a
   * registry made with `nameValidation: "utf-8"`).
   */
  name: string;
  /** The help text shown after `# HELP`. */
  description: string;
  /**
   * The label names every sample carries. Pass them `as const` to have
   * `labels()` type-checked.
   *
   * @default {[]}
   */
  requiredLabels?: readonly L[];
  /**
   * Values used for labels a child does not set; a subset of `requiredLabels`.
   *
   * @default {{}}
   */
  defaultLabels?: LabelValues<L>;
  /**
   * The registry to register with; `null` for an unregistered metric (in a
   * custom collector).
   *
   * @default {REGISTRY}
   */
  registry?: Registry | null;
  /**
   * The unit, shown as `# UNIT` in OpenMetrics (`"seconds"`, `"bytes"`); the
   * family name (a counter's without `_total`) must end with `_<unit>`.
   *
   * @default {undefined}
   */
  unit?: string;
  /**
   * The most label sets (children) this metric keeps. Past it, new label
   * sets are refused: `labels()` returns a child that observes into nothing,
   * the refusal is counted in `pytheus_series_dropped_total{metric="<name>"}`
   * and warned about once. Existing series keep working.
   *
   * @default {the registry's maxSeries, else unlimited}
   */
  maxSeries?: number;
  /**
   * Seconds after which a series whose values have not changed is removed,
   * as `remove()` removes it (its backend forgets it, Redis too): for labels
   * that carry ids. Scrapes find out, comparing what they read, so recording
   * never pays for it. A metric without labels keeps its series.
   *
   * @default {the registry's idleSeconds, else never}
   */
  idleSeconds?: number;
}

/** The options every metric type takes: each type adds its own. */
const METRIC_OPTIONS: readonly string[] = [
  "name",
  "description",
  "requiredLabels",
  "defaultLabels",
  "registry",
  "unit",
  "maxSeries",
  "idleSeconds",
];

/**
 * Checks a metric constructor's options, before anything reads them: an
 * options object, with no key the type does not take (prom-client's `help`
 * and `labelNames` are named with the option to use instead).
 *
 * @param type The class, as the caller wrote it: `"Counter"`.
 * @param options What the caller passed.
 * @param extra The options this type takes beyond every metric's.
 * @returns The options.
 * @throws {InvalidOptionError} When `options` is not an object or has an unknown key.
 * @throws {NameValidationError} When the name is not a metric name.
 */
export function metricOptions<O>(type: string, options: O, extra: readonly string[] = []): O {
  const named = typeof (options as { name?: unknown } | null)?.name === "string"
    ? `${type} "${(options as { name: string }).name}"`
    : type;
  checkOptions(named, options, extra.length === 0 ? METRIC_OPTIONS : [...METRIC_OPTIONS, ...extra]);
  // Before a type's own checks quote it.
  const given = options as { name?: unknown; registry?: unknown };
  checkMetricName(given.name, "metric name", nameValidationOf(given.registry));
  return options;
}

/** Checks the default label values: a record whose names are required labels, values strings. */
export function checkDefaults<L extends string>(
  metric: string,
  names: readonly L[],
  defaults: LabelValues<L>,
): LabelValues<L> {
  if (defaults === null || typeof defaults !== "object" || Array.isArray(defaults)) {
    throw new InvalidOptionError(
      `defaultLabels of "${metric}" must be a record of label values, got ${
        describeValue(defaults)
      }`,
    );
  }
  const checked: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults)) {
    if (!(names as readonly string[]).includes(name)) {
      throw new LabelValidationError(
        `Default label "${name}" of "${metric}" is not a required label (${
          names.join(", ") || "none"
        })`,
      );
    }
    checked[name] = checkLabelValue(metric, name, value);
  }
  return checked as LabelValues<L>;
}

/**
 * The value given for a label: a string wherever it comes from (an inherited
 * one too, as for-in counts inherited keys), else only an own property, so
 * that a label named like an `Object.prototype` member is not taken for it.
 */
export function labelValue(given: Record<string, unknown>, name: string): unknown {
  const value = given[name];
  return typeof value === "string" ? value : own(given, name);
}

/** The values given to a partial child, checked as a complete child's are. */
export function stringsOf(metric: string, given: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in given) {
    if (given[name] !== undefined) out[name] = checkLabelValue(metric, name, given[name]);
  }
  return out;
}

/** The error of a label name the metric does not have. */
export function unknownLabel(metric: string, names: readonly string[], unknown: string): Error {
  return new LabelValidationError(
    `Unknown label "${unknown}" for "${metric}" (required labels: ${names.join(", ") || "none"})`,
  );
}
