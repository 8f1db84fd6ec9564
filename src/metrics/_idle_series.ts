/**
 * Idle series (`idleSeconds`): a scrape compares what it read of each series
 * with what the previous ones read, and a series whose values have not
 * changed for the idle time is removed. Recording does nothing for it: the
 * scrapes find out, so only metrics with an idle time pay, and only when
 * read.
 */

import type { Readings } from "./_metric_read.ts";
import { inSlices, type Slices } from "../_slices.ts";
import { thenOrNow } from "./_timing.ts";

/** When each series of a metric was last seen to change, and what it read then. */
export class IdleSeries<C> {
  readonly #idleMs: number;
  readonly #seen = new Map<C, { mark: unknown; since: number }>();

  /** @param idleSeconds The idle time. */
  constructor(idleSeconds: number) {
    this.#idleMs = idleSeconds * 1000;
  }

  /**
   * The readings without the series idle for the idle time, each of which
   * `remove` removes; the others are noted as seen now.
   *
   * @param readings What a scrape read.
   * @param idles Whether a series may idle: not one removed while the
   *   scrape read (it is not noted again), nor one kept alive by design (a
   *   metric's own, observed without labels; one read by a function).
   * @param remove Removes a series.
   * @param slices The scrape's budget.
   */
  expire(
    readings: Readings<C>,
    idles: (child: C) => boolean,
    remove: (child: C) => void,
    slices: Slices | undefined,
  ): Readings<C> | Promise<Readings<C>> {
    const now = performance.now();
    const { children, values } = readings;
    const kept: C[] = [];
    const read: unknown[] = [];
    const check = (from: number, to: number): void => {
      for (let i = from; i < to; i++) {
        const child = children[i]!;
        kept.push(child);
        read.push(values[i]);
        if (!idles(child)) continue;
        const mark = markOf(values[i]);
        const seen = this.#seen.get(child);
        if (seen === undefined || !Object.is(seen.mark, mark)) {
          this.#seen.set(child, { mark, since: now });
        } else if (now - seen.since >= this.#idleMs) {
          this.#seen.delete(child);
          remove(child);
          kept.pop();
          read.pop();
        }
      }
    };
    return thenOrNow(
      inSlices(children.length, check, slices),
      () =>
        kept.length === children.length ? readings : { ...readings, children: kept, values: read },
    );
  }

  /** Whether scrapes follow a series (one read it since it was made or last changed). */
  follows(child: C): boolean {
    return this.#seen.has(child);
  }

  /** Forgets a series removed otherwise. */
  delete(child: C): void {
    this.#seen.delete(child);
  }
}

/**
 * What tells a series' values apart from one read to the next: its number,
 * or the numbers of a histogram, a summary or a per-worker reading, joined.
 */
function markOf(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  let mark = "";
  for (const entry of value as unknown[]) {
    mark += `${
      typeof entry === "object" && entry !== null && "value" in entry
        ? (entry as { value: unknown }).value
        : entry
    },`;
  }
  return mark;
}
