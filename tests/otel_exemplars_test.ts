/**
 * The README's exemplar recipes (`instrumentHandler` and Hono's
 * `prometheus()` with `@opentelemetry/api`), run as written under Deno's
 * built-in OpenTelemetry: `OTEL_DENO=true deno serve app.ts`, its spans
 * exported as OTLP/JSON to a receiver this test runs on loopback (so that
 * nothing leaves the machine and the exported server span can be compared
 * with the exemplar). A request carrying a `traceparent` must yield an
 * exemplar of that trace and of Deno's server span, in OpenMetrics output and
 * in a real Prometheus with exemplar storage. Bun has no built-in
 * OpenTelemetry: there the recipe must give no exemplar at all.
 */

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { needs, waitFor } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { Projects, readmeBlock, serveApp, type ServedApp } from "./_recipes.ts";
import { IS_BUN, RUNTIME, serve, type Served } from "./_serve.ts";

const RECIPES = [
  ["instrumentHandler", readmeBlock("deno add npm:@opentelemetry/api")],
  ["hono", readmeBlock("app.use(prometheus({")],
] as const;

const projects = new Projects();
after(() => projects.remove());

const OPENMETRICS = "application/openmetrics-text; version=1.0.0";

/** An exemplar as OpenMetrics shows it after a bucket. */
interface Shown {
  /** The histogram, as `http_request_duration_seconds`. */
  readonly histogram: string;
  /** The bucket's bound, as `100.0`. */
  readonly le: string;
  readonly labels: Record<string, string>;
}

/** The exemplars of the `/users/:id` series in an app's OpenMetrics output. */
async function exemplarsOf(base: string): Promise<Shown[]> {
  const response = await fetch(`${base}/metrics`, { headers: { accept: OPENMETRICS } });
  const text = await response.text();
  assert.match(response.headers.get("content-type") ?? "", /^application\/openmetrics-text/);
  assert.doesNotMatch(text, /pytheus_exemplars_dropped/, "no exemplar dropped");
  return text.split("\n").filter((line) =>
    line.includes('route="/users/:id"') && line.includes(" # ")
  )
    .map((line) => {
      const [, histogram, le, labels] = line.match(
        /^(\w+)_bucket\{.*,le="([^"]+)"\} \d+ # \{(.*)\} \S+ \S+$/,
      )!;
      return {
        histogram: histogram!,
        le: le!,
        labels: Object.fromEntries(
          [...labels!.matchAll(/(\w+)="([^"]*)"/g)].map(([, name, value]) => [name!, value!]),
        ),
      };
    });
}

/** The exemplars of the two size histograms: every request here lands in their bucket le="100". */
function sizes(shown: readonly Shown[]): Shown[] {
  const found = shown.filter((s) => s.histogram !== "http_request_duration_seconds");
  assert.deepEqual(found.map((s) => [s.histogram, s.le]), [
    ["http_request_size_bytes", "100.0"],
    ["http_response_size_bytes", "100.0"],
  ]);
  return found;
}

/** A random id of `bytes` bytes in lowercase hex, as W3C trace context writes it. */
function randomId(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Whether an app answers `/metrics`. */
async function ready(base: string): Promise<boolean> {
  const response = await fetch(`${base}/metrics`);
  await response.body?.cancel();
  return response.ok;
}

/** GETs `/users/<id>` with `traceparent`, reading the answer. */
async function visit(base: string, id: number, traceparent: string): Promise<void> {
  const response = await fetch(`${base}/users/${id}`, { headers: { traceparent } });
  assert.equal(await response.text(), `user ${id}`);
}

const HISTOGRAMS = [
  "http_request_duration_seconds",
  "http_request_size_bytes",
  "http_response_size_bytes",
];

// Without OpenTelemetry the recipe runs on every runtime: it gives no exemplar and drops none.
test(`The README's exemplar recipes served by ${RUNTIME} without OpenTelemetry give no exemplar`, async () => {
  for (const [name, code] of RECIPES) {
    const app = projects.project(`plain-${name}`, code);
    // OpenTelemetry off, whatever the environment says.
    const { base, server } = await serveApp(app, { OTEL_DENO: "" }, ready);
    try {
      await visit(base, 1, `00-${randomId(16)}-${randomId(8)}-01`);
      const response = await fetch(`${base}/metrics`, { headers: { accept: OPENMETRICS } });
      const text = await response.text();
      assert.match(
        text,
        /\nhttp_request_duration_seconds_count\{[^}]*route="\/users\/:id"[^}]*\} 1\n/,
      );
      assert.doesNotMatch(text, / # \{/, `${name}: no exemplar`);
      assert.doesNotMatch(text, /pytheus_exemplars_dropped/, `${name}: no drop`);
    } finally {
      await server.stop();
    }
  }
});

