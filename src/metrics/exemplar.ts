/**
 * Exemplars: a label record, such as a trace id, kept with an observation
 * and shown in OpenMetrics output.
 *
 * @module
 */

/**
 * The labels of an exemplar, linking an observation to a trace:
 * `{ trace_id: "4bf92f3577b34da6" }`. Names follow label name rules; names
 * and values together hold at most 128 characters (code points).
 * Exemplars live in the process that recorded them, whatever the backend.
 *
 * @example
 * ```ts
 * import { Counter, type Exemplar } from "@pytheus/pytheus";
 * const c = new Counter({ name: "orders_total", description: "Orders.", registry: null });
 * const exemplar: Exemplar = { trace_id: "4bf92f3577b34da6" };
 * c.inc(1, exemplar);
 * ```
 */
export type Exemplar = { readonly [name: string]: string };

/**
 * An exemplar as recorded with an observation, as a sample carries it.
 *
 * @example
 * ```ts
 * import { Counter } from "@pytheus/pytheus";
 * const c = new Counter({ name: "orders_total", description: "Orders.", registry: null });
 * c.inc(2, { trace_id: "abc" });
 * const [sample] = await c.collect();
 * console.assert(sample?.exemplar?.labelText === '{trace_id="abc"}');
 * ```
 */
export interface RecordedExemplar {
  /** The exemplar's labels (a copy of those given). */
  readonly labels: Exemplar;
  /** The labels rendered as `{trace_id="abc"}`. */
  readonly labelText: string;
  /** The observed value (a counter's increment, a histogram's observation). */
  readonly value: number;
  /** When it was recorded, in seconds since the epoch. */
  readonly timestamp: number;
}
