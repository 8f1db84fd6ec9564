/** Starting, stopping, killing and restarting a real redis-server for the Redis backend tests. */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before } from "node:test";
import { loadBackend, SingleProcessBackend } from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { freePort, run, type Running, start, waitFor } from "./_process.ts";

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

/** A Redis Cluster of masters on 127.0.0.1 that a test started. */
export interface RedisCluster {
  /** Its nodes, as `cluster` in the backend's configuration takes them. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** How many keys each node holds. */
  keysPerNode(): Promise<number[]>;
  /** Stops every node and removes their data directory. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` redis-servers with `--cluster-enabled yes`, joins them
 * into one cluster with `redis-cli --cluster create` (no replicas), and
 * waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "pytheus-cluster-"));
  const ports: number[] = [];
  const servers: Running[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      ports.push(port);
      servers.push(start("redis-server", [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(dir, `nodes-${port}.conf`),
        "--dir",
        dir,
      ]));
    }
    for (const port of ports) {
      await waitFor(
        `redis-server on port ${port}`,
        async () => (await sendCommand(port, ["PING"])).startsWith("+PONG"),
      );
    }
    const created = await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}`);
    for (const port of ports) {
      await waitFor(
        `cluster_state:ok on port ${port}`,
        async () => (await sendCommand(port, ["CLUSTER", "INFO"])).includes("cluster_state:ok"),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    keysPerNode: () =>
      Promise.all(
        ports.map(async (port) => Number(/:(\d+)/.exec(await sendCommand(port, ["DBSIZE"]))?.[1])),
      ),
    stop,
  };
}

/** A Redis Sentinel on 127.0.0.1 watching a master named `mymaster`. */
export interface RedisSentinel {
  /** The sentinel's address, as ioredis' `sentinels` takes it. */
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  /** The master it watches. */
  readonly master: RedisServer;
  /** Stops the sentinel and the master. */
  stop(): Promise<void>;
}

/** Starts a redis-server and a sentinel (`redis-server <config> --sentinel`) watching it as `mymaster`. */
export async function startRedisSentinel(): Promise<RedisSentinel> {
  const master = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), "pytheus-sentinel-"));
  const port = await freePort();
  const config = join(dir, "sentinel.conf");
  writeFileSync(
    config,
    `port ${port}\nbind 127.0.0.1\ndir ${dir}\n` +
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1\n` +
      "sentinel down-after-milliseconds mymaster 5000\n",
  );
  const sentinel = start("redis-server", [config, "--sentinel"]);
  const stop = async (): Promise<void> => {
    await sentinel.stop();
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `redis-sentinel on port ${port}`,
      async () =>
        (await sendCommand(port, ["SENTINEL", "get-master-addr-by-name", "mymaster"]))
          .includes(String(master.port)),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { sentinels: [{ host: "127.0.0.1", port }], master, stop };
}
