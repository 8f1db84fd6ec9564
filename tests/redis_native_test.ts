/**
 * Native histograms with MultiProcessRedisBackend, on a real redis-server:
 * 4 processes at different resolutions merged exactly by a fifth, every
 * scrape meanwhile one Prometheus reads as growing (no counter reset), the
 * native fields of a removed series deleted whoever wrote them, exemplars
 * with their time, and a live process' share written again when Redis
 * restarts empty.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import {
  CollectorRegistry,
  encodeMetrics,
  generateMetrics,
  Histogram,
  loadBackend,
  setLogger,
  SingleProcessBackend,
} from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { needs, run, waitFor } from "./_process.ts";
import { capturingLogger, script } from "./_serve.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import {
  assertNativeExemplar,
  assertNoReset,
  decode,
  type DecodedNative,
  nativeOf,
  populated,
} from "./_protobuf.ts";
import { assertMerged, CONTRIBUTORS, NATIVE_METRIC, nativeHistogram } from "./_native_scenario.ts";

const WORKER = fileURLToPath(new URL("./fixtures/redis_native_worker.ts", import.meta.url));

/** Loads the Redis backend on `server` for this process. */
async function useRedis(server: RedisServer, keyPrefix: string): Promise<void> {
  await loadBackend({
    backendClass: MultiProcessRedisBackend,
    backendConfig: { port: server.port, keyPrefix, flushIntervalMs: 20 },
  });
}

/** The fields of a hash in Redis, by name (from a raw HGETALL reply). */
async function fields(server: RedisServer, hash: string): Promise<Map<string, string>> {
  const reply = await server.command("HGETALL", hash);
  const strings = [...reply.matchAll(/\$\d+\r\n([^\r]*)\r\n/g)].map((m) => m[1]!);
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < strings.length; i += 2) map.set(strings[i]!, strings[i + 1]!);
  return map;
}

/** Stops the backend and the server after a describe's tests. */
function cleanUp(server: () => RedisServer | undefined): () => Promise<void> {
  return async () => {
    try {
      await MultiProcessRedisBackend.close();
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    } finally {
      await server()?.stop();
    }
  };
}

describe("Native histograms with MultiProcessRedisBackend", { skip: needs("redis-server") }, () => {
  let server: RedisServer | undefined;
  before(async () => {
    server = await startRedis();
  });
  after(cleanUp(() => server));

  test(
    "4 processes at different resolutions: a fifth reads the exact merged protobuf Histogram, and no scrape meanwhile reads as a counter reset",
    { timeout: 60_000 },
    async () => {
      const prefix = "native4";
      await useRedis(server!, prefix);
      const registry = new CollectorRegistry();
      nativeHistogram(registry);
      const rounds = 400;
      const running = CONTRIBUTORS.map((_, i) => {
        const [command, args] = script(WORKER);
        return run(command, args, {
          env: {
            REDIS_PORT: String(server!.port),
            REDIS_PREFIX: prefix,
            CONTRIBUTOR: String(i),
            ROUNDS: String(rounds),
          },
        });
      });
      let finished = false;
      const results = Promise.all(running).finally(() => finished = true);
      // Scrapes while they run: each one at least the one before, as Prometheus compares them.
      let previous: DecodedNative | undefined;
      let scrapes = 0;
      while (!finished) {
        const bytes = await encodeMetrics(registry, { format: "protobuf" });
        const current = nativeOf(bytes, NATIVE_METRIC);
        if (previous !== undefined) assertNoReset(previous, current, `scrape ${scrapes}`);
        if (current.count > 0) scrapes++;
        previous = current;
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      for (const result of await results) {
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "done\n", result.stderr);
      }
      const bytes = await encodeMetrics(registry, { format: "protobuf" });
      assert.equal(decode(bytes).length, 1);
      const merged = nativeOf(bytes, NATIVE_METRIC);
      if (previous !== undefined) assertNoReset(previous, merged, "the last scrape");
      assertMerged(merged, rounds);
      assert.ok(scrapes >= 5, `only ${scrapes} scrapes while the processes ran`);
      // The text formats show the classic +Inf bucket, which counts the same observations.
      assert.match(
        await generateMetrics(registry),
        new RegExp(`^${NATIVE_METRIC}_count ${19 * rounds}$`, "m"),
      );
      // What Redis holds: each process' buckets at the schemas it counted them at, its zero
      // buckets at their thresholds; nothing merged there.
      const stored = await fields(server!, `${prefix}:{${NATIVE_METRIC}}`);
      assert.equal(stored.get("{}|~p3:8"), String(rounds + 2)); // 2: c0's, c1's and c2's first
      assert.equal(stored.get("{}|~z0.25"), "0"); // c2's zero bucket went through 0.25
      assert.equal(stored.get("{}|~z0.5"), String(2 * (rounds - 1))); // then its 0.25s and 0.5s
      assert.ok(stored.has("{}|~p-1:2"), "c1's 8s and 16s at schema -1");
      assert.equal(stored.get("{}|~n3:8"), String(rounds)); // c3's -2s
    },
  );

  test("a native histogram's exemplars keep their time with the Redis backend (they stay in the process that recorded them)", async () => {
    await useRedis(server!, "native_exemplars");
    const histogram = await assertNativeExemplar();
    assert.equal(histogram.schema, 3);
    assert.deepEqual(histogram.positive_span, [{ offset: -16, length: 1 }]);
  });

  test("remove() deletes a native series' fields in Redis, those another process wrote at other schemas too; reset() too", async () => {
    const prefix = "native_remove";
    await useRedis(server!, prefix);
    const hash = `${prefix}:{lat_seconds}`;
    const registries: CollectorRegistry[] = [];
    const make = (native: object): Histogram<"route"> =>
      new Histogram({
        name: "lat_seconds",
        description: "L.",
        requiredLabels: ["route"],
        buckets: [],
        native,
        registry: registries[registries.push(new CollectorRegistry()) - 1]!,
      });
    // Two metrics of one name in two registries: two writers of one series, as two processes are.
    const mine = make({});
    const other = make({ maxBuckets: 1 });
    for (const v of [1, 2, 4]) {
      mine.labels({ route: "/a" }).observe(v);
      other.labels({ route: "/a" }).observe(v);
    }
    mine.labels({ route: "/b" }).observe(1);
    await MultiProcessRedisBackend.flush();
    // A third, which made no series: it shows both, merged, from what Redis holds.
    make({});
    const shown = decode(await encodeMetrics(registries[2]!, { format: "protobuf" }))[0]!;
    assert.deepEqual(
      (shown.metric as { label: unknown; histogram: { schema: number; sample_count: number } }[])
        .map(({ label, histogram }) => [label, histogram.schema, histogram.sample_count]),
      [
        [[{ name: "route", value: "/a" }], -4, 6],
        [[{ name: "route", value: "/b" }], 3, 1],
      ],
    );
    const natives = async (): Promise<string[]> =>
      [...(await fields(server!, hash)).keys()].filter((f) => f.includes("|~")).sort();
    // The other at schema -4, where its 1 and 2 still take two buckets (its 4 joins the 2).
    assert.ok((await natives()).includes('{"route":"/a"}|~p-4:1'), String(await natives()));
    assert.ok(mine.remove({ route: "/a" }));
    await MultiProcessRedisBackend.flush();
    assert.deepEqual(await natives(), ['{"route":"/b"}|~p3:0']);
    // reset(): every share of the series is gone, and it counts anew at its own resolution.
    const b = mine.labels({ route: "/b" });
    other.labels({ route: "/b" }).observe(4);
    await MultiProcessRedisBackend.flush();
    mine.reset();
    b.observe(2);
    await MultiProcessRedisBackend.flush();
    assert.deepEqual(await natives(), ['{"route":"/b"}|~p3:8']);
  });
});

