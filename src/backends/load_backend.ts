/**
 * Chooses the backend class that metrics created from now on will use, from
 * code or from the environment.
 *
 * @module
 */

import { getLogger } from "../logger.ts";
import { InvalidOptionError, PytheusError } from "../errors.ts";
import { checkOptions, describeName, describeValue } from "../_validation.ts";
import type { BackendClass, BackendConfig } from "./backend.ts";
import { SingleProcessBackend } from "./single_process.ts";

/** Options of {@linkcode loadBackend}. */
export interface LoadBackendOptions {
  /**
   * The backend class, or its name: a built-in name (`SingleProcessBackend`,
   * `MultiProcessRedisBackend`, `MultiWorkerBackend`) or `module-specifier#ExportName`.
   *
   * @default {process.env.PYTHEUS_BACKEND_CLASS ?? SingleProcessBackend}
   */
  backendClass?: BackendClass | string;
  /**
   * The configuration handed to the backend class.
   *
   * @default {the JSON file named by PYTHEUS_BACKEND_CONFIG, or {}}
   */
  backendConfig?: BackendConfig;
}

/** The backend class and configuration in force. */
export interface LoadedBackend {
  /** The class new metrics construct their backends with. */
  readonly backendClass: BackendClass;
  /** The configuration handed to it. */
  readonly backendConfig: BackendConfig;
}

let loaded: LoadedBackend = { backendClass: SingleProcessBackend, backendConfig: {} };

/**
 * Loads a backend class, runs its `initialize(config)` hook, and makes it the
 * backend in force. A metric binds to the backend in force when it makes its
 * first series, so metrics created before (at a module's top level) use it
 * too, unless they already made series: those keep their backend, and the
 * first `loadBackend()` warns about them. With no options it reads `PYTHEUS_BACKEND_CLASS` and
 * `PYTHEUS_BACKEND_CONFIG` (a path to a JSON file).
 *
 * Nothing changes when it fails: the backend in force stays.
 *
 * @param options The class and its configuration.
 * @returns The backend now in force.
 * @throws {InvalidOptionError} When `options` is not an object (`undefined`
 *   is the defaults) or has an unknown key; when `backendClass` (or
 *   `PYTHEUS_BACKEND_CLASS`) is neither a class nor a string, names no
 *   built-in class, or names a module export that is not a class; when the
 *   class's `initialize` is not a function; or when `backendConfig` (or the
 *   file `PYTHEUS_BACKEND_CONFIG` names) is not a JSON object.
 * @throws {PytheusError} When the backend's module cannot be imported, the
 *   configuration file cannot be read, or (on Deno, without `--allow-env`)
 *   the environment cannot be read.
 *
 * @example In code
 * ```ts
 * import { loadBackend, SingleProcessBackend } from "@pytheus/pytheus";
 * await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
 * ```
 */
export async function loadBackend(options: LoadBackendOptions = {}): Promise<LoadedBackend> {
  checkOptions("loadBackend()", options, ["backendClass", "backendConfig"]);
  const spec: unknown = options.backendClass ?? readEnv("PYTHEUS_BACKEND_CLASS") ??
    SingleProcessBackend;
  if (typeof spec !== "string" && !isClass(spec)) {
    throw new InvalidOptionError(
      `loadBackend(): backendClass must be a backend class or its name, got ${describeValue(spec)}`,
    );
  }
  const backendClass = typeof spec === "string" ? await importBackendClass(spec) : spec;
  const initialize: unknown = backendClass.initialize;
  if (initialize !== undefined && typeof initialize !== "function") {
    throw new InvalidOptionError(
      `loadBackend(): the initialize of backend class ${
        describeName(backendClass.name)
      } must be a function, got ${describeValue(initialize)}`,
    );
  }
  const given: unknown = options.backendConfig ?? undefined;
  if (given !== undefined && !isRecord(given)) {
    throw new InvalidOptionError(
      `loadBackend(): backendConfig must be an object, got ${describeValue(given)}`,
    );
  }
  const backendConfig = (given as BackendConfig | undefined) ?? await readConfigFile();
  // Metrics that made series before the application's first loadBackend():
  // not those its backend's initialize() makes (its own self-metrics).
  const early = bound;
  if (early !== undefined) bound = new Map();
  try {
    await backendClass.initialize?.(backendConfig);
  } catch (error) {
    bound = early;
    throw error;
  }
  loaded = { backendClass, backendConfig };
  if (early !== undefined) warnEarly(early, backendClass);
  bound = undefined;
  return loaded;
}

// How many metrics made series, by backend, before the first loadBackend();
// undefined after it, when switching backends is the application's choice.
let bound: Map<BackendClass, number> | undefined = new Map();

/**
 * Counts a metric that made its first series, and with it chose the
 * backend in force: metrics call it.
 *
 * @param backendClass The backend it chose.
 */
export function noteBound(backendClass: BackendClass): void {
  bound?.set(backendClass, (bound.get(backendClass) ?? 0) + 1);
}

