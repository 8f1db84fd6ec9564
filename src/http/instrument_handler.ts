/**
 * HTTP server metrics for any fetch handler (`Deno.serve`, `deno serve`,
 * `Bun.serve`): request duration to the last response byte, request and
 * response sizes, counted as bodies stream. Bounded by default: nothing a
 * client sends (a path, an invented method) becomes a label value.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import { checkLabelValue, checkOptions, describeName, describeValue } from "../_validation.ts";
import { sizedRequest, sizedResponse } from "./_body_bytes.ts";
import type { Exemplar } from "../vocabulary.ts";
import {
  exemplarSource,
  guarded,
  type HttpInstrumentationOptions,
  INSTRUMENTATION_OPTIONS,
  methodLabel,
  metricsFor,
  recorder,
  UNMATCHED_ROUTE,
} from "./http_metrics.ts";

/**
 * Options of {@linkcode instrumentHandler}: those of
 * {@linkcode httpMetrics}, where a request's exemplar comes from, and how
 * its `route` label is found (`routes` or `route`, not both).
 */
export interface InstrumentHandlerOptions extends HttpInstrumentationOptions {
  /**
   * The routes of the application, as
   * [URLPattern](https://developer.mozilla.org/docs/Web/API/URL_Pattern_API)
   * pathname patterns (`"/users/:id"`, `"/files/*"`, `"/"`). A request is
   * labelled with the first pattern, as given, that matches its pathname
   * (list specific patterns before general ones), and
   * `route="(unmatched)"` when none does. The patterns are compiled, and
   * checked, when `instrumentHandler` is called.
   *
   * @default {[] (every request is route="(unmatched)")}
   */
  routes?: readonly string[];
  /**
   * Names the route of a request for the `route` label, instead of
   * `routes`. It must return one of a bounded set of names (a template such
   * as `/users/:id`, never the path itself), or the number of series grows
   * with what clients send. When it throws or returns anything but a
   * string, the request is labelled `route="(unmatched)"` and the mistake
   * is logged once; the request itself is served as usual.
   *
   * @default {undefined (routes are matched with `routes`)}
   */
  route?: (request: Request) => string;
}

const HANDLER_OPTIONS = [...INSTRUMENTATION_OPTIONS, "routes", "route"] as const;

/**
 * The function giving a request's `route` label, from the `route` or
 * `routes` option, checked now; the function itself never throws.
 */
function routeNamer(options: InstrumentHandlerOptions): (request: Request) => string {
  // null is absent, as for every option.
  const route = options.route ?? undefined;
  const routes = options.routes ?? undefined;
  if (route !== undefined && routes !== undefined) {
    throw new InvalidOptionError(
      "instrumentHandler(): pass either routes (URLPattern pathnames) or route (a function), not both",
    );
  }
  if (route !== undefined) {
    if (typeof route !== "function") {
      throw new InvalidOptionError(
        `instrumentHandler(): route must be a function (request) => string, got ${
          describeValue(route)
        }`,
      );
    }
    return guarded(
      route,
      (name, refuse) => {
        if (typeof name !== "string") return refuse(`returned ${typeof name}, not a string`);
        // A lone surrogate cannot be a label value: every such request would fail to record.
        return name.isWellFormed()
          ? name
          : refuse(`returned ${describeValue(name)}, which holds a lone surrogate`);
      },
      () => UNMATCHED_ROUTE,
      "error",
      (problem) =>
        `pytheus: instrumentHandler()'s route() ${problem}: such requests are labelled ` +
        `route="${UNMATCHED_ROUTE}" (logged once)`,
    );
  }
  if (routes === undefined) return () => UNMATCHED_ROUTE;
  const patterns = compileRoutes(routes);
  if (patterns.length === 0) return () => UNMATCHED_ROUTE;
  return (request) => {
    try {
      const input = { pathname: pathnameOf(request.url) };
      for (const [pattern, name] of patterns) if (pattern.test(input)) return name;
    } catch {
      // A URL URLPattern cannot read: no route.
    }
    return UNMATCHED_ROUTE;
  };
}

