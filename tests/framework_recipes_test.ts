/**
 * The README's recipes for Oak and Elysia, run as written: each code block
 * becomes the app.ts of a project of its own (a package.json, the
 * repository's node_modules, `@pytheus/pytheus` pointing at this checkout),
 * served by the runtime running the tests (`deno serve`, or `bun app.ts`);
 * `/users/1` and `/users/2` must make one series labelled with the pattern,
 * which `/metrics` serves.
 */

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Projects, readmeBlock, serveApp } from "./_recipes.ts";
import { RUNTIME } from "./_serve.ts";

const projects = new Projects();
after(() => projects.remove());

const RECIPES: [framework: string, marker: string][] = [
  ["Oak", 'from "@oakserver/oak"'],
  ["Elysia", 'from "elysia"'],
];

for (const [framework, marker] of RECIPES) {
  test(`The README's ${framework} recipe, served by ${RUNTIME}, labels /users/1 and /users/2 with route="/users/:id"`, async () => {
    const app = projects.project(framework, readmeBlock(marker));
    const { base, server } = await serveApp(app, {}, async (base) => {
      const response = await fetch(`${base}/users/1`);
      return (await response.text()) === "user 1";
    });
    try {
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
