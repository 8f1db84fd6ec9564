/**
 * HTTP server metrics for any fetch handler (`Deno.serve`, `deno serve`,
 * `Bun.serve`): request duration to the last response byte, request and
 * response sizes, counted as bodies stream.
 *
 * @module
 */

import { DEFAULT_BUCKETS, Histogram } from "./histogram.ts";
import { getLogger } from "./logger.ts";
import { REGISTRY, type Registry, RegistryProxy } from "./registry.ts";

/** The labels of the three HTTP histograms. */
export type HttpLabel = "method" | "route" | "status_code";

/** Options of {@linkcode instrumentHandler}. */
export interface InstrumentHandlerOptions {
  /**
   * The registry the three histograms live in. They are created once per
   * registry, so instrumenting several handlers shares them.
   *
   * @default {REGISTRY}
   */
  registry?: Registry;
  /**
   * Names the route of a request for the `route` label. Return a template
   * (`/users/:id`) rather than the path when paths carry ids, to keep the
   * number of series bounded.
   *
   * @default {(req) => new URL(req.url).pathname}
   */
  route?: (request: Request) => string;
  /**
   * Buckets of `http_request_duration_seconds`, used when the histograms are
   * created for the registry (the first call).
   *
   * @default {DEFAULT_BUCKETS}
   */
  durationBuckets?: readonly number[];
  /**
   * Buckets of `http_request_size_bytes` and `http_response_size_bytes`, used
   * when the histograms are created for the registry (the first call).
   *
   * @default {[100, 1000, 10000, 100000, 1000000, 10000000, 100000000]}
   */
  sizeBuckets?: readonly number[];
}

/** The three histograms, as created for one registry. */
export interface HttpMetrics {
  /** `http_request_duration_seconds`: from the call of the handler to the last response byte. */
  readonly duration: Histogram<HttpLabel>;
  /** `http_request_size_bytes`: `Content-Length`, or the body bytes the handler read. */
  readonly requestSize: Histogram<HttpLabel>;
  /** `http_response_size_bytes`: the body bytes handed to the server. */
  readonly responseSize: Histogram<HttpLabel>;
}

