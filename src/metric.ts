/**
 * What every metric type shares: validated names, required and default
 * labels, and the children, one per complete label set, found without
 * collision and created once.
 *
 * @module
 */

import type {
  Backend,
  BackendClass,
  BackendConfig,
  BackendMetric,
  MetricType,
} from "./backends/backend.ts";
import { currentBackend } from "./backends/load_backend.ts";
import { SingleProcessBackend } from "./backends/single_process.ts";
import { InvalidValueError, LabelValidationError, UnobservableMetricError } from "./errors.ts";
import { seriesDropped } from "./_series_limit.ts";
import { renderLabels } from "./_format.ts";
import { checkLabelNames, checkLabelValue, checkMetricName } from "./_validation.ts";
import { REGISTRY, type Registry } from "./registry.ts";

/** A label set, complete or partial, keyed by label name. */
export type LabelValues<L extends string> = { readonly [K in L]?: string };

/** Options every metric takes. */
export interface MetricOptions<L extends string> {
  /** The metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  name: string;
  /** The help text shown after `# HELP`. */
  description: string;
  /**
   * The label names every sample carries. Pass them `as const` to have
   * `labels()` type-checked.
   *
   * @default {[]}
   */
  requiredLabels?: readonly L[];
  /**
   * Values used for labels a child does not set; a subset of `requiredLabels`.
   *
   * @default {{}}
   */
  defaultLabels?: LabelValues<L>;
  /**
   * The registry to register with; `null` for an unregistered metric (in a
   * custom collector).
   *
   * @default {REGISTRY}
   */
  registry?: Registry | null;
  /**
   * The most label sets (children) this metric keeps. Past it, new label
   * sets are refused: `labels()` returns a child that observes into nothing,
   * the refusal is counted in `pytheus_series_dropped_total{metric="<name>"}`
   * and warned about once. Existing series keep working.
   *
   * @default {the registry's maxSeries, else unlimited}
   */
  maxSeries?: number;
}

/** One sample of a metric: `<name><suffix>{<labels>} <value>`. */
export interface Sample {
  /** Appended to the metric name: `""`, `"_bucket"`, `"_sum"`, `"_count"`. */
  readonly suffix: string;
  /** The sample's labels, `le` included for histogram buckets. */
  readonly labels: Readonly<Record<string, string>>;
  /** The value. */
  readonly value: number;
  /** The labels already rendered as `{a="x"}` (`""` for none), when known. */
  readonly labelText?: string;
}

/** What a child needs of the metric it belongs to. */
export interface ChildParent<L extends string, C> {
  /** The metric name. */
  readonly name: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The label names. */
  readonly requiredLabels: readonly L[];
  /** The default label values. */
  readonly defaultLabels: LabelValues<L>;
  /** Resolves a label set to a child. */
  labels(values: LabelValues<L>): C;
}

/**
 * One label set of a metric: observable when every required label has a
 * value, partial (and unobservable) otherwise.
 *
 * @example
 * ```ts
 * import { Counter } from "@pytheus/pytheus";
 * const c = new Counter({ name: "jobs", description: "Jobs.", requiredLabels: ["queue", "kind"], registry: null });
 * const partial = c.labels({ queue: "mail" });
 * partial.labels({ kind: "welcome" }).inc();
 * ```
 */
export abstract class MetricChild<L extends string, C> implements BackendMetric {
  readonly #parent: ChildParent<L, C>;
  /** The label values this child carries (only the given ones while partial). */
  readonly labelValues: Readonly<Record<string, string>>;
  /** The label set rendered as `{a="x"}`, `""` when the metric has no labels. */
  readonly labelText: string;

  /**
   * Creates a child; metrics do this, call `labels()` instead.
   *
   * @param parent The metric.
   * @param labelValues The resolved label values.
   */
  constructor(parent: ChildParent<L, C>, labelValues: Readonly<Record<string, string>>) {
    this.#parent = parent;
    this.labelValues = labelValues;
    this.labelText = renderLabels(labelValues);
  }

