/**
 * Checks of the option values that the entry points outside the metrics take
 * (`makeHandler()`, `instrumentHandler()`, `collectDefaultMetrics()`, the
 * Pushgateway calls): a registry, a flag, a number of milliseconds. Each
 * throws an {@linkcode InvalidOptionError} quoting what was given. An option
 * given as `undefined` or `null` takes its default, as in `generateMetrics()`;
 * only `registry: null` is refused, since for a metric it means "no registry",
 * which none of these can work with.
 */

import { InvalidOptionError } from "./errors.ts";
import type { Registry } from "./registry/registry.ts";
import { REGISTRY } from "./registry/default_registry.ts";
import { describeValue, type NameValidation } from "./_validation.ts";

/** What every registry has: the methods of {@linkcode Registry} that are not optional. */
const REGISTRY_METHODS = ["register", "unregister", "collect", "reset"] as const;

/**
 * The `registry` option: {@linkcode REGISTRY} when absent, else a registry
 * (a `CollectorRegistry`, or any object with the methods of `Registry`).
 */
export function registryOption(what: string, registry: unknown): Registry {
  if (registry === undefined) return REGISTRY;
  if (registry === null) {
    throw new InvalidOptionError(
      `${what}: registry must be a registry, got null (null leaves a metric unregistered; ` +
        `leave registry out for the default registry)`,
    );
  }
  if (
    typeof registry !== "object" ||
    REGISTRY_METHODS.some((method) =>
      typeof (registry as Record<string, unknown>)[method] !== "function"
    )
  ) {
    throw new InvalidOptionError(
      `${what}: registry must be a registry (a CollectorRegistry, or an object with ${
        REGISTRY_METHODS.map((method) => `${method}()`).join(", ")
      }), got ${describeValue(registry)}`,
    );
  }
  return registry as Registry;
}

/**
 * The names a metric made with this `registry` option may take: its
 * registry's; legacy ones with none (`null`).
 */
export function nameValidationOf(registry: unknown): NameValidation {
  const target = registry === undefined ? REGISTRY : registry;
  return target !== null && typeof target === "object" &&
      (target as Registry).nameValidation === "utf-8"
    ? "utf-8"
    : "legacy";
}

/** A `true`/`false` option: `fallback` when absent. */
export function booleanOption(
  what: string,
  name: string,
  value: unknown,
  fallback: boolean,
): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") {
    throw new InvalidOptionError(
      `${what}: ${name} must be true or false, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** The longest delay a timer takes: beyond it, Deno's timers fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay in milliseconds, for a timer: more than 0, at most {@linkcode MAX_TIMER_MS}; `fallback` when absent. */
export function millisecondsOption(
  what: string,
  name: string,
  value: unknown,
  fallback: number,
): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !(value > 0 && value <= MAX_TIMER_MS)) {
    throw new InvalidOptionError(
      `${what}: ${name} must be a number of milliseconds, more than 0 and at most ${MAX_TIMER_MS}, got ${
        describeValue(value)
      }`,
    );
  }
  return value;
}
