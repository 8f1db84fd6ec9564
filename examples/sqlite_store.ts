/**
 * A complete shared backend in a page: every process using the same SQLite
 * file (`node:sqlite`, on Deno and Bun) adds to the same numbers, and a
 * scrape of any of them shows the totals of all, series other processes made
 * included. `inc()` costs no I/O: changes add up in memory, and a flush
 * writes them in one transaction (every 100 ms, and before each read). SQLite
 * is synchronous: a flush waiting for another process' transaction holds the
 * event loop, at most a second (the busy timeout), then tries again later.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { clearInterval, setInterval } from "node:timers";
import type { Backend, BackendConfig, Store, StoredMetric, StoredSeries } from "../mod.ts";

/**
 * A change not yet written: add `delta` to a number, replace the number with
 * it, or delete the number (with a null key, every number of the metric).
 */
type Change = { op: "add" | "set" | "remove"; metric: string; key: string | null; delta: number };

/**
 * Keeps every number in one table of the SQLite file `config.path`, shared
 * by every process that opens it.
 *
 * @example
 * ```ts ignore
 * import { loadBackend } from "@pytheus/pytheus";
 * import { SqliteStore } from "./examples/sqlite_store.ts";
 * await loadBackend({ store: new SqliteStore({ path: "/tmp/metrics.db" }) });
 * ```
 */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  /** The changes since the last flush, in order: one per cell, and one per metric cleared. */
  readonly #pending = new Map<Backend | string, Change>();
  readonly #sql;
  readonly #timer;

  constructor(config: BackendConfig) {
    if (typeof config.path !== "string") throw new TypeError("SqliteStore needs a path");
    this.#db = new DatabaseSync(config.path);
    // WAL and a busy timeout: processes write one after the other, none fails.
    this.#db.exec(`PRAGMA busy_timeout = 1000; PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS
      pytheus (metric TEXT, key TEXT, value REAL, PRIMARY KEY (metric, key)) WITHOUT ROWID`);
    this.#sql = {
      write: this.#db.prepare(`INSERT INTO pytheus VALUES (?1, ?2, ?3)
        ON CONFLICT DO UPDATE SET value = IIF(?4 = 'set', excluded.value, value + excluded.value)`),
      delete: this.#db.prepare("DELETE FROM pytheus WHERE metric = ? AND key = IFNULL(?, key)"),
      read: this.#db.prepare("SELECT key, value FROM pytheus WHERE metric = ?"),
    };
    // A flush that fails (the file locked too long) is logged once, and retried.
    let failing = false;
    this.#timer = setInterval(() => {
      try {
        this.#write();
        failing = false;
      } catch (error) {
        if (!failing) console.error("SqliteStore: cannot write, will retry:", error);
        failing = true;
      }
    }, 100).unref(); // The flush timer does not keep the process alive.
  }

  cell({ metric, key }: StoredSeries): Backend {
    // A removed cell stays removed: later changes (of a child the application kept) are dropped.
    let removed = false;
    const change = (op: Change["op"], delta: number): void => {
      if (removed) return;
      removed = op === "remove";
      const pending = this.#pending.get(cell);
      if (op === "add" && pending !== undefined) pending.delta += delta;
      else this.#pending.set(cell, { op, metric, key, delta });
    };
    const cell: Backend = {
      inc: (value) => change("add", value),
      dec: (value) => change("add", -value),
      set: (value) => change("set", value),
      get: () => this.#pending.get(cell)?.delta ?? 0,
      remove: () => change("remove", 0),
    };
    return cell;
  }

  read(metrics: readonly StoredMetric[]): Map<string, Map<string, number>> {
    this.#write();
    // SQLite stores a NaN as NULL.
    const values = (metric: string) =>
      this.#sql.read.all(metric).map((row) => [String(row.key), Number(row.value ?? NaN)] as const);
    return new Map(metrics.map(({ metric }) => [metric, new Map(values(metric))]));
  }

  clear({ metric }: StoredMetric): void {
    this.#pending.set(metric, { op: "remove", metric, key: null, delta: 0 });
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    try {
      this.#write();
      return Promise.resolve();
    } finally {
      this.#db.close();
    }
  }

  /** Writes every pending change in one transaction; on failure they stay pending. */
  #write(): void {
    if (this.#pending.size === 0) return;
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      for (const { op, metric, key, delta } of this.#pending.values()) {
        if (op === "remove") this.#sql.delete.run(metric, key);
        else this.#sql.write.run(metric, key, delta, op);
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
    this.#pending.clear();
  }
}
