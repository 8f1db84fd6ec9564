/**
 * A Redis cell by itself (src/backends/_redis_state.ts), no Redis needed:
 * its metric's hash and its mode live in one object the metric's cells in
 * that mode share, so the hash must follow each cell through every change
 * of mode, a change of one cell must leave the others alone, and on Bun the
 * cell must stay in JavaScriptCore's 48-byte size class.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StoredSeries } from "../src/backends/store.ts";
import {
  MODE_INC,
  MODE_INC_SET,
  MODE_REMOVED,
  MODE_SET,
  RedisCell,
} from "../src/backends/_redis_state.ts";

/** What a cell is made from: a counter's series. */
function seriesOf(metric: string, id: string): StoredSeries {
  return {
    metric,
    key: JSON.stringify({ id }),
    registryPrefix: "",
    name: metric,
    type: "counter",
    labelValues: { id },
    sample: "",
  };
}

describe("A Redis cell", () => {
  test("keeps its metric's hash through every mode, each cell its own mode", () => {
    const a = new RedisCell("unit", seriesOf("a_total", "1"));
    const b = new RedisCell("unit", seriesOf("a_total", "2"));
    const c = new RedisCell("other", seriesOf("a_total", "1"));
    try {
      assert.deepEqual([a.hash(), b.hash(), c.hash()], [
        "unit:{a_total}",
        "unit:{a_total}",
        "other:{a_total}",
      ]);
      assert.deepEqual([a.mode(), b.mode(), c.mode()], [MODE_INC, MODE_INC, MODE_INC]);
      a.inc(2);
      a.set(5);
      assert.deepEqual([a.mode(), b.mode(), c.mode()], [MODE_SET, MODE_INC, MODE_INC]);
      assert.equal(a.get(), 5);
      // As a flush leaves a set it wrote: the value set, then increments add to it.
      a.total = a.delta;
      a.delta = 0;
      a.setMode(MODE_INC_SET);
      a.inc(1);
      assert.equal(a.get(), 6);
      b.drop();
      assert.deepEqual([a.mode(), b.mode(), c.mode()], [MODE_INC_SET, MODE_REMOVED, MODE_INC]);
      assert.deepEqual([a.hash(), b.hash(), c.hash()], [
        "unit:{a_total}",
        "unit:{a_total}",
        "other:{a_total}",
      ]);
      // A removed cell ignores what comes later.
      b.set(7);
      assert.equal(b.mode(), MODE_REMOVED);
      assert.equal(b.get(), 0);
      assert.equal(a.field, '{"id":"1"}');
    } finally {
      for (const cell of [a, b, c]) cell.drop();
    }
  });

  test("takes 48 bytes on JavaScriptCore (an accessor on its class would make it 64)", {
    skip: (globalThis as { Bun?: unknown }).Bun ? false : "JavaScriptCore's sizes (Bun only)",
  }, async () => {
    // Not a literal: only Bun has the module, and Deno's type check must not look for it.
    const jsc = "bun:jsc";
    const { estimateShallowMemoryUsageOf } = await import(jsc) as {
      estimateShallowMemoryUsageOf(value: object): number;
    };
    // Enough cells for the engine to settle on their size.
    const cells = Array.from(
      { length: 64 },
      (_, i) => new RedisCell("unit", seriesOf("b", `${i}`)),
    );
    try {
      assert.equal(estimateShallowMemoryUsageOf(cells.at(-1)!), 48);
    } finally {
      for (const cell of cells) cell.drop();
    }
  });
});
