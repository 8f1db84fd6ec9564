/**
 * One level of a metric's label tree: label value → child, or the next level.
 * A `Map` on every engine, except a level with many values on JavaScriptCore,
 * which becomes a {@linkcode WideNode}: there a `Map` entry costs about 66
 * bytes and a dictionary object's property about 31, and at hundreds of
 * thousands of series that is most of what a series weighs.
 *
 * @module
 */

import { isJavaScriptCore } from "../_runtime.ts";

/** A level of the label tree. */
export type LabelNode = Map<string, unknown> | WideNode;

/** How many values a level holds before it becomes a {@linkcode WideNode} (JavaScriptCore only). */
export const WIDE_AT = 512;

const WIDE = isJavaScriptCore();

/**
 * A level with many values, as JavaScriptCore stores them most compactly: a
 * dictionary object keyed by value. Values that start with a digit could be
 * array indices, which the engine looks up about 3× slower in an object, so
 * those stay in a `Map`. Values come out in insertion order, those starting
 * with a digit after the others.
 */
export class WideNode {
  readonly #words: Record<string, unknown> = Object.create(null);
  readonly #digits = new Map<string, unknown>();

  /**
   * Takes over a map's entries.
   *
   * @param from The level it replaces.
   */
  constructor(from: Map<string, unknown>) {
    // A deleted property puts the object in dictionary mode at once, before
    // the engine makes a shape for each of the first few dozen keys.
    this.#words[""] = undefined;
    delete this.#words[""];
    for (const [key, value] of from) this.set(key, value);
  }

  /**
   * The entry of a label value.
   *
   * @param key The label value.
   * @returns The child or next level, `undefined` if none.
   */
  get(key: string): unknown {
    return startsWithDigit(key) ? this.#digits.get(key) : this.#words[key];
  }

  /**
   * Sets the entry of a label value.
   *
   * @param key The label value.
   * @param value The child or next level.
   */
  set(key: string, value: unknown): void {
    if (startsWithDigit(key)) this.#digits.set(key, value);
    else this.#words[key] = value;
  }

  /**
   * Deletes the entry of a label value.
   *
   * @param key The label value.
   */
  delete(key: string): void {
    if (startsWithDigit(key)) this.#digits.delete(key);
    else delete this.#words[key];
  }

  /** Every entry: children and next levels. */
  values(): unknown[] {
    const values = Object.values(this.#words);
    for (const value of this.#digits.values()) values.push(value);
    return values;
  }
}

/**
 * The level to keep after an entry was added: the same map, or on
 * JavaScriptCore a {@linkcode WideNode} once it holds {@linkcode WIDE_AT} values.
 *
 * @param node The level.
 * @returns The level to keep in its place.
 */
export function widened(node: LabelNode): LabelNode {
  return WIDE && node instanceof Map && node.size >= WIDE_AT ? new WideNode(node) : node;
}

/**
 * Whether an entry is a level (not a child).
 *
 * @param entry An entry of a level.
 */
export function isLabelNode(entry: unknown): entry is LabelNode {
  return entry instanceof Map || entry instanceof WideNode;
}

function startsWithDigit(key: string): boolean {
  const code = key.charCodeAt(0);
  return code >= 48 && code <= 57;
}
