/** Starting, stopping, killing and restarting a real redis-server for the Redis backend tests. */

import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before } from "node:test";
import { loadBackend, SingleProcessBackend } from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { freePort, type Running, start, waitFor } from "./_process.ts";

/** A redis-server on 127.0.0.1 that a test controls. */
export interface RedisServer {
  /** Its port. */
  readonly port: number;
  /** Stops it for good (SIGTERM) and removes its data directory. */
  stop(): Promise<void>;
  /** Kills it (SIGKILL): clients see the connection drop. */
  kill(): Promise<void>;
  /** Starts it again on the same port (and data directory) and waits until it answers. */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
  /** Sends one command and returns the raw RESP reply. */
  command(...args: string[]): Promise<string>;
}

/** Options of {@linkcode startRedis}. */
export interface StartRedisOptions {
  /** Keep data across kill and restart (append-only file, fsync on every write). */
  persistent?: boolean;
}

/**
 * Starts `redis-server --port <free> --save "" --appendonly no` (or with an
 * fsynced append-only file when `persistent`) and waits until it answers PING.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = options.persistent ? mkdtempSync(join(tmpdir(), "pytheus-redis-")) : undefined;
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", ""];
  if (dir === undefined) args.push("--appendonly", "no");
  else args.push("--dir", dir, "--appendonly", "yes", "--appendfsync", "always");
  let server: Running | undefined;
  const launch = async (): Promise<void> => {
    server = start("redis-server", args);
    await waitFor(
      `redis-server on port ${port}`,
      async () => (await sendCommand(port, ["PING"])).startsWith("+PONG"),
    );
  };
  await launch();
  return {
    port,
    async stop() {
      await server?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      const child = server!.child;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, "SIGCONT");
        process.kill(child.pid!, "SIGKILL");
        await exited;
      }
    },
    restart: launch,
    // Not child.kill(): Deno's ignores every signal after the first.
    pause() {
      process.kill(server!.child.pid!, "SIGSTOP");
    },
    resume() {
      process.kill(server!.child.pid!, "SIGCONT");
    },
    command: (...command) => sendCommand(port, command),
  };
}

/** Sends one command over a fresh connection; resolves with the raw reply. */
export function sendCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis-server on port ${port} did not answer ${args[0]}`));
    }, 2000);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("data", (data) => {
      reply += data;
      if (reply.endsWith("\r\n")) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.write(
      `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""),
    );
  });
}

/**
 * Inside a `describe`: starts a redis-server before its tests and loads
 * `MultiProcessRedisBackend` on it (flushing every 20 ms); after them, closes
 * the backend, loads `SingleProcessBackend` again and stops the server.
 *
 * @param keyPrefix The backend's `keyPrefix`: one per test file.
 * @returns Where the server is, once the tests run.
 */
export function withRedisBackend(keyPrefix: string): { readonly server: RedisServer } {
  const state = {} as { server: RedisServer };
  before(async () => {
    state.server = await startRedis();
    await loadBackend({
      backendClass: MultiProcessRedisBackend,
      backendConfig: { port: state.server.port, keyPrefix, flushIntervalMs: 20 },
    });
  });
  after(async () => {
    try {
      await MultiProcessRedisBackend.close();
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    } finally {
      await state.server?.stop();
    }
  });
  return state;
}
