/**
 * The `exemplar` option of `instrumentHandler()` and of the Hono middleware
 * (`prometheus()`), on Deno and Bun: what the function gives is the exemplar
 * of the request's observations; what it throws or gives wrong is dropped,
 * counted and logged once; and the README's recipe with `@opentelemetry/api`
 * gives the active span's ids only for a valid, sampled span context, here
 * with OpenTelemetry's AsyncLocalStorage context manager (Deno's built-in
 * OpenTelemetry is tested in `otel_exemplars_test.ts`).
 */

import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { after, before, describe, test } from "node:test";
import {
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  type SpanContext,
  trace,
  TraceFlags,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { Hono } from "hono";
import {
  CollectorRegistry,
  type Exemplar,
  generateMetrics,
  instrumentHandler,
  loadBackend,
  SingleProcessBackend,
} from "../mod.ts";
import { prometheus } from "../src/hono.ts";
import { logged } from "./_serve.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const HISTOGRAMS = [
  "http_request_duration_seconds",
  "http_request_size_bytes",
  "http_response_size_bytes",
] as const;

/** One bucket each, so that every observation lands where the test expects it. */
const BUCKETS = { durationBuckets: [1000], sizeBuckets: [100] } as const;

/**
 * The exemplars of an OpenMetrics exposition, one line each: the bucket's
 * name and labels, then the exemplar's labels and value (a duration as `D`,
 * once checked to be in (0, the histogram's sum]); the timestamp is checked
 * to be recent and left out.
 */