function compileRoutes(routes: unknown): [URLPattern, string][] {
  if (!Array.isArray(routes)) {
    throw new InvalidOptionError(
      `instrumentHandler(): routes must be an array of URLPattern pathnames such as ["/users/:id"], got ${
        describeValue(routes)
      }`,
    );
  }
  if (typeof URLPattern !== "function") {
    throw new InvalidOptionError(
      "instrumentHandler(): routes needs URLPattern, which this runtime lacks",
    );
  }
  // Array.from, not map(): a hole is a route of its own (undefined), refused like any.
  return Array.from(routes as unknown[], (route): [URLPattern, string] => {
    if (typeof route !== "string") {
      throw new InvalidOptionError(
        `instrumentHandler(): route pattern ${describeValue(route)} is not a string`,
      );
    }
    // The pattern becomes the route label's value: refused now, not at every request.
    try {
      checkLabelValue("instrumentHandler()", "route", route);
    } catch (error) {
      throw new InvalidOptionError(
        `instrumentHandler(): route pattern ${describeName(route)} cannot be a label value: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    try {
      return [new URLPattern({ pathname: route }), route];
    } catch (error) {
      throw new InvalidOptionError(
        `instrumentHandler(): route pattern ${
          describeName(route)
        } is not a valid URLPattern pathname: ${
          error instanceof Error ? error.message : describeValue(error)
        }`,
        { cause: error },
      );
    }
  });
}

/**
 * The pathname of an absolute URL (`request.url`), read from the string: from
 * the first `/` after the host to the query or fragment.
 */
function pathnameOf(url: string): string {
  const scheme = url.indexOf("://");
  const start = scheme === -1 ? -1 : url.indexOf("/", scheme + 3);
  if (start === -1) return new URL(url).pathname;
  let end = start;
  while (end < url.length) {
    const char = url.charCodeAt(end);
    if (char === 63 /* ? */ || char === 35 /* # */) break;
    end++;
  }
  return url.slice(start, end);
}

/**
 * Wraps a fetch handler so that every request records
 * `http_request_duration_seconds`, `http_request_size_bytes` and
 * `http_response_size_bytes` (or the `names` given), labelled `method`,
 * `route` and `status_code`.
 *
 * - Bounded by default: nothing a client sends becomes a label value. The
 *   `route` label is the first of the `routes` patterns matching the
 *   pathname, else `"(unmatched)"` (or what the `route` function returns);
 *   a method outside GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE,
 *   PATCH is labelled `"_OTHER"`. Each histogram thus has at most
 *   10 × (routes + 1) × (status codes the handler returns) series.
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
 * - With an `exemplar` function, each request's three observations carry
 *   the exemplar it gives (the active trace's ids), shown in OpenMetrics
 *   output; without one, a request does no work for exemplars.
 *
 * @param handler The fetch handler to measure.
 * @param options The routes (or route namer), the exemplar function, the
 * registry, the names and the buckets.
 * @returns The measured handler, with the same arguments and `this`.
 * @throws {InvalidOptionError} When `handler` is not a function; when
 * `options` is not an object (`undefined` is the defaults) or has an
 * unknown key; when a `routes` pattern is not a string, not a valid
 * URLPattern pathname or not a valid label value (a lone surrogate); when
 * both `routes` and `route` are given, `route` or `exemplar` is not a
 * function, or the registry is not one; or when a name the histograms need is taken by
 * another metric of the registry (pass other `names`).
 * @throws {NameValidationError} When one of `names` is not a valid metric name.
 * @throws {BucketError} When `durationBuckets` or `sizeBuckets` are not valid buckets.
 *
 * @example With Deno.serve
 * ```ts ignore
 * import { instrumentHandler } from "@pytheus/pytheus";
 * Deno.serve(instrumentHandler((req) => new Response("hello"), { routes: ["/", "/users/:id"] }));
 * ```
 *
 * @example With Bun.serve, naming routes with a function
 * ```ts ignore
 * import { instrumentHandler } from "@pytheus/pytheus";
 * Bun.serve({
 *   fetch: instrumentHandler((req) => new Response("hello"), {
 *     // Must return a bounded set of names: here, every number becomes :id.
 *     route: (req) => new URL(req.url).pathname.replace(/\/\d+/g, "/:id"),
 *   }),
 * });
 * ```
 *
 * @example Measured without a server
 * ```ts
 * import { CollectorRegistry, generateMetrics, instrumentHandler } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * const handler = instrumentHandler(() => new Response("hi"), {
 *   registry,
 *   routes: ["/users/:id", "/users/*"], // the first that matches names the route
 * });
 * await (await handler(new Request("http://localhost/users/42"))).text();
 * await (await handler(new Request("http://localhost/elsewhere"))).text();
 * const text = await generateMetrics(registry);
 * console.assert(text.includes('http_response_size_bytes_sum{method="GET",route="/users/:id",status_code="200"} 2'));
 * console.assert(text.includes('http_response_size_bytes_sum{method="GET",route="(unmatched)",status_code="200"} 2'));
 * ```
 *
 * @example Exemplars: each request's observations linked to its trace
 * ```ts
 * import { CollectorRegistry, generateMetrics, instrumentHandler } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * const handler = instrumentHandler(() => new Response("hi"), {
 *   registry,
 *   // With @opentelemetry/api, the active span's ids: see the README.
 *   exemplar: (req) => {
 *     const traceId = req.headers.get("x-trace-id");
 *     return traceId === null ? undefined : { trace_id: traceId };
 *   },
 * });
 * await (await handler(new Request("http://localhost/", { headers: { "x-trace-id": "4bf92f" } })))
 *   .text();
 * const text = await generateMetrics(registry, { format: "openmetrics" });
 * // The response size, 2 bytes, in the bucket le="100.0", with the exemplar and the value:
 * console.assert(text.includes('status_code="200",le="100.0"} 1 # {trace_id="4bf92f"} 2 '));
 * ```
 *
 * @example Beside an application's own metric of a default name
 * ```ts
 * import { CollectorRegistry, Histogram, instrumentHandler } from "@pytheus/pytheus";
 * const registry = new CollectorRegistry();
 * new Histogram({ name: "http_request_duration_seconds", description: "Mine.", registry });
 * const handler = instrumentHandler(() => new Response("hi"), {
 *   registry,
 *   names: { duration: "app_http_request_duration_seconds" }, // without it: InvalidOptionError
 * });
 * await (await handler(new Request("http://localhost/"))).text();
 * console.assert(registry.has("app_http_request_duration_seconds_count"));
 * ```
 */
export function instrumentHandler<A extends unknown[], R extends Response | undefined>(
  handler: (request: Request, ...rest: A) => R | Promise<R>,
  options: InstrumentHandlerOptions = {},
): (request: Request, ...rest: A) => Promise<R> {
  if (typeof handler !== "function") {
    throw new InvalidOptionError(
      `instrumentHandler() takes the fetch handler to measure, a function, got ${
        describeValue(handler)
      }`,
    );
  }
  checkOptions("instrumentHandler()", options, HANDLER_OPTIONS);
  const routeOf = routeNamer(options);
  const metrics = metricsFor(options, "instrumentHandler()");
  const exemplarOf = exemplarSource(options, metrics, "instrumentHandler()");
  const observe = recorder(metrics, "instrumented handler");
  return async function (this: unknown, request: Request, ...rest: A): Promise<R> {
    const start = performance.now();
    const route = routeOf(request);
    const method = methodLabel(request.method);
    const sized = sizedRequest(request);
    const record = (status: string, responseBytes: number, exemplar: Exemplar | undefined) =>
      observe(
        { method, route, status_code: status },
        start,
        sized.bytes(),
        responseBytes,
        exemplar,
      );
    let response: R;
    try {
      response = await handler.call(this, sized.request, ...rest);
    } catch (error) {
      record("500", 0, exemplarOf?.(request));
      throw error;
    }
    if (!(response instanceof Response)) return response;
    const status = String(response.status);
    // Asked now, in the handler's async context: the body may end in another.
    const exemplar = exemplarOf?.(request);
    return sizedResponse(response, (bytes) => record(status, bytes, exemplar)) as R;
  };
}
