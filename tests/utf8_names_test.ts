/**
 * Prometheus 3 names: registries with `nameValidation: "utf-8"`, the four
 * escaping schemes (tables from prometheus/common's `model/metric_test.go`
 * and `expfmt/text_create_test.go`), text format 1.0.0, the negotiation of
 * the `escaping=` parameter with the exact headers Prometheus 3 sends, and
 * the escaped output read by promtool, Python's parser and Prometheus 2.42.
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectorRegistry,
  Counter,
  CustomCollector,
  encodeMetrics,
  Enum,
  Gauge,
  generateMetrics,
  Histogram,
  Info,
  instrumentHandler,
  InvalidOptionError,
  LabelValidationError,
  loadBackend,
  makeHandler,
  NameValidationError,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  PROTOBUF_CONTENT_TYPE,
  setLogger,
  SingleProcessBackend,
} from "../mod.ts";
import type { MetricCollector } from "../mod.ts";
import type { Escaping } from "../types.ts";
import { escapeName } from "../src/exposition/_escaping.ts";
import { negotiateFormat } from "../src/http/_negotiate.ts";
import { needsPromtool, needsPythonParser, promtoolCheck, pythonParse } from "./_parsers.ts";
import { needs } from "./_process.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { capturingLogger, serve, type Served, withLoggedErrors } from "./_serve.ts";
import { decode } from "./_protobuf.ts";
import { untyped } from "./_untyped.ts";

// Bun runs every test file in one process: do not inherit a backend another file loaded.
await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });

const ESCAPED: readonly Exclude<Escaping, "allow-utf-8">[] = ["underscores", "dots", "values"];

describe("escapeName()", () => {
  // prometheus/common model/metric_test.go, TestEscapeName: input, underscores, dots, values.
  const cases: [string, string, string, string][] = [
    [
      "mysystem.prod.west.cpu.load",
      "mysystem_prod_west_cpu_load",
      "mysystem_dot_prod_dot_west_dot_cpu_dot_load",
      "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load",
    ],
    [
      "mysystem.prod.west.cpu.load_total",
      "mysystem_prod_west_cpu_load_total",
      "mysystem_dot_prod_dot_west_dot_cpu_dot_load__total",
      "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load__total",
    ],
    ["http.status:sum", "http_status:sum", "http_dot_status:sum", "U__http_2e_status:sum"],
    ["label with 😱", "label_with__", "label__with____", "U__label_20_with_20__1f631_"],
    ["花火", "__", "____", "U___82b1__706b_"],
    ["label with \u0100", "label_with__", "label__with____", "U__label_20_with_20__100_"],
  ];

  test("escapeName() writes prometheus/common's table for each scheme", () => {
    for (const [input, underscores, dots, values] of cases) {
      assert.equal(escapeName(input, "underscores"), underscores, input);
      assert.equal(escapeName(input, "dots"), dots, input);
      assert.equal(escapeName(input, "values"), values, input);
      assert.equal(escapeName(input, "allow-utf-8"), input, input);
    }
  });

  test("escapeName() leaves legacy names alone in every scheme (as EscapeMetricFamily does)", () => {
    for (const escaping of ESCAPED) {
      assert.equal(escapeName("no:escaping_required", escaping), "no:escaping_required");
    }
  });

  test("escapeName() escapes a leading digit, and a label name's colon", () => {
    assert.equal(escapeName("1x", "underscores"), "_x");
    assert.equal(escapeName("1x", "values"), "U___31_x");
    assert.equal(escapeName("a:b", "underscores"), "a:b");
    assert.equal(escapeName("a:b", "underscores", true), "a_b");
    assert.equal(escapeName("a:b", "values", true), "U__a_3a_b");
  });
});

/** prometheus/common expfmt/text_create_test.go, case 2: a UTF-8 gauge with multi-byte values. */
function commonGauge(name = "gauge.name"): CollectorRegistry {
  const registry = new CollectorRegistry({ nameValidation: "utf-8" });
  const gauge = new Gauge({
    name,
    description: 'gauge\ndoc\nstr"ing',
    requiredLabels: ["name.1", "name*2"],
    registry,
  });
  gauge.labels({ "name.1": "val with\nnew line", "name*2": 'val with \\backslash and "quotes"' })
    .set(Infinity);
  gauge.labels({ "name.1": "Björn", "name*2": "佖佥" }).set(3.14e42);
  return registry;
}