async function exemplars(registry: CollectorRegistry, from: number): Promise<string[]> {
  const text = await generateMetrics(registry, { format: "openmetrics", created: false });
  const to = Date.now() / 1000;
  return text.split("\n").filter((line) => line.includes(" # {")).map((line) => {
    const [, series, labels, value, timestamp] = line.match(
      /^(\S+) \d+ # (\{[^}]*\}) (\S+) (\S+)$/,
    )!;
    assert.ok(Number(timestamp) >= from && Number(timestamp) <= to, line);
    if (!series!.startsWith("http_request_duration_seconds_")) {
      return `${series} ${labels} ${value}`;
    }
    const sum = series!.replace(/_bucket\{(.*),le="[^"]*"\}$/, "_sum{$1} ");
    const total = Number(text.split("\n").find((l) => l.startsWith(sum))?.slice(sum.length));
    assert.ok(Number(value) > 0 && Number(value) <= total, `${line}: a duration, sum ${total}`);
    return `${series} ${labels} D`;
  });
}

/** The lines of `pytheus_exemplars_dropped_total` in the text format. */
async function dropped(registry: CollectorRegistry): Promise<string[]> {
  return (await generateMetrics(registry)).split("\n").filter((line) =>
    line.startsWith("pytheus_exemplars_dropped_total{")
  );
}

/** The three dropped counts, each `n`. */
function droppedEach(n: number): string[] {
  return HISTOGRAMS.map((name) => `pytheus_exemplars_dropped_total{metric="${name}"} ${n}`);
}

/** The three histograms' exemplar lines for one request of the labels given. */
function exemplarsOf(
  labels: string,
  exemplar: string,
  requestBytes: number,
  responseBytes: number,
) {
  return [
    `http_request_duration_seconds_bucket{${labels},le="1000.0"} ${exemplar} D`,
    `http_request_size_bytes_bucket{${labels},le="100.0"} ${exemplar} ${requestBytes}`,
    `http_response_size_bytes_bucket{${labels},le="100.0"} ${exemplar} ${responseBytes}`,
  ];
}

const GET_200 = 'method="GET",route="(unmatched)",status_code="200"';

describe("instrumentHandler() exemplar option", () => {
  test("instrumentHandler() exemplar: what it returns is the exemplar of the request's three observations", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const handler = instrumentHandler(() => new Response("hi"), {
      registry,
      ...BUCKETS,
      exemplar: (request) => ({ trace_id: request.headers.get("x-trace")!, span_id: "s1" }),
    });
    await (await handler(new Request("http://localhost/", { headers: { "x-trace": "t1" } })))
      .text();
    assert.deepEqual(
      await exemplars(registry, from),
      exemplarsOf(GET_200, '{trace_id="t1",span_id="s1"}', 0, 2),
    );
    // The next request's exemplar replaces it, bucket by bucket.
    await (await handler(new Request("http://localhost/", { headers: { "x-trace": "t2" } })))
      .text();
    assert.deepEqual(
      await exemplars(registry, from),
      exemplarsOf(GET_200, '{trace_id="t2",span_id="s1"}', 0, 2),
    );
    assert.deepEqual(await dropped(registry), []);
    // The text format shows no exemplars.
    assert.doesNotMatch(await generateMetrics(registry), /trace_id/);
  });

  test("instrumentHandler() exemplar: called once per request, after the handler, with the request the server passed", async () => {
    const registry = new CollectorRegistry();
    const calls: string[] = [];
    const handler = instrumentHandler(async (request: Request) => {
      calls.push(`handler ${await request.text()}`);
      return new Response("ok");
    }, {
      registry,
      exemplar: (request) => {
        calls.push(`exemplar ${request === sent}`);
        return undefined;
      },
    });
    // A chunked upload: the handler reads a counting copy, exemplar() gets the original.
    const sent = new Request("http://localhost/", {
      method: "POST",
      body: new Blob(["up"]).stream(),
      duplex: "half",
    } as RequestInit);
    const response = await handler(sent);
    assert.deepEqual(calls, ["handler up", "exemplar true"]);
    await response.text();
    assert.deepEqual(calls, ["handler up", "exemplar true"]);
  });

  test("instrumentHandler() exemplar: called in the async context the handler was called in, whenever the body ends", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const storage = new AsyncLocalStorage<string>();
    let release: () => void = () => {};
    const handler = instrumentHandler(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      // A body that ends later, outside the request's context.
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          release = () => {
            controller.enqueue(new TextEncoder().encode("late"));
            controller.close();
          };
        },
      });
      return new Response(body);
    }, {
      registry,
      ...BUCKETS,
      exemplar: () => {
        const id = storage.getStore();
        return id === undefined ? undefined : { trace_id: id };
      },
    });
    // As a server with a tracer runs each request: in a context of its own.
    const response = await storage.run("ctx-1", () => handler(new Request("http://localhost/")));
    const text = response.text();
    setTimeout(() => release(), 5);
    assert.equal(await text, "late");
    assert.deepEqual(
      await exemplars(registry, from),
      exemplarsOf(GET_200, '{trace_id="ctx-1"}', 0, 4),
    );
  });

  test("instrumentHandler() exemplar: a handler that throws is recorded as 500 with the exemplar", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    let calls = 0;
    const handler = instrumentHandler(() => {
      throw new Error("boom");
    }, {
      registry,
      ...BUCKETS,
      exemplar: () => (calls++, { trace_id: "failed" }),
    });
    await assert.rejects(handler(new Request("http://localhost/")), /boom/);
    assert.equal(calls, 1);
    assert.deepEqual(
      await exemplars(registry, from),
      exemplarsOf(
        'method="GET",route="(unmatched)",status_code="500"',
        '{trace_id="failed"}',
        0,
        0,
      ),
    );
  });

  test("instrumentHandler() exemplar: undefined or null is no exemplar, nothing counted", async () => {
    const registry = new CollectorRegistry();
    const results: (Exemplar | null | undefined)[] = [undefined, null, { trace_id: "kept" }, null];
    const from = Date.now() / 1000;
    const handler = instrumentHandler(() => new Response("hi"), {
      registry,
      ...BUCKETS,
      exemplar: () => results.shift(),
    });
    const messages = await logged(async () => {
      for (let i = 0; i < 4; i++) await (await handler(new Request("http://localhost/"))).text();
    });
    assert.deepEqual(messages, []);
    // The third request's exemplar stays: a request without one replaces nothing.
    assert.deepEqual(
      await exemplars(registry, from),
      exemplarsOf(GET_200, '{trace_id="kept"}', 0, 2),
    );
    assert.deepEqual(await dropped(registry), []);
  });

  test("instrumentHandler() exemplar: a function that throws costs no observation, counted for each histogram, logged once", async () => {
    const registry = new CollectorRegistry();
    const handler = instrumentHandler(() => new Response("hi"), {
      registry,
      exemplar: () => {
        throw new Error("no tracer");
      },
    });
    const messages = await logged(async () => {
      for (let i = 0; i < 3; i++) {
        const response = await handler(new Request("http://localhost/"));
        assert.equal(await response.text(), "hi");
      }
    });
    assert.deepEqual(messages, [
      "pytheus: instrumentHandler()'s exemplar() threw: such requests are recorded without an " +
      "exemplar, counted in pytheus_exemplars_dropped_total (logged once)",
    ]);
    const text = await generateMetrics(registry);
    assert.ok(text.includes(`\nhttp_request_duration_seconds_count{${GET_200}} 3\n`));
    assert.deepEqual(await dropped(registry), droppedEach(3));
    assert.deepEqual(await exemplars(registry, 0), []);
  });

  test("instrumentHandler() exemplar: an exemplar that breaks the rules is dropped, counted, logged once", async () => {
    const bad: [unknown, string][] = [
      ["abc", 'expected a record of label values, got string "abc"'],
      [{ "trace-id": "x" }, 'invalid label name "trace-id"'],
      [{ trace_id: 42 }, 'label "trace_id" must be a string, got number 42'],
      [{ trace_id: "x".repeat(121) }, "its label names and values have more than 128 characters"],
      [{ trace_id: "\ud800" }, 'label "trace_id" holds a lone surrogate'],
    ];
    for (const [given, problem] of bad) {
      const registry = new CollectorRegistry();
      const from = Date.now() / 1000;
      const results = [given, given, { trace_id: "good" }];
      const handler = instrumentHandler(() => new Response("hi"), {
        registry,
        ...BUCKETS,
        exemplar: () => results.shift() as Exemplar,
      });
      const messages = await logged(async () => {
        for (let i = 0; i < 3; i++) await (await handler(new Request("http://localhost/"))).text();
      });
      assert.equal(messages.length, 1, `${problem}: ${messages}`);
      assert.ok(
        messages[0]!.startsWith(
          `pytheus: instrumentHandler()'s exemplar() returned a bad exemplar: ${problem}`,
        ),
        messages[0],
      );
      assert.deepEqual(await dropped(registry), droppedEach(2));
      // Every request recorded; the good exemplar after the bad ones kept.
      assert.ok(
        (await generateMetrics(registry)).includes(
          `\nhttp_request_duration_seconds_count{${GET_200}} 3\n`,
        ),
      );
      assert.deepEqual(
        await exemplars(registry, from),
        exemplarsOf(GET_200, '{trace_id="good"}', 0, 2),
      );
    }
  });

  test("instrumentHandler() exemplar: copied when given, as every exemplar is", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const given: Record<string, string> = { trace_id: "before" };
    const handler = instrumentHandler(() => new Response("hi"), {
      registry,
      ...BUCKETS,
      exemplar: () => given,
    });
    const response = await handler(new Request("http://localhost/"));
    given.trace_id = "after"; // changed before the body ends and the observations are made
    await response.text();
    assert.deepEqual(
      await exemplars(registry, from),
      exemplarsOf(GET_200, '{trace_id="before"}', 0, 2),
    );
  });

  test("instrumentHandler() without exemplar shows none and counts none", async () => {
    for (const options of [{}, { exemplar: null }, { exemplar: undefined }]) {
      const registry = new CollectorRegistry();
      const handler = instrumentHandler(() => new Response("hi"), { registry, ...options } as {
        registry: CollectorRegistry;
      });
      await (await handler(new Request("http://localhost/"))).text();
      assert.deepEqual(await exemplars(registry, 0), []);
      assert.deepEqual(await dropped(registry), []);
    }
  });

  test("instrumentHandler() and prometheus() refuse an exemplar that is not a function", () => {
    const registry = new CollectorRegistry();
    const ok = () => new Response("ok");
    assert.throws(() => instrumentHandler(ok, { registry, exemplar: { trace_id: "x" } as never }), {
      name: "InvalidOptionError",
      message: "instrumentHandler(): exemplar must be a function (request) => exemplar | " +
        'undefined, got an object {"trace_id":"x"}',
    });
    assert.throws(() => prometheus({ registry, exemplar: "trace" as never }), {
      name: "InvalidOptionError",
      message: "prometheus(): exemplar must be a function (request) => exemplar | " +
        'undefined, got string "trace"',
    });
    assert.throws(() => instrumentHandler(ok, { registry, exemplars: () => undefined } as never), {
      name: "InvalidOptionError",
      message: 'instrumentHandler() has no option "exemplars": use "exemplar"',
    });
    assert.throws(() => prometheus({ registry, exemplars: () => undefined } as never), {
      name: "InvalidOptionError",
      message: 'prometheus() has no option "exemplars": use "exemplar"',
    });
  });
});

