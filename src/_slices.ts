/**
 * Scrapes in slices: a scrape of many series works for a few milliseconds at
 * a time and lets the event loop run in between, so that the application's
 * own requests and timers are not held up by it.
 *
 * @module
 */

/** The longest a scrape works before it lets the event loop run, in milliseconds. */
export const SLICE_MS = 4;

/** How many steps run between two looks at the clock. */
const STEPS_PER_LOOK = 256;

type Immediate = (callback: () => void) => unknown;
// setImmediate (Deno and Bun have it) runs after pending I/O and timers,
// without the 1 ms and more a setTimeout(0) waits.
const immediate: Immediate = (globalThis as { setImmediate?: Immediate }).setImmediate ??
  ((callback) => setTimeout(callback, 0));

/** The time budget of one scrape (or one part of it): the slice in progress. */
export class Slices {
  #start = performance.now();
  // The turn of the event loop that parts waiting together wait for.
  #turn: Promise<void> | undefined;

  /** Whether the slice in progress is used up. */
  due(): boolean {
    return performance.now() - this.#start >= SLICE_MS;
  }

  /**
   * Lets the event loop run, then starts a new slice. Parts of a scrape
   * running side by side (several metrics read at once) wait for the same
   * turn and share the slice that follows it.
   *
   * @returns A promise that resolves once the event loop ran.
   */
  next(): Promise<void> {
    return this.#turn ??= new Promise<void>((resolve) => {
      immediate(() => {
        this.#turn = undefined;
        this.#start = performance.now();
        resolve();
      });
    });
  }
}

/**
 * Runs `count` steps in order, in slices: synchronously while the slice in
 * progress lasts, the rest after the event loop ran. `run(from, to)` takes
 * steps `from` to `to - 1`, a few hundred at a time, and returns `true` when
 * there are no more (a walk that does not know its length beforehand).
 *
 * @param count How many steps (at most).
 * @param run Takes the steps of one stretch.
 * @param slices The budget; without it, every step runs now.
 * @returns `undefined` when every step ran, else a promise that resolves when they have.
 */
export function inSlices(
  count: number,
  run: (from: number, to: number) => boolean | void,
  slices: Slices | undefined,
): Promise<void> | undefined {
  if (slices === undefined) {
    run(0, count);
    return undefined;
  }
  let done = 0;
  const stretch = (): boolean => {
    while (done < count) {
      const to = Math.min(count, done + STEPS_PER_LOOK);
      if (run(done, to) === true) return true;
      done = to;
      if (done < count && slices.due()) return false;
    }
    return true;
  };
  if (stretch()) return undefined;
  return (async () => {
    do await slices.next(); while (!stretch());
  })();
}
