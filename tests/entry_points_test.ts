/**
 * The public entry points outside the metric constructors, called as untyped
 * JavaScript calls them: each mistake is a `PytheusError` subclass thrown at
 * the call, quoting what was given, never a `TypeError` from inside and never
 * an option silently ignored.
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  BucketError,
  collectDefaultMetrics,
  CollectorRegistry,
  deleteFromGateway,
  instrumentHandler,
  InvalidOptionError,
  LabelValidationError,
  loadBackend,
  makeHandler,
  NameValidationError,
  pushAddToGateway,
  pushToGateway,
  PytheusError,
  SingleProcessBackend,
  Summary,
} from "../mod.ts";
import { DefaultMetrics } from "../src/process/default_metrics.ts";
import { gatewayGroupUrl } from "../src/push/pushgateway.ts";
import { httpMetrics } from "../http.ts";
import { freePort } from "./_process.ts";

type ErrorClass = new (...args: never[]) => PytheusError;

/** One mistake: the call, the error class it must throw, and words its message must hold. */
interface Row {
  readonly what: string;
  readonly call: () => unknown;
  readonly error: ErrorClass;
  readonly words: readonly string[];
}

/** Runs `call` (sync or async) and returns what it threw or rejected with, failing if nothing. */
async function thrown(call: () => unknown): Promise<unknown> {
  try {
    const result = call();
    if (result instanceof Promise) await result;
  } catch (error) {
    return error;
  }
  assert.fail("expected an error, got none");
}

async function check(rows: readonly Row[]): Promise<void> {
  for (const row of rows) {
    const error = await thrown(row.call);
    assert.ok(
      error instanceof row.error,
      `${row.what}: expected ${row.error.name}, got ${String(error)}`,
    );
    assert.equal((error as Error).name, row.error.name, row.what);
    for (const word of row.words) {
      assert.ok(
        (error as Error).message.includes(word),
        `${row.what}: ${JSON.stringify(word)} not in ${JSON.stringify((error as Error).message)}`,
      );
    }
  }
}

const ok = () => new Response("ok");
const fresh = () => new CollectorRegistry();
const nullObject = () => Object.create(null) as Record<string, unknown>;
const cyclic = () => {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
};

/** Values that broke String(), JSON.stringify(), comparisons or concatenation inside. */
const HOSTILE: readonly (readonly [string, () => unknown])[] = [
  ["a symbol", () => Symbol("s")],
  ["a bigint", () => 1n],
  ["a null-prototype object", nullObject],
  ["a cyclic object", cyclic],
  ["a function", () => () => {}],
  ["NaN", () => NaN],
  ["-1", () => -1],
  ["an empty string", () => ""],
  ["a lone surrogate", () => "\uD800"],
  ["an array of a symbol", () => [Symbol("s")]],
  ["an array of a bigint", () => [1n]],
  ["an array of a null-prototype object", () => [nullObject()]],
];

