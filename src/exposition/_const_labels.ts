/**
 * A registry's constant labels (prom-client's `setDefaultLabels`), added to
 * every series by the expositions at scrape time, after the series' own
 * labels and before a bucket's `le` or a quantile's `quantile`: no metric
 * keeps them, so the hot path never pays for them.
 */

import { InvalidSampleError } from "../errors.ts";
import { renderLabels } from "./_format.ts";
import type { ExposedNames } from "./_names.ts";

/** The constant labels of one exposition, rendered once for it. */
export class ConstLabels {
  /** The labels, by name. */
  readonly labels: Readonly<Record<string, string>>;
  // Rendered without braces, names as the exposition writes them: `service="api"`.
  readonly #text: string;

  /**
   * @param labels The registry's constant labels (not empty).
   * @param names How the exposition writes names, when they may fail the legacy pattern.
   */
  constructor(labels: Readonly<Record<string, string>>, names: ExposedNames | undefined) {
    this.labels = labels;
    this.#text = (names === undefined ? renderLabels(labels) : names.render(labels)).slice(1, -1);
  }

  /** Rendered labels with the constant ones added: `{a="x"}` to `{a="x",service="api"}`. */
  add(labelText: string): string {
    return labelText === "" ? `{${this.#text}}` : `${labelText.slice(0, -1)},${this.#text}}`;
  }

  /**
   * A sample's labels with the constant ones added.
   *
   * @throws {InvalidSampleError} When the sample has a label of a constant one's name.
   */
  merge(
    labels: Readonly<Record<string, string>> | undefined,
  ): Readonly<Record<string, string>> | undefined {
    if (labels === undefined) return this.labels;
    // Not a record: refused as the sample is written.
    if (labels === null || typeof labels !== "object") return labels;
    for (const name in this.labels) {
      if (Object.hasOwn(labels, name)) {
        throw new InvalidSampleError(
          `a sample's label "${name}" is one of the registry's constant labels`,
        );
      }
    }
    return { ...labels, ...this.labels };
  }
}
