/**
 * The names of one exposition of a registry whose names may fail the legacy
 * pattern, written under one escaping scheme (see `_escaping.ts`).
 */

import { escapeLabelValue } from "./_format.ts";
import { escapeName, type Escaping, LEGACY_LABEL_NAME, LEGACY_METRIC_NAME } from "./_escaping.ts";
import type { SampleSeries } from "../vocabulary.ts";

/**
 * The names of one exposition of a registry whose names may fail the legacy
 * pattern (`nameValidation: "utf-8"`), written under one escaping scheme.
 * A sink asks it for the family's name, its sample names and its series'
 * labels; under `"allow-utf-8"` a metric name outside the legacy set is
 * quoted inside the braces (`{"my.metric",a="x"}`), a label name quoted
 * (`"node.name"="x"`).
 */
export class ExposedNames {
  /** The scheme. */
  readonly escaping: Escaping;
  readonly #labels = new Map<string, string>();
  // Whether the family being written has its name inside the braces.
  #quoted = false;
  // Whether its series' label names are written otherwise than given (undefined: not known yet).
  #renamed: boolean | undefined;

  constructor(escaping: Escaping) {
    this.escaping = escaping;
  }

  /**
   * Starts a family: its metric name (a counter's ending in `_total`, as the
   * text format names its family) as escaped, or as given when it is quoted
   * (`"allow-utf-8"`). The family's other names are made from this one, so
   * that a scheme names a series alike in every format.
   */
  family(name: string): string {
    this.#quoted = this.escaping === "allow-utf-8" && !LEGACY_METRIC_NAME.test(name);
    this.#renamed = undefined;
    return escapeName(name, this.escaping);
  }

  /** A name of the family in a `# HELP`, `# TYPE` or `# UNIT` line: quoted if need be. */
  head(name: string): string {
    return this.#quoted ? quote(name) : name;
  }

  /**
   * What opens a sample line of the family: its sample name, or `{"<name>"`
   * when the name is quoted inside the braces.
   */
  sample(name: string): string {
    return this.#quoted ? "{" + quote(name) : name;
  }

  /** A label name as written: escaped, or quoted under `"allow-utf-8"` when not legacy. */
  label(name: string): string {
    let written = this.#labels.get(name);
    if (written === undefined) {
      written = this.escaping === "allow-utf-8"
        ? (LEGACY_LABEL_NAME.test(name) ? name : quote(name))
        : escapeName(name, this.escaping, true);
      this.#labels.set(name, written);
    }
    return written;
  }

  /** A label name as a protobuf `LabelPair` carries it (escaped, never quoted). */
  labelName(name: string): string {
    return escapeName(name, this.escaping, true);
  }

  /** A series' labels rendered `{a="x"}` (or `""`), with their names as written. */
  labels(series: SampleSeries): string {
    // Every series of a family has the same label names: looked at once.
    this.#renamed ??= Object.keys(series.labelValues).some((name) => this.label(name) !== name);
    return this.#renamed ? this.render(series.labelValues) : series.labelText;
  }

  /** Labels rendered `{a="x"}` (or `""`), with their names as written. */
  render(labels: Readonly<Record<string, string>>): string {
    let text = "";
    for (const name in labels) {
      text += (text === "" ? "{" : ",") + this.label(name) + '="' +
        escapeLabelValue(labels[name]!) +
        '"';
    }
    return text === "" ? "" : text + "}";
  }

  /**
   * Rendered labels (`{a="x"}`, `""`) placed after the sample name: as they
   * are, or continuing the braces the quoted name opened (`,a="x"}`, `}`).
   */
  after(labelText: string): string {
    if (!this.#quoted) return labelText;
    return labelText === "" ? "}" : "," + labelText.slice(1);
  }
}

/** A name in double quotes, with `\`, `"` and line feed escaped. */
function quote(name: string): string {
  return '"' + escapeLabelValue(name) + '"';
}
