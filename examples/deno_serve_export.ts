/**
 * The demo app of `deno_serve.ts`, as a module for `deno serve`, which can
 * also spread it over several workers:
 *
 *     deno serve --port 8000 examples/deno_serve_export.ts
 *
 * With `--parallel`, each worker has its own in-memory values, so a scrape
 * sees one worker's; share them with a backend such as Redis.
 *
 * @module
 */

import { handler } from "./deno_serve.ts";

export default { fetch: handler } satisfies Deno.ServeDefaultExport;
