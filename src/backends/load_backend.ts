/**
 * Chooses the store that metrics from now on keep their numbers in, from
 * code or from the environment.
 *
 * @module
 */

import { getLogger } from "../logger.ts";
import { InvalidOptionError, PytheusError } from "../errors.ts";
import { checkOptions, describeName, describeValue } from "../_validation.ts";
import type { BackendClass, BackendConfig } from "./backend.ts";
import type { Store, StoreClass } from "./store.ts";
import { SingleProcessBackend } from "./single_process.ts";
import { IN_MEMORY_STORE } from "./_in_memory.ts";
import { builtInClass } from "./_built_ins.ts";

/** Options of {@linkcode loadBackend}. */
export interface LoadBackendOptions {
  /**
   * The backend class, or its name: a built-in name (`SingleProcessBackend`,
   * `MultiProcessRedisBackend`, `MultiWorkerBackend`) or
   * `module-specifier#ExportName`. A {@linkcode StoreClass} is constructed
   * once with `backendConfig`; a {@linkcode BackendClass} once per number.
   *
   * @default {process.env.PYTHEUS_BACKEND_CLASS ?? SingleProcessBackend}
   */
  backendClass?: BackendClass | StoreClass | string;
  /**
   * The configuration handed to the backend class.
   *
   * @default {the JSON file named by PYTHEUS_BACKEND_CONFIG, or {}}
   */
  backendConfig?: BackendConfig;
  /**
   * A store made by the application, instead of `backendClass` and `backendConfig`.
   *
   * @default {undefined}
   */
  store?: Store;
}

/** The store in force, and the class and configuration it came from. */
export interface LoadedBackend {
  /** Where new metrics keep their numbers. */
  readonly store: Store;
  /** The class the store came from (`undefined` for a store given as `store`). */
  readonly backendClass: BackendClass | StoreClass | undefined;
  /** The configuration handed to the class (`{}` for a store given as `store`). */
  readonly backendConfig: BackendConfig;
}

let loaded: LoadedBackend = {
  store: IN_MEMORY_STORE,
  backendClass: SingleProcessBackend,
  backendConfig: {},
};

/**
 * Makes a store the backend in force: one given (`store`), or one made from
 * a class (`backendClass` and `backendConfig`), opened first (the class's
 * `initialize(config)`, the store's `open()`). A metric binds to the store
 * in force when it makes its first series, so metrics created before (at a
 * module's top level) use it too, unless they already made series: those
 * keep theirs, and the first `loadBackend()` warns about them. With no
 * options it reads `PYTHEUS_BACKEND_CLASS` and `PYTHEUS_BACKEND_CONFIG` (a
 * path to a JSON file).
 *
 * A built-in name takes the class from the program if its module was
 * imported, else imports that module beside this one: a bundled or compiled
 * application, which has no such module beside it, imports
 * `@pytheus/pytheus/redis` itself to load `MultiProcessRedisBackend` by name.
 *
 * Nothing changes when it fails: the backend in force stays.
 *
 * @param options The store, or the class and its configuration.
 * @returns The backend now in force.
 * @throws {InvalidOptionError} When `options` is not an object (`undefined`
 *   is the defaults) or has an unknown key; when `store` is given with
 *   `backendClass` or `backendConfig`, or is not a store; when
 *   `backendClass` (or `PYTHEUS_BACKEND_CLASS`) is neither a class nor a
 *   string, names no built-in class, or names a module export that is not a
 *   class; when the class's `initialize` is not a function; or when
 *   `backendConfig` (or the file `PYTHEUS_BACKEND_CONFIG` names) is not a
 *   JSON object.
 * @throws {PytheusError} When the backend's module cannot be imported (the
 *   message says what to import, and `cause` why it failed), the
 *   configuration file cannot be read, or (on Deno, without `--allow-env`)
 *   the environment cannot be read.
 *
 * @example In code
 * ```ts
 * import { loadBackend, SingleProcessBackend } from "@pytheus/pytheus";
 * await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
 * ```
 *
 * @example From the environment, in an application to bundle
 * ```ts
 * // The bundle holds the Redis backend, which PYTHEUS_BACKEND_CLASS may name.
 * import "@pytheus/pytheus/redis";
 * import { loadBackend } from "@pytheus/pytheus";
 * await loadBackend();
 * ```
 */
