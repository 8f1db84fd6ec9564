/**
 * A seeded fuzz of the contract that nothing an application or its clients
 * pass can corrupt the exposition: random values, names, label names and
 * values, help texts, buckets, options, exemplars and custom collectors are
 * thrown at 20 registries (about 150 operations each); every call must
 * succeed or throw a `PytheusError`, and every registry's exposition is then
 * read once by `promtool check metrics` and twice by Python's
 * `prometheus_client` (text and OpenMetrics parsers).
 *
 * Every failure message carries the seed; `FUZZ_SEED=<seed>` replays a run.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  CustomCollector,
  Enum,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  loadBackend,
  type Logger,
  type MetricCollector,
  PytheusError,
  setLogger,
  SingleProcessBackend,
  Summary,
  UnobservableMetricError,
} from "../mod.ts";
import type { MetricFamilySamples } from "../types.ts";
import {
  HOSTILE,
  needsPromtool,
  needsPythonParser,
  promtoolCheck,
  pythonParse,
} from "./_parsers.ts";
import { mulberry32 } from "./_random.ts";

// ---------------------------------------------------------------------------
// Seed and pseudo-random numbers

/**
 * `FUZZ_SEED` when set (read by shape: `process.env` or `Deno.env`); else, in
 * CI, a fixed seed (a red CI must be one anybody can replay), and locally a
 * random one, printed, to explore.
 */
function seedOfRun(): number {
  const shape = globalThis as {
    process?: { env?: Record<string, string | undefined> };
    Deno?: { env?: { get(name: string): string | undefined } };
  };
  let raw: string | undefined;
  try {
    raw = shape.process?.env?.FUZZ_SEED ?? shape.Deno?.env?.get("FUZZ_SEED");
  } catch {
    raw = undefined; // no permission to read the environment
  }
  if (raw !== undefined && raw.trim() !== "") {
    const seed = Number(raw);
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(raw)}`);
    }
    return seed >>> 0;
  }
  let ci: string | undefined;
  try {
    ci = shape.process?.env?.CI ?? shape.Deno?.env?.get("CI");
  } catch {
    ci = undefined;
  }
  return ci === "true" ? CI_SEED : crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** The seed CI runs. */
const CI_SEED = 20261201;

const SEED = seedOfRun();
const REGISTRIES = 20;
const OPERATIONS = 150;
const REPLAY = `seed ${SEED} (replay with FUZZ_SEED=${SEED})`;
console.log(`fuzz_test: ${REPLAY}`);

class Random {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  float(): number {
    return this.#next();
  }
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

// ---------------------------------------------------------------------------
// Printing inputs (lone surrogates, symbols, bigints) and grouping failures

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether a string is whole characters only (no lone surrogate). */
function wellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** A string as a JSON literal (lone surrogates escaped), long ones cut. */
function quote(text: string, max = 100): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length} UTF-16 units)`;
}

/** Any value as TypeScript-ish source, printable whatever it holds. */
function show(value: unknown, depth = 0): string {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return `Symbol(${quote(value.description ?? "")})`;
    case "function":
      return `function ${value.name || "(anonymous)"}`;
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
  }
  if (value === null) return "null";
  if (value instanceof Date) {
    return `new Date(${Number.isNaN(value.getTime()) ? "NaN" : value.getTime()})`;
  }
  if (value instanceof Map) return `new Map(${show([...value], depth)})`;
  if (value instanceof CollectorRegistry) return "registry";
  if (depth > 3) return "…";
  if (Array.isArray(value)) {
    const items = value.slice(0, 12).map((v) => show(v, depth + 1));
    if (value.length > 12) items.push(`… (${value.length} items)`);
    return `[${items.join(", ")}]`;
  }
  const record = value as Record<PropertyKey, unknown>;
  const entries = Reflect.ownKeys(record).slice(0, 16).map((key) =>
    `${typeof key === "symbol" ? `[${show(key)}]` : quote(key, 60)}: ${
      show(record[key], depth + 1)
    }`
  );
  const proto = Object.getPrototypeOf(value);
  const head = proto === null ? "Object.create(null) " : "";
  return `${head}{${entries.join(", ")}}`;
}

/** A category of an input, for grouping failures. */
function category(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (value === Infinity) return "Infinity";
    if (value === -Infinity) return "-Infinity";
    return value < 0 ? "negative number" : "number";
  }
  if (typeof value === "string") return wellFormed(value) ? "string" : "lone-surrogate string";
  if (typeof value !== "object") return typeof value;
  if (Array.isArray(value)) return "array";
  if (value instanceof Date) return "Date";
  if (value instanceof Map) return "Map";
  if (Object.getPrototypeOf(value) === null) return "null-prototype object";
  return "object";
}

function errorName(error: unknown): string {
  if (error instanceof Error) return error.constructor.name;
  return `a thrown ${category(error)}`;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.constructor.name}: ${quote(error.message, 200)}`;
  return `(not an Error) ${show(error)}`;
}

/** An error message with the parts that vary (quoted text, numbers) blanked: groups failures. */
function gist(error: unknown): string {
  const message = error instanceof Error ? error.message : show(error);
  return message.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/'(?:[^'\\]|\\.)*'/g, "'…'")
    .replace(/\d+(\.\d+)?/g, "N").slice(0, 90);
}

/** Failures grouped by kind, each kind with a count and its first examples. */
class Findings {
  readonly #kinds = new Map<string, { count: number; examples: string[] }>();
  total = 0;

  add(kind: string, example: string): void {
    this.total++;
    const entry = this.#kinds.get(kind) ?? { count: 0, examples: [] };
    entry.count++;
    if (entry.examples.length < 3) entry.examples.push(example);
    this.#kinds.set(kind, entry);
  }

  report(): string {
    const lines = [`${REPLAY}: ${this.total} failures of ${this.#kinds.size} kinds`];
    const kinds = [...this.#kinds].sort((a, b) => b[1].count - a[1].count);
    for (const [kind, { count, examples }] of kinds) {
      lines.push(`[${count}×] ${kind}`);
      for (const example of examples) lines.push(`    e.g. ${example}`);
    }
    return lines.join("\n");
  }

  check(): void {
    assert.equal(this.total, 0, this.report());
  }
}

// ---------------------------------------------------------------------------
// Inputs

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const LONG: readonly string[] = [
  "x".repeat(129),
  "é".repeat(1000),
  "🚀".repeat(700),
  '"\\\n'.repeat(700),
  "a".repeat(4096),
];
const LONE: readonly string[] = ["\ud800", "a\udc00b", "x\ud83d", "\udfff\ud800", "ok\ud800"];

/** Random code units: ASCII, the characters the formats escape, controls, BMP, emoji, and (when `lone`) lone surrogates. */
function randomText(rng: Random, lone: boolean, maxLength = 12): string {
  let text = "";
  const length = rng.int(maxLength + 1);
  for (let i = 0; i < length; i++) {
    const r = rng.float();
    if (r < 0.45) text += String.fromCharCode(32 + rng.int(95));
    else if (r < 0.58) {
      text += rng.pick(['"', "\\", "\n", "\r", "\t", "{", "}", "=", ",", "#", " "]);
    } else if (r < 0.66) {
      text += rng.pick(["\0", "\x01", "\x1b", "\x7f", "\u0085", "\u2028", "\ufeff"]);
    } else if (r < 0.8) text += String.fromCharCode(0xa0 + rng.int(0xd7ff - 0xa0));
    else if (r < 0.95 || !lone) text += String.fromCodePoint(0x1f300 + rng.int(0x700));
    else text += String.fromCharCode(0xd800 + rng.int(0x800));
  }
  return text;
}

const NOT_STRINGS: readonly unknown[] = [
  undefined,
  null,
  5,
  0,
  NaN,
  true,
  10n,
  Symbol("label"),
  { method: "GET" },
  ["GET"],
  () => "GET",
  new Date(0),
];

/** A label value: mostly strings (hostile, random, long), some lone surrogates, some not strings. */
function labelValue(rng: Random): unknown {
  const r = rng.float();
  if (r < 0.45) return rng.pick(HOSTILE);
  if (r < 0.75) return randomText(rng, false);
  if (r < 0.78) return rng.pick(LONG);
  if (r < 0.86) return rng.chance(0.5) ? rng.pick(LONE) : randomText(rng, true, 6) + "\udc00";
  return rng.pick(NOT_STRINGS);
}

