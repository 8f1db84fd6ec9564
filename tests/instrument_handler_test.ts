import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  instrumentHandler,
  InvalidOptionError,
  NameValidationError,
  type Registry,
} from "../mod.ts";
import { httpMetrics } from "../http.ts";
import { freePort, start, waitFor, which } from "./_process.ts";
import { heapAfterGc } from "./_heap.ts";
import { IS_BUN, logged, serve, type Served } from "./_serve.ts";

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

/**
 * A request with `method` exactly as given, as a server may pass it on:
 * `new Request` uppercases get/head/post/put/delete/options, refuses
 * CONNECT and TRACE on Deno, and turns a method it does not know into GET
 * on Bun; the property is then set on the request.
 */
function withMethod(url: string, method: string): Request {
  let request: Request;
  try {
    request = new Request(url, { method });
  } catch {
    request = new Request(url);
  }
  if (request.method !== method) Object.defineProperty(request, "method", { value: method });
  return request;
}

/** Calls `handler` with `request` and reads the whole response body. */
async function call(
  handler: (request: Request) => Promise<Response>,
  request: Request,
): Promise<Response> {
  const response = await handler(request);
  await response.arrayBuffer();
  return response;
}

/** The distinct label sets of a histogram in an exposition (its `_count` lines). */
function seriesOf(text: string, histogram: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${histogram}_count{`)).map((l) =>
    l.slice(histogram.length + "_count".length, l.lastIndexOf(" "))
  );
}

/**
 * Sends a raw HTTP/1.1 request (any method, optionally a chunked body) and
 * returns the status line and body, or "" when the server closes without
 * answering (Bun refuses methods it does not know).
 */
function rawRequest(port: number, method: string, chunk?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      const body = chunk === undefined
        ? "Content-Length: 0\r\n\r\n"
        : `Transfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
      socket.write(`${method} /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${body}`);
    });
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (part: string) => data += part);
    socket.on("close", () => resolve(data.split("\r\n")[0]!));
    socket.on("error", () => {});
  });
}

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

  test("instrumentHandler() labels methods a server passes on as they are sent", async () => {
    // Both servers pass PROPFIND and QUERY on: neither is one of the nine methods.
    assert.equal(await rawRequest(server.port, "PROPFIND"), "HTTP/1.1 200 OK");
    assert.equal(await rawRequest(server.port, "QUERY", "abc"), "HTTP/1.1 200 OK");
    // `new Request` refuses TRACE on Deno: a chunked TRACE is passed on uncopied, still served.
    assert.equal(await rawRequest(server.port, "TRACE", "abc"), "HTTP/1.1 200 OK");
    if (!IS_BUN) {
      // Deno.serve passes a lowercase `get` on as sent (Bun's server refuses it). Methods
      // are case-sensitive: it is not GET. (`new Request` would make it a GET, which
      // cannot have the body: served uncopied too.)
      assert.equal(await rawRequest(server.port, "get", "abc"), "HTTP/1.1 200 OK");
    }
    const other = `http_request_duration_seconds_count${labels("_OTHER", "/echo", "200")}`;
    const text = await untilCount(registry, other, IS_BUN ? 2 : 3);
    const trace = `http_request_duration_seconds_count${labels("TRACE", "/echo", "200")}`;
    assert.equal(valueOf(text, trace), 1);
    assert.doesNotMatch(text, /method="(PROPFIND|QUERY|get)"/);
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
    const a = instrumentHandler(() => new Response("a"), { registry, routes: ["/x"] });
    const b = instrumentHandler(() => new Response("bb"), { registry, routes: ["/y", "/x"] });
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
        for (const id of ["1", "2", "3"]) await (await fetch(`${base}/users/${id}`)).text();
        let text = "";
        // The fixture routes /users/:id only: /hi is "(unmatched)".
        const series = labels("GET", "(unmatched)", "200");
        await waitFor("the /hi request recorded", async () => {
          text = await (await fetch(base + "/metrics")).text();
          return valueOf(text, `http_response_size_bytes_sum${series}`) !== undefined;
        });
        assert.equal(
          valueOf(text, `http_response_size_bytes_count${labels("GET", "/users/:id", "200")}`),
          3,
        );
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

const ok = () => new Response("ok");
const HISTOGRAMS = [
  "http_request_duration_seconds",
  "http_request_size_bytes",
  "http_response_size_bytes",
];

describe("instrumentHandler() is bounded by default", () => {
  test("instrumentHandler() keeps 100k random paths and 500 methods to 3 series, heap flat", async () => {
    const registry = new CollectorRegistry();
    const handler = instrumentHandler(ok, { registry });
    // 500 distinct methods, valid tokens, none of the nine: a client inventing them.
    const invented = Array.from({ length: 500 }, (_, i) => `X-${i.toString(36).toUpperCase()}`);
    const random = () => Math.random().toString(36).slice(2);
    let base = 0;
    for (let i = 0; i < 100_000; i++) {
      const method = i % 3 === 0 ? "GET" : i % 3 === 1 ? "POST" : invented[i % 500]!;
      const request = withMethod(`http://localhost/${random()}/${random()}?q=${i}`, method);
      await call(handler, request);
      if (i === 999) base = heapAfterGc();
    }
    const text = await generateMetrics(registry);
    for (const name of HISTOGRAMS) {
      // method GET, POST or _OTHER, route "(unmatched)", status 200: three label sets.
      assert.deepEqual(seriesOf(text, name).sort(), [
        labels("GET", "(unmatched)", "200"),
        labels("POST", "(unmatched)", "200"),
        labels("_OTHER", "(unmatched)", "200"),
      ]);
    }
    assert.equal(
      valueOf(text, `http_request_duration_seconds_count${labels("_OTHER", "(unmatched)", "200")}`),
      33_333,
    );
    const grown = heapAfterGc() - base;
    assert.ok(grown < 4_000_000, `heap grew ${grown} bytes over 99k requests`);
  });

  test("instrumentHandler() labels the nine methods as they are and any other _OTHER", async () => {
    const registry = new CollectorRegistry();
    const handler = instrumentHandler(ok, { registry });
    const nine = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    for (const method of [...nine, "PROPFIND", "BREW", "get", "Patch"]) {
      await call(handler, withMethod("http://localhost/", method));
    }
    const text = await generateMetrics(registry);
    const methods = seriesOf(text, "http_request_duration_seconds").map((s) =>
      s.match(/method="([^"]*)"/)![1]
    );
    assert.deepEqual(methods.sort(), [...nine, "_OTHER"].sort());
    assert.equal(
      valueOf(text, `http_request_duration_seconds_count${labels("_OTHER", "(unmatched)", "200")}`),
      4,
    );
  });

  test("instrumentHandler() sees fetch's normalized methods: new Request uppercases get, not patch", async () => {
    const registry = new CollectorRegistry();
    const handler = instrumentHandler(ok, { registry });
    // The fetch standard uppercases these six, case-insensitively; Deno keeps `patch` as
    // given (-> _OTHER), Bun uppercases it too (-> PATCH).
    for (const method of ["get", "head", "post", "put", "delete", "options"]) {
      const request = new Request("http://localhost/", { method });
      assert.equal(request.method, method.toUpperCase());
      await call(handler, request);
    }
    const patch = new Request("http://localhost/", { method: "patch" });
    await call(handler, patch);
    const text = await generateMetrics(registry);
    for (const method of ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]) {
      assert.equal(
        valueOf(text, `http_request_duration_seconds_count${labels(method, "(unmatched)", "200")}`),
        1,
      );
    }
    const expected = patch.method === "PATCH" ? "PATCH" : "_OTHER";
    assert.equal(
      valueOf(text, `http_request_duration_seconds_count${labels(expected, "(unmatched)", "200")}`),
      1,
    );
  });
});

