/**
 * The package as users get it: every built-in backend loaded by name
 * (`PYTHEUS_BACKEND_CLASS`) from a copy of exactly what `deno publish` ships
 * (the files deno.json's `publish.include` names), run by the runtime running
 * the tests; and, on Bun, from the npm layout JSR makes for it (`deno pack`:
 * `.ts` compiled to `.js`, literal import specifiers rewritten to match, any
 * other left as written). An application's own backend module, named by a
 * path, loads from there too. The package's dependencies are installed only
 * for the Redis backend: the root and the other backends must load without
 * ioredis.
 */

import assert from "node:assert/strict";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { needs, run, which } from "./_process.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import { IS_BUN, RUNTIME } from "./_serve.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PROBE = join(ROOT, "tests/fixtures/load_by_name.ts");
const MY_BACKEND = join(ROOT, "tests/fixtures/my_backend.ts");
// What PYTHEUS_BACKEND_CLASS names, and the class it must load: the built-ins, and an
// application's own module, by a path relative to the working directory.
const BACKENDS: [spec: string, className: string][] = [
  ["SingleProcessBackend", "SingleProcessBackend"],
  ["MultiWorkerBackend", "MultiWorkerBackend"],
  ["MultiProcessRedisBackend", "MultiProcessRedisBackend"],
  ["./my_backend.ts#MyBackend", "MyBackend"],
];
const redisSkip = needs("redis-server");
// Bun only: deno builds the npm layout. CI has both runtimes.
const packSkip = IS_BUN ? needs("deno") : false;

/** Copies what deno.json's publish.include names into `dir`, as `deno publish` ships it. */
function copyPublished(dir: string): void {
  const config = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as {
    publish: { include: string[]; exclude?: string[] };
  };
  assert.equal(config.publish.exclude, undefined, "publish.exclude: copy it here too");
  for (const entry of config.publish.include) {
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  }
}

/** A layout: where the probe runs and the specifier it imports the package by. */
interface Layout {
  readonly dir: string;
  readonly entry: string;
}

/**
 * Runs the probe in `layout` with the runtime running the tests and returns
 * what it printed: `deno run` with the layout's deno.json, from the
 * layout's own node_modules only (none, unless linked) and the cache.
 */
async function loadByName(
  layout: Layout,
  name: string,
  config = "",
): Promise<{ backendClass?: string; exposition?: string; error?: string; message?: string }> {
  const probe = join(layout.dir, "probe.ts");
  const args = IS_BUN
    ? ["--no-install", probe, layout.entry]
    : ["run", "-A", "--no-lock", "--cached-only", "--node-modules-dir=manual", probe, layout.entry];
  const { code, stdout, stderr } = await run(process.execPath, args, {
    cwd: layout.dir,
    env: { PYTHEUS_BACKEND_CLASS: name, PYTHEUS_BACKEND_CONFIG: config, NO_COLOR: "1" },
  });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`probe exited ${code}: ${stdout}\n${stderr}`);
  }
}

/** Puts the probe and an application's own backend module (my_backend.ts) into `dir`. */
function addProbe(dir: string): void {
  cpSync(PROBE, join(dir, "probe.ts"));
  cpSync(MY_BACKEND, join(dir, "my_backend.ts"));
}

/** Links the repository's installed ioredis into a layout (its own node_modules). */
function linkIoredis(nodeModules: string): void {
  mkdirSync(nodeModules, { recursive: true });
  symlinkSync(join(ROOT, "node_modules/ioredis"), join(nodeModules, "ioredis"), "dir");
}