  /** The metric name. */
  get name(): string {
    return this.#parent.name;
  }

  /** The metric type. */
  get type(): MetricType {
    return this.#parent.type;
  }

  /**
   * Sets more label values (or overrides some) and returns that child.
   *
   * @param values Label values.
   * @returns The child for the merged label set.
   */
  labels(values: LabelValues<L>): C {
    return this.#parent.labels({ ...this.labelValues, ...values } as LabelValues<L>);
  }

  /**
   * Reads this child's samples.
   *
   * @returns The samples, asynchronously when the backend is remote.
   */
  abstract collect(): Sample[] | Promise<Sample[]>;

  /** Tells this child's backends to forget the series (the child was removed). */
  abstract release(): void;
}

/** Creates a child; `backendOf` is absent for a partial (unobservable) child. */
export type ChildFactory<L extends string, C> = (
  parent: ChildParent<L, C>,
  labelValues: Readonly<Record<string, string>>,
  backendOf: BackendFactory | undefined,
) => C;

/** Constructs the backend of one series (or bucket, or histogram sum). */
export type BackendFactory = (child: BackendMetric, histogramBucket?: string) => Backend;

/** Common part of Counter, Gauge and Histogram: identity, labels and children. */
export abstract class Metric<L extends string, C extends MetricChild<L, C>>
  implements ChildParent<L, C> {
  /** The metric name, without registry prefix. */
  readonly name: string;
  /** The help text. */
  readonly description: string;
  /** The metric type. */
  readonly type: MetricType;
  /** The label names, in the order samples show them. */
  readonly requiredLabels: readonly L[];
  /** The default label values. */
  readonly defaultLabels: LabelValues<L>;
  /** The backend class the children of this metric store their values with. */
  readonly backendClass: BackendClass;
  /** The child observed by calling the metric itself (unobservable if labels are missing). */
  protected own: C;
  readonly #make: ChildFactory<L, C>;
  readonly #backendOf: BackendFactory;
  readonly #children = new Set<C>();
  readonly #maxSeries: number;
  readonly #registry: Registry;
  #overflow: C | undefined;
  // One level per label, in requiredLabels order: exact values as keys, so no
  // two label sets can share a path.
  readonly #tree = new Map<string, unknown>();

  /**
   * Creates the metric and registers it (unless `registry` is `null`).
   *
   * @param options The metric options.
   * @param type The metric type.
   * @param reservedLabels Label names this type forbids.
   * @param make Creates a child.
   */
  constructor(
    options: MetricOptions<L>,
    type: MetricType,
    reservedLabels: readonly string[],
    make: ChildFactory<L, C>,
  ) {
    this.name = checkMetricName(options.name);
    if (typeof options.description !== "string") {
      throw new LabelValidationError(`Metric "${this.name}" needs a string description`);
    }
    this.description = options.description;
    this.type = type;
    this.requiredLabels = checkLabelNames(
      this.name,
      options.requiredLabels ?? [],
      reservedLabels,
    ) as L[];
    this.defaultLabels = checkDefaults(this.name, this.requiredLabels, options.defaultLabels ?? {});
    const { backendClass, backendConfig } = currentBackend();
    this.backendClass = backendClass;
    this.#backendOf = backendFactory(backendClass, backendConfig);
    this.#make = make;
    const registry = options.registry === undefined ? REGISTRY : options.registry;
    this.#registry = registry ?? REGISTRY;
    this.#maxSeries = checkMaxSeries(this.name, options.maxSeries ?? registry?.maxSeries);
    this.own = this.requiredLabels.length === 0 ? this.#create({}) : this.labels({});
    registry?.register(this);
  }

  /**
   * Returns the child for a label set. A complete set (given values plus
   * defaults) gives the same cached child every time; an incomplete one gives
   * a partial child to complete with `.labels()`.
   *
   * @param values Label values, by name.
   * @returns The child.
   *
   * @example
   * ```ts
   * import { Counter } from "@pytheus/pytheus";
   * const c = new Counter({ name: "hits", description: "Hits.", requiredLabels: ["path"] as const, registry: null });
   * c.labels({ path: "/" }).inc();
   * ```
   */
  labels(values: LabelValues<L>): C {
    const given = values as Record<string, unknown>;
    const names = this.requiredLabels;
    const defaults = this.defaultLabels as Record<string, string | undefined>;
    let node: unknown = this.#tree;
    let matched = 0;
    let complete = names.length > 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      let value = given[name];
      if (value !== undefined) {
        matched++;
        if (typeof value !== "string") checkLabelValue(this.name, name, value);
      } else {
        value = defaults[name];
        if (value === undefined) {
          complete = false;
          continue;
        }
      }
      if (node !== undefined) node = (node as Map<unknown, unknown>).get(value);
    }
    if (matched !== countDefined(given)) throw unknownLabel(this.name, names, given);
    if (names.length === 0) return this.own;
    if (!complete) return this.#make(this, stringsOf(given), undefined);
    return node !== undefined ? node as C : this.#create(given);
  }

  /**
   * Reads every sample of every complete child. All backends are read before
   * any is awaited, so a remote backend can batch one scrape into one round trip.
   *
   * @returns The samples.
   *
   * @example
   * ```ts
   * import { Gauge } from "@pytheus/pytheus";
   * const g = new Gauge({ name: "temp", description: "Temperature.", registry: null });
   * g.set(21.5);
   * const [sample] = await g.collect();
   * console.assert(sample?.value === 21.5);
   * ```
   */
  async collect(): Promise<Sample[]> {
    const parts: (Sample[] | Promise<Sample[]>)[] = [];
    let pending = false;
    for (const child of this.#children) {
      const part = child.collect();
      if (!Array.isArray(part)) pending = true;
      parts.push(part);
    }
    return (pending ? await Promise.all(parts) : parts as Sample[][]).flat();
  }

  /**
   * Removes the child of a complete label set: it is no longer exposed, and
   * its backend forgets it (in Redis too).
   *
   * @param values The label values (defaults fill the rest).
   * @returns Whether such a child existed.
   *
   * @example
   * ```ts
   * import { Gauge } from "@pytheus/pytheus";
   * const g = new Gauge({ name: "user_sessions", description: "Sessions.", requiredLabels: ["user"], registry: null });
   * g.labels({ user: "ann" }).set(2);
   * console.assert(g.remove({ user: "ann" }));
   * ```
   */
  remove(values: LabelValues<L>): boolean {
    const child = this.labels(values);
    if (!this.#children.has(child)) return false;
    this.#forget(child);
    return true;
  }

  /**
   * Removes every child (a metric without labels keeps its one series).
   *
   * @example
   * ```ts
   * import { Counter } from "@pytheus/pytheus";
   * const c = new Counter({ name: "hits", description: "Hits.", requiredLabels: ["path"], registry: null });
   * c.labels({ path: "/" }).inc();
   * c.clear();
   * ```
   */
  clear(): void {
    for (const child of this.#children) this.#forget(child);
  }

  #forget(child: C): void {
    const names = this.requiredLabels;
    if (names.length === 0) return;
    this.#children.delete(child);
    let node = this.#tree;
    for (let i = 0; i < names.length - 1; i++) {
      node = node.get(child.labelValues[names[i]!]!) as Map<string, unknown>;
    }
    node.delete(child.labelValues[names[names.length - 1]!]!);
    child.release();
    // A metric observable through its defaults keeps a (fresh) series of its own.
    if (child === this.own) this.own = this.labels({});
  }

  /** A refused label set gets the one sink child: observable, never collected. */
  #refuse(): C {
    seriesDropped(this.#registry, this.name, this.#maxSeries);
    return this.#overflow ??= this.#make(
      this,
      {},
      (child, bucket) =>
        bucket === undefined
          ? new SingleProcessBackend({}, child)
          : new SingleProcessBackend({}, child, bucket),
    );
  }

  #create(given: Record<string, unknown>): C {
    if (this.#children.size >= this.#maxSeries) return this.#refuse();
    const names = this.requiredLabels;
    const labelValues: Record<string, string> = {};
    for (const name of names) {
      labelValues[name] = (given[name] ?? this.defaultLabels[name]) as string;
    }
    const child = this.#make(this, labelValues, this.#backendOf);
    let node = this.#tree;
    for (let i = 0; i < names.length - 1; i++) {
      const value = labelValues[names[i]!]!;
      let next = node.get(value) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(value, next = new Map());
      node = next;
    }
    if (names.length > 0) node.set(labelValues[names[names.length - 1]!]!, child);
    this.#children.add(child);
    return child;
  }
}

