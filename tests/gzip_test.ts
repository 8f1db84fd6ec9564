/** gzip: `makeHandler()` compresses when `Accept-Encoding` allows it, checked over real HTTP. */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { gunzipSync } from "node:zlib";
import {
  CollectorRegistry,
  Counter,
  generateMetrics,
  Histogram,
  loadBackend,
  makeHandler,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  SingleProcessBackend,
} from "../mod.ts";
import { serve, type Served } from "./_serve.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const PROMETHEUS_2 =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const registry = new CollectorRegistry();
const requests = new Counter({
  name: "http_requests_total",
  description: "Requests.",
  requiredLabels: ["route", "code"],
  registry,
});
const latency = new Histogram({
  name: "http_request_seconds",
  description: "Latency.",
  requiredLabels: ["route"],
  registry,
});
for (let i = 0; i < 20; i++) {
  requests.labels({ route: `/api/v1/items/${i}`, code: "200" }).inc(i);
  latency.labels({ route: `/api/v1/items/${i}` }).observe(i / 100);
}

/** A raw HTTP GET (no automatic decompression): status, headers and the body's bytes. */
function rawGet(
  url: string,
  headers: Record<string, string>,
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      res.on("end", () => {
        const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let offset = 0;
        for (const chunk of chunks) {
          body.set(chunk, offset);
          offset += chunk.length;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("makeHandler() gzip over real HTTP", () => {
  let served: Served | undefined;
  let plainServed: Served | undefined;
  /** The URL of /metrics on `served`, started on first use. */
  const server = (): { url: string } => ({
    url: `${(served ??= serve(makeHandler({ registry }))).url}/metrics`,
  });
  /** The URL of /metrics on `plainServed` (gzip off), started on first use. */
  const plainServer = (): { url: string } => ({
    url: `${(plainServed ??= serve(makeHandler({ registry, gzip: false }))).url}/metrics`,
  });

  after(async () => {
    await served?.close();
    await plainServed?.close();
  });

  test("makeHandler() answers fetch with Content-Encoding: gzip and Vary, the body decoding to the exposition", async () => {
    const { url } = server();
    const response = await fetch(url, { headers: { "accept-encoding": "gzip" } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.equal(response.headers.get("vary"), "Accept, Accept-Encoding");
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(await response.text(), await generateMetrics(registry));
  });

  test("makeHandler() sends fewer gzip bytes than the exposition has, and they gunzip to it", async () => {
    const { url } = server();
    const expected = new TextEncoder().encode(await generateMetrics(registry));
    const raw = await rawGet(url, { "accept-encoding": "gzip" });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers["content-encoding"], "gzip");
    assert.equal(raw.headers["vary"], "Accept, Accept-Encoding");
    assert.deepEqual(new Uint8Array(gunzipSync(raw.body)), expected);
    assert.ok(
      raw.body.length < expected.length / 3,
      `${raw.body.length} gzip bytes for ${expected.length} bytes of text`,
    );
  });

  test("makeHandler() gzips OpenMetrics for Prometheus' headers", async () => {
    const { url } = server();
    const raw = await rawGet(url, { accept: PROMETHEUS_2, "accept-encoding": "gzip" });
    assert.equal(raw.headers["content-type"], `${OPENMETRICS_CONTENT_TYPE}; escaping=underscores`);
    assert.equal(raw.headers["content-encoding"], "gzip");
    const text = new TextDecoder().decode(gunzipSync(raw.body));
    assert.equal(
      text.replace(/^(\w+_created(?:\{[^}]*\})?) \S+$/gm, "$1 T"),
      (await generateMetrics(registry, { format: "openmetrics" })).replace(
        /^(\w+_created(?:\{[^}]*\})?) \S+$/gm,
        "$1 T",
      ),
    );
    assert.match(text, /\n# EOF\n$/);
  });

  test("makeHandler() does not compress without Accept-Encoding, for identity, or gzip;q=0", async () => {
    const { url } = server();
    const expected = await generateMetrics(registry);
    for (
      const headers of [{}, { "accept-encoding": "identity" }, { "accept-encoding": "gzip;q=0" }]
    ) {
      const raw = await rawGet(url, headers);
      assert.equal(raw.headers["content-encoding"], undefined, JSON.stringify(headers));
      assert.equal(raw.headers["vary"], "Accept, Accept-Encoding");
      assert.equal(new TextDecoder().decode(raw.body), expected);
    }
  });

  test("makeHandler({ gzip: false }) never compresses", async () => {
    const { url } = plainServer();
    const raw = await rawGet(url, { "accept-encoding": "gzip" });
    assert.equal(raw.headers["content-encoding"], undefined);
    assert.equal(new TextDecoder().decode(raw.body), await generateMetrics(registry));
  });

  test("makeHandler() answers HEAD with the gzip headers and no body", async () => {
    const { url } = server();
    const raw = await rawGet(url, { "accept-encoding": "gzip" }, "HEAD");
    assert.equal(raw.status, 200);
    assert.equal(raw.headers["content-encoding"], "gzip");
    assert.equal(raw.body.length, 0);
  });
});
