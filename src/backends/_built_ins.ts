/**
 * The built-in backend classes the program holds, by name, where
 * `loadBackend()` looks before it imports their module: a built-in backend's
 * module adds its class when it is evaluated. A bundle (`bun build`,
 * `deno bundle`) or a compiled program has no module beside the loader to
 * import by URL, but it holds the class when the application imports its
 * module. Internal (no application passes anything here), and the first
 * class of a name stays: none replaces a built-in.
 */

import type { StoreClass } from "./store.ts";

const classes = new Map<string, StoreClass>();

/**
 * Makes a built-in backend class known to `loadBackend()` by its name.
 *
 * @param name Its built-in name, written out: a bundler may rename the class.
 * @param cls The class.
 *
 * @example
 * ```ts
 * // What the Redis module does when it is evaluated.
 * import { MultiProcessRedisBackend } from "./redis.ts";
 * import { addBuiltIn } from "./_built_ins.ts";
 * addBuiltIn("MultiProcessRedisBackend", MultiProcessRedisBackend);
 * ```
 */
export function addBuiltIn(name: string, cls: StoreClass): void {
  if (!classes.has(name)) classes.set(name, cls);
}

/**
 * The built-in backend class of a name, if the program holds it.
 *
 * @param name The built-in name.
 * @returns The class, or `undefined` until its module is evaluated.
 *
 * @example
 * ```ts
 * import { MultiProcessRedisBackend } from "./redis.ts";
 * import { builtInClass } from "./_built_ins.ts";
 * console.assert(builtInClass("MultiProcessRedisBackend") === MultiProcessRedisBackend);
 * ```
 */
export function builtInClass(name: string): StoreClass | undefined {
  return classes.get(name);
}
