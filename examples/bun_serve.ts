/**
 * The demo app of `deno_serve.ts`, served by `Bun.serve`:
 *
 *     bun examples/bun_serve.ts
 *
 * `PORT` (default 8000) and `HOST` (default 127.0.0.1) choose where it listens.
 *
 * @module
 */

import { handler } from "./deno_serve.ts";

// The little of Bun this file uses, so that `deno check` needs no @types/bun.
declare const Bun: {
  readonly env: Record<string, string | undefined>;
  serve(options: {
    port: number;
    hostname: string;
    fetch: (request: Request) => Response | Promise<Response>;
  }): { readonly url: URL };
};

const server = Bun.serve({
  port: Number(Bun.env.PORT ?? 8000),
  hostname: Bun.env.HOST ?? "127.0.0.1",
  fetch: handler,
});
console.log(`pytheus demo on ${server.url} (metrics at /metrics)`);
