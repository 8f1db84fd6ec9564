/**
 * The README's recipes for Oak and Elysia, run as written: each code block
 * becomes the app.ts of a project of its own (a package.json, the
 * repository's node_modules, `@pytheus/pytheus` pointing at this checkout),
 * served by the runtime running the tests (`deno serve`, or `bun app.ts`);
 * `/users/1` and `/users/2` must make one series labelled with the pattern,
 * which `/metrics` serves.
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { after, test } from "node:test";
import { freePort, start, waitFor } from "./_process.ts";
import { IS_BUN, RUNTIME } from "./_serve.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The one TypeScript code block of the README that contains `marker`. */
function readmeBlock(marker: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/^```ts[^\n]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const found = blocks.filter((block) => block.includes(marker));
  assert.equal(found.length, 1, `README.md has ${found.length} ts blocks with ${marker}`);
  return found[0]!;
}

const TMP = mkdtempSync(join(tmpdir(), "pytheus-recipes-"));
after(() => rmSync(TMP, { recursive: true, force: true }));

/**
 * Writes `code` as the app.ts of a project of its own, as a user would have
 * it (a package.json and node_modules), `@pytheus/pytheus` being this
 * checkout's mod.ts; returns the path of app.ts.
 */
function project(name: string, code: string): string {
  const dir = join(TMP, name);
  mkdirSync(dir);
  const app = code.replaceAll(
    '"@pytheus/pytheus"',
    JSON.stringify(pathToFileURL(join(ROOT, "mod.ts")).href),
  );
  assert.notEqual(app, code, "the recipe imports @pytheus/pytheus");
  writeFileSync(join(dir, "app.ts"), app);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ private: true, type: "module" }));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return join(dir, "app.ts");
}

const RECIPES: [framework: string, marker: string][] = [
  ["Oak", 'from "@oakserver/oak"'],
  ["Elysia", 'from "elysia"'],
];

for (const [framework, marker] of RECIPES) {
  test(`The README's ${framework} recipe, served by ${RUNTIME}, labels /users/1 and /users/2 with route="/users/:id"`, async () => {
    const app = project(framework, readmeBlock(marker));
    const port = await freePort();
    const args = IS_BUN ? [app] : ["serve", "--allow-all", "--port", String(port), app];
    const server = start(process.execPath, args, { PORT: String(port), NO_COLOR: "1" });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(`${framework} on ${base}`, async () => {
        const response = await fetch(`${base}/users/1`);
        return (await response.text()) === "user 1";
      }, 20_000).catch((error: Error) => {
        throw new Error(`${error.message}; it printed: ${server.output()}`);
      });
      const second = await fetch(`${base}/users/2`);
      assert.deepEqual([second.status, await second.text()], [200, "user 2"]);
      const missing = await fetch(`${base}/elsewhere`);
      await missing.body?.cancel();
      assert.equal(missing.status, 404);

      const text = await (await fetch(`${base}/metrics`)).text();
      const counts = text.split("\n").filter((line) =>
        line.startsWith("http_request_duration_seconds_count{")
      );
      assert.deepEqual(counts, [
        'http_request_duration_seconds_count{method="GET",route="/users/:id",status_code="200"} 2',
        'http_request_duration_seconds_count{method="GET",route="(unmatched)",status_code="404"} 1',
      ]);
      assert.match(
        text,
        /^http_response_size_bytes_sum\{method="GET",route="\/users\/:id",status_code="200"\} 12$/m,
      );
    } finally {
      await server.stop();
    }
  });
}
