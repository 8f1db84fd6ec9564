/** Content negotiation: the format a scraper's `Accept` header gets, checked against real Prometheus. */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  loadBackend,
  makeHandler,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  SingleProcessBackend,
} from "../mod.ts";
import { acceptsGzip, negotiateFormat } from "../src/http/_negotiate.ts";
import { needs, waitFor } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { serve, type Served } from "./_serve.ts";

/** What Prometheus 2.42 sends (scrape/scrape.go, acceptHeader). */
const PROMETHEUS_2 =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/** What Prometheus 3.0 sent by default (scrape_protocols without protobuf). */
const PROMETHEUS_3 =
  "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
/** What Prometheus 2.5 to 2.32 sent. */
const PROMETHEUS_2_OLD =
  "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const OPTIONS = { timeout: 60_000 };

const OPENMETRICS_0_0_1 = "application/openmetrics-text; version=0.0.1; charset=utf-8";
const OPENMETRICS_UNDERSCORES = `${OPENMETRICS_CONTENT_TYPE}; escaping=underscores`;

describe("negotiateFormat()", () => {
  test("negotiateFormat() gives OpenMetrics 1.0.0 to Prometheus 2's Accept header", () => {
    assert.deepEqual(negotiateFormat(PROMETHEUS_2), {
      format: "openmetrics",
      escaping: "underscores",
      contentType: OPENMETRICS_UNDERSCORES,
    });
  });

  test("negotiateFormat() gives OpenMetrics 1.0.0 to Prometheus 3's Accept header", () => {
    assert.deepEqual(negotiateFormat(PROMETHEUS_3), {
      format: "openmetrics",
      escaping: "allow-utf-8",
      contentType: `${OPENMETRICS_CONTENT_TYPE}; escaping=allow-utf-8`,
    });
  });

  test("negotiateFormat() answers OpenMetrics 0.0.1 (older Prometheus) with the same text, labelled 0.0.1", () => {
    assert.deepEqual(negotiateFormat(PROMETHEUS_2_OLD), {
      format: "openmetrics",
      escaping: "underscores",
      contentType: OPENMETRICS_0_0_1,
    });
  });

  test("negotiateFormat() gives the text format without a header, to */* and to text/plain", () => {
    const text = { format: "text", escaping: "underscores", contentType: PROMETHEUS_CONTENT_TYPE };
    assert.deepEqual(negotiateFormat(null), text);
    assert.deepEqual(negotiateFormat(""), text);
    assert.deepEqual(negotiateFormat("*/*"), text);
    assert.deepEqual(negotiateFormat("text/plain"), text);
    assert.deepEqual(negotiateFormat("text/plain; version=0.0.4"), text);
    assert.deepEqual(negotiateFormat("text/*"), text);
    assert.deepEqual(negotiateFormat("application/json"), text);
    assert.deepEqual(negotiateFormat("text/html,application/xhtml+xml,*/*;q=0.8"), text);
  });

  test("negotiateFormat() follows q-values, not header order", () => {
    assert.equal(
      negotiateFormat("text/plain;version=0.0.4;q=0.5,application/openmetrics-text;q=0.9").format,
      "openmetrics",
    );
    assert.equal(
      negotiateFormat("application/openmetrics-text;q=0.4,text/plain;version=0.0.4;q=0.6").format,
      "text",
    );
    // Equal q-values: the more specific range first, then header order.
    assert.equal(negotiateFormat("*/*,application/openmetrics-text").format, "openmetrics");
    assert.equal(negotiateFormat("application/openmetrics-text,text/plain").format, "openmetrics");
    assert.equal(negotiateFormat("text/plain,application/openmetrics-text").format, "text");
  });

  test("negotiateFormat() refuses q=0 ranges and skips versions it does not produce", () => {
    assert.equal(negotiateFormat("application/openmetrics-text;q=0,*/*;q=0.1").format, "text");
    assert.equal(
      negotiateFormat("application/openmetrics-text;version=2.0.0,text/plain;q=0.5").format,
      "text",
    );
    assert.equal(
      negotiateFormat("text/plain;version=2.0.0,application/openmetrics-text;q=0.5").format,
      "openmetrics",
    );
  });

  test("negotiateFormat() reads types, parameter names and quoted values case-insensitively", () => {
    assert.deepEqual(negotiateFormat('Application/OpenMetrics-Text; Version="1.0.0"; Q=1'), {
      format: "openmetrics",
      escaping: "underscores",
      contentType: OPENMETRICS_UNDERSCORES,
    });
  });

  test("negotiateFormat() ignores malformed ranges and q-values", () => {
    assert.equal(negotiateFormat("garbage, application/openmetrics-text").format, "openmetrics");
    assert.equal(negotiateFormat("application/openmetrics-text;q=2,text/plain").format, "text");
    assert.equal(negotiateFormat("application/openmetrics-text;q=abc").format, "text");
  });
});

