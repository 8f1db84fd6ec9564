/**
 * Chooses the backend class that metrics created from now on will use, from
 * code or from the environment.
 *
 * @module
 */

import { PytheusError } from "../errors.ts";
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
 * backend of every metric created afterwards. With no options it reads
 * `PYTHEUS_BACKEND_CLASS` and `PYTHEUS_BACKEND_CONFIG` (a path to a JSON file).
 *
 * @param options The class and its configuration.
 * @returns The backend now in force.
 *
 * @example In code
 * ```ts
 * import { loadBackend, SingleProcessBackend } from "@pytheus/pytheus";
 * await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
 * ```
 */
export async function loadBackend(options: LoadBackendOptions = {}): Promise<LoadedBackend> {
  const spec = options.backendClass ?? readEnv("PYTHEUS_BACKEND_CLASS") ?? SingleProcessBackend;
  const backendClass: BackendClass = typeof spec === "string"
    ? await importBackendClass(spec)
    : spec;
  if (typeof backendClass !== "function") {
    throw new PytheusError(`Backend class ${String(spec)} is not a class`);
  }
  const backendConfig = options.backendConfig ?? await readConfigFile();
  await backendClass.initialize?.(backendConfig);
  loaded = { backendClass, backendConfig };
  return loaded;
}

/**
 * The backend class and configuration new metrics use.
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

async function importBackendClass(spec: string): Promise<BackendClass> {
  if (spec === "SingleProcessBackend") return SingleProcessBackend;
  const builtIn = BUILT_INS[spec];
  const hash = spec.lastIndexOf("#");
  if (!builtIn && hash < 1) {
    throw new PytheusError(
      `Unknown backend class "${spec}": use a built-in name (SingleProcessBackend, ${
        Object.keys(BUILT_INS).join(", ")
      }) or "module-specifier#ExportName"`,
    );
  }
  const [specifier, exportName] = builtIn ?? [spec.slice(0, hash), spec.slice(hash + 1)];
  let module: Record<string, unknown>;
  try {
    module = await import(builtIn ? specifier : resolveSpecifier(specifier));
  } catch (cause) {
    throw new PytheusError(`Cannot import backend module "${specifier}"`, { cause });
  }
  const cls = module[exportName];
  if (typeof cls !== "function") {
    throw new PytheusError(`Module "${specifier}" has no exported class "${exportName}"`);
  }
  return cls as BackendClass;
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
  let config: unknown;
  try {
    config = JSON.parse(await readFile(path, "utf8"));
  } catch (cause) {
    throw new PytheusError(`Cannot read backend config "${path}" (PYTHEUS_BACKEND_CONFIG)`, {
      cause,
    });
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new PytheusError(`Backend config "${path}" must hold a JSON object`);
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
