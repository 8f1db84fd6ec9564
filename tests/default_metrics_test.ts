import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  collectDefaultMetrics,
  CollectorRegistry,
  generateMetrics,
  InvalidOptionError,
  NameValidationError,
  setLogger,
} from "../mod.ts";
import { DefaultMetrics } from "../src/process/default_metrics.ts";
import { run, which } from "./_process.ts";
import { capturingLogger } from "./_serve.ts";

const deno = (globalThis as { Deno?: { version: Record<string, string> } }).Deno;
const bun = (globalThis as { Bun?: { version: string; revision: string } }).Bun;
const runtime = deno ? "deno" : "bun";
const linux = process.platform === "linux";

/** The value of the sample whose `name{labels}` is exactly `series`, or undefined. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The family names of an exposition, in order. */
function families(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
}

/** Runs `fn` with a default metrics collector on a fresh registry, stopping it afterwards. */
async function withDefaults<T>(
  fn: (registry: CollectorRegistry) => Promise<T>,
  options: { prefix?: string; eventLoopLagIntervalMs?: number } = {},
): Promise<T> {
  const registry = new CollectorRegistry();
  const collector = collectDefaultMetrics({ registry, ...options });
  try {
    return await fn(registry);
  } finally {
    collector.stop();
  }
}

describe("collectDefaultMetrics()", () => {
  test("collectDefaultMetrics() exposes the process and runtime families", async () => {
    const text = await withDefaults(generateMetrics);
    assert.deepEqual(families(text), [
      "process_cpu_seconds_total",
      "process_cpu_user_seconds_total",
      "process_cpu_system_seconds_total",
      "process_resident_memory_bytes",
      "process_heap_bytes",
      "process_start_time_seconds",
      ...(linux ? ["process_virtual_memory_bytes", "process_open_fds", "process_max_fds"] : []),
      `${runtime}_eventloop_lag_seconds`,
      `${runtime}_info`,
    ]);
    assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
    assert.match(text, /^# TYPE process_open_fds gauge$/m);
  });

  test("collectDefaultMetrics() labels <runtime>_info with the runtime's versions", async () => {
    const text = await withDefaults(generateMetrics);
    const expected = deno
      ? `deno_info{version="${deno.version.deno}",v8="${deno.version.v8}",typescript="${deno.version.typescript}"} 1`
      : `bun_info{version="${bun!.version}",revision="${bun!.revision}"} 1`;
    assert.ok(text.split("\n").includes(expected), text);
  });

  test("collectDefaultMetrics() reads values matching /proc/self at scrape time", {
    skip: !linux,
  }, async () => {
    const text = await withDefaults(generateMetrics);
    const status = readFileSync("/proc/self/status", "utf8");
    const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
    const measured = valueOf(text, "process_resident_memory_bytes")!;
    assert.ok(Math.abs(measured - rss) < 0.1 * rss, `RSS ${measured} vs VmRSS ${rss}`);

    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]);
    const start = btime + Number(fields[19]) / 100;
    assert.ok(Math.abs(valueOf(text, "process_start_time_seconds")! - start) < 1e-6);
    assert.equal(valueOf(text, "process_virtual_memory_bytes")! > 0, true);

    const cpu = (Number(fields[11]) + Number(fields[12])) / 100;
    const cpuSeconds = valueOf(text, "process_cpu_seconds_total")!;
    assert.ok(Math.abs(cpuSeconds - cpu) < 0.25, `CPU ${cpuSeconds} s vs /proc ${cpu} s`);
    const parts = valueOf(text, "process_cpu_user_seconds_total")! +
      valueOf(text, "process_cpu_system_seconds_total")!;
    assert.ok(Math.abs(cpuSeconds - parts) < 1e-9, `${cpuSeconds} != ${parts}`);

    // Our own readdir opens one descriptor that the collector's did not count.
    const fds = readdirSync("/proc/self/fd").length - 1;
    assert.ok(Math.abs(valueOf(text, "process_open_fds")! - fds) <= 2, `fds vs ${fds}`);
    const limits = readFileSync("/proc/self/limits", "utf8");
    const max = /^Max open files\s+(\S+)/m.exec(limits)![1]!;
    assert.equal(valueOf(text, "process_max_fds"), max === "unlimited" ? Infinity : Number(max));
  });

  test("collectDefaultMetrics() measures the event-loop lag with a timer", async () => {
    await withDefaults(async (registry) => {
      await new Promise((r) => setTimeout(r, 30));
      const blockedUntil = Date.now() + 200;
      while (Date.now() < blockedUntil) {
        // block the event loop
      }
      await new Promise((r) => setTimeout(r, 30));
      const lag = valueOf(await generateMetrics(registry), `${runtime}_eventloop_lag_seconds`)!;
      assert.ok(lag >= 0.1, `lag ${lag} s after blocking 0.2 s`);
    }, { eventLoopLagIntervalMs: 10 });
  });

  test("collectDefaultMetrics() prefixes every name with its prefix", async () => {
    const text = await withDefaults(generateMetrics, { prefix: "app" });
    for (const name of families(text)) assert.match(name, /^app_/);
    assert.ok(families(text).includes(`app_${runtime}_info`));
  });

  test("collectDefaultMetrics() rejects an invalid prefix", () => {
    assert.throws(
      () => collectDefaultMetrics({ registry: new CollectorRegistry(), prefix: "my-app" }),
      NameValidationError,
    );
  });

  test("collectDefaultMetrics() refuses a prefix that is no string with NameValidationError, not a TypeError", () => {
    for (const [prefix, shown] of [[Symbol("p"), 'symbol "p"'], [5, "number 5"]] as const) {
      assert.throws(
        () => collectDefaultMetrics({ registry: new CollectorRegistry(), prefix: prefix as never }),
        {
          name: "NameValidationError",
          message: `Invalid default metrics prefix ${shown}: must match [a-zA-Z_:][a-zA-Z0-9_:]*`,
        },
      );
    }
  });

  test("collectDefaultMetrics() checks its options object and values with InvalidOptionError", () => {
    const registry = new CollectorRegistry();
    const refused: [unknown, string][] = [
      [
        null,
        "collectDefaultMetrics() takes one options object ({ registry, prefix, ... }), got null",
      ],
      [{ registry, labels: { app: "x" } }, 'collectDefaultMetrics() has no option "labels"'],
      [{ register: registry }, 'collectDefaultMetrics() has no option "register"'],
      [{ registry: 5 }, "collectDefaultMetrics(): registry must be a registry"],
      [{ registry: null }, "collectDefaultMetrics(): registry must be a registry, got null"],
      [
        { registry, eventLoopLagIntervalMs: "500" },
        'collectDefaultMetrics(): eventLoopLagIntervalMs must be a number of milliseconds, more than 0 and at most 2147483647, got string "500"',
      ],
      [{ registry, eventLoopLagIntervalMs: 0 }, "got number 0"],
      [{ registry, eventLoopLagIntervalMs: Infinity }, "got number Infinity"],
      [{ registry, eventLoopLagIntervalMs: 2 ** 31 }, "got number 2147483648"],
    ];
    for (const [options, message] of refused) {
      assert.throws(() => collectDefaultMetrics(options as never), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        assert.ok(error.message.includes(message), error.message);
        return true;
      });
    }
    assert.throws(() => new DefaultMetrics({ eventLoopLagIntervalMs: -1 }), {
      name: "InvalidOptionError",
      message:
        "DefaultMetrics: eventLoopLagIntervalMs must be a number of milliseconds, more than 0 and at most 2147483647, got number -1",
    });
    assert.equal(registry.has("process_cpu_seconds_total"), false);
  });

  test("collectDefaultMetrics() twice on one registry warns once and stop() unregisters", async () => {
    const registry = new CollectorRegistry();
    const { logger, messages: warnings } = capturingLogger();
    const previous = setLogger(logger);
    const first = collectDefaultMetrics({ registry });
    const second = collectDefaultMetrics({ registry });
    setLogger(previous);
    try {
      assert.deepEqual(warnings, [
        'Collector "defaultmetrics" not registered: the name "defaultmetrics" is already registered',
      ]);
      assert.equal(families(await generateMetrics(registry)).length > 0, true);
    } finally {
      second.stop();
      first.stop();
    }
    assert.equal(await generateMetrics(registry), "");
  });
});

