/** What the timing tests share: real sleeps and busy waits, checked by lower bounds only. */

import assert from "node:assert/strict";

/** How long the timed functions take. */
export const SLEEP_MS = 20;
/** The least a measurement of SLEEP_MS may read: timers may fire a hair early on some runtimes. */
export const AT_LEAST: number = (SLEEP_MS - 2) / 1000;

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Busy-waits: a synchronous function that takes time. */
export function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

/** The value of a metric with exactly one sample. */
export async function valueOf(
  metric: { collect(): Promise<{ value: number }[]> },
): Promise<number> {
  const samples = await metric.collect();
  assert.equal(samples.length, 1);
  return samples[0]!.value;
}
