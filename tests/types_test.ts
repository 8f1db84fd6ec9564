import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { needs, run } from "./_process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(ROOT, "tests", "fixtures");
const skip = needs("deno");
// Each test runs `deno check` once or twice: seconds on a loaded machine, past Bun's 5 s default.
const CHECK = { timeout: 60_000 };

/** `deno check` with the project's compiler options; NO_COLOR keeps the output plain. */
function denoCheck(file: string): Promise<{ code: number | null; output: string }> {
  return run("deno", ["check", "--config", join(ROOT, "deno.json"), file], {
    env: { NO_COLOR: "1" },
  }).then(({ code, stdout, stderr }) => ({ code, output: stdout + stderr }));
}

/**
 * Checks a fixture as committed (its @ts-expect-error directive must be used:
 * the error is there), then a copy without the directive, which must fail
 * with a TypeScript error whose output matches every pattern.
 */
async function expectTypeError(name: string, patterns: RegExp[]): Promise<void> {
  const fixture = join(FIXTURES, name);
  const asIs = await denoCheck(fixture);
  assert.equal(asIs.code, 0, asIs.output);
  const source = await readFile(fixture, "utf8");
  const stripped = source
    .replace(/^\/\/ @ts-expect-error.*\n/m, "")
    .replace('"../../mod.ts"', JSON.stringify(new URL("../mod.ts", import.meta.url).href));
  assert.notEqual(stripped, source);
  const dir = await mkdtemp(join(tmpdir(), "pytheus-types-"));
  try {
    const copy = join(dir, name);
    await writeFile(copy, stripped);
    const { code, output } = await denoCheck(copy);
    assert.notEqual(code, 0, output);
    assert.match(output, /TS\d+/);
    for (const pattern of patterns) assert.match(output, pattern);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("typed label names (deno check)", { skip }, () => {
  test(
    "Counter labels() with requiredLabels as const compiles with the right keys",
    CHECK,
    async () => {
      const { code, output } = await denoCheck(join(FIXTURES, "label_keys_ok.ts"));
      assert.equal(code, 0, output);
    },
  );

  test("Counter labels() with a misspelt key (methd) is a compile-time error", CHECK, async () => {
    await expectTypeError("wrong_label_key.ts", [
      /methd/,
      /requests\.labels\(\{ methd: "GET" \}\)/,
    ]);
  });

  test("labels() on a metric without labels accepts no key at compile time", CHECK, async () => {
    await expectTypeError("label_on_unlabelled.ts", [/jobs\.labels\(\{ queue: "mail" \}\)/]);
  });
});
