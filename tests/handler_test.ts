import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  BackendUnavailableError,
  CollectorRegistry,
  Counter,
  CustomCollector,
  Gauge,
  InvalidOptionError,
  makeHandler,
  type MetricCollector,
  PROMETHEUS_CONTENT_TYPE,
  REGISTRY,
  setLogger,
} from "../mod.ts";
import { serve, type Served } from "./_serve.ts";

/** Throws the next of `faults` at each scrape (none left: yields a gauge). */
class FaultyCollector extends CustomCollector {
  faults: unknown[] = [];
  collect(): MetricCollector[] {
    const fault = this.faults.shift();
    if (fault !== undefined) throw fault;
    const g = new Gauge({ name: "faulty_value", description: "Faulty.", registry: null });
    g.set(3);
    return [g];
  }
}

/** One call to the logger: its level, message and details. */
interface Logged {
  level: "warn" | "error";
  message: string;
  details: unknown[];
}

/** Installs a logger that records every call; restore the returned previous one after. */
function captureLog(): { logged: Logged[]; restore(): void } {
  const logged: Logged[] = [];
  const previous = setLogger({
    warn: (message, ...details) => logged.push({ level: "warn", message, details }),
    error: (message, ...details) => logged.push({ level: "error", message, details }),
  });
  return { logged, restore: () => setLogger(previous) };
}

/** A logged call as one line of text, the details' messages and causes included. */
function rendered({ message, details }: Logged): string {
  const describe = (detail: unknown): string =>
    detail instanceof Error
      ? `${detail.name}: ${detail.message}` +
        (detail.cause === undefined ? "" : ` (cause: ${describe(detail.cause)})`)
      : String(detail);
  return [message, ...details.map(describe)].join(" ");
}

const occurrences = (text: string, part: string): number => text.split(part).length - 1;

const GENERIC_503 =
  "Service Unavailable: the metrics store could not be read (see the server log)\n";
const GENERIC_500 = "Internal Server Error: collecting metrics failed (see the server log)\n";

/** Fails on the first `failures` scrapes, then yields a gauge. */
class FlakyCollector extends CustomCollector {
  failures = 0;
  collect(): MetricCollector[] {
    if (this.failures > 0) {
      this.failures--;
      throw new Error("database unreachable");
    }
    const g = new Gauge({ name: "flaky_value", description: "Flaky.", registry: null });
    g.set(1);
    return [g];
  }
}

/** Its async generator rejects on the first `failures` scrapes. */
class FlakyAsyncCollector extends CustomCollector {
  failures = 0;
  async *collect(): AsyncGenerator<MetricCollector> {
    await Promise.resolve();
    if (this.failures > 0) {
      this.failures--;
      throw new TypeError("remote said no");
    }
    const g = new Gauge({ name: "flaky_async", description: "Flaky async.", registry: null });
    g.set(2);
    yield g;
  }
}

const registry = new CollectorRegistry();
const hits = new Counter({
  name: "hits_total",
  description: "Hits.",
  requiredLabels: ["path"],
  registry,
});
hits.labels({ path: "/" }).inc(3);
const EXPECTED = '# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total{path="/"} 3\n';

