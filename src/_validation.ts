/**
 * Checks of what callers pass in, shared by every metric type: metric names,
 * label names and values, help text, option records, and the numbers that
 * `inc()`, `set()` and `observe()` take. Each check throws a
 * {@linkcode PytheusError} subclass whose message quotes what was given.
 */

import {
  InvalidOptionError,
  InvalidValueError,
  LabelValidationError,
  NameValidationError,
} from "./errors.ts";
import type { MetricType } from "./vocabulary.ts";
import { familyName } from "./registry/_family.ts";

import {
  escapeName,
  ESCAPINGS,
  LEGACY_LABEL_NAME as LABEL_NAME,
  LEGACY_METRIC_NAME as METRIC_NAME,
} from "./exposition/_escaping.ts";

/** What a label name looks like: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export { LABEL_NAME };

/**
 * Which metric and label names a registry takes: `"legacy"` ones
 * (`[a-zA-Z_:][a-zA-Z0-9_:]*`, label names without `:`), or, as Prometheus 3
 * does, any non-empty `"utf-8"` string.
 *
 * @example
 * ```ts
 * import type { NameValidation } from "@pytheus/pytheus/types";
 * const validation: NameValidation = "utf-8";
 * ```
 */
export type NameValidation = "legacy" | "utf-8";

/** Whether `name` is a name under `validation`: legacy, or any non-empty string of whole characters. */
function isName(name: unknown, validation: NameValidation, legacy: RegExp): name is string {
  return typeof name === "string" &&
    (validation === "utf-8" ? name !== "" && name.isWellFormed() : legacy.test(name));
}

/** What a name must be, for error messages. */
function nameRule(validation: NameValidation, legacy: string): string {
  return validation === "utf-8"
    ? "must be a non-empty string of whole characters"
    : `must match ${legacy}`;
}

/**
 * Whether `name` is a label name a caller may use: `[a-zA-Z_][a-zA-Z0-9_]*`
 * (any non-empty string of whole characters under `"utf-8"`), not starting
 * with `__` (reserved for Prometheus' own, such as `__name__`).
 */
export function isLabelName(name: unknown, validation: NameValidation = "legacy"): name is string {
  return isName(name, validation, LABEL_NAME) && !name.startsWith("__");
}

/** Throws unless `name` is a valid metric name (or registry prefix) under `validation`. */
export function checkMetricName(
  name: unknown,
  what = "metric name",
  validation: NameValidation = "legacy",
): string {
  if (!isName(name, validation, METRIC_NAME)) {
    throw new NameValidationError(
      `Invalid ${what} ${describeName(name)}: ${nameRule(validation, "[a-zA-Z_:][a-zA-Z0-9_:]*")}`,
    );
  }
  return name;
}

/**
 * Throws unless a metric of this name and type forms a family in every
 * format: a counter named `_total` would have an empty family name.
 */
export function checkFamilyName(name: string, type: MetricType): string {
  if (familyName(name, type) === "") {
    throw new NameValidationError(
      `Invalid ${type} name "${name}": without its "_total" suffix it names no family`,
    );
  }
  return name;
}

/** Throws unless every name is a valid, unreserved, unique label name. */
export function checkLabelNames(
  metric: string,
  names: unknown,
  reserved: readonly string[],
  validation: NameValidation = "legacy",
): readonly string[] {
  if (!Array.isArray(names)) {
    throw new InvalidOptionError(
      `requiredLabels of "${metric}" must be an array of label names, got ${describeValue(names)}`,
    );
  }
  const seen = new Set<string>();
  for (const name of names as unknown[]) {
    if (!isName(name, validation, LABEL_NAME)) {
      throw new LabelValidationError(
        `Invalid label name ${describeName(name)} on "${metric}": ${
          nameRule(validation, "[a-zA-Z_][a-zA-Z0-9_]*")
        }`,
      );
    }
    if (name.startsWith("__")) {
      throw new LabelValidationError(
        `Invalid label name "${name}" on "${metric}": names starting with "__" are reserved`,
      );
    }
    if (reserved.includes(name)) {
      throw new LabelValidationError(
        `Invalid label name "${name}" on "${metric}": "${name}" is reserved for this metric type`,
      );
    }
    if (seen.has(name)) {
      throw new LabelValidationError(`Label "${name}" is required twice on "${metric}"`);
    }
    seen.add(name);
  }
  if (validation === "utf-8") checkEscapedLabels(metric, [...seen], reserved);
  // Frozen: a metric compiles its label names into code, and must keep them.
  return Object.freeze([...seen]);
}

/**
 * Throws unless UTF-8 label names (and the names a type reserves) stay distinct label names under every
 * escaping scheme a scrape may ask for: `a.b` and `a_b` are both `a_b` with
 * underscores, and `_.x` would be the reserved-looking `__x`.
 */
