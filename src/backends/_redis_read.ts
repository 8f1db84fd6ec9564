/**
 * A scrape's read: every hash of the metrics read, whole when small, else
 * page by page, each round trip after the pending changes were written;
 * filled a few milliseconds at a time.
 */

import { inSlices, Slices } from "../_slices.ts";
import type { StoredMetric, StoredValue, StoreReading } from "./store.ts";
import { gatherNative, MARK } from "./_redis_native.ts";
import {
  FamilyClear,
  forgetHere,
  IdleRemoval,
  noteRemoval,
  queueRemoval,
  type Removed,
  type Scan,
  state,
  unavailable,
} from "./_redis_state.ts";
import { exchange } from "./_redis_flush.ts";
import { formatNumber, hashOf, parseNumber } from "./_redis_wire.ts";
import { sampleKey } from "./_series_key.ts";
import { mirrorRead, WHOLE_FIELDS } from "./_redis_mirror.ts";

/** The scrape's read (see `MultiProcessRedisBackend.read`). */
export async function readMetrics(
  keyPrefix: string,
  metrics: readonly StoredMetric[],
): Promise<StoreReading> {
  const byHash = new Map<string, StoredMetric[]>();
  for (const metric of metrics) {
    const hash = hashOf(keyPrefix, metric.metric);
    const list = byHash.get(hash);
    if (list) list.push(metric);
    else byHash.set(hash, [metric]);
  }
  // A hash read whole last time with few enough fields is read whole again.
  const scan = (hash: string): Scan => ({
    hash,
    mirror: true,
    whole: (state.sizes.get(hash) ?? Infinity) <= WHOLE_FIELDS,
    cursor: "0",
    values: new Map(),
  });
  const scans: Scan[] = [...byHash.keys()].map(scan);
  // pytheus_redis_dropped_total is read along: its collector shows it.
  const dropped = state.dropped === undefined ? undefined : state.dropped.hash();
  if (dropped !== undefined) scans.push(scan(dropped));
  // Paged until a read says how big it is: a hash that grew past what one
  // reply brings in time is not asked for whole again and again.
  for (const { hash, whole } of scans) if (whole) state.sizes.delete(hash);
  const removed: Removed = new Map();
  state.reads.add(removed);
  try {
    // A small hash whole, a big one page by page (HSCAN), every hash's next
    // page in one round trip: a reply parses in a few milliseconds at most,
    // and the reading is filled a few milliseconds at a time.
    let open = scans;
    while (open.length > 0) {
      // The first round trip writes what is pending first; the next ones only read.
      const pages = await exchange(open, "read metrics", open === scans);
      // The event loop ran while Redis answered: a new slice.
      const slices = new Slices();
      const next: Scan[] = [];
      for (let i = 0; i < open.length; i++) {
        const scan = open[i]!;
        const page = pages[i]!;
        if ("mirror" in page) {
          scan.mirror = false;
          let read: ReturnType<typeof mirrorRead>;
          try {
            read = mirrorRead(page.mirror, state.mirrors.get(scan.hash));
          } catch (error) {
            throw unavailable("read metrics", error);
          }
          if (read === undefined) {
            // Too many fields for a reply: the hash itself, page by page.
            next.push(scan);
            continue;
          }
          state.mirrors.set(scan.hash, read.slots);
          scan.read = read.values;
          continue;
        }
        const [cursor, flat] = page;
        const values = scan.values;
        await inSlices(flat.length >> 1, (from, to) => {
          for (let j = from; j < to; j++) values.set(flat[2 * j]!, parseNumber(flat[2 * j + 1]!));
        }, slices);
        scan.cursor = cursor;
        if (cursor !== "0") next.push(scan);
      }
      open = next;
    }
    const readOf = (scan: Scan): ReadonlyMap<string, number> => scan.read ?? scan.values;
    if (dropped !== undefined) state.droppedRead = readOf(scans.at(-1)!).get("{}") ?? 0;
    for (const scan of scans) state.sizes.set(scan.hash, readOf(scan).size);
    // A series removed while the read ran may be in a page read before its
    // deletion was written: it must not be made again from the reading.
    for (const removal of state.removals) noteRemoval(removed, removal);
    const reading = new Map<string, ReadonlyMap<string, StoredValue>>();
    for (const scan of scans) {
      const gone = removed.get(scan.hash);
      const metrics = byHash.get(scan.hash) ?? [];
      // A native histogram's fields become one entry per series.
      const native = metrics.some(({ samples }) => samples.at(-1) === "native");
      let values: ReadonlyMap<string, StoredValue> = readOf(scan);
      if (gone !== undefined || native) {
        // Changed, so a map of its own (the mirror's is a view of its slots).
        const own: Map<string, StoredValue> = scan.read === undefined
          ? scan.values
          : new Map(values);
        if (gone === true) own.clear();
        else if (gone !== undefined) { for (const field of gone) own.delete(field); }
        if (native) gatherNative(own, gone === true ? undefined : gone);
        values = own;
      }
      for (const metric of metrics) reading.set(metric.metric, values);
      // Kept for a metric with an idle time only (see expireIdle), until the next read.
      if (metrics.some(({ metric }) => state.idleMetrics.has(metric))) {
        state.lastRead.set(scan.hash, values);
      }
    }
    return reading;
  } finally {
    state.reads.delete(removed);
  }
}

/**
 * Removes the series a scrape found idle (see `IdleStore.expire`): forgets
 * each in this process, and deletes its fields in Redis at the next flush
 * if they still hold what the scrape read.
 *
 * @param keyPrefix The store's key prefix.
 * @param metric Their metric.
 * @param keys Their keys.
 */
export function expireIdle(keyPrefix: string, metric: StoredMetric, keys: readonly string[]): void {
  const hash = hashOf(keyPrefix, metric.metric);
  const read = state.lastRead.get(hash);
  const native = metric.samples.at(-1) === "native";
  const samples = native ? metric.samples.slice(0, -1) : metric.samples;
  for (const key of keys) {
    const fields = samples.map((sample): [string, string | null] => {
      const field = sampleKey(key, sample);
      const value = read?.get(field);
      return [field, typeof value === "number" ? formatNumber(value) : null];
    });
    queueRemoval(new IdleRemoval(hash, fields, native ? `${key}|${MARK}` : undefined));
    const idle = state.idleMetrics.get(metric.metric);
    if (idle !== undefined) forgetHere(idle, key, false);
  }
}

/** Deletes a metric's hash (see `MultiProcessRedisBackend.clear`). */
export function clearMetric(keyPrefix: string, metric: StoredMetric): void {
  queueRemoval(new FamilyClear(hashOf(keyPrefix, metric.metric)));
}
