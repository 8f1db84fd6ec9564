import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CollectorRegistry, generateMetrics, instrumentHandler } from "../mod.ts";
import { freePort, start, waitFor, which } from "./_process.ts";
import { serve, type Served } from "./_serve.ts";

/** What both servers answer when the handler throws (and is rethrown). */
function failed(): Response {
  return new Response("failed", { status: 500 });
}

/** The value of the sample whose `name{labels}` is exactly `series`, or undefined. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function labels(method: string, route: string, status: string): string {
  return `{method="${method}",route="${route}",status_code="${status}"}`;
}

/** Waits until `series` has the value `count`, returning the whole exposition. */
async function untilCount(registry: CollectorRegistry, series: string, count: number) {
  let text = "";
  await waitFor(`${series} == ${count}`, async () => {
    text = await generateMetrics(registry);
    return valueOf(text, series) === count;
  });
  return text;
}

const encoder = new TextEncoder();

describe("instrumentHandler()", () => {
  const registry = new CollectorRegistry();
  let server: Served;
  const handler = instrumentHandler(async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path === "/echo") return new Response(await request.text());
    if (path === "/fixed") return new Response("x".repeat(1234), { status: 201 });
    if (path === "/empty") return new Response(null, { status: 204 });
    if (path === "/stream") {
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (sent === 5) return controller.close();
            await new Promise((r) => setTimeout(r, 20));
            controller.enqueue(new Uint8Array(1000 + sent++));
          },
        }),
      );
    }
    if (path === "/endless") {
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((r) => setTimeout(r, 5));
            controller.enqueue(new Uint8Array(100));
          },
        }),
      );
    }
    if (path === "/users/42") return new Response("user");
    throw new Error("no route");
  }, {
    registry,
    route: (request) => new URL(request.url).pathname.replace(/\/\d+$/, "/:id"),
  });

  before(() => {
    server = serve(handler, { onError: failed });
  });
  after(async () => {
    await server.close();
  });

  test("instrumentHandler() records fixed request and response sizes exactly", async () => {
    const response = await fetch(`${server.url}/echo`, { method: "POST", body: "hello world" });
    assert.equal(await response.text(), "hello world");
    const fixed = await fetch(`${server.url}/fixed`);
    assert.equal((await fixed.text()).length, 1234);
    const echo = labels("POST", "/echo", "200");
    let text = await untilCount(registry, `http_response_size_bytes_count${echo}`, 1);
    assert.equal(valueOf(text, `http_request_size_bytes_sum${echo}`), 11);
    assert.equal(valueOf(text, `http_request_size_bytes_count${echo}`), 1);
    assert.equal(valueOf(text, `http_response_size_bytes_sum${echo}`), 11);
    assert.equal(valueOf(text, `http_request_duration_seconds_count${echo}`), 1);
    const got = labels("GET", "/fixed", "201");
    text = await untilCount(registry, `http_response_size_bytes_count${got}`, 1);
    assert.equal(valueOf(text, `http_response_size_bytes_sum${got}`), 1234);
    assert.equal(valueOf(text, `http_request_size_bytes_sum${got}`), 0);
    const le = (bound: string) =>
      `http_response_size_bytes_bucket{${got.slice(1, -1)},le="${bound}"}`;
    assert.equal(valueOf(text, le("1000")), 0);
    assert.equal(valueOf(text, le("10000")), 1);
    assert.equal(valueOf(text, le("+Inf")), 1);
  });

  test("instrumentHandler() counts a streamed response of N chunks as it streams", async () => {
    const response = await fetch(`${server.url}/stream`);
    assert.equal((await response.arrayBuffer()).byteLength, 5010);
    const series = labels("GET", "/stream", "200");
    const text = await untilCount(registry, `http_response_size_bytes_count${series}`, 1);
    assert.equal(valueOf(text, `http_response_size_bytes_sum${series}`), 5010);
    // Five chunks 20 ms apart: the duration runs to the last byte, not to the handler's return.
    assert.ok(valueOf(text, `http_request_duration_seconds_sum${series}`)! >= 0.09);
  });

  test("instrumentHandler() counts a chunked request body as the handler reads it", async () => {
    const parts = ["abc", "defgh", "ij"];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const part = parts.shift();
        if (part === undefined) controller.close();
        else controller.enqueue(encoder.encode(part));
      },
    });
    const response = await fetch(`${server.url}/echo`, {
      method: "PUT",
      body,
      duplex: "half",
    } as RequestInit);
    assert.equal(await response.text(), "abcdefghij");
    const series = labels("PUT", "/echo", "200");
    const text = await untilCount(registry, `http_request_size_bytes_count${series}`, 1);
    assert.equal(valueOf(text, `http_request_size_bytes_sum${series}`), 10);
    assert.equal(valueOf(text, `http_response_size_bytes_sum${series}`), 10);
  });

  test("instrumentHandler() records a handler error as status 500 and rethrows it", async () => {
    const response = await fetch(`${server.url}/nowhere`);
    assert.equal(await response.text(), "failed");
    assert.equal(response.status, 500);
    const series = labels("GET", "/nowhere", "500");
    const text = await untilCount(registry, `http_request_duration_seconds_count${series}`, 1);
    assert.equal(valueOf(text, `http_response_size_bytes_sum${series}`), 0);
  });

  test("instrumentHandler() records bodiless responses and the route namer's label", async () => {
    await (await fetch(`${server.url}/empty`)).arrayBuffer();
    await (await fetch(`${server.url}/users/42`)).text();
    const text = await untilCount(
      registry,
      `http_response_size_bytes_count${labels("GET", "/users/:id", "200")}`,
      1,
    );
    assert.equal(
      valueOf(text, `http_response_size_bytes_sum${labels("GET", "/users/:id", "200")}`),
      4,
    );
    assert.equal(
      valueOf(text, `http_response_size_bytes_count${labels("GET", "/empty", "204")}`),
      1,
    );
    assert.equal(valueOf(text, `http_response_size_bytes_sum${labels("GET", "/empty", "204")}`), 0);
  });

  test("instrumentHandler() records a response the client cancels", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/endless`, { signal: controller.signal });
    const reader = response.body!.getReader();
    let received = 0;
    while (received < 1000) received += (await reader.read()).value!.byteLength;
    controller.abort();
    await reader.cancel().catch(() => {});
    const series = labels("GET", "/endless", "200");
    const text = await untilCount(registry, `http_response_size_bytes_count${series}`, 1);
    const sent = valueOf(text, `http_response_size_bytes_sum${series}`)!;
    assert.ok(sent >= received, `sent ${sent} bytes, received ${received}`);
  });
});

describe("instrumentHandler() setup", () => {
  test("instrumentHandler() twice on one registry shares the histograms", async () => {
    const registry = new CollectorRegistry();
    const a = instrumentHandler(() => new Response("a"), { registry });
    const b = instrumentHandler(() => new Response("bb"), { registry });
    await (await a(new Request("http://localhost/x"))).text();
    await (await b(new Request("http://localhost/x"))).text();
    const text = await generateMetrics(registry);
    const series = labels("GET", "/x", "200");
    assert.equal(valueOf(text, `http_response_size_bytes_count${series}`), 2);
    assert.equal(valueOf(text, `http_response_size_bytes_sum${series}`), 3);
    assert.equal(text.match(/^# TYPE http_request_duration_seconds histogram$/gm)?.length, 1);
  });

  test("instrumentHandler() passes the extra arguments and this through", async () => {
    const registry = new CollectorRegistry();
    const server = { name: "srv" };
    const handler = instrumentHandler(function (
      this: unknown,
      _request: Request,
      info: { remote: string },
    ) {
      return new Response(`${(this as { name: string }).name} ${info.remote}`);
    }, { registry });
    const response = await handler.call(server, new Request("http://localhost/"), {
      remote: "1.2.3.4",
    });
    assert.equal(await response.text(), "srv 1.2.3.4");
  });
});

describe("instrumentHandler() under `deno serve` and Bun's default export", () => {
  const fixture = fileURLToPath(new URL("./fixtures/serve_instrumented.ts", import.meta.url));
  const runtimes: [string, (port: number) => string[]][] = [
    ["deno", (port) => ["serve", "--allow-all", "--port", String(port), fixture]],
    ["bun", () => [fixture]],
  ];
  for (const [program, args] of runtimes) {
    test(`instrumentHandler() measures export default { fetch } run by ${program}`, async (t) => {
      const path = which(program);
      if (path === undefined) return t.skip(`${program} not installed`);
      const port = await freePort();
      const running = start(path, args(port), { PORT: String(port) });
      try {
        const base = `http://127.0.0.1:${port}`;
        await waitFor(`${program} serving ${base}`, async () => (await fetch(base + "/hi")).ok);
        let text = "";
        await waitFor("the /hi request recorded", async () => {
          text = await (await fetch(base + "/metrics")).text();
          return valueOf(text, `http_response_size_bytes_sum${labels("GET", "/hi", "200")}`) !==
            undefined;
        });
        const series = labels("GET", "/hi", "200");
        assert.ok(valueOf(text, `http_response_size_bytes_count${series}`)! >= 1);
        assert.equal(
          valueOf(text, `http_response_size_bytes_sum${series}`),
          5 * valueOf(text, `http_response_size_bytes_count${series}`)!,
        );
      } finally {
        await running.stop();
      }
    });
  }
});
