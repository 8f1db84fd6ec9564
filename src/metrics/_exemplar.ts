/** Checking an exemplar at the call that records it. */

import { renderLabels } from "../exposition/_format.ts";
import type { Exemplar, RecordedExemplar } from "../vocabulary.ts";
import { describeName, describeValue, isLabelName } from "../_validation.ts";

const EXEMPLAR_MAX_CHARACTERS = 128;

/**
 * The exemplars {@linkcode sharedExemplar} checked and froze, with their
 * labels rendered: one handed to several observations (an HTTP request's
 * three) is checked and rendered once.
 */
const shared = new WeakMap<Exemplar, string>();

/**
 * Checks an exemplar's labels and stamps it with the current time.
 *
 * @param labels What the caller gave as the exemplar.
 * @param value The observed value.
 * @returns The recorded exemplar, or what is wrong with it.
 */
export function exemplarOf(labels: Exemplar, value: number): RecordedExemplar | string {
  const sharedText = shared.get(labels);
  if (sharedText !== undefined) {
    return { labels, labelText: sharedText, value, timestamp: Date.now() / 1000 };
  }
  const copy = checkExemplar(labels);
  if (typeof copy === "string") return copy;
  return {
    labels: copy,
    labelText: renderLabels(copy) || "{}",
    value,
    timestamp: Date.now() / 1000,
  };
}

/**
 * Checks an exemplar that several observations will take, once: they take
 * the frozen copy it returns without checking or rendering it again.
 *
 * @param labels What the application gave as the exemplar.
 * @returns The frozen copy, or what is wrong with the labels.
 */
export function sharedExemplar(labels: unknown): Exemplar | string {
  const copy = checkExemplar(labels);
  if (typeof copy === "string") return copy;
  shared.set(Object.freeze(copy), renderLabels(copy) || "{}");
  return copy;
}

/**
 * Checks an exemplar's labels against the rules (label names, string
 * values of whole characters, at most 128 characters in all).
 *
 * @param labels What the caller gave as the exemplar.
 * @returns A copy of the labels, or what is wrong with them.
 */
function checkExemplar(labels: unknown): Record<string, string> | string {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    return `expected a record of label values, got ${describeValue(labels)}`;
  }
  const copy: Record<string, string> = {};
  let characters = 0;
  for (const name of Object.keys(labels)) {
    const labelValue: unknown = (labels as Record<string, unknown>)[name];
    if (!isLabelName(name)) {
      return `invalid label name ${
        describeName(name)
      }, must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"`;
    }
    if (typeof labelValue !== "string") {
      return `label "${name}" must be a string, got ${describeValue(labelValue)}`;
    }
    if (!labelValue.isWellFormed()) {
      return `label "${name}" holds a lone surrogate: UTF-8 cannot carry it`;
    }
    characters += codePoints(name) + codePoints(labelValue);
    if (characters > EXEMPLAR_MAX_CHARACTERS) {
      return `its label names and values have more than ${EXEMPLAR_MAX_CHARACTERS} characters`;
    }
    copy[name] = labelValue;
  }
  return copy;
}

/** Counts code points: a surrogate pair is one character. */
function codePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
