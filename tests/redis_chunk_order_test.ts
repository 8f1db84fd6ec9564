/**
 * The flush script applies each chunk of a metric's changes exactly once and
 * in order (see `FLUSH_SCRIPT` in src/backends/redis.ts). The script is not
 * exported, so the real backend drives it, through a TCP proxy between it
 * and a real redis-server: the proxy sees every command and its reply, and
 * on demand fails one chunk (as if it never landed) or holds Redis' replies
 * (as if the answer to a chunk that landed were lost). Every script call is
 * the backend's own; the test only shapes what the network does to it, and
 * reads Redis directly to check what landed.
 */

import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import {
  BackendUnavailableError,
  CollectorRegistry,
  Counter,
  loadBackend,
  setLogger,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { needs } from "./_process.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import { capturingLogger } from "./_serve.ts";

const PREFIX = "chunkorder";
const TIMEOUT_MS = 500;
/** What a failed chunk's call is replaced with: an error reply, and no change. */
const LOST = "LOST the test proxy dropped this chunk";

/** A RESP reply (or command), parsed. */
type Reply = string | number | null | { error: string } | Reply[];

/** Parses one RESP value of `buffer` at `at`: the value and where it ends, or undefined if incomplete. */
function parse(buffer: Buffer, at: number): [Reply, number] | undefined {
  const eol = buffer.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const line = buffer.toString("utf8", at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buffer[at]!)) {
    case "+":
      return [line, next];
    case "-":
      return [{ error: line }, next];
    case ":":
      return [Number(line), next];
    case "$": {
      const length = Number(line);
      if (length < 0) return [null, next];
      if (buffer.length < next + length + 2) return undefined;
      return [buffer.toString("utf8", next, next + length), next + length + 2];
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: Reply[] = [];
      let position = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, position);
        if (item === undefined) return undefined;
        items.push(item[0]);
        position = item[1];
      }
      return [items, position];
    }
    default:
      throw new Error(`not RESP at byte ${at}: ${JSON.stringify(line.slice(0, 40))}`);
  }
}

