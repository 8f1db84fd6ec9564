/**
 * The errors pytheus throws: every one extends {@linkcode PytheusError}, so a
 * caller can catch the whole family or one precise mistake.
 *
 * @module
 */

/**
 * Base class of every error thrown by pytheus.
 *
 * @example Catch any pytheus error
 * ```ts
 * import { Counter, PytheusError } from "@pytheus/pytheus";
 * try {
 *   new Counter({ name: "bad name", description: "x", registry: null });
 * } catch (err) {
 *   console.assert(err instanceof PytheusError);
 * }
 * ```
 */
export class PytheusError extends Error {
  /**
   * Creates an error.
   *
   * @param message What could not be done and why.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A label name or value is invalid, unknown, missing or of the wrong type.
 *
 * @example
 * ```ts
 * import { Counter, LabelValidationError } from "@pytheus/pytheus";
 * const c = new Counter({ name: "c", description: "x", requiredLabels: ["a"], registry: null });
 * try {
 *   c.labels({ b: "x" } as never);
 * } catch (err) {
 *   console.assert(err instanceof LabelValidationError);
 * }
 * ```
 */
export class LabelValidationError extends PytheusError {}

/**
 * A metric name or registry prefix does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
 *
 * @example
 * ```ts
 * import { Gauge, NameValidationError } from "@pytheus/pytheus";
 * try {
 *   new Gauge({ name: "1st", description: "x", registry: null });
 * } catch (err) {
 *   console.assert(err instanceof NameValidationError);
 * }
 * ```
 */
export class NameValidationError extends PytheusError {}

/**
 * A metric (or child) was observed while some required label has no value.
 *
 * @example
 * ```ts
 * import { Counter, UnobservableMetricError } from "@pytheus/pytheus";
 * const c = new Counter({ name: "c", description: "x", requiredLabels: ["a"], registry: null });
 * try {
 *   c.inc();
 * } catch (err) {
 *   console.assert(err instanceof UnobservableMetricError);
 * }
 * ```
 */
export class UnobservableMetricError extends PytheusError {}

/**
 * Histogram buckets are unsorted, duplicated or not numbers, or summary quantiles or window are invalid.
 *
 * @example
 * ```ts
 * import { BucketError, Histogram } from "@pytheus/pytheus";
 * try {
 *   new Histogram({ name: "h", description: "x", buckets: [2, 1], registry: null });
 * } catch (err) {
 *   console.assert(err instanceof BucketError);
 * }
 * ```
 */
export class BucketError extends PytheusError {}

/**
 * A value passed to a metric is not allowed: a negative or NaN counter
 * increment, a NaN histogram observation.
 *
 * @example
 * ```ts
 * import { Counter, InvalidValueError } from "@pytheus/pytheus";
 * const c = new Counter({ name: "c", description: "x", registry: null });
 * try {
 *   c.inc(-1);
 * } catch (err) {
 *   console.assert(err instanceof InvalidValueError);
 * }
 * ```
 */
export class InvalidValueError extends PytheusError {}

/**
 * A constructor or helper was given an option it does not take, or an
 * option of the wrong kind: a missing `description`, prom-client's `help`
 * or `labelNames`, a `maxSeries` that is not a whole number. The message
 * names the option to use.
 *
 * @example
 * ```ts
 * import { Counter, InvalidOptionError } from "@pytheus/pytheus";
 * try {
 *   new Counter({ name: "c", help: "x", registry: null } as never);
 * } catch (err) {
 *   console.assert(err instanceof InvalidOptionError); // use `description`
 * }
 * ```
 */
export class InvalidOptionError extends PytheusError {}

/**
 * A collector (or a backend) gave a sample the exposition cannot write: a
 * value that is not a number (or that OpenMetrics cannot carry, as a negative
 * count), a label name or value that is not valid, a sample name that is not
 * one. A `CollectorRegistry` leaves that metric out of the scrape, serves the
 * others and logs the error; a `Registry` of your own fails the scrape with it.
 *
 * @example
 * ```ts
 * import { InvalidSampleError } from "@pytheus/pytheus";
 * const error = new InvalidSampleError('a sample value is string "5", not a number');
 * console.assert(error.name === "InvalidSampleError");
 * ```
 */
export class InvalidSampleError extends PytheusError {}

/**
 * A backend living in another process (Redis) cannot be reached, or did not
 * answer in time: the scrape cannot be answered, and the handler replies 503.
 * The application's own calls (`inc()`, `observe()`) never throw it.
 *
 * @example
 * ```ts
 * import { BackendUnavailableError, generateMetrics } from "@pytheus/pytheus";
 * try {
 *   await generateMetrics();
 * } catch (err) {
 *   if (err instanceof BackendUnavailableError) console.warn("metrics store down:", err.message);
 * }
 * ```
 */
export class BackendUnavailableError extends PytheusError {}
