/**
 * The mirror scrapes read (src/backends/_redis_mirror.ts): each number of a
 * metric's hash also a double at a slot of one string. It follows the hash
 * through creations, removals and reused slots; a mirror missing or apart
 * from its hash (data of an older pytheus, an evicted key) is made again;
 * one made again never passes for the one a reader knew.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { CollectorRegistry, Counter, Gauge, generateMetrics } from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { mirrorKeys, mirrorRead, WHOLE_FIELDS } from "../src/backends/_redis_mirror.ts";
import { needs } from "./_process.ts";
import { mulberry32 } from "./_random.ts";
import { withRedisBackend } from "./_redis.ts";

const PREFIX = "mirror";

describe("The mirror of a metric's hash in Redis", { skip: needs("redis-server") }, () => {
  const redisServer = withRedisBackend(PREFIX);
  let redis: Redis;
  before(async () => {
    redis = new Redis({ port: redisServer.server.port, lazyConnect: true });
    await redis.connect();
  });
  after(() => redis?.quit());

  /** Checks the mirror against its hash: the same fields, and each slot's double its field's number. */
  async function assertMirrors(hash: string): Promise<void> {
    const [slotsKey, valuesKey] = mirrorKeys(hash);
    const fields = await redis.hgetall(hash);
    const { "#n": next, "#v": _, ...slots } = await redis.hgetall(slotsKey);
    assert.deepEqual(Object.keys(slots).sort(), Object.keys(fields).sort());
    const values = (await redis.getBuffer(valuesKey)) ?? Buffer.alloc(0);
    for (const [field, slot] of Object.entries(slots)) {
      assert.ok(Number(slot) < Number(next), `slot ${slot} of ${field} below #n ${next}`);
      assert.equal(values.readDoubleLE(8 * Number(slot)), Number(fields[field]), field);
    }
  }

  /** The samples of a scrape of one metric, by line. */
  async function scraped(registry: CollectorRegistry, name: string): Promise<string[]> {
    return (await generateMetrics(registry)).split("\n").filter((line) => line.startsWith(name));
  }

  test("follows its hash through 300 rounds of increments, sets and removals; freed slots are taken again", async () => {
    const registry = new CollectorRegistry();
    const jobs = new Counter({
      name: "churn_total",
      description: "C.",
      requiredLabels: ["job"],
      registry,
    });
    const depth = new Gauge({
      name: "churn_depth",
      description: "D.",
      requiredLabels: ["job"],
      registry,
    });
    const random = mulberry32(7);
    const expected = new Map<string, number>();
    const levels = new Map<string, number>();
    for (let round = 0; round < 300; round++) {
      for (let op = 0; op < 5; op++) {
        const job = `j${Math.floor(random() * 12)}`;
        const roll = random();
        if (roll < 0.6) {
          jobs.labels({ job }).inc(round + 0.25);
          expected.set(job, (expected.get(job) ?? 0) + round + 0.25);
          depth.labels({ job }).set(-round - 0.5);
          levels.set(job, -round - 0.5);
        } else if (roll < 0.8) {
          jobs.remove({ job });
          expected.delete(job);
        } else {
          depth.remove({ job });
          levels.delete(job);
        }
      }
      // Every fourth round is scraped: the slots change between scrapes, or not.
      if (round % 4 !== 3) continue;
      await MultiProcessRedisBackend.flush();
      const line = (name: string, job: string, value: number) => `${name}{job="${job}"} ${value}`;
      assert.deepEqual(
        (await scraped(registry, "churn_total{")).sort(),
        [...expected].map(([job, value]) => line("churn_total", job, value)).sort(),
        `round ${round}`,
      );
      assert.deepEqual(
        (await scraped(registry, "churn_depth{")).sort(),
        [...levels].map(([job, value]) => line("churn_depth", job, value)).sort(),
        `round ${round}`,
      );
    }
    for (const name of ["churn_total", "churn_depth"]) {
      const hash = `${PREFIX}:{${name}}`;
      await assertMirrors(hash);
      // At most 12 series lived at once: freed slots were taken again.
      assert.ok(Number(await redis.hget(mirrorKeys(hash)[0], "#n")) <= 12);
    }
  });

  test("inc(0), dec(0), inc(-0), and changes that cancel (in either order) write a series' field, so every process shows it; a removed series touched writes nothing", async () => {
    const registry = new CollectorRegistry();
    const made = new Counter({
      name: "made_total",
      description: "M.",
      requiredLabels: ["k"],
      registry,
    });
    const level = new Gauge({ name: "level", description: "L.", requiredLabels: ["k"], registry });
    made.labels({ k: "a" }).inc(0);
    level.labels({ k: "a" }).dec(0);
    level.labels({ k: "b" }).inc(2);
    level.labels({ k: "b" }).dec(2);
    // Cancelling with the positive change last: the one before it was noted.
    level.labels({ k: "c" }).dec(2);
    level.labels({ k: "c" }).inc(2);
    level.labels({ k: "d" }).inc(-3);
    level.labels({ k: "d" }).inc(1);
    level.labels({ k: "d" }).inc(2);
    level.labels({ k: "e" }).inc(-0);
    // Back above 0 after going below it: a change, written as such.
    level.labels({ k: "f" }).dec(1);
    level.labels({ k: "f" }).inc(1.5);
    const gone = made.labels({ k: "gone" });
    gone.inc(0);
    made.remove({ k: "gone" });
    await MultiProcessRedisBackend.flush();
    assert.deepEqual(await redis.hgetall(`${PREFIX}:{made_total}`), { '{"k":"a"}': "0" });
    assert.deepEqual(await redis.hgetall(`${PREFIX}:{level}`), {
      '{"k":"a"}': "0",
      '{"k":"b"}': "0",
      '{"k":"c"}': "0",
      '{"k":"d"}': "0",
      '{"k":"e"}': "0",
      '{"k":"f"}': "0.5",
    });
    await assertMirrors(`${PREFIX}:{made_total}`);
  });

  test("a hash without a mirror (written by an older pytheus), or whose mirror lost a key, is read exactly and mirrored again", async () => {
    const registry = new CollectorRegistry();
    const old = new Counter({
      name: "old_total",
      description: "O.",
      requiredLabels: ["a"],
      registry,
    });
    const hash = `${PREFIX}:{old_total}`;
    const [slotsKey, valuesKey, freeKey] = mirrorKeys(hash);
    await redis.hset(hash, '{"a":"x"}', "5", '{"a":"y"}', "1.5");
    await redis.expire(hash, 600);
    // Series no process here made: read from the hash, and mirrored.
    assert.deepEqual((await scraped(registry, "old_total{")).sort(), [
      'old_total{a="x"} 5',
      'old_total{a="y"} 1.5',
    ]);
    await assertMirrors(hash);
    for (const key of [slotsKey, valuesKey]) {
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 590 && ttl <= 600, `TTL of ${key}: ${ttl}`);
    }
    old.labels({ a: "x" }).inc(2);
    await MultiProcessRedisBackend.flush();
    assert.deepEqual((await scraped(registry, "old_total{")).sort(), [
      'old_total{a="x"} 7',
      'old_total{a="y"} 1.5',
    ]);
    // An evicted key: the values, then the slots.
    for (const lost of [valuesKey, slotsKey]) {
      await redis.del(lost);
      await redis.hincrbyfloat(hash, '{"a":"y"}', "1");
      assert.deepEqual(
        (await scraped(registry, "old_total{")).sort(),
        ['old_total{a="x"} 7', `old_total{a="y"} ${lost === valuesKey ? 2.5 : 3.5}`],
      );
      await assertMirrors(hash);
    }
    assert.equal(await redis.exists(freeKey), 0);
  });

  test("a hash past WHOLE_FIELDS fields has no mirror and is read page by page; back under, it has one again", async () => {
    const registry = new CollectorRegistry();
    const users = new Counter({
      name: "many_total",
      description: "M.",
      requiredLabels: ["user"],
      registry,
    });
    const hash = `${PREFIX}:{many_total}`;
    const total = async () => {
      let sum = 0;
      for (const line of await scraped(registry, "many_total{")) sum += Number(line.split(" ")[1]);
      return sum;
    };
    for (let i = 0; i < WHOLE_FIELDS + 50; i++) users.labels({ user: `u${i}` }).inc(2);
    await MultiProcessRedisBackend.flush();
    // The chunk that crossed the line kept the mirror; the next one drops it.
    users.labels({ user: "u0" }).inc();
    assert.equal(await total(), 2 * (WHOLE_FIELDS + 50) + 1);
    assert.equal(await redis.exists(...mirrorKeys(hash)), 0);
    for (let i = 0; i < 100; i++) users.remove({ user: `u${i}` });
    await MultiProcessRedisBackend.flush();
    assert.equal(await total(), 2 * (WHOLE_FIELDS - 50));
    await assertMirrors(hash);
    users.clear();
  });

  test("a mirror made again from another hash never passes for the one a scrape knew", async () => {
    // Two registries of this process: the second scrape's children are not the first's.
    const [first, second] = [new CollectorRegistry(), new CollectorRegistry()];
    for (const registry of [first, second]) {
      new Counter({ name: "again_total", description: "A.", requiredLabels: ["a"], registry });
    }
    const hash = `${PREFIX}:{again_total}`;
    await redis.hset(hash, '{"a":"1"}', "1", '{"a":"2"}', "2");
    assert.equal((await scraped(first, "again_total{")).length, 2);
    // Gone, then as many slots again for other fields: the version differs all the same.
    await redis.del(hash, ...mirrorKeys(hash));
    await redis.hset(hash, '{"a":"3"}', "3", '{"a":"4"}', "4");
    assert.deepEqual((await scraped(second, "again_total{")).sort(), [
      'again_total{a="3"} 3',
      'again_total{a="4"} 4',
    ]);
  });
});