describe("acceptsGzip()", () => {
  test("acceptsGzip() accepts gzip, x-gzip and *, refuses q=0 and a missing header", () => {
    assert.equal(acceptsGzip("gzip"), true);
    assert.equal(acceptsGzip("gzip, deflate, br"), true);
    assert.equal(acceptsGzip("x-gzip"), true);
    assert.equal(acceptsGzip("*"), true);
    assert.equal(acceptsGzip("GZIP;q=0.5"), true);
    assert.equal(acceptsGzip(null), false);
    assert.equal(acceptsGzip(""), false);
    assert.equal(acceptsGzip("identity"), false);
    assert.equal(acceptsGzip("br"), false);
    assert.equal(acceptsGzip("gzip;q=0"), false);
    assert.equal(acceptsGzip("gzip;q=0, *"), false);
    assert.equal(acceptsGzip("*;q=0"), false);
  });

  test("acceptsGzip() prefers identity when it is listed with a higher q-value", () => {
    assert.equal(acceptsGzip("gzip;q=0.5, identity"), false);
    assert.equal(acceptsGzip("gzip, identity;q=0.5"), true);
  });
});

describe("makeHandler() content negotiation", () => {
  const registry = new CollectorRegistry();
  new Counter({ name: "jobs_total", description: "Jobs.", registry }).inc(3);
  const handler = makeHandler({ registry, created: false });

  async function scrape(accept?: string): Promise<Response> {
    const headers: Record<string, string> = accept === undefined ? {} : { accept };
    return await handler(new Request("http://localhost/metrics", { headers }));
  }

  test("makeHandler() serves OpenMetrics to Prometheus 2's and 3's Accept headers", async () => {
    for (
      const [accept, escaping] of [[PROMETHEUS_2, "underscores"], [PROMETHEUS_3, "allow-utf-8"]]
    ) {
      const response = await scrape(accept);
      assert.equal(
        response.headers.get("content-type"),
        `${OPENMETRICS_CONTENT_TYPE}; escaping=${escaping}`,
      );
      assert.equal(
        await response.text(),
        "# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total 3\n# EOF\n",
      );
    }
  });

  test("makeHandler() serves the text format 0.0.4 without an Accept header", async () => {
    const response = await scrape();
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(response.headers.get("vary"), "Accept, Accept-Encoding");
    assert.equal(
      await response.text(),
      "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 3\n",
    );
  });

  test("makeHandler() labels its answer to an OpenMetrics 0.0.1 request as 0.0.1", async () => {
    const response = await scrape(PROMETHEUS_2_OLD);
    assert.equal(response.headers.get("content-type"), OPENMETRICS_0_0_1);
    assert.match(await response.text(), /\n# EOF\n$/);
  });
});

// Prometheus itself: start it against a server that records what it is sent.
const skip = needs("prometheus");

describe("Prometheus scrapes", { skip }, () => {
  const seen: { accept: string | null; encoding: string | null }[] = [];
  const registry = new CollectorRegistry();
  new Counter({ name: "negotiated_total", description: "Scrapes.", registry }).inc();
  const handler = makeHandler({ registry });
  let server: Served | undefined;
  let prometheus: Prometheus | undefined;
  // Started by the first test, not in `before`: Bun gives hooks 5 s whatever
  // their options say, and tests the timeout they ask for.
  let started: Promise<Prometheus> | undefined;
  const setup = (): Promise<Prometheus> =>
    started ??= (async () => {
      server = serve((request) => {
        seen.push({
          accept: request.headers.get("accept"),
          encoding: request.headers.get("accept-encoding"),
        });
        return handler(request);
      });
      return prometheus = await startPrometheus(
        [{ job: "pytheus", target: `127.0.0.1:${server.port}` }],
      );
    })();

  after(async () => {
    await prometheus?.stop();
    await server?.close();
  });

  test(
    "Prometheus 2.42 sends the Accept header negotiateFormat() turns into OpenMetrics",
    OPTIONS,
    async () => {
      await setup();
      await waitFor("a scrape", () => seen.length > 0, 20_000);
      const { accept, encoding } = seen[0]!;
      assert.equal(accept, PROMETHEUS_2);
      assert.equal(encoding, "gzip");
      assert.equal(negotiateFormat(accept).format, "openmetrics");
    },
  );

  test(
    "Prometheus reads the OpenMetrics answer: the scrape is up and the counter stored",
    OPTIONS,
    async () => {
      const prometheus = await setup();
      await waitFor(
        "negotiated_total in Prometheus",
        async () => {
          const response = await fetch(`${prometheus.url}/api/v1/query?query=negotiated_total`);
          const body = await response.json() as {
            data: { result: { value: [number, string] }[] };
          };
          return body.data.result[0]?.value[1] === "1";
        },
        20_000,
      );
      const targets = await (await fetch(`${prometheus.url}/api/v1/targets`)).json() as {
        data: { activeTargets: { health: string; lastError: string }[] };
      };
      assert.deepEqual(
        targets.data.activeTargets.map((t) => [t.health, t.lastError]),
        [["up", ""]],
      );
    },
  );
});
