import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { IN_CI, needs, run } from "./_process.ts";
import { startRedis } from "./_redis.ts";
import { withClock } from "./_timing.ts";
import {
  type Backend,
  type BackendConfig,
  type BackendMetric,
  BucketError,
  CollectorRegistry,
  Enum,
  generateMetrics,
  Info,
  InvalidValueError,
  LabelValidationError,
  loadBackend,
  type Sample,
  SingleProcessBackend,
  Summary,
  UnobservableMetricError,
} from "../mod.ts";

function summary(options: {
  quantiles?: number[];
  requiredLabels?: string[];
  defaultLabels?: Record<string, string>;
  maxAgeSeconds?: number;
  ageBuckets?: number;
} = {}): Summary<string> {
  return new Summary({ name: "s", description: "S.", registry: null, ...options });
}

/** Values of the samples, keyed as `<suffix>{<labels>}`. */
function byKey(samples: readonly Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) out[s.suffix + JSON.stringify(s.labels)] = s.value;
  return out;
}

/** A deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled(values: number[], next: () => number): number[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Checks the documented bound: rank within max(ε·n, 1) of φ·n. */
async function assertWithinBound(values: number[], quantiles: number[]): Promise<void> {
  const s = summary({ quantiles });
  for (const v of values) s.observe(v);
  const samples = await s.collect();
  const sorted = Float64Array.from(values).sort();
  const n = values.length;
  quantiles.forEach((q, i) => {
    const reported = samples[i]!.value;
    const rank = sorted.indexOf(reported) + 1;
    assert.ok(rank > 0, `quantile ${q}: ${reported} is not an observed value`);
    const eps = Math.min(0.01, q / 10, (1 - q) / 10);
    const allowed = Math.max(eps * n, 1);
    assert.ok(
      Math.abs(rank - q * n) <= allowed,
      `quantile ${q}: rank ${rank}, target ${q * n}, allowed error ${allowed}`,
    );
  });
}

