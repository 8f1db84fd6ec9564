/**
 * The little a module needs of the runtime it runs on (Deno, Bun, or Node):
 * its name and version, process figures, synchronous reads of `/proc`, and
 * timers that do not keep the process alive. Runtime objects are found on
 * `globalThis` and detected by shape; no runtime's types are imported.
 *
 * @module
 */

/** Which runtime this is, and the version labels of its `<runtime>_info` metric. */
export interface RuntimeInfo {
  /** `"deno"`, `"bun"` or `"node"`. */
  readonly name: string;
  /** Label values of `<name>_info`, `version` first. */
  readonly labels: Readonly<Record<string, string>>;
}

/** CPU time of the process so far, in microseconds. */
export interface CpuUsage {
  /** Time spent in user mode. */
  readonly user: number;
  /** Time spent in the kernel. */
  readonly system: number;
}

/** Memory figures of the process, in bytes. */
export interface MemoryUsage {
  /** Resident set size. */
  readonly rss: number;
  /** Size of the JavaScript heap. */
  readonly heapTotal: number;
  /** Part of the JavaScript heap in use. */
  readonly heapUsed: number;
}

/** A synchronous file system, as far as `/proc` needs it. */
export interface ProcReader {
  /** Whether `path` may be read without asking anyone (a Deno permission prompt). */
  mayRead(path: string): boolean;
  /** Reads a text file; throws when it cannot. */
  readText(path: string): string;
  /** Lists a directory's entry names; throws when it cannot. */
  readDir(path: string): string[];
}

interface DenoShape {
  version: { deno: string; v8: string; typescript: string };
  memoryUsage(): MemoryUsage;
  readTextFileSync(path: string): string;
  readDirSync(path: string): Iterable<{ name: string }>;
  unrefTimer?(id: number): void;
  permissions?: { querySync?(descriptor: { name: "read"; path: string }): { state: string } };
}

interface ProcessShape {
  versions?: Record<string, string | undefined>;
  platform?: string;
  cpuUsage?(): CpuUsage;
  memoryUsage?(): MemoryUsage;
  getBuiltinModule?(id: string): unknown;
}

interface NodeFsShape {
  readFileSync(path: string, encoding: "utf8"): string;
  readdirSync(path: string): string[];
}

const deno = (globalThis as { Deno?: DenoShape }).Deno;
const bun = (globalThis as { Bun?: { version: string; revision?: string } }).Bun;
const proc = (globalThis as { process?: ProcessShape }).process;

/**
 * Names the runtime and its versions.
 *
 * @returns The runtime's name and info labels.
 */
export function runtimeInfo(): RuntimeInfo {
  if (deno?.version?.deno) {
    const { deno: version, v8, typescript } = deno.version;
    return { name: "deno", labels: { version, v8, typescript } };
  }
  if (bun?.version) {
    return { name: "bun", labels: { version: bun.version, revision: bun.revision ?? "" } };
  }
  return { name: "node", labels: { version: proc?.versions?.node ?? "" } };
}

/**
 * Reads the CPU time used so far.
 *
 * @returns The CPU time, or `undefined` when the runtime does not tell.
 */
export function cpuUsage(): CpuUsage | undefined {
  return typeof proc?.cpuUsage === "function" ? proc.cpuUsage() : undefined;
}

/**
 * Reads the memory figures.
 *
 * @returns The figures, or `undefined` when the runtime does not tell.
 */
export function memoryUsage(): MemoryUsage | undefined {
  if (deno && typeof deno.memoryUsage === "function") return deno.memoryUsage();
  return typeof proc?.memoryUsage === "function" ? proc.memoryUsage() : undefined;
}

/** Whether this is Linux, where `/proc` exists. */
export function isLinux(): boolean {
  const os = (deno as { build?: { os?: string } } | undefined)?.build?.os ?? proc?.platform;
  return os === "linux";
}

/**
 * Finds a synchronous way to read files: Deno's own API (after a
 * permission query that never prompts), else `node:fs` from
 * `process.getBuiltinModule` (Bun, Node).
 *
 * @returns The reader, or `undefined` when there is none.
 */
export function procReader(): ProcReader | undefined {
  if (deno && typeof deno.readTextFileSync === "function") {
    const query = deno.permissions?.querySync?.bind(deno.permissions);
    return {
      mayRead: (path) => query === undefined || query({ name: "read", path }).state === "granted",
      readText: (path) => deno.readTextFileSync(path),
      readDir: (path) => Array.from(deno.readDirSync(path), (entry) => entry.name),
    };
  }
  const fs = proc?.getBuiltinModule?.("node:fs") as NodeFsShape | undefined;
  if (fs === undefined) return undefined;
  return {
    mayRead: () => true,
    readText: (path) => fs.readFileSync(path, "utf8"),
    readDir: (path) => fs.readdirSync(path),
  };
}

/**
 * Lets the process exit while `timer` is pending: `timer.unref()` on Bun
 * and Node (and recent Deno), `Deno.unrefTimer(id)` on Deno with numeric ids.
 *
 * @param timer What `setTimeout` or `setInterval` returned.
 */
export function unrefTimer(timer: unknown): void {
  const handle = timer as { unref?: () => void } | null;
  if (handle !== null && typeof handle === "object" && typeof handle.unref === "function") {
    handle.unref();
  } else if (typeof timer === "number" && typeof deno?.unrefTimer === "function") {
    deno.unrefTimer(timer);
  }
}

/**
 * Whether the engine is JavaScriptCore (Bun), whose `Map` entries cost about
 * twice what a dictionary object's properties do.
 */
export function isJavaScriptCore(): boolean {
  return bun !== undefined;
}
