/**
 * Counting the bytes of a body as it streams: a request's as its handler
 * reads it, a response's as the server sends it.
 */

/**
 * Measures a request's size: its `Content-Length`, else (a chunked upload)
 * the bytes its handler reads, counted as it reads them.
 *
 * @param request The request.
 * @returns The request to hand on (a counting copy for a chunked upload),
 * and what reads its size so far.
 */
export function sizedRequest(request: Request): { request: Request; bytes(): number } {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  let bytes = declared >= 0 ? declared : 0;
  const counted = !(declared >= 0) && request.body !== null
    ? withCountedBody(request, (n) => bytes += n)
    : request;
  return { request: counted, bytes: () => bytes };
}

/**
 * The response to send in place of `response`: its body reports the bytes
 * it sends, and `done` gets them once, when it ends, fails or is cancelled
 * (at once for a response without a body).
 *
 * @param response The response.
 * @param done Called once with the body's size.
 * @returns The response to send.
 */
export function sizedResponse(response: Response, done: (bytes: number) => void): Response {
  if (response.body === null || response.status === 101) {
    done(0);
    return response;
  }
  let bytes = 0;
  let ended = false;
  const body = countBytes(response.body, (n) => bytes += n, () => {
    if (ended) return;
    ended = true;
    done(bytes);
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * A copy of a request whose body reports the bytes read. Its `signal` is the
 * original's, read only when asked (Deno warns when a served request's
 * signal is read, as `new Request(request)` would). A request that cannot be
 * copied as it is (a method the `Request` constructor refuses, as `TRACE`,
 * or rewrites, as Deno's server passing `get` on while `new Request`
 * makes it `GET`) is returned unchanged, its body bytes uncounted.
 */
function withCountedBody(request: Request, count: (bytes: number) => void): Request {
  const original = request;
  let copy: Request;
  try {
    copy = new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body: countBytes(request.body!, count, () => {}),
      duplex: "half",
    } as RequestInit);
  } catch {
    return original;
  }
  if (copy.method !== original.method) return original;
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
  // Typed as each runtime's getReader() returns it: Bun's and Node's declarations name the
  // reader and its read result otherwise than the DOM's, which Deno uses.
  const open = () => source.getReader();
  let reader: ReturnType<typeof open> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= open();
      const result = await reader.read().catch((error: unknown) => {
        end();
        controller.error(error);
        return undefined;
      });
      if (result === undefined) return;
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
