import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Output } from "../src/exposition/_output.ts";

describe("Output (the exposition written piece by piece)", () => {
  test("Output's bytes keep a surrogate pair whole when a chunk ends between its halves", () => {
    const pieces = ["a".repeat(16_383) + "\uD83D", "\uDE00 after", "\uD83D", "\uDE01", "end\uD83D"];
    for (const expected of [0, 100, 1_000_000]) {
      const out = new Output(true, expected);
      for (const piece of pieces) out.write(piece);
      assert.deepEqual(out.bytes(), new TextEncoder().encode(pieces.join("")));
    }
  });

  test("Output's text is the pieces joined", () => {
    const out = new Output(false);
    out.write("a\n");
    out.write("ü😀\n");
    assert.equal(out.text(), "a\nü😀\n");
  });
});
