/**
 * A bring-your-own backend: where metric values live is a class of four
 * methods (`inc`, `dec`, `set`, `get`), chosen once with `loadBackend()`.
 * This one keeps every value in one key-value store under readable keys, the
 * shape a backend for Deno KV, a shared-memory table or another database
 * would take.
 *
 *     deno run examples/custom_backend.ts      # or: bun examples/custom_backend.ts
 *
 * It prints the exposition text a scrape would read.
 *
 * @module
 */

import {
  type Backend,
  type BackendConfig,
  type BackendMetric,
  Counter,
  generateMetrics,
  Histogram,
  loadBackend,
  PytheusError,
} from "../mod.ts";

/** The store: one number per key. A real backend would talk to a database here. */
const store = new Map<string, number>();

/**
 * Stores each series (each histogram bucket, each histogram sum) under
 * `<namespace>:<name>:<labels as JSON>[:<bucket>]`.
 */
class KeyValueBackend implements Backend {
  static #namespace = "";
  readonly #key: string;

  /**
   * Called once by `loadBackend()`, before any metric is created: the place
   * to check the configuration and to connect.
   */
  static initialize(config: BackendConfig): void {
    if (typeof config.namespace !== "string" || config.namespace === "") {
      throw new PytheusError('KeyValueBackend needs a "namespace" string in its config');
    }
    KeyValueBackend.#namespace = config.namespace;
  }

  /**
   * Constructed once per series, histogram bucket (`histogramBucket` is the
   * bucket bound as written in `le`) and histogram sum (`"sum"`).
   */
  constructor(_config: BackendConfig, metric: BackendMetric, histogramBucket?: string) {
    this.#key = [
      KeyValueBackend.#namespace,
      metric.name,
      JSON.stringify(metric.labelValues),
      ...histogramBucket === undefined ? [] : [histogramBucket],
    ].join(":");
  }

  // inc, dec and set run on the application's hot path: they must be quick
  // and must never throw.
  inc(value: number): void {
    store.set(this.#key, (store.get(this.#key) ?? 0) + value);
  }

  dec(value: number): void {
    store.set(this.#key, (store.get(this.#key) ?? 0) - value);
  }

  set(value: number): void {
    store.set(this.#key, value);
  }

  // get runs at scrape time and may return a promise.
  get(): number {
    return store.get(this.#key) ?? 0;
  }

  // Optional: called when the series is removed (metric.remove(), metric.clear()).
  remove(): void {
    store.delete(this.#key);
  }
}

// Metrics created from now on keep their values in KeyValueBackend.
await loadBackend({ backendClass: KeyValueBackend, backendConfig: { namespace: "shop" } });

const orders = new Counter({
  name: "orders_total",
  description: "Orders placed, by payment method.",
  requiredLabels: ["payment"] as const,
});
const basket = new Histogram({
  name: "basket_value_euros",
  description: "Value of the orders placed.",
  buckets: [10, 50, 100],
});

orders.labels({ payment: "card" }).inc();
orders.labels({ payment: "card" }).inc();
orders.labels({ payment: "invoice" }).inc();
basket.observe(12.5);
basket.observe(80);
basket.observe(250);

console.log((await generateMetrics()).trimEnd());