/** A custom collector that yields one collector made by hand. */
class Yielding extends CustomCollector {
  readonly #yielded: MetricCollector;
  constructor(yielded: MetricCollector) {
    super();
    this.#yielded = yielded;
  }
  collect(): MetricCollector[] {
    return [this.#yielded];
  }
}

describe("UTF-8 names in the text formats", () => {
  test("allow-utf-8 quotes names as prometheus/common writes them (text 1.0.0)", async () => {
    assert.equal(
      await generateMetrics(commonGauge(), { escaping: "allow-utf-8", version: "1.0.0" }),
      '# HELP "gauge.name" gauge\\ndoc\\nstr"ing\n' +
        '# TYPE "gauge.name" gauge\n' +
        '{"gauge.name","name.1"="val with\\nnew line","name*2"="val with \\\\backslash and \\"quotes\\""} +Inf\n' +
        '{"gauge.name","name.1"="Björn","name*2"="佖佥"} 3.14e+42\n',
    );
    // Case 4: a quote in the name itself is escaped inside its quotes.
    const quoted = await generateMetrics(commonGauge('gauge.name"'), {
      escaping: "allow-utf-8",
      version: "1.0.0",
    });
    assert.match(quoted, /^# HELP "gauge\.name\\"" gauge/);
    assert.match(quoted, /\n\{"gauge\.name\\"","name\.1"="Björn","name\*2"="佖佥"\} 3\.14e\+42\n$/);
  });

  test("underscores (the default), dots and values escape names, never label values", async () => {
    const registry = commonGauge();
    const underscores = await generateMetrics(registry);
    assert.equal(underscores, await generateMetrics(registry, { escaping: "underscores" }));
    assert.equal(
      underscores,
      '# HELP gauge_name gauge\\ndoc\\nstr"ing\n# TYPE gauge_name gauge\n' +
        'gauge_name{name_1="val with\\nnew line",name_2="val with \\\\backslash and \\"quotes\\""} +Inf\n' +
        'gauge_name{name_1="Björn",name_2="佖佥"} 3.14e+42\n',
    );
    assert.match(
      await generateMetrics(registry, { escaping: "dots" }),
      /\ngauge_dot_name\{name_dot_1="Björn",name__2="佖佥"\} 3\.14e\+42\n$/,
    );
    assert.match(
      await generateMetrics(registry, { escaping: "values" }),
      /\nU__gauge_2e_name\{U__name_2e_1="Björn",U__name_2a_2="佖佥"\} 3\.14e\+42\n$/,
    );
  });

  test("every type's sample names follow the escaped family; a counter is escaped as <name>_total", async () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8", prefix: "my.app" });
    new Counter({ name: "http.requests", description: "R.", registry }).inc(2);
    new Histogram({ name: "http.duration", description: "D.", buckets: [1], registry }).observe(
      0.5,
    );
    new Enum({ name: "disk.state", description: "S.", states: ["ok"], registry });
    new Info({ name: "build.info", description: "B.", registry }).set({ "git.sha": "abc" });
    assert.equal(
      await generateMetrics(registry, { escaping: "allow-utf-8", version: "1.0.0" }),
      [
        '# HELP "my.app_http.requests_total" R.',
        '# TYPE "my.app_http.requests_total" counter',
        '{"my.app_http.requests_total"} 2',
        '# HELP "my.app_http.duration" D.',
        '# TYPE "my.app_http.duration" histogram',
        '{"my.app_http.duration_bucket",le="1"} 1',
        '{"my.app_http.duration_bucket",le="+Inf"} 1',
        '{"my.app_http.duration_sum"} 0.5',
        '{"my.app_http.duration_count"} 1',
        '# HELP "my.app_disk.state" S.',
        '# TYPE "my.app_disk.state" gauge',
        '{"my.app_disk.state","my.app_disk.state"="ok"} 1',
        '# HELP "my.app_build.info_info" B.',
        '# TYPE "my.app_build.info_info" gauge',
        '{"my.app_build.info_info","git.sha"="abc"} 1',
        "",
      ].join("\n"),
    );
    const dots = await generateMetrics(registry, { escaping: "dots" });
    // As client_golang: the counter's family is `<name>_total`, escaped whole.
    assert.match(dots, /\nmy_dot_app__http_dot_requests__total 2\n/);
    assert.match(dots, /\nmy_dot_app__http_dot_duration_bucket\{le="1"\} 1\n/);
    assert.match(dots, /\nmy_dot_app__disk_dot_state\{my_dot_app__disk_dot_state="ok"\} 1\n/);
    assert.match(dots, /\nmy_dot_app__build_dot_info_info\{git_dot_sha="abc"\} 1\n/);
  });

  test("OpenMetrics quotes or escapes # TYPE, # UNIT, # HELP, samples and _created alike", async () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    new Counter({ name: "db.time_seconds", description: "C.", unit: "seconds", registry }).inc();
    const quoted = await generateMetrics(registry, {
      format: "openmetrics",
      escaping: "allow-utf-8",
    });
    assert.match(
      quoted,
      /^# TYPE "db\.time_seconds" counter\n# UNIT "db\.time_seconds" seconds\n# HELP "db\.time_seconds" C\.\n\{"db\.time_seconds_total"\} 1\n\{"db\.time_seconds_created"\} \d+(\.\d+)?\n# EOF\n$/,
    );
    const underscores = await generateMetrics(registry, { format: "openmetrics" });
    assert.match(
      underscores,
      /^# TYPE db_time_seconds counter\n# UNIT db_time_seconds seconds\n# HELP db_time_seconds C\.\ndb_time_seconds_total 1\ndb_time_seconds_created \d/,
    );
  });

  test("a custom collector's UTF-8 sample labels are escaped; two written alike fail its family", async () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    await withLoggedErrors(async (messages) => {
      const collector = (labels: Record<string, string>) => ({
        name: "job.runs",
        description: "Runs.",
        type: "gauge" as const,
        collect: () => Promise.resolve([{ suffix: "", labels, value: 1, labelText: "" }]),
      });
      registry.register(new Yielding(collector({ "job.name": "a" })));
      assert.equal(
        await generateMetrics(registry),
        '# HELP job_runs Runs.\n# TYPE job_runs gauge\njob_runs{job_name="a"} 1\n',
      );
      assert.equal(
        await generateMetrics(registry, { escaping: "allow-utf-8", version: "1.0.0" }),
        '# HELP "job.runs" Runs.\n# TYPE "job.runs" gauge\n{"job.runs","job.name"="a"} 1\n',
      );
      const clashing = new CollectorRegistry({ nameValidation: "utf-8" });
      clashing.register(new Yielding(collector({ "a.b": "1", a_b: "2" })));
      assert.equal(await generateMetrics(clashing), "");
      assert.match(
        messages.join("\n"),
        /"job\.runs" .* left out .*: a sample's label name "a_b" is written a_b, as another label is/,
      );
    });
  });

  test("a legacy registry's output is the same under every escaping", async () => {
    const registry = new CollectorRegistry();
    new Counter({ name: "jobs_total", description: "J.", requiredLabels: ["queue"], registry })
      .labels({ queue: "a" }).inc();
    const text = await generateMetrics(registry);
    for (const escaping of ESCAPED) {
      assert.equal(await generateMetrics(registry, { escaping }), text);
    }
    assert.equal(
      await generateMetrics(registry, { escaping: "allow-utf-8", version: "1.0.0" }),
      text,
    );
  });
});

describe("UTF-8 names of the HTTP histograms", () => {
  test("instrumentHandler() takes OpenTelemetry's names in a utf-8 registry", async () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    const names = {
      duration: "http.server.request.duration",
      requestSize: "http.server.request.body.size",
      responseSize: "http.server.response.body.size",
    };
    const app = instrumentHandler(() => new Response("ok"), { registry, names });
    await (await app(new Request("http://localhost/"))).text();
    const text = await generateMetrics(registry, { escaping: "allow-utf-8", version: "1.0.0" });
    assert.match(text, /\n# TYPE "http\.server\.request\.duration" histogram\n/);
    assert.match(
      text,
      /\n\{"http\.server\.request\.duration_count",method="GET",route="\(unmatched\)",status_code="200"\} 1\n/,
    );
    assert.throws(
      () =>
        instrumentHandler(() => new Response("ok"), { registry: new CollectorRegistry(), names }),
      NameValidationError,
    );
  });
});

describe("UTF-8 names in the protobuf format", () => {
  test("protobuf carries the names as given under allow-utf-8, escaped otherwise", async () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    new Counter({ name: "rpc.calls", description: "C.", requiredLabels: ["rpc.method"], registry })
      .labels({ "rpc.method": "Get" }).inc();
    const names = async (escaping: Escaping) =>
      decode(await encodeMetrics(registry, { format: "protobuf", escaping })).map((family) => [
        family.name,
        (family.metric as { label: { name: string; value: string }[] }[])[0]!.label,
      ]);
    assert.deepEqual(await names("allow-utf-8"), [[
      "rpc.calls_total",
      [{ name: "rpc.method", value: "Get" }],
    ]]);
    assert.deepEqual(await names("underscores"), [[
      "rpc_calls_total",
      [{ name: "rpc_method", value: "Get" }],
    ]]);
    assert.deepEqual(await names("dots"), [[
      "rpc_dot_calls__total",
      [{ name: "rpc_dot_method", value: "Get" }],
    ]]);
  });
});

