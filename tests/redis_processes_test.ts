import assert from "node:assert/strict";
import { Agent, request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { generateMetrics, loadBackend, SingleProcessBackend } from "../mod.ts";
import { MultiProcessRedisBackend } from "../src/backends/redis.ts";
import { freePort, needs, run, type Running, start, waitFor } from "./_process.ts";
import { script } from "./_serve.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import { assertWorkerTotals, workerRegistry } from "./_redis_workers.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURES = join(ROOT, "tests", "fixtures");

interface Answer {
  status: number;
  instance: string;
  body: string;
}

/** One GET; `agent` false opens a new connection (so the kernel may pick another process). */
function get(port: number, path: string, agent: Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => body += chunk);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          instance: String(res.headers["x-instance"]),
          body,
        }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** `count` requests over the paths of redis_app.ts, `concurrency` at a time. */
async function load(port: number, count: number, concurrency = 16): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const paths = ["/a", "/b", "/c", "/d"];
  let next = 0;
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const answer = await get(port, paths[next++ % paths.length]!, agent);
        assert.equal(answer.status, 200);
      }
    }));
  } finally {
    agent.destroy();
  }
}

/** The exposition redis_app.ts gives after `count` requests spread evenly over its four paths. */
function appTotals(count: number): string {
  const each = count / 4;
  return "# HELP app_requests_total Requests served.\n# TYPE app_requests_total counter\n" +
    ["/a", "/b", "/c", "/d"].map((p) => `app_requests_total{path="${p}"} ${each}\n`).sort().join(
      "",
    ) +
    "# HELP app_size Sizes.\n# TYPE app_size histogram\n" +
    `app_size_bucket{le="0.5"} ${2 * each}\napp_size_bucket{le="1"} ${3 * each}\n` +
    `app_size_bucket{le="+Inf"} ${count}\napp_size_sum ${each * 3.75}\napp_size_count ${count}\n`;
}

/** The app's families from a scrape, series sorted (workers add them in any order). */
function appPart(body: string): string {
  const lines = body.split("\n").filter((l) => l.startsWith("app_") || l.startsWith("# "));
  const requests = lines.filter((l) => l.startsWith("app_requests_total{")).sort();
  const rest = lines.filter((l) => !l.startsWith("app_requests_total{") && !l.includes("pytheus_"));
  return [...rest.slice(0, 2), ...requests, ...rest.slice(2)].join("\n") + "\n";
}

/** Scrapes on new connections until one is exact, then checks that `times` more all are. */
async function assertEveryScrape(port: number, count: number, times: number): Promise<Set<string>> {
  const expected = appTotals(count);
  let last = "";
  await waitFor(`exact totals on port ${port} (last scrape:\n${last})`, async () => {
    last = appPart((await get(port, "/metrics", false)).body);
    return last === expected;
  }, 20_000);
  const instances = new Set<string>();
  for (let i = 0; i < times; i++) {
    const answer = await get(port, "/metrics", false);
    assert.equal(answer.status, 200);
    assert.equal(appPart(answer.body), expected, `scrape ${i} by ${answer.instance}`);
    instances.add(answer.instance);
  }
  return instances;
}

/** Stops a server (SIGTERM: it closes its Redis connection and exits); SIGKILL after 10 s. */
async function stop(app: Running): Promise<void> {
  const timer = setTimeout(() => app.child.kill("SIGKILL"), 10_000);
  try {
    await app.stop();
  } finally {
    clearTimeout(timer);
  }
}

describe("MultiProcessRedisBackend across processes", { skip: needs("redis-server") }, () => {
  let server: RedisServer;

  before(async () => {
    server = await startRedis();
  });

  after(async () => {
    await server?.stop();
  });

  test("MultiProcessRedisBackend: 4 processes × 2500 ops give exact totals to a fifth process", async () => {
    const workers = 4;
    const ops = 2500;
    const prefix = "mp";
    const results = await Promise.all(Array.from({ length: workers }, (_, i) => {
      const [command, args] = script(join(FIXTURES, "redis_worker.ts"));
      return run(command, args, {
        env: {
          REDIS_PORT: String(server.port),
          REDIS_PREFIX: prefix,
          WORKER: `w${i}`,
          OPS: String(ops),
        },
      });
    }));
    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "done\n", result.stderr);
    }
    await loadBackend({
      backendClass: MultiProcessRedisBackend,
      backendConfig: { port: server.port, keyPrefix: prefix },
    });
    try {
      assertWorkerTotals(await generateMetrics(workerRegistry()), workers, ops);
    } finally {
      await MultiProcessRedisBackend.close();
      await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    }
  });

  test(
    "MultiProcessRedisBackend under deno serve --parallel: every worker's scrape gives the exact totals",
    { skip: needs("deno") },
    async () => {
      const port = await freePort();
      const app: Running = start(
        "deno",
        [
          "serve",
          "--parallel",
          "--allow-all",
          "--config",
          join(ROOT, "deno.json"),
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
          join(FIXTURES, "redis_app.ts"),
        ],
        { DENO_JOBS: "4", REDIS_PORT: String(server.port), REDIS_PREFIX: "ds" },
      );
      try {
        // Every worker must be up: new connections until four instances answered.
        const seen = new Set<string>();
        await waitFor(
          `4 deno serve workers on port ${port}`,
          async () => seen.add((await get(port, "/metrics", false)).instance).size >= 4,
          30_000,
        ).catch((error) => {
          throw new Error(`${error.message}\n${app.output()}`);
        });
        await load(port, 4000);
        const instances = await assertEveryScrape(port, 4000, 12);
        assert.ok(instances.size >= 2, `only ${instances.size} worker(s) answered scrapes`);
      } finally {
        await stop(app);
      }
    },
  );

  test(
    "MultiProcessRedisBackend under several Bun.serve processes sharing a port: exact totals",
    { skip: needs("bun") },
    async () => {
      const port = await freePort();
      const processes = 3;
      const apps = Array.from(
        { length: processes },
        () =>
          start("bun", ["run", join(FIXTURES, "redis_bun_serve.ts")], {
            PORT: String(port),
            REDIS_PORT: String(server.port),
            REDIS_PREFIX: "bun",
          }),
      );
      try {
        await waitFor(
          `${processes} Bun.serve processes on port ${port}`,
          () => apps.every((app) => app.output().includes("listening")),
          30_000,
        ).catch((error) => {
          throw new Error(`${error.message}\n${apps.map((a) => a.output()).join("\n")}`);
        });
        await load(port, 3000);
        const instances = await assertEveryScrape(port, 3000, 12);
        assert.ok(instances.size >= 2, `only ${instances.size} process(es) answered scrapes`);
      } finally {
        await Promise.all(apps.map(stop));
      }
    },
  );
});
