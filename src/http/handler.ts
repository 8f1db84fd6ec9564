/**
 * The `/metrics` endpoint as a fetch handler, for `Deno.serve`, `deno serve`
 * and `Bun.serve` alike.
 *
 * @module
 */

import { encodeMetrics } from "../exposition/exposition.ts";
import { BackendUnavailableError } from "../errors.ts";
import { Outage } from "../_outage.ts";
import { acceptsGzip, negotiateFormat } from "./_negotiate.ts";
import type { Registry } from "../registry/registry.ts";
import { booleanOption, registryOption } from "../_entry_options.ts";
import { checkOptions } from "../_validation.ts";

/** Options of {@linkcode makeHandler}. */
export interface HandlerOptions {
  /**
   * The registry to expose (not `null`).
   *
   * @default {REGISTRY}
   */
  registry?: Registry;
  /**
   * Write `<name>_created` samples when serving OpenMetrics.
   *
   * @default {true}
   */
  created?: boolean;
  /**
   * Gzip the answer when the scraper's `Accept-Encoding` allows it.
   *
   * @default {true}
   */
  gzip?: boolean;
}

/** A fetch handler, as `Deno.serve`, `deno serve` and `Bun.serve` take it. */
export type FetchHandler = (request: Request, info?: unknown) => Promise<Response>;

/**
 * Makes a handler that answers every GET (or HEAD) with the registry's
 * metrics, 405 to other methods, an empty answer to `/favicon.ico`, and
 * 500 when a collector throws, 503 when a backend's store (Redis) is
 * unreachable; the server goes on serving, and the next scrape is answered.
 * Mount it on a path of your own router, or serve it alone.
 *
 * A failed scrape's answer is generic (`Service Unavailable: the metrics
 * store could not be read`, `Internal Server Error: collecting metrics
 * failed`): no address, port or error text reaches the HTTP client. The
 * details go to the log (`setLogger()`), once per outage rather than
 * once per scrape: an error with the thrown error (message, stack, cause) at
 * the first failure and again if the kind of failure changes (a collector
 * error during a Redis outage), then a warning when a scrape works again,
 * `pytheus: scraping metrics works again after N failed scrapes`. Each
 * handler tracks its own outages.
 *
 * The format follows the scraper's `Accept` header: OpenMetrics 1.0 when it
 * prefers `application/openmetrics-text` (as Prometheus 2.5+ does), the
 * protobuf format when it prefers that (as Prometheus does with native
 * histograms on), the text format (1.0.0 when asked for, else 0.0.4)
 * otherwise. Names outside the legacy character set (a registry made with
 * `nameValidation: "utf-8"`) are escaped as the chosen range's `escaping=`
 * says (`underscores` by default; Prometheus 3 asks `allow-utf-8`), and the
 * `Content-Type` names the escaping. The answer is gzipped when
 * `Accept-Encoding` allows it; it always says `Vary: Accept, Accept-Encoding`.
 *
 * The options are checked when the handler is made: an unknown one
 * (`registery`, prom-client's `register`), a registry that is not one, a
 * `created` or `gzip` that is not `true` or `false` (`null` and `undefined`
 * take the default).
 *
 * @param options The registry, and whether to show `_created` and to gzip.
 * @returns The handler.
 * @throws {InvalidOptionError} When `options` is not an object (`undefined`
 *   is the defaults) or has an unknown key, or an option is of the wrong kind.
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
  checkOptions("makeHandler()", options, ["registry", "created", "gzip"]);
  const registry = registryOption("makeHandler()", options.registry);
  const created = booleanOption("makeHandler()", "created", options.created, true);
  const gzip = booleanOption("makeHandler()", "gzip", options.gzip, true) &&
    typeof CompressionStream === "function";
  const outage = new Outage("scraping metrics", "scrape");
  return async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed: use GET\n", {
        status: 405,
        headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
      });
    }
    if (new URL(request.url).pathname === "/favicon.ico") return new Response(null);
    const { format, version, escaping, contentType } = negotiateFormat(
      request.headers.get("accept"),
    );
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = await encodeMetrics(
        registry,
        version === undefined
          ? { format, created, escaping }
          : { format, version, escaping, created },
      );
    } catch (error) {
      outage.failed(error);
      if (error instanceof BackendUnavailableError) {
        // The message names the store's address and the driver's error: logged, not sent.
        return new Response(
          "Service Unavailable: the metrics store could not be read (see the server log)\n",
          {
            status: 503,
            headers: { "content-type": "text/plain; charset=utf-8" },
          },
        );
      }
      return new Response(
        "Internal Server Error: collecting metrics failed (see the server log)\n",
        {
          status: 500,
          headers: { "content-type": "text/plain; charset=utf-8" },
        },
      );
    }
    outage.succeeded();
    const headers: Record<string, string> = {
      "content-type": contentType,
      vary: "Accept, Accept-Encoding",
    };
    if (!gzip || !acceptsGzip(request.headers.get("accept-encoding"))) {
      return new Response(request.method === "HEAD" ? null : body, { headers });
    }
    headers["content-encoding"] = "gzip";
    return new Response(
      request.method === "HEAD"
        ? null
        : new Blob([body]).stream().pipeThrough(new CompressionStream("gzip")),
      { headers },
    );
  };
}
