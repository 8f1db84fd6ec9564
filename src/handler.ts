/**
 * The `/metrics` endpoint as a fetch handler, for `Deno.serve`, `deno serve`
 * and `Bun.serve` alike.
 *
 * @module
 */

import { generateMetrics, PROMETHEUS_CONTENT_TYPE } from "./exposition.ts";
import { getLogger } from "./logger.ts";
import { REGISTRY, type Registry } from "./registry.ts";

/** Options of {@linkcode makeHandler}. */
export interface HandlerOptions {
  /**
   * The registry to expose.
   *
   * @default {REGISTRY}
   */
  registry?: Registry;
}

/** A fetch handler, as `Deno.serve`, `deno serve` and `Bun.serve` take it. */
export type FetchHandler = (request: Request, info?: unknown) => Promise<Response>;

/**
 * Makes a handler that answers every GET (or HEAD) with the registry's
 * metrics, 405 to other methods, an empty answer to `/favicon.ico`, and
 * 500 (the error logged, the server still serving) when a collector throws.
 * Mount it on a path of your own router, or serve it alone.
 *
 * @param options The registry.
 * @returns The handler.
 *
 * @example With Deno.serve
 * ```ts ignore
 * import { makeHandler } from "@pytheus/pytheus";
 * Deno.serve({ port: 8000 }, makeHandler());
 * ```
 *
 * @example With Bun.serve
 * ```ts ignore
 * import { makeHandler } from "@pytheus/pytheus";
 * Bun.serve({ port: 8000, fetch: makeHandler() });
 * ```
 */
export function makeHandler(options: HandlerOptions = {}): FetchHandler {
  const registry = options.registry ?? REGISTRY;
  return async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed: use GET\n", {
        status: 405,
        headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
      });
    }
    if (new URL(request.url).pathname === "/favicon.ico") return new Response(null);
    let body: string;
    try {
      body = await generateMetrics(registry);
    } catch (error) {
      getLogger().error("pytheus: collecting metrics failed", error);
      return new Response(
        "Internal Server Error: collecting metrics failed (see the server log)\n",
        {
          status: 500,
          headers: { "content-type": "text/plain; charset=utf-8" },
        },
      );
    }
    return new Response(request.method === "HEAD" ? null : body, {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
    });
  };
}