describe("A mirror read's view of a hash", () => {
  const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
  /** The script's answer: a version, the values' doubles, and the slots when they changed. */
  function reply(version: string, values: number[], slots?: Record<string, number>): unknown[] {
    const doubles = new Uint8Array(new Float64Array(values).buffer);
    if (slots === undefined) return [1, bytes(version), doubles];
    const flat = Object.entries({ "#n": values.length, "#v": 1, ...slots })
      .flatMap(([field, slot]) => [bytes(field), bytes(String(slot))]);
    return [2, bytes(version), doubles, flat];
  }

  test("gives each field its number, whatever order scrapes ask in, as the values change", () => {
    const first = mirrorRead(reply("7", [10, 20, 30], { a: 0, b: 1, c: 2 }), undefined)!;
    const ask = (values: ReadonlyMap<string, number>, fields: string[]) =>
      fields.map((field) => values.get(field));
    assert.deepEqual(ask(first.values, ["a", "b", "c", "x"]), [10, 20, 30, undefined]);
    // The same slots: a scrape in the order of the last, then in others, fields missing or new.
    const again = (values: number[]) => mirrorRead(reply("7", values), first.slots)!.values;
    assert.deepEqual(ask(again([11, 21, 31]), ["a", "b", "c", "x"]), [11, 21, 31, undefined]);
    assert.deepEqual(ask(again([12, 22, 32]), ["c", "x", "a"]), [32, undefined, 12]);
    assert.deepEqual(ask(again([13, 23, 33]), ["b", "a", "c", "b", "x", "c"]), [
      23,
      13,
      33,
      23,
      undefined,
      33,
    ]);
    // New slots (another version): fields moved, one gone, one new.
    const moved = mirrorRead(reply("8", [5, 6, 7], { c: 0, a: 2, x: 1 }), first.slots)!;
    assert.deepEqual(ask(moved.values, ["b", "a", "c", "x"]), [undefined, 7, 5, 6]);
    assert.deepEqual(ask(moved.values, ["a"]), [7]);
  });
});
