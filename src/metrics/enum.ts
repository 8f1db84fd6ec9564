/**
 * Enum: which one of a fixed set of states something is in (starting,
 * running, stopped), exposed as one 0/1 sample per state.
 *
 * @module
 */

import { nameValidationOf } from "../_entry_options.ts";
import type { Backend } from "../backends/backend.ts";
import { InvalidValueError, LabelValidationError } from "../errors.ts";
import { escapeLabelValue } from "../exposition/_format.ts";
import { Metric } from "./metric.ts";
import type { MetricOptions } from "./metric_options.ts";
import { metricOptions } from "./metric_options.ts";
import { type ChildParent, MetricChild, type SeriesRow } from "./child.ts";
import type { BackendFactory } from "../backends/backend.ts";
import type { ExtraLabel, SampleSink } from "../vocabulary.ts";
import { readStored, unobservable } from "./_child.ts";
import type { StoredValue } from "../backends/store.ts";
import {
  checkLabelNames,
  checkLabelValue,
  checkMetricName,
  describeValue,
} from "../_validation.ts";

/** Options of {@linkcode Enum}. */
export interface EnumOptions<L extends string, S extends string> extends MetricOptions<L> {
  /**
   * The states, at least one, all different; the first is the initial state.
   * Pass them `as const` to have `state()` type-checked. The metric's name is
   * the label the state is shown in, so it must be a valid label name (no `:`).
   */
  states: readonly S[];
}

/** The states and their position, shared by every child. */
interface Layout {
  readonly label: string;
  readonly states: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Each state's label. */
  readonly labels: readonly ExtraLabel[];
}

/**
 * One label set of an {@linkcode Enum}. Its backend holds the index of the
 * current state (0, the first state, until `state()` is called).
 *
 * @example
 * ```ts
 * import { Enum } from "@pytheus/pytheus";
 * const e = new Enum({ name: "worker_state", description: "State.", requiredLabels: ["worker"], states: ["idle", "busy"], registry: null });
 * e.labels({ worker: "w1" }).state("busy");
 * ```
 */
export class EnumChild<L extends string, S extends string> extends MetricChild<L, EnumChild<L, S>> {
  readonly #layout: Layout;
  readonly #backend: Backend;

  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The enum.
   * @param row The child's row in the metric's series table (its label values while partial).
   * @param backendOf Creates its backend; absent for a partial child.
   * @param layout The states.
   * @ignore
   */
  constructor(
    parent: ChildParent<L, EnumChild<L, S>>,
    row: SeriesRow,
    backendOf: BackendFactory | undefined,
    layout: Layout,
  ) {
    super(parent, row);
    this.#layout = layout;
    this.#backend = backendOf ? backendOf(this) : unobservable(parent, this);
  }

  /**
   * Makes `state` the current state.
   *
   * @param state One of the enum's states.
   * @throws {InvalidValueError} When `state` is not one of them.
   * @throws {UnobservableMetricError} When a required label has no value.
   */
  state(state: S): void {
    const index = this.#layout.index.get(state);
    if (index === undefined) {
      throw new InvalidValueError(
        `Cannot set enum "${this.name}" to ${describeValue(state)}: not one of ${
          this.#layout.states.map((s) => JSON.stringify(s)).join(", ")
        }`,
      );
    }
    this.#backend.set(index);
  }

  /**
   * Reads the current state's index from the backend (the first half of a scrape).
   *
   * @param stored What the store's read found (see `MetricChild.read`).
   * @param key The series' key there.
   * @returns The index, asynchronously when the cell reads remotely.
   * @ignore
   */
  read(
    stored?: ReadonlyMap<string, StoredValue>,
    key?: string,
  ): StoredValue | Promise<number> {
    return readStored(this.#backend, stored, key, "");
  }

  /**
   * Writes one sample per state: 1 for the current one, 0 for the others
   * (all 0 if the backend holds no valid index).
   *
   * @param current What `read()` returned (awaited).
   * @param sink Where the samples go.
   * @ignore
   */
  write(current: number, sink: SampleSink): void {
    const labels = this.#layout.labels;
    for (let i = 0; i < labels.length; i++) sink.add(this, "", i === current ? 1 : 0, labels[i]);
  }

  /** Sets the series back to its first state. */
  protected zero(): void {
    this.#backend.set(0);
  }

  /** Tells the backend to forget the series. */
  release(): void {
    this.#backend.remove?.();
  }
}

/**
 * An enum (an OpenMetrics state set): one sample per state, labelled
 * `<name>="<state>"`, exactly one of them 1. The current state is stored as
 * its index in one backend value, so with a multi-process backend the last
 * `state()` call of any process wins.
 *
 * @example
 * ```ts
 * import { Enum } from "@pytheus/pytheus";
 * const task = new Enum({
 *   name: "task_state",
 *   description: "Where the task is.",
 *   states: ["starting", "running", "stopped"] as const,
 *   registry: null,
 * });
 * task.state("running");
 * ```
 */
export class Enum<const L extends string = never, const S extends string = string>
  extends Metric<L, EnumChild<L, S>> {
  /** The states, the initial one first. */
  readonly states: readonly S[];

  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The enum's name, description, labels, states and registry.
   * @throws {LabelValidationError} When the name is not a valid label name,
   *   is a required label, or the states are empty, repeated or not strings.
   */
  constructor(options: EnumOptions<L, S>) {
    metricOptions("Enum", options, ["states"]);
    const layout = enumLayout(options);
    super(
      options,
      "stateset",
      [layout.label],
      (parent, row, backendOf) => new EnumChild<L, S>(parent, row, backendOf, layout),
    );
    this.states = layout.states as readonly S[];
  }

  /**
   * Makes `state` the current state.
   *
   * @param state One of the enum's states.
   * @throws {InvalidValueError} When `state` is not one of them.
   * @throws {UnobservableMetricError} When a required label has no value.
   */
  state(state: S): void {
    this.own.state(state);
  }
}

function enumLayout<S extends string>(options: EnumOptions<string, S>): Layout {
  const validation = nameValidationOf(options.registry);
  const name = checkMetricName(options.name, "metric name", validation);
  try {
    checkLabelNames(name, [name], [], validation);
  } catch (cause) {
    throw new LabelValidationError(
      `Invalid enum name "${name}": it labels the states, so it must be a valid label name`,
      { cause },
    );
  }
  const states: unknown = options.states;
  if (!Array.isArray(states) || states.length === 0) {
    throw new LabelValidationError(`Enum "${name}" needs a non-empty array of states`);
  }
  const index = new Map<string, number>();
  for (const state of states) {
    if (typeof state !== "string") {
      throw new LabelValidationError(
        `State ${describeValue(state)} of enum "${name}" must be a string`,
      );
    }
    checkLabelValue(name, name, state);
    if (index.has(state)) {
      throw new LabelValidationError(`State "${state}" of enum "${name}" is given twice`);
    }
    index.set(state, index.size);
  }
  const labels = [...index.keys()].map((value): ExtraLabel => {
    const text = `${name}="${escapeLabelValue(value)}"}`;
    return { name, value, text, openMetricsText: text };
  });
  return Object.freeze({ label: name, states: Object.freeze([...index.keys()]), index, labels });
}
