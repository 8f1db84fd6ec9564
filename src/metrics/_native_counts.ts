/**
 * The counts of one sign's buckets of a native histogram, by key, kept for
 * `observe()`: a dense array of counts from a base key, around the keys
 * seen, which grows as new keys come (counting is then an index and an
 * increment, no hashing); the rare keys so far off that the array would
 * span more than {@linkcode MAX_SPAN} keys go to a `Map` beside it.
 */

/** The most keys the dense array spans (4 to 8 KiB of counts); keys beyond go to a `Map`. */
export const MAX_SPAN = 1024;
/** The dense array's length when its first key comes. */
const FIRST_LENGTH = 32;

/** Bucket counts by key (see the module's notes). */
export class BucketCounts {
  #base = 0;
  // A plain array of small integers: engines count in it faster than in a Float64Array (a
  // count past 2^30 makes it an array of doubles, exact still).
  #counts: number[] = [];
  #far: Map<number, number> | undefined;
  #size = 0;

  /**
   * Buckets from counts by key.
   *
   * @param buckets Counts by key.
   * @returns The buckets (those with a count above 0).
   */
  static from(buckets: ReadonlyMap<number, number>): BucketCounts {
    const counts = new BucketCounts();
    for (const [key, count] of buckets) counts.addCount(key, count);
    return counts;
  }

  /** How many buckets hold a count. */
  get size(): number {
    return this.#size;
  }

  /**
   * Counts one observation in its bucket.
   *
   * @param key The bucket's key.
   * @returns Whether the bucket is new.
   */
  add(key: number): boolean {
    const counts = this.#counts;
    const i = key - this.#base;
    if (i >= 0 && i < counts.length) {
      const count = counts[i]!;
      counts[i] = count + 1;
      if (count !== 0) return false;
    }
    // Kept apart, so that engines inline the common case.
    return this.#added(key);
  }

  /** The rest of {@linkcode BucketCounts.add}: a new bucket, or a key off the array. */
  #added(key: number): boolean {
    const i = key - this.#base;
    if (i >= 0 && i < this.#counts.length) {
      this.#size++;
      return true;
    }
    return this.addCount(key, 1);
  }

  /**
   * Adds observations to a bucket.
   *
   * @param key The bucket's key.
   * @param count How many, above 0 (none: nothing changes).
   * @returns Whether the bucket is new.
   */
  addCount(key: number, count: number): boolean {
    if (!(count > 0)) return false;
    if (this.#fits(key)) {
      const i = key - this.#base;
      const before = this.#counts[i]!;
      this.#counts[i] = before + count;
      if (before !== 0) return false;
    } else {
      const far = this.#far ??= new Map();
      const before = far.get(key);
      far.set(key, (before ?? 0) + count);
      if (before !== undefined) return false;
    }
    this.#size++;
    return true;
  }

  /** The least key holding a count; `Infinity` for none. */
  lowest(): number {
    let lowest = Infinity;
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] !== 0) {
        lowest = this.#base + i;
        break;
      }
    }
    if (this.#far !== undefined) {
      for (const key of this.#far.keys()) lowest = Math.min(lowest, key);
    }
    return lowest;
  }

  /**
   * Empties a bucket.
   *
   * @param key The bucket's key.
   * @returns The count it held (0 for none).
   */
  take(key: number): number {
    const i = key - this.#base;
    let count = 0;
    if (i >= 0 && i < this.#counts.length) {
      count = this.#counts[i]!;
      this.#counts[i] = 0;
    } else if (this.#far?.has(key)) {
      count = this.#far.get(key)!;
      this.#far.delete(key);
    }
    if (count !== 0) this.#size--;
    return count;
  }

  /** The counts by key, in a new `Map` (buckets without a count left out). */
  toMap(): Map<number, number> {
    const buckets = new Map<number, number>();
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] !== 0) buckets.set(this.#base + i, counts[i]!);
    }
    if (this.#far !== undefined) { for (const [key, count] of this.#far) buckets.set(key, count); }
    return buckets;
  }

  /** Whether `key` is in the dense array, which grows to hold it when it can. */
  #fits(key: number): boolean {
    const old = this.#counts;
    if (key - this.#base >= 0 && key - this.#base < old.length) return true;
    // The keys holding counts, and the new one.
    let low = key;
    let high = key;
    for (let i = 0; i < old.length; i++) {
      if (old[i] === 0) continue;
      low = Math.min(low, this.#base + i);
      high = Math.max(high, this.#base + i);
    }
    const span = high - low + 1;
    if (span > MAX_SPAN) return false;
    const length = Math.min(MAX_SPAN, Math.max(FIRST_LENGTH, 2 * span));
    // Room on both sides, as keys come from either.
    const base = low - ((length - span) >> 1);
    const counts = new Array<number>(length).fill(0);
    for (let i = 0; i < old.length; i++) {
      if (old[i] !== 0) counts[this.#base + i - base] = old[i]!;
    }
    this.#base = base;
    this.#counts = counts;
    // Far keys the array now spans move into it: a key lives in one place.
    for (const [far, count] of this.#far ?? []) {
      if (far - base < 0 || far - base >= length) continue;
      counts[far - base] = count;
      this.#far!.delete(far);
    }
    return true;
  }
}