describe("nameValidation", () => {
  test("a legacy registry (the default) refuses UTF-8 names, a utf-8 one takes them", () => {
    const legacy = new CollectorRegistry();
    assert.throws(
      () => new Gauge({ name: "a.b", description: "x", registry: legacy }),
      NameValidationError,
    );
    assert.throws(
      () => new Gauge({ name: "ab", description: "x", requiredLabels: ["a.b"], registry: legacy }),
      LabelValidationError,
    );
    const utf8 = new CollectorRegistry({ nameValidation: "utf-8" });
    const gauge = new Gauge({
      name: "a.b",
      description: "x",
      requiredLabels: ["node.name"],
      registry: utf8,
    });
    assert.equal(gauge.name, "a.b");
    assert.equal(utf8.nameValidation, "utf-8");
    assert.equal(legacy.nameValidation, "legacy");
    // A metric made without a registry takes legacy names.
    assert.throws(
      () => new Gauge({ name: "a.b", description: "x", registry: null }),
      NameValidationError,
    );
  });

  test("utf-8 names are non-empty strings of whole characters; __ stays reserved", () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    for (const name of ["", "bad\uD800", 5]) {
      assert.throws(
        () => new Gauge({ name: untyped(name), description: "x", registry }),
        NameValidationError,
      );
    }
    for (const label of ["", "lone\uDC00", "__x"]) {
      assert.throws(
        () => new Gauge({ name: "g", description: "x", requiredLabels: [label], registry }),
        LabelValidationError,
      );
    }
  });

  test("label names some scheme writes alike, or as a reserved __ name, are refused", () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    assert.throws(
      () => new Gauge({ name: "g1", description: "x", requiredLabels: ["a.b", "a_b"], registry }),
      /escaped with underscores it is "a_b", as "a\.b" is/,
    );
    assert.throws(
      () => new Gauge({ name: "g2", description: "x", requiredLabels: ["_.x"], registry }),
      /escaped with underscores it is "__x", a name Prometheus reserves/,
    );
    assert.throws(
      () => new Histogram({ name: "h", description: "x", requiredLabels: ["le"], registry }),
      LabelValidationError,
    );
  });

  test("metric names some scheme writes alike clash at register()", () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      new Gauge({ name: "a_b", description: "x", registry });
      new Gauge({ name: "a.b", description: "x", registry });
      new Gauge({ name: "c_dot_d", description: "x", registry });
      new Gauge({ name: "c.d", description: "x", registry });
      assert.equal(registry.has("a.b"), false);
      assert.equal(registry.has("c.d"), false);
      assert.match(
        messages[0]!,
        /"a\.b" not registered: the name "a_b \(with underscores escaping\)"/,
      );
      assert.match(
        messages[1]!,
        /"c\.d" not registered: the name "c_dot_d \(with dots escaping\)"/,
      );
    } finally {
      setLogger(previous);
    }
  });

  test("a sample name a scheme writes as another family's is a clash too (dots, values)", () => {
    const registry = new CollectorRegistry({ nameValidation: "utf-8" });
    const { logger, messages } = capturingLogger();
    const previous = setLogger(logger);
    try {
      new Histogram({ name: "a.b", description: "h", buckets: [1], registry });
      new Gauge({ name: "a_dot_b_bucket", description: "g", registry });
      new Gauge({ name: "U__a_2e_b_count", description: "g", registry });
      assert.equal(registry.has("a_dot_b_bucket"), false);
      assert.equal(registry.has("U__a_2e_b_count"), false);
      assert.match(messages.join("\n"), /"a_dot_b_bucket \(with dots escaping\)"/);
      assert.match(messages.join("\n"), /"U__a_2e_b_count \(with values escaping\)"/);
    } finally {
      setLogger(previous);
    }
  });

  test("a state set's label and its own labels, an info's facts and labels, stay apart under every scheme", () => {
    const utf8 = new CollectorRegistry({ nameValidation: "utf-8" });
    assert.throws(
      () =>
        new Enum({
          name: "a.b",
          description: "d",
          states: ["s"],
          requiredLabels: ["a_b"],
          registry: utf8,
        }),
      /escaped with underscores it is "a_b", as "a\.b" is/,
    );
    const prefixed = new CollectorRegistry({ nameValidation: "utf-8", prefix: "app" });
    assert.throws(
      () =>
        new Enum({
          name: "x.y",
          description: "d",
          states: ["s"],
          requiredLabels: ["app_x_y"],
          registry: prefixed,
        }),
      /"app_x_y", as "app_x\.y" is/,
    );
    const legacy = new CollectorRegistry({ prefix: "app" });
    assert.throws(
      () =>
        new Enum({
          name: "x",
          description: "d",
          states: ["s"],
          requiredLabels: ["app_x"],
          registry: legacy,
        }),
      NameValidationError,
    );
    const info = new Info({
      name: "build",
      description: "B.",
      requiredLabels: ["x_y"],
      registry: utf8,
    });
    assert.throws(() => info.labels({ x_y: "1" }).set({ "x.y": "2" }), LabelValidationError);
  });

  test("a custom collector's label that a scheme writes as a reserved __ name fails its family", async () => {
    await withLoggedErrors(async (messages) => {
      const registry = new CollectorRegistry({ nameValidation: "utf-8" });
      registry.register(
        new Yielding({
          name: "ext",
          description: "E.",
          type: "gauge",
          collect: () =>
            Promise.resolve([{ suffix: "", labels: { "_.x": "1" }, value: 1, labelText: "" }]),
        }),
      );
      assert.equal(await generateMetrics(registry), "");
      assert.match(messages.join("\n"), /is written __x, a name Prometheus reserves/);
      assert.match(
        await generateMetrics(registry, { escaping: "allow-utf-8", version: "1.0.0" }),
        /\next\{"_\.x"="1"\} 1\n/,
      );
    });
  });

  test("CollectorRegistry refuses a nameValidation it does not know, and a prefix it does not take", () => {
    assert.throws(
      () => new CollectorRegistry({ nameValidation: untyped("utf8") }),
      InvalidOptionError,
    );
    assert.throws(() => new CollectorRegistry({ prefix: "my.app" }), NameValidationError);
    assert.equal(
      new CollectorRegistry({ prefix: "my.app", nameValidation: "utf-8" }).prefix,
      "my.app",
    );
  });

  test("generateMetrics() refuses an unknown escaping, and allow-utf-8 in text 0.0.4", async () => {
    const registry = commonGauge();
    await assert.rejects(
      generateMetrics(registry, { escaping: untyped("none") }),
      InvalidOptionError,
    );
    await assert.rejects(
      generateMetrics(registry, { escaping: "allow-utf-8" }),
      /version: "1\.0\.0"/,
    );
    await assert.rejects(
      generateMetrics(registry, { format: "openmetrics", version: untyped("1.0.0") }),
      InvalidOptionError,
    );
    await assert.rejects(
      generateMetrics(registry, { version: untyped("2.0.0") }),
      InvalidOptionError,
    );
  });
});