/** The spans a Deno process exported, as OTLP/JSON writes them. */
interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly kind: number;
  readonly name: string;
}
const SERVER = 2; // OTLP's SPAN_KIND_SERVER

const DENO_OTEL = "Exemplars from Deno's built-in OpenTelemetry (OTEL_DENO=true)";

// Bun cannot do it at all: a skip named in the runner's output (Bun lists no skipped describe).
if (IS_BUN) {
  test(`${DENO_OTEL}: SKIPPED, Bun has no built-in OpenTelemetry`, { skip: true }, () => {});
}

describe(
  DENO_OTEL,
  { skip: IS_BUN },
  () => {
    const skipPrometheus = IS_BUN || needs("prometheus");
    const spans: ExportedSpan[] = [];
    /**
     * Each recipe under a sampler: Deno's default samples every request (a
     * `traceparent` whose caller did not sample included); OpenTelemetry SDKs'
     * default, `parentbased_always_on`, follows the caller.
     */
    const SAMPLERS: Readonly<Record<string, string | undefined>> = {
      instrumentHandler: undefined,
      hono: "parentbased_always_on",
    };
    const apps = new Map<string, ServedApp>();
    let receiver: Served | undefined;
    let prometheus: Prometheus | undefined;
    // Started by the first test, not in `before`: Bun gives hooks 5 s whatever their options say.
    let started: Promise<void> | undefined;
    const setup = (): Promise<void> =>
      started ??= (async () => {
        // The OTLP receiver: every export answered, the spans kept.
        receiver = serve(async (request) => {
          const body = await request.text();
          if (new URL(request.url).pathname === "/v1/traces") {
            const { resourceSpans } = JSON.parse(body) as {
              resourceSpans: { scopeSpans: { spans: ExportedSpan[] }[] }[];
            };
            for (const resource of resourceSpans) {
              for (const scope of resource.scopeSpans) spans.push(...scope.spans);
            }
          }
          return Response.json({});
        });
        for (const [name, code] of RECIPES) {
          const app = projects.project(`otel-${name}`, code);
          apps.set(
            name,
            await serveApp(app, {
              OTEL_DENO: "true",
              OTEL_SERVICE_NAME: `pytheus-${name}`,
              OTEL_DENO_CONSOLE: "ignore",
              OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
              // Each signal's endpoint too, so that none inherited from the environment applies.
              OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
              OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
              OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/v1/metrics`,
              OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${receiver.url}/v1/logs`,
              OTEL_BSP_SCHEDULE_DELAY: "100",
              OTEL_TRACES_SAMPLER: SAMPLERS[name] ?? "",
            }, ready),
          );
        }
        if (skipPrometheus === false) {
          prometheus = await startPrometheus(
            [...apps].map(([job, { base }]) => ({ job, target: base.slice("http://".length) })),
            { features: ["exemplar-storage"] },
          );
        }
      })();

    after(async () => {
      for (const { server } of apps.values()) await server.stop();
      await prometheus?.stop();
      await receiver?.close();
    });

    /** The server span Deno exported with these ids, once it has. */
    async function exported(traceId: string, spanId: string): Promise<ExportedSpan> {
      let span: ExportedSpan | undefined;
      await waitFor(`Deno to export span ${spanId} of trace ${traceId}`, () => {
        span = spans.find((s) => s.traceId === traceId && s.spanId === spanId);
        return span !== undefined;
      }, 20_000);
      return span!;
    }

    /** A test of both apps, one after the other. */
    const eachApp = (title: string, fn: (name: string, base: string) => Promise<void>) =>
      test(title, { timeout: 90_000 }, async () => {
        await setup();
        for (const [name, { base }] of apps) await fn(name, base);
      });

    /** The sampled trace each app's first request carried, and the server span of it. */
    const first = new Map<string, { trace_id: string; span_id: string }>();

    eachApp(
      "a request with a sampled traceparent: its three observations' exemplar is that trace and Deno's server span",
      async (name, base) => {
        const traceId = randomId(16);
        const parent = randomId(8);
        await visit(base, 1, `00-${traceId}-${parent}-01`);
        const shown = await exemplarsOf(base);
        assert.deepEqual(shown.map((s) => s.histogram), HISTOGRAMS, name);
        const exemplar = shown[0]!.labels;
        for (const { labels } of shown) assert.deepEqual(labels, exemplar, name);
        assert.deepEqual(Object.keys(exemplar), ["trace_id", "span_id"]);
        assert.equal(exemplar.trace_id, traceId, name);
        assert.match(exemplar.span_id!, /^[0-9a-f]{16}$/);
        assert.notEqual(exemplar.span_id, parent, "the server span is a child of the caller's");
        const span = await exported(traceId, exemplar.span_id!);
        assert.deepEqual(
          [span.kind, span.parentSpanId, span.name],
          [SERVER, parent, "GET"],
          name,
        );
        first.set(name, { trace_id: traceId, span_id: exemplar.span_id! });
      },
    );

    test(
      "a real Prometheus with exemplar storage returns that exemplar from /api/v1/query_exemplars",
      {
        skip: skipPrometheus,
        timeout: 90_000,
      },
      async () => {
        await setup();
        const { url } = prometheus!;
        type Answer = { seriesLabels: Record<string, string>; exemplars: { labels: object }[] }[];
        const promql = 'http_request_duration_seconds_bucket{route="/users/:id"}';
        let answer: Answer = [];
        const stored = (job: string) =>
          answer.filter((series) => series.seriesLabels.job === job)
            .flatMap((series) => series.exemplars.map((e) => e.labels));
        await waitFor("both apps' exemplars in Prometheus", async () => {
          const now = Date.now() / 1000;
          const response = await fetch(
            `${url}/api/v1/query_exemplars?query=${encodeURIComponent(promql)}&start=${
              now - 600
            }&end=${now + 60}`,
          );
          answer = (await response.json() as { data: Answer }).data;
          return [...apps.keys()].every((job) => stored(job).length > 0);
        }, 30_000).catch((error: Error) => {
          throw new Error(`${error.message}; last answer: ${JSON.stringify(answer)}`);
        });
        for (const job of apps.keys()) assert.deepEqual(stored(job), [first.get(job)], job);
      },
    );

    eachApp(
      "a traceparent whose caller did not sample: an exemplar exactly when Deno samples the request",
      async (name, base) => {
        const before = await exemplarsOf(base);
        const traceId = randomId(16);
        await visit(base, 2, `00-${traceId}-${randomId(8)}-00`);
        const after = await exemplarsOf(base);
        if (SAMPLERS[name] === undefined) {
          // Deno's default samples it: the exemplar is that trace, and its server span exported.
          const { labels } = sizes(after)[0]!;
          assert.equal(labels.trace_id, traceId, name);
          const span = await exported(traceId, labels.span_id!);
          assert.equal(span.kind, SERVER, name);
        } else {
          // Not sampled: no exemplar (what it landed in keeps the one before), no span exported.
          assert.ok(
            !JSON.stringify(after).includes(traceId),
            `${name}: ${JSON.stringify(after)}`,
          );
          assert.deepEqual(sizes(after), sizes(before), name);
          assert.deepEqual(sizes(after)[0]!.labels, first.get(name), name);
          await visit(base, 4, `00-${randomId(16)}-${randomId(8)}-01`);
          const next = sizes(await exemplarsOf(base))[0]!.labels;
          await exported(next.trace_id!, next.span_id!); // exported after the unsampled one would be
          assert.equal(spans.filter((span) => span.traceId === traceId).length, 0, name);
        }
      },
    );

    eachApp(
      "a traceparent with an all-zero trace id is invalid: Deno starts a trace, whose ids the exemplar carries",
      async (name, base) => {
        await visit(base, 3, `00-${"0".repeat(32)}-${randomId(8)}-01`);
        const [request, response] = sizes(await exemplarsOf(base));
        const { trace_id, span_id } = response!.labels;
        assert.deepEqual(request!.labels, { trace_id, span_id }, name);
        assert.match(trace_id!, /^[0-9a-f]{32}$/);
        assert.notEqual(trace_id, "0".repeat(32));
        assert.notEqual(trace_id, first.get(name)?.trace_id);
        const span = await exported(trace_id!, span_id!);
        assert.deepEqual(
          [span.kind, span.parentSpanId ?? ""],
          [SERVER, ""],
          `${name}: a root span`,
        );
      },
    );
  },
);
