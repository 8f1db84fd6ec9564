/**
 * A real Prometheus 2.42 (native histograms on) scraping a native histogram
 * that 3 Web Workers share through MultiWorkerBackend, this thread
 * answering: between two scrapes one worker lowers its resolution and
 * another widens its zero bucket, so the merged series changes schema and
 * zero threshold inside the range `rate()` reads. `histogram_count()`,
 * `histogram_sum()` and `histogram_quantile()` of that rate answer what the
 * workers observed in between (no counter reset read into it), the quantile
 * within the merged schema's relative error.
 */

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { encodeMetrics, Histogram, makeHandler, type NativeHistogramOptions } from "../mod.ts";
import { needs } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { serve, type Served } from "./_serve.ts";
import { type NativeWorkers, startNativeWorkers } from "./_native_workers.ts";
import { nativeOf } from "./_protobuf.ts";
const NAME = "rated_seconds";

/** One raw sample of a native histogram, as Prometheus' API gives it. */
interface RawSample {
  /** Milliseconds since the epoch. */
  readonly t: number;
  readonly count: number;
}

describe("Prometheus 2.42 reading the rate of a native histogram merged from workers", {
  skip: needs("prometheus"),
}, () => {
  let started: NativeWorkers | undefined;
  let server: Served | undefined;
  let prometheus: Prometheus | undefined;
  after(async () => {
    await prometheus?.stop();
    await server?.close();
    await started?.stop();
  });

  test(
    "histogram_count(), histogram_sum() and histogram_quantile(0.5) of rate() answer what was observed, across a lower schema and a wider zero bucket",
    { timeout: 90_000 },
    async () => {
      const options: NativeHistogramOptions[] = [
        {},
        { maxBuckets: 45 },
        { maxBuckets: 45, maxZeroThreshold: 0.01 },
      ];
      started = await startNativeWorkers(
        "native-prometheus",
        options.length,
        1000,
        (i) => ({ op: "define", name: NAME, native: options[i]! }),
      );
      const { registry, workers } = started;
      new Histogram({ name: NAME, description: "Rated.", buckets: [], native: {}, registry });
      const observe = (values: number[]): Promise<unknown> =>
        Promise.all(workers.map((worker) => worker.run({ op: "values", values })));
      const merged = async () =>
        nativeOf(await encodeMetrics(registry, { format: "protobuf" }), NAME);
      await observe([1, 2]);
      const first = await merged();
      assert.deepEqual([first.schema, first.zeroThreshold], [3, 2 ** -128]);
      server = serve(makeHandler({ registry }));
      prometheus = await startPrometheus(
        [{ job: "rated", target: `127.0.0.1:${server.port}` }],
        { features: ["native-histograms"], interval: "250ms" },
      );
      const seen = (count: number) =>
        prometheus!.waitForQuery(`histogram_count(${NAME})`, (s) => s[0]?.value === `${count}`);
      await seen(6);
      // Between two scrapes: 0.001 to 1 by 0.001, in each worker.
      const values = Array.from({ length: 1000 }, (_, i) => (i + 1) / 1000);
      await observe(values);
      await seen(3006);
      const last = await merged();
      // The second worker lowered its resolution, the third widened its zero bucket too.
      assert.ok(last.schema < 3, `schema ${last.schema}`);
      assert.ok(last.zeroThreshold > 2 ** -128, `zero threshold ${last.zeroThreshold}`);
      // The samples Prometheus took: the last before the values (t1), the first after them (t2).
      const raw = await fetch(
        `${prometheus.url}/api/v1/query?query=${encodeURIComponent(`${NAME}[5m]`)}`,
      ).then((r) => r.json()) as {
        data: { result: { histograms: [number, { count: string }][] }[] };
      };
      const samples: RawSample[] = raw.data.result[0]!.histograms.map(([t, h]) => ({
        t: Math.round(t * 1000),
        count: Number(h.count),
      }));
      const t1 = samples.filter((s) => s.count === 6).at(-1)!.t;
      const t2 = samples.find((s) => s.count === 3006)!.t;
      // A range from t1 to t2, read at t2: nothing to extrapolate, rate() × range is the increase.
      const range = t2 - t1;
      const at = async (promql: string): Promise<number> => {
        const url = `${prometheus!.url}/api/v1/query?time=${t2 / 1000}&query=${
          encodeURIComponent(promql)
        }`;
        const body = await fetch(url).then((r) => r.json()) as {
          data: { result: { value: [number, string] }[] };
        };
        assert.equal(body.data.result.length, 1, `${promql}: ${JSON.stringify(body)}`);
        return Number(body.data.result[0]!.value[1]);
      };
      const rate = `rate(${NAME}[${range}ms])`;
      const seconds = range / 1000;
      const count = await at(`histogram_count(${rate})`) * seconds;
      assert.ok(Math.abs(count - 3000) < 1e-6, `count ${count}`);
      const sum = await at(`histogram_sum(${rate})`) * seconds;
      assert.ok(Math.abs(sum - 1501.5) < 1e-6, `sum ${sum}`);
      // The median of the 3000 values is 0.5: within a bucket of the merged schema of it.
      const median = await at(`histogram_quantile(0.5, ${rate})`);
      const error = 2 ** (2 ** -last.schema) - 1;
      assert.ok(Math.abs(median - 0.5) / 0.5 < error, `median ${median} (schema ${last.schema})`);
    },
  );
});
