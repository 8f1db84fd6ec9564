/**
 * A registry's constant labels (prom-client's `setDefaultLabels`), added to
 * every series by the expositions at scrape time, after the series' own
 * labels and before a bucket's `le` or a quantile's `quantile`: no metric
 * keeps them, so the hot path never pays for them. A series' own label of a
 * constant label's name (as the exposition writes names) keeps its value,
 * and that constant label is left out of it, as prom-client does.
 */

import { renderLabels } from "./_format.ts";
import type { ExposedNames } from "./_names.ts";

/** The constant labels of one exposition, rendered once per family for it. */
export class ConstLabels {
  readonly #labels: Readonly<Record<string, string>>;
  readonly #names: ExposedNames | undefined;
  // Rendered without braces for the family being written: `service="api"`.
  #text = "";
  // The family's own label names the text was made for, joined.
  #for: string | undefined;
  // The constant labels the last label names asked for lack, and those names joined.
  #missingFor: string | undefined;
  #lacking: Record<string, string> = {};

  /**
   * @param labels The registry's constant labels (not empty).
   * @param names How the exposition writes names, when they may fail the legacy pattern.
   */
  constructor(labels: Readonly<Record<string, string>>, names: ExposedNames | undefined) {
    this.#labels = labels;
    this.#names = names;
  }

  /**
   * Rendered labels with the constant ones added: `{a="x"}` to
   * `{a="x",service="api"}`.
   *
   * @param labelText The series' own labels, rendered.
   * @param own Their names, and any other label its samples carry (a state set's).
   */
  add(labelText: string, own: readonly string[]): string {
    const key = own.join("\u0000");
    if (key !== this.#for) {
      this.#for = key;
      const added = this.#missing(own);
      const text = this.#names === undefined ? renderLabels(added) : this.#names.render(added);
      this.#text = text.slice(1, -1);
    }
    if (this.#text === "") return labelText;
    return labelText === "" ? `{${this.#text}}` : `${labelText.slice(0, -1)},${this.#text}}`;
  }

  /**
   * The labels of a sample given whole with the constant ones it lacks added,
   * before its `le` or `quantile`.
   */
  merge(
    labels: Readonly<Record<string, string>> | undefined,
  ): Readonly<Record<string, string>> | undefined {
    if (labels === undefined) return this.#labels;
    // Not a record: refused as the sample is written.
    if (labels === null || typeof labels !== "object") return labels;
    const { le, quantile, ...own } = labels as Record<string, string>;
    const merged: Record<string, string> = { ...own, ...this.#missing(Object.keys(labels)) };
    if (le !== undefined) merged.le = le;
    if (quantile !== undefined) merged.quantile = quantile;
    return merged;
  }

  /** The constant labels none of `own` is written as (the same for every series of a family). */
  #missing(own: readonly string[]): Readonly<Record<string, string>> {
    const key = own.join("\u0000");
    if (key === this.#missingFor) return this.#lacking;
    const written = new Set(own.map((name) => this.#written(name)));
    const missing: Record<string, string> = {};
    for (const name in this.#labels) {
      if (!written.has(this.#written(name))) missing[name] = this.#labels[name]!;
    }
    this.#missingFor = key;
    return this.#lacking = missing;
  }

  #written(name: string): string {
    return this.#names === undefined ? name : this.#names.label(name);
  }
}