describe("Summary", () => {
  test("generateMetrics() renders a Summary without quantiles as _sum and _count", async () => {
    const registry = new CollectorRegistry();
    const s = new Summary({ name: "payload_bytes", description: "Payload sizes.", registry });
    s.observe(100);
    s.observe(20.5);
    assert.deepEqual(s.quantiles, []);
    assert.equal(
      await generateMetrics(registry),
      "# HELP payload_bytes Payload sizes.\n# TYPE payload_bytes summary\n" +
        "payload_bytes_sum 120.5\npayload_bytes_count 2\n",
    );
  });

  test("generateMetrics() renders quantiles first, then _sum and _count", async () => {
    const registry = new CollectorRegistry();
    const s = new Summary({
      name: "latency_seconds",
      description: "Latency.",
      quantiles: [0.99, 0.5, 0.9],
      registry,
    });
    for (const v of shuffled([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], random(1))) s.observe(v);
    assert.deepEqual(s.quantiles, [0.5, 0.9, 0.99]);
    // Small counts are exact: the nearest-rank quantile, value at rank ⌈φn⌉.
    assert.equal(
      await generateMetrics(registry),
      "# HELP latency_seconds Latency.\n# TYPE latency_seconds summary\n" +
        'latency_seconds{quantile="0.5"} 5\n' +
        'latency_seconds{quantile="0.9"} 9\n' +
        'latency_seconds{quantile="0.99"} 10\n' +
        "latency_seconds_sum 55\nlatency_seconds_count 10\n",
    );
    assert.equal(
      await generateMetrics(registry, { format: "openmetrics", created: false }),
      "# TYPE latency_seconds summary\n# HELP latency_seconds Latency.\n" +
        'latency_seconds{quantile="0.5"} 5\n' +
        'latency_seconds{quantile="0.9"} 9\n' +
        'latency_seconds{quantile="0.99"} 10\n' +
        "latency_seconds_sum 55\nlatency_seconds_count 10\n# EOF\n",
    );
    const text = await generateMetrics(registry, { format: "openmetrics" });
    assert.match(text, /\nlatency_seconds_count 10\nlatency_seconds_created \d+(\.\d+)?\n# EOF\n$/);
  });

  test("Summary quantiles are NaN while no value was observed", async () => {
    const registry = new CollectorRegistry({ prefix: "app" });
    new Summary({ name: "s", description: "S.", quantiles: [0.5], registry });
    assert.equal(
      await generateMetrics(registry),
      '# HELP app_s S.\n# TYPE app_s summary\napp_s{quantile="0.5"} NaN\napp_s_sum 0\napp_s_count 0\n',
    );
  });

  test("Summary quantile samples carry the metric's labels, then quantile", async () => {
    const registry = new CollectorRegistry();
    const s = new Summary({
      name: "rpc_seconds",
      description: "RPC.",
      requiredLabels: ["service", "method"],
      defaultLabels: { service: "db" },
      quantiles: [0.5],
      registry,
    });
    s.labels({ method: 'say "hi"\n' }).observe(2);
    s.labels({ method: "get", service: "cache" }).observe(3);
    assert.equal(
      await generateMetrics(registry),
      "# HELP rpc_seconds RPC.\n# TYPE rpc_seconds summary\n" +
        'rpc_seconds{service="db",method="say \\"hi\\"\\n",quantile="0.5"} 2\n' +
        'rpc_seconds_sum{service="db",method="say \\"hi\\"\\n"} 2\n' +
        'rpc_seconds_count{service="db",method="say \\"hi\\"\\n"} 1\n' +
        'rpc_seconds{service="cache",method="get",quantile="0.5"} 3\n' +
        'rpc_seconds_sum{service="cache",method="get"} 3\n' +
        'rpc_seconds_count{service="cache",method="get"} 1\n',
    );
    const [first] = await s.collect();
    assert.deepEqual(first?.labels, { service: "db", method: 'say "hi"\n', quantile: "0.5" });
  });

  test("Summary.labels() caches complete children and chains partial ones", async () => {
    const s = summary({ requiredLabels: ["a", "b"], quantiles: [0.5] });
    const child = s.labels({ a: "1", b: "2" });
    assert.equal(s.labels({ b: "2", a: "1" }), child);
    assert.equal(s.labels({ a: "1" }).labels({ b: "2" }), child);
    s.labels({ a: "1" }).labels({ b: "2" }).observe(4);
    assert.deepEqual(byKey(await s.collect()), {
      '{"a":"1","b":"2","quantile":"0.5"}': 4,
      '_sum{"a":"1","b":"2"}': 4,
      '_count{"a":"1","b":"2"}': 1,
    });
  });

  test("Summary refuses the label name quantile", () => {
    assert.throws(() => summary({ requiredLabels: ["quantile"] }), {
      name: "LabelValidationError",
      message: 'Invalid label name "quantile" on "s": "quantile" is reserved for this metric type',
    });
  });

  test("Summary refuses quantiles outside (0, 1), repeated or not numbers, with BucketError", () => {
    for (const q of [0, 1, -0.5, 1.5, NaN, Infinity]) {
      assert.throws(() => summary({ quantiles: [q] }), {
        name: "BucketError",
        message: `Quantile number ${q} of "s" must be a number strictly between 0 and 1`,
      });
    }
    assert.throws(() => summary({ quantiles: ["0.5" as unknown as number] }), BucketError);
    assert.throws(() => summary({ quantiles: [0.5, 0.9, 0.5] }), {
      name: "BucketError",
      message: 'Quantile 0.5 of "s" is given twice',
    });
    assert.throws(() => summary({ quantiles: 0.5 as unknown as number[] }), BucketError);
  });

  test("Summary refuses quantiles it cannot sort or print (bigint, symbol, null-prototype object) with BucketError", () => {
    const cases: [unknown[], string][] = [
      [[1n], "bigint 1n"],
      [[Symbol("q"), 0.5], 'symbol "q"'],
      [[0.5, Object.create(null)], "an object {}"],
      [[0.5, "0.9"], 'string "0.9"'],
      [[0.5, , 0.9], "undefined"], // a hole
    ];
    for (const [quantiles, shown] of cases) {
      assert.throws(() => summary({ quantiles: quantiles as number[] }), (error: unknown) => {
        assert.ok(error instanceof BucketError, String(error));
        assert.ok(error.message.startsWith(`Quantile ${shown}`), error.message);
        return true;
      });
    }
    assert.throws(() => summary({ quantiles: Object.create(null) }), {
      name: "BucketError",
      message: 'Quantiles of "s" must be an array of numbers, got an object {}',
    });
  });

  test("Summary refuses a window of the wrong type, quoting it, with BucketError", () => {
    for (const option of ["maxAgeSeconds", "ageBuckets"]) {
      for (
        const [value, shown] of [
          [Object.create(null), "an object {}"],
          [Symbol("w"), 'symbol "w"'],
          [5n, "bigint 5n"],
          ["5", 'string "5"'],
        ] as const
      ) {
        assert.throws(() => summary({ [option]: value } as never), (error: unknown) => {
          assert.ok(error instanceof BucketError, String(error));
          assert.ok(error.message.startsWith(`${option} of "s" must be`), error.message);
          assert.ok(error.message.includes(`got ${shown}`), error.message);
          return true;
        });
      }
    }
  });

  test("Summary refuses a window that is not positive", () => {
    for (const maxAgeSeconds of [0, -1, Infinity, NaN]) {
      assert.throws(() => summary({ maxAgeSeconds }), {
        name: "BucketError",
        message:
          `maxAgeSeconds of "s" must be a positive number of seconds, got number ${maxAgeSeconds}`,
      });
    }
    for (const ageBuckets of [0, -2, 1.5]) {
      assert.throws(() => summary({ ageBuckets }), {
        name: "BucketError",
        message: `ageBuckets of "s" must be a positive integer, got number ${ageBuckets}`,
      });
    }
    // Each child keeps a stream per bucket: 2 ** 32 was a RangeError at the first observation.
    for (const ageBuckets of [1001, 2 ** 32]) {
      assert.throws(() => summary({ quantiles: [0.5], ageBuckets }), {
        name: "BucketError",
        message: `ageBuckets of "s" must be at most 1000, got number ${ageBuckets}`,
      });
    }
    assert.equal(summary({ quantiles: [0.5], ageBuckets: 1000 }).ageBuckets, 1000);
    const s = summary({ maxAgeSeconds: 60, ageBuckets: 3 });
    assert.equal(s.maxAgeSeconds, 60);
    assert.equal(s.ageBuckets, 3);
    assert.equal(summary().maxAgeSeconds, 600);
    assert.equal(summary().ageBuckets, 5);
  });

  test("Summary.observe() rejects NaN and accepts infinities", async () => {
    const s = summary({ quantiles: [0.5] });
    assert.throws(() => s.observe(NaN), {
      name: "InvalidValueError",
      message: 'Cannot observe number NaN in summary "s": NaN is not an observation',
    });
    assert.throws(() => s.labels({}).observe(NaN), InvalidValueError);
    s.observe(Infinity);
    assert.deepEqual(byKey(await s.collect()), {
      '{"quantile":"0.5"}': Infinity,
      "_sum{}": Infinity,
      "_count{}": 1,
    });
  });

  test("Summary methods on an incomplete summary throw UnobservableMetricError before running fn", () => {
    const s = summary({ requiredLabels: ["route"], quantiles: [0.5] });
    let ran = false;
    const run = (): void => {
      ran = true;
    };
    assert.throws(() => s.observe(1), {
      name: "UnobservableMetricError",
      message: 'Cannot observe "s": label "route" has no value',
    });
    assert.throws(() => s.time(run), UnobservableMetricError);
    assert.throws(() => s.time(), UnobservableMetricError);
    assert.throws(() => s.wrap(run)(), UnobservableMetricError);
    assert.equal(ran, false);
  });

  test("Summary.time(fn), time() with using, and wrap() observe durations", async () => {
    const s = summary({ quantiles: [0.5] });
    assert.equal(s.time(() => 7), 7);
    assert.equal(await s.time(() => new Promise((r) => setTimeout(() => r("late"), 20))), "late");
    await assert.rejects(
      s.time(() => Promise.reject(new Error("boom"))),
      { message: "boom" },
    );
    {
      using _timer = s.time();
    }
    const wrapped = s.wrap((a: number, b: number) => a + b);
    assert.equal(wrapped(2, 3), 5);
    const samples = byKey(await s.collect());
    assert.equal(samples["_count{}"], 5);
    assert.ok(samples["_sum{}"]! >= 0.015, `sum ${samples["_sum{}"]}`);
    assert.ok(samples['{"quantile":"0.5"}']! >= 0);
  });

  test("Summary.remove() and clear() drop series; a new child starts empty", async () => {
    const s = summary({ requiredLabels: ["path"], quantiles: [0.5] });
    s.labels({ path: "/a" }).observe(1);
    s.labels({ path: "/b" }).observe(2);
    assert.equal(s.remove({ path: "/a" }), true);
    assert.equal(s.remove({ path: "/a" }), false);
    assert.deepEqual(byKey(await s.collect()), {
      '{"path":"/b","quantile":"0.5"}': 2,
      '_sum{"path":"/b"}': 2,
      '_count{"path":"/b"}': 1,
    });
    s.clear();
    assert.deepEqual(await s.collect(), []);
    s.labels({ path: "/b" });
    assert.deepEqual(byKey(await s.collect()), {
      '{"path":"/b","quantile":"0.5"}': NaN,
      '_sum{"path":"/b"}': 0,
      '_count{"path":"/b"}': 0,
    });
  });

  test("Summary quantiles of 100k random values are within the documented rank error", async () => {
    const next = random(42);
    const values = Array.from({ length: 100_000 }, () => next() * 1000);
    await assertWithinBound(values, [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999]);
  });

  test("Summary quantiles stay within the bound for sorted, reversed and skewed input", async () => {
    const next = random(7);
    const values = Array.from({ length: 50_000 }, () => -Math.log(1 - next()));
    await assertWithinBound([...values].sort((a, b) => a - b), [0.5, 0.9, 0.99]);
    await assertWithinBound([...values].sort((a, b) => b - a), [0.5, 0.9, 0.99]);
    await assertWithinBound(values.map((v) => v ** 4), [0.05, 0.5, 0.99]);
  });

  test("Summary quantiles cover the last maxAgeSeconds, dropping one age bucket at a time", async () => {
    await withClock(async (clock) => {
      // Two age buckets of 5 s each.
      const s = summary({ quantiles: [0.1, 0.9], maxAgeSeconds: 10, ageBuckets: 2 });
      for (let i = 0; i < 100; i++) s.observe(1);
      clock.ms += 6_000;
      for (let i = 0; i < 300; i++) s.observe(2);
      // Everything since the start is still in the window.
      assert.deepEqual((await s.collect()).map((x) => x.value), [1, 2, 700, 400]);
      clock.ms += 5_000; // 11 s: the bucket holding the first second's values is gone
      assert.deepEqual((await s.collect()).map((x) => x.value), [2, 2, 700, 400]);
      s.observe(3);
      clock.ms += 5_000; // 16 s: only what came after 10 s is left
      assert.deepEqual((await s.collect()).map((x) => x.value), [3, 3, 703, 401]);
      clock.ms += 100_000; // long idle: the window is empty, count and sum stay
      assert.deepEqual((await s.collect()).map((x) => x.value), [NaN, NaN, 703, 401]);
      s.observe(4);
      assert.deepEqual((await s.collect()).map((x) => x.value), [4, 4, 707, 402]);
    });
  });

  test("Summary window expires observations in real time", async () => {
    const s = summary({ quantiles: [0.5], maxAgeSeconds: 0.2, ageBuckets: 2 });
    s.observe(5);
    assert.equal((await s.collect())[0]!.value, 5);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await s.collect())[0]!.value, NaN);
    s.observe(7);
    assert.equal((await s.collect())[0]!.value, 7);
  });

  test("Summary keeps count and sum in backends named count and sum, also remote ones", async () => {
    const made: string[] = [];
    const removed: string[] = [];
    class AsyncBackend implements Backend {
      #value = 0;
      readonly #key: string;
      constructor(_config: BackendConfig, metric: BackendMetric, bucket?: string) {
        this.#key = `${metric.type}:${metric.name}:${JSON.stringify(metric.labelValues)}:${bucket}`;
        made.push(this.#key);
      }
      inc(v: number): void {
        this.#value += v;
      }
      dec(v: number): void {
        this.#value -= v;
      }
      set(v: number): void {
        this.#value = v;
      }
      get(): Promise<number> {
        return Promise.resolve(this.#value);
      }
      remove(): void {
        removed.push(this.#key);
      }
    }
    await loadBackend({ backendClass: AsyncBackend, backendConfig: {} });
    try {
      const registry = new CollectorRegistry();
      const s = new Summary({
        name: "job_seconds",
        description: "Jobs.",
        requiredLabels: ["queue"],
        quantiles: [0.5],
        registry,
      });
      s.labels({ queue: "q" }).observe(1.5);
      s.labels({ queue: "q" }).observe(2.5);
      assert.deepEqual(made, [
        'summary:job_seconds:{"queue":"q"}:sum',
        'summary:job_seconds:{"queue":"q"}:count',
      ]);
      assert.equal(
        await generateMetrics(registry),
        "# HELP job_seconds Jobs.\n# TYPE job_seconds summary\n" +
          'job_seconds{queue="q",quantile="0.5"} 1.5\n' +
          'job_seconds_sum{queue="q"} 4\njob_seconds_count{queue="q"} 2\n',
      );
      s.remove({ queue: "q" });
      assert.deepEqual(removed, made);
    } finally {
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });

  test("Summary label names are type-checked", () => {
    const s = new Summary({
      name: "typed",
      description: "T.",
      requiredLabels: ["route"] as const,
      registry: null,
    });
    s.labels({ route: "/" }).observe(1);
    assert.throws(() => {
      // @ts-expect-error: "path" is not a label of this summary
      s.labels({ path: "/" });
    }, LabelValidationError);
  });
});

const PYTHON = "/usr/bin/python3";

/** Parses an exposition with Python's prometheus_client: [name, type, samples] per family. */
const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families as text
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
parse = om if sys.argv[1] == "openmetrics" else text
print(json.dumps([[f.name, f.type, [[s.name, s.labels, None if math.isnan(s.value) else s.value]
  for s in f.samples if not s.name.endswith("_created")]] for f in parse(sys.stdin.read())]))
`;

async function pythonMissing(): Promise<string | false> {
  const probe = await run(PYTHON, ["-c", "import prometheus_client.parser"]).catch((error) => ({
    code: -1,
    stderr: String(error),
  }));
  if (probe.code === 0) return false;
  const reason = `SKIPPED: ${PYTHON} cannot import prometheus_client: ${probe.stderr.trim()}`;
  if (IN_CI) throw new Error(`${reason}; CI must run every test`);
  console.warn(`\n*** ${reason} ***\n`);
  return reason;
}

const skipPython = await pythonMissing();

describe("Summary, Info and Enum read by other parsers", () => {
  const registry = new CollectorRegistry();
  const s = new Summary({
    name: "rpc_seconds",
    description: "RPC latency.",
    requiredLabels: ["method"],
    quantiles: [0.5, 0.99],
    registry,
  });
  for (let i = 1; i <= 10; i++) s.labels({ method: "get" }).observe(i / 10);
  new Summary({ name: "idle_seconds", description: "Idle.", quantiles: [0.5], registry });
  new Info({ name: "build", description: "Build facts.", registry }).set({
    version: "1.2.3",
    note: 'say "hi"',
  });
  new Enum({
    name: "task_state",
    description: "Task state.",
    requiredLabels: ["task"],
    states: ["starting", "running"],
    registry,
  }).labels({ task: "t1" }).state("running");
  const families = (infoType: string, stateType: string, infoName: string) => [
    ["rpc_seconds", "summary", [
      ["rpc_seconds", { method: "get", quantile: "0.5" }, 0.5],
      ["rpc_seconds", { method: "get", quantile: "0.99" }, 1],
      ["rpc_seconds_sum", { method: "get" }, 5.5],
      ["rpc_seconds_count", { method: "get" }, 10],
    ]],
    ["idle_seconds", "summary", [
      ["idle_seconds", { quantile: "0.5" }, null],
      ["idle_seconds_sum", {}, 0],
      ["idle_seconds_count", {}, 0],
    ]],
    [infoName, infoType, [["build_info", { version: "1.2.3", note: 'say "hi"' }, 1]]],
    ["task_state", stateType, [
      ["task_state", { task: "t1", task_state: "starting" }, 0],
      ["task_state", { task: "t1", task_state: "running" }, 1],
    ]],
  ];

  test(
    "generateMetrics() text passes promtool check metrics",
    { skip: needs("promtool") },
    async () => {
      const { code, stdout, stderr } = await run("promtool", ["check", "metrics"], {
        input: await generateMetrics(registry),
      });
      assert.equal(code, 0, stdout + stderr);
    },
  );

  test("generateMetrics() text reads back in Python's parser", { skip: skipPython }, async () => {
    const parsed = await run(PYTHON, ["-c", PARSE, "text"], {
      input: await generateMetrics(registry),
    });
    assert.equal(parsed.code, 0, parsed.stderr);
    assert.deepEqual(JSON.parse(parsed.stdout), families("gauge", "gauge", "build_info"));
  });

  test(
    "OpenMetrics output reads back in Python's OpenMetrics parser",
    { skip: skipPython },
    async () => {
      const parsed = await run(PYTHON, ["-c", PARSE, "openmetrics"], {
        input: await generateMetrics(registry, { format: "openmetrics" }),
      });
      assert.equal(parsed.code, 0, parsed.stderr);
      assert.deepEqual(JSON.parse(parsed.stdout), families("info", "stateset", "build"));
    },
  );
});

describe(
  "Summary, Enum and Info with MultiProcessRedisBackend",
  { skip: needs("redis-server") },
  () => {
    test("Summary count and sum and Enum state are shared; quantiles and Info facts stay local", async () => {
      const { MultiProcessRedisBackend } = await import("../src/backends/redis.ts");
      const redis = await startRedis();
      try {
        await loadBackend({
          backendClass: MultiProcessRedisBackend,
          backendConfig: { host: "127.0.0.1", port: redis.port, keyPrefix: "types" },
        });
        // Two registries with the same metrics stand for two processes.
        const processes = [0, 1].map(() => {
          const registry = new CollectorRegistry();
          return {
            registry,
            summary: new Summary({
              name: "job_seconds",
              description: "J.",
              requiredLabels: ["queue"],
              quantiles: [0.5],
              registry,
            }),
            phase: new Enum({
              name: "phase",
              description: "P.",
              requiredLabels: ["job"],
              states: ["queued", "running", "done"],
              registry,
            }),
            build: new Info({ name: "build", description: "B.", registry }),
          };
        });
        const [a, b] = processes as [typeof processes[0], typeof processes[0]];
        a.summary.labels({ queue: "x" }).observe(1);
        a.summary.labels({ queue: "x" }).observe(3);
        b.summary.labels({ queue: "x" }).observe(8);
        a.phase.labels({ job: "j1" }).state("done");
        a.build.set({ version: "1" });
        assert.equal(
          await generateMetrics(b.registry),
          "# HELP job_seconds J.\n# TYPE job_seconds summary\n" +
            'job_seconds{queue="x",quantile="0.5"} 8\n' +
            'job_seconds_sum{queue="x"} 12\njob_seconds_count{queue="x"} 3\n' +
            "# HELP phase P.\n# TYPE phase gauge\n" +
            'phase{job="j1",phase="queued"} 0\nphase{job="j1",phase="running"} 0\n' +
            'phase{job="j1",phase="done"} 1\n' +
            "# HELP build_info B.\n# TYPE build_info gauge\nbuild_info 1\n",
        );
        b.phase.labels({ job: "j1" }).state("running");
        assert.deepEqual(sampleValues(await generateMetrics(a.registry)), [
          'job_seconds{queue="x",quantile="0.5"} 1',
          'job_seconds_sum{queue="x"} 12',
          'job_seconds_count{queue="x"} 3',
          'phase{job="j1",phase="queued"} 0',
          'phase{job="j1",phase="running"} 1',
          'phase{job="j1",phase="done"} 0',
          'build_info{version="1"} 1',
        ]);
      } finally {
        await MultiProcessRedisBackend.close();
        await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
        await redis.stop();
      }
    });
  },
);

function sampleValues(text: string): string[] {
  return text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}