describe("instrumentHandler() routes", () => {
  test("instrumentHandler() labels 1000 ids with their pattern: one series", async () => {
    const registry = new CollectorRegistry();
    const handler = instrumentHandler(ok, { registry, routes: ["/", "/users/:id"] });
    for (let id = 0; id < 1000; id++) {
      await call(handler, new Request(`http://localhost/users/${id}?tab=${id}#top`));
    }
    await call(handler, new Request("http://localhost/"));
    await call(handler, new Request("http://localhost/users/1/posts"));
    await call(handler, new Request("http://localhost/elsewhere"));
    const text = await generateMetrics(registry);
    assert.deepEqual(seriesOf(text, "http_request_duration_seconds").sort(), [
      labels("GET", "(unmatched)", "200"),
      labels("GET", "/", "200"),
      labels("GET", "/users/:id", "200"),
    ]);
    const count = (route: string) =>
      valueOf(text, `http_request_duration_seconds_count${labels("GET", route, "200")}`);
    assert.equal(count("/users/:id"), 1000);
    assert.equal(count("/"), 1);
    assert.equal(count("(unmatched)"), 2);
  });

  test("instrumentHandler() labels a request with the first pattern that matches", async () => {
    const registry = new CollectorRegistry();
    const specificFirst = instrumentHandler(ok, {
      registry,
      routes: ["/users/me", "/users/:id", "/files/*"],
    });
    const generalFirst = instrumentHandler(ok, { registry, routes: ["/users/:id", "/users/me"] });
    await call(specificFirst, new Request("http://localhost/users/me"));
    await call(specificFirst, new Request("http://localhost/users/7"));
    await call(specificFirst, new Request("http://localhost/files/a/b/c.txt"));
    await call(generalFirst, new Request("http://localhost/users/me"));
    const text = await generateMetrics(registry);
    const count = (route: string) =>
      valueOf(text, `http_request_duration_seconds_count${labels("GET", route, "200")}`);
    assert.equal(count("/users/me"), 1);
    assert.equal(count("/users/:id"), 2);
    assert.equal(count("/files/*"), 1);
  });

  test("instrumentHandler() refuses bad routes and both route options, registering nothing", () => {
    const registry = new CollectorRegistry();
    const refused = (options: object, ...words: string[]) => {
      assert.throws(() => instrumentHandler(ok, { registry, ...options }), (error: Error) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        for (const word of ["instrumentHandler", ...words]) {
          assert.ok(error.message.includes(word), `${JSON.stringify(word)} in: ${error.message}`);
        }
        return true;
      });
    };
    refused({ routes: ["/users/:id", "/users/("] }, '"/users/("');
    refused({ routes: ["/a/:"] }, '"/a/:"');
    refused({ routes: "/users/:id" }, "array");
    refused({ routes: ["/ok", 42] }, "42");
    refused({ routes: ["/x"], route: () => "/x" }, "routes", "route");
    refused({ route: "/x" }, "function");
    for (const name of HISTOGRAMS) assert.equal(registry.has(name), false);
  });

  test("instrumentHandler() labels (unmatched) when route() throws or returns no string, once logged", async () => {
    const registry = new CollectorRegistry();
    const throwing = instrumentHandler(() => new Response("served"), {
      registry,
      route: () => {
        throw new Error("route bug");
      },
    });
    const untyped = instrumentHandler(ok, {
      registry,
      route: ((request: Request) => request.headers.get("x-route")) as (r: Request) => string,
    });
    const messages = await logged(async () => {
      for (let i = 0; i < 3; i++) {
        const response = await throwing(new Request("http://localhost/a"));
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "served");
        await call(untyped, new Request("http://localhost/b"));
      }
      await call(untyped, new Request("http://localhost/c", { headers: { "x-route": "/c" } }));
    });
    assert.equal(messages.length, 2, messages.join("\n"));
    assert.match(messages[0]!, /route\(\) threw/);
    assert.match(messages[1]!, /route\(\) returned object/);
    const text = await generateMetrics(registry);
    assert.equal(
      valueOf(text, `http_request_duration_seconds_count${labels("GET", "(unmatched)", "200")}`),
      6,
    );
    assert.equal(
      valueOf(text, `http_request_duration_seconds_count${labels("GET", "/c", "200")}`),
      1,
    );
  });
});