describe("makeHandler() served for real", () => {
  let server: Served;

  before(() => {
    server = serve(makeHandler({ registry }));
  });

  after(async () => {
    await server.close();
  });

  test("makeHandler() answers GET with 200, the 0.0.4 content type and the exact exposition", async () => {
    const response = await fetch(`${server.url}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(await response.text(), EXPECTED);
  });

  test("makeHandler() answers on any path, and reads fresh values at each scrape", async () => {
    const first = await (await fetch(`${server.url}/`)).text();
    hits.labels({ path: "/other" }).inc();
    const second = await (await fetch(`${server.url}/any/path?x=1`)).text();
    try {
      assert.equal(first, EXPECTED);
      assert.equal(second, EXPECTED + 'hits_total{path="/other"} 1\n');
    } finally {
      hits.remove({ path: "/other" });
    }
  });

  test("makeHandler() answers HEAD with 200, the content type and no body", async () => {
    const response = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(await response.text(), "");
  });

  test("makeHandler() answers POST, PUT and DELETE with 405 and an Allow header", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = await fetch(`${server.url}/metrics`, { method, body: "x" });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
      assert.equal(await response.text(), "Method Not Allowed: use GET\n");
    }
  });

  test("makeHandler() answers /favicon.ico with an empty response", async () => {
    const response = await fetch(`${server.url}/favicon.ico`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "");
  });
});

describe("makeHandler() when a collector throws", () => {
  test("makeHandler() answers 500 with a short message, logs the error, and serves the next scrape", async () => {
    const flakyRegistry = new CollectorRegistry();
    new Gauge({ name: "steady", description: "Steady.", registry: flakyRegistry }).set(5);
    const flaky = new FlakyCollector();
    assert.equal(flakyRegistry.register(flaky), true);
    const errors: unknown[][] = [];
    const previous = setLogger({
      warn: (...args) => errors.push(["warn", ...args]),
      error: (...args) => errors.push(args),
    });
    const server = serve(makeHandler({ registry: flakyRegistry }));
    try {
      flaky.failures = 1;
      const failed = await fetch(`${server.url}/metrics`);
      assert.equal(failed.status, 500);
      const body = await failed.text();
      assert.equal(body, GENERIC_500);
      assert.ok(!body.includes("database unreachable"), "no internals leak to the scraper");
      assert.equal(errors.length, 1);
      assert.equal(
        errors[0]![0],
        "pytheus: scraping metrics failed; " +
          "further failures of this kind (Error) are not logged until it works again",
      );
      assert.ok(errors[0]![1] instanceof Error);
      assert.equal((errors[0]![1] as Error).message, "database unreachable");

      const next = await fetch(`${server.url}/metrics`);
      assert.equal(next.status, 200);
      assert.equal(
        await next.text(),
        "# HELP steady Steady.\n# TYPE steady gauge\nsteady 5\n" +
          "# HELP flaky_value Flaky.\n# TYPE flaky_value gauge\nflaky_value 1\n",
      );
      assert.deepEqual(errors.slice(1), [
        ["warn", "pytheus: scraping metrics works again after 1 failed scrape"],
      ]);
    } finally {
      await server.close();
      setLogger(previous);
    }
  });

  test("makeHandler() answers 500 when an async collector rejects, logs it once, then recovers", async () => {
    const flakyRegistry = new CollectorRegistry();
    const flaky = new FlakyAsyncCollector();
    flakyRegistry.register(flaky);
    const errors: unknown[] = [];
    const previous = setLogger({ warn: () => {}, error: (_message, error) => errors.push(error) });
    const handler = makeHandler({ registry: flakyRegistry });
    const server = serve(handler);
    try {
      flaky.failures = 2;
      assert.equal((await fetch(server.url)).status, 500);
      assert.equal((await handler(new Request("http://x/metrics"))).status, 500);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof TypeError);
      const ok = await fetch(server.url);
      assert.equal(ok.status, 200);
      assert.equal(
        await ok.text(),
        "# HELP flaky_async Flaky async.\n# TYPE flaky_async gauge\nflaky_async 2\n",
      );
    } finally {
      await server.close();
      setLogger(previous);
    }
  });
});

describe("makeHandler() logs a failure once per outage", () => {
  test("makeHandler() logs 5 consecutive collector failures once, the recovery once, and a new outage again", async () => {
    const faultyRegistry = new CollectorRegistry();
    const faulty = new FaultyCollector();
    faultyRegistry.register(faulty);
    const handler = makeHandler({ registry: faultyRegistry });
    const { logged, restore } = captureLog();
    try {
      faulty.faults = Array.from({ length: 5 }, (_, i) => new Error(`database unreachable #${i}`));
      for (let i = 0; i < 5; i++) {
        const response = await handler(new Request("http://localhost/metrics"));
        assert.equal(response.status, 500);
        assert.equal(await response.text(), GENERIC_500);
      }
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.level, "error");
      assert.ok(logged[0]!.message.startsWith("pytheus: scraping metrics failed"));
      assert.equal((logged[0]!.details[0] as Error).message, "database unreachable #0");

      assert.equal((await handler(new Request("http://localhost/metrics"))).status, 200);
      assert.deepEqual(logged.slice(1), [{
        level: "warn",
        message: "pytheus: scraping metrics works again after 5 failed scrapes",
        details: [],
      }]);
      // Working on: nothing more is logged.
      assert.equal((await handler(new Request("http://localhost/metrics"))).status, 200);
      assert.equal(logged.length, 2);

      faulty.faults = [new Error("database unreachable again")];
      assert.equal((await handler(new Request("http://localhost/metrics"))).status, 500);
      assert.equal(logged.length, 3);
      assert.equal(logged[2]!.level, "error");
      assert.equal((logged[2]!.details[0] as Error).message, "database unreachable again");
      assert.equal((await handler(new Request("http://localhost/metrics"))).status, 200);
      assert.equal(
        logged[3]!.message,
        "pytheus: scraping metrics works again after 1 failed scrape",
      );
      assert.equal(logged.length, 4);
    } finally {
      restore();
    }
  });

  test("makeHandler() answers 503 without the store's address or error, and logs them once", async () => {
    const faultyRegistry = new CollectorRegistry();
    const faulty = new FaultyCollector();
    faultyRegistry.register(faulty);
    const handler = makeHandler({ registry: faultyRegistry });
    const cause = Object.assign(new Error("connect ECONNREFUSED 10.1.2.3:6379"), {
      code: "ECONNREFUSED",
    });
    const unavailable = (): BackendUnavailableError =>
      new BackendUnavailableError(
        "Cannot read metrics: Redis at 10.1.2.3:6379 is unreachable (connect ECONNREFUSED)",
        { cause },
      );
    const { logged, restore } = captureLog();
    try {
      faulty.faults = [unavailable(), unavailable(), unavailable()];
      for (let i = 0; i < 3; i++) {
        const response = await handler(new Request("http://localhost/metrics"));
        assert.equal(response.status, 503);
        assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
        const body = await response.text();
        assert.equal(body, GENERIC_503);
        for (const secret of ["10.1.2.3", "6379", "ECONNREFUSED", "Redis"]) {
          assert.ok(!body.includes(secret), `the body shows ${secret}: ${body}`);
        }
      }
      const lines = logged.map(rendered);
      assert.equal(
        lines.filter((line) => line.includes("10.1.2.3:6379")).length,
        1,
        lines.join("\n"),
      );
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.level, "error");
      assert.equal(
        logged[0]!.message,
        "pytheus: scraping metrics failed; further failures of this kind " +
          "(BackendUnavailableError) are not logged until it works again",
      );
      const error = logged[0]!.details[0];
      assert.ok(error instanceof BackendUnavailableError);
      assert.equal(occurrences(error.message, "10.1.2.3:6379"), 1);
      assert.ok(error.message.includes("ECONNREFUSED"));
      assert.equal(error.cause, cause, "the driver's error stays in the log, as the cause");

      assert.equal((await handler(new Request("http://localhost/metrics"))).status, 200);
      assert.equal(logged.length, 2);
      assert.equal(
        logged[1]!.message,
        "pytheus: scraping metrics works again after 3 failed scrapes",
      );
      assert.ok(!rendered(logged[1]!).includes("10.1.2.3"));
    } finally {
      restore();
    }
  });

  test("makeHandler() logs again when the kind of failure changes during an outage", async () => {
    const faultyRegistry = new CollectorRegistry();
    const faulty = new FaultyCollector();
    faultyRegistry.register(faulty);
    const handler = makeHandler({ registry: faultyRegistry });
    const down = (): BackendUnavailableError =>
      new BackendUnavailableError("Cannot read metrics: Redis at 10.1.2.3:6379 is unreachable");
    const { logged, restore } = captureLog();
    try {
      faulty.faults = [
        down(),
        down(),
        new RangeError("bad collector"),
        new RangeError("bad"),
        down(),
      ];
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        statuses.push((await handler(new Request("http://localhost/metrics"))).status);
      }
      assert.deepEqual(statuses, [503, 503, 500, 500, 503, 200]);
      assert.deepEqual(logged.map(({ level, message }) => [level, message]), [
        [
          "error",
          "pytheus: scraping metrics failed; further failures of this kind " +
          "(BackendUnavailableError) are not logged until it works again",
        ],
        [
          "error",
          "pytheus: scraping metrics failed differently after 2 failed scrapes; " +
          "further failures of this kind (RangeError) are not logged until it works again",
        ],
        [
          "error",
          "pytheus: scraping metrics failed differently after 4 failed scrapes; " +
          "further failures of this kind (BackendUnavailableError) are not logged until it works again",
        ],
        ["warn", "pytheus: scraping metrics works again after 5 failed scrapes"],
      ]);
      assert.ok(logged[0]!.details[0] instanceof BackendUnavailableError);
      assert.equal((logged[1]!.details[0] as Error).message, "bad collector");
      assert.ok(logged[2]!.details[0] instanceof BackendUnavailableError);
    } finally {
      restore();
    }
  });

  test("makeHandler() gives each handler its own outage", async () => {
    const faultyRegistry = new CollectorRegistry();
    const faulty = new FaultyCollector();
    faultyRegistry.register(faulty);
    const first = makeHandler({ registry: faultyRegistry });
    const second = makeHandler({ registry: faultyRegistry });
    const { logged, restore } = captureLog();
    try {
      faulty.faults = [new Error("one"), new Error("two"), new Error("three")];
      assert.equal((await first(new Request("http://localhost/"))).status, 500);
      assert.equal((await second(new Request("http://localhost/"))).status, 500);
      assert.equal((await first(new Request("http://localhost/"))).status, 500);
      assert.deepEqual(logged.map((l) => (l.details[0] as Error).message), ["one", "two"]);
      // A success on one handler ends its outage only.
      assert.equal((await second(new Request("http://localhost/"))).status, 200);
      assert.equal(
        logged[2]!.message,
        "pytheus: scraping metrics works again after 1 failed scrape",
      );
      assert.equal((await first(new Request("http://localhost/"))).status, 200);
      assert.equal(
        logged[3]!.message,
        "pytheus: scraping metrics works again after 2 failed scrapes",
      );
      assert.equal(logged.length, 4);
    } finally {
      restore();
    }
  });
});

