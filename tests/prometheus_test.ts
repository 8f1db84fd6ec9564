/**
 * A real Prometheus scrapes what pytheus serves: an app in this process (on
 * Deno.serve or Bun.serve) and the three demo examples, each a program of its own.
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  CollectorRegistry,
  Counter,
  Gauge,
  Histogram,
  loadBackend,
  makeHandler,
  SingleProcessBackend,
} from "../mod.ts";
import { freePort, needs, type Running, start, waitFor } from "./_process.ts";
import { lines, type Prometheus, startPrometheus } from "./_prometheus.ts";
import { RUNTIME, serve, type Served } from "./_serve.ts";

const skip = needs("prometheus", "deno", "bun");

const OPTIONS = { timeout: 60_000 };

function example(file: string): string {
  return fileURLToPath(new URL(`../examples/${file}`, import.meta.url));
}

/** The examples, each run by the program it is written for. */
const EXAMPLES = [
  {
    job: "deno_serve",
    command: (port: number): [string, string[], Record<string, string>] => [
      "deno",
      ["run", "--allow-net", "--allow-env", example("deno_serve.ts")],
      { PORT: String(port) },
    ],
  },
  {
    job: "deno_serve_export",
    command: (port: number): [string, string[], Record<string, string>] => [
      "deno",
      ["serve", "--host", "127.0.0.1", "--port", String(port), example("deno_serve_export.ts")],
      {},
    ],
  },
  {
    job: "bun_serve",
    command: (port: number): [string, string[], Record<string, string>] => [
      "bun",
      [example("bun_serve.ts")],
      { PORT: String(port) },
    ],
  },
];

/** The metrics the in-process app exposes. */
function createMetrics(registry: CollectorRegistry) {
  const jobs = new Counter({
    name: "jobs_total",
    description: "Jobs done.",
    requiredLabels: ["queue"] as const,
    registry,
  });
  const temperature = new Gauge({
    name: "temperature_celsius",
    description: "Temperature.",
    requiredLabels: ["room"] as const,
    registry,
  });
  const work = new Histogram({
    name: "work_seconds",
    description: "Work time.",
    buckets: [1, 2, 4],
    registry,
  });
  return { jobs, temperature, work };
}

