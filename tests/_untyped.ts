/** Passing values as untyped JavaScript would, past the type checker. */

/**
 * `value`, typed as anything a parameter takes.
 *
 * @param value What an untyped caller passes.
 * @returns The same value.
 */
export function untyped<T>(value: T): never {
  return value as never;
}