describe("Pushgateway entry points", () => {
  let closed = "";
  const at = async () => closed ||= `127.0.0.1:${await freePort()}`;

  test("pushToGateway(), pushAddToGateway(), deleteFromGateway() and gatewayGroupUrl() refuse mistakes at the call", async () => {
    const url = await at();
    const registry = fresh();
    await check([
      {
        what: "a .. group cannot carry job",
        call: () =>
          pushToGateway(url, {
            job: "batch",
            groupingKey: { x: "..", y: "..", job: "victim" },
            registry,
          }),
        error: LabelValidationError,
        words: ['"job" cannot be a grouping label name', 'string "batch"'],
      },
      {
        what: "job as a grouping label of a delete",
        call: () => deleteFromGateway(url, { job: "batch", groupingKey: { job: "victim" } }),
        error: LabelValidationError,
        words: ['"job" cannot be a grouping label name'],
      },
      {
        what: "an unparseable address",
        call: () => pushToGateway("http://[x", { job: "j", registry }),
        error: InvalidOptionError,
        words: ['"http://[x"', "is not a valid URL"],
      },
      {
        what: "an address that is no string",
        call: () => pushAddToGateway(Symbol("u") as never, { job: "j", registry }),
        error: InvalidOptionError,
        words: ['got symbol "u"'],
      },
      {
        what: "an ftp: address",
        call: () => deleteFromGateway("ftp://gw", { job: "j" }),
        error: InvalidOptionError,
        words: ['"ftp://gw"', "http: or https:"],
      },
      {
        what: "a header name with a space",
        call: () => pushToGateway(url, { job: "j", headers: { "a b": "c" }, registry }),
        error: InvalidOptionError,
        words: ['headers hold "a b", which is not a header name'],
      },
      {
        what: "a header value with a line break (not quoted)",
        call: () => pushToGateway(url, { job: "j", headers: { auth: "sec\nret" }, registry }),
        error: InvalidOptionError,
        words: ['a value of "auth" that a header cannot carry'],
      },
      {
        what: "a header value that is no string",
        call: () => pushToGateway(url, { job: "j", headers: { auth: 1n } as never, registry }),
        error: InvalidOptionError,
        words: ['a value of "auth" that is bigint, not a string'],
      },
      {
        what: "null options",
        call: () => pushToGateway(url, null as never),
        error: InvalidOptionError,
        words: ["pushToGateway() takes one options object", "got null"],
      },
      {
        what: "prom-client's jobName",
        call: () => pushToGateway(url, { jobName: "j", registry } as never),
        error: InvalidOptionError,
        words: ['pushToGateway() has no option "jobName"'],
      },
      {
        what: "a registry to a delete",
        call: () => deleteFromGateway(url, { job: "j", registry } as never),
        error: InvalidOptionError,
        words: ['deleteFromGateway() has no option "registry"'],
      },
      {
        what: "a registry that is none",
        call: () => pushToGateway(url, { job: "j", registry: nullObject() as never }),
        error: InvalidOptionError,
        words: ["pushToGateway(): registry must be a registry", "got an object {}"],
      },
      {
        what: "a timeout that is no number",
        call: () => pushToGateway(url, { job: "j", timeoutMs: 1n as never, registry }),
        error: InvalidOptionError,
        words: ["timeoutMs must be a number of milliseconds", "got bigint 1n"],
      },
      {
        what: "a job that is a symbol",
        call: () => gatewayGroupUrl(url, Symbol("j") as never),
        error: LabelValidationError,
        words: ['job must be a non-empty string, got symbol "j"'],
      },
      {
        what: "a grouping value that is a null-prototype object",
        call: () => gatewayGroupUrl(url, "j", { a: nullObject() } as never),
        error: LabelValidationError,
        words: ['Label "a"', "got an object {}"],
      },
      {
        what: "a grouping value with a lone surrogate",
        call: () => gatewayGroupUrl(url, "j", { a: "\uD800" }),
        error: LabelValidationError,
        words: ["lone surrogate"],
      },
      {
        what: "a grouping key that is an array",
        call: () => gatewayGroupUrl(url, "j", ["x"] as never),
        error: LabelValidationError,
        words: ["groupingKey must be a record of label values, got an array"],
      },
      {
        what: "a header record with a symbol key",
        call: () =>
          pushToGateway(url, { job: "j", headers: { [Symbol("h")]: "x" } as never, registry }),
        error: InvalidOptionError,
        words: ['headers hold symbol "h", which is not a header name'],
      },
    ]);
  });

  test("the Pushgateway calls meet hostile option values with a PytheusError, never a TypeError", async () => {
    const url = await at();
    for (const option of ["job", "groupingKey", "headers", "timeoutMs", "registry"]) {
      for (const [name, make] of HOSTILE) {
        const options = { job: "j", registry: fresh(), timeoutMs: 2000, [option]: make() };
        for (
          const call of [
            () => pushToGateway(url, options as never),
            () => pushAddToGateway(url, options as never),
          ]
        ) {
          const error = await thrown(call);
          assert.ok(error instanceof PytheusError, `${option}: ${name}: ${String(error)}`);
        }
      }
    }
  });
});

describe("makeHandler()", () => {
  test("makeHandler() refuses mistakes in its options", async () => {
    const mine = fresh();
    await check([
      {
        what: "a misspelt registry",
        call: () => makeHandler({ registery: mine } as never),
        error: InvalidOptionError,
        words: ['makeHandler() has no option "registery"', "registry, created, gzip"],
      },
      {
        what: "null options",
        call: () => makeHandler(null as never),
        error: InvalidOptionError,
        words: ["got null"],
      },
      {
        what: 'gzip: "no"',
        call: () => makeHandler({ gzip: "no" } as never),
        error: InvalidOptionError,
        words: ['gzip must be true or false, got string "no"'],
      },
      {
        what: "created: 1",
        call: () => makeHandler({ created: 1 } as never),
        error: InvalidOptionError,
        words: ["created must be true or false, got number 1"],
      },
      {
        what: "registry: 5",
        call: () => makeHandler({ registry: 5 } as never),
        error: InvalidOptionError,
        words: ["registry must be a registry", "got number 5"],
      },
      {
        what: "registry: null",
        call: () => makeHandler({ registry: null } as never),
        error: InvalidOptionError,
        words: ["got null"],
      },
    ]);
  });

  test("makeHandler() meets hostile option values with InvalidOptionError", async () => {
    for (const option of ["registry", "created", "gzip"]) {
      for (const [name, make] of HOSTILE) {
        const error = await thrown(() => makeHandler({ [option]: make() } as never));
        assert.ok(error instanceof InvalidOptionError, `${option}: ${name}: ${String(error)}`);
      }
    }
  });
});

