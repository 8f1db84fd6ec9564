/** Text-format spelling of numbers, help text and label sets, shared by metrics and exposition. */

import { InvalidSampleError } from "../errors.ts";
import { describeValue } from "../_validation.ts";

/**
 * A number as Prometheus reads it: integers bare, `+Inf`, `-Inf`, `NaN`,
 * `-0`. Whatever a collector or backend hands over, only a number is ever
 * written: anything else throws.
 *
 * @throws {InvalidSampleError} When `value` is not a number.
 */
export function formatValue(value: number): string {
  if (typeof value !== "number") {
    throw new InvalidSampleError(`a sample value is ${describeValue(value)}, not a number`);
  }
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (value === 0) return 1 / value < 0 ? "-0" : "0";
  return value === value ? `${value}` : "NaN";
}

/** Escapes `\` and line feed in `# HELP` text. */
export function escapeHelp(text: string): string {
  return /[\\\n]/.test(text) ? text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n") : text;
}

/** Escapes `\`, `"` and line feed in a label value. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value)
    ? value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
    : value;
}

/** Renders `{a="x",b="y"}` (or `""` for no labels), in the order given. */
export function renderLabels(labels: Readonly<Record<string, string>>): string {
  const parts: string[] = [];
  for (const name in labels) {
    parts.push(parts.length ? "," : "{", name, '="', escapeLabelValue(labels[name]!), '"');
  }
  if (parts.length === 0) return "";
  parts.push("}");
  return parts.join("");
}

/**
 * A rendered label set opened for one more label: `{a="x",` for `{a="x"}`,
 * `{` for `""`.
 */
export function labelOpen(labelText: string): string {
  return labelText === "" ? "{" : labelText.slice(0, -1) + ",";
}

/**
 * A number as OpenMetrics wants `le` and `quantile` label values: Go's `%g`
 * (exponent below 1e-4 and from 1e+6 on, two exponent digits at least) with
 * `.0` added when there is neither point nor exponent: `1.0`, `0.25`, `1e+06`.
 */
export function canonicalNumber(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (value !== value) return "NaN";
  if (value === 0) return "0.0";
  const sign = value < 0 ? "-" : "";
  const [mantissa, exponent] = Math.abs(value).toExponential().split("e") as [string, string];
  const exp = Number(exponent);
  if (exp < -4 || exp >= 6) {
    const digits = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : `${Math.abs(exp)}`;
    return `${sign}${mantissa}e${exp < 0 ? "-" : "+"}${digits}`;
  }
  const fixed = `${Math.abs(value)}`;
  return sign + (fixed.includes(".") ? fixed : fixed + ".0");
}

/** Escapes `\`, line feed and `"` in OpenMetrics `# HELP` text. */
export function escapeHelpOpenMetrics(text: string): string {
  return /[\\\n"]/.test(text)
    ? text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
    : text;
}
