/** Starting and stopping the real programs tests need (redis-server, prometheus, promtool, deno, bun). */

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import process from "node:process";

/** True in CI, where a missing program fails instead of skipping. */
export const IN_CI: boolean = process.env.CI === "true";

/** The full path of a program on PATH, or undefined. */
export function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const path = join(dir, program);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * `false` when every program is installed; otherwise a skip reason (printed
 * loudly). In CI a missing program throws: nothing is skipped there.
 */
export function needs(...programs: string[]): string | false {
  const missing = programs.filter((p) => which(p) === undefined);
  if (missing.length === 0) return false;
  // Deno and Bun come from npm, the servers and tools from Debian.
  const fromNpm = (p: string): boolean => p === "deno" || p === "bun";
  const npm = missing.filter(fromNpm);
  const apt = missing.filter((p) => !fromNpm(p));
  const install = [
    ...npm.length > 0 ? [`npm i -g ${npm.join(" ")}`] : [],
    ...apt.length > 0 ? [`apt-get install ${apt.join(" ")}`] : [],
  ];
  const reason = `SKIPPED: ${missing.join(", ")} not installed (${install.join("; ")})`;
  if (IN_CI) throw new Error(`${reason}; CI must run every test`);
  console.warn(`\n*** ${reason} ***\n`);
  return reason;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A running child process, its output kept for error messages. */
export interface Running {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `command args`, keeping its stdout and stderr. */
export function start(command: string, args: string[], env?: Record<string, string>): Running {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => output += d);
  child.stderr?.on("data", (d) => output += d);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Runs a command to its end; resolves with its exit code and output. */
export function run(
  command: string,
  args: string[],
  options: { input?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** Polls `probe` until it returns true, or throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch {
      // not ready yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}
