/**
 * The Hono middleware (`@pytheus/pytheus/hono`) with the real `hono` package
 * (a dev dependency only: the module imports nothing of it), on Deno and Bun.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Hono } from "hono";
import { stream } from "hono/streaming";
import { CollectorRegistry, generateMetrics, makeHandler } from "../mod.ts";
import { prometheus } from "../src/hono.ts";

/** The `http_request_duration_seconds_count` lines of a registry's exposition. */
async function counts(registry: CollectorRegistry): Promise<string[]> {
  return (await generateMetrics(registry))
    .split("\n")
    .filter((line) => line.startsWith("http_request_duration_seconds_count"))
    .sort();
}

/** A line of the exposition, by its start. */
async function line(registry: CollectorRegistry, start: string): Promise<string | undefined> {
  return (await generateMetrics(registry)).split("\n").find((l) => l.startsWith(start));
}

describe("prometheus() from @pytheus/pytheus/hono", () => {
  test("a route with parameters is one series for 1000 ids, labelled with its pattern", async () => {
    const registry = new CollectorRegistry();
    const app = new Hono();
    app.use(prometheus({ registry }));
    app.get("/users/:id", (c) => c.text(`user ${c.req.param("id")}`));
    for (let i = 0; i < 1000; i++) {
      const response = await app.request(`/users/${i}`);
      assert.equal(await response.text(), `user ${i}`);
    }
    assert.deepEqual(await counts(registry), [
      'http_request_duration_seconds_count{method="GET",route="/users/:id",status_code="200"} 1000',
    ]);
  });

  test('a request no route matched is one series: route="(unmatched)", 404', async () => {
    const registry = new CollectorRegistry();
    const app = new Hono();
    app.use(prometheus({ registry }));
    app.get("/", (c) => c.text("home"));
    // Recorded once the body is sent: read to its end.
    for (let i = 0; i < 50; i++) {
      const response = await app.request(`/nowhere/${i}`);
      assert.equal(response.status, 404);
      await response.text();
    }
    // A method outside HTTP's (PROPFIND: Bun's Request turns some it does not know into GET).
    await (await app.request("/", { method: "PROPFIND" })).text();
    assert.deepEqual(await counts(registry), [
      'http_request_duration_seconds_count{method="GET",route="(unmatched)",status_code="404"} 50',
      'http_request_duration_seconds_count{method="_OTHER",route="(unmatched)",status_code="404"} 1',
    ]);
  });

  test("a handler that throws is recorded with the status Hono answers: 500", async () => {
    const registry = new CollectorRegistry();
    const app = new Hono();
    app.use(prometheus({ registry }));
    app.get("/boom", () => {
      throw new Error("boom");
    });
    const response = await app.request("/boom");
    assert.equal(response.status, 500);
    await response.text();
    assert.deepEqual(await counts(registry), [
      'http_request_duration_seconds_count{method="GET",route="/boom",status_code="500"} 1',
    ]);
  });

  test("a streaming response is measured to its last byte, its size exact", async () => {
    const registry = new CollectorRegistry();
    const app = new Hono();
    app.use(prometheus({ registry }));
    app.get("/stream", (c) =>
      stream(c, async (s) => {
        for (let i = 0; i < 3; i++) {
          await s.write("x".repeat(1000));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }));
    const response = await app.request("/stream");
    // Nothing is recorded before the body is read to its end.
    assert.deepEqual(await counts(registry), []);
    assert.equal((await response.text()).length, 3000);
    const labels = '{method="GET",route="/stream",status_code="200"}';
    assert.equal(
      await line(registry, `http_response_size_bytes_sum${labels}`),
      `http_response_size_bytes_sum${labels} 3000`,
    );
    const seconds = Number(
      (await line(registry, `http_request_duration_seconds_sum${labels}`))?.split(" ")[1],
    );
    // Three writes 20 ms apart: the duration runs to the last byte (timers may fire a hair early).
    assert.ok(seconds >= 0.055, `duration ${seconds} s`);
  });

  test("request sizes: Content-Length, or the bytes read of a chunked upload; one line serves /metrics", async () => {
    const registry = new CollectorRegistry();
    const app = new Hono();
    const metrics = makeHandler({ registry });
    app.use(prometheus({ registry }));
    app.get("/metrics", (c) => metrics(c.req.raw));
    app.post("/echo", async (c) => c.text(await c.req.text()));
    await (await app.request("/echo", { method: "POST", body: "hello" })).text();
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("abc"));
        controller.enqueue(new TextEncoder().encode("defg"));
        controller.close();
      },
    });
    const echoed = await app.request("/echo", {
      method: "POST",
      body: chunked,
      duplex: "half",
    } as RequestInit);
    assert.equal(await echoed.text(), "abcdefg");
    const labels = '{method="POST",route="/echo",status_code="200"}';
    assert.equal(
      await line(registry, `http_request_size_bytes_sum${labels}`),
      `http_request_size_bytes_sum${labels} 12`,
    );
    const scrape = await app.request("/metrics");
    assert.equal(scrape.status, 200);
    assert.match(
      await scrape.text(),
      /^http_request_size_bytes_count\{method="POST",route="\/echo",status_code="200"\} 2$/m,
    );
  });

  test("prometheus() refuses an unknown option with InvalidOptionError", () => {
    assert.throws(
      () => prometheus({ registery: new CollectorRegistry() } as never),
      { name: "InvalidOptionError" },
    );
  });
});
