/**
 * The cells of a metric's series in a store other than the in-memory one:
 * one per number a series keeps, named completely (see `StoredSeries`), and
 * checked where they are made.
 */

import type { Backend, BackendFactory, BackendMetric } from "../backends/backend.ts";
import type { Store, StoredMetric } from "../backends/store.ts";
import { sampleKey } from "../backends/_series_key.ts";
import { InvalidOptionError } from "../errors.ts";
import { describeValue } from "../_validation.ts";
import { nativeFactoryOf } from "../backends/_native_stores.ts";
import type { NativeCell, NativeSettings } from "./_native_histogram.ts";

/** Makes a series' native histogram in its metric's store. */
export type NativeCells = (child: BackendMetric, settings: NativeSettings) => NativeCell;

/**
 * What makes a metric's cells in a store; the cells of one child share
 * their labels and key.
 *
 * @param store The store.
 * @param stored What the store is told of the metric.
 * @param keyOf The key of a child's series.
 * @returns What makes each child's cells.
 */
export function cellsIn(
  store: Store,
  stored: StoredMetric,
  keyOf: (child: BackendMetric) => string,
): BackendFactory {
  const { metric, registryPrefix, name, type } = stored;
  let last: BackendMetric | undefined;
  let labelValues: Readonly<Record<string, string>> = {};
  let key = "";
  return (child, sample = "") => {
    if (child !== last) {
      last = child;
      labelValues = child.labelValues;
      key = keyOf(child);
    }
    const cell: unknown = store.cell({
      metric,
      key: sampleKey(key, sample),
      registryPrefix,
      name,
      type,
      labelValues,
      sample,
    });
    // Checked where it is made: a bad cell would throw on the hot path instead.
    if (!isCell(cell)) {
      throw new InvalidOptionError(
        `The store of "${name}" made ${describeValue(cell)} for a cell: cell() must ` +
          "return an object with inc, dec, set and get methods",
      );
    }
    return cell;
  };
}

/**
 * What makes a metric's native histograms in a store, when the store keeps
 * them (see `_native_stores.ts`).
 *
 * @param store The store.
 * @param stored What the store is told of the metric.
 * @param keyOf The key of a child's series.
 * @returns What makes each child's native histogram, or `undefined`.
 */
export function nativeIn(
  store: Store,
  stored: StoredMetric,
  keyOf: (child: BackendMetric) => string,
): NativeCells | undefined {
  const factory = nativeFactoryOf(store);
  if (factory === undefined) return undefined;
  const { metric, registryPrefix, name, type } = stored;
  return (child, settings) =>
    factory({
      metric,
      key: sampleKey(keyOf(child), "native"),
      registryPrefix,
      name,
      type,
      labelValues: child.labelValues,
      sample: "native",
    }, settings);
}

/** Whether a store's cell has the methods a series calls. */
function isCell(cell: unknown): cell is Backend {
  if (cell === null || typeof cell !== "object") return false;
  const methods = cell as Record<string, unknown>;
  return ["inc", "dec", "set", "get"].every((name) => typeof methods[name] === "function");
}