/**
 * The backend of a partial child: every call throws
 * {@linkcode UnobservableMetricError} naming the labels still missing.
 *
 * @param parent The metric.
 * @param child The partial child.
 * @returns A backend that refuses every call.
 */
export function unobservable<L extends string, C>(
  parent: ChildParent<L, C>,
  child: BackendMetric,
): Backend {
  const defaults = parent.defaultLabels as Record<string, string | undefined>;
  const fail = (): never => {
    const missing = parent.requiredLabels.filter((n) =>
      child.labelValues[n] === undefined && defaults[n] === undefined
    );
    throw new UnobservableMetricError(
      `Cannot observe "${child.name}": label${missing.length > 1 ? "s" : ""} ${
        missing.map((n) => `"${n}"`).join(", ")
      } ha${missing.length > 1 ? "ve" : "s"} no value`,
    );
  };
  return { inc: fail, dec: fail, set: fail, get: fail };
}

/**
 * Reads the one sample of a counter or gauge child.
 *
 * @param child The child.
 * @param backend Its backend.
 * @returns The sample, asynchronously when the backend is remote.
 */
export function collectSingle<L extends string, C>(
  child: MetricChild<L, C>,
  backend: Backend,
): Sample[] | Promise<Sample[]> {
  const value = backend.get();
  const sample = (value: number): Sample[] => [{
    suffix: "",
    labels: child.labelValues,
    value,
    labelText: child.labelText,
  }];
  return typeof value === "number" ? sample(value) : value.then(sample);
}