export function checkEscapedLabels(
  metric: string,
  names: readonly string[],
  reserved: readonly string[],
): void {
  for (const escaping of ESCAPINGS) {
    // The names the metric type keeps for itself (a bucket's `le`, a state set's own) too.
    const written = new Map<string, string>(
      reserved.map((name) => [escapeName(name, escaping, true), name]),
    );
    for (const name of names) {
      const escaped = escapeName(name, escaping, true);
      const other = written.get(escaped);
      if (other !== undefined || escaped.startsWith("__")) {
        throw new LabelValidationError(
          `Invalid label name "${name}" on "${metric}": escaped with ${escaping} it is "${escaped}", ${
            other !== undefined ? `as "${other}" is` : "a name Prometheus reserves"
          }`,
        );
      }
      written.set(escaped, name);
    }
  }
}

/**
 * Throws unless `value` is a label value: a string of whole characters. A
 * lone surrogate would become U+FFFD in the UTF-8 a scrape sends, and two
 * label sets that differ only there would be one series to Prometheus.
 */
export function checkLabelValue(metric: string, name: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new LabelValidationError(
      `Label "${name}" of "${metric}" must be a string, got ${describeValue(value)}`,
    );
  }
  if (!value.isWellFormed()) {
    throw new LabelValidationError(
      `Label "${name}" of "${metric}" holds a lone surrogate (${
        describeValue(value)
      }): UTF-8 cannot carry it`,
    );
  }
  return value;
}

/**
 * Throws unless `values` is what `labels()` takes: a record of label values
 * by name (not `null`, a string, a number or an array).
 */
export function checkLabelRecord(
  metric: string,
  names: readonly string[],
  values: unknown,
): Record<string, unknown> {
  if (values === null || typeof values !== "object" || Array.isArray(values)) {
    throw new LabelValidationError(
      `labels() of "${metric}" takes a record of label values by name (${
        names.join(", ") || "none"
      }), got ${describeValue(values)}`,
    );
  }
  return values as Record<string, unknown>;
}

/** Throws unless `text` is help text: a string of whole characters. */
export function checkHelp(metric: string, text: unknown): string {
  if (typeof text !== "string") {
    throw new InvalidOptionError(
      `Metric "${metric}" needs a description (its help text), a string: got ${
        describeValue(text)
      }`,
    );
  }
  if (!text.isWellFormed()) {
    throw new InvalidOptionError(
      `The description of "${metric}" holds a lone surrogate: UTF-8 cannot carry it`,
    );
  }
  return text;
}

/** What prom-client (and client_python) users pass, and the option that does it here. */
const FOREIGN_OPTIONS: Readonly<Record<string, string>> = {
  help: "description",
  documentation: "description",
  labelNames: "requiredLabels",
  labelnames: "requiredLabels",
  registers: "registry",
  percentiles: "quantiles",
  exemplars: "exemplar",
};

/**
 * Throws unless `options` is a record whose every key is one of `known`:
 * a misspelt or foreign option (prom-client's `help`, `labelNames`) would
 * otherwise be ignored without a word.
 */
export function checkOptions(
  what: string,
  options: unknown,
  known: readonly string[],
): Readonly<Record<string, unknown>> {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new InvalidOptionError(
      `${what} takes one options object ({ ${known.slice(0, 2).join(", ")}, ... }), got ${
        describeValue(options)
      }`,
    );
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const instead = FOREIGN_OPTIONS[key];
    throw new InvalidOptionError(
      instead !== undefined && known.includes(instead)
        ? `${what} has no option "${key}": use "${instead}"`
        : `${what} has no option ${describeName(key)}: it takes ${known.join(", ")}`,
    );
  }
  return options as Readonly<Record<string, unknown>>;
}

/** The metric (or child) a value is given to: read only to say why it is refused. */
interface Called {
  readonly name: string;
  readonly type: MetricType;
}

/**
 * Throws unless `value` is a number: what a gauge's `inc()`, `dec()` and
 * `set()` take. Values from JSON, headers or query strings are often strings.
 *
 * @param value What the caller passed.
 * @param metric The child or metric called.
 * @param call The method called.
 */
export function numeric(value: unknown, metric: Called, call: "inc" | "dec" | "set"): number {
  return typeof value === "number" ? value : refuse(metric, call, value, "");
}

/** Throws unless `value` is an increment a counter takes: a finite number, 0 or more. */
export function increment(value: unknown, metric: Called): number {
  return typeof value === "number" && value >= 0 && value < Infinity
    ? value
    : refuse(metric, "inc", value, "a counter only goes up, by a finite amount");
}

