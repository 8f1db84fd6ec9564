import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  CollectorRegistry,
  Counter,
  CustomCollector,
  Gauge,
  makeHandler,
  type MetricCollector,
  PROMETHEUS_CONTENT_TYPE,
  REGISTRY,
  setLogger,
} from "../mod.ts";
import { serve, type Served } from "./_serve.ts";

/** Fails on the first `failures` scrapes, then yields a gauge. */
class FlakyCollector extends CustomCollector {
  failures = 0;
  collect(): MetricCollector[] {
    if (this.failures > 0) {
      this.failures--;
      throw new Error("database unreachable");
    }
    const g = new Gauge({ name: "flaky_value", description: "Flaky.", registry: null });
    g.set(1);
    return [g];
  }
}

/** Its async generator rejects on the first `failures` scrapes. */
class FlakyAsyncCollector extends CustomCollector {
  failures = 0;
  async *collect(): AsyncGenerator<MetricCollector> {
    await Promise.resolve();
    if (this.failures > 0) {
      this.failures--;
      throw new TypeError("remote said no");
    }
    const g = new Gauge({ name: "flaky_async", description: "Flaky async.", registry: null });
    g.set(2);
    yield g;
  }
}

const registry = new CollectorRegistry();
const hits = new Counter({
  name: "hits_total",
  description: "Hits.",
  requiredLabels: ["path"],
  registry,
});
hits.labels({ path: "/" }).inc(3);
const EXPECTED = '# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total{path="/"} 3\n';

describe("makeHandler() served for real", () => {
  let server: Served;

  before(() => {
    server = serve(makeHandler({ registry }));
  });

  after(async () => {
    await server.close();
  });

  test("makeHandler() answers GET with 200, the 0.0.4 content type and the exact exposition", async () => {
    const response = await fetch(`${server.url}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(await response.text(), EXPECTED);
  });

  test("makeHandler() answers on any path, and reads fresh values at each scrape", async () => {
    const first = await (await fetch(`${server.url}/`)).text();
    hits.labels({ path: "/other" }).inc();
    const second = await (await fetch(`${server.url}/any/path?x=1`)).text();
    try {
      assert.equal(first, EXPECTED);
      assert.equal(second, EXPECTED + 'hits_total{path="/other"} 1\n');
    } finally {
      hits.remove({ path: "/other" });
    }
  });

  test("makeHandler() answers HEAD with 200, the content type and no body", async () => {
    const response = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(await response.text(), "");
  });

  test("makeHandler() answers POST, PUT and DELETE with 405 and an Allow header", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = await fetch(`${server.url}/metrics`, { method, body: "x" });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
      assert.equal(await response.text(), "Method Not Allowed: use GET\n");
    }
  });

  test("makeHandler() answers /favicon.ico with an empty response", async () => {
    const response = await fetch(`${server.url}/favicon.ico`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "");
  });
});

describe("makeHandler() when a collector throws", () => {
  test("makeHandler() answers 500 with a short message, logs the error, and serves the next scrape", async () => {
    const flakyRegistry = new CollectorRegistry();
    new Gauge({ name: "steady", description: "Steady.", registry: flakyRegistry }).set(5);
    const flaky = new FlakyCollector();
    assert.equal(flakyRegistry.register(flaky), true);
    const errors: unknown[][] = [];
    const previous = setLogger({
      warn: (...args) => errors.push(["warn", ...args]),
      error: (...args) => errors.push(args),
    });
    const server = serve(makeHandler({ registry: flakyRegistry }));
    try {
      flaky.failures = 1;
      const failed = await fetch(`${server.url}/metrics`);
      assert.equal(failed.status, 500);
      const body = await failed.text();
      assert.equal(body, "Internal Server Error: collecting metrics failed (see the server log)\n");
      assert.ok(!body.includes("database unreachable"), "no internals leak to the scraper");
      assert.equal(errors.length, 1);
      assert.equal(errors[0]![0], "pytheus: collecting metrics failed");
      assert.ok(errors[0]![1] instanceof Error);
      assert.equal((errors[0]![1] as Error).message, "database unreachable");

      const next = await fetch(`${server.url}/metrics`);
      assert.equal(next.status, 200);
      assert.equal(
        await next.text(),
        "# HELP steady Steady.\n# TYPE steady gauge\nsteady 5\n" +
          "# HELP flaky_value Flaky.\n# TYPE flaky_value gauge\nflaky_value 1\n",
      );
      assert.equal(errors.length, 1);
    } finally {
      await server.close();
      setLogger(previous);
    }
  });

  test("makeHandler() answers 500 when an async collector rejects, then recovers", async () => {
    const flakyRegistry = new CollectorRegistry();
    const flaky = new FlakyAsyncCollector();
    flakyRegistry.register(flaky);
    const errors: unknown[] = [];
    const previous = setLogger({ warn: () => {}, error: (_message, error) => errors.push(error) });
    const handler = makeHandler({ registry: flakyRegistry });
    const server = serve(handler);
    try {
      flaky.failures = 2;
      assert.equal((await fetch(server.url)).status, 500);
      assert.equal((await handler(new Request("http://x/metrics"))).status, 500);
      assert.equal(errors.length, 2);
      assert.ok(errors.every((e) => e instanceof TypeError));
      const ok = await fetch(server.url);
      assert.equal(ok.status, 200);
      assert.equal(
        await ok.text(),
        "# HELP flaky_async Flaky async.\n# TYPE flaky_async gauge\nflaky_async 2\n",
      );
    } finally {
      await server.close();
      setLogger(previous);
    }
  });
});

describe("makeHandler() called directly", () => {
  test("makeHandler() works in the export default { fetch } shape", async () => {
    const app: { fetch: (request: Request) => Promise<Response> } = {
      fetch: makeHandler({ registry }),
    };
    const response = await app.fetch(new Request("http://localhost:9090/metrics"));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(await response.text(), EXPECTED);
    const post = await app.fetch(new Request("http://localhost/metrics", { method: "POST" }));
    assert.equal(post.status, 405);
    const favicon = await app.fetch(new Request("http://localhost/favicon.ico"));
    assert.equal(favicon.body, null);
  });

  test("makeHandler() ignores a second info argument, as Deno.serve passes one", async () => {
    const handler = makeHandler({ registry });
    const response = await handler(new Request("http://localhost/"), { remoteAddr: "x" });
    assert.equal(await response.text(), EXPECTED);
  });

  test("makeHandler() without options serves REGISTRY's current target", async () => {
    const previous = REGISTRY.registry;
    const handler = makeHandler();
    const target = new CollectorRegistry();
    REGISTRY.setRegistry(target);
    try {
      new Gauge({ name: "via_default", description: "Default." }).set(4);
      const response = await handler(new Request("http://localhost/metrics"));
      assert.equal(
        await response.text(),
        "# HELP via_default Default.\n# TYPE via_default gauge\nvia_default 4\n",
      );
    } finally {
      REGISTRY.setRegistry(previous);
    }
  });
});
