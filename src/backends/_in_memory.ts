/**
 * The store in force until `loadBackend()` picks another: every number in
 * this process' memory.
 *
 * @module
 */

import type { BackendFactory } from "./backend.ts";
import type { Store } from "./store.ts";
import { SingleProcessBackend } from "./single_process.ts";

/** The in-memory store: one {@linkcode SingleProcessBackend} per number. */
export const IN_MEMORY_STORE: Store = { cell: () => new SingleProcessBackend() };

/**
 * Creates the cells of the in-memory store. A counter or gauge given this
 * factory makes children that keep their value in a field of their own,
 * which saves an object per series.
 */
export const IN_MEMORY: BackendFactory = () => new SingleProcessBackend();
