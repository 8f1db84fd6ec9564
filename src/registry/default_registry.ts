/**
 * `REGISTRY`, the default registry: a proxy whose target
 * `REGISTRY.setRegistry()` replaces, so that metrics made with the default
 * and the handlers serving it follow the swap.
 *
 * @module
 */

import type { MetricFamilySamples, ScrapeSink } from "../vocabulary.ts";
import { type Collector, CollectorRegistry, type Registry, scrapeInto } from "./registry.ts";
import type { NameValidation } from "../_validation.ts";
import { InvalidOptionError } from "../errors.ts";

/**
 * The default registry, delegating to a target that `setRegistry()` replaces.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, REGISTRY } from "@pytheus/pytheus";
 * const previous = REGISTRY.registry;
 * REGISTRY.setRegistry(new CollectorRegistry({ prefix: "app" }));
 * REGISTRY.setRegistry(previous);
 * ```
 */
export class RegistryProxy implements Registry {
  #target: Registry;

  /**
   * Creates a proxy delegating to `target`.
   *
   * @param target The registry to start with.
   */
  constructor(target: Registry) {
    this.#target = target;
  }

  /** The registry currently delegated to. */
  get registry(): Registry {
    return this.#target;
  }

  /**
   * Replaces the registry delegated to; metrics created afterwards register there.
   *
   * @param registry The new target.
   */
  setRegistry(registry: Registry): void {
    this.#target = registry;
  }

  /** The target's prefix. */
  get prefix(): string | undefined {
    return this.#target.prefix;
  }

  /** The target's default `idleSeconds`. */
  get idleSeconds(): number | undefined {
    return this.#target.idleSeconds;
  }

  /** The target's constant labels. */
  get constLabels(): Readonly<Record<string, string>> | undefined {
    return this.#target.constLabels;
  }

  /**
   * Replaces the target's constant labels (see `CollectorRegistry.setConstLabels`).
   *
   * @param labels The labels: `{}` for none.
   * @throws {InvalidOptionError} When the target is not a `CollectorRegistry` (it has no constant labels to set).
   */
  setConstLabels(labels: Readonly<Record<string, string>>): void {
    const target = this.#target;
    if (!(target instanceof CollectorRegistry)) {
      throw new InvalidOptionError(
        "REGISTRY.setConstLabels(): the registry it delegates to is not a CollectorRegistry",
      );
    }
    target.setConstLabels(labels);
  }

  /** Which names the target takes. */
  get nameValidation(): NameValidation {
    return this.#target.nameValidation ?? "legacy";
  }

  /** The target's default `maxSeries`. */
  get maxSeries(): number | undefined {
    return this.#target.maxSeries;
  }

  /**
   * Registers with the target.
   *
   * @param collector A metric or a custom collector.
   * @returns Whether it was added.
   */
  register(collector: Collector): boolean {
    return this.#target.register(collector);
  }

  /**
   * Unregisters from the target.
   *
   * @param collector The collector to remove.
   * @returns Whether it was registered.
   */
  unregister(collector: Collector): boolean {
    return this.#target.unregister(collector);
  }

  /**
   * Asks the target whether `name` is taken (`false` when the target cannot tell).
   *
   * @param name A metric or sample name, without the registry prefix.
   * @returns Whether the target exposes it.
   */
  has(name: string): boolean {
    return this.#target.has?.(name) ?? false;
  }

  /** Resets the target's metrics. */
  reset(): void {
    this.#target.reset();
  }

  /**
   * Reads the target.
   *
   * @returns The families.
   */
  collect(): Promise<MetricFamilySamples[]> {
    return this.#target.collect();
  }

  /**
   * Reads the target into `sink` (through `collect()` when the target cannot).
   *
   * @param sink Where the families go.
   * @ignore
   */
  collectInto(sink: ScrapeSink): Promise<void> {
    return scrapeInto(this.#target, sink);
  }
}

/**
 * The default registry: metrics register here unless given another.
 *
 * @example
 * ```ts
 * import { generateMetrics, REGISTRY } from "@pytheus/pytheus";
 * const text = await generateMetrics(REGISTRY);
 * ```
 */
export const REGISTRY: RegistryProxy = new RegistryProxy(new CollectorRegistry());
