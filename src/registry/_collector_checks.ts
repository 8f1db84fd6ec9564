/**
 * Checks of a collector made by hand (not one of this library's metrics):
 * what every format needs of the family it names.
 */

import { InvalidOptionError, NameValidationError } from "../errors.ts";
import type { MetricCollector, MetricType } from "../vocabulary.ts";
import {
  checkEscapedLabels,
  checkFamilyName,
  checkHelp,
  checkLabelNames,
  checkMetricName,
  checkUnit,
  describeValue,
  isLabelName,
  type NameValidation,
} from "../_validation.ts";
import { trustedOf } from "./_trusted.ts";

/** The types a family may have. */
const TYPES: ReadonlySet<string> = new Set<MetricType>([
  "counter",
  "gauge",
  "histogram",
  "summary",
  "info",
  "stateset",
]);

/**
 * Throws unless a collector made by hand (not a metric class) names a
 * family that every format can write: a valid name (and label names, for a
 * metric of this library) under the registry's validation, a known type,
 * help text.
 *
 * @param collector The collector.
 * @param validation The names the registry takes.
 * @returns The collector.
 */
export function checkCollector(
  collector: MetricCollector,
  validation: NameValidation,
): MetricCollector {
  if (collector === null || typeof collector !== "object") {
    throw new InvalidOptionError(
      `register() takes a metric or a collector, got ${describeValue(collector)}`,
    );
  }
  const name = checkFamilyName(
    checkMetricName(collector.name, "metric name", validation),
    collector.type,
  );
  // A metric made without a registry took UTF-8 names; a legacy registry does not.
  const labelNames = trustedOf(collector)?.stored.labelNames;
  if (labelNames !== undefined) checkLabelNames(name, labelNames, [], validation);
  if (!TYPES.has(collector.type)) {
    throw new InvalidOptionError(
      `Collector "${name}" has type ${describeValue(collector.type)}: use one of ${
        [...TYPES].join(", ")
      }`,
    );
  }
  checkHelp(name, collector.description);
  // Written after `# UNIT` by OpenMetrics: a name's characters only.
  checkUnit(name, collector.type, collector.unit ?? undefined);
  if (typeof collector.collect !== "function") {
    throw new InvalidOptionError(`Collector "${name}" has no collect() function`);
  }
  return collector;
}

/**
 * Throws unless a state set's (prefixed) name can label its states, as
 * OpenMetrics wants (a legacy name with a `:` cannot).
 */
export function checkStates(
  prefix: string | undefined,
  metric: MetricCollector,
  validation: NameValidation,
): MetricCollector {
  if (metric.type === "stateset") {
    const label = prefix === undefined ? metric.name : `${prefix}_${metric.name}`;
    const joining = prefix === undefined ? "this registry" : `a registry prefixed "${prefix}"`;
    if (!isLabelName(label, validation)) {
      throw new NameValidationError(
        `Enum "${metric.name}" cannot join ${joining}: its states are labelled "${label}", not a label name`,
      );
    }
    // Its own labels must stay apart from the state label, as every scheme writes them.
    const own = trustedOf(metric)?.stored.labelNames ?? [];
    if (own.includes(label)) {
      throw new NameValidationError(
        `Enum "${metric.name}" cannot join ${joining}: its states are labelled "${label}", as one of its labels is`,
      );
    }
    if (validation === "utf-8") checkEscapedLabels(metric.name, own, [label]);
  }
  return metric;
}
