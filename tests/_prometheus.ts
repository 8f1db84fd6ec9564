/** Running a real Prometheus (serve what it scrapes with `serve()` of `./_serve.ts`). */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type Running, start, waitFor } from "./_process.ts";

/** One scrape job: its name (the `job` label), its `host:port` target and path. */
export interface ScrapeJob {
  readonly job: string;
  readonly target: string;
  /** The path scraped; `/metrics` when absent. */
  readonly path?: string;
}

/** One series of a PromQL instant-query answer. */
export interface QueriedSample {
  readonly metric: Record<string, string>;
  /** The value as Prometheus spells it ("3", "-2.5", "+Inf", "NaN"). */
  readonly value: string;
}

/** A running Prometheus server. */
export interface Prometheus {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Runs a PromQL instant query. */
  query(promql: string): Promise<QueriedSample[]>;
  /** Polls `promql` until `check` accepts the answer; throws with the last one after the timeout. */
  waitForQuery(
    promql: string,
    check: (samples: QueriedSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<QueriedSample[]>;
  /** What it printed, for error messages. */
  output(): string;
  /** Stops it and deletes its data directory. */
  stop(): Promise<void>;
}

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** Feature flags to enable (`--enable-feature=`), e.g. `exemplar-storage`; none when absent. */
  readonly features?: readonly string[];
  /** The scrape interval (and timeout), as Prometheus spells a duration: `1s` when absent. */
  readonly interval?: string;
}

/**
 * Starts `prometheus` scraping `jobs` every second (or `interval`), with its
 * storage in a fresh temporary directory, and waits until it is ready.
 */
export async function startPrometheus(
  jobs: readonly ScrapeJob[],
  { features = [], interval = "1s" }: PrometheusOptions = {},
): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), "pytheus-prometheus-"));
  const config = join(dir, "prometheus.yml");
  await writeFile(
    config,
    [
      "global:",
      `  scrape_interval: ${interval}`,
      `  scrape_timeout: ${interval}`,
      "scrape_configs:",
      ...jobs.flatMap(({ job, target, path = "/metrics" }) => [
        `  - job_name: ${JSON.stringify(job)}`,
        `    metrics_path: ${JSON.stringify(path)}`,
        "    static_configs:",
        `      - targets: [${JSON.stringify(target)}]`,
      ]),
      "",
    ].join("\n"),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server: Running = start("prometheus", [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    ...features.map((feature) => `--enable-feature=${feature}`),
  ]);
  const stop = async (): Promise<void> => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor("prometheus to be ready", async () => {
      if (server.child.exitCode !== null) {
        throw new Error(`prometheus exited:\n${server.output()}`);
      }
      const response = await fetch(`${url}/-/ready`);
      await response.body?.cancel();
      return response.ok;
    }, 20_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${server.output()}`);
  }

  const query = async (promql: string): Promise<QueriedSample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = await response.json() as {
      status: string;
      error?: string;
      data?: {
        resultType: string;
        result: { metric: Record<string, string>; value: [number, string] }[];
      };
    };
    if (body.status !== "success" || body.data?.resultType !== "vector") {
      throw new Error(`Query ${promql} failed: ${JSON.stringify(body)}`);
    }
    return body.data.result.map(({ metric, value }) => ({ metric, value: value[1] }));
  };

  return {
    url,
    query,
    async waitForQuery(promql, check, timeoutMs = 30_000) {
      let last: QueriedSample[] = [];
      try {
        await waitFor(`Prometheus to answer ${promql} as expected`, async () => {
          last = await query(promql);
          return check(last);
        }, timeoutMs);
      } catch (error) {
        const targets = await fetch(`${url}/api/v1/targets`).then((r) => r.text()).catch(String);
        throw new Error(
          `${(error as Error).message}\nlast answer: ${JSON.stringify(last)}\ntargets: ${targets}`,
        );
      }
      return last;
    },
    output: server.output,
    stop,
  };
}

/**
 * A query answer as sorted lines `name{labels} value`, for exact
 * comparisons: without the `job` and `instance` labels Prometheus adds
 * (unless kept), and with `le` in one spelling (OpenMetrics writes `1.0`,
 * the text format `1`).
 */
export function lines(samples: readonly QueriedSample[], keep: readonly string[] = []): string[] {
  return samples.map(({ metric, value }) => {
    const labels = Object.keys(metric)
      .filter((name) => name !== "__name__" && (keep.includes(name) || !DROPPED.has(name)))
      .sort()
      .map((name) => {
        const label = metric[name]!;
        const spelled = name === "le" && label !== "+Inf" ? String(Number(label)) : label;
        return `${name}=${JSON.stringify(spelled)}`;
      });
    return `${metric.__name__ ?? ""}{${labels.join(",")}} ${value}`;
  }).sort();
}

const DROPPED = new Set(["job", "instance"]);
