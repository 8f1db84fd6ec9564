/**
 * The peers' workloads: prom-client and @prometheus-io/client share one API,
 * so one copy serves both. bench/bench.ts imports this module once per peer
 * (`_peer_suite.ts?<peer>`): each import is a module of its own, with its own
 * function literals, so no engine shares type feedback between the peers.
 */

import type promClient from "prom-client";
import {
  type Adapter,
  CODES,
  ENCODER,
  HISTOGRAM_ROUTES,
  METHODS,
  RENDER_COUNTERS,
  RENDER_HISTOGRAMS,
  RENDER_ROUTES,
  VALUES,
} from "./_workload.ts";

/** What the suite uses of a peer: prom-client's API, which @prometheus-io/client shares. */
export type PeerLibrary = Pick<typeof promClient, "Counter" | "Histogram" | "Registry">;

/**
 * The workloads of one peer.
 *
 * @param lib The peer's module.
 * @returns Its adapter.
 */
export function peerAdapter(lib: PeerLibrary): Adapter {
  return {
    childInc() {
      const c = new lib.Counter({
        name: "bench_child_total",
        help: "Bench.",
        labelNames: ["method", "code"] as const,
        registers: [new lib.Registry()],
      });
      const child = c.labels({ method: "GET", code: "200" });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) child.inc();
        },
        count: () => peerCount(c.get()),
      };
    },
    labelsInc() {
      const c = new lib.Counter({
        name: "bench_labels_total",
        help: "Bench.",
        labelNames: ["method", "code"] as const,
        registers: [new lib.Registry()],
      });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) {
            c.inc({ method: METHODS[i & 3]!, code: CODES[(i >> 2) & 3]! });
          }
        },
        count: () => peerCount(c.get()),
      };
    },
    observe() {
      const h = new lib.Histogram({
        name: "bench_seconds",
        help: "Bench.",
        registers: [new lib.Registry()],
      });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) h.observe(VALUES[i & 1023]!);
        },
        count: () => peerCount(h.get(), "bench_seconds_count"),
      };
    },
    nativeObserve() {
      const h = new lib.Histogram({
        name: "bench_native_seconds",
        help: "Bench.",
        registers: [new lib.Registry()],
      });
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) h.observe(VALUES[i & 1023]!);
        },
        count: () => peerCount(h.get(), "bench_native_seconds_count"),
      };
    },
    render() {
      const registry = new lib.Registry();
      for (let k = 0; k < RENDER_COUNTERS; k++) {
        const c = new lib.Counter({
          name: `bench_requests_${k}_total`,
          help: "Requests served.",
          labelNames: ["route", "method"] as const,
          registers: [registry],
        });
        RENDER_ROUTES.forEach((route, j) => c.inc({ route, method: "GET" }, j + 1));
      }
      for (let k = 0; k < RENDER_HISTOGRAMS; k++) {
        const h = new lib.Histogram({
          name: `bench_latency_${k}_seconds`,
          help: "Latency.",
          labelNames: ["route"] as const,
          registers: [registry],
        });
        HISTOGRAM_ROUTES.forEach((route, j) => {
          for (let v = 0; v < 3; v++) h.observe({ route }, VALUES[(j * 3 + v) & 1023]!);
        });
      }
      return {
        text: () => registry.metrics(),
        bytes: async () => ENCODER.encode(await registry.metrics()),
        protobuf: async () => ENCODER.encode(await registry.metrics()),
      };
    },
    series(routes) {
      const registry = new lib.Registry();
      const c = new lib.Counter({
        name: "bench_series_total",
        help: "Bench.",
        labelNames: ["route", "method"] as const,
        registers: [registry],
      });
      for (let i = 0; i < routes.length; i++) c.inc({ route: routes[i]!, method: "GET" }, 0.5);
      return registry;
    },
  };
}

/** Sums the values a peer metric's `get()` reports (those named `metricName` only). */
async function peerCount(
  got: Promise<{ values: readonly { value: number; metricName?: string }[] }>,
  metricName?: string,
): Promise<number> {
  let total = 0;
  for (const v of (await got).values) if (v.metricName === metricName) total += v.value;
  return total;
}
