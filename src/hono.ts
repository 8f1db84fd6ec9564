/**
 * HTTP server metrics for a Hono app: `app.use(prometheus())` records the
 * three histograms `instrumentHandler` records (request duration to the last
 * response byte, request and response sizes, counted as bodies stream),
 * labelled with Hono's matched route pattern (`/users/:id`, never the path),
 * the method (`_OTHER` for one outside HTTP's) and the status code. This
 * module does not import Hono: it takes Hono's context by its shape.
 *
 * ```ts ignore
 * import { Hono } from "hono";
 * import { makeHandler } from "@pytheus/pytheus";
 * import { prometheus } from "@pytheus/pytheus/hono";
 *
 * const app = new Hono();
 * const metrics = makeHandler();
 * app.use(prometheus());
 * app.get("/metrics", (c) => metrics(c.req.raw));
 * app.get("/users/:id", (c) => c.text(`user ${c.req.param("id")}`));
 * export default app;
 * ```
 *
 * @module
 */

import { checkOptions } from "./_validation.ts";
import { sizedRequest, sizedResponse } from "./http/_body_bytes.ts";
import {
  exemplarSource,
  type HttpInstrumentationOptions,
  INSTRUMENTATION_OPTIONS,
  methodLabel,
  metricsFor,
  recorder,
  UNMATCHED_ROUTE,
} from "./http/http_metrics.ts";

/**
 * Options of {@linkcode prometheus}: the registry, the histograms' names and
 * buckets (as `httpMetrics()` takes them), and where a request's exemplar
 * comes from (as `instrumentHandler()` takes it).
 */
export type PrometheusOptions = HttpInstrumentationOptions;

/** What the middleware uses of Hono's `Context`. */
export interface HonoContext {
  /** The request: the raw one, and the route pattern of the handler running. */
  readonly req: { raw: Request; readonly routePath: string };
  /** The response, which a middleware may replace once the handlers ran. */
  res: Response;
}

/** A Hono middleware, as `app.use()` takes it. */
export type HonoMiddleware = (c: HonoContext, next: () => Promise<void>) => Promise<void>;

/**
 * The Hono middleware recording HTTP metrics: register it before the routes
 * (`app.use(prometheus())`). A request no route matched (a 404) is labelled
 * `route="(unmatched)"`; one whose handler threw is recorded with the status
 * Hono answered it with (500 unless `app.onError` says otherwise). With an
 * `exemplar` function, it is called once the handlers ran (in their async
 * context, where the server's span is still active), with the raw request,
 * and what it gives is the exemplar of the request's three observations.
 *
 * @param options The registry, the histograms' names and buckets (as
 * `httpMetrics()` takes them), the exemplar function.
 * @returns The middleware.
 * @throws {InvalidOptionError} When an option is unknown or of the wrong kind
 * (`exemplar` not a function), or a name the histograms need is taken in the
 * registry.
 *
 * @example
 * ```ts
 * import { CollectorRegistry } from "@pytheus/pytheus";
 * import { prometheus } from "@pytheus/pytheus/hono";
 * const middleware = prometheus({ registry: new CollectorRegistry() });
 * console.assert(typeof middleware === "function");
 * ```
 */
export function prometheus(options: PrometheusOptions = {}): HonoMiddleware {
  checkOptions("prometheus()", options, INSTRUMENTATION_OPTIONS);
  const metrics = metricsFor(options, "prometheus()");
  const exemplarOf = exemplarSource(options, metrics, "prometheus()");
  const observe = recorder(metrics, "Hono middleware");
  return async (c, next) => {
    const start = performance.now();
    const raw = c.req.raw;
    const method = methodLabel(raw.method);
    const sized = sizedRequest(raw);
    c.req.raw = sized.request;
    // While this middleware runs, the route is its own: unchanged after the
    // handlers, no route matched.
    const own = c.req.routePath;
    await next();
    const matched = c.req.routePath;
    const labels = {
      method,
      route: matched === own ? UNMATCHED_ROUTE : matched,
      status_code: String(c.res.status),
    };
    const exemplar = exemplarOf?.(raw);
    c.res = sizedResponse(c.res, (bytes) => observe(labels, start, sized.bytes(), bytes, exemplar));
  };
}
