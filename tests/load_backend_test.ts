import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, afterEach, before, describe, test } from "node:test";
import {
  type BackendConfig,
  type BackendMetric,
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  InvalidOptionError,
  loadBackend,
  MultiWorkerBackend,
  PytheusError,
  SingleProcessBackend,
} from "../mod.ts";
import { currentBackend } from "../src/backends/load_backend.ts";
import { builtInClass } from "../src/backends/_built_ins.ts";
// Imported, as an application does, so that the Redis backend is known by name.
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { IS_BUN } from "./_serve.ts";
import { MyBackend } from "./fixtures/my_backend.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MY_BACKEND_URL = new URL("./fixtures/my_backend.ts", import.meta.url).href;

/** What tests/fixtures/print_backend.ts prints. */
interface Printed {
  backendClass?: string;
  sameClass?: boolean;
  backendConfig?: Record<string, unknown>;
  initializedWith?: Record<string, unknown> | null;
  created?: string[];
  exposition?: string;
  error?: string;
  message?: string;
}

/**
 * Runs the fixture with the runtime running this test (`deno run -A` or
 * `bun`), from the repository root, with exactly the PYTHEUS_* variables given.
 */
function runFixture(env: Record<string, string>, denoFlags = ["-A"]): Promise<Printed> {
  const fixture = "tests/fixtures/print_backend.ts";
  const args = IS_BUN ? [fixture] : ["run", ...denoFlags, fixture];
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("PYTHEUS_")),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...inherited, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d);
    child.stderr.on("data", (d) => stderr += d);
    child.once("error", reject);
    child.once("close", (code) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      try {
        resolve(JSON.parse(line) as Printed);
      } catch {
        reject(new Error(`fixture exited ${code}: ${stdout}\n${stderr}`));
      }
    });
  });
}

const DEFAULT_EXPOSITION = "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 2\n" +
  '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1\n';