describe("instrumentHandler() and httpMetrics()", () => {
  test("instrumentHandler() and httpMetrics() refuse mistakes at the call", async () => {
    const registry = fresh();
    await check([
      {
        what: "a symbol name",
        call: () => instrumentHandler(ok, { registry, names: { duration: Symbol() as never } }),
        error: NameValidationError,
        words: ['names.duration symbol ""'],
      },
      {
        what: "a route with a lone surrogate",
        call: () => instrumentHandler(ok, { registry, routes: ["/a", "/b\uDC00"] }),
        error: InvalidOptionError,
        words: ['route pattern "/b\\udc00" cannot be a label value', "lone surrogate"],
      },
      {
        what: "a handler that is no function",
        call: () => instrumentHandler("handler" as never),
        error: InvalidOptionError,
        words: ['a function, got string "handler"'],
      },
      {
        what: "null options",
        call: () => instrumentHandler(ok, null as never),
        error: InvalidOptionError,
        words: ["instrumentHandler() takes one options object", "got null"],
      },
      {
        what: "a misspelt option",
        call: () => instrumentHandler(ok, { registry, route: undefined, router: [] } as never),
        error: InvalidOptionError,
        words: ['instrumentHandler() has no option "router"'],
      },
      {
        what: "a registry that is none",
        call: () => instrumentHandler(ok, { registry: 5 as never }),
        error: InvalidOptionError,
        words: ["instrumentHandler(): registry must be a registry", "got number 5"],
      },
      {
        what: "routes that are a null-prototype object",
        call: () => instrumentHandler(ok, { registry, routes: nullObject() as never }),
        error: InvalidOptionError,
        words: ["routes must be an array", "got an object {}"],
      },
      {
        what: "a route function that is a symbol",
        call: () => instrumentHandler(ok, { registry, route: Symbol("r") as never }),
        error: InvalidOptionError,
        words: ['route must be a function (request) => string, got symbol "r"'],
      },
      {
        what: "names that are a string",
        call: () => httpMetrics({ registry, names: "x" as never }),
        error: InvalidOptionError,
        words: ['names must be an object such as { duration: "..." }, got string "x"'],
      },
      {
        what: "a name key that is unknown",
        call: () => httpMetrics({ registry, names: { latency: "x" } as never }),
        error: InvalidOptionError,
        words: ['names has no key "latency"'],
      },
      {
        what: "buckets that are bigints",
        call: () => httpMetrics({ registry, durationBuckets: [1n] as never }),
        error: BucketError,
        words: ["bigint 1n"],
      },
      {
        what: "httpMetrics() given a route option",
        call: () => httpMetrics({ registry, routes: ["/"] } as never),
        error: InvalidOptionError,
        words: ['httpMetrics() has no option "routes"'],
      },
    ]);
    assert.equal(registry.has("http_request_duration_seconds"), false, "nothing registered");
  });

  test("instrumentHandler() meets hostile option values with a PytheusError, never a TypeError", async () => {
    const options = ["registry", "names", "durationBuckets", "sizeBuckets", "routes", "route"];
    for (const option of options) {
      for (const [name, make] of HOSTILE) {
        const registry = fresh();
        const error = await thrown(() => {
          instrumentHandler(ok, { registry, [option]: make() } as never);
          // Accepted (a function as route): a PytheusError still stands for "no TypeError".
          throw new PytheusError("accepted");
        });
        assert.ok(error instanceof PytheusError, `${option}: ${name}: ${String(error)}`);
      }
    }
    for (const field of ["duration", "requestSize", "responseSize"]) {
      for (const [name, make] of HOSTILE) {
        const error = await thrown(() =>
          instrumentHandler(ok, { registry: fresh(), names: { [field]: make() } as never })
        );
        assert.ok(error instanceof PytheusError, `names.${field}: ${name}: ${String(error)}`);
      }
    }
  });
});

