/**
 * The cells of a metric's series in a store other than the in-memory one:
 * one per number a series keeps, named completely (see `StoredSeries`), and
 * checked where they are made.
 */

import type { Backend, BackendFactory, BackendMetric } from "../backends/backend.ts";
import type { Store, StoredMetric, StoredSeries } from "../backends/store.ts";
import { IdleMark, type IdleMetric } from "../backends/_idle_stores.ts";
import { sampleKey } from "../backends/_series_key.ts";
import { InvalidOptionError } from "../errors.ts";
import { describeValue } from "../_validation.ts";
import { nativeFactoryOf } from "../backends/_native_stores.ts";
import type { NativeCell, NativeSettings } from "./_native_histogram.ts";

/** Makes a series' native histogram in its metric's store. */
export type NativeCells = (child: BackendMetric, settings: NativeSettings) => NativeCell;

/** The mark of each child's series, in a store that finds idle series at flush time. */
export type Marks = (child: BackendMetric) => IdleMark;

/** What makes a cell in a store: its `cell()`, or, with a series' mark, what it gave for that. */
export interface CellMaker {
  readonly marks: Marks;
  cell(series: StoredSeries, mark: IdleMark): unknown;
}

/**
 * The marks of a metric's series, one per child: its cells are made one
 * after the other, its native histogram last.
 *
 * @param idle The metric.
 * @param keyOf The key of a child's series.
 * @returns The mark of a child's series.
 */
export function marksOf(idle: IdleMetric, keyOf: (child: BackendMetric) => string): Marks {
  let last: BackendMetric | undefined;
  let mark: IdleMark | undefined;
  return (child) => {
    if (child !== last || mark === undefined) {
      last = child;
      mark = new IdleMark(idle, keyOf(child));
    }
    return mark;
  };
}

/**
 * What makes a metric's cells in a store; the cells of one child share
 * their labels and key.
 *
 * @param store The store.
 * @param stored What the store is told of the metric.
 * @param keyOf The key of a child's series.
 * @param maker What makes a cell with its series' mark, when the store takes one.
 * @returns What makes each child's cells.
 */
export function cellsIn(
  store: Store,
  stored: StoredMetric,
  keyOf: (child: BackendMetric) => string,
  maker?: CellMaker,
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
    const series: StoredSeries = {
      metric,
      key: sampleKey(key, sample),
      registryPrefix,
      name,
      type,
      labelValues,
      sample,
    };
    const cell: unknown = maker === undefined
      ? store.cell(series)
      : maker.cell(series, maker.marks(child));
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
 * @param marks The mark of each child's series, when the store takes one.
 * @returns What makes each child's native histogram, or `undefined`.
 */
export function nativeIn(
  store: Store,
  stored: StoredMetric,
  keyOf: (child: BackendMetric) => string,
  marks?: Marks,
): NativeCells | undefined {
  const factory = nativeFactoryOf(store);
  if (factory === undefined) return undefined;
  const { metric, registryPrefix, name, type } = stored;
  return (child, settings) =>
    factory(
      {
        metric,
        key: sampleKey(keyOf(child), "native"),
        registryPrefix,
        name,
        type,
        labelValues: child.labelValues,
        sample: "native",
      },
      settings,
      marks?.(child),
    );
}

/** Whether a store's cell has the methods a series calls. */
function isCell(cell: unknown): cell is Backend {
  if (cell === null || typeof cell !== "object") return false;
  const methods = cell as Record<string, unknown>;
  return ["inc", "dec", "set", "get"].every((name) => typeof methods[name] === "function");
}
