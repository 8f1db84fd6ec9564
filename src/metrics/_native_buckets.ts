/**
 * The bucket math of native histograms, as Prometheus defines it: a schema
 * `s` from -4 to 8 splits each power of two into 2^s buckets (or, below 0,
 * makes one bucket of 2^-s powers of two); bucket `k` holds the values in
 * (2^((k-1)/2^s), 2^(k/2^s)], upper-inclusive. A value's key comes from its
 * binary exponent and significand (read from its bits) against a table of
 * exact bounds (see {@linkcode KeyTable}), never from `Math.log2`, whose
 * rounding would misplace values that sit on a bound.
 */

/** The schemas Prometheus reads: from -4 (a bucket per 65536×) to 8 (256 buckets per 2×). */
export const MIN_SCHEMA = -4;
/** See {@linkcode MIN_SCHEMA}. */
export const MAX_SCHEMA = 8;

/**
 * The schema of a bucket factor (the greatest ratio of a bucket's bounds
 * one accepts): the finest whose factor is no greater, clamped to the schemas
 * Prometheus reads. Factor 1.1 gives 3 (factor 2^(1/8) ≈ 1.09).
 *
 * @param factor The bucket factor, above 1.
 * @returns The schema.
 */
export function schemaOf(factor: number): number {
  const schema = 0 - Math.floor(Math.log2(Math.log2(factor)));
  return Math.min(MAX_SCHEMA, Math.max(MIN_SCHEMA, schema));
}

/**
 * The key of a positive value's bucket (of a negative value's absolute
 * value, for the negative buckets). `+Inf` takes the key after the largest
 * double's.
 *
 * @param value A positive number, or `Infinity`.
 * @param schema The schema.
 * @returns The key.
 */
export function keyOf(value: number, schema: number): number {
  return keyTableOf(schema).key(value);
}

/** The largest subnormal double: values above it are normal (or `+Inf`). */
export const LARGEST_SUBNORMAL: number = 2 ** -1022 - 2 ** -1074;

/**
 * The upper bound of a bucket: 2^(key/2^schema), from the schema's bounds
 * above schema 0.
 *
 * @param key The bucket's key.
 * @param schema The schema.
 * @returns The bound.
 */
export function upperBound(key: number, schema: number): number {
  if (schema <= 0) return 2 ** (key * 2 ** -schema);
  const n = 2 ** schema;
  const i = ((key % n) + n) % n;
  return boundsOf(schema)[i]! * 2 ** ((key - i) / n + 1);
}

/**
 * The lowest bucket boundary of a schema at or above a value that is exactly
 * a boundary for Prometheus too: a power of two `2^(k·2^-schema)` at or
 * below schema 0, a power of two above it (Prometheus' table of the bounds
 * in between differs from {@linkcode boundsOf} by one ulp at about half of
 * them, enough for it to read a zero bucket ending there as cutting a bucket,
 * and so a counter reset).
 *
 * @param value A positive number.
 * @param schema The schema.
 * @returns The boundary.
 */
export function boundAtOrAbove(value: number, schema: number): number {
  const step = schema >= 0 ? 1 : 2 ** -schema;
  // The least e with 2^e ≥ value, exactly: log2 only guesses it.
  let e = Math.ceil(Math.log2(value));
  while (2 ** (e - 1) >= value) e--;
  while (2 ** e < value) e++;
  return 2 ** (Math.ceil(e / step) * step);
}

/**
 * The buckets of a lower schema: each key `k` goes to `ceil(k/2)`, one
 * schema down (the resolution halves).
 *
 * @param buckets Counts by key.
 * @returns The counts by key of the schema below.
 */
export function halve(buckets: ReadonlyMap<number, number>): Map<number, number> {
  const merged = new Map<number, number>();
  for (const [key, count] of buckets) {
    const down = Math.ceil(key / 2);
    merged.set(down, (merged.get(down) ?? 0) + count);
  }
  return merged;
}

/** Buckets as the protobuf `Histogram` carries them: spans of keys, and count deltas. */
export interface Spans {
  /** `[offset, length]`: the gap from the previous span's end (the first: its start key), and how many keys. */
  readonly spans: [offset: number, length: number][];
  /** Each bucket's count minus the one before it (the first: minus 0), in key order. */
  readonly deltas: number[];
}

