/**
 * The exposition read by two independent parsers: Prometheus' own
 * (`promtool check metrics`, which also lints) and Python's
 * `prometheus_client` (its text parser and its OpenMetrics parser).
 */

import { IN_CI, needs, run } from "./_process.ts";

const PYTHON = "/usr/bin/python3";

/** Why the Python parser cannot be used, or false. Skips loudly; throws in CI. */
export async function needsPythonParser(): Promise<string | false> {
  const probe = await run(PYTHON, [
    "-c",
    "import prometheus_client.parser, prometheus_client.openmetrics.parser",
  ]).catch((error) => ({
    code: -1,
    stderr: String(error),
  }));
  if (probe.code === 0) return false;
  const reason =
    `SKIPPED: ${PYTHON} cannot import prometheus_client (apt-get install python3-prometheus-client): ${probe.stderr.trim()}`;
  if (IN_CI) throw new Error(`${reason}; CI must run every test`);
  console.warn(`\n*** ${reason} ***\n`);
  return reason;
}

/** Why promtool cannot be used, or false (skips loudly; throws in CI). */
export function needsPromtool(): string | false {
  return needs("promtool");
}

/**
 * Label values (and help texts) that try to break a line, a quote or the
 * format: each must come back from the parsers exactly as given.
 */
export const HOSTILE: readonly string[] = [
  'a "quoted" word',
  "back\\slash",
  "ends with a backslash \\",
  "two\nlines",
  "\\n is not a line feed",
  'x"} 1\nfake_metric_total 2',
  '"} 1\nfake 2',
  "tab\there",
  "carriage\rreturn",
  "nul \0, line separator \u2028, next line \u0085",
  "ünïcödé, 日本語",
  "🚀 👩‍💻",
  "}",
  ",",
  "=",
  '{a="b"}',
  "",
  "# EOF",
  "\n# EOF\n",
  "# TYPE evil counter\nevil_total 666",
  "/api/v1/users",
  "GET",
  "200",
];

/** One parsed sample: [family, type, help, sample name, labels, value]. */
export type Parsed = [string, string, string, string, Record<string, string>, number | string];

// Prints every sample as a Parsed row, with non-finite values spelled as
// strings (JSON has no NaN or Infinity). stdin is read as bytes: text mode
// would turn a "\r" in a label value into "\n".
const PARSE = `
import json, math, sys
from PARSER import text_string_to_metric_families
def value(v):
    if math.isnan(v): return "NaN"
    if math.isinf(v): return "+Inf" if v > 0 else "-Inf"
    return v
out = [[f.name, f.type, f.documentation, s.name, s.labels, value(s.value)]
       for f in text_string_to_metric_families(sys.stdin.buffer.read().decode("utf-8")) for s in f.samples]
print(json.dumps(out))
`;

/** What Python's parser made of an exposition, or the error it stopped at. */
export async function pythonParse(
  text: string,
  openMetrics = false,
): Promise<{ ok: true; samples: Parsed[] } | { ok: false; error: string }> {
  const parser = openMetrics ? "prometheus_client.openmetrics.parser" : "prometheus_client.parser";
  const { code, stdout, stderr } = await run(PYTHON, ["-c", PARSE.replace("PARSER", parser)], {
    input: text,
  });
  return code === 0 ? { ok: true, samples: JSON.parse(stdout) } : { ok: false, error: stderr };
}

/**
 * What `promtool check metrics` says of an exposition: `ok` unless it could
 * not parse it (exit 1); lint findings alone (exit 3) are the names' business.
 */
export async function promtoolCheck(
  text: string,
): Promise<{ ok: boolean; code: number | null; output: string }> {
  const { code, stdout, stderr } = await run("promtool", ["check", "metrics"], { input: text });
  const output = stdout + stderr;
  return { ok: (code === 0 || code === 3) && !/error while linting/.test(output), code, output };
}