/** Throws unless `value` is an observation: a number, not NaN. */
export function observation(value: unknown, metric: Called): number {
  return typeof value === "number" && value === value
    ? value
    : refuse(metric, "observe", value, "NaN is not an observation");
}

const REFUSED = {
  inc: (metric: string, value: string) => `Cannot increment ${metric} by ${value}`,
  dec: (metric: string, value: string) => `Cannot decrement ${metric} by ${value}`,
  set: (metric: string, value: string) => `Cannot set ${metric} to ${value}`,
  observe: (metric: string, value: string) => `Cannot observe ${value} in ${metric}`,
};

/** Throws the error of a refused value: what was given, and what the call takes. */
function refuse(metric: Called, call: keyof typeof REFUSED, value: unknown, rule: string): never {
  const why = typeof value !== "number"
    ? `${call}() takes a number${
      value !== null && typeof value === "object" && !Array.isArray(value)
        ? `; labels go through labels(): labels({ ... }).${call}()`
        : ""
    }`
    : rule;
  throw new InvalidValueError(
    `${REFUSED[call](`${metric.type} "${metric.name}"`, describeValue(value))}: ${why}`,
  );
}

/** Throws unless `max` is a `maxSeries`: a whole number of at least 1 (`Infinity` when absent). */
export function checkMaxSeries(metric: string, max: number | undefined): number {
  if (max === undefined) return Infinity;
  if (!Number.isInteger(max) || max < 1) {
    throw new InvalidOptionError(
      `maxSeries of ${metric} must be a whole number of at least 1, got ${describeValue(max)}`,
    );
  }
  return max;
}

/** Throws unless `seconds` is an idle time: a finite number above 0 (`undefined`: none). */
export function checkIdleSeconds(metric: string, seconds: number | undefined): number | undefined {
  if (seconds === undefined) return undefined;
  if (typeof seconds !== "number" || !(seconds > 0 && seconds < Infinity)) {
    throw new InvalidOptionError(
      `idleSeconds of ${metric} must be a number of seconds above 0, got ${describeValue(seconds)}`,
    );
  }
  return seconds;
}

/** Most characters of a given string or record quoted in a message. */
const QUOTED = 60;

/**
 * What a value is, for an error message, whatever it is: its type and a
 * short, escaped spelling (`string "5"`, `null`, `object {"a":1}`), never
 * throwing (a symbol, a record without prototype, a cyclic one) and never
 * long (a huge string is cut).
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return `string ${quote(value)}`;
    case "undefined":
      return "undefined";
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "bigint":
      return `bigint ${value}n (convert it with Number())`;
    case "symbol":
      return `symbol ${quote(value.description ?? "")}`;
    case "function":
      return "a function";
  }
  if (Array.isArray(value)) return "an array";
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Cyclic, or holding a bigint: its type says enough.
  }
  return text === undefined ? "an object" : `an object ${cut(text)}`;
}

/** A name as an error message quotes it: `"1x"`, or what it is when it is no string. */
export function describeName(name: unknown): string {
  return typeof name === "string" ? quote(name) : describeValue(name);
}

/** A string quoted as JSON (so a line feed or a lone surrogate shows as an escape), cut short. */
function quote(text: string): string {
  return cut(JSON.stringify(text.length > QUOTED ? text.slice(0, QUOTED) : text)) +
    (text.length > QUOTED ? ` (${text.length} characters)` : "");
}

function cut(text: string): string {
  return text.length > QUOTED + 2 ? text.slice(0, QUOTED) + "…" : text;
}

/** A record's own value: a label named `constructor` or `toString` must not find Object's. */
export function own(record: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

/**
 * Checks a metric's unit: `[a-zA-Z0-9_:]+`, on a type that has one, and the
 * family name (a counter's without `_total`) ending with `_<unit>`.
 *
 * @returns The unit, `undefined` for none (or `""`).
 * @throws {NameValidationError} When it is not such a unit.
 */
export function checkUnit(metric: string, type: MetricType, unit: unknown): string | undefined {
  if (unit === undefined || unit === "") return undefined;
  if (typeof unit !== "string" || !/^[a-zA-Z0-9_:]+$/.test(unit)) {
    throw new NameValidationError(
      `Invalid unit ${describeName(unit)} for "${metric}": must match [a-zA-Z0-9_:]+`,
    );
  }
  const kind: string = type;
  if (kind === "info" || kind === "stateset") {
    throw new NameValidationError(`Metric "${metric}" of type ${kind} cannot have a unit`);
  }
  const family = familyName(metric, type);
  if (!family.endsWith("_" + unit)) {
    throw new NameValidationError(
      `Metric "${metric}" cannot have unit "${unit}": OpenMetrics needs the name${
        family === metric ? "" : " (without _total)"
      } to end with "_${unit}"`,
    );
  }
  return unit;
}