const TMP = mkdtempSync(join(tmpdir(), "pytheus-published-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

let redis: RedisServer | undefined;
before(async () => {
  if (!redisSkip) redis = await startRedis();
});
after(() => redis?.stop());

/** A PYTHEUS_BACKEND_CONFIG file for the Redis backend, with a key prefix of its own. */
async function redisConfig(dir: string): Promise<string> {
  const path = join(dir, "redis.json");
  await writeFile(path, JSON.stringify({ port: redis!.port, keyPrefix: dir }));
  return path;
}

/** Where the probe finds the package: without its dependencies, and with ioredis linked. */
interface Layouts {
  readonly bare: Layout;
  readonly withDeps: Layout;
}

/** Loads each built-in backend by name from the layouts `make` builds (before the tests). */
function testLayouts(
  title: string,
  skip: string | false,
  make: (dir: string) => Promise<Layout>,
): void {
  describe(title, { skip }, () => {
    // Made by the first test, within its timeout: Bun gives a hook 5 s, whatever it asks,
    // and `deno pack` on a loaded machine takes longer.
    let made: Promise<Layouts> | undefined;
    const makeLayouts = async (): Promise<Layouts> => {
      const dir = mkdtempSync(join(TMP, "layout-"));
      const withDeps = await make(join(dir, "with-deps"));
      linkIoredis(join(withDeps.dir, "node_modules"));
      return { bare: await make(join(dir, "bare")), withDeps };
    };
    for (const [name, className] of BACKENDS) {
      const isRedis = name === "MultiProcessRedisBackend";
      const what = isRedis ? "with ioredis installed" : "without ioredis installed";
      test(`PYTHEUS_BACKEND_CLASS=${name} loads it on ${RUNTIME}, ${what}`, {
        skip: isRedis ? redisSkip : false,
        timeout: 60_000,
      }, async () => {
        const layouts = await (made ??= makeLayouts());
        const layout = isRedis ? layouts.withDeps : layouts.bare;
        const config = isRedis ? await redisConfig(layout.dir) : "";
        const printed = await loadByName(layout, name, config);
        assert.deepEqual(printed, {
          backendClass: className,
          exposition: "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 2\n",
        });
      });
    }
  });
}

// What `deno publish` ships, run as TypeScript (by Deno and Bun alike).
testLayouts("The files deno publish ships", false, (dir) => {
  copyPublished(dir);
  addProbe(dir);
  return Promise.resolve({ dir, entry: "./mod.ts" });
});

// The npm package JSR serves Bun, installed as node_modules/@pytheus/pytheus.
if (IS_BUN) {
  testLayouts("The npm package JSR makes for Bun (deno pack)", packSkip, async (dir) => {
    const scope = join(dir, "node_modules/@pytheus");
    mkdirSync(scope, { recursive: true });
    const tarball = join(dir, "pytheus.tgz");
    const packed = await run(which("deno")!, ["pack", "--allow-dirty", "-o", tarball], {
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    });
    assert.equal(packed.code, 0, packed.stderr);
    const unpacked = await run("tar", ["-xzf", tarball, "-C", scope]);
    assert.equal(unpacked.code, 0, unpacked.stderr);
    renameSync(join(scope, "package"), join(scope, "pytheus"));
    addProbe(dir);
    return { dir, entry: "@pytheus/pytheus" };
  });
}

describe("the root module's graph", { skip: needs("deno") }, () => {
  test("the root and its entry points pull in no npm package: ioredis is fetched only with ./redis", async () => {
    for (const entry of ["mod.ts", "types.ts", "http.ts", "src/hono.ts"]) {
      const { code, stdout, stderr } = await run("deno", ["info", "--json", join(ROOT, entry)]);
      assert.equal(code, 0, stderr);
      const graph = JSON.parse(stdout) as {
        modules: { specifier: string }[];
        npmPackages?: object;
      };
      const npm = graph.modules.map((m) => m.specifier).filter((s) =>
        !s.startsWith("file:") && !s.startsWith("node:")
      );
      assert.deepEqual(npm, [], `${entry} pulls in ${npm.join(", ")}`);
      assert.deepEqual(Object.keys(graph.npmPackages ?? {}), [], entry);
    }
    const { stdout } = await run("deno", ["info", "--json", join(ROOT, "src/backends/redis.ts")]);
    assert.ok(stdout.includes("ioredis"), "the Redis module itself does import ioredis");
  });
});