describe("collectDefaultMetrics() and DefaultMetrics", () => {
  test("collectDefaultMetrics() and new DefaultMetrics() refuse mistakes at the call", async () => {
    const registry = fresh();
    await check([
      {
        what: "null options",
        call: () => collectDefaultMetrics(null as never),
        error: InvalidOptionError,
        words: ["collectDefaultMetrics() takes one options object", "got null"],
      },
      {
        what: "prom-client's labels",
        call: () => collectDefaultMetrics({ registry, labels: {} } as never),
        error: InvalidOptionError,
        words: ['collectDefaultMetrics() has no option "labels"'],
      },
      {
        what: "a registry that is none",
        call: () => collectDefaultMetrics({ registry: "REGISTRY" as never }),
        error: InvalidOptionError,
        words: ["registry must be a registry", 'got string "REGISTRY"'],
      },
      {
        what: "a prefix that is a symbol",
        call: () => collectDefaultMetrics({ registry, prefix: Symbol("p") as never }),
        error: NameValidationError,
        words: ['default metrics prefix symbol "p"'],
      },
      {
        what: "an interval that is a string",
        call: () => new DefaultMetrics({ eventLoopLagIntervalMs: "10" as never }),
        error: InvalidOptionError,
        words: ["DefaultMetrics: eventLoopLagIntervalMs", 'got string "10"'],
      },
    ]);
    assert.equal(await registry.collect().then((families) => families.length), 0);
  });

  test("collectDefaultMetrics() meets hostile option values with a PytheusError, never a TypeError", async () => {
    for (const option of ["registry", "prefix", "eventLoopLagIntervalMs"]) {
      for (const [name, make] of HOSTILE) {
        let collector: DefaultMetrics | undefined;
        const error = await thrown(() => {
          collector = collectDefaultMetrics({ registry: fresh(), [option]: make() } as never);
        });
        collector?.stop();
        assert.ok(error instanceof PytheusError, `${option}: ${name}: ${String(error)}`);
      }
    }
  });
});

describe("loadBackend()", () => {
  after(async () => {
    await loadBackend({ backendClass: SingleProcessBackend, backendConfig: {} });
  });

  test("loadBackend() refuses mistakes at the call, changing nothing", async () => {
    await check([
      {
        what: "a null-prototype object as class",
        call: () => loadBackend({ backendClass: nullObject() as never }),
        error: InvalidOptionError,
        words: ["backendClass must be a backend class or its name, got an object {}"],
      },
      {
        what: "an arrow function as class",
        call: () => loadBackend({ backendClass: (() => {}) as never }),
        error: InvalidOptionError,
        words: ["got a function"],
      },
      {
        what: "a name Object.prototype has",
        call: () => loadBackend({ backendClass: "hasOwnProperty" }),
        error: InvalidOptionError,
        words: ['Unknown backend class "hasOwnProperty"'],
      },
      {
        what: "a config that is an array",
        call: () => loadBackend({ backendClass: SingleProcessBackend, backendConfig: [] as never }),
        error: InvalidOptionError,
        words: ["backendConfig must be an object, got an array"],
      },
      {
        what: "null options",
        call: () => loadBackend(null as never),
        error: InvalidOptionError,
        words: ["loadBackend() takes one options object", "got null"],
      },
      {
        what: "a misspelt option",
        call: () => loadBackend({ backend: SingleProcessBackend } as never),
        error: InvalidOptionError,
        words: ['loadBackend() has no option "backend"'],
      },
    ]);
  });

  test("loadBackend() meets hostile option values with a PytheusError, never a TypeError", async () => {
    for (const option of ["backendClass", "backendConfig"]) {
      for (const [name, make] of HOSTILE) {
        const error = await thrown(async () => {
          await loadBackend({ backendClass: SingleProcessBackend, [option]: make() } as never);
          throw new PytheusError("accepted");
        });
        assert.ok(error instanceof PytheusError, `${option}: ${name}: ${String(error)}`);
      }
    }
  });
});

describe("new Summary()", () => {
  const summary = (options: Record<string, unknown>) => () =>
    new Summary({ name: "s", description: "S.", registry: null, ...options } as never);

  test("new Summary() refuses quantiles and windows it cannot sort or print with BucketError", async () => {
    await check([
      {
        what: "a bigint quantile",
        call: summary({ quantiles: [1n] }),
        error: BucketError,
        words: ['Quantile bigint 1n (convert it with Number()) of "s"'],
      },
      {
        what: "a symbol quantile before a number",
        call: summary({ quantiles: [Symbol("q"), 0.5] }),
        error: BucketError,
        words: ['Quantile symbol "q" of "s"'],
      },
      {
        what: "a null-prototype maxAgeSeconds",
        call: summary({ maxAgeSeconds: nullObject() }),
        error: BucketError,
        words: ['maxAgeSeconds of "s"', "got an object {}"],
      },
      {
        what: "a null-prototype ageBuckets",
        call: summary({ ageBuckets: nullObject() }),
        error: BucketError,
        words: ['ageBuckets of "s"', "got an object {}"],
      },
      {
        what: "prom-client's percentiles",
        call: summary({ percentiles: [0.5] }),
        error: InvalidOptionError,
        words: ['has no option "percentiles": use "quantiles"'],
      },
    ]);
  });

  test("new Summary() meets hostile quantiles and windows with a PytheusError, never a TypeError", async () => {
    for (const option of ["quantiles", "maxAgeSeconds", "ageBuckets"]) {
      for (const [name, make] of HOSTILE) {
        const error = await thrown(summary({ [option]: make() }));
        assert.ok(error instanceof PytheusError, `${option}: ${name}: ${String(error)}`);
      }
    }
  });
});