describe("instrumentHandler() argument checks", () => {
  test("instrumentHandler() refuses a route pattern with a lone surrogate, naming it", () => {
    const registry = new CollectorRegistry();
    assert.throws(
      () => instrumentHandler(ok, { registry, routes: ["/ok", "/caf\uD800"] }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        assert.ok(
          error.message.startsWith(
            'instrumentHandler(): route pattern "/caf\\ud800" cannot be a label value',
          ),
          error.message,
        );
        assert.match(error.message, /lone surrogate/);
        return true;
      },
    );
    // A hole in routes is a route of its own, refused (map() would skip it, and every
    // request reaching it would be (unmatched) without a word).
    assert.throws(() => instrumentHandler(ok, { registry, routes: ["/a", , "/b"] as string[] }), {
      name: "InvalidOptionError",
      message: "instrumentHandler(): route pattern undefined is not a string",
    });
    for (const name of HISTOGRAMS) assert.equal(registry.has(name), false);
  });

  test("instrumentHandler() labels (unmatched) when route() returns a lone surrogate, logged once", async () => {
    const registry = new CollectorRegistry();
    const handler = instrumentHandler(ok, { registry, route: () => "/caf\uD800" });
    const messages = await logged(async () => {
      for (let i = 0; i < 3; i++) await call(handler, new Request("http://localhost/"));
    });
    assert.equal(messages.length, 1, messages.join("\n"));
    assert.match(
      messages[0]!,
      /route\(\) returned string "\/caf\\ud800", which holds a lone surrogate/,
    );
    const text = await generateMetrics(registry);
    assert.equal(
      valueOf(text, `http_request_duration_seconds_count${labels("GET", "(unmatched)", "200")}`),
      3,
    );
  });

  test("instrumentHandler() logs a failure to record once per handler, not per request", async () => {
    const registry = new CollectorRegistry();
    const metrics = httpMetrics({ registry });
    const broken = Object.assign(Object.create(metrics.duration), {
      labels: () => {
        throw new Error("backend down");
      },
    });
    Object.defineProperty(metrics, "duration", { value: broken });
    const first = instrumentHandler(ok, { registry });
    const second = instrumentHandler(ok, { registry });
    const messages = await logged(async () => {
      for (let i = 0; i < 3; i++) {
        const response = await first(new Request("http://localhost/"));
        assert.equal(await response.text(), "ok");
        await call(second, new Request("http://localhost/"));
      }
    });
    assert.deepEqual(messages, [
      "pytheus: recording HTTP metrics failed (logged once per instrumented handler)",
      "pytheus: recording HTTP metrics failed (logged once per instrumented handler)",
    ]);
  });

  test("instrumentHandler() refuses a symbol name with NameValidationError, not a TypeError", () => {
    const registry = new CollectorRegistry();
    for (const field of ["duration", "requestSize", "responseSize"]) {
      assert.throws(
        () => instrumentHandler(ok, { registry, names: { [field]: Symbol("n") } as never }),
        {
          name: "NameValidationError",
          message: `Invalid instrumentHandler() names.${field} symbol "n": must match ` +
            "[a-zA-Z_:][a-zA-Z0-9_:]*",
        },
      );
    }
    assert.throws(() => httpMetrics({ registry, names: { duration: 5 } as never }), {
      name: "NameValidationError",
    });
    for (const name of HISTOGRAMS) assert.equal(registry.has(name), false);
  });

  test("instrumentHandler() checks its handler and options object", () => {
    const registry = new CollectorRegistry();
    assert.throws(() => instrumentHandler(undefined as never), {
      name: "InvalidOptionError",
      message: "instrumentHandler() takes the fetch handler to measure, a function, got undefined",
    });
    assert.throws(() => instrumentHandler(ok, null as never), InvalidOptionError);
    assert.throws(() => instrumentHandler(ok, { registry, route: "/x", routez: [] } as never), {
      name: "InvalidOptionError",
      message: 'instrumentHandler() has no option "routez": it takes registry, names, ' +
        "durationBuckets, sizeBuckets, exemplar, routes, route",
    });
    assert.throws(() => httpMetrics({ registry, routes: [] } as never), {
      name: "InvalidOptionError",
      message:
        'httpMetrics() has no option "routes": it takes registry, names, durationBuckets, sizeBuckets',
    });
    assert.throws(() => instrumentHandler(ok, { registry: 5 as never }), {
      name: "InvalidOptionError",
    });
    assert.throws(() => instrumentHandler(ok, { registry: null as never }), InvalidOptionError);
    for (const name of HISTOGRAMS) assert.equal(registry.has(name), false);
  });
});