function checkMaxSeries(metric: string, max: number | undefined): number {
  if (max === undefined) return Infinity;
  if (!Number.isInteger(max) || max < 1) {
    throw new InvalidValueError(
      `maxSeries of "${metric}" must be a whole number of at least 1, got ${max}`,
    );
  }
  return max;
}

function backendFactory(cls: BackendClass, config: BackendConfig): BackendFactory {
  return (child, bucket) =>
    bucket === undefined ? new cls(config, child) : new cls(config, child, bucket);
}

function checkDefaults<L extends string>(
  metric: string,
  names: readonly L[],
  defaults: LabelValues<L>,
): LabelValues<L> {
  const checked: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults)) {
    if (!(names as readonly string[]).includes(name)) {
      throw new LabelValidationError(
        `Default label "${name}" of "${metric}" is not a required label (${
          names.join(", ") || "none"
        })`,
      );
    }
    checked[name] = checkLabelValue(metric, name, value);
  }
  return checked as LabelValues<L>;
}

function countDefined(given: Record<string, unknown>): number {
  let n = 0;
  for (const name in given) if (given[name] !== undefined) n++;
  return n;
}

function stringsOf(given: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in given) if (given[name] !== undefined) out[name] = given[name] as string;
  return out;
}

function unknownLabel(
  metric: string,
  names: readonly string[],
  given: Record<string, unknown>,
): Error {
  const unknown = Object.keys(given).filter((n) => given[n] !== undefined && !names.includes(n));
  return new LabelValidationError(
    `Unknown label "${unknown[0]}" for "${metric}" (required labels: ${
      names.join(", ") || "none"
    })`,
  );
}
