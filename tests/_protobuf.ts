/**
 * Decoding the Prometheus protobuf exposition with an independent decoder
 * (protobufjs, a dev dependency) and client_model's official schema
 * (tests/fixtures/metrics.proto); native histograms checked as Prometheus
 * 2.42 reads them.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";
import { upperBound } from "../src/metrics/_native_buckets.ts";
import { countOf } from "../src/metrics/_native_merge.ts";
import type { NativeHistogramState } from "../src/vocabulary.ts";
import { CollectorRegistry, encodeMetrics, Histogram } from "../mod.ts";

const root = new protobuf.Root();
protobuf.parse(
  'syntax = "proto3"; package google.protobuf; message Timestamp { int64 seconds = 1; int32 nanos = 2; }',
  root,
);
protobuf.parse(
  readFileSync(new URL("./fixtures/metrics.proto", import.meta.url), "utf8")
    .replace('import "google/protobuf/timestamp.proto";', ""),
  root,
  { keepCase: true },
);
const MetricFamily = root.lookupType("io.prometheus.client.MetricFamily");

/** Every MetricFamily of a length-delimited stream, as plain objects. */
export function decode(bytes: Uint8Array): Record<string, unknown>[] {
  const reader = protobuf.Reader.create(bytes);
  const families: Record<string, unknown>[] = [];
  while (reader.pos < reader.len) {
    const message = MetricFamily.decodeDelimited(reader);
    families.push(MetricFamily.toObject(message, { longs: Number, enums: String }));
  }
  return families;
}

/** A time as the `Timestamp` the format carries. */
export function timestamp(seconds: number): { seconds: number; nanos?: number } {
  const whole = Math.floor(seconds);
  const nanos = Math.round((seconds - whole) * 1e9);
  return nanos > 0 ? { seconds: whole, nanos } : { seconds: whole };
}

/** A native histogram as decoded: its fields, and its buckets by key. */
export interface DecodedNative {
  readonly count: number;
  readonly sum: number;
  readonly schema: number;
  readonly zeroThreshold: number;
  readonly zeroCount: number;
  readonly positive: Map<number, number>;
  readonly negative: Map<number, number>;
  /** The message's `histogram`, whole. */
  readonly histogram: Record<string, unknown>;
}

/** The buckets of spans and deltas, by key (every key of the spans, empty ones too). */
function bucketsOf(spans: unknown, deltas: unknown): Map<number, number> {
  const buckets = new Map<number, number>();
  let key = 0;
  let count = 0;
  let i = 0;
  for (const span of (spans ?? []) as { offset?: number; length?: number }[]) {
    key += span.offset ?? 0;
    for (let j = 0; j < (span.length ?? 0); j++) {
      count += ((deltas ?? []) as number[])[i++]!;
      buckets.set(key++, count);
    }
  }
  assert.equal(i, ((deltas ?? []) as number[]).length, "as many deltas as the spans hold");
  return buckets;
}

/** The native histogram of the first series of the named family in a protobuf exposition. */
export function nativeOf(bytes: Uint8Array, name: string): DecodedNative {
  const family = decode(bytes).find((f) => f.name === name);
  assert.ok(family, `no family ${name}`);
  const histogram = (family.metric as { histogram: Record<string, unknown> }[])[0]!.histogram;
  const number = (field: string): number => (histogram[field] as number | undefined) ?? 0;
  return {
    count: number("sample_count"),
    sum: number("sample_sum"),
    schema: number("schema"),
    zeroThreshold: number("zero_threshold"),
    zeroCount: number("zero_count"),
    positive: bucketsOf(histogram.positive_span, histogram.positive_delta),
    negative: bucketsOf(histogram.negative_span, histogram.negative_delta),
    histogram,
  };
}

/** The populated buckets, sorted by key. */
export function populated(buckets: ReadonlyMap<number, number>): [number, number][] {
  return [...buckets].filter(([, count]) => count !== 0).sort(([a], [b]) => a - b);
}

/**
 * Asserts that Prometheus 2.42 would not read `current` after `previous` as a
 * counter reset: `FloatHistogram.DetectReset`, with this library's bounds
 * (a merged zero threshold is a bound both spell alike).
 */
export function assertNoReset(
  previous: NativeHistogramState,
  current: NativeHistogramState,
  what = "",
): void {
  const where = what === "" ? "" : ` (${what})`;
  assert.ok(countOf(current) >= countOf(previous), `the count went down${where}`);
  assert.ok(current.schema <= previous.schema, `the schema went up${where}`);
  assert.ok(
    current.zeroThreshold >= previous.zeroThreshold,
    `the zero threshold went down${where}`,
  );
  let zero = previous.zeroCount;
  const outside: [positive: boolean, key: number, count: number][] = [];
  for (
    const [positive, buckets] of [[true, previous.positive], [false, previous.negative]] as const
  ) {
    for (const [key, count] of buckets) {
      if (count === 0) continue;
      const lower = upperBound(key - 1, previous.schema);
      if (current.zeroThreshold > previous.zeroThreshold && lower < current.zeroThreshold) {
        // zeroCountForLargerThreshold: no populated bucket may reach past the new threshold.
        assert.ok(
          upperBound(key, previous.schema) <= current.zeroThreshold,
          `bucket ${key} (schema ${previous.schema}) is cut by zero threshold ${current.zeroThreshold}${where}`,
        );
        zero += count;
      } else outside.push([positive, key, count]);
    }
  }
  assert.ok(current.zeroCount >= zero, `the zero bucket went down${where}`);
  // The previous buckets, at the current schema, each at most the current one.
  const shift = 2 ** (previous.schema - current.schema);
  const reduced = new Map<string, number>();
  for (const [positive, key, count] of outside) {
    const at = `${positive} ${Math.ceil(key / shift)}`;
    reduced.set(at, (reduced.get(at) ?? 0) + count);
  }
  for (const [at, count] of reduced) {
    const [positive, key] = at.split(" ");
    const now = (positive === "true" ? current.positive : current.negative).get(Number(key)) ?? 0;
    assert.ok(now >= count, `bucket ${at} went down from ${count} to ${now}${where}`);
  }
}

/**
 * Observes 0.25 with an exemplar on a native-only histogram (in the store in
 * force) and asserts that the protobuf exposition carries it, with its time.
 *
 * @returns The histogram message.
 */
export async function assertNativeExemplar(): Promise<Record<string, unknown>> {
  const registry = new CollectorRegistry();
  const h = new Histogram({
    name: "traced_seconds",
    description: "T.",
    buckets: [],
    native: {},
    registry,
  });
  h.observe(0.25, { trace_id: "abc" });
  const [sample] = (await h.collect()).filter((s) => s.exemplar !== undefined);
  const { histogram } = nativeOf(
    await encodeMetrics(registry, { format: "protobuf" }),
    "traced_seconds",
  );
  assert.deepEqual(histogram.exemplars, [{
    label: [{ name: "trace_id", value: "abc" }],
    value: 0.25,
    timestamp: timestamp(sample!.exemplar!.timestamp),
  }]);
  return histogram;
}
