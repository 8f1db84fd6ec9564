/**
 * Applications bundled into one file by `bun build` (on both runtimes; not
 * `deno bundle`, which fetches esbuild from the npm registry at its first
 * use, and a test reaches no network beyond loopback), run from a directory
 * of their own, with no package files or node_modules beside them: a
 * built-in backend that PYTHEUS_BACKEND_CLASS names is found in the bundle
 * when the application imports its module (the Redis one, whose count then
 * reaches a real redis-server; the multi-worker one, which the root module
 * holds); without the Redis module the error says what to import.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { CollectorRegistry, Counter, generateMetrics } from "../mod.ts";
import { needs, run } from "./_process.ts";
import { withRedisBackend } from "./_redis.ts";
import { IS_BUN } from "./_serve.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SLOW = { timeout: 60_000 };

/** What `tests/fixtures/_bundled.ts` prints. */
interface Printed {
  loaded?: string | null;
  error?: string;
  message?: string;
  cause?: string | null;
}

const BUN = IS_BUN ? process.execPath : "bun";

describe(
  "An application bundled by bun build --target bun",
  { skip: needs(...IS_BUN ? [] : ["bun"], "redis-server") },
  () => {
    const keyPrefix = "bundle-bun";
    const redis = withRedisBackend(keyPrefix);
    let dir: string | undefined;
    after(() => {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });
    // Made by the first test, within its timeout: Bun gives a hook 5 s, whatever it asks.
    let made: Promise<{ dist: string; config: string }> | undefined;
    const bundleApps = async (): Promise<{ dist: string; config: string }> => {
      dir = mkdtempSync(join(tmpdir(), "pytheus-bundle-"));
      const dist = join(dir, "dist");
      for (const app of ["bundled_app", "bundled_redis_app"]) {
        const bundled = await run(
          BUN,
          ["build", `tests/fixtures/${app}.ts`, "--outdir", dist, "--target", "bun"],
          { cwd: ROOT, env: { NO_COLOR: "1" } },
        );
        assert.equal(bundled.code, 0, `bun build ${app}: ${bundled.stdout}${bundled.stderr}`);
      }
      const config = join(dir, "redis.json");
      await writeFile(config, JSON.stringify({ port: redis.server.port, keyPrefix }));
      return { dist, config };
    };

    /** Runs a bundled app from `dist` with PYTHEUS_BACKEND_CLASS=`backend`, and what it printed. */
    async function runApp(app: string, backend: string): Promise<Printed> {
      const { dist, config } = await (made ??= bundleApps());
      const { code, stdout, stderr } = await run(BUN, ["--no-install", join(dist, `${app}.js`)], {
        cwd: dist,
        env: { PYTHEUS_BACKEND_CLASS: backend, PYTHEUS_BACKEND_CONFIG: config, NO_COLOR: "1" },
      });
      const line = stdout.trim().split("\n").at(-1) ?? "";
      try {
        return JSON.parse(line) as Printed;
      } catch {
        throw new Error(`${app} exited ${code}: ${stdout}\n${stderr}`);
      }
    }

    test(
      "PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend loads the Redis backend the application imports; its count reaches Redis",
      SLOW,
      async () => {
        assert.deepEqual(await runApp("bundled_redis_app", "MultiProcessRedisBackend"), {
          loaded: "MultiProcessRedisBackend",
        });
        const registry = new CollectorRegistry();
        new Counter({ name: "bundled_jobs_total", description: "Jobs.", registry });
        assert.match(await generateMetrics(registry), /^bundled_jobs_total 3$/m);
      },
    );

    test(
      "PYTHEUS_BACKEND_CLASS=MultiWorkerBackend loads the multi-worker backend",
      SLOW,
      async () => {
        assert.deepEqual(await runApp("bundled_app", "MultiWorkerBackend"), {
          loaded: "MultiWorkerBackend",
        });
      },
    );

    test(
      "Without the Redis module, PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend throws PytheusError saying what to import",
      SLOW,
      async () => {
        const printed = await runApp("bundled_app", "MultiProcessRedisBackend");
        assert.equal(printed.error, "PytheusError");
        assert.equal(
          printed.message,
          "Cannot import the module of backend MultiProcessRedisBackend: a bundled or compiled " +
            'application imports "@pytheus/pytheus/redis" itself (the bundle then holds it), or ' +
            "passes the class: loadBackend({ backendClass: MultiProcessRedisBackend })",
        );
        // Why: the module beside the bundle, which is not there.
        assert.match(printed.cause ?? "", /redis\.js/);
      },
    );
  },
);
