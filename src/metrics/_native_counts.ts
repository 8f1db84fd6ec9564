/**
 * The counts of one sign's buckets of a native histogram, by key, kept for
 * `observe()`: a dense array of counts around a pivot key (the first key
 * counted), the keys above and below it interleaved, so that it only ever
 * grows at its end (counting is then an index and an increment, no
 * hashing); the rare keys {@linkcode MAX_SPAN}/2 or more from the pivot go
 * to a `Map` beside it.
 *
 * `observe()`'s loop must hold no call JavaScriptCore compiles, or it
 * cannot hoist the loop's loads out of it (native observe() then took 2.5×
 * the classic one, 1.6× without): a call that never ran becomes an exit
 * from compiled code, unless it is in tail position (hence
 * `if (call()) return true;` where `return call()` would do), but one that
 * ran stays, and growing the array, even inline, keeps the loads in. So a
 * histogram's positive counts start with slots for the keys around the
 * first one (see `NativeHistogram`), and `add()` only calls to grow past them.
 */

/** The most slots of the dense array (8 KiB of counts); keys beyond go to a `Map`. */
export const MAX_SPAN = 1024;

/**
 * The slot of a key in the dense array: {@linkcode MAX_SPAN} or more for a far key.
 *
 * @param d The key less the pivot.
 */
function slotOf(d: number): number {
  return (d << 1) ^ (d >> 31);
}

/** Bucket counts by key (see the module's notes). */
export class BucketCounts {
  /** How many buckets hold a count (read it only). */
  size = 0;
  #pivot = 0;
  // By slot: the key pivot + d is at 2d for d ≥ 0, at -2d - 1 below. A plain array of small
  // integers: engines count in it faster than in a Float64Array (a count past 2^30 makes it an
  // array of doubles, exact still).
  #counts: number[] = [];
  #far: Map<number, number> | undefined;

  /**
   * @param slots How many slots the dense array starts with (for the keys
   * around the first one counted; it grows past them when it must).
   */
  constructor(slots = 0) {
    for (let slot = 0; slot < slots; slot++) this.#counts.push(0);
  }

  /**
   * Buckets from counts by key, the array around their middle key.
   *
   * @param buckets Counts by key.
   * @returns The buckets (those with a count above 0).
   */
  static from(buckets: ReadonlyMap<number, number>): BucketCounts {
    let low = Infinity;
    let high = -Infinity;
    for (const [key, count] of buckets) {
      if (!(count > 0)) continue;
      low = Math.min(low, key);
      high = Math.max(high, key);
    }
    const counts = new BucketCounts(low <= high ? Math.min(MAX_SPAN, high - low + 2) : 0);
    // Around the middle key: the slots then span every key, so none moves the pivot.
    if (low <= high) counts.#pivot = Math.round((low + high) / 2);
    for (const [key, count] of buckets) counts.addCount(key, count);
    return counts;
  }

  /**
   * Counts one observation in its bucket.
   *
   * @param key The bucket's key.
   * @returns Whether the bucket is new.
   */
  add(key: number): boolean {
    // slotOf(), written out: observe() calls this four calls deep, and JavaScriptCore inlines
    // no deeper than five.
    const d = key - this.#pivot;
    let slot = (d << 1) ^ (d >> 31);
    const counts = this.#counts;
    if (slot >= counts.length) {
      if (this.size === 0) {
        // Empty: its slots are now around this key.
        this.#pivot = key;
        slot = 0;
      }
      if (slot >= counts.length) {
        if (this.#addBeyond(key)) return true;
        return false;
      }
    }
    const count = counts[slot]!;
    counts[slot] = count + 1;
    if (count !== 0) return false;
    this.size++;
    return true;
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
    const added = this.add(key);
    // The rest, where add() put the first.
    const slot = slotOf(key - this.#pivot);
    if (slot < MAX_SPAN) this.#counts[slot]! += count - 1;
    else this.#far!.set(key, this.#far!.get(key)! + count - 1);
    return added;
  }

  /** The least key holding a count; `Infinity` for none. */
  lowest(): number {
    let lowest = Infinity;
    const counts = this.#counts;
    for (let slot = 0; slot < counts.length; slot++) {
      if (counts[slot] !== 0) lowest = Math.min(lowest, this.#keyAt(slot));
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
    const slot = slotOf(key - this.#pivot);
    let count = 0;
    if (slot < this.#counts.length) {
      count = this.#counts[slot]!;
      this.#counts[slot] = 0;
    } else if (slot >= MAX_SPAN && this.#far?.has(key)) {
      count = this.#far.get(key)!;
      this.#far.delete(key);
    }
    if (count !== 0) this.size--;
    return count;
  }

  /** The counts by key, in a new `Map` (buckets without a count left out). */
  toMap(): Map<number, number> {
    const buckets = new Map<number, number>();
    const counts = this.#counts;
    for (let slot = 0; slot < counts.length; slot++) {
      if (counts[slot] !== 0) buckets.set(this.#keyAt(slot), counts[slot]!);
    }
    if (this.#far !== undefined) { for (const [key, count] of this.#far) buckets.set(key, count); }
    return buckets;
  }

  /**
   * {@linkcode BucketCounts.add} of a key past the dense array's slots: it
   * grows to hold the key, or the key goes to the `Map` if it is
   * {@linkcode MAX_SPAN}/2 or more from the pivot.
   */
  #addBeyond(key: number): boolean {
    const slot = slotOf(key - this.#pivot);
    const counts = this.#counts;
    if (slot < MAX_SPAN) {
      while (counts.length < slot) counts.push(0);
      counts.push(1);
    } else {
      const far = this.#far ??= new Map();
      const before = far.get(key);
      far.set(key, (before ?? 0) + 1);
      if (before !== undefined) return false;
    }
    this.size++;
    return true;
  }

  /** The key at a slot of the dense array. */
  #keyAt(slot: number): number {
    return this.#pivot + ((slot >>> 1) ^ -(slot & 1));
  }
}