/** Warns when metrics made series with another backend than the first one loaded: they keep it. */
function warnEarly(early: ReadonlyMap<BackendClass, number>, backendClass: BackendClass): void {
  const others = [...early].filter(([cls]) => cls !== backendClass);
  if (others.length === 0) return;
  const count = others.reduce((sum, [, n]) => sum + n, 0);
  const nameOf = (cls: BackendClass): string => cls.name || "an unnamed backend class";
  getLogger().warn(
    `pytheus: loadBackend(${nameOf(backendClass)}): ${count} metric(s) made series before, with ${
      others.map(([cls]) => nameOf(cls)).join(", ")
    }, and keep them there; load the backend before anything is observed (in a module imported first)`,
  );
}

/**
 * The backend class and configuration a metric binds to when it makes its first series.
 *
 * @returns The backend in force.
 *
 * @example
 * ```ts
 * import { currentBackend, SingleProcessBackend } from "@pytheus/pytheus";
 * console.assert(currentBackend().backendClass === SingleProcessBackend);
 * ```
 */
export function currentBackend(): LoadedBackend {
  return loaded;
}

// Held in variables so that no module graph pulls the Redis module (and its
// npm dependency) in unless it is asked for.
const BUILT_INS: Record<string, [specifier: string, exportName: string]> = {
  MultiProcessRedisBackend: ["./redis.ts", "MultiProcessRedisBackend"],
  MultiWorkerBackend: ["./multi_worker.ts", "MultiWorkerBackend"],
};

/** Whether `value` can be called with `new` (a class), without calling it. */
function isClass(value: unknown): value is BackendClass {
  if (typeof value !== "function") return false;
  try {
    // Constructs an empty function with `value` as new.target: throws unless it is a constructor.
    Reflect.construct(function () {}, [], value);
    return true;
  } catch {
    return false;
  }
}

function isRecord(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function importBackendClass(spec: string): Promise<BackendClass> {
  if (spec === "SingleProcessBackend") return SingleProcessBackend;
  const builtIn = Object.hasOwn(BUILT_INS, spec) ? BUILT_INS[spec] : undefined;
  const hash = spec.lastIndexOf("#");
  if (!builtIn && hash < 1) {
    throw new InvalidOptionError(
      `Unknown backend class ${JSON.stringify(spec)}: use a built-in name (SingleProcessBackend, ${
        Object.keys(BUILT_INS).join(", ")
      }) or "module-specifier#ExportName"`,
    );
  }
  const [specifier, exportName] = builtIn ?? [spec.slice(0, hash), spec.slice(hash + 1)];
  let module: Record<string, unknown>;
  try {
    module = await import(builtIn ? specifier : resolveSpecifier(specifier));
  } catch (cause) {
    throw new PytheusError(`Cannot import backend module ${JSON.stringify(specifier)}`, { cause });
  }
  const cls = Object.hasOwn(module, exportName) ? module[exportName] : undefined;
  if (!isClass(cls)) {
    throw new InvalidOptionError(
      `Module ${JSON.stringify(specifier)} has no exported class ${JSON.stringify(exportName)}${
        cls === undefined ? "" : `: it is ${describeValue(cls)}`
      }`,
    );
  }
  return cls;
}

/** Relative paths are taken from the working directory, as a user typing them expects. */
function resolveSpecifier(specifier: string): string {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return specifier;
  return new URL(specifier, `file://${cwd()}/`).href;
}

async function readConfigFile(): Promise<BackendConfig> {
  const path = readEnv("PYTHEUS_BACKEND_CONFIG");
  if (path === undefined || path === "") return {};
  const { readFile } = await import("node:fs/promises");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new PytheusError(
      `Cannot read backend config ${JSON.stringify(path)} (PYTHEUS_BACKEND_CONFIG)`,
      { cause },
    );
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (cause) {
    throw new InvalidOptionError(
      `Backend config ${JSON.stringify(path)} (PYTHEUS_BACKEND_CONFIG) is not valid JSON`,
      { cause },
    );
  }
  if (!isRecord(config)) {
    throw new InvalidOptionError(
      `Backend config ${
        JSON.stringify(path)
      } (PYTHEUS_BACKEND_CONFIG) must hold a JSON object, got ${describeValue(config)}`,
    );
  }
  return config as BackendConfig;
}

interface RuntimeGlobals {
  Deno?: { env: { get(name: string): string | undefined }; cwd(): string };
  process?: { env: Record<string, string | undefined>; cwd(): string };
}

const runtime = globalThis as RuntimeGlobals;

function readEnv(name: string): string | undefined {
  try {
    return runtime.Deno ? runtime.Deno.env.get(name) : runtime.process?.env[name];
  } catch (cause) {
    throw new PytheusError(`Cannot read ${name} from the environment (Deno needs --allow-env)`, {
      cause,
    });
  }
}

function cwd(): string {
  return runtime.Deno ? runtime.Deno.cwd() : runtime.process?.cwd() ?? "/";
}
