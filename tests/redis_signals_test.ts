/**
 * SIGINT and SIGTERM end a process that writes to Redis within a second,
 * after a last flush, on Deno (`deno run`, `deno serve`) and Bun, with no
 * code of the application's; an application listening for the signal
 * itself keeps the exit in its hands.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freePort, needs, type Running, start, waitFor, which } from "./_process.ts";
import { type RedisServer, startRedis } from "./_redis.ts";

const APP = fileURLToPath(new URL("./fixtures/redis_signal_app.ts", import.meta.url));
const SERVED = fileURLToPath(new URL("./fixtures/redis_signal_serve.ts", import.meta.url));
const COUNT = 50;

/** How each runtime runs the app as a script. */
const SCRIPTS: Readonly<Record<string, string[]>> = {
  deno: ["run", "--allow-all", APP],
  bun: [APP],
};

/**
 * Waits for the process to end: the exit code it printed, and how long it
 * took after `since`.
 */
function exited(app: Running, since: () => number): Promise<{ code: number; ms: number }> {
  return new Promise((resolve) =>
    app.child.once("exit", () => {
      const printed = /exit code (\d+)/.exec(app.output());
      resolve({ code: printed ? Number(printed[1]) : -1, ms: performance.now() - since() });
    })
  );
}

describe("MultiProcessRedisBackend on SIGINT and SIGTERM", { skip: needs("redis-server") }, () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });

  const landed = async (prefix: string): Promise<number> => {
    const reply = await server.command("HGET", `${prefix}:{signal_jobs_total}`, "{}");
    const match = /^\$\d+\r\n([^\r]*)/.exec(reply);
    return match ? Number(match[1]) : 0;
  };

  for (const runtime of ["deno", "bun"]) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      for (const own of ["", "on", "once"] as const) {
        const what = own === ""
          ? "the process exits"
          : own === "on"
          ? "an app listening (process.on, after loadBackend) exits as it chooses"
          : "an app listening (process.once, before loadBackend) exits as it chooses";
        test(`${runtime} on ${signal}: every increment lands in Redis and ${what}`, async (t) => {
          const path = which(runtime);
          if (path === undefined) return t.skip(`${runtime} not installed`);
          const prefix = `sig_${runtime}_${signal}_${own}`;
          const app = start(path, SCRIPTS[runtime]!, {
            REDIS_PORT: String(server.port),
            REDIS_PREFIX: prefix,
            COUNT: String(COUNT),
            OWN_LISTENER: own,
          });
          let sent = 0;
          const end = exited(app, () => sent);
          try {
            await waitFor(`${runtime} app ready`, () => app.output().includes("ready"), 20_000);
            assert.equal(await landed(prefix), 0, "nothing is flushed before the signal");
            sent = performance.now();
            app.child.kill(signal);
            const { code, ms } = await end;
            // The app's own shutdown takes 1.1 s: the backend must not exit before it.
            assert.ok(ms < (own ? 3000 : 1000), `exited ${ms.toFixed(0)} ms after ${signal}`);
            assert.equal(code, own ? 7 : signal === "SIGINT" ? 130 : 143, app.output());
            if (own) assert.match(app.output(), /app exits/);
            assert.equal(await landed(prefix), COUNT);
          } finally {
            if (app.child.exitCode === null) app.child.kill("SIGKILL");
          }
        });
      }
    }
  }

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`deno serve on ${signal}: every request's increment lands in Redis, exit within a second`, async (t) => {
      const path = which("deno");
      if (path === undefined) return t.skip("deno not installed");
      const prefix = `sig_serve_${signal}`;
      const port = await freePort();
      const app = start(path, ["serve", "--allow-all", "--port", String(port), SERVED], {
        REDIS_PORT: String(server.port),
        REDIS_PREFIX: prefix,
      });
      let sent = 0;
      const end = exited(app, () => sent);
      try {
        const base = `http://127.0.0.1:${port}/`;
        await waitFor("deno serve answering", async () => {
          try {
            return (await fetch(base)).ok;
          } catch {
            return false;
          }
        }, 20_000);
        for (let i = 1; i < COUNT; i++) await (await fetch(base)).text();
        sent = performance.now();
        app.child.kill(signal);
        const { ms } = await end;
        assert.ok(ms < 1000, `exited ${ms.toFixed(0)} ms after ${signal}`);
        assert.equal(await landed(prefix), COUNT);
      } finally {
        if (app.child.exitCode === null) app.child.kill("SIGKILL");
      }
    });
  }
});
