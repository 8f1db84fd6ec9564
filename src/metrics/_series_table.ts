/**
 * The label values and creation times of a metric's series, stored by column
 * (one array per label, typed arrays of times), one row per complete child,
 * in chunks of 1024 rows. A row costs a slot per label and 4 bytes, where a
 * record per child would cost an object and its label text a string: this is
 * what keeps a series small.
 */

import type { RecordedExemplar } from "../vocabulary.ts";
import { escapeLabelValue } from "../exposition/_format.ts";

const NEEDS_ESCAPING = /[\\"\n]/;

// Rows are stored in chunks of CHUNK: growing never copies more than a chunk,
// and only the last chunk has room to spare (a doubled array has half of it).
const CHUNK_BITS = 10;
const CHUNK = 1 << CHUNK_BITS;
const IN_CHUNK = CHUNK - 1;

/** The series of one metric: rows of label values, reused after a series is removed. */
export class SeriesTable {
  readonly #names: readonly string[];
  // One array of chunks per label: columns[label][row >> CHUNK_BITS][row & IN_CHUNK].
  #columns!: string[][][];
  // When each row's series was created (or reset), by chunk, in milliseconds
  // since #epoch: 4 bytes each while #narrow, 8 once a time falls outside
  // the 49.7 days that 4 bytes reach (or before #epoch: the clock went back).
  #created!: (Uint32Array | Float64Array)[];
  #narrow!: boolean;
  #epoch!: number;
  #rows!: number;
  #free!: number[];
  // Every label name set to "": spread, it gives a record of the exact shape.
  readonly #template: Record<string, string> = {};
  // `{a="`, `",b="`, ...: what goes before each value in a rendered label set.
  readonly #before: string[];
  // Each row's latest exemplar (a counter's), made on the first one.
  #exemplars: Map<number, RecordedExemplar> | undefined;
  // How many rows hold a value that `\`, `"` or a line feed must be escaped in.
  #escaping = 0;

  /**
   * Creates the table of a metric.
   *
   * @param names The metric's label names, in order.
   */
  constructor(names: readonly string[]) {
    this.#names = names;
    this.#empty();
    for (const name of names) this.#template[name] = "";
    this.#before = names.map((name, i) => `${i === 0 ? "{" : '",'}${name}="`);
  }

  /**
   * Stores a complete label set.
   *
   * @param values Each label's value, by name.
   * @returns The row.
   */
  add(values: Readonly<Record<string, string>>): number {
    const row = this.#free.pop() ?? this.#newRow();
    const chunk = row >> CHUNK_BITS;
    const at = row & IN_CHUNK;
    for (let i = 0; i < this.#names.length; i++) {
      this.#columns[i]![chunk]![at] = values[this.#names[i]!]!;
    }
    if (this.#needsEscaping(row)) this.#escaping++;
    this.restart(row);
    return row;
  }

  /** Makes room for one more row: the first chunk grows by doubling, the others come whole. */
  #newRow(): number {
    const row = this.#rows++;
    const chunk = row >> CHUNK_BITS;
    const created = this.#created;
    if (chunk === created.length) {
      created.push(this.#times(CHUNK));
      for (const column of this.#columns) column.push(new Array<string>(CHUNK).fill(""));
    } else if (chunk === 0 && row === created[0]!.length) {
      const grown = this.#times(row * 2);
      grown.set(created[0]!);
      created[0] = grown;
    }
    return row;
  }

  /** An array of `length` creation times, of the table's current width. */
  #times(length: number): Uint32Array | Float64Array {
    return this.#narrow ? new Uint32Array(length) : new Float64Array(length);
  }

  /** Starts with no row, the first chunk small, times 4 bytes wide from now. */
  #empty(): void {
    this.#columns = this.#names.map(() => [[]]);
    this.#narrow = true;
    this.#created = [this.#times(8)];
    this.#epoch = Date.now();
    this.#rows = 0;
    this.#free = [];
  }

  /**
   * Frees a row for the next series (its child was removed).
   *
   * @param row The row.
   */
  free(row: number): void {
    if (this.#needsEscaping(row)) this.#escaping--;
    for (const column of this.#columns) column[row >> CHUNK_BITS]![row & IN_CHUNK] = "";
    this.#exemplars?.delete(row);
    this.#free.push(row);
    // The last series gone (clear()): give the chunks back.
    if (this.#free.length === this.#rows) this.#empty();
  }

  /**
   * One label value of a row.
   *
   * @param row The row.
   * @param label The label's index in the metric's label names.
   * @returns The value.
   */
  value(row: number, label: number): string {
    return this.#columns[label]![row >> CHUNK_BITS]![row & IN_CHUNK]!;
  }

  /**
   * A row's label values as a record, in label order.
   *
   * @param row The row.
   * @returns A new record.
   */
  labelValues(row: number): Record<string, string> {
    const values = { ...this.#template };
    for (let i = 0; i < this.#names.length; i++) values[this.#names[i]!] = this.value(row, i);
    return values;
  }

  /**
   * A row's label set rendered as `{a="x",b="y"}`, `""` without labels.
   *
   * @param row The row.
   * @returns The rendered labels.
   */
  labelText(row: number): string {
    const before = this.#before;
    // One template for the usual one or two labels: JavaScriptCore then makes
    // a single rope of it, which a scrape flattens faster than a chain.
    switch (before.length) {
      case 0:
        return "";
      case 1:
        return `${before[0]}${this.#shown(row, 0)}"}`;
      case 2:
        return `${before[0]}${this.#shown(row, 0)}${before[1]}${this.#shown(row, 1)}"}`;
    }
    let text = "";
    for (let i = 0; i < before.length; i++) text = `${text}${before[i]}${this.#shown(row, i)}`;
    return `${text}"}`;
  }

  /** A label value as the exposition shows it, escaped if need be. */
  #shown(row: number, label: number): string {
    const value = this.value(row, label);
    return this.#escaping > 0 ? escapeLabelValue(value) : value;
  }

  /** Whether a row holds a value that must be escaped. */
  #needsEscaping(row: number): boolean {
    return this.#names.some((_, label) => NEEDS_ESCAPING.test(this.value(row, label)));
  }

  /**
   * When a row's series was created (or last reset).
   *
   * @param row The row.
   * @returns Seconds since the epoch.
   */
  created(row: number): number {
    return (this.#epoch + this.#created[row >> CHUNK_BITS]![row & IN_CHUNK]!) / 1000;
  }

  /**
   * A row's latest exemplar.
   *
   * @param row The row.
   * @returns The exemplar, if one was kept.
   */
  exemplar(row: number): RecordedExemplar | undefined {
    return this.#exemplars?.get(row);
  }

  /**
   * Keeps a row's latest exemplar, or forgets it.
   *
   * @param row The row.
   * @param exemplar The exemplar, `undefined` to forget it.
   */
  setExemplar(row: number, exemplar: RecordedExemplar | undefined): void {
    if (exemplar !== undefined) (this.#exemplars ??= new Map()).set(row, exemplar);
    else this.#exemplars?.delete(row);
  }

  /**
   * Restarts a row's creation time (its series was reset).
   *
   * @param row The row.
   */
  restart(row: number): void {
    const time = Date.now() - this.#epoch;
    if (this.#narrow && !(time >= 0 && time <= 0xffff_ffff)) {
      this.#created = this.#created.map((times) => Float64Array.from(times));
      this.#narrow = false;
    }
    this.#created[row >> CHUNK_BITS]![row & IN_CHUNK] = time;
  }
}
