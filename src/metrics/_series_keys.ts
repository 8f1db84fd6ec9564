/**
 * The keys of a metric's series in its store (see `StoredSeries.key`): the
 * labels as JSON with sorted names, `{"code":"200","path":"/"}`, made once
 * per series and kept by row.
 */

import type { Outside } from "./child.ts";
import type { SeriesTable } from "./_series_table.ts";

/** The store keys of one metric's series. */
export class SeriesKeys {
  readonly #names: readonly string[];
  readonly #series: SeriesTable;
  // The label names in key order, and each one's start in a key (`{"a":`, `,"b":`).
  readonly #order: readonly number[];
  readonly #heads: readonly string[];
  // The keys of the series, by row, once asked for (by a store's cells or read).
  readonly #keys: (string | undefined)[] = [];

  /**
   * @param names The metric's label names.
   * @param series The table holding its series' label values, by row.
   */
  constructor(names: readonly string[], series: SeriesTable) {
    this.#names = names;
    this.#series = series;
    this.#order = names.map((_, i) => i).sort((a, b) => names[a]! < names[b]! ? -1 : 1);
    this.#heads = this.#order.map((i, n) => `${n === 0 ? "{" : ","}${JSON.stringify(names[i])}:`);
  }

  /**
   * The key of a series: kept for a row of the table, made each time for a
   * child outside it.
   *
   * @param row The series' row, or what a child outside the table keeps.
   * @returns The key.
   */
  of(row: number | Pick<Outside, "labels">): string {
    if (typeof row === "number") return this.#keys[row] ??= this.#make(row);
    return this.#make(row);
  }

  /**
   * Keeps a key read from a store for a row (the same string: lookups find it at once).
   *
   * @param row The row.
   * @param key Its key, as `of(row)` would make it.
   */
  keep(row: number, key: string): void {
    this.#keys[row] = key;
  }

  /**
   * Forgets the key of a row, which goes to another series.
   *
   * @param row The row.
   */
  forget(row: number): void {
    this.#keys[row] = undefined;
  }

  #make(row: number | Pick<Outside, "labels">): string {
    const heads = this.#heads;
    if (heads.length === 0) return "{}";
    const order = this.#order;
    const parts: string[] = [];
    for (let n = 0; n < order.length; n++) {
      const i = order[n]!;
      const value = typeof row === "number"
        ? this.#series.value(row, i)
        : row.labels[this.#names[i]!]!;
      parts.push(heads[n]!, JSON.stringify(value));
    }
    parts.push("}");
    // Joined, not concatenated: one flat string, where `+` leaves a tree of
    // pieces that costs a series about 40 bytes more for as long as it lives.
    return parts.join("");
  }
}