describe(`Prometheus scraping pytheus (tests on ${RUNTIME})`, { skip }, () => {
  const hostile = 'say "hi" \\ back\nslash ü 🚀 },=';

  const registry = new CollectorRegistry({ prefix: "e2e" });
  let metrics: ReturnType<typeof createMetrics> | undefined;
  let app: Served | undefined;
  const examples: { job: string; port: number; server: Running }[] = [];
  let prometheus: Prometheus | undefined;

  // Started by the first test rather than in `before`: Bun gives hooks 5 s
  // whatever their options say, tests the timeout they ask for.
  let started: Promise<void> | undefined;
  const setup = (): Promise<void> => started ??= startAll();
  async function startAll(): Promise<void> {
    // Bun runs every test file in one process: do not inherit a backend another file loaded.
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
    metrics = createMetrics(registry);
    // "/metrics" answers in the format Prometheus asks for (OpenMetrics, when
    // the handler offers it); "/text" drops the Accept headers, so it always
    // answers in the text format 0.0.4.
    const metricsHandler = makeHandler({ registry });
    app = serve((request) =>
      new URL(request.url).pathname === "/text"
        ? metricsHandler(new Request(request.url))
        : metricsHandler(request)
    );
    for (const { job, command } of EXAMPLES) {
      const port = await freePort();
      const [program, args, env] = command(port);
      examples.push({ job, port, server: start(program, args, env) });
    }
    for (const { job, port, server } of examples) {
      await waitFor(`example ${job} to listen`, async () => {
        if (server.child.exitCode !== null) throw new Error(server.output());
        const response = await fetch(`http://127.0.0.1:${port}/`);
        await response.body?.cancel();
        return response.ok;
      }, 20_000).catch((error) => {
        throw new Error(`${error.message}\n${server.output()}`);
      });
    }
    prometheus = await startPrometheus([
      { job: "app", target: `127.0.0.1:${app.port}` },
      { job: "app_text", target: `127.0.0.1:${app.port}`, path: "/text" },
      ...examples.map(({ job, port }) => ({ job, target: `127.0.0.1:${port}` })),
    ]);
  }

  after(async () => {
    await prometheus?.stop();
    await Promise.all(examples.map(({ server }) => server.stop()));
    await app?.close();
  });

  test(
    "Prometheus reads exactly the counter, gauge and histogram values set",
    OPTIONS,
    async () => {
      await setup();
      const { jobs, temperature, work } = metrics!;
      jobs.labels({ queue: "mail" }).inc(3);
      jobs.labels({ queue: hostile }).inc(0.5);
      temperature.labels({ room: "cellar" }).set(-2.5);
      temperature.labels({ room: "oven" }).set(Infinity);
      temperature.labels({ room: "void" }).set(NaN);
      for (let i = 0; i < 4; i++) work.observe(3);

      const values = [
        ["e2e_jobs_total{", 'queue="mail"} 3'],
        ["e2e_jobs_total{", `queue=${JSON.stringify(hostile)}} 0.5`],
        ["e2e_temperature_celsius{", 'room="cellar"} -2.5'],
        ["e2e_temperature_celsius{", 'room="oven"} +Inf'],
        ["e2e_temperature_celsius{", 'room="void"} NaN'],
        ["e2e_work_seconds_bucket{", 'le="1"} 0'],
        ["e2e_work_seconds_bucket{", 'le="2"} 0'],
        ["e2e_work_seconds_bucket{", 'le="4"} 4'],
        ["e2e_work_seconds_bucket{", 'le="+Inf"} 4'],
        ["e2e_work_seconds_count{", "} 4"],
        ["e2e_work_seconds_sum{", "} 12"],
      ];
      // The same values, whichever format each endpoint was scraped in.
      const expected = ["app", "app_text"].flatMap((job) =>
        values.map(([name, rest]) =>
          `${name}job="${job}"${rest!.startsWith("}") ? "" : ","}${rest}`
        )
      ).sort();
      // OpenMetrics adds `_created` series; the values set are the rest.
      const seen = await prometheus!.waitForQuery(
        '{__name__=~"e2e_.*",__name__!~".*_created"}',
        (samples) => lines(samples, ["job"]).join("\n") === expected.join("\n"),
      );
      assert.deepEqual(lines(seen, ["job"]), expected);

      // Four observations of 3 in the bucket (2, 4]: the median interpolates to 3.
      const medians = await prometheus!.query(
        "histogram_quantile(0.5, e2e_work_seconds_bucket)",
      );
      assert.deepEqual(lines(medians, ["job"]), ['{job="app"} 3', '{job="app_text"} 3']);

      // Later values replace earlier ones at the next scrape.
      jobs.labels({ queue: "mail" }).inc(2);
      temperature.labels({ room: "cellar" }).set(19);
      const updated = await prometheus!.waitForQuery(
        'e2e_jobs_total{queue="mail"} + on(job) e2e_temperature_celsius{room="cellar"}',
        (samples) => samples.length === 2 && samples.every(({ value }) => value === "24"),
      );
      assert.deepEqual(lines(updated, ["job"]), ['{job="app"} 24', '{job="app_text"} 24']);
    },
  );

  test(
    "Prometheus reads the demo examples' request counts and latency histograms",
    OPTIONS,
    async () => {
      await setup();
      for (const { port } of examples) {
        for (const path of ["/work", "/work", "/", "/no/such/page"]) {
          const response = await fetch(`http://127.0.0.1:${port}${path}`);
          await response.text();
        }
      }
      const expected = examples.flatMap(({ job }) => [
        `http_requests_total{code="200",job="${job}",route="/"} 2`,
        `http_requests_total{code="200",job="${job}",route="/work"} 2`,
        `http_requests_total{code="404",job="${job}",route="unknown"} 1`,
      ]).sort();
      // The readiness probe of setup() asked for "/" once.
      const seen = await prometheus!.waitForQuery(
        'http_requests_total{job=~"deno_serve|deno_serve_export|bun_serve"}',
        (samples) => lines(samples, ["job"]).join("\n") === expected.join("\n"),
      );
      assert.deepEqual(lines(seen, ["job"]), expected);

      const counts = await prometheus!.query(
        'http_request_duration_seconds_count{route="/work"}',
      );
      assert.deepEqual(
        lines(counts, ["job"]),
        examples.map(({ job }) =>
          `http_request_duration_seconds_count{job="${job}",route="/work"} 2`
        )
          .sort(),
      );
      // Each /work sleeps at least 5 ms.
      const fastest = await prometheus!.query(
        'min(http_request_duration_seconds_sum{route="/work"})',
      );
      assert.ok(Number(fastest[0]?.value) >= 0.01, JSON.stringify(fastest));
      const inProgress = await prometheus!.query("http_requests_in_progress");
      assert.deepEqual(inProgress.map(({ value }) => value), ["0", "0", "0"]);
    },
  );
});