describe("makeHandler() called directly", () => {
  test("makeHandler() works in the export default { fetch } shape", async () => {
    const app: { fetch: (request: Request) => Promise<Response> } = {
      fetch: makeHandler({ registry }),
    };
    const response = await app.fetch(new Request("http://localhost:9090/metrics"));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(await response.text(), EXPECTED);
    const post = await app.fetch(new Request("http://localhost/metrics", { method: "POST" }));
    assert.equal(post.status, 405);
    const favicon = await app.fetch(new Request("http://localhost/favicon.ico"));
    assert.equal(favicon.body, null);
  });

  test("makeHandler() ignores a second info argument, as Deno.serve passes one", async () => {
    const handler = makeHandler({ registry });
    const response = await handler(new Request("http://localhost/"), { remoteAddr: "x" });
    assert.equal(await response.text(), EXPECTED);
  });

  test("makeHandler() without options serves REGISTRY's current target", async () => {
    const previous = REGISTRY.registry;
    const handler = makeHandler();
    const target = new CollectorRegistry();
    REGISTRY.setRegistry(target);
    try {
      new Gauge({ name: "via_default", description: "Default." }).set(4);
      const response = await handler(new Request("http://localhost/metrics"));
      assert.equal(
        await response.text(),
        "# HELP via_default Default.\n# TYPE via_default gauge\nvia_default 4\n",
      );
    } finally {
      REGISTRY.setRegistry(previous);
    }
  });
});

