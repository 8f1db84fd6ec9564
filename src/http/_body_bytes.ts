/**
 * Counting the bytes of a body as it streams: a request's as its handler
 * reads it, a response's as the server sends it.
 */

/**
 * A copy of a request whose body reports the bytes read. Its `signal` is the
 * original's, read only when asked (Deno warns when a served request's
 * signal is read, as `new Request(request)` would). A request that cannot be
 * copied as it is (a method the `Request` constructor refuses, as `TRACE`,
 * or rewrites, as Deno's server passing `get` on while `new Request`
 * makes it `GET`) is returned unchanged, its body bytes uncounted.
 */
export function withCountedBody(request: Request, count: (bytes: number) => void): Request {
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
export function countBytes(
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