describe("prometheus() (Hono) exemplar option", () => {
  test("prometheus() exemplar: what it returns is the exemplar of the request's three observations", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const seen: Request[] = [];
    const app = new Hono();
    app.use(prometheus({
      registry,
      ...BUCKETS,
      exemplar: (request) => {
        seen.push(request);
        return { trace_id: request.headers.get("x-trace") ?? "none" };
      },
    }));
    app.get("/users/:id", (c) => c.text(`user ${c.req.param("id")}`));
    app.get("/fail", () => {
      throw new Error("boom");
    });
    app.onError((_error, c) => c.text("failed", 500));
    const sent = new Request("http://localhost/users/7", { headers: { "x-trace": "t7" } });
    assert.equal(await (await app.fetch(sent)).text(), "user 7");
    assert.deepEqual(seen, [sent]);
    const failed = await app.request("/fail", { headers: { "x-trace": "t500" } });
    assert.equal(failed.status, 500);
    await failed.text();
    assert.equal(seen.length, 2);
    const user = exemplarsOf(
      'method="GET",route="/users/:id",status_code="200"',
      '{trace_id="t7"}',
      0,
      6,
    );
    const fail = exemplarsOf(
      'method="GET",route="/fail",status_code="500"',
      '{trace_id="t500"}',
      0,
      6,
    );
    assert.deepEqual(await exemplars(registry, from), [0, 1, 2].flatMap((i) => [user[i], fail[i]]));
  });

  test("prometheus() exemplar: a function that throws or gives a bad exemplar costs no observation, counted, logged once", async () => {
    const registry = new CollectorRegistry();
    const results: (() => unknown)[] = [
      () => {
        throw new Error("no tracer");
      },
      () => ({ trace_id: 1 }),
    ];
    const app = new Hono();
    app.use(prometheus({ registry, exemplar: () => results.shift()!() as Exemplar }));
    app.get("/", (c) => c.text("hi"));
    const messages = await logged(async () => {
      for (let i = 0; i < 2; i++) assert.equal(await (await app.request("/")).text(), "hi");
    });
    assert.deepEqual(messages, [
      "pytheus: prometheus()'s exemplar() threw: such requests are recorded without an " +
      "exemplar, counted in pytheus_exemplars_dropped_total (logged once)",
    ]);
    assert.deepEqual(await dropped(registry), droppedEach(2));
    assert.match(
      await generateMetrics(registry),
      /\nhttp_request_duration_seconds_count\{method="GET",route="\/",status_code="200"\} 2\n/,
    );
    assert.deepEqual(await exemplars(registry, 0), []);
  });
});

