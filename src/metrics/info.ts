/**
 * Info: constant facts about the process (version, build, commit), exposed
 * as the labels of one sample of value 1.
 *
 * @module
 */

import { LabelValidationError, NameValidationError } from "../errors.ts";
import { renderLabels } from "../exposition/_format.ts";
import { Metric } from "./metric.ts";
import type { MetricOptions } from "./metric_options.ts";
import { metricOptions } from "./metric_options.ts";
import { type ChildParent, MetricChild, type SeriesRow } from "./child.ts";
import type { BackendFactory } from "../backends/backend.ts";
import type { Sample, SampleSink } from "../vocabulary.ts";
import { unobservable } from "./_child.ts";
import type { Backend } from "../backends/backend.ts";
import {
  checkEscapedLabels,
  checkLabelNames,
  checkLabelValue,
  checkMetricName,
  type NameValidation,
} from "../_validation.ts";
import { nameValidationOf } from "../_entry_options.ts";

/** Options of {@linkcode Info}. */
export interface InfoOptions<L extends string> extends MetricOptions<L> {}

/**
 * The facts an info shows, label name to value. The names must not be
 * required labels of the info.
 */
export type InfoValues<L extends string> =
  & Readonly<Record<string, string>>
  & { readonly [K in L]?: never };

/**
 * One label set of an {@linkcode Info}.
 *
 * @example
 * ```ts
 * import { Info } from "@pytheus/pytheus";
 * const build = new Info({ name: "plugin", description: "Plugins.", requiredLabels: ["plugin"], registry: null });
 * build.labels({ plugin: "auth" }).set({ version: "2.0.1" });
 * ```
 */
export class InfoChild<L extends string> extends MetricChild<L, InfoChild<L>> {
  readonly #requiredLabels: readonly string[];
  readonly #validation: NameValidation;
  // Set for a partial child: every set() throws through it.
  readonly #unobservable: Backend | undefined;
  #sample: Sample;

  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The info.
   * @param row The child's row in the metric's series table (its label values while partial).
   * @param backendOf Absent for a partial child (an info keeps no backend value).
   * @ignore
   */
  constructor(
    parent: ChildParent<L, InfoChild<L>>,
    row: SeriesRow,
    backendOf: BackendFactory | undefined,
  ) {
    super(parent, row);
    this.#requiredLabels = parent.requiredLabels;
    this.#validation = parent.nameValidation;
    this.#unobservable = backendOf ? undefined : unobservable(parent, this);
    this.#sample = {
      suffix: "_info",
      labels: this.labelValues,
      value: 1,
      labelText: this.labelText,
    };
  }

  /**
   * Replaces the facts shown (all of them: names not given disappear).
   *
   * @param values Label name to value; names must be valid label names and
   *   not required labels of the info.
   * @throws {LabelValidationError} When a name is invalid or a required label, or a value is not a string.
   * @throws {UnobservableMetricError} When a required label has no value.
   */
  set(values: InfoValues<L>): void {
    this.#unobservable?.set(1);
    if (typeof values !== "object" || values === null || Array.isArray(values)) {
      throw new LabelValidationError(`Info "${this.name}" must be set to an object of labels`);
    }
    const names = checkLabelNames(this.name, Object.keys(values), [], this.#validation);
    // Facts and labels must stay apart as every escaping scheme writes them.
    if (this.#validation === "utf-8") checkEscapedLabels(this.name, names, this.#requiredLabels);
    const labels: Record<string, string> = { ...this.labelValues };
    for (const name of names) {
      if (this.#requiredLabels.includes(name)) {
        throw new LabelValidationError(
          `Cannot set info "${this.name}": "${name}" is one of its required labels`,
        );
      }
      labels[name] = checkLabelValue(this.name, name, (values as Record<string, unknown>)[name]);
    }
    this.#sample = { suffix: "_info", labels, value: 1, labelText: renderLabels(labels) };
  }

  /** The facts last set (`{}` before the first `set()`). */
  get values(): Readonly<Record<string, string>> {
    const values: Record<string, string> = { ...this.#sample.labels };
    for (const name of this.#requiredLabels) delete values[name];
    return values;
  }

  /**
   * Nothing to read: the facts live in this object.
   *
   * @returns `undefined`.
   * @ignore
   */
  read(): undefined {
    return undefined;
  }

  /**
   * Writes the sample: `<name>_info{<labels>,<facts>} 1`.
   *
   * @param _values Unused.
   * @param sink Where the sample goes.
   * @ignore
   */
  write(_values: undefined, sink: SampleSink): void {
    sink.addSample(this.#sample);
  }

  /** Forgets the facts: the sample is `<name>_info{<labels>} 1` again. */
  protected zero(): void {
    this.#sample = { ...this.#sample, labels: this.labelValues, labelText: this.labelText };
  }

  /** Nothing to release: the facts live in this object only. */
  release(): void {}
}

/**
 * An info metric: one sample `<name>_info{...} 1` whose labels are the facts
 * given to `set()`. The facts live in this process (each process of a
 * multi-process deployment shows its own, and a label set made only by
 * another process shows none).
 *
 * @example
 * ```ts
 * import { generateMetrics, CollectorRegistry, Info } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * const build = new Info({ name: "build", description: "Build facts.", registry });
 * build.set({ version: "1.2.3", commit: "abc123" });
 * console.assert((await generateMetrics(registry)).includes('build_info{version="1.2.3",commit="abc123"} 1'));
 * ```
 */
export class Info<const L extends string = never> extends Metric<L, InfoChild<L>> {
  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The info's name (without the `_info` suffix, which is
   *   added), description, labels and registry.
   * @throws {NameValidationError} When the name ends in `_info`.
   */
  constructor(options: InfoOptions<L>) {
    metricOptions("Info", options);
    const validation = nameValidationOf(options.registry);
    if (checkMetricName(options.name, "metric name", validation).endsWith("_info")) {
      throw new NameValidationError(
        `Invalid info name "${options.name}": the "_info" suffix is added, name it "${
          options.name.slice(0, -5)
        }"`,
      );
    }
    super(
      options,
      "info",
      [],
      (parent, row, backendOf) => new InfoChild(parent, row, backendOf),
      [],
    );
  }

  /**
   * Replaces the facts shown.
   *
   * @param values Label name to value.
   * @throws {LabelValidationError} When a name is invalid or a required label, or a value is not a string.
   * @throws {UnobservableMetricError} When a required label has no value.
   */
  set(values: InfoValues<L>): void {
    this.own.set(values);
  }

  /** The facts last set (`{}` before the first `set()`). */
  get values(): Readonly<Record<string, string>> {
    return this.own.values;
  }
}