describe("collectDefaultMetrics() in a process of its own", () => {
  const fixture = fileURLToPath(new URL("./fixtures/default_metrics_fixture.ts", import.meta.url));

  test("collectDefaultMetrics() under Deno without permissions leaves /proc out with one warning", async (t) => {
    const path = which("deno");
    if (path === undefined) return t.skip("deno not installed");
    const { code, stdout, stderr } = await run(path, ["run", "--no-prompt", fixture]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(families(stdout), [
      "process_cpu_seconds_total",
      "process_cpu_user_seconds_total",
      "process_cpu_system_seconds_total",
      "process_resident_memory_bytes",
      "process_heap_bytes",
      "process_start_time_seconds",
      "deno_eventloop_lag_seconds",
      "deno_info",
    ]);
    // The start time falls back to the runtime's time origin.
    const start = valueOf(stdout, "process_start_time_seconds")!;
    assert.ok(Math.abs(Date.now() / 1000 - start) < 60, `start time ${start}`);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(
      lines[0]!,
      /^pytheus: cannot read \/proc\/self\/stat, \/proc\/self\/fd, \/proc\/self\/limits: /,
    );
  });

  for (
    const [program, args] of [
      ["deno", ["run", "--allow-all", fixture]],
      ["bun", [fixture]],
    ] as const
  ) {
    test(`collectDefaultMetrics() lets a ${program} process exit and reads /proc there`, async (t) => {
      const path = which(program);
      if (path === undefined) return t.skip(`${program} not installed`);
      const { code, stdout, stderr } = await run(path, [...args]);
      assert.equal(code, 0, stderr);
      assert.equal(stderr, "");
      const names = families(stdout);
      assert.ok(names.includes(`${program}_info`), stdout);
      if (linux) assert.ok(names.includes("process_open_fds"), stdout);
    });
  }
});