export async function loadBackend(options: LoadBackendOptions = {}): Promise<LoadedBackend> {
  checkOptions("loadBackend()", options, ["backendClass", "backendConfig", "store"]);
  if (options.store !== undefined) {
    if (options.backendClass !== undefined || options.backendConfig !== undefined) {
      throw new InvalidOptionError(
        "loadBackend(): give a store, or a backendClass and its backendConfig, not both",
      );
    }
    return await open({
      store: checkStore(options.store),
      backendClass: undefined,
      backendConfig: {},
    });
  }
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
  return await open({ store: undefined, backendClass, backendConfig });
}

/** Opens the store (made from its class first) and puts it in force. */
async function open(
  from: {
    store: Store | undefined;
    backendClass: BackendClass | StoreClass | undefined;
    backendConfig: BackendConfig;
  },
): Promise<LoadedBackend> {
  const { backendClass, backendConfig } = from;
  // Metrics that made series before the application's first loadBackend():
  // not those its store makes when it opens (its own self-metrics).
  const early = bound;
  if (early !== undefined) bound = new Map();
  let store = from.store;
  try {
    await (backendClass as BackendClass | undefined)?.initialize?.(backendConfig);
    store ??= storeOf(backendClass!, backendConfig);
    await store.open?.();
  } catch (error) {
    bound = early;
    throw error;
  }
  loaded = { store, backendClass, backendConfig };
  if (early !== undefined) warnEarly(early, store);
  bound = undefined;
  return loaded;
}

/** The store of a class: an instance of a store class, else one that constructs a cell per number. */
function storeOf(cls: BackendClass | StoreClass, config: BackendConfig): Store {
  if (cls === SingleProcessBackend) return IN_MEMORY_STORE;
  if (typeof (cls.prototype as Partial<Store> | undefined)?.cell === "function") {
    return checkStore(new (cls as StoreClass)(config));
  }
  const cells = cls as BackendClass;
  const legacy = ["prepareCollect", "clear"].filter((hook) =>
    typeof (cells as unknown as Record<string, unknown>)[hook] === "function"
  );
  if (legacy.length > 0) {
    getLogger().warn(
      `pytheus: backend class ${cells.name || "(unnamed)"} has a static ${
        legacy.join(" and ")
      }, which no store calls: a backend that reads at scrape time or forgets other processes' ` +
        "series is a Store (read(), clear()); its numbers are read with get(), one by one",
    );
  }
  return {
    cell: (series) =>
      series.sample === "" ? new cells(config, series) : new cells(config, series, series.sample),
  };
}

/** Throws unless `store` has a `cell` function, and its hooks are functions. */
function checkStore(store: unknown): Store {
  const named = (what: string): string => `loadBackend(): ${what}, got ${describeValue(store)}`;
  if (store === null || typeof store !== "object") {
    throw new InvalidOptionError(named("store must be an object with a cell() method"));
  }
  const candidate = store as Record<string, unknown>;
  if (typeof candidate.cell !== "function") {
    throw new InvalidOptionError(named("store must have a cell() method"));
  }
  for (const hook of ["open", "read", "clear", "flush", "close"]) {
    if (candidate[hook] !== undefined && typeof candidate[hook] !== "function") {
      throw new InvalidOptionError(
        `loadBackend(): the store's ${hook} must be a function, got ${
          describeValue(candidate[hook])
        }`,
      );
    }
  }
  return store as Store;
}

// How many metrics made series, by store, before the first loadBackend();
// undefined after it, when switching backends is the application's choice.
let bound: Map<Store, number> | undefined = new Map();

/**
 * Counts a metric that made its first series, and with it chose the
 * store in force: metrics call it.
 *
 * @param store The store it chose.
 */
export function noteBound(store: Store): void {
  bound?.set(store, (bound.get(store) ?? 0) + 1);
}

/** Warns when metrics made series in another store than the first one loaded: they keep it. */
function warnEarly(early: ReadonlyMap<Store, number>, store: Store): void {
  const others = [...early].filter(([other]) => other !== store);
  if (others.length === 0) return;
  const count = others.reduce((sum, [, n]) => sum + n, 0);
  getLogger().warn(
    `pytheus: loadBackend(${nameOf(store)}): ${count} metric(s) made series before, with ${
      others.map(([other]) => nameOf(other)).join(", ")
    }, and keep them there; load the backend before anything is observed (in a module imported first)`,
  );
}