const VALID_LABEL_NAMES: readonly string[] = [
  "method",
  "code",
  "path",
  "a",
  "b",
  "_",
  "x1",
  "env",
  "job",
  "instance",
  "le",
  "quantile",
  "state",
];
const INVALID_LABEL_NAMES: readonly unknown[] = [
  "__reserved",
  "1a",
  "a-b",
  "a b",
  "",
  "a:b",
  "é",
  "a\n",
  'a"',
  'a"} 1\nevil_total 2\nx{b',
  "a}",
  "a=",
  "🚀",
  "\ud800",
  5,
  null,
  undefined,
  { name: "a" },
  Symbol("label"),
];

function labelName(rng: Random): unknown {
  if (rng.chance(0.85)) {
    return rng.chance(0.8) ? rng.pick(VALID_LABEL_NAMES) : randomValidName(rng, LABEL_START, 8);
  }
  return rng.pick(INVALID_LABEL_NAMES);
}

const LABEL_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
const NAME_START = LABEL_START + ":";
const NAME_REST = NAME_START + "0123456789";

function randomValidName(rng: Random, start: string, maxRest: number): string {
  let name = rng.pick([...start]);
  const rest = rng.int(maxRest + 1);
  const alphabet = start === LABEL_START ? LABEL_START + "0123456789" : NAME_REST;
  for (let i = 0; i < rest; i++) name += rng.pick([...alphabet]);
  return name;
}

const STEMS: readonly string[] = [
  "requests",
  "latency",
  "x",
  "jobs",
  "state",
  "build",
  "a:b",
  "up",
  "queue_depth",
  "temp",
];
const SUFFIXES: readonly string[] = [
  "",
  "",
  "",
  "_total",
  "_count",
  "_sum",
  "_bucket",
  "_info",
  "_created",
  "_seconds",
  "_bytes",
  "_total_total",
];
const INVALID_NAMES: readonly unknown[] = [
  "",
  "1st",
  "a-b",
  "a b",
  "a.b",
  "é",
  "a\nb",
  'x"} 1\nevil_total 666',
  'x{a="b"}',
  "x 1\nevil_total 2",
  "\ud800",
  "🚀",
  "a\u0000b",
  "# HELP evil",
  " x",
  "x ",
  "x\t",
  undefined,
  null,
  5,
  { name: "x" },
  ["x"],
  Symbol("name"),
  10n,
];

/** A metric name: mostly valid (from a small pool, so names clash), some invalid. */
function metricName(rng: Random): unknown {
  const r = rng.float();
  if (r < 0.62) return rng.pick(STEMS) + rng.pick(SUFFIXES);
  if (r < 0.77) return randomValidName(rng, NAME_START, 10);
  if (r < 0.82) return "_total";
  return rng.pick(INVALID_NAMES);
}

const HELP_PIECES: readonly string[] = [
  "Help.",
  "",
  'a "quoted" word',
  "back\\slash",
  "ends with \\",
  "two\nlines",
  "\r",
  "\t",
  "🚀",
  "日本語",
  "# TYPE evil counter",
  "\nevil_total 666",
  "\u2028",
  "\u0085",
  "\0",
  "\\n",
  "\ud800",
  "\udc00",
  "x\ud83d",
];

/** Help text of well-formed pieces (quotes, backslashes, line feeds, emoji). */
function cleanHelp(rng: Random): string {
  let text = "";
  for (let i = rng.int(3) + 1; i > 0; i--) {
    const piece = rng.pick(HELP_PIECES);
    if (wellFormed(piece)) text += piece;
  }
  return text;
}

function helpText(rng: Random): unknown {
  if (rng.chance(0.07)) return rng.pick([undefined, null, 5, { text: "help" }, ["help"]]);
  if (rng.chance(0.2)) return randomText(rng, true, 30);
  let text = "";
  for (let i = rng.int(3) + 1; i > 0; i--) text += rng.pick(HELP_PIECES);
  return text;
}

/** What inc(), dec(), set() and observe() are given: every JavaScript type. */
const VALUES: readonly unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  2.5,
  -1,
  -2.5,
  NaN,
  Infinity,
  -Infinity,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  1e-310,
  1e21,
  0.1,
  2 ** 53 + 2,
  10n,
  -10n,
  0n,
  "5",
  "-1",
  "",
  "1\nevil_total 666",
  "NaN",
  "Infinity",
  " 7 ",
  Symbol("value"),
  { method: "GET" },
  { valueOf: () => 5 },
  [],
  [1],
  [1, 2],
  () => 1,
  new Date(0),
  new Date(NaN),
  new Map(),
  Object.create(null),
];

function anyValue(rng: Random): unknown {
  if (rng.chance(0.7)) return rng.pick(VALUES);
  const magnitude = rng.pick([1, 1e-3, 1e3, 1e-300, 1e300]);
  return (rng.chance(0.25) ? -1 : 1) * rng.float() * magnitude;
}

function bucketsOption(rng: Random, valid = false): unknown {
  const r = rng.float();
  if (valid || r < 0.35) {
    const bounds: number[] = [];
    let bound = rng.chance(0.2) ? -10 * rng.float() : 0;
    for (let i = rng.int(6) + 1; i > 0; i--) bounds.push(bound += rng.float() * 10 + 1e-9);
    return bounds;
  }
  if (r < 0.9) {
    return rng.pick<unknown>([
      [],
      [1, 1],
      [2, 1],
      [NaN],
      [1, NaN, 2],
      [Infinity],
      [-Infinity, 0],
      [0, -0],
      [-0, 0],
      ["1", "2"],
      [null],
      [1e308, Infinity],
      [Number.MIN_VALUE, 1e-310, 1],
      [-1, 1],
      [0.1, 0.2, 0.30000000000000004],
      [1e21, 1e22],
      [undefined],
      [1, 10n],
      [{ valueOf: () => 1 }],
    ]);
  }
  return rng.pick<unknown>(["1,2", 5, null, { 0: 1 }, new Map()]);
}

function quantilesOption(rng: Random): unknown {
  return rng.pick<unknown>([
    [0.5],
    [0.5, 0.9, 0.99],
    [0.99, 0.5],
    [0, 1],
    [0],
    [1],
    [NaN],
    [-1],
    [2],
    ["0.5"],
    [0.5, 0.5],
    [],
    0.5,
    null,
    [1e-310],
  ]);
}

function statesOption(rng: Random): unknown {
  if (rng.chance(0.15)) {
    return rng.pick<unknown>([[], ["a", "a"], [1, 2], null, "a,b", ["ok", "\ud800"], [undefined]]);
  }
  const states: unknown[] = [];
  for (let i = rng.int(4) + 1; i > 0; i--) {
    states.push(rng.chance(0.6) ? rng.pick(["idle", "busy", "stopped", ""]) : labelValue(rng));
  }
  return states;
}

