/**
 * Test helpers for the runtime running the tests (Deno or Bun): serving a
 * fetch handler in this process, running a script in another one, and
 * capturing what pytheus logs.
 */

import { fileURLToPath } from "node:url";
import { type Logger, setLogger } from "../mod.ts";

/** A fetch handler, as both runtimes take it. */
export type Handler = (request: Request) => Response | Promise<Response>;

/** A server listening on 127.0.0.1 in this process. */
export interface Served {
  /** Its port, chosen by the system. */
  readonly port: number;
  /** Its base URL, `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  /** Stops listening (closing active connections) and waits until it has. */
  close(): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  /**
   * What the server answers when `handler` throws; the runtime's own
   * error page when absent.
   */
  readonly onError?: () => Response;
}

// The shapes of the two runtimes' APIs that this file uses, detected at run
// time: neither runtime's type declarations are needed.
interface DenoRuntime {
  serve(
    options: { port: number; hostname: string; onListen(): void; onError?: () => Response },
    handler: Handler,
  ): { readonly addr: { readonly port: number }; shutdown(): Promise<void> };
}
interface BunRuntime {
  serve(options: { port: number; hostname: string; fetch: Handler; error?: () => Response }): {
    readonly port: number;
    stop(closeActiveConnections?: boolean): void | Promise<void>;
  };
}
const runtime = globalThis as { Deno?: DenoRuntime; Bun?: BunRuntime };

/** "deno" or "bun": the runtime running the tests. */
export const RUNTIME: "deno" | "bun" = runtime.Bun ? "bun" : "deno";

/** True when Bun runs the tests. */
export const IS_BUN: boolean = RUNTIME === "bun";

/** A command line running a TypeScript file with the runtime running the tests. */
export function script(file: string): [string, string[]] {
  const config = fileURLToPath(new URL("../deno.json", import.meta.url));
  return IS_BUN
    ? ["bun", ["run", file]]
    : ["deno", ["run", "--allow-all", "--config", config, file]];
}

/**
 * Serves `handler` on 127.0.0.1, on a port the system chooses, with
 * `Deno.serve` or `Bun.serve`.
 */
export function serve(handler: Handler, options: ServeOptions = {}): Served {
  const hostname = "127.0.0.1";
  if (runtime.Bun) {
    const server = runtime.Bun.serve({
      port: 0,
      hostname,
      fetch: handler,
      ...(options.onError ? { error: options.onError } : {}),
    });
    return served(server.port, async () => await server.stop(true));
  }
  if (!runtime.Deno) throw new Error("Neither Deno nor Bun: cannot serve");
  const server = runtime.Deno.serve({
    port: 0,
    hostname,
    onListen() {},
    ...(options.onError ? { onError: options.onError } : {}),
  }, handler);
  return served(server.addr.port, () => server.shutdown());
}

function served(port: number, close: () => Promise<void>): Served {
  return { port, url: `http://127.0.0.1:${port}`, close };
}

/**
 * A logger that records the message of every warning and error, in order,
 * in `messages` (pass `logger` to `setLogger()` and restore the previous one after).
 */
export function capturingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  return {
    logger: {
      warn: (message) => messages.push(message),
      error: (message) => messages.push(message),
    },
    messages,
  };
}

/**
 * Runs `fn` with a logger that records every warning's message and every
 * error's as `<message>: <error's message> (<its cause>)`, then restores the
 * previous logger.
 */
export async function withLoggedErrors(fn: (messages: string[]) => Promise<void>): Promise<void> {
  const messages: string[] = [];
  const previous = setLogger({
    warn: (message) => messages.push(message),
    error: (message, error) =>
      messages.push(`${message}: ${(error as Error).message} (${(error as Error).cause})`),
  });
  try {
    await fn(messages);
  } finally {
    setLogger(previous);
  }
}

/** Runs `fn` (awaited) with pytheus' logger capturing, returning what it logged. */
export async function logged(fn: () => unknown): Promise<string[]> {
  const { logger, messages } = capturingLogger();
  const previous = setLogger(logger);
  try {
    await fn();
  } finally {
    setLogger(previous);
  }
  return messages;
}
