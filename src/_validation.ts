/** Checks of metric names, label names and label values, shared by every metric type. */

import { LabelValidationError, NameValidationError } from "./errors.ts";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** What a label name looks like: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws unless `name` is a valid metric name (or registry prefix). */
export function checkMetricName(name: unknown, what = "metric name"): string {
  if (typeof name !== "string" || !METRIC_NAME.test(name)) {
    throw new NameValidationError(
      `Invalid ${what} ${JSON.stringify(name)}: must match [a-zA-Z_:][a-zA-Z0-9_:]*`,
    );
  }
  return name;
}

/** Throws unless every name is a valid, unreserved, unique label name. */
export function checkLabelNames(
  metric: string,
  names: readonly unknown[],
  reserved: readonly string[],
): readonly string[] {
  const seen = new Set<string>();
  for (const name of names) {
    if (typeof name !== "string" || !LABEL_NAME.test(name)) {
      throw new LabelValidationError(
        `Invalid label name ${
          JSON.stringify(name)
        } on "${metric}": must match [a-zA-Z_][a-zA-Z0-9_]*`,
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
  // Frozen: a metric compiles its label names into code, and must keep them.
  return Object.freeze([...seen]);
}

/** Throws unless `value` is a string label value. */
export function checkLabelValue(metric: string, name: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new LabelValidationError(
      `Label "${name}" of "${metric}" must be a string, got ${typeof value} ${String(value)}`,
    );
  }
  return value;
}

/** A record's own value: a label named `constructor` or `toString` must not find Object's. */
export function own(record: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}