/** Temporarily sets (or, with undefined, deletes) an environment variable. */
async function withEnv<T>(
  name: string,
  value: string | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  const previous = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env[name];
    else process.env[name] = previous;
  }
}

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pytheus-load-backend-"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe("loadBackend() from code", () => {
  afterEach(async () => {
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    MyBackend.reset();
  });

  test("SingleProcessBackend is the backend in force by default", () => {
    assert.equal(currentBackend().backendClass, SingleProcessBackend);
    assert.deepEqual(currentBackend().backendConfig, {});
  });

  test("loadBackend() with a custom class awaits initialize(config) and returns what is in force", async () => {
    const config = { scale: 10 };
    const loaded = await loadBackend({ backendClass: MyBackend, backendConfig: config });
    assert.equal(
      MyBackend.initializedWith,
      config,
      "initialize finished before loadBackend resolved",
    );
    assert.equal(loaded.backendClass, MyBackend);
    assert.equal(loaded.backendConfig, config);
    assert.equal(currentBackend().backendClass, MyBackend);
    assert.equal(currentBackend().backendConfig, config);
  });

  test("A metric uses the backend in force at its first series: one defined before loadBackend() too; one that made series keeps its backend", async () => {
    const registry = new CollectorRegistry();
    const before = new Counter({ name: "before_total", description: "B.", registry });
    before.inc();
    const early = new Counter({ name: "early_total", description: "E.", registry });
    await loadBackend({ backendClass: MyBackend, backendConfig: { scale: 10 } });
    early.inc();
    const afterwards = new Counter({ name: "after_total", description: "A.", registry });
    const h = new Histogram({
      name: "h",
      description: "H.",
      buckets: [1],
      requiredLabels: ["k"],
      registry,
    });
    afterwards.inc();
    h.labels({ k: "v" }).observe(0.5);
    assert.deepEqual(MyBackend.created, ["early_total", "after_total", "h:1", "h:+Inf", "h:sum"]);
    assert.equal(
      await generateMetrics(registry),
      "# HELP before_total B.\n# TYPE before_total counter\nbefore_total 1\n" +
        "# HELP early_total E.\n# TYPE early_total counter\nearly_total 10\n" +
        "# HELP after_total A.\n# TYPE after_total counter\nafter_total 10\n" +
        '# HELP h H.\n# TYPE h histogram\nh_bucket{k="v",le="1"} 10\nh_bucket{k="v",le="+Inf"} 10\n' +
        'h_sum{k="v"} 5\nh_count{k="v"} 10\n',
    );
  });

  test("A backend that refuses a series when made leaves nothing: labels() throws each time, other series work", async () => {
    class Picky extends SingleProcessBackend {
      constructor(config: BackendConfig, metric: BackendMetric, bucket?: string) {
        if (metric.labelValues.k === 'bad"') throw new PytheusError("Picky refuses k=bad");
        super(config, metric, bucket);
      }
    }
    await loadBackend({ backendClass: Picky, backendConfig: {} });
    const registry = new CollectorRegistry();
    const c = new Counter({
      name: "picky_total",
      description: "P.",
      requiredLabels: ["k"],
      registry,
    });
    for (let i = 0; i < 3; i++) assert.throws(() => c.labels({ k: 'bad"' }), /Picky refuses/);
    c.labels({ k: "good" }).inc();
    c.labels({ k: "fine" }).inc(2);
    assert.equal(c.remove({ k: "good" }), true);
    c.labels({ k: "new" }).inc(3);
    assert.equal(
      await generateMetrics(registry),
      '# HELP picky_total P.\n# TYPE picky_total counter\npicky_total{k="fine"} 2\n' +
        'picky_total{k="new"} 3\n',
    );
  });

  test("loadBackend() takes a built-in name", async () => {
    await loadBackend({ backendClass: MyBackend, backendConfig: {} });
    const loaded = await loadBackend({ backendClass: "SingleProcessBackend", backendConfig: {} });
    assert.equal(loaded.backendClass, SingleProcessBackend);
  });

  test("A class passed in, named like a built-in, is not known by that name: the name loads the built-in", async () => {
    const impostors = {
      MultiWorkerBackend: class extends SingleProcessBackend {},
      MultiProcessRedisBackend: class extends SingleProcessBackend {},
    };
    for (const impostor of Object.values(impostors)) {
      await loadBackend({ backendClass: impostor, backendConfig: {} });
    }
    assert.equal(impostors.MultiWorkerBackend.name, "MultiWorkerBackend");
    assert.equal(builtInClass("MultiWorkerBackend"), undefined, "not added");
    assert.equal(
      builtInClass("MultiProcessRedisBackend"),
      MultiProcessRedisBackend,
      "not replaced",
    );
    const loaded = await loadBackend({
      backendClass: "MultiWorkerBackend",
      backendConfig: { channel: "pytheus-test-impostor", registry: null },
    });
    assert.equal(loaded.backendClass, MultiWorkerBackend);
    await MultiWorkerBackend.close();
  });

  test("loadBackend() takes module-specifier#ExportName", async () => {
    const loaded = await loadBackend({
      backendClass: `${MY_BACKEND_URL}#MyBackend`,
      backendConfig: { scale: 2 },
    });
    assert.equal(loaded.backendClass, MyBackend);
    assert.deepEqual(MyBackend.initializedWith, { scale: 2 });
  });

  test("loadBackend() without backendConfig and without PYTHEUS_BACKEND_CONFIG uses {}", async () => {
    await withEnv("PYTHEUS_BACKEND_CONFIG", undefined, async () => {
      const loaded = await loadBackend({ backendClass: MyBackend });
      assert.deepEqual(loaded.backendConfig, {});
      assert.deepEqual(MyBackend.initializedWith, {});
    });
  });

  test("loadBackend() rejects an unknown class name with PytheusError", async () => {
    await assert.rejects(loadBackend({ backendClass: "NoSuchBackend" }), (err: unknown) => {
      assert.ok(err instanceof PytheusError);
      assert.ok(err.message.includes('"NoSuchBackend"'), err.message);
      return true;
    });
    assert.equal(currentBackend().backendClass, SingleProcessBackend, "nothing changed");
  });

  test("loadBackend() rejects a missing export, a non-class export and a missing module", async () => {
    await assert.rejects(loadBackend({ backendClass: `${MY_BACKEND_URL}#Nope` }), {
      name: "InvalidOptionError",
      message: `Module "${MY_BACKEND_URL}" has no exported class "Nope"`,
    });
    await assert.rejects(
      loadBackend({ backendClass: `${MY_BACKEND_URL}#NOT_A_CLASS` }),
      InvalidOptionError,
    );
    await assert.rejects(
      loadBackend({ backendClass: "./tests/fixtures/no_such_module.ts#X" }),
      (err: unknown) => {
        assert.ok(err instanceof PytheusError);
        assert.ok(err.message.includes("no_such_module.ts"), err.message);
        assert.ok(err.cause !== undefined);
        return true;
      },
    );
    assert.equal(currentBackend().backendClass, SingleProcessBackend);
  });

  test("loadBackend() rejects a backend class that is not a function", async () => {
    await assert.rejects(
      loadBackend({ backendClass: {} as unknown as typeof SingleProcessBackend }),
      PytheusError,
    );
  });

  test("loadBackend() refuses a class it cannot print or construct with InvalidOptionError, changing nothing", async () => {
    const refused: [unknown, string][] = [
      [Object.create(null), "got an object {}"],
      [() => {}, "got a function"], // an arrow function is no class
      [Symbol("b"), 'got symbol "b"'],
      [5, "got number 5"],
    ];
    for (const [backendClass, shown] of refused) {
      await assert.rejects(loadBackend({ backendClass } as never), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, String(err));
        assert.ok(err.message.startsWith("loadBackend(): backendClass must be"), err.message);
        assert.ok(err.message.includes(shown), err.message);
        return true;
      });
    }
    // Names that Object.prototype has are no built-in class.
    for (const name of ["constructor", "toString", "__proto__"]) {
      await assert.rejects(loadBackend({ backendClass: name }), InvalidOptionError);
    }
    class BadInit extends SingleProcessBackend {
      static initialize = 5;
    }
    await assert.rejects(loadBackend({ backendClass: BadInit as never }), {
      name: "InvalidOptionError",
      message:
        'loadBackend(): the initialize of backend class "BadInit" must be a function, got number 5',
    });
    await assert.rejects(loadBackend({ backendClass: MyBackend, backendConfig: [1] as never }), {
      name: "InvalidOptionError",
      message: "loadBackend(): backendConfig must be an object, got an array",
    });
    await assert.rejects(loadBackend({ backendClas: MyBackend } as never), {
      name: "InvalidOptionError",
      message:
        'loadBackend() has no option "backendClas": it takes backendClass, backendConfig, store',
    });
    await assert.rejects(loadBackend(null as never), InvalidOptionError);
    assert.equal(currentBackend().backendClass, SingleProcessBackend, "nothing changed");
    assert.equal(MyBackend.initializedWith, undefined, "initialize not called");
  });

  test("loadBackend() leaves the backend unchanged when initialize() fails", async () => {
    await assert.rejects(
      loadBackend({ backendClass: MyBackend, backendConfig: { failInitialize: true } }),
      { message: "cannot connect" },
    );
    assert.equal(currentBackend().backendClass, SingleProcessBackend);
  });

  test("loadBackend() rejects an unreadable PYTHEUS_BACKEND_CONFIG file with PytheusError", async () => {
    const missing = join(dir, "missing.json");
    await withEnv("PYTHEUS_BACKEND_CONFIG", missing, async () => {
      await assert.rejects(loadBackend({ backendClass: MyBackend }), (err: unknown) => {
        assert.ok(err instanceof PytheusError);
        assert.ok(err.message.includes(missing), err.message);
        assert.ok(err.cause !== undefined);
        return true;
      });
    });
    assert.equal(MyBackend.initializedWith, undefined, "initialize not called");
  });

  test("loadBackend() rejects a PYTHEUS_BACKEND_CONFIG file that is not a JSON object", async () => {
    for (
      const [name, text] of [["bad.json", "{ nope"], ["array.json", "[1]"], ["null.json", "null"]]
    ) {
      const path = await configFile(name!, text!);
      await withEnv("PYTHEUS_BACKEND_CONFIG", path, async () => {
        await assert.rejects(loadBackend({ backendClass: MyBackend }), PytheusError, name);
      });
    }
    assert.equal(currentBackend().backendClass, SingleProcessBackend);
  });

  test("loadBackend() reads PYTHEUS_BACKEND_CONFIG when no backendConfig is given", async () => {
    const path = await configFile("scale.json", '{"scale": 4, "keyPrefix": "app"}');
    await withEnv("PYTHEUS_BACKEND_CONFIG", path, async () => {
      const loaded = await loadBackend({ backendClass: MyBackend });
      assert.deepEqual(loaded.backendConfig, { scale: 4, keyPrefix: "app" });
    });
  });
});

