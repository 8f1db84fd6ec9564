import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WIDE_AT, widened, WideNode } from "../src/metrics/_label_node.ts";
import { isJavaScriptCore } from "../src/_runtime.ts";

// Values a dictionary object could mistake for something else.
const TRICKY = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "",
  "0",
  "00",
  "7",
  "4294967295",
  "4294967294",
  "1.5",
  "1e3",
  "-1",
  "NaN",
  "Infinity",
  "length",
  "ünïcødé 😀",
];

describe("WideNode (a label level with many values on JavaScriptCore)", () => {
  test("WideNode keeps every value apart, prototype names and index-like values included", () => {
    const node = new WideNode(new Map([["first", 1]]));
    TRICKY.forEach((key, i) => node.set(key, { key, i }));
    assert.equal(node.get("first"), 1);
    TRICKY.forEach((key, i) => assert.deepEqual(node.get(key), { key, i }, key));
    assert.equal(node.get("missing"), undefined);
    assert.equal(node.get("8"), undefined);
    const object = { polluted: true };
    node.set("__proto__", object);
    assert.equal(node.get("__proto__"), object);
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  });

  test("WideNode lists values in insertion order, those starting with a digit last; a re-added value goes to the end", () => {
    const node = new WideNode(new Map([["b", "b"], ["10", "10"], ["a", "a"]]));
    node.set("2", "2");
    node.set("c", "c");
    assert.deepEqual(node.values(), ["b", "a", "c", "10", "2"]);
    node.delete("b");
    node.delete("10");
    node.set("b", "b again");
    node.set("10", "10 again");
    assert.deepEqual(node.values(), ["a", "c", "b again", "2", "10 again"]);
    node.delete("absent");
    assert.equal(node.get("b"), "b again");
  });

  test(`widened() turns a Map of ${WIDE_AT} values into a WideNode on JavaScriptCore only`, () => {
    const small = new Map(Array.from({ length: WIDE_AT - 1 }, (_, i) => [`v${i}`, i]));
    assert.equal(widened(small), small);
    small.set("last", -1);
    const wide = widened(small);
    if (isJavaScriptCore()) {
      assert.ok(wide instanceof WideNode);
      assert.equal(wide.get("v7"), 7);
      assert.equal(wide.get("last"), -1);
      assert.deepEqual(wide.values(), [...small.values()]);
    } else {
      assert.equal(wide, small, "V8's Map is already the smaller one");
    }
  });
});
