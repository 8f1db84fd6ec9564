/**
 * A summary's quantile estimates over a sliding window: streams of the
 * CKMS kind (targeted quantiles, each within its error of the true rank),
 * one per age bucket, fed in sorted batches.
 */

/** What a window needs to know of its summary. */
export interface WindowLayout {
  /** The quantiles estimated, from 0 to 1. */
  readonly quantiles: readonly number[];
  /** Each quantile's error allowed, in rank. */
  readonly errors: readonly number[];
  /** How long each age bucket lives, in milliseconds. */
  readonly period: number;
  /** How many age buckets the window has. */
  readonly ageBuckets: number;
}

// Observations are buffered, then sorted and merged into every stream at once.
const BUFFER_SIZE = 256;

/**
 * The sliding window: `ageBuckets` streams that all receive every
 * observation; at the start of each period the oldest is emptied, and queries
 * read the one emptied longest ago (it covers the whole window).
 */
export class QuantileWindow {
  readonly #layout: WindowLayout;
  readonly #streams: QuantileStream[];
  readonly #buffer = new Float64Array(BUFFER_SIZE);
  #buffered = 0;
  readonly #start = performance.now();
  #period = 0;
  #periodEnd: number;

  constructor(layout: WindowLayout) {
    this.#layout = layout;
    this.#streams = Array.from(
      { length: layout.ageBuckets },
      () => new QuantileStream(layout.quantiles, layout.errors),
    );
    this.#periodEnd = this.#start + layout.period;
  }

  observe(value: number): void {
    const now = performance.now();
    if (now >= this.#periodEnd) this.#rotate(now);
    this.#buffer[this.#buffered++] = value;
    if (this.#buffered === BUFFER_SIZE) this.#flush();
  }

  /** Forgets every observation. */
  clear(): void {
    this.#buffered = 0;
    for (const stream of this.#streams) stream.reset();
  }

  query(): number[] {
    const now = performance.now();
    if (now >= this.#periodEnd) this.#rotate(now);
    this.#flush();
    const { quantiles, ageBuckets } = this.#layout;
    const head = this.#streams[(this.#period + 1) % ageBuckets]!;
    return quantiles.map((_, i) => head.query(i));
  }

  #rotate(now: number): void {
    // The buffer holds observations of the period now ending.
    this.#flush();
    const { period, ageBuckets } = this.#layout;
    const current = Math.max(Math.floor((now - this.#start) / period), this.#period + 1);
    const last = Math.min(current, this.#period + ageBuckets);
    for (let p = this.#period + 1; p <= last; p++) this.#streams[p % ageBuckets]!.reset();
    this.#period = current;
    this.#periodEnd = this.#start + (current + 1) * period;
  }

  #flush(): void {
    if (this.#buffered === 0) return;
    const sorted = this.#buffer.subarray(0, this.#buffered).sort();
    for (const stream of this.#streams) stream.insertSorted(sorted);
    this.#buffered = 0;
  }
}

/**
 * Targeted quantiles over a stream (after Cormode, Korn, Muthukrishnan and
 * Srivastava, "Effective computation of biased quantiles over data
 * streams", 2005), with an invariant chosen so that the bound of
 * {@linkcode SummaryOptions.quantiles} holds.
 *
 * Tuple i keeps a value v, g (its rank minus the previous tuple's lowest
 * possible rank) and Δ (the uncertainty of its rank): its true rank lies in
 * [rmin, rmin + Δ], rmin = g0 + … + gi. The tuple "spans" the ranks
 * [rmin − g, rmin + Δ]. Invariant: every span is at most 1 long or at most
 * F(span) = min over targets φ of the least value, over r in the span, of
 * 2ε·max(r / φ, (n − r) / (1 − φ)), which is 2εn where the span holds φn.
 * F never shrinks as values arrive, so the invariant survives insertions.
 * A query for φ returns a tuple with rmin ≥ φn − e and rmax ≤ φn + a, where
 * e = max(εn, 1) and a = max(εn, ⌈φn⌉ − φn), the one whose rank range is
 * centred nearest ⌈φn⌉. One exists: take j, the last tuple with rmax ≤ φn + a
 * (the first tuple, exact at rank 1, is such); the span of the tuple after
 * it starts at rmin_j, so if rmin_j < φn − e that span holds φn and is
 * longer than a + e ≥ max(2εn, 1) ≥ max(F, 1), which the invariant forbids
 * (and the last tuple, exact at rank n, has rmin ≥ φn − e).
 */
class QuantileStream {
  readonly #targets: readonly number[];
  readonly #errors: readonly number[];
  #n = 0;
  #size = 0;
  #v = new Float64Array(16);
  #g = new Float64Array(16);
  #d = new Float64Array(16);

  constructor(targets: readonly number[], errors: readonly number[]) {
    this.#targets = targets;
    this.#errors = errors;
  }

  reset(): void {
    this.#n = 0;
    this.#size = 0;
  }

  /** Inserts ascending values: each one before the first tuple greater than it. */
  insertSorted(values: Float64Array): void {
    const size = this.#size;
    const { v: v2, g: g2, d: d2 } = scratch(size + values.length);
    const v = this.#v, g = this.#g, d = this.#d;
    let i = 0;
    let out = 0;
    for (let k = 0; k < values.length; k++) {
      const value = values[k]!;
      while (i < size && v[i]! <= value) {
        v2[out] = v[i]!;
        g2[out] = g[i]!;
        d2[out++] = d[i++]!;
      }
      // A new minimum or maximum has an exact rank; otherwise the rank is as
      // uncertain as the successor's span allows.
      d2[out] = out === 0 || i === size ? 0 : g[i]! + d[i]! - 1;
      v2[out] = value;
      g2[out++] = 1;
    }
    while (i < size) {
      v2[out] = v[i]!;
      g2[out] = g[i]!;
      d2[out++] = d[i++]!;
    }
    this.#n += values.length;
    const kept = this.#compress(v2, g2, d2, out);
    if (this.#v.length < kept) {
      const capacity = Math.max(kept, this.#v.length * 2);
      this.#v = new Float64Array(capacity);
      this.#g = new Float64Array(capacity);
      this.#d = new Float64Array(capacity);
    }
    this.#v.set(v2.subarray(0, kept));
    this.#g.set(g2.subarray(0, kept));
    this.#d.set(d2.subarray(0, kept));
    this.#size = kept;
  }

  /** The estimate of target `t`, `NaN` when empty. */
  query(t: number): number {
    const size = this.#size;
    if (size === 0) return NaN;
    const n = this.#n;
    const at = this.#targets[t]! * n;
    const eps = this.#errors[t]! * n;
    // Aim at the nearest rank, so that small counts are exact; accept any
    // tuple whose whole rank range is within the bound.
    const target = Math.max(Math.ceil(at), 1);
    const high = Math.max(at + eps, target);
    const low = at - Math.max(eps, 1);
    const g = this.#g, d = this.#d;
    let best = -1;
    let bestDistance = Infinity;
    let last = 0;
    let rmin = 0;
    for (let i = 0; i < size; i++) {
      rmin += g[i]!;
      if (rmin > high) break;
      if (rmin + d[i]! > high) continue;
      last = i;
      const distance = Math.abs(rmin + d[i]! / 2 - target);
      if (rmin >= low && distance < bestDistance) {
        best = i;
        bestDistance = distance;
      }
    }
    // The invariant guarantees a best; `last` only guards against rounding.
    return this.#v[best >= 0 ? best : last]!;
  }

  /**
   * Merges neighbours while their joint span respects the invariant; keeps
   * the minimum. Works in place; returns the new size.
   */
  #compress(v: Float64Array, g: Float64Array, d: Float64Array, size: number): number {
    if (size < 3) return size;
    let out = 1;
    let low = g[0]!; // where the pending tuple's span starts
    let pv = v[1]!;
    let pg = g[1]!;
    let pd = d[1]!;
    for (let i = 2; i < size; i++) {
      const high = low + pg + g[i]! + d[i]!;
      if (high - low <= this.#allowed(low, high)) {
        pv = v[i]!;
        pg += g[i]!;
        pd = d[i]!;
      } else {
        v[out] = pv;
        g[out] = pg;
        d[out++] = pd;
        low += pg;
        pv = v[i]!;
        pg = g[i]!;
        pd = d[i]!;
      }
    }
    v[out] = pv;
    g[out] = pg;
    d[out++] = pd;
    return out;
  }

  /** F of the span [low, high]. */
  #allowed(low: number, high: number): number {
    const n = this.#n;
    let allowed = Infinity;
    for (let t = 0; t < this.#targets.length; t++) {
      const phi = this.#targets[t]!;
      const twoEps = 2 * this.#errors[t]!;
      const at = phi * n;
      const f = high < at
        ? twoEps * (n - high) / (1 - phi)
        : low > at
        ? twoEps * low / phi
        : twoEps * n;
      if (f < allowed) allowed = f;
    }
    return allowed;
  }
}

// Every stream merges into these, then copies the compressed result back:
// one set for the whole process keeps each stream as small as its tuples.
let scratchV = new Float64Array(1024);
let scratchG = new Float64Array(1024);
let scratchD = new Float64Array(1024);

function scratch(size: number): { v: Float64Array; g: Float64Array; d: Float64Array } {
  if (scratchV.length < size) {
    const capacity = Math.max(size, scratchV.length * 2);
    scratchV = new Float64Array(capacity);
    scratchG = new Float64Array(capacity);
    scratchD = new Float64Array(capacity);
  }
  return { v: scratchV, g: scratchG, d: scratchD };
}