/** An exemplar: a valid record half of the time, else something a rule refuses. */
function exemplar(rng: Random): unknown {
  if (rng.chance(0.5)) {
    return rng.pick<unknown>([
      { trace_id: "4bf92f3577b34da6" },
      {},
      { a: "x", b: 'y"\\\n' },
      { trace_id: "🚀".repeat(10) },
      { span_id: "x".repeat(100) },
    ]);
  }
  return rng.pick<unknown>([
    "4bf92f3577b34da6",
    5,
    null,
    true,
    [],
    ["trace_id", "x"],
    { trace_id: 5 },
    { trace_id: null },
    { trace_id: undefined },
    { trace_id: 10n },
    { trace_id: Symbol("t") },
    { trace_id: { id: "x" } },
    { "1bad": "x" },
    { "a-b": "x" },
    { "": "x" },
    { "é": "x" },
    { 'a"} 1\nevil_total 2': "x" },
    { trace_id: "x".repeat(129) },
    { trace_id: "x".repeat(60), span_id: "y".repeat(60) },
    { trace_id: "\ud800" },
    { trace_id: "x\udc00" },
    new Date(0),
    new Map([["trace_id", "x"]]),
  ]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Whether an exemplar breaks a rule: not an object, a bad label name, a value
 * not a whole string, over 128 characters. An object that is not a plain
 * record (a Date, a Map) is unclear: its own keys may read as an empty record.
 * So is null, which may stand for no exemplar.
 */
function exemplarVerdict(value: unknown): "bad" | "valid" | "unclear" {
  // null may mean "no exemplar".
  if (value === null) return "unclear";
  if (typeof value !== "object" || Array.isArray(value)) return "bad";
  if (!isRecord(value)) return "unclear";
  let characters = 0;
  for (const [name, labelValue] of Object.entries(value)) {
    if (!LABEL_NAME.test(name)) return "bad";
    if (typeof labelValue !== "string" || !wellFormed(labelValue)) return "bad";
    characters += [...name].length + [...labelValue].length;
  }
  return characters > 128 ? "bad" : "valid";
}

// ---------------------------------------------------------------------------
// The fuzzed registries

type Kind = "counter" | "gauge" | "histogram" | "summary" | "info" | "enum";
const KINDS: readonly Kind[] = ["counter", "gauge", "histogram", "summary", "info", "enum"];
const CLASSES: Readonly<Record<Kind, new (options: never) => unknown>> = {
  counter: Counter,
  gauge: Gauge,
  histogram: Histogram,
  summary: Summary,
  info: Info,
  enum: Enum,
};
const CLASS_NAMES: Readonly<Record<Kind, string>> = {
  counter: "Counter",
  gauge: "Gauge",
  histogram: "Histogram",
  summary: "Summary",
  info: "Info",
  enum: "Enum",
};
/** The exposition type of each kind. */
const TYPES: Readonly<Record<Kind, string>> = {
  counter: "counter",
  gauge: "gauge",
  histogram: "histogram",
  summary: "summary",
  info: "info",
  enum: "stateset",
};
/** The sample names a type adds to its family name, in either format. */
const TYPE_SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  counter: ["_total", "_created"],
  histogram: ["_bucket", "_sum", "_count", "_created"],
  summary: ["_sum", "_count", "_created"],
  info: ["_info"],
};

/** Adds the names a metric of `type` named `name` may expose (in either format) to `names`. */
function addExposedNames(names: Set<string>, name: string, type: string): void {
  const family = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
  names.add(name);
  names.add(family);
  for (const suffix of TYPE_SUFFIXES[type] ?? []) {
    names.add(family + suffix);
    names.add(name + suffix);
  }
}

type Callable = Record<string, (...args: unknown[]) => unknown>;

interface FuzzChild {
  readonly target: unknown;
  readonly given: Readonly<Record<string, string>>;
  readonly complete: boolean;
  readonly path: string;
}

interface FuzzMetric {
  readonly kind: Kind;
  readonly metric: unknown;
  readonly name: string;
  readonly required: readonly string[];
  readonly defaults: Readonly<Record<string, unknown>>;
  /** Whether a maxSeries applies (a child may observe into nothing). */
  readonly limited: boolean;
  readonly states: readonly unknown[];
  readonly children: FuzzChild[];
  readonly source: string;
}

interface BadCollector {
  /** How it was made, for messages. */
  readonly description: string;
  /** The collector's own name (a custom collector's, or the hand-made one's). */
  readonly collectorName: string;
  /** The names of the metrics it yields, with the registry prefix. */
  readonly names: readonly string[];
  /** The same, without the prefix. */
  readonly bareNames: readonly string[];
}

interface LogEntry {
  readonly level: "warn" | "error";
  readonly text: string;
}

interface Fuzzed {
  readonly index: number;
  readonly prefix: string;
  readonly registry: CollectorRegistry;
  readonly allowed: ReadonlySet<string>;
  readonly bad: readonly BadCollector[];
  readonly badNames: ReadonlySet<string>;
  readonly unclear: ReadonlySet<string>;
  readonly text: string | undefined;
  readonly textError: unknown;
  readonly openMetrics: string | undefined;
  readonly openMetricsError: unknown;
  readonly families: readonly MetricFamilySamples[] | undefined;
  readonly collectError: unknown;
  /** What was logged during the text scrape. */
  readonly scrapeLogs: readonly LogEntry[];
  readonly exemplarsGiven: number;
  readonly exemplarsBad: number;
  readonly where: string;
}

interface AllFindings {
  readonly calls: Findings;
  readonly values: Findings;
  readonly labels: Findings;
  readonly names: Findings;
  readonly exemplars: Findings;
  readonly collectors: Findings;
  readonly unicode: Findings;
}

/** One registry being fuzzed. */
class State {
  readonly rng: Random;
  readonly registry: CollectorRegistry;
  readonly prefix: string;
  readonly limited: boolean;
  readonly metrics: FuzzMetric[] = [];
  readonly allowed = new Set<string>();
  readonly bad: BadCollector[] = [];
  readonly badNames = new Set<string>();
  /** Families of collectors whose samples may be served or left out. */
  readonly unclear = new Set<string>();
  op = -1;
  collectors = 0;
  exemplarsGiven = 0;
  exemplarsBad = 0;

  constructor(readonly index: number, readonly findings: AllFindings) {
    this.rng = new Random((SEED ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    const options: Record<string, unknown> = {};
    if (this.rng.chance(0.3)) {
      options.prefix = this.rng.pick<unknown>(["pt", "app", "a:b", "_", "bad prefix", "1x", "", 5]);
    }
    if (this.rng.chance(0.1)) options.maxSeries = this.rng.pick<unknown>([3, 8, 20, 0, 1.5, "5"]);
    let registry: CollectorRegistry | undefined;
    this.attempt("new CollectorRegistry", options, () => {
      registry = new CollectorRegistry(options as never);
    });
    this.registry = registry ?? new CollectorRegistry();
    this.prefix = this.registry.prefix === undefined ? "" : this.registry.prefix + "_";
    this.limited = this.registry.maxSeries !== undefined;
  }

  get where(): string {
    return `seed=${SEED} registry=${this.index} op=${this.op}`;
  }

  /** Runs `call`; a throw that is not a PytheusError is a failure. Returns the error, if any. */
  attempt(
    operation: string,
    input: unknown,
    call: () => unknown,
    shown = show(input),
  ): { ok: true } | { ok: false; error: unknown } {
    try {
      call();
      return { ok: true };
    } catch (error) {
      if (!(error instanceof PytheusError)) {
        this.findings.calls.add(
          `${operation}(${category(input)}) threw ${errorName(error)}: ${gist(error)}`,
          `${this.where}: ${operation}(${shown}) threw ${errorText(error)}`,
        );
      }
      return { ok: false, error };
    }
  }

  /** Runs the operations. */
  fuzz(): void {
    const rng = this.rng;
    const badAt = rng.int(OPERATIONS);
    const goodAt = rng.int(OPERATIONS);
    for (this.op = 0; this.op < OPERATIONS; this.op++) {
      if (this.op === badAt) this.collector(true);
      if (this.op === goodAt) this.collector(false);
      const r = rng.float();
      if (this.op < 6 || r < 0.2) this.construct();
      else if (r < 0.46) this.labels();
      else if (r < 0.95) this.observe();
      else this.collector(rng.chance(0.4));
    }
  }

  // --- constructors ---------------------------------------------------------

  construct(): void {
    const rng = this.rng;
    const kind = rng.pick(KINDS);
    const className = CLASS_NAMES[kind];
    let options: unknown;
    // Clean options (valid, if hostile, names, help and labels) make metrics to expose;
    // the others try everything.
    const clean = rng.chance(0.45);
    const name = clean ? validMetricName(rng) : metricName(rng);
    let requiredInput: unknown = undefined;
    let defaultsInput: unknown = undefined;
    let maxSeries: unknown = undefined;
    const r = rng.float();
    if (clean) {
      const o: Record<string, unknown> = {
        name,
        description: rng.chance(0.3) ? randomText(rng, false, 30) : cleanHelp(rng),
        registry: this.registry,
      };
      const reserved = kind === "histogram" ? "le" : kind === "summary" ? "quantile" : name;
      const labels = new Set<string>();
      for (let i = rng.int(4); i > 0; i--) labels.add(rng.pick(VALID_LABEL_NAMES));
      labels.delete(String(reserved));
      requiredInput = [...labels];
      o.requiredLabels = requiredInput;
      if (labels.size > 0 && rng.chance(0.2)) {
        defaultsInput = { [[...labels][0]!]: rng.pick(HOSTILE) };
        o.defaultLabels = defaultsInput;
      }
      if (kind === "histogram" && rng.chance(0.6)) o.buckets = bucketsOption(rng, true);
      if (kind === "summary" && rng.chance(0.6)) {
        o.quantiles = rng.pick([[0.5], [0.5, 0.9, 0.99], [0.01], []]);
      }
      if (kind === "enum") {
        const states = new Set<string>();
        for (let i = rng.int(4) + 1; i > 0; i--) {
          states.add(rng.chance(0.6) ? rng.pick(["idle", "busy", "stopped"]) : rng.pick(HOSTILE));
        }
        o.states = [...states];
      }
      options = o;
    } else if (r < 0.07) {
      options = rng.pick<unknown>([undefined, null, "requests_total", 5, []]);
    } else if (r < 0.25) {
      // prom-client's spelling.
      const prom: Record<string, unknown> = { name, help: helpText(rng), registry: this.registry };
      if (rng.chance(0.7)) prom.labelNames = [labelName(rng)];
      if (rng.chance(0.3)) prom.description = helpText(rng);
      if (kind === "enum") prom.states = statesOption(rng);
      options = prom;
    } else {
      const o: Record<string, unknown> = {
        name,
        description: helpText(rng),
        registry: this.registry,
      };
      if (rng.chance(0.55)) {
        if (rng.chance(0.05)) requiredInput = rng.pick<unknown>(["method", 5, null, { 0: "a" }]);
        else {
          const names: unknown[] = [];
          for (let i = rng.int(4); i > 0; i--) names.push(labelName(rng));
          requiredInput = names;
        }
        o.requiredLabels = requiredInput;
      }
      if (rng.chance(0.25)) {
        if (rng.chance(0.1)) defaultsInput = rng.pick<unknown>([null, "env=prod", 5, ["prod"]]);
        else {
          const defaults: Record<string, unknown> = {};
          const names = Array.isArray(requiredInput) ? requiredInput : [];
          for (const label of names) {
            if (typeof label === "string" && rng.chance(0.6)) defaults[label] = labelValue(rng);
          }
          if (rng.chance(0.15)) defaults[String(labelName(rng))] = labelValue(rng);
          defaultsInput = defaults;
        }
        o.defaultLabels = defaultsInput;
      }
      if (rng.chance(0.08)) {
        o.unit = rng.pick<unknown>(["seconds", "bytes", "", "bad unit", "total", 5, "info"]);
      }
      if (rng.chance(0.08)) {
        maxSeries = rng.pick<unknown>([1, 2, 5, 0, -1, 1.5, NaN, Infinity, "3", null]);
        o.maxSeries = maxSeries;
      }
      if (kind === "histogram" && rng.chance(0.65)) o.buckets = bucketsOption(rng);
      if (kind === "summary") {
        if (rng.chance(0.6)) o.quantiles = quantilesOption(rng);
        if (rng.chance(0.2)) o.maxAgeSeconds = rng.pick<unknown>([60, 0, -1, NaN, 0.001, "60"]);
        if (rng.chance(0.2)) o.ageBuckets = rng.pick<unknown>([1, 3, 0, -1, 1.5, NaN, "5"]);
      }
      if (kind === "enum") o.states = statesOption(rng);
      options = o;
    }
    let metric: unknown;
    const outcome = this.attempt(`new ${className}`, options, () => {
      metric = new CLASSES[kind](options as never);
    });
    if (!outcome.ok || metric === undefined) return;

    // Accepted: the names must have been valid.
    const source = `new ${className}(${show(options)})`;
    const shownName = show(name);
    const where = `${this.where}: ${source}`;
    if (typeof name !== "string" || !METRIC_NAME.test(name)) {
      this.findings.names.add(
        `new ${className}() accepted an invalid metric name (${category(name)})`,
        `${where} accepted the name ${shownName}`,
      );
    }
    if (kind === "counter" && name === "_total") {
      this.findings.names.add(`new Counter() accepted the name "_total"`, where);
    }
    if (kind === "enum" && (typeof name !== "string" || !LABEL_NAME.test(name))) {
      this.findings.names.add(
        `new Enum() accepted a name that is not a label name`,
        `${where} accepted ${shownName}`,
      );
    }
    if (kind === "info" && typeof name === "string" && name.endsWith("_info")) {
      this.findings.names.add(`new Info() accepted a name ending in _info`, where);
    }
    if (Array.isArray(requiredInput)) {
      const seen = new Set<unknown>();
      for (const label of requiredInput) {
        if (typeof label !== "string" || !LABEL_NAME.test(label)) {
          this.findings.names.add(
            `new ${className}() accepted an invalid label name (${category(label)})`,
            `${where} accepted the label name ${show(label)}`,
          );
        } else if (label.startsWith("__")) {
          this.findings.names.add(
            `new ${className}() accepted a reserved label name ("__" prefix)`,
            `${where} accepted ${show(label)}`,
          );
        } else if (
          (kind === "histogram" && label === "le") ||
          (kind === "summary" && label === "quantile") ||
          (kind === "enum" && label === name)
        ) {
          this.findings.names.add(
            `new ${className}() accepted the label name its type reserves`,
            `${where} accepted ${show(label)}`,
          );
        }
        if (seen.has(label)) {
          this.findings.names.add(
            `new ${className}() accepted a label name twice`,
            `${where} accepted ${show(label)} twice`,
          );
        }
        seen.add(label);
      }
    }
    if (isRecord(defaultsInput)) {
      for (const [label, value] of Object.entries(defaultsInput)) {
        if (value === undefined) continue;
        const reason = typeof value !== "string"
          ? `a non-string value (${category(value)})`
          : !wellFormed(value)
          ? "a lone surrogate"
          : undefined;
        if (reason !== undefined) {
          this.findings.labels.add(
            `new ${className}() accepted defaultLabels with ${reason}`,
            `${where} accepted defaultLabels.${label} = ${show(value)}`,
          );
        }
      }
    }

    const m = metric as {
      name: string;
      requiredLabels: readonly string[];
      defaultLabels: Readonly<Record<string, unknown>>;
      states?: readonly unknown[];
    };
    const fuzzMetric: FuzzMetric = {
      kind,
      metric,
      name: m.name,
      required: [...m.requiredLabels],
      defaults: { ...m.defaultLabels },
      limited: this.limited || maxSeries !== undefined,
      states: kind === "enum" ? [...(m.states ?? [])] : [],
      children: [],
      source: `${kind} ${quote(String(m.name), 60)}`,
    };
    this.metrics.push(fuzzMetric);
    addExposedNames(this.allowed, this.prefix + m.name, TYPES[kind]);
  }

  // --- labels() -------------------------------------------------------------

  labels(): void {
    const rng = this.rng;
    const m = this.pickMetric();
    if (m === undefined) return;
    const fromChild = m.children.length > 0 && rng.chance(0.3);
    const base = fromChild ? rng.pick(m.children) : undefined;
    let input: unknown;
    if (rng.chance(0.07)) {
      input = rng.pick<unknown>([undefined, null, "GET", 5, [], ["GET"], new Map([["a", "b"]])]);
    } else {
      const values: Record<string, unknown> = {};
      // Half the calls name a whole label set of valid (if hostile) strings: series to expose.
      const clean = rng.chance(0.5);
      for (const label of m.required) {
        if (clean) values[label] = rng.chance(0.6) ? rng.pick(HOSTILE) : randomText(rng, false);
        else if (rng.chance(0.8)) values[label] = labelValue(rng);
      }
      if (!clean && rng.chance(0.08)) values[String(labelName(rng))] = labelValue(rng);
      input = values;
    }
    const path = `${base?.path ?? ""}.labels(${show(input)})`;
    let child: unknown;
    const outcome = this.attempt(`${m.kind}.labels`, input, () => {
      child = ((base?.target ?? m.metric) as Callable).labels!(input);
    }, show(input));
    const where = `${this.where}: ${m.source}${path}`;
    if (isRecord(input)) {
      const reasons: string[] = [];
      for (const [key, value] of Object.entries(input)) {
        if (value === undefined) continue;
        if (typeof value !== "string") reasons.push(`a non-string value (${category(value)})`);
        else if (!wellFormed(value)) reasons.push("a lone surrogate");
        if (!m.required.includes(key)) reasons.push("an unknown label name");
      }
      if (outcome.ok && reasons.length > 0) {
        this.findings.labels.add(
          `labels() accepted ${reasons[0]}`,
          `${where} succeeded (its labels: ${show(m.required)}, defaults ${show(m.defaults)})`,
        );
      }
    }
    if (outcome.ok && child !== undefined && isRecord(input) && m.children.length < 40) {
      const given: Record<string, string> = { ...base?.given };
      for (const label of m.required) {
        const value = input[label];
        if (typeof value === "string") given[label] = value;
        // A child's labels() spreads the given values over its own: undefined unsets one.
        else if (Object.hasOwn(input, label)) delete given[label];
      }
      m.children.push({ target: child, given, complete: this.complete(m, given), path });
    }
  }

  complete(m: FuzzMetric, given: Readonly<Record<string, string>>): boolean {
    return m.required.every((label) =>
      typeof given[label] === "string" || typeof m.defaults[label] === "string"
    );
  }

  pickMetric(): FuzzMetric | undefined {
    return this.metrics.length === 0 ? undefined : this.rng.pick(this.metrics);
  }

  // --- inc / dec / set / observe / state / Info.set --------------------------

  observe(): void {
    const rng = this.rng;
    const m = this.pickMetric();
    if (m === undefined) return;
    const child = m.children.length > 0 && rng.chance(0.65) ? rng.pick(m.children) : undefined;
    const target = child?.target ?? m.metric;
    const complete = child?.complete ?? this.complete(m, {});
    const at = `${m.source}${child?.path ?? ""}`;

    if (m.kind === "enum") {
      const state = rng.chance(0.6) && m.states.length > 0 ? rng.pick(m.states) : anyValue(rng);
      const outcome = this.attempt("enum.state", state, () => (target as Callable).state!(state));
      if (outcome.ok && !(typeof state === "string" && m.states.includes(state))) {
        this.findings.values.add(
          `Enum.state() accepted a value that is not one of its states (${category(state)})`,
          `${this.where}: ${at}.state(${show(state)}) succeeded; states ${show(m.states)}`,
        );
      }
      return;
    }
    if (m.kind === "info") {
      this.infoSet(m, target, at);
      return;
    }

    const method = m.kind === "counter"
      ? "inc"
      : m.kind === "gauge"
      ? rng.pick(["inc", "dec", "set"])
      : "observe";
    const takesExemplar = m.kind === "counter" || m.kind === "histogram";
    const withExemplar = takesExemplar && rng.chance(0.35);
    const omitted = method !== "set" && method !== "observe" && !withExemplar && rng.chance(0.1);
    let value: unknown = omitted
      ? undefined
      : rng.chance(0.35)
      ? rng.pick([0, 1, 2.5, 0.001, 1e6, 1e-9, 1e21])
      : anyValue(rng);
    if (withExemplar && rng.chance(0.7)) {
      value = rng.pick(
        m.kind === "counter" ? [undefined, 0, 1, 2.5, 0.001, 1e6] : [0, 1, -2.5, 1e6],
      );
    }
    const args: unknown[] = omitted ? [] : [value];
    const ex = withExemplar ? exemplar(rng) : undefined;
    if (withExemplar) args.push(ex);
    const call = `${at}.${method}(${args.map((a) => show(a)).join(", ")})`;

    const valid = m.kind === "counter"
      ? value === undefined || (typeof value === "number" && Number.isFinite(value) && value >= 0)
      : typeof value === "number" && Number.isFinite(value);
    const checkRecorded = withExemplar && valid && complete && !m.limited;
    const before = checkRecorded ? this.read(m, target) : undefined;

    const outcome = this.attempt(
      `${m.kind}.${method}`,
      value,
      () => (target as Callable)[method]!(...args),
      args.map((a) => show(a)).join(", "),
    );
    if (withExemplar) {
      const verdict = exemplarVerdict(ex);
      this.exemplarsGiven++;
      if (outcome.ok && verdict === "bad" && !m.limited) this.exemplarsBad++;
      if (valid && complete && !outcome.ok) {
        this.findings.exemplars.add(
          `${m.kind}.${method}(valid value, ${verdict} exemplar: ${category(ex)}) threw ${
            errorName(outcome.error)
          }: ${gist(outcome.error)}`,
          `${this.where}: ${call} threw ${errorText(outcome.error)}`,
        );
      }
      if (outcome.ok && before !== undefined) {
        const after = this.read(m, target);
        const expected = m.kind === "counter"
          ? before + ((value as number | undefined) ?? 1)
          : before + 1;
        if (after !== expected) {
          this.findings.exemplars.add(
            `${m.kind}.${method}(v, ${verdict} exemplar) did not record the value`,
            `${this.where}: ${call}: ${
              m.kind === "counter" ? "value" : "_count"
            } went from ${before} to ${after}, expected ${expected}`,
          );
        }
      }
    }

    if (typeof value !== "number" || omitted) return;
    const number = category(value);
    if (m.kind === "counter" && (value < 0 || !Number.isFinite(value)) && outcome.ok) {
      this.findings.values.add(
        `Counter.inc() accepted ${number}`,
        `${this.where}: ${call} succeeded`,
      );
    }
    if ((m.kind === "histogram" || m.kind === "summary") && Number.isNaN(value) && outcome.ok) {
      this.findings.values.add(
        `${CLASS_NAMES[m.kind]}.observe() accepted NaN`,
        `${this.where}: ${call} succeeded`,
      );
    }
    if (m.kind === "gauge" && !outcome.ok) {
      const excused = !complete && outcome.error instanceof UnobservableMetricError;
      if (!excused) {
        this.findings.values.add(
          `Gauge.${method}() refused a number (${number}) with ${errorName(outcome.error)}`,
          `${this.where}: ${call} threw ${errorText(outcome.error)}`,
        );
      }
    }
  }

  /** A counter's value, or a histogram's _count, as the library's own collect() reads it. */
  read(m: FuzzMetric, target: unknown): number | undefined {
    try {
      const series = target === m.metric ? (m.metric as Callable).labels!({}) : target;
      const samples = (series as { collect(): unknown }).collect();
      if (!Array.isArray(samples)) return undefined; // a remote backend: not here
      const suffix = m.kind === "counter" ? "" : "_count";
      const sample = (samples as { suffix: string; value: number }[]).find((s) =>
        s.suffix === suffix || (suffix === "" && s.suffix === "_total")
      );
      return sample?.value;
    } catch {
      return undefined;
    }
  }

  infoSet(m: FuzzMetric, target: unknown, at: string): void {
    const rng = this.rng;
    let values: unknown;
    if (rng.chance(0.15)) {
      values = rng.pick<unknown>([
        undefined,
        null,
        "version=1",
        5,
        [],
        [["version", "1"]],
        new Map(),
      ]);
    } else {
      const record: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) {
        const key = rng.chance(0.12) && m.required.length > 0
          ? rng.pick(m.required)
          : String(rng.chance(0.85) ? rng.pick(["version", "commit", "a", "b_c"]) : labelName(rng));
        record[key] = labelValue(rng);
      }
      values = record;
    }
    const outcome = this.attempt("info.set", values, () => (target as Callable).set!(values));
    if (!outcome.ok || !isRecord(values)) return;
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue;
      const reason = !LABEL_NAME.test(key) || key.startsWith("__")
        ? "an invalid label name"
        : m.required.includes(key)
        ? "one of its required labels"
        : typeof value !== "string"
        ? `a non-string value (${category(value)})`
        : !wellFormed(value)
        ? "a lone surrogate"
        : undefined;
      if (reason !== undefined) {
        this.findings.labels.add(
          `Info.set() accepted ${reason}`,
          `${this.where}: ${at}.set(${show(values)}) succeeded (${show(key)}: ${show(value)})`,
        );
        return;
      }
    }
  }

  // --- custom collectors ------------------------------------------------------

  collector(bad: boolean): void {
    const rng = this.rng;
    const n = this.collectors++;
    const handMade = rng.chance(0.5);
    if (bad) {
      const metricName = `fuzz_bad_${this.index}_${n}`;
      // A collect() that throws or rejects is not fuzzed: that scrape fails on
      // purpose (makeHandler() answers 500, see handler_test.ts). One that
      // resolves to something other than samples is.
      // Only one registry in four gets those, so that if they fail the scrape the
      // others still check everything else.
      const resolutions = this.index % 4 === 3 && rng.chance(0.5);
      const defect = resolutions
        ? BAD_SAMPLES.length + rng.int(BAD_RESOLUTIONS.length)
        : rng.int(BAD_SAMPLES.length);
      // Fixed once: collect() answers the same at every scrape.
      let resolved: unknown;
      let what: string;
      if (defect < BAD_SAMPLES.length) {
        const samples: unknown[] = goodSamples(rng);
        samples.splice(rng.int(samples.length + 1), 0, BAD_SAMPLES[defect]);
        resolved = samples;
        what = `samples ${show(samples)}`;
      } else {
        resolved = BAD_RESOLUTIONS[defect - BAD_SAMPLES.length];
        what = `collect() resolving to ${show(resolved)}`;
      }
      const raw: MetricCollector = {
        name: metricName,
        description: "A collector whose samples break the rules.",
        type: "gauge",
        collect: () => Promise.resolve(resolved as never),
      };
      let collector: MetricCollector | CustomCollector = raw;
      let collectorName = metricName;
      if (!handMade) {
        const className = `BadSamples${this.index}_${n}`;
        collector = customCollector(className, () => [raw], rng.chance(0.3));
        collectorName = collector.name;
      }
      this.attempt("registry.register", collector, () => this.registry.register(collector));
      const names = [this.prefix + metricName];
      if (BAD_SAMPLES[defect] === UNTRUE_LABEL_TEXT) {
        // Its labels are fine, its pre-rendered labelText lies: a scrape may serve
        // it (rendering the labels) or leave it out, but never show the lie.
        addExposedNames(this.allowed, names[0]!, "gauge");
        this.unclear.add(names[0]!);
        return;
      }
      this.bad.push({
        description: `${
          handMade ? "hand-made collector" : `CustomCollector "${collectorName}" yielding`
        } "${metricName}" with ${what}`,
        collectorName,
        names,
        bareNames: [metricName],
      });
      for (const name of names) this.badNames.add(name);
      return;
    }
    if (handMade) {
      const name = validMetricName(rng);
      const counter = name.endsWith("_total") && rng.chance(0.5);
      const samples = goodSamples(rng).map((s) =>
        counter ? { ...s, value: Number.isNaN(s.value) ? 0 : Math.abs(s.value) } : s
      );
      const collector: MetricCollector = {
        name,
        description: rng.pick(HOSTILE),
        type: counter ? "counter" : "gauge",
        collect: () => Promise.resolve(samples),
      };
      this.attempt("registry.register", collector, () => this.registry.register(collector));
      addExposedNames(this.allowed, this.prefix + name, collector.type);
      return;
    }
    const plans = Array.from({ length: rng.int(2) + 1 }, () => metricPlan(rng));
    for (const plan of plans) addExposedNames(this.allowed, this.prefix + plan.name, plan.type);
    const collector = customCollector(
      `Good${this.index}_${n}`,
      () => plans.map(build),
      rng.chance(0.4),
    );
    this.attempt("registry.register", collector, () => this.registry.register(collector));
  }
}

/** What a hand-made collector's collect() may resolve to instead of samples. */
const BAD_RESOLUTIONS: readonly unknown[] = [null, undefined, "raw 1", 5, { samples: [] }];

/** A sample whose pre-rendered labels say something else than its labels. */
const UNTRUE_LABEL_TEXT = {
  suffix: "",
  labels: { a: "x" },
  labelText: '{a="x"} 1\nevil_total 666\nraw{a="y"}',
  value: 1,
};

/** Bad samples a hand-made collector may resolve to: bad values, bad labels. */
const BAD_SAMPLES: readonly unknown[] = [
  { suffix: "", labels: {}, value: "5" },
  { suffix: "", labels: {}, value: "1\nevil_total 666" },
  { suffix: "", labels: {}, value: null },
  { suffix: "", labels: {}, value: { n: 1 } },
  { suffix: "", labels: {}, value: undefined },
  { suffix: "", labels: {}, value: 10n },
  { suffix: "", labels: {}, value: [1] },
  { suffix: "", labels: { a: 5 }, value: 1 },
  { suffix: "", labels: { a: null }, value: 1 },
  { suffix: "", labels: { a: { v: "x" } }, value: 1 },
  { suffix: "", labels: { "1bad": "x" }, value: 1 },
  { suffix: "", labels: { "a b": "x" }, value: 1 },
  { suffix: "", labels: { 'a"} 1\nevil_total 2\nx{b': "x" }, value: 1 },
  { suffix: "", labels: null, value: 1 },
  { suffix: "", labels: "a=b", value: 1 },
  { suffix: "", labels: { a: "\ud800" }, value: 1 },
  UNTRUE_LABEL_TEXT,
  { suffix: "\nevil_total 666\nx", labels: {}, value: 1 },
  null,
  "fuzz_bad 1",
];

interface Plan {
  readonly type: "gauge" | "counter";
  readonly name: string;
  readonly label: string;
  readonly series: readonly (readonly [string, number])[];
}

/** A valid metric name from the shared pool (so it may clash), never "_total". */
function validMetricName(rng: Random): string {
  for (;;) {
    const name = metricName(rng);
    if (typeof name === "string" && METRIC_NAME.test(name) && name !== "_total") return name;
  }
}

/** What a good custom collector yields: a gauge or counter, a label, a few series. */
function metricPlan(rng: Random): Plan {
  const name = validMetricName(rng);
  const type = rng.chance(0.3) ? "counter" : "gauge";
  const label = rng.pick(["path", "room", "kind"]);
  const values = new Set<string>();
  for (let i = rng.int(4); i > 0; i--) values.add(rng.pick(HOSTILE));
  const series = [...values].map((v) => [v, Math.abs(rng.float() * 100)] as const);
  return { type, name, label, series };
}

/** Builds a plan's metric, unregistered, as a custom collector does at each scrape. */
function build(plan: Plan): Gauge<string> | Counter<string> {
  const options = {
    name: plan.name,
    description: `Yielded by a custom collector: ${plan.name}.`,
    requiredLabels: [plan.label],
    registry: null,
  };
  if (plan.type === "counter") {
    const counter = new Counter(options);
    for (const [v, n] of plan.series) counter.labels({ [plan.label]: v }).inc(n);
    return counter;
  }
  const gauge = new Gauge(options);
  for (const [v, n] of plan.series) gauge.labels({ [plan.label]: v }).set(n);
  return gauge;
}

/** Samples a hand-made gauge resolves to: valid names, hostile values, unique label sets. */
function goodSamples(
  rng: Random,
): { suffix: string; labels: Record<string, string>; value: number }[] {
  const values = new Set<string>();
  for (let i = rng.int(4); i > 0; i--) values.add(rng.pick(HOSTILE));
  const samples = [...values].map((v) => ({
    suffix: "",
    labels: { where: v },
    value: rng.pick([0, 1, -2.5, NaN, Infinity, 1e-9, 1e21]),
  }));
  if (rng.chance(0.5)) samples.push({ suffix: "", labels: {}, value: 7 } as never);
  return samples;
}

/** A CustomCollector subclass named `className` (its name: lowercased), sync or async. */
function customCollector(
  className: string,
  metrics: () => MetricCollector[],
  async: boolean,
): CustomCollector {
  const holder = {
    [className]: class extends CustomCollector {
      collect(): Iterable<MetricCollector> | AsyncIterable<MetricCollector> {
        if (!async) return metrics();
        return (async function* () {
          for (const metric of metrics()) {
            await Promise.resolve();
            yield metric;
          }
        })();
      }
    },
  };
  return new holder[className]!();
}

// ---------------------------------------------------------------------------
// Building the registries, once for the whole file

/** Collects what pytheus logs, by level, with the details spelled out. */
function capture(): { logger: Logger; logs: LogEntry[] } {
  const logs: LogEntry[] = [];
  const text = (message: string, details: unknown[]): string =>
    [message, ...details.map((d) => d instanceof Error ? d.message : String(d))].join(" ");
  return {
    logs,
    logger: {
      warn: (message, ...details) => logs.push({ level: "warn", text: text(message, details) }),
      error: (message, ...details) => logs.push({ level: "error", text: text(message, details) }),
    },
  };
}

interface Run {
  readonly findings: AllFindings;
  readonly registries: readonly Fuzzed[];
}

let built: Promise<Run> | undefined;
/** Builds (once) and scrapes every registry; the first test to ask waits for it. */
const fuzzed = (): Promise<Run> => built ??= buildAll();

async function buildAll(): Promise<Run> {
  // Bun runs every test file in one process: do not inherit a backend another file loaded.
  await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  const findings: AllFindings = {
    calls: new Findings(),
    values: new Findings(),
    labels: new Findings(),
    names: new Findings(),
    exemplars: new Findings(),
    collectors: new Findings(),
    unicode: new Findings(),
  };
  const { logger, logs } = capture();
  const previous = setLogger(logger);
  const registries: Fuzzed[] = [];
  try {
    for (let index = 0; index < REGISTRIES; index++) {
      const state = new State(index, findings);
      state.fuzz();
      const where = `seed=${SEED} registry=${index}`;
      const mark = logs.length;
      let text: string | undefined;
      let textError: unknown;
      try {
        text = await generateMetrics(state.registry);
      } catch (error) {
        textError = error;
      }
      const scrapeLogs = logs.slice(mark);
      let openMetrics: string | undefined;
      let openMetricsError: unknown;
      try {
        openMetrics = await generateMetrics(state.registry, { format: "openmetrics" });
      } catch (error) {
        openMetricsError = error;
      }
      let families: MetricFamilySamples[] | undefined;
      let collectError: unknown;
      try {
        families = await state.registry.collect();
      } catch (error) {
        collectError = error;
      }
      registries.push({
        index,
        prefix: state.prefix,
        registry: state.registry,
        allowed: state.allowed,
        bad: state.bad,
        badNames: state.badNames,
        unclear: state.unclear,
        text,
        textError,
        openMetrics,
        openMetricsError,
        families,
        collectError,
        scrapeLogs,
        exemplarsGiven: state.exemplarsGiven,
        exemplarsBad: state.exemplarsBad,
        where,
      });
    }
  } finally {
    setLogger(previous);
  }
  return { findings, registries };
}

// ---------------------------------------------------------------------------
// The parsers

const promtoolMissing = needsPromtool();
const pythonMissing = await needsPythonParser();

type ParsedFamily = [string, string, [string, Record<string, string>, number | string][]];
type Parsed = { ok: true; families: ParsedFamily[] } | { ok: false; error: string };

const parses = new Map<string, Promise<Parsed>>();

/** The exposition of a registry read by Python (memoised: one run per registry and format). */
function parsed(r: Fuzzed, format: "text" | "openmetrics"): Promise<Parsed> {
  const key = `${r.index}:${format}`;
  let parse = parses.get(key);
  if (parse === undefined) {
    parse = parseWithPython(format === "text" ? r.text : r.openMetrics, format);
    parses.set(key, parse);
  }
  return parse;
}

/** Python's reading of an exposition, as families of [sample name, labels, value]. */
async function parseWithPython(
  text: string | undefined,
  format: "text" | "openmetrics",
): Promise<Parsed> {
  if (text === undefined) return { ok: false, error: "no exposition (generateMetrics() threw)" };
  const result = await pythonParse(text, format === "openmetrics");
  if (!result.ok) {
    const last = result.error.trim().split("\n").slice(-2).join(" | ");
    return { ok: false, error: last.slice(0, 600) };
  }
  const families: ParsedFamily[] = [];
  for (const [family, type, , sample, labels, value] of result.samples) {
    const current = families.at(-1);
    if (current?.[0] === family) current[2].push([sample, labels, value]);
    else families.push([family, type, [[sample, labels, value]]]);
  }
  return { ok: true, families };
}

/** Runs `work` over `items`, `limit` at a time. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** A Python error without the line it quotes: "ValueError: Stateset missing label". */
function pythonGist(error: string): string {
  const last = error.split(" | ").at(-1)!;
  return last.replace(/^(\w+: [^:]*):.*$/s, "$1").replace(/'(?:[^'\\]|\\.)*'/g, "'…'")
    .replace(/\d+/g, "N").slice(0, 100);
}