describe("Metrics defined before loadBackend(), in a subprocess", () => {
  test("Metrics a module defines at its top level, imported before main loads the backend, use that backend", async () => {
    const args = IS_BUN
      ? ["tests/fixtures/early_main.ts"]
      : ["run", "-A", "tests/fixtures/early_main.ts"];
    const { code, stdout, stderr } = await new Promise<
      { code: number | null; stdout: string; stderr: string }
    >(
      (resolve, reject) => {
        const child = spawn(process.execPath, args, {
          cwd: ROOT,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => out += d);
        child.stderr.on("data", (d) => err += d);
        child.once("error", reject);
        child.once("close", (exit) => resolve({ code: exit, stdout: out, stderr: err }));
      },
    );
    assert.equal(code, 0, stderr);
    const printed = JSON.parse(stdout) as {
      created: string[];
      exposition: string;
      warnings: string[];
    };
    // The one metric observed before loadBackend() stays in memory, and is warned about.
    assert.deepEqual(printed.warnings, [
      "pytheus: loadBackend(MyBackend): 1 metric(s) made series before, with SingleProcessBackend, and keep them there; load the backend before anything is observed (in a module imported first)",
    ]);
    assert.match(printed.exposition, /^early_started_total 1$/m);
    assert.deepEqual(printed.created, [
      "early_requests_total",
      "early_in_flight",
      "early_seconds:1",
      "early_seconds:+Inf",
      "early_seconds:sum",
    ]);
    assert.match(printed.exposition, /^early_requests_total\{route="\/"\} 10$/m);
    assert.match(printed.exposition, /^early_in_flight 10$/m);
    assert.match(printed.exposition, /^early_seconds_count 10$/m);
  });
});

describe("loadBackend() from the environment, in a subprocess", () => {
  test("loadBackend() with nothing set uses SingleProcessBackend and {}", async () => {
    const printed = await runFixture({});
    assert.deepEqual(printed, {
      backendClass: "SingleProcessBackend",
      sameClass: false,
      backendConfig: {},
      initializedWith: null,
      created: [],
      exposition: DEFAULT_EXPOSITION,
    });
  });

  test("loadBackend() loads PYTHEUS_BACKEND_CLASS=./path#Export with PYTHEUS_BACKEND_CONFIG", async () => {
    const path = await configFile("my.json", '{"scale": 10}');
    const printed = await runFixture({
      PYTHEUS_BACKEND_CLASS: "./tests/fixtures/my_backend.ts#MyBackend",
      PYTHEUS_BACKEND_CONFIG: path,
    });
    assert.deepEqual(printed, {
      backendClass: "MyBackend",
      sameClass: true,
      backendConfig: { scale: 10 },
      initializedWith: { scale: 10 },
      created: ["jobs_total", "h:1", "h:+Inf", "h:sum"],
      exposition: "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 20\n" +
        '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 10\nh_bucket{le="+Inf"} 10\n' +
        "h_sum 5\nh_count 10\n",
    });
  });

  test("loadBackend() loads PYTHEUS_BACKEND_CLASS=SingleProcessBackend with its config file", async () => {
    const path = await configFile("single.json", '{"note": "unused"}');
    const printed = await runFixture({
      PYTHEUS_BACKEND_CLASS: "SingleProcessBackend",
      PYTHEUS_BACKEND_CONFIG: path,
    });
    assert.equal(printed.backendClass, "SingleProcessBackend");
    assert.deepEqual(printed.backendConfig, { note: "unused" });
    assert.equal(printed.exposition, DEFAULT_EXPOSITION);
  });

  test("loadBackend() with an unknown PYTHEUS_BACKEND_CLASS throws InvalidOptionError", async () => {
    const printed = await runFixture({ PYTHEUS_BACKEND_CLASS: "NoSuchBackend" });
    assert.equal(printed.error, "InvalidOptionError");
    assert.ok(printed.message!.includes('"NoSuchBackend"'), printed.message);
  });

  test("loadBackend() with a PYTHEUS_BACKEND_CLASS export that does not exist throws InvalidOptionError", async () => {
    const printed = await runFixture({
      PYTHEUS_BACKEND_CLASS: "./tests/fixtures/my_backend.ts#Missing",
    });
    assert.equal(printed.error, "InvalidOptionError");
    assert.ok(printed.message!.includes('"Missing"'), printed.message);
  });

  test("loadBackend() with a bad PYTHEUS_BACKEND_CONFIG file throws InvalidOptionError, a missing one PytheusError", async () => {
    const bad = await configFile("broken.json", "not json");
    for (
      const [path, error] of [
        [bad, "InvalidOptionError"],
        [join(dir, "does_not_exist.json"), "PytheusError"],
      ] as const
    ) {
      const printed = await runFixture({
        PYTHEUS_BACKEND_CLASS: "SingleProcessBackend",
        PYTHEUS_BACKEND_CONFIG: path,
      });
      assert.equal(printed.error, error);
      assert.ok(printed.message!.includes(path), printed.message);
    }
  });

  // Deno only (Bun has no permissions): registered only there, so Bun reports no skip.
  if (!IS_BUN) {
    test("loadBackend() on Deno without --allow-env throws PytheusError", async () => {
      const printed = await runFixture({ PYTHEUS_BACKEND_CLASS: "NoSuchBackend" }, [
        "--no-prompt",
        "--allow-read",
      ]);
      assert.equal(printed.error, "PytheusError");
      assert.ok(printed.message!.includes("--allow-env"), printed.message);
    });
  }
});
