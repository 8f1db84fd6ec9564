/**
 * Writing to Redis: every exchange in order, after the one before; the batch
 * of changes each takes (one script call per metric and chunk), the pages
 * of the hashes a scrape reads sent along, and what to do when a round trip
 * finds Redis emptied.
 */

import { BackendUnavailableError } from "../errors.ts";
import { getLogger } from "../logger.ts";
import { inSlices, Slices } from "../_slices.ts";
import {
  type Call,
  changed,
  type Chunk,
  CHUNK_CHANGES,
  type Client,
  dropRemoved,
  FamilyClear,
  forgetHere,
  IdleRemoval,
  MODE_INC,
  MODE_INC_SET,
  MODE_SET,
  nextChunk,
  type Page,
  PAGE_FIELDS,
  PrefixClear,
  PROCESS_ID,
  type RedisCell,
  type Scan,
  state,
  unavailable,
  where,
} from "./_redis_state.ts";
import { formatNumber, generationKey, withTimeout } from "./_redis_wire.ts";
import { mirrorKeys } from "./_redis_mirror.ts";
import type { IdleMark } from "./_idle_stores.ts";

/** Writes what is pending (see `MultiProcessRedisBackend.flush`). */
export async function flushAll(): Promise<void> {
  // A batch sent before (and unconfirmed) goes first, alone.
  const resend = state.queued !== undefined;
  await exchange([], "write metrics");
  if (resend) await exchange([], "write metrics");
}

/** Takes the changes to send: the unconfirmed batch again, or a new one. */
async function takeBatch(): Promise<Chunk[] | undefined> {
  if (state.queued !== undefined) return state.queued;
  const expiry = String(state.settings.expireKeySeconds);
  const chunks: Chunk[] = [];
  // The chunk being filled of each hash: a script call changes one metric.
  const filling = new Map<string, Chunk>();
  let count = 0;
  const add = (hash: string, op: string, field: string, value: string): void => {
    let chunk = filling.get(hash);
    if (chunk === undefined || chunk.argv.length >= 4 + 3 * CHUNK_CHANGES) {
      const number = String(nextChunk(hash));
      chunk = {
        keys: [`${hash}:~chunk:${PROCESS_ID}`, hash, generationKey(hash), ...mirrorKeys(hash)],
        // The first number of this hash in the batch: where a gap counts.
        argv: [number, expiry, crypto.randomUUID(), chunk?.argv[3] ?? number],
      };
      chunks.push(chunk);
      filling.set(hash, chunk);
    }
    chunk.argv.push(op, field, value);
    count++;
    state.taking++;
  };
  // Deletions first: a series removed then made again is deleted, then written.
  for (const item of state.removals) {
    if (item instanceof FamilyClear) add(item.hash, "k", "", "");
    else if (item instanceof PrefixClear) add(item.hash, "x", item.prefix, "");
    else if (item instanceof IdleRemoval) {
      add(item.hash, "c", "", JSON.stringify({ fields: item.fields.flat(), prefix: item.prefix }));
    } else add(item.hash(), "d", item.field, "");
  }
  state.removals = [];
  const landed = state.landed;
  if (state.removedSeries > 0) dropRemoved();
  // Every series is looked at, a few milliseconds at a time: a million of
  // them do not hold the event loop at each flush. Those made meanwhile
  // wait for the next batch (after a removal this one does not carry yet).
  const all = state.series;
  // The marks of series of metrics with an idle time that no flush took a
  // change of for that long: forgotten after the scan (see forgetIdle).
  const now = performance.now();
  const idle: IdleMark[] = [];
  // Taken whole: a cell touched while the scan runs goes to the next batch.
  const touched = state.touched;
  state.touched = new Set();
  const scan = (series: RedisCell): void => {
    const mark = series.idleMark();
    if (!changed(series, touched)) {
      if (mark !== undefined && now - mark.changed >= mark.metric.idleMs) idle.push(mark);
      return;
    }
    if (mark !== undefined) mark.changed = now;
    const set = series.mode() === MODE_SET;
    // A gauge written again after a loss does not overwrite what another process set since.
    const restored = set && state.restoredSets.get(series) === series.delta;
    state.restoredSets.delete(series);
    add(
      series.hash(),
      restored ? "n" : set ? "s" : "i",
      series.field,
      formatNumber(series.delta),
    );
    if (set) {
      series.total = series.delta;
      series.setMode(MODE_INC_SET);
    } else {
      series.total += series.delta;
      landed.cells[landed.size] = series;
      landed.deltas[landed.size++] = series.delta;
    }
    series.delta = 0;
  };
  state.scanning = true;
  try {
    await inSlices(all.length, (from, to) => {
      for (let i = from; i < to; i++) scan(all[i]!);
    }, new Slices());
  } finally {
    state.scanning = false;
    state.taking = 0;
  }
  if (idle.length > 0) await forgetIdle(idle, now);
  if (count === 0) return undefined;
  state.queued = chunks;
  state.queuedSeries = count;
  return chunks;
}

