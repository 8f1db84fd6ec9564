/**
 * A complete shared backend in a page: every process using the same SQLite
 * file (`node:sqlite`, on Deno and Bun) adds to the same numbers, and a
 * scrape of any of them shows the totals of all, series other processes made
 * included. `inc()` costs no I/O: cells add up in memory, and a flush writes
 * them in one transaction (every 100 ms, and before each read). SQLite is
 * synchronous: a flush waiting for another process' transaction holds the
 * event loop, at most a second (the busy timeout), then tries again later.
 *
 * ```ts ignore
 * import { loadBackend } from "@pytheus/pytheus";
 * import { SqliteStore } from "./examples/sqlite_store.ts";
 * await loadBackend({ store: new SqliteStore({ path: "/tmp/metrics.db" }) });
 * ```
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { Backend, BackendConfig, Store, StoredMetric, StoredSeries } from "../mod.ts";

/** One number of this process: what it changed since the last flush (the hot path). */
class Cell implements Backend {
  delta = 0;
  setTo: number | undefined;
  removed = false;
  constructor(readonly series: StoredSeries, readonly pending: Set<Cell | string>) {}
  inc(value: number): void {
    this.delta += value;
    this.pending.add(this);
  }
  dec(value: number): void {
    this.inc(-value);
  }
  set(value: number): void {
    this.setTo = value;
    this.delta = 0;
    this.pending.add(this);
  }
  get(): number {
    return (this.setTo ?? 0) + this.delta;
  }
  remove(): void {
    this.removed = true;
    this.pending.add(this);
  }
}

/** Keeps every number in one table of a SQLite file; `config.path` names the file. */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  // Cells changed, and metrics cleared (by id), in order.
  readonly #pending = new Set<Cell | string>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #sql;
  #failing = false;

  constructor(config: BackendConfig) {
    if (typeof config.path !== "string") throw new TypeError("SqliteStore needs a path");
    this.#db = new DatabaseSync(config.path);
    // WAL and a busy timeout: processes write one after the other, none fails.
    this.#db.exec(`PRAGMA busy_timeout = 1000; PRAGMA journal_mode = WAL;
      CREATE TABLE IF NOT EXISTS pytheus (metric TEXT, key TEXT, value REAL,
        PRIMARY KEY (metric, key)) WITHOUT ROWID`);
    const sql = (text: string) => this.#db.prepare(text);
    this.#sql = {
      add: sql(`INSERT INTO pytheus VALUES (?, ?, ?)
        ON CONFLICT DO UPDATE SET value = value + excluded.value`),
      set: sql("INSERT OR REPLACE INTO pytheus VALUES (?, ?, ?)"),
      remove: sql("DELETE FROM pytheus WHERE metric = ? AND key = ?"),
      clear: sql("DELETE FROM pytheus WHERE metric = ?"),
      read: sql("SELECT key, value FROM pytheus WHERE metric = ?"),
    };
    this.#timer = setInterval(() => this.#flushSoon(), 100);
    // The flush timer must not keep the process alive (Deno's timers are numbers).
    const timer: unknown = this.#timer;
    if (typeof timer === "number") Reflect.get(globalThis, "Deno")?.unrefTimer(timer);
    else (timer as { unref(): void }).unref();
  }

  cell(series: StoredSeries): Backend {
    return new Cell(series, this.#pending);
  }

  read(metrics: readonly StoredMetric[]): Map<string, Map<string, number>> {
    this.#write();
    return new Map(metrics.map(({ metric }) => [
      metric,
      new Map(this.#sql.read.all(metric).map((row) => [String(row.key), Number(row.value ?? NaN)])),
    ]));
  }

  clear(metric: StoredMetric): void {
    this.#pending.add(metric.metric);
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    try {
      this.#write();
    } finally {
      this.#db.close();
    }
    return Promise.resolve();
  }

  /** The timer's flush: a failure (the file locked too long) is logged once, and retried. */
  #flushSoon(): void {
    try {
      this.#write();
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) console.error("SqliteStore: cannot write, will retry:", error);
      this.#failing = true;
    }
  }

  /** Writes every pending change in one transaction; on failure they stay pending. */
  #write(): void {
    const cells = [...this.#pending];
    if (cells.length === 0) return;
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      for (const cell of cells) {
        if (typeof cell === "string") {
          this.#sql.clear.run(cell);
          continue;
        }
        const { series: { metric, key }, removed, setTo, delta } = cell;
        if (removed) this.#sql.remove.run(metric, key);
        else if (setTo !== undefined) this.#sql.set.run(metric, key, setTo + delta);
        else this.#sql.add.run(metric, key, delta);
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
    this.#pending.clear();
    for (const cell of cells) {
      if (typeof cell !== "string") [cell.delta, cell.setTo] = [0, undefined];
    }
  }
}
