/**
 * The README's code blocks, run as written: a block becomes the app.ts of a
 * project of its own (a package.json, the repository's node_modules, and
 * `@pytheus/pytheus` with its subpaths pointing at this checkout).
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort, type Running, start, waitFor } from "./_process.ts";
import { IS_BUN } from "./_serve.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The one TypeScript code block of the README that contains `marker`. */
export function readmeBlock(marker: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/^```ts[^\n]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const found = blocks.filter((block) => block.includes(marker));
  assert.equal(found.length, 1, `README.md has ${found.length} ts blocks with ${marker}`);
  return found[0]!;
}

/** The package's entry points (deno.json's exports), by specifier. */
const ENTRY_POINTS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(
    (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as {
      exports: Record<string, string>;
    }).exports,
  ).map(([subpath, file]) => [
    `@pytheus/pytheus${subpath.slice(1)}`,
    pathToFileURL(join(ROOT, file)).href,
  ]),
);

/** Projects made by one test file, in a temporary directory of its own. */
export class Projects {
  readonly #dir = mkdtempSync(join(tmpdir(), "pytheus-recipes-"));

  /**
   * Writes `code` as the app.ts of a project of its own, as a user would
   * have it (a package.json and node_modules), `@pytheus/pytheus` and its
   * subpaths being this checkout's files; returns the path of app.ts.
   */
  project(name: string, code: string): string {
    const dir = join(this.#dir, name);
    mkdirSync(dir);
    const app = code.replaceAll(
      /"(@pytheus\/pytheus(?:\/[a-z]+)?)"/g,
      (whole, specifier: string) => JSON.stringify(ENTRY_POINTS[specifier] ?? whole),
    );
    assert.notEqual(app, code, "the recipe imports @pytheus/pytheus");
    writeFileSync(join(dir, "app.ts"), app);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ private: true, type: "module" }));
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
    return join(dir, "app.ts");
  }

  /** Deletes every project. */
  remove(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** A recipe's app, served. */
export interface ServedApp {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly base: string;
  readonly server: Running;
}

/**
 * Serves `app` with the runtime running the tests (`deno serve`, or
 * `bun app.ts` and its default export), on a free port, with `env` added
 * to the environment; resolves once `ready(base)` is true.
 */
export async function serveApp(
  app: string,
  env: Record<string, string>,
  ready: (base: string) => Promise<boolean>,
): Promise<ServedApp> {
  const port = await freePort();
  const args = IS_BUN ? [app] : ["serve", "--allow-all", "--port", String(port), app];
  const server = start(process.execPath, args, { PORT: String(port), NO_COLOR: "1", ...env });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${app} on ${base}`, () => ready(base), 20_000);
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}; it printed: ${server.output()}`);
  }
  return { base, server };
}