/**
 * Forgets in this process the series no flush took a change of for their
 * metric's idle time (a job runner that never serves /metrics does not grow
 * with the ids in its labels): each child leaves its metric, its cells are
 * dropped, and its fields stay in Redis, where other processes may still
 * write them and a scrape decides when they are idle. A series this
 * process' scrapes follow is left to them, and looked at again an idle time
 * later. A later `labels()` of it makes a new series, whose changes add to
 * the fields.
 *
 * @param marks The idle series' marks (a series' once per cell).
 * @param now The time of the scan.
 */
function forgetIdle(marks: readonly IdleMark[], now: number): Promise<void> | undefined {
  return inSlices(marks.length, (from, to) => {
    for (let i = from; i < to; i++) {
      const mark = marks[i]!;
      // Changed in this scan (by another of its cells), or looked at already.
      if (now - mark.changed < mark.metric.idleMs) continue;
      mark.changed = now;
      forgetHere(mark.metric, mark.key, true);
    }
  }, new Slices());
}

/**
 * One round trip, after the previous one: the pending changes, then a
 * page of each hash scanned (HSCAN). Fails (the changes staying queued) unless Redis
 * answers within `timeoutMs` of the round trip's start: waiting behind the
 * round trips before it is not Redis being slow, so a healthy Redis never
 * fails a scrape that queued. When the one before failed, this one fails
 * at once rather than wait `timeoutMs` more for a Redis that just did not
 * answer.
 */
export function exchange(scans: readonly Scan[], what: string, write = true): Promise<Page[]> {
  const queued = state.inFlight++ > 0;
  const run = state.tail.then((wentThrough) =>
    wentThrough || !queued
      ? roundTrip(scans, what, write)
      : Promise.reject(unavailable(what, "the round trip it waited for failed"))
  ).finally(() => state.inFlight--);
  state.tail = run.then(() => true, () => false);
  return run;
}

async function roundTrip(
  scans: readonly Scan[],
  what: string,
  write: boolean,
): Promise<Page[]> {
  const client = state.client;
  if (client === undefined || client.status !== "ready") throw unavailable(what);
  if (!write) {
    return pagesOf(await send(client, [], scans, what), 0, scans, what);
  }
  const chunks = await takeBatch();
  // After each (re)connection, the generations are read even with nothing to write.
  const reconnected = state.connected;
  if (chunks === undefined && scans.length === 0 && !reconnected) return [];
  const calls: Call[] = [];
  for (const chunk of chunks ?? []) calls.push(["pytheusFlush", ...chunk.keys, ...chunk.argv]);
  // Which data Redis holds, metric by metric: the generations of those
  // read (and after a reconnection of all those known), gone if a Redis
  // (a master of a cluster) restarted empty.
  const probed = reconnected
    ? [...new Set([...state.generations.keys(), ...scans.map((scan) => scan.hash)])]
    : scans.map((scan) => scan.hash);
  for (const hash of probed) calls.push(["get", generationKey(hash)]);
  const results = await send(client, calls, scans, what);
  const written = chunks?.length ?? 0;
  const generations: [hash: string, generation: unknown][] = [];
  for (let i = 0; i < written; i++) {
    const [error, reply] = results[i]!;
    if (error) throw unavailable(what, error);
    const [, refused, generation] = Array.isArray(reply) ? reply : [];
    generations.push([chunks![i]!.keys[1]!, generation]);
    if (Number(refused) > 0) {
      state.refusedChanges += Number(refused);
      getLogger().warn(
        `pytheus: Redis refused ${refused} metric change(s) (a value that is not a number)`,
      );
    }
  }
  for (let i = 0; i < probed.length; i++) {
    const [error, reply] = results[written + i]!;
    if (error) throw unavailable(what, error);
    generations.push([probed[i]!, reply]);
  }
  // Taken only once every reply is in: a round trip that failed above sees the loss again.
  if (reconnected) state.connected = false;
  const lost = new Set<string>();
  for (const [hash, generation] of generations) {
    const known = state.generations.get(hash);
    if (typeof generation === "string") state.generations.set(hash, generation);
    else state.generations.delete(hash);
    if (known !== undefined && generation !== known) lost.add(hash);
  }
  if (chunks !== undefined) {
    state.queued = undefined;
    state.queuedSeries = 0;
  }
  for (const hash of lost) state.mirrors.delete(hash);
  if (lost.size > 0) restore(client, lost, chunks !== undefined);
  // The batch is written: what it added is no longer needed (and may be large).
  if (chunks !== undefined) state.landed = { cells: [], deltas: [], size: 0 };
  const first = written + probed.length;
  return pagesOf(results, first, scans, what);
}

/**
 * Sends `calls`, then a page of each scan, within `timeoutMs`: in one
 * pipeline, or to a cluster each to its node (no pipeline spans slots;
 * ioredis writes the commands of one tick to a node together).
 */
