/** Checking an exemplar at the call that records it. */

import { renderLabels } from "./_format.ts";
import { LabelValidationError } from "./errors.ts";
import type { Exemplar, RecordedExemplar } from "./exemplar.ts";

const EXEMPLAR_MAX_CHARACTERS = 128;
const EXEMPLAR_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Checks an exemplar's labels and stamps it with the current time. */
export function exemplarOf(metric: string, labels: Exemplar, value: number): RecordedExemplar {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    throw new LabelValidationError(
      `Cannot record exemplar on "${metric}": expected a record of label values, got ${
        labels === null ? "null" : Array.isArray(labels) ? "an array" : typeof labels
      }`,
    );
  }
  const copy: Record<string, string> = {};
  let characters = 0;
  for (const name of Object.keys(labels)) {
    const labelValue: unknown = labels[name];
    if (!EXEMPLAR_LABEL_NAME.test(name)) {
      throw new LabelValidationError(
        `Cannot record exemplar on "${metric}": invalid label name ${
          JSON.stringify(name)
        }, must match [a-zA-Z_][a-zA-Z0-9_]*`,
      );
    }
    if (typeof labelValue !== "string") {
      throw new LabelValidationError(
        `Cannot record exemplar on "${metric}": label "${name}" must be a string, got ${typeof labelValue}`,
      );
    }
    characters += codePoints(name) + codePoints(labelValue);
    copy[name] = labelValue;
  }
  if (characters > EXEMPLAR_MAX_CHARACTERS) {
    throw new LabelValidationError(
      `Cannot record exemplar on "${metric}": its label names and values have ${characters} characters, more than ${EXEMPLAR_MAX_CHARACTERS}`,
    );
  }
  return {
    labels: copy,
    labelText: renderLabels(copy) || "{}",
    value,
    timestamp: Date.now() / 1000,
  };
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
