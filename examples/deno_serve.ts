/**
 * The demo: a small web app instrumented with pytheus, serving its own
 * `/metrics`, on `Deno.serve`.
 *
 *     deno task demo            # or: deno run --allow-net --allow-env examples/deno_serve.ts
 *     curl http://127.0.0.1:8000/work
 *     curl http://127.0.0.1:8000/metrics
 *
 * `PORT` (default 8000) and `HOST` (default 127.0.0.1) choose where it listens.
 * Importing this module only builds the app; it serves when run as the main module.
 *
 * @module
 */

import { Counter, Gauge, Histogram, makeHandler } from "../mod.ts";

/** Requests answered, by route and status code. */
export const requests = new Counter({
  name: "http_requests_total",
  description: "HTTP requests answered, by route and status code.",
  requiredLabels: ["route", "code"] as const,
});

/** How long each route takes to answer. */
export const latency = new Histogram({
  name: "http_request_duration_seconds",
  description: "Time spent answering HTTP requests.",
  requiredLabels: ["route"] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
});

/** Requests being answered right now. */
export const inProgress = new Gauge({
  name: "http_requests_in_progress",
  description: "HTTP requests being answered right now.",
});

const metrics = makeHandler();

const routes: Record<string, (request: Request) => Response | Promise<Response>> = {
  "/": () => new Response("Hello from pytheus! Try /work, then /metrics.\n"),
  "/work": async () => {
    // Pretend to do something that takes a few milliseconds.
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 45));
    return new Response("Work done.\n");
  },
};

/**
 * Answers one request: `/metrics` gives the metrics, every other route is
 * counted, timed and tracked while in progress.
 *
 * @param request The request.
 * @returns The response.
 */
export async function handler(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname === "/metrics") return await metrics(request);
  using _inProgress = inProgress.trackInprogress();
  const answer = routes[pathname];
  // Unknown paths share one label value, so that a scanner cannot create
  // one series per URL it tries.
  const route = answer ? pathname : "unknown";
  const response = await latency.labels({ route }).time(async () =>
    answer ? await answer(request) : new Response("Not Found\n", { status: 404 })
  );
  requests.labels({ route, code: String(response.status) }).inc();
  return response;
}

if (import.meta.main) {
  Deno.serve({
    port: Number(Deno.env.get("PORT") ?? 8000),
    hostname: Deno.env.get("HOST") ?? "127.0.0.1",
    onListen: ({ hostname, port }) => {
      console.log(`pytheus demo on http://${hostname}:${port}/ (metrics at /metrics)`);
    },
  }, handler);
}