/**
 * Encodes buckets as spans and deltas: a gap of at most 2 empty buckets is
 * written as zero buckets inside a span (cheaper than a new span), a longer
 * one starts a new span.
 *
 * @param buckets Counts by key (empty buckets may be left out).
 * @returns The spans and deltas.
 */
export function spansOf(buckets: ReadonlyMap<number, number>): Spans {
  const keys = [...buckets.keys()].filter((key) => buckets.get(key)! !== 0).sort((a, b) => a - b);
  const spans: [number, number][] = [];
  const deltas: number[] = [];
  let previous = 0;
  let next = 0;
  for (const key of keys) {
    const gap = key - next;
    if (spans.length === 0 || gap > 2) {
      spans.push([spans.length === 0 ? key : gap, 0]);
    } else {
      // Explicit empty buckets: a delta back to 0, then from 0.
      for (let i = 0; i < gap; i++) {
        deltas.push(0 - previous);
        previous = 0;
      }
      spans.at(-1)![1] += gap;
    }
    const count = buckets.get(key)!;
    deltas.push(count - previous);
    previous = count;
    spans.at(-1)![1]++;
    next = key + 1;
  }
  return { spans, deltas };
}

/**
 * The bounds of a schema's buckets within [0.5, 1), 2^(i/2^s - 1), each the
 * largest double not above the true value (the bounds are irrational but for
 * the first): the 2^s-th root of 2^i, computed in integers with 100 bits to
 * spare, so that no floating-point rounding decides a bound. A value's
 * bucket is then exactly the schema's (client_golang's table is one ulp off
 * at some bounds, so a value that is exactly such a double may fall one
 * bucket apart from it). Made once per schema (schema 8's 256 take a few tens of
 * milliseconds: a histogram makes them when it is created).
 *
 * @param schema A schema above 0.
 * @returns The bounds, ascending.
 */
export function boundsOf(schema: number): readonly number[] {
  const known = BOUNDS[schema];
  if (known !== undefined) return known;
  const n = 1n << BigInt(schema);
  const precision = 100n;
  const bounds: number[] = [];
  for (let i = 0n; i < n; i++) {
    const target = 1n << (i + n * precision);
    // Newton's method in integers, from above (a few ulps over the float guess): it
    // decreases to the floor of the root, 2^(i/n) · 2^precision, and stops there.
    let r = (BigInt(Math.ceil(2 ** (Number(i) / Number(n)) * 2 ** 52)) + 8n) <<
      (precision - 52n);
    for (;;) {
      const next = ((n - 1n) * r + target / r ** (n - 1n)) / n;
      if (next >= r) break;
      r = next;
    }
    // The largest double not above the bound (then halved, exactly): a double at
    // most that is in the bucket, one above it is over the bound, as the schema says.
    const drop = BigInt(r.toString(2).length - 53);
    bounds.push(Number((r >> drop) << drop) / 2 ** (Number(precision) + 1));
  }
  return BOUNDS[schema] = bounds;
}

const BOUNDS: (readonly number[] | undefined)[] = [];

/**
 * The keys of one schema's buckets. From schema 0 up (`split`, the
 * schema itself): the fractions in [0.5, 1) that share their top
 * {@linkcode CELL_BITS} significand bits make a cell 2^-11 wide, narrower
 * than the gap between two bounds (at least 2^-9·ln 2, at schema 8), so at
 * most one bound lies in a cell. A cell holds the index of the first bound
 * at or above its start, plus {@linkcode IN_CELL} when that bound lies in the
 * cell (2^schema cells of the 1024: one in four at schema 8, one in 128 at
 * schema 3): a fraction above it is one bucket further. Below schema 0, schema 0's
 * cells, whose keys are then merged by 2^merge. Made once per schema
 * ({@linkcode keyTableOf}).
 */
export class KeyTable {
  /** The schema from 0 up whose keys are found: each power of two split into 2^split. */
  readonly split: number;
  /** How many times to halve those keys' resolution: -schema below schema 0, else 0. */
  readonly merge: number;
  /** By cell: the index of the first bound at or above its start, + IN_CELL if it lies in it. */
  readonly cells: Uint16Array;
  /** The bounds within [0.5, 1) (see {@linkcode boundsOf}; schema 0's is 0.5). */
  readonly bounds: Float64Array;