describe("Native histograms when Redis restarts empty", { skip: needs("redis-server") }, () => {
  let server: RedisServer | undefined;
  before(async () => {
    server = await startRedis(); // no persistence: a restart comes back empty
  });
  after(cleanUp(() => server));

  test(
    "a live process writes its share of a native histogram again, every schema and threshold it counted at",
    {
      timeout: 20_000,
    },
    async () => {
      await useRedis(server!, "native_restore");
      const registry = new CollectorRegistry();
      const h = new Histogram({
        name: "restored_seconds",
        description: "R.",
        buckets: [],
        native: { maxBuckets: 2, maxZeroThreshold: 0.25 },
        registry,
      });
      // Its zero bucket widened to 0.25 at the 2, halved to schema -1 at the 4.
      for (const v of [0.25, 1, 2, 0, 4]) h.observe(v);
      const read = async (): Promise<DecodedNative> =>
        nativeOf(await encodeMetrics(registry, { format: "protobuf" }), "restored_seconds");
      const before = await read();
      // Redis holds its buckets at schema 3 (where it counted them): merged at schema 3.
      assert.deepEqual(
        [before.count, before.schema, before.zeroThreshold, before.zeroCount],
        [5, 3, 0.25, 2],
      );
      const { logger, messages } = capturingLogger();
      const previous = setLogger(logger);
      // Counted since this process started (Bun runs every test file in one).
      const restores = MultiProcessRedisBackend.stats().restores;
      try {
        await server!.kill();
        await server!.restart();
        h.observe(2); // a change after the restart counts on top (at schema -1)
        await waitFor(
          "the share written again",
          async () =>
            MultiProcessRedisBackend.stats().restores === restores + 1 &&
            (await read()).count === 6,
        );
      } finally {
        setLogger(previous);
      }
      assert.ok(messages.some((m) => m.includes("lost the data of")), messages.join("\n"));
      const after = await read();
      assertNoReset(before, after);
      assert.deepEqual(
        [after.sum, after.schema, after.zeroThreshold, after.zeroCount],
        [9.25, -1, 0.25, 2],
      );
      assert.deepEqual(populated(after.positive), [[0, 1], [1, 3]]);
    },
  );
});
