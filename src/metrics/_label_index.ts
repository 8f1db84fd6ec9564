/**
 * A metric's label index: label values to children, one tree level per
 * label in `requiredLabels` order, with exact values as keys, so no two label
 * sets can share a path. A level holds a child directly until a second child
 * shares its prefix. `labels()` reads it through a lookup compiled for the
 * metric's label names once it served a few calls.
 */

import { inSlices, type Slices } from "../_slices.ts";
import { thenOrNow } from "./_timing.ts";
import { type Outside, ROW } from "./child.ts";
import { compileLookup, type FastLookup, type TreeStep } from "./_fast_lookup.ts";
import { isLabelNode, type LabelNode, widened, WideNode } from "./_label_node.ts";
import type { SeriesTable } from "./_series_table.ts";

/** What the index needs of a child: its row in the series table. */
interface Indexed {
  [ROW](): number | Outside;
}

/**
 * How many `labels()` calls a metric serves by the general path before it
 * compiles its fast lookup: a metric looked up only now and then is spared
 * the compiled function's memory (about 3 KB on JavaScriptCore).
 */
const COMPILE_AFTER = 16;

/** How many children are listed at once, without slicing: well within a slice. */
const WALK_AT_ONCE = 16_384;

/** The children of a metric with labels, by label values. */
export class LabelIndex<C extends Indexed> {
  readonly #names: readonly string[];
  readonly #series: SeriesTable;
  #tree: LabelNode = new Map<string, unknown>();
  #size = 0;
  #lookup: FastLookup | undefined;
  #generalCalls = 0;
  /** One step down: the entry under `value` at level `label` (a child is checked against its row). */
  readonly step: TreeStep = (node, value, label) => {
    if (node instanceof Map) return node.get(value);
    if (node instanceof WideNode) return node.get(value);
    return this.#series.value((node as C)[ROW]() as number, label) === value ? node : undefined;
  };

  /**
   * @param names The label names, one level each.
   * @param series The table holding the children's label values, by row.
   */
  constructor(names: readonly string[], series: SeriesTable) {
    this.#names = names;
    this.#series = series;
  }

  /** How many children the index holds. */
  get size(): number {
    return this.#size;
  }

  /** The top level, where a walk with {@linkcode LabelIndex.step} starts. */
  get root(): LabelNode {
    return this.#tree;
  }

  /**
   * The fast path: the child of a label set given as strings and nothing
   * else, once the lookup is compiled; `undefined` otherwise (the general
   * path answers, and is counted).
   *
   * @param values The label values, as `labels()` got them.
   * @returns The child, or `undefined`.
   */
  lookup(values: object): C | undefined {
    const lookup = this.#lookup;
    if (lookup !== undefined) return lookup(values, this.#tree, this.step) as C | undefined;
    if (++this.#generalCalls === COMPILE_AFTER && this.#names.length > 0) {
      this.#lookup = compileLookup(this.#names);
    }
    return undefined;
  }

  /**
   * Adds a child whose row holds its label values.
   *
   * @param child The child.
   */
  insert(child: C): void {
    this.#tree = this.#insert(this.#tree, 0, child);
    this.#size++;
  }

  /**
   * Removes a child (before its row is freed).
   *
   * @param child The child.
   */
  delete(child: C): void {
    this.#size--;
    // The child sits at the first level where no other child shares its prefix.
    const row = child[ROW]() as number;
    let node = this.#tree;
    for (let i = 0; i < this.#names.length; i++) {
      const value = this.#series.value(row, i);
      const next = node.get(value);
      if (next === child) {
        node.delete(value);
        break;
      }
      if (!isLabelNode(next)) break;
      node = next;
    }
    // The last child gone (clear()): a widened level goes back to a small Map.
    if (this.#size === 0) this.#tree = new Map();
  }

  /**
   * Every child, grouped by their first label's value: listed in slices when
   * given a budget (a promise then, if the event loop ran).
   *
   * @param slices The scrape's budget.
   * @returns The children.
   */
  children(slices: Slices | undefined): C[] | Promise<C[]> {
    const children: C[] = [];
    // A walk this short takes less than a slice: at once.
    if (slices === undefined || this.#size <= WALK_AT_ONCE) {
      leaves(this.#tree, children);
      return children;
    }
    // Depth first: a level's values are children or levels; where the walk is in each level.
    const levels: unknown[][] = [valuesOf(this.#tree)];
    const at: number[] = [0];
    const walk = (from: number, to: number): boolean => {
      let wanted = to - from;
      while (wanted > 0 && levels.length > 0) {
        const top = levels.length - 1;
        const level = levels[top]!;
        const i = at[top]!;
        if (i === level.length) {
          levels.pop();
          at.pop();
          continue;
        }
        at[top] = i + 1;
        const entry = level[i];
        if (isLabelNode(entry)) {
          levels.push(valuesOf(entry));
          at.push(0);
        } else {
          children.push(entry as C);
          wanted--;
        }
      }
      return levels.length === 0;
    };
    // A step lists one child: as many as the walk finds, those made while it runs too.
    return thenOrNow(inSlices(Infinity, walk, slices), () => children);
  }

  /**
   * Puts a child at the first level where no other child shares its values.
   *
   * @returns The level to keep in `node`'s place (a wider one, past WIDE_AT values).
   */
  #insert(node: LabelNode, level: number, child: C): LabelNode {
    const value = this.#series.value(child[ROW]() as number, level);
    const next = node.get(value);
    if (level === this.#names.length - 1 || next === undefined) {
      node.set(value, child);
    } else if (isLabelNode(next)) {
      const kept = this.#insert(next, level + 1, child);
      if (kept !== next) node.set(value, kept);
    } else {
      let split: LabelNode = new Map<string, unknown>();
      split = this.#insert(split, level + 1, next as C);
      node.set(value, this.#insert(split, level + 1, child));
    }
    return widened(node);
  }
}

function leaves<C>(node: LabelNode, out: C[]): void {
  for (const entry of node.values()) {
    if (isLabelNode(entry)) leaves(entry, out);
    else out.push(entry as C);
  }
}

/** A level's values: children, or the levels below. */
function valuesOf(node: LabelNode): unknown[] {
  return node instanceof Map ? [...node.values()] : node.values();
}
