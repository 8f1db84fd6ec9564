/**
 * The escaping schemes of Prometheus 3 names: how a name outside the legacy
 * character set (`[a-zA-Z_:][a-zA-Z0-9_:]*`) is written for a scraper, as the
 * Prometheus escaping-schemes page and prometheus/common's `EscapeName`
 * define them. Only names that fail the legacy pattern are ever changed.
 */

/** The legacy pattern of a metric name. */
export const LEGACY_METRIC_NAME: RegExp = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** The legacy pattern of a label name: a metric name's, without `:`. */
export const LEGACY_LABEL_NAME: RegExp = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * How an exposition writes metric and label names outside the legacy
 * character set: `"allow-utf-8"` as they are (quoted, inside the braces for a
 * metric name), `"underscores"` with `_` for each other character, `"dots"`
 * with `_dot_` for `.` and `__` for `_` and the others, `"values"` as `U__`
 * and each other character's code point in hex between underscores.
 *
 * @example
 * ```ts
 * import type { Escaping } from "@pytheus/pytheus/types";
 * const escaping: Escaping = "allow-utf-8";
 * ```
 */
export type Escaping = "allow-utf-8" | "underscores" | "dots" | "values";

/** Every escaping scheme, by the name `Accept` and `Content-Type` give it. */
export const ESCAPINGS: readonly Escaping[] = ["allow-utf-8", "underscores", "dots", "values"];

/** Whether a character (a code point) may stand at `index` of a legacy name. */
function legacyChar(char: string, index: number, colon: boolean): boolean {
  return (char >= "a" && char <= "z") || (char >= "A" && char <= "Z") || char === "_" ||
    (colon && char === ":") || (index > 0 && char >= "0" && char <= "9");
}

/**
 * A name as an escaping scheme writes it: unchanged when it matches the
 * legacy pattern (a metric name's, or with `label` a label name's, which has
 * no `:`) or under `"allow-utf-8"`; else escaped as prometheus/common's
 * `EscapeName` does (`"dots"` turns every `_` into `__`, as it keeps the
 * name reversible).
 *
 * @param name The name.
 * @param escaping The scheme.
 * @param label Whether it is a label name.
 * @returns The name as written (unquoted).
 */
export function escapeName(name: string, escaping: Escaping, label = false): string {
  if (escaping === "allow-utf-8" || (label ? LEGACY_LABEL_NAME : LEGACY_METRIC_NAME).test(name)) {
    return name;
  }
  let out = escaping === "values" ? "U__" : "";
  let index = 0;
  for (const char of name) {
    if (char === "_") out += escaping === "underscores" ? "_" : "__";
    else if (legacyChar(char, index, !label)) out += char;
    else if (escaping === "underscores") out += "_";
    else if (escaping === "dots") out += char === "." ? "_dot_" : "__";
    else out += `_${char.codePointAt(0)!.toString(16)}_`;
    index++;
  }
  return out;
}