describe("instrumentHandler() names", () => {
  test("instrumentHandler() records under the names given", async () => {
    const registry = new CollectorRegistry();
    const handler = instrumentHandler(ok, {
      registry,
      names: { duration: "api_latency_seconds", responseSize: "api_response_bytes" },
    });
    await call(handler, new Request("http://localhost/"));
    const text = await generateMetrics(registry);
    const series = labels("GET", "(unmatched)", "200");
    assert.equal(valueOf(text, `api_latency_seconds_count${series}`), 1);
    assert.equal(valueOf(text, `api_response_bytes_sum${series}`), 2);
    assert.equal(valueOf(text, `http_request_size_bytes_count${series}`), 1);
    assert.equal(valueOf(text, `http_request_duration_seconds_count${series}`), undefined);
    assert.equal(valueOf(text, `http_response_size_bytes_count${series}`), undefined);
  });

  test("instrumentHandler() with the same names twice shares them, other names make another set", async () => {
    const registry = new CollectorRegistry();
    const names = {
      duration: "admin_duration_seconds",
      requestSize: "admin_request_bytes",
      responseSize: "admin_response_bytes",
    };
    const a = instrumentHandler(ok, { registry });
    const b = instrumentHandler(ok, { registry, names: { ...names } });
    const c = instrumentHandler(ok, { registry, names: { ...names } });
    assert.equal(httpMetrics({ registry, names }).duration.name, "admin_duration_seconds");
    assert.equal(httpMetrics({ registry, names }), httpMetrics({ registry, names: { ...names } }));
    assert.notEqual(httpMetrics({ registry }), httpMetrics({ registry, names }));
    for (const handler of [a, b, c]) await call(handler, new Request("http://localhost/"));
    const text = await generateMetrics(registry);
    const series = labels("GET", "(unmatched)", "200");
    assert.equal(valueOf(text, `http_request_duration_seconds_count${series}`), 1);
    assert.equal(valueOf(text, `admin_duration_seconds_count${series}`), 2);
    assert.equal(text.match(/^# TYPE admin_duration_seconds histogram$/gm)?.length, 1);
  });

  test("instrumentHandler() throws on a name the application registered, registering nothing", () => {
    const registry = new CollectorRegistry();
    new Histogram({ name: "http_request_duration_seconds", description: "Mine.", registry });
    const messages: string[] = [];
    for (
      const make of [() => instrumentHandler(ok, { registry }), () => httpMetrics({ registry })]
    ) {
      assert.throws(make, (error: Error) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        messages.push(error.message);
        return true;
      });
    }
    for (const message of messages) {
      assert.match(message, /instrumentHandler/);
      assert.match(message, /"http_request_duration_seconds"/);
      assert.match(message, /names: \{ duration: /);
    }
    assert.equal(registry.has("http_request_size_bytes"), false);
    assert.equal(registry.has("http_response_size_bytes"), false);
    // With another name, it works beside the application's histogram.
    instrumentHandler(ok, { registry, names: { duration: "app_http_request_duration_seconds" } });
    assert.equal(registry.has("app_http_request_duration_seconds_bucket"), true);
  });

  test("instrumentHandler() throws on a counter whose name is one of its sample names", () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "http_response_size_bytes_count", description: "Mine.", registry });
    assert.throws(
      () => instrumentHandler(ok, { registry }),
      (error: Error) =>
        error instanceof InvalidOptionError &&
        error.message.includes('"http_response_size_bytes_count"') &&
        error.message.includes("names: { responseSize: "),
    );
    assert.equal(registry.has("http_request_duration_seconds"), false);
    assert.equal(registry.has("http_request_size_bytes"), false);
  });

  test("instrumentHandler() refuses bad or overlapping names, registering nothing", () => {
    const registry = new CollectorRegistry();
    assert.throws(
      () => instrumentHandler(ok, { registry, names: { responseSize: "1 bad" } }),
      NameValidationError,
    );
    assert.throws(
      () => instrumentHandler(ok, { registry, names: { requestSize: "x", responseSize: "x" } }),
      InvalidOptionError,
    );
    assert.throws(
      () => instrumentHandler(ok, { registry, names: { duration: "x", requestSize: "x_sum" } }),
      InvalidOptionError,
    );
    assert.throws(
      () => instrumentHandler(ok, { registry, names: { latency: "x" } as never }),
      /names has no key "latency"/,
    );
    for (const name of [...HISTOGRAMS, "x"]) assert.equal(registry.has(name), false);
    // Nothing half-made is cached either: the defaults still work.
    instrumentHandler(ok, { registry });
    assert.equal(registry.has("http_response_size_bytes"), true);
  });

  test("instrumentHandler() on a registry without has() checks that registration succeeded", async () => {
    const inner = new CollectorRegistry();
    const registry: Registry = {
      prefix: undefined,
      register: (collector) => inner.register(collector),
      unregister: (collector) => inner.unregister(collector),
      collect: () => inner.collect(),
      reset: () => inner.reset(),
    };
    new Histogram({ name: "http_response_size_bytes", description: "Mine.", registry: inner });
    const messages = await logged(() => {
      assert.throws(
        () => instrumentHandler(ok, { registry }),
        (error: Error) =>
          error instanceof InvalidOptionError && error.message.includes("http_response_size_bytes"),
      );
    });
    assert.equal(messages.length, 1); // the registry's own warning
    assert.equal(inner.has("http_request_duration_seconds"), false);
    assert.equal(inner.has("http_request_size_bytes"), false);
    const handler = instrumentHandler(ok, { registry, names: { responseSize: "other_bytes" } });
    await call(handler, new Request("http://localhost/"));
    const text = await generateMetrics(registry);
    const series = labels("GET", "(unmatched)", "200");
    assert.equal(valueOf(text, `http_request_duration_seconds_count${series}`), 1);
    assert.equal(valueOf(text, `other_bytes_sum${series}`), 2);
  });
});