/** Line `n` (1-based) of `text`, escaped, with its neighbours. */
function linesAround(text: string, n: number): string {
  const lines = text.split("\n");
  return lines.slice(Math.max(0, n - 2), n + 1).map((line, i) =>
    `${Math.max(1, n - 1) + i}: ${quote(line, 160)}`
  ).join("  ")
    .slice(0, 700);
}

/** The exposition lines starting with `name` (the first two), escaped. */
function linesOf(text: string | undefined, name: string): string {
  if (text === undefined) return "";
  const lines = text.split("\n").filter((line) =>
    line.startsWith(name + " ") || line.startsWith(name + "{") || line.includes(` ${name} `)
  );
  return lines.slice(0, 2).map((line) => quote(line, 160)).join("  ");
}

// Names pytheus itself exposes: pytheus_exemplars_dropped_total, pytheus_series_dropped_total...
function selfMetric(r: Fuzzed, name: string): boolean {
  return name.startsWith("pytheus_") || (r.prefix !== "" && name.startsWith(r.prefix + "pytheus_"));
}

function labelKey(name: string, labels: Readonly<Record<string, string>>): string {
  return JSON.stringify([name, Object.entries(labels).sort(([a], [b]) => a < b ? -1 : 1)]);
}

const OPTIONS = { timeout: 180_000 };