function encode(args: readonly string[]): Buffer {
  return Buffer.from(
    `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""),
  );
}

/** One script call of the backend, as the proxy saw it. */
interface ChunkCall {
  readonly hash: string;
  /** KEYS[1]: this process' number of the last chunk applied to the metric. */
  readonly numberKey: string;
  /** ARGV[1]: the chunk's number. */
  readonly number: number;
  /** ARGV[4]: the number of the batch's first chunk of this metric. */
  readonly first: number;
  /** How many changes it carries. */
  readonly changes: number;
  /** Redis' reply, once in (the error the proxy made for a failed chunk). */
  reply?: Reply;
}

type Action = "pass" | "fail" | "hold";

/** A proxy to redis-server: records every script call of the backend and its reply. */
interface Proxy {
  readonly port: number;
  readonly calls: ChunkCall[];
  /** The next call of chunk `number` of `hash` is failed or has its replies held. */
  once(hash: string, number: number, action: Exclude<Action, "pass">): void;
  /** Passes on the replies held. */
  release(): void;
  close(): Promise<void>;
}

async function startProxy(redisPort: number): Promise<Proxy> {
  const calls: ChunkCall[] = [];
  const sockets = new Set<Socket>();
  let rule: { hash: string; number: number; action: Exclude<Action, "pass"> } | undefined;
  let holding = false;
  const held: [Socket, Buffer][] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(redisPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    // Redis answers in order: each reply goes to the oldest command without one.
    const awaiting: ({ reply?: Reply } | undefined)[] = [];
    let fromClient = Buffer.alloc(0);
    let fromRedis = Buffer.alloc(0);
    client.on("data", (data: Buffer) => {
      fromClient = Buffer.concat([fromClient, data]);
      let at = 0;
      for (let parsed; (parsed = parse(fromClient, at)) !== undefined;) {
        const [args, end] = parsed as [string[], number];
        const raw = fromClient.subarray(at, end);
        at = end;
        const name = String(args[0]).toLowerCase();
        let call: ChunkCall | undefined;
        if ((name === "eval" || name === "evalsha") && String(args[3]).includes(":~chunk:")) {
          // EVALSHA sha numkeys KEYS... ARGV...: the chunk's number, the batch's first, the changes.
          const argv = 3 + Number(args[2]);
          call = {
            numberKey: args[3]!,
            hash: args[4]!,
            number: Number(args[argv]),
            first: Number(args[argv + 3]),
            changes: (args.length - argv - 4) / 3,
          };
          calls.push(call);
        }
        awaiting.push(call);
        let action: Action = "pass";
        if (call && rule && rule.hash === call.hash && rule.number === call.number) {
          action = rule.action;
          rule = undefined;
        }
        if (action === "hold") holding = true;
        upstream.write(
          action === "fail" ? encode(["EVAL", `return redis.error_reply('${LOST}')`, "0"]) : raw,
        );
      }
      fromClient = fromClient.subarray(at);
    });
    upstream.on("data", (data: Buffer) => {
      fromRedis = Buffer.concat([fromRedis, data]);
      let at = 0;
      for (let parsed; (parsed = parse(fromRedis, at)) !== undefined;) {
        const entry = awaiting.shift();
        if (entry) entry.reply = parsed[0];
        at = parsed[1];
      }
      fromRedis = fromRedis.subarray(at);
      if (holding) held.push([client, data]);
      else client.write(data);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    calls,
    once(hash, number, action) {
      rule = { hash, number, action };
    },
    release() {
      holding = false;
      for (const [socket, data] of held.splice(0)) socket.write(data);
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe("MultiProcessRedisBackend's chunk order", { skip: needs("redis-server") }, () => {
  let server: RedisServer;
  let proxy: Proxy;
  let redis: Redis;
  const { logger, messages } = capturingLogger();
  let previousLogger: ReturnType<typeof setLogger>;

  before(async () => {
    previousLogger = setLogger(logger);
    server = await startRedis();
    proxy = await startProxy(server.port);
    redis = new Redis({ port: server.port, lazyConnect: true });
    await redis.connect();
    await loadBackend({
      backendClass: MultiProcessRedisBackend,
      backendConfig: {
        host: "127.0.0.1",
        port: proxy.port,
        keyPrefix: PREFIX,
        // No flush but those the tests make (and the one on connecting).
        flushIntervalMs: 3_600_000,
        timeoutMs: TIMEOUT_MS,
        closeTimeoutMs: 1000,
        handleSignals: false,
      },
    });
  });

  after(async () => {
    try {
      await MultiProcessRedisBackend.close().catch(() => {});
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
      await redis?.quit();
      await proxy?.close();
    } finally {
      setLogger(previousLogger);
      await server?.stop();
    }
  });

  const flush = (): Promise<void> => MultiProcessRedisBackend.flush();
  const flushError = (): Promise<unknown> => flush().then(() => undefined, (error) => error);

  /** A labelled counter of its own hash (its own chunk numbers, from 1), and chunk 1 written. */
  async function counter(name: string): Promise<{
    jobs: Counter<"n">;
    hash: string;
    numberKey: () => string;
    calls: () => { number: number; first: number; changes: number; reply: Reply | undefined }[];
    fields: () => Promise<Record<string, string>>;
  }> {
    const registry = new CollectorRegistry();
    const jobs = new Counter({ name, description: "Jobs.", requiredLabels: ["n"], registry });
    const hash = `${PREFIX}:{${name}}`;
    jobs.labels({ n: "seed" }).inc();
    await flush();
    const mine = () => proxy.calls.filter((call) => call.hash === hash);
    assert.deepEqual(mine().map((call) => call.number), [1]);
    return {
      jobs,
      hash,
      numberKey: () => mine()[0]!.numberKey,
      calls: () =>
        mine().map(({ number, first, changes, reply }) => ({ number, first, changes, reply })),
      fields: () => redis.hgetall(hash),
    };
  }

  /** The generation of a metric's data in Redis (what each script call answers). */
  const generation = async (hash: string): Promise<string> =>
    (await redis.get(`${hash}:~generation`))!;

  test("A chunk after one of its batch that did not land is refused and changes nothing; the batch is sent again whole, in order, and lands exactly once", async () => {
    const { jobs, hash, numberKey, calls, fields } = await counter("gap_jobs_total");
    const gen = await generation(hash);
    // 3000 changes to one metric, at most 2000 a chunk (CHUNK_CHANGES): chunks 2 and 3, of the batch from 2.
    for (let i = 0; i < 3000; i++) jobs.labels({ n: String(i) }).inc(2);
    proxy.once(hash, 2, "fail");
    const error = await flushError();
    assert.ok(error instanceof BackendUnavailableError);
    assert.equal(
      error.message,
      `Cannot write metrics: Redis at 127.0.0.1:${proxy.port} is unreachable (${LOST})`,
    );
    assert.deepEqual(calls().slice(1), [
      { number: 2, first: 2, changes: 2000, reply: { error: LOST } },
      { number: 3, first: 2, changes: 1000, reply: { error: "chunk 2 missing" } },
    ]);
    // Chunk 3 changed nothing: no series of it, the last number applied is still 1, the generation the same.
    assert.deepEqual(await fields(), { '{"n":"seed"}': "1" });
    assert.equal(await redis.get(numberKey()), "1");
    assert.equal(await generation(hash), gen);
    assert.equal(MultiProcessRedisBackend.stats().pendingSeries, 3000);

    // A change made meanwhile waits for the batch after the one sent again.
    jobs.labels({ n: "seed" }).inc(5);
    await flush();
    assert.deepEqual(calls().slice(3), [
      { number: 2, first: 2, changes: 2000, reply: [1, 0, gen] },
      { number: 3, first: 2, changes: 1000, reply: [1, 0, gen] },
      { number: 4, first: 4, changes: 1, reply: [1, 0, gen] },
    ]);
    const expected: Record<string, string> = { '{"n":"seed"}': "6" };
    for (let i = 0; i < 3000; i++) expected[`{"n":"${i}"}`] = "2";
    assert.deepEqual(await fields(), expected);
    assert.equal(await redis.get(numberKey()), "4");
    assert.equal(MultiProcessRedisBackend.stats().pendingSeries, 0);
  });

  test("A chunk that landed but whose answer was lost is sent again and skipped: applied once", async () => {
    const { jobs, hash, numberKey, calls, fields } = await counter("replay_jobs_total");
    const gen = await generation(hash);
    jobs.labels({ n: "seed" }).inc(10);
    jobs.labels({ n: "a" }).inc(3);
    proxy.once(hash, 2, "hold");
    const error = await flushError();
    assert.ok(error instanceof BackendUnavailableError);
    assert.equal(
      error.message,
      `Cannot write metrics: Redis at 127.0.0.1:${proxy.port} is unreachable ` +
        `(no answer within ${TIMEOUT_MS} ms)`,
    );
    // It landed: Redis applied chunk 2, the backend never heard so.
    assert.deepEqual(calls().slice(1), [{ number: 2, first: 2, changes: 2, reply: [1, 0, gen] }]);
    assert.deepEqual(await fields(), { '{"n":"seed"}': "11", '{"n":"a"}': "3" });
    assert.equal(await redis.get(numberKey()), "2");
    assert.equal(MultiProcessRedisBackend.stats().pendingSeries, 2);
    proxy.release();

    await flush();
    // Sent again as it was, and skipped: {0, 0, generation}.
    assert.deepEqual(calls().slice(2), [{ number: 2, first: 2, changes: 2, reply: [0, 0, gen] }]);
    assert.deepEqual(await fields(), { '{"n":"seed"}': "11", '{"n":"a"}': "3" });
    assert.equal(await redis.get(numberKey()), "2");
    assert.equal(MultiProcessRedisBackend.stats().pendingSeries, 0);
    // And the next chunk is written as usual.
    jobs.labels({ n: "a" }).inc();
    await flush();
    assert.deepEqual(calls().slice(3), [{ number: 3, first: 3, changes: 1, reply: [1, 0, gen] }]);
    assert.deepEqual(await fields(), { '{"n":"seed"}': "11", '{"n":"a"}': "4" });
  });

  test("A gap from before the batch (Redis went back to older numbers, or lost them) is written on", async () => {
    const { jobs, hash, numberKey, calls, fields } = await counter("older_jobs_total");
    const gen = await generation(hash);
    for (let n = 2; n <= 5; n++) {
      jobs.labels({ n: "seed" }).inc();
      await flush();
    }
    assert.equal(await redis.get(numberKey()), "5");
    // As if Redis failed over to a replica that had seen chunks up to 2 only.
    await redis.set(numberKey(), "2");
    jobs.labels({ n: "seed" }).inc(10);
    await flush();
    // Chunk 6 of a batch from 6, after 2: not a chunk of its batch missing.
    assert.deepEqual(calls().at(-1), { number: 6, first: 6, changes: 1, reply: [1, 0, gen] });
    assert.equal(await redis.get(numberKey()), "6");
    // The number expired (or Redis lost it): any number is taken.
    await redis.del(numberKey());
    jobs.labels({ n: "seed" }).inc(100);
    await flush();
    assert.deepEqual(calls().at(-1), { number: 7, first: 7, changes: 1, reply: [1, 0, gen] });
    assert.equal(await redis.get(numberKey()), "7");
    assert.deepEqual(await fields(), { '{"n":"seed"}': "115" });
    assert.equal(calls().length, 7);
    assert.equal(MultiProcessRedisBackend.stats().pendingSeries, 0);
  });

  test("A single change Redis refuses (a field that is not a number) is counted and logged; the rest of its chunk lands, and it is not sent again", async () => {
    const { jobs, hash, numberKey, calls, fields } = await counter("refused_jobs_total");
    const gen = await generation(hash);
    await redis.hset(hash, '{"n":"bad"}', "not a number");
    messages.length = 0;
    jobs.labels({ n: "bad" }).inc();
    jobs.labels({ n: "seed" }).inc(2);
    await flush();
    assert.deepEqual(calls().slice(1), [{ number: 2, first: 2, changes: 2, reply: [1, 1, gen] }]);
    assert.deepEqual(await fields(), { '{"n":"seed"}': "3", '{"n":"bad"}': "not a number" });
    assert.equal(await redis.get(numberKey()), "2");
    assert.deepEqual(messages, [
      "pytheus: Redis refused 1 metric change(s) (a value that is not a number)",
    ]);
    await flush();
    assert.equal(calls().length, 2);
    assert.equal(MultiProcessRedisBackend.stats().pendingSeries, 0);
  });
});