const DEFAULT_SIZE_BUCKETS: readonly number[] = [100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
const LABELS = ["method", "route", "status_code"] as const;
const metricsByRegistry = new WeakMap<Registry, HttpMetrics>();

function defaultRoute(request: Request): string {
  return new URL(request.url).pathname;
}

/**
 * Returns the HTTP histograms of a registry, creating them on first use.
 *
 * @param options The registry and the buckets to create them with.
 * @returns The histograms.
 *
 * @example
 * ```ts
 * import { CollectorRegistry, httpMetrics } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * console.assert(httpMetrics({ registry }) === httpMetrics({ registry }));
 * ```
 */
export function httpMetrics(options: InstrumentHandlerOptions = {}): HttpMetrics {
  let registry = options.registry ?? REGISTRY;
  // The default registry's target can be swapped: key on the target in use now.
  if (registry instanceof RegistryProxy) registry = registry.registry;
  let metrics = metricsByRegistry.get(registry);
  if (metrics === undefined) {
    const sizeBuckets = options.sizeBuckets ?? DEFAULT_SIZE_BUCKETS;
    metrics = {
      duration: new Histogram({
        name: "http_request_duration_seconds",
        description: "Duration of HTTP requests in seconds, until the last response byte.",
        requiredLabels: LABELS,
        buckets: options.durationBuckets ?? DEFAULT_BUCKETS,
        registry,
      }),
      requestSize: new Histogram({
        name: "http_request_size_bytes",
        description: "Size of HTTP request bodies in bytes.",
        requiredLabels: LABELS,
        buckets: sizeBuckets,
        registry,
      }),
      responseSize: new Histogram({
        name: "http_response_size_bytes",
        description: "Size of HTTP response bodies in bytes.",
        requiredLabels: LABELS,
        buckets: sizeBuckets,
        registry,
      }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

/**
 * Wraps a fetch handler so that every request records
 * `http_request_duration_seconds`, `http_request_size_bytes` and
 * `http_response_size_bytes`, labelled `method`, `route` and `status_code`.
 *
 * - Bodies are never buffered: the response body is passed through a stream
 *   that counts its bytes, and the three observations are made when it
 *   ends, fails or is cancelled (the client went away), so the duration
 *   runs to the last byte and a streamed response is measured exactly.
 * - Request size is `Content-Length` when the request has one; otherwise
 *   (a chunked upload) the request body bytes the handler read, counted as
 *   it reads them (0 when it reads none).
 * - A handler that throws (or rejects) is recorded with `status_code="500"`
 *   and a response size of 0, and the error is rethrown for the server's
 *   own error handling.
 * - Responses without a body, `101 Switching Protocols` (WebSocket
 *   upgrades) and Bun's `undefined` after `server.upgrade()` are returned
 *   as they are.
 *
 * @param handler The fetch handler to measure.
 * @param options The registry, the route namer and the buckets.
 * @returns The measured handler, with the same arguments and `this`.
 *
 * @example With Deno.serve
 * ```ts ignore
 * import { instrumentHandler } from "@pytheus/pytheus";
 * Deno.serve(instrumentHandler((req) => new Response("hello")));
 * ```
 *
 * @example With Bun.serve, naming routes
 * ```ts ignore
 * import { instrumentHandler } from "@pytheus/pytheus";
 * Bun.serve({
 *   fetch: instrumentHandler((req) => new Response("hello"), {
 *     route: (req) => new URL(req.url).pathname.replace(/\/\d+/g, "/:id"),
 *   }),
 * });
 * ```
 *
 * @example Measured without a server
 * ```ts
 * import { CollectorRegistry, generateMetrics, instrumentHandler } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * const handler = instrumentHandler(() => new Response("hi"), { registry });
 * await (await handler(new Request("http://localhost/hello"))).text();
 * const text = await generateMetrics(registry);
 * console.assert(text.includes('http_response_size_bytes_sum{method="GET",route="/hello",status_code="200"} 2'));
 * ```
 */
export function instrumentHandler<A extends unknown[], R extends Response | undefined>(
  handler: (request: Request, ...rest: A) => R | Promise<R>,
  options: InstrumentHandlerOptions = {},
): (request: Request, ...rest: A) => Promise<R> {
  const metrics = httpMetrics(options);
  const routeOf = options.route ?? defaultRoute;
  return async function (this: unknown, request: Request, ...rest: A): Promise<R> {
    const start = performance.now();
    const route = routeOf(request);
    const declared = Number(request.headers.get("content-length") ?? NaN);
    let requestBytes = declared >= 0 ? declared : 0;
    if (!(declared >= 0) && request.body !== null) {
      // A chunked upload: count what the handler reads, as it reads it.
      request = withCountedBody(request, (n) => requestBytes += n);
    }
    let done = false;
    const record = (status: string, responseBytes: number): void => {
      if (done) return;
      done = true;
      const labels = { method: request.method, route, status_code: status };
      // Runs inside the body stream: a failure here must not break the response.
      try {
        metrics.duration.labels(labels).observe((performance.now() - start) / 1000);
        metrics.requestSize.labels(labels).observe(requestBytes);
        metrics.responseSize.labels(labels).observe(responseBytes);
      } catch (error) {
        getLogger().error("pytheus: recording HTTP metrics failed", error);
      }
    };
    let response: R;
    try {
      response = await handler.call(this, request, ...rest);
    } catch (error) {
      record("500", 0);
      throw error;
    }
    if (!(response instanceof Response)) return response;
    const status = String(response.status);
    if (response.body === null || response.status === 101) {
      record(status, 0);
      return response;
    }
    let responseBytes = 0;
    const body = countBytes(
      response.body,
      (n) => responseBytes += n,
      () => record(status, responseBytes),
    );
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    }) as R;
  };
}

/**
 * A copy of a request whose body reports the bytes read. Its `signal` is the
 * original's, read only when asked (Deno warns when a served request's
 * signal is read, as `new Request(request)` would).
 */
function withCountedBody(request: Request, count: (bytes: number) => void): Request {
  const original = request;
  const copy = new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: countBytes(request.body!, count, () => {}),
    duplex: "half",
  } as RequestInit);
  Object.defineProperty(copy, "signal", { get: () => original.signal });
  return copy;
}

/**
 * Passes a byte stream through, reporting each chunk's size, and calling
 * `end` once when it ends, fails or is cancelled. It reads from the source
 * only when its reader asks (high-water mark 0), so the end is seen when the
 * consumer has taken the last chunk.
 */
function countBytes(
  source: ReadableStream<Uint8Array>,
  count: (bytes: number) => void,
  end: () => void,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= source.getReader();
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        end();
        controller.error(error);
        return;
      }
      if (result.done) {
        end();
        controller.close();
        return;
      }
      count(result.value.byteLength ?? 0);
      controller.enqueue(result.value);
    },
    cancel(reason) {
      end();
      return (reader ?? source).cancel(reason);
    },
  }, { highWaterMark: 0 });
}