// ---------------------------------------------------------------------------
// The tests

describe("fuzz: random inputs never corrupt the exposition", () => {
  test("fuzz: every call either succeeds or throws a PytheusError", OPTIONS, async () => {
    const { findings } = await fuzzed();
    findings.calls.check();
  });

  test(
    "fuzz: counters refuse negatives, NaN and Infinity, histograms and summaries NaN, enums unknown states; gauges take any number; no counter exposes NaN or a negative",
    OPTIONS,
    async () => {
      const { findings, registries } = await fuzzed();
      for (const r of registries) {
        for (const family of r.families ?? []) {
          if (family.type !== "counter" || r.badNames.has(family.name)) continue;
          for (const sample of family.samples) {
            if (Number.isNaN(sample.value) || sample.value < 0) {
              findings.values.add(
                `a counter exposes ${category(sample.value)}`,
                `${r.where}: counter ${quote(family.name)} ${
                  show({ ...sample.labels })
                } is ${sample.value}`,
              );
            }
          }
        }
      }
      findings.values.check();
    },
  );

  test(
    "fuzz: labels(), defaultLabels and Info.set() refuse non-string values, lone surrogates and unknown names with a PytheusError",
    OPTIONS,
    async () => {
      const { findings } = await fuzzed();
      findings.labels.check();
    },
  );

  test(
    'fuzz: constructors refuse invalid metric and label names (and a counter named "_total")',
    OPTIONS,
    async () => {
      const { findings } = await fuzzed();
      findings.names.check();
    },
  );

  test(
    "fuzz: a bad exemplar never makes inc() or observe() throw: the value is recorded and the drop counted in pytheus_exemplars_dropped_total",
    OPTIONS,
    async () => {
      const { findings, registries } = await fuzzed();
      for (const r of registries) {
        if (r.families === undefined) continue;
        const dropped = r.families
          .filter((f) => f.name === r.prefix + "pytheus_exemplars_dropped_total")
          .flatMap((f) => f.samples)
          .reduce((sum, s) => sum + s.value, 0);
        if (dropped < r.exemplarsBad || dropped > r.exemplarsGiven) {
          findings.exemplars.add(
            dropped === 0
              ? "bad exemplars were not counted in pytheus_exemplars_dropped_total"
              : "pytheus_exemplars_dropped_total does not count the bad exemplars",
            `${r.where}: ${r.exemplarsBad} bad exemplars given with calls that succeeded (${r.exemplarsGiven} exemplars in all), pytheus_exemplars_dropped_total sums to ${dropped}`,
          );
        }
      }
      findings.exemplars.check();
    },
  );

  test(
    "fuzz: a collector with bad samples is left out with an error naming it, and the other metrics are still served",
    { ...OPTIONS, skip: pythonMissing },
    async () => {
      const { findings, registries } = await fuzzed();
      await eachLimited(registries, 4, async (r) => {
        if (r.text === undefined) {
          findings.collectors.add(
            "the scrape failed (generateMetrics() threw)",
            `${r.where}: ${errorText(r.textError)}; bad collectors: ${
              r.bad.map((b) => b.description).join("; ")
            }`,
          );
          return;
        }
        const parse = await parsed(r, "text");
        const served = new Set<string>();
        if (parse.ok) {
          for (const [family, , samples] of parse.families) {
            served.add(family);
            for (const [name] of samples) served.add(name);
          }
        }
        for (const bad of r.bad) {
          const leaked = bad.names.filter((name) => served.has(name));
          if (parse.ok && leaked.length > 0) {
            findings.collectors.add(
              "a collector with bad samples was served",
              `${r.where}: ${bad.description}: exposed as ${linesOf(r.text, leaked[0]!)}`,
            );
          }
          const naming = (entry: LogEntry) =>
            [bad.collectorName, ...bad.names, ...bad.bareNames].some((n) => entry.text.includes(n));
          if (!r.scrapeLogs.some((e) => e.level === "error" && naming(e))) {
            const warned = r.scrapeLogs.some((e) => e.level === "warn" && naming(e));
            findings.collectors.add(
              warned
                ? "a collector with bad samples was only warned about, no error logged"
                : "no error logged naming the collector with bad samples",
              `${r.where}: ${bad.description}; logged during the scrape: ${
                show(r.scrapeLogs.map((e) => `${e.level}: ${e.text}`).slice(0, 4))
              }`,
            );
          }
        }
        if (r.families === undefined) {
          findings.collectors.add(
            "registry.collect() threw",
            `${r.where}: ${errorText(r.collectError)}`,
          );
          return;
        }
        if (!parse.ok) return; // the exposition test reports it
        for (const family of r.families) {
          if (r.badNames.has(family.name) || r.unclear.has(family.name)) continue;
          if (family.samples.length === 0) continue;
          const names = new Set(family.samples.map((s) => family.name + s.suffix));
          if (![...names].some((name) => served.has(name))) {
            findings.collectors.add(
              "a good metric was not served",
              `${r.where}: ${family.type} ${
                quote(family.name)
              } (${family.samples.length} samples in collect()) is missing from the text exposition`,
            );
          }
        }
      });
      findings.collectors.check();
    },
  );

  test(
    "fuzz: every text exposition passes promtool and Python's parser",
    { ...OPTIONS, skip: promtoolMissing || pythonMissing },
    async () => {
      const { registries } = await fuzzed();
      const findings = new Findings();
      await eachLimited(registries, 4, async (r) => {
        if (r.text === undefined) {
          findings.add(
            `generateMetrics() threw ${errorName(r.textError)}: ${gist(r.textError)}`,
            `${r.where}: ${errorText(r.textError)}`,
          );
          return;
        }
        const text = r.text;
        const tool = await promtoolCheck(text);
        const output = tool.output;
        if (!tool.ok) {
          const line = /line (\d+)/.exec(output);
          findings.add(
            `promtool check metrics: ${
              output.split("\n")[0]!.replace(/line \d+/, "line N")
                .replace(/"(?:[^"\\]|\\.)*"/g, '"…"').slice(0, 120)
            }`,
            `${r.where}: promtool exited ${tool.code}: ${output.trim().slice(0, 300)}${
              line ? ` at ${linesAround(text, Number(line[1]))}` : ""
            }`,
          );
        }
        const parse = await parsed(r, "text");
        if (!parse.ok) {
          findings.add(
            `Python's text parser: ${pythonGist(parse.error)}`,
            `${r.where}: ${parse.error}`,
          );
        }
      });
      findings.check();
    },
  );

  test(
    "fuzz: every OpenMetrics exposition passes Python's OpenMetrics parser",
    { ...OPTIONS, skip: pythonMissing },
    async () => {
      const { registries } = await fuzzed();
      const findings = new Findings();
      await eachLimited(registries, 4, async (r) => {
        if (r.openMetrics === undefined) {
          findings.add(
            `generateMetrics({ format: "openmetrics" }) threw ${errorName(r.openMetricsError)}: ${
              gist(r.openMetricsError)
            }`,
            `${r.where}: ${errorText(r.openMetricsError)}`,
          );
          return;
        }
        const parse = await parsed(r, "openmetrics");
        if (!parse.ok) {
          const last = parse.error.split(" | ").at(-1)!;
          findings.add(
            `Python's OpenMetrics parser: ${pythonGist(last)}`,
            `${r.where}: ${parse.error}`,
          );
        }
      });
      findings.check();
    },
  );

  test(
    "fuzz: every exposition is well-formed Unicode (no lone surrogate reaches it)",
    OPTIONS,
    async () => {
      const { findings, registries } = await fuzzed();
      for (const r of registries) {
        for (const [format, text] of [["text", r.text], ["openmetrics", r.openMetrics]] as const) {
          if (text === undefined) continue;
          const lines = text.split("\n").filter((line) => !wellFormed(line));
          if (lines.length > 0) {
            const line = lines[0]!;
            const what = line.startsWith("# HELP")
              ? "help text"
              : line.startsWith("# ")
              ? "comment"
              : "sample line";
            findings.unicode.add(
              `a lone surrogate in a ${format} exposition's ${what}`,
              `${r.where}: ${lines.length} lines, the first: ${quote(line, 160)}`,
            );
          }
        }
      }
      findings.unicode.check();
    },
  );

  test(
    "fuzz: no exposition shows a family or sample the fuzz did not register",
    { ...OPTIONS, skip: pythonMissing },
    async () => {
      const { registries } = await fuzzed();
      const findings = new Findings();
      await eachLimited(registries, 4, async (r) => {
        for (const format of ["text", "openmetrics"] as const) {
          const parse = await parsed(r, format);
          if (!parse.ok) continue; // the exposition tests report it
          const text = format === "text" ? r.text : r.openMetrics;
          const forged = new Set<string>();
          for (const [family, , samples] of parse.families) {
            for (const name of [family, ...samples.map(([sample]) => sample)]) {
              if (r.allowed.has(name) || r.badNames.has(name) || selfMetric(r, name)) continue;
              forged.add(name);
            }
          }
          for (const name of forged) {
            findings.add(
              `a forged ${format} family or sample`,
              `${r.where}: ${quote(name)}: ${linesOf(text, name) || "(not at a line start)"}`,
            );
          }
        }
      });
      findings.check();
    },
  );

  test(
    "fuzz: the text parser sees as many series per metric as the library's collect()",
    { ...OPTIONS, skip: pythonMissing },
    async () => {
      const { registries } = await fuzzed();
      const findings = new Findings();
      await eachLimited(registries, 4, async (r) => {
        const parse = await parsed(r, "text");
        if (!parse.ok || r.families === undefined) return; // reported elsewhere
        const seen = new Map<string, Set<string>>();
        for (const [, , samples] of parse.families) {
          for (const [name, labels] of samples) {
            let keys = seen.get(name);
            if (keys === undefined) seen.set(name, keys = new Set());
            keys.add(labelKey(name, labels));
          }
        }
        for (const family of r.families) {
          if (r.badNames.has(family.name) || r.unclear.has(family.name)) continue;
          const expected = new Set<string>();
          const names = new Set<string>();
          for (const sample of family.samples) {
            // Python's text parser names a counter's sample "<family>_total" even when its line does not.
            let name = family.name + sample.suffix;
            if (family.type === "counter" && sample.suffix === "" && !name.endsWith("_total")) {
              name += "_total";
            }
            names.add(name);
            expected.add(labelKey(name, { ...sample.labels }));
          }
          const got = new Set<string>();
          for (const name of names) for (const key of seen.get(name) ?? []) got.add(key);
          if (got.size !== expected.size) {
            const extra = [...got].find((key) => !expected.has(key));
            const missing = [...expected].find((key) => !got.has(key));
            findings.add(
              `${family.type}: the text parser sees ${
                got.size > expected.size ? "more" : "fewer"
              } series than collect()${
                extra !== undefined ? " (another family's samples share its names)" : ""
              }`,
              `${r.where}: ${family.type} ${
                quote(family.name)
              }: collect() has ${expected.size} series, the text parser ${got.size}${
                extra ? `; parsed but not collected: ${quote(extra, 160)}` : ""
              }${missing ? `; collected but not parsed: ${quote(missing, 160)}` : ""}`,
            );
          }
        }
      });
      findings.check();
    },
  );
});