describe("makeHandler() options", () => {
  test("makeHandler() refuses a misspelt option instead of serving REGISTRY", () => {
    const mine = new CollectorRegistry();
    assert.throws(() => makeHandler({ registery: mine } as never), {
      name: "InvalidOptionError",
      message: 'makeHandler() has no option "registery": it takes registry, created, gzip',
    });
    assert.throws(() => makeHandler({ register: mine } as never), InvalidOptionError);
  });

  test("makeHandler() refuses null options and options of the wrong kind", () => {
    const refused: [unknown, string][] = [
      [null, "makeHandler() takes one options object ({ registry, created, ... }), got null"],
      [
        "gzip",
        'makeHandler() takes one options object ({ registry, created, ... }), got string "gzip"',
      ],
      [{ gzip: "no" }, 'makeHandler(): gzip must be true or false, got string "no"'],
      [{ created: 1 }, "makeHandler(): created must be true or false, got number 1"],
      [
        { registry: 5 },
        "makeHandler(): registry must be a registry (a CollectorRegistry, or an object with register(), unregister(), collect(), reset()), got number 5",
      ],
      [{ registry: null }, "makeHandler(): registry must be a registry, got null"],
      [{ registry: { collect: () => [] } }, "makeHandler(): registry must be a registry"],
    ];
    for (const [options, message] of refused) {
      assert.throws(() => makeHandler(options as never), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, String(error));
        assert.ok(error.message.startsWith(message), error.message);
        return true;
      });
    }
  });

  test("makeHandler() takes undefined options, and null or undefined values, as the defaults", async () => {
    const registry = new CollectorRegistry();
    new Gauge({ name: "g", description: "G.", registry }).set(1);
    for (const options of [{ registry }, { registry, created: null, gzip: undefined }]) {
      const handler = makeHandler(options as never);
      const response = await handler(
        new Request("http://localhost/", { headers: { "accept-encoding": "gzip" } }),
      );
      assert.equal(response.headers.get("content-encoding"), "gzip");
    }
    assert.equal(typeof makeHandler(undefined), "function");
  });
});