// The headers of prometheus/prometheus scrape/scrape_test.go, TestAcceptHeader, and Prometheus 3.3's.
const DEFAULT_UTF8 =
  "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const DEFAULT_UNDERSCORES =
  "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const PROTO_FIRST_DOTS =
  "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=dots;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=dots;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
const PROMETHEUS_3_3 =
  "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2";

describe("negotiating the escaping", () => {
  test("Prometheus 3's headers get the escaping they name, in the Content-Type too", () => {
    const om = OPENMETRICS_CONTENT_TYPE;
    assert.deepEqual(negotiateFormat(DEFAULT_UTF8), {
      format: "openmetrics",
      escaping: "allow-utf-8",
      contentType: `${om}; escaping=allow-utf-8`,
    });
    assert.deepEqual(negotiateFormat(PROMETHEUS_3_3), negotiateFormat(DEFAULT_UTF8));
    assert.deepEqual(negotiateFormat(DEFAULT_UNDERSCORES), {
      format: "openmetrics",
      escaping: "underscores",
      contentType: `${om}; escaping=underscores`,
    });
    // The protobuf range names no escaping: underscores, as client_golang answers.
    assert.deepEqual(negotiateFormat(PROTO_FIRST_DOTS), {
      format: "protobuf",
      escaping: "underscores",
      contentType: PROTOBUF_CONTENT_TYPE,
    });
  });

  test("text 1.0.0 names its escaping; 0.0.4 and OpenMetrics 0.0.1 cannot quote names", () => {
    assert.deepEqual(negotiateFormat("text/plain;version=1.0.0;escaping=allow-utf-8"), {
      format: "text",
      version: "1.0.0",
      escaping: "allow-utf-8",
      contentType: "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    });
    assert.deepEqual(negotiateFormat("text/plain;version=1.0.0"), {
      format: "text",
      version: "1.0.0",
      escaping: "underscores",
      contentType: "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
    });
    assert.deepEqual(negotiateFormat("text/plain;version=0.0.4;escaping=allow-utf-8"), {
      format: "text",
      escaping: "underscores",
      contentType: `${PROMETHEUS_CONTENT_TYPE}; escaping=underscores`,
    });
    assert.equal(
      negotiateFormat("application/openmetrics-text;version=0.0.1;escaping=allow-utf-8").escaping,
      "underscores",
    );
    assert.equal(negotiateFormat("text/plain;version=0.0.4;escaping=values").escaping, "values");
  });

  test("an escaping we do not know is ignored, never echoed", () => {
    const negotiated = negotiateFormat('text/plain;version=1.0.0;escaping="x\\r\\nSet-Cookie: a"');
    assert.equal(negotiated.escaping, "underscores");
    assert.equal(
      negotiated.contentType,
      "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
    );
  });

  test("makeHandler() answers each Prometheus 3 header as it asks", async () => {
    const handler = makeHandler({ registry: commonGauge(), created: false });
    const scrape = (accept: string) =>
      handler(new Request("http://localhost/metrics", { headers: { accept } }));
    const utf8 = await scrape(DEFAULT_UTF8);
    assert.equal(
      utf8.headers.get("content-type"),
      `${OPENMETRICS_CONTENT_TYPE}; escaping=allow-utf-8`,
    );
    assert.match(await utf8.text(), /^# TYPE "gauge\.name" gauge\n/);
    const text = await scrape("text/plain;version=1.0.0;escaping=allow-utf-8");
    assert.match(
      await text.text(),
      /\n\{"gauge\.name","name\.1"="Björn","name\*2"="佖佥"\} 3\.14e\+42\n$/,
    );
    const dots = await scrape("text/plain;version=1.0.0;escaping=dots");
    assert.match(
      await dots.text(),
      /\ngauge_dot_name\{name_dot_1="Björn",name__2="佖佥"\} 3\.14e\+42\n$/,
    );
    const proto = await scrape(PROTO_FIRST_DOTS);
    assert.deepEqual(decode(new Uint8Array(await proto.arrayBuffer())).map((f) => f.name), [
      "gauge_name",
    ]);
  });
});

const promtoolMissing = needsPromtool();
const pythonMissing = await needsPythonParser();

/** A UTF-8 registry with every type, for the parsers. */
function everyType(): CollectorRegistry {
  const registry = new CollectorRegistry({ nameValidation: "utf-8" });
  new Counter({
    name: "http.requests",
    description: "R.",
    requiredLabels: ["http.method"],
    registry,
  })
    .labels({ "http.method": "GET" }).inc();
  new Histogram({ name: "http.server.duration", description: "D.", buckets: [0.1], registry })
    .observe(0.05);
  new Enum({ name: "disk.state", description: "S.", states: ["ok", "full"], registry });
  new Info({ name: "build", description: "B.", registry }).set({ "git.sha": "abc" });
  return registry;
}

describe("escaped output read by real parsers", () => {
  for (const escaping of ESCAPED) {
    test(`promtool reads the ${escaping} text`, { skip: promtoolMissing }, async () => {
      const text = await generateMetrics(everyType(), { escaping });
      const checked = await promtoolCheck(text);
      assert.ok(checked.ok, `${checked.output}\n${text}`);
    });

    test(
      `Python's parsers read the ${escaping} text and OpenMetrics`,
      { skip: pythonMissing },
      async () => {
        const registry = everyType();
        for (const format of ["text", "openmetrics"] as const) {
          const parsed = await pythonParse(
            await generateMetrics(registry, { format, escaping }),
            format === "openmetrics",
          );
          assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
          const names = parsed.samples.map((sample) => sample[3]);
          assert.ok(names.includes(escapeName("http.requests_total", escaping)), names.join());
          assert.ok(
            names.includes(escapeName("http.server.duration", escaping) + "_count"),
            names.join(),
          );
        }
      },
    );
  }
});

describe("Prometheus 2.42 scrapes a UTF-8 registry", { skip: needs("prometheus") }, () => {
  let server: Served | undefined;
  let prometheus: Prometheus | undefined;
  after(async () => {
    await prometheus?.stop();
    await server?.close();
  });

  test(
    "it gets underscores (it names no escaping) and stores the series",
    { timeout: 60_000 },
    async () => {
      server = serve(makeHandler({ registry: everyType() }));
      prometheus = await startPrometheus([{ job: "utf8", target: `127.0.0.1:${server.port}` }]);
      const samples = await prometheus.waitForQuery(
        'http_requests_total{http_method="GET"}',
        (found) => found.length === 1,
      );
      assert.equal(samples[0]!.value, "1");
      await prometheus.waitForQuery(
        'http_server_duration_bucket{le="0.1"}',
        (found) => found[0]?.value === "1",
      );
      await prometheus.waitForQuery(
        'disk_state{disk_state="ok"}',
        (found) => found[0]?.value === "1",
      );
    },
  );
});
