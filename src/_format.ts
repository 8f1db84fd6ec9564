/** Text-format spelling of numbers, help text and label sets, shared by metrics and exposition. */

/** A number as Prometheus reads it: integers bare, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
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
  let text = "";
  for (const name in labels) {
    text += `${text ? "," : "{"}${name}="${escapeLabelValue(labels[name]!)}"`;
  }
  return text ? text + "}" : "";
}