  /**
   * @param split See {@linkcode KeyTable.split}.
   * @param merge See {@linkcode KeyTable.merge}.
   * @param cells See {@linkcode KeyTable.cells}.
   * @param bounds See {@linkcode KeyTable.bounds}.
   */
  constructor(split: number, merge: number, cells: Uint16Array, bounds: Float64Array) {
    this.split = split;
    this.merge = merge;
    this.cells = cells;
    this.bounds = bounds;
  }

  /**
   * {@linkcode keyOf} at this table's schema (what `observe()` calls off its
   * common path). From the value's bits, without allocating: the binary
   * exponent, and the top {@linkcode CELL_BITS} bits of the significand,
   * whose cell gives the index of the bucket within the power of two, give
   * or take one compare with the bound inside the cell.
   *
   * @param value A positive number, or `Infinity`.
   * @returns The key.
   */
  key(value: number): number {
    // A subnormal value, scaled by 2^64 into the normal range: 64 · 2^split keys further.
    const key = value > LARGEST_SUBNORMAL
      ? this.normalKey(value)
      : this.normalKey(value * 2 ** 64) - (64 << this.split);
    // Below schema 0, 2^-schema keys of schema 0 make one: ceil(key / 2^merge), without a branch.
    const merge = this.merge;
    return (key + (1 << merge) - 1) >> merge;
  }

  /**
   * {@linkcode KeyTable.key} of a value above {@linkcode LARGEST_SUBNORMAL}
   * at schema `split`, before merging: from schema 0 up, the key itself
   * (what `observe()` calls on its common path: a method, not a function
   * imported, which JavaScriptCore calls at less cost).
   *
   * @param value A normal positive number, or `Infinity`.
   * @returns The key at schema `split`.
   */
  normalKey(value: number): number {
    FLOAT[0] = value;
    const high = WORDS[HIGH]!;
    const biased = high >>> 20;
    let i = this.cells[(high >>> (20 - CELL_BITS)) & CELLS_MASK]!;
    if (i >= IN_CELL) {
      // A bound lies in the cell: value · 2^(1022 - biased) is the fraction, exactly (+Inf: itself).
      i -= IN_CELL;
      if (value * SCALE[biased]! > this.bounds[i]!) i++;
    }
    return i + ((biased - 1023) << this.split);
  }
}

/** How many top bits of a significand pick a cell of a {@linkcode KeyTable}. */
export const CELL_BITS = 10;
const CELLS_MASK = (1 << CELL_BITS) - 1;
/** Added to a cell's index when its bound lies in the cell. */
const IN_CELL = 0x8000;

/**
 * The key table of a schema, made once (with its bounds).
 *
 * @param schema A schema from {@linkcode MIN_SCHEMA} to {@linkcode MAX_SCHEMA}.
 * @returns The table.
 */
export function keyTableOf(schema: number): KeyTable {
  const known = TABLES[schema - MIN_SCHEMA];
  if (known !== undefined) return known;
  if (schema < 0) {
    const { cells, bounds } = keyTableOf(0);
    return TABLES[schema - MIN_SCHEMA] = new KeyTable(0, -schema, cells, bounds);
  }
  const bounds = Float64Array.from(schema === 0 ? [0.5] : boundsOf(schema));
  const cells = new Uint16Array(1 << CELL_BITS);
  const width = 2 ** -(CELL_BITS + 1);
  let i = 0;
  for (let cell = 0; cell < cells.length; cell++) {
    const end = 0.5 + (cell + 1) * width;
    while (i < bounds.length && bounds[i]! < end - width) i++;
    cells[cell] = i < bounds.length && bounds[i]! < end ? i + IN_CELL : i;
    // The next bound lies past the cell (what the cells' width ensures).
    if (i + 1 < bounds.length && bounds[i + 1]! < end) {
      throw new Error(`Two bounds of schema ${schema} share a key table cell`);
    }
  }
  return TABLES[schema - MIN_SCHEMA] = new KeyTable(schema, 0, cells, bounds);
}

/** By schema - MIN_SCHEMA. */
const TABLES: (KeyTable | undefined)[] = [];

// One double and its two 32-bit halves, in the platform's byte order.
const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
// By biased exponent b (1 to 2046): 2^(1022 - b), which takes a normal double to its fraction;
// 1 for +Inf's (2047), whose key is then the one after the largest double's.
const SCALE = Float64Array.from({ length: 2048 }, (_, b) => b === 2047 ? 1 : 2 ** (1022 - b));
