/**
 * What the timing tests share: a clock they move (`performance.now()`, which
 * the timers read), so that a measured duration is exact.
 */

import assert from "node:assert/strict";

/** How long the timed functions take, in milliseconds of the fake clock. */
export const TOOK_MS = 20;
/** The same, as the seconds a timer measures. */
export const TOOK: number = TOOK_MS / 1000;

/** A clock that moves only when told: `performance.now()` reads `ms`. */
export interface Clock {
  ms: number;
}

/**
 * Runs `fn` with `performance.now()` returning `clock.ms`, then puts the
 * real one back.
 *
 * @param fn The test, given the clock.
 */
export async function withClock(fn: (clock: Clock) => Promise<void>): Promise<void> {
  const original = performance.now;
  const clock = { ms: 1_000_000 };
  performance.now = () => clock.ms;
  try {
    await fn(clock);
  } finally {
    performance.now = original;
  }
}

/** Gives the event loop a turn: what an awaited I/O does. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The value of a metric with exactly one sample. */
export async function valueOf(
  metric: { collect(): Promise<{ value: number }[]> },
): Promise<number> {
  const samples = await metric.collect();
  assert.equal(samples.length, 1);
  return samples[0]!.value;
}