async function send(
  client: Client,
  calls: readonly Call[],
  scans: readonly Scan[],
  what: string,
): Promise<[Error | null, unknown][]> {
  const all: Call[] = [...calls];
  for (const { hash, mirror, whole, cursor } of scans) {
    if (mirror) {
      const known = state.mirrors.get(hash)?.version ?? "";
      all.push(["pytheusReadBuffer", hash, ...mirrorKeys(hash), known]);
    } else {
      // HGETALL by name: the flat [field, value, ...] reply, without the object ioredis builds.
      all.push(whole ? ["call", "HGETALL", hash] : ["hscan", hash, cursor, "COUNT", PAGE_FIELDS]);
    }
  }
  type Commands = Record<string, (...args: (string | number)[]) => Promise<unknown>>;
  let sent: Promise<[Error | null, unknown][] | null>;
  if (client.isCluster) {
    const commands = client as unknown as Commands;
    sent = Promise.all(
      all.map(([method, ...args]): Promise<[Error | null, unknown]> =>
        commands[method]!.call(client, ...args).then(
          (reply) => [null, reply],
          (error: Error) => [error, undefined],
        )
      ),
    );
  } else {
    const pipeline = client.pipeline();
    const commands = pipeline as unknown as Commands;
    for (const [method, ...args] of all) commands[method]!.call(pipeline, ...args);
    sent = pipeline.exec();
  }
  let results: [Error | null, unknown][] | null;
  try {
    results = await withTimeout(
      sent,
      state.settings.timeoutMs,
      () => unavailable(what, `no answer within ${state.settings.timeoutMs} ms`),
    );
  } catch (error) {
    throw error instanceof BackendUnavailableError ? error : unavailable(what, error);
  }
  if (results === null) throw unavailable(what, "the transaction was aborted");
  return results;
}

/** The pages of a scan from the results, from `first` on. */
function pagesOf(
  results: [Error | null, unknown][],
  first: number,
  scans: readonly Scan[],
  what: string,
): Page[] {
  const pages: Page[] = [];
  for (let i = first; i < results.length; i++) {
    const [error, reply] = results[i]!;
    if (error) throw unavailable(what, error);
    const scan = scans[i - first]!;
    if (scan.mirror) {
      pages.push({ mirror: reply });
      continue;
    }
    // HGETALL answers [field, value, ...] (see `#send`): the only page.
    const [cursor, flat] = scan.whole ? ["0", reply] : reply as [unknown, unknown];
    if (typeof cursor !== "string" || !Array.isArray(flat)) {
      throw unavailable(what, `HSCAN answered ${typeof reply}`);
    }
    pages.push([cursor, flat as string[]]);
  }
  return pages;
}

/**
 * Redis lost its data (it restarted empty): writes this process' share of
 * every series again at the next flush, on top of what was written since.
 * What processes that ended before wrote cannot come back.
 *
 * @param client The connection, for the log.
 * @param withBatch Whether the round trip that found it wrote a batch (its
 * increments landed in the empty Redis already).
 */
function restore(client: Client, lost: ReadonlySet<string>, withBatch: boolean): void {
  state.restores++;
  getLogger().warn(
    `pytheus: Redis at ${where(client)} lost the data of ${lost.size} metric(s) (restarted ` +
      "empty?): this process writes its share of their series again; what ended processes " +
      "wrote is lost",
  );
  // The increments of the batch written in the same round trip landed in the emptied Redis.
  const landed = new Map<RedisCell, number>();
  const { cells, deltas, size } = state.landed;
  if (withBatch) { for (let i = 0; i < size; i++) landed.set(cells[i]!, deltas[i]!); }
  for (const series of state.series) {
    if (!lost.has(series.hash())) continue;
    const mode = series.mode();
    if (mode === MODE_INC_SET) {
      // A gauge: its value, as this process last made it, then its changes since.
      series.delta = series.total + series.delta;
      series.setMode(MODE_SET);
      state.restoredSets.set(series, series.delta);
    } else if (mode === MODE_INC) {
      // What landed stays counted as written; the rest is written again.
      const written = landed.get(series) ?? 0;
      series.delta += series.total - written;
      series.total = written;
    }
  }
}

/** Writes the pending changes (from the timer); on failure, retries later. */
export function flushTick(): void {
  const client = state.client;
  if (client === undefined || client.status !== "ready" || state.flushing) return;
  if (state.closing || Date.now() < state.retryAt) return;
  state.flushing = true;
  exchange([], "write metrics").then(
    () => {
      state.failures = 0;
    },
    (error: unknown) => {
      // Redis is slow or went away: back off, up to 2 s between attempts.
      const interval = state.settings.flushIntervalMs;
      state.failures++;
      state.failedFlushes++;
      state.lastError = error instanceof Error ? error.message : String(error);
      state.retryAt = Date.now() +
        Math.min(interval * 2 ** state.failures, Math.max(interval, 2000));
    },
  ).finally(() => {
    state.flushing = false;
  });
}