/** A store's name in a message: its class's, `SingleProcessBackend` for the in-memory one. */
function nameOf(store: Store): string {
  if (store === IN_MEMORY_STORE) return "SingleProcessBackend";
  if (loaded.store === store && loaded.backendClass !== undefined) {
    return loaded.backendClass.name || "an unnamed backend class";
  }
  const name = (store as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" && name !== "Object" ? name : "a store";
}

/**
 * The store, class and configuration a metric binds to when it makes its first series.
 *
 * @returns The backend in force.
 *
 * @example
 * ```ts
 * import { SingleProcessBackend } from "@pytheus/pytheus";
 * import { currentBackend } from "./load_backend.ts";
 * console.assert(currentBackend().backendClass === SingleProcessBackend);
 * ```
 */
export function currentBackend(): LoadedBackend {
  return loaded;
}

// Each built-in backend: the module an application imports to hold it, and
// how to import it when the program does not hold it yet (see _built_ins.ts).
// The multi-worker one imports nothing: a literal specifier, which publishing
// rewrites with the rest of the package (`.ts` to `.js` in JSR's npm layout),
// and bundlers follow. The Redis one is named by a URL beside this module's
// own, with its extension (so it is right in either layout), and imported as
// an application's module is: a literal import would put the module and
// ioredis in the graph of every program, and Deno would fetch ioredis for all
// of them. A bundle has no module beside its own: there, only an application
// that imports the Redis module holds the class.
const REDIS_MODULE = new URL(
  `./redis${/\.[cm]?[jt]s$/.exec(new URL(import.meta.url).pathname)?.[0] ?? ".js"}`,
  import.meta.url,
).href;
const BUILT_INS: Record<string, { module: string; load: () => Promise<unknown> }> = {
  MultiProcessRedisBackend: {
    module: "@pytheus/pytheus/redis",
    load: async () => (await importModule(REDIS_MODULE)).MultiProcessRedisBackend,
  },
  MultiWorkerBackend: {
    module: "@pytheus/pytheus",
    load: async () => (await import("./multi_worker.ts")).MultiWorkerBackend,
  },
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
  if (Object.hasOwn(BUILT_INS, spec)) return await builtIn(spec);
  const hash = spec.lastIndexOf("#");
  if (hash < 1) {
    throw new InvalidOptionError(
      `Unknown backend class ${JSON.stringify(spec)}: use a built-in name (SingleProcessBackend, ${
        Object.keys(BUILT_INS).join(", ")
      }) or "module-specifier#ExportName"`,
    );
  }
  const specifier = spec.slice(0, hash);
  const exportName = spec.slice(hash + 1);
  let module: Record<string, unknown>;
  try {
    module = await importModule(resolveSpecifier(specifier));
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

/** A built-in backend class: the one the program holds, else from its module, imported now. */
async function builtIn(name: string): Promise<BackendClass> {
  const { module, load } = BUILT_INS[name]!;
  try {
    return (builtInClass(name) ?? await load()) as BackendClass;
  } catch (cause) {
    throw new PytheusError(
      `Cannot import the module of backend ${name}: a bundled or compiled application imports ` +
        `"${module}" itself (the bundle then holds it), or passes the class: ` +
        `loadBackend({ backendClass: ${name} })`,
      { cause },
    );
  }
}

type Importer = (specifier: string) => Promise<Record<string, unknown>>;
let importer: Importer | undefined;

/**
 * Imports a module named at run time (the application's backend module, or
 * the Redis backend's). `deno publish`
 * warns about an `import()` of a computed specifier (it cannot rewrite it,
 * which is right for a module the package does not hold) and no comment
 * silences it; an `import()` inside a function made from source text is not
 * seen, and resolves exactly as one written here (same referrer, on Deno and
 * Bun). Made at the first use, so only applications naming such a module
 * need code generation.
 */
function importModule(specifier: string): Promise<Record<string, unknown>> {
  try {
    importer ??= new Function("specifier", "return import(specifier)") as Importer;
  } catch (cause) {
    throw new PytheusError(
      "This runtime forbids code generation, which importing a backend module by name needs: " +
        "pass the class itself (loadBackend({ backendClass }))",
      { cause },
    );
  }
  return importer(specifier);
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
