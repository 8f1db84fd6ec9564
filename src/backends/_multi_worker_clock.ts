/**
 * When a "latest" gauge or an enum was written: the time its workers compare
 * to keep the value written last.
 */

// The greatest part of a millisecond a time keeps from the high-resolution clock.
const WITHIN = 0.999;

/**
 * Now, in milliseconds since the epoch, as every worker can compare it: the
 * wall clock's millisecond (`Date.now()`, which every thread reads alike),
 * and within it this thread's high-resolution clock as far as the two agree.
 *
 * `timeOrigin + now()` alone is no clock shared by threads: each thread reads
 * the wall clock once, as it starts, then counts on from it by its
 * monotonic clock, so threads started on either side of a wall clock
 * adjustment (NTP, a virtual machine's time sync, a suspend) stay that far
 * apart, and a value written later could look older. Kept within the
 * millisecond, of two writes a millisecond or more apart the later is
 * always the later, however far the threads' clocks are apart.
 *
 * @returns The time of a write.
 */
export function writeTime(): number {
  const ms = Date.now();
  const fine = performance.timeOrigin + performance.now();
  return fine < ms ? ms : fine > ms + WITHIN ? ms + WITHIN : fine;
}