/** The README's recipe: the active span's ids, for a valid, sampled span context only. */
function traceExemplar() {
  const span = trace.getActiveSpan()?.spanContext();
  return span && isSpanContextValid(span) && span.traceFlags & TraceFlags.SAMPLED
    ? { trace_id: span.traceId, span_id: span.spanId }
    : undefined;
}

describe("The README's @opentelemetry/api recipe, with OpenTelemetry's AsyncLocalStorage context manager", () => {
  const manager = new AsyncLocalStorageContextManager();
  before(() => {
    assert.ok(context.setGlobalContextManager(manager.enable()), "no other context manager");
  });
  after(() => context.disable());

  /** Calls `handler` as a traced server would: with `span` the active span. */
  async function inSpan(span: SpanContext | undefined, handler: (r: Request) => Promise<Response>) {
    const active = span === undefined
      ? context.active()
      : trace.setSpanContext(context.active(), span);
    const response = await context.with(active, () => handler(new Request("http://localhost/")));
    await response.text();
  }

  const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  const SPAN = "00f067aa0ba902b7";

  test("a sampled, valid span context gives { trace_id, span_id }; unsampled, invalid (zero ids) or none give no exemplar and count nothing", async () => {
    const registry = new CollectorRegistry();
    const from = Date.now() / 1000;
    const handler = instrumentHandler(() => new Response("hi"), {
      registry,
      ...BUCKETS,
      exemplar: traceExemplar,
    });
    await inSpan({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED }, handler);
    const expected = exemplarsOf(GET_200, `{trace_id="${TRACE}",span_id="${SPAN}"}`, 0, 2);
    assert.deepEqual(await exemplars(registry, from), expected);
    const none: (SpanContext | undefined)[] = [
      { traceId: "a".repeat(32), spanId: "b".repeat(16), traceFlags: TraceFlags.NONE },
      { ...INVALID_SPAN_CONTEXT, traceFlags: TraceFlags.SAMPLED }, // all-zero ids
      { traceId: TRACE, spanId: "0".repeat(16), traceFlags: TraceFlags.SAMPLED },
      { traceId: "not hex", spanId: SPAN, traceFlags: TraceFlags.SAMPLED },
      undefined, // no active span
    ];
    for (const span of none) await inSpan(span, handler);
    // Six requests recorded, the first one's exemplar kept, nothing dropped.
    assert.ok(
      (await generateMetrics(registry)).includes(
        `\nhttp_request_duration_seconds_count{${GET_200}} 6\n`,
      ),
    );
    assert.deepEqual(await exemplars(registry, from), expected);
    assert.deepEqual(await dropped(registry), []);
  });
});
