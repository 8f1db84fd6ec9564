/** What the metric types' children share: the partial child's backend and reading one sample. */

import type { Backend, BackendMetric, LabelledValue } from "./backends/backend.ts";
import { UnobservableMetricError } from "./errors.ts";
import type { RecordedExemplar } from "./exemplar.ts";
import { renderLabels } from "./_format.ts";
import type { ChildParent, MetricChild, Sample } from "./metric.ts";
import { own } from "./_validation.ts";

/**
 * The backend of a partial child: every call throws
 * {@linkcode UnobservableMetricError} naming the labels still missing.
 *
 * @param parent The metric.
 * @param child The partial child.
 * @returns A backend that refuses every call.
 */
export function unobservable<L extends string, C>(
  parent: ChildParent<L, C>,
  child: BackendMetric,
): Backend {
  const defaults = parent.defaultLabels as Record<string, string | undefined>;
  const fail = (): never => {
    const missing = parent.requiredLabels.filter((n) =>
      own(child.labelValues, n) === undefined && own(defaults, n) === undefined
    );
    throw new UnobservableMetricError(
      `Cannot observe "${child.name}": label${missing.length > 1 ? "s" : ""} ${
        missing.map((n) => `"${n}"`).join(", ")
      } ha${missing.length > 1 ? "ve" : "s"} no value`,
    );
  };
  const backend = { inc: fail, dec: fail, set: fail, get: fail };
  UNOBSERVABLE.add(backend);
  return backend;
}

const UNOBSERVABLE = new WeakSet<Backend>();

/**
 * Throws {@linkcode UnobservableMetricError} when `backend` is a partial
 * child's: `countExceptions()` and `time()` call it before running the
 * function, so the mistake is reported before the work, and never in place
 * of the function's own error.
 *
 * @param backend The child's backend.
 */
export function assertObservable(backend: Backend): void {
  if (UNOBSERVABLE.has(backend)) backend.get();
}

/**
 * Reads the one sample of a counter or gauge child.
 *
 * @param child The child.
 * @param backend Its backend.
 * @param created The series' creation time, for a counter's `_created`.
 * @param exemplar A counter's latest exemplar.
 * @returns The sample, asynchronously when the backend is remote.
 */
export function collectSingle<L extends string, C>(
  child: MetricChild<L, C>,
  backend: Backend,
  created?: number,
  exemplar?: RecordedExemplar,
): Sample[] | Promise<Sample[]> {
  const labelled = backend.getLabelled?.();
  if (labelled !== undefined) return labelledSamples(child, labelled);
  const value = backend.get();
  return typeof value === "number"
    ? oneSample(child, value, created, exemplar)
    : value.then((v) => oneSample(child, v, created, exemplar));
}

function oneSample<L extends string, C>(
  child: MetricChild<L, C>,
  value: number,
  created: number | undefined,
  exemplar: RecordedExemplar | undefined,
): Sample[] {
  return [{
    suffix: "",
    labels: child.labelValues,
    value,
    labelText: child.labelText,
    created,
    exemplar,
  }];
}

/** The samples of a series a backend split by extra labels (one per worker). */
function labelledSamples<L extends string, C>(
  child: MetricChild<L, C>,
  labelled: readonly LabelledValue[],
): Sample[] {
  return labelled.map(({ labels: extra, value }) => {
    const labels = { ...child.labelValues, ...extra };
    return { suffix: "", labels, value, labelText: renderLabels(labels) };
  });
}
