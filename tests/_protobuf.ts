/**
 * The protobuf exposition read back by an independent decoder (protobufjs,
 * a dev dependency) with client_model's official schema
 * (tests/fixtures/metrics.proto).
 */

import { readFileSync } from "node:fs";
import protobuf from "protobufjs";

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
